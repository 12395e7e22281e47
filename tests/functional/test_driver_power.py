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

"""Clean shutdown and soft reboot through VMware Tools, against vcsim."""

from pyVmomi import vim

from tests.functional import driver_base
from tests.functional import test_driver_spawn


def give_tools(si, moid):
    """VMware Tools running in the guest (vcsim's SET.guest.* keys)."""
    vm = vim.VirtualMachine(moid, si._stub)
    driver_base.wait_task(vm.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=[
        vim.option.OptionValue(key='SET.guest.toolsStatus', value='toolsOk'),
        vim.option.OptionValue(key='SET.guest.toolsRunningStatus',
                               value='guestToolsRunning')])))


class PowerTest(test_driver_spawn.SpawnTestBase):

    def _running(self, tools):
        instance = self.make_instance()
        self.spawn(instance, self.flat)
        if tools:
            give_tools(self.si, self.vm(instance)['moid'])
        return instance

    def test_clean_shutdown_asks_the_guest(self):
        instance = self._running(tools=True)
        with self.session.calls.scope() as scope:
            self.driver.power_off(instance, timeout=30, retry_interval=5)
        self.assertEqual('poweredOff', self.vm(instance)['runtime.powerState'])
        self.assertEqual(1, scope.by_method['ShutdownGuest'])
        self.assertEqual(0, scope.by_method['PowerOffVM_Task'])

    def test_clean_shutdown_without_tools_powers_off(self):
        instance = self._running(tools=False)
        with self.session.calls.scope() as scope:
            self.driver.power_off(instance, timeout=30, retry_interval=5)
        self.assertEqual('poweredOff', self.vm(instance)['runtime.powerState'])
        self.assertEqual(0, scope.by_method['ShutdownGuest'])
        self.assertEqual(1, scope.by_method['PowerOffVM_Task'])

    def test_refused_guest_shutdown_falls_back_to_power_off(self):
        instance = self._running(tools=True)
        # Tools stopped between our check and the request.
        self.vcsim.inject('ShutdownGuest', fault='ToolsUnavailable')
        self.addCleanup(self.vcsim.clear_faults)
        with self.session.calls.scope() as scope:
            self.driver.power_off(instance, timeout=30, retry_interval=5)
        self.assertEqual('poweredOff', self.vm(instance)['runtime.powerState'])
        self.assertEqual(1, scope.by_method['PowerOffVM_Task'])

    def test_soft_reboot_uses_the_guest(self):
        instance = self._running(tools=True)
        with self.session.calls.scope() as scope:
            self.driver.reboot(self.context, instance, [], 'SOFT')
        self.assertEqual(1, scope.by_method['RebootGuest'])
        self.assertEqual(0, scope.by_method['ResetVM_Task'])
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])

    def test_soft_reboot_without_tools_resets(self):
        instance = self._running(tools=False)
        with self.session.calls.scope() as scope:
            self.driver.reboot(self.context, instance, [], 'SOFT')
        self.assertEqual(0, scope.by_method['RebootGuest'])
        self.assertEqual(1, scope.by_method['ResetVM_Task'])
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])

    def test_refused_guest_reboot_falls_back_to_reset(self):
        instance = self._running(tools=True)
        # Tools stopped between our check and the request.
        self.vcsim.inject('RebootGuest', fault='ToolsUnavailable')
        self.addCleanup(self.vcsim.clear_faults)
        with self.session.calls.scope() as scope:
            self.driver.reboot(self.context, instance, [], 'SOFT')
        self.assertEqual(1, scope.by_method['RebootGuest'])
        self.assertEqual(1, scope.by_method['ResetVM_Task'])
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])

    def test_hard_reboot_resets_even_with_tools(self):
        instance = self._running(tools=True)
        with self.session.calls.scope() as scope:
            self.driver.reboot(self.context, instance, [], 'HARD')
        self.assertEqual(0, scope.by_method['RebootGuest'])
        self.assertEqual(1, scope.by_method['ResetVM_Task'])

    def test_resume_state_on_host_boot_powers_on(self):
        instance = self._running(tools=False)
        self.driver.power_off(instance)
        self.driver.resume_state_on_host_boot(self.context, instance, [],
                                              None)
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])
        # Already running: nothing to do, no error.
        self.driver.resume_state_on_host_boot(self.context, instance, [],
                                              None)


class DestroyCeilingTest(test_driver_spawn.SpawnTestBase):
    """SOAP calls of destroy, as measured (each task waited for once)."""

    def _destroy(self, instance):
        with self.session.calls.scope() as scope:
            self.driver.destroy(self.context, instance, [])
        self.assertIsNone(self.vm(instance))
        return dict(scope.by_method)

    def test_destroy_of_a_stopped_vm_makes_five_calls(self):
        instance = self.make_instance()
        self.spawn(instance, self.flat, power_on=False)
        calls = self._destroy(instance)
        self.assertEqual(5, sum(calls.values()), calls)
        self.assertEqual(1, calls['Destroy_Task'])
        self.assertEqual(0, calls.get('PowerOffVM_Task', 0))

    def test_destroy_of_a_running_vm_powers_it_off_first(self):
        instance = self._running()
        calls = self._destroy(instance)
        self.assertLessEqual(sum(calls.values()), 7, calls)
        self.assertEqual(1, calls['PowerOffVM_Task'])

    def test_destroy_of_a_vm_already_gone_only_looks(self):
        instance = self.make_instance()
        self.spawn(instance, self.flat, power_on=False)
        self.driver.destroy(self.context, instance, [])
        calls = self._destroy(instance)
        self.assertLessEqual(sum(calls.values()), 3, calls)
        self.assertEqual([], [m for m in calls if m.endswith('_Task')])

    def _running(self):
        instance = self.make_instance()
        self.spawn(instance, self.flat)
        return instance
