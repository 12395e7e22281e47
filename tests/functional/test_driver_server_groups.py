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

"""Server groups as DRS rules in the driver's cluster, against vcsim.

Nova's side (which group an instance is in) comes from Nova's database,
which these tests replace with InstanceGroup objects of their own
(tests/nova/test_server_groups.py goes through Nova's API and database);
every rule is read back from the cluster's configurationEx over an
independent pyvmomi connection.
"""

import threading

import fixtures
from nova import context as nova_context
from nova import objects
from oslo_utils import uuidutils
from pyVim import task as task_util
from pyVmomi import vim

from nova_vmware_ext.compute import server_groups
from tests.functional import driver_base


class GroupsTestBase(driver_base.DriverTestCase):
    """Nova's groups in memory; rules read independently."""

    def setUp(self):
        super().setUp()
        self.context = nova_context.get_admin_context()
        self.groups = {}
        self.useFixture(fixtures.MockPatchObject(
            objects.InstanceGroup, 'get_by_instance_uuid',
            side_effect=self._group_of))
        self.useFixture(fixtures.MockPatchObject(
            objects.InstanceGroupList, 'get_all',
            side_effect=lambda context: list(self.groups.values())))
        self.rules = self.driver._host.server_groups
        # Rules are not VMs or files: the leak check does not see them.
        self.addCleanup(self._remove_all_rules)

    # Nova's side

    def _group_of(self, context, instance_uuid):
        for group in self.groups.values():
            if instance_uuid in group.members:
                return group
        raise objects.instance_group.exception.InstanceGroupNotFound(
            group_uuid=instance_uuid)

    def group(self, policy, members, rules=None):
        group = objects.InstanceGroup(
            uuid=uuidutils.generate_uuid(), name='g', policy=policy,
            members=list(members), rules=rules or {})
        self.groups[group.uuid] = group
        return group

    def members(self, count, power_on=False):
        """``count`` Nova VMs in the cluster: [(instance, vm moid)]."""
        made = []
        for _ in range(count):
            uuid, vm = self.make_nova_vm(power_on=power_on)
            made.append((self.instance(uuid), vm._moId))
        return made

    # vSphere's side, read independently

    def cluster(self):
        clusters = self.query(vim.ClusterComputeResource, ['name'])
        return vim.ClusterComputeResource(
            [moid for moid, c in clusters.items()
             if c['name'] == self.CLUSTER][0], self.si._stub)

    def cluster_config(self):
        cluster = self.cluster()
        return self.query(vim.ClusterComputeResource, ['configurationEx'])[
            cluster._moId]['configurationEx']

    def vcenter_rules(self):
        """{name: (kind, mandatory, enabled, sorted VM moids)}"""
        return {rule.name: (type(rule).__name__.split('.')[-1],
                            rule.mandatory, rule.enabled,
                            sorted(vm._moId for vm in rule.vm or ()))
                for rule in self.cluster_config().rule or ()}

    def reconfigure(self, **spec):
        task_util.WaitForTask(self.cluster().ReconfigureComputeResource_Task(
            vim.cluster.ConfigSpecEx(**spec), modify=True))

    def _remove_all_rules(self):
        """Of every cluster."""
        for moid, cluster in self.query(vim.ClusterComputeResource,
                                        ['configurationEx']).items():
            specs = [vim.cluster.RuleSpec(operation='remove',
                                          removeKey=r.key)
                     for r in cluster['configurationEx'].rule or ()]
            if specs:
                task_util.WaitForTask(vim.ClusterComputeResource(
                    moid, self.si._stub).ReconfigureComputeResource_Task(
                        vim.cluster.ConfigSpecEx(rulesSpec=specs),
                        modify=True))


class ServerGroupRulesTest(GroupsTestBase):

    VCSIM_SHAPE = dict(hosts=2, datastores=1, portgroups=0)

    def test_each_policy_becomes_its_rule_until_one_member_is_left(self):
        (first, vm1), (second, vm2) = self.members(2)
        elsewhere = uuidutils.generate_uuid()  # a member on another cluster
        for policy, kind, mandatory in (
                ('affinity', 'AffinityRuleSpec', True),
                ('soft-affinity', 'AffinityRuleSpec', False),
                ('anti-affinity', 'AntiAffinityRuleSpec', True),
                ('soft-anti-affinity', 'AntiAffinityRuleSpec', False)):
            self.groups.clear()
            group = self.group(policy, [first.uuid, elsewhere, second.uuid])
            self.rules.member_added(self.context, second)
            self.assertEqual(
                {'nova-' + group.uuid: (kind, mandatory, True,
                                        sorted([vm1, vm2]))},
                self.vcenter_rules(), policy)
            self.rules.member_gone(self.context, second)
            self.assertEqual({}, self.vcenter_rules(), policy)

    def test_hard_anti_affinity_sharing_a_cluster_is_kept_apart(self):
        # max_server_per_host 2 lets Nova put two members on one cluster
        # (Nova's host): inside it, DRS keeps them on different ESXi hosts.
        (first, vm1), (second, vm2) = self.members(2)
        group = self.group('anti-affinity', [first.uuid, second.uuid],
                           rules={'max_server_per_host': '2'})
        self.rules.member_added(self.context, second)
        self.assertEqual(
            {'nova-' + group.uuid: ('AntiAffinityRuleSpec', True, True,
                                    sorted([vm1, vm2]))},
            self.vcenter_rules())

    def test_destroy_shrinks_then_removes_the_rule(self):
        made = self.members(3)
        group = self.group('soft-anti-affinity', [i.uuid for i, _ in made])
        self.rules.member_added(self.context, made[2][0])
        name = 'nova-' + group.uuid
        self.assertEqual(sorted(vm for _, vm in made),
                         self.vcenter_rules()[name][3])

        self.driver.destroy(self.context, made[0][0], [])
        self.assertEqual(
            {name: ('AntiAffinityRuleSpec', False, True,
                    sorted([made[1][1], made[2][1]]))},
            self.vcenter_rules())
        # Nova removes the instance from its group after destroy.
        group.members.remove(made[0][0].uuid)
        self.driver.destroy(self.context, made[1][0], [])
        self.assertEqual({}, self.vcenter_rules())

    def test_instance_without_group_or_first_member_costs_no_call(self):
        (instance, _), (first, _) = self.members(2)
        self.group('soft-affinity', [first.uuid])
        with self.session.calls.scope() as scope:
            self.rules.member_added(self.context, instance)
            self.rules.member_added(self.context, first)
        self.assertEqual(0, scope.total)
        self.assertEqual({}, self.vcenter_rules())

    def test_concurrent_spawns_of_a_group_make_one_rule(self):
        made = self.members(4)
        group = self.group('soft-anti-affinity', [i.uuid for i, _ in made])
        logs = self.useFixture(fixtures.FakeLogger(
            name='nova_vmware_ext.compute.server_groups'))
        barrier = threading.Barrier(len(made))

        def added(instance):
            barrier.wait(timeout=30)
            self.rules.member_added(self.context, instance)
        threads = [threading.Thread(target=added, args=(instance,))
                   for instance, _ in made]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        self.assertNotIn('Could not update', logs.output)
        self.assertEqual(
            {'nova-' + group.uuid: ('AntiAffinityRuleSpec', False, True,
                                    sorted(vm for _, vm in made))},
            self.vcenter_rules())

    def test_periodic_reconcile_repairs_and_removes_rules(self):
        (first, vm1), (second, vm2), (third, vm3) = self.members(3)
        kept = self.group('soft-affinity', [first.uuid, second.uuid])
        changed = self.group('affinity', [third.uuid, first.uuid])
        self.rules.member_added(self.context, first)
        self.rules.member_added(self.context, third)
        rules = self.cluster_config().rule
        self.assertEqual(2, len(rules))
        # Behind our back: one rule deleted, one made optional and shrunk;
        # an administrator's own rule; a rule of a group Nova deleted.
        by_name = {r.name: r for r in rules}
        edited = by_name['nova-' + changed.uuid]
        edited.mandatory = False
        edited.vm = edited.vm[:1]
        stale = 'nova-' + uuidutils.generate_uuid()
        self.reconfigure(rulesSpec=[
            vim.cluster.RuleSpec(operation='remove',
                                 removeKey=by_name['nova-' + kept.uuid].key),
            vim.cluster.RuleSpec(operation='edit', info=edited),
            vim.cluster.RuleSpec(operation='add', info=(
                vim.cluster.AntiAffinityRuleSpec(
                    name='admin-db', enabled=True, mandatory=True,
                    vm=[vim.VirtualMachine(vm2, self.si._stub),
                        vim.VirtualMachine(vm3, self.si._stub)]))),
            vim.cluster.RuleSpec(operation='add', info=(
                vim.cluster.AffinityRuleSpec(
                    name=stale, enabled=True, mandatory=False,
                    vm=[vim.VirtualMachine(vm1, self.si._stub),
                        vim.VirtualMachine(vm2, self.si._stub)])))])

        # Nova's resource periodic runs the reconcile.
        self.driver.get_available_resource(self.driver._host.nodename)
        self.assertEqual({
            'nova-' + kept.uuid: ('AffinityRuleSpec', False, True,
                                  sorted([vm1, vm2])),
            'nova-' + changed.uuid: ('AffinityRuleSpec', True, True,
                                     sorted([vm1, vm3])),
            'admin-db': ('AntiAffinityRuleSpec', True, True,
                         sorted([vm2, vm3])),
        }, self.vcenter_rules())

        # Not again until RECONCILE_INTERVAL has passed.
        self._remove_all_rules()
        with self.session.calls.scope() as scope:
            self.driver.get_available_resource(self.driver._host.nodename)
        self.assertEqual(0, scope.by_method['ReconfigureComputeResource_Task'])
        self.assertEqual({}, self.vcenter_rules())
        self.assertEqual(300, server_groups.RECONCILE_INTERVAL)

    def test_failed_rule_change_leaves_the_reconcile_to_repair_it(self):
        (first, vm1), (second, vm2) = self.members(2)
        group = self.group('soft-anti-affinity', [first.uuid, second.uuid])
        self.vcsim.inject('ReconfigureComputeResource_Task',
                          fault='vim.fault.InvalidState')
        self.addCleanup(self.vcsim.clear_faults)
        logs = self.useFixture(fixtures.FakeLogger(
            name='nova_vmware_ext.compute.server_groups'))
        self.rules.member_added(self.context, second)  # does not raise
        self.assertIn('Could not update the DRS rule of server group %s '
                      '(the periodic reconcile will)' % group.uuid,
                      logs.output)
        self.assertEqual({}, self.vcenter_rules())
        self.rules.reconcile(self.context)
        self.assertEqual(
            {'nova-' + group.uuid: ('AntiAffinityRuleSpec', False, True,
                                    sorted([vm1, vm2]))},
            self.vcenter_rules())

    def test_init_host_warns_when_drs_is_disabled(self):
        message = ('DRS is disabled on vCenter cluster %s: server groups '
                   'are kept as DRS rules' % self.CLUSTER)
        logs = self.useFixture(fixtures.FakeLogger(
            name='nova_vmware_ext.compute.server_groups'))
        self.restart_driver()
        self.assertNotIn(message, logs.output)

        self.addCleanup(self.reconfigure, drsConfig=vim.cluster.DrsConfigInfo(
            enabled=True))
        self.reconfigure(drsConfig=vim.cluster.DrsConfigInfo(enabled=False))
        self.restart_driver()
        self.assertIn(message, logs.output)


class MovedMembersTest(GroupsTestBase):
    """A member moved to another cluster (cold or live migration): each
    compute's reconcile fixes the rule of its own cluster."""

    VCSIM_SHAPE = dict(clusters=2, hosts=1, datastores=1, portgroups=0)
    OTHER = 'DC0_C1'

    def setUp(self):
        super().setUp()
        # The second nova-compute, on the other cluster (the options are
        # read when it connects).
        self.flags.config(group='vmware', cluster_name=self.OTHER)
        self.other = driver_base.vc_driver.VCDriver(
            driver_base.fake.FakeVirtAPI())
        self.other.init_host('compute-other')
        self.addCleanup(self.other.cleanup_host, 'compute-other')
        self.flags.config(group='vmware', cluster_name=self.CLUSTER)

    def pool_of(self, name):
        clusters = self.query(vim.ClusterComputeResource,
                              ['name', 'resourcePool'])
        return [c['resourcePool'] for c in clusters.values()
                if c['name'] == name][0]

    def rules_of(self, name):
        clusters = self.query(vim.ClusterComputeResource,
                              ['name', 'configurationEx'])
        config = [c['configurationEx'] for c in clusters.values()
                  if c['name'] == name][0]
        return {rule.name: sorted(vm._moId for vm in rule.vm or ())
                for rule in config.rule or ()}

    def move(self, moid, cluster):
        vm = vim.VirtualMachine(moid, self.si._stub)
        task_util.WaitForTask(vm.RelocateVM_Task(vim.vm.RelocateSpec(
            pool=self.pool_of(cluster))))

    def test_moved_member_leaves_one_rule_and_joins_the_other(self):
        made = self.members(3)
        (a, vm_a), (b, vm_b), (c, vm_c) = made
        group = self.group('soft-anti-affinity', [a.uuid, b.uuid, c.uuid])
        name = 'nova-' + group.uuid
        self.move(vm_c, self.OTHER)
        self.rules.reconcile(self.context)
        self.other._host.server_groups.reconcile(self.context)
        self.assertEqual({name: sorted([vm_a, vm_b])},
                         self.rules_of(self.CLUSTER))
        self.assertEqual({}, self.rules_of(self.OTHER))

        # b follows c: the source keeps one member (no rule), the
        # destination now has two.
        self.move(vm_b, self.OTHER)
        self.rules.reconcile(self.context)
        self.other._host.server_groups.reconcile(self.context)
        self.assertEqual({}, self.rules_of(self.CLUSTER))
        self.assertEqual({name: sorted([vm_b, vm_c])},
                         self.rules_of(self.OTHER))

    def test_live_migration_hooks_move_the_member_between_rules(self):
        # No reconcile here: the hooks Nova calls after a vMotion update
        # both clusters' rules at once.
        (a, vm_a), (b, vm_b), (c, vm_c) = self.members(3)
        group = self.group('soft-anti-affinity', [a.uuid, b.uuid, c.uuid])
        name = 'nova-' + group.uuid
        self.rules.member_added(self.context, c)
        self.assertEqual({name: sorted([vm_a, vm_b, vm_c])},
                         self.rules_of(self.CLUSTER))
        for instance, moid in ((c, vm_c), (b, vm_b)):
            self.move(moid, self.OTHER)
            self.driver.post_live_migration_at_source(
                self.context, instance, [])
            self.other.post_live_migration_at_destination(
                self.context, instance, [])
        self.assertEqual({}, self.rules_of(self.CLUSTER))
        self.assertEqual({name: sorted([vm_b, vm_c])},
                         self.rules_of(self.OTHER))
