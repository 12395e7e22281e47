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

"""vcsim fidelity: a vMotion (RelocateVM_Task of a running VM) runs over
time with progress, CancelTask stops it, and what a relocation refuses or
applies (vm_relocate_spec.go: NIC edits) still holds
(tools/vcsim/vm_vmotion.go).

Each test fails against the stock vcsim of govmomi 0.24.2, which relocates
inside the call and has no CancelTask.
"""

import time

from pyVmomi import vim
from pyVmomi import vmodl
import testtools

from tests.functional.vcsim_props import read_props
from tests.functional.vcsim_props import wait_task
from tests import vcsim

VMOTION_SECONDS = 2


class VmotionTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(clusters=2, hosts=1, vms=2, datastores=1,
                       portgroups=2, extra_args=(
                           '-vmotion-duration', '%ds' % VMOTION_SECONDS))

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()

    def by_name(self, vimtype, name):
        for moid, props in vcsim.query(self.si, vimtype, ['name']).items():
            if props['name'] == name:
                return vimtype(moid, self.si._stub)
        raise AssertionError('no %s %s' % (vimtype.__name__, name))

    def pool_of(self, cluster):
        return read_props(self.si, self.by_name(
            vim.ClusterComputeResource, cluster), ['resourcePool'])[
                'resourcePool']

    def where(self, vm):
        return read_props(self.si, vm, ['runtime.host', 'resourcePool'])

    def wait_progress(self, task, at_least):
        deadline = time.monotonic() + VMOTION_SECONDS * 5
        while time.monotonic() < deadline:
            info = read_props(self.si, task, ['info'])['info']
            if (info.progress or 0) >= at_least or info.state != 'running':
                return info
            time.sleep(0.05)
        self.fail('no progress %d%% on %s' % (at_least, task._moId))

    def test_running_vm_moves_over_time_with_progress(self):
        vm = self.by_name(vim.VirtualMachine, 'DC0_C0_RP0_VM0')
        pool = self.pool_of('DC0_C1')
        task = vm.RelocateVM_Task(vim.vm.RelocateSpec(pool=pool))
        info = self.wait_progress(task, 10)
        self.assertEqual('running', info.state)
        self.assertTrue(info.cancelable)
        # Still on the source while the memory copy runs.
        self.assertNotEqual(pool, self.where(vm)['resourcePool'])
        info = wait_task(self.si, task)
        self.assertEqual('success', info.state, info.error)
        self.assertEqual(pool, self.where(vm)['resourcePool'])
        # Back: the test shares the inventory with the others.
        self.assertEqual('success', wait_task(self.si, vm.RelocateVM_Task(
            vim.vm.RelocateSpec(pool=self.pool_of('DC0_C0')))).state)

    def test_cancel_stops_a_running_vmotion(self):
        vm = self.by_name(vim.VirtualMachine, 'DC0_C0_RP0_VM1')
        before = self.where(vm)
        task = vm.RelocateVM_Task(vim.vm.RelocateSpec(
            pool=self.pool_of('DC0_C1')))
        self.wait_progress(task, 10)
        task.CancelTask()
        info = wait_task(self.si, task)
        self.assertEqual('error', info.state)
        self.assertIsInstance(info.error, vmodl.fault.RequestCanceled)
        self.assertTrue(info.cancelled)
        self.assertEqual(before, self.where(vm))
        # A finished task cannot be cancelled.
        self.assertRaises(vim.fault.InvalidState, task.CancelTask)

    def test_a_bad_destination_is_refused_by_the_call(self):
        vm = self.by_name(vim.VirtualMachine, 'DC0_C0_RP0_VM0')
        other = self.by_name(vim.HostSystem, 'DC0_C1_H0')
        # A host outside the pool's cluster: refused at once, not after
        # the vMotion ran.
        raised = self.assertRaises(
            vmodl.fault.InvalidArgument, vm.RelocateVM_Task,
            vim.vm.RelocateSpec(pool=self.pool_of('DC0_C0'), host=other))
        self.assertEqual('spec.host', raised.invalidProperty)

    def test_cancel_of_a_task_that_is_not_cancelable(self):
        vm = self.by_name(vim.VirtualMachine, 'DC0_C1_RP0_VM0')
        task = vm.PowerOffVM_Task()
        wait_task(self.si, task)
        self.assertRaises(vim.fault.InvalidState, task.CancelTask)
        self.assertEqual('success', wait_task(
            self.si, vm.PowerOnVM_Task()).state)

    def nic(self, vm):
        devices = read_props(self.si, vm, ['config.hardware.device'])[
            'config.hardware.device']
        return [d for d in devices
                if isinstance(d, vim.vm.device.VirtualEthernetCard)][0]

    def test_nic_edits_apply_when_the_vm_arrives(self):
        vm = self.by_name(vim.VirtualMachine, 'DC0_C1_RP0_VM1')
        pg = self.by_name(vim.dvs.DistributedVirtualPortgroup, 'DC0_DVPG1')
        props = read_props(self.si, pg, ['key',
                                         'config.distributedVirtualSwitch'])
        switch = read_props(self.si, props['config.distributedVirtualSwitch'],
                            ['uuid'])['uuid']
        nic = self.nic(vm)
        old_key = nic.backing.port.portgroupKey
        nic.backing = vim.vm.device.VirtualEthernetCard.\
            DistributedVirtualPortBackingInfo(port=vim.dvs.PortConnection(
                switchUuid=switch, portgroupKey=props['key']))
        task = vm.RelocateVM_Task(vim.vm.RelocateSpec(
            pool=self.pool_of('DC0_C0'), deviceChange=[
                vim.vm.device.VirtualDeviceSpec(operation='edit',
                                                device=nic)]))
        self.wait_progress(task, 10)
        self.assertEqual(old_key, self.nic(vm).backing.port.portgroupKey)
        info = wait_task(self.si, task)
        self.assertEqual('success', info.state, info.error)
        self.assertEqual(props['key'], self.nic(vm).backing.port.portgroupKey)
        self.assertEqual(self.pool_of('DC0_C0'),
                         self.where(vm)['resourcePool'])

    def test_a_bad_device_change_is_refused_by_the_call(self):
        vm = self.by_name(vim.VirtualMachine, 'DC0_C1_RP0_VM0')
        before = self.where(vm)
        devices = read_props(self.si, vm, ['config.hardware.device'])[
            'config.hardware.device']
        disk = [d for d in devices
                if isinstance(d, vim.vm.device.VirtualDisk)][0]
        raised = self.assertRaises(
            vim.fault.InvalidDeviceSpec, vm.RelocateVM_Task,
            vim.vm.RelocateSpec(pool=self.pool_of('DC0_C0'), deviceChange=[
                vim.vm.device.VirtualDeviceSpec(operation='edit',
                                                device=disk)]))
        self.assertEqual('spec.deviceChange', raised.property)
        self.assertEqual(before, self.where(vm))
