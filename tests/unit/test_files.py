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

"""DatastorePath: parsing, printing, joining, and paths it refuses."""

import dataclasses

import testtools

from nova_vmware_ext.vsphere import faults
from nova_vmware_ext.vsphere.files import DatastorePath


class DatastorePathTest(testtools.TestCase):

    def test_parse_and_format(self):
        path = DatastorePath.parse('[datastore1] vm/disk.vmdk')
        self.assertEqual('datastore1', path.datastore)
        self.assertEqual('vm/disk.vmdk', path.rel_path)
        self.assertEqual('[datastore1] vm/disk.vmdk', str(path))

    def test_space_after_bracket_is_optional(self):
        self.assertEqual(DatastorePath('ds', 'a/b'),
                         DatastorePath.parse('[ds]a/b'))

    def test_datastore_root(self):
        path = DatastorePath.parse('[ds]')
        self.assertEqual('', path.rel_path)
        self.assertEqual('[ds]', str(path))
        self.assertEqual('[ds] x.vmdk', str(path.join('x.vmdk')))

    def test_spaces_and_unicode(self):
        path = DatastorePath.parse('[SAN LUN 01] Ünïcode VM/disk 1.vmdk')
        self.assertEqual('SAN LUN 01', path.datastore)
        self.assertEqual('Ünïcode VM/disk 1.vmdk', path.rel_path)
        self.assertEqual('disk 1.vmdk', path.basename)
        self.assertEqual('[SAN LUN 01] Ünïcode VM', str(path.parent))
        self.assertEqual(path, DatastorePath.parse(str(path)))

    def test_redundant_slashes_are_collapsed(self):
        self.assertEqual('a/b', DatastorePath.parse('[ds] a//b/').rel_path)

    def test_join(self):
        base = DatastorePath('ds', 'cache')
        self.assertEqual('[ds] cache/img/img.vmdk',
                         str(base.join('img', 'img.vmdk')))
        self.assertEqual('[ds] cache/a/b', str(base.join('a/b')))

    def test_dotdot_is_rejected(self):
        for text in ('[ds] ../etc', '[ds] a/../../b', '[ds] a/./b'):
            self.assertRaises(faults.InvalidPath, DatastorePath.parse, text)
        self.assertRaises(faults.InvalidPath,
                          DatastorePath('ds', 'a').join, '../b')

    def test_absolute_and_backslash_are_rejected(self):
        self.assertRaises(faults.InvalidPath, DatastorePath.parse,
                          '[ds] /etc/passwd')
        self.assertRaises(faults.InvalidPath, DatastorePath, 'ds', 'a\\b')

    def test_control_characters_are_rejected(self):
        self.assertRaises(faults.InvalidPath, DatastorePath.parse,
                          '[ds] a\nb')
        self.assertRaises(faults.InvalidPath, DatastorePath, 'ds\x00', 'a')

    def test_malformed(self):
        for text in ('', 'ds/a', '[] a', '[ds', 'ds] a', '[[a]] b', None):
            self.assertRaises(faults.InvalidPath, DatastorePath.parse, text)

    def test_error_names_the_path(self):
        exc = self.assertRaises(faults.InvalidPath, DatastorePath.parse,
                                '[ds] a/../b')
        self.assertIn('a/../b', str(exc))

    def test_http_url(self):
        path = DatastorePath('ds 1', 'my vm/disk#1.vmdk')
        self.assertEqual(
            'https://vc.example:8443/folder/my%20vm/disk%231.vmdk'
            '?dcPath=dc%2Fsub&dsName=ds+1',
            path.http_url('vc.example', 8443, 'dc/sub'))
        self.assertTrue(path.http_url('vc', 443, 'dc').startswith(
            'https://vc/folder/'))

    def test_immutable_and_hashable(self):
        path = DatastorePath('ds', 'a')
        self.assertRaises(dataclasses.FrozenInstanceError, setattr, path,
                          'rel_path', 'b')
        self.assertEqual('a', path.rel_path)
        self.assertEqual(1, len({path, DatastorePath.parse('[ds] a')}))
