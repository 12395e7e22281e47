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

"""Which of a VM's disks is the root disk from the image (resize grows it,
rescue goes beside it, snapshot uploads it): never a volume's disk."""

from pyVmomi import vim
import testtools

from nova_vmware_ext.compute import volume_devices as devs

VOL_A = '4f1e3c2a-7b9d-4e6f-a1b2-c3d4e5f60718'
VOL_B = 'a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d'


def disk(key, name, uuid=None, fcd_id=None):
    backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
        fileName=name, uuid=uuid)
    device = vim.vm.device.VirtualDisk(key=key, capacityInKB=1024,
                                       backing=backing)
    if fcd_id:
        device.vDiskId = vim.vslm.ID(id=fcd_id)
    return device


def marker(volume_id, value):
    return vim.option.OptionValue(key='volume-%s' % volume_id, value=value)


def bdi(*volume_ids):
    return {'block_device_mapping': [
        {'connection_info': {'driver_volume_type': 'vmdk',
                             'data': {'volume_id': v}}}
        for v in volume_ids]}


class RootDiskTest(testtools.TestCase):

    def test_the_first_disk_on_a_datastore(self):
        ephemeral = disk(2001, '[ds] vm/eph.vmdk')
        root = disk(2000, '[ds] vm/vm.vmdk')
        cdrom = vim.vm.device.VirtualCdrom(key=3000)
        self.assertIs(root, devs.root_disk([cdrom, ephemeral, root], []))
        self.assertIsNone(devs.root_disk([cdrom], []))
        self.assertIsNone(devs.root_disk(None, None))

    def test_a_vmdk_volume_with_a_lower_key_is_skipped(self):
        by_name = disk(2000, '[ds] volume-a/volume-a.vmdk')
        by_uuid = disk(2001, '[ds] vm/volume-b.vmdk', uuid='6000C29a-b')
        root = disk(2002, '[ds] vm/vm.vmdk')
        options = [marker(VOL_A, by_name.backing.fileName),
                   marker(VOL_B, '6000C29a-b'),
                   marker('detached', '')]
        self.assertIs(root, devs.root_disk([by_name, by_uuid, root],
                                           options))

    def test_a_first_class_disk_is_skipped(self):
        fcd = disk(2000, '[ds] fcd/fcd.vmdk', fcd_id='fcd-1')
        root = disk(2001, '[ds] vm/vm.vmdk')
        self.assertIs(root, devs.root_disk([fcd, root], []))

    def test_booted_from_a_volume_has_none(self):
        boot = disk(2000, '[ds] volume-a/volume-a.vmdk')
        fcd = disk(2001, '[ds] fcd/fcd.vmdk', fcd_id='fcd-1')
        self.assertIsNone(devs.root_disk(
            [boot, fcd], [marker(VOL_A, boot.backing.fileName)]))


class VolumePathsTest(testtools.TestCase):
    """Only the volumes' own extraConfig keys are read, when known."""

    def test_one_path_per_volume_of_block_device_info(self):
        self.assertEqual(
            ['config.extraConfig["volume-%s"]' % VOL_A,
             'config.extraConfig["volume-%s"]' % VOL_B],
            devs.volume_paths(bdi(VOL_B, VOL_A)))
        self.assertEqual([], devs.volume_paths(bdi()))
        # An FCD's connection_info has no volume_id: its device says it.
        self.assertEqual([], devs.volume_paths({'block_device_mapping': [
            {'connection_info': {'data': {'id': 'fcd-1'}}}]}))

    def test_all_of_extra_config_when_the_volumes_are_unknown(self):
        self.assertEqual(['config.extraConfig'], devs.volume_paths(None))
        # A volume id no property path can hold (a quote ends the key).
        self.assertEqual(['config.extraConfig'],
                         devs.volume_paths(bdi('x"] or [')))

    def test_options_from_either_read(self):
        a, b = marker(VOL_A, '[ds] a.vmdk'), marker(VOL_B, '[ds] b.vmdk')
        self.assertEqual([a], devs.volume_options(
            {'config.extraConfig["volume-%s"]' % VOL_A: a,
             'config.extraConfig["volume-%s"]' % VOL_B: None,
             'config.extraConfig["nova.resize.revert"]': b}))
        self.assertEqual([a, b], devs.volume_options(
            {'config.extraConfig': [a, b]}))
