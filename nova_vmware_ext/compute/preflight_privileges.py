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

"""Preflight: the privileges of the nova user on the objects it works on."""

from oslo_vmware import exceptions as vexc

from nova_vmware_ext.vsphere import faults
from nova_vmware_ext.vsphere import privileges

FIX = ('grant the vCenter role of [vmware] host_username these privileges '
       '(docs: "vCenter privileges", doc/source/privileges.rst)')


def conditions(conf):
    """The conditions of REQUIRED's conditional entries that hold and can
    be checked. Glance's datastores cannot: each image's location names
    its own, and a copy vCenter refuses falls back to a download."""
    return {privileges.PBM_ENABLED} if conf.vmware.pbm_enabled else set()


def _entities(preflight):
    inv = preflight.inventory
    entities = [
        (preflight.session.content.rootFolder, privileges.ROOT, 'root folder'),
        (inv.vm_folder, privileges.VM_FOLDER, 'VM folder of %s'
         % inv.datacenter_path),
        (inv.resource_pool, privileges.RESOURCE_POOL, 'resource pool of %s'
         % inv.cluster_name),
        (inv.cluster, privileges.CLUSTER, 'cluster %s' % inv.cluster_name)]
    entities += [(ds.ref, privileges.DATASTORE, 'datastore %s' % ds.name)
                 for ds in preflight.matching_datastores()]
    entities += [(n.ref, privileges.NETWORK, 'network %s' % n.name)
                 for n in inv.networks]
    return entities


def check(preflight):
    """(status, message, fix): FAIL naming each missing privilege and
    where; a network alone lacking Network.Assign is a WARN (instances
    just cannot use it)."""
    entities = _entities(preflight)
    holding = conditions(preflight.conf)
    labels = {ref._moId: label for ref, _, label in entities}
    try:
        lacking = privileges.missing(
            preflight.session, [(ref, scope) for ref, scope, _ in entities],
            holding)
    except vexc.VimFaultException as exc:
        if faults.is_fault(exc, 'MethodNotFound') or faults.is_fault(
                exc, 'NotSupported'):
            return ('WARN', 'vCenter %s cannot check privileges '
                    '(HasPrivilegeOnEntities: %s)' % (
                        preflight.endpoint, exc.fault_name), FIX)
        raise
    on_networks = [(ref, ids) for ref, ids in lacking
                   if labels[ref._moId].startswith('network ')]
    blocking = [item for item in lacking if item not in on_networks]
    text = '; '.join('%s: %s' % (labels[ref._moId], ', '.join(ids))
                     for ref, ids in lacking)
    if blocking:
        return ('FAIL', 'missing %s' % text, FIX)
    if on_networks:
        return ('WARN', 'instances cannot use these networks, missing %s'
                % text, FIX)
    count = len({i for ids in privileges.by_scope(
        conditions=holding).values() for i in ids})
    return ('PASS', 'all %d privileges the driver needs are granted on %d '
            'objects' % (count, len(entities)), None)
