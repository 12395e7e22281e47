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

"""Server groups through Nova's API become DRS rules in the cluster.

Nova's services run in-process (tests/nova/test_servers.py) with our
driver on vcsim; the group and its members are Nova's own (API database,
``os:scheduler_hints``), and the rule is read from the cluster's
configurationEx over a separate pyvmomi connection.
"""

from pyVmomi import vim

from tests.nova import test_servers
from tests import vcsim


class ServerGroupRulesTest(test_servers.VcsimServersTestBase):

    def rules(self):
        """{name: (kind, mandatory, enabled, sorted VM moids)} of DC0_C0."""
        clusters = vcsim.query(self.si, vim.ClusterComputeResource,
                               ['name', 'configurationEx'])
        config = [c['configurationEx'] for c in clusters.values()
                  if c['name'] == self.CLUSTERS['compute']][0]
        return {rule.name: (type(rule).__name__.split('.')[-1],
                            rule.mandatory, rule.enabled,
                            sorted(vm._moId for vm in rule.vm or ()))
                for rule in config.rule or ()}

    def boot_in_group(self, flavor_id, group):
        self.keep_cache_entry(self.image['id'], flavor_id)
        body = self._build_server(image_uuid=self.image['id'],
                                  flavor_id=flavor_id,
                                  networks=[{'uuid': test_servers.NETWORK}])
        server = self.api.post_server({
            'server': body, 'os:scheduler_hints': {'group': group['id']}})
        return self._wait_for_state_change(server, 'ACTIVE')

    def test_soft_anti_affinity_servers_get_a_non_mandatory_rule(self):
        group = self.api.post_server_groups(
            {'name': 'apart', 'policy': 'soft-anti-affinity'})
        flavor_id = self._create_flavor(memory_mb=128, vcpu=1, disk=1,
                                        ephemeral=0)
        first = self.boot_in_group(flavor_id, group)
        # One member in the cluster: nothing to keep apart yet.
        self.assertEqual({}, self.rules())
        second = self.boot_in_group(flavor_id, group)
        self.assertEqual(['compute', 'compute'],
                         [s['OS-EXT-SRV-ATTR:host'] for s in (first, second)])

        vms = self.vms()
        self.assertEqual(
            {'nova-' + group['id']: (
                'AntiAffinityRuleSpec', False, True,
                sorted(vms[s['id']]['moid'] for s in (first, second)))},
            self.rules())

        self._delete_server(first)
        # One member left in the cluster: the rule goes.
        self.assertEqual({}, self.rules())
        self._delete_server(second)
        self.assertEqual({}, self.rules())
