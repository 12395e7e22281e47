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

"""vcsim fidelity: where a VM is (RelocateVM_Task, MarkAsVirtualMachine)
and keyed property paths.

Each test states the vSphere behaviour our simulator (tools/vcsim, files
ds_relocate.go, ds_placement.go, ds_move.go, ds_layout.go and pc_keyed.go)
restores and fails against the stock vcsim of govmomi 0.24.2, except the
few marked as guards.
"""

from pyVim import task as task_util
from pyVmomi import vim
from pyVmomi import vmodl
import requests
import testtools

from tests.functional.vcsim_props import PC
from tests.functional.vcsim_props import read_props
from tests.functional.vcsim_props import view_spec
from tests.functional.vcsim_props import wait_task
from tests import vcsim


class PlacementTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """RelocateVM_Task and MarkAsVirtualMachine keep HostSystem.vm,
    ResourcePool.vm, Datastore.vm and ContainerViews consistent with where
    the VM is, and a relocation to another datastore moves the VM's files,
    as vSphere does (stock vcsim only changes the VM's own properties)."""

    VCSIM_SHAPE = dict(clusters=1, hosts=2, standalone_hosts=1, vms=3,
                       datastores=2, portgroups=0)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.content = self.si.RetrieveContent()

    def by_name(self, vimtype, name):
        for moid, props in vcsim.query(self.si, vimtype, ['name']).items():
            if props['name'] == name:
                return vimtype(moid, self.si._stub)
        raise AssertionError('no %s %s' % (vimtype.__name__, name))

    def vm_lists(self, vm):
        """Which hosts, pools and datastores list the VM."""
        found = set()
        for vimtype in (vim.HostSystem, vim.ResourcePool, vim.Datastore):
            for moid, props in vcsim.query(self.si, vimtype,
                                           ['name', 'vm']).items():
                if vm._moId in {v._moId for v in props.get('vm', ())}:
                    found.add((vimtype.__name__.split('.')[-1], moid))
        return found

    def view(self, container):
        view = self.content.viewManager.CreateContainerView(
            container, [vim.VirtualMachine], True)
        self.addCleanup(view.Destroy)
        return view

    def in_view(self, view, vm):
        spec = view_spec(view, vim.VirtualMachine, ['name'])
        result = self.content.propertyCollector.RetrievePropertiesEx(
            [spec], PC.RetrieveOptions())
        return vm._moId in {o.obj._moId for o in
                            (result.objects if result else ())}

    def ds_file_exists(self, datastore, path):
        resp = requests.head(
            vcsim.datastore_url(self.vcsim, path, datastore=datastore),
            verify=self.vcsim.ca_file, timeout=30,
            headers={'Cookie': vcsim.session_cookie(self.si)})
        return resp.status_code == 200

    def relocate(self, vm, **spec):
        info = wait_task(self.si,
                         vm.RelocateVM_Task(vim.vm.RelocateSpec(**spec)))
        self.assertEqual('success', info.state, info.error)

    def test_relocate_to_another_host(self):
        vm = self.by_name(vim.VirtualMachine, 'DC0_C0_RP0_VM0')
        props = read_props(self.si, vm, ['runtime.host', 'resourcePool'])
        old = props['runtime.host']
        new = [vim.HostSystem(m, self.si._stub) for m in
               vcsim.query(self.si, vim.HostSystem, ['name'])
               if m != old._moId and self.by_name(
                   vim.HostSystem, 'DC0_H0')._moId != m][0]
        old_view, new_view = self.view(old), self.view(new)
        self.assertTrue(self.in_view(old_view, vm))
        self.assertFalse(self.in_view(new_view, vm))

        self.relocate(vm, host=new)

        now = read_props(self.si, vm, ['runtime.host', 'summary.runtime.host',
                                       'resourcePool'])
        self.assertEqual(new, now['runtime.host'])
        self.assertEqual(new, now['summary.runtime.host'])
        self.assertEqual(props['resourcePool'], now['resourcePool'])
        lists = self.vm_lists(vm)
        self.assertIn(('HostSystem', new._moId), lists)
        self.assertNotIn(('HostSystem', old._moId), lists)
        self.assertIn(('ResourcePool', props['resourcePool']._moId), lists)
        # Views made before the move follow it.
        self.assertFalse(self.in_view(old_view, vm))
        self.assertTrue(self.in_view(new_view, vm))

        # Once destroyed, no host lists it any more.
        wait_task(self.si, vm.PowerOffVM_Task())
        self.assertEqual('success',
                         wait_task(self.si, vm.Destroy_Task()).state)
        self.assertEqual(set(), self.vm_lists(vm))

    def test_relocate_to_another_datastore_moves_its_files(self):
        vm = self.by_name(vim.VirtualMachine, 'DC0_C0_RP0_VM1')
        ds0 = self.by_name(vim.Datastore, 'LocalDS_0')
        ds1 = self.by_name(vim.Datastore, 'LocalDS_1')
        before = read_props(self.si, vm, ['config.files.vmPathName'])
        self.assertTrue(before['config.files.vmPathName'].startswith(
            '[LocalDS_0] DC0_C0_RP0_VM1/'))
        self.assertTrue(self.ds_file_exists(
            'LocalDS_0', 'DC0_C0_RP0_VM1/DC0_C0_RP0_VM1.vmx'))

        self.relocate(vm, datastore=ds1)

        props = read_props(self.si, vm, [
            'datastore', 'config.files', 'summary.config.vmPathName',
            'config.hardware.device', 'layoutEx.file',
            'storage.perDatastoreUsage'])
        vmx = '[LocalDS_1] DC0_C0_RP0_VM1/DC0_C0_RP0_VM1.vmx'
        self.assertEqual([ds1], list(props['datastore']))
        self.assertEqual(vmx, props['config.files'].vmPathName)
        self.assertEqual(vmx, props['summary.config.vmPathName'])
        self.assertEqual('[LocalDS_1] DC0_C0_RP0_VM1',
                         props['config.files'].logDirectory)
        disks = [d for d in props['config.hardware.device']
                 if isinstance(d, vim.vm.device.VirtualDisk)]
        self.assertTrue(disks)
        for disk in disks:
            self.assertTrue(disk.backing.fileName.startswith(
                '[LocalDS_1] DC0_C0_RP0_VM1/'), disk.backing.fileName)
            self.assertEqual(ds1, disk.backing.datastore)
        names = {f.name for f in props['layoutEx.file']}
        self.assertIn(vmx, names)
        for disk in disks:
            self.assertIn(disk.backing.fileName, names)
        for name in names:
            self.assertTrue(name.startswith('[LocalDS_1] DC0_C0_RP0_VM1/'),
                            name)
        self.assertEqual([ds1], [u.datastore for u in
                                 props['storage.perDatastoreUsage']])
        # The files moved.
        self.assertTrue(self.ds_file_exists(
            'LocalDS_1', 'DC0_C0_RP0_VM1/DC0_C0_RP0_VM1.vmx'))
        self.assertFalse(self.ds_file_exists(
            'LocalDS_0', 'DC0_C0_RP0_VM1/DC0_C0_RP0_VM1.vmx'))
        for disk in disks:
            path = disk.backing.fileName.split('] ', 1)[1]
            self.assertTrue(self.ds_file_exists('LocalDS_1', path))
        lists = self.vm_lists(vm)
        self.assertIn(('Datastore', ds1._moId), lists)
        self.assertNotIn(('Datastore', ds0._moId), lists)

    def test_relocate_with_a_disk_left_on_another_datastore(self):
        vm = self.by_name(vim.VirtualMachine, 'DC0_H0_VM2')
        ds0 = self.by_name(vim.Datastore, 'LocalDS_0')
        ds1 = self.by_name(vim.Datastore, 'LocalDS_1')
        disk = [d for d in read_props(self.si, vm, ['config.hardware.device'])[
            'config.hardware.device']
            if isinstance(d, vim.vm.device.VirtualDisk)][0]

        self.relocate(vm, datastore=ds1, disk=[
            vim.vm.RelocateSpec.DiskLocator(diskId=disk.key,
                                            datastore=ds0)])

        props = read_props(self.si, vm, ['datastore',
                                         'config.files.vmPathName',
                                         'config.hardware.device'])
        self.assertEqual({ds0, ds1}, set(props['datastore']))
        self.assertTrue(props['config.files.vmPathName'].startswith(
            '[LocalDS_1] DC0_H0_VM2/'))
        moved = [d for d in props['config.hardware.device']
                 if d.key == disk.key][0]
        self.assertTrue(moved.backing.fileName.startswith('[LocalDS_0] '),
                        moved.backing.fileName)
        self.assertTrue(self.ds_file_exists(
            'LocalDS_0', moved.backing.fileName.split('] ', 1)[1]))
        lists = self.vm_lists(vm)
        self.assertIn(('Datastore', ds0._moId), lists)
        self.assertIn(('Datastore', ds1._moId), lists)

    def test_relocate_into_another_compute_resource_by_pool(self):
        vm = self.by_name(vim.VirtualMachine, 'DC0_C0_RP0_VM2')
        old = read_props(self.si, vm, ['runtime.host', 'resourcePool'])
        standalone = self.by_name(vim.HostSystem, 'DC0_H0')
        pool = read_props(self.si, read_props(self.si, standalone, ['parent'])[
            'parent'], ['resourcePool'])['resourcePool']

        # No host: the pool's compute resource chooses (its only host).
        self.relocate(vm, pool=pool)

        now = read_props(self.si, vm, ['runtime.host', 'resourcePool'])
        self.assertEqual(standalone, now['runtime.host'])
        self.assertEqual(pool, now['resourcePool'])
        lists = self.vm_lists(vm)
        self.assertIn(('HostSystem', standalone._moId), lists)
        self.assertIn(('ResourcePool', pool._moId), lists)
        self.assertNotIn(('HostSystem', old['runtime.host']._moId), lists)
        self.assertNotIn(('ResourcePool', old['resourcePool']._moId), lists)

    def test_relocate_to_a_host_outside_the_pool_is_invalid(self):
        vm = self.by_name(vim.VirtualMachine, 'DC0_H0_VM0')
        before = read_props(self.si, vm, ['runtime.host', 'resourcePool'])
        cluster_pool = read_props(
            self.si, self.by_name(vim.ClusterComputeResource, 'DC0_C0'),
            ['resourcePool'])['resourcePool']
        standalone = self.by_name(vim.HostSystem, 'DC0_H0')
        self.assertRaises(
            vmodl.fault.InvalidArgument, vm.RelocateVM_Task,
            vim.vm.RelocateSpec(pool=cluster_pool, host=standalone))
        self.assertEqual(before, read_props(self.si, vm, ['runtime.host',
                                                          'resourcePool']))

    def test_template_and_back_into_another_pool(self):
        vm = self.by_name(vim.VirtualMachine, 'DC0_H0_VM1')
        host = read_props(self.si, vm, ['runtime.host'])['runtime.host']
        wait_task(self.si, vm.PowerOffVM_Task())
        vm.MarkAsTemplate()
        # A template is in no pool, still registered on its host.
        self.assertNotIn('resourcePool', read_props(self.si, vm,
                                                    ['resourcePool']))
        lists = self.vm_lists(vm)
        self.assertEqual({'HostSystem', 'Datastore'},
                         {kind for kind, _ in lists})
        self.assertIn(('HostSystem', host._moId), lists)

        cluster = self.by_name(vim.ClusterComputeResource, 'DC0_C0')
        props = read_props(self.si, cluster, ['resourcePool', 'host'])
        pool, target = props['resourcePool'], props['host'][0]
        # The host must belong to the pool's compute resource.
        self.assertRaises(vmodl.fault.InvalidArgument,
                          vm.MarkAsVirtualMachine, pool, host)
        vm.MarkAsVirtualMachine(pool, target)

        now = read_props(self.si, vm, ['runtime.host', 'resourcePool',
                                       'config.template'])
        self.assertFalse(now['config.template'])
        self.assertEqual(target, now['runtime.host'])
        self.assertEqual(pool, now['resourcePool'])
        lists = self.vm_lists(vm)
        self.assertIn(('HostSystem', target._moId), lists)
        self.assertNotIn(('HostSystem', host._moId), lists)
        self.assertIn(('ResourcePool', pool._moId), lists)


class KeyedPathTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """vCenter reads one element of a keyed array through its key."""

    VCSIM_SHAPE = dict(hosts=1, vms=2)

    def test_extra_config_option_by_key(self):
        si = self.vcsim.connect()
        vms = sorted(vcsim.query(si, vim.VirtualMachine, ['name']))
        vm = vim.VirtualMachine(vms[0], si._stub)
        task = vm.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=[
            vim.option.OptionValue(key='nvp.vm-uuid', value='uuid-1'),
            vim.option.OptionValue(key='other', value='x')]))
        task_util.WaitForTask(task)
        path = 'config.extraConfig["nvp.vm-uuid"]'
        found = vcsim.query(si, vim.VirtualMachine, [path, 'name'])
        self.assertEqual('uuid-1', found[vms[0]][path].value)
        self.assertEqual('nvp.vm-uuid', found[vms[0]][path].key)
        # Only the element asked for, not the whole array.
        self.assertNotIn('config.extraConfig', found[vms[0]])
        # A VM without that key has no such property.
        self.assertNotIn(path, found[vms[1]])
        self.assertIn('name', found[vms[1]])

    def test_device_by_numeric_key(self):
        si = self.vcsim.connect()
        vms = sorted(vcsim.query(si, vim.VirtualMachine,
                                 ['config.hardware.device']).items())
        moid, item = vms[0]
        device = item['config.hardware.device'][0]
        path = 'config.hardware.device[%d]' % device.key
        found = vcsim.query(si, vim.VirtualMachine, [path])
        self.assertEqual(device.key, found[moid][path].key)
        self.assertEqual(type(device), type(found[moid][path]))
