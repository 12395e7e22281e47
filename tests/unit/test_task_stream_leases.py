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

"""The task stream's lease watch (vsphere/tasks.py) where vcsim cannot
go: vCenter logging the session out while a lease is being made ready."""

import time
from unittest import mock

from oslo_vmware import exceptions as vexc
from pyVmomi import vim
from pyVmomi import vmodl
import testtools

from nova_vmware_ext.vsphere import tasks as vtasks

PC = vmodl.query.PropertyCollector


def lease_update(lease, version, **values):
    return PC.UpdateSet(version=version, filterSet=[PC.FilterUpdate(
        objectSet=[PC.ObjectUpdate(kind='modify', obj=lease, changeSet=[
            PC.Change(name=name, op='assign', val=value)
            for name, value in values.items()])])])


class LeaseWatchTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.session = mock.Mock(generation=1, timeout=60)
        self.session.content.taskManager = vim.TaskManager('TaskManager')
        self.collector = mock.Mock()
        self.session.content.propertyCollector.CreatePropertyCollector \
            .return_value = self.collector
        self.view = mock.Mock(spec=vim.view.ListView('session[x]view'))
        self.session.content.viewManager.CreateListView.return_value = (
            self.view)
        self.waiter = vtasks.TaskWaiter(self.session, update_wait=5)
        self.lease = vim.HttpNfcLease('session[x]lease-1')

    def test_ready_lease_read_from_the_stream(self):
        self.collector.WaitForUpdatesEx.side_effect = [
            lease_update(self.lease, '1', state='initializing'),
            lease_update(self.lease, '2', state='ready', info='the info')]
        values = self.waiter.wait_lease(self.lease, 30, 'import')
        self.assertEqual({'state': 'ready', 'info': 'the info'}, values)
        self.view.ModifyListView.assert_called_once_with(
            add=[self.lease], remove=[])
        # The next lease drops this one from the view in the same call.
        other = vim.HttpNfcLease('session[x]lease-2')
        self.collector.WaitForUpdatesEx.side_effect = [
            lease_update(other, '3', state='error')]
        self.assertEqual('error', self.waiter.wait_lease(
            other, 30, 'import')['state'])
        self.view.ModifyListView.assert_called_with(add=[other],
                                                    remove=[self.lease])
        self.assertEqual(1, self.session.content.viewManager
                         .CreateListView.call_count)

    def test_session_logged_out_during_the_wait(self):
        answers = [None, PC.UpdateSet(version='1', filterSet=[])]

        def wait(version, options):
            answer = answers.pop(0)
            if answer is None:
                self.session.generation = 2  # it logged in again
                raise vexc.NotAuthenticatedException('session gone')
            return answer
        self.collector.WaitForUpdatesEx.side_effect = wait
        exc = self.assertRaises(vexc.NotAuthenticatedException,
                                self.waiter.wait_lease, self.lease, 30,
                                'import of image x')
        self.assertIn('import of image x', str(exc))
        # Nothing of the old login is kept for the next lease.
        self.assertIsNone(self.waiter._stream._view)
        self.assertEqual({}, self.waiter._stream._leases)

    def test_ready_waits_for_its_info(self):
        self.collector.WaitForUpdatesEx.side_effect = [
            lease_update(self.lease, '1', state='ready'),
            lease_update(self.lease, '2', info='the info')]
        values = self.waiter.wait_lease(self.lease, 30, 'import')
        self.assertEqual({'state': 'ready', 'info': 'the info'}, values)

    def test_deadline(self):
        self.collector.WaitForUpdatesEx.return_value = None
        started = time.monotonic()
        self.assertIsNone(self.waiter.wait_lease(self.lease, 1, 'import'))
        self.assertLess(time.monotonic() - started, 10)
