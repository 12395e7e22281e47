"""Spawn: from Glance image and flavor to a running VM in the fewest calls.

1. Validate image properties and flavor extra specs (no vCenter call).
2. Pick the usable datastore with the most free space.
3. Make sure the image is in that datastore's cache (once per datastore,
   shared with every compute), grown to the flavor's root disk when the
   root disk is a linked clone of it, or copied into the instance's folder.
4. One CreateVM_Task with every device (controllers, root disk as a child
   of the cached disk, ephemeral and swap disks, CD-ROMs, NICs), then
   PowerOnVM_Task. From a warm cache that is four round trips.
Any failure removes what this spawn created and raises a Nova exception
naming the vSphere cause.
"""

import os
import tempfile

from nova.api.metadata import base as instance_metadata
from nova import exception
from nova.image import glance
from nova.virt import configdrive
from oslo_log import log as logging
from oslo_utils import units
from oslo_vmware import exceptions as vexc

from nova_vmware_ext.compute import image_meta as vimage
from nova_vmware_ext.compute import instances as vinstances
from nova_vmware_ext.compute import networks as vnetworks
from nova_vmware_ext.compute import specs
from nova_vmware_ext.compute import vm_config
from nova_vmware_ext.images import fetch
from nova_vmware_ext.vsphere import files as vfiles
from nova_vmware_ext.vsphere import transfer

LOG = logging.getLogger(__name__)

CONFIG_DRIVE = 'configdrive.iso'
# Images whose file size is not their disk's size.
_SPARSE_TYPES = (vimage.DISK_TYPE_STREAM_OPTIMIZED, vimage.DISK_TYPE_SPARSE)


class SpawnOps(object):
    """Builds VMs for instances. ``image_api`` is Nova's Glance API."""

    def __init__(self, host, image_api=None):
        self.host = host
        self.image_api = image_api or glance.API()

    @property
    def session(self):
        return self.host.session

    @property
    def _capacities(self):
        """Virtual sizes (bytes) of cache entries, as the fetcher records
        them when it fills an entry and as spawns learn them."""
        return self.host.fetcher.capacities

    # Choices

    def pick_datastore(self):
        """The usable datastore with the most free space (last snapshot)."""
        free = self.host.datastore_free()
        candidates = self.host.inventory.datastores()
        return max(candidates, key=lambda ds: free.get(ds.name,
                                                       ds.free_space))

    def _source(self, context, image):
        def chunks():
            return self.image_api.download(context, image.image_id)
        return fetch.ImageSource(image.image_id, image.size,
                                 image.disk_type, image.adapter_type, chunks)

    def _image_kb(self, context, image, entry):
        """Virtual size of the image's disk in KB."""
        if image.virtual_size:
            return max(image.virtual_size // units.Ki, 1)
        known = self._capacities.get(entry)
        if not known and image.disk_type in _SPARSE_TYPES:
            # Glance did not record the virtual size, and the file holds
            # only the disk's allocated grains: its header has the size.
            known = self._sparse_capacity(context, image)
            if known:
                self._capacities[entry] = known
        return max((known or image.size) // units.Ki, 1)

    def _sparse_capacity(self, context, image):
        """Virtual size in bytes from the image's sparse VMDK header."""
        chunks = iter(self.image_api.download(context, image.image_id))
        head = b''
        try:
            for chunk in chunks:
                head += chunk
                if len(head) >= 512:
                    break
        finally:
            close = getattr(chunks, 'close', None)
            if close is not None:
                close()
        return fetch.sparse_capacity(head)

    def _root_disk(self, context, instance, image, datastore):
        """(RootDisk, [CD-ROM ISO paths]) after filling the cache."""
        cache, fetcher = self.host.cache, self.host.fetcher
        source = self._source(context, image)
        if image.is_iso:
            iso = cache.iso_path(datastore.name, image.image_id)
            cache.ensure(iso, lambda path: fetcher.fill_iso(source, path))
            return specs.RootDisk.blank(), [iso]
        if image.needs_conversion:
            raise exception.ImageUnacceptable(
                image_id=image.image_id,
                reason='disk_format %s must be converted to VMDK, which '
                       'this driver does not do yet; upload a VMDK'
                       % image.disk_format)
        base = cache.disk_path(datastore.name, image.image_id)
        cache.ensure(base, lambda path: fetcher.fill_disk(source, path))
        image_kb = self._image_kb(context, image, base)
        flavor_kb = instance.flavor.root_gb * units.Mi
        if flavor_kb and flavor_kb < image_kb:
            raise exception.FlavorDiskSmallerThanImage(
                flavor_size=flavor_kb * units.Ki,
                image_size=image_kb * units.Ki)
        linked = image.linked_clone
        if linked is None:
            linked = self.host.conf.vmware.use_linked_clone
        if not linked:
            return specs.RootDisk.existing(self._copy_root(
                instance, base, datastore, max(flavor_kb, image_kb))), []
        if not flavor_kb or flavor_kb == image_kb:
            return specs.RootDisk.linked_clone(base,
                                               parent_size_kb=image_kb), []
        # A child disk is as large as its parent: grow a copy of the image
        # to the flavor once, in the cache, for every instance of that size.
        sized = cache.sized_path(datastore.name, image.image_id,
                                 instance.flavor.root_gb)
        cache.ensure(sized, lambda path: self._grow_copy(base, path,
                                                         flavor_kb))
        return specs.RootDisk.linked_clone(sized, parent_size_kb=flavor_kb), []

    def _disks(self):
        return self.session.content.virtualDiskManager

    def _copy_disk(self, source, target, size_kb):
        dc = self.host.inventory.get().datacenter
        waiter = self.host.waiter
        waiter.wait(self._disks().CopyVirtualDisk_Task(
            str(source), dc, str(target), dc, None, False),
            'copy of %s to %s' % (source, target))
        if size_kb > self._capacities.get(source, 0) // units.Ki:
            waiter.wait(self._disks().ExtendVirtualDisk_Task(
                str(target), dc, size_kb, False),
                'extension of %s to %d GB' % (target, size_kb // units.Mi))

    def _grow_copy(self, base, sized, size_kb):
        temp = self.host.cache.temp_folder(sized.datastore,
                                           sized.parent.basename)
        staged = temp.join(sized.basename)
        manager = vfiles.FileManager(self.session, self.host.waiter,
                                     self.host.inventory.get().datacenter)
        try:
            manager.make_directory(temp)
            self._copy_disk(base, staged, size_kb)
            dc = self.host.inventory.get().datacenter
            self.host.waiter.wait(self._disks().MoveVirtualDisk_Task(
                str(staged), dc, str(sized), dc, False),
                'move of %s into the image cache' % staged)
            self._capacities[sized] = size_kb * units.Ki
        finally:
            self.host.cache.discard(temp)

    def _copy_root(self, instance, base, datastore, size_kb):
        folder = vfiles.DatastorePath(datastore.name, instance.uuid)
        target = folder.join('%s.vmdk' % instance.uuid)
        manager = vfiles.FileManager(self.session, self.host.waiter,
                                     self.host.inventory.get().datacenter)
        try:
            manager.make_directory(folder)
        except vexc.FileAlreadyExistsException:
            pass
        self._copy_disk(base, target, size_kb)
        return target

    # The operation

    def spawn(self, context, instance, image_meta, injected_files,
              admin_password, network_info, block_device_info,
              power_on=True):
        image = vimage.from_image_meta(image_meta)
        # Flavor extra specs and NIC bindings are checked before anything
        # is created in vCenter.
        specs.flavor_limits(instance.flavor)
        datastore = self.pick_datastore()
        folder = vfiles.DatastorePath(datastore.name, instance.uuid)
        created = _Created(self.host, instance, folder)
        try:
            root, cdroms = self._root_disk(context, instance, image,
                                           datastore)
            if not root.create:  # a full copy went into the folder
                created.folder_made = True
            if configdrive.required_by(instance):
                cdroms.append(self._config_drive(
                    context, instance, injected_files, admin_password,
                    network_info, folder, created))
            spec = specs.machine_spec(
                instance, instance.flavor, image_meta, network_info,
                root_disk=root, image=image, context=context, cdroms=cdroms,
                integration_bridge=self.host.conf.vmware.integration_bridge)
            try:
                resolved, networks = vnetworks.resolve(
                    self.host.inventory.get(), spec.nics)
            except exception.NetworkNotFoundForBridge:
                # A port group made since we last looked?
                resolved, networks = vnetworks.resolve(
                    self.host.inventory.refresh(), spec.nics)
            spec = spec.with_networks(resolved)
            vm_path = (folder if created.folder_made
                       else vfiles.DatastorePath(datastore.name))
            config = vm_config.create_spec(
                spec, '%s/' % vm_path if created.folder_made else vm_path,
                networks=networks, managed_by=vinstances.EXTENSION_KEY)

            def refill():
                self.host.cache.forget(root.parent)
                self._root_disk(context, instance, image, datastore)
            vm = self._create_vm(instance, config,
                                 refill if root.parent is not None else None)
            created.vm = vm
            self.host.instances.remember(instance.uuid, vm)
            LOG.info('Created VM %(vm)s on datastore %(ds)s from image '
                     '%(image)s', {'vm': vm._moId, 'ds': datastore.name,
                                   'image': image.image_id},
                     instance=instance)
            if power_on:
                self.host.waiter.wait(
                    vm.PowerOnVM_Task(),
                    'power on of instance %s' % instance.uuid)
                LOG.info('Powered on', instance=instance)
        except Exception as exc:
            created.undo()
            if isinstance(exc, (exception.NovaException,)):
                raise
            raise exception.InstanceDeployFailure(
                reason='vCenter could not build the VM: %s' % exc) from exc

    def _create_vm(self, instance, config, refill):
        """CreateVM_Task, retried once after either of two stale states.

        The cached parent disk was aged out by another compute since we saw
        it (FileNotFound): ``refill()`` fills the entry again. The pool or
        folder we remembered was re-created (ManagedObjectNotFound): the
        inventory and folders are resolved again.
        """
        what = 'creation of the VM of instance %s' % instance.uuid
        for attempt in (1, 2):
            inv = self.host.inventory.get()
            folder = self.host.folders.instances_folder(instance.project_id)
            try:
                task = folder.CreateVM_Task(config, inv.resource_pool)
                return self.session.bind(self.host.waiter.wait(task, what))
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
                self.host.inventory.refresh()
                self.host.folders.forget()

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
                                  self.host.inventory.get().datacenter_path)

            self.host.http.put(url, transfer.file_chunks(iso), size,
                               'config drive of instance %s' % instance.uuid)
        return target


class _Created(object):
    """What one spawn made, so that a failure can take it all back."""

    def __init__(self, host, instance, folder):
        self.host = host
        self.instance = instance
        self.folder = folder
        self.folder_made = False
        self.vm = None

    def make_folder(self):
        if self.folder_made:
            return
        manager = vfiles.FileManager(self.host.session, self.host.waiter,
                                     self.host.inventory.get().datacenter)
        manager.make_directory(self.folder)
        self.folder_made = True

    def undo(self):
        instance = self.instance
        try:
            if self.vm is not None:
                try:
                    self.host.waiter.wait(self.vm.PowerOffVM_Task())
                except vexc.VimException:
                    pass
                self.host.waiter.wait(self.vm.Destroy_Task(),
                                      'removal of the failed VM')
                self.host.instances.forget(instance.uuid)
            self.host.cache.delete(self.folder)
        except Exception as exc:
            LOG.error('Could not remove what the failed spawn created '
                      '(%(vm)s, %(folder)s): %(err)s',
                      {'vm': self.vm and self.vm._moId,
                       'folder': self.folder, 'err': exc}, instance=instance)
