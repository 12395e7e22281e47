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

"""attach_interface / detach_interface and vnic_index through VCDriver.

NICs on distributed, standard and NSX-T opaque networks, added to VMs
powered on (hot-add) and off, removed again; checked through an
independent pyvmomi query of the simulator. Neutron is the recording
network API of driver_base.
"""

from nova import context as nova_context
from nova import exception
from nova.network import model as network_model
from nova import objects
from oslo_utils import uuidutils
from pyVmomi import vim

from tests.functional import driver_base
from tests.functional import test_driver_spawn

PORTGROUP = 'DC0_DVPG0'


def dvs_vif(mac, portgroup=PORTGROUP, port=None):
    return network_model.VIF(
        id=port or uuidutils.generate_uuid(), address=mac, type='dvs',
        details={'dvs_port_group_name': portgroup},
        network=network_model.Network(id='net-dvs', bridge=portgroup))


def standard_vif(mac, name='VM Network'):
    return network_model.VIF(
        id=uuidutils.generate_uuid(), address=mac, type='dvs', details={},
        network=network_model.Network(id='net-std', bridge=name))


def nsx_vif(mac, logical_switch):
    return network_model.VIF(
        id=uuidutils.generate_uuid(), address=mac, type='ovs',
        details={'nsx-logical-switch-id': logical_switch},
        network=network_model.Network(id='net-nsx', bridge='br-int'))


def image_meta(**properties):
    return objects.ImageMeta.from_dict({
        'id': uuidutils.generate_uuid(), 'disk_format': 'vmdk',
        'container_format': 'bare', 'properties': properties})


class InterfacesTest(driver_base.DriverTestCase):

    # One NSX-T logical switch (an opaque network) beside the DVS portgroup
    # and the standard "VM Network".
    VCSIM_SHAPE = dict(hosts=1, datastores=1, portgroups=1,
                       extra_args=('-nsx', '1'))

    def setUp(self):
        super().setUp()
        self.context = nova_context.get_admin_context()

    def server(self, power_on=True):
        """An instance with a VM of its own (no NIC yet)."""
        uuid, _vm = self.make_nova_vm(power_on=power_on)
        flavor = objects.Flavor(name='m1.nic', memory_mb=64, vcpus=1,
                                root_gb=0, ephemeral_gb=0, swap=0,
                                flavorid='7', extra_specs={})
        return self.instance(uuid, flavor=flavor)

    def nics(self, instance):
        vm = self.vm_of(instance.uuid, ['config.hardware.device',
                                        'config.extraConfig', 'network',
                                        'runtime.powerState'])
        nics = {d.macAddress: d for d in vm['config.hardware.device']
                if isinstance(d, vim.vm.device.VirtualEthernetCard)}
        slots = {o.key: o.value for o in vm['config.extraConfig']
                 if o.key.startswith('nvp.iface-id.')}
        networks = {n._moId for n in vm['network']}
        return nics, slots, networks, vm['runtime.powerState']

    def network_moid(self, vimtype, name):
        return [moid for moid, item in self.query(vimtype, ['name']).items()
                if item['name'] == name][0]

    def test_hot_add_on_distributed_portgroup_with_the_image_model(self):
        instance = self.server(power_on=True)
        vif = dvs_vif('fa:16:3e:00:01:01')
        self.driver.attach_interface(self.context, instance,
                                     image_meta(hw_vif_model='vmxnet3'), vif)
        nics, slots, networks, state = self.nics(instance)
        self.assertEqual('poweredOn', state)
        nic = nics['fa:16:3e:00:01:01']
        self.assertIsInstance(nic, vim.vm.device.VirtualVmxnet3)
        pgs = self.query(vim.dvs.DistributedVirtualPortgroup, ['name', 'key'])
        pg = [p for p in pgs.values() if p['name'] == PORTGROUP][0]
        self.assertEqual(pg['key'], nic.backing.port.portgroupKey)
        self.assertTrue(nic.connectable.connected)
        self.assertEqual({'nvp.iface-id.0': vif['id']}, slots)
        self.assertIn(self.network_moid(vim.dvs.DistributedVirtualPortgroup,
                                        PORTGROUP), networks)
        self.assertEqual({vif['id']: 0}, self.network_api.vnic_indexes)

    def test_attach_on_standard_portgroup_powered_off_default_model(self):
        instance = self.server(power_on=False)
        vif = standard_vif('fa:16:3e:00:01:02')
        self.driver.attach_interface(self.context, instance, image_meta(),
                                     vif)
        nics, slots, networks, state = self.nics(instance)
        self.assertEqual('poweredOff', state)
        nic = nics['fa:16:3e:00:01:02']
        # No hw_vif_model: e1000, as at spawn.
        self.assertIsInstance(nic, vim.vm.device.VirtualE1000)
        self.assertEqual('VM Network', nic.backing.deviceName)
        self.assertEqual({self.network_moid(vim.Network, 'VM Network')},
                         networks)
        self.assertEqual({'nvp.iface-id.0': vif['id']}, slots)

    def test_hot_add_on_nsx_opaque_network(self):
        opaque = self.query(vim.OpaqueNetwork, ['summary'])
        moid, item = list(opaque.items())[0]
        switch = item['summary'].opaqueNetworkId
        instance = self.server(power_on=True)
        vif = nsx_vif('fa:16:3e:00:01:03', switch)
        self.driver.attach_interface(self.context, instance,
                                     image_meta(hw_vif_model='e1000e'), vif)
        nics, slots, networks, _state = self.nics(instance)
        nic = nics['fa:16:3e:00:01:03']
        self.assertIsInstance(nic, vim.vm.device.VirtualE1000e)
        self.assertIsInstance(
            nic.backing,
            vim.vm.device.VirtualEthernetCard.OpaqueNetworkBackingInfo)
        self.assertEqual(switch, nic.backing.opaqueNetworkId)
        self.assertEqual('nsx.LogicalSwitch', nic.backing.opaqueNetworkType)
        # NSX finds the VM's port by the Neutron port id.
        self.assertEqual(vif['id'], nic.externalId)
        self.assertEqual({moid}, networks)
        self.assertEqual({'nvp.iface-id.0': vif['id']}, slots)

        self.driver.detach_interface(self.context, instance, vif)
        nics, slots, networks, _state = self.nics(instance)
        self.assertEqual(({}, {'nvp.iface-id.0': 'free'}, set()),
                         (nics, slots, networks))

    def test_every_network_kind_on_a_powered_off_vm(self):
        switch = list(self.query(vim.OpaqueNetwork, ['summary']).values())[
            0]['summary'].opaqueNetworkId
        instance = self.server(power_on=False)
        vifs = [dvs_vif('fa:16:3e:00:06:01'),
                standard_vif('fa:16:3e:00:06:02'),
                nsx_vif('fa:16:3e:00:06:03', switch)]
        for vif in vifs:
            self.driver.attach_interface(self.context, instance,
                                         image_meta(hw_vif_model='vmxnet'),
                                         vif)
        nics, slots, networks, state = self.nics(instance)
        self.assertEqual('poweredOff', state)
        self.assertEqual({vif['address']: vim.vm.device.VirtualVmxnet
                          for vif in vifs},
                         {mac: type(nic) for mac, nic in nics.items()})
        self.assertEqual({'nvp.iface-id.%d' % i: vif['id']
                          for i, vif in enumerate(vifs)}, slots)
        self.assertEqual(3, len(networks))
        self.assertEqual({vif['id']: i for i, vif in enumerate(vifs)},
                         self.network_api.vnic_indexes)
        for vif in vifs:
            self.driver.detach_interface(self.context, instance, vif)
        nics, slots, networks, _state = self.nics(instance)
        self.assertEqual(({}, set()), (nics, networks))
        self.assertEqual({'free'}, set(slots.values()))

    def test_detach_frees_the_slot_and_the_next_attach_reuses_it(self):
        instance = self.server(power_on=True)
        first = dvs_vif('fa:16:3e:00:02:01')
        second = standard_vif('fa:16:3e:00:02:02')
        for vif in (first, second):
            self.driver.attach_interface(self.context, instance,
                                         image_meta(), vif)
        self.driver.detach_interface(self.context, instance, first)
        nics, slots, networks, state = self.nics(instance)
        self.assertEqual(['fa:16:3e:00:02:02'], list(nics))
        self.assertEqual({'nvp.iface-id.0': 'free',
                          'nvp.iface-id.1': second['id']}, slots)
        self.assertEqual({self.network_moid(vim.Network, 'VM Network')},
                         networks)
        self.assertEqual('poweredOn', state)
        self.assertEqual({first['id']: None, second['id']: 1},
                         self.network_api.vnic_indexes)

        third = dvs_vif('fa:16:3e:00:02:03')
        self.driver.attach_interface(self.context, instance, image_meta(),
                                     third)
        _nics, slots, _networks, _state = self.nics(instance)
        self.assertEqual({'nvp.iface-id.0': third['id'],
                          'nvp.iface-id.1': second['id']}, slots)
        self.assertEqual(0, self.network_api.vnic_indexes[third['id']])

    def assertNothingChanged(self, instance):
        nics, slots, networks, _state = self.nics(instance)
        self.assertEqual(({}, {}, set()), (nics, slots, networks))
        self.assertEqual({}, self.network_api.vnic_indexes)

    def test_unknown_network_is_refused_and_leaves_nothing(self):
        instance = self.server()
        exc = self.assertRaises(
            exception.InterfaceAttachFailed, self.driver.attach_interface,
            self.context, instance, image_meta(),
            dvs_vif('fa:16:3e:00:03:01', portgroup='no-such-pg'))
        self.assertIn('no-such-pg', str(exc))
        self.assertIn(instance.uuid, str(exc))
        self.assertNothingChanged(instance)

    def test_binding_we_cannot_do_is_refused_and_leaves_nothing(self):
        instance = self.server()
        vif = network_model.VIF(
            id=uuidutils.generate_uuid(), address='fa:16:3e:00:03:02',
            type='bridge', network=network_model.Network(id='n'))
        exc = self.assertRaises(
            exception.InterfaceAttachFailed, self.driver.attach_interface,
            self.context, instance, image_meta(), vif)
        self.assertIn("'bridge'", str(exc))
        self.assertIn(vif['id'], str(exc))
        self.assertNothingChanged(instance)

    def test_bad_image_model_is_refused_and_leaves_nothing(self):
        instance = self.server()
        exc = self.assertRaises(
            exception.InterfaceAttachFailed, self.driver.attach_interface,
            self.context, instance, image_meta(hw_vif_model='virtio'),
            dvs_vif('fa:16:3e:00:03:03'))
        self.assertIn('virtio', str(exc))
        self.assertNothingChanged(instance)

    def test_reconfigure_fault_is_attach_failed_and_leaves_nothing(self):
        instance = self.server()
        moid = self.vm_of(instance.uuid)['moid']
        self.vcsim.inject('ReconfigVM_Task', action='task_error',
                          fault='InvalidPowerState', moid=moid,
                          message='the VM cannot take new devices now')
        exc = self.assertRaises(
            exception.InterfaceAttachFailed, self.driver.attach_interface,
            self.context, instance, image_meta(),
            dvs_vif('fa:16:3e:00:03:04'))
        self.assertIn('cannot take new devices', str(exc))
        self.assertNothingChanged(instance)

    def test_neutron_refusing_the_index_takes_the_nic_back(self):
        instance = self.server()

        def refuse(context, instance, vif, index):
            raise exception.PortNotFound(port_id=vif['id'])
        self.network_api.update_instance_vnic_index = refuse
        vif = dvs_vif('fa:16:3e:00:03:05')
        self.assertRaises(exception.PortNotFound,
                          self.driver.attach_interface, self.context,
                          instance, image_meta(), vif)
        self.assertNothingChanged(instance)

    def test_port_without_mac_is_refused_and_leaves_nothing(self):
        instance = self.server()
        vif = dvs_vif(None)
        exc = self.assertRaises(
            exception.InterfaceAttachFailed, self.driver.attach_interface,
            self.context, instance, image_meta(), vif)
        self.assertIn('%s has no MAC address' % vif['id'], str(exc))
        self.assertNothingChanged(instance)
        self.assertRaises(exception.InterfaceDetachFailed,
                          self.driver.detach_interface, self.context,
                          instance, vif)

    def test_second_attach_of_one_port_is_refused(self):
        instance = self.server()
        vif = dvs_vif('fa:16:3e:00:03:06')
        self.driver.attach_interface(self.context, instance, image_meta(),
                                     vif)
        exc = self.assertRaises(
            exception.InterfaceAttachFailed, self.driver.attach_interface,
            self.context, instance, image_meta(), vif)
        self.assertIn('already has a NIC with MAC fa:16:3e:00:03:06',
                      str(exc))
        nics, slots, _networks, _state = self.nics(instance)
        self.assertEqual(['fa:16:3e:00:03:06'], list(nics))
        self.assertEqual({'nvp.iface-id.0': vif['id']}, slots)

    def test_detach_of_a_port_the_vm_does_not_have_is_refused(self):
        instance = self.server()
        self.driver.attach_interface(self.context, instance, image_meta(),
                                     dvs_vif('fa:16:3e:00:04:01'))
        exc = self.assertRaises(
            exception.InterfaceDetachFailed, self.driver.detach_interface,
            self.context, instance, dvs_vif('fa:16:3e:00:04:02'))
        self.assertIn('fa:16:3e:00:04:02', str(exc))
        nics, _slots, _networks, _state = self.nics(instance)
        self.assertEqual(['fa:16:3e:00:04:01'], list(nics))

    def test_detach_fault_keeps_the_nic_and_its_index(self):
        instance = self.server()
        vif = dvs_vif('fa:16:3e:00:04:03')
        self.driver.attach_interface(self.context, instance, image_meta(),
                                     vif)
        moid = self.vm_of(instance.uuid)['moid']
        self.vcsim.inject('ReconfigVM_Task', action='task_error',
                          fault='TaskInProgress', moid=moid)
        self.assertRaises(exception.InterfaceDetachFailed,
                          self.driver.detach_interface, self.context,
                          instance, vif)
        nics, slots, _networks, _state = self.nics(instance)
        self.assertEqual(['fa:16:3e:00:04:03'], list(nics))
        self.assertEqual({'nvp.iface-id.0': vif['id']}, slots)
        self.assertEqual({vif['id']: 0}, self.network_api.vnic_indexes)


class SpawnVnicIndexTest(test_driver_spawn.SpawnTestBase):

    def test_spawn_sets_each_ports_vnic_index_to_its_slot(self):
        vifs = [dvs_vif('fa:16:3e:00:05:01'),
                standard_vif('fa:16:3e:00:05:02')]
        instance = self.make_instance()
        self.spawn(instance, self.flat,
                   network_info=network_model.NetworkInfo(vifs))
        extra = {o.key: o.value
                 for o in self.vm(instance)['config.extraConfig']}
        self.assertEqual(vifs[0]['id'], extra['nvp.iface-id.0'])
        self.assertEqual(vifs[1]['id'], extra['nvp.iface-id.1'])
        self.assertEqual({vifs[0]['id']: 0, vifs[1]['id']: 1},
                         self.network_api.vnic_indexes)
