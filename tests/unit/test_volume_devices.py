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

"""Volume checks and device choices: pure logic, no vCenter."""

from nova import exception
from pyVmomi import vim
import testtools

from nova_vmware_ext.compute import volume_devices as devs
from nova_vmware_ext.compute import volumes

VMDK = {'driver_volume_type': 'vmdk', 'serial': 'vol-1',
        'data': {'volume': 'vm-7', 'volume_id': 'vol-1', 'name': 'volume-1',
                 'profile_id': None}}
FCD = {'driver_volume_type': 'vstorageobject',
       'data': {'id': 'fcd-1', 'ds_ref_val': 'datastore-1',
                'adapter_type': 'lsiLogic'}}


def controller(cls, key, bus):
    return cls(key=key, busNumber=bus)


def disk(key, controller_key, unit, path, uuid=None, vdisk=None):
    device = vim.vm.device.VirtualDisk(
        key=key, controllerKey=controller_key, unitNumber=unit,
        capacityInKB=1024,
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName=path, uuid=uuid))
    if vdisk:
        device.vDiskId = vim.vslm.ID(id=vdisk)
    return device


class CheckTest(testtools.TestCase):

    def test_known_types_pass(self):
        self.assertEqual('vmdk', volumes.check(VMDK)[0])
        self.assertEqual('vstorageobject', volumes.check(FCD)[0])

    def test_refusals_name_the_volume(self):
        cases = [
            (NotImplementedError, {'driver_volume_type': 'rbd', 'data': {}},
             None, 'rbd'),
            (exception.MultiattachNotSupportedByVirtDriver,
             dict(VMDK, multiattach=True), None, 'vol-1'),
            (exception.VolumeEncryptionNotSupported, VMDK,
             {'provider': 'luks'}, 'vol-1'),
            (exception.VolumeEncryptionNotSupported,
             dict(VMDK, data=dict(VMDK['data'], encrypted=True)), None,
             'vol-1'),
            (exception.InvalidVolume, dict(FCD, data={'id': 'x'}), None,
             'ds_ref_val'),
            (exception.InvalidInput, dict(FCD, data=dict(
                FCD['data'], adapter_type='nvme')), None, 'nvme'),
        ]
        for error, info, encryption, word in cases:
            raised = self.assertRaises(error, volumes.check, info,
                                       encryption)
            self.assertIn(word, str(raised))

    def test_no_encryption_metadata_is_no_encryption(self):
        self.assertEqual('vmdk', volumes.check(VMDK, {})[0])

    def test_boot_volume_first(self):
        data = {'connection_info': VMDK, 'boot_index': None}
        boot = {'connection_info': FCD, 'boot_index': 0}
        bdi = {'block_device_mapping': [data, boot]}
        self.assertEqual([boot, data], volumes.mappings(bdi))
        self.assertIs(boot, volumes.root_volume(bdi))
        self.assertIsNone(volumes.root_volume(
            {'block_device_mapping': [data]}))
        self.assertIsNone(volumes.root_volume(None))


class SlotTest(testtools.TestCase):

    def test_free_unit_skips_the_controller_s_own(self):
        lsi = controller(vim.vm.device.VirtualLsiLogicController, 1000, 0)
        used = [disk(2000 + u, 1000, u, 'd%d' % u) for u in range(7)]
        self.assertEqual((1000, 8, None),
                         devs.free_slot([lsi] + used, 'lsiLogic'))

    def test_new_controller_of_the_asked_kind_on_a_free_bus(self):
        lsi = controller(vim.vm.device.VirtualLsiLogicController, 1000, 0)
        key, unit, spec = devs.free_slot([lsi], 'paraVirtual')
        self.assertEqual((-1000, 0), (key, unit))
        self.assertIsInstance(spec.device,
                              vim.vm.device.ParaVirtualSCSIController)
        self.assertEqual(1, spec.device.busNumber)

    def test_full_ide_is_refused(self):
        ide = [controller(vim.vm.device.VirtualIDEController, 200 + b, b)
               for b in (0, 1)]
        used = [disk(3000 + i, 200 + i // 2, i % 2, 'x%d' % i)
                for i in range(4)]
        self.assertRaises(exception.InvalidInput, devs.free_slot,
                          ide + used, 'ide')


class FindTest(testtools.TestCase):

    def test_vmdk_disk_by_marker_path_or_moved_name(self):
        root = disk(2000, 1000, 0, '[ds1] i/i.vmdk')
        vol = disk(2001, 1000, 1, '[ds1] i/volume-1.vmdk', uuid='u-1')
        devices = [root, vol]
        self.assertIs(vol, devs.find_vmdk_disk(devices, 'u-1', None))
        self.assertIs(vol, devs.find_vmdk_disk(
            devices, None, '[ds1] i/volume-1.vmdk'))
        # Storage vMotion moved it into the instance's folder elsewhere.
        self.assertIs(vol, devs.find_vmdk_disk(
            devices, None, '[ds0] volume-1/volume-1.vmdk'))
        self.assertIsNone(devs.find_vmdk_disk(
            devices, None, '[ds0] volume-2/volume-2.vmdk'))

    def test_is_volume_disk(self):
        options = [vim.option.OptionValue(key='volume-1',
                                          value='[ds] v/volume-1.vmdk')]
        self.assertTrue(devs.is_volume_disk(
            disk(1, 1000, 0, '[ds] v/volume-1.vmdk'), options))
        self.assertTrue(devs.is_volume_disk(
            disk(1, 1000, 0, '[ds] fcd/x.vmdk', vdisk='x'), []))
        self.assertFalse(devs.is_volume_disk(
            disk(1, 1000, 0, '[ds] i/i.vmdk'), options))

    def test_grow_never_shrinks(self):
        device = disk(1, 1000, 0, 'x')
        self.assertIsNone(devs.grow_disk(device, 1024 * 1024))
        spec = devs.grow_disk(device, 2 * 1024 * 1024 + 1)
        self.assertEqual(2049, spec.device.capacityInKB)
        self.assertEqual('edit', spec.operation)
