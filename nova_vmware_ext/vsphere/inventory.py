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

"""Where VMs live: datacenter, cluster, pool, folder, datastores, networks.

Resolved in two property queries and kept: hot paths read the cached
``ClusterInventory``. Callers refresh it when vCenter reports a managed object
they used as gone (ManagedObjectNotFound), e.g. a datastore was removed.
"""

import dataclasses
import re
import threading

from oslo_log import log as logging
from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.vsphere import props

LOG = logging.getLogger(__name__)

# Datastore types a VM's disks may live on.
USABLE_DATASTORE_TYPES = frozenset(['VMFS', 'NFS', 'NFS41', 'vsan', 'VVOL'])


class InventoryError(vexc.VMwareDriverException):
    """The configured cluster, datastores or networks are not usable."""


@dataclasses.dataclass(frozen=True)
class HostSystem(object):
    """An ESXi host of the cluster."""

    ref: object
    name: str
    connection_state: str
    in_maintenance: bool
    hardware: object = None

    @property
    def usable(self):
        return self.connection_state == 'connected' and not self.in_maintenance


@dataclasses.dataclass(frozen=True)
class Datastore(object):
    ref: object
    name: str
    type: str
    url: str
    capacity: int
    free_space: int
    accessible: bool
    maintenance_mode: str = 'normal'

    @property
    def usable(self):
        return (self.accessible and self.type in USABLE_DATASTORE_TYPES
                and self.maintenance_mode in (None, 'normal'))


@dataclasses.dataclass(frozen=True)
class Network(object):
    ref: object
    name: str
    kind: str  # 'Network', 'DistributedVirtualPortgroup' or 'OpaqueNetwork'
    portgroup_key: str = None
    switch_uuid: str = None
    opaque_id: str = None
    opaque_type: str = None


@dataclasses.dataclass(frozen=True)
class ClusterInventory(object):
    datacenter: object
    datacenter_name: str
    datacenter_path: str  # inventory path, for datastore HTTP (dcPath)
    vm_folder: object
    cluster: object
    cluster_name: str
    resource_pool: object
    hosts: tuple
    datastores: tuple
    networks: tuple

    def usable_datastores(self, regex=None):
        """Datastores instances may use: usable and matching ``regex``.

        ``regex`` matches at the start of the name, as in the in-tree
        driver ('nas.*' selects every datastore whose name starts 'nas').
        """
        pattern = re.compile(regex) if regex else None
        return [ds for ds in self.datastores
                if ds.usable and (pattern is None or pattern.match(ds.name))]

    def network_named(self, name):
        return [n for n in self.networks if n.name == name]


_VIEW_PROPS = {
    vim.Datacenter: ['name', 'parent', 'vmFolder'],
    vim.Folder: ['name', 'parent'],
    vim.ClusterComputeResource: ['name', 'parent', 'resourcePool', 'host',
                                 'datastore', 'network'],
    vim.DistributedVirtualSwitch: ['uuid'],
}

_MEMBER_PROPS = {
    vim.HostSystem: ['name', 'runtime.connectionState',
                     'runtime.inMaintenanceMode', 'summary.hardware'],
    vim.Datastore: ['summary'],
    vim.Network: ['name'],
    vim.dvs.DistributedVirtualPortgroup: ['name', 'key',
                                          'config.distributedVirtualSwitch'],
    vim.OpaqueNetwork: ['name', 'summary'],
}


def _inventory_path(ref, by_id, root_id):
    names = []
    while ref is not None and ref._moId != root_id:
        item = by_id.get(ref._moId)
        if item is None:
            break
        names.append(item['name'])
        ref = item.get('parent')
    return '/'.join(reversed(names))


def _datacenter_of(ref, by_id):
    while ref is not None:
        if isinstance(ref, vim.Datacenter):
            return ref
        item = by_id.get(ref._moId)
        ref = item.get('parent') if item else None
    return None


def _network(item):
    ref = item['obj']
    if isinstance(ref, vim.dvs.DistributedVirtualPortgroup):
        return Network(ref, item.get('name'), 'DistributedVirtualPortgroup',
                       portgroup_key=item.get('key'),
                       switch_uuid=item.get('_switch_uuid'))
    if isinstance(ref, vim.OpaqueNetwork):
        summary = item.get('summary')
        return Network(ref, item.get('name'), 'OpaqueNetwork',
                       opaque_id=getattr(summary, 'opaqueNetworkId', None),
                       opaque_type=getattr(summary, 'opaqueNetworkType',
                                           None))
    return Network(ref, item.get('name'), 'Network')


def datastore_from_summary(ref, summary):
    """A Datastore from its ``summary`` property."""
    return Datastore(ref=ref, name=summary.name, type=summary.type,
                     url=summary.url, capacity=summary.capacity or 0,
                     free_space=summary.freeSpace or 0,
                     accessible=bool(summary.accessible),
                     maintenance_mode=summary.maintenanceMode)


def resolve(session, cluster_name):
    """Find the cluster ``cluster_name`` and everything around it.

    ``cluster_name`` may be a bare name or ``datacenter path/name`` when
    several datacenters have a cluster of that name.
    """
    root = session.content.rootFolder
    items = props.retrieve_all(session, _VIEW_PROPS, root)
    by_id = {item['obj']._moId: item for item in items}
    clusters = []
    for item in items:
        if not isinstance(item['obj'], vim.ClusterComputeResource):
            continue
        dc_ref = _datacenter_of(item.get('parent'), by_id)
        dc_path = _inventory_path(dc_ref, by_id, root._moId)
        if cluster_name in (item['name'], '%s/%s' % (dc_path, item['name'])):
            clusters.append((item, dc_ref, dc_path))
    if not clusters:
        known = sorted(i['name'] for i in items
                       if isinstance(i['obj'], vim.ClusterComputeResource))
        raise InventoryError(
            'vCenter cluster %r not found ([vmware] cluster_name); clusters '
            'in vCenter %s: %s' % (cluster_name, session.endpoint,
                                   ', '.join(known) or 'none'))
    if len(clusters) > 1:
        raise InventoryError(
            'vCenter cluster name %r is ambiguous: set [vmware] cluster_name '
            'to one of %s' % (cluster_name, ', '.join(
                '%s/%s' % (dc_path, c['name']) for c, _, dc_path in clusters)))
    cluster, dc_ref, dc_path = clusters[0]
    dc_item = by_id[dc_ref._moId]

    members = (list(cluster.get('host') or ()) +
               list(cluster.get('datastore') or ()) +
               list(cluster.get('network') or ()))
    details = props.retrieve_objects(session, members, _MEMBER_PROPS)
    switch_uuid = {i['obj']._moId: i.get('uuid') for i in items
                   if isinstance(i['obj'], vim.DistributedVirtualSwitch)}
    hosts, datastores, networks = [], [], []
    for item in details:
        ref = item['obj']
        if isinstance(ref, vim.HostSystem):
            hosts.append(HostSystem(
                ref, item.get('name'),
                str(item.get('runtime.connectionState')),
                bool(item.get('runtime.inMaintenanceMode')),
                item.get('summary.hardware')))
        elif isinstance(ref, vim.Datastore):
            datastores.append(datastore_from_summary(ref, item['summary']))
        else:
            switch = item.get('config.distributedVirtualSwitch')
            if switch is not None:
                item['_switch_uuid'] = switch_uuid.get(switch._moId)
            networks.append(_network(item))
    inventory = ClusterInventory(
        datacenter=dc_ref, datacenter_name=dc_item['name'],
        datacenter_path=dc_path, vm_folder=dc_item['vmFolder'],
        cluster=cluster['obj'], cluster_name=cluster['name'],
        resource_pool=cluster['resourcePool'], hosts=tuple(hosts),
        datastores=tuple(datastores), networks=tuple(networks))
    LOG.info('vCenter cluster %(cluster)s (%(moid)s) in datacenter %(dc)s: '
             '%(hosts)d hosts, %(ds)d datastores, %(nets)d networks',
             {'cluster': inventory.cluster_name, 'moid': cluster['obj']._moId,
              'dc': dc_path, 'hosts': len(hosts), 'ds': len(datastores),
              'nets': len(networks)})
    return inventory


class Inventory(object):
    """The cached inventory of one cluster, refreshed on demand."""

    def __init__(self, session, cluster_name, datastore_regex=None):
        self.session = session
        self.cluster_name = cluster_name
        self.datastore_regex = datastore_regex
        self._lock = threading.Lock()
        self._current = None

    def get(self):
        current = self._current
        if current is None:
            with self._lock:
                if self._current is None:
                    self._current = resolve(self.session, self.cluster_name)
                current = self._current
        return current

    def refresh(self):
        with self._lock:
            self._current = resolve(self.session, self.cluster_name)
            return self._current

    def datastores(self):
        """Usable datastores matching datastore_regex; error if none."""
        inventory = self.get()
        found = inventory.usable_datastores(self.datastore_regex)
        if not found:
            seen = ', '.join(
                '%s (%s%s%s)' % (ds.name, ds.type,
                                 '' if ds.accessible else ', inaccessible',
                                 '' if ds.maintenance_mode in (None, 'normal')
                                 else ', ' + ds.maintenance_mode)
                for ds in inventory.datastores) or 'none'
            raise InventoryError(
                'no usable datastore of cluster %s matches [vmware] '
                'datastore_regex %r; its datastores: %s' % (
                    inventory.cluster_name, self.datastore_regex, seen))
        return found

    def call(self, operation):
        """Run ``operation(inventory)``, re-resolving once if an object moved.

        A ManagedObjectNotFound from vCenter means our cached inventory is
        stale (a datastore or pool was removed or re-created).
        """
        try:
            return operation(self.get())
        except vexc.ManagedObjectNotFoundException as exc:
            LOG.info('Inventory of cluster %s is stale (%s); resolving it '
                     'again', self.cluster_name, exc)
            return operation(self.refresh())
