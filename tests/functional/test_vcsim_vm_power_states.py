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

"""vcsim applies vSphere's power-state rules (tools/vcsim/vm_power_states.go).

Each test fails against the stock simulator: it suspends a poweredOff VM,
resets a suspended one (which then runs) and changes a suspended VM's
devices and boot options. Disks hot-add and hot-remove on a running VM and
change freely on a poweredOff one, as on ESXi.
"""

from pyVmomi import vim
import testtools

from tests.functional.vcsim_vms import disks
from tests.functional.vcsim_vms import new_disk
from tests.functional.vcsim_vms import new_vm
from tests.functional.vcsim_vms import read
from tests.functional.vcsim_vms import wait
from tests import vcsim


class PowerStateRulesTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(hosts=1, datastores=1)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()

    def vm(self, name, power_on=True):
        vm = new_vm(self.si, name, power_on=power_on)
        self.addCleanup(self.destroy, vm)
        return vm

    def destroy(self, vm):
        if read(self.si, vm, ['runtime.powerState'])[
                'runtime.powerState'] != 'poweredOff':
            wait(self.si, vm.PowerOffVM_Task())
        wait(self.si, vm.Destroy_Task())

    def power(self, vm):
        return read(self.si, vm, ['runtime.powerState'])['runtime.powerState']

    def assertRefused(self, task, requested, existing):
        raised = self.assertRaises(vim.fault.InvalidPowerState, wait,
                                   self.si, task)
        self.assertEqual((requested, existing),
                         (raised.requestedState, raised.existingState))

    def add_disk_spec(self, unit):
        return vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
            operation='add', fileOperation='create',
            device=new_disk(-1, unit))])

    def test_suspend_needs_a_running_vm(self):
        vm = self.vm('ps-suspend', power_on=False)
        self.assertRefused(vm.SuspendVM_Task(), 'poweredOn', 'poweredOff')
        self.assertEqual('poweredOff', self.power(vm))
        wait(self.si, vm.PowerOnVM_Task())
        wait(self.si, vm.SuspendVM_Task())
        self.assertEqual('suspended', self.power(vm))
        # Suspending again is refused too; power on resumes it.
        self.assertRefused(vm.SuspendVM_Task(), 'poweredOn', 'suspended')
        wait(self.si, vm.PowerOnVM_Task())
        self.assertEqual('poweredOn', self.power(vm))

    def test_reset_of_a_suspended_vm_is_refused(self):
        vm = self.vm('ps-reset')
        wait(self.si, vm.SuspendVM_Task())
        self.assertRefused(vm.ResetVM_Task(), 'poweredOn', 'suspended')
        self.assertEqual('suspended', self.power(vm))

    def test_a_suspended_vm_keeps_its_devices_and_boot_order(self):
        vm = self.vm('ps-frozen')
        wait(self.si, vm.SuspendVM_Task())
        before = read(self.si, vm, ['config.hardware.device',
                                    'config.bootOptions'])
        self.assertRefused(vm.ReconfigVM_Task(self.add_disk_spec(1)),
                           'poweredOff', 'suspended')
        boot = vim.vm.ConfigSpec(bootOptions=vim.vm.BootOptions(bootOrder=[
            vim.vm.BootOptions.BootableCdromDevice()]))
        self.assertRefused(vm.ReconfigVM_Task(boot), 'poweredOff',
                           'suspended')
        after = read(self.si, vm, ['config.hardware.device',
                                   'config.bootOptions'])
        self.assertEqual(len(disks(before['config.hardware.device'])),
                         len(disks(after['config.hardware.device'])))
        self.assertEqual([], list(after['config.bootOptions'].bootOrder))
        # Other settings still change (a name, an annotation).
        wait(self.si, vm.ReconfigVM_Task(vim.vm.ConfigSpec(
            annotation='suspended')))

    def test_disks_hot_add_and_remove_when_running_or_off(self):
        for name, on in (('ps-hot', True), ('ps-cold', False)):
            vm = self.vm(name, power_on=on)
            wait(self.si, vm.ReconfigVM_Task(self.add_disk_spec(1)))
            found = disks(read(self.si, vm, ['config.hardware.device'])[
                'config.hardware.device'])
            self.assertEqual([0, 1], sorted(d.unitNumber for d in found))
            added = [d for d in found if d.unitNumber == 1][0]
            wait(self.si, vm.ReconfigVM_Task(vim.vm.ConfigSpec(
                deviceChange=[vim.vm.device.VirtualDeviceSpec(
                    operation='remove', fileOperation='destroy',
                    device=added)])))
            found = disks(read(self.si, vm, ['config.hardware.device'])[
                'config.hardware.device'])
            self.assertEqual([0], [d.unitNumber for d in found])
            # Boot options change in both states.
            wait(self.si, vm.ReconfigVM_Task(vim.vm.ConfigSpec(
                bootOptions=vim.vm.BootOptions(bootOrder=[
                    vim.vm.BootOptions.BootableDiskDevice(
                        deviceKey=found[0].key)]))))
            order = read(self.si, vm, ['config.bootOptions'])[
                'config.bootOptions'].bootOrder
            self.assertEqual([found[0].key], [d.deviceKey for d in order])
