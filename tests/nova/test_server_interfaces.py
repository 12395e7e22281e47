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

"""Interface attach and detach through Nova's compute REST API on vcsim.

``openstack server add port`` / ``remove port`` are POST and DELETE of
``/servers/{id}/os-interface``: nova-compute binds the port in Neutron's
fixture and calls the driver's attach_interface / detach_interface. Each
outcome is checked in vcsim over a separate pyvmomi connection (the NIC
with the port's MAC on the port's network, its ``nvp.iface-id.N`` key), and
the ``vnic_index`` the driver gave each port is read back from the Neutron
fixture, which here offers NSX's ``vnic-index`` extension.
"""

from nova.tests.fixtures import neutron as neutron_fixture
from pyVmomi import vim

from tests.nova import base
from tests.nova import test_servers
from tests import vcsim

# A port of the fixture that no server uses yet.
SPARE_PORT = neutron_fixture.NeutronFixture.port_1
VNIC_INDEX_EXTENSION = {'alias': 'vnic-index', 'name': 'VNIC Index',
                        'links': [], 'updated': '2014-09-15T09:00:00-00:00',
                        'description': 'The vnic index of a port (NSX)'}
PATHS = base.VM_PATHS + ('config.extraConfig',)


class ServerInterfacesTest(test_servers.VcsimServersTestBase):

    # One NSX-T logical switch (an opaque network) beside the DVS portgroup.
    VCSIM_SHAPE = dict(hosts=2, datastores=2, portgroups=1,
                       extra_args=('-nsx', '1'))

    def setUp(self):
        super().setUp()
        extensions = self.neutron.list_extensions

        def with_vnic_index(*args, **kwargs):
            found = extensions(*args, **kwargs)
            found['extensions'].append(dict(VNIC_INDEX_EXTENSION))
            return found
        self.neutron.list_extensions = with_vnic_index

    def vm(self, server):
        return base.vms_by_instance_uuid(self.si, PATHS)[server['id']]

    def port(self, port_id):
        return self.neutron.show_port(port_id)['port']

    def nsx_t_binding(self, port_id):
        """Bind the spare port as NSX-T's plugin does: an OVS port on the
        logical switch (vcsim's opaque network)."""
        moid, item = list(vcsim.query(self.si, vim.OpaqueNetwork,
                                      ['summary']).items())[0]
        self.neutron._ports[port_id].update({
            'binding:vif_type': 'ovs',
            'binding:vif_details': {
                'nsx-logical-switch-id': item['summary'].opaqueNetworkId}})
        return moid

    def test_add_port_then_remove_it_on_a_running_server(self):
        flavor_id = self._create_flavor(memory_mb=256, vcpu=1, disk=1,
                                        ephemeral=0)
        server = self.boot(flavor_id)
        booted = self.neutron.list_ports(
            True, device_id=server['id'])['ports'][0]
        # Spawn told Neutron the booted port's vnic index: its slot.
        self.assertEqual(0, self.port(booted['id'])['vnic_index'])

        port_id = SPARE_PORT['id']
        opaque_moid = self.nsx_t_binding(port_id)
        self._attach_interface(server, port_id)

        server = self._show_server(server)
        self.assertEqual('ACTIVE', server['status'])
        vm = self.vm(server)
        # Hot-added: the VM ran all along.
        self.assertEqual('poweredOn', vm['runtime.powerState'])
        nics = {nic.macAddress: nic for nic in base.nics(vm)}
        self.assertEqual(sorted([booted['mac_address'],
                                 SPARE_PORT['mac_address']]), sorted(nics))
        added = nics[SPARE_PORT['mac_address']]
        self.assertIsInstance(
            added.backing,
            vim.vm.device.VirtualEthernetCard.OpaqueNetworkBackingInfo)
        self.assertEqual(port_id, added.externalId)
        self.assertIn(opaque_moid, [n._moId for n in vm['network']])
        slots = {o.key: o.value for o in vm['config.extraConfig']
                 if o.key.startswith('nvp.iface-id.')}
        self.assertEqual({'nvp.iface-id.0': booted['id'],
                          'nvp.iface-id.1': port_id}, slots)
        self.assertEqual(1, self.port(port_id)['vnic_index'])
        attached = self.api.get_port_interfaces(server['id'])
        self.assertEqual({booted['id'], port_id},
                         {a['port_id'] for a in attached})

        self._detach_interface(server, port_id)
        vm = self.vm(server)
        self.assertEqual([booted['mac_address']],
                         [nic.macAddress for nic in base.nics(vm)])
        self.assertNotIn(opaque_moid, [n._moId for n in vm['network']])
        slots = {o.key: o.value for o in vm['config.extraConfig']
                 if o.key.startswith('nvp.iface-id.')}
        self.assertEqual({'nvp.iface-id.0': booted['id'],
                          'nvp.iface-id.1': 'free'}, slots)
        self.assertIsNone(self.port(port_id)['vnic_index'])
        self.assertEqual([booted['id']], [
            a['port_id'] for a in self.api.get_port_interfaces(
                server['id'])])
        self._delete_server(server)
