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

"""vcsim's WaitForUpdatesEx answers as soon as an update is pending.

govmomi 0.24.2 looks at pending updates only on a 250 ms ticker (so every
task wait costs up to 250 ms, and maxWaitSeconds=0 costs 250 ms), hears
about updates only for the last session that waited, and accepts any
version. tools/vcsim/pc_wait.go makes waits event driven; each test here
states the vSphere behaviour it checks.
"""

import threading
import time

from pyVmomi import vim
from pyVmomi import vmodl
import testtools

from tests import vcsim

PC = vmodl.query.PropertyCollector


def by_name(si, vimtype, name):
    for moid, props in vcsim.query(si, vimtype, ['name']).items():
        if props['name'] == name:
            return vimtype(moid, si._stub)
    raise LookupError(name)


def changes(update):
    """[(kind, moid, name, value)] of an UpdateSet."""
    found = []
    for fu in update.filterSet or ():
        for ou in fu.objectSet or ():
            if not ou.changeSet:
                found.append((ou.kind, ou.obj._moId, None, None))
            for c in ou.changeSet or ():
                found.append((ou.kind, ou.obj._moId, c.name, c.val))
    return found


class WaitForUpdatesTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(clusters=1, hosts=1, vms=2)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.vm = by_name(self.si, vim.VirtualMachine, 'DC0_C0_RP0_VM0')
        self.collector = self.collector_of(self.si)

    def collector_of(self, si):
        collector = si.content.propertyCollector.CreatePropertyCollector()
        self.addCleanup(collector.DestroyPropertyCollector)
        return collector

    def watch(self, collector, obj, paths, partial=True):
        collector.CreateFilter(PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=obj)],
            propSet=[PC.PropertySpec(type=type(obj), pathSet=paths)]),
            partial)
        return collector.WaitForUpdatesEx('', PC.WaitOptions(
            maxWaitSeconds=0))

    def wait(self, collector, version, seconds=10):
        return collector.WaitForUpdatesEx(version, PC.WaitOptions(
            maxWaitSeconds=seconds))

    def toggle_power(self, vm):
        state = vm.runtime.powerState
        task = (vm.PowerOffVM_Task() if state == 'poweredOn'
                else vm.PowerOnVM_Task())
        # A task that is not done yet is still pending: wait for it the
        # slow way, so the collector under test is not involved.
        deadline = time.monotonic() + 10
        while task.info.state not in ('success', 'error'):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.01)
        return 'poweredOff' if state == 'poweredOn' else 'poweredOn'

    def test_initial_state_then_a_pending_change_at_once(self):
        # Ten changes, each pending when the wait starts: stock vcsim
        # answers each after its 250 ms ticker (2.5 s for ten).
        first = self.watch(self.collector, self.vm, ['runtime.powerState'])
        self.assertEqual([('enter', self.vm._moId, 'runtime.powerState',
                           self.vm.runtime.powerState)], changes(first))
        version = first.version
        began = time.monotonic()
        for _ in range(10):
            state = self.toggle_power(self.vm)
            update = self.wait(self.collector, version)
            self.assertEqual([('modify', self.vm._moId,
                               'runtime.powerState', state)],
                             changes(update))
            self.assertNotEqual(version, update.version)
            version = update.version
        self.assertLess(time.monotonic() - began, 1.5)

    def test_a_change_during_the_wait_ends_it(self):
        first = self.watch(self.collector, self.vm, ['runtime.powerState'])
        result = {}

        def waiter():
            began = time.monotonic()
            result['update'] = self.wait(self.collector, first.version, 30)
            result['seconds'] = time.monotonic() - began

        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.2)
        state = self.toggle_power(self.vm)
        thread.join(20)
        self.assertFalse(thread.is_alive())
        self.assertEqual([('modify', self.vm._moId, 'runtime.powerState',
                           state)], changes(result['update']))
        self.assertLess(result['seconds'], 5)

    def test_no_wait_and_timeout_return_no_update(self):
        first = self.watch(self.collector, self.vm, ['runtime.powerState'])
        began = time.monotonic()
        for _ in range(5):
            self.assertIsNone(self.wait(self.collector, first.version, 0))
        self.assertLess(time.monotonic() - began, 1.0)  # stock: 5 x 250 ms
        began = time.monotonic()
        self.assertIsNone(self.wait(self.collector, first.version, 1))
        self.assertGreater(time.monotonic() - began, 0.9)

    def test_every_session_hears_of_changes(self):
        # Stock vcsim registers every session's singleton collector under
        # one reference: only the last session to wait heard of updates.
        other = self.vcsim.connect()
        vm = by_name(self.si, vim.VirtualMachine, 'DC0_C0_RP0_VM1')
        mine = self.si.content.propertyCollector
        theirs = other.content.propertyCollector
        versions = [self.watch(c, vim.VirtualMachine(vm._moId, s._stub),
                               ['runtime.powerState']).version
                    for c, s in ((mine, self.si), (theirs, other))]
        state = self.toggle_power(vm)
        for collector, version in zip((mine, theirs), versions):
            update = self.wait(collector, version, 5)
            self.assertIsNotNone(update)
            self.assertEqual([('modify', vm._moId, 'runtime.powerState',
                               state)], changes(update))

    def test_versions(self):
        # The version before the last one gets the last update set again
        # (its answer may have been lost); older or unknown ones are
        # InvalidCollectorVersion (stock vcsim accepted anything).
        first = self.watch(self.collector, self.vm, ['runtime.powerState'])
        self.toggle_power(self.vm)
        second = self.wait(self.collector, first.version)
        state = self.toggle_power(self.vm)
        third = self.wait(self.collector, second.version)
        again = self.wait(self.collector, second.version, 0)
        self.assertEqual(third.version, again.version)
        self.assertEqual([('modify', self.vm._moId, 'runtime.powerState',
                           state)], changes(again))
        for version in (first.version, 'bogus'):
            self.assertRaises(vmodl.query.InvalidCollectorVersion,
                              self.wait, self.collector, version, 0)
        self.assertIsNone(self.wait(self.collector, third.version, 0))

    def test_empty_version_starts_over(self):
        first = self.watch(self.collector, self.vm, ['name'])
        again = self.wait(self.collector, '', 0)
        self.assertEqual(changes(first), changes(again))
        self.assertNotEqual(first.version, again.version)

    def test_cancel_ends_a_wait(self):
        first = self.watch(self.collector, self.vm, ['runtime.powerState'])
        result = {}

        def waiter():
            try:
                self.wait(self.collector, first.version, 30)
            except Exception as e:
                result['error'] = e

        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.3)
        self.collector.CancelWaitForUpdates()
        thread.join(10)
        self.assertFalse(thread.is_alive())
        self.assertIsInstance(result.get('error'),
                              vmodl.fault.RequestCanceled)

    def test_enclosing_and_nested_properties(self):
        # partialUpdates: a change below the requested property comes as
        # it is; without it, as the whole requested property.
        vm = by_name(self.si, vim.VirtualMachine, 'DC0_C0_RP0_VM1')
        partial = self.collector
        whole = self.collector_of(self.si)
        v_partial = self.watch(partial, vm, ['runtime'], True).version
        v_whole = self.watch(whole, vm, ['runtime'], False).version
        state = self.toggle_power(vm)
        names = [c[2] for c in changes(self.wait(partial, v_partial))]
        self.assertIn('runtime.powerState', names)
        self.assertNotIn('runtime', names)
        [(kind, _, name, value)] = changes(self.wait(whole, v_whole))
        self.assertEqual(('modify', 'runtime'), (kind, name))
        self.assertEqual(state, value.powerState)

    def test_a_destroyed_object_leaves(self):
        dc = self.si.content.rootFolder.childEntity[0]
        pool = vcsim.query(self.si, vim.ClusterComputeResource,
                           ['resourcePool'])
        pool = next(iter(pool.values()))['resourcePool']
        task = dc.vmFolder.CreateVM_Task(config=vim.vm.ConfigSpec(
            name='wait-leaves', guestId='otherGuest64', numCPUs=1,
            memoryMB=64, files=vim.vm.FileInfo(vmPathName='[LocalDS_0]')),
            pool=pool)
        while task.info.state not in ('success', 'error'):
            time.sleep(0.01)
        vm = task.info.result
        first = self.watch(self.collector, vm, ['name'])
        self.assertEqual([('enter', vm._moId, 'name', 'wait-leaves')],
                         changes(first))
        task = vm.Destroy_Task()
        update = self.wait(self.collector, first.version)
        self.assertEqual([('leave', vm._moId, None, None)], changes(update))


class WaitOverflowTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """A collector that recorded changes of more objects than it keeps
    (-pc-dirty-max) reports every requested property of every object it
    reported, so no change is lost."""

    VCSIM_SHAPE = dict(clusters=1, hosts=1, vms=2,
                       extra_args=('-pc-dirty-max', '2'))

    def test_too_many_changes_report_everything(self):
        si = self.vcsim.connect()
        vms = [by_name(si, vim.VirtualMachine, 'DC0_C0_RP0_VM%d' % i)
               for i in range(2)]
        collector = si.content.propertyCollector.CreatePropertyCollector()
        self.addCleanup(collector.DestroyPropertyCollector)
        collector.CreateFilter(PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=vm) for vm in vms],
            propSet=[PC.PropertySpec(type=vim.VirtualMachine,
                                     pathSet=['runtime.powerState'])]),
            True)
        first = collector.WaitForUpdatesEx('', PC.WaitOptions(
            maxWaitSeconds=0))
        self.assertEqual(2, len(changes(first)))
        # A power task touches the VM, the task and the task manager:
        # more than two objects.
        task = vms[0].PowerOffVM_Task()
        while task.info.state not in ('success', 'error'):
            time.sleep(0.01)
        update = collector.WaitForUpdatesEx(first.version, PC.WaitOptions(
            maxWaitSeconds=10))
        self.assertEqual(
            sorted([('modify', vms[0]._moId, 'runtime.powerState',
                     'poweredOff'),
                    ('modify', vms[1]._moId, 'runtime.powerState',
                     vms[1].runtime.powerState)]),
            sorted(changes(update)))
