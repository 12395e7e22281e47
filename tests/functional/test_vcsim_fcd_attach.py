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

"""VirtualMachine.AttachDisk_Task and DetachDisk_Task on our vcsim.

tools/vcsim/vm_fcd_attach.go adds them (govmomi 0.24.2 answers
MethodNotFound): a First Class Disk becomes a VM disk with its vDiskId,
and leaves it keeping its file.
"""

from pyVmomi import vim
import testtools

from tests.functional.vcsim_vms import disks
from tests.functional.vcsim_vms import http
from tests.functional.vcsim_vms import new_vm
from tests.functional.vcsim_vms import read
from tests.functional.vcsim_vms import wait
from tests import vcsim
from tests import volume_backings


class AttachDiskTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(hosts=1, vms=0, datastores=1)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.info = volume_backings.fcd_volume(self.si, size_mb=2)
        self.addCleanup(volume_backings.delete, self.si, self.info)
        self.disk_id = vim.vslm.ID(id=self.info['data']['id'])
        self.ds = vim.Datastore(self.info['data']['ds_ref_val'],
                                self.si._stub)

    def vm(self, name):
        vm = new_vm(self.si, name, disk_units=(0,))
        self.addCleanup(lambda: wait(self.si, vm.Destroy_Task()))
        return vm

    def vm_disks(self, vm):
        return disks(read(self.si, vm, ['config.hardware.device'])[
            'config.hardware.device'])

    def test_attach_and_detach(self):
        vm = self.vm('fcd-vm')
        path = volume_backings.fcd(self.si, self.info).config.backing.filePath
        wait(self.si, vm.AttachDisk_Task(diskId=self.disk_id,
                                         datastore=self.ds,
                                         controllerKey=1000, unitNumber=3))
        attached = [d for d in self.vm_disks(vm)
                    if d.backing.fileName == path]
        self.assertEqual(1, len(attached))
        self.assertEqual(self.disk_id.id, attached[0].vDiskId.id)
        self.assertEqual((1000, 3, 2048), (attached[0].controllerKey,
                                           attached[0].unitNumber,
                                           attached[0].capacityInKB))
        wait(self.si, vm.DetachDisk_Task(diskId=self.disk_id))
        self.assertEqual([], [d for d in self.vm_disks(vm)
                              if d.backing.fileName == path])
        # The disk lives on as a First Class Disk.
        rel = path.split('] ', 1)[1]
        self.assertEqual(200, http(self.vcsim, self.si, 'HEAD', rel)[0])
        self.assertIsNotNone(volume_backings.fcd(self.si, self.info))

    def test_a_disk_in_use_is_refused(self):
        first, second = self.vm('fcd-a'), self.vm('fcd-b')
        wait(self.si, first.AttachDisk_Task(diskId=self.disk_id,
                                            datastore=self.ds,
                                            controllerKey=1000))
        before = self.vm_disks(second)
        self.assertRaises(vim.fault.ResourceInUse, wait, self.si,
                          second.AttachDisk_Task(diskId=self.disk_id,
                                                 datastore=self.ds,
                                                 controllerKey=1000))
        self.assertEqual(len(before), len(self.vm_disks(second)))
        wait(self.si, first.DetachDisk_Task(diskId=self.disk_id))

    def test_unknown_disks_are_not_found(self):
        vm = self.vm('fcd-c')
        self.assertRaises(vim.fault.NotFound, wait, self.si,
                          vm.AttachDisk_Task(diskId=vim.vslm.ID(id='nope'),
                                             datastore=self.ds,
                                             controllerKey=1000))
        self.assertRaises(vim.fault.NotFound, wait, self.si,
                          vm.DetachDisk_Task(diskId=self.disk_id))
