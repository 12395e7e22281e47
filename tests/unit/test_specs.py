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

"""Specs from real Nova flavors, images, instances and network info."""

import dataclasses
import operator

from nova import context as nova_context
from nova import exception
from nova.network import model as network_model
from nova import objects
import testtools

from nova_vmware_ext.compute import flavor as vflavor
from nova_vmware_ext.compute import image_meta
from nova_vmware_ext.compute import specs
from nova_vmware_ext.vsphere.files import DatastorePath

objects.register_all()

INSTANCE_UUID = '6f3b7d8e-1c2a-4b5d-9e0f-123456789abc'
IMAGE_ID = '0ee9b2b2-0ff8-4e3a-9a0e-1b1f1c1d1e1f'
GB_KB = 1024 * 1024


def _flavor(extra_specs=None, **fields):
    values = dict(name='m1.small', flavorid='2', vcpus=4, memory_mb=2048,
                  root_gb=10, ephemeral_gb=0, swap=0,
                  extra_specs=extra_specs or {})
    values.update(fields)
    return objects.Flavor(**values)


def _image(properties=None, **fields):
    values = dict(id=IMAGE_ID, disk_format='vmdk', container_format='bare',
                  size=512 * 1024 * 1024, properties=properties or {})
    values.update(fields)
    return objects.ImageMeta.from_dict(values)


def _instance():
    return objects.Instance(uuid=INSTANCE_UUID, display_name='web-1',
                            image_ref=IMAGE_ID, user_id='uid',
                            project_id='pid')


def _vif(port_id='port-1', vif_type='dvs', details=None, bridge='pg-1',
         **kwargs):
    network = network_model.Network(id='net-1', bridge=bridge,
                                    label='private')
    return network_model.VIF(id=port_id, address='fa:16:3e:00:00:01',
                             network=network, type=vif_type,
                             details=details or {}, **kwargs)


def _machine(flavor=None, meta=None, network_info=(), **kwargs):
    kwargs.setdefault('root_disk', specs.RootDisk.blank())
    kwargs.setdefault('package', '34.0.0')
    return specs.machine_spec(
        _instance(), flavor or _flavor(), meta or _image(),
        network_model.NetworkInfo(list(network_info)), **kwargs)


class NetworkRefTest(testtools.TestCase):

    def test_dvs_ids(self):
        ref = specs.network_ref(_vif(details={
            'dvs_id': 'switch-uuid', 'pg_id': 'dvportgroup-10',
            'dvs_port_key': '42'}))
        self.assertEqual(specs.NetworkRef(
            'dvs', name='pg-1', switch_uuid='switch-uuid',
            portgroup_key='dvportgroup-10', port_key='42'), ref)

    def test_dvs_legacy_keys(self):
        ref = specs.network_ref(_vif(details={
            'dvs_uuid': 'switch-uuid', 'dvs_port_group_key': 'dvpg-3',
            'dvs_port_group_name': 'pg-3'}))
        self.assertEqual(('dvs', 'switch-uuid', 'dvpg-3', 'pg-3'),
                         (ref.kind, ref.switch_uuid, ref.portgroup_key,
                          ref.name))

    def test_dvs_by_portgroup_name_or_bridge(self):
        ref = specs.network_ref(_vif(details={
            'dvs_port_group_name': 'prod'}))
        self.assertEqual(specs.NetworkRef('portgroup', name='prod'), ref)
        ref = specs.network_ref(_vif(details={}, bridge='br-100'))
        self.assertEqual(specs.NetworkRef('portgroup', name='br-100'), ref)

    def test_dvs_without_any_name(self):
        exc = self.assertRaises(exception.InvalidInput, specs.network_ref,
                                _vif(bridge=None))
        self.assertIn('port-1', str(exc))
        self.assertIn('dvs_port_group_name', str(exc))

    def test_nsx_t_logical_switch(self):
        ref = specs.network_ref(_vif(vif_type='ovs', details={
            'nsx-logical-switch-id': 'ls-1'}))
        self.assertEqual(('opaque', 'ls-1', 'nsx.LogicalSwitch', True),
                         (ref.kind, ref.opaque_id, ref.opaque_type,
                          ref.use_external_id))

    def test_ovs_falls_back_to_the_network_id(self):
        ref = specs.network_ref(_vif(vif_type='ovs'))
        self.assertEqual('net-1', ref.opaque_id)

    def test_nsx_mh_integration_bridge(self):
        ref = specs.network_ref(_vif(vif_type='ovs'),
                                integration_bridge='br-int')
        self.assertEqual(('opaque', 'br-int', 'opaque', False),
                         (ref.kind, ref.opaque_id, ref.opaque_type,
                          ref.use_external_id))

    def test_unsupported_vif_type(self):
        exc = self.assertRaises(exception.InvalidInput, specs.network_ref,
                                _vif(vif_type='bridge'))
        for text in ('port-1', "'bridge'", 'allowed: dvs, ovs'):
            self.assertIn(text, str(exc))


class NicSpecsTest(testtools.TestCase):

    def test_one_nic_per_vif(self):
        allocation = vflavor.Allocation(limit=100)
        network_info = network_model.NetworkInfo([
            _vif('port-1'), _vif('port-2', vif_type='ovs')])
        nics = specs.nic_specs(network_info, 'VirtualVmxnet3',
                               allocation=allocation)
        self.assertEqual([0, 1], [nic.index for nic in nics])
        self.assertEqual(['port-1', 'port-2'], [n.port_id for n in nics])
        self.assertEqual({'VirtualVmxnet3'}, {n.model for n in nics})
        self.assertEqual('fa:16:3e:00:00:01', nics[0].mac_address)
        self.assertEqual(['portgroup', 'opaque'],
                         [n.network.kind for n in nics])
        self.assertEqual(allocation, nics[1].allocation)

    def test_no_network(self):
        self.assertEqual((), specs.nic_specs(None, 'VirtualE1000'))

    def test_sriov_ports_are_refused(self):
        exc = self.assertRaises(
            exception.InvalidInput, specs.nic_specs,
            [_vif(vnic_type='direct')], 'VirtualE1000')
        for text in ('port-1', "'direct'", 'allowed: normal'):
            self.assertIn(text, str(exc))


class MachineSpecTest(testtools.TestCase):

    def test_hardware(self):
        spec = _machine(_flavor({'hw:cpu_sockets': '2',
                                 'vmware:hw_version': 'vmx-14',
                                 'quota:cpu_limit': '2000',
                                 'quota:memory_reservation': '1024'}),
                        _image({'os_distro': 'ubuntu',
                                'hw_firmware_type': 'uefi'}))
        self.assertEqual(INSTANCE_UUID, spec.name)
        self.assertEqual(INSTANCE_UUID, spec.instance_uuid)
        self.assertEqual('ubuntu64Guest', spec.guest_id)
        self.assertEqual((4, 2, 2048), (spec.num_cpus, spec.cores_per_socket,
                                        spec.memory_mb))
        self.assertEqual('efi', spec.firmware)
        self.assertEqual('vmx-14', spec.hw_version)
        self.assertEqual(vflavor.Allocation(limit=2000), spec.cpu_allocation)
        self.assertEqual(vflavor.Allocation(reservation=1024),
                         spec.memory_allocation)
        self.assertFalse(spec.nested_hv)
        self.assertIsNone(spec.video_ram_kb)

    def test_extra_config(self):
        spec = _machine(network_info=[_vif('port-a'), _vif('port-b')],
                        extra_config={'keyboard.typematicMinDelay': '2000000',
                                      'disk.EnableUUID': 'false'})
        self.assertEqual({'nvp.vm-uuid': INSTANCE_UUID,
                          'nvp.iface-id.0': 'port-a',
                          'nvp.iface-id.1': 'port-b',
                          'disk.EnableUUID': 'false',
                          'keyboard.typematicMinDelay': '2000000'},
                         dict(spec.extra_config))

    def test_annotation(self):
        context = nova_context.RequestContext(
            user_id='uid', project_id='pid', user_name='alice',
            project_name='demo', is_admin=False)
        spec = _machine(_flavor(ephemeral_gb=1, swap=512), context=context)
        self.assertEqual(
            'name:web-1\nuserid:uid\nusername:alice\nprojectid:pid\n'
            'projectname:demo\nflavor:name:m1.small\nflavor:memory_mb:2048\n'
            'flavor:vcpus:4\nflavor:ephemeral_gb:1\nflavor:root_gb:10\n'
            'flavor:swap:512\nimageid:%s\npackage:34.0.0\n' % IMAGE_ID,
            spec.annotation)

    def test_annotation_without_context(self):
        text = specs.annotation(_instance(), _flavor(), package='p-1')
        self.assertIn('userid:uid\nusername:\nprojectid:pid\n', text)
        self.assertTrue(text.endswith('package:p-1\n'))

    def test_disks(self):
        io = {'quota:disk_io_limit': '500'}
        spec = _machine(_flavor(io, ephemeral_gb=2, swap=512),
                        _image({'hw_disk_bus': 'ide',
                                'hw_disk_type': 'eagerZeroedThick'}))
        root, ephemeral, swap = spec.disks
        self.assertEqual(('root', 10 * GB_KB, 'ide', 'eagerZeroedThick'),
                         (root.role, root.size_kb, root.adapter_type,
                          root.provisioning))
        self.assertTrue(root.create)
        self.assertIsNone(root.path)
        self.assertEqual(('ephemeral', 2 * GB_KB, 'ide', 'thin'),
                         (ephemeral.role, ephemeral.size_kb,
                          ephemeral.adapter_type, ephemeral.provisioning))
        self.assertEqual(('swap', 512 * 1024, 'thin'),
                         (swap.role, swap.size_kb, swap.provisioning))
        for disk in spec.disks:
            self.assertEqual(vflavor.DiskIoLimits(limit=500), disk.io_limits)

    def test_disk_paths_in_folder(self):
        folder = DatastorePath('ds1', INSTANCE_UUID)
        spec = _machine(_flavor(swap=256), folder=folder,
                        ephemerals_gb=[1, 3])
        self.assertEqual(
            ['[ds1] %s/%s.vmdk' % (INSTANCE_UUID, INSTANCE_UUID),
             '[ds1] %s/ephemeral_0.vmdk' % INSTANCE_UUID,
             '[ds1] %s/ephemeral_1.vmdk' % INSTANCE_UUID,
             '[ds1] %s/swap.vmdk' % INSTANCE_UUID],
            [str(disk.path) for disk in spec.disks])
        self.assertEqual([1 * GB_KB, 3 * GB_KB],
                         [d.size_kb for d in spec.disks[1:3]])

    def test_swap_override(self):
        spec = _machine(_flavor(swap=512), swap_mb=0)
        self.assertEqual(['root'], [disk.role for disk in spec.disks])

    def test_linked_clone_root(self):
        parent = DatastorePath('ds1', 'vmware_base/%s/%s.vmdk' % (
            IMAGE_ID, IMAGE_ID))
        spec = _machine(root_disk=specs.RootDisk.linked_clone(parent))
        root = spec.disks[0]
        self.assertTrue(root.is_linked_clone)
        self.assertEqual(parent, root.parent)
        self.assertTrue(root.create)
        # The child starts at the image's size, then grows to root_gb.
        self.assertEqual(512 * 1024, root.create_size_kb)
        self.assertEqual(10 * GB_KB, root.size_kb)
        self.assertTrue(root.needs_extend)

    def test_linked_clone_of_a_known_parent_size(self):
        parent = DatastorePath('ds1', 'cache/a.vmdk')
        spec = _machine(_flavor(root_gb=1), root_disk=(
            specs.RootDisk.linked_clone(parent, parent_size_kb=2 * GB_KB)))
        root = spec.disks[0]
        self.assertEqual((2 * GB_KB, 2 * GB_KB),
                         (root.create_size_kb, root.size_kb))
        self.assertFalse(root.needs_extend)

    def test_existing_root(self):
        path = DatastorePath('ds1', '%s/%s.vmdk' % (INSTANCE_UUID,
                                                    INSTANCE_UUID))
        root = _machine(root_disk=specs.RootDisk.existing(path)).disks[0]
        self.assertFalse(root.create)
        self.assertEqual(path, root.path)
        self.assertIsNone(root.parent)

    def test_root_sized_after_the_image(self):
        root = _machine(_flavor(root_gb=0),
                        _image(virtual_size=3 * 1024 ** 3 + 1)).disks[0]
        self.assertEqual(3 * GB_KB + 1, root.size_kb)

    def test_root_without_any_size(self):
        exc = self.assertRaises(exception.InvalidInput, _machine,
                                _flavor(root_gb=0), _image(size=0))
        self.assertIn('root_gb 0', str(exc))

    def test_iso_image(self):
        iso = DatastorePath('ds1', 'vmware_base/%s/%s.iso' % (
            IMAGE_ID, IMAGE_ID))
        config_drive = DatastorePath('ds1', '%s/configdrive.iso' %
                                     INSTANCE_UUID)
        spec = _machine(_flavor(root_gb=0),
                        _image({'hw_cdrom_bus': 'sata'}, disk_format='iso'),
                        root_disk=None, cdroms=[iso, config_drive])
        self.assertEqual((), spec.disks)
        self.assertEqual([specs.CdromSpec(iso, 'sata'),
                          specs.CdromSpec(config_drive, 'sata')],
                         list(spec.cdroms))

    def test_precomputed_image_properties(self):
        image = image_meta.from_image_meta(_image({'os_distro': 'debian12'}))
        spec = _machine(meta=_image(), image=image)
        self.assertEqual('debian12_64Guest', spec.guest_id)

    def test_nested_hypervisor_guests(self):
        spec = _machine(meta=_image({'os_distro': 'vmkernel8Guest'}))
        self.assertTrue(spec.nested_hv)

    def test_video_ram(self):
        spec = _machine(_flavor({'hw_video:ram_max_mb': '64'}),
                        _image({'hw_video_ram': 32}))
        self.assertEqual(32 * 1024, spec.video_ram_kb)
        self.assertRaises(exception.RequestedVRamTooHigh, _machine,
                          _flavor(), _image({'hw_video_ram': 32}))

    def test_nics_get_the_vif_limits(self):
        spec = _machine(_flavor({'quota:vif_limit': '100'}),
                        _image({'hw_vif_model': 'vmxnet3'}),
                        network_info=[_vif()])
        self.assertEqual('VirtualVmxnet3', spec.nics[0].model)
        self.assertEqual(vflavor.Allocation(limit=100),
                         spec.nics[0].allocation)

    def test_specs_are_immutable(self):
        spec = _machine()
        self.assertRaises(dataclasses.FrozenInstanceError, setattr, spec,
                          'memory_mb', 1)
        self.assertRaises(TypeError, operator.setitem, spec.extra_config,
                          'a', 'b')
        self.assertIsInstance(spec.disks, tuple)

    def test_with_networks(self):
        spec = _machine(network_info=[_vif('port-a'), _vif('port-b')])
        dvs = specs.NetworkRef('dvs', name='pg-1', switch_uuid='sw',
                               portgroup_key='dvportgroup-9')
        resolved = spec.with_networks({'port-b': dvs})
        self.assertEqual('portgroup', resolved.nics[0].network.kind)
        self.assertEqual(dvs, resolved.nics[1].network)
        self.assertEqual('portgroup', spec.nics[1].network.kind)


class ValidateTest(testtools.TestCase):
    """specs.validate: every check spawn needs, before any vCenter call."""

    def _validate(self, flavor=None, meta=None, network_info=(), **kwargs):
        return specs.validate(flavor or _flavor(), meta or _image(),
                              network_model.NetworkInfo(list(network_info)),
                              **kwargs)

    def test_good_input_gives_the_image_properties(self):
        image = self._validate(
            _flavor({'vmware:hw_version': 'vmx-13'}),
            _image({'hw_vif_model': 'vmxnet3'}), [_vif()],
            hw_versions=frozenset(['vmx-13']))
        self.assertEqual('VirtualVmxnet3', image.vif_model)
        self.assertEqual(IMAGE_ID, image.image_id)

    def test_hw_version_the_cluster_cannot_create(self):
        exc = self.assertRaises(
            exception.InvalidInput, self._validate,
            _flavor({'vmware:hw_version': 'vmx-999'}),
            hw_versions=frozenset(['vmx-13', 'vmx-19']))
        self.assertIn('vmx-999', str(exc))
        self.assertIn('allowed: vmx-13, vmx-19', str(exc))

    def test_unsupported_extra_spec(self):
        exc = self.assertRaises(exception.InvalidInput, self._validate,
                                _flavor({'hw:numa_nodes': '2'}))
        self.assertIn('hw:numa_nodes', str(exc))

    def test_topology(self):
        exc = self.assertRaises(exception.InvalidInput, self._validate,
                                _flavor({'hw:cpu_cores': '3'}))
        self.assertIn('hw:cpu_cores=3', str(exc))

    def test_nic_binding(self):
        exc = self.assertRaises(exception.InvalidInput, self._validate,
                                network_info=[_vif(vif_type='bridge')])
        self.assertIn("vif type 'bridge'", str(exc))
        exc = self.assertRaises(
            exception.InvalidInput, self._validate,
            network_info=[_vif(vnic_type=network_model.VNIC_TYPE_DIRECT)])
        self.assertIn("vnic_type 'direct'", str(exc))

    def test_video_ram_above_the_flavor_maximum(self):
        self.assertRaises(exception.RequestedVRamTooHigh, self._validate,
                          _flavor({'hw_video:ram_max_mb': '16'}),
                          _image({'hw_video_ram': 64}))

    def test_root_disk_smaller_than_glance_virtual_size(self):
        exc = self.assertRaises(
            exception.FlavorDiskSmallerThanImage, self._validate,
            _flavor(root_gb=1),
            _image({'vmware_disktype': 'streamOptimized'},
                   virtual_size=2 * 1024 ** 3))
        self.assertIn('2147483648', str(exc))

    def test_root_disk_smaller_than_a_flat_image(self):
        # A flat disk's file is the disk: Glance's size is its size.
        self.assertRaises(exception.FlavorDiskSmallerThanImage,
                          self._validate, _flavor(root_gb=1),
                          _image({'vmware_disktype': 'preallocated'},
                                 size=3 * 1024 ** 3))

    def test_unknown_sizes_are_left_to_the_fetch(self):
        # A sparse file is smaller than its disk; only its header knows.
        self._validate(_flavor(root_gb=1),
                       _image({'vmware_disktype': 'sparse'},
                              size=3 * 1024 ** 3))
        self._validate(_flavor(root_gb=0),
                       _image(virtual_size=3 * 1024 ** 3))
        self._validate(_flavor(root_gb=1),
                       _image(disk_format='iso', size=3 * 1024 ** 3))
