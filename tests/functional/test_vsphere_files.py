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

"""FileManager, VirtualDiskManager and HostDatastoreBrowser wrappers on vcsim.

Results are checked over the datastore HTTP service (/folder) of an
independent pyvmomi session, not through the wrappers themselves.
"""

from oslo_vmware import exceptions as vexc
from pyVmomi import vim
import requests

from nova_vmware_ext.vsphere import browser as vbrowser
from nova_vmware_ext.vsphere import disks as vdisks
from nova_vmware_ext.vsphere import files as vfiles
from nova_vmware_ext.vsphere import inventory as vinventory
from nova_vmware_ext.vsphere import transfer
from tests.functional import base
from tests import vcsim

DS = 'LocalDS_0'


class WrapperTestBase(base.VcsimTestCase):

    VCSIM_SHAPE = dict(hosts=1, datastores=1, portgroups=0)

    def setUp(self):
        super().setUp()
        inventory = vinventory.resolve(self.session, 'DC0_C0')
        self.datacenter = inventory.datacenter
        self.datastore = inventory.datastores[0].ref
        self.files = vfiles.FileManager(self.session, self.waiter,
                                        self.datacenter)
        self.disks = vdisks.VirtualDisks(self.session, self.waiter,
                                         self.datacenter)
        self.browser = vbrowser.DatastoreBrowser(self.session, self.waiter)
        self.root = vfiles.DatastorePath(DS, self.id().rsplit('.', 1)[-1])
        self.files.make_directory(self.root)
        self.addCleanup(self.files.delete, self.root, missing_ok=True)

    def url(self, path):
        return vcsim.datastore_url(self.vcsim, path.rel_path,
                                   datastore=path.datastore)

    def put(self, path, data):
        transfer.HttpClient(self.session).put(
            self.url(path), iter([data]), len(data), 'test upload')

    def read(self, path):
        """Bytes of a datastore file over an independent session, or None."""
        response = requests.get(self.url(path), verify=self.vcsim.ca_file,
                                headers={'Cookie': vcsim.session_cookie(
                                    self.si)})
        return response.content if response.status_code == 200 else None


class FileManagerTest(WrapperTestBase):

    def test_make_directory_twice_is_file_already_exists(self):
        folder = self.root.join('a/b')
        self.files.make_directory(folder)  # parents made too
        self.put(folder.join('f.txt'), b'x')
        self.assertEqual(b'x', self.read(folder.join('f.txt')))
        self.assertRaises(vexc.FileAlreadyExistsException,
                          self.files.make_directory, folder)

    def test_copy_move_and_delete_a_file(self):
        source = self.root.join('one.bin')
        self.put(source, b'\x01' * 1000)
        copy = self.root.join('two.bin')
        self.files.copy(source, copy)
        self.assertEqual(b'\x01' * 1000, self.read(copy))
        self.assertEqual(b'\x01' * 1000, self.read(source))
        moved = self.root.join('sub/three.bin')
        self.files.make_directory(moved.parent)
        self.files.move(copy, moved)
        self.assertIsNone(self.read(copy))
        self.assertEqual(b'\x01' * 1000, self.read(moved))
        self.files.delete(moved.parent)
        self.assertIsNone(self.read(moved))
        self.assertEqual(b'\x01' * 1000, self.read(source))

    def test_delete_of_a_missing_path(self):
        missing = self.root.join('nothing-here')
        self.assertRaises(vexc.FileNotFoundException, self.files.delete,
                          missing)
        self.files.delete(missing, missing_ok=True)

    def test_copy_onto_an_existing_file_needs_force(self):
        source, target = self.root.join('s.bin'), self.root.join('t.bin')
        self.put(source, b'new')
        self.put(target, b'old')
        self.assertRaises(vexc.FileAlreadyExistsException, self.files.copy,
                          source, target)
        self.assertEqual(b'old', self.read(target))
        self.files.copy(source, target, force=True)
        self.assertEqual(b'new', self.read(target))


class VirtualDisksTest(WrapperTestBase):

    def test_create_extend_copy_move_delete(self):
        disk = self.root.join('d.vmdk')
        self.disks.create(disk, 1024, disk_type='thin', adapter='paraVirtual')
        self.assertEqual(b'', self.read(self.root.join('d-flat.vmdk')))
        self.disks.extend(disk, 2048)
        self.assertEqual(2048 * 1024,
                         len(self.read(self.root.join('d-flat.vmdk'))))
        copy = self.root.join('c.vmdk')
        self.disks.copy(disk, copy)
        self.assertEqual(2048 * 1024,
                         len(self.read(self.root.join('c-flat.vmdk'))))
        moved = self.root.join('m.vmdk')
        self.disks.move(copy, moved)
        self.assertIsNone(self.read(copy))
        self.assertIsNone(self.read(self.root.join('c-flat.vmdk')))
        self.assertEqual(2048 * 1024,
                         len(self.read(self.root.join('m-flat.vmdk'))))
        self.disks.delete(moved)
        self.assertIsNone(self.read(moved))
        self.assertIsNone(self.read(self.root.join('m-flat.vmdk')))

    def test_create_refuses_an_unknown_disk_type_without_a_call(self):
        with self.session.calls.scope() as scope:
            exc = self.assertRaises(ValueError, self.disks.create,
                                    self.root.join('x.vmdk'), 1024,
                                    disk_type='sparse')
        self.assertIn('sparse', str(exc))
        self.assertEqual(0, scope.total)

    def test_create_over_an_existing_disk_fails(self):
        disk = self.root.join('d.vmdk')
        self.disks.create(disk, 1024)
        self.assertRaises(vexc.FileAlreadyExistsException, self.disks.create,
                          disk, 1024)

    def test_copy_of_a_missing_disk_is_file_not_found(self):
        self.assertRaises(vexc.FileNotFoundException, self.disks.copy,
                          self.root.join('none.vmdk'),
                          self.root.join('c.vmdk'))

    def test_adapter_types_in_the_disk_manager_dialect(self):
        self.assertEqual('lsiLogic', vdisks.adapter_type('lsiLogicsas'))
        self.assertEqual('lsiLogic', vdisks.adapter_type(None))
        self.assertEqual('ide', vdisks.adapter_type('ide'))
        self.assertEqual('busLogic', vdisks.adapter_type('busLogic'))


class DatastoreBrowserTest(WrapperTestBase):

    def test_list_folder_with_kinds_sizes_and_times(self):
        self.put(self.root.join('a.iso'), b'\x02' * 300)
        self.disks.create(self.root.join('d.vmdk'), 1024)
        self.files.make_directory(self.root.join('sub'))
        entries = {e.name: e for e in self.browser.list_folder(
            self.datastore, self.root)}
        self.assertEqual({'a.iso', 'd.vmdk', 'd-flat.vmdk', 'sub'},
                         set(entries))
        self.assertEqual('iso', entries['a.iso'].kind)
        self.assertEqual(300, entries['a.iso'].size)
        self.assertEqual('disk', entries['d.vmdk'].kind)
        self.assertEqual('file', entries['d-flat.vmdk'].kind)
        self.assertEqual('folder', entries['sub'].kind)
        self.assertEqual(self.root.join('a.iso'), entries['a.iso'].path)
        self.assertLess(entries['a.iso'].age, 600)
        self.assertGreater(entries['a.iso'].age, -60)

    def test_match_pattern_and_find(self):
        self.put(self.root.join('keep.txt'), b'k')
        self.put(self.root.join('other.bin'), b'o')
        names = [e.name for e in self.browser.list_folder(
            self.datastore, self.root, match=['*.txt'])]
        self.assertEqual(['keep.txt'], names)
        found = self.browser.find(self.datastore, self.root.join('other.bin'))
        self.assertEqual(1, found.size)
        self.assertIsNone(self.browser.find(self.datastore,
                                            self.root.join('gone.bin')))
        self.assertIsNone(self.browser.find(
            self.datastore, self.root.join('no-folder/gone.bin')))

    def test_list_tree(self):
        self.files.make_directory(self.root.join('x/y'))
        self.put(self.root.join('x/y/deep.txt'), b'd')
        self.put(self.root.join('top.txt'), b't')
        tree = self.browser.list_tree(self.datastore, self.root)
        self.assertEqual({self.root, self.root.join('x'),
                          self.root.join('x/y')}, set(tree))
        self.assertEqual(['deep.txt'],
                         [e.name for e in tree[self.root.join('x/y')]])
        self.assertIn('top.txt', [e.name for e in tree[self.root]])

    def test_missing_folder_is_file_not_found(self):
        self.assertRaises(vexc.FileNotFoundException,
                          self.browser.list_folder, self.datastore,
                          self.root.join('absent'))
        self.assertRaises(vexc.FileNotFoundException,
                          self.browser.list_tree, self.datastore,
                          self.root.join('absent'))

    def test_browser_is_read_once_per_datastore(self):
        self.browser.list_folder(self.datastore, self.root)
        with self.session.calls.scope() as scope:
            self.browser.list_folder(self.datastore, self.root)
        self.assertEqual(0, scope.by_method['RetrievePropertiesEx'])
        self.assertEqual(1, scope.by_method['SearchDatastore_Task'])

    def test_disk_capacity_of_sparse_descriptor_and_flat_disks(self):
        import struct
        sparse = self.root.join('sparse.vmdk')
        # A hosted sparse extent header: magic, version, flags, capacity
        # in sectors (here 8 MiB).
        self.put(sparse, b'KDMV' + struct.pack('<IIQ', 1, 3, 16384) +
                 b'\0' * 492)
        text = self.root.join('text.vmdk')
        self.put(text, b'# Disk DescriptorFile\nversion=1\n'
                       b'RW 4096 VMFS "text-flat.vmdk"\n'
                       b'RW 2048 VMFS "text-s002.vmdk"\n')
        flat = self.root.join('flat.vmdk')
        self.disks.create(flat, 1024)
        self.put(self.root.join('flat-flat.vmdk'), b'\0' * (3 * 1024 * 1024))
        capacity = self.browser.disk_capacity_kb
        self.assertEqual(8192, capacity(self.datastore, sparse))
        self.assertEqual(3072, capacity(self.datastore, text))
        self.assertEqual(3072, capacity(self.datastore, flat))
        self.assertIsNone(capacity(self.datastore, self.root.join('no.vmdk')))
        self.assertIsNone(capacity(self.datastore,
                                   self.root.join('none/no.vmdk')))
        # Only disks are listed when capacities are asked for.
        self.assertEqual({'sparse.vmdk', 'text.vmdk', 'flat.vmdk'}, {
            e.name for e in self.browser.list_folder(
                self.datastore, self.root, disk_capacity=True)})

    def test_results_are_plain_values(self):
        self.put(self.root.join('f.txt'), b'f')
        entry = self.browser.list_folder(self.datastore, self.root)[0]
        self.assertIsInstance(entry.path, vfiles.DatastorePath)
        self.assertNotIsInstance(entry, vim.host.DatastoreBrowser.FileInfo)
