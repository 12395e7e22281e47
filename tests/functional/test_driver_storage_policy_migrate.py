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

"""Cold migration to another cluster honours the flavor's storage policy
there (VCDriver on vcsim, two clusters sharing LocalDS_0, tagged
Tier:silver, and LocalDS_1, tagged Tier:gold).

The source compute has PBM off and datastore_regex ^LocalDS_0$, so a
"gold" instance lives on LocalDS_0; the destination compute has PBM on.
"""

from nova import exception

from tests.functional import test_driver_migrate
from tests.functional import test_driver_spawn
from tests import storage_policies as policies

_Migrate = test_driver_migrate.MigrateTest


class PolicyMigrateTest(test_driver_spawn.SpawnTestBase):

    VCSIM_SHAPE = dict(clusters=2, hosts=2, datastores=2, portgroups=1,
                       extra_args=policies.vcsim_args(
                           tags={'LocalDS_0': 'Tier:silver',
                                 'LocalDS_1': 'Tier:gold'}))

    # MigrateTest's helpers (not its tests).
    where = _Migrate.where
    booted = _Migrate.booted
    _destroy_anywhere = _Migrate._destroy_anywhere
    migration = _Migrate.migration
    resize = _Migrate.resize
    start_two_clusters = _Migrate.start_two_clusters

    def setUp(self):
        super().setUp()
        self.pbm = policies.connect(self.vcsim, self.si)
        self.gold = 'gold-' + self.id().rsplit('.', 1)[1]
        profile_id = policies.create_policy(
            self.pbm, self.gold, [policies.tag_rule('Tier', 'gold')])
        self.addCleanup(policies.delete_policy, self.pbm, profile_id)

    def start(self, dest_regex=None):
        self.start_two_clusters(
            dest={'pbm_enabled': True, 'datastore_regex': dest_regex},
            source={'pbm_enabled': False})
        instance = self.booted(
            extra_specs={'vmware:storage_policy': self.gold})
        self.assertEqual(['LocalDS_0'], self.where(instance)['datastores'])
        return instance

    def test_moves_to_a_datastore_the_policy_allows(self):
        instance = self.start()
        self.resize(instance, instance.flavor, self.dest, self.migration())
        after = self.where(instance)
        self.assertEqual(('DC0_C1', ['LocalDS_1']),
                         (after['cluster'], after['datastores']))
        self.assertEqual('poweredOn', after['runtime.powerState'])

    def test_no_datastore_there_satisfies_it(self):
        instance = self.start(dest_regex='^LocalDS_0$')
        before = self.where(instance)
        exc = self.assertRaises(
            exception.ComputeResourcesUnavailable, self.resize, instance,
            instance.flavor, self.dest, self.migration())
        self.assertIn('no datastore of cluster DC0_C1 satisfies storage '
                      "policy '%s'" % self.gold, str(exc))
        # Nothing moved.
        after = self.where(instance)
        self.assertEqual((before['moid'], 'DC0_C0', ['LocalDS_0']),
                         (after['moid'], after['cluster'],
                          after['datastores']))
