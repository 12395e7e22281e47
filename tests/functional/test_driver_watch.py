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

"""The VM watcher against vcsim: lifecycle events and the instance table.

Power changes are made behind the driver's back, over the test's own
pyvmomi connection (``self.si``), as an admin, vSphere HA or the guest
would make them.
"""

import threading
import time

from nova.compute import power_state
from nova.virt import event as virtevent
from pyVmomi import vim

from nova_vmware_ext.compute import events
from tests.functional import driver_base

STARTED = virtevent.EVENT_LIFECYCLE_STARTED
STOPPED = virtevent.EVENT_LIFECYCLE_STOPPED
DELAY = 1.0  # STOP_DELAY in these tests (15 s in production)


class Recorder(object):
    """The compute manager's side: events as they arrive, timed."""

    def __init__(self):
        self.events = []
        self._cond = threading.Condition()

    def __call__(self, event):
        with self._cond:
            self.events.append((time.monotonic(), event.get_instance_uuid(),
                                event.get_transition()))
            self._cond.notify_all()

    def clear(self):
        with self._cond:
            self.events = []

    def wait(self, count, timeout):
        with self._cond:
            self._cond.wait_for(lambda: len(self.events) >= count, timeout)
            return [(uuid, transition)
                    for _, uuid, transition in self.events]


class WatcherTest(driver_base.DriverTestCase):

    VCSIM_SHAPE = dict(hosts=2, vms=2)

    def setUp(self):
        self.patch(events, 'STOP_DELAY', DELAY)
        super().setUp()
        self.recorder = Recorder()
        self.driver.register_event_listener(self.recorder)

    def running_vm(self):
        """A Nova VM, made off then powered on: the start is told."""
        uuid, vm = self.make_nova_vm(power_on=True)
        self.assertEqual([(uuid, STARTED)], self.recorder.wait(1, 10))
        self.recorder.clear()
        return uuid, vm

    def power(self, vm, on):
        """Power the VM on or off; returns when the change was asked for
        (pyVim's wait polls: it may see the change well after it)."""
        asked = time.monotonic()
        driver_base.wait_task(vm.PowerOnVM_Task() if on
                              else vm.PowerOffVM_Task())
        return asked

    def test_power_off_behind_the_back_is_stopped_after_the_delay(self):
        uuid, vm = self.running_vm()
        changed = self.power(vm, on=False)
        self.assertEqual([(uuid, STOPPED)], self.recorder.wait(1, DELAY + 10))
        waited = self.recorder.events[0][0] - changed
        self.assertGreaterEqual(waited, DELAY)
        self.assertLess(waited, DELAY + 2)
        self.assertEqual(power_state.SHUTDOWN, self.driver.get_info(
            self.instance(uuid)).state)

    def test_quick_return_tells_nothing(self):
        # A reboot or an HA restart: off and on again within the delay.
        uuid, vm = self.running_vm()
        self.power(vm, on=False)
        self.power(vm, on=True)
        self.assertEqual([], self.recorder.wait(1, DELAY + 1))

    def test_reset_tells_nothing(self):
        uuid, vm = self.running_vm()
        driver_base.wait_task(vm.ResetVM_Task())
        self.assertEqual([], self.recorder.wait(1, DELAY + 1))

    def test_power_on_behind_the_back_is_started_within_two_seconds(self):
        uuid, vm = self.make_nova_vm()
        changed = self.power(vm, on=True)
        self.assertEqual([(uuid, STARTED)], self.recorder.wait(1, 10))
        self.assertLess(self.recorder.events[0][0] - changed, 2)

    def test_vms_that_are_not_novas_tell_nothing(self):
        vm = vcsim_vm(self.si, 'DC0_C0_RP0_VM0')  # the simulator's own
        self.power(vm, on=False)
        self.addCleanup(self.power, vm, True)
        self.assertEqual([], self.recorder.wait(1, DELAY + 1))

    def test_warm_table_costs_no_call(self):
        uuid, vm = self.running_vm()
        instance = self.instance(uuid)
        with self.session.calls.scope() as scope:
            self.assertIn(uuid, self.driver.list_instance_uuids())
            self.assertTrue(self.driver.instance_exists(instance))
            self.assertEqual(power_state.RUNNING,
                             self.driver.get_info(instance).state)
            self.assertEqual(vm._moId,
                             self.driver.get_info(instance).internal_id)
        self.assertEqual(0, scope.total, dict(scope.by_method))
        with self.session.calls.scope() as scope:
            self.driver.get_info(instance, use_cache=False)
        self.assertEqual({'RetrievePropertiesEx': 1}, dict(scope.by_method))

    def test_own_operation_is_read_back_at_once(self):
        # The watcher may not have seen the outcome of the driver's own
        # operation yet: a cached read asks vCenter for a while.
        uuid, vm = self.make_nova_vm()
        instance = self.instance(uuid)
        for _ in range(3):
            self.driver.power_on(None, instance, [])
            self.assertEqual(power_state.RUNNING,
                             self.driver.get_info(instance).state)
            self.driver.power_off(instance)
            self.assertEqual(power_state.SHUTDOWN,
                             self.driver.get_info(instance).state)

    def test_watcher_survives_a_terminated_session(self):
        uuid, vm = self.running_vm()
        watcher = self.driver._host.watcher
        rebuilds = watcher.rebuilds
        self.si.content.sessionManager.TerminateSession(
            [self.session.session_key])
        # The next call of the driver logs in again; the watcher, whose
        # collector went with the old session, starts over on the new one.
        self.driver.get_info(self.instance(uuid), use_cache=False)
        self.assertTrue(watcher.table.wait_for(
            lambda t: watcher.rebuilds > rebuilds and t.warm, 20))
        self.power(vm, on=False)
        self.assertEqual([(uuid, STOPPED)], self.recorder.wait(1, DELAY + 10))
        self.assertTrue(watcher.alive)

    def test_vcenter_unreachable_then_back_tells_what_changed(self):
        uuid, vm = self.running_vm()
        watcher = self.driver._host.watcher
        # The watcher loses vCenter: its waits and any new collector fail
        # (the test's own session uses neither).
        self.vcsim.inject('WaitForUpdatesEx', action='drop', count=None,
                          moid=watcher._collector)
        self.vcsim.inject('CreatePropertyCollector', action='drop',
                          count=None)
        self.addCleanup(self.vcsim.clear_faults)
        other = vcsim_vm(self.si, 'DC0_C0_RP0_VM0')  # wakes the wait
        self.power(other, on=False)
        self.addCleanup(self.power, other, True)
        deadline = time.monotonic() + 20
        while watcher.table.warm:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.power(vm, on=False)  # while the watcher cannot see it
        self.vcsim.clear_faults()
        self.assertEqual([(uuid, STOPPED)], self.recorder.wait(1, 40))
        self.assertTrue(watcher.table.warm)
        self.assertEqual('poweredOff', watcher.table.get(uuid).power_state)

    def test_cleanup_host_stops_the_watcher(self):
        uuid, vm = self.running_vm()
        self.power(vm, on=False)  # a stop pending when the host stops
        watcher = self.driver._host.watcher
        self.assertTrue(watcher.alive)
        self.assertTrue(watcher.table.wait_for(
            lambda t: t.get(uuid).power_state == 'poweredOff', 10))
        delaying = self.driver._host.events.calls._delayed._thread
        self.assertTrue(delaying.is_alive())
        began = time.monotonic()
        self.driver.cleanup_host('compute-test')
        self.assertLess(time.monotonic() - began, DELAY)
        self.assertFalse(watcher.alive)
        self.assertFalse(delaying.is_alive())
        names = [t.name for t in threading.enumerate()]
        self.assertNotIn('vmware-ext-vm-watcher', names)
        self.assertEqual([], self.recorder.wait(1, DELAY + 1))
        self.driver.init_host('compute-test')  # for the test's cleanups


class EventsDisabledTest(driver_base.DriverTestCase):

    VCSIM_SHAPE = dict(hosts=1)

    def test_workaround_off_emits_nothing_but_keeps_the_table(self):
        self.flags.config(group='workarounds',
                          handle_virt_lifecycle_events=False)
        self.patch(events, 'STOP_DELAY', DELAY)
        self.restart_driver()
        recorder = Recorder()
        self.driver.register_event_listener(recorder)
        self.assertIsNone(self.driver._host.events)
        uuid, vm = self.make_nova_vm()
        driver_base.wait_task(vm.PowerOnVM_Task())
        self.await_watcher(uuid, 'poweredOn')
        driver_base.wait_task(vm.PowerOffVM_Task())
        self.await_watcher(uuid, 'poweredOff')
        self.assertEqual([], recorder.wait(1, DELAY + 1))


def vcsim_vm(si, name):
    view = si.content.viewManager.CreateContainerView(
        si.content.rootFolder, [vim.VirtualMachine], True)
    try:
        return [vm for vm in view.view if vm.name == name][0]
    finally:
        view.DestroyView()
