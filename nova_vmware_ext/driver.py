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
        supports_migrate_to_same_host=True,
        supports_image_type_vmdk=True,
        supports_image_type_iso=True,
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
        self._host.destroyer.destroy(instance, destroy_disks=destroy_disks)

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

    # Networking is plugged by vCenter when the VM's NICs are created.

    def plug_vifs(self, instance, network_info):
        pass

    def unplug_vifs(self, instance, network_info):
        pass
