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

"""Rescue and unrescue through VCDriver against vcsim.

What the VM has (disks, boot order, extraConfig, files) is read through an
independent pyvmomi query; after unrescue it must be exactly what it was
before rescue, and a rescue that fails midway must leave nothing behind.
"""

from nova import exception
from pyVmomi import vim

from nova_vmware_ext.compute import rescue
from tests.functional import test_driver_spawn


class RescueTestBase(test_driver_spawn.SpawnTestBase):

    def setUp(self):
        super().setUp()
        self.driver._host.rescuer.image_api = self.images
        self.rescue_image = self.images.add(
            b'\x6b' * test_driver_spawn.MiB, vmware_disktype='preallocated',
            vmware_adaptertype='lsiLogic')

    def _running(self):
        instance = self.make_instance()
        self.spawn(instance, self.flat)
        self.keep_cache_entry(self.rescue_image.id)
        return instance

    def state(self, instance):
        """What rescue changes and unrescue must restore."""
        vm = self.vm_of(instance.uuid, [
            'runtime.powerState', 'config.hardware.device',
            'config.bootOptions', 'config.extraConfig'])
        disks = sorted((d.key, d.backing.fileName, d.controllerKey,
                        d.unitNumber) for d in vm['config.hardware.device']
                       if isinstance(d, vim.vm.device.VirtualDisk))
        order = [(type(d).__name__, getattr(d, 'deviceKey', None))
                 for d in vm['config.bootOptions'].bootOrder]
        extra = sorted((o.key, o.value) for o in vm['config.extraConfig'])
        return {'power': vm['runtime.powerState'], 'disks': disks,
                'boot_order': order, 'extra_config': extra}

    def rescue(self, instance, image_meta=None):
        self.driver.rescue(self.context, instance, [],
                           image_meta or self.rescue_image, '', None, None)


class RescueTest(RescueTestBase):

    def test_rescue_boots_from_a_rescue_disk(self):
        instance = self._running()
        before = self.state(instance)
        self.rescue(instance)
        after = self.state(instance)
        self.assertEqual('poweredOn', after['power'])
        new = [d for d in after['disks'] if d not in before['disks']]
        self.assertEqual(1, len(new))
        key, path, controller, _ = new[0]
        folder = '%s/' % instance.uuid
        self.assertIn(folder + self.rescue_image.id + '-rescue.vmdk', path)
        # On the root disk's controller; the root disk stays for repairs.
        self.assertEqual(before['disks'][0][2], controller)
        self.assertIn(before['disks'][0], after['disks'])
        self.assertEqual([('vim.vm.BootOptions.BootableDiskDevice', key)],
                         after['boot_order'])
        self.assertIn((rescue.BOOT_ORDER_KEY, '[]'), after['extra_config'])
        self.assertIsNotNone(self.datastore_file(path))

    def test_unrescue_restores_the_vm_exactly(self):
        instance = self._running()
        before = self.state(instance)
        self.rescue(instance)
        path = [d for d in self.state(instance)['disks']
                if d not in before['disks']][0][1]
        self.driver.unrescue(self.context, instance)
        self.assertEqual(before, self.state(instance))
        # The rescue disk's files are gone (the leak check agrees).
        self.assertIsNone(self.datastore_file(path))

    def test_a_set_boot_order_comes_back(self):
        instance = self._running()
        vm = vim.VirtualMachine(self.vm(instance)['moid'], self.si._stub)
        root = [d for d in vm.config.hardware.device
                if isinstance(d, vim.vm.device.VirtualDisk)][0]
        test_driver_spawn.driver_base.wait_task(vm.ReconfigVM_Task(
            vim.vm.ConfigSpec(bootOptions=vim.vm.BootOptions(
                bootDelay=3000, bootOrder=[
                    vim.vm.BootOptions.BootableCdromDevice(),
                    vim.vm.BootOptions.BootableDiskDevice(
                        deviceKey=root.key)]))))
        before = self.state(instance)
        self.rescue(instance)
        self.assertEqual(1, len(self.state(instance)['boot_order']))
        self.driver.unrescue(self.context, instance)
        self.assertEqual(before, self.state(instance))
        self.assertEqual(3000, vm.config.bootOptions.bootDelay)

    def test_rescue_of_a_stopped_instance_and_a_full_copy(self):
        self.flags.config(group='vmware', use_linked_clone=False)
        self.restart_driver()
        self.driver._host.spawner.image_api = self.images
        self.driver._host.rescuer.image_api = self.images
        instance = self._running()
        self.driver.power_off(instance)
        before = self.state(instance)
        self.rescue(instance)
        disks = self.state(instance)['disks']
        self.assertEqual(len(before['disks']) + 1, len(disks))
        self.driver.unrescue(self.context, instance)
        after = self.state(instance)
        self.assertEqual('poweredOn', after.pop('power'))
        before.pop('power')
        self.assertEqual(before, after)

    def test_failed_power_on_leaves_nothing(self):
        instance = self._running()
        before = self.state(instance)
        self.vcsim.inject('PowerOnVM_Task', action='task_error',
                          fault='InsufficientResourcesFault')
        self.addCleanup(self.vcsim.clear_faults)
        raised = self.assertRaises(exception.InstanceRescueFailure,
                                   self.rescue, instance)
        self.assertIn('InsufficientResourcesFault', str(raised))
        after = self.state(instance)
        # Back on as it was, after the injected failure was used up.
        self.assertEqual(before, after)

    def test_failed_attach_of_a_copy_leaves_no_file(self):
        self.flags.config(group='vmware', use_linked_clone=False)
        self.restart_driver()
        self.driver._host.spawner.image_api = self.images
        self.driver._host.rescuer.image_api = self.images
        instance = self._running()
        before = self.state(instance)
        self.vcsim.inject('ReconfigVM_Task', action='task_error',
                          fault='InvalidDeviceSpec')
        self.addCleanup(self.vcsim.clear_faults)
        self.assertRaises(exception.InstanceRescueFailure, self.rescue,
                          instance)
        self.assertEqual(before, self.state(instance))
        # The leak check (cleanup) proves the copied disk is gone too.
        path = '[%s] %s/%s-rescue.vmdk' % (
            before['disks'][0][1][1:].split(']')[0], instance.uuid,
            self.rescue_image.id)
        self.assertIsNone(self.datastore_file(path))

    def test_rescue_twice_is_refused(self):
        instance = self._running()
        self.rescue(instance)
        raised = self.assertRaises(exception.InstanceNotRescuable,
                                   self.rescue, instance)
        self.assertIn('already rescued', str(raised))
        self.driver.unrescue(self.context, instance)

    def test_an_iso_rescue_image_is_refused_before_anything(self):
        instance = self._running()
        before = self.state(instance)
        iso = self.images.add(b'\0' * 4096, disk_format='iso')
        self.assertRaises(exception.ImageUnacceptable, self.rescue,
                          instance, iso)
        self.assertEqual(before, self.state(instance))

    def test_unrescue_of_an_unrescued_instance_changes_nothing(self):
        instance = self._running()
        before = self.state(instance)
        with self.session.calls.scope() as scope:
            self.driver.unrescue(self.context, instance)
        self.assertEqual(before, self.state(instance))
        self.assertEqual(0, scope.by_method['ReconfigVM_Task'])

    def test_unrescue_of_an_in_tree_rescue(self):
        # The in-tree driver attached a copy named -rescue.vmdk and kept
        # no boot order.
        instance = self._running()
        before = self.state(instance)
        vm = vim.VirtualMachine(self.vm(instance)['moid'], self.si._stub)
        root = [d for d in vm.config.hardware.device
                if isinstance(d, vim.vm.device.VirtualDisk)][0]
        path = root.backing.fileName.rsplit('/', 1)[0] + '/img-rescue.vmdk'
        disk = vim.vm.device.VirtualDisk(
            key=-1, controllerKey=root.controllerKey, unitNumber=1,
            capacityInKB=1024,
            backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                fileName=path, diskMode='persistent'))
        test_driver_spawn.driver_base.wait_task(vm.ReconfigVM_Task(
            vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
                operation='add', fileOperation='create', device=disk)])))
        self.driver.unrescue(self.context, instance)
        self.assertEqual(before, self.state(instance))
        self.assertIsNone(self.datastore_file(path))

    def test_a_garbled_kept_boot_order_gives_the_default_one(self):
        instance = self._running()
        before = self.state(instance)
        self.rescue(instance)
        vm = vim.VirtualMachine(self.vm(instance)['moid'], self.si._stub)
        test_driver_spawn.driver_base.wait_task(vm.ReconfigVM_Task(
            vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(
                key=rescue.BOOT_ORDER_KEY, value='["tape:1"')])))
        self.driver.unrescue(self.context, instance)
        # No rescue disk, no kept key, the default (empty) boot order.
        self.assertEqual(before, self.state(instance))

    def test_ide_root_with_a_full_controller(self):
        # An IDE image's root disk (200:0) and a CD-ROM (200:1, as a config
        # drive takes): the rescue disk goes to the second IDE controller.
        ide = self.images.add(b'\x5a' * test_driver_spawn.MiB,
                              vmware_disktype='preallocated',
                              vmware_adaptertype='ide')
        instance = self.make_instance()
        self.spawn(instance, ide)
        self.keep_cache_entry(self.rescue_image.id)
        vm = vim.VirtualMachine(self.vm(instance)['moid'], self.si._stub)
        cdrom = vim.vm.device.VirtualCdrom
        test_driver_spawn.driver_base.wait_task(vm.ReconfigVM_Task(
            vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
                operation='add', device=cdrom(
                    key=-1, controllerKey=200, unitNumber=1,
                    backing=cdrom.RemotePassthroughBackingInfo(
                        deviceName='', exclusive=False)))])))
        before = self.state(instance)
        self.assertEqual([200], [d[2] for d in before['disks']])
        self.rescue(instance)
        new = [d for d in self.state(instance)['disks']
               if d not in before['disks']]
        self.assertEqual([(201, 0)], [(d[2], d[3]) for d in new])
        self.driver.unrescue(self.context, instance)
        self.assertEqual(before, self.state(instance))

    def test_a_cached_disk_aged_out_meanwhile_is_fetched_again(self):
        instance = self._running()
        before = self.state(instance)
        self.rescue(instance)
        self.driver.unrescue(self.context, instance)
        self.assertEqual(1, self.images.downloads[self.rescue_image.id])
        # Another compute's aging removes the entry; ours still knows it.
        datastore = before['disks'][0][1][1:].split(']')[0]
        entry = self.driver._host.cache.disk_path(datastore,
                                                  self.rescue_image.id)
        content = self.si.RetrieveContent()
        test_driver_spawn.driver_base.wait_task(
            content.fileManager.DeleteDatastoreFile_Task(
                str(entry.parent), content.rootFolder.childEntity[0]))
        self.rescue(instance)
        self.assertEqual(2, self.images.downloads[self.rescue_image.id])
        self.assertEqual(len(before['disks']) + 1,
                         len(self.state(instance)['disks']))
        self.driver.unrescue(self.context, instance)
        self.assertEqual(before, self.state(instance))


class RescueFromAnyImageTest(RescueTestBase):
    """Rescue images in any format a spawn takes: qcow2, raw, VHD, VHDX and
    VDI converted once into the cache, an OVA's disk imported."""

    VCSIM_SHAPE = dict(hosts=1, datastores=1, portgroups=1)

    def rescue_from(self, instance, image, downloads=1):
        before = self.state(instance)
        self.keep_cache_entry(image.id)
        self.rescue(instance, image)
        after = self.state(instance)
        self.assertEqual('poweredOn', after['power'])
        [new] = [d for d in after['disks'] if d not in before['disks']]
        path = new[1]
        self.assertTrue(path.endswith('%s/%s-rescue.vmdk' % (
            instance.uuid, image.id)), path)
        disk = [d for d in self.vm_of(instance.uuid, [
            'config.hardware.device'])['config.hardware.device']
            if getattr(d.backing, 'fileName', None) == path][0]
        # A child of the image's cache entry: the converted (or the OVA's)
        # streamOptimized disk as vCenter imported it.
        self.assertEqual('[LocalDS_0] _base/%s/%s.vmdk' % (image.id, image.id),
                         disk.backing.parent.fileName)
        cached = self.datastore_file(disk.backing.parent.fileName)
        self.assertIn(b'createType="streamOptimized"', cached[:4096])
        self.assertEqual(downloads, self.images.downloads[image.id])
        self.driver.unrescue(self.context, instance)
        self.assertEqual(before, self.state(instance))

    def test_converted_formats(self):
        from tests import image_files
        instance = self._running()
        for disk_format, qemu_format in (('qcow2', 'qcow2'), ('raw', 'raw'),
                                         ('vhd', 'vpc'), ('vhdx', 'vhdx'),
                                         ('vdi', 'vdi')):
            image = self.images.add(image_files.qemu_image(qemu_format),
                                    disk_format=disk_format)
            self.rescue_from(instance, image)

    def test_ova(self):
        from tests import image_files
        from tests import ova_files
        instance = self._running()
        image = self.images.add(
            ova_files.good_ova(image_files.stream_optimized()))
        image.container_format = 'ova'
        # Glance's stream: once for the descriptor, once for the disk.
        self.rescue_from(instance, image, downloads=2)

    def test_refused_converted_image_changes_nothing(self):
        from tests import image_files
        instance = self._running()
        before = self.state(instance)
        labelled_raw = self.images.add(image_files.qemu_image('qcow2'),
                                       disk_format='raw')
        raised = self.assertRaises(exception.ImageUnacceptable, self.rescue,
                                   instance, labelled_raw)
        self.assertIn('qcow2', str(raised))
        self.assertEqual(before, self.state(instance))
