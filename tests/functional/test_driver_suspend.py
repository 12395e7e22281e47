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

"""Suspend and resume through VCDriver against vcsim."""

from nova import exception

from tests.functional import test_driver_spawn


class SuspendTest(test_driver_spawn.SpawnTestBase):

    def _running(self):
        instance = self.make_instance()
        self.spawn(instance, self.flat)
        return instance

    def power(self, instance):
        return self.vm(instance)['runtime.powerState']

    def test_suspend_and_resume(self):
        instance = self._running()
        with self.session.calls.scope() as scope:
            self.driver.suspend(self.context, instance)
        self.assertEqual('suspended', self.power(instance))
        self.assertEqual(1, scope.by_method['SuspendVM_Task'])
        self.driver.resume(self.context, instance, [])
        self.assertEqual('poweredOn', self.power(instance))

    def test_suspend_and_resume_are_idempotent(self):
        instance = self._running()
        self.driver.suspend(self.context, instance)
        with self.session.calls.scope() as scope:
            self.driver.suspend(self.context, instance)
        self.assertEqual(0, scope.by_method['SuspendVM_Task'])
        self.assertEqual('suspended', self.power(instance))
        self.driver.resume(self.context, instance, [])
        with self.session.calls.scope() as scope:
            self.driver.resume(self.context, instance, [])
        self.assertEqual(0, scope.by_method['PowerOnVM_Task'])
        self.assertEqual('poweredOn', self.power(instance))

    def test_suspend_of_a_stopped_instance_is_refused(self):
        instance = self._running()
        self.driver.power_off(instance)
        raised = self.assertRaises(exception.InstanceSuspendFailure,
                                   self.driver.suspend, self.context,
                                   instance)
        self.assertIn('poweredOff', str(raised))
        self.assertEqual('poweredOff', self.power(instance))

    def test_resume_of_a_vm_powered_off_behind_nova_boots_it(self):
        instance = self._running()
        self.driver.suspend(self.context, instance)
        self.driver.power_off(instance)
        self.driver.resume(self.context, instance, [])
        self.assertEqual('poweredOn', self.power(instance))

    def test_failed_suspend_is_nova_s_failure(self):
        instance = self._running()
        self.vcsim.inject('SuspendVM_Task', action='task_error',
                          fault='InvalidState')
        self.addCleanup(self.vcsim.clear_faults)
        raised = self.assertRaises(exception.InstanceSuspendFailure,
                                   self.driver.suspend, self.context,
                                   instance)
        self.assertIn(instance.uuid, str(raised))
        self.assertEqual('poweredOn', self.power(instance))
