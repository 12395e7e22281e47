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

"""vcsim fidelity: the PropertyCollector and datastores.

Each test states the vSphere behaviour our simulator (tools/vcsim, files
pc_*.go and ds_*.go) restores and fails against the stock vcsim of govmomi
0.24.2, except the few marked as guards (behaviour stock vcsim already had,
which the replacements must keep). pyvmomi only: reads go through the
PropertyCollector (``read_props``, ``tests.vcsim.query``) unless Fetch itself
is tested.
"""

from pyVmomi import vim
from pyVmomi import vmodl
import requests
import testtools

from tests.functional.vcsim_props import PC
from tests.functional.vcsim_props import read_props
from tests.functional.vcsim_props import view_spec
from tests.functional.vcsim_props import wait_task
from tests import vcsim


def _recursive_traversal_spec():
    """The classic recursive traversal from the root folder to every
    inventory object, built as oslo.vmware's vim_util
    build_recursive_traversal_spec builds it: one visitFolders spec whose
    selectSet holds the other specs, some of them referring to each other
    by name before they are defined.

    Applied without regard to type (stock vcsim), rp_to_vm's selection of
    rp_to_rp reads the resourcePool of each VM, which lists the VM again,
    and so on until the stack overflows.
    """
    def sel(name):
        return PC.SelectionSpec(name=name)

    def trav(name, vimtype, path, select=()):
        return PC.TraversalSpec(name=name, type=vimtype, path=path,
                                skip=False, selectSet=list(select))

    visit = sel('visitFolders')
    rp_select = [sel('rp_to_rp'), sel('rp_to_vm')]
    return trav('visitFolders', vim.Folder, 'childEntity', [
        visit,
        trav('h_to_vm', vim.HostSystem, 'vm', [visit]),
        trav('dc_to_hf', vim.Datacenter, 'hostFolder', [visit]),
        trav('dc_to_vmf', vim.Datacenter, 'vmFolder', [visit]),
        trav('dc_to_netf', vim.Datacenter, 'networkFolder', [visit]),
        trav('dc_to_df', vim.Datacenter, 'datastoreFolder', [visit]),
        trav('cr_to_ds', vim.ComputeResource, 'datastore'),
        trav('cr_to_h', vim.ComputeResource, 'host'),
        trav('cr_to_rp', vim.ComputeResource, 'resourcePool', rp_select),
        trav('ccr_to_h', vim.ClusterComputeResource, 'host'),
        trav('ccr_to_ds', vim.ClusterComputeResource, 'datastore'),
        trav('ccr_to_rp', vim.ClusterComputeResource, 'resourcePool',
             rp_select),
        trav('rp_to_rp', vim.ResourcePool, 'resourcePool', rp_select),
        trav('rp_to_vm', vim.ResourcePool, 'vm', rp_select),
    ])


class PagingTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """RetrievePropertiesEx pages: at most options.maxObjects objects per
    result, a token to ContinueRetrievePropertiesEx with, each token good
    once, on the collector (and so the session) that returned it."""

    VCSIM_SHAPE = dict(hosts=2, vms=25, portgroups=0)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.content = self.si.RetrieveContent()
        self.view = self.content.viewManager.CreateContainerView(
            self.content.rootFolder, [vim.VirtualMachine], True)
        self.addCleanup(self.view.Destroy)
        self.spec = view_spec(self.view, vim.VirtualMachine, ['name'])

    def _page(self, collector, size):
        return collector.RetrievePropertiesEx(
            [self.spec], PC.RetrieveOptions(maxObjects=size))

    def test_max_objects_pages_with_tokens(self):
        collector = self.content.propertyCollector
        result = self._page(collector, 10)
        sizes, seen, tokens = [], [], []
        while True:
            sizes.append(len(result.objects))
            seen.extend(o.obj._moId for o in result.objects)
            if not result.token:
                break
            tokens.append(result.token)
            result = collector.ContinueRetrievePropertiesEx(result.token)
        self.assertEqual([10, 10, 5], sizes)
        self.assertEqual(2, len(set(tokens)))
        self.assertEqual(25, len(set(seen)))
        self.assertEqual(
            set(vcsim.query(self.si, vim.VirtualMachine, ['name'])),
            set(seen))

    def test_without_max_objects_all_at_once(self):
        # Guard: no maxObjects, no paging.
        result = self.content.propertyCollector.RetrievePropertiesEx(
            [self.spec], PC.RetrieveOptions())
        self.assertEqual(25, len(result.objects))
        self.assertIsNone(result.token)

    def test_unknown_and_used_tokens_are_invalid_arguments(self):
        collector = self.content.propertyCollector
        self.assertRaises(vmodl.fault.InvalidArgument,
                          collector.ContinueRetrievePropertiesEx, 'nope')
        self.assertRaises(vmodl.fault.InvalidArgument,
                          collector.CancelRetrievePropertiesEx, 'nope')
        first = self._page(collector, 20)
        collector.ContinueRetrievePropertiesEx(first.token)
        # A token is good for one call only.
        self.assertRaises(vmodl.fault.InvalidArgument,
                          collector.ContinueRetrievePropertiesEx, first.token)

    def test_cancel_discards_the_rest(self):
        collector = self.content.propertyCollector
        first = self._page(collector, 10)
        collector.CancelRetrievePropertiesEx(first.token)
        self.assertRaises(vmodl.fault.InvalidArgument,
                          collector.ContinueRetrievePropertiesEx, first.token)

    def test_created_collector_pages_and_keeps_its_tokens(self):
        created = self.content.propertyCollector.CreatePropertyCollector()
        self.addCleanup(created.DestroyPropertyCollector)
        first = self._page(created, 20)
        self.assertEqual(20, len(first.objects))
        # Not a token of the session's own collector.
        self.assertRaises(vmodl.fault.InvalidArgument,
                          self.content.propertyCollector
                          .ContinueRetrievePropertiesEx, first.token)
        rest = created.ContinueRetrievePropertiesEx(first.token)
        self.assertEqual(5, len(rest.objects))
        self.assertIsNone(rest.token)

    def test_tokens_belong_to_their_session(self):
        first = self._page(self.content.propertyCollector, 10)
        other = self.vcsim.connect().RetrieveContent()
        self.assertRaises(vmodl.fault.InvalidArgument,
                          other.propertyCollector.ContinueRetrievePropertiesEx,
                          first.token)
        # Still good in its own session.
        rest = self.content.propertyCollector.ContinueRetrievePropertiesEx(
            first.token)
        self.assertEqual(10, len(rest.objects))

    def test_filters_still_report_updates(self):
        # Guard: CreateFilter/WaitForUpdatesEx (the stock ones) work on the
        # session's collector and on created ones alike.
        moids = sorted(vcsim.query(self.si, vim.VirtualMachine, ['name']))
        created = self.content.propertyCollector.CreatePropertyCollector()
        self.addCleanup(created.DestroyPropertyCollector)
        for collector, moid in ((self.content.propertyCollector, moids[0]),
                                (created, moids[1])):
            vm = vim.VirtualMachine(moid, self.si._stub)
            pfilter = collector.CreateFilter(PC.FilterSpec(
                objectSet=[PC.ObjectSpec(obj=vm)],
                propSet=[PC.PropertySpec(type=vim.VirtualMachine,
                                         pathSet=['runtime.powerState'])]),
                partialUpdates=False)
            self.addCleanup(pfilter.Destroy)
            options = PC.WaitOptions(maxWaitSeconds=10)
            update = collector.WaitForUpdatesEx('', options)
            change = update.filterSet[0].objectSet[0].changeSet[0]
            self.assertEqual('poweredOn', change.val)
            wait_task(self.si, vm.PowerOffVM_Task())
            update = collector.WaitForUpdatesEx(update.version, options)
            change = update.filterSet[0].objectSet[0].changeSet[0]
            self.assertEqual('poweredOff', change.val)


class FetchTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """pyvmomi's lazy attribute reads (the Fetch method) of an unset
    property return None, and the connection stays usable, as on vCenter
    (stock vcsim panics and drops the connection)."""

    VCSIM_SHAPE = dict(hosts=1, vms=1, portgroups=0)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        vms = vcsim.query(self.si, vim.VirtualMachine, ['name'])
        self.moid, props = sorted(vms.items())[0]
        self.name = props['name']

    def test_unset_properties_read_as_none(self):
        vm = vim.VirtualMachine(self.moid, self.si._stub)
        self.assertIsNone(vm.snapshot)
        self.assertIsNone(vm.parentVApp)
        # The same connection still answers.
        self.assertEqual(self.name, vm.name)
        self.assertEqual('poweredOn', vm.runtime.powerState)

    def test_set_properties_read_as_values(self):
        # Guard: Fetch of set properties.
        vm = vim.VirtualMachine(self.moid, self.si._stub)
        self.assertEqual(self.name, vm.name)
        self.assertIsInstance(vm.resourcePool, vim.ResourcePool)
        self.assertTrue(vm.datastore)
        self.assertIsInstance(vm.config, vim.vm.ConfigInfo)

    def test_fetch_through_a_super_type(self):
        entity = vim.ManagedEntity(self.moid, self.si._stub)
        self.assertEqual(self.name, entity.name)
        self.assertIsNone(vim.VirtualMachine(self.moid,
                                             self.si._stub).snapshot)


class TraversalTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """A TraversalSpec applies only to objects of its type (or a subtype),
    so the classic recursive traversal terminates with the inventory (stock
    vcsim ignores the type and recurses until its stack overflows)."""

    VCSIM_SHAPE = dict(clusters=1, hosts=2, standalone_hosts=1, vms=3,
                       datastores=2, portgroups=1)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.content = self.si.RetrieveContent()

    def _retrieve(self, select_set, vimtypes, obj=None, skip=False):
        spec = PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=obj or self.content.rootFolder,
                                     skip=skip, selectSet=select_set)],
            propSet=[PC.PropertySpec(type=t, pathSet=['name'])
                     for t in vimtypes])
        result = self.content.propertyCollector.RetrievePropertiesEx(
            [spec], PC.RetrieveOptions())
        found = {}
        while result is not None:
            for o in result.objects:
                found[o.obj._moId] = type(o.obj)
            if not result.token:
                break
            result = self.content.propertyCollector \
                .ContinueRetrievePropertiesEx(result.token)
        return found

    def test_recursive_traversal_finds_the_inventory(self):
        vimtypes = [vim.VirtualMachine, vim.HostSystem, vim.Datastore,
                    vim.ResourcePool, vim.ComputeResource, vim.Datacenter,
                    vim.Network]
        found = self._retrieve([_recursive_traversal_spec()], vimtypes)
        for vimtype in vimtypes:
            expected = set(vcsim.query(self.si, vimtype, ['name']))
            self.assertTrue(expected, vimtype)
            self.assertEqual(
                expected, {m for m, t in found.items()
                           if issubclass(t, vimtype)}, vimtype)

    def test_spec_of_another_type_is_not_applied(self):
        # VirtualMachine and ComputeResource both have a resourcePool
        # property: a ComputeResource spec does not apply to a VM.
        moid = sorted(vcsim.query(self.si, vim.VirtualMachine, ['name']))[0]
        vm = vim.VirtualMachine(moid, self.si._stub)
        pool = read_props(self.si, vm, ['resourcePool'])['resourcePool']
        for vimtype, expected in ((vim.ComputeResource, {}),
                                  (vim.VirtualMachine,
                                   {pool._moId: vim.ResourcePool})):
            spec = PC.TraversalSpec(name='x', type=vimtype,
                                    path='resourcePool', skip=False)
            self.assertEqual(
                expected,
                self._retrieve([spec], [vim.ResourcePool], obj=vm,
                               skip=True),
                vimtype)
        # A path is a property of the spec's type: ManagedEntity (which
        # the VM is) has no resourcePool.
        spec = PC.TraversalSpec(name='x', type=vim.ManagedEntity,
                                path='resourcePool', skip=False)
        self.assertRaises(vmodl.query.InvalidProperty, self._retrieve,
                          [spec], [vim.ResourcePool], obj=vm, skip=True)

    def test_spec_type_matches_subtypes(self):
        # Guard: ComputeResource specs apply to ClusterComputeResources.
        hosts = PC.TraversalSpec(name='h', type=vim.ComputeResource,
                                 path='host', skip=False)
        to_cr = PC.TraversalSpec(name='f', type=vim.Folder,
                                 path='childEntity', skip=True,
                                 selectSet=[PC.SelectionSpec(name='f'),
                                            hosts])
        dc_to_hf = PC.TraversalSpec(name='d', type=vim.Datacenter,
                                    path='hostFolder', skip=True,
                                    selectSet=[to_cr])
        found = self._retrieve(
            [PC.TraversalSpec(name='r', type=vim.Folder, path='childEntity',
                              skip=True, selectSet=[dc_to_hf])],
            [vim.HostSystem], skip=True)
        self.assertEqual(
            set(vcsim.query(self.si, vim.HostSystem, ['name'])), set(found))

    def test_undefined_selection_spec_name_is_invalid_argument(self):
        # Guard: a SelectionSpec names a TraversalSpec of the filter.
        spec = PC.TraversalSpec(name='a', type=vim.Folder,
                                path='childEntity', skip=False,
                                selectSet=[PC.SelectionSpec(name='nope')])
        self.assertRaises(vmodl.fault.InvalidArgument, self._retrieve,
                          [spec], [vim.Datacenter])

    def test_no_match_is_no_result(self):
        # vCenter answers without a RetrieveResult when nothing matches.
        spec = PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=self.content.rootFolder)],
            propSet=[PC.PropertySpec(type=vim.VirtualMachine,
                                     pathSet=['name'])])
        self.assertIsNone(
            self.content.propertyCollector.RetrievePropertiesEx(
                [spec], PC.RetrieveOptions()))


class DatastoreTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """Datastores as vCenter reports them, and datastore browser searches
    and FileManager.MakeDirectory as vSphere does them."""

    VCSIM_SHAPE = dict(hosts=2, vms=1, datastores=2, portgroups=0)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.content = self.si.RetrieveContent()
        dc = sorted(vcsim.query(self.si, vim.Datacenter, ['name']))[0]
        self.dc = vim.Datacenter(dc, self.si._stub)
        stores = vcsim.query(self.si, vim.Datastore,
                             ['name', 'browser', 'summary', 'info', 'host'])
        self.stores = {p['name']: p for p in stores.values()}
        self.browser = self.stores['LocalDS_1']['browser']
        # A fresh folder per test on LocalDS_1 (the VM lives on LocalDS_0).
        self.top = self.id().rsplit('.', 1)[-1]
        self.mkdir(self.top)

    def mkdir(self, path, parents=True):
        self.content.fileManager.MakeDirectory(
            '[LocalDS_1] ' + path, self.dc, parents)

    def put(self, path, data=b'x'):
        resp = requests.put(
            vcsim.datastore_url(self.vcsim, path, datastore='LocalDS_1'),
            data=data, verify=self.vcsim.ca_file,
            headers={'Cookie': vcsim.session_cookie(self.si)}, timeout=30)
        resp.raise_for_status()

    def search(self, path, spec=None, sub_folders=False):
        method = (self.browser.SearchDatastoreSubFolders_Task if sub_folders
                  else self.browser.SearchDatastore_Task)
        if spec is None:
            task = method('[LocalDS_1] ' + path)
        else:
            task = method('[LocalDS_1] ' + path, spec)
        return wait_task(self.si, task)

    def test_local_datastores_are_vmfs(self):
        for name, props in self.stores.items():
            summary, info = props['summary'], props['info']
            self.assertEqual('VMFS', summary.type, name)
            self.assertIsInstance(info, vim.host.VmfsDatastoreInfo, name)
            self.assertEqual('VMFS', info.vmfs.type)
            self.assertEqual(name, info.vmfs.name)
            self.assertEqual(summary.capacity, info.vmfs.capacity)
            self.assertTrue(info.vmfs.uuid)
            self.assertTrue(info.vmfs.extent)
            self.assertTrue(summary.multipleHostAccess)
            for mount in props['host']:
                self.assertEqual('/vmfs/volumes/' + info.vmfs.uuid,
                                 mount.mountInfo.path)
        uuids = {p['info'].vmfs.uuid for p in self.stores.values()}
        self.assertEqual(len(self.stores), len(uuids))

    def test_search_without_match_pattern_returns_every_file(self):
        self.mkdir(self.top + '/sub')
        self.put(self.top + '/disk.vmdk')
        self.put(self.top + '/notes.txt')
        info = self.search(self.top,
                           vim.host.DatastoreBrowser.SearchSpec())
        self.assertEqual('success', info.state)
        self.assertEqual({'sub', 'disk.vmdk', 'notes.txt'},
                         {f.path for f in info.result.file})
        self.assertEqual('[LocalDS_1] ' + self.top, info.result.folderPath)

    def test_search_without_search_spec_returns_every_file(self):
        # Nova lists its image cache folders this way.
        self.mkdir(self.top + '/a')
        self.mkdir(self.top + '/b')
        info = self.search(self.top)
        self.assertEqual('success', info.state)
        self.assertEqual({'a', 'b'}, {f.path for f in info.result.file})
        for f in info.result.file:
            self.assertIsInstance(f, vim.host.DatastoreBrowser.FolderInfo)

    def test_search_match_pattern_and_query(self):
        self.put(self.top + '/disk.vmdk')
        self.put(self.top + '/disk-flat.vmdk')
        self.put(self.top + '/vm.vmx')
        spec = vim.host.DatastoreBrowser.SearchSpec(matchPattern=['*.vmx'])
        info = self.search(self.top, spec)
        self.assertEqual(['vm.vmx'], [f.path for f in info.result.file])
        # A disk query lists descriptors, not extents, as VmDiskInfo.
        spec = vim.host.DatastoreBrowser.SearchSpec(
            query=[vim.host.DatastoreBrowser.VmDiskQuery()],
            details=vim.host.DatastoreBrowser.FileInfo.Details(
                fileSize=True, fileType=True, modification=True))
        info = self.search(self.top, spec)
        self.assertEqual(['disk.vmdk'], [f.path for f in info.result.file])
        self.assertIsInstance(info.result.file[0],
                              vim.host.DatastoreBrowser.VmDiskInfo)
        self.assertEqual(1, info.result.file[0].fileSize)
        self.assertIsNotNone(info.result.file[0].modification)

    def test_search_of_a_missing_folder_is_file_not_found(self):
        # Guard: the search is ours now; a missing folder still fails.
        info = self.search(self.top + '/nope',
                           vim.host.DatastoreBrowser.SearchSpec())
        self.assertEqual('error', info.state)
        self.assertIsInstance(info.error, vim.fault.FileNotFound)

    def test_search_sub_folders_names_folders_as_datastore_paths(self):
        self.mkdir(self.top + '/a/b')
        self.put(self.top + '/a/b/f.txt')
        info = self.search(self.top, vim.host.DatastoreBrowser.SearchSpec(),
                           sub_folders=True)
        self.assertEqual('success', info.state)
        by_folder = {r.folderPath: sorted(f.path for f in r.file or ())
                     for r in info.result}
        top = '[LocalDS_1] ' + self.top
        self.assertEqual({top: ['a'], top + '/a': ['b'],
                          top + '/a/b': ['f.txt']}, by_folder)

    def test_make_directory_of_existing_directory_fails(self):
        self.mkdir(self.top + '/x/y')
        for parents in (True, False):
            e = self.assertRaises(vim.fault.FileAlreadyExists, self.mkdir,
                                  self.top + '/x/y', parents)
            self.assertEqual('[LocalDS_1] %s/x/y' % self.top, e.file)
        # A file of that name exists too.
        self.put(self.top + '/file')
        self.assertRaises(vim.fault.FileAlreadyExists, self.mkdir,
                          self.top + '/file', True)
        # New directories are still made, parents included.
        self.mkdir(self.top + '/x/y/z/w', True)
        info = self.search(self.top + '/x/y/z')
        self.assertEqual(['w'], [f.path for f in info.result.file])
