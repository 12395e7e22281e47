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

from oslo_vmware import vim_util
from pyVmomi import vim
import requests
import testtools

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
        (dc,) = vcsim.query(self.si, vim.Datacenter, ['datastore']).values()
        self.assertEqual(['datastore-1', 'datastore-2'],
                         sorted(d._moId for d in dc['datastore']))

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
