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

"""What the cluster offers Nova: one snapshot feeds both resource reports.

``get_available_resource`` (the ComputeNode record) and
``update_provider_tree`` (placement) are computed from the same
``ClusterCapacity``, read in one property query of the cluster, its hosts
and its datastores, so the two always agree.
"""

import dataclasses
import json
import re

from nova.compute import utils as compute_utils
from nova import conf as nova_conf
from nova.objects import fields
import os_resource_classes as orc
from oslo_log import log as logging
from oslo_utils import units
from pyVmomi import vim

from nova_vmware_ext.vsphere import inventory as vinventory
from nova_vmware_ext.vsphere import props

CONF = nova_conf.CONF
LOG = logging.getLogger(__name__)

HYPERVISOR_TYPE = 'VMware vCenter Server'

_HOST_PATHS = ['name', 'runtime.connectionState', 'runtime.inMaintenanceMode',
               'summary.hardware.numCpuThreads', 'summary.hardware.memorySize',
               'summary.quickStats.overallMemoryUsage']
_DATASTORE_PATHS = ['summary']


@dataclasses.dataclass(frozen=True)
class ClusterCapacity(object):
    """Usable capacity of the cluster at one moment."""

    vcpus: int
    max_vcpus_per_host: int
    memory_mb: int
    memory_mb_used: int
    max_memory_mb_per_host: int
    disk_gb: int
    disk_gb_free: int
    max_free_disk_gb: int
    hosts: int
    datastore_free: tuple = ()  # ((name, free bytes), ...)


def _version_int(version):
    """'7.0.3' -> 7000003, the form Nova stores as hypervisor_version."""
    parts = [int(p) for p in re.findall(r'\d+', version or '')[:3]]
    parts += [0] * (3 - len(parts))
    return parts[0] * 1000000 + parts[1] * 1000 + parts[2]


def read_capacity(session, cluster, datastore_regex=None):
    """One RetrievePropertiesEx: the cluster, its hosts, its datastores.

    Traversing from the cluster (not from cached host and datastore lists)
    sees hosts and datastores added or removed since start-up.
    """
    items = props.retrieve_related(
        session, cluster, ['host', 'datastore'],
        {vim.HostSystem: _HOST_PATHS, vim.Datastore: _DATASTORE_PATHS})
    pattern = re.compile(datastore_regex) if datastore_regex else None
    vcpus, memory, used, max_vcpus, max_memory, host_count = 0, 0, 0, 0, 0, 0
    disk, free, max_free = 0, 0, 0
    datastore_free = []
    for item in items:
        ref = item['obj']
        if isinstance(ref, vim.HostSystem):
            if (item.get('runtime.connectionState') != 'connected'
                    or item.get('runtime.inMaintenanceMode')):
                continue
            threads = item.get('summary.hardware.numCpuThreads') or 0
            mem_mb = (item.get('summary.hardware.memorySize') or 0) // units.Mi
            host_count += 1
            vcpus += threads
            memory += mem_mb
            used += item.get('summary.quickStats.overallMemoryUsage') or 0
            max_vcpus = max(max_vcpus, threads)
            max_memory = max(max_memory, mem_mb)
        elif isinstance(ref, vim.Datastore):
            ds = vinventory.datastore_from_summary(ref, item['summary'])
            if not ds.usable or (pattern and not pattern.match(ds.name)):
                continue
            datastore_free.append((ds.name, ds.free_space))
            disk += ds.capacity // units.Gi
            free += ds.free_space // units.Gi
            max_free = max(max_free, ds.free_space // units.Gi)
    return ClusterCapacity(vcpus=vcpus, max_vcpus_per_host=max_vcpus,
                           memory_mb=memory, memory_mb_used=used,
                           max_memory_mb_per_host=max_memory, disk_gb=disk,
                           disk_gb_free=free, max_free_disk_gb=max_free,
                           hosts=host_count,
                           datastore_free=tuple(datastore_free))


class ClusterResources(object):
    """The cluster's capacity, and the datastore a new disk goes to."""

    def __init__(self, session, inventory):
        self.session = session
        self.inventory = inventory
        self._datastore_free = {}

    def capacity(self):
        """A fresh snapshot of the cluster's usable capacity."""
        regex = self.inventory.datastore_regex
        capacity = self.inventory.call(lambda inv: read_capacity(
            self.session, inv.cluster, regex))
        self._datastore_free = dict(capacity.datastore_free)
        known = {ds.name for ds in
                 self.inventory.get().usable_datastores(regex)}
        if known != set(self._datastore_free):
            # Datastores came or went (or changed state): pick among the
            # current ones from now on.
            LOG.info('Datastores of cluster %(cluster)s changed (%(old)s -> '
                     '%(new)s): resolving the inventory again', {
                         'cluster': self.inventory.cluster_name,
                         'old': ', '.join(sorted(known)),
                         'new': ', '.join(sorted(self._datastore_free))})
            self.inventory.refresh()
        return capacity

    def pick_datastore(self):
        """The usable datastore with the most free space (last snapshot)."""
        return max(self.inventory.datastores(), key=self.free_space)

    def free_space(self, datastore):
        """Free bytes of a datastore (last snapshot)."""
        return self._datastore_free.get(datastore.name, datastore.free_space)


def available_resource(capacity, nodename, about):
    """The dict ComputeDriver.get_available_resource returns."""
    return {
        'vcpus': capacity.vcpus,
        'memory_mb': capacity.memory_mb,
        'local_gb': capacity.disk_gb,
        'vcpus_used': 0,
        'memory_mb_used': capacity.memory_mb_used,
        'local_gb_used': capacity.disk_gb - capacity.disk_gb_free,
        'hypervisor_type': HYPERVISOR_TYPE,
        'hypervisor_version': _version_int(about.version),
        'hypervisor_hostname': nodename,
        # A cluster mixes CPU models: no single cpu_info describes it.
        'cpu_info': json.dumps({}),
        'disk_available_least': capacity.disk_gb_free,
        'supported_instances': [
            (fields.Architecture.I686, fields.HVType.VMWARE,
             fields.VMMode.HVM),
            (fields.Architecture.X86_64, fields.HVType.VMWARE,
             fields.VMMode.HVM)],
        'numa_topology': None,
    }


def inventory(capacity, ratios):
    """Placement inventory of the node, from the same snapshot.

    :param ratios: {resource class: allocation ratio}, from
        ComputeDriver._get_allocation_ratios.
    """
    result = {}
    if capacity.vcpus:
        result[orc.VCPU] = {
            'total': capacity.vcpus,
            'reserved': CONF.reserved_host_cpus,
            'min_unit': 1,
            'max_unit': capacity.max_vcpus_per_host,
            'step_size': 1,
            'allocation_ratio': ratios[orc.VCPU],
        }
    if capacity.memory_mb:
        result[orc.MEMORY_MB] = {
            'total': capacity.memory_mb,
            'reserved': CONF.reserved_host_memory_mb,
            'min_unit': 1,
            'max_unit': capacity.max_memory_mb_per_host,
            'step_size': 1,
            'allocation_ratio': ratios[orc.MEMORY_MB],
        }
    if capacity.disk_gb:
        result[orc.DISK_GB] = {
            'total': capacity.disk_gb,
            'reserved': compute_utils.convert_mb_to_ceil_gb(
                CONF.reserved_host_disk_mb),
            'min_unit': 1,
            # The largest disk one datastore can still take.
            'max_unit': max(capacity.max_free_disk_gb, 1),
            'step_size': 1,
            'allocation_ratio': ratios[orc.DISK_GB],
        }
    return result
