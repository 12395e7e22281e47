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

"""Server groups as DRS rules inside this compute's cluster.

One nova-compute per cluster: Nova's scheduler already keeps hard
anti-affinity members on different clusters and hard affinity members on
one. Inside the cluster DRS picks the ESXi host, so each group with two or
more members here gets a VM-VM rule named ``nova-<group uuid>``:

==================== =============== ===========
policy               DRS rule        mandatory
==================== =============== ===========
affinity             affinity        yes
soft-affinity        affinity        no
anti-affinity        anti-affinity   yes
soft-anti-affinity   anti-affinity   no
==================== =============== ===========

Hard anti-affinity members share a cluster only when the group's
``max_server_per_host`` rule lets them (or an operator forced a move); the
rule then keeps them on different ESXi hosts. A rule is updated when a
member is built or destroyed here, removed once fewer than two members
are left in the cluster, and every rule named ``nova-*`` is checked
against Nova's groups by a periodic reconcile (repairing what was changed
or deleted in vCenter, and what a move between clusters changed). DRS
enforces rules only when it is enabled on the cluster; ``check_drs``
warns at start otherwise (the rules are kept all the same, for when it is).

Rules are a best effort beside the operation that changes membership: a
failure to update one is logged and repaired by the next reconcile, it
never fails a spawn or a destroy.
"""

import dataclasses
import threading
import time

from nova import context as nova_context
from nova import exception
from nova import objects
from oslo_log import log as logging
from oslo_vmware import exceptions as vexc

from nova_vmware_ext.vsphere import drs_rules

LOG = logging.getLogger(__name__)

RULE_PREFIX = 'nova-'

# Group policy -> (affinity rule?, mandatory?)
POLICIES = {
    'affinity': (True, True),
    'soft-affinity': (True, False),
    'anti-affinity': (False, True),
    'soft-anti-affinity': (False, False),
}

# Seconds between two reconciles run from the resource periodic (which
# runs every minute by default).
RECONCILE_INTERVAL = 300


def rule_name(group_uuid):
    return RULE_PREFIX + group_uuid


def desired_rule(group_uuid, policy, vms):
    """The rule a group needs in this cluster, or None.

    :param vms: managed object ids of the group's VMs in this cluster.
    """
    if policy not in POLICIES or len(set(vms)) < 2:
        return None
    affinity, mandatory = POLICIES[policy]
    return drs_rules.VmRule(name=rule_name(group_uuid), affinity=affinity,
                            mandatory=mandatory, vms=frozenset(vms))


@dataclasses.dataclass(frozen=True)
class Changes(object):
    add: tuple = ()
    edit: tuple = ()
    remove: tuple = ()

    def __bool__(self):
        return bool(self.add or self.edit or self.remove)


def plan(current, desired, names):
    """What turns the rules ``current`` into ``desired``, for ``names``.

    :param current: the cluster's rules (drs_rules.VmRule, keys set).
    :param desired: {rule name: VmRule} of the rules that should exist.
    :param names: the rule names this change may touch.
    """
    have = {rule.name: rule for rule in current}
    add, edit, remove = [], [], []
    for name in sorted(names):
        old, new = have.get(name), desired.get(name)
        if new is None:
            if old is not None:
                remove.append(old)
        elif old is None:
            add.append(new)
        elif old.affinity != new.affinity:
            # Changed into the other kind behind our back: an edit cannot
            # change a rule's type.
            remove.append(old)
            add.append(new)
        elif not new.same_as(old):
            edit.append(dataclasses.replace(new, key=old.key))
    return Changes(tuple(add), tuple(edit), tuple(remove))


def _group_vms(group, vms, gone=None):
    """Managed object ids of the group's members with a VM here."""
    return [vms[uuid] for uuid in group.members or ()
            if uuid in vms and uuid != gone]


class ServerGroupRules(object):
    """Keeps the DRS rules of the cluster in line with Nova's groups.

    :param inventory: vsphere.inventory.Inventory of the cluster.
    :param instances: compute.instances.Instances, the cluster's VMs.
    :param rules: vsphere.drs_rules.DrsRules.
    """

    def __init__(self, inventory, instances, rules,
                 interval=RECONCILE_INTERVAL):
        self.inventory = inventory
        self.instances = instances
        self.rules = rules
        self.interval = interval
        self._lock = threading.Lock()
        self._last_reconcile = None

    def check_drs(self):
        """Warn when DRS is off: vCenter keeps the rules but ignores them."""
        inv = self.inventory.get()
        try:
            drs_enabled = self.rules.read(inv.cluster).drs_enabled
        except vexc.VimException as exc:
            LOG.warning('Could not read the DRS configuration of vCenter '
                        'cluster %s: %s', inv.cluster_name, exc)
            return
        if not drs_enabled:
            LOG.warning('DRS is disabled on vCenter cluster %s: server '
                        'groups are kept as DRS rules, but vSphere will not '
                        'place VMs by them until DRS is enabled',
                        inv.cluster_name)

    # A member came or went

    def member_added(self, context, instance):
        """The instance's VM came into this cluster (built or moved in).

        Where the group's VMs are is read from vCenter, so this also is
        the call for a VM that has already moved out of this cluster.
        """
        self._sync_group_of(context, instance)

    def member_gone(self, context, instance):
        """The instance's VM leaves this cluster (destroyed, or moving out
        while it is still listed here): its rule is made without it."""
        self._sync_group_of(context, instance, gone=instance.uuid)

    def _sync_group_of(self, context, instance, gone=None):
        group = None
        try:
            group = objects.InstanceGroup.get_by_instance_uuid(
                context, instance.uuid)
            # A first member has nothing to be kept with or apart from.
            if group.policy in POLICIES and (
                    gone or len(group.members or ()) >= 2):
                self._apply([group], names={rule_name(group.uuid)},
                            gone=gone)
        except exception.InstanceGroupNotFound:
            pass
        except Exception as exc:
            LOG.warning('Could not update the DRS rule of server group '
                        '%(group)s (the periodic reconcile will): %(err)s',
                        {'group': group.uuid if group else '(unknown)',
                         'err': exc}, instance=instance)

    # Periodic

    def reconcile_if_due(self):
        """Reconcile when the last one is ``interval`` seconds old."""
        now = time.monotonic()
        if (self._last_reconcile is not None and
                now - self._last_reconcile < self.interval):
            return
        self._last_reconcile = now
        try:
            self.reconcile()
        except Exception as exc:
            LOG.warning('Could not reconcile the DRS rules of server groups: '
                        '%s', exc)

    def reconcile(self, context=None):
        """Make every ``nova-*`` rule of the cluster what Nova's groups
        say, adding the missing ones."""
        context = context or nova_context.get_admin_context()
        groups = [group for group in objects.InstanceGroupList.get_all(
            context) if group.policy in POLICIES and
            len(group.members or ()) >= 2]
        self._apply(groups)

    # The one read-change cycle

    def _apply(self, groups, names=None, gone=None):
        """One rules read, one VM listing, at most one reconfiguration.

        ``names`` None: every ``nova-*`` rule is ours to fix.
        """
        with self._lock:
            cluster = self.inventory.get().cluster
            current = self.rules.read(cluster).rules
            if names is None:
                names = {rule.name for rule in current
                         if rule.name.startswith(RULE_PREFIX)}
                if not groups and not names:
                    return
                names |= {rule_name(group.uuid) for group in groups}
            vms = self._cluster_vms()
            desired = {}
            for group in groups:
                rule = desired_rule(group.uuid, group.policy,
                                    _group_vms(group, vms, gone))
                if rule is not None:
                    desired[rule.name] = rule
            changes = plan(current, desired, names)
            if not changes:
                return
            self.rules.change(cluster, add=changes.add, edit=changes.edit,
                              remove=changes.remove)
        for verb, rules in (('Added', changes.add), ('Updated', changes.edit),
                            ('Removed', changes.remove)):
            for rule in rules:
                LOG.info('%(verb)s DRS %(kind)s rule %(name)s on cluster '
                         '%(cluster)s (VMs %(vms)s)', {
                             'verb': verb, 'name': rule.name,
                             'kind': 'affinity' if rule.affinity
                             else 'anti-affinity',
                             'cluster': cluster._moId,
                             'vms': ', '.join(sorted(rule.vms))})

    def _cluster_vms(self):
        """{instance uuid: VM moid} of Nova's VMs in this cluster."""
        vms = {}
        for uuid in self.instances.list_uuids():
            ref = self.instances.find(uuid)
            if ref is not None:
                vms[uuid] = ref._moId
        return vms
