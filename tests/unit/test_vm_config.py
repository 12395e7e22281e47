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

"""MachineSpec -> vim.vm.ConfigSpec, checked on the pyVmomi objects."""

from nova import exception
from nova.network import model as network_model
from nova import objects
from pyVmomi import SoapAdapter
from pyVmomi import vim
from pyVmomi import VmomiSupport
import testtools

from nova_vmware_ext.compute import flavor as vflavor
from nova_vmware_ext.compute import specs
from nova_vmware_ext.compute import vm_config
from nova_vmware_ext.vsphere.files import DatastorePath

objects.register_all()

UUID = '6f3b7d8e-1c2a-4b5d-9e0f-123456789abc'
SCSI_KINDS = {
    'lsiLogic': vim.vm.device.VirtualLsiLogicController,
    'busLogic': vim.vm.device.VirtualBusLogicController,
    'lsiLogicsas': vim.vm.device.VirtualLsiLogicSASController,
    'paraVirtual': vim.vm.device.ParaVirtualSCSIController,
}


def _disk(adapter='lsiLogic', **kwargs):
    kwargs.setdefault('role', specs.DISK_EPHEMERAL)
    kwargs.setdefault('size_kb', 1024)
    return specs.DiskSpec(adapter_type=adapter, **kwargs)


def _nic(network, port_id='port-1', model='VirtualVmxnet3', **kwargs):
    return specs.NicSpec(index=0, port_id=port_id,
                         mac_address='fa:16:3e:00:00:01', model=model,
                         network=network, **kwargs)


def _spec(**kwargs):
    values = dict(name=UUID, instance_uuid=UUID, guest_id='ubuntu64Guest',
                  num_cpus=4, cores_per_socket=2, memory_mb=2048)
    values.update(kwargs)
    return specs.MachineSpec(**values)


def _devices(config, cls):
    return [change.device for change in config.deviceChange
            if isinstance(change.device, cls)]


def _change(config, device):
    return next(c for c in config.deviceChange if c.device is device)


class CreateSpecTest(testtools.TestCase):

    def test_hardware(self):
        config = vm_config.create_spec(_spec(
            firmware='efi', hw_version='vmx-14', annotation='name:web-1\n',
            extra_config={'nvp.vm-uuid': UUID}), DatastorePath('ds1'))
        self.assertEqual(UUID, config.name)
        self.assertEqual(UUID, config.instanceUuid)
        self.assertEqual('ubuntu64Guest', config.guestId)
        self.assertEqual('[ds1]', config.files.vmPathName)
        self.assertEqual((4, 2, 2048), (config.numCPUs,
                                        config.numCoresPerSocket,
                                        config.memoryMB))
        self.assertEqual('efi', config.firmware)
        self.assertEqual('vmx-14', config.version)
        self.assertEqual('name:web-1\n', config.annotation)
        self.assertEqual([('nvp.vm-uuid', UUID)],
                         [(o.key, o.value) for o in config.extraConfig])
        self.assertIsInstance(config.extraConfig[0], vim.option.OptionValue)
        self.assertTrue(config.tools.afterPowerOn)
        self.assertIsNone(config.cpuAllocation)
        self.assertIsNone(config.memoryAllocation)
        self.assertIsNone(config.managedBy)
        self.assertFalse(config.nestedHVEnabled)
        self.assertEqual([], list(config.deviceChange))

    def test_unset_firmware_and_version_are_left_to_vsphere(self):
        config = vm_config.create_spec(_spec(), '[ds1]')
        self.assertIsNone(config.firmware)
        self.assertIsNone(config.version)

    def test_allocations(self):
        config = vm_config.create_spec(_spec(
            cpu_allocation=vflavor.Allocation(limit=2000),
            memory_allocation=vflavor.Allocation(
                reservation=512, shares_level='custom', shares=3000)),
            '[ds1]')
        cpu, memory = config.cpuAllocation, config.memoryAllocation
        self.assertEqual((2000, 0, 'normal', 0),
                         (cpu.limit, cpu.reservation, cpu.shares.level,
                          cpu.shares.shares))
        self.assertEqual((-1, 512, 'custom', 3000),
                         (memory.limit, memory.reservation,
                          memory.shares.level, memory.shares.shares))

    def test_managed_by_and_nested_hv(self):
        config = vm_config.create_spec(_spec(nested_hv=True), '[ds1]',
                                       managed_by=vm_config.EXTENSION_KEY)
        self.assertEqual(('org.openstack.compute', 'instance'),
                         (config.managedBy.extensionKey,
                          config.managedBy.type))
        self.assertTrue(config.nestedHVEnabled)

    def test_storage_policy_applies_to_the_vm_and_every_disk(self):
        config = vm_config.create_spec(_spec(
            disks=[_disk(role=specs.DISK_ROOT,
                         parent=DatastorePath('ds1', 'base.vmdk')),
                   _disk()],
            cdroms=[specs.CdromSpec(DatastorePath('ds1', 'a.iso'))],
            storage_profile_id='profile-gold'), '[ds1]')
        self.assertEqual(['profile-gold'],
                         [p.profileId for p in config.vmProfile])
        self.assertIsInstance(config.vmProfile[0], vim.vm.DefinedProfileSpec)
        disks = _devices(config, vim.vm.device.VirtualDisk)
        self.assertEqual([['profile-gold'], ['profile-gold']],
                         [[p.profileId for p in _change(config, d).profile]
                          for d in disks])
        cdrom = _devices(config, vim.vm.device.VirtualCdrom)[0]
        self.assertEqual([], list(_change(config, cdrom).profile))

    def test_no_storage_policy_no_profile(self):
        config = vm_config.create_spec(_spec(disks=[_disk()]), '[ds1]')
        self.assertEqual([], list(config.vmProfile))
        disk = _devices(config, vim.vm.device.VirtualDisk)[0]
        self.assertEqual([], list(_change(config, disk).profile))

    def test_temporary_keys_are_negative_and_unique(self):
        config = vm_config.create_spec(_spec(
            disks=[_disk(), _disk('sata')],
            cdroms=[specs.CdromSpec(DatastorePath('ds1', 'a.iso'))],
            nics=[_nic(specs.NetworkRef('portgroup', name='VM Network'))],
            video_ram_kb=8192), '[ds1]')
        keys = [change.device.key for change in config.deviceChange]
        self.assertEqual(len(keys), len(set(keys)))
        self.assertTrue(all(key < 0 for key in keys))

    def test_serializes(self):
        config = vm_config.create_spec(_spec(
            disks=[_disk(parent=DatastorePath('ds1', 'base.vmdk'),
                         io_limits=vflavor.DiskIoLimits(limit=10))],
            nics=[_nic(specs.NetworkRef('dvs', switch_uuid='sw',
                                        portgroup_key='pg'))]), '[ds1]')
        text = SoapAdapter.Serialize(
            config, version=VmomiSupport.newestVersions.GetName('vim'))
        self.assertIn(b'<parent><fileName>[ds1] base.vmdk</fileName>', text)
        self.assertIn(b'<switchUuid>sw</switchUuid>', text)


class ControllersTest(testtools.TestCase):

    def test_one_controller_per_scsi_kind(self):
        for kind, cls in SCSI_KINDS.items():
            config = vm_config.create_spec(
                _spec(disks=[_disk(kind), _disk(kind)]), '[ds1]')
            controller, = _devices(config, vim.vm.device.VirtualController)
            self.assertIsInstance(controller, cls)
            self.assertLess(controller.key, 0)
            self.assertEqual(0, controller.busNumber)
            self.assertEqual('noSharing', controller.sharedBus)
            disks = _devices(config, vim.vm.device.VirtualDisk)
            self.assertEqual([controller.key] * 2,
                             [d.controllerKey for d in disks])
            self.assertEqual([0, 1], [d.unitNumber for d in disks])
            # The controller comes before the disks that refer to it.
            self.assertIs(controller, config.deviceChange[0].device)

    def test_scsi_unit_7_is_skipped(self):
        config = vm_config.create_spec(
            _spec(disks=[_disk() for _ in range(9)]), '[ds1]')
        self.assertEqual([0, 1, 2, 3, 4, 5, 6, 8, 9], [
            d.unitNumber for d in _devices(config,
                                           vim.vm.device.VirtualDisk)])

    def test_a_full_bus_gets_another_controller(self):
        config = vm_config.create_spec(
            _spec(disks=[_disk() for _ in range(16)]), '[ds1]')
        controllers = _devices(config, vim.vm.device.VirtualController)
        self.assertEqual([0, 1], [c.busNumber for c in controllers])
        last = _devices(config, vim.vm.device.VirtualDisk)[-1]
        self.assertEqual((controllers[1].key, 0),
                         (last.controllerKey, last.unitNumber))

    def test_mixed_scsi_kinds_share_the_bus_numbers(self):
        config = vm_config.create_spec(
            _spec(disks=[_disk('lsiLogic'), _disk('paraVirtual')]), '[ds1]')
        controllers = _devices(config, vim.vm.device.VirtualController)
        self.assertEqual([0, 1], [c.busNumber for c in controllers])

    def test_too_many_scsi_disks(self):
        exc = self.assertRaises(
            exception.InvalidInput, vm_config.create_spec,
            _spec(disks=[_disk() for _ in range(61)]), '[ds1]')
        self.assertIn('at most 60 scsi', str(exc))

    def test_ide_uses_the_default_controllers(self):
        iso = DatastorePath('ds1', 'a.iso')
        config = vm_config.create_spec(_spec(
            disks=[_disk('ide'), _disk('ide')],
            cdroms=[specs.CdromSpec(iso), specs.CdromSpec(iso)]), '[ds1]')
        self.assertEqual([], _devices(config,
                                      vim.vm.device.VirtualController))
        self.assertEqual([(200, 0), (200, 1)], [
            (d.controllerKey, d.unitNumber)
            for d in _devices(config, vim.vm.device.VirtualDisk)])
        self.assertEqual([(201, 0), (201, 1)], [
            (d.controllerKey, d.unitNumber)
            for d in _devices(config, vim.vm.device.VirtualCdrom)])

    def test_too_many_ide_devices(self):
        iso = specs.CdromSpec(DatastorePath('ds1', 'a.iso'))
        exc = self.assertRaises(
            exception.InvalidInput, vm_config.create_spec,
            _spec(disks=[_disk('ide')] * 3, cdroms=[iso, iso]), '[ds1]')
        self.assertIn('at most 4 ide', str(exc))

    def test_sata_gets_an_ahci_controller(self):
        config = vm_config.create_spec(_spec(
            disks=[_disk('sata')],
            cdroms=[specs.CdromSpec(DatastorePath('ds1', 'a.iso'),
                                    'sata')]), '[ds1]')
        controller, = _devices(config, vim.vm.device.VirtualController)
        self.assertIsInstance(controller, vim.vm.device.VirtualAHCIController)
        self.assertEqual([(controller.key, 0), (controller.key, 1)], [
            (d.controllerKey, d.unitNumber) for d in
            _devices(config, vim.vm.device.VirtualDisk) +
            _devices(config, vim.vm.device.VirtualCdrom)])

    def test_unknown_adapter(self):
        exc = self.assertRaises(exception.InvalidInput, vm_config.create_spec,
                                _spec(disks=[_disk('nvme')]), '[ds1]')
        self.assertIn("'nvme'", str(exc))
        self.assertIn('lsiLogic, busLogic', str(exc))


class DisksTest(testtools.TestCase):

    def _disk_device(self, disk):
        config = vm_config.create_spec(_spec(disks=[disk]), '[ds1]')
        device, = _devices(config, vim.vm.device.VirtualDisk)
        return _change(config, device), device

    def test_new_disk(self):
        change, device = self._disk_device(_disk(size_kb=2048))
        self.assertEqual('add', change.operation)
        self.assertEqual('create', change.fileOperation)
        self.assertEqual(2048, device.capacityInKB)
        self.assertEqual(2048 * 1024, device.capacityInBytes)
        backing = device.backing
        self.assertIsInstance(backing,
                              vim.vm.device.VirtualDisk.FlatVer2BackingInfo)
        self.assertEqual('', backing.fileName)
        self.assertEqual('persistent', backing.diskMode)
        self.assertIsNone(backing.parent)
        self.assertIsNone(device.storageIOAllocation)

    def test_provisioning(self):
        cases = {'thin': (True, None), 'preallocated': (False, None),
                 'eagerZeroedThick': (False, True)}
        for provisioning, (thin, scrub) in cases.items():
            _change_, device = self._disk_device(
                _disk(provisioning=provisioning))
            self.assertEqual((thin, scrub), (device.backing.thinProvisioned,
                                             device.backing.eagerlyScrub))

    def test_new_disk_at_a_path(self):
        path = DatastorePath('ds1', '%s/swap.vmdk' % UUID)
        _change_, device = self._disk_device(_disk(path=path))
        self.assertEqual(str(path), device.backing.fileName)

    def test_linked_clone(self):
        parent = DatastorePath('ds1', 'vmware_base/img/img.vmdk')
        change, device = self._disk_device(_disk(
            role='root', size_kb=10 * 1024 * 1024, parent=parent,
            create_size_kb=1024 * 1024))
        self.assertEqual('create', change.fileOperation)
        self.assertEqual('', device.backing.fileName)
        self.assertIsInstance(device.backing.parent,
                              vim.vm.device.VirtualDisk.FlatVer2BackingInfo)
        self.assertEqual(str(parent), device.backing.parent.fileName)
        self.assertEqual(1024 * 1024, device.capacityInKB)

    def test_existing_file(self):
        path = DatastorePath('ds1', '%s/%s.vmdk' % (UUID, UUID))
        change, device = self._disk_device(_disk(path=path, create=False))
        self.assertIsNone(change.fileOperation)
        self.assertEqual(str(path), device.backing.fileName)
        # The size it must have (the caller grew the file to it).
        self.assertEqual(1024, device.capacityInKB)

    def test_storage_io_allocation(self):
        _change_, device = self._disk_device(_disk(
            io_limits=vflavor.DiskIoLimits(limit=500, reservation=50,
                                           shares_level='high')))
        io = device.storageIOAllocation
        self.assertEqual((500, 50, 'high', 0),
                         (io.limit, io.reservation, io.shares.level,
                          io.shares.shares))

    def test_cdrom(self):
        iso = DatastorePath('ds1', 'vmware_base/img/img.iso')
        config = vm_config.create_spec(
            _spec(cdroms=[specs.CdromSpec(iso)]), '[ds1]')
        cdrom, = _devices(config, vim.vm.device.VirtualCdrom)
        self.assertIsInstance(cdrom.backing,
                              vim.vm.device.VirtualCdrom.IsoBackingInfo)
        self.assertEqual(str(iso), cdrom.backing.fileName)
        self.assertEqual((200, 0), (cdrom.controllerKey, cdrom.unitNumber))
        self.assertTrue(cdrom.connectable.startConnected)


class NicsTest(testtools.TestCase):

    def _nic_device(self, nic, networks=None):
        config = vm_config.create_spec(_spec(nics=[nic]), '[ds1]',
                                       networks=networks)
        device, = _devices(config, vim.vm.device.VirtualEthernetCard)
        return device

    def test_models(self):
        for model in ('VirtualE1000', 'VirtualE1000e', 'VirtualVmxnet',
                      'VirtualVmxnet3', 'VirtualPCNet32'):
            device = self._nic_device(_nic(
                specs.NetworkRef('portgroup', name='VM Network'),
                model=model))
            self.assertIs(getattr(vim.vm.device, model), type(device))
            self.assertEqual(('manual', 'fa:16:3e:00:00:01'),
                             (device.addressType, device.macAddress))
            self.assertTrue(device.connectable.startConnected)

    def test_unknown_model(self):
        exc = self.assertRaises(
            exception.InvalidInput, vm_config.create_spec,
            _spec(nics=[_nic(specs.NetworkRef('portgroup', name='n'),
                             model='VirtualVirtio')]), '[ds1]')
        self.assertIn("'VirtualVirtio'", str(exc))
        self.assertIn('VirtualE1000', str(exc))

    def test_dvs(self):
        device = self._nic_device(_nic(specs.NetworkRef(
            'dvs', switch_uuid='50 2a', portgroup_key='dvportgroup-10',
            port_key='42')))
        port = device.backing.port
        self.assertIsInstance(
            device.backing, vim.vm.device.VirtualEthernetCard.
            DistributedVirtualPortBackingInfo)
        self.assertEqual(('50 2a', 'dvportgroup-10', '42'),
                         (port.switchUuid, port.portgroupKey, port.portKey))
        self.assertIsNone(device.externalId)

    def test_portgroup_with_the_resolved_network(self):
        network = vim.Network('network-7')
        device = self._nic_device(
            _nic(specs.NetworkRef('portgroup', name='VM Network')),
            networks={'port-1': network})
        self.assertIsInstance(
            device.backing,
            vim.vm.device.VirtualEthernetCard.NetworkBackingInfo)
        self.assertEqual('VM Network', device.backing.deviceName)
        self.assertIs(network, device.backing.network)

    def test_opaque(self):
        device = self._nic_device(_nic(specs.NetworkRef(
            'opaque', opaque_id='ls-1', opaque_type='nsx.LogicalSwitch',
            use_external_id=True)))
        self.assertEqual(('ls-1', 'nsx.LogicalSwitch'),
                         (device.backing.opaqueNetworkId,
                          device.backing.opaqueNetworkType))
        self.assertEqual('port-1', device.externalId)

    def test_unknown_network_kind(self):
        exc = self.assertRaises(
            exception.InvalidInput, vm_config.create_spec,
            _spec(nics=[_nic(specs.NetworkRef('vlan'))]), '[ds1]')
        self.assertIn("'vlan'", str(exc))
        self.assertIn('dvs, portgroup, opaque', str(exc))

    def test_resource_allocation(self):
        device = self._nic_device(_nic(
            specs.NetworkRef('portgroup', name='n'),
            allocation=vflavor.Allocation(limit=100, reservation=10)))
        allocation = device.resourceAllocation
        self.assertEqual((100, 10, 'normal'),
                         (allocation.limit, allocation.reservation,
                          allocation.share.level))
        self.assertIsNone(self._nic_device(_nic(
            specs.NetworkRef('portgroup', name='n'))).resourceAllocation)

    def test_video_card(self):
        config = vm_config.create_spec(_spec(video_ram_kb=16384), '[ds1]')
        card, = _devices(config, vim.vm.device.VirtualVideoCard)
        self.assertEqual(16384, card.videoRamSizeInKB)


class FromNovaObjectsTest(testtools.TestCase):
    """The whole path: Nova objects -> MachineSpec -> ConfigSpec."""

    def test_spawn_spec(self):
        flavor = objects.Flavor(name='m1', flavorid='1', vcpus=2,
                                memory_mb=1024, root_gb=1, ephemeral_gb=1,
                                swap=0, extra_specs={})
        image = objects.ImageMeta.from_dict({
            'id': '0ee9b2b2-0ff8-4e3a-9a0e-1b1f1c1d1e1f',
            'disk_format': 'vmdk', 'container_format': 'bare',
            'size': 1024, 'properties': {'vmware_adaptertype': 'paraVirtual',
                                         'hw_vif_model': 'vmxnet3'}})
        instance = objects.Instance(uuid=UUID, display_name='vm',
                                    image_ref='img', user_id='u',
                                    project_id='p')
        network = network_model.Network(id='net', bridge='VM Network')
        network_info = network_model.NetworkInfo([network_model.VIF(
            id='port-1', address='fa:16:3e:00:00:01', network=network,
            type='dvs')])
        spec = specs.machine_spec(
            instance, flavor, image, network_info,
            root_disk=specs.RootDisk.linked_clone(
                DatastorePath('ds1', 'base/img.vmdk')), package='x')
        config = vm_config.create_spec(spec, '[ds1]')
        controller, = _devices(config, vim.vm.device.VirtualController)
        self.assertIsInstance(controller,
                              vim.vm.device.ParaVirtualSCSIController)
        root, ephemeral = _devices(config, vim.vm.device.VirtualDisk)
        self.assertEqual('[ds1] base/img.vmdk', root.backing.parent.fileName)
        self.assertEqual(1, root.capacityInKB)
        self.assertTrue(ephemeral.backing.thinProvisioned)
        nic, = _devices(config, vim.vm.device.VirtualVmxnet3)
        self.assertEqual('VM Network', nic.backing.deviceName)
        self.assertIn(('nvp.iface-id.0', 'port-1'),
                      [(o.key, o.value) for o in config.extraConfig])
