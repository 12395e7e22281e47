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

"""Pure parts of rescue, diagnostics and stuck-reboot recovery."""

import datetime
import logging
from unittest import mock

import fixtures
from nova.compute import power_state
from nova import exception
from nova import objects
from oslo_utils.fixture import uuidsentinel as uuids
from pyVmomi import vim
import testtools

from nova_vmware_ext.compute import diagnostics
from nova_vmware_ext.compute import rescue
from nova_vmware_ext.compute import stuck_reboots

objects.register_all()
BootOptions = vim.vm.BootOptions


class BootOrderTest(testtools.TestCase):

    def test_round_trip(self):
        order = [BootOptions.BootableCdromDevice(),
                 BootOptions.BootableDiskDevice(deviceKey=2001),
                 BootOptions.BootableEthernetDevice(deviceKey=4000),
                 BootOptions.BootableFloppyDevice()]
        text = rescue.encode_boot_order(order)
        self.assertEqual('["cdrom", "disk:2001", "ethernet:4000", "floppy"]',
                         text)
        back = rescue.decode_boot_order(text)
        self.assertEqual([type(d) for d in order], [type(d) for d in back])
        self.assertEqual([None, 2001, 4000, None],
                         [getattr(d, 'deviceKey', None) for d in back])

    def test_empty(self):
        self.assertEqual('[]', rescue.encode_boot_order(None))
        self.assertEqual([], rescue.decode_boot_order('[]'))

    def test_garbled(self):
        self.assertRaises(ValueError, rescue.decode_boot_order, 'disk')
        self.assertRaises(KeyError, rescue.decode_boot_order, '["tape"]')

    def test_boot_options_keep_other_fields(self):
        current = BootOptions(bootDelay=5000, enterBIOSSetup=True,
                              bootOrder=[BootOptions.BootableCdromDevice()])
        new = rescue.boot_options(current, [])
        self.assertEqual(5000, new.bootDelay)
        self.assertTrue(new.enterBIOSSetup)
        self.assertEqual([], list(new.bootOrder))
        self.assertEqual(1, len(current.bootOrder))


class SlotTest(testtools.TestCase):

    def devices(self, controller, units):
        found = [controller]
        for i, unit in enumerate(units):
            found.append(vim.vm.device.VirtualDisk(
                key=2000 + i, controllerKey=controller.key, unitNumber=unit))
        return found

    def test_scsi_skips_its_own_unit(self):
        scsi = vim.vm.device.VirtualLsiLogicController(key=1000)
        devices = self.devices(scsi, [0, 1, 2, 3, 4, 5, 6])
        self.assertEqual((1000, 8), rescue._free_slot(devices, 1000))

    def test_full_ide(self):
        ide = vim.vm.device.VirtualIDEController(key=200)
        self.assertIsNone(rescue._free_slot(self.devices(ide, [0, 1]), 200))

    def test_the_other_ide_controller(self):
        first = vim.vm.device.VirtualIDEController(key=200)
        second = vim.vm.device.VirtualIDEController(key=201)
        devices = self.devices(first, [0, 1]) + [second]
        self.assertEqual((201, 0), rescue._free_slot(devices, 200))

    def test_sata(self):
        sata = vim.vm.device.VirtualAHCIController(key=15000)
        self.assertEqual((15000, 1),
                         rescue._free_slot(self.devices(sata, [0]), 15000))

    def test_rescue_disks_by_name(self):
        def disk(name):
            return vim.vm.device.VirtualDisk(
                backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                    fileName=name))
        devices = [disk('[ds] u/u.vmdk'), disk('[ds] u/img-rescue.vmdk'),
                   vim.vm.device.VirtualCdrom()]
        self.assertEqual([devices[1]], rescue.rescue_disks(devices))


class UptimeTest(testtools.TestCase):

    def test_quick_stats_win(self):
        stats = vim.vm.Summary.QuickStats(uptimeSeconds=42)
        self.assertEqual(42, diagnostics._uptime(power_state.RUNNING, stats,
                                                 None))

    def test_from_boot_time(self):
        boot = (datetime.datetime.now(datetime.timezone.utc) -
                datetime.timedelta(seconds=90))
        runtime = vim.vm.RuntimeInfo(bootTime=boot)
        uptime = diagnostics._uptime(power_state.RUNNING,
                                     vim.vm.Summary.QuickStats(), runtime)
        self.assertTrue(89 <= uptime <= 95, uptime)

    def test_not_running(self):
        stats = vim.vm.Summary.QuickStats(uptimeSeconds=42)
        self.assertEqual(0, diagnostics._uptime(power_state.SHUTDOWN, stats,
                                                None))


class StuckRebootsTest(testtools.TestCase):

    def test_each_instance_is_rebooted_hard_despite_failures(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))
        api = mock.Mock()
        locked = objects.Instance(uuid=uuids.locked)
        other = objects.Instance(uuid=uuids.other)
        api.reboot.side_effect = [exception.InstanceIsLocked(
            instance_uuid=locked.uuid), None]
        stuck_reboots.StuckReboots(api).reboot_hard(10, [locked, other])
        self.assertEqual([(locked, 'HARD'), (other, 'HARD')],
                         [c.args[1:] for c in api.reboot.call_args_list])
        self.assertIn('Could not hard reboot the instance stuck rebooting: '
                      'Instance %s is locked' % uuids.locked, log.output)

    def test_nothing_stuck_costs_nothing(self):
        api = mock.Mock()
        stuck_reboots.StuckReboots(api).reboot_hard(10, [])
        api.reboot.assert_not_called()
