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

"""Spawn, power and destroy through VCDriver against vcsim.

Every outcome is checked through an independent pyvmomi query of the
simulator, never through the driver.
"""

import collections
import logging
import threading

import fixtures
from nova.compute import power_state
from nova import context as nova_context
from nova import exception
from nova import objects
from nova.virt import fake
from oslo_utils import uuidutils
from oslo_vmware import exceptions as vexc
from pyVmomi import vim
import requests

from nova_vmware_ext import driver as vc_driver
from tests.functional import driver_base
from tests import image_files
from tests import vcsim

MiB = 1024 * 1024


class FakeImageAPI(object):
    """Glance as Nova's image API sees it: metadata and streamed bytes."""

    def __init__(self):
        self.data = {}
        self.downloads = collections.Counter()

    def add(self, data, disk_format='vmdk', **properties):
        image_id = uuidutils.generate_uuid()
        self.data[image_id] = data
        meta = objects.ImageMeta.from_dict({
            'id': image_id, 'name': 'image-%s' % image_id[:8],
            'disk_format': disk_format, 'container_format': 'bare',
            'size': len(data), 'properties': properties})
        return meta

    def get(self, context, image_id, include_locations=False):
        """Nova's glance.API.get: this Glance exposes no locations."""
        return {'id': image_id, 'locations': []}

    def download(self, context, image_id):
        self.downloads[image_id] += 1
        data = self.data[image_id]
        for offset in range(0, len(data), 256 * 1024):
            yield data[offset:offset + 256 * 1024]


class SpawnTestBase(driver_base.DriverTestCase):
    """A driver, a fake Glance with a flat VMDK, and VM inspection."""

    VCSIM_SHAPE = dict(hosts=2, datastores=2, portgroups=1)

    def setUp(self):
        super().setUp()
        self.context = nova_context.get_admin_context()
        self.images = FakeImageAPI()
        self.driver._host.spawner.image_api = self.images
        self.flat = self.images.add(b'\x5a' * MiB,
                                    vmware_disktype='preallocated',
                                    vmware_adaptertype='lsiLogic',
                                    vmware_ostype='ubuntu64Guest')

    def make_instance(self, root_gb=0, memory_mb=128, vcpus=1,
                      extra_specs=None, config_drive='', **kwargs):
        flavor = objects.Flavor(
            name='m1.test', memory_mb=memory_mb, vcpus=vcpus,
            root_gb=root_gb, ephemeral_gb=0, swap=0, flavorid='42',
            extra_specs=extra_specs or {})
        kwargs.setdefault('display_name', 'vm-one')
        instance = objects.Instance(
            uuid=uuidutils.generate_uuid(), project_id='p-' + 'a' * 30,
            user_id='u1', hostname='vm-one',
            flavor=flavor, vcpus=vcpus, memory_mb=memory_mb,
            root_gb=root_gb, ephemeral_gb=0, config_drive=config_drive,
            system_metadata={}, metadata={}, image_ref='', **kwargs)
        return instance

    def spawn(self, instance, image_meta, network_info=None,
              power_on=True):
        self.driver.spawn(self.context, instance, image_meta, [], None, {},
                          network_info or [], power_on=power_on)
        self.addCleanup(self._destroy_quietly, instance)
        root_gb = instance.flavor.root_gb
        self.keep_cache_entry(image_meta.id, [root_gb] if root_gb else [])

    def second_compute(self, host='compute-2'):
        """Another VCDriver on the same cluster, fed by the same Glance."""
        other = vc_driver.VCDriver(fake.FakeVirtAPI())
        other.init_host(host)
        self.addCleanup(other.cleanup_host, host)
        other._host.spawner.image_api = self.images
        return other

    def spawn_on_both(self, other, image):
        """Spawn one instance on this compute and one on ``other`` at the
        same time, from ``image``; both must succeed. Returns them."""
        first, second = self.make_instance(), self.make_instance()
        errors = []

        def spawn(drv, instance):
            try:
                drv.spawn(self.context, instance, image, [], None, {}, [])
            except Exception as exc:  # reported below
                errors.append(exc)
        threads = [threading.Thread(target=spawn, args=(self.driver, first)),
                   threading.Thread(target=spawn, args=(other, second))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        self.addCleanup(self._destroy_quietly, first)
        self.addCleanup(other.destroy, self.context, second, [])
        self.keep_cache_entry(image.id)
        self.assertEqual([], errors)
        return first, second

    def _destroy_quietly(self, instance):
        try:
            self.driver.destroy(self.context, instance, [])
        except Exception:
            pass

    def vm(self, instance):
        return self.vm_of(instance.uuid, [
            'name', 'runtime.powerState', 'config.hardware.numCPU',
            'config.hardware.memoryMB', 'config.hardware.device',
            'config.extraConfig', 'config.managedBy', 'config.guestId',
            'config.files.vmPathName', 'resourcePool', 'parent',
            'config.annotation'])

    def datastore_file(self, path):
        """Bytes of a datastore file, read over /folder, or None."""
        datastore, rel = path[1:].split('] ', 1)
        url = vcsim.datastore_url(self.vcsim, rel, datastore=datastore)
        response = requests.get(url, verify=self.vcsim.ca_file, headers={
            'Cookie': vcsim.session_cookie(self.si)})
        return response.content if response.status_code == 200 else None

    def disks(self, vm):
        return [d for d in vm['config.hardware.device']
                if isinstance(d, vim.vm.device.VirtualDisk)]


class SpawnTest(SpawnTestBase):

    def test_spawn_from_flat_vmdk_as_linked_clone(self):
        instance = self.make_instance()
        self.spawn(instance, self.flat)
        vm = self.vm(instance)
        self.assertIsNotNone(vm, 'no VM with instanceUuid %s' % instance.uuid)
        # Named for vSphere admins as in-tree; its files in the UUID folder.
        self.assertEqual('vm-one (%s)' % instance.uuid, vm['name'])
        self.assertRegex(vm['config.files.vmPathName'], r'^\[LocalDS_[01]\] '
                         r'%s/%s\.vmx$' % (instance.uuid, instance.uuid))
        self.assertEqual('poweredOn', vm['runtime.powerState'])
        self.assertEqual(1, vm['config.hardware.numCPU'])
        self.assertEqual(128, vm['config.hardware.memoryMB'])
        self.assertEqual('ubuntu64Guest', vm['config.guestId'])
        self.assertEqual('org.openstack.compute',
                         vm['config.managedBy'].extensionKey)
        extra = {o.key: o.value for o in vm['config.extraConfig']}
        self.assertEqual(instance.uuid, extra['nvp.vm-uuid'])
        self.assertIn('name:vm-one', vm['config.annotation'])
        disks = self.disks(vm)
        self.assertEqual(1, len(disks))
        parent = disks[0].backing.parent
        self.assertIsNotNone(parent, 'root disk is not a linked clone')
        image_id = self.flat.id
        self.assertEqual('%s/%s/%s.vmdk' % ('_base', image_id, image_id),
                         parent.fileName.split('] ', 1)[1])
        # The cache holds the image's bytes as the flat extent.
        flat = parent.fileName.replace('.vmdk', '-flat.vmdk')
        self.assertEqual(b'\x5a' * MiB, self.datastore_file(flat))
        # The VM lives in the project's folder and the cluster's pool.
        folders = self.query(vim.Folder, ['name'])
        self.assertEqual('Instances', folders[vm['parent']._moId]['name'])
        info = self.driver.get_info(instance)
        self.assertEqual(power_state.RUNNING, info.state)

    def test_cached_spawn_downloads_once_and_stays_within_ceiling(self):
        first = self.make_instance()
        self.spawn(first, self.flat)
        second = self.make_instance()
        with self.session.calls.scope() as scope:
            self.spawn(second, self.flat)
        self.assertEqual(1, self.images.downloads[self.flat.id])
        self.assertEqual('poweredOn', self.vm(second)['runtime.powerState'])
        self.assertLessEqual(scope.total, 4, dict(scope.by_method))
        self.assertEqual(0, scope.by_method['RetrievePropertiesEx'])

    def test_power_ops_within_ceiling(self):
        instance = self.make_instance()
        self.spawn(instance, self.flat)
        for op, expected in (
                (lambda: self.driver.power_off(instance), 'poweredOff'),
                (lambda: self.driver.power_on(self.context, instance, []),
                 'poweredOn'),
                (lambda: self.driver.reboot(self.context, instance, [],
                                            'HARD'), 'poweredOn')):
            with self.session.calls.scope() as scope:
                op()
            self.assertLessEqual(scope.total, 2, dict(scope.by_method))
            self.assertEqual(expected, self.vm(instance)['runtime.powerState'])

    def test_power_on_and_off_are_idempotent(self):
        instance = self.make_instance()
        self.spawn(instance, self.flat)
        self.driver.power_on(self.context, instance, [])
        self.driver.power_off(instance)
        self.driver.power_off(instance)
        self.assertEqual('poweredOff', self.vm(instance)['runtime.powerState'])

    def test_spawn_powered_off(self):
        instance = self.make_instance()
        self.spawn(instance, self.flat, power_on=False)
        self.assertEqual('poweredOff', self.vm(instance)['runtime.powerState'])

    def test_destroy_removes_vm_and_folder_but_not_the_cache(self):
        instance = self.make_instance()
        self.spawn(instance, self.flat)
        vm = self.vm(instance)
        vmx = vm['config.files.vmPathName']
        parent = self.disks(vm)[0].backing.parent.fileName
        self.driver.destroy(self.context, instance, [])
        self.assertIsNone(self.vm(instance))
        self.assertIsNone(self.datastore_file(vmx))
        self.assertIsNotNone(self.datastore_file(
            parent.replace('.vmdk', '-flat.vmdk')))
        self.assertFalse(self.driver.instance_exists(instance))
        # Again: already gone is fine.
        self.driver.destroy(self.context, instance, [])

    def test_bad_image_property_is_refused_before_any_change(self):
        bad = self.images.add(b'\0' * MiB, vmware_disktype='bogus')
        instance = self.make_instance()
        before = set(self.query(vim.VirtualMachine, ['name']))
        exc = self.assertRaises(exception.ImageUnacceptable,
                                self.driver.spawn, self.context, instance,
                                bad, [], None, {}, [])
        self.assertIn('bogus', str(exc))
        self.assertEqual(before, set(self.query(vim.VirtualMachine,
                                                ['name'])))
        self.assertEqual(0, self.images.downloads[bad.id])

    def test_flavor_smaller_than_image(self):
        big = self.images.add(b'\0' * MiB, vmware_disktype='preallocated')
        big = objects.ImageMeta.from_dict(dict(
            big.obj_to_primitive()['nova_object.data'],
            virtual_size=3 * 1024 * MiB))
        self.images.data[big.id] = b'\0' * MiB
        instance = self.make_instance(root_gb=1)
        self.assertRaises(exception.FlavorDiskSmallerThanImage,
                          self.driver.spawn, self.context, instance, big,
                          [], None, {}, [])
        self.assertIsNone(self.vm(instance))
        # Refused before the image was fetched into the cache.
        self.assertEqual(0, self.images.downloads[big.id])

    def test_failed_create_leaves_nothing_behind(self):
        instance = self.make_instance()
        self.vcsim.inject('CreateVM_Task', action='task_error',
                          fault='NoDiskSpace')
        self.addCleanup(self.vcsim.clear_faults)
        exc = self.assertRaises(exception.InstanceDeployFailure,
                                self.driver.spawn, self.context, instance,
                                self.flat, [], None, {}, [])
        self.assertIn('NoDiskSpace', str(exc))
        self.assertIsNone(self.vm(instance))
        self.keep_cache_entry(self.flat.id)  # filled before CreateVM

    def test_failed_power_on_removes_the_vm(self):
        instance = self.make_instance()
        self.vcsim.inject('PowerOnVM_Task', action='task_error',
                          fault='InsufficientResourcesFault')
        self.addCleanup(self.vcsim.clear_faults)
        self.assertRaises(exception.InstanceDeployFailure,
                          self.driver.spawn, self.context, instance,
                          self.flat, [], None, {}, [])
        self.assertIsNone(self.vm(instance))
        self.assertFalse(self.driver.instance_exists(instance))
        self.keep_cache_entry(self.flat.id)  # filled before the power-on

    def test_failed_rollback_does_not_hide_the_spawn_error(self):
        logs = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))
        instance = self.make_instance()
        self.addCleanup(self.vcsim.clear_faults)
        self.vcsim.inject('PowerOnVM_Task', action='task_error',
                          fault='InsufficientResourcesFault')
        self.vcsim.inject('Destroy_Task', action='task_error',
                          fault='InvalidState', message='cleanup refused')
        self.keep_cache_entry(self.flat.id)  # filled before the power-on
        exc = self.assertRaises(exception.InstanceDeployFailure,
                                self.driver.spawn, self.context, instance,
                                self.flat, [], None, {}, [])
        self.assertIn('InsufficientResourcesFault', str(exc))
        self.assertNotIn('InvalidState', str(exc))
        self.assertIn('Could not remove VM', logs.output)
        self.assertIn('cleanup refused', logs.output)
        # The VM that could not be removed is left for destroy, which works.
        vm = self.vm(instance)
        self.assertEqual('poweredOff', vm['runtime.powerState'])
        self.vcsim.clear_faults()
        self.driver.destroy(self.context, instance, [])
        self.assertIsNone(self.vm(instance))
        self.assertIsNone(self.datastore_file(vm['config.files.vmPathName']))

    def test_failed_temp_cleanup_does_not_hide_the_copy_error(self):
        self.spawn(self.make_instance(), self.flat)  # the image is cached
        logs = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))
        instance = self.make_instance(root_gb=1)
        self.addCleanup(self.vcsim.clear_faults)
        # Growing the image to the flavor fails, then so does removing the
        # temporary folder of that copy.
        self.vcsim.inject('ExtendVirtualDisk_Task', action='task_error',
                          fault='NoDiskSpace')
        self.vcsim.inject('DeleteDatastoreFile_Task', action='fault',
                          fault='CannotDeleteFile')
        exc = self.assertRaises(exception.InstanceDeployFailure,
                                self.driver.spawn, self.context, instance,
                                self.flat, [], None, {}, [])
        self.assertIn('NoDiskSpace', str(exc))
        self.assertNotIn('CannotDeleteFile', str(exc))
        # The cleanup's failure is logged, naming the folder and the fault.
        self.assertIn('CannotDeleteFile', logs.output)
        self.assertIn('/fetch-lock.', logs.output)
        self.assertIsNone(self.vm(instance))
        # (the lock folder the fault kept, with the copy staged in it, is
        # the next fill's to break)
        self._remove_temp_folders(self.flat.id)

    def _remove_temp_folders(self, image_id):
        from nova_vmware_ext.vsphere import browser as vbrowser
        from nova_vmware_ext.vsphere import files as vfiles
        host = self.driver._host
        files = vfiles.FileManager(host.session, host.waiter,
                                   host.inventory.get().datacenter)
        browser = vbrowser.DatastoreBrowser(host.session, host.waiter)
        for ds in host.inventory.datastores():
            folder = host.cache.folder(ds.name, image_id)
            try:
                entries = browser.list_folder(ds.ref, folder)
            except vexc.FileNotFoundException:
                continue  # no entry of that image on this datastore
            for entry in entries:
                if entry.name.startswith(('tmp-', 'fetch-lock.')):
                    files.delete(entry.path)


def stream_optimized_vmdk(size_mb=8):
    """A real streamOptimized VMDK made by qemu-img (Debian qemu-utils)."""
    import os
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, 'disk.raw')
        with open(raw, 'wb') as f:
            f.truncate(size_mb * MiB)
            f.seek(0)
            f.write(b'nova-vmware-ext' * 1000)
        out = os.path.join(tmp, 'disk.vmdk')
        subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk',
                        '-o', 'subformat=streamOptimized', raw, out],
                       check=True)
        with open(out, 'rb') as f:
            return f.read()


class SpawnVariantsTest(SpawnTestBase):
    """Image kinds, disk layouts, networks and concurrency."""

    def test_stream_optimized_image_through_nfc(self):
        data = stream_optimized_vmdk(8)
        image = self.images.add(data, vmware_disktype='streamOptimized')
        instance = self.make_instance()
        self.spawn(instance, image)
        vm = self.vm(instance)
        self.assertEqual('poweredOn', vm['runtime.powerState'])
        parent = self.disks(vm)[0].backing.parent
        self.assertTrue(parent.fileName.endswith(
            '_base/%s/%s.vmdk' % (image.id, image.id)))
        # The cache holds exactly what Glance served; the import VM is gone.
        self.assertEqual(data, self.datastore_file(parent.fileName))
        # Sized from the VMDK header read while filling: one download.
        self.assertEqual(8 * 1024, self.disks(vm)[0].capacityInKB)
        self.assertEqual(1, self.images.downloads[image.id])
        names = [v['name'] for v in self.query(vim.VirtualMachine,
                                               ['name']).values()]
        self.assertFalse([n for n in names if n.startswith('tmp-')], names)

    def test_vm_names_as_in_tree_files_in_the_uuid_folder(self):
        long_name = self.make_instance(display_name='x' * 60)
        unnamed = self.make_instance(display_name='')
        for instance in (long_name, unnamed):
            self.spawn(instance, self.flat)
        vm = self.vm(long_name)
        self.assertEqual('x' * 41 + ' (%s)' % long_name.uuid, vm['name'])
        self.assertEqual(80, len(vm['name']))
        self.assertEqual(unnamed.uuid, self.vm(unnamed)['name'])
        vmx = vm['config.files.vmPathName']
        self.assertTrue(vmx.split('] ', 1)[1].startswith(long_name.uuid + '/'),
                        vmx)
        # Found by UUID whatever the name, and destroyed with its folder.
        self.assertTrue(self.driver.instance_exists(long_name))
        self.driver.destroy(self.context, long_name, [])
        self.assertIsNone(self.vm(long_name))
        self.assertIsNone(self.datastore_file(vmx))

    def test_root_disk_grown_to_flavor_through_a_sized_cache_entry(self):
        instance = self.make_instance(root_gb=1)
        self.spawn(instance, self.flat)
        disk = self.disks(self.vm(instance))[0]
        self.assertEqual(1024 * 1024, disk.capacityInKB)
        self.assertTrue(disk.backing.parent.fileName.endswith(
            '%s.1.vmdk' % self.flat.id))
        # The next instance of that size reuses the sized entry (counted
        # once the VM watcher knows the cluster, as in a running compute).
        other = self.make_instance(root_gb=1)
        self.assertTrue(self.driver._host.watcher.table.wait_for(
            lambda t: t.warm, 20))
        with self.session.calls.scope() as scope:
            self.spawn(other, self.flat)
        self.assertEqual(0, scope.by_method['CopyVirtualDisk_Task'])
        self.assertLessEqual(scope.total, 4, dict(scope.by_method))

    def test_full_copy_when_linked_clones_are_off(self):
        self.flags.config(group='vmware', use_linked_clone=False)
        self.restart_driver()._host.spawner.image_api = self.images
        instance = self.make_instance(root_gb=1)
        self.spawn(instance, self.flat)
        disk = self.disks(self.vm(instance))[0]
        self.assertIsNone(disk.backing.parent)
        self.assertEqual('[LocalDS_0] %s/%s.vmdk' % (
            instance.uuid, instance.uuid), disk.backing.fileName)
        self.assertEqual(1024 * 1024, disk.capacityInKB)

    def test_image_property_turns_linked_clone_off(self):
        image = self.images.add(b'\x11' * MiB, vmware_disktype='thin',
                                img_linked_clone=False)
        instance = self.make_instance()
        self.spawn(instance, image)
        self.assertIsNone(self.disks(self.vm(instance))[0].backing.parent)

    def test_iso_image_boots_from_cdrom_with_blank_root_disk(self):
        data = image_files.iso_image()
        iso = self.images.add(data, disk_format='iso')
        instance = self.make_instance(root_gb=1)
        self.spawn(instance, iso)
        vm = self.vm(instance)
        cdroms = [d for d in vm['config.hardware.device']
                  if isinstance(d, vim.vm.device.VirtualCdrom)]
        isos = [c.backing.fileName for c in cdroms
                if isinstance(c.backing,
                              vim.vm.device.VirtualCdrom.IsoBackingInfo)]
        self.assertEqual(['[LocalDS_0] _base/%s/%s.iso' % (iso.id, iso.id)],
                         [i.replace('LocalDS_1', 'LocalDS_0') for i in isos])
        self.assertEqual(data, self.datastore_file(isos[0]))
        disks = self.disks(vm)
        self.assertEqual(1, len(disks))
        self.assertIsNone(disks[0].backing.parent)
        self.assertEqual(1024 * 1024, disks[0].capacityInKB)

    def test_ephemeral_and_swap_disks(self):
        instance = self.make_instance()
        instance.flavor.ephemeral_gb = 1
        instance.flavor.swap = 512
        self.spawn(instance, self.flat)
        sizes = sorted(d.capacityInKB for d in self.disks(self.vm(instance)))
        self.assertEqual(sorted([1024, 1024 * 1024, 512 * 1024]), sizes)

    def test_nic_on_distributed_portgroup(self):
        from nova.network import model as network_model
        port = uuidutils.generate_uuid()
        vif = network_model.VIF(
            id=port, address='fa:16:3e:00:00:01', type='dvs',
            details={'dvs_port_group_name': 'DC0_DVPG0'},
            network=network_model.Network(id='net-1', bridge='DC0_DVPG0',
                                          label='private'))
        instance = self.make_instance()
        self.spawn(instance, self.flat,
                   network_info=network_model.NetworkInfo([vif]))
        vm = self.vm(instance)
        nics = [d for d in vm['config.hardware.device']
                if isinstance(d, vim.vm.device.VirtualEthernetCard)]
        self.assertEqual(1, len(nics))
        self.assertEqual('fa:16:3e:00:00:01', nics[0].macAddress)
        pgs = self.query(vim.dvs.DistributedVirtualPortgroup,
                         ['name', 'key', 'config.distributedVirtualSwitch'])
        pg = [p for p in pgs.values() if p['name'] == 'DC0_DVPG0'][0]
        switch = self.query(vim.DistributedVirtualSwitch, ['uuid'])[
            pg['config.distributedVirtualSwitch']._moId]
        self.assertEqual(pg['key'], nics[0].backing.port.portgroupKey)
        self.assertEqual(switch['uuid'], nics[0].backing.port.switchUuid)
        extra = {o.key: o.value for o in vm['config.extraConfig']}
        self.assertEqual(port, extra['nvp.iface-id.0'])

    def test_unknown_network_is_refused_and_leaves_nothing(self):
        from nova.network import model as network_model
        vif = network_model.VIF(
            id=uuidutils.generate_uuid(), address='fa:16:3e:00:00:02',
            type='dvs', details={'dvs_port_group_name': 'no-such-pg'},
            network=network_model.Network(id='n', bridge='no-such-pg'))
        instance = self.make_instance()
        exc = self.assertRaises(
            exception.NetworkNotFoundForBridge, self.driver.spawn,
            self.context, instance, self.flat, [], None, {},
            network_model.NetworkInfo([vif]))
        self.assertIn('no-such-pg', str(exc))
        self.assertIsNone(self.vm(instance))

    def test_concurrent_spawns_of_one_image_download_it_once(self):
        import threading
        image = self.images.add(b'\x33' * MiB, vmware_disktype='thin')
        instances = [self.make_instance() for _ in range(3)]
        errors = []

        def spawn(instance):
            try:
                self.spawn(instance, image)
            except Exception as exc:  # reported below
                errors.append(exc)
        threads = [threading.Thread(target=spawn, args=(i,))
                   for i in instances]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        self.assertEqual([], errors)
        self.assertEqual(1, self.images.downloads[image.id])
        for instance in instances:
            self.assertEqual('poweredOn',
                             self.vm(instance)['runtime.powerState'])

    def test_two_computes_share_the_cache_and_download_once(self):
        other = self.second_compute()
        image = self.images.add(b'\x44' * MiB, vmware_disktype='thin')
        first, second = self.spawn_on_both(other, image)
        self.assertEqual(1, self.images.downloads[image.id])
        self.assertEqual('poweredOn', self.vm(second)['runtime.powerState'])

    def test_config_drive(self):
        import fixtures

        class Metadata(object):
            # Nova's InstanceMetadata reads the cell database; the ISO
            # building and upload are what is tested here.
            def __init__(self, instance, **kwargs):
                self.uuid = instance.uuid

            def metadata_for_config_drive(self):
                yield ('openstack/latest/meta_data.json',
                       ('{"uuid": "%s"}' % self.uuid).encode())
        self.useFixture(fixtures.MockPatch(
            'nova.api.metadata.base.InstanceMetadata', Metadata))
        instance = self.make_instance(config_drive='True')
        self.spawn(instance, self.flat)
        vm = self.vm(instance)
        isos = [d.backing.fileName for d in vm['config.hardware.device']
                if isinstance(d, vim.vm.device.VirtualCdrom)
                and isinstance(d.backing,
                               vim.vm.device.VirtualCdrom.IsoBackingInfo)]
        self.assertEqual(1, len(isos))
        self.assertTrue(isos[0].endswith('%s/configdrive.iso'
                                         % instance.uuid))
        data = self.datastore_file(isos[0])
        self.assertIsNotNone(data)
        self.assertIn(b'CD001', data[32768:32775])  # an ISO 9660 volume


def sparse_vmdk(size_mb=4):
    """A monolithicSparse VMDK made by qemu-img (Debian qemu-utils)."""
    import os
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, 'disk.raw')
        with open(raw, 'wb') as f:
            f.truncate(size_mb * MiB)
        out = os.path.join(tmp, 'disk.vmdk')
        subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk',
                        '-o', 'subformat=monolithicSparse', raw, out],
                       check=True)
        with open(out, 'rb') as f:
            return f.read()


class SparseImageTest(SpawnTestBase):

    def test_sparse_vmdk_is_converted_by_copy(self):
        image = self.images.add(sparse_vmdk(4), vmware_disktype='sparse')
        instance = self.make_instance()
        with self.session.calls.scope() as scope:
            self.spawn(instance, image)
        self.assertEqual(1, scope.by_method['CopyVirtualDisk_Task'])
        vm = self.vm(instance)
        parent = self.disks(vm)[0].backing.parent.fileName
        self.assertTrue(parent.endswith('_base/%s/%s.vmdk'
                                        % (image.id, image.id)))
        self.assertEqual('poweredOn', vm['runtime.powerState'])
        # The uploaded sparse file was a temporary: only the entry remains.
        listing = self.datastore_file(
            '[LocalDS_0] _base/%s/%s-sparse.vmdk' % (image.id, image.id))
        self.assertIsNone(listing)


class CachedDiskSizeTest(SpawnTestBase):

    VCSIM_SHAPE = dict(hosts=1, datastores=1, portgroups=0)

    def test_cache_hit_after_a_restart_is_sized_by_vsphere(self):
        # Glance has no virtual_size, and the file is smaller than the disk.
        data = sparse_vmdk(4)
        image = self.images.add(data, vmware_disktype='sparse')
        self.assertLess(len(data), MiB)
        first = self.make_instance()
        self.spawn(first, image)
        self.assertEqual(1, self.images.downloads[image.id])
        parent = self.disks(self.vm(first))[0].backing.parent.fileName
        self.driver.destroy(self.context, first, [])
        self.restart_driver()._host.spawner.image_api = self.images
        second, grown = self.make_instance(), self.make_instance(root_gb=1)
        self.spawn(second, image)
        self.spawn(grown, image)
        # No second look at the image: vSphere knows the cached disk's size.
        self.assertEqual(1, self.images.downloads[image.id])
        disk = self.disks(self.vm(second))[0]
        self.assertEqual(4 * 1024, disk.capacityInKB)
        self.assertEqual(parent, disk.backing.parent.fileName)
        self.assertEqual(1024 * 1024,
                         self.disks(self.vm(grown))[0].capacityInKB)


class PlacementAndHardwareTest(SpawnTestBase):
    """Where the VM goes and what hardware the flavor gives it."""

    VCSIM_SHAPE = dict(hosts=2, datastores=3, portgroups=1,
                       extra_args=('-nsx', '1'))

    def test_datastore_regex_pool_and_project_folder(self):
        self.flags.config(group='vmware', datastore_regex='LocalDS_2')
        self.restart_driver()._host.spawner.image_api = self.images
        instance = self.make_instance()
        self.spawn(instance, self.flat)
        vm = self.vm(instance)
        self.assertTrue(vm['config.files.vmPathName'].startswith(
            '[LocalDS_2] '), vm['config.files.vmPathName'])
        clusters = self.query(vim.ClusterComputeResource,
                              ['name', 'resourcePool'])
        pool = [c['resourcePool'] for c in clusters.values()
                if c['name'] == self.CLUSTER][0]
        self.assertEqual(pool._moId, vm['resourcePool']._moId)
        folders = self.query(vim.Folder, ['name', 'parent'])
        names = []
        ref = vm['parent']
        while ref._moId in folders:
            names.append(folders[ref._moId]['name'])
            ref = folders[ref._moId]['parent']
        self.assertEqual(['Instances', 'Project (%s)' % instance.project_id,
                          'OpenStack', 'vm'], names[:4])

    def test_most_free_datastore_is_chosen(self):
        stores = self.query(vim.Datastore, ['summary'])
        free = {s['summary'].name: s['summary'].freeSpace
                for s in stores.values()}
        self.driver.get_available_resource(
            self.driver.get_available_nodes()[0])  # the periodic refresh
        instance = self.make_instance()
        self.spawn(instance, self.flat)
        chosen = self.vm(instance)['config.files.vmPathName'][1:].split(']')[0]
        self.assertEqual(max(free.values()), free[chosen])

    def test_flavor_quotas_topology_and_hw_version(self):
        instance = self.make_instance(vcpus=4, extra_specs={
            'quota:cpu_limit': '2000', 'quota:cpu_reservation': '500',
            'quota:memory_shares_level': 'custom',
            'quota:memory_shares_share': '1500',
            'hw:cpu_sockets': '2', 'vmware:hw_version': 'vmx-13'})
        self.spawn(instance, self.flat)
        vm = self.vm_of(instance.uuid, [
            'config.cpuAllocation', 'config.memoryAllocation',
            'config.hardware.numCPU', 'config.hardware.numCoresPerSocket',
            'config.version'])
        self.assertEqual(4, vm['config.hardware.numCPU'])
        self.assertEqual(2, vm['config.hardware.numCoresPerSocket'])
        self.assertEqual(2000, vm['config.cpuAllocation'].limit)
        self.assertEqual(500, vm['config.cpuAllocation'].reservation)
        shares = vm['config.memoryAllocation'].shares
        self.assertEqual(('custom', 1500), (shares.level, shares.shares))
        self.assertEqual('vmx-13', vm['config.version'])

    def test_bad_extra_spec_is_refused_before_any_change(self):
        instance = self.make_instance(extra_specs={
            'quota:cpu_shares_level': 'loud'})
        exc = self.assertRaises(exception.InvalidInput, self.driver.spawn,
                                self.context, instance, self.flat, [], None,
                                {}, [])
        self.assertIn('quota:cpu_shares_level', str(exc))
        self.assertIn('loud', str(exc))
        self.assertIsNone(self.vm(instance))

    def _nic(self, vif):
        from nova.network import model as network_model
        instance = self.make_instance()
        self.spawn(instance, self.flat,
                   network_info=network_model.NetworkInfo([vif]))
        return [d for d in self.vm(instance)['config.hardware.device']
                if isinstance(d, vim.vm.device.VirtualEthernetCard)][0]

    def test_nic_on_standard_portgroup(self):
        from nova.network import model as network_model
        nic = self._nic(network_model.VIF(
            id=uuidutils.generate_uuid(), address='fa:16:3e:00:00:11',
            type='dvs', details={},
            network=network_model.Network(id='n', bridge='VM Network')))
        self.assertIsInstance(
            nic.backing, vim.vm.device.VirtualEthernetCard.NetworkBackingInfo)
        self.assertEqual('VM Network', nic.backing.deviceName)

    def test_nic_on_nsx_opaque_network(self):
        from nova.network import model as network_model
        opaque = self.query(vim.OpaqueNetwork, ['summary'])
        summary = list(opaque.values())[0]['summary']
        port = uuidutils.generate_uuid()
        nic = self._nic(network_model.VIF(
            id=port, address='fa:16:3e:00:00:12', type='ovs',
            details={'nsx-logical-switch-id': summary.opaqueNetworkId},
            network=network_model.Network(id='n', bridge='br-int')))
        self.assertIsInstance(
            nic.backing,
            vim.vm.device.VirtualEthernetCard.OpaqueNetworkBackingInfo)
        self.assertEqual(summary.opaqueNetworkId, nic.backing.opaqueNetworkId)
        self.assertEqual(port, nic.externalId)


class VanishedCacheTest(SpawnTestBase):

    def test_entry_aged_out_by_another_compute_is_filled_again(self):
        first = self.make_instance(root_gb=1)
        self.spawn(first, self.flat)
        parent = self.disks(self.vm(first))[0].backing.parent.fileName
        self.driver.destroy(self.context, first, [])
        # Another compute sharing the datastore removed the image's folder.
        # (pyVim cannot read vcsim's FileManager tasks, whose entity is not
        # a ManagedEntity: our own session does the deleting.)
        from nova_vmware_ext.vsphere import files as vfiles
        host = self.driver._host
        vfiles.FileManager(host.session, host.waiter,
                           host.inventory.get().datacenter).delete(
            vfiles.DatastorePath.parse(parent).parent)
        self.assertIsNone(self.datastore_file(parent))
        second = self.make_instance(root_gb=1)
        self.spawn(second, self.flat)
        vm = self.vm(second)
        self.assertEqual('poweredOn', vm['runtime.powerState'])
        self.assertEqual(parent, self.disks(vm)[0].backing.parent.fileName)
        self.assertIsNotNone(self.datastore_file(
            parent.replace('.vmdk', '-flat.vmdk')))
        self.assertEqual(2, self.images.downloads[self.flat.id])


class InventoryChangesTest(SpawnTestBase):

    VCSIM_SHAPE = dict(hosts=1, datastores=1, portgroups=1)

    def test_new_port_group_is_found_without_restart(self):
        from nova.network import model as network_model
        dvs = [m for m in self.query(vim.DistributedVirtualSwitch,
                                     ['name'])][0]
        switch = vim.DistributedVirtualSwitch(dvs, self.si._stub)
        driver_base.wait_task(switch.AddDVPortgroup_Task([
            vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
                name='late-pg', type='earlyBinding', numPorts=8)]))
        vif = network_model.VIF(
            id=uuidutils.generate_uuid(), address='fa:16:3e:00:00:21',
            type='dvs', details={'dvs_port_group_name': 'late-pg'},
            network=network_model.Network(id='n', bridge='late-pg'))
        instance = self.make_instance()
        self.spawn(instance, self.flat,
                   network_info=network_model.NetworkInfo([vif]))
        nics = [d for d in self.vm(instance)['config.hardware.device']
                if isinstance(d, vim.vm.device.VirtualEthernetCard)]
        pgs = self.query(vim.dvs.DistributedVirtualPortgroup, ['name', 'key'])
        key = [p['key'] for p in pgs.values() if p['name'] == 'late-pg'][0]
        self.assertEqual(key, nics[0].backing.port.portgroupKey)


class BrokenImageTest(SpawnTestBase):

    def _listing(self, image_id):
        from nova_vmware_ext.vsphere import props
        host = self.driver._host
        ds = host.inventory.datastores()[0]
        browser = props.retrieve_one(host.session, ds.ref,
                                     ['browser'])['browser']
        task = browser.SearchDatastoreSubFolders_Task(
            '[%s] _base' % ds.name, vim.host.DatastoreBrowser.SearchSpec())
        results = host.waiter.wait(task) or []
        return [(r.folderPath, f.path) for r in results
                for f in r.file or () if image_id in r.folderPath]

    def test_glance_failing_mid_stream_leaves_nothing(self):
        image = self.images.add(b'\x07' * (4 * MiB), vmware_disktype='thin')
        real = self.images.download

        def failing(context, image_id):
            for n, chunk in enumerate(real(context, image_id)):
                if n == 12:  # 3 MiB: past what is judged before writing
                    raise IOError('glance went away')
                yield chunk
        self.images.download = failing
        instance = self.make_instance()
        exc = self.assertRaises(exception.InstanceDeployFailure,
                                self.driver.spawn, self.context, instance,
                                image, [], None, {}, [])
        self.assertIn('glance went away', str(exc))
        self.assertIsNone(self.vm(instance))
        # No entry, no temporary folder, no lock left in the cache.
        self.assertEqual([], [p for p in self._listing(image.id)
                              if not p[1].endswith('/')])
        self.assertFalse([p for p in self._listing(image.id)
                          if 'tmp-' in p[0] + p[1]
                          or 'fetch-lock' in p[0] + p[1]])
        # A later spawn, with Glance back, works.
        self.images.download = real
        again = self.make_instance()
        self.spawn(again, image)
        self.assertEqual('poweredOn', self.vm(again)['runtime.powerState'])
        # (and the listing above could have shown files: now it does)
        self.assertIn('%s.vmdk' % image.id,
                      [f for _, f in self._listing(image.id)])

    def test_not_a_vmdk_declared_stream_optimized(self):
        image = self.images.add(b'not a vmdk' * 100,
                                vmware_disktype='streamOptimized')
        instance = self.make_instance()
        exc = self.assertRaises(exception.ImageUnacceptable,
                                self.driver.spawn, self.context, instance,
                                image, [], None, {}, [])
        self.assertIn('must be a streamOptimized VMDK', str(exc))
        self.assertIsNone(self.vm(instance))
        names = [v['name'] for v in self.query(vim.VirtualMachine,
                                               ['name']).values()]
        self.assertFalse([n for n in names if n.startswith('tmp-')])


class StaleLockTest(SpawnTestBase):

    def _locked_image(self, fill):
        """(image, host, lock): an image whose cache entry another compute
        holds the fetch lock of."""
        from nova_vmware_ext.vsphere import files as vfiles
        image = self.images.add(fill * MiB, vmware_disktype='thin')
        host = self.driver._host
        entry = host.cache.disk_path('LocalDS_0', image.id)
        lock = entry.parent.join(
            'fetch-lock.%s' % entry.basename.replace('.', '_'))
        vfiles.FileManager(host.session, host.waiter,
                           host.inventory.get().datacenter).make_directory(
            lock)
        return image, host, lock

    def test_lock_left_by_a_dead_compute_is_broken(self):
        image, host, lock = self._locked_image(b'\x09')
        # The simulator stamps it now: say it is two days old, beyond the
        # hour a fill may take, so nobody waits that hour for it.
        host.cache.fetch_timeout = 3600
        host.cache.age_of = lambda path: 2 * 86400
        instance = self.make_instance()
        self.spawn(instance, image)
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])
        self.assertIsNone(self.datastore_file(str(lock)))

    def test_fresh_lock_is_waited_for(self):
        image, host, lock = self._locked_image(b'\x0a')
        ages = []
        real_age = host.cache.age_of

        def age_of(path):
            ages.append(real_age(path))
            # The owner finishes: its lock goes away.
            host.cache.delete(lock)
            return ages[-1]
        host.cache.age_of = age_of
        instance = self.make_instance()
        self.spawn(instance, image)
        self.assertEqual(1, len(ages))
        self.assertLess(ages[0], 300)  # it was fresh
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])


class ExpiredSessionTest(SpawnTestBase):

    def test_session_ending_during_an_upload_is_survived(self):
        image = self.images.add(b'\x0b' * (2 * MiB), vmware_disktype='thin')
        disks = self.driver._host.fetcher.disks
        real = disks.create
        ended = []

        def create(*args, **kwargs):
            real(*args, **kwargs)
            if not ended:
                # vCenter ends the session as the image's bytes go out
                # (after the first ones were judged, before the upload).
                self.si.content.sessionManager.TerminateSession(
                    [self.session.session_key])
                ended.append(True)
        self.patch(disks, 'create', create)
        logins = self.session.calls.login
        instance = self.make_instance()
        self.spawn(instance, image)
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])
        self.assertGreater(self.session.calls.login, logins)
        self.assertEqual(2, self.images.downloads[image.id])
        flat = '[LocalDS_0] _base/%s/%s-flat.vmdk' % (image.id, image.id)
        self.assertEqual(b'\x0b' * (2 * MiB), self.datastore_file(flat))
