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

"""init_host registers the org.openstack.compute vCenter extension (the
one the in-tree driver registers and our VMs name in config.managedBy),
once, whichever compute gets there first."""

import datetime
from unittest import mock

from pyVmomi import vim

from nova_vmware_ext.compute import instances as vinstances
from tests.functional import driver_base


class ExtensionTest(driver_base.DriverTestCase):

    def setUp(self):
        super().setUp()
        self.manager = self.si.content.extensionManager
        self.addCleanup(self.unregister)

    def unregister(self):
        if self.manager.FindExtension(vinstances.EXTENSION_KEY):
            self.manager.UnregisterExtension(vinstances.EXTENSION_KEY)

    def test_init_host_registers_it(self):
        found = self.manager.FindExtension(vinstances.EXTENSION_KEY)
        self.assertEqual(('1.0', 'OpenStack'),
                         (found.version, found.company))
        # A restart finds it and registers nothing twice.
        self.restart_driver()
        self.assertEqual([vinstances.EXTENSION_KEY],
                         [e.key for e in self.manager.extensionList])

    def test_another_compute_registering_meanwhile_is_fine(self):
        self.unregister()
        other = vim.Extension(
            key=vinstances.EXTENSION_KEY, version='9.9',
            description=vim.Description(label='x', summary='x'),
            lastHeartbeatTime=datetime.datetime.now(datetime.timezone.utc))
        real = vim.ExtensionManager.FindExtension

        def find_then_lose_the_race(manager, key):
            found = real(manager, key)
            self.manager.RegisterExtension(other)  # the other compute
            return found

        with mock.patch.object(vim.ExtensionManager, 'FindExtension',
                               find_then_lose_the_race):
            self.restart_driver()
        self.assertEqual('9.9', self.manager.FindExtension(
            vinstances.EXTENSION_KEY).version)
