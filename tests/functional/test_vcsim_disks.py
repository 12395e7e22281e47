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

"""vcsim's virtual disks behave as vSphere's.

tools/vcsim/vm_disk.go, vm_copydisk.go and vm_parent.go add what govmomi
0.24.2 lacks or gets wrong (each test fails against the stock simulator):
VirtualDiskManager.ExtendVirtualDisk_Task with vSphere's faults,
CopyVirtualDisk_Task, and new child disks that need their parent.
"""

import struct

from pyVmomi import vim
from pyVmomi import vmodl
import testtools

from tests.functional.vcsim_vms import disks
from tests.functional.vcsim_vms import http
from tests.functional.vcsim_vms import new_vm
from tests.functional.vcsim_vms import read
from tests.functional.vcsim_vms import wait
from tests import vcsim


class ExtendVirtualDiskTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """VirtualDiskManager.ExtendVirtualDisk_Task."""

    VCSIM_SHAPE = dict(hosts=1, vms=0, datastores=1)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.dc = self.si.content.rootFolder.childEntity[0]
        self.vdm = self.si.content.virtualDiskManager

    def extend(self, name, kb, datacenter=True):
        return wait(self.si, self.vdm.ExtendVirtualDisk_Task(
            name=name, datacenter=self.dc if datacenter else None,
            newCapacityKb=kb, eagerZero=False))

    def size(self, path):
        _, headers, _ = http(self.vcsim, self.si, 'HEAD', path)
        return int(headers['Content-Length'])

    def test_grows_the_flat_file_and_the_vm_disk(self):
        vm = new_vm(self.si, 'extend-vm')
        disk, = disks(read(self.si, vm, ['config.hardware.device'])[
            'config.hardware.device'])
        self.assertIsNone(self.extend(disk.backing.fileName, 4096))
        self.assertEqual(4096 * 1024,
                         self.size('extend-vm/extend-vm-flat.vmdk'))
        disk, = disks(read(self.si, vm, ['config.hardware.device'])[
            'config.hardware.device'])
        self.assertEqual(4096, disk.capacityInKB)
        self.assertEqual(4096 * 1024, disk.capacityInBytes)

    def test_descriptor_and_flat_extent(self):
        descriptor = (b'# Disk DescriptorFile\nversion=1\nCID=fffffffe\n'
                      b'parentCID=ffffffff\ncreateType="vmfs"\n\n'
                      b'# Extent description\n'
                      b'RW 2048 VMFS "image-flat.vmdk"\n\n'
                      b'# The Disk Data Base\n#DDB\n')
        http(self.vcsim, self.si, 'PUT', 'images/image.vmdk',
             data=descriptor)
        http(self.vcsim, self.si, 'PUT', 'images/image-flat.vmdk',
             data=b'\0' * 1024 * 1024)
        self.extend('[LocalDS_0] images/image.vmdk', 8192)
        self.assertEqual(8192 * 1024, self.size('images/image-flat.vmdk'))
        _, _, got = http(self.vcsim, self.si, 'GET', 'images/image.vmdk')
        self.assertIn(b'\nRW 16384 VMFS "image-flat.vmdk"\n', got)
        self.assertIn(b'createType="vmfs"', got)

    def test_hosted_sparse_disk_header(self):
        # A monolithic sparse disk (KDMV) keeps its capacity, in sectors,
        # at offset 12 of its header.
        header = (b'KDMV' + struct.pack('<IIQ', 1, 3, 2048)).ljust(512, b'\0')
        http(self.vcsim, self.si, 'PUT', 'sparse/sparse.vmdk', data=header)
        self.extend('[LocalDS_0] sparse/sparse.vmdk', 4096)
        _, _, got = http(self.vcsim, self.si, 'GET', 'sparse/sparse.vmdk')
        self.assertEqual(8192, struct.unpack_from('<Q', got, 12)[0])

    def test_task_is_on_the_datacenter(self):
        # A task's entity is a managed entity; vcsim named the
        # VirtualDiskManager, which pyVmomi cannot even decode.
        vm = new_vm(self.si, 'task-vm')
        disk, = disks(read(self.si, vm, ['config.hardware.device'])[
            'config.hardware.device'])
        task = self.vdm.ExtendVirtualDisk_Task(
            name=disk.backing.fileName, datacenter=self.dc,
            newCapacityKb=2048, eagerZero=False)
        wait(self.si, task)
        info = read(self.si, task, ['info'])['info']
        self.assertEqual(self.dc, info.entity)
        self.assertEqual('ExtendVirtualDisk_Task', info.name.info.wsdlName)
        self.assertEqual('VirtualDiskManager.extendVirtualDisk',
                         info.descriptionId)

    def test_refuses_to_shrink(self):
        vm = new_vm(self.si, 'shrink-vm')
        disk, = disks(read(self.si, vm, ['config.hardware.device'])[
            'config.hardware.device'])
        self.extend(disk.backing.fileName, 2048)
        self.assertRaises(vmodl.fault.InvalidArgument, self.extend,
                          disk.backing.fileName, 1024)
        self.assertEqual(2048 * 1024,
                         self.size('shrink-vm/shrink-vm-flat.vmdk'))

    def test_disk_of_a_powered_on_vm_is_locked(self):
        vm = new_vm(self.si, 'locked-vm', power_on=True)
        disk, = disks(read(self.si, vm, ['config.hardware.device'])[
            'config.hardware.device'])
        self.assertRaises(vim.fault.FileLocked, self.extend,
                          disk.backing.fileName, 4096)

    def test_missing_disk_and_datacenter(self):
        self.assertRaises(vim.fault.FileNotFound, self.extend,
                          '[LocalDS_0] nowhere/none.vmdk', 4096)
        self.assertRaises(vmodl.fault.InvalidArgument, self.extend,
                          '[LocalDS_0] nowhere/none.vmdk', 4096,
                          datacenter=False)
        self.assertRaises(vim.fault.InvalidDatastore, self.extend,
                          '[NoSuchDS] x/x.vmdk', 4096)


class CopyVirtualDiskTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """CopyVirtualDisk_Task of a one-file (hosted sparse) disk."""

    VCSIM_SHAPE = dict(hosts=1, vms=0, datastores=1)

    def test_one_file_disk_is_copied(self):
        si = self.vcsim.connect()
        dc = si.content.rootFolder.childEntity[0]
        data = b'KDMV' + b'\x01' * 4092
        http(self.vcsim, si, 'PUT', 'copy/src-sparse.vmdk', data=data)
        wait(si, si.content.virtualDiskManager.CopyVirtualDisk_Task(
            sourceName='[LocalDS_0] copy/src-sparse.vmdk', sourceDatacenter=dc,
            destName='[LocalDS_0] copy/dest.vmdk', destDatacenter=dc))
        self.assertEqual(data, http(self.vcsim, si, 'GET',
                                    'copy/dest.vmdk')[2])
        self.assertEqual(200, http(self.vcsim, si, 'HEAD',
                                   'copy/dest-flat.vmdk')[0])
        # The source is left as it was.
        self.assertEqual(data, http(self.vcsim, si, 'GET',
                                    'copy/src-sparse.vmdk')[2])
        # Copying onto an existing disk needs force, as in vSphere.
        task = si.content.virtualDiskManager.CopyVirtualDisk_Task(
            sourceName='[LocalDS_0] copy/src-sparse.vmdk', sourceDatacenter=dc,
            destName='[LocalDS_0] copy/dest.vmdk', destDatacenter=dc)
        self.assertRaises(vim.fault.FileAlreadyExists, wait, si, task)


class ChildDiskParentTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """A child disk whose parent file is missing cannot be created."""

    VCSIM_SHAPE = dict(hosts=1, vms=0, datastores=1)

    def test_create_vm_with_missing_parent_fails(self):
        si = self.vcsim.connect()
        dc = si.content.rootFolder.childEntity[0]
        pool = dc.hostFolder.childEntity[0].resourcePool
        backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName='', diskMode='persistent',
            parent=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                fileName='[LocalDS_0] gone/gone.vmdk',
                diskMode='persistent'))
        spec = vim.vm.ConfigSpec(
            name='orphan-child', guestId='otherGuest', numCPUs=1,
            memoryMB=32, files=vim.vm.FileInfo(vmPathName='[LocalDS_0]'),
            deviceChange=[
                vim.vm.device.VirtualDeviceSpec(
                    operation='add',
                    device=vim.vm.device.VirtualLsiLogicController(
                        key=-1, busNumber=0, sharedBus='noSharing')),
                vim.vm.device.VirtualDeviceSpec(
                    operation='add', fileOperation='create',
                    device=vim.vm.device.VirtualDisk(
                        key=-2, controllerKey=-1, unitNumber=0,
                        capacityInKB=1024, backing=backing))])
        task = dc.vmFolder.CreateVM_Task(spec, pool)
        exc = self.assertRaises(vim.fault.FileNotFound, wait, si, task)
        self.assertEqual('[LocalDS_0] gone/gone.vmdk', exc.file)
        names = [v['name'] for v in vcsim.query(
            si, vim.VirtualMachine, ['name']).values()]
        self.assertNotIn('orphan-child', names)
