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

"""What Nova sees when vSphere fails under the driver, against vcsim.

The VM deleted behind Nova's back, vCenter faults in power tasks and a lost
or stopped vCenter: each reaches Nova as the exception its compute manager
handles (InstanceNotFound, InstancePowerOnFailure, HypervisorUnavailable).
"""

from nova import exception
from nova.virt import fake
from oslo_utils import uuidutils
from pyVmomi import vim

from nova_vmware_ext import driver as vc_driver
from tests.functional import driver_base


class DriverErrorsTest(driver_base.DriverTestCase):

    def setUp(self):
        super().setUp()
        self.addCleanup(self.vcsim.clear_faults)

    def nova_vm(self, power_on=False):
        """(instance, VM) of a Nova VM removed at cleanup if still there."""
        uuid, vm = self.make_nova_vm(power_on=power_on)
        self.addCleanup(self.delete_vm, uuid)
        return self.instance(uuid), vm

    def delete_vm(self, instance_uuid):
        """Remove a VM the way an admin would, without the driver."""
        found = self.vm_of(instance_uuid, ['runtime.powerState'])
        if found is None:
            return
        vm = vim.VirtualMachine(found['moid'], self.si._stub)
        if found['runtime.powerState'] == 'poweredOn':
            driver_base.wait_task(vm.PowerOffVM_Task())
        driver_base.wait_task(vm.Destroy_Task())

    def power_state(self, instance):
        return self.vm_of(instance.uuid, ['runtime.powerState'])[
            'runtime.powerState']

    # The instance's VM gone

    def test_vm_deleted_behind_novas_back(self):
        instance, _ = self.nova_vm(power_on=True)
        self.driver.get_info(instance)  # the driver knows its VM now
        self.delete_vm(instance.uuid)
        raised = self.assertRaises(exception.InstanceNotFound,
                                   self.driver.power_on, None, instance, [])
        self.assertEqual(instance.uuid, raised.kwargs['instance_id'])
        self.assertRaises(exception.InstanceNotFound, self.driver.get_info,
                          instance)
        self.assertFalse(self.driver.instance_exists(instance))

    def test_destroy_of_a_vm_deleted_behind_novas_back_succeeds(self):
        instance, _ = self.nova_vm(power_on=True)
        self.driver.get_info(instance)  # a remembered, now stale reference
        self.delete_vm(instance.uuid)
        self.driver.destroy(None, instance, [])
        self.assertIsNone(self.vm_of(instance.uuid))

    def test_vm_vanishing_between_lookup_and_power_on(self):
        # vCenter answers ManagedObjectNotFound for the VM itself, also
        # after the driver looked it up again: the VM is gone for Nova.
        instance, vm = self.nova_vm()
        self.vcsim.inject('PowerOnVM_Task', fault='ManagedObjectNotFound',
                          count=2, moid=vm)
        raised = self.assertRaises(exception.InstanceNotFound,
                                   self.driver.power_on, None, instance, [])
        message = raised.format_message()
        for word in ('power_on', instance.uuid, 'ManagedObjectNotFound'):
            self.assertIn(word, message)
        self.assertEqual([], self.vcsim.faults())

    def test_vm_vanishing_during_destroy_is_a_destroy(self):
        instance, vm = self.nova_vm()
        self.vcsim.inject('Destroy_Task', fault='ManagedObjectNotFound',
                          moid=vm)
        self.driver.destroy(None, instance, [])
        self.assertEqual([], self.vcsim.faults())  # the rule was hit

    # Failed power tasks

    def test_failed_power_tasks(self):
        instance, vm = self.nova_vm(power_on=True)
        cases = [
            ('PowerOffVM_Task', exception.InstancePowerOffFailure,
             'power_off', lambda: self.driver.power_off(instance)),
            ('ResetVM_Task', exception.InstanceRebootFailure, 'reboot',
             lambda: self.driver.reboot(None, instance, [], 'HARD')),
        ]
        for task, expected, method, call in cases:
            self.vcsim.inject(task, action='task_error',
                              fault='InsufficientResourcesFault',
                              message='no CPU left in pool', moid=vm)
            raised = self.assertRaises(expected, call)
            message = raised.format_message()
            for word in (method, instance.uuid, 'InsufficientResourcesFault',
                         'no CPU left in pool'):
                self.assertIn(word, message)
        self.assertEqual('poweredOn', self.power_state(instance))

    def test_failed_power_off_in_destroy_keeps_the_vm(self):
        # Nova keeps the instance's ports for InstancePowerOffFailure: the
        # VM still runs on them.
        instance, vm = self.nova_vm(power_on=True)
        self.vcsim.inject('PowerOffVM_Task', action='task_error',
                          fault='InsufficientResourcesFault', moid=vm)
        raised = self.assertRaises(exception.InstancePowerOffFailure,
                                   self.driver.destroy, None, instance, [])
        for word in ('destroy', instance.uuid, 'InsufficientResourcesFault'):
            self.assertIn(word, raised.format_message())
        self.assertEqual('poweredOn', self.power_state(instance))
        self.driver.destroy(None, instance, [])  # once vCenter lets it
        self.assertIsNone(self.vm_of(instance.uuid))

    def test_failed_power_on_task(self):
        instance, vm = self.nova_vm()
        self.vcsim.inject('PowerOnVM_Task', action='task_error',
                          fault='InsufficientResourcesFault',
                          message='no CPU left in pool', moid=vm)
        raised = self.assertRaises(exception.InstancePowerOnFailure,
                                   self.driver.power_on, None, instance, [])
        message = raised.format_message()
        for word in ('power_on', instance.uuid, 'InsufficientResourcesFault',
                     'no CPU left in pool'):
            self.assertIn(word, message)
        self.assertEqual('poweredOff', self.power_state(instance))
        # A fault answered to the call itself is the same failure.
        self.vcsim.inject('PowerOnVM_Task', fault='NoPermission', moid=vm)
        raised = self.assertRaises(
            exception.InstancePowerOnFailure,
            self.driver.resume_state_on_host_boot, None, instance, [], None)
        self.assertIn('NoPermission', raised.format_message())
        self.assertEqual('poweredOff', self.power_state(instance))

    # Start-up

    def test_init_host_with_a_bad_configuration(self):
        cases = [
            (dict(host_password='wrong-' + self.vcsim.password),
             ['InvalidLogin', self.vcsim.username]),
            (dict(cluster_name='no-such-cluster'),
             ['InventoryError', 'no-such-cluster']),
        ]
        good = dict(host_password=self.vcsim.password,
                    cluster_name=self.CLUSTER)
        for options, words in cases:
            self.flags.config(group='vmware', **dict(good, **options))
            fresh = vc_driver.VCDriver(fake.FakeVirtAPI())
            raised = self.assertRaises(exception.NovaException,
                                       fresh.init_host, 'compute-test')
            self.assertIs(exception.NovaException, type(raised))
            message = raised.format_message()
            for word in ['init_host'] + words:
                self.assertIn(word, message)
            self.assertNotIn(self.vcsim.password, message)

    # vCenter lost

    def test_connection_lost(self):
        instance, _ = self.nova_vm()
        node = self.driver.get_available_nodes()[0]
        vcenter = '%s:%s' % (self.vcsim.host, self.vcsim.port)
        for action in ('drop', 'reset'):
            self.vcsim.inject('*', action=action, count=None)
            # (A cached get_info answers from the VM watcher's table.)
            raised = self.assertRaises(exception.HypervisorUnavailable,
                                       self.driver.get_info, instance,
                                       use_cache=False)
            self.assertIn(vcenter, raised.format_message())
            self.assertIn(instance.uuid, raised.format_message())
            self.assertRaises(exception.HypervisorUnavailable,
                              self.driver.get_available_resource, node)
            self.vcsim.clear_faults()
        # Back: the same driver carries on.
        self.driver.get_info(instance)


class StoppedVcenterTest(driver_base.DriverTestCase):

    def test_stopped_vcenter(self):
        # The lookup fails before a VM would matter: no VM is made.
        instance = self.instance(uuidutils.generate_uuid())
        node = self.driver.get_available_nodes()[0]
        self.leaks.forgo()  # nothing to list once vCenter is gone
        self.vcsim._stop()
        raised = self.assertRaises(exception.HypervisorUnavailable,
                                   self.driver.get_info, instance)
        self.assertIn('%s:%s' % (self.vcsim.host, self.vcsim.port),
                      raised.format_message())
        self.assertRaises(exception.HypervisorUnavailable,
                          self.driver.get_available_resource, node)
        # nova-compute starting while vCenter is down.
        restarted = vc_driver.VCDriver(fake.FakeVirtAPI())
        self.assertRaises(exception.HypervisorUnavailable,
                          restarted.init_host, 'compute-test')
