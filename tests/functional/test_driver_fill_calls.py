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

"""SOAP calls of an uncached spawn, per image kind: ceilings.

Counted once the compute has spawned before (its inventory, task stream
with its lease view, VM watcher, project folders and datastore browser are
known), as in a running nova-compute. A flat or sparse fill stages in its
fetch lock's folder and moves the entry to its name last; an import writes
the disk at the entry's name (hidden while the lock exists) and its VM's
files in the lock's folder. A new image's folder has nothing to sweep (no
listing); the lock's removal ends during a later task wait, so it costs no
wait of its own.
"""

from pyVmomi import vim

from tests.functional import test_driver_spawn as ts

# The 4 calls of a cached spawn (CreateVM_Task, PowerOnVM_Task, a wait
# each) are part of every ceiling below.
CACHED_SPAWN = 4


class UncachedSpawnCallsTest(ts.SpawnTestBase):

    VCSIM_SHAPE = dict(hosts=1, datastores=1, portgroups=0)

    def _spawn_counted(self, image, warm_up=None):
        # A running compute (one that has imported an image before, for
        # the import).
        self.spawn(self.make_instance(), warm_up or self.flat)
        instance = self.make_instance()
        with self.session.calls.scope() as scope:
            self.spawn(instance, image)
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])
        self.assertEqual(1, self.images.downloads[image.id])
        calls = dict(scope.by_method)
        # One lock folder made and removed, no listing (nothing to sweep in
        # a new image folder); no temporary folder of its own.
        self.assertEqual(1, calls.get('MakeDirectory'), calls)
        self.assertEqual(1, calls.get('DeleteDatastoreFile_Task'), calls)
        self.assertEqual(0, calls.get('SearchDatastore_Task', 0), calls)
        # Only the entry remains in the image's folder, lock and staging
        # files gone (read with an independent session).
        folder = '[LocalDS_0] _base/%s/' % image.id
        self.assertIsNotNone(self.datastore_file(folder + image.id + '.vmdk'))
        names = self.folder_names(image.id)
        self.assertEqual(['%s-flat.vmdk' % image.id, '%s.vmdk' % image.id],
                         names)
        return scope, calls

    def folder_names(self, image_id):
        import re
        import requests
        from tests import vcsim
        url = vcsim.datastore_url(self.vcsim, '_base/%s/' % image_id)
        response = requests.get(url, verify=self.vcsim.ca_file, headers={
            'Cookie': vcsim.session_cookie(self.si)})
        response.raise_for_status()
        return sorted(re.findall(r'<a href="([^"]+)">', response.text))

    def test_stream_optimized_within_12_calls(self):
        warm_up = self.images.add(ts.stream_optimized_vmdk(4),
                                  vmware_disktype='streamOptimized')
        image = self.images.add(ts.stream_optimized_vmdk(8),
                                vmware_disktype='streamOptimized')
        scope, calls = self._spawn_counted(image, warm_up)
        # The fill's 8: MakeDirectory (the lock), ImportVApp,
        # ModifyListView (the lease into the task stream's lease view),
        # the stream's WaitForUpdatesEx until the lease is ready (two on
        # vcsim: it is 'initializing' at first), HttpNfcLeaseComplete,
        # UnregisterVM, DeleteDatastoreFile_Task (the lock, its end seen by
        # CreateVM's wait): no filter of its own, no move, no progress
        # report, no lease re-read.
        self.assertEqual(1, calls.get('ImportVApp'), calls)
        self.assertEqual(1, calls.get('ModifyListView'), calls)
        self.assertEqual(1, calls.get('UnregisterVM'), calls)
        for none in ('MoveVirtualDisk_Task', 'CreateFilter',
                     'DestroyPropertyFilter', 'HttpNfcLeaseProgress',
                     'RetrievePropertiesEx', 'CreatePropertyCollector'):
            self.assertEqual(0, calls.get(none, 0), calls)
        self.assertLessEqual(scope.total, 8 + CACHED_SPAWN, calls)
        names = [v['name'] for v in self.query(vim.VirtualMachine,
                                               ['name']).values()]
        self.assertFalse([n for n in names if n.startswith('tmp-')], names)

    def test_flat_within_10_calls(self):
        image = self.images.add(b'\x21' * ts.MiB, vmware_disktype='thin')
        scope, calls = self._spawn_counted(image)
        self.assertEqual(1, calls.get('CreateVirtualDisk_Task'), calls)
        self.assertEqual(1, calls.get('MoveVirtualDisk_Task'), calls)
        self.assertLessEqual(scope.total, 6 + CACHED_SPAWN, calls)

    def test_sparse_within_10_calls(self):
        image = self.images.add(ts.sparse_vmdk(4), vmware_disktype='sparse')
        scope, calls = self._spawn_counted(image)
        self.assertEqual(1, calls.get('CopyVirtualDisk_Task'), calls)
        self.assertEqual(1, calls.get('MoveVirtualDisk_Task'), calls)
        self.assertLessEqual(scope.total, 6 + CACHED_SPAWN, calls)
