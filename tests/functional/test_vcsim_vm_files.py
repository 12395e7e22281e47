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

"""A new VM's files go where its vmPathName says, as on vSphere.

Given vmPathName "[ds] a/b/", vSphere puts the VM's files into a/b. govmomi
0.24.2 kept only the last part of the folder and put the files at the
datastore root ("[ds] b/", or "[ds] b (0)/" when a/b existed), so leftovers
of a driver's cleanup of a/b stayed out of sight. tools/vcsim/
vm_folder_path.go keeps the folder for CreateVM_Task and ImportVApp.
"""

import os

from pyVmomi import vim
import testtools

from tests import vcsim


def files_under(root):
    """Every file and folder below root, as relative paths."""
    found = set()
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(top, name), root))
    return found


class VmFolderPathTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(clusters=1, hosts=1, datastores=1, portgroups=0)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        content = self.si.content
        self.dc = content.rootFolder.childEntity[0]
        pools = vcsim.query(self.si, vim.ClusterComputeResource,
                            ['resourcePool'])
        self.pool = next(iter(pools.values()))['resourcePool']
        [ds] = vcsim.query(self.si, vim.Datastore, ['info.url']).values()
        self.root = ds['info.url']
        self.file_manager = content.fileManager

    def wait(self, task):
        info = None
        for _ in range(1000):
            info = task.info
            if info.state in ('success', 'error'):
                break
        if info.state == 'error':
            raise info.error
        return info.result

    def mkdir(self, path):
        self.file_manager.MakeDirectory(
            name='[LocalDS_0] %s' % path, datacenter=self.dc,
            createParentDirectories=True)

    def spec(self, name, vm_path):
        disk = vim.vm.device.VirtualDisk(
            key=-101, unitNumber=0, controllerKey=-100, capacityInKB=1024,
            backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                fileName='', diskMode='persistent', thinProvisioned=True))
        return vim.vm.ConfigSpec(
            name=name, guestId='otherGuest64', numCPUs=1, memoryMB=64,
            files=vim.vm.FileInfo(vmPathName=vm_path),
            deviceChange=[
                vim.vm.device.VirtualDeviceSpec(
                    operation='add',
                    device=vim.vm.device.ParaVirtualSCSIController(
                        key=-100, busNumber=0, sharedBus='noSharing')),
                vim.vm.device.VirtualDeviceSpec(
                    operation='add', fileOperation='create', device=disk)])

    def create(self, name, vm_path):
        return self.wait(self.dc.vmFolder.CreateVM_Task(
            config=self.spec(name, vm_path), pool=self.pool))

    def vm_names(self):
        return {p['name'] for p in vcsim.query(
            self.si, vim.VirtualMachine, ['name']).values()}

    def test_existing_nested_folder_keeps_the_files(self):
        self.mkdir('inst/abc')
        before = files_under(self.root)
        vm = self.create('nested-1', '[LocalDS_0] inst/abc/')
        self.assertEqual('[LocalDS_0] inst/abc/nested-1.vmx',
                         vm.config.files.vmPathName)
        disk = [d for d in vm.config.hardware.device
                if isinstance(d, vim.vm.device.VirtualDisk)][0]
        self.assertEqual('[LocalDS_0] inst/abc/nested-1.vmdk',
                         disk.backing.fileName)
        new = files_under(self.root) - before
        self.assertIn('inst/abc/nested-1.vmx', new)
        self.assertIn('inst/abc/nested-1.vmdk', new)
        self.assertEqual([], [f for f in new
                              if not f.startswith('inst/abc/')])

        # Destroy_Task removes the VM's folder, as stock vcsim does.
        self.wait(vm.Destroy_Task())
        self.assertEqual(before - {'inst/abc'}, files_under(self.root))

    def test_missing_last_folder_is_made(self):
        self.mkdir('inst2')
        vm = self.create('nested-2', '[LocalDS_0] inst2/new')
        self.assertEqual('[LocalDS_0] inst2/new/nested-2.vmx',
                         vm.config.files.vmPathName)
        self.assertTrue(os.path.isfile(
            os.path.join(self.root, 'inst2', 'new', 'nested-2.vmx')))
        self.wait(vm.Destroy_Task())

    def test_missing_parent_is_file_not_found_and_makes_nothing(self):
        before = files_under(self.root)
        e = self.assertRaises(vim.fault.FileNotFound, self.create,
                              'nested-3', '[LocalDS_0] nope/deeper/')
        self.assertEqual('[LocalDS_0] nope', e.file)
        self.assertEqual(before, files_under(self.root))
        self.assertNotIn('nested-3', self.vm_names())

    def test_dot_dot_is_an_invalid_path(self):
        before = files_under(self.root)
        self.assertRaises(vim.fault.InvalidDatastorePath, self.create,
                          'nested-4', '[LocalDS_0] a/../../etc/')
        self.assertEqual(before, files_under(self.root))
        self.assertNotIn('nested-4', self.vm_names())

    def test_datastore_root_still_gets_a_folder_per_vm(self):
        vm = self.create('rooted', '[LocalDS_0]')
        self.assertEqual('[LocalDS_0] rooted/rooted.vmx',
                         vm.config.files.vmPathName)
        self.wait(vm.Destroy_Task())

    def test_import_vapp_keeps_the_folder(self):
        self.mkdir('_base/img-1/tmp-x')
        spec = vim.vm.VmImportSpec(configSpec=self.spec(
            'import-nested', '[LocalDS_0] _base/img-1/tmp-x/'))
        lease = self.pool.ImportVApp(spec=spec, folder=self.dc.vmFolder)
        for _ in range(1000):
            if lease.state != 'initializing':
                break
        self.assertEqual('ready', lease.state)
        vm = lease.info.entity
        self.assertEqual('[LocalDS_0] _base/img-1/tmp-x/import-nested.vmx',
                         vm.config.files.vmPathName)
        lease.HttpNfcLeaseAbort()
        self.assertNotIn('import-nested', self.vm_names())
        self.assertFalse(os.path.exists(os.path.join(
            self.root, '_base', 'img-1', 'tmp-x', 'import-nested.vmx')))


class FileTaskInfoTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """TaskInfo.entity is a ManagedEntity: vcsim 0.24.2 named the
    FileManager (or VirtualDiskManager) there, and reading such a task's
    info with pyVmomi raised TypeError."""

    VCSIM_SHAPE = dict(clusters=1, hosts=1, datastores=1, portgroups=0)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.dc = self.si.content.rootFolder.childEntity[0]
        self.fm = self.si.content.fileManager
        [ds] = vcsim.query(self.si, vim.Datastore, ['info.url']).values()
        self.root = ds['info.url']

    def finished(self, task):
        info = task.info  # the TypeError was raised here
        for _ in range(1000):
            if info.state in ('success', 'error'):
                return info
            info = task.info
        self.fail('task %s still %s' % (task, info.state))

    def test_file_manager_tasks_name_the_datacenter(self):
        self.fm.MakeDirectory(name='[LocalDS_0] ft', datacenter=self.dc)
        with open(os.path.join(self.root, 'ft', 'a.txt'), 'w') as f:
            f.write('a')
        tasks = [
            self.fm.CopyDatastoreFile_Task(
                sourceName='[LocalDS_0] ft/a.txt', sourceDatacenter=self.dc,
                destinationName='[LocalDS_0] ft/b.txt'),
            self.fm.MoveDatastoreFile_Task(
                sourceName='[LocalDS_0] ft/b.txt', sourceDatacenter=self.dc,
                destinationName='[LocalDS_0] ft/c.txt'),
            self.fm.DeleteDatastoreFile_Task(
                name='[LocalDS_0] ft/c.txt', datacenter=self.dc),
        ]
        for task in tasks:
            info = self.finished(task)
            self.assertEqual('success', info.state, info.error)
            self.assertIsInstance(info.entity, vim.Datacenter)
            self.assertEqual(self.dc._moId, info.entity._moId)
            self.assertEqual('DC0', info.entityName)
        self.assertEqual(['a.txt'],
                         os.listdir(os.path.join(self.root, 'ft')))

    def test_failed_file_task_info_is_readable(self):
        info = self.finished(self.fm.DeleteDatastoreFile_Task(
            name='[LocalDS_0] no-such-file', datacenter=self.dc))
        self.assertEqual('error', info.state)
        self.assertIsInstance(info.error, vim.fault.FileNotFound)
        self.assertEqual(self.dc._moId, info.entity._moId)

    def test_tasks_without_a_datacenter_have_no_entity(self):
        # Destroy_Task deletes the VM's files with a FileManager task of
        # its own; none may carry the FileManager as entity.
        tm = self.si.content.taskManager
        self.fm.MakeDirectory(name='[LocalDS_0] ft2', datacenter=self.dc)
        info = self.finished(self.fm.DeleteDatastoreFile_Task(
            name='[LocalDS_0] ft2'))
        self.assertIsNone(info.entity)
        for task in tm.recentTask:
            entity = task.info.entity
            self.assertTrue(entity is None
                            or isinstance(entity, vim.ManagedEntity))
