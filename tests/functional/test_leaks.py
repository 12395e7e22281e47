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

"""The leak check of the driver tests sees every file and VM a test leaves."""

from pyVmomi import vim
import requests

from tests.functional import base
from tests.functional import driver_base
from tests import leaks
from tests import vcsim

IMAGE = '0f3c9f2e-4d7b-4c55-9a43-2f1e6d0b7a11'


class LeakCheckTest(base.VcsimTestCase):

    VCSIM_SHAPE = dict(hosts=1, vms=1)

    def setUp(self):
        super().setUp()
        content = self.si.RetrieveContent()
        self.dc = content.rootFolder.childEntity[0]
        self.files = content.fileManager

    def _mkdir(self, path):
        self.files.MakeDirectory('[LocalDS_0] ' + path, self.dc, True)

    def _put(self, path):
        url = vcsim.datastore_url(self.vcsim, path)
        response = requests.put(url, data=b'x' * 512,
                                verify=self.vcsim.ca_file, headers={
                                    'Cookie': vcsim.session_cookie(self.si)})
        self.assertLess(response.status_code, 300)

    def _delete(self, path):
        # pyVim cannot decode vcsim's FileManager task info: our waiter.
        files = self.session.bind(self.files)
        self.waiter.wait(files.DeleteDatastoreFile_Task(
            '[LocalDS_0] ' + path, self.session.bind(self.dc)))

    def test_sees_files_beside_a_kept_entry_and_new_vms(self):
        check = leaks.LeakCheck(self.si)
        check.setUp()
        folder = '_base/%s/' % IMAGE
        self.addCleanup(self._delete, folder)
        self._mkdir('_base/%s/tmp-0123456789ab' % IMAGE)
        self._mkdir('_base/%s/fetch-lock.%s.vmdk' % (IMAGE, IMAGE))
        self._put(folder + '%s.vmdk' % IMAGE)
        self._put(folder + 'tmp-0123456789ab/%s-flat.vmdk' % IMAGE)
        check.keep_cache_entry('_base', IMAGE)
        vm = driver_base.wait_task(self.dc.vmFolder.CreateVM_Task(
            vim.vm.ConfigSpec(name='left-vm', guestId='otherGuest',
                              files=vim.vm.FileInfo(
                                  vmPathName='[LocalDS_1]')),
            self.dc.hostFolder.childEntity[0].resourcePool))
        self.addCleanup(driver_base.destroy_vm, vm)

        files, vms = check.leaks()
        self.assertEqual(
            ['[LocalDS_0] %sfetch-lock.%s.vmdk/' % (folder, IMAGE),
             '[LocalDS_0] %stmp-0123456789ab/' % folder,
             '[LocalDS_0] %stmp-0123456789ab/%s-flat.vmdk' % (folder, IMAGE),
             '[LocalDS_1] left-vm/', '[LocalDS_1] left-vm/left-vm.nvram',
             '[LocalDS_1] left-vm/left-vm.vmx',
             '[LocalDS_1] left-vm/vmware.log'], files)
        self.assertEqual(['left-vm ([LocalDS_1] left-vm/left-vm.vmx)'], vms)
        exc = self.assertRaises(AssertionError, check.check)
        self.assertIn('VMs: left-vm', str(exc))
        self.assertIn('tmp-0123456789ab/', str(exc))

    def test_nothing_left_passes(self):
        check = leaks.LeakCheck(self.si)
        check.setUp()
        self._mkdir('scratch')
        self._delete('scratch')
        self.assertEqual(([], []), check.leaks())
        check.cleanUp()  # the check itself: no error
