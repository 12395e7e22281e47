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

"""Resize and move decisions that need no vCenter (compute/migrate.py)."""

from unittest import mock

from nova import exception
from nova import objects
from oslo_utils.fixture import uuidsentinel as uuids
from pyVmomi import vim
import testtools

from nova_vmware_ext.compute import migrate
from nova_vmware_ext.compute import nodes

objects.register_all()

VC = '6f1a4c1e-0000-4000-8000-00000000000a'
OTHER_VC = '6f1a4c1e-0000-4000-8000-00000000000b'


def _flavor(extra_specs=None, **fields):
    values = dict(name='m1.small', flavorid='2', vcpus=2, memory_mb=2048,
                  root_gb=10, ephemeral_gb=0, swap=0,
                  extra_specs=extra_specs or {})
    values.update(fields)
    return objects.Flavor(**values)


def _image():
    return objects.ImageMeta.from_dict({'disk_format': 'vmdk',
                                        'properties': {}})


def _refused(old, new):
    error = testtools.TestCase.assertRaises(
        testtools.TestCase('run'), exception.InstanceFaultRollback,
        migrate.check_new_flavor, old, new, _image())
    inner = error.inner_exception
    assert isinstance(inner, exception.ResizeError), inner
    return str(inner)


class NodeTest(testtools.TestCase):

    def test_vcenter_of_a_node_name(self):
        self.assertEqual(VC, nodes.vcenter_of('domain-c7.' + VC))
        self.assertIsNone(nodes.vcenter_of('compute-1'))
        self.assertIsNone(nodes.vcenter_of(None))

    def test_same_vcenter_passes_other_is_refused(self):
        migrate.refuse_other_vcenter('domain-c7.' + VC, 'domain-c9.' + VC)
        error = self.assertRaises(
            exception.ResizeError, migrate.refuse_other_vcenter,
            'domain-c7.' + VC, 'domain-c9.' + OTHER_VC)
        self.assertIn('domain-c9.%s is on another vCenter' % OTHER_VC,
                      str(error))


class CheckNewFlavorTest(testtools.TestCase):

    def test_grow_and_same_size_pass(self):
        for root_gb in (10, 20):
            migrate.check_new_flavor(_flavor(), _flavor(root_gb=root_gb,
                                                        vcpus=8), _image())

    def test_shrinking_the_root_disk(self):
        self.assertIn('unable to shrink the root disk from 10 GB to 5 GB',
                      _refused(_flavor(), _flavor(root_gb=5)))

    def test_changing_ephemeral_or_swap(self):
        self.assertIn('changes ephemeral_gb from 0 GB to 5 GB',
                      _refused(_flavor(), _flavor(ephemeral_gb=5)))
        self.assertIn('changes swap from 0 MB to 512 MB',
                      _refused(_flavor(), _flavor(swap=512)))

    def test_bad_extra_spec(self):
        self.assertIn('quota:cpu_limit',
                      _refused(_flavor(), _flavor(extra_specs={
                          'quota:cpu_limit': 'lots'})))

    def test_device_limits_are_kept(self):
        self.assertIn('changes quota:vif_* from those of flavor m1.small',
                      _refused(_flavor(), _flavor(extra_specs={
                          'quota:vif_limit': '100'})))
        self.assertIn('changes quota:disk_io_*',
                      _refused(_flavor(extra_specs={
                          'quota:disk_io_limit': '100'}), _flavor()))
        # The same device limits (and new CPU or memory ones) pass.
        same = {'quota:disk_io_limit': '100'}
        migrate.check_new_flavor(
            _flavor(extra_specs=same),
            _flavor(extra_specs=dict(same, **{'quota:cpu_limit': '10'})),
            _image())

    def test_other_hardware_version(self):
        self.assertIn('virtual hardware version vmx-19',
                      _refused(_flavor(), _flavor(extra_specs={
                          'vmware:hw_version': 'vmx-19'})))


class SpecsTest(testtools.TestCase):

    def test_flavor_spec_resets_unset_allocations(self):
        spec = migrate.flavor_spec(
            objects.Instance(uuid=uuids.instance, display_name='x',
                             project_id='p', user_id='u'),
            _flavor(vcpus=4, memory_mb=4096,
                    extra_specs={'quota:memory_limit': '2048',
                                 'hw:cpu_sockets': '2'}), _image(),
            package='test')
        self.assertEqual((4, 2, 4096), (spec.numCPUs, spec.numCoresPerSocket,
                                        spec.memoryMB))
        self.assertEqual(2048, spec.memoryAllocation.limit)
        self.assertEqual((-1, 0, 'normal'),
                         (spec.cpuAllocation.limit,
                          spec.cpuAllocation.reservation,
                          spec.cpuAllocation.shares.level))

    def test_recorded_config_restores_exactly(self):
        cpu = vim.ResourceAllocationInfo(
            limit=1000, reservation=10,
            shares=vim.SharesInfo(level='custom', shares=300))
        item = {'config.annotation': 'flavor:name:m1.small\n',
                'config.hardware.numCPU': 3,
                'config.hardware.numCoresPerSocket': 3,
                'config.hardware.memoryMB': 768,
                'config.cpuAllocation': cpu,
                'config.memoryAllocation': None}
        recorded = migrate.recorded_config(item, 'mig-1')
        spec = migrate.restore_spec(recorded)
        self.assertEqual((3, 3, 768), (spec.numCPUs, spec.numCoresPerSocket,
                                       spec.memoryMB))
        self.assertEqual(migrate._allocation_dict(cpu),
                         migrate._allocation_dict(spec.cpuAllocation))
        self.assertIsNone(spec.memoryAllocation)
        self.assertEqual('flavor:name:m1.small\n', spec.annotation)
        # The record goes with the revert.
        self.assertEqual([(migrate.REVERT_KEY, '')],
                         [(o.key, o.value) for o in spec.extraConfig])

    def test_a_record_of_another_migration_is_stale(self):
        option = vim.option.OptionValue(
            key=migrate.REVERT_KEY, value=migrate.recorded_config({}, 'old'))
        item = {'config.extraConfig["%s"]' % migrate.REVERT_KEY: option}
        self.assertEqual(option.value, migrate.recorded_for(item, 'old'))
        self.assertIsNone(migrate.recorded_for(item, 'new'))
        option.value = 'not json'
        self.assertIsNone(migrate.recorded_for(item, 'old'))


VOLUME_ID = '9b1c4a3e-0f7d-4c55-8f8e-2b1e6f3a9d10'


def _disk(key, kb, parent=None):
    backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
        fileName='[ds] u/%d.vmdk' % key)
    if parent:
        backing.parent = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName=parent)
    return vim.vm.device.VirtualDisk(key=key, capacityInKB=kb,
                                     backing=backing)


class RootDiskTest(testtools.TestCase):

    def test_grows_the_first_disk_only_when_smaller(self):
        devices = [_disk(2001, 5 * 1024 ** 2), _disk(2000, 1024 ** 2)]
        root = migrate.root_disk({'config.hardware.device': devices})
        change = migrate.grow_root_change(root, 2)
        self.assertEqual(2000, change.device.key)
        self.assertEqual((2 * 1024 ** 2, 2 * 1024 ** 3),
                         (change.device.capacityInKB,
                          change.device.capacityInBytes))
        self.assertIsNone(migrate.grow_root_change(root, 1))
        self.assertIsNone(migrate.grow_root_change(root, 0))
        self.assertIsNone(migrate.grow_root_change(None, 2))

    def test_a_volume_disk_with_a_lower_key_never_grows(self):
        volume, root = _disk(2000, 1024 ** 2), _disk(2001, 1024 ** 2)
        marker = vim.option.OptionValue(key='volume-%s' % VOLUME_ID,
                                        value=volume.backing.fileName)
        item = {'config.hardware.device': [volume, root],
                'config.extraConfig["volume-%s"]' % VOLUME_ID: marker}
        self.assertEqual(2001, migrate.grow_root_change(
            migrate.root_disk(item), 2).device.key)
        self.assertEqual(1024 ** 2, volume.capacityInKB)
        # Booted from that volume: nothing grows.
        item['config.hardware.device'] = [volume]
        self.assertIsNone(migrate.grow_root_change(
            migrate.root_disk(item), 2))


class HostForTest(testtools.TestCase):
    """With DRS off, vSphere needs the host: the first usable one."""

    def _ops(self, drs_enabled):
        ops = migrate.MigrateOps(*[mock.Mock()] * 9)
        config = mock.Mock(drsConfig=mock.Mock(enabled=drs_enabled))
        self.useFixture(_Patch('nova_vmware_ext.vsphere.props.retrieve_one',
                               return_value={'configurationEx': config}))
        return ops

    def _inventory(self, *usable):
        hosts = [mock.Mock(usable=u, ref='host-%d' % i)
                 for i, u in enumerate(usable)]
        return mock.Mock(hosts=hosts, cluster_name='C1')

    def test_drs_picks(self):
        self.assertIsNone(self._ops(True)._host_for(self._inventory(True)))

    def test_without_drs_the_first_usable_host(self):
        self.assertEqual('host-1', self._ops(False)._host_for(
            self._inventory(False, True)))

    def test_without_drs_and_no_usable_host(self):
        error = self.assertRaises(
            exception.ComputeResourcesUnavailable,
            self._ops(False)._host_for, self._inventory(False))
        self.assertIn('cluster C1 has no connected host', str(error))


class FindTest(testtools.TestCase):

    def _ops(self, here, anywhere):
        session, instances, inventory = mock.Mock(), mock.Mock(), mock.Mock()
        instances.find.return_value = here
        session.content.searchIndex.FindByUuid.return_value = anywhere
        inventory.get.return_value.cluster_name = 'C1'
        return migrate.MigrateOps(session, mock.Mock(), inventory,
                                  mock.Mock(), mock.Mock(), instances,
                                  mock.Mock(), mock.Mock(), 'n')

    def test_another_datacenter_is_refused_by_name(self):
        instance = objects.Instance(uuid=uuids.instance)
        error = self.assertRaises(
            exception.ResizeError, self._ops(None, vim.VirtualMachine(
                'vm-9'))._vm, instance)
        self.assertIn('VM vm-9 of instance %s is in another datacenter '
                      'than cluster C1' % uuids.instance, str(error))

    def test_nowhere_is_not_found(self):
        self.assertRaises(exception.InstanceNotFound,
                          self._ops(None, None)._vm,
                          objects.Instance(uuid=uuids.instance))


class _Patch(object):
    """A fixture patching one name (fixtures.MockPatch, kept local)."""

    def __new__(cls, target, **kwargs):
        import fixtures
        return fixtures.MockPatch(target, **kwargs)
