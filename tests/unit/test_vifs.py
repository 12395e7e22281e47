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

"""The pure part of compute/vifs.py: iface-id slots and NIC config specs."""

from unittest import mock

from pyVmomi import vim
import testtools

from nova_vmware_ext.compute import specs
from nova_vmware_ext.compute import vifs

PORT = '5b2e6f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5b'


def options(**slots):
    return [vim.option.OptionValue(key=key.replace('_', '.'), value=value)
            for key, value in slots.items()]


def slot_options(values):
    return [vim.option.OptionValue(key='nvp.iface-id.%s' % index,
                                   value=value)
            for index, value in values.items()]


class SlotsTest(testtools.TestCase):

    def test_slots_read_only_numbered_iface_id_keys(self):
        extra = slot_options({0: 'a', 2: 'free', 'x': 'b'}) + options(
            nvp_vm_uuid='u', guestinfo_x='y')
        self.assertEqual({0: 'a', 2: 'free'}, vifs.iface_slots(extra))
        self.assertEqual({}, vifs.iface_slots(None))

    def test_attach_takes_the_lowest_unused_slot(self):
        self.assertEqual(0, vifs.attach_slot({}))
        self.assertEqual(2, vifs.attach_slot({0: 'a', 1: 'b'}))
        # A gap (a port detached by an older driver that removed its key).
        self.assertEqual(1, vifs.attach_slot({0: 'a', 2: 'c'}))
        # A freed slot is reused, as in-tree.
        self.assertEqual(0, vifs.attach_slot({0: 'free', 1: 'b'}))

    def test_detach_finds_the_ports_slot(self):
        slots = {0: 'a', 3: PORT, 4: 'free'}
        self.assertEqual(3, vifs.detach_slot(slots, PORT))
        self.assertIsNone(vifs.detach_slot(slots, 'other'))


class NicLookupTest(testtools.TestCase):

    def test_nic_is_found_by_mac_in_any_case(self):
        disk = vim.vm.device.VirtualDisk(key=2000)
        nic = vim.vm.device.VirtualVmxnet3(key=4000,
                                           macAddress='FA:16:3E:00:00:01')
        self.assertIs(nic, vifs.nic_with_mac([disk, nic],
                                             'fa:16:3e:00:00:01'))
        self.assertIsNone(vifs.nic_with_mac([disk, nic],
                                            'fa:16:3e:00:00:02'))
        self.assertIsNone(vifs.nic_with_mac(None, 'fa:16:3e:00:00:01'))


class ConfigSpecTest(testtools.TestCase):

    def nic(self, network, index=3):
        return specs.NicSpec(index=index, port_id=PORT,
                             mac_address='fa:16:3e:00:00:09',
                             model='VirtualVmxnet3', network=network)

    def test_attach_adds_the_nic_and_records_the_port_in_its_slot(self):
        nic = self.nic(specs.NetworkRef(specs.NETWORK_DVS, name='pg',
                                        switch_uuid='sw', portgroup_key='k'))
        config = vifs.attach_config(nic)
        change, = config.deviceChange
        self.assertEqual('add', change.operation)
        device = change.device
        self.assertIsInstance(device, vim.vm.device.VirtualVmxnet3)
        self.assertEqual('fa:16:3e:00:00:09', device.macAddress)
        self.assertEqual('manual', device.addressType)
        self.assertLess(device.key, 0)
        self.assertEqual(('sw', 'k'), (device.backing.port.switchUuid,
                                       device.backing.port.portgroupKey))
        self.assertEqual([('nvp.iface-id.3', PORT)],
                         [(o.key, o.value) for o in config.extraConfig])

    def test_attach_to_a_standard_portgroup_names_its_network(self):
        network = vim.Network('network-7')
        config = vifs.attach_config(self.nic(specs.NetworkRef(
            specs.NETWORK_PORTGROUP, name='VM Network')), network)
        backing = config.deviceChange[0].device.backing
        self.assertEqual('VM Network', backing.deviceName)
        self.assertEqual('network-7', backing.network._moId)

    def test_attach_to_nsx_t_sets_the_external_id(self):
        config = vifs.attach_config(self.nic(specs.NetworkRef(
            specs.NETWORK_OPAQUE, opaque_id='ls-1',
            opaque_type=specs.OPAQUE_NSX_LOGICAL_SWITCH,
            use_external_id=True)))
        device = config.deviceChange[0].device
        self.assertEqual('ls-1', device.backing.opaqueNetworkId)
        self.assertEqual(PORT, device.externalId)

    def test_detach_removes_the_device_and_frees_its_slot(self):
        device = vim.vm.device.VirtualE1000(key=4001)
        config = vifs.detach_config(device, 2)
        change, = config.deviceChange
        self.assertEqual(('remove', 4001), (change.operation,
                                            change.device.key))
        self.assertIsNone(change.fileOperation)
        self.assertEqual([('nvp.iface-id.2', 'free')],
                         [(o.key, o.value) for o in config.extraConfig])
        # Rolling back an attach removes the key it made.
        self.assertEqual('', vifs.detach_config(device, 2, '')
                         .extraConfig[0].value)
        # No slot (a NIC made without one): only the device goes.
        self.assertEqual([], list(vifs.detach_config(device, None)
                                  .extraConfig))


class VnicIndexTest(testtools.TestCase):

    def test_each_port_gets_its_place_in_network_info(self):
        api = mock.Mock()
        info = [{'id': 'p0'}, {'id': 'p1'}]
        vifs.update_vnic_indexes(api, 'ctx', 'inst', info)
        self.assertEqual([mock.call('ctx', 'inst', info[0], 0),
                          mock.call('ctx', 'inst', info[1], 1)],
                         api.update_instance_vnic_index.call_args_list)
        vifs.update_vnic_indexes(api, 'ctx', 'inst', [])
        self.assertEqual(2, api.update_instance_vnic_index.call_count)
