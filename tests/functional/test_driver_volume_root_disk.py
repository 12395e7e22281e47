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

"""The root disk is the image's, never a volume's disk, on vcsim: a resize
grows only it (a volume is Cinder's to extend), a rescue disk goes beside
it. Volumes are made in the shape Cinder makes them, the VM is read back
over the test's own connection."""

from nova import exception
from nova import objects
from oslo_utils import uuidutils
from pyVim import task as task_util
from pyVmomi import vim

from tests.functional import test_driver_volumes
from tests import volume_backings as backings

GiB_KB = 1024 * 1024
VOLUME_KB = 1024  # backings make 1 MiB volumes

_OPS = vim.vm.device.VirtualDeviceSpec.Operation


class VolumeRootDiskTest(test_driver_volumes.VolumeTestBase):

    def resize_in_place(self, instance, block_device_info):
        """Nova's order on one node, to 2 CPUs, 256 MB and a 2 GB root."""
        flavor = objects.Flavor(
            name='m1.bigger', memory_mb=256, vcpus=2, root_gb=2,
            ephemeral_gb=0, swap=0, flavorid='43', extra_specs={})
        node = self.driver.get_available_nodes()[0]
        migration = objects.Migration(source_node=node, dest_node=node,
                                      uuid=uuidutils.generate_uuid())
        self.driver.migrate_disk_and_power_off(
            self.context, instance, 'dest-ip', flavor, [])
        instance.old_flavor, instance.flavor = instance.flavor, flavor
        self.driver.finish_migration(
            self.context, migration, instance, '', [], self.flat, True, {},
            block_device_info=block_device_info)
        self.driver.confirm_migration(self.context, migration, instance, [])

    def sizes(self, instance):
        """{disk file: capacity in KB}, and the VM's CPUs and memory."""
        vm = self.vm(instance)
        return ({d.backing.fileName: d.capacityInKB for d in self.disks(vm)},
                (vm['config.hardware.numCPU'],
                 vm['config.hardware.memoryMB']))

    def path(self, info):
        if info['driver_volume_type'] == 'vmdk':
            return backings.shadow_disk_path(self.si, info)[0]
        return self.fcd_path(info)

    def test_volume_backed_resize_grows_no_volume(self):
        for kind, other in (('vmdk', 'fcd'), ('fcd', 'vmdk')):
            instance = self.make_instance(root_gb=1)
            boot, data = self.volume(kind), self.volume(other)
            bdi = self.bdi(boot, data, boot=True)
            self.driver.spawn(self.context, instance, self.flat, [], None,
                              {}, [], block_device_info=bdi)
            self.addCleanup(self._destroy_quietly, instance)
            volumes = {self.path(boot): VOLUME_KB,
                       self.path(data): VOLUME_KB}
            self.assertEqual((volumes, (1, 128)), self.sizes(instance))

            self.resize_in_place(instance, bdi)
            self.assertEqual((volumes, (2, 256)), self.sizes(instance),
                             kind)
            self.assertEqual('poweredOn',
                             self.vm(instance)['runtime.powerState'])
            self.driver.destroy(self.context, instance, [],
                                block_device_info=bdi)
            self.assertIsNotNone(self.datastore_file(self.path(boot)))

    def test_image_root_grows_beside_a_volume_with_a_lower_key(self):
        self.flags.config(group='vmware', use_linked_clone=False)
        self.restart_driver()._host.spawner.image_api = self.images
        instance = self.make_instance(root_gb=1)
        self.spawn(instance, self.flat)
        info = self.volume()
        root_path = self._root_after_the_volume(instance, info)
        [volume_path] = backings.shadow_disk_path(self.si, info)
        self.assertEqual(({root_path: GiB_KB, volume_path: VOLUME_KB},
                          (1, 128)), self.sizes(instance))

        # No block_device_info: the driver reads all of extraConfig.
        self.resize_in_place(instance, None)
        self.assertEqual(({root_path: 2 * GiB_KB, volume_path: VOLUME_KB},
                          (2, 256)), self.sizes(instance))
        self.driver.detach_volume(self.context, info, instance, '/dev/sdb')

    def test_rescue_disk_goes_beside_the_image_root_not_the_volume(self):
        self.driver._host.rescuer.image_api = self.images
        image = self.images.add(b'\x6b' * 1024 * 1024,
                                vmware_disktype='preallocated',
                                vmware_adaptertype='lsiLogic')
        self.keep_cache_entry(image.id)
        instance = self.make_instance()
        self.spawn(instance, self.flat)
        info = self.volume()
        root_path = self._root_after_the_volume(instance, info)
        before = self.disks(self.vm(instance))
        self.driver.rescue(self.context, instance, [], image, '',
                           self.bdi(info), None)
        [added] = [d for d in self.disks(self.vm(instance))
                   if d.backing.fileName not in
                   {b.backing.fileName for b in before}]
        self.assertEqual(root_path.rsplit('/', 1)[0] + '/%s-rescue.vmdk' %
                         image.id, added.backing.fileName)
        root = next(d for d in before if d.backing.fileName == root_path)
        self.assertEqual(root.controllerKey, added.controllerKey)
        self.driver.unrescue(self.context, instance)
        self.driver.detach_volume(self.context, info, instance, '/dev/sdb')

    def test_rescue_of_a_volume_backed_instance_is_refused(self):
        instance = self.make_instance()
        boot = self.volume()
        bdi = self.bdi(boot, boot=True)
        self.driver.spawn(self.context, instance, self.flat, [], None, {},
                          [], block_device_info=bdi)
        self.addCleanup(self.driver.destroy, self.context, instance, [],
                        block_device_info=bdi)
        before = self.sizes(instance)
        exc = self.assertRaises(exception.NovaException, self.driver.rescue,
                                self.context, instance, [], self.flat, '',
                                bdi, None)
        self.assertIn('booted from a volume', str(exc))
        self.assertEqual(before, self.sizes(instance))

    def _root_after_the_volume(self, instance, info):
        """Attach volume ``info`` with the root disk off, then put the root
        disk back: the volume's disk has the lower key (as after an
        operator's re-attach of the root disk)."""
        vm = self.vm(instance)
        [root] = self.disks(vm)
        obj = vim.VirtualMachine(vm['moid'], self.si._stub)
        task_util.WaitForTask(obj.ReconfigVM_Task(vim.vm.ConfigSpec(
            deviceChange=[vim.vm.device.VirtualDeviceSpec(
                operation=_OPS.remove, device=root)])))
        self.driver.attach_volume(self.context, info, instance, '/dev/sdb')
        used = {d.unitNumber for d in self.disks(self.vm(instance))
                if d.controllerKey == root.controllerKey}
        again = vim.vm.device.VirtualDisk(
            key=-1, controllerKey=root.controllerKey,
            unitNumber=min(set(range(7)) - used),
            capacityInKB=root.capacityInKB,
            backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                fileName=root.backing.fileName, diskMode='persistent'))
        task_util.WaitForTask(obj.ReconfigVM_Task(vim.vm.ConfigSpec(
            deviceChange=[vim.vm.device.VirtualDeviceSpec(
                operation=_OPS.add, device=again)])))
        keys = {d.backing.fileName: d.key
                for d in self.disks(self.vm(instance))}
        self.assertEqual(root.backing.fileName,
                         max(keys, key=keys.get))
        return root.backing.fileName
