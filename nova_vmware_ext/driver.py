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

"""VCDriver: the Nova compute driver facade for one vCenter cluster.

One short method per Nova call, each delegating to ``compute/``; no vSphere
calls here. Every public method goes through the exception boundary of
``compute/errors.py``, so Nova sees only its own exceptions. Load it with::

    [DEFAULT]
    compute_driver = vmware_ext.driver.VCDriver
"""

import nova.conf
from nova.virt import driver
from oslo_log import log as logging

from nova_vmware_ext.compute import errors
from nova_vmware_ext.compute import host as compute_host
from nova_vmware_ext.compute import resources

LOG = logging.getLogger(__name__)
CONF = nova.conf.CONF


@errors.convert_exceptions
class VCDriver(driver.ComputeDriver):
    """A vCenter cluster as one Nova compute node."""

    capabilities = dict(
        driver.ComputeDriver.capabilities,
        has_imagecache=True,
        # COMPUTE_SAME_HOST_COLD_MIGRATE: a node is a cluster, and a cold
        # migration or resize within it only reconfigures the VM (DRS
        # places it); Nova still asks the operator's
        # allow_resize_to_same_host for a resize.
        supports_migrate_to_same_host=True,
        supports_image_type_vmdk=True,
        supports_image_type_iso=True,
        # Converted to VMDK with qemu-img into the image cache.
        supports_image_type_qcow2=True,
        supports_image_type_raw=True,
        supports_image_type_vhd=True,
        supports_image_type_vhdx=True,
        supports_image_type_vdi=True,
        supports_attach_interface=True,
        # Cinder's vmdk and vstorageobject volumes (compute/volumes.py).
        supports_extend_volume=True,
    )

    def __init__(self, virtapi):
        super().__init__(virtapi)
        # Connecting waits for init_host: loading the driver (and Nova's
        # tooling that only inspects it) needs no vCenter.
        self._host = compute_host.Host(emit_event=self.emit_event)

    # Host and node

    def init_host(self, host):
        self._host.connect()

    def cleanup_host(self, host):
        self._host.disconnect()

    def get_available_nodes(self, refresh=False):
        return [self._host.nodename]

    def get_host_ip_addr(self):
        # The address of this nova-compute (migration records), not of
        # vCenter.
        return self._host.conf.my_ip

    def get_available_resource(self, nodename):
        # Nova's resource periodic, outside the resource tracker's lock:
        # where the DRS rules of server groups are repaired.
        self._host.server_groups.reconcile_if_due()
        return resources.available_resource(
            self._host.capacity(), self._host.nodename,
            self._host.session.content.about)

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        current = provider_tree.data(nodename).inventory
        provider_tree.update_inventory(nodename, resources.inventory(
            self._host.capacity(), self._get_allocation_ratios(current)))

    # Instances

    def list_instances(self):
        return self._host.instances.list_uuids()

    def list_instance_uuids(self):
        return self._host.instances.list_uuids()

    def get_num_instances(self):
        return len(self._host.instances.list_uuids())

    def instance_exists(self, instance):
        return self._host.instances.exists(instance)

    def get_info(self, instance, use_cache=True):
        return self._host.instances.info(instance, use_cache=use_cache)

    def spawn(self, context, instance, image_meta, injected_files,
              admin_password, allocations, network_info=None,
              block_device_info=None, power_on=True, accel_info=None):
        self._host.spawner.spawn(context, instance, image_meta,
                                 injected_files, admin_password,
                                 network_info or [], block_device_info,
                                 power_on=power_on)

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        self._host.destroyer.destroy(instance, destroy_disks=destroy_disks,
                                     context=context,
                                     block_device_info=block_device_info)

    def cleanup(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, migrate_data=None, destroy_vifs=True,
                destroy_secrets=True):
        # destroy() removed the VM and its files; nothing is left on the
        # compute host itself.
        pass

    def manage_image_cache(self, context, all_instances):
        # The cache is shared by the computes of a datastore: what is in use
        # is asked of vCenter, not taken from this host's instances.
        if CONF.image_cache.remove_unused_base_images:
            self._host.aging.run(
                CONF.image_cache.remove_unused_original_minimum_age_seconds)

    # Power

    def power_on(self, context, instance, network_info,
                 block_device_info=None, accel_info=None, share_info=None):
        self._host.power.power_on(instance)

    def power_off(self, instance, timeout=0, retry_interval=0):
        self._host.power.power_off(instance, timeout, retry_interval)

    def reboot(self, context, instance, network_info, reboot_type,
               block_device_info=None, bad_volumes_callback=None,
               accel_info=None, share_info=None):
        self._host.power.reboot(instance, reboot_type)

    def resume_state_on_host_boot(self, context, instance, network_info,
                                  share_info, block_device_info=None):
        self._host.power.resume_state_on_host_boot(instance)

    # Resize and cold migration (compute/migrate.py): the VM is moved and
    # reconfigured, never rebuilt; a same-cluster resize also needs the
    # operator's allow_resize_to_same_host.

    def migrate_disk_and_power_off(self, context, instance, dest, flavor,
                                   network_info, block_device_info=None,
                                   timeout=0, retry_interval=0):
        return self._host.migrator.migrate_disk_and_power_off(
            context, instance, flavor, timeout, retry_interval,
            block_device_info)

    def finish_migration(self, context, migration, instance, disk_info,
                         network_info, image_meta, resize_instance,
                         allocations, block_device_info=None, power_on=True,
                         share_info=None):
        self._host.migrator.finish_migration(
            context, migration, instance, network_info, image_meta, power_on,
            block_device_info)

    def confirm_migration(self, context, migration, instance, network_info):
        self._host.migrator.confirm_migration(context, migration, instance)

    def finish_revert_migration(self, context, instance, network_info,
                                migration, block_device_info=None,
                                power_on=True, share_info=None):
        self._host.migrator.finish_revert_migration(
            context, instance, network_info, migration, power_on,
            block_device_info)

    # Suspend, rescue, diagnostics. vSphere has no pause: pause and unpause
    # stay ComputeDriver's NotImplementedError, as in-tree (the compute
    # manager records the fault and leaves the server ACTIVE).

    def suspend(self, context, instance):
        self._host.suspender.suspend(instance)

    def resume(self, context, instance, network_info, block_device_info=None,
               share_info=None):
        self._host.suspender.resume(instance)

    def rescue(self, context, instance, network_info, image_meta,
               rescue_password, block_device_info, share_info):
        self._host.rescuer.rescue(context, instance, image_meta,
                                  block_device_info)

    def unrescue(self, context, instance):
        self._host.rescuer.unrescue(instance)

    def poll_rebooting_instances(self, timeout, instances):
        self._host.stuck_reboots.reboot_hard(timeout, instances)

    def get_diagnostics(self, instance):
        return self._host.diagnostics.get_diagnostics(instance)

    def get_instance_diagnostics(self, instance):
        return self._host.diagnostics.get_instance_diagnostics(instance)

    def get_instance_disk_info(self, instance, block_device_info=None):
        return self._host.diagnostics.get_instance_disk_info(instance)

    # Snapshot to Glance: a linked clone of a vSphere snapshot, exported.

    def snapshot(self, context, instance, image_id, update_task_state):
        self._host.snapshots.snapshot(context, instance, image_id,
                                      update_task_state)

    # Networking is plugged by vCenter when the VM's NICs are created.

    def plug_vifs(self, instance, network_info):
        pass

    def unplug_vifs(self, instance, network_info):
        pass

    # Interfaces

    def attach_interface(self, context, instance, image_meta, vif):
        self._host.vifs.attach_interface(context, instance, image_meta, vif)

    def detach_interface(self, context, instance, vif):
        self._host.vifs.detach_interface(context, instance, vif)

    # Live migration (vMotion between clusters): compute/live_migration.py

    def check_can_live_migrate_destination(self, context, instance,
                                           src_compute_info, dst_compute_info,
                                           block_migration=False,
                                           disk_over_commit=False):
        return self._host.live_migration.check_destination(
            instance, src_compute_info)

    def cleanup_live_migration_destination_check(self, context,
                                                 dest_check_data):
        pass  # the destination check reserved nothing

    def check_can_live_migrate_source(self, context, instance,
                                      dest_check_data, block_device_info=None):
        return self._host.live_migration.check_source(
            instance, dest_check_data, block_device_info)

    def pre_live_migration(self, context, instance, block_device_info,
                           network_info, disk_info, migrate_data):
        return self._host.live_migration.pre_live_migration(
            instance, block_device_info, network_info, migrate_data)

    def live_migration(self, context, instance, dest,
                       post_method, recover_method, block_migration=False,
                       migrate_data=None):
        self._host.live_migration.live_migrate(
            context, instance, dest, post_method, recover_method,
            block_migration, migrate_data)

    def live_migration_abort(self, instance):
        self._host.live_migration.abort(instance)

    def live_migration_force_complete(self, instance):
        # As in-tree: vMotion converges by itself (vSphere slows the guest
        # down until the memory copy catches up); there is no pause or
        # post-copy switch to force it.
        raise NotImplementedError('vMotion cannot be forced to complete')

    def post_live_migration_at_source(self, context, instance, network_info):
        self._host.live_migration.post_at_source(context, instance)

    def post_live_migration_at_destination(self, context, instance,
                                           network_info,
                                           block_migration=False,
                                           block_device_info=None):
        self._host.live_migration.post_at_destination(
            context, instance)

    def rollback_live_migration_at_destination(self, context, instance,
                                               network_info,
                                               block_device_info,
                                               destroy_disks=True,
                                               migrate_data=None):
        self._host.live_migration.rollback_at_destination(instance)

    # Volumes (compute/volumes.py): Cinder's vmdk and vstorageobject ones

    def get_volume_connector(self, instance):
        return self._host.volumes.connector(instance)

    def attach_volume(self, context, connection_info, instance, mountpoint,
                      disk_bus=None, device_type=None, encryption=None):
        self._host.volumes.attach(connection_info, instance, encryption)

    def detach_volume(self, context, connection_info, instance, mountpoint,
                      encryption=None):
        self._host.volumes.detach(connection_info, instance)

    def extend_volume(self, context, connection_info, instance,
                      requested_size):
        self._host.volumes.extend(connection_info, instance, requested_size)

    def swap_volume(self, context, old_connection_info, new_connection_info,
                    instance, mountpoint, resize_to):
        # As in-tree: Cinder's volume migration and retype of an attached
        # volume need the guest's data copied from disk to disk while it
        # runs, which vSphere does only by Storage vMotion of whole VMs.
        raise NotImplementedError('swapping an attached volume is not '
                                  'supported: detach it and attach the '
                                  'other')

    # Consoles (compute/consoles.py)

    def get_mks_console(self, context, instance):
        return self._host.consoles.mks(instance)

    def get_vnc_console(self, context, instance):
        return self._host.consoles.vnc(instance)

    def get_serial_console(self, context, instance):
        return self._host.consoles.serial(instance)

    def get_console_output(self, context, instance):
        return self._host.consoles.output(instance)
