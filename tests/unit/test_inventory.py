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

"""Inventory.call re-resolves once when vCenter says an object is gone."""

from oslo_vmware import exceptions as vexc
import testtools

from nova_vmware_ext.vsphere import inventory


class InventoryCallTest(testtools.TestCase):

    def test_refresh_on_managed_object_not_found(self):
        inv = inventory.Inventory(session=None, cluster_name='c')
        stale, fresh = object(), object()
        resolved = [stale, fresh]
        self.patch(inventory, 'resolve', lambda s, name: resolved.pop(0))
        seen = []

        def operation(current):
            seen.append(current)
            if current is stale:
                raise vexc.ManagedObjectNotFoundException('gone')
            return 'done'

        self.assertEqual('done', inv.call(operation))
        self.assertEqual([stale, fresh], seen)
        self.assertIs(fresh, inv.get())

    def test_second_failure_is_raised(self):
        inv = inventory.Inventory(session=None, cluster_name='c')
        self.patch(inventory, 'resolve', lambda s, name: object())

        def operation(current):
            raise vexc.ManagedObjectNotFoundException('gone')

        self.assertRaises(vexc.ManagedObjectNotFoundException, inv.call,
                          operation)
