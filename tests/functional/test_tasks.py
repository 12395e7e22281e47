# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Waiting for vCenter tasks through WaitForUpdatesEx, against vcsim."""

import logging
import threading

import fixtures
from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.vsphere import tasks as vtasks
from tests.functional import base


class TaskWaiterTest(base.VcsimTestCase):

    VCSIM_SHAPE = dict(hosts=2, vms=6)

    def _vms(self):
        found = self.query(vim.VirtualMachine, ['name', 'runtime.powerState'])
        return sorted(found.items(), key=lambda kv: kv[1]['name'])

    def _vm(self, index):
        moid, _ = self._vms()[index]
        return self.session.mo('VirtualMachine', moid), moid

    def _power_state(self, moid):
        return self.query(vim.VirtualMachine,
                          ['runtime.powerState'])[moid]['runtime.powerState']

    def _ensure(self, index, state):
        vm, moid = self._vm(index)
        if self._power_state(moid) != state:
            task = (vm.PowerOnVM_Task() if state == 'poweredOn'
                    else vm.PowerOffVM_Task())
            self.waiter.wait(task)
        return vm, moid

    def test_wait_for_success(self):
        vm, moid = self._ensure(0, 'poweredOn')
        self.waiter.wait(vm.PowerOffVM_Task())  # sets the task stream up
        task = vm.PowerOnVM_Task()
        with self.session.calls.scope() as scope:
            self.assertIsNone(self.waiter.wait(task, 'power on'))
        self.assertEqual('poweredOn', self._power_state(moid))
        # Only long-held WaitForUpdatesEx: no filter per task, no task poll.
        self.assertEqual(['WaitForUpdatesEx'], list(scope.by_method))
        self.assertLessEqual(scope.total, 2)

    def test_wait_with_a_filter_per_task(self):
        waiter = vtasks.TaskWaiter(self.session, update_wait=5, timeout=60,
                                   stream=False)
        self.addCleanup(waiter.close)
        vm, moid = self._ensure(5, 'poweredOn')
        task = vm.PowerOffVM_Task()
        with self.session.calls.scope() as scope:
            self.assertIsNone(waiter.wait(task, 'power off'))
        self.assertEqual('poweredOff', self._power_state(moid))
        self.assertEqual(1, scope.by_method['CreateFilter'])
        self.assertEqual(1, scope.by_method['DestroyPropertyFilter'])
        self.assertGreaterEqual(scope.by_method['WaitForUpdatesEx'], 1)
        self.assertEqual(0, scope.by_method['RetrievePropertiesEx'])

    def test_stream_survives_a_new_login(self):
        vm, moid = self._ensure(5, 'poweredOff')
        self.waiter.wait(vm.PowerOnVM_Task())
        self.si.content.sessionManager.TerminateSession(
            [self.session.session_key])
        task = vm.PowerOffVM_Task()  # logs in again first
        self.assertIsNone(self.waiter.wait(task, 'power off'))
        self.assertEqual('poweredOff', self._power_state(moid))

    def test_task_result_is_returned(self):
        vm, moid = self._ensure(1, 'poweredOff')
        folder = self.session.mo('Folder', self.query(
            vim.VirtualMachine, ['parent'])[moid]['parent']._moId)
        task = vm.CloneVM_Task(folder, 'clone-of-%s' % moid,
                               vim.vm.CloneSpec(location=vim.vm.RelocateSpec(),
                                                powerOn=False,
                                                template=False))
        clone = self.waiter.wait(task, 'clone')
        self.assertIsInstance(clone, vim.VirtualMachine)
        found = self.query(vim.VirtualMachine, ['name'])
        self.assertEqual('clone-of-%s' % moid, found[clone._moId]['name'])
        self.waiter.wait(self.session.bind(clone).Destroy_Task())

    def test_wait_for_failure_raises_translated_fault(self):
        vm, moid = self._ensure(2, 'poweredOff')
        task = vm.PowerOffVM_Task()  # already off: InvalidPowerState
        exc = self.assertRaises(vexc.InvalidPowerStateException,
                                self.waiter.wait, task, 'power off vm X')
        self.assertIn('power off vm X failed', str(exc))
        self.assertEqual('InvalidPowerState', exc.fault_name)

    def test_wait_all_waits_for_every_task_then_raises_first_failure(self):
        vm_off, off_id = self._ensure(3, 'poweredOff')
        vm_on, on_id = self._ensure(4, 'poweredOn')
        bad = vm_off.PowerOffVM_Task()  # fails
        good = vm_on.PowerOffVM_Task()  # succeeds
        self.assertRaises(vexc.InvalidPowerStateException,
                          self.waiter.wait_all, [bad, good])
        self.assertEqual('poweredOff', self._power_state(on_id))
        self.assertEqual('error', self.read(bad, ['info.state'])['info.state'])
        self.assertEqual('success',
                         self.read(good, ['info.state'])['info.state'])

    def _power_on_concurrently(self, waiter, indexes):
        """Power VMs on from one thread each; return the session's calls."""
        results, errors = {}, []
        vms = [self._ensure(i, 'poweredOff')[0] for i in indexes]
        barrier = threading.Barrier(len(vms), timeout=30)
        before = self.session.calls.by_method.copy()

        def power_on(index, vm):
            try:
                task = vm.PowerOnVM_Task()
                barrier.wait()  # every task started before anyone waits
                results[index] = waiter.wait(task)
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=power_on, args=(i, vm))
                   for i, vm in enumerate(vms)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual([], errors)
        self.assertEqual(len(vms), len(results))
        states = self.query(vim.VirtualMachine, ['runtime.powerState'])
        for vm in vms:
            self.assertEqual('poweredOn',
                             states[vm._moId]['runtime.powerState'])
        return self.session.calls.by_method - before

    def test_concurrent_waiters_share_the_stream(self):
        vm, _ = self._ensure(5, 'poweredOn')
        self.waiter.wait(vm.PowerOffVM_Task())  # sets the task stream up
        calls = self._power_on_concurrently(self.waiter, range(4))
        # One collector and filter for all: nothing created per waiter.
        self.assertEqual(0, calls['CreatePropertyCollector'])
        self.assertEqual(0, calls['CreateFilter'])
        self.assertEqual(0, calls['DestroyPropertyFilter'])
        self.assertGreaterEqual(calls['WaitForUpdatesEx'], 1)
        self.assertEqual([], self.waiter._idle)

    def test_concurrent_filter_waiters_pool_their_collectors(self):
        waiter = vtasks.TaskWaiter(self.session, update_wait=5, timeout=60,
                                   stream=False)
        self.addCleanup(waiter.close)
        calls = self._power_on_concurrently(waiter, range(4))
        self.assertEqual(4, calls['CreateFilter'])
        self.assertEqual(4, calls['DestroyPropertyFilter'])
        # Each collector created is pooled after its wait, at most one per
        # concurrent waiter; a later wait reuses one.
        created = calls['CreatePropertyCollector']
        self.assertGreaterEqual(created, 1)
        self.assertLessEqual(created, 4)
        self.assertEqual(created, len(waiter._idle))
        vm, _ = self._vm(0)
        with self.session.calls.scope() as scope:
            waiter.wait(vm.PowerOffVM_Task())
        self.assertEqual(0, scope.by_method['CreatePropertyCollector'])
        self.assertEqual(created, len(waiter._idle))

    def test_timeout(self):
        vm, moid = self._ensure(5, 'poweredOn')
        self.vcsim.inject('PowerOffVM_Task', action='task_error',
                          fault='InvalidPowerState', delay_ms=4000)
        self.addCleanup(self.vcsim.clear_faults)
        task = vm.PowerOffVM_Task()
        exc = self.assertRaises(vtasks.faults.TaskTimeout, self.waiter.wait,
                                task, 'slow power off', timeout=1)
        self.assertIn('slow power off', str(exc))
        self.assertIn(task._moId, str(exc))
        # The task still ends, in its own time, and is reported then.
        self.assertRaises(vexc.InvalidPowerStateException, self.waiter.wait,
                          task, 'slow power off', timeout=30)
        self.assertEqual('poweredOn', self._power_state(moid))

    def test_task_waits_stay_within_the_api_timeout(self):
        # task_update_wait longer than api_timeout: each WaitForUpdatesEx
        # would outlast the socket's timeout and fail; it is shortened.
        logs = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))
        session = base.make_session(self.vcsim, timeout=2).login()
        self.addCleanup(session.logout)
        waiter = vtasks.TaskWaiter(session, update_wait=60, timeout=30)
        self.addCleanup(waiter.close)
        self.assertIn('task_update_wait (60 s) must be shorter than '
                      'api_timeout (2 s)', logs.output)
        vm, moid = self._ensure(5, 'poweredOn')
        self.vcsim.inject('PowerOffVM_Task', action='task_error',
                          fault='InvalidPowerState', delay_ms=3000)
        self.addCleanup(self.vcsim.clear_faults)
        task = session.bind(vm).PowerOffVM_Task()
        self.assertRaises(vexc.InvalidPowerStateException, waiter.wait,
                          task, 'slow power off')
