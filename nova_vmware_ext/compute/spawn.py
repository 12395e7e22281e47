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

"""Spawn: from Glance image and flavor to a running VM in the fewest calls.

1. Validate image properties and flavor extra specs (no vCenter call).
2. Pick the usable datastore with the most free space (among those the
   instance's storage policy allows, compute/storage_policy.py).
3. Make sure the image is in that datastore's cache (once per datastore,
   shared with every compute), grown to the flavor's root disk when the
   root disk is a linked clone of it, or copied into the instance's folder
   (compute/root_disks.py).
4. One CreateVM_Task with every device (controllers, root disk as a child
   of the cached disk, ephemeral and swap disks, CD-ROMs, NICs), then
   PowerOnVM_Task. From a warm cache that is four round trips.
Any failure removes what this spawn created and raises a Nova exception
naming the vSphere cause.
"""

import dataclasses
import os
import tempfile

from nova.api.metadata import base as instance_metadata
from nova import exception
from nova.image import glance
from nova.network import neutron
from nova.virt import configdrive
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import units
from oslo_vmware import exceptions as vexc

from nova_vmware_ext.compute import instances as vinstances
from nova_vmware_ext.compute import networks as vnetworks
from nova_vmware_ext.compute import root_disks
from nova_vmware_ext.compute import specs
from nova_vmware_ext.compute import storage_policy
from nova_vmware_ext.compute import vifs
from nova_vmware_ext.compute import vm_config
from nova_vmware_ext.compute import volumes
from nova_vmware_ext.images import fetch
from nova_vmware_ext.vsphere import files as vfiles
from nova_vmware_ext.vsphere import transfer

LOG = logging.getLogger(__name__)

CONFIG_DRIVE = 'configdrive.iso'


class SpawnOps(object):
    """Builds VMs for instances.

    :param inventory: vsphere.inventory.Inventory of the cluster.
    :param resources: compute.resources.ClusterResources, which picks the
        datastore.
    :param folders: compute.folders.ProjectFolders, the VM folders.
    :param instances: compute.instances.Instances, which VM is which.
    :param root_disks: compute.root_disks.RootDisks, the image cache side.
    :param files: vsphere.files.FileManager of the cluster's datacenter.
    :param http: vsphere.transfer.HttpClient for datastore uploads.
    :param integration_bridge: ``[vmware] integration_bridge`` (NSX-MH).
    :param hw_versions: vsphere.environment.HardwareVersions, the hardware
        versions the cluster can create (None: not checked).
    :param image_api: Nova's Glance API.
    :param network_api: Nova's Neutron API (the ports' vnic_index).
    :param server_groups: compute.server_groups.ServerGroupRules, the DRS
        rules of server groups (None: not kept).
    :param consoles: compute.consoles.ConsoleOps, the new VM's consoles
        (VNC port, serial port); None: none.
    :param placement: compute.storage_policy.StoragePlacement, which picks
        the datastore (None: the one with most free space, no policy).
    """

    def __init__(self, session, waiter, inventory, resources, folders,
                 instances, root_disks, files, http, integration_bridge=None,
                 image_api=None, hw_versions=None, network_api=None,
                 server_groups=None, consoles=None, volumes=None,
                 placement=None):
        self.session = session
        self.waiter = waiter
        self.inventory = inventory
        self.resources = resources
        self.folders = folders
        self.instances = instances
        self.root_disks = root_disks
        self.files = files
        self.http = http
        self.integration_bridge = integration_bridge
        self.hw_versions = hw_versions
        self.image_api = image_api or glance.API()
        self.network_api = network_api or neutron.API()
        self.server_groups = server_groups
        self.consoles = consoles
        self.volumes = volumes
        self.placement = placement or storage_policy.StoragePlacement(
            inventory, resources)

    # The operation

    def spawn(self, context, instance, image_meta, injected_files,
              admin_password, network_info, block_device_info,
              power_on=True):
        # Every flavor, image and NIC check, before any vCenter call.
        image = specs.validate(
            instance.flavor, image_meta, network_info,
            hw_versions=self.hw_versions.get() if self.hw_versions else None,
            integration_bridge=self.integration_bridge)
        boot_volume = None
        if self.volumes is not None:
            volumes.check_all(block_device_info)
            boot_volume = volumes.root_volume(block_device_info)
        try:
            networks = self._networks(network_info, image)
            placement = self.placement.choose(instance.flavor, image)
            datastore = placement.datastore
            created = _Created(self.waiter, self.instances, self.files,
                               instance, vfiles.DatastorePath(datastore.name,
                                                              instance.uuid))
            consoles = (self.consoles.for_spawn(instance)
                        if self.consoles is not None else None)
            try:
                vm = self._build(context, instance, image, image_meta,
                                 injected_files, admin_password,
                                 network_info, networks, placement, created,
                                 consoles, boot_volume is not None)
                if self.volumes is not None:
                    self.volumes.attach_all(instance, block_device_info)
                vifs.update_vnic_indexes(self.network_api, context, instance,
                                         network_info)
                # Before power on: DRS places the VM by its group's rule.
                if self.server_groups is not None:
                    self.server_groups.member_added(context, instance)
                if power_on:
                    self.waiter.wait(vm.PowerOnVM_Task(),
                                     'power on of instance %s' % instance.uuid)
                    LOG.info('Powered on', instance=instance)
            except Exception:
                # The error that failed the spawn is what Nova sees; what
                # the rollback cannot remove is logged by it.
                with excutils.save_and_reraise_exception():
                    # A volume's disk must not go with the failed VM.
                    if (created.vm is None or self.volumes is None or
                            self.volumes.detach_all_quietly(
                                instance, block_device_info)):
                        created.undo()
                    if (created.vm is not None and
                            self.server_groups is not None):
                        self.server_groups.member_gone(context, instance)
                    if consoles is not None:
                        self.consoles.release(instance, consoles)
        except exception.NovaException:
            raise
        except Exception as exc:
            raise exception.InstanceDeployFailure(
                reason='vCenter could not build the VM: %s' % exc) from exc

    def _networks(self, network_info, image):
        """The cluster's networks for the instance's ports, matched before
        anything is made: ({port id: NetworkRef}, {port id: vim.Network}).
        """
        nics = specs.nic_specs(network_info, image.vif_model,
                               integration_bridge=self.integration_bridge)
        try:
            return vnetworks.resolve(self.inventory.get(), nics)
        except exception.NetworkNotFoundForBridge:
            # A port group made since we last looked?
            return vnetworks.resolve(self.inventory.refresh(), nics)

    def _build(self, context, instance, image, image_meta, injected_files,
               admin_password, network_info, networks, placement, created,
               consoles=None, boot_from_volume=False):
        """Root disk, config drive and the VM itself; returns the VM.

        A VM booting from a volume gets no root disk here: the volume is
        attached once the VM exists (compute/volumes.py)."""
        datastore = placement.datastore
        folder = created.folder
        root, cdroms = None, []
        if not boot_from_volume:
            source = root_disks.glance_source(self.image_api, context,
                                              image)
            image, source = self.root_disks.open_ova(image_meta, image,
                                                     source, instance)
            limits = fetch.Limits(
                root_disk=instance.flavor.root_gb * units.Gi,
                datastore_free=self.resources.free_space(datastore))
            root, cdroms = self.root_disks.prepare(instance, image, source,
                                                   datastore, limits)
            if not root.create:  # a full copy went into the folder
                created.folder_made = True
        if configdrive.required_by(instance):
            cdroms.append(self._config_drive(
                context, instance, injected_files, admin_password,
                network_info, folder, created))
        spec = specs.machine_spec(
            instance, instance.flavor, image_meta, network_info,
            root_disk=root, image=image, context=context, cdroms=cdroms,
            integration_bridge=self.integration_bridge,
            extra_config=consoles.extra_config if consoles else None,
            serial_ports=consoles.serial_ports if consoles else (),
            storage_profile_id=placement.profile_id)
        resolved, vim_networks = networks
        spec = dataclasses.replace(
            spec.with_networks(resolved),
            name=vinstances.vm_name(instance.display_name, instance.uuid))
        # The VM's files are named after the instance's UUID, as in-tree
        # ([ds] uuid/uuid.vmx), whatever the VM's name.
        config = vm_config.create_spec(
            spec, folder.join('%s.vmx' % instance.uuid),
            networks=vim_networks, managed_by=vinstances.EXTENSION_KEY)

        def refill():
            self.root_disks.forget(root.parent)
            self.root_disks.prepare(instance, image, source, datastore,
                                    limits)
        vm = self._create_vm(instance, config, refill if (
            root is not None and root.parent is not None) else None)
        created.vm = vm
        self.instances.remember(instance.uuid, vm)
        LOG.info('Created VM %(vm)s on datastore %(ds)s from image '
                 '%(image)s%(policy)s', {
                     'vm': vm._moId, 'ds': datastore.name,
                     'image': image.image_id,
                     'policy': ' with storage policy %s' % placement.policy
                     if placement.policy else ''}, instance=instance)
        return vm

    def _create_vm(self, instance, config, refill):
        """CreateVM_Task, retried once after either of two stale states.

        The cached parent disk was aged out by another compute since we saw
        it (FileNotFound): ``refill()`` fills the entry again. The pool or
        folder we remembered was re-created (ManagedObjectNotFound): the
        inventory and folders are resolved again.
        """
        what = 'creation of the VM of instance %s' % instance.uuid
        for attempt in (1, 2):
            inv = self.inventory.get()
            folder = self.folders.instances_folder(instance.project_id)
            try:
                task = folder.CreateVM_Task(config, inv.resource_pool)
                return self.session.bind(self.waiter.wait(task, what))
            except vexc.FileNotFoundException as exc:
                if attempt == 2 or refill is None:
                    raise
                LOG.info('A cached image disk vanished (%s): filling the '
                         'cache again', exc, instance=instance)
                refill()
            except vexc.ManagedObjectNotFoundException as exc:
                if attempt == 2:
                    raise
                LOG.info('vCenter inventory changed (%s): resolving it '
                         'again', exc, instance=instance)
                self.inventory.refresh()
                self.folders.forget()

    def _config_drive(self, context, instance, injected_files,
                      admin_password, network_info, folder, created):
        metadata = instance_metadata.InstanceMetadata(
            instance, content=injected_files, extra_md={
                'admin_pass': admin_password} if admin_password else {},
            network_info=network_info)
        with tempfile.TemporaryDirectory() as tmp:
            iso = os.path.join(tmp, CONFIG_DRIVE)
            with configdrive.ConfigDriveBuilder(instance_md=metadata) as cdb:
                cdb.make_drive(iso)
            size = os.path.getsize(iso)
            created.make_folder()
            target = folder.join(CONFIG_DRIVE)
            url = target.http_url(self.session.host, self.session.port,
                                  self.inventory.get().datacenter_path)
            self.http.put(url, transfer.file_chunks(iso), size,
                          'config drive of instance %s' % instance.uuid)
        return target


class _Created(object):
    """What one spawn made, so that a failure can take it all back."""

    def __init__(self, waiter, instances, files, instance, folder):
        self.waiter = waiter
        self.instances = instances
        self.files = files
        self.instance = instance
        self.folder = folder
        self.folder_made = False
        self.vm = None

    def make_folder(self):
        if self.folder_made:
            return
        self.files.make_directory(self.folder)
        self.folder_made = True

    def undo(self):
        """Remove what the spawn made, as far as vCenter lets us.

        Never raises: what cannot be removed is logged, and the caller
        raises the error that failed the spawn.
        """
        if self.vm is not None and not self._remove_vm():
            return  # its files stay with it, for a later destroy
        try:
            self.files.delete(self.folder, missing_ok=True)
        except Exception as exc:
            LOG.error('Could not remove the folder %(folder)s of the failed '
                      'spawn: %(err)s', {'folder': self.folder, 'err': exc},
                      instance=self.instance)

    def _remove_vm(self):
        """Power off and destroy the VM; False if it could not be."""
        try:
            self.waiter.wait(self.vm.PowerOffVM_Task(),
                             'power off of the failed VM')
        except vexc.VimException:
            pass  # it was not on
        try:
            self.waiter.wait(self.vm.Destroy_Task(),
                             'removal of the failed VM')
        except Exception as exc:
            LOG.error('Could not remove VM %(vm)s of the failed spawn (it '
                      'is left for destroy): %(err)s',
                      {'vm': self.vm._moId, 'err': exc},
                      instance=self.instance)
            return False
        self.instances.removed(self.instance.uuid, self.vm)
        return True
