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

"""vcsim's NFC leases (ImportVApp, ExportVm) and the authentication of its
HTTP file endpoints (/folder, /nfc/), made faithful to vSphere in
tools/vcsim/nfc_*.go and tools/vcsim/auth_http.go.

Every test states the vSphere behaviour it checks; each fails against the
stock vcsim 0.24.2, whose lease is born 'ready', whose /nfc/ handler
discards uploads, which has no ExportVm, and whose /folder needs no
session.
"""

import glob
import hashlib
import os
import threading
import time

from pyVmomi import vim
from pyVmomi import vmodl

from tests.functional.vcsim_nfc import digest
from tests.functional.vcsim_nfc import ds_relative
from tests.functional.vcsim_nfc import fix_url
from tests.functional.vcsim_nfc import make_image
from tests.functional.vcsim_nfc import MiB
from tests.functional.vcsim_nfc import NfcTestCase
from tests.functional.vcsim_nfc import OVF_TEMPLATE
from tests.functional.vcsim_nfc import props
from tests.functional.vcsim_nfc import wait_for
from tests import vcsim


class DatastoreHttpAuthTest(NfcTestCase):
    """vCenter's datastore HTTP access (/folder) answers 401 Unauthorized
    unless the request carries a logged-in session's vmware_soap_session
    cookie, valid Basic credentials, or a one-time vmware_cgi_ticket from
    SessionManager.AcquireGenericServiceTicket for that URL and method."""

    def url(self, path):
        return vcsim.datastore_url(self.vcsim, path)

    def test_no_session_is_401_and_writes_nothing(self):
        url = self.url('auth/anonymous.txt')
        response = self.http('PUT', url, data=b'anonymous')
        self.assertEqual(401, response.status_code)
        self.assertIn('Basic', response.headers.get('WWW-Authenticate', ''))
        self.assertEqual(404, self.http('GET', url, self.cookie).status_code)

        self.assertIn(self.http('PUT', url, self.cookie,
                                data=b'mine').status_code, (200, 201))
        self.assertEqual(401, self.http('GET', url).status_code)
        self.assertEqual(401, self.http('GET', self.url('')).status_code)

    def test_unknown_or_logged_out_session_is_401(self):
        url = self.url('auth/session.txt')
        self.assertIn(self.http('PUT', url, self.cookie,
                                data=b'x').status_code, (200, 201))
        self.assertEqual(401, self.http(
            'GET', url, 'vmware_soap_session="not-a-session"').status_code)

        other = vcsim.service_instance(self.vcsim)
        other_cookie = vcsim.session_cookie(other)
        self.assertEqual(200, self.http('GET', url, other_cookie).status_code)
        other.RetrieveContent().sessionManager.Logout()
        self.assertEqual(401, self.http('GET', url, other_cookie).status_code)

    def test_basic_credentials(self):
        url = self.url('auth/basic.txt')
        auth = (self.vcsim.username, self.vcsim.password)
        self.assertIn(self.http('PUT', url, auth=auth,
                                data=b'basic').status_code, (200, 201))
        response = self.http('GET', url, auth=auth)
        self.assertEqual((200, b'basic'),
                         (response.status_code, response.content))
        self.assertEqual(401, self.http(
            'GET', url, auth=(self.vcsim.username, 'wrong')).status_code)

    def ticket(self, method, url):
        spec = vim.SessionManager.HttpServiceRequestSpec(method=method,
                                                         url=url)
        sm = self.content.sessionManager
        ticket = sm.AcquireGenericServiceTicket(spec=spec)
        return 'vmware_cgi_ticket="%s"' % ticket.id

    def test_generic_service_ticket_is_one_time_for_its_url_and_method(self):
        url = self.url('auth/ticket.txt')
        ticket = self.ticket('httpPut', url)
        self.assertIn(self.http('PUT', url, ticket,
                                data=b'ticket').status_code, (200, 201))
        # Used up.
        self.assertEqual(401, self.http('PUT', url, ticket,
                                        data=b'again').status_code)
        self.assertEqual(b'ticket',
                         self.http('GET', url, self.cookie).content)

        # Not for another method, nor another file.
        ticket = self.ticket('httpGet', url)
        self.assertEqual(401, self.http('PUT', url, ticket,
                                        data=b'x').status_code)
        ticket = self.ticket('httpGet', url)
        self.assertEqual(401, self.http(
            'GET', self.url('auth/other.txt'), ticket).status_code)
        ticket = self.ticket('httpGet', url)
        response = self.http('GET', url, ticket)
        self.assertEqual((200, b'ticket'),
                         (response.status_code, response.content))

    def test_made_up_ticket_is_401(self):
        url = self.url('auth/made-up.txt')
        self.assertEqual(401, self.http(
            'PUT', url, 'vmware_cgi_ticket=52aa-made-up',
            data=b'x').status_code)


class NfcImportTest(NfcTestCase):
    """ResourcePool.ImportVApp and the HttpNfcLease of an import."""

    VCSIM_SHAPE = dict(NfcTestCase.VCSIM_SHAPE,
                       extra_args=('-nfc-lease-init-delay', '1s'))

    def test_lease_is_initializing_then_ready_with_info(self):
        # vSphere: the lease starts 'initializing' (info unset: "only valid
        # when the lease is in the ready state") and becomes 'ready'.
        lease = self.pool.ImportVApp(spec=self.import_spec('init-vm'),
                                     folder=self.vm_folder)
        self.assertTrue(lease._moId.startswith('session['))
        first = props(self.si, lease, ['state', 'info'])
        self.assertEqual('initializing', first['state'])
        self.assertNotIn('info', first)

        self.assertEqual('ready',
                         wait_for(self.si, lease, 'state', ['ready']))
        now = props(self.si, lease, ['info', 'initializeProgress', 'mode'])
        self.assertEqual(100, now['initializeProgress'])
        info = now['info']
        self.assertEqual(lease._moId, info.lease._moId)
        self.assertEqual(300, info.leaseTimeout)
        self.assertEqual(4096, info.totalDiskCapacityInKB)
        self.assertIn('init-vm', self.vm_names())
        [url] = info.deviceUrl
        self.assertTrue(url.disk)
        self.assertTrue(url.url.startswith('https://*/nfc/'))
        self.assertTrue(url.url.endswith('/disk-0.vmdk'))
        self.assertEqual('/init-vm/disk:0', url.importKey)
        self.assertEqual('/%s/VirtualLsiLogicController0:0'
                         % info.entity._moId, url.key)
        self.assertTrue(url.sslThumbprint)
        lease.HttpNfcLeaseAbort()

    def test_stream_optimized_upload_becomes_the_disk(self):
        # vSphere stores the uploaded disk as the imported VM's disk; after
        # HttpNfcLeaseComplete the lease is 'done', the VM usable.
        _, data = make_image(self.tmpdir, 'so', subformat='streamOptimized')
        lease, info = self.import_vm('so-vm')
        vm = info.entity
        url = fix_url(self.vcsim, info.deviceUrl[0].url)
        response = self.http('PUT', url, self.cookie, data=data, headers={
            'Content-Type': 'application/x-vnd.vmware-streamVmdk'})
        self.assertEqual(200, response.status_code)
        lease.HttpNfcLeaseProgress(100)
        self.assertEqual(100, props(self.si, lease,
                                    ['transferProgress'])['transferProgress'])
        lease.HttpNfcLeaseComplete()
        self.assertEqual('done', props(self.si, lease, ['state'])['state'])

        file_name = self.disk_file(vm)
        self.assertTrue(file_name.startswith('[LocalDS_0] so-vm/'))
        response = self.folder_get(file_name)
        self.assertEqual(200, response.status_code)
        self.assertEqual(digest(data), digest(response.content))
        self.assertEqual(b'KDMV', response.content[:4])

        # The lease URL is gone with the lease; the VM is usable.
        self.assertEqual(404, self.http('PUT', url, self.cookie,
                                        data=b'late').status_code)
        self.assertEqual([], list(props(self.si, vm, ['disabledMethod']).get(
            'disabledMethod', [])))
        self.power_on(vm)

    def test_flat_upload_on_second_datastore(self):
        # The bytes of a flat image are stored as they are, on the
        # datastore the spec names; POST is accepted as PUT is.
        _, data = make_image(self.tmpdir, 'flat', size=3 * MiB)
        lease, info = self.import_vm('flat-vm', datastore='LocalDS_1')
        response = self.http('POST', fix_url(self.vcsim,
                                             info.deviceUrl[0].url),
                             self.cookie, data=data)
        self.assertEqual(200, response.status_code)
        lease.HttpNfcLeaseComplete()
        file_name = self.disk_file(info.entity)
        self.assertTrue(file_name.startswith('[LocalDS_1] flat-vm/'))
        self.assertEqual(digest(data),
                         digest(self.folder_get(file_name).content))

    def test_import_spec_from_ovf_manager(self):
        # OvfManager.CreateImportSpec's fileItem[].deviceId names the lease
        # URL to upload each file to (deviceUrl[].importKey).
        _, data = make_image(self.tmpdir, 'ovf', subformat='streamOptimized')
        datastores = vcsim.query(self.si, vim.Datastore, ['name'])
        datastore = [vim.Datastore(moid, self.si._stub)
                     for moid, d in datastores.items()
                     if d['name'] == 'LocalDS_0'][0]
        result = self.content.ovfManager.CreateImportSpec(
            OVF_TEMPLATE % dict(size=len(data), name='ovf-vm'),
            self.pool, datastore,
            vim.OvfManager.CreateImportSpecParams(entityName='ovf-vm'))
        [item] = result.fileItem
        lease = self.pool.ImportVApp(spec=result.importSpec,
                                     folder=self.vm_folder)
        wait_for(self.si, lease, 'state', ['ready'])
        info = props(self.si, lease, ['info'])['info']
        urls = {u.importKey: u.url for u in info.deviceUrl}
        self.assertIn(item.deviceId, urls)
        response = self.http('PUT', fix_url(self.vcsim, urls[item.deviceId]),
                             self.cookie, data=data)
        self.assertEqual(200, response.status_code)
        lease.HttpNfcLeaseComplete()
        self.assertEqual(digest(data), digest(self.folder_get(
            self.disk_file(info.entity)).content))

    def test_leased_vm_is_blocked_until_complete(self):
        # "While the lease is held, operations that alter the state of the
        # virtual machines covered by the lease are blocked."
        lease, info = self.import_vm('blocked-vm')
        vm = vim.VirtualMachine(info.entity._moId, self.si._stub)
        disabled = props(self.si, vm, ['disabledMethod'])['disabledMethod']
        self.assertIn('PowerOnVM_Task', disabled)
        self.assertIn('Destroy_Task', disabled)
        self.assertRaises(vim.fault.MethodDisabled, vm.PowerOnVM_Task)
        self.assertRaises(vim.fault.MethodDisabled, vm.Destroy_Task)
        lease.HttpNfcLeaseComplete()
        self.power_on(vm)

    def test_abort_removes_the_vm_and_its_files(self):
        # vSphere deletes what an aborted import created; the lease is in
        # state 'error' with the client's fault.
        lease, info = self.import_vm('aborted-vm')
        response = self.http('PUT', fix_url(self.vcsim,
                                            info.deviceUrl[0].url),
                             self.cookie, data=b'half a disk')
        self.assertEqual(200, response.status_code)
        file_name = self.disk_file(info.entity)
        self.assertEqual(200, self.folder_get(file_name).status_code)

        lease.HttpNfcLeaseAbort(fault=vmodl.fault.SystemError(
            reason='image read failed', msg='image read failed'))
        after = props(self.si, lease, ['state', 'error'])
        self.assertEqual('error', after['state'])
        self.assertIsInstance(after['error'], vmodl.fault.SystemError)
        self.assertEqual('image read failed', after['error'].reason)
        self.assertNotIn('aborted-vm', self.vm_names())
        self.assertEqual(404, self.folder_get(file_name).status_code)
        self.assertEqual(404, self.folder_get(
            '[LocalDS_0] aborted-vm/aborted-vm.vmx').status_code)
        self.assertRaises(vim.fault.InvalidState, lease.HttpNfcLeaseComplete)
        self.assertRaises(vim.fault.InvalidState, lease.HttpNfcLeaseAbort)

    def test_abort_removes_an_upload_still_under_way(self):
        # A client that stops sending (its image source failed) without
        # closing the connection: the abort takes the upload's partial file
        # with the VM at once, so the client's cleanup finds nothing. The
        # disk goes into a folder of its own, as an image cache entry's
        # does (the VM's folder goes with the VM anyway).
        dc = self.content.rootFolder.childEntity[0]
        self.content.fileManager.MakeDirectory(
            name='[LocalDS_0] stalled-disks', datacenter=dc,
            createParentDirectories=True)
        spec = self.import_spec('stalled-vm')
        spec.configSpec.deviceChange[1].device.backing.fileName = (
            '[LocalDS_0] stalled-disks/stalled.vmdk')
        lease = self.pool.ImportVApp(spec=spec, folder=self.vm_folder)
        wait_for(self.si, lease, 'state', ['ready'])
        info = props(self.si, lease, ['info'])['info']
        roots = [d['info.url'] for d in vcsim.query(
            self.si, vim.Datastore, ['info.url', 'name']).values()
            if d['name'] == 'LocalDS_0']
        pattern = os.path.join(roots[0], '**', '.*.nfc-*')
        release = threading.Event()

        def body():
            yield b'x' * MiB
            release.wait(60)

        upload = threading.Thread(target=lambda: self.http(
            'PUT', fix_url(self.vcsim, info.deviceUrl[0].url), self.cookie,
            data=body()))
        upload.start()
        self.addCleanup(upload.join, 60)
        self.addCleanup(release.set)
        deadline = time.monotonic() + 30
        while not glob.glob(pattern, recursive=True):
            self.assertLess(time.monotonic(), deadline, 'no upload began')
            time.sleep(0.05)

        lease.HttpNfcLeaseAbort()
        self.assertEqual([], glob.glob(pattern, recursive=True))
        self.assertNotIn('stalled-vm', self.vm_names())
        self.assertEqual([], os.listdir(os.path.join(roots[0],
                                                     'stalled-disks')))

    def test_lease_watched_through_a_list_view(self):
        # vSphere: a ListView holds any object of the session, a lease
        # too; a filter on the view reports the lease as it enters and as
        # its state changes. (Stock vcsim: ManagedObjectNotFound, it looks
        # only in the global registry.)
        PC = vmodl.query.PropertyCollector
        content = self.si.RetrieveContent()
        view = content.viewManager.CreateListView([])
        pc = content.propertyCollector.CreatePropertyCollector()
        self.addCleanup(pc.DestroyPropertyCollector)
        pc.CreateFilter(PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[
                PC.TraversalSpec(name='v', type=vim.view.ListView,
                                 path='view', skip=False)])],
            propSet=[PC.PropertySpec(type=vim.HttpNfcLease,
                                     pathSet=['state'])]), True)
        version = pc.WaitForUpdatesEx('', PC.WaitOptions(
            maxWaitSeconds=0)).version
        lease = self.pool.ImportVApp(spec=self.import_spec('view-vm'),
                                     folder=self.vm_folder)
        self.addCleanup(lease.HttpNfcLeaseAbort)
        view.ModifyListView(add=[lease])
        self.assertEqual([lease], list(view.view))
        states = []
        while 'ready' not in states:
            update = pc.WaitForUpdatesEx(version, PC.WaitOptions(
                maxWaitSeconds=10))
            self.assertIsNotNone(update, states)
            version = update.version
            for fs in update.filterSet:
                for obj in fs.objectSet:
                    self.assertEqual(lease, obj.obj)
                    states += [c.val for c in obj.changeSet]
        self.assertEqual('ready', states[-1])
        view.ModifyListView(remove=[lease])
        self.assertEqual([], list(view.view))

    def test_complete_while_initializing_is_invalid_state(self):
        lease = self.pool.ImportVApp(spec=self.import_spec('early-vm'),
                                     folder=self.vm_folder)
        self.assertRaises(vim.fault.InvalidState, lease.HttpNfcLeaseComplete)
        lease.HttpNfcLeaseAbort()
        self.assertEqual('error', props(self.si, lease, ['state'])['state'])
        self.assertNotIn('early-vm', self.vm_names())

    def test_nfc_url_is_for_the_lease_session_only(self):
        # The lease is an object of its session: without a session cookie
        # the NFC URL answers 401, for another session 404; other sessions
        # do not see the lease object at all.
        lease, info = self.import_vm('private-vm')
        url = fix_url(self.vcsim, info.deviceUrl[0].url)
        self.assertEqual(401, self.http('PUT', url, data=b'x').status_code)
        other = self.vcsim.connect()
        other_cookie = vcsim.session_cookie(other)
        self.assertEqual(404, self.http('PUT', url, other_cookie,
                                        data=b'x').status_code)
        other_lease = vim.HttpNfcLease(lease._moId, other._stub)
        self.assertRaises(vmodl.fault.ManagedObjectNotFound,
                          other_lease.HttpNfcLeaseComplete)
        self.assertEqual(405, self.http('GET', url, self.cookie).status_code)
        lease.HttpNfcLeaseAbort()
        self.assertEqual(404, self.http('PUT', url, self.cookie,
                                        data=b'x').status_code)

    def test_large_upload_is_streamed(self):
        # Multi-hundred-MB disks: the upload is written as it arrives, not
        # held in memory (the simulator's peak RSS barely moves).
        lease, info = self.import_vm('large-vm', capacity_kb=512 * 1024)
        block = os.urandom(MiB)
        blocks = 320
        digest = hashlib.sha256()
        for _ in range(blocks):
            digest.update(block)

        def body():
            for _ in range(blocks):
                yield block

        peak_before = self._peak_rss()
        response = self.http('PUT', fix_url(self.vcsim,
                                            info.deviceUrl[0].url),
                             self.cookie, data=body())
        self.assertEqual(200, response.status_code)
        self.assertLess(self._peak_rss() - peak_before, 100 * MiB)
        lease.HttpNfcLeaseComplete()

        datastore, path = ds_relative(self.disk_file(info.entity))
        response = self.http('GET', vcsim.datastore_url(
            self.vcsim, path, datastore=datastore), self.cookie, stream=True)
        received = hashlib.sha256()
        size = 0
        for chunk in response.iter_content(MiB):
            received.update(chunk)
            size += len(chunk)
        self.assertEqual(blocks * MiB, size)
        self.assertEqual(digest.hexdigest(), received.hexdigest())

    def _peak_rss(self):
        with open('/proc/%d/status' % self.vcsim.pid) as status:
            for line in status:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
        self.skipTest('no VmHWM in /proc')
