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

"""VM-VM DRS rules of a cluster: read in one call, changed in one task.

Only VM-VM affinity and anti-affinity rules are handled (VM-host rules and
dependency rules are read past). Rules are plain ``VmRule`` values naming
their VMs by managed object id, so callers never build vim objects.
"""

import dataclasses

from oslo_log import log as logging
from pyVmomi import vim

from nova_vmware_ext.vsphere import props

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class VmRule(object):
    """A VM-VM rule: keep ``vms`` together (affinity) or apart."""

    name: str
    affinity: bool
    mandatory: bool
    vms: frozenset  # VM managed object ids
    enabled: bool = True
    key: int = None  # vCenter's key of an existing rule

    def same_as(self, other):
        """Whether ``other`` already is this rule (its key aside)."""
        return (self.affinity, self.mandatory, self.vms, self.enabled) == (
            other.affinity, other.mandatory, other.vms, other.enabled)


@dataclasses.dataclass(frozen=True)
class ClusterRules(object):
    """What ``configurationEx`` says of DRS and its VM-VM rules."""

    drs_enabled: bool
    rules: tuple  # of VmRule

    def named(self, name):
        for rule in self.rules:
            if rule.name == name:
                return rule
        return None


def _vm_rule(info):
    if isinstance(info, vim.cluster.AffinityRuleSpec):
        affinity = True
    elif isinstance(info, vim.cluster.AntiAffinityRuleSpec):
        affinity = False
    else:
        return None
    return VmRule(name=info.name, affinity=affinity,
                  mandatory=bool(info.mandatory),
                  vms=frozenset(vm._moId for vm in info.vm or ()),
                  enabled=info.enabled is not False, key=info.key)


class DrsRules(object):
    """Reads and changes the DRS rules of one cluster."""

    def __init__(self, session, waiter):
        self.session = session
        self.waiter = waiter

    def read(self, cluster):
        """The cluster's DRS state and VM-VM rules (one property read)."""
        item = props.retrieve_one(self.session, cluster, ['configurationEx'])
        config = item.get('configurationEx') if item else None
        drs = getattr(config, 'drsConfig', None)
        rules = (_vm_rule(info) for info in getattr(config, 'rule', ()) or ())
        return ClusterRules(
            drs_enabled=bool(drs is not None and drs.enabled),
            rules=tuple(rule for rule in rules if rule is not None))

    def change(self, cluster, add=(), edit=(), remove=()):
        """Add, edit and remove rules in one ReconfigureComputeResource_Task.

        ``edit`` and ``remove`` are rules as read (their ``key`` set).
        """
        # Removals first: a rule re-made as the other kind keeps its name.
        specs = ([vim.cluster.RuleSpec(operation='remove', removeKey=r.key)
                  for r in remove] +
                 [vim.cluster.RuleSpec(operation='edit', info=self._info(r))
                  for r in edit] +
                 [vim.cluster.RuleSpec(operation='add', info=self._info(r))
                  for r in add])
        if not specs:
            return
        task = cluster.ReconfigureComputeResource_Task(
            vim.cluster.ConfigSpecEx(rulesSpec=specs), modify=True)
        self.waiter.wait(task, 'DRS rule change on cluster %s (%s)' % (
            cluster._moId, ', '.join(
                '%s %s' % (spec.operation, (spec.info.name if spec.info
                                            else spec.removeKey))
                for spec in specs)))

    def _info(self, rule):
        kind = (vim.cluster.AffinityRuleSpec if rule.affinity
                else vim.cluster.AntiAffinityRuleSpec)
        return kind(name=rule.name, key=rule.key, enabled=rule.enabled,
                    mandatory=rule.mandatory,
                    vm=[self.session.mo('VirtualMachine', moid)
                        for moid in sorted(rule.vms)])
