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

"""Resize and cold migration of an instance with Cinder volumes (VCDriver
on vcsim, two clusters): the VM and its root disk move, the volumes' disks
stay on their datastore.

``self.driver`` manages DC0_C0 with datastore LocalDS_0, ``self.dest``
DC0_C1 with LocalDS_1; the volumes (a vmdk volume's shadow VM and a First
Class Disk, in the shape Cinder makes them) are on LocalDS_2, which every
host mounts. Where the files are is read over the test's own connection.
"""

import os
from unittest import mock

from nova import exception
from nova import objects
from oslo_utils import uuidutils
from pyVim import task as task_util
from pyVmomi import vim

from nova_vmware_ext.compute import migrate
from tests.functional import test_driver_migrate
from tests.functional import test_driver_spawn
from tests import volume_backings as backings

_Migrate = test_driver_migrate.MigrateTest


class MigrateVolumesBase(test_driver_spawn.SpawnTestBase):

    VCSIM_SHAPE = dict(clusters=2, hosts=2, datastores=3, portgroups=1)

    # MigrateTest's helpers (not its tests).
    where = _Migrate.where
    booted = _Migrate.booted
    _destroy_anywhere = _Migrate._destroy_anywhere
    flavor = _Migrate.flavor
    migration = _Migrate.migration
    start_two_clusters = _Migrate.start_two_clusters

    def setUp(self):
        super().setUp()
        self.leaks.keep([backings.FCD_FOLDER])
        self.start_two_clusters()

    def with_volumes(self, instance=None, datastore='LocalDS_2'):
        """A running instance with a vmdk and an FCD volume attached; its
        block_device_info."""
        instance = instance or self.booted()
        vmdk = backings.vmdk_volume(self.si, datastore=datastore)
        self.addCleanup(backings.delete, self.si, vmdk)
        fcd = backings.fcd_volume(self.si, datastore=datastore)
        self.addCleanup(backings.delete, self.si, fcd)
        for info, device in ((vmdk, '/dev/sdb'), (fcd, '/dev/sdc')):
            self.driver.attach_volume(self.context, info, instance, device)
        bdi = {'block_device_mapping': [
            {'connection_info': vmdk, 'mount_device': '/dev/sdb'},
            {'connection_info': fcd, 'mount_device': '/dev/sdc'}]}
        # Before the backings go: destroy detaches the volumes first.
        self.addCleanup(self._destroy_with, instance, bdi)
        return instance, vmdk, fcd, bdi

    def make_linked_clone(self, instance, path):
        """Give the instance's disk ``path`` a parent, as vSphere reports
        for a volume Cinder made as a linked clone (vcsim reads no parent
        from a disk file it attaches)."""
        dc = self.si.content.rootFolder.childEntity[0]
        manager = self.si.content.virtualDiskManager
        base = '[%s] base-%s.vmdk' % (path[1:].split(']')[0],
                                      uuidutils.generate_uuid())
        task_util.WaitForTask(manager.CreateVirtualDisk_Task(
            base, dc, vim.VirtualDiskManager.FileBackedVirtualDiskSpec(
                adapterType='lsiLogic', diskType='thin', capacityKb=1024)))
        self.addCleanup(lambda: task_util.WaitForTask(
            manager.DeleteVirtualDisk_Task(base, dc)))
        vm = vim.VirtualMachine(self.where(instance)['moid'], self.si._stub)
        disk = next(d for d in vm.config.hardware.device
                    if getattr(d.backing, 'fileName', None) == path)
        disk.backing.parent = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName=base, diskMode='persistent')
        task_util.WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(
            deviceChange=[vim.vm.device.VirtualDeviceSpec(
                operation='edit', device=disk)])))
        return base

    def _destroy_with(self, instance, bdi):
        instance.task_state = None
        for driver in (self.driver, self.dest):
            driver.destroy(self.context, instance, [], block_device_info=bdi)

    def files(self, instance, vmdk, fcd):
        """(root disk file, vmdk volume disk file, FCD disk file) on the
        VM; and the files Cinder's side names (shadow VM disk, FCD
        catalog)."""
        disks = self.where(instance)['disks']
        by_id = {getattr(d.vDiskId, 'id', None): d.backing.fileName
                 for d in disks}
        [shadow] = backings.shadow_disk_path(self.si, vmdk)
        catalog = backings.fcd(self.si, fcd).config.backing.filePath
        root = [d.backing.fileName for d in disks
                if instance.uuid in d.backing.fileName]
        vmdk_disk = [d.backing.fileName for d in disks
                     if os.path.basename(d.backing.fileName) ==
                     os.path.basename(shadow)]
        return ((root, vmdk_disk, [by_id.get(fcd['data']['id'])]),
                (shadow, catalog))


class MigrateVolumesTest(MigrateVolumesBase):

    def test_volumes_stay_the_root_disk_moves_and_back(self):
        instance, vmdk, fcd, bdi = self.with_volumes()
        (_, vmdk_disk, fcd_disk), cinder = self.files(instance, vmdk, fcd)
        self.assertEqual((vmdk_disk, fcd_disk), ([cinder[0]], [cinder[1]]))
        self.assertTrue(cinder[0].startswith('[LocalDS_2] '), cinder)
        base = self.make_linked_clone(instance, cinder[0])
        migration = self.migration()
        # The source checks that the destination's hosts see the volumes.
        instance.migration_context = objects.MigrationContext(
            migration_id=7)
        with mock.patch.object(objects.Migration, 'get_by_id',
                               return_value=migration):
            self.driver.migrate_disk_and_power_off(
                self.context, instance, 'dest-ip', self.flavor(), [],
                block_device_info=bdi)
        instance.migration_context = None
        instance.old_flavor, instance.flavor = instance.flavor, self.flavor()
        self.dest.finish_migration(self.context, migration, instance, '', [],
                                   self.flat, True, {},
                                   block_device_info=bdi)

        moved = self.where(instance)
        self.assertEqual(('DC0_C1', 'poweredOn'),
                         (moved['cluster'], moved['runtime.powerState']))
        self.assertTrue(moved['config.files.vmPathName'].startswith(
            '[LocalDS_1] '), moved['config.files.vmPathName'])
        (root, vmdk_after, fcd_after), cinder_after = self.files(
            instance, vmdk, fcd)
        self.assertEqual(1, len(root))
        self.assertTrue(root[0].startswith('[LocalDS_1] '), root)
        # The volumes' disks did not move: Cinder's files are the VM's.
        self.assertEqual(cinder, cinder_after)
        self.assertEqual((vmdk_disk, fcd_disk), (vmdk_after, fcd_after))
        for path in cinder_after:
            self.assertIsNotNone(self.datastore_file(path), path)
        # The root disk, a linked clone of the image cache, was
        # consolidated; the volume, Cinder's linked clone, was not.
        parents = {d.backing.fileName: getattr(d.backing.parent, 'fileName',
                                               None) for d in moved['disks']}
        self.assertEqual((None, base), (parents[root[0]], parents[cinder[0]]))
        # The root disk (not a volume) grew to the new flavor.
        sizes = {d.backing.fileName: d.capacityInKB for d in moved['disks']}
        self.assertEqual(2 * test_driver_migrate.GiB_KB, sizes[root[0]])

        instance.task_state = 'resize_reverting'
        self.dest.destroy(self.context, instance, [], block_device_info=bdi)
        instance.flavor = instance.old_flavor
        self.driver.finish_revert_migration(self.context, instance, [],
                                            migration, block_device_info=bdi)
        instance.task_state = None
        back = self.where(instance)
        self.assertEqual(('DC0_C0', 'poweredOn'),
                         (back['cluster'], back['runtime.powerState']))
        (root, vmdk_back, fcd_back), cinder_back = self.files(
            instance, vmdk, fcd)
        self.assertTrue(root[0].startswith('[LocalDS_0] '), root)
        self.assertEqual(cinder, cinder_back)
        self.assertEqual((vmdk_disk, fcd_disk), (vmdk_back, fcd_back))
        # Both volumes detach where Cinder has them.
        for info, device in ((vmdk, '/dev/sdb'), (fcd, '/dev/sdc')):
            self.driver.detach_volume(self.context, info, instance, device)
        self.assertEqual(1, len(self.where(instance)['disks']))


class UnreachableVolumeTest(MigrateVolumesBase):
    """A volume on a datastore only the source's host mounts (its own
    class: the datastore stays in the simulator)."""

    def test_a_cluster_not_seeing_the_volume_is_refused_before_moving(self):
        instance = self.booted()
        vm = vim.VirtualMachine(self.where(instance)['moid'], self.si._stub)
        path = os.path.join(self.vcsim.tmpdir, 'only-c0-host')
        os.mkdir(path)
        vm.runtime.host.configManager.datastoreSystem.CreateLocalDatastore(
            name='only-c0-host', path=path)
        instance, vmdk, fcd, bdi = self.with_volumes(instance,
                                                     'only-c0-host')
        before = self.where(instance)
        files = self.files(instance, vmdk, fcd)
        # The source refuses before it powers the VM off: Nova rolls the
        # server back.
        instance.migration_context = objects.MigrationContext(
            migration_id=7)
        with mock.patch.object(objects.Migration, 'get_by_id',
                               return_value=self.migration()):
            error = self.assertRaises(
                exception.InstanceFaultRollback,
                self.driver.migrate_disk_and_power_off, self.context,
                instance, 'dest-ip', instance.flavor, [],
                block_device_info=bdi)
        self.assertIn('is on datastore only-c0-host, which no usable host '
                      'of cluster %s mounts' % self.dest_node.split('.')[0],
                      str(error.inner_exception))
        self.assertEqual('poweredOn',
                         self.where(instance)['runtime.powerState'])
        # The destination too (a datastore unmounted meanwhile), before it
        # moves anything.
        instance.migration_context = None
        self.driver.migrate_disk_and_power_off(
            self.context, instance, 'dest-ip', instance.flavor, [],
            block_device_info=bdi)
        with self.dest._host.session.calls.scope() as calls:
            error = self.assertRaises(
                exception.ResizeError, self.dest.finish_migration,
                self.context, self.migration(), instance, '', [], self.flat,
                True, {}, block_device_info=bdi)
        self.assertEqual(0, calls.by_method['RelocateVM_Task'])
        self.assertIn('is on datastore only-c0-host, which no usable host '
                      'of cluster DC0_C1 mounts', str(error))
        self.assertIn(vmdk['serial'], str(error))
        after = self.where(instance)
        self.assertEqual(
            (before['moid'], 'DC0_C0', before['runtime.host']._moId,
             before['config.files.vmPathName'], before['datastores']),
            (after['moid'], after['cluster'], after['runtime.host']._moId,
             after['config.files.vmPathName'], after['datastores']))
        self.assertEqual(files, self.files(instance, vmdk, fcd))
        self.assertNotIn(migrate.REVERT_KEY, after['keys'])
