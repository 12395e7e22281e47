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

"""Resize and cold migration against vcsim, two drivers on two clusters.

``self.driver`` manages DC0_C0 with datastore LocalDS_0, ``self.dest``
DC0_C1 with LocalDS_1 (vcsim mounts both on every host), so a move changes
cluster, pool, host and datastore. Each test calls the driver methods in
the order Nova's compute manager does and checks the VM over the test's
own connection: the same VM (moid) throughout, never deleted.
"""

from unittest import mock

import fixtures
from nova.compute import task_states
from nova import exception
from nova.network import model as network_model
from nova import objects
from nova.virt import fake
from oslo_utils import uuidutils
from pyVmomi import vim

from nova_vmware_ext.compute import migrate
from nova_vmware_ext import driver as vc_driver
from tests.functional import test_driver_spawn

GiB_KB = 1024 * 1024


class Metadata(object):
    # Nova's InstanceMetadata reads the cell database; the ISO is what
    # matters here.
    def __init__(self, instance, **kwargs):
        self.uuid = instance.uuid

    def metadata_for_config_drive(self):
        yield ('openstack/latest/meta_data.json',
               ('{"uuid": "%s"}' % self.uuid).encode())


class MigrateTest(test_driver_spawn.SpawnTestBase):

    VCSIM_SHAPE = dict(clusters=2, hosts=2, datastores=2, portgroups=1)

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MockPatch(
            'nova.api.metadata.base.InstanceMetadata', Metadata))
        self.start_two_clusters()

    # Helpers

    def start_two_clusters(self, dest=None, source=None):
        """``self.dest``, a compute of cluster DC0_C1 on LocalDS_1, and the
        test's own driver restarted on DC0_C0 and LocalDS_0; ``dest`` and
        ``source`` add [vmware] options to either side."""
        self.flags.config(group='vmware', **dict(
            {'datastore_regex': '^LocalDS_1$', 'cluster_name': 'DC0_C1'},
            **(dest or {})))
        self.dest = vc_driver.VCDriver(fake.FakeVirtAPI())
        self.dest.init_host('compute-dest')
        self.addCleanup(self.dest.cleanup_host, 'compute-dest')
        self.flags.config(group='vmware', **dict(
            {'datastore_regex': '^LocalDS_0$', 'cluster_name': 'DC0_C0'},
            **(source or {})))
        self.restart_driver()
        self.driver._host.spawner.image_api = self.images
        self.source_node = self.driver.get_available_nodes()[0]
        self.dest_node = self.dest.get_available_nodes()[0]

    def where(self, instance):
        vm = self.vm_of(instance.uuid, [
            'runtime.host', 'resourcePool', 'runtime.powerState',
            'config.hardware.numCPU', 'config.hardware.memoryMB',
            'config.cpuAllocation', 'config.memoryAllocation',
            'config.hardware.device', 'config.files.vmPathName',
            'config.extraConfig', 'config.annotation', 'datastore'])
        hosts = self.query(vim.HostSystem, ['parent'])
        clusters = self.query(vim.ClusterComputeResource,
                              ['name', 'resourcePool'])
        datastores = self.query(vim.Datastore, ['name'])
        cluster = clusters[hosts[vm['runtime.host']._moId]['parent']._moId]
        vm['cluster'] = cluster['name']
        vm['in_root_pool'] = (vm['resourcePool']._moId ==
                              cluster['resourcePool']._moId)
        vm['datastores'] = sorted(datastores[d._moId]['name']
                                  for d in vm['datastore'])
        vm['disks'] = self.disks(vm)
        vm['isos'] = [d.backing.fileName for d in vm['config.hardware.device']
                      if isinstance(d, vim.vm.device.VirtualCdrom)]
        vm['keys'] = {o.key: o.value for o in vm['config.extraConfig']}
        return vm

    def nic_info(self):
        return network_model.NetworkInfo([network_model.VIF(
            id=uuidutils.generate_uuid(), address='fa:16:3e:00:00:07',
            type='dvs', details={'dvs_port_group_name': 'DC0_DVPG0'},
            network=network_model.Network(id='net-1', bridge='DC0_DVPG0',
                                          label='private'))])

    def booted(self, network_info=None, **kwargs):
        instance = self.make_instance(root_gb=1, memory_mb=128, vcpus=1,
                                      **kwargs)
        self.spawn(instance, self.flat, network_info=network_info)
        self.addCleanup(self._destroy_anywhere, instance)
        return instance

    def _destroy_anywhere(self, instance):
        instance.task_state = None
        for driver in (self.driver, self.dest):
            driver.destroy(self.context, instance, [])

    def flavor(self, vcpus=2, memory_mb=256, root_gb=2, extra_specs=None):
        return objects.Flavor(
            name='m1.bigger', memory_mb=memory_mb, vcpus=vcpus,
            root_gb=root_gb, ephemeral_gb=0, swap=0, flavorid='43',
            extra_specs=extra_specs or {})

    def migration(self, dest_node=None, source_node=None):
        return objects.Migration(source_node=source_node or self.source_node,
                                 dest_node=dest_node or self.dest_node,
                                 uuid=uuidutils.generate_uuid())

    def resize(self, instance, flavor, dest, migration, network_info=()):
        """Nova's order: source powers off, destination finishes."""
        self.driver.migrate_disk_and_power_off(
            self.context, instance, 'dest-ip', flavor, network_info)
        instance.old_flavor = instance.flavor
        instance.flavor = flavor
        dest.finish_migration(self.context, migration, instance, '',
                              network_info, self.flat, True, {})

    def revert(self, instance, dest, migration, network_info=()):
        instance.task_state = task_states.RESIZE_REVERTING
        dest.destroy(self.context, instance, network_info)
        instance.flavor = instance.old_flavor
        self.driver.finish_revert_migration(self.context, instance,
                                            network_info, migration)
        instance.task_state = None

    # Resize in place

    def test_resize_in_place_grows_and_revert_restores(self):
        instance = self.booted()
        before = self.where(instance)
        self.assertIsNotNone(before['disks'][0].backing.parent)
        migration = self.migration(dest_node=self.source_node)
        self.resize(instance, self.flavor(extra_specs={
            'quota:cpu_limit': '1500', 'quota:memory_reservation': '64',
            'hw:cpu_sockets': '1'}), self.driver, migration)

        after = self.where(instance)
        self.assertEqual(before['moid'], after['moid'])
        self.assertEqual(('DC0_C0', ['LocalDS_0']),
                         (after['cluster'], after['datastores']))
        self.assertEqual((2, 256), (after['config.hardware.numCPU'],
                                    after['config.hardware.memoryMB']))
        self.assertEqual(1500, after['config.cpuAllocation'].limit)
        self.assertEqual(64, after['config.memoryAllocation'].reservation)
        self.assertEqual([2 * GiB_KB], [d.capacityInKB
                                        for d in after['disks']])
        # vSphere extends no child disk: the linked clone was consolidated.
        self.assertIsNone(after['disks'][0].backing.parent)
        self.assertIn(migrate.REVERT_KEY, after['keys'])
        self.assertIn('flavor:name:m1.bigger', after['config.annotation'])
        self.assertEqual('poweredOn', after['runtime.powerState'])

        self.revert(instance, self.driver, migration)
        reverted = self.where(instance)
        self.assertEqual(before['moid'], reverted['moid'])
        self.assertEqual((1, 128), (reverted['config.hardware.numCPU'],
                                    reverted['config.hardware.memoryMB']))
        for name in ('config.cpuAllocation', 'config.memoryAllocation'):
            self.assertEqual(migrate._allocation_dict(before[name]),
                             migrate._allocation_dict(reverted[name]), name)
        # vSphere cannot shrink a disk: the grown root disk stays.
        self.assertEqual([2 * GiB_KB], [d.capacityInKB
                                        for d in reverted['disks']])
        self.assertNotIn(migrate.REVERT_KEY, reverted['keys'])
        self.assertEqual(before['config.annotation'],
                         reverted['config.annotation'])
        self.assertEqual('poweredOn', reverted['runtime.powerState'])

    def test_confirm_keeps_the_vm_and_drops_the_record(self):
        instance = self.booted()
        moid = self.where(instance)['moid']
        migration = self.migration(dest_node=self.source_node)
        self.resize(instance, self.flavor(root_gb=1), self.driver, migration)
        self.driver.confirm_migration(self.context, migration, instance, [])
        vm = self.where(instance)
        self.assertEqual(moid, vm['moid'])
        self.assertEqual(2, vm['config.hardware.numCPU'])
        self.assertNotIn(migrate.REVERT_KEY, vm['keys'])
        # Same root size: the linked clone stays one.
        self.assertIsNotNone(vm['disks'][0].backing.parent)

    def test_shrinking_the_root_disk_is_refused_before_anything(self):
        instance = self.make_instance(root_gb=2)
        self.spawn(instance, self.flat)
        before = self.where(instance)
        self.vcsim.reset_server_calls()
        error = self.assertRaises(
            exception.InstanceFaultRollback,
            self.driver.migrate_disk_and_power_off, self.context, instance,
            'dest-ip', self.flavor(root_gb=1), [])
        self.assertIsInstance(error.inner_exception, exception.ResizeError)
        self.assertIn('unable to shrink the root disk from 2 GB to 1 GB',
                      str(error.inner_exception))
        self.assertEqual({}, self.vcsim.server_calls())
        self.assertEqual('poweredOn',
                         self.where(instance)['runtime.powerState'])
        self.assertEqual(before['disks'][0].capacityInKB,
                         self.where(instance)['disks'][0].capacityInKB)

    # Another cluster

    def test_cold_migration_moves_the_vm_and_revert_moves_it_back(self):
        network_info = self.nic_info()
        instance = self.booted(network_info=network_info, config_drive='True')
        before = self.where(instance)
        self.assertEqual(('DC0_C0', ['LocalDS_0']),
                         (before['cluster'], before['datastores']))
        migration = self.migration()
        self.resize(instance, instance.flavor, self.dest, migration,
                    network_info)

        moved = self.where(instance)
        self.assertEqual(before['moid'], moved['moid'])
        self.assertEqual(('DC0_C1', ['LocalDS_1'], True),
                         (moved['cluster'], moved['datastores'],
                          moved['in_root_pool']))
        self.assertTrue(moved['config.files.vmPathName'].startswith(
            '[LocalDS_1] '), moved['config.files.vmPathName'])
        disk = moved['disks'][0]
        self.assertTrue(disk.backing.fileName.startswith('[LocalDS_1] '))
        # Its parent was in LocalDS_0's image cache: consolidated.
        self.assertIsNone(disk.backing.parent)
        # The config drive moved with the VM.
        self.assertEqual(1, len(moved['isos']))
        self.assertTrue(moved['isos'][0].startswith('[LocalDS_1] '))
        self.assertIsNotNone(self.datastore_file(moved['isos'][0]))
        nics = [d for d in moved['config.hardware.device']
                if isinstance(d, vim.vm.device.VirtualEthernetCard)]
        self.assertEqual(['fa:16:3e:00:00:07'], [n.macAddress for n in nics])
        self.assertIsInstance(
            nics[0].backing, vim.vm.device.VirtualEthernetCard.
            DistributedVirtualPortBackingInfo)
        self.assertEqual([instance.uuid], self.dest.list_instances())
        self.assertEqual([], self.driver.list_instances())
        self.assertEqual('poweredOn', moved['runtime.powerState'])

        self.revert(instance, self.dest, migration, network_info)
        back = self.where(instance)
        self.assertEqual(before['moid'], back['moid'])
        self.assertEqual(('DC0_C0', ['LocalDS_0'], True),
                         (back['cluster'], back['datastores'],
                          back['in_root_pool']))
        self.assertTrue(back['isos'][0].startswith('[LocalDS_0] '))
        self.assertEqual([instance.uuid], self.driver.list_instances())
        self.assertEqual('poweredOn', back['runtime.powerState'])

    def test_resize_to_another_cluster_then_confirm(self):
        instance = self.booted()
        moid = self.where(instance)['moid']
        migration = self.migration()
        self.resize(instance, self.flavor(), self.dest, migration)
        self.driver.confirm_migration(self.context, migration, instance, [])
        vm = self.where(instance)
        self.assertEqual((moid, 'DC0_C1', 2, 256, [2 * GiB_KB]), (
            vm['moid'], vm['cluster'], vm['config.hardware.numCPU'],
            vm['config.hardware.memoryMB'],
            [d.capacityInKB for d in vm['disks']]))
        self.assertNotIn(migrate.REVERT_KEY, vm['keys'])
        # Confirming again once the VM is gone (Nova confirms a resize
        # before it deletes the server) is no error.
        instance.task_state = None
        self.dest.destroy(self.context, instance, [])
        self.driver.confirm_migration(self.context, migration, instance, [])

    def test_a_network_the_destination_lacks_is_refused_before_moving(self):
        instance = self.booted(network_info=self.nic_info())
        elsewhere = self.nic_info()
        elsewhere[0]['details'] = {'dvs_port_group_name': 'no-such-pg'}
        self.driver.migrate_disk_and_power_off(
            self.context, instance, 'dest-ip', instance.flavor, [])
        error = self.assertRaises(
            exception.NetworkNotFoundForBridge, self.dest.finish_migration,
            self.context, self.migration(), instance, '', elsewhere,
            self.flat, True, {})
        self.assertIn('no-such-pg', str(error))
        vm = self.where(instance)
        self.assertEqual(('DC0_C0', ['LocalDS_0']),
                         (vm['cluster'], vm['datastores']))

    def test_a_failed_move_leaves_the_vm_whole_where_it_was(self):
        instance = self.booted()
        before = self.where(instance)
        self.driver.migrate_disk_and_power_off(
            self.context, instance, 'dest-ip', instance.flavor, [])
        self.addCleanup(self.vcsim.clear_faults)
        self.vcsim.inject('RelocateVM_Task', action='task_error',
                          fault='vim.fault.NoDiskSpace',
                          message='LocalDS_1 is full')
        error = self.assertRaises(
            exception.NovaException, self.dest.finish_migration,
            self.context, self.migration(), instance, '', [], self.flat,
            True, {})
        self.assertIn('LocalDS_1 is full', str(error))
        vm = self.where(instance)
        self.assertEqual((before['moid'], 'DC0_C0', ['LocalDS_0'], 1),
                         (vm['moid'], vm['cluster'], vm['datastores'],
                          vm['config.hardware.numCPU']))
        self.assertNotIn(migrate.REVERT_KEY, vm['keys'])
        # Nova's revert on the source then finds it at home.
        instance.old_flavor = instance.flavor
        self.revert(instance, self.dest, self.migration())
        self.assertEqual('poweredOn',
                         self.where(instance)['runtime.powerState'])

    def test_server_group_rules_follow_moved_members(self):
        group = objects.InstanceGroup(
            uuid=uuidutils.generate_uuid(), name='g',
            policy='soft-anti-affinity', members=[], rules={})
        self.useFixture(fixtures.MockPatchObject(
            objects.InstanceGroup, 'get_by_instance_uuid',
            return_value=group))
        self.addCleanup(self.remove_rules)
        a = self.booted()
        group.members = [a.uuid]
        b = self.booted()
        group.members = [a.uuid, b.uuid]
        self.driver._host.server_groups.member_added(self.context, b)
        name = 'nova-' + group.uuid
        self.assertEqual({name: 2}, self.rules_of('DC0_C0'))
        for member in (a, b):
            migration = self.migration()
            self.resize(member, member.flavor, self.dest, migration)
            self.driver.confirm_migration(self.context, migration, member,
                                          [])
            if member is a:  # one member left on each cluster: no rules
                self.assertEqual(({}, {}), (self.rules_of('DC0_C0'),
                                            self.rules_of('DC0_C1')))
        self.assertEqual(({}, {name: 2}), (self.rules_of('DC0_C0'),
                                           self.rules_of('DC0_C1')))

    def rules_of(self, cluster):
        """{rule name: member count} of a cluster, read independently."""
        config = [c['configurationEx'] for c in self.query(
            vim.ClusterComputeResource, ['name', 'configurationEx']).values()
            if c['name'] == cluster][0]
        return {rule.name: len(rule.vm or ()) for rule in config.rule or ()}

    def remove_rules(self):
        from pyVim import task as task_util
        for moid, cluster in self.query(vim.ClusterComputeResource,
                                        ['configurationEx']).items():
            specs = [vim.cluster.RuleSpec(operation='remove',
                                          removeKey=r.key)
                     for r in cluster['configurationEx'].rule or ()]
            if specs:
                task_util.WaitForTask(vim.ClusterComputeResource(
                    moid, self.si._stub).ReconfigureComputeResource_Task(
                        vim.cluster.ConfigSpecEx(rulesSpec=specs),
                        modify=True))

    def test_other_vcenter_is_refused(self):
        instance = self.booted()
        other = 'domain-c99.%s' % uuidutils.generate_uuid()
        error = self.assertRaises(
            exception.ResizeError, self.dest.finish_migration, self.context,
            self.migration(source_node=other), instance, '', [], self.flat,
            True, {})
        self.assertIn('another vCenter', str(error))
        self.assertEqual('DC0_C0', self.where(instance)['cluster'])
        # The source refuses before it powers the VM off.
        instance.migration_context = objects.MigrationContext(
            migration_id=7)
        with mock.patch.object(objects.Migration, 'get_by_id',
                               return_value=self.migration(dest_node=other)):
            error = self.assertRaises(
                exception.InstanceFaultRollback,
                self.driver.migrate_disk_and_power_off, self.context,
                instance, 'dest-ip', instance.flavor, [])
        self.assertIn(other, str(error.inner_exception))
        self.assertEqual('poweredOn',
                         self.where(instance)['runtime.powerState'])

    def test_cleanup_calls_elsewhere_never_delete_the_moved_vm(self):
        instance = self.booted()
        moid = self.where(instance)['moid']
        migration = self.migration()
        self.resize(instance, instance.flavor, self.dest, migration)
        for task_state in (task_states.RESIZE_REVERTING,
                           task_states.RESIZE_MIGRATED,
                           task_states.RESIZE_FINISH):
            instance.task_state = task_state
            # The source (the VM is elsewhere) and, while reverting, the
            # destination too.
            self.driver.destroy(self.context, instance, [])
            self.driver.cleanup(self.context, instance, [])
            if task_state == task_states.RESIZE_REVERTING:
                self.dest.destroy(self.context, instance, [])
            self.assertEqual(moid, self.where(instance)['moid'], task_state)
        instance.task_state = None
