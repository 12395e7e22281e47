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

"""Two nova-computes on two clusters of one vCenter: the harness for moves.

One nova-compute per cluster is how this driver scales, so every
migration to another compute is a move between clusters. This base class
starts Nova's services (``_IntegratedTestBase``) with two computes,
``compute1`` on vcsim cluster DC0_C0 and ``compute2`` on DC0_C1, each
with a ``[vmware] datastore_regex`` naming a datastore of its own
(LocalDS_0, LocalDS_1; vcsim mounts both on every host), so a move changes
cluster, pool, host and datastore. ``where(server)`` reads where a
server's VM is and what it has over a pyvmomi connection of the test's own;
``assertOnCompute`` checks it against the compute Nova names.
"""

from pyVmomi import vim

from tests.nova import base
from tests.nova import test_servers
from tests import vcsim


def allocation(info):
    """(limit, reservation, shares level, shares) of an allocation."""
    if info is None:
        return None
    shares = info.shares
    return (info.limit, info.reservation,
            shares.level if shares else None,
            shares.shares if shares else None)


class TwoClustersTestBase(test_servers.VcsimServersTestBase):
    """Nova's services with compute1 on DC0_C0 and compute2 on DC0_C1."""

    VCSIM_SHAPE = dict(clusters=2, hosts=2, datastores=2, portgroups=1)
    CLUSTERS = {'compute1': 'DC0_C0', 'compute2': 'DC0_C1'}
    # Each compute's [vmware] datastore_regex (None: every datastore).
    DATASTORES = {'compute1': 'LocalDS_0', 'compute2': 'LocalDS_1'}

    def _setup_compute_service(self):
        # One process, one CONF: each nova-compute reads its options when it
        # starts (init_host), so set them before each start.
        computes = list(self.CLUSTERS)
        real_flags = base.vmware_flags

        def flags_for_next(test, fx, cluster_name):
            real_flags(test, fx, cluster_name)
            host = computes.pop(0)
            regex = self.DATASTORES.get(host)
            test.flags(datastore_regex=('^%s$' % regex) if regex else None,
                       group='vmware')

        self.patch(base, 'vmware_flags', flags_for_next)
        try:
            return super()._setup_compute_service()
        finally:
            self.patch(base, 'vmware_flags', real_flags)

    def nodename(self, host):
        return self.driver(host).get_available_nodes()[0]

    def where(self, server_id):
        """Where the server's VM is and what it has, read from vCenter.

        A dict: ``moid``, ``cluster`` (name), ``pool`` (moid), ``host``
        (name), ``datastores`` (names, sorted), ``vmx``, ``cpus``,
        ``memory_mb``, ``disk_kb`` (root disk capacity), ``disk_parent``
        (the root disk's backing parent file or None), ``power``,
        ``cpu_allocation`` and ``memory_allocation`` (``allocation()``).
        """
        vm = base.vms_by_instance_uuid(self.si, base.VM_PATHS + (
            'config.cpuAllocation', 'config.memoryAllocation'))[server_id]
        hosts = vcsim.query(self.si, vim.HostSystem, ['name', 'parent'])
        clusters = vcsim.query(self.si, vim.ClusterComputeResource, ['name'])
        datastores = vcsim.query(self.si, vim.Datastore, ['name'])
        host = hosts[vm['runtime.host']._moId]
        disks = base.disks(vm)
        parent = disks[0].backing.parent if disks else None
        return {
            'moid': vm['moid'],
            'cluster': clusters[host['parent']._moId]['name'],
            'pool': vm['resourcePool']._moId,
            'host': host['name'],
            'datastores': sorted(datastores[ds._moId]['name']
                                 for ds in vm['datastore']),
            'vmx': vm['config.files.vmPathName'],
            'cpus': vm['config.hardware.numCPU'],
            'memory_mb': vm['config.hardware.memoryMB'],
            'cpu_allocation': allocation(vm['config.cpuAllocation']),
            'memory_allocation': allocation(vm['config.memoryAllocation']),
            'disk_kb': disks[0].capacityInKB if disks else None,
            'disk_files': [d.backing.fileName for d in disks],
            'disk_parent': parent.fileName if parent else None,
            'nics': base.nics(vm),
            'power': vm['runtime.powerState'],
        }

    def root_pool(self, cluster_name):
        """The moid of a cluster's root resource pool."""
        for item in vcsim.query(self.si, vim.ClusterComputeResource,
                                ['name', 'resourcePool']).values():
            if item['name'] == cluster_name:
                return item['resourcePool']._moId
        raise AssertionError('no cluster %s' % cluster_name)

    def assertOnCompute(self, server, host, flavor=None):
        """The VM is where Nova says the server is, sized as ``flavor``."""
        self.assertEqual(host, server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual(self.nodename(host),
                         server['OS-EXT-SRV-ATTR:hypervisor_hostname'])
        found = self.where(server['id'])
        cluster = self.CLUSTERS[host]
        self.assertEqual(cluster, found['cluster'])
        self.assertEqual(self.root_pool(cluster), found['pool'])
        datastore = self.DATASTORES.get(host)
        if datastore:
            self.assertEqual([datastore], found['datastores'])
            self.assertTrue(found['vmx'].startswith('[%s] ' % datastore),
                            found['vmx'])
            for path in found['disk_files']:
                self.assertTrue(path.startswith('[%s] ' % datastore), path)
        if flavor is not None:
            self.assertEqual(flavor['vcpus'], found['cpus'])
            self.assertEqual(flavor['ram'], found['memory_mb'])
            if flavor['disk']:
                self.assertEqual(flavor['disk'] * 1024 * 1024,
                                 found['disk_kb'])
        # The node's instances are the ones Nova put there.
        self.assertIn(server['id'], self.driver(host).list_instances())
        for other in self.CLUSTERS:
            if other != host:
                self.assertNotIn(server['id'],
                                 self.driver(other).list_instances())
        return found
