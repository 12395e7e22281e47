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

"""images/intree_leftovers.py: which in-tree leftovers go (vcsim tests in
tests/functional/test_driver_image_cache.InTreeLeftoversTest)."""

import datetime
from unittest import mock

import fixtures
from oslo_vmware import exceptions as vexc
import testtools

from nova_vmware_ext.images import intree_leftovers
from nova_vmware_ext.vsphere.browser import FileEntry
from nova_vmware_ext.vsphere.files import DatastorePath

NOW = datetime.datetime(2026, 12, 2, 3, 0, tzinfo=datetime.timezone.utc)
IMG = 'OSTACK_IMG_5b0c6a3e-3b5c-4d57-9a43-0c1f4b6d2e11'


def _entry(rel_path, age, kind='folder'):
    return FileEntry(DatastorePath('ds', rel_path), kind,
                     modified=None if age is None
                     else NOW - datetime.timedelta(seconds=age))


class InTreeLeftoversTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.cache = mock.Mock()
        self.leftovers = intree_leftovers.InTreeLeftovers(
            self.cache, lambda: NOW)

    def one_import_folder(self, folder_age, disk_age):
        folder = _entry(IMG, folder_age)
        self.cache.list.return_value = [folder, _entry('x.vmdk', 9e9, 'disk')]
        self.cache.list_tree.return_value = {
            folder.path: [_entry(IMG + '/a.vmdk', disk_age, 'disk')]}
        return folder.path

    def test_a_folder_a_registered_vm_uses_stays(self):
        log = self.useFixture(fixtures.FakeLogger())
        path = self.one_import_folder(7200, 7200)
        used = ['[ds] %s/a.vmdk' % IMG]
        self.assertEqual([], self.leftovers.remove('ds', 3600, lambda: used))
        self.cache.delete.assert_not_called()
        self.assertIn('[ds] %s looks left by a failed fill or snapshot of '
                      'the in-tree vmwareapi driver, but a registered VM '
                      'uses a disk in it' % IMG, log.output)
        self.assertEqual(
            [path], self.leftovers.remove('ds', 3600, lambda: []))
        self.cache.delete.assert_called_once_with(path)

    def test_the_newest_change_inside_decides(self):
        self.one_import_folder(7200, 3599)
        files_in_use = mock.Mock(return_value=[])
        self.assertEqual([], self.leftovers.remove('ds', 3600, files_in_use))
        files_in_use.assert_not_called()  # nothing old: no VM query
        self.one_import_folder(7200, None)  # unknown time: never old
        self.assertEqual([], self.leftovers.remove('ds', 0, files_in_use))
        self.cache.delete.assert_not_called()

    def test_no_datastore_root_listing(self):
        self.cache.list.side_effect = vexc.FileNotFoundException('gone')
        self.assertEqual([], self.leftovers.remove('ds', 0, lambda: []))

    def test_names_of_the_in_tree_driver_only(self):
        for name, expected in ((IMG, True), ('OSTACK_SNAP_' + IMG[11:], True),
                               ('OSTACK_IMG_x', False),
                               ('OSTACK_VM_' + IMG[11:], False)):
            self.assertEqual(expected,
                             intree_leftovers._is_leftover_vm_folder(name),
                             name)
