"""vcsim's NFC leases (ImportVApp, ExportVm) and the authentication of its
HTTP file endpoints (/folder, /nfc/), made faithful to vSphere in
tools/vcsim/nfc_*.go and tools/vcsim/auth_http.go.

Every test states the vSphere behaviour it checks; each fails against the
stock vcsim 0.24.2, whose lease is born 'ready', whose /nfc/ handler
discards uploads, which has no ExportVm, and whose /folder needs no
session.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile
import time

from pyVmomi import vim
from pyVmomi import vmodl
import requests
import testtools

from tests import vcsim

PC = vmodl.query.PropertyCollector
MiB = 1 << 20

OVF_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
 xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
 xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/\
CIM_ResourceAllocationSettingData"
 xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/\
CIM_VirtualSystemSettingData">
  <References>
    <File ovf:href="disk.vmdk" ovf:id="file1" ovf:size="%(size)d"/>
  </References>
  <DiskSection>
    <Info>Virtual disks</Info>
    <Disk ovf:capacity="4" ovf:capacityAllocationUnits="byte * 2^20"
     ovf:diskId="vmdisk1" ovf:fileRef="file1"
     ovf:format="http://www.vmware.com/interfaces/specifications/\
vmdk.html#streamOptimized"/>
  </DiskSection>
  <VirtualSystem ovf:id="%(name)s">
    <Info>A virtual machine</Info>
    <Name>%(name)s</Name>
    <VirtualHardwareSection>
      <Info>Virtual hardware</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:ElementName>1 virtual CPU</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>1</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:ElementName>128MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>128</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard Disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""


def props(si, obj, paths):
    """Properties of one object (PropertyCollector, never Fetch)."""
    obj = type(obj)(obj._moId, si._stub)
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=obj)],
        propSet=[PC.PropertySpec(type=type(obj), pathSet=list(paths))])
    result = si.RetrieveContent().propertyCollector.RetrievePropertiesEx(
        [spec], PC.RetrieveOptions())
    return {p.name: p.val for p in result.objects[0].propSet or ()}


def wait_for(si, obj, path, wanted, timeout=30):
    """Wait with WaitForUpdatesEx until property ``path`` of ``obj`` takes
    one of the ``wanted`` values; return it."""
    collector = si.RetrieveContent().propertyCollector
    pc = collector.CreatePropertyCollector()
    try:
        pc.CreateFilter(PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=obj)],
            propSet=[PC.PropertySpec(type=type(obj), pathSet=[path])]),
            partialUpdates=False)
        version = ''
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError('%s of %s never became one of %s'
                                     % (path, obj, wanted))
            result = pc.WaitForUpdatesEx(version, PC.WaitOptions(
                maxWaitSeconds=max(1, int(left))))
            if result is None:
                continue
            version = result.version
            for filter_set in result.filterSet:
                for update in filter_set.objectSet:
                    for change in update.changeSet:
                        if change.name == path and change.val in wanted:
                            return change.val
    finally:
        pc.DestroyPropertyCollector()


def fix_url(fx, url):
    """A lease URL with the host '*' replaced, as clients do."""
    return url.replace('*', '%s:%d' % (fx.host, fx.port), 1)


def ds_relative(file_name):
    """'[LocalDS_0] a/b.vmdk' -> ('LocalDS_0', 'a/b.vmdk')."""
    datastore, path = file_name[1:].split('] ', 1)
    return datastore, path


def digest(data):
    """(size, SHA-256) of some bytes, to compare disks without printing
    megabytes when they differ."""
    return len(data), hashlib.sha256(data).hexdigest()


def make_image(directory, name, size=MiB, subformat=None):
    """A raw image of random bytes, converted with qemu-img to a VMDK of
    ``subformat`` when given; returns (path, bytes)."""
    raw = os.path.join(directory, name + '.raw')
    with open(raw, 'wb') as f:
        f.write(os.urandom(size))
    if subformat is None:
        path = raw
    else:
        path = os.path.join(directory, name + '.vmdk')
        subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O',
                        'vmdk', '-o', 'subformat=' + subformat, raw, path],
                       check=True)
    with open(path, 'rb') as f:
        return path, f.read()


class NfcTestCase(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(hosts=1, datastores=2, portgroups=0)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.content = self.si.RetrieveContent()
        self.cookie = vcsim.session_cookie(self.si)
        pools = vcsim.query(self.si, vim.ResourcePool, ['name'])
        self.pool = vim.ResourcePool(sorted(pools)[0], self.si._stub)
        dcs = vcsim.query(self.si, vim.Datacenter, ['vmFolder'])
        self.vm_folder = list(dcs.values())[0]['vmFolder']
        self.tmpdir = tempfile.mkdtemp(prefix='nfc-test-')
        self.addCleanup(shutil.rmtree, self.tmpdir, ignore_errors=True)

    # HTTP

    def http(self, method, url, cookie=None, **kwargs):
        headers = kwargs.pop('headers', {})
        if cookie:
            headers['Cookie'] = cookie
        kwargs.setdefault('timeout', 120)
        return requests.request(method, url, headers=headers,
                                verify=self.vcsim.ca_file, **kwargs)

    def folder_get(self, file_name, cookie=None):
        datastore, path = ds_relative(file_name)
        url = vcsim.datastore_url(self.vcsim, path, datastore=datastore)
        return self.http('GET', url, cookie or self.cookie)

    # vSphere objects

    def import_spec(self, name, datastore='LocalDS_0', capacity_kb=4096):
        """A VirtualMachineImportSpec like Nova's VMware driver builds for
        a streamOptimized image: one thin disk on an LSI Logic controller.
        """
        controller = vim.vm.device.VirtualLsiLogicController(
            key=-100, busNumber=0, sharedBus='noSharing')
        disk = vim.vm.device.VirtualDisk(
            key=-101, unitNumber=0, controllerKey=-100,
            capacityInKB=capacity_kb,
            backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                fileName='[%s]' % datastore, diskMode='persistent',
                thinProvisioned=True))
        config = vim.vm.ConfigSpec(
            name=name, guestId='otherGuest', numCPUs=1, memoryMB=128,
            files=vim.vm.FileInfo(vmPathName='[%s]' % datastore),
            deviceChange=[
                vim.vm.device.VirtualDeviceSpec(
                    operation='add', device=controller),
                vim.vm.device.VirtualDeviceSpec(
                    operation='add', fileOperation='create', device=disk)])
        return vim.vm.VmImportSpec(configSpec=config)

    def import_vm(self, name, **kwargs):
        """ImportVApp; returns the lease once ready, and its info."""
        lease = self.pool.ImportVApp(spec=self.import_spec(name, **kwargs),
                                     folder=self.vm_folder)
        wait_for(self.si, lease, 'state', ['ready'])
        return lease, props(self.si, lease, ['info'])['info']

    def disk_file(self, vm):
        devices = props(self.si, vm, ['config.hardware.device'])[
            'config.hardware.device']
        disks = [d for d in devices
                 if isinstance(d, vim.vm.device.VirtualDisk)]
        self.assertEqual(1, len(disks))
        return disks[0].backing.fileName

    def vm_names(self):
        return {v['name'] for v in vcsim.query(
            self.si, vim.VirtualMachine, ['name']).values()}

    def power_on(self, vm):
        task = vim.VirtualMachine(vm._moId, self.si._stub).PowerOnVM_Task()
        state = wait_for(self.si, task, 'info.state', ['success', 'error'])
        self.assertEqual('success', state)

    def uploaded_vm(self, name, data):
        """A powered-off VM whose disk holds ``data``, by an import."""
        lease, info = self.import_vm(name)
        response = self.http('PUT', fix_url(self.vcsim, info.deviceUrl[0].url),
                             self.cookie, data=data)
        self.assertEqual(200, response.status_code)
        lease.HttpNfcLeaseComplete()
        return info.entity


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


class NfcLeaseTimeoutTest(NfcTestCase):
    """A lease whose client does not call HttpNfcLeaseProgress within
    info.leaseTimeout seconds times out into state 'error' (Timedout), and
    an import that times out is removed."""

    VCSIM_SHAPE = dict(NfcTestCase.VCSIM_SHAPE,
                       extra_args=('-nfc-lease-timeout', '2s'))

    def test_lease_without_progress_times_out(self):
        lease, info = self.import_vm('timeout-vm')
        self.assertEqual(2, info.leaseTimeout)
        self.assertEqual('error', wait_for(self.si, lease, 'state',
                                           ['error', 'done'], timeout=20))
        error = props(self.si, lease, ['error'])['error']
        self.assertIsInstance(error, vim.fault.Timedout)
        self.assertNotIn('timeout-vm', self.vm_names())
        self.assertRaises(vim.fault.Timedout, lease.HttpNfcLeaseComplete)
        self.assertRaises(vim.fault.Timedout, lease.HttpNfcLeaseProgress, 50)

    def test_progress_keeps_the_lease(self):
        lease, info = self.import_vm('kept-vm')
        for percent in range(0, 100, 20):
            time.sleep(0.6)
            lease.HttpNfcLeaseProgress(percent)
        self.assertEqual('ready', props(self.si, lease, ['state'])['state'])
        lease.HttpNfcLeaseComplete()
        self.assertEqual('done', props(self.si, lease, ['state'])['state'])
        self.assertIn('kept-vm', self.vm_names())


class NfcExportTest(NfcTestCase):
    """VirtualMachine.ExportVm (missing from vcsim 0.24.2) and the lease of
    an export."""

    VCSIM_SHAPE = dict(NfcTestCase.VCSIM_SHAPE, vms=1)

    def test_powered_on_vm_cannot_be_exported(self):
        # vSphere: ExportVm faults InvalidPowerState unless powered off.
        vms = vcsim.query(self.si, vim.VirtualMachine,
                          ['name', 'runtime.powerState'])
        moid = [m for m, v in vms.items()
                if v['name'] == 'DC0_C0_RP0_VM0'][0]
        self.assertEqual('poweredOn', vms[moid]['runtime.powerState'])
        vm = vim.VirtualMachine(moid, self.si._stub)
        error = self.assertRaises(vim.fault.InvalidPowerState, vm.ExportVm)
        self.assertEqual('poweredOn', error.existingState)
        self.assertEqual('poweredOff', error.requestedState)
        missing = vim.VirtualMachine('vm-does-not-exist', self.si._stub)
        self.assertRaises(vmodl.fault.ManagedObjectNotFound, missing.ExportVm)

    def test_export_streams_the_disk(self):
        _, data = make_image(self.tmpdir, 'export',
                             subformat='streamOptimized')
        vm = vim.VirtualMachine(self.uploaded_vm('export-vm', data)._moId,
                                self.si._stub)

        lease = vm.ExportVm()
        self.assertTrue(lease._moId.startswith('session['))
        wait_for(self.si, lease, 'state', ['ready'])
        info = props(self.si, lease, ['info'])['info']
        self.assertEqual(vm._moId, info.entity._moId)
        [device] = info.deviceUrl
        self.assertTrue(device.disk)
        self.assertEqual('disk-0.vmdk', device.targetId)
        self.assertEqual(len(data), device.fileSize)
        self.assertTrue(device.url.startswith('https://*/nfc/'))
        self.assertTrue(device.url.endswith('/disk-0.vmdk'))
        self.assertEqual('/%s/VirtualLsiLogicController0:0' % vm._moId,
                         device.key)
        url = fix_url(self.vcsim, device.url)

        response = self.http('GET', url, self.cookie)
        self.assertEqual(200, response.status_code)
        self.assertEqual(digest(data), digest(response.content))
        response = self.http('GET', url, self.cookie,
                             headers={'Range': 'bytes=0-3'})
        self.assertEqual((206, b'KDMV'),
                         (response.status_code, response.content))
        [entry] = lease.HttpNfcLeaseGetManifest()
        self.assertEqual(hashlib.sha1(data).hexdigest(), entry.sha1)
        self.assertEqual((device.key, len(data)), (entry.key, entry.size))

        # The VM is held: another export is a task in progress, power-on
        # is disabled.
        error = self.assertRaises(vim.fault.TaskInProgress, vm.ExportVm)
        task_info = props(self.si, error.task, ['info'])['info']
        self.assertEqual('running', task_info.state)
        self.assertRaises(vim.fault.MethodDisabled, vm.PowerOnVM_Task)

        self.assertEqual(405, self.http('PUT', url, self.cookie,
                                        data=b'x').status_code)
        self.assertEqual(401, self.http('GET', url).status_code)

        lease.HttpNfcLeaseProgress(100)
        lease.HttpNfcLeaseComplete()
        self.assertEqual('done', props(self.si, lease, ['state'])['state'])
        self.assertEqual('success', props(self.si, error.task,
                                          ['info.state'])['info.state'])
        self.assertEqual(404, self.http('GET', url, self.cookie).status_code)
        self.power_on(vm)

    def test_export_abort_keeps_the_vm(self):
        vm = vim.VirtualMachine(
            self.uploaded_vm('kept-export-vm', b'disk bytes')._moId,
            self.si._stub)
        lease = vm.ExportVm()
        wait_for(self.si, lease, 'state', ['ready'])
        lease.HttpNfcLeaseAbort()
        self.assertEqual('error', props(self.si, lease, ['state'])['state'])
        self.assertIn('kept-export-vm', self.vm_names())
        self.assertEqual(b'disk bytes',
                         self.folder_get(self.disk_file(vm)).content)
        self.power_on(vm)

    def test_export_with_generic_service_ticket(self):
        # A vmware_cgi_ticket for the NFC URL stands for the session.
        vm = vim.VirtualMachine(
            self.uploaded_vm('ticket-export-vm', b'ticketed')._moId,
            self.si._stub)
        lease = vm.ExportVm()
        wait_for(self.si, lease, 'state', ['ready'])
        url = fix_url(self.vcsim,
                      props(self.si, lease, ['info'])['info'].deviceUrl[0].url)
        ticket = self.content.sessionManager.AcquireGenericServiceTicket(
            spec=vim.SessionManager.HttpServiceRequestSpec(
                method='httpGet', url=url))
        cookie = 'vmware_cgi_ticket="%s"' % ticket.id
        response = self.http('GET', url, cookie)
        self.assertEqual((200, b'ticketed'),
                         (response.status_code, response.content))
        self.assertEqual(401, self.http('GET', url, cookie).status_code)
        lease.HttpNfcLeaseComplete()
