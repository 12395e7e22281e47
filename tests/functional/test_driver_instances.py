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

"""VCDriver instance lookup and listing against vcsim."""

from nova.compute import power_state
from nova import exception
from oslo_utils import uuidutils
from pyVmomi import vim

from tests.functional import driver_base


class InstancesTest(driver_base.DriverTestCase):

    VCSIM_SHAPE = dict(hosts=2, vms=3)

    def test_nodes(self):
        nodes = self.driver.get_available_nodes()
        cluster = [m for m, c in self.query(
            vim.ClusterComputeResource, ['name']).items()
            if c['name'] == self.CLUSTER][0]
        about = self.si.RetrieveContent().about
        self.assertEqual(['%s.%s' % (cluster, about.instanceUuid)], nodes)
        self.assertEqual(nodes, self.driver.get_available_nodes(refresh=True))

    def test_list_only_nova_vms(self):
        mine, _ = self.make_nova_vm()
        # An admin's own VM: neither managed by OpenStack nor keyed.
        other, _ = self.make_nova_vm(managed=False, nova_key=False)
        uuids = self.driver.list_instance_uuids()
        self.assertIn(mine, uuids)
        self.assertNotIn(other, uuids)
        # The -vm VMs of the simulator are not Nova's either.
        self.assertEqual(len(uuids), self.driver.get_num_instances())
        self.assertEqual(sorted(uuids), sorted(self.driver.list_instances()))

    def test_get_info_and_exists(self):
        uuid, vm = self.make_nova_vm(power_on=True)
        instance = self.instance(uuid)
        self.assertTrue(self.driver.instance_exists(instance))
        info = self.driver.get_info(instance)
        self.assertEqual(power_state.RUNNING, info.state)
        self.assertEqual(vm._moId, info.internal_id)
        driver_base.wait_task(vm.PowerOffVM_Task())
        self.assertEqual(power_state.SHUTDOWN,
                         self.driver.get_info(instance,
                                              use_cache=False).state)
        self.await_watcher(uuid, 'poweredOff')
        self.assertEqual(power_state.SHUTDOWN,
                         self.driver.get_info(instance).state)

    def test_missing_instance(self):
        instance = self.instance(uuidutils.generate_uuid())
        self.assertFalse(self.driver.instance_exists(instance))
        self.assertRaises(exception.InstanceNotFound, self.driver.get_info,
                          instance)

    def test_vm_found_by_nvp_vm_uuid_when_instance_uuid_differs(self):
        # e.g. a VM restored from backup got a new instanceUuid.
        nova_uuid = uuidutils.generate_uuid()
        _, vm = self.make_nova_vm(nova_uuid,
                                  instance_uuid_prop=uuidutils.generate_uuid())
        info = self.driver.get_info(self.instance(nova_uuid))
        self.assertEqual(vm._moId, info.internal_id)
        # Adopted: findable by instanceUuid from now on, and listed.
        found = self.vm_of(nova_uuid, ['config.managedBy'])
        self.assertEqual(vm._moId, found['moid'])
        self.assertEqual('org.openstack.compute',
                         found['config.managedBy'].extensionKey)
        self.assertIn(nova_uuid, self.driver.list_instance_uuids())

    def test_in_tree_vm_without_managed_by_is_listed(self):
        uuid, _ = self.make_nova_vm(managed=False)  # has nvp.vm-uuid only
        self.assertIn(uuid, self.driver.list_instance_uuids())

    def test_known_instance_costs_one_call_uncached(self):
        uuid, _ = self.make_nova_vm()
        instance = self.instance(uuid)
        self.driver.get_info(instance, use_cache=False)
        with self.session.calls.scope() as scope:
            self.driver.get_info(instance, use_cache=False)
        self.assertEqual({'RetrievePropertiesEx': 1}, dict(scope.by_method))

    def test_deleted_vm_is_not_found_again(self):
        uuid, vm = self.make_nova_vm()
        instance = self.instance(uuid)
        self.assertTrue(self.driver.instance_exists(instance))
        driver_base.wait_task(vm.Destroy_Task())
        self.await_watcher(uuid, None)
        self.assertFalse(self.driver.instance_exists(instance))


class ListCeilingTest(driver_base.DriverTestCase):

    VCSIM_SHAPE = dict(hosts=4, vms=2500)

    def test_list_2500_vms_within_four_calls(self):
        ours = [self.make_nova_vm()[0] for _ in range(3)]
        with self.session.calls.scope() as scope:
            uuids = self.driver.list_instance_uuids()
        self.assertEqual(sorted(ours), sorted(uuids))
        self.assertLessEqual(scope.total, 4, dict(scope.by_method))
        # The view stays: the next listing is only the paged read.
        with self.session.calls.scope() as scope:
            self.driver.list_instance_uuids()
        self.assertEqual(0, scope.by_method['CreateContainerView'])
        self.assertLessEqual(scope.total, 3, dict(scope.by_method))
