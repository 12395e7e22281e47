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

"""Node resources and placement inventory of a 16-host, 8-datastore cluster."""

from nova.compute import provider_tree
import os_resource_classes as orc
from oslo_utils import units
from pyVmomi import vim

from tests.functional import driver_base


class ResourcesTest(driver_base.DriverTestCase):

    VCSIM_SHAPE = dict(hosts=16, datastores=8, portgroups=1)

    def expected(self):
        hosts = self.query(vim.HostSystem, [
            'summary.hardware.numCpuThreads', 'summary.hardware.memorySize',
            'runtime.connectionState', 'runtime.inMaintenanceMode', 'parent'])
        cluster = [m for m, c in self.query(
            vim.ClusterComputeResource, ['name']).items()
            if c['name'] == self.CLUSTER][0]
        mine = [h for h in hosts.values() if h['parent']._moId == cluster]
        stores = self.query(vim.Datastore, ['summary'])
        return mine, [s['summary'] for s in stores.values()]

    def test_resources_and_inventory_agree_with_vcenter(self):
        hosts, stores = self.expected()
        self.assertEqual(16, len(hosts))
        with self.session.calls.scope() as scope:
            res = self.driver.get_available_resource(
                self.driver.get_available_nodes()[0])
        self.assertEqual(1, scope.total)
        vcpus = sum(h['summary.hardware.numCpuThreads'] for h in hosts)
        # Whole MB per host and whole GB per datastore, then summed.
        memory = sum(h['summary.hardware.memorySize'] // units.Mi
                     for h in hosts)
        disk = sum(s.capacity // units.Gi for s in stores)
        self.assertEqual(vcpus, res['vcpus'])
        self.assertEqual(memory, res['memory_mb'])
        self.assertEqual(disk, res['local_gb'])
        self.assertEqual('VMware vCenter Server', res['hypervisor_type'])
        self.assertEqual(self.driver.get_available_nodes()[0],
                         res['hypervisor_hostname'])

        node = self.driver.get_available_nodes()[0]
        tree = provider_tree.ProviderTree()
        tree.new_root(node, 'fake-uuid')
        with self.session.calls.scope() as scope:
            self.driver.update_provider_tree(tree, node)
        # One property read of hosts and datastores (measured).
        self.assertEqual({'RetrievePropertiesEx': 1}, dict(scope.by_method))
        inv = tree.data(node).inventory
        # The two reports are one snapshot: they agree.
        self.assertEqual(res['vcpus'], inv[orc.VCPU]['total'])
        self.assertEqual(res['memory_mb'], inv[orc.MEMORY_MB]['total'])
        self.assertEqual(res['local_gb'], inv[orc.DISK_GB]['total'])
        self.assertEqual(max(h['summary.hardware.numCpuThreads']
                             for h in hosts), inv[orc.VCPU]['max_unit'])
        self.assertEqual(max(h['summary.hardware.memorySize']
                             for h in hosts) // units.Mi,
                         inv[orc.MEMORY_MB]['max_unit'])
        self.assertEqual(max(s.freeSpace for s in stores) // units.Gi,
                         inv[orc.DISK_GB]['max_unit'])
        self.assertEqual(driver_base.CONF.initial_cpu_allocation_ratio,
                         inv[orc.VCPU]['allocation_ratio'])

    def test_reserved_and_ratios_from_nova_options(self):
        self.flags.config(reserved_host_memory_mb=2048, reserved_host_cpus=2,
                          reserved_host_disk_mb=10 * 1024 + 1,
                          cpu_allocation_ratio=4.0,
                          ram_allocation_ratio=1.5)
        node = self.driver.get_available_nodes()[0]
        tree = provider_tree.ProviderTree()
        tree.new_root(node, 'fake-uuid')
        self.driver.update_provider_tree(tree, node)
        inv = tree.data(node).inventory
        self.assertEqual(2, inv[orc.VCPU]['reserved'])
        self.assertEqual(2048, inv[orc.MEMORY_MB]['reserved'])
        self.assertEqual(11, inv[orc.DISK_GB]['reserved'])
        self.assertEqual(4.0, inv[orc.VCPU]['allocation_ratio'])
        self.assertEqual(1.5, inv[orc.MEMORY_MB]['allocation_ratio'])

    def test_maintenance_host_and_regex(self):
        self.flags.config(group='vmware', datastore_regex='LocalDS_[0-3]$')
        self.restart_driver()
        hosts = self.query(vim.HostSystem, ['name', 'parent'])
        host = sorted(m for m, h in hosts.items()
                      if h['name'].startswith(self.CLUSTER))[0]
        ref = vim.HostSystem(host, self.si._stub)
        driver_base.wait_task(ref.EnterMaintenanceMode_Task(0))
        self.addCleanup(lambda: driver_base.wait_task(
            ref.ExitMaintenanceMode_Task(0)))
        node = self.driver.get_available_nodes()[0]
        res = self.driver.get_available_resource(node)
        all_hosts, stores = self.expected()
        usable = [h for h in all_hosts if not h['runtime.inMaintenanceMode']]
        self.assertEqual(15, len(usable))
        self.assertEqual(sum(h['summary.hardware.numCpuThreads']
                             for h in usable), res['vcpus'])
        picked = [s for s in stores if s.name in (
            'LocalDS_0', 'LocalDS_1', 'LocalDS_2', 'LocalDS_3')]
        self.assertEqual(sum(s.capacity // units.Gi for s in picked),
                         res['local_gb'])
