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

"""When Instances answers from the VM watcher's table, and when it asks."""

from unittest import mock

import fixtures

from nova.compute import power_state
from nova import objects
from pyVmomi import vim
import testtools

from nova_vmware_ext.compute import instances
from nova_vmware_ext.vsphere import watch

UUID = 'a3c2c4f0-6c1e-4b8e-9d53-0b8f6f6e1a01'


class CachedInfoTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        objects.register_all()
        self.vm = vim.VirtualMachine('vm-7')
        self.table = mock.Mock(warm=True)
        self.table.get.return_value = watch.VmState(
            self.vm, UUID, 'poweredOff', 'connected')
        self.table.properties.return_value = {
            'config.instanceUuid': UUID}
        self.instances = instances.Instances(
            mock.Mock(), mock.Mock(), mock.Mock(), table=self.table)
        # What vCenter says (the table lags behind it).
        self.read = self.patch_read({'obj': self.vm,
                                     'runtime.powerState': 'poweredOn'})
        self.instance = objects.Instance(uuid=UUID)

    def patch_read(self, item):
        read = mock.Mock(return_value=item)
        self.instances._read_ref = read
        return read

    def test_warm_table_answers(self):
        info = self.instances.info(self.instance, use_cache=True)
        self.assertEqual((power_state.SHUTDOWN, 'vm-7'),
                         (info.state, info.internal_id))
        self.assertFalse(self.read.called)
        self.assertTrue(self.instances.exists(self.instance))
        self.assertEqual(self.table.uuids.return_value,
                         self.instances.list_uuids())
        self.assertFalse(self.read.called)

    def test_uncached_asks(self):
        info = self.instances.info(self.instance, use_cache=False)
        self.assertEqual(power_state.RUNNING, info.state)
        self.assertEqual(1, self.read.call_count)

    def test_cold_table_asks(self):
        self.table.warm = False
        info = self.instances.info(self.instance, use_cache=True)
        self.assertEqual(power_state.RUNNING, info.state)

    def test_after_acting_on_the_vm_it_asks_for_a_while(self):
        clock = self.useFixture(_Clock())
        self.instances.call(self.instance, lambda vm: None)
        info = self.instances.info(self.instance, use_cache=True)
        self.assertEqual(power_state.RUNNING, info.state)
        clock.now += instances.RECENT
        info = self.instances.info(self.instance, use_cache=True)
        self.assertEqual(power_state.SHUTDOWN, info.state)

    def test_unknown_to_the_table_asks(self):
        self.table.get.return_value = None
        self.instances._search = mock.Mock(return_value=None)
        self.assertFalse(self.instances.exists(
            objects.Instance(uuid='b3c2c4f0-6c1e-4b8e-9d53-0b8f6f6e1a02')))
        self.assertEqual(1, self.instances._search.call_count)


class _Clock(fixtures.Fixture):
    """instances.time.monotonic, moved by the test."""

    now = 1000.0

    def _setUp(self):
        self.useFixture(fixtures.MonkeyPatch(
            'nova_vmware_ext.compute.instances.time.monotonic',
            lambda: self.now))
