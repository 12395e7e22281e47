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

"""NFC leases watched through the task stream (vsphere/tasks.py): one
ListView of leases, created with the first lease, then one ModifyListView
per lease, the readiness read from the stream's WaitForUpdatesEx."""

from pyVmomi import vim

from nova_vmware_ext.vsphere import nfc
from nova_vmware_ext.vsphere import tasks as vtasks
from tests.functional import base


class LeaseWatchTest(base.VcsimTestCase):

    VCSIM_SHAPE = dict(hosts=1)

    def setUp(self):
        super().setUp()
        self.folder = self.session.content.rootFolder.childEntity[0].vmFolder
        pool = sorted(self.query(vim.ResourcePool, ['name']))[0]
        self.pool = self.session.mo('ResourcePool', pool)

    def import_lease(self, name):
        spec = nfc.disk_import_spec(name, '[LocalDS_0] %s/' % name,
                                    '[LocalDS_0] %s/%s.vmdk' % (name, name),
                                    4 * 1024 * 1024)
        lease = self.pool.ImportVApp(spec, self.folder)
        self.addCleanup(self._abort, lease)
        return lease

    def _abort(self, lease):
        try:
            lease.HttpNfcLeaseAbort()
        except Exception:
            pass  # already ended

    def view_of(self, waiter):
        return list(waiter._stream._view.view)

    def test_leases_share_one_view_and_the_stream(self):
        first = self.import_lease('lease-a')
        with self.session.calls.scope() as scope:
            values = self.waiter.wait_lease(first, 30, 'first')
        self.assertEqual('ready', values['state'])
        self.assertEqual(first._moId, values['info'].lease._moId)
        # Its first lease makes the view: CreateListView, CreateFilter (and
        # the task stream itself, if this is the session's first wait).
        self.assertEqual(1, scope.by_method['CreateListView'])
        self.assertEqual(0, scope.by_method['DestroyPropertyFilter'])
        self.assertEqual([first], self.view_of(self.waiter))

        second = self.import_lease('lease-b')
        with self.session.calls.scope() as scope:
            values = self.waiter.wait_lease(second, 30, 'second')
        self.assertEqual('ready', values['state'])
        # One ModifyListView adds it and drops the first; the readiness
        # comes through the stream's waits (initializing, then ready).
        self.assertEqual({'ModifyListView': 1}, {
            m: n for m, n in scope.by_method.items()
            if m != 'WaitForUpdatesEx'})
        self.assertLessEqual(scope.by_method['WaitForUpdatesEx'], 2)
        self.assertEqual([second], self.view_of(self.waiter))

    def test_failed_lease_is_settled(self):
        lease = self.import_lease('lease-c')
        self.waiter.wait_lease(lease, 30, 'ready first')
        lease.HttpNfcLeaseAbort()
        other = self.import_lease('lease-d')
        other.HttpNfcLeaseAbort()
        values = self.waiter.wait_lease(other, 30, 'aborted')
        self.assertEqual('error', values['state'])

    def test_without_the_stream_a_filter_of_its_own(self):
        waiter = vtasks.TaskWaiter(self.session, update_wait=5, timeout=60,
                                   stream=False)
        self.addCleanup(waiter.close)
        lease = self.import_lease('lease-e')
        with self.session.calls.scope() as scope:
            values = waiter.wait_lease(lease, 30, 'no stream')
        self.assertEqual('ready', values['state'])
        self.assertEqual(1, scope.by_method['CreateFilter'])
        self.assertEqual(1, scope.by_method['DestroyPropertyFilter'])
        self.assertEqual(0, scope.by_method['ModifyListView'])
