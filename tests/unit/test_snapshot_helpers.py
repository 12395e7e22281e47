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

"""The pure parts of snapshots: image properties from the VM, the export
URL of the root disk, an export lease that never destroys its VM."""

from unittest import mock

import fixtures
from nova import objects
from oslo_vmware import exceptions as vexc
from pyVmomi import vim
import testtools

from nova_vmware_ext.compute import instances
from nova_vmware_ext.compute import snapshot
from nova_vmware_ext.vsphere import nfc

objects.register_all()


def disk(key, controller_key, unit, name='[ds] vm/vm.vmdk'):
    return vim.vm.device.VirtualDisk(
        key=key, controllerKey=controller_key, unitNumber=unit,
        capacityInKB=1024,
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(fileName=name))


class ImagePropertiesTest(testtools.TestCase):

    def test_adapter_type_from_the_root_disks_controller(self):
        for controller, expected in (
                (vim.vm.device.VirtualLsiLogicController, 'lsiLogic'),
                (vim.vm.device.VirtualLsiLogicSASController, 'lsiLogicsas'),
                (vim.vm.device.ParaVirtualSCSIController, 'paraVirtual'),
                (vim.vm.device.VirtualBusLogicController, 'busLogic'),
                (vim.vm.device.VirtualIDEController, 'ide'),
                (vim.vm.device.VirtualAHCIController, 'sata')):
            root = disk(2000, 1000, 0)
            devices = [controller(key=1000, busNumber=0), root]
            self.assertEqual(expected, snapshot.adapter_type(devices, root))

    def test_os_distro_from_guest_id(self):
        self.assertEqual(
            ['ubuntu', 'rhel', 'windows', 'ol', None, None],
            [snapshot.os_distro(g) for g in (
                'ubuntu64Guest', 'rhel9_64Guest', 'windows2019srv_64Guest',
                'oracleLinux8_64Guest', 'otherGuest', None)])

    def test_metadata(self):
        root = disk(2000, 1000, 0)
        devices = [vim.vm.device.ParaVirtualSCSIController(key=1000,
                                                           busNumber=0), root]
        instance = objects.Instance(project_id='p1')
        meta = snapshot.image_metadata(instance, devices, root,
                                       'debian11_64Guest')
        expected = {
            'disk_format': 'vmdk', 'container_format': 'bare',
            'properties': {'vmware_disktype': 'streamOptimized',
                           'vmware_adaptertype': 'paraVirtual',
                           'vmware_ostype': 'debian11_64Guest',
                           'vmware_image_version': '1',
                           'os_distro': 'debian', 'owner_id': 'p1'}}
        self.assertEqual(expected, meta)

    def test_a_snapshot_clone_is_no_instance(self):
        item = {'config.instanceUuid': 'u1',
                'config.managedBy': vim.ext.ManagedByInfo(
                    extensionKey=instances.EXTENSION_KEY, type='snapshot')}
        self.assertIsNone(instances.nova_uuid(item))
        item['config.managedBy'].type = 'instance'
        self.assertEqual('u1', instances.nova_uuid(item))


class ExportUrlTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # What the code logs goes with the test's details, not stderr.
        self.useFixture(fixtures.FakeLogger())

    def lease(self, keys):
        lease = nfc.Lease(mock.Mock(host='vc', port=443), mock.Mock(),
                          mock.Mock(), 'export of x', imports=False)
        lease.info = vim.HttpNfcLease.Info(deviceUrl=[
            vim.HttpNfcLease.DeviceUrl(key=key, url='https://*/nfc/%d' % i,
                                       disk=True)
            for i, key in enumerate(keys)])
        return lease

    def test_the_root_disks_url_by_controller_and_unit(self):
        root = disk(2001, 1001, 0)
        devices = [vim.vm.device.VirtualLsiLogicController(key=1000,
                                                           busNumber=0),
                   vim.vm.device.ParaVirtualSCSIController(key=1001,
                                                           busNumber=1),
                   disk(2000, 1000, 0, '[ds] vm/eph.vmdk'), root]
        lease = self.lease(['/vm-1/VirtualLsiLogicController0:0',
                            '/vm-1/ParaVirtualSCSIController1:0'])
        self.assertEqual('https://vc/nfc/1',
                         nfc.pick_disk_url(lease, devices, root))

    def test_unknown_keys_take_the_first_disk(self):
        root = disk(2000, 1000, 0)
        lease = self.lease(['disk-a', 'disk-b'])
        self.assertEqual('https://vc/nfc/0', nfc.pick_disk_url(
            lease, [vim.vm.device.VirtualLsiLogicController(key=1000)],
            root))

    def test_no_disk_offered(self):
        self.assertRaises(nfc.LeaseError, nfc.pick_disk_url, self.lease([]),
                          [], disk(2000, 1000, 0))

    def test_refused_abort_of_an_export_keeps_the_vm(self):
        lease = self.lease(['k'])
        lease.info = mock.Mock(entity=mock.Mock())
        lease.lease.HttpNfcLeaseAbort.side_effect = vexc.VimException('no')
        lease.abort('upload failed')
        self.assertEqual(2, lease.lease.HttpNfcLeaseAbort.call_count)
        lease.info.entity.Destroy_Task.assert_not_called()
        # An import's lease does destroy its VM then.
        lease.imports = True
        lease._ended = False
        lease.abort('upload failed')
        lease.info.entity.Destroy_Task.assert_called_once_with()
