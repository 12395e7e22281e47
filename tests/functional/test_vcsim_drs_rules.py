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

"""vcsim fidelity: DRS settings and VM-VM rules of a cluster
(ReconfigureComputeResource_Task, read back from configurationEx).

The drsConfig test fails against the stock vcsim of govmomi 0.24.2, which
ignores drsConfig (tools/vcsim/cluster_drs.go restores it); the rules test
is a guard of what the stock simulator already does and the driver needs.
"""

from pyVim import task as task_util
from pyVmomi import vim
import testtools

from tests import vcsim


class ClusterDrsTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(clusters=1, hosts=2, vms=2, datastores=1,
                       portgroups=0)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        clusters = vcsim.query(self.si, vim.ClusterComputeResource, ['name'])
        self.cluster = vim.ClusterComputeResource(next(iter(clusters)),
                                                  self.si._stub)
        self.vms = [vim.VirtualMachine(moid, self.si._stub) for moid in
                    sorted(vcsim.query(self.si, vim.VirtualMachine, ['name'],
                                       self.cluster))]
        self.assertEqual(2, len(self.vms))

    def config(self):
        return vcsim.query(self.si, vim.ClusterComputeResource,
                           ['configurationEx'])[
            self.cluster._moId]['configurationEx']

    def reconfigure(self, **spec):
        task_util.WaitForTask(self.cluster.ReconfigureComputeResource_Task(
            vim.cluster.ConfigSpecEx(**spec), modify=True))

    def test_drs_config_is_applied(self):
        self.assertTrue(self.config().drsConfig.enabled)
        self.addCleanup(self.reconfigure, drsConfig=vim.cluster.DrsConfigInfo(
            enabled=True))
        self.reconfigure(drsConfig=vim.cluster.DrsConfigInfo(
            enabled=False, defaultVmBehavior='manual'))
        drs = self.config().drsConfig
        self.assertEqual((False, 'manual'),
                         (drs.enabled, drs.defaultVmBehavior))
        # Fields the spec leaves unset keep their values.
        self.reconfigure(drsConfig=vim.cluster.DrsConfigInfo(enabled=True))
        drs = self.config().drsConfig
        self.assertEqual((True, 'manual'),
                         (drs.enabled, drs.defaultVmBehavior))

    def test_vm_rules_are_added_edited_and_removed(self):
        rule = vim.cluster.AntiAffinityRuleSpec(
            name='apart', enabled=True, mandatory=False, vm=self.vms)
        self.reconfigure(rulesSpec=[vim.cluster.RuleSpec(operation='add',
                                                         info=rule)])
        rules = self.config().rule
        self.assertEqual(
            [('apart', False, sorted(vm._moId for vm in self.vms))],
            [(r.name, r.mandatory, sorted(vm._moId for vm in r.vm))
             for r in rules])
        self.assertIsInstance(rules[0], vim.cluster.AntiAffinityRuleSpec)
        key = rules[0].key
        rule = vim.cluster.AntiAffinityRuleSpec(
            key=key, name='apart', enabled=True, mandatory=True,
            vm=self.vms[:1])
        self.reconfigure(rulesSpec=[vim.cluster.RuleSpec(operation='edit',
                                                         info=rule)])
        rules = self.config().rule
        self.assertEqual([(key, True, [self.vms[0]._moId])],
                         [(r.key, r.mandatory, [vm._moId for vm in r.vm])
                          for r in rules])
        self.reconfigure(rulesSpec=[vim.cluster.RuleSpec(operation='remove',
                                                         removeKey=key)])
        self.assertEqual([], list(self.config().rule))
