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

"""Live migration (vMotion) between two clusters of one vcsim.

Two drivers, as two nova-computes: the source on DC0_C0 (every datastore
allowed), the destination on DC0_C1 ([vmware] datastore_regex LocalDS_1).
The calls follow Nova's order (destination check, source check,
pre_live_migration at the destination, live_migration at the source,
post_live_migration_at_destination); where the VM ends is read over the
test's own pyvmomi connection. vcsim runs a vMotion over
VMOTION_SECONDS (tools/vcsim/vm_vmotion.go), so progress and abort are
seen mid-way.
"""

import threading
import time
from unittest import mock

import fixtures
from nova import context as nova_context
from nova import exception
from nova.network import model as network_model
from nova import objects
from nova.virt import fake
from oslo_utils import uuidutils
from pyVmomi import vim

from nova_vmware_ext.compute import instances as vinstances
from nova_vmware_ext import driver as vc_driver
from tests.functional import driver_base

VMOTION_SECONDS = 2
MAC = '00:50:56:aa:bb:01'
MB = 1024 * 1024


def dvs_vif(port_id, portgroup):
    return network_model.VIF(
        id=port_id, address=MAC, type=network_model.VIF_TYPE_DVS,
        vnic_type=network_model.VNIC_TYPE_NORMAL,
        details={'dvs_port_group_name': portgroup},
        network=network_model.Network(id='net-1', bridge=portgroup))


class LiveMigrationTest(driver_base.DriverTestCase):

    VCSIM_SHAPE = dict(clusters=2, hosts=2, datastores=2, portgroups=2,
                       extra_args=('-vmotion-duration',
                                   '%ds' % VMOTION_SECONDS))
    DEST_CLUSTER = 'DC0_C1'

    def setUp(self):
        super().setUp()
        self.context = nova_context.get_admin_context()
        self.source = self.driver
        self.flags.config(group='vmware', cluster_name=self.DEST_CLUSTER,
                          datastore_regex='^LocalDS_1$')
        self.dest = vc_driver.VCDriver(fake.FakeVirtAPI())
        self.dest.init_host('compute-dest')
        self.addCleanup(self.dest.cleanup_host, 'compute-dest')
        self.flags.config(group='vmware', cluster_name=self.CLUSTER,
                          datastore_regex=None)
        self.post = mock.Mock()
        self.recover = mock.Mock()

    # vSphere, read independently

    def by_name(self, vimtype, name):
        for moid, item in self.query(vimtype, ['name']).items():
            if item['name'] == name:
                return vimtype(moid, self.si._stub)
        raise AssertionError('no %s named %s' % (vimtype.__name__, name))

    def portgroup(self, name):
        pg = self.by_name(vim.dvs.DistributedVirtualPortgroup, name)
        return pg.key, pg.config.distributedVirtualSwitch.uuid

    def where(self, instance):
        vm = self.vm_of(instance.uuid, [
            'runtime.host', 'resourcePool', 'datastore',
            'config.files.vmPathName', 'config.hardware.device'])
        host = vim.HostSystem(vm['runtime.host']._moId, self.si._stub)
        nic = [d for d in vm['config.hardware.device']
               if isinstance(d, vim.vm.device.VirtualEthernetCard)][0]
        return {
            'moid': vm['moid'],
            'cluster': host.parent.name,
            'pool': vm['resourcePool']._moId,
            'host': host._moId,
            'datastores': sorted(vim.Datastore(ds._moId, self.si._stub).name
                                 for ds in vm['datastore']),
            'vmx': vm['config.files.vmPathName'],
            'portgroup': nic.backing.port.portgroupKey,
        }

    def root_pool(self, cluster):
        return self.by_name(vim.ClusterComputeResource,
                            cluster).resourcePool._moId

    # The instance: a running VM on LocalDS_0 of DC0_C0, one NIC on DVPG0

    def running_instance(self):
        key, switch = self.portgroup('DC0_DVPG0')
        uuid = uuidutils.generate_uuid()
        content = self.si.RetrieveContent()
        dc = content.rootFolder.childEntity[0]
        cluster = self.by_name(vim.ClusterComputeResource, self.CLUSTER)
        nic = vim.vm.device.VirtualVmxnet3(
            key=-1, addressType='manual', macAddress=MAC,
            backing=vim.vm.device.VirtualEthernetCard.
            DistributedVirtualPortBackingInfo(port=vim.dvs.PortConnection(
                switchUuid=switch, portgroupKey=key)))
        spec = vim.vm.ConfigSpec(
            name=uuid, guestId='otherGuest', numCPUs=1, memoryMB=64,
            instanceUuid=uuid, files=vim.vm.FileInfo(vmPathName='[LocalDS_0]'),
            extraConfig=[vim.option.OptionValue(key=vinstances.UUID_KEY,
                                                value=uuid)],
            managedBy=vim.ext.ManagedByInfo(
                extensionKey=vinstances.EXTENSION_KEY,
                type=vinstances.EXTENSION_TYPE_INSTANCE),
            deviceChange=[vim.vm.device.VirtualDeviceSpec(operation='add',
                                                          device=nic)])
        vm = driver_base.wait_task(dc.vmFolder.CreateVM_Task(
            spec, cluster.resourcePool))
        self.addCleanup(driver_base.destroy_vm, vm)
        driver_base.wait_task(vm.PowerOnVM_Task())
        instance = objects.Instance(
            uuid=uuid, host='compute-test', node=self.source.
            get_available_nodes()[0], info_cache=objects.InstanceInfoCache(
                network_info=network_model.NetworkInfo(
                    [dvs_vif('port-1', 'DC0_DVPG0')])))
        self.saved_progress = []
        instance.save = mock.Mock(side_effect=lambda: self.saved_progress
                                  .append(instance.progress))
        return instance

    def compute_info(self, drv):
        return {'hypervisor_hostname': drv.get_available_nodes()[0]}

    def checked(self, instance, dest_vifs=True):
        """Nova's checks and pre_live_migration: the migrate data."""
        data = self.dest.check_can_live_migrate_destination(
            self.context, instance, self.compute_info(self.source),
            self.compute_info(self.dest))
        data = self.source.check_can_live_migrate_source(
            self.context, instance, data, block_device_info={})
        if dest_vifs:
            vif = objects.VIFMigrateData(
                port_id='port-1', vnic_type='normal', vif_type='dvs',
                vif_details={'dvs_port_group_name': 'DC0_DVPG1'},
                profile={}, host='compute-dest',
                source_vif=instance.get_network_info()[0])
            data.vifs = [vif]
        data.migration = objects.Migration(id=1)
        self.migration_saves = []
        data.migration.save = mock.Mock(side_effect=lambda: (
            self.migration_saves.append((data.migration.memory_processed,
                                         data.migration.memory_total))))
        return self.dest.pre_live_migration(
            self.context, instance, None, instance.get_network_info(), None,
            data)

    def live_migrate(self, instance, data):
        self.source.live_migration(self.context, instance, 'compute-dest',
                                   self.post, self.recover,
                                   migrate_data=data)

    # Tests

    def test_migrate_data_is_nova_s_and_survives_the_wire(self):
        instance = self.running_instance()
        data = self.dest.check_can_live_migrate_destination(
            self.context, instance, self.compute_info(self.source),
            self.compute_info(self.dest))
        self.assertIsInstance(data, objects.VMwareLiveMigrateData)
        self.assertEqual(('DC0_C1', '^LocalDS_1$'),
                         (data.cluster_name, data.datastore_regex))
        # The source has no datastore_regex: '' (the field is not
        # nullable), and the object still goes over RPC.
        back = self.source.check_can_live_migrate_destination(
            self.context, instance, self.compute_info(self.dest),
            self.compute_info(self.source))
        self.assertEqual('', back.datastore_regex)
        wire = objects.VMwareLiveMigrateData.obj_from_primitive(
            back.obj_to_primitive())
        self.assertEqual(('DC0_C0', ''),
                         (wire.cluster_name, wire.datastore_regex))

    def test_live_migration_moves_the_vm_to_the_destination(self):
        instance = self.running_instance()
        before = self.where(instance)
        self.assertEqual('DC0_C0', before['cluster'])
        data = self.checked(instance)

        self.live_migrate(instance, data)

        self.post.assert_called_once_with(self.context, instance,
                                          'compute-dest', False, data)
        self.recover.assert_not_called()
        after = self.where(instance)
        self.assertEqual(before['moid'], after['moid'])  # the same VM
        self.assertEqual('DC0_C1', after['cluster'])
        self.assertEqual(self.root_pool('DC0_C1'), after['pool'])
        self.assertEqual(['LocalDS_1'], after['datastores'])
        self.assertTrue(after['vmx'].startswith('[LocalDS_1] '),
                        after['vmx'])
        self.assertEqual(self.portgroup('DC0_DVPG1')[0], after['portgroup'])
        # Progress: the driver wrote it as vCenter reported it.
        self.assertEqual(100, self.saved_progress[-1])
        self.assertTrue(any(0 < p < 100 for p in self.saved_progress),
                        self.saved_progress)
        self.assertEqual((64 * MB, 64 * MB), self.migration_saves[-1])
        self.assertIsNone(data.migration.memory_remaining)
        # No disk: nothing counted (null, as Nova's API shows it).
        self.assertIsNone(data.migration.disk_total)

        # Nova's post steps: the destination adopts the VM.
        self.source.post_live_migration_at_source(self.context, instance,
                                                  [])
        self.dest.post_live_migration_at_destination(self.context, instance,
                                                     [])
        self.assertIn(instance.uuid, self.dest.list_instances())
        self.assertNotIn(instance.uuid, self.source.list_instances())
        self.assertEqual(after['moid'],
                         self.dest.get_info(instance).internal_id)

    def test_without_drs_the_driver_names_a_host(self):
        instance = self.running_instance()
        data = self.checked(instance)
        ops = self.source._host.live_migration
        picked = []
        real = ops._pick_host
        # vcsim 0.24's clusters have DRS on, and its
        # ReconfigureComputeResource_Task ignores drsConfig: say it is off.
        self.useFixture(fixtures.MockPatchObject(ops, '_drs_enabled',
                                                 return_value=False))
        with mock.patch.object(ops, '_pick_host', side_effect=lambda *a: (
                picked.append(real(*a)) or picked[-1])):
            self.live_migrate(instance, data)

        self.post.assert_called_once()
        host = picked[0]
        self.assertIsNotNone(host)
        self.assertEqual(host._moId, self.where(instance)['host'])
        host = vim.HostSystem(host._moId, self.si._stub)
        self.assertEqual('DC0_C1', host.parent.name)
        self.assertIn('LocalDS_1', [ds.name for ds in host.datastore])

    def test_abort_cancels_the_vmotion_mid_way(self):
        instance = self.running_instance()
        before = self.where(instance)
        data = self.checked(instance)
        thread = threading.Thread(target=self.live_migrate,
                                  args=(instance, data))
        thread.start()
        deadline = time.monotonic() + VMOTION_SECONDS * 5
        while not any(0 < (p or 0) < 100 for p in self.saved_progress):
            self.assertLess(time.monotonic(), deadline, 'no progress')
            time.sleep(0.05)

        self.source.live_migration_abort(instance)
        thread.join(VMOTION_SECONDS * 5)

        self.assertFalse(thread.is_alive())
        self.post.assert_not_called()
        self.recover.assert_called_once_with(
            self.context, instance, 'compute-dest', data,
            migration_status='cancelled')
        self.assertEqual(before, self.where(instance))
        # Nothing runs any more: a second abort has nothing to cancel.
        self.source.live_migration_abort(instance)

    def test_vmotion_over_the_task_timeout_is_cancelled(self):
        instance = self.running_instance()
        before = self.where(instance)
        data = self.checked(instance)
        # [vmware_ext] task_timeout shorter than the vMotion.
        self.source._host.live_migration.task_timeout = 1

        self.live_migrate(instance, data)

        self.post.assert_not_called()
        # A failure, not the operator's cancel.
        self.recover.assert_called_once_with(self.context, instance,
                                             'compute-dest', data)
        self.assertEqual(before, self.where(instance))

    def test_failed_vmotion_recovers_and_keeps_the_vm(self):
        instance = self.running_instance()
        before = self.where(instance)
        data = self.checked(instance)
        self.vcsim.inject('RelocateVM_Task', action='task_error',
                          fault='MigrationFault')
        self.addCleanup(self.vcsim.clear_faults)

        self.live_migrate(instance, data)

        self.post.assert_not_called()
        self.recover.assert_called_once_with(self.context, instance,
                                             'compute-dest', data)
        self.assertEqual(before, self.where(instance))

    def test_progress_lost_still_waits_for_the_vmotion(self):
        instance = self.running_instance()
        data = self.checked(instance)
        # The progress collector cannot be made: the driver still waits
        # for the task's end instead of rolling back a moving VM.
        self.vcsim.inject('CreatePropertyCollector', fault='SystemError')
        self.addCleanup(self.vcsim.clear_faults)

        self.live_migrate(instance, data)

        self.post.assert_called_once()
        self.recover.assert_not_called()
        self.assertEqual('DC0_C1', self.where(instance)['cluster'])
        self.assertEqual([100], self.saved_progress)

    def test_destination_rollback_and_cleanup_never_delete_the_vm(self):
        instance = self.running_instance()
        before = self.where(instance)
        data = self.checked(instance)
        self.dest.rollback_live_migration_at_destination(
            self.context, instance, [], {}, destroy_disks=True,
            migrate_data=data)
        self.dest.cleanup(self.context, instance, [], migrate_data=data)
        self.assertEqual(before, self.where(instance))

    # Refusals

    def test_source_on_another_vcenter_is_refused(self):
        instance = self.running_instance()
        cluster = self.source.get_available_nodes()[0].split('.')[0]
        for node in ('%s.other-vcenter-uuid' % cluster, 'not-a-vmware-node'):
            raised = self.assertRaises(
                exception.MigrationPreCheckError,
                self.dest.check_can_live_migrate_destination, self.context,
                instance, {'hypervisor_hostname': node},
                self.compute_info(self.dest))
            self.assertIn('between vCenters is not supported',
                          raised.format_message())

    def test_instance_with_volumes_is_refused(self):
        instance = self.running_instance()
        data = self.dest.check_can_live_migrate_destination(
            self.context, instance, self.compute_info(self.source),
            self.compute_info(self.dest))
        raised = self.assertRaises(
            exception.MigrationPreCheckError,
            self.source.check_can_live_migrate_source, self.context,
            instance, data, block_device_info={'block_device_mapping': [
                {'mount_device': '/dev/sdb', 'connection_info': {}}]})
        self.assertIn('volumes', raised.format_message())
        # The destination refuses them too, before anything moves.
        raised = self.assertRaises(
            exception.MigrationPreCheckError, self.dest.pre_live_migration,
            self.context, instance, {'block_device_mapping': [
                {'mount_device': '/dev/sdb', 'connection_info': {}}]},
            instance.get_network_info(), None, data)
        self.assertIn('volumes', raised.format_message())

    def test_port_on_a_network_the_destination_lacks_is_refused(self):
        instance = self.running_instance()
        before = self.where(instance)
        data = self.checked(instance)
        data.vifs[0].vif_details = {'dvs_port_group_name': 'no-such-pg'}
        raised = self.assertRaises(
            exception.NetworkNotFoundForBridge, self.dest.pre_live_migration,
            self.context, instance, None, instance.get_network_info(), None,
            data)
        self.assertIn('no-such-pg', raised.format_message())
        self.assertIn('DC0_C1', raised.format_message())
        self.assertEqual(before, self.where(instance))

    def test_unknown_destination_cluster_is_refused(self):
        instance = self.running_instance()
        data = objects.VMwareLiveMigrateData(cluster_name='no-such-cluster',
                                             datastore_regex='')
        raised = self.assertRaises(
            exception.MigrationPreCheckError,
            self.source.check_can_live_migrate_source, self.context,
            instance, data, block_device_info=None)
        self.assertIn('no-such-cluster', raised.format_message())

    def test_other_drivers_migrate_data_is_refused(self):
        instance = self.running_instance()
        before = self.where(instance)
        data = objects.LibvirtLiveMigrateData(
            bdms=[], block_migration=False,
            serial_listen_addr='127.0.0.1', serial_listen_ports=[1234])
        self.assertRaises(NotImplementedError, self.live_migrate, instance,
                          data)
        self.assertRaises(exception.MigrationPreCheckError,
                          self.source.check_can_live_migrate_source,
                          self.context, instance, data)
        self.post.assert_not_called()
        self.recover.assert_not_called()
        self.assertEqual(before, self.where(instance))

    def test_force_complete_is_not_supported(self):
        instance = self.running_instance()
        self.assertRaises(NotImplementedError,
                          self.source.live_migration_force_complete,
                          instance)
