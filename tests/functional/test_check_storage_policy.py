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

"""nova-vmware-ext-check's storage policy check (with pbm_enabled), on
vcsim's PBM: LocalDS_1 carries the tag the "gold" policy asks for."""

import fixtures
import testtools

from tests.functional import test_check_cli
from tests import storage_policies as policies
from tests import vcsim


class StoragePolicyCheckTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(hosts=2, datastores=2, portgroups=1,
                       extra_args=policies.vcsim_args(
                           tags={'LocalDS_1': 'Tier:gold'}))

    # The CLI helpers of test_check_cli (not its tests).
    conf_file = test_check_cli.CheckCliTest.conf_file
    run_check = test_check_cli.CheckCliTest.run_check
    results = test_check_cli.CheckCliTest.results

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        content = policies.connect(self.vcsim, self.vcsim.connect())
        self.gold = 'gold-' + self.id().rsplit('.', 1)[1]
        for name, tier in ((self.gold, 'gold'),
                           (self.gold + '-bronze', 'bronze')):
            profile_id = policies.create_policy(
                content, name, [policies.tag_rule('Tier', tier)])
            self.addCleanup(policies.delete_policy, content, profile_id)

    def policy_check(self, **overrides):
        code, doc, by_check = self.results(pbm_enabled='true', **overrides)
        checks = [c['check'] for c in doc['checks']]
        self.assertEqual('storage policy',
                         checks[checks.index('datastores') + 1])
        return code, by_check['storage policy'][0]

    def test_default_policy_satisfied(self):
        code, result = self.policy_check(pbm_default_policy=self.gold)
        self.assertEqual(0, code)
        self.assertEqual('PASS', result['status'])
        self.assertEqual("pbm_default_policy '%s' is satisfied by LocalDS_1"
                         % self.gold, result['message'])

    def test_no_default_policy(self):
        code, result = self.policy_check()
        self.assertEqual((0, 'PASS'), (code, result['status']))
        self.assertIn('pbm_default_policy is unset', result['message'])

    def test_unknown_default_policy(self):
        code, result = self.policy_check(pbm_default_policy='no-such')
        self.assertEqual((1, 'FAIL'), (code, result['status']))
        self.assertIn("[vmware] pbm_default_policy 'no-such' is not a "
                      "storage policy of vCenter", result['message'])
        self.assertIn(self.gold, result['message'])

    def test_default_policy_no_matching_datastore_satisfies(self):
        code, result = self.policy_check(
            pbm_default_policy=self.gold, datastore_regex='LocalDS_0')
        self.assertEqual((1, 'FAIL'), (code, result['status']))
        self.assertIn('no datastore matching [vmware] datastore_regex '
                      'satisfies', result['message'])
        code, result = self.policy_check(
            pbm_default_policy=self.gold + '-bronze')
        self.assertEqual((1, 'FAIL'), (code, result['status']))
