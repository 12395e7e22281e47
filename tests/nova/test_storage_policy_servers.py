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

"""Servers whose flavor names a storage policy, through Nova's compute
REST API with ``[vmware] pbm_enabled``, on vcsim's PBM.

vcsim's LocalDS_0 carries the tag Tier:silver, LocalDS_1 Tier:gold; the
policies match those tags (tools/vcsim/pbm_placement.go). Where a server
landed, and the policy vCenter associates with it, is read over separate
pyVmomi (vim and pbm) connections.
"""

from oslo_utils import uuidutils

from tests.nova import base
from tests.nova import test_servers
from tests import storage_policies as policies


class StoragePolicyServersTest(test_servers.VcsimServersTestBase):

    VCSIM_SHAPE = dict(hosts=2, datastores=2, portgroups=1,
                       extra_args=policies.vcsim_args(
                           tags={'LocalDS_0': 'Tier:silver',
                                 'LocalDS_1': 'Tier:gold'}))

    def setUp(self):
        # The policies exist before nova-compute starts.
        content = policies.connect(self.vcsim, self.vcsim.connect())
        suffix = uuidutils.generate_uuid()[:8]
        self.policies = {}
        for tier in ('gold', 'silver'):
            name = '%s-%s' % (tier, suffix)
            profile_id = policies.create_policy(
                content, name, [policies.tag_rule('Tier', tier)])
            self.addCleanup(policies.delete_policy, content, profile_id)
            self.policies[tier] = (name, profile_id)
        super().setUp()
        self.pbm = policies.connect(self.vcsim, self.si)

    def _setup_compute_service(self):
        self.flags(pbm_enabled=True, group='vmware')
        return super()._setup_compute_service()

    def flavor_with_policy(self, policy):
        return self._create_flavor(
            memory_mb=256, vcpu=1, disk=1, ephemeral=0,
            extra_spec={'vmware:storage_policy': policy})

    def test_flavor_policy_boots_on_a_compatible_datastore(self):
        # One policy per datastore: whichever free space alone would pick,
        # one of the two servers lands wrong without the policy.
        for tier, datastore in (('gold', 'LocalDS_1'),
                                ('silver', 'LocalDS_0')):
            name, profile_id = self.policies[tier]
            server = self.boot(self.flavor_with_policy(name))
            self.assertEqual('ACTIVE', server['status'])
            vm = self.vms()[server['id']]
            self.assertEqual('poweredOn', vm['runtime.powerState'])
            self.assertTrue(vm['config.files.vmPathName'].startswith(
                '[%s] ' % datastore), vm['config.files.vmPathName'])
            disks = base.disks(vm)
            # Its root disk links to the image cache entry on that
            # datastore.
            self.assertTrue(disks[0].backing.parent.fileName.startswith(
                '[%s] ' % datastore))
            self.assertEqual([profile_id],
                             policies.associated(self.pbm, vm['moid']))
            self.assertEqual([profile_id], policies.associated(
                self.pbm, vm['moid'], disks[0].key))
            self._delete_server(server)
            self.assertNotIn(server['id'], self.vms())

    def test_unknown_policy_fails_the_boot_and_leaves_nothing(self):
        # An unknown policy aborts the build (no other compute would know
        # it either), naming it.
        server = self._create_server(
            image_uuid=self.image['id'],
            flavor_id=self.flavor_with_policy('no-such-policy'),
            networks='none', expected_state='ERROR')
        self.assertIn("storage policy 'no-such-policy' (flavor ",
                      server['fault']['message'])
        self.assertIn('is not a storage policy of vCenter',
                      server['fault']['message'])
        self.assertNotIn(server['id'], self.vms())
        self._delete_server(server)

    def test_unsatisfiable_policy_is_rescheduled_and_leaves_nothing(self):
        # No datastore of this cluster has the tag: another compute's
        # cluster might, so Nova reschedules (here there is none).
        name = 'bronze-%s' % uuidutils.generate_uuid()[:8]
        profile_id = policies.create_policy(
            self.pbm, name, [policies.tag_rule('Tier', 'bronze')])
        self.addCleanup(policies.delete_policy, self.pbm, profile_id)
        server = self._create_server(
            image_uuid=self.image['id'],
            flavor_id=self.flavor_with_policy(name),
            networks='none', expected_state='ERROR')
        self.assertIn('Exhausted all hosts available for retrying',
                      server['fault']['message'])
        self.assertNotIn(server['id'], self.vms())
        self._delete_server(server)
