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

"""oslo.vmware (suds) talks to vcsim through the vim WSDL it serves.

tools/vcsim/wsdl_gen.py makes the WSDL from pyVmomi's registry over
oslo.vmware's 8.0 type schemas; tools/vcsim/wsdl_serve.go serves it under
/sdk/ and datastore_ids.go gives datastores vCenter's ``datastore-N``
moids. Every call here goes through suds; the results are checked through
an independent pyvmomi connection.
"""

import functools

import fixtures
from oslo_vmware import api
from oslo_vmware import exceptions as vexc
from oslo_vmware import pbm
from oslo_vmware import rw_handles
from oslo_vmware import vim_util
from pyVmomi import vim
import requests
import testtools

from tests.functional import vcsim_vms
from tests import image_files
from tests import vcsim


class VcsimWsdlTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(hosts=2, vms=1, datastores=2)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Logged out with the simulator, at tearDownClass. The WSDL comes
        # over HTTPS from the simulator, as from a vCenter.
        cls.session = cls.vcsim.oslo_session(wsdl_loc=cls.vcsim.wsdl_url)

    def setUp(self):
        super().setUp()
        # oslo.vmware logs the faults tests provoke, with tracebacks.
        self.useFixture(fixtures.FakeLogger())
        self.si = self.vcsim.connect()

    def invoke(self, method, obj, **kwargs):
        return self.session.invoke_api(self.session.vim, method, obj,
                                       **kwargs)

    def destroy(self, entity):
        # Not a lambda: testtools compares a cleanup's result with ==,
        # which a pyvmomi Task does not survive.
        entity.Destroy_Task()

    def power_on(self, vm):
        self.session.wait_for_task(self.invoke('PowerOnVM_Task', vm))

    def vm_ref(self):
        (moid,) = vcsim.query(self.si, vim.VirtualMachine, ['name'])
        return vim_util.get_moref(moid, 'VirtualMachine')

    def test_wsdl_served_without_session(self):
        resp = requests.get(self.vcsim.wsdl_url, verify=self.vcsim.ca_file,
                            timeout=30)
        self.assertEqual(200, resp.status_code)
        self.assertIn('<service name="VimService">', resp.text)
        base = self.vcsim.wsdl_url.rsplit('/', 1)[0]
        for name in ('vim.wsdl', 'vim-messagetypes.xsd', 'vim-types.xsd',
                     'core-types.xsd', 'query-types.xsd',
                     'reflect-types.xsd'):
            resp = requests.head('%s/%s' % (base, name),
                                 verify=self.vcsim.ca_file, timeout=30)
            self.assertEqual(200, resp.status_code, name)
        for name in ('nope.wsdl', 'cert.pem', '..%2Fvim.wsdl'):
            resp = requests.get('%s/%s' % (base, name),
                                verify=self.vcsim.ca_file, timeout=30)
            self.assertEqual(404, resp.status_code, name)

    def test_session_logged_in(self):
        self.assertEqual(self.vcsim.wsdl_url,
                         self.session.vim.client.wsdl.url)
        content = self.session.vim.service_content
        self.assertEqual('VirtualCenter', content.about.apiType)
        user = self.session.invoke_api(
            vim_util, 'get_object_property', self.session.vim,
            content.sessionManager, 'currentSession')
        self.assertEqual(self.vcsim.username, user.userName)

    def test_helper_session_reads_the_wsdl_locally(self):
        session = self.vcsim.oslo_session()
        self.assertEqual(self.vcsim.wsdl_file_url,
                         session.vim.client.wsdl.url)
        mine = session.invoke_api(
            vim_util, 'get_object_property', session.vim,
            session.vim.service_content.sessionManager, 'currentSession')
        keys = [s.key for s in self.si.content.sessionManager.sessionList]
        self.assertIn(mine.key, keys)
        self.assertNotEqual(self.current_session_key(), mine.key)

    def current_session_key(self):
        content = self.session.vim.service_content
        return self.session.invoke_api(
            vim_util, 'get_object_property', self.session.vim,
            content.sessionManager, 'currentSession').key

    def test_default_wsdl_location_and_model_cache(self):
        # What glance_store and Cinder do by default: no wsdl_loc, so
        # oslo.vmware loads https://HOST:PORT/sdk/vimService.wsdl.
        self.useFixture(vcsim.SudsWsdlCache())
        fx = self.vcsim
        sessions = []
        for _ in range(2):
            session = api.VMwareAPISession(
                fx.host, fx.username, fx.password, api_retry_count=1,
                task_poll_interval=0.1, port=fx.port, cacert=fx.ca_file,
                insecure=False)
            self.addCleanup(session.logout)
            sessions.append(session.vim.client)
        self.assertEqual(fx.wsdl_url, sessions[0].wsdl.url)
        # The second session reused the first one's model of the WSDL.
        self.assertIs(sessions[0].wsdl, sessions[1].wsdl)

    def test_pbm_wsdl_comes_from_oslo_vmware(self):
        # PBM needs nothing served: oslo.vmware ships pbmService.wsdl per
        # vCenter version and loads it from its own directory.
        version = self.session.vim.service_content.about.version
        location = pbm.get_pbm_wsdl_location(version)
        self.assertTrue(location.startswith('file://'), location)
        session = self.vcsim.oslo_session(pbm_wsdl_loc=location)
        self.assertEqual(
            'https://%s:%d/pbm' % (self.vcsim.host, self.vcsim.port),
            session.pbm.client.options.location)
        self.assertTrue(session.pbm.client.factory.create(
            'ns0:PbmProfileResourceType'))

    def test_datastores_have_vcenter_moids(self):
        result = self.session.invoke_api(
            vim_util, 'get_objects', self.session.vim, 'Datastore', 100,
            ['name'])
        found = {o.obj.value: o.propSet[0].val for o in result.objects}
        self.assertEqual({'datastore-1': 'LocalDS_0',
                          'datastore-2': 'LocalDS_1'}, found)

        # Every reference to them was renamed, as pyvmomi sees it too.
        hosts = vcsim.query(self.si, vim.HostSystem, ['datastore'])
        for props in hosts.values():
            self.assertEqual(['datastore-1', 'datastore-2'],
                             sorted(d._moId for d in props['datastore']))
        (vm,) = vcsim.query(self.si, vim.VirtualMachine, [
            'datastore', 'config.hardware.device']).values()
        self.assertEqual(['datastore-1'],
                         [d._moId for d in vm['datastore']])
        backings = [d.backing.datastore._moId
                    for d in vm['config.hardware.device']
                    if isinstance(d, vim.vm.device.VirtualDisk)]
        self.assertEqual(['datastore-1'], backings)
        (dc,) = vcsim.query(self.si, vim.Datacenter, [
            'datastore', 'datastoreFolder']).values()
        self.assertEqual(['datastore-1', 'datastore-2'],
                         sorted(d._moId for d in dc['datastore']))
        # Listed once in their folder, not once per host mounting them.
        folders = vcsim.query(self.si, vim.Folder, ['childEntity'])
        children = folders[dc['datastoreFolder']._moId]['childEntity']
        self.assertEqual(['datastore-1', 'datastore-2'],
                         sorted(d._moId for d in children))

    def test_datastore_browsable_under_new_moid(self):
        ds = vim_util.get_moref('datastore-2', 'Datastore')
        browser = self.session.invoke_api(
            vim_util, 'get_object_property', self.session.vim, ds, 'browser')
        task = self.invoke('SearchDatastore_Task', browser,
                           datastorePath='[LocalDS_1]')
        info = self.session.wait_for_task(task)
        self.assertEqual('[LocalDS_1]', info.result.folderPath)

    def test_create_folder(self):
        (dc,) = vcsim.query(self.si, vim.Datacenter, ['vmFolder']).values()
        folder = vim_util.get_moref(dc['vmFolder']._moId, 'Folder')
        ref = self.invoke('CreateFolder', folder, name='wsdl-folder')
        self.addCleanup(self.destroy, vim.Folder(ref.value, self.si._stub))
        folders = vcsim.query(self.si, vim.Folder, ['name'])
        self.assertEqual('wsdl-folder', folders[ref.value]['name'])

    def test_power_task_waited(self):
        vm = self.vm_ref()
        self.session.wait_for_task(self.invoke('PowerOffVM_Task', vm))
        self.addCleanup(self.power_on, vm)
        (props,) = vcsim.query(self.si, vim.VirtualMachine,
                               ['runtime.powerState']).values()
        self.assertEqual('poweredOff', props['runtime.powerState'])

    def test_create_disk_task(self):
        """A vSphere 6.5 method: a First Class Disk."""
        content = self.session.vim.service_content
        factory = self.session.vim.client.factory
        spec = factory.create('ns0:VslmCreateSpec')
        spec.name = 'wsdl-fcd'
        spec.capacityInMB = 16
        backing = factory.create('ns0:VslmCreateSpecDiskFileBackingSpec')
        backing.datastore = vim_util.get_moref('datastore-1', 'Datastore')
        backing.provisioningType = 'thin'
        spec.backingSpec = backing
        task = self.invoke('CreateDisk_Task',
                           content.vStorageObjectManager, spec=spec)
        disk = self.session.wait_for_task(task).result
        self.assertEqual('wsdl-fcd', disk.config.name)
        self.assertEqual(16, disk.config.capacityInMB)

        # "<fcd id>@<datastore moid>", as Cinder's FCD driver stores it.
        location = '%s@%s' % (disk.config.id.id,
                              disk.config.backing.datastore.value)
        fcd_id, ds_moid = location.split('@')
        ds = vim.Datastore(ds_moid, self.si._stub)
        manager = vim.vslm.vcenter.VStorageObjectManager(
            content.vStorageObjectManager.value, self.si._stub)
        seen = manager.RetrieveVStorageObject(vim.vslm.ID(id=fcd_id), ds)
        self.assertEqual('wsdl-fcd', seen.config.name)
        self.assertEqual('datastore-1', ds_moid)

    def test_remove_snapshot_with_consolidate(self):
        vm = self.vm_ref()
        task = self.invoke('CreateSnapshot_Task', vm, name='wsdl-snap',
                           memory=False, quiesce=False)
        snapshot = self.session.wait_for_task(task).result
        task = self.invoke('RemoveSnapshot_Task', snapshot,
                           removeChildren=False, consolidate=True)
        self.assertEqual('success', self.session.wait_for_task(task).state)
        (props,) = vcsim.query(self.si, vim.VirtualMachine,
                               ['snapshot']).values()
        self.assertNotIn('snapshot', props)

    # What glance_store's VMware store and Cinder's VMDK driver send: specs
    # whose polymorphic members suds marks with xsi:type.
    def test_glance_store_file_calls(self):
        content = self.session.vim.service_content
        dc = self.invoke('FindByInventoryPath', content.searchIndex,
                         inventoryPath='DC0')
        self.invoke('MakeDirectory', content.fileManager,
                    name='[LocalDS_0] images/sub', datacenter=dc,
                    createParentDirectories=True)
        self.addCleanup(self.delete_file, '[LocalDS_0] images')
        cookie = list(self.session.vim.client.cookiejar)[0]
        resp = requests.put(
            vcsim.datastore_url(self.vcsim, 'images/sub/image.vmdk'),
            data=b'x' * 512, verify=self.vcsim.ca_file, timeout=30,
            headers={'Cookie': '%s=%s' % (cookie.name, cookie.value)})
        self.assertEqual(200, resp.status_code)

        factory = self.session.vim.client.factory
        spec = factory.create('ns0:HostDatastoreBrowserSearchSpec')
        spec.matchPattern = ['image.vmdk']
        # suds leaves out an empty FileQuery (no xsi:type, no fields):
        # subtypes only.
        spec.query = [factory.create('ns0:FolderFileQuery'),
                      factory.create('ns0:VmDiskFileQuery')]
        spec.details = factory.create('ns0:FileQueryFlags')
        spec.details.fileSize = True
        spec.details.fileType = True
        spec.details.modification = False
        spec.details.fileOwner = False
        browser = self.session.invoke_api(
            vim_util, 'get_object_property', self.session.vim,
            vim_util.get_moref('datastore-1', 'Datastore'), 'browser')
        task = self.invoke('SearchDatastore_Task', browser,
                           datastorePath='[LocalDS_0] images/sub',
                           searchSpec=spec)
        result = self.session.wait_for_task(task).result
        self.assertEqual([('image.vmdk', 512)],
                         [(f.path, f.fileSize) for f in result.file])

        self.assertRaises(
            vexc.FileAlreadyExistsException, self.invoke, 'MakeDirectory',
            content.fileManager, name='[LocalDS_0] images/sub',
            datacenter=dc, createParentDirectories=False)
        self.delete_file('[LocalDS_0] images/sub/image.vmdk')
        self.assertRaises(vexc.FileNotFoundException, self.delete_file,
                          '[LocalDS_0] images/sub/image.vmdk')

    def delete_file(self, name):
        content = self.session.vim.service_content
        dc = self.invoke('FindByInventoryPath', content.searchIndex,
                         inventoryPath='DC0')
        self.session.wait_for_task(self.invoke(
            'DeleteDatastoreFile_Task', content.fileManager, name=name,
            datacenter=dc))

    def test_generic_service_ticket(self):
        content = self.session.vim.service_content
        spec = self.session.vim.client.factory.create(
            'ns0:SessionManagerHttpServiceRequestSpec')
        spec.url = vcsim.datastore_url(self.vcsim, 'x.vmdk')
        spec.method = 'httpPut'
        ticket = self.invoke('AcquireGenericServiceTicket',
                             content.sessionManager, spec=spec)
        # The ticket admits that PUT (so suds sent the url and method
        # vcsim understood), once.
        put = functools.partial(
            requests.put, spec.url, data=b'x' * 512, timeout=30,
            verify=self.vcsim.ca_file,
            headers={'Cookie': 'vmware_cgi_ticket=%s' % ticket.id})
        self.assertEqual(200, put().status_code)
        self.addCleanup(self.delete_file, '[LocalDS_0] x.vmdk')
        self.assertEqual(401, put().status_code)

    def test_disk_specs_with_subtypes(self):
        content = self.session.vim.service_content
        factory = self.session.vim.client.factory
        dc = self.invoke('FindByInventoryPath', content.searchIndex,
                         inventoryPath='DC0')
        spec = factory.create('ns0:FileBackedVirtualDiskSpec')
        spec.diskType = 'thin'
        spec.adapterType = 'lsiLogic'
        spec.capacityKb = 1024
        task = self.invoke('CreateVirtualDisk_Task',
                           content.virtualDiskManager,
                           name='[LocalDS_1] wsdl-disk.vmdk', datacenter=dc,
                           spec=spec)
        self.addCleanup(self.delete_file, '[LocalDS_1] wsdl-disk.vmdk')
        self.assertEqual('[LocalDS_1] wsdl-disk.vmdk',
                         self.session.wait_for_task(task).result)

        change = factory.create('ns0:VirtualDeviceConfigSpec')
        change.operation = 'add'
        change.device = factory.create('ns0:VirtualDisk')
        change.device.key = -100
        change.device.controllerKey = 1000
        change.device.unitNumber = 5
        change.device.backing = factory.create(
            'ns0:VirtualDiskFlatVer2BackingInfo')
        change.device.backing.fileName = '[LocalDS_1] wsdl-disk.vmdk'
        change.device.backing.diskMode = 'persistent'
        config = factory.create('ns0:VirtualMachineConfigSpec')
        config.deviceChange = [change]
        vm = self.vm_ref()
        self.session.wait_for_task(
            self.invoke('ReconfigVM_Task', vm, spec=config))
        (props,) = vcsim.query(self.si, vim.VirtualMachine,
                               ['config.hardware.device']).values()
        added = [d for d in props['config.hardware.device']
                 if isinstance(d, vim.vm.device.VirtualDisk)
                 and d.backing.fileName == '[LocalDS_1] wsdl-disk.vmdk']
        self.assertEqual(['datastore-2'],
                         [d.backing.datastore._moId for d in added])
        self.addCleanup(self.remove_device, vm, added[0].key)

    def remove_device(self, vm, key):
        pvm = vim.VirtualMachine(vm.value, self.si._stub)
        (device,) = [d for d in pvm.config.hardware.device if d.key == key]
        spec = vim.vm.ConfigSpec(deviceChange=[
            vim.vm.device.VirtualDeviceSpec(operation='remove',
                                            device=device)])
        vcsim_vms.wait(self.si, pvm.ReconfigVM_Task(spec))

    def test_stream_optimized_import_and_export(self):
        """Cinder's copy of a streamOptimized image to a volume and back:
        oslo.vmware's NFC handles over ImportVApp and ExportVm."""
        factory = self.session.vim.client.factory
        config = factory.create('ns0:VirtualMachineConfigSpec')
        config.name = 'wsdl-import'
        config.guestId = 'otherGuest'
        config.files = factory.create('ns0:VirtualMachineFileInfo')
        config.files.vmPathName = '[LocalDS_0]'
        controller = factory.create('ns0:VirtualDeviceConfigSpec')
        controller.operation = 'add'
        controller.device = factory.create('ns0:VirtualLsiLogicController')
        controller.device.key = -100
        controller.device.busNumber = 0
        controller.device.sharedBus = 'noSharing'
        disk = factory.create('ns0:VirtualDeviceConfigSpec')
        disk.operation = 'add'
        disk.fileOperation = 'create'
        disk.device = factory.create('ns0:VirtualDisk')
        disk.device.key = -101
        disk.device.controllerKey = -100
        disk.device.unitNumber = 0
        disk.device.capacityInKB = 1024
        disk.device.backing = factory.create(
            'ns0:VirtualDiskFlatVer2BackingInfo')
        disk.device.backing.fileName = ''
        disk.device.backing.diskMode = 'persistent'
        disk.device.backing.thinProvisioned = True
        config.deviceChange = [controller, disk]
        spec = factory.create('ns0:VirtualMachineImportSpec')
        spec.configSpec = config

        (dc,) = vcsim.query(self.si, vim.Datacenter, ['vmFolder']).values()
        (cluster,) = vcsim.query(self.si, vim.ClusterComputeResource,
                                 ['resourcePool']).values()
        image = image_files.stream_optimized()
        handle = rw_handles.VmdkWriteHandle(
            self.session, self.vcsim.host, self.vcsim.port,
            vim_util.get_moref(cluster['resourcePool']._moId,
                               'ResourcePool'),
            vim_util.get_moref(dc['vmFolder']._moId, 'Folder'),
            spec, len(image), http_method='POST')
        handle.write(image)
        handle.update_progress()
        handle.close()
        vm = handle.get_imported_vm()
        self.addCleanup(self.destroy, vim.VirtualMachine(vm.value,
                                                         self.si._stub))
        found = vcsim.query(self.si, vim.VirtualMachine, [
            'name', 'config.hardware.device'])[vm.value]
        self.assertEqual('wsdl-import', found['name'])
        disks = [d for d in found['config.hardware.device']
                 if isinstance(d, vim.vm.device.VirtualDisk)]
        self.assertEqual(['datastore-1'],
                         [d.backing.datastore._moId for d in disks])

        reader = rw_handles.VmdkReadHandle(
            self.session, self.vcsim.host, self.vcsim.port, vm, None,
            len(image))
        exported = b''
        for chunk in iter(lambda: reader.read(65536), b''):
            exported += chunk
        reader.close()
        self.assertEqual(b'KDMV', exported[:4])


class VcsimDatastoreIdsTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """Datastores of several datacenters get distinct datastore-N moids,
    numbered by datacenter and name."""

    VCSIM_SHAPE = dict(datacenters=2, hosts=1, datastores=11, portgroups=0)

    def test_moids_numbered_per_datacenter_and_name(self):
        si = self.vcsim.connect()
        stores = vcsim.query(si, vim.Datastore, ['name'])
        dcs = vcsim.query(si, vim.Datacenter, ['name', 'datastore'])
        found = {(props['name'], stores[d._moId]['name']): d._moId
                 for props in dcs.values() for d in props['datastore']}
        expected = {}
        for n, dc in enumerate(('DC0', 'DC1')):
            for i in range(11):
                expected[(dc, 'LocalDS_%d' % i)] = (
                    'datastore-%d' % (n * 11 + i + 1))
        self.assertEqual(expected, found)
        self.assertEqual(sorted(expected.values()), sorted(stores))
