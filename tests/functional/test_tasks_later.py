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

"""Tasks started without a wait of their own (TaskWaiter.wait_later) and
property watches (wait_for_values), against vcsim."""

import logging

import fixtures
from pyVmomi import vim

from tests.functional import base


class WaitLaterTest(base.VcsimTestCase):

    VCSIM_SHAPE = dict(hosts=1, vms=2)

    def _vm(self, index):
        found = self.query(vim.VirtualMachine, ['name', 'runtime.powerState'])
        moid, item = sorted(found.items(), key=lambda kv: kv[1]['name'])[
            index]
        return self.session.mo('VirtualMachine', moid), item

    def _stop_later(self, index):
        self.addCleanup(lambda: self._off(index) and None)

    def _off(self, index):
        vm, item = self._vm(index)
        if item['runtime.powerState'] != 'poweredOff':
            self.waiter.wait(vm.PowerOffVM_Task())
        return vm

    def test_next_wait_sees_a_later_task_fail_and_logs_it(self):
        logs = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))
        first, second = self._off(0), self._off(1)
        # Powering off a VM that is off fails (InvalidPowerState).
        self.waiter.wait_later(first.PowerOffVM_Task(), 'second power off')
        task = second.PowerOnVM_Task()
        with self.session.calls.scope() as scope:
            self.waiter.wait(task, 'power on')
        self._stop_later(1)
        # The wait for the power on saw the other task end too: one
        # WaitForUpdatesEx, or two when vcsim's ticker split them.
        self.assertEqual(['WaitForUpdatesEx'], list(scope.by_method))
        self.assertLessEqual(scope.total, 2)
        self.assertIn('second power off failed', logs.output)

    def test_successful_later_task_logs_nothing(self):
        logs = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))
        first = self._off(0)
        self.waiter.wait_later(first.PowerOnVM_Task(), 'power on')
        self._stop_later(0)
        self.waiter.wait(self._off(1).PowerOnVM_Task())
        self._stop_later(1)
        self.assertNotIn('power on failed', logs.output)

    def test_wait_for_values_returns_the_watched_properties(self):
        vm = self._off(0)
        self.waiter.wait_later(vm.PowerOnVM_Task(), 'power on')
        self._stop_later(0)
        values = self.waiter.wait_for_values(
            vm, ['runtime.powerState', 'name'],
            lambda v: v.get('runtime.powerState') == 'poweredOn', 30)
        self.assertEqual('poweredOn', values['runtime.powerState'])
        self.assertEqual(self._vm(0)[1]['name'], values['name'])

    def test_wait_for_values_times_out_with_none(self):
        vm = self._off(0)
        self.assertIsNone(self.waiter.wait_for_values(
            vm, ['runtime.powerState'],
            lambda v: v.get('runtime.powerState') == 'poweredOn', 1))
