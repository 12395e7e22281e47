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

"""Cluster inventory resolution against vcsim inventories of several shapes."""

from nova_vmware_ext.vsphere import inventory
from pyVmomi import vim
from tests.functional import base


class InventoryTest(base.VcsimTestCase):

    VCSIM_SHAPE = dict(datacenters=2, clusters=2, hosts=3, datastores=3,
                       portgroups=2)

    def test_resolves_cluster_and_its_surroundings(self):
        with self.session.calls.scope() as scope:
            inv = inventory.resolve(self.session, 'DC1_C1')
        clusters = self.query(vim.ClusterComputeResource,
                              ['name', 'host', 'datastore', 'resourcePool'])
        moid = [m for m, c in clusters.items() if c['name'] == 'DC1_C1'][0]
        expected = clusters[moid]
        self.assertEqual(moid, inv.cluster._moId)
        self.assertEqual('DC1_C1', inv.cluster_name)
        self.assertEqual('DC1', inv.datacenter_name)
        self.assertEqual('DC1', inv.datacenter_path)
        self.assertEqual(expected['resourcePool']._moId,
                         inv.resource_pool._moId)
        self.assertEqual(sorted(h._moId for h in expected['host']),
                         sorted(h.ref._moId for h in inv.hosts))
        self.assertEqual(sorted(d._moId for d in expected['datastore']),
                         sorted(d.ref._moId for d in inv.datastores))
        dcs = self.query(vim.Datacenter, ['name', 'vmFolder'])
        dc = [d for d in dcs.values() if d['name'] == 'DC1'][0]
        self.assertEqual(dc['vmFolder']._moId, inv.vm_folder._moId)
        for host in inv.hosts:
            self.assertTrue(host.usable)
            self.assertGreater(host.hardware.memorySize, 0)
        for ds in inv.datastores:
            self.assertGreater(ds.capacity, 0)
            self.assertTrue(ds.accessible)
        # Two property queries: the view (create, read, destroy) + members.
        self.assertLessEqual(scope.total, 4)

    def test_distributed_port_groups_carry_their_switch(self):
        inv = inventory.resolve(self.session, 'DC0_C0')
        switches = self.query(vim.DistributedVirtualSwitch, ['uuid', 'name'])
        uuids = {s['uuid'] for s in switches.values()}
        portgroups = [n for n in inv.networks
                      if n.kind == 'DistributedVirtualPortgroup']
        self.assertTrue(portgroups)
        for pg in portgroups:
            self.assertTrue(pg.portgroup_key)
            self.assertIn(pg.switch_uuid, uuids)
        self.assertEqual(1, len(inv.network_named('DC0_DVPG0')))

    def test_datacenter_path_qualifies_a_cluster(self):
        inv = inventory.resolve(self.session, 'DC0/DC0_C1')
        self.assertEqual('DC0_C1', inv.cluster_name)
        self.assertEqual('DC0', inv.datacenter_name)

    def test_unknown_cluster_names_the_known_ones(self):
        exc = self.assertRaises(inventory.InventoryError, inventory.resolve,
                                self.session, 'nope')
        self.assertIn("'nope' not found", str(exc))
        self.assertIn('cluster_name', str(exc))
        for name in ('DC0_C0', 'DC0_C1', 'DC1_C0', 'DC1_C1'):
            self.assertIn(name, str(exc))

    def test_datastore_regex(self):
        inv = inventory.Inventory(self.session, 'DC0_C0', 'LocalDS_[12]')
        names = sorted(ds.name for ds in inv.datastores())
        self.assertEqual(['LocalDS_1', 'LocalDS_2'], names)

    def test_datastore_regex_matching_nothing(self):
        inv = inventory.Inventory(self.session, 'DC0_C0', 'nas.*')
        exc = self.assertRaises(inventory.InventoryError, inv.datastores)
        self.assertIn("datastore_regex 'nas.*'", str(exc))
        self.assertIn('LocalDS_0', str(exc))

    def test_cached_until_refreshed(self):
        inv = inventory.Inventory(self.session, 'DC0_C0')
        first = inv.get()
        with self.session.calls.scope() as scope:
            self.assertIs(first, inv.get())
        self.assertEqual(0, scope.total)
        self.assertIsNot(first, inv.refresh())
        self.assertEqual(first.cluster._moId, inv.get().cluster._moId)


class FolderedInventoryTest(base.VcsimTestCase):

    VCSIM_SHAPE = dict(extra_args=('-folder', '1'))

    def test_datacenter_inside_a_folder(self):
        inv = inventory.resolve(self.session, 'DC0_C0')
        self.assertEqual('DC0', inv.datacenter_name)
        self.assertIn('/', inv.datacenter_path)
        self.assertTrue(inv.datacenter_path.endswith('/DC0'))
