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

"""Live migration through Nova's API, two computes on two clusters.

``os-migrateLive`` (``openstack server migrate --live-migration --host``)
from compute1 (DC0_C0, LocalDS_0) to compute2 (DC0_C1, LocalDS_1): the VM
ends where Nova says, checked over the test's own pyvmomi connection, the
same VM (moid) that booted, running all along and never deleted. vcsim
runs each vMotion over three seconds (tools/vcsim/vm_vmotion.go), so the
migration record gets the progress the driver wrote, and an abort
(``DELETE /servers/{id}/migrations/{id}``) lands while it runs.
"""

import time

from nova import context as nova_context
from nova import objects

from tests.nova import multi_cluster

# Long enough for the API to see progress and abort on a busy machine.
VMOTION_SECONDS = 3


class LiveMigrationTest(multi_cluster.TwoClustersTestBase):

    VCSIM_SHAPE = dict(multi_cluster.TwoClustersTestBase.VCSIM_SHAPE,
                       extra_args=('-vmotion-duration',
                                   '%ds' % VMOTION_SECONDS))

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
        self.addCleanup(self._delete_server, server)
        return server

    def migration_record(self, server):
        found = objects.MigrationList.get_by_filters(
            nova_context.get_admin_context(),
            {'instance_uuid': server['id'], 'migration_type':
             'live-migration'})
        self.assertEqual(1, len(found))
        return found[0]

    def test_live_migration_to_the_named_host(self):
        server = self.boot_on('compute1')
        before = self.assertOnCompute(server, 'compute1', self.flavor)
        destroys = []
        for host in self.CLUSTERS:
            real = self.driver(host).destroy
            self.patch(self.driver(host), 'destroy',
                       lambda *a, _real=real, **kw: (destroys.append(a),
                                                     _real(*a, **kw))[1])

        server = self._live_migrate(server, host='compute2')

        after = self.assertOnCompute(server, 'compute2', self.flavor)
        self.assertEqual(before['moid'], after['moid'])  # the same VM
        # The linked clone left its image-cache parent (on LocalDS_0,
        # which compute2 does not use) behind: a whole disk now.
        self.assertIsNotNone(before['disk_parent'])
        self.assertIsNone(after['disk_parent'])
        self.assertEqual('poweredOn', after['power'])
        self.assertEqual([], destroys)  # nobody tried to delete it
        migration = self.migration_record(server)
        self.assertEqual('completed', migration.status)
        self.assertEqual(256 * 1024 * 1024, migration.memory_total)
        self.assertEqual(migration.memory_total, migration.memory_processed)
        self.assertIsNone(migration.memory_remaining)  # none left
        # The datastore changed (LocalDS_0 to LocalDS_1): the disks moved.
        self.assertGreater(migration.disk_total, 0)
        self.assertEqual(migration.disk_total, migration.disk_processed)
        # The destination now answers for it.
        info = self.driver('compute2').get_info(
            objects.Instance(uuid=server['id']))
        self.assertEqual(after['moid'], info.internal_id)

    def running_migration(self, server):
        """The in-progress migration, once the API shows it moving."""
        deadline = time.monotonic() + VMOTION_SECONDS * 10
        while time.monotonic() < deadline:
            for migration in self.api.get_active_migrations(server['id']):
                if (migration['status'] == 'running' and
                        migration['memory_processed_bytes']):
                    return migration
            time.sleep(0.05)
        self.fail('no live migration of %s made progress' % server['id'])

    def test_abort_while_the_vmotion_runs(self):
        server = self.boot_on('compute1')
        before = self.assertOnCompute(server, 'compute1', self.flavor)
        self.api.post_server_action(server['id'], {'os-migrateLive': {
            'host': 'compute2', 'block_migration': 'auto'}})
        migration = self.running_migration(server)
        # What the driver wrote, as the API shows it mid-way.
        self.assertEqual(256 * 1024 * 1024,
                         migration['memory_total_bytes'])
        self.assertLess(migration['memory_processed_bytes'],
                        migration['memory_total_bytes'])

        self.api.delete_migration(server['id'], migration['id'])

        self._wait_for_migration_status(server, ['cancelled'])
        server = self._wait_for_state_change(server, 'ACTIVE')
        after = self.assertOnCompute(server, 'compute1', self.flavor)
        for key in ('moid', 'pool', 'host', 'datastores', 'vmx', 'power'):
            self.assertEqual(before[key], after[key], key)
