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

"""vcsim's ExportVm of a linked clone, made faithful in
tools/vcsim/nfc_export_chain.go, and the snapshot steps a Nova snapshot
takes (CreateSnapshot, linked clone, export, Destroy, RemoveSnapshot).

vSphere exports a disk as the guest sees it: its parent chain flattened.
vcsim never writes guest data, so the flattened disk is the chain's base;
the export of a linked clone before this fix served the child's sparse
descriptor instead.
"""

from pyVim import task as task_util
from pyVmomi import vim

from tests.functional import vcsim_nfc


class LinkedCloneExportTest(vcsim_nfc.NfcTestCase):

    def wait(self, task):
        task_util.WaitForTask(task)
        return task.info.result

    def test_export_of_a_linked_clone_serves_the_flattened_disk(self):
        data = b'KDMV base disk of the chain' * 100
        vm = vim.VirtualMachine(self.uploaded_vm('source-vm', data)._moId,
                                self.si._stub)
        snap = self.wait(vm.CreateSnapshot_Task(
            name='snap', memory=False, quiesce=False))
        clone = self.wait(vm.CloneVM_Task(
            folder=self.vm_folder, name='snapshot-clone',
            spec=vim.vm.CloneSpec(
                location=vim.vm.RelocateSpec(
                    pool=self.pool, diskMoveType='createNewChildDiskBacking'),
                snapshot=snap, powerOn=False)))
        [disk] = [d for d in clone.config.hardware.device
                  if isinstance(d, vim.vm.device.VirtualDisk)]
        self.assertIsNotNone(disk.backing.parent)
        self.assertNotEqual(data, self.folder_get(
            disk.backing.fileName).content)

        lease = clone.ExportVm()
        vcsim_nfc.wait_for(self.si, lease, 'state', ['ready'])
        [device] = vcsim_nfc.props(self.si, lease, ['info'])['info'].deviceUrl
        self.assertEqual('/%s/VirtualLsiLogicController0:0' % clone._moId,
                         device.key)
        self.assertEqual(len(data), device.fileSize)
        response = self.http('GET', vcsim_nfc.fix_url(self.vcsim, device.url),
                             self.cookie)
        self.assertEqual(
            (200, vcsim_nfc.digest(data)),
            (response.status_code, vcsim_nfc.digest(response.content)))
        lease.HttpNfcLeaseComplete()

        # Clean up as the driver does: the clone, then the snapshot.
        self.wait(clone.Destroy_Task())
        self.wait(snap.RemoveSnapshot_Task(removeChildren=False))
        self.assertIsNone(vm.snapshot)
        self.assertEqual({'source-vm'}, self.vm_names())
        self.assertEqual(data, self.folder_get(self.disk_file(vm)).content)
        self.wait(vm.Destroy_Task())
