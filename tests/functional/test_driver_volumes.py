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

"""Cinder volumes on vcsim: vmdk (shadow VMs) and vstorageobject (FCDs).

The backings are made through pyvmomi in the shape Cinder's VMware drivers
make them (tests/volume_backings.py); what the driver did is read back
through an independent pyvmomi connection.
"""

import os

from nova import exception
from pyVim import task as task_util
from pyVmomi import vim

from tests.functional import test_driver_spawn
from tests import volume_backings as backings

MiB = 1024 * 1024


class VolumeTestBase(test_driver_spawn.SpawnTestBase):

    def setUp(self):
        super().setUp()
        self.leaks.keep([backings.FCD_FOLDER])

    def running(self, power_on=True):
        instance = self.make_instance()
        self.spawn(instance, self.flat, power_on=power_on)
        return instance

    def volume(self, kind='vmdk', **kwargs):
        make = backings.vmdk_volume if kind == 'vmdk' else backings.fcd_volume
        info = make(self.si, **kwargs)
        self.addCleanup(backings.delete, self.si, info)
        return info

    def volume_disks(self, instance):
        """The instance's disks that are not its root disk, by file."""
        vm = self.vm(instance)
        return {d.backing.fileName: d for d in self.disks(vm)
                if instance.uuid not in os.path.basename(
                    d.backing.fileName)}

    def extra(self, instance, key):
        vm = self.vm(instance)
        return next((o.value for o in vm['config.extraConfig']
                     if o.key == key), None)

    def fcd_path(self, info):
        return backings.fcd(self.si, info).config.backing.filePath

    def bdi(self, *infos, boot=False):
        mapping = []
        for index, info in enumerate(infos):
            mapping.append({'connection_info': info,
                            'boot_index': 0 if boot and index == 0 else None,
                            'mount_device': '/dev/sd%s' % 'abc'[index]})
        return {'block_device_mapping': mapping}


class AttachDetachTest(VolumeTestBase):

    def test_vmdk_volume_attached_and_detached(self):
        instance = self.running()
        info = self.volume()
        [path] = backings.shadow_disk_path(self.si, info)
        with self.session.calls.scope() as calls:
            self.driver.attach_volume(self.context, info, instance,
                                      '/dev/sdb')
        disks = self.volume_disks(instance)
        self.assertEqual([path], list(disks))
        self.assertEqual(MiB // 1024, disks[path].capacityInKB)
        self.assertEqual(path, self.extra(
            instance, 'volume-%s' % info['serial']))
        # Reads (shadow VM, who else uses the file) and one reconfigure.
        self.assertEqual(1, calls.by_method['ReconfigVM_Task'])
        self.driver.detach_volume(self.context, info, instance, '/dev/sdb')
        self.assertEqual({}, self.volume_disks(instance))
        self.assertIsNone(self.extra(instance,
                                     'volume-%s' % info['serial']))
        # The shadow VM keeps the volume's disk, and the file is there.
        self.assertEqual([path], backings.shadow_disk_path(self.si, info))
        self.assertIsNotNone(self.datastore_file(path))
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])

    def test_shadow_vm_found_by_volume_id_when_the_moid_is_another_vm(self):
        # A moid naming another VM (here the instance's own) is not taken
        # for the volume's: the shadow VM is found by its instanceUuid.
        instance = self.running()
        info = self.volume()
        [path] = backings.shadow_disk_path(self.si, info)
        stale = dict(info, data=dict(info['data'],
                                     volume=self.vm(instance)['moid']))
        self.driver.attach_volume(self.context, stale, instance, '/dev/sdb')
        self.assertEqual([path], list(self.volume_disks(instance)))
        self.driver.detach_volume(self.context, stale, instance, '/dev/sdb')
        self.assertEqual({}, self.volume_disks(instance))

    def test_fcd_volume_attached_and_detached(self):
        instance = self.running()
        info = self.volume('fcd')
        path = self.fcd_path(info)
        with self.session.calls.scope() as calls:
            self.driver.attach_volume(self.context, info, instance,
                                      '/dev/sdb')
        disk = self.volume_disks(instance)[path]
        self.assertEqual(info['data']['id'], disk.vDiskId.id)
        self.assertEqual(1, calls.by_method['AttachDisk_Task'])
        self.assertEqual(0, calls.by_method['ReconfigVM_Task'])
        self.driver.detach_volume(self.context, info, instance, '/dev/sdb')
        self.assertEqual({}, self.volume_disks(instance))
        self.assertEqual(path, self.fcd_path(info))
        self.assertIsNotNone(self.datastore_file(path))

    def test_fcd_on_a_new_controller_when_the_vm_has_another_kind(self):
        instance = self.running()
        info = self.volume('fcd', adapter_type='paraVirtual')
        self.driver.attach_volume(self.context, info, instance, '/dev/sdb')
        vm = self.vm(instance)
        disk = self.volume_disks(instance)[self.fcd_path(info)]
        controller = next(d for d in vm['config.hardware.device']
                          if d.key == disk.controllerKey)
        self.assertIsInstance(controller,
                              vim.vm.device.ParaVirtualSCSIController)
        self.driver.detach_volume(self.context, info, instance, '/dev/sdb')

    def test_failed_fcd_attach_takes_its_new_controller_away(self):
        instance = self.running()
        info = self.volume('fcd', adapter_type='paraVirtual')
        before = [d.key for d in self.vm(instance)['config.hardware.device']]
        self.vcsim.inject('AttachDisk_Task', action='task_error',
                          fault='InvalidState')
        self.addCleanup(self.vcsim.clear_faults)
        self.assertRaises(exception.NovaException, self.driver.attach_volume,
                          self.context, info, instance, '/dev/sdb')
        self.assertEqual(before, [
            d.key for d in self.vm(instance)['config.hardware.device']])

    def test_detach_after_storage_vmotion_gives_the_shadow_the_moved_disk(
            self):
        instance = self.running(power_on=False)
        info = self.volume()
        self.driver.attach_volume(self.context, info, instance, '/dev/sdb')
        vm = vim.VirtualMachine(self.vm(instance)['moid'], self.si._stub)
        target = next(ds for ds in vm.runtime.host.datastore
                      if ds.name == 'LocalDS_1')
        task_util.WaitForTask(vm.RelocateVM_Task(
            vim.vm.RelocateSpec(datastore=target)))
        [moved] = self.volume_disks(instance)
        self.assertTrue(moved.startswith('[LocalDS_1] '), moved)
        self.driver.detach_volume(self.context, info, instance, '/dev/sdb')
        self.assertEqual({}, self.volume_disks(instance))
        self.assertEqual([moved], backings.shadow_disk_path(self.si, info))
        shadow = backings.shadow_vm(self.si, info)
        self.assertEqual(['LocalDS_1'], [ds.name for ds in shadow.datastore])
        self.assertIsNotNone(self.datastore_file(moved))

    def test_extend_grows_the_attached_disk(self):
        instance = self.running()
        for kind in ('vmdk', 'fcd'):
            info = self.volume(kind)
            self.driver.attach_volume(self.context, info, instance, '/dev/sdb')
            self.driver.extend_volume(self.context, info, instance, 3 * MiB)
            [disk] = self.volume_disks(instance).values()
            self.assertEqual(3 * 1024, disk.capacityInKB)
            with self.session.calls.scope() as calls:  # already that size
                self.driver.extend_volume(self.context, info, instance,
                                          2 * MiB)
            self.assertEqual(0, calls.by_method['ReconfigVM_Task'])
            self.driver.detach_volume(self.context, info, instance,
                                      '/dev/sdb')

    def test_connector(self):
        instance = self.running()
        self.flags.config(my_block_storage_ip='192.0.2.7', host='cmp-1')
        connector = self.driver.get_volume_connector(instance)
        self.assertEqual({'ip': '192.0.2.7', 'host': 'cmp-1',
                          'initiator': None,
                          'instance': self.vm(instance)['moid']}, connector)
        # Not yet built (boot from volume): no instance, nothing else.
        other = self.make_instance()
        self.assertEqual({'ip', 'host', 'initiator'},
                         set(self.driver.get_volume_connector(other)))


class UnreachableBackingTest(VolumeTestBase):
    """A shadow VM on a datastore the instance's host does not mount (its
    own class: the datastore stays in the simulator)."""

    def test_shadow_vm_moves_to_the_instance_s_datastore(self):
        instance = self.running()
        vm = vim.VirtualMachine(self.vm(instance)['moid'], self.si._stub)
        here = vm.runtime.host
        other = next(h for h in here.parent.host if h != here)
        # In the simulator's directory: it outlives the leak check.
        path = os.path.join(self.vcsim.tmpdir, 'only-other-host')
        os.mkdir(path)
        other.configManager.datastoreSystem.CreateLocalDatastore(
            name='only-other-host', path=path)
        info = self.volume(datastore='only-other-host')
        self.driver.attach_volume(self.context, info, instance, '/dev/sdb')
        [attached] = self.volume_disks(instance)
        mounted = [ds.name for ds in here.datastore]
        self.assertIn(attached[1:].split(']')[0], mounted)
        self.assertEqual([attached],
                         backings.shadow_disk_path(self.si, info))
        self.assertEqual([ds.name for ds in vm.datastore[:1]], [
            ds.name for ds in backings.shadow_vm(self.si, info).datastore])
        self.driver.detach_volume(self.context, info, instance, '/dev/sdb')
        self.assertEqual({}, self.volume_disks(instance))


class RefusedTest(VolumeTestBase):

    def assertUnchanged(self, instance, before):
        self.assertEqual(before, self.volume_disks(instance))

    def test_refused_before_any_change(self):
        instance = self.running()
        vmdk = self.volume()
        before = self.volume_disks(instance)
        cases = [
            (NotImplementedError, {'driver_volume_type': 'iscsi',
                                   'data': {}}, None, 'iscsi'),
            (exception.MultiattachNotSupportedByVirtDriver,
             dict(vmdk, multiattach=True), None, vmdk['serial']),
            (exception.VolumeEncryptionNotSupported, vmdk,
             {'provider': 'luks'}, vmdk['serial']),
            (exception.InvalidVolume, {'driver_volume_type': 'vstorageobject',
                                       'data': {'id': 'x'}}, None,
             'ds_ref_val'),
            (exception.VolumeNotFound, {
                'driver_volume_type': 'vmdk', 'data': {
                    'volume': 'vm-404', 'volume_id': 'f' * 8 + '-0000-4000-'
                    '8000-' + '0' * 12}}, None, 'ffffffff'),
            (exception.VolumeNotFound, {
                'driver_volume_type': 'vstorageobject', 'data': {
                    'id': 'no-such-disk', 'ds_ref_val': self.fcd_ds()}},
             None, 'no-such-disk'),
        ]
        for error, info, encryption, word in cases:
            with self.session.calls.scope() as calls:
                raised = self.assertRaises(
                    error, self.driver.attach_volume, self.context, info,
                    instance, '/dev/sdb', encryption=encryption)
            self.assertIn(word, str(raised))
            self.assertEqual(0, calls.by_method['ReconfigVM_Task'])
            self.assertUnchanged(instance, before)

    def fcd_ds(self):
        return next(ds._moId for ds in self.si.content.rootFolder
                    .childEntity[0].datastore if ds.name == 'LocalDS_0')

    def test_busy_volume_refused(self):
        first, second = self.running(), self.running()
        for info in (self.volume(), self.volume('fcd')):
            self.driver.attach_volume(self.context, info, first, '/dev/sdb')
            before = self.volume_disks(second)
            raised = self.assertRaises(
                exception.InvalidVolume, self.driver.attach_volume,
                self.context, info, second, '/dev/sdb')
            self.assertIn(self.vm(first)['moid'], str(raised))
            self.assertUnchanged(second, before)
            self.driver.detach_volume(self.context, info, first, '/dev/sdb')

    def test_ide_volume_not_hot_plugged(self):
        instance = self.running()
        info = self.volume('fcd', adapter_type='ide')
        raised = self.assertRaises(exception.InvalidInput,
                                   self.driver.attach_volume, self.context,
                                   info, instance, '/dev/hdb')
        self.assertIn('IDE', str(raised))

    def test_detach_of_a_volume_not_attached_is_disk_not_found(self):
        instance = self.running()
        self.assertRaises(exception.DiskNotFound, self.driver.detach_volume,
                          self.context, self.volume(), instance, '/dev/sdb')

    def test_detach_from_a_gone_vm_is_disk_not_found(self):
        # Nova's compute manager then completes the detach in Cinder.
        instance = self.make_instance()
        raised = self.assertRaises(
            exception.DiskNotFound, self.driver.detach_volume, self.context,
            self.volume('fcd'), instance, '/dev/sdb')
        self.assertIn(instance.uuid, str(raised))

    def test_swap_volume_is_not_supported(self):
        instance = self.running()
        info = self.volume()
        self.assertRaises(NotImplementedError, self.driver.swap_volume,
                          self.context, info, info, instance, '/dev/sdb', 1)


class LifecycleTest(VolumeTestBase):

    def test_destroy_detaches_volumes_first(self):
        instance = self.running()
        vmdk, fcd = self.volume(), self.volume('fcd')
        for info in (vmdk, fcd):
            self.driver.attach_volume(self.context, info, instance,
                                      '/dev/sdb')
        [shadow_path] = backings.shadow_disk_path(self.si, vmdk)
        self.driver.destroy(self.context, instance, [],
                            block_device_info=self.bdi(vmdk, fcd))
        self.assertIsNone(self.vm_of(instance.uuid))
        self.assertIsNotNone(self.datastore_file(shadow_path))
        self.assertIsNotNone(self.datastore_file(self.fcd_path(fcd)))

    def test_boot_from_volume(self):
        for kind in ('vmdk', 'fcd'):
            instance = self.make_instance()
            root, data = self.volume(kind), self.volume('fcd')
            bdi = self.bdi(root, data, boot=True)
            self.driver.spawn(self.context, instance, self.flat, [], None,
                              {}, [], block_device_info=bdi)
            self.addCleanup(self._destroy_quietly, instance)
            vm = self.vm(instance)
            paths = [d.backing.fileName for d in self.disks(vm)]
            root_path = (backings.shadow_disk_path(self.si, root)[0]
                         if kind == 'vmdk' else self.fcd_path(root))
            # No disk of the image: the volumes only, the boot one first.
            self.assertEqual([root_path, self.fcd_path(data)], paths)
            boot_key = next(d.key for d in self.disks(vm)
                            if d.backing.fileName == root_path)
            obj = vim.VirtualMachine(vm['moid'], self.si._stub)
            self.assertEqual([boot_key], [
                d.deviceKey for d in obj.config.bootOptions.bootOrder])
            self.assertEqual('poweredOn', vm['runtime.powerState'])
            self.driver.destroy(self.context, instance, [],
                                block_device_info=bdi)
            self.assertIsNotNone(self.datastore_file(root_path))

    def test_failed_spawn_detaches_its_volumes(self):
        instance = self.make_instance()
        info = self.volume()
        [path] = backings.shadow_disk_path(self.si, info)
        self.vcsim.inject('PowerOnVM_Task', action='task_error',
                          fault='InvalidState')
        self.addCleanup(self.vcsim.clear_faults)
        self.assertRaises(exception.InstanceDeployFailure, self.driver.spawn,
                          self.context, instance, self.flat, [], None, {}, [],
                          block_device_info=self.bdi(info, boot=True))
        self.assertIsNone(self.vm_of(instance.uuid))
        self.assertEqual([path], backings.shadow_disk_path(self.si, info))
        self.assertIsNotNone(self.datastore_file(path))

    def test_spawn_refuses_an_unknown_volume_type_before_any_call(self):
        instance = self.make_instance()
        bdi = self.bdi({'driver_volume_type': 'rbd', 'data': {}}, boot=True)
        with self.session.calls.scope() as calls:
            self.assertRaises(NotImplementedError, self.driver.spawn,
                              self.context, instance, self.flat, [], None,
                              {}, [], block_device_info=bdi)
        self.assertEqual(0, calls.total)
