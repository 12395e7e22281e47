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

"""Which disks a move keeps where they are (compute/volume_moves.py), and
the relocate spec compute/migrate.py builds with them."""

from unittest import mock

import fixtures
from nova import exception
from nova import objects
from pyVmomi import vim
from pyVmomi import vmodl
import testtools

from nova_vmware_ext.compute import migrate
from nova_vmware_ext.compute import volume_moves as vmoves
from nova_vmware_ext.vsphere import inventory as vinventory

objects.register_all()

VMDK_ID = '9b1c4a3e-0f7d-4c55-8f8e-2b1e6f3a9d10'
FCD_ID = 'fcd-0001'
ROOT_DS, VOLUME_DS, TARGET_DS = (vim.Datastore('datastore-%d' % i)
                                 for i in (1, 2, 3))


def _disk(key, path, datastore, uuid=None, fcd=None):
    disk = vim.vm.device.VirtualDisk(
        key=key, capacityInKB=1024,
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName=path, datastore=datastore, uuid=uuid))
    if fcd:
        disk.vDiskId = vim.vslm.ID(id=fcd)
    return disk


def _devices():
    return [
        _disk(2000, '[root] u/u.vmdk', ROOT_DS),
        _disk(2001, '[vols] volume-x/volume-x.vmdk', VOLUME_DS,
              uuid='6000C29a-aaaa'),
        _disk(2002, '[vols] fcd/abc.vmdk', VOLUME_DS, fcd=FCD_ID),
        _disk(2003, '[root] u/ephemeral_0.vmdk', ROOT_DS),
        vim.vm.device.VirtualCdrom(key=3000),
    ]


def _options(marker='6000C29a-aaaa'):
    return [vim.option.OptionValue(key='volume-%s' % VMDK_ID, value=marker),
            vim.option.OptionValue(key='nvram', value='u.nvram')]


def _target():
    return vinventory.Datastore(TARGET_DS, 'target', 'VMFS', 'ds:///t/',
                                10, 10, True)


class VolumeDisksTest(testtools.TestCase):

    def test_volume_disks_by_marker_and_vdisk_id_never_the_root(self):
        found = vmoves.volume_disks(_devices(), _options())
        self.assertEqual([(VMDK_ID, 2001, 'vols'), (FCD_ID, 2002, 'vols')],
                         [(v.volume_id, v.key, v.datastore_name)
                          for v in found])
        # A marker that is the file name (vcsim has no disk uuid).
        found = vmoves.volume_disks(
            _devices(), _options('[vols] volume-x/volume-x.vmdk'))
        self.assertEqual([2001, 2002], [v.key for v in found])
        # No volume option read: the FCD is known by itself.
        self.assertEqual([2002], [v.key for v in vmoves.volume_disks(
            _devices(), [])])

    def test_every_volume_option_of_the_vm_counts(self):
        # Read with the options of the volumes Nova lists (none here): the
        # VM's whole extraConfig is read, a vmdk volume Nova does not list
        # is still a volume.
        item = {'obj': vim.VirtualMachine('vm-1'),
                'config.hardware.device': _devices()}
        with mock.patch('nova_vmware_ext.vsphere.props.retrieve_one',
                        return_value={'config.extraConfig': _options()}
                        ) as read:
            found = vmoves.of_vm(mock.Mock(), item)
        self.assertEqual([2001, 2002], [v.key for v in found])
        self.assertEqual(['config.extraConfig'], read.call_args[0][2])
        item['config.extraConfig'] = _options()
        with mock.patch('nova_vmware_ext.vsphere.props.retrieve_one') as read:
            self.assertEqual(2, len(vmoves.of_vm(mock.Mock(), item)))
        read.assert_not_called()

    def test_locators_keep_each_volume_on_its_datastore(self):
        specs = vmoves.locators(vmoves.volume_disks(_devices(), _options()))
        self.assertEqual(
            [(2001, 'datastore-2', vmoves.KEEP),
             (2002, 'datastore-2', vmoves.KEEP)],
            [(s.diskId, s.datastore._moId, s.diskMoveType) for s in specs])
        self.assertEqual([], vmoves.locators([]))


class HostsSeeingTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.volumes = vmoves.volume_disks(_devices(), _options())

    def test_the_hosts_mounting_the_volumes_and_the_target(self):
        mounts = {'host-1': {'datastore-3'},
                  'host-2': {'datastore-2', 'datastore-3'},
                  'host-3': {'datastore-2'}}
        self.assertEqual(['host-2'], vmoves.hosts_seeing(
            self.volumes, mounts, _target(), 'C1'))
        self.assertEqual(['host-2', 'host-3'], vmoves.hosts_seeing(
            self.volumes, mounts, None, 'C1'))

    def test_a_volume_no_host_sees_is_refused_by_name(self):
        error = self.assertRaises(
            exception.ResizeError, vmoves.hosts_seeing, self.volumes,
            {'host-1': {'datastore-1', 'datastore-3'}}, _target(), 'C1')
        self.assertIn('volume %s is on datastore vols, which no usable '
                      'host of cluster C1 mounts' % VMDK_ID, str(error))

    def test_no_host_seeing_all_is_refused(self):
        error = self.assertRaises(
            exception.ResizeError, vmoves.hosts_seeing, self.volumes,
            {'host-1': {'datastore-2'}, 'host-2': {'datastore-3'}},
            _target(), 'C1')
        self.assertIn('no usable host of cluster C1 mounts all of '
                      'datastores target, vols', str(error))

    def test_a_disk_without_datastore_is_refused(self):
        devices = [_disk(2002, '[vols] fcd/abc.vmdk', None, fcd=FCD_ID)]
        error = self.assertRaises(
            exception.ResizeError, vmoves.hosts_seeing,
            vmoves.volume_disks(devices, []), {'host-1': set()}, None, 'C1')
        self.assertIn('disk [vols] fcd/abc.vmdk of volume %s' % FCD_ID,
                      str(error))


class ClusterSeesTest(testtools.TestCase):
    """The source's check of the destination cluster's hosts."""

    def _check(self, hosts, fault=None):
        self.useFixture(fixtures.MockPatch(
            'nova_vmware_ext.vsphere.props.retrieve_related',
            return_value=hosts, side_effect=fault))
        vmoves.check_cluster_sees(
            mock.Mock(), 'domain-c9',
            vmoves.volume_disks(_devices(), _options()))

    def _host(self, moid, state='connected', maintenance=False,
              mounts=('datastore-2',)):
        return {'obj': vim.HostSystem(moid),
                'runtime.connectionState': state,
                'runtime.inMaintenanceMode': maintenance,
                'datastore': [vim.Datastore(m) for m in mounts]}

    def test_a_usable_host_seeing_the_volumes_passes(self):
        self._check([self._host('host-1', mounts=()), self._host('host-2')])

    def test_hosts_in_maintenance_or_disconnected_do_not_count(self):
        for host in (self._host('host-1', maintenance=True),
                     self._host('host-1', state='disconnected')):
            error = self.assertRaises(exception.ResizeError, self._check,
                                      [host])
            self.assertIn('no usable host of cluster domain-c9', str(error))

    def test_a_cluster_gone_is_left_to_the_destination(self):
        self._check([], fault=vmodl.fault.ManagedObjectNotFound())

    def test_no_volume_reads_nothing(self):
        with mock.patch('nova_vmware_ext.vsphere.props.retrieve_related'
                        ) as related:
            vmoves.check_cluster_sees(mock.Mock(), 'domain-c9', [])
        related.assert_not_called()
        self.assertFalse(vmoves.may_have_volumes(
            {'block_device_mapping': []}))
        self.assertTrue(vmoves.may_have_volumes(None))


class MoveSpecTest(testtools.TestCase):
    """The RelocateSpec of a move between clusters names the volume disks
    only, with their own datastores; the rest goes to the target."""

    def _move(self, moves=True, mounts=('datastore-2', 'datastore-3')):
        ops = migrate.MigrateOps(*[mock.Mock()] * 9)
        host = mock.Mock(usable=True, ref=vim.HostSystem('host-7'))
        ops.inventory.get.return_value = mock.Mock(
            hosts=[host], cluster_name='C1',
            resource_pool=vim.ResourcePool('resgroup-1'))
        ops.folders.instances_folder.return_value = vim.Folder('group-v1')
        item = {'obj': mock.Mock(), 'config.hardware.device': _devices(),
                'config.extraConfig': _options(),
                'config.files.vmPathName': '[root] u/u.vmx'}
        self.useFixture(fixtures.MockPatchObject(
            ops, '_target_datastore', return_value=(_target(), moves)))
        self.useFixture(fixtures.MockPatchObject(
            ops, '_nic_changes', return_value=[]))
        self.useFixture(fixtures.MockPatchObject(
            ops, '_read', return_value=item))
        self.useFixture(fixtures.MockPatch(
            'nova_vmware_ext.vsphere.props.retrieve_one',
            return_value={'configurationEx': None}))
        self.useFixture(fixtures.MockPatch(
            'nova_vmware_ext.vsphere.props.retrieve_objects',
            return_value=[{'obj': host.ref, 'datastore': [
                vim.Datastore(m) for m in mounts]}]))
        ops._move_here(mock.Mock(uuid='u', project_id='p'), item,
                       [], None, [])
        return item['obj'].RelocateVM_Task

    def test_volumes_stay_the_rest_goes_to_the_target(self):
        relocate = self._move()
        spec = relocate.call_args[0][0]
        self.assertEqual('datastore-3', spec.datastore._moId)
        self.assertEqual([(2001, 'datastore-2'), (2002, 'datastore-2')],
                         [(d.diskId, d.datastore._moId) for d in spec.disk])
        self.assertEqual('host-7', spec.host._moId)

    def test_staying_on_its_datastore_names_no_disk(self):
        spec = self._move(moves=False).call_args[0][0]
        self.assertIsNone(spec.datastore)
        self.assertEqual([], list(spec.disk))

    def test_a_cluster_not_seeing_the_volume_is_refused_before_moving(self):
        error = self.assertRaises(exception.ResizeError, self._move,
                                  mounts=('datastore-3',))
        self.assertIn('volume %s is on datastore vols' % VMDK_ID,
                      str(error))
