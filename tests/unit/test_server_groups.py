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

"""Server group policy + members in the cluster -> the DRS rule it needs,
and the rule changes that get the cluster there."""

import testtools

from nova_vmware_ext.compute import server_groups as sg
from nova_vmware_ext.vsphere import drs_rules

GROUP = '5b3c1f1e-7c2a-4a43-9d2b-0f6f5b0b9a11'
OTHER = 'a1f0c2d3-4e5f-4a6b-8c7d-9e0f1a2b3c4d'


def _rule(name, affinity, mandatory, vms, key=None, enabled=True):
    return drs_rules.VmRule(name=name, affinity=affinity, mandatory=mandatory,
                            vms=frozenset(vms), enabled=enabled, key=key)


class DesiredRuleTest(testtools.TestCase):

    def test_each_policy(self):
        for policy, affinity, mandatory in (
                ('affinity', True, True),
                ('soft-affinity', True, False),
                ('anti-affinity', False, True),
                ('soft-anti-affinity', False, False)):
            rule = sg.desired_rule(GROUP, policy, ['vm-1', 'vm-2'])
            self.assertEqual(
                _rule('nova-' + GROUP, affinity, mandatory, ['vm-1', 'vm-2']),
                rule, policy)

    def test_fewer_than_two_members_need_no_rule(self):
        for vms in ([], ['vm-1'], ['vm-1', 'vm-1']):
            self.assertIsNone(
                sg.desired_rule(GROUP, 'soft-anti-affinity', vms))

    def test_unknown_policy_needs_no_rule(self):
        self.assertIsNone(sg.desired_rule(GROUP, 'spread', ['vm-1', 'vm-2']))

    def test_members_elsewhere_or_gone_are_left_out(self):
        class Group(object):
            members = ['i-1', 'i-2', 'i-3', 'i-4']
        vms = {'i-1': 'vm-1', 'i-2': 'vm-2', 'i-4': 'vm-4', 'i-9': 'vm-9'}
        self.assertEqual(['vm-1', 'vm-2', 'vm-4'], sg._group_vms(Group, vms))
        self.assertEqual(['vm-1', 'vm-4'],
                         sg._group_vms(Group, vms, gone='i-2'))


class PlanTest(testtools.TestCase):

    name = 'nova-' + GROUP

    def test_missing_rule_is_added(self):
        want = _rule(self.name, False, False, ['vm-1', 'vm-2'])
        changes = sg.plan([], {self.name: want}, {self.name})
        self.assertEqual(sg.Changes(add=(want,)), changes)

    def test_same_rule_is_left_alone(self):
        have = _rule(self.name, False, False, ['vm-1', 'vm-2'], key=7)
        want = _rule(self.name, False, False, ['vm-2', 'vm-1'])
        changes = sg.plan([have], {self.name: want}, {self.name})
        self.assertFalse(changes)

    def test_changed_members_edit_the_rule_by_its_key(self):
        have = _rule(self.name, False, False, ['vm-1', 'vm-2'], key=7)
        want = _rule(self.name, False, False, ['vm-1', 'vm-2', 'vm-3'])
        changes = sg.plan([have], {self.name: want}, {self.name})
        self.assertEqual(
            sg.Changes(edit=(_rule(self.name, False, False,
                                   ['vm-1', 'vm-2', 'vm-3'], key=7),)),
            changes)

    def test_disabled_or_made_mandatory_behind_our_back_is_edited(self):
        want = _rule(self.name, False, False, ['vm-1', 'vm-2'])
        for have in (_rule(self.name, False, False, ['vm-1', 'vm-2'], key=7,
                           enabled=False),
                     _rule(self.name, False, True, ['vm-1', 'vm-2'], key=7)):
            changes = sg.plan([have], {self.name: want}, {self.name})
            self.assertEqual((7, True, False),
                             (changes.edit[0].key, changes.edit[0].enabled,
                              changes.edit[0].mandatory))

    def test_rule_of_the_other_kind_is_replaced(self):
        have = _rule(self.name, True, False, ['vm-1', 'vm-2'], key=7)
        want = _rule(self.name, False, False, ['vm-1', 'vm-2'])
        changes = sg.plan([have], {self.name: want}, {self.name})
        self.assertEqual(sg.Changes(add=(want,), remove=(have,)), changes)

    def test_rule_no_longer_needed_is_removed(self):
        have = _rule(self.name, False, False, ['vm-1', 'vm-2'], key=7)
        changes = sg.plan([have], {}, {self.name})
        self.assertEqual(sg.Changes(remove=(have,)), changes)

    def test_only_the_named_rules_are_touched(self):
        ours = _rule(self.name, False, False, ['vm-1', 'vm-2'], key=7)
        other = _rule('nova-' + OTHER, True, True, ['vm-3', 'vm-4'], key=8)
        admins = _rule('keep-db-apart', False, True, ['vm-5', 'vm-6'], key=9)
        changes = sg.plan([ours, other, admins], {}, {self.name})
        self.assertEqual(sg.Changes(remove=(ours,)), changes)
