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

"""Servers through Nova's compute REST API, with our driver on vcsim.

Nova's functional harness (``_IntegratedTestBase``) runs nova-api,
-conductor, -scheduler and nova-compute in this process over Placement,
Glance and Neutron fixtures; nova-compute loads
``vmware_ext.driver.VCDriver`` through its shim, as an operator's
nova.conf would. Images are real streamOptimized VMDKs (qemu-img). Every
outcome is checked in vcsim over a separate pyvmomi connection.

Neutron's fixture binds ports as OVS ports (NSX for this driver); here they
bind as networking-vsphere's DVS driver does, naming a distributed
portgroup vcsim has (DC0_DVPG0).
"""

from unittest import mock

from nova.tests.fixtures import neutron as neutron_fixture
from nova.tests.functional import integrated_helpers
from oslo_utils.fixture import uuidsentinel as uuids
from pyVmomi import vim
import requests

from tests.nova import base
from tests import vcsim

NETWORK = neutron_fixture.NeutronFixture.network_1['id']
PORTGROUP = 'DC0_DVPG0'


def dvs_bindings(neutron):
    """Make the fixture bind ports to the DVS portgroup vcsim has."""
    binding = {'binding:vif_type': 'dvs',
               'binding:vif_details': {'dvs_port_group_name': PORTGROUP}}
    neutron.default_port = dict(neutron.default_port, **binding)
    for port in neutron._ports.values():
        port.update(binding)


class VcsimServersTestBase(vcsim.VcsimClassMixin,
                           integrated_helpers._IntegratedTestBase):
    """Nova's services with nova-compute on vcsim cluster DC0_C0."""

    ADMIN_API = True
    microversion = 'latest'
    VCSIM_SHAPE = dict(hosts=2, datastores=2, portgroups=1)
    CLUSTERS = {'compute': 'DC0_C0'}

    def setUp(self):
        self.flags(compute_driver='vmware_ext.driver.VCDriver')
        self.flags(api_paste_config=base.API_PASTE_INI, group='wsgi')
        super().setUp()
        # After the Placement and API fixtures' intercepts.
        base.real_https(self)
        base.tolerate_nova_sqlalchemy_deprecations()
        base.serve_image_data(self.glance)
        self.image = base.add_vmdk_image(self.glance, name='vmdk-16M')
        dvs_bindings(self.neutron)
        self.si = self.vcsim.connect()
        # The vcsim outlives the test: leave it as found (a nova-compute
        # refuses to start as a new service on a cluster with Nova's VMs).
        self.addCleanup(base.remove_nova_vms, self.si)
        # Runs before remove_nova_vms: a VM a test leaves is a leak too.
        self.leaks = base.check_leaks(self, self.si)

    def keep_cache_entry(self, image_id, flavor_id):
        """Booting ``image_id`` with ``flavor_id`` fills its cache entry
        (grown to the flavor's root disk if it has one), kept by design."""
        disk = self.api.get_flavor(flavor_id)['disk']
        base.keep_cache_entry(self.leaks, self.driver(next(iter(
            self.CLUSTERS))), image_id, [disk] if disk else [])

    def _setup_compute_service(self):
        first = None
        for host, cluster in self.CLUSTERS.items():
            # Each nova-compute reads its cluster when it starts.
            base.vmware_flags(self, self.vcsim, cluster)
            # The node identity Nova keeps in a file per nova-compute;
            # these share one process.
            with mock.patch('nova.virt.node.get_local_node_uuid',
                            return_value=getattr(uuids, 'node_' + host)):
                compute = self._start_compute(host)
            first = first or compute
        return first

    def driver(self, host='compute'):
        return self.computes[host].manager.driver

    def vms(self):
        return base.vms_by_instance_uuid(self.si)

    def boot(self, flavor_id, **kwargs):
        self.keep_cache_entry(self.image['id'], flavor_id)
        return self._create_server(
            image_uuid=self.image['id'], flavor_id=flavor_id,
            networks=[{'uuid': NETWORK}], **kwargs)

    def datastore_file(self, path):
        """The HTTP response to a GET of a datastore path (our session)."""
        datastore, rel = path[1:].split('] ', 1)
        url = vcsim.datastore_url(self.vcsim, rel, datastore=datastore)
        return requests.get(url, verify=self.vcsim.ca_file, timeout=30,
                            headers={'Cookie': vcsim.session_cookie(self.si)})


class ServersTest(VcsimServersTestBase):

    def test_boot_stop_start_reboot_delete(self):
        flavor_id = self._create_flavor(memory_mb=256, vcpu=2, disk=1,
                                        ephemeral=0)
        server = self.boot(flavor_id)
        self.assertEqual('ACTIVE', server['status'])
        self.assertEqual('compute', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual(self.driver().get_available_nodes()[0],
                         server['OS-EXT-SRV-ATTR:hypervisor_hostname'])

        vm = self.vms()[server['id']]
        # Named as the in-tree driver names VMs.
        self.assertEqual('%s (%s)' % (server['name'][:41], server['id']),
                         vm['name'])
        self.assertEqual('poweredOn', vm['runtime.powerState'])
        self.assertEqual(2, vm['config.hardware.numCPU'])
        self.assertEqual(256, vm['config.hardware.memoryMB'])
        disks = base.disks(vm)
        self.assertEqual([1024 * 1024], [d.capacityInKB for d in disks])
        # The root disk is a linked clone of the cached image.
        self.assertIn('_base/%s/' % self.image['id'],
                      disks[0].backing.parent.fileName)
        nics = base.nics(vm)
        self.assertEqual(1, len(nics))
        port = self.neutron.list_ports(
            True, device_id=server['id'])['ports'][0]
        self.assertEqual(port['mac_address'], nics[0].macAddress)
        portgroups = vcsim.query(self.si, vim.dvs.DistributedVirtualPortgroup,
                                 ['name', 'key'])
        self.assertEqual(
            [pg['key'] for pg in portgroups.values()
             if pg['name'] == PORTGROUP],
            [nics[0].backing.port.portgroupKey])
        rp_uuid = self._get_provider_uuid_by_host(
            server['OS-EXT-SRV-ATTR:hypervisor_hostname'])
        flavor = self.api.get_flavor(flavor_id)
        self.assertFlavorMatchesAllocation(flavor, server['id'], rp_uuid)

        server = self._stop_server(server)
        self.assertEqual('poweredOff',
                         self.vms()[server['id']]['runtime.powerState'])
        server = self._start_server(server)
        self.assertEqual('poweredOn',
                         self.vms()[server['id']]['runtime.powerState'])

        # SOFT asks the guest through VMware Tools when they run, else
        # resets; HARD always resets.
        for hard, tools, guest, reset in ((False, False, 0, 1),
                                          (False, True, 1, 0),
                                          (True, True, 0, 1)):
            if tools:
                base.give_tools(self.si, self.vms()[server['id']]['moid'])
            self.vcsim.reset_server_calls()
            server = self._reboot_server(server, hard=hard)
            made = self.vcsim.server_calls()
            self.assertEqual((guest, reset), (made.get('RebootGuest', 0),
                                              made.get('ResetVM_Task', 0)),
                             '%s reboot, tools %s: %s' % (
                                 'HARD' if hard else 'SOFT', tools, made))
            self.assertEqual('poweredOn',
                             self.vms()[server['id']]['runtime.powerState'])

        vmx = self.vms()[server['id']]['config.files.vmPathName']
        self.assertEqual('[%s] %s/%s.vmx' % (vmx[1:].split(']')[0],
                                             server['id'], server['id']),
                         vmx)
        self.assertEqual(200, self.datastore_file(vmx).status_code)
        self._delete_server(server)
        self.assertNotIn(server['id'], self.vms())
        self.assertEqual(404, self.datastore_file(vmx).status_code)
        folder = vmx.rsplit('/', 1)[0] + '/'
        self.assertEqual(404, self.datastore_file(folder).status_code)
        self.assertEqual({}, self._get_allocations_by_server_uuid(
            server['id']))

    def test_image_without_virtual_size_gets_its_disk_size(self):
        # Glance without a format inspector records no virtual_size; the
        # file of a streamOptimized VMDK holds only its compressed grains.
        image = base.add_vmdk_image(self.glance, size_mb=16,
                                    virtual_size=False, name='no-vsize')
        self.assertLess(image['size'], 1024 * 1024)
        flavor_id = self._create_flavor(memory_mb=256, vcpu=1, disk=0,
                                        ephemeral=0)
        self.keep_cache_entry(image['id'], flavor_id)
        server = self._create_server(image_uuid=image['id'],
                                     flavor_id=flavor_id, networks='none')
        disks = base.disks(self.vms()[server['id']])
        self.assertEqual([16 * 1024], [d.capacityInKB for d in disks])
        self._delete_server(server)

    def test_placement_inventory_is_the_cluster(self):
        nodename = self.driver().get_available_nodes()[0]
        rp_uuid = self._get_provider_uuid_by_host(nodename)
        inventory = self._get_provider_inventory(rp_uuid)

        clusters = vcsim.query(self.si, vim.ClusterComputeResource,
                               ['name', 'host', 'datastore'])
        cluster = [c for c in clusters.values() if c['name'] == 'DC0_C0'][0]
        hosts = vcsim.query(self.si, vim.HostSystem,
                            ['summary.hardware.numCpuThreads',
                             'summary.hardware.memorySize'])
        ours = [hosts[h._moId] for h in cluster['host']]
        datastores = vcsim.query(self.si, vim.Datastore, ['summary'])
        capacity = [datastores[d._moId]['summary'].capacity
                    for d in cluster['datastore']]
        self.assertEqual(2, len(ours))
        self.assertEqual(2, len(capacity))
        self.assertEqual(
            sum(h['summary.hardware.numCpuThreads'] for h in ours),
            inventory['VCPU']['total'])
        self.assertEqual(
            sum(h['summary.hardware.memorySize'] // base.MiB for h in ours),
            inventory['MEMORY_MB']['total'])
        self.assertEqual(sum(c // (1024 * base.MiB) for c in capacity),
                         inventory['DISK_GB']['total'])


class TwoClustersTest(VcsimServersTestBase):
    """Two nova-computes, one per vCenter cluster, under one scheduler."""

    VCSIM_SHAPE = dict(clusters=2, hosts=2, datastores=2, portgroups=1)
    CLUSTERS = {'compute1': 'DC0_C0', 'compute2': 'DC0_C1'}

    def test_scheduler_spreads_servers_over_the_clusters(self):
        nodes = {host: self.driver(host).get_available_nodes()[0]
                 for host in self.CLUSTERS}
        self.assertEqual(2, len(set(nodes.values())))
        hypervisors = self.admin_api.api_get(
            'os-hypervisors').body['hypervisors']
        self.assertEqual(sorted(nodes.values()),
                         sorted(h['hypervisor_hostname']
                                for h in hypervisors))

        flavor_id = self._create_flavor(memory_mb=512, vcpu=1, disk=1,
                                        ephemeral=0)
        servers = [self.boot(flavor_id) for _ in range(2)]
        hosts = sorted(s['OS-EXT-SRV-ATTR:host'] for s in servers)
        self.assertEqual(['compute1', 'compute2'], hosts)

        # Each VM is in the cluster of the compute that built it.
        clusters = {c['name']: moid for moid, c in vcsim.query(
            self.si, vim.ClusterComputeResource, ['name']).items()}
        host_parent = {moid: h['parent']._moId for moid, h in vcsim.query(
            self.si, vim.HostSystem, ['parent']).items()}
        vms = base.vms_by_instance_uuid(self.si, ['runtime.host'])
        for server in servers:
            cluster = self.CLUSTERS[server['OS-EXT-SRV-ATTR:host']]
            self.assertEqual(
                clusters[cluster],
                host_parent[vms[server['id']]['runtime.host']._moId])
        for server in servers:
            self._delete_server(server)
        self.assertEqual({}, base.vms_by_instance_uuid(self.si))
