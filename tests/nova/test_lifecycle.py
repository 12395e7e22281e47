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

"""Power changes behind Nova's back reach it through lifecycle events.

nova-compute runs with our driver on vcsim in Nova's functional harness; the
periodic power-state sync is off, so what Nova learns it learns from the
driver's events. Changes are made over the test's own pyvmomi connection,
as an admin, vSphere HA or the guest would make them.
"""

import time

from pyVim import task as task_util
from pyVmomi import vim

from nova_vmware_ext.compute import events
from tests.nova import test_servers

DELAY = 0.5  # STOP_DELAY here (15 s in production)
RUNNING, SHUTDOWN = 1, 4  # nova.compute.power_state


class LifecycleTest(test_servers.VcsimServersTestBase):

    def setUp(self):
        self.flags(sync_power_state_interval=-1)
        # Before nova-compute starts (in setUp): its driver reads it then.
        self.patch(events, 'STOP_DELAY', DELAY)
        super().setUp()
        flavor_id = self._create_flavor(memory_mb=128, vcpu=1, disk=1)
        self.server = self.boot(flavor_id)
        self.assertEqual('ACTIVE', self.server['status'])
        self.addCleanup(self._delete_server, self.server)
        self.vm = vim.VirtualMachine(self.vms()[self.server['id']]['moid'],
                                     self.si._stub)

    def behind_novas_back(self, *tasks):
        for start in tasks:
            task_util.WaitForTask(start())

    def test_power_off_behind_novas_back_shows_shutoff(self):
        began = time.monotonic()
        self.behind_novas_back(self.vm.PowerOffVM_Task)
        server = self._wait_for_state_change(self.server, 'SHUTOFF',
                                             max_retries=40)
        self.assertLess(time.monotonic() - began, DELAY + 15)
        self.assertEqual(SHUTDOWN, server['OS-EXT-STS:power_state'])
        self.assertEqual('poweredOff',
                         self.vms()[self.server['id']]['runtime.powerState'])
        # And back, through the API, as usual.
        server = self._start_server(server)
        self.assertEqual('poweredOn',
                         self.vms()[server['id']]['runtime.powerState'])

    def assert_stays_active(self):
        time.sleep(DELAY * 4)  # what a STOPPED event would have waited
        server = self.api.get_server(self.server['id'])
        self.assertEqual(('ACTIVE', RUNNING, None),
                         (server['status'], server['OS-EXT-STS:power_state'],
                          server['OS-EXT-STS:task_state']))
        self.assertEqual('poweredOn',
                         self.vms()[self.server['id']]['runtime.powerState'])

    def test_reset_behind_novas_back_stays_active(self):
        self.behind_novas_back(self.vm.ResetVM_Task)
        self.assert_stays_active()

    def test_ha_restart_behind_novas_back_stays_active(self):
        # vSphere HA: the VM goes off and is powered on again at once.
        self.behind_novas_back(self.vm.PowerOffVM_Task,
                               self.vm.PowerOnVM_Task)
        self.assert_stays_active()
