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

"""Resize and cold migration through Nova's API, two computes, two clusters.

Each test checks the VM over its own pyvmomi connection: in the cluster,
pool and datastore of the compute Nova names, with the flavor's CPUs,
memory and root disk, and the same VM (moid) from boot to the end: the
driver never deletes and rebuilds it.
"""

from tests.nova import multi_cluster


class MovesTest(multi_cluster.TwoClustersTestBase):

    def setUp(self):
        super().setUp()
        self.small = self._create_flavor(memory_mb=256, vcpu=1, disk=1,
                                         ephemeral=0)
        self.flavor = self.api.get_flavor(self.small)

    def boot_on(self, host):
        self.keep_cache_entry(self.image['id'], self.small)
        server = self._create_server(
            image_uuid=self.image['id'], flavor_id=self.small,
            networks=[{'uuid': multi_cluster.test_servers.NETWORK}],
            host=host)
        self.addCleanup(self._delete_server_quietly, server)
        return server

    def _delete_server_quietly(self, server):
        try:
            self._delete_server(server)
        except Exception:  # already deleted by the test
            pass

    def bigger(self):
        flavor_id = self._create_flavor(memory_mb=512, vcpu=2, disk=2,
                                        ephemeral=0)
        self.keep_cache_entry(self.image['id'], flavor_id)
        return flavor_id, self.api.get_flavor(flavor_id)

    def test_resize_to_the_other_cluster_then_confirm(self):
        server = self.boot_on('compute1')
        moid = self.assertOnCompute(server, 'compute1', self.flavor)['moid']
        flavor_id, bigger = self.bigger()
        server = self._resize_server(server, flavor_id)
        # The scheduler can only pick the other compute (no same-host
        # resize unless the operator allows it).
        found = self.assertOnCompute(server, 'compute2', bigger)
        self.assertEqual(moid, found['moid'])
        self.assertEqual('poweredOn', found['power'])
        server = self._confirm_resize(server)
        found = self.assertOnCompute(server, 'compute2', bigger)
        self.assertEqual(moid, found['moid'])
        rp = self._get_provider_uuid_by_host(self.nodename('compute2'))
        self.assertFlavorMatchesAllocation(bigger, server['id'], rp)

    def test_resize_to_the_other_cluster_then_revert(self):
        server = self.boot_on('compute1')
        before = self.assertOnCompute(server, 'compute1', self.flavor)
        flavor_id, bigger = self.bigger()
        server = self._resize_server(server, flavor_id)
        self.assertEqual(before['moid'], self.assertOnCompute(
            server, 'compute2', bigger)['moid'])
        server = self._revert_resize(server)
        after = self.assertOnCompute(server, 'compute1')
        self.assertEqual(before['moid'], after['moid'])
        self.assertEqual((1, 256), (after['cpus'], after['memory_mb']))
        self.assertEqual(before['cpu_allocation'], after['cpu_allocation'])
        self.assertEqual(before['memory_allocation'],
                         after['memory_allocation'])
        # vSphere cannot shrink a disk: the grown root disk stays.
        self.assertEqual(2 * 1024 * 1024, after['disk_kb'])
        self.assertEqual('poweredOn', after['power'])
        rp = self._get_provider_uuid_by_host(self.nodename('compute1'))
        self.assertFlavorMatchesAllocation(self.flavor, server['id'], rp)

    def test_cold_migration_to_a_named_host(self):
        server = self.boot_on('compute2')
        moid = self.assertOnCompute(server, 'compute2', self.flavor)['moid']
        server = self._migrate_server(server, host='compute1')
        self.assertEqual(moid, self.assertOnCompute(
            server, 'compute1', self.flavor)['moid'])
        server = self._confirm_resize(server)
        found = self.assertOnCompute(server, 'compute1', self.flavor)
        self.assertEqual((moid, 'poweredOn'), (found['moid'], found['power']))

    def test_resize_in_place_then_revert(self):
        # Only compute1 can take it: the resize stays in its cluster.
        self.flags(allow_resize_to_same_host=True)
        service = self.admin_api.get_services(binary='nova-compute',
                                              host='compute2')[0]
        self.admin_api.put_service(service['id'], {'status': 'disabled'})
        server = self.boot_on('compute1')
        before = self.assertOnCompute(server, 'compute1', self.flavor)
        flavor_id, bigger = self.bigger()
        server = self._resize_server(server, flavor_id)
        found = self.assertOnCompute(server, 'compute1', bigger)
        self.assertEqual(before['moid'], found['moid'])
        self.assertEqual('poweredOn', found['power'])
        server = self._revert_resize(server)
        after = self.assertOnCompute(server, 'compute1')
        self.assertEqual(before['moid'], after['moid'])
        self.assertEqual((1, 256, before['cpu_allocation'],
                          before['memory_allocation']),
                         (after['cpus'], after['memory_mb'],
                          after['cpu_allocation'],
                          after['memory_allocation']))
        self.assertEqual('poweredOn', after['power'])

    def test_stopped_server_migrates_stopped_and_delete_while_resized(self):
        server = self.boot_on('compute1')
        moid = self.where(server['id'])['moid']
        server = self._stop_server(server)
        server = self._migrate_server(server, host='compute2')
        found = self.assertOnCompute(server, 'compute2', self.flavor)
        self.assertEqual((moid, 'poweredOff'), (found['moid'], found['power']))
        # Deleting a server awaiting confirmation confirms on the source
        # (which deletes nothing), then deletes the VM on the destination.
        self._delete_server(server)
        self.assertNotIn(server['id'], self.vms())
