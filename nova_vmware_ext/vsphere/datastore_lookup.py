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

"""A datastore of any datacenter of vCenter, by datacenter path and name,
and whether the cluster reaches it (for copies from Glance's datastore).

Reached: mounted and accessible on a usable host of the cluster, or (in
another datacenter) the same storage (``summary.url``) as a datastore the
cluster mounts: vSphere shows one NFS export or VMFS volume mounted in two
datacenters as one datastore object in each.
"""

import dataclasses

from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.vsphere import inventory as vinventory
from nova_vmware_ext.vsphere import props

_PROPS = {
    vim.Datacenter: ['name', 'parent'],
    vim.Folder: ['name', 'parent'],
    vim.StoragePod: ['parent'],
    vim.Datastore: ['summary', 'host', 'parent'],
}


class DatastoreNotFound(vexc.VMwareDriverException):
    """No datastore of that name in that datacenter."""


@dataclasses.dataclass(frozen=True)
class FoundDatastore:
    """A datastore named by a location, seen from the cluster."""

    datacenter: object  # vim.Datacenter
    datacenter_path: str
    datastore: vinventory.Datastore
    reachable: bool
    how: str  # how the cluster reaches it, or why it does not


def _path_of(ref, by_id, root_id):
    names = []
    while ref is not None and ref._moId != root_id:
        item = by_id.get(ref._moId)
        if item is None:
            return None
        names.append(item['name'])
        ref = item.get('parent')
    return '/'.join(reversed(names))


def _datacenter_of(ref, by_id):
    while ref is not None and not isinstance(ref, vim.Datacenter):
        item = by_id.get(ref._moId)
        ref = item.get('parent') if item else None
    return ref


def _mounted(mount, hosts):
    info = mount.mountInfo
    return (mount.key._moId in hosts and info is not None
            and info.mounted is not False and info.accessible is not False)


def judge_reach(datastore, mounts, cluster):
    """(reachable, how) of a Datastore with its host mounts from the
    ClusterInventory ``cluster``."""
    if not datastore.accessible:
        return False, 'datastore %s is not accessible' % datastore.name
    hosts = {h.ref._moId for h in cluster.hosts if h.usable}
    if any(_mounted(mount, hosts) for mount in mounts or ()):
        return True, 'mounted on cluster %s' % cluster.cluster_name
    same = [ds.name for ds in cluster.datastores
            if ds.accessible and ds.url and ds.url == datastore.url]
    if same:
        return True, 'the same storage as datastore %s of cluster %s' % (
            same[0], cluster.cluster_name)
    return False, ('datastore %s is not mounted on a usable host of '
                   'cluster %s' % (datastore.name, cluster.cluster_name))


class DatastoreLookup(object):
    """Datastores of the whole vCenter, for the cluster of ``inventory``
    (a vsphere.inventory.Inventory)."""

    def __init__(self, session, inventory):
        self.session = session
        self.inventory = inventory

    def find(self, datacenter_path, name):
        """The FoundDatastore ``name`` of datacenter ``datacenter_path``.

        A datastore of the cluster (the usual Glance store) is known
        without a call; any other takes one query.

        :raises DatastoreNotFound: no such datacenter or datastore.
        """
        cluster = self.inventory.get()
        if datacenter_path == cluster.datacenter_path:
            for datastore in cluster.datastores:
                if datastore.name == name and datastore.accessible:
                    return FoundDatastore(
                        cluster.datacenter, datacenter_path, datastore, True,
                        'mounted on cluster %s' % cluster.cluster_name)
        root = self.session.content.rootFolder
        items = props.retrieve_all(self.session, _PROPS, root)
        by_id = {item['obj']._moId: item for item in items}
        for item in items:
            summary = item.get('summary')
            if not isinstance(item['obj'], vim.Datastore) or \
                    summary is None or summary.name != name:
                continue
            dc_ref = _datacenter_of(item.get('parent'), by_id)
            if dc_ref is None or _path_of(dc_ref, by_id,
                                          root._moId) != datacenter_path:
                continue
            datastore = vinventory.datastore_from_summary(item['obj'],
                                                          summary)
            reachable, how = judge_reach(datastore, item.get('host'),
                                         self.inventory.get())
            return FoundDatastore(dc_ref, datacenter_path, datastore,
                                  reachable, how)
        datacenters = sorted(
            _path_of(i['obj'], by_id, root._moId) or '?' for i in items
            if isinstance(i['obj'], vim.Datacenter))
        if datacenter_path not in datacenters:
            raise DatastoreNotFound(
                'vCenter %s has no datacenter %s (it has %s)' % (
                    self.session.endpoint, datacenter_path,
                    ', '.join(datacenters) or 'none'))
        raise DatastoreNotFound('datacenter %s of vCenter %s has no '
                                'datastore %s' % (datacenter_path,
                                                  self.session.endpoint,
                                                  name))
