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

"""What Nova's in-tree vmwareapi driver calls and vcsim 0.24.2 lacked.

- SearchIndex.FindAllByUuid (the in-tree driver finds an instance's VM by
  config.instanceUuid with it): tools/vcsim/search_all_by_uuid.go;
- ExtensionManager (FindExtension / RegisterExtension; the simulator named
  it in the ServiceContent but had no such object):
  tools/vcsim/ext_manager.go;
- xsd:dateTime values without a time zone, as suds sends the extension's
  lastHeartbeatTime: tools/vcsim/xsd_datetime.go;
- CopyVirtualDisk_Task without destDatacenter (the in-tree driver's copy of
  a cached image to a flavor-sized one): tools/vcsim/vm_copydisk_dest_dc.go.
"""

import datetime

from pyVim import task as task_util
from pyVmomi import vim
from pyVmomi import vmodl
import requests
import testtools

from tests import vcsim

KEY = 'org.openstack.compute'


def extension(key=KEY, when=None):
    return vim.Extension(
        key=key, version='1.0', company='OpenStack',
        description=vim.Description(label='OpenStack', summary='Nova'),
        managedEntityInfo=[vim.ext.ManagedEntityInfo(type='instance')],
        lastHeartbeatTime=when or datetime.datetime.now(
            datetime.timezone.utc))


class FindAllByUuidTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(datacenters=2, hosts=2, vms=2)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.index = self.si.content.searchIndex
        self.vms = vcsim.query(self.si, vim.VirtualMachine, [
            'name', 'config.uuid', 'config.instanceUuid'])
        self.dcs = {dc.name: dc
                    for dc in self.si.content.rootFolder.childEntity}

    def test_finds_the_vm_by_instance_uuid(self):
        moid, props = sorted(self.vms.items())[0]
        found = self.index.FindAllByUuid(
            uuid=props['config.instanceUuid'], vmSearch=True,
            instanceUuid=True)
        self.assertEqual([moid], [vm._moId for vm in found])
        # Its BIOS uuid is another one: no VM has it as instance uuid.
        self.assertEqual([], self.index.FindAllByUuid(
            uuid=props['config.uuid'], vmSearch=True, instanceUuid=True))

    def test_finds_the_vm_by_bios_uuid(self):
        moid, props = sorted(self.vms.items())[1]
        found = self.index.FindAllByUuid(uuid=props['config.uuid'],
                                         vmSearch=True)
        self.assertEqual([moid], [vm._moId for vm in found])

    def test_finds_every_vm_sharing_a_bios_uuid_sorted(self):
        # A VM copied by hand keeps its BIOS uuid: both are found.
        (first, props), (second, _) = sorted(self.vms.items())[:2]
        vm = vim.VirtualMachine(second, self.si._stub)
        old = vm.config.uuid
        self.addCleanup(self.set_uuid, vm, old)
        self.set_uuid(vm, props['config.uuid'])
        found = self.index.FindAllByUuid(uuid=props['config.uuid'],
                                         vmSearch=True, instanceUuid=False)
        self.assertEqual(sorted([first, second]), [v._moId for v in found])

    def set_uuid(self, vm, uuid):
        task_util.WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(uuid=uuid)))

    def test_datacenter_limits_the_search(self):
        moid, props = sorted(self.vms.items())[0]
        name = self.vms[moid]['name']
        home = 'DC0' if name.startswith('DC0_') else 'DC1'
        other = 'DC1' if home == 'DC0' else 'DC0'
        uuid = props['config.instanceUuid']
        self.assertEqual([moid], [v._moId for v in self.index.FindAllByUuid(
            datacenter=self.dcs[home], uuid=uuid, vmSearch=True,
            instanceUuid=True)])
        self.assertEqual([], self.index.FindAllByUuid(
            datacenter=self.dcs[other], uuid=uuid, vmSearch=True,
            instanceUuid=True))

    def test_unknown_datacenter_is_not_found(self):
        gone = vim.Datacenter('datacenter-999', self.si._stub)
        self.assertRaises(vmodl.fault.ManagedObjectNotFound,
                          self.index.FindAllByUuid, datacenter=gone,
                          uuid='x', vmSearch=True)

    def test_unknown_uuid_finds_nothing(self):
        self.assertEqual([], self.index.FindAllByUuid(
            uuid='00000000-0000-0000-0000-000000000000', vmSearch=True,
            instanceUuid=True))

    def test_finds_hosts_by_hardware_uuid(self):
        hosts = vcsim.query(self.si, vim.HostSystem,
                            ['summary.hardware.uuid'])
        moid, props = sorted(hosts.items())[0]
        found = self.index.FindAllByUuid(
            uuid=props['summary.hardware.uuid'], vmSearch=False)
        self.assertEqual([moid], [h._moId for h in found])

    def test_needs_a_session(self):
        si = vcsim.service_instance(self.vcsim)
        index = si.content.searchIndex
        si.content.sessionManager.Logout()
        self.assertRaises(vim.fault.NotAuthenticated, index.FindAllByUuid,
                          uuid='x', vmSearch=True)


class ExtensionManagerTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(vms=1)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.manager = self.si.content.extensionManager

    def registered(self):
        return self.manager.extensionList

    def register(self, ext):
        self.manager.RegisterExtension(ext)
        self.addCleanup(self.unregister_if_there, ext.key)

    def unregister_if_there(self, key):
        if self.manager.FindExtension(key) is not None:
            self.manager.UnregisterExtension(key)

    def test_register_then_find(self):
        self.assertIsNone(self.manager.FindExtension(KEY))
        when = datetime.datetime(2026, 12, 2, 1, 30,
                                 tzinfo=datetime.timezone.utc)
        self.register(extension(when=when))
        found = self.manager.FindExtension(KEY)
        self.assertEqual((KEY, '1.0', 'OpenStack', 'instance', when),
                         (found.key, found.version, found.company,
                          found.managedEntityInfo[0].type,
                          found.lastHeartbeatTime))
        self.assertEqual([KEY], [e.key for e in self.registered()])

    def test_registering_a_key_twice_is_invalid_argument(self):
        # Nova's in-tree driver takes InvalidArgument as "already there".
        self.register(extension())
        self.assertRaises(vmodl.fault.InvalidArgument,
                          self.manager.RegisterExtension, extension())
        self.assertEqual([KEY], [e.key for e in self.registered()])

    def test_empty_key_is_invalid_argument(self):
        self.assertRaises(vmodl.fault.InvalidArgument,
                          self.manager.RegisterExtension, extension(key=''))
        self.assertEqual([], self.registered())

    def test_update_and_unregister(self):
        self.register(extension())
        updated = extension()
        updated.version = '2.0'
        self.manager.UpdateExtension(updated)
        self.assertEqual('2.0', self.manager.FindExtension(KEY).version)
        self.manager.UnregisterExtension(KEY)
        self.assertIsNone(self.manager.FindExtension(KEY))
        self.assertEqual([], self.registered())

    def test_unknown_key_is_not_found(self):
        self.assertRaises(vim.fault.NotFound,
                          self.manager.UnregisterExtension, 'no.such')
        self.assertRaises(vim.fault.NotFound,
                          self.manager.UpdateExtension, extension('no.such'))

    def test_naive_datetime_as_suds_sends_it_is_utc(self):
        # oslo.vmware's register_extension: lastHeartbeatTime =
        # timeutils.utcnow().isoformat(), no zone.
        self.addCleanup(self.unregister_if_there, KEY)
        status, body = self.suds_register('2026-12-02T01:30:00.123456')
        self.assertEqual(200, status, body)
        found = self.manager.FindExtension(KEY)
        self.assertEqual(
            datetime.datetime(2026, 12, 2, 1, 30, 0, 123456,
                              tzinfo=datetime.timezone.utc),
            found.lastHeartbeatTime)

    def test_a_string_that_looks_like_a_datetime_stays_as_is(self):
        # Only a request the stock decoder refuses is rewritten.
        [moid] = vcsim.query(self.si, vim.VirtualMachine, ['name'])
        vm = vim.VirtualMachine(moid, self.si._stub)
        self.addCleanup(self.annotate, vm, vm.config.annotation or '')
        self.annotate(vm, '2026-12-02T01:30:00')
        self.assertEqual('2026-12-02T01:30:00', vm.config.annotation)

    def annotate(self, vm, text):
        task_util.WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(
            annotation=text)))

    def test_bad_datetime_is_still_refused(self):
        status, body = self.suds_register('2026-13-45T99:00:00')
        self.assertEqual(500, status, body)
        self.assertIsNone(self.manager.FindExtension(KEY))

    def suds_register(self, heartbeat):
        """RegisterExtension as suds sends it. (status, body)"""
        envelope = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<SOAP-ENV:Envelope xmlns:ns0="urn:vim25"'
            ' xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
            '<SOAP-ENV:Header/><SOAP-ENV:Body><ns0:RegisterExtension>'
            '<ns0:_this type="ExtensionManager">ExtensionManager</ns0:_this>'
            '<ns0:extension><ns0:description><ns0:label>OpenStack'
            '</ns0:label><ns0:summary>OpenStack services</ns0:summary>'
            '</ns0:description><ns0:key>%s</ns0:key>'
            '<ns0:version>1.0</ns0:version>'
            '<ns0:lastHeartbeatTime>%s</ns0:lastHeartbeatTime>'
            '<ns0:managedEntityInfo><ns0:type>instance</ns0:type>'
            '</ns0:managedEntityInfo></ns0:extension>'
            '</ns0:RegisterExtension></SOAP-ENV:Body></SOAP-ENV:Envelope>'
            % (KEY, heartbeat))
        response = requests.post(
            self.vcsim.url, data=envelope.encode(),
            headers={'Content-Type': 'text/xml; charset=utf-8',
                     'SOAPAction': 'urn:vim25/7.0',
                     'Cookie': vcsim.session_cookie(self.si)},
            verify=self.vcsim.ca_file, timeout=30)
        return response.status_code, response.text


class CopyVirtualDiskTest(vcsim.VcsimClassMixin, testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.dc = self.si.content.rootFolder.childEntity[0]
        self.vdm = self.si.content.virtualDiskManager

    def exists(self, path):
        url = vcsim.datastore_url(self.vcsim, path)
        return requests.head(url, verify=self.vcsim.ca_file, timeout=30,
                             headers={'Cookie': vcsim.session_cookie(
                                 self.si)}).status_code == 200

    def delete(self, name):
        task_util.WaitForTask(self.vdm.DeleteVirtualDisk_Task(name, self.dc))

    def test_without_dest_datacenter_copies_in_the_source_one(self):
        spec = vim.VirtualDiskManager.FileBackedVirtualDiskSpec(
            diskType='thin', adapterType='lsiLogic', capacityKb=1024)
        task_util.WaitForTask(self.vdm.CreateVirtualDisk_Task(
            '[LocalDS_0] copy-src.vmdk', self.dc, spec))
        self.addCleanup(self.delete, '[LocalDS_0] copy-src.vmdk')
        self.assertTrue(self.exists('copy-src-flat.vmdk'))
        task_util.WaitForTask(self.vdm.CopyVirtualDisk_Task(
            sourceName='[LocalDS_0] copy-src.vmdk', sourceDatacenter=self.dc,
            destName='[LocalDS_0] copy-dst.vmdk'))
        self.addCleanup(self.delete, '[LocalDS_0] copy-dst.vmdk')
        self.assertEqual([True, True], [self.exists('copy-dst.vmdk'),
                                        self.exists('copy-dst-flat.vmdk')])
