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

"""vcsim fidelity: RelocateVM_Task honours a disk locator's own
diskMoveType and datastore (tools/vcsim/vm_relocate_disk_move_type.go,
ds_relocate.go): a relocation consolidating the VM's linked clones leaves
a disk its locator keeps on its datastore (a Cinder volume's) as it was,
parent included."""

from pyVmomi import vim
import testtools

from tests.functional import vcsim_vms as vms
from tests import vcsim

CONSOLIDATE = 'moveAllDiskBackingsAndConsolidate'
KEEP = 'moveAllDiskBackingsAndAllowSharing'


class DiskMoveTypeTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(clusters=1, hosts=1, datastores=2, portgroups=0)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.dc = self.si.content.rootFolder.childEntity[0]

    def base(self, name):
        path = '[LocalDS_0] base-%s.vmdk' % name
        vms.wait(self.si, self.si.content.virtualDiskManager
                 .CreateVirtualDisk_Task(
                     path, self.dc, vim.VirtualDiskManager.
                     FileBackedVirtualDiskSpec(adapterType='lsiLogic',
                                               diskType='thin',
                                               capacityKb=1024)))
        self.addCleanup(self.delete_quietly, path)
        return path

    def delete_quietly(self, path):
        try:
            vms.wait(self.si, self.si.content.virtualDiskManager
                     .DeleteVirtualDisk_Task(path, self.dc))
        except Exception:
            pass

    def vm_with_two_child_disks(self):
        changes = [vim.vm.device.VirtualDeviceSpec(
            operation='add', device=vim.vm.device.ParaVirtualSCSIController(
                key=1000, busNumber=0, sharedBus='noSharing'))]
        for unit, name in enumerate(('root', 'volume')):
            disk = vms.new_disk(-1 - unit, unit)
            disk.backing.parent = vim.vm.device.VirtualDisk.\
                FlatVer2BackingInfo(fileName=self.base(name),
                                    diskMode='persistent')
            changes.append(vim.vm.device.VirtualDeviceSpec(
                operation='add', fileOperation='create', device=disk))
        pool = vms.by_name(self.si, vim.ClusterComputeResource,
                           'DC0_C0').resourcePool
        vm = vms.wait(self.si, self.dc.vmFolder.CreateVM_Task(
            config=vim.vm.ConfigSpec(
                name='two-disks', guestId='otherGuest64', numCPUs=1,
                memoryMB=64, files=vim.vm.FileInfo(vmPathName='[LocalDS_0]'),
                deviceChange=changes), pool=pool))
        self.addCleanup(lambda: vms.wait(self.si, vm.Destroy_Task()))
        return vm

    def test_a_locator_keeps_its_disk_and_parent_others_consolidate(self):
        vm = self.vm_with_two_child_disks()
        root, volume = vms.disks(vms.read(self.si, vm, [
            'config.hardware.device'])['config.hardware.device'])
        ds0 = vms.by_name(self.si, vim.Datastore, 'LocalDS_0')
        ds1 = vms.by_name(self.si, vim.Datastore, 'LocalDS_1')
        vms.wait(self.si, vm.RelocateVM_Task(vim.vm.RelocateSpec(
            datastore=ds1, diskMoveType=CONSOLIDATE,
            disk=[vim.vm.RelocateSpec.DiskLocator(
                diskId=volume.key, datastore=ds0, diskMoveType=KEEP)])))
        moved_root, kept = vms.disks(vms.read(self.si, vm, [
            'config.hardware.device'])['config.hardware.device'])
        self.assertTrue(moved_root.backing.fileName.startswith(
            '[LocalDS_1] '), moved_root.backing.fileName)
        self.assertIsNone(moved_root.backing.parent)
        self.assertEqual(volume.backing.fileName, kept.backing.fileName)
        self.assertEqual('[LocalDS_0] base-volume.vmdk',
                         kept.backing.parent.fileName)

    def test_a_locator_asking_consolidation_gets_it(self):
        vm = self.vm_with_two_child_disks()
        root, volume = vms.disks(vms.read(self.si, vm, [
            'config.hardware.device'])['config.hardware.device'])
        ds0 = vms.by_name(self.si, vim.Datastore, 'LocalDS_0')
        vms.wait(self.si, vm.RelocateVM_Task(vim.vm.RelocateSpec(
            disk=[vim.vm.RelocateSpec.DiskLocator(
                diskId=root.key, datastore=ds0, diskMoveType=CONSOLIDATE)])))
        root, volume = vms.disks(vms.read(self.si, vm, [
            'config.hardware.device'])['config.hardware.device'])
        self.assertIsNone(root.backing.parent)
        self.assertEqual('[LocalDS_0] base-volume.vmdk',
                         volume.backing.parent.fileName)
