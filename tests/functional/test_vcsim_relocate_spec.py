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

"""vcsim fidelity: RelocateVM_Task applies spec.deviceChange and
diskMoveType moveAllDiskBackingsAndConsolidate (tools/vcsim/
vm_relocate_spec.go), which stock vcsim 0.24.2 ignores: a VM moved to
another cluster keeps NICs on the old networks and linked clones keep
their parents."""

from pyVmomi import vim
import testtools

from tests.functional import vcsim_vms as vms
from tests import vcsim


class RelocateSpecTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(clusters=2, hosts=1, datastores=2, portgroups=1)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.target = vms.read(self.si, vms.by_name(
            self.si, vim.ClusterComputeResource, 'DC0_C1'),
            ['resourcePool'])['resourcePool']

    def vm_with_nic_and_child_disk(self, name):
        """A VM whose disk is a child of a disk outside its folder, with a
        NIC on the standard 'VM Network'."""
        dc = self.si.content.rootFolder.childEntity[0]
        parent = '[LocalDS_0] base-%s.vmdk' % name
        vms.wait(self.si, self.si.content.virtualDiskManager
                 .CreateVirtualDisk_Task(
                     parent, dc, vim.VirtualDiskManager.
                     FileBackedVirtualDiskSpec(adapterType='lsiLogic',
                                               diskType='thin',
                                               capacityKb=1024)))
        self.addCleanup(self.delete_quietly, parent, dc)
        disk = vms.new_disk(-1, 0)
        disk.backing.parent = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName=parent, diskMode='persistent')
        pool = vms.read(self.si, vms.by_name(
            self.si, vim.ClusterComputeResource, 'DC0_C0'),
            ['resourcePool'])['resourcePool']
        spec = vim.vm.ConfigSpec(
            name=name, guestId='otherGuest64', numCPUs=1, memoryMB=64,
            files=vim.vm.FileInfo(vmPathName='[LocalDS_0]'),
            deviceChange=[
                vim.vm.device.VirtualDeviceSpec(
                    operation='add',
                    device=vim.vm.device.ParaVirtualSCSIController(
                        key=1000, busNumber=0, sharedBus='noSharing')),
                vim.vm.device.VirtualDeviceSpec(
                    operation='add', fileOperation='create', device=disk),
                vim.vm.device.VirtualDeviceSpec(
                    operation='add', device=vim.vm.device.VirtualVmxnet3(
                        key=-5, macAddress='fa:16:3e:00:00:09',
                        addressType='manual',
                        backing=vim.vm.device.VirtualEthernetCard.
                        NetworkBackingInfo(deviceName='VM Network')))])
        vm = vms.wait(self.si, dc.vmFolder.CreateVM_Task(config=spec,
                                                         pool=pool))
        self.addCleanup(lambda: vms.wait(self.si, vm.Destroy_Task()))
        return vm

    def delete_quietly(self, path, dc):
        try:
            vms.wait(self.si, self.si.content.virtualDiskManager
                     .DeleteVirtualDisk_Task(path, dc))
        except Exception:
            pass

    def devices(self, vm):
        return vms.read(self.si, vm, ['config.hardware.device'])[
            'config.hardware.device']

    def test_nic_edit_and_consolidation_apply_to_the_moved_vm(self):
        vm = self.vm_with_nic_and_child_disk('moved')
        nic = [d for d in self.devices(vm)
               if isinstance(d, vim.vm.device.VirtualEthernetCard)][0]
        portgroup = vms.by_name(self.si, vim.dvs.DistributedVirtualPortgroup,
                                'DC0_DVPG0')
        pg = vms.read(self.si, portgroup,
                      ['key', 'config.distributedVirtualSwitch'])
        switch_uuid = vms.read(self.si, pg['config.distributedVirtualSwitch'],
                               ['uuid'])['uuid']
        nic.backing = vim.vm.device.VirtualEthernetCard.\
            DistributedVirtualPortBackingInfo(port=vim.dvs.PortConnection(
                switchUuid=switch_uuid, portgroupKey=pg['key']))
        ds1 = vms.by_name(self.si, vim.Datastore, 'LocalDS_1')

        vms.wait(self.si, vm.RelocateVM_Task(vim.vm.RelocateSpec(
            pool=self.target, datastore=ds1,
            diskMoveType='moveAllDiskBackingsAndConsolidate',
            deviceChange=[vim.vm.device.VirtualDeviceSpec(
                operation='edit', device=nic)])))

        props = vms.read(self.si, vm, ['config.hardware.device', 'datastore',
                                       'layoutEx.file'])
        moved_nic = [d for d in props['config.hardware.device']
                     if isinstance(d, vim.vm.device.VirtualEthernetCard)][0]
        self.assertEqual(pg['key'], moved_nic.backing.port.portgroupKey)
        self.assertEqual('fa:16:3e:00:00:09', moved_nic.macAddress)
        disk = vms.disks(props['config.hardware.device'])[0]
        self.assertTrue(disk.backing.fileName.startswith('[LocalDS_1] '))
        self.assertIsNone(disk.backing.parent)
        self.assertEqual([ds1], list(props['datastore']))
        self.assertEqual([], [f.name for f in props['layoutEx.file']
                              if 'base-moved' in f.name])

    def test_default_move_type_keeps_the_parent(self):
        vm = self.vm_with_nic_and_child_disk('kept')
        ds1 = vms.by_name(self.si, vim.Datastore, 'LocalDS_1')
        vms.wait(self.si, vm.RelocateVM_Task(vim.vm.RelocateSpec(
            pool=self.target, datastore=ds1)))
        disk = vms.disks(self.devices(vm))[0]
        self.assertEqual('[LocalDS_0] base-kept.vmdk',
                         disk.backing.parent.fileName)

    def test_a_change_other_than_a_nic_edit_is_refused_before_moving(self):
        vm = self.vm_with_nic_and_child_disk('refused')
        before = vms.read(self.si, vm, ['resourcePool'])['resourcePool']
        error = self.assertRaises(
            vim.fault.InvalidDeviceSpec, vm.RelocateVM_Task,
            vim.vm.RelocateSpec(pool=self.target, deviceChange=[
                vim.vm.device.VirtualDeviceSpec(
                    operation='add',
                    device=vim.vm.device.VirtualVmxnet3(key=-9))]))
        self.assertEqual(0, error.deviceIndex)
        self.assertEqual(before, vms.read(self.si, vm, ['resourcePool'])[
            'resourcePool'])
