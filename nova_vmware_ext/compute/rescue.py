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

"""Rescue and unrescue: boot an instance from a rescue disk, then undo it.

Rescue fills the rescue image into the datastore's image cache (shared
with spawns: a VMDK as it is, an OVA's disk, a qcow2, raw, VHD, VHDX or
VDI image converted once), adds a disk made from it to the VM, in the
instance's folder next to its root disk (``<image id>-rescue.vmdk``, the
in-tree driver's name, so either driver unrescues the other's VMs): a
child of the cached
disk (linked clone) or a full copy, as for root disks. The VM then boots
from it (``bootOptions.bootOrder``); its root disk stays attached for the
rescue system to repair. The boot options as they were are kept in the
VM's extraConfig (``nvp.rescue-boot-order``), so that unrescue, even by
another nova-compute, restores them exactly.

Unrescue powers the VM off, detaches and deletes the rescue disk, restores
the boot order and removes the kept one in one ReconfigVM_Task, then powers
the VM on. A rescue that fails midway leaves the VM as it found it.
"""

import json

from nova import exception
from nova.image import glance
from nova import objects
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.compute import image_meta as vimage
from nova_vmware_ext.compute import root_disks
from nova_vmware_ext.compute import specs
from nova_vmware_ext.compute import vm_config
from nova_vmware_ext.compute import volume_devices
from nova_vmware_ext.images import fetch
from nova_vmware_ext.vsphere import files as vfiles

LOG = logging.getLogger(__name__)

RESCUE_SUFFIX = '-rescue.vmdk'
BOOT_ORDER_KEY = 'nvp.rescue-boot-order'
_BOOT_ORDER_PATH = 'config.extraConfig["%s"]' % BOOT_ORDER_KEY
_PATHS = ['runtime.powerState', 'config.hardware.device',
          'config.bootOptions', _BOOT_ORDER_PATH]

_BOOTABLE = {
    'disk': vim.vm.BootOptions.BootableDiskDevice,
    'cdrom': vim.vm.BootOptions.BootableCdromDevice,
    'ethernet': vim.vm.BootOptions.BootableEthernetDevice,
    'floppy': vim.vm.BootOptions.BootableFloppyDevice,
}
# Units a disk can take on each kind of controller.
_SCSI_UNITS = tuple(unit for unit in range(16) if unit != 7)
_UNITS = (
    (vim.vm.device.VirtualSCSIController, _SCSI_UNITS),
    (vim.vm.device.VirtualSATAController, tuple(range(30))),
    (vim.vm.device.VirtualNVMEController, tuple(range(15))),
    (vim.vm.device.VirtualIDEController, (0, 1)),
)
_REMOVE = vim.vm.device.VirtualDeviceSpec.Operation.remove
_DESTROY = vim.vm.device.VirtualDeviceSpec.FileOperation.destroy


def encode_boot_order(order):
    """A bootOrder as text for extraConfig: '["disk:2000", "cdrom"]'."""
    found = []
    for device in order or ():
        kind = next(name for name, cls in _BOOTABLE.items()
                    if isinstance(device, cls))
        key = getattr(device, 'deviceKey', None)
        found.append(kind if key is None else '%s:%d' % (kind, key))
    return json.dumps(found)


def decode_boot_order(text):
    """The bootOrder ``encode_boot_order`` wrote; ValueError if garbled."""
    order = []
    for entry in json.loads(text):
        kind, _, key = entry.partition(':')
        device = _BOOTABLE[kind]()
        if key:
            device.deviceKey = int(key)
        order.append(device)
    return order


def boot_options(current, order):
    """``current`` boot options (every field kept) booting in ``order``."""
    options = vim.vm.BootOptions()
    for prop in (current._GetPropertyList() if current is not None else ()):
        value = getattr(current, prop.name, None)
        if value is not None:
            setattr(options, prop.name, value)
    options.bootOrder = order
    return options


def rescue_disks(devices):
    """The VM's rescue disks (ours and the in-tree driver's)."""
    return [d for d in devices or ()
            if isinstance(d, vim.vm.device.VirtualDisk) and
            str(getattr(d.backing, 'fileName', '')).endswith(RESCUE_SUFFIX)]


def _disk_at(devices, path):
    return next((d for d in devices
                 if isinstance(d, vim.vm.device.VirtualDisk) and
                 getattr(d.backing, 'fileName', None) == str(path)), None)


def _free_slot(devices, controller_key):
    """(controller key, unit) free on the root disk's controller, else on
    another controller of its kind (IDE has two); None if all are full."""
    by_key = {d.key: d for d in devices}
    root = by_key.get(controller_key)
    kind, units = next(((cls, units) for cls, units in _UNITS
                        if isinstance(root, cls)), (None, ()))
    candidates = [root] + [d for d in devices if kind is not None and
                           isinstance(d, kind) and d is not root]
    for controller in candidates:
        taken = {d.unitNumber for d in devices
                 if d.controllerKey == controller.key}
        free = [unit for unit in units if unit not in taken]
        if free:
            return controller.key, free[0]
    return None


class RescueOps(object):
    """Rescue disks for the instances of one cluster.

    :param inventory: vsphere.inventory.Inventory, the cluster's
        datastores.
    :param root_disks: compute.root_disks.RootDisks, the image cache side.
    :param disks: vsphere.disks.VirtualDisks of the cluster's datacenter.
    :param image_api: Nova's Glance API.
    """

    def __init__(self, waiter, instances, inventory, root_disks, disks,
                 image_api=None):
        self.waiter = waiter
        self.instances = instances
        self.inventory = inventory
        self.root_disks = root_disks
        self.disks = disks
        self.image_api = image_api or glance.API()

    def _wait(self, task, what, instance):
        return self.waiter.wait(task, '%s of instance %s' % (
            what, instance.uuid))

    # Rescue

    def rescue(self, context, instance, image_meta, block_device_info=None):
        image = self._rescue_image(context, instance, image_meta)
        item = self.instances.read(
            instance, _PATHS + volume_devices.volume_paths(block_device_info))
        vm, devices = item['obj'], item.get('config.hardware.device') or []
        if rescue_disks(devices) or item.get(_BOOT_ORDER_PATH) is not None:
            raise exception.InstanceNotRescuable(
                instance_id=instance.uuid,
                reason='it is already rescued (it has a rescue disk); '
                       'unrescue it first')
        root = self._root_disk(instance, devices,
                               volume_devices.volume_options(item))
        root_path = vfiles.DatastorePath.parse(root.backing.fileName)
        target = root_path.parent.join(image.image_id + RESCUE_SUFFIX)
        slot = _free_slot(devices, root.controllerKey)
        if slot is None:
            raise exception.InstanceNotRescuable(
                instance_id=instance.uuid,
                reason="the root disk's controller has no free unit for "
                       "a rescue disk")
        # The image first: a refused or failed fill changes nothing.
        datastore = self._datastore(instance, root_path.datastore)
        source = root_disks.glance_source(self.image_api, context,
                                          image)
        limits = fetch.Limits(datastore_free=datastore.free_space)
        base, size_kb = self.root_disks.cached_disk(image, source, datastore,
                                                    limits)

        def refill():
            # Another compute aged the entry out since: fill it again.
            self.root_disks.forget(base)
            self.root_disks.cached_disk(image, source, datastore, limits)
        was_on = item.get('runtime.powerState') == 'poweredOn'
        self._power_off(vm, instance, item.get('runtime.powerState'))
        try:
            disk = self._attach(vm, instance, image, (base, size_kb),
                                target, slot, item.get('config.bootOptions'),
                                refill)
            self._reconfigure(vm, instance, 'boot from the rescue disk',
                              vim.vm.ConfigSpec(bootOptions=boot_options(
                                  item.get('config.bootOptions'),
                                  [_BOOTABLE['disk'](deviceKey=disk.key)])))
            self._wait(vm.PowerOnVM_Task(), 'power on (rescue)', instance)
        except Exception:
            with excutils.save_and_reraise_exception():
                self._undo_rescue(vm, instance, target,
                                  item.get('config.bootOptions'), was_on)
        LOG.info('Rescued: booting from %(disk)s (image %(image)s)',
                 {'disk': target, 'image': image.image_id},
                 instance=instance)

    def _rescue_image(self, context, instance, image_meta):
        """The image to rescue from: Nova's rescue image, else the
        instance's own (Nova passes it, but its contract test does not)."""
        if not image_meta.obj_attr_is_set('id'):
            if not instance.image_ref:
                raise exception.InstanceNotRescuable(
                    instance_id=instance.uuid,
                    reason='no rescue image was given and the instance '
                           'has no image of its own (booted from volume)')
            image_meta = objects.ImageMeta.from_image_ref(
                context, self.image_api, instance.image_ref)
        image = vimage.from_image_meta(image_meta)
        if image.is_iso:
            raise exception.ImageUnacceptable(
                image_id=image.image_id,
                reason='a rescue image must be a disk, not %s' %
                       image.disk_format)
        return image

    @staticmethod
    def _root_disk(instance, devices, volume_options):
        """The root disk from the image, beside which the rescue disk goes
        (never a volume's disk: its folder and controller are Cinder's)."""
        root = volume_devices.root_disk(devices, volume_options)
        if root is None:
            raise exception.InstanceNotRescuable(
                instance_id=instance.uuid,
                reason='its VM has no root disk from an image on a '
                       'datastore (booted from a volume)')
        return root

    def _datastore(self, instance, name):
        found = [ds for ds in self.inventory.get().datastores
                 if ds.name == name]
        if not found:
            found = [ds for ds in self.inventory.refresh().datastores
                     if ds.name == name]
        if not found:
            raise exception.InstanceNotRescuable(
                instance_id=instance.uuid,
                reason="the datastore %s of its root disk is not one of "
                       "the cluster's" % name)
        return found[0]

    def _attach(self, vm, instance, image, cached, target, slot,
                current_boot, refill):
        """Add the rescue disk (and keep the boot order); the new device.

        :param cached: (path, size in KB) of the image's cached disk.
        :param refill: fills the cache entry again if it vanished.
        """
        base, size_kb = cached
        linked = image.linked_clone
        if linked is None:
            linked = self.root_disks.use_linked_clone
        if not linked:
            self.root_disks.copy(base, target, size_kb)
        disk = specs.DiskSpec(
            role='rescue', size_kb=size_kb, adapter_type=image.adapter_type,
            path=target, parent=base if linked else None, create=linked)
        spec = vim.vm.ConfigSpec(
            deviceChange=[vm_config.disk_device_change(disk, *slot)],
            extraConfig=[vim.option.OptionValue(
                key=BOOT_ORDER_KEY, value=encode_boot_order(
                    getattr(current_boot, 'bootOrder', None)))])
        try:
            self._reconfigure(vm, instance, 'attach of the rescue disk', spec)
        except vexc.FileNotFoundException as exc:
            if not linked:
                raise
            LOG.info('The cached disk %(disk)s vanished (%(err)s): filling '
                     'the cache again', {'disk': base, 'err': exc},
                     instance=instance)
            refill()
            self._reconfigure(vm, instance, 'attach of the rescue disk', spec)
        devices = self.instances.read(
            instance, ['config.hardware.device'])['config.hardware.device']
        device = _disk_at(devices, target)
        if device is None:
            raise exception.InstanceNotRescuable(
                instance_id=instance.uuid,
                reason='vCenter did not attach the rescue disk %s' % target)
        return device

    def _undo_rescue(self, vm, instance, target, boot, was_on):
        """Back to the VM as rescue found it; never raises."""
        try:
            item = self.instances.read(instance, _PATHS)
            self._power_off(vm, instance, item.get('runtime.powerState'))
            self._restore(vm, instance, item,
                          saved=encode_boot_order(
                              getattr(boot, 'bootOrder', None)))
            try:  # a full copy that was never attached
                self.disks.delete(target)
            except vexc.FileNotFoundException:
                pass
            if was_on:
                self._wait(vm.PowerOnVM_Task(), 'power on', instance)
        except Exception as exc:
            LOG.error('Could not undo the failed rescue (the rescue disk '
                      '%(disk)s may be left; unrescue removes it): %(err)s',
                      {'disk': target, 'err': exc}, instance=instance)

    # Unrescue

    def unrescue(self, instance):
        item = self.instances.read(instance, _PATHS)
        vm, state = item['obj'], str(item.get('runtime.powerState'))
        saved = item.get(_BOOT_ORDER_PATH)
        if rescue_disks(item.get('config.hardware.device')) or saved:
            self._power_off(vm, instance, state)
            state = 'poweredOff'
            self._restore(vm, instance, item,
                          saved=saved.value if saved is not None else None)
        else:
            LOG.info('VM has no rescue disk: nothing to undo',
                     instance=instance)
        if state != 'poweredOn':
            self._wait(vm.PowerOnVM_Task(), 'power on (unrescue)', instance)
        LOG.info('Unrescued', instance=instance)

    def _restore(self, vm, instance, item, saved):
        """Detach and delete rescue disks, restore the boot order and drop
        the kept one: one reconfiguration."""
        found = rescue_disks(item.get('config.hardware.device'))
        current = item.get('config.bootOptions')
        gone = {d.key for d in found}
        if saved is not None:
            try:
                order = decode_boot_order(saved)
            except (ValueError, KeyError, TypeError):
                LOG.warning('The kept boot order %r is garbled: the VM '
                            'boots in the default order', saved,
                            instance=instance)
                order = []
        else:  # rescued by the in-tree driver, which kept none
            order = [d for d in getattr(current, 'bootOrder', None) or ()
                     if getattr(d, 'deviceKey', None) not in gone]
        spec = vim.vm.ConfigSpec(
            deviceChange=[vim.vm.device.VirtualDeviceSpec(
                operation=_REMOVE, fileOperation=_DESTROY, device=d)
                for d in found],
            bootOptions=boot_options(current, order))
        if item.get(_BOOT_ORDER_PATH) is not None:
            spec.extraConfig = [vim.option.OptionValue(key=BOOT_ORDER_KEY,
                                                       value='')]
        self._reconfigure(vm, instance, 'removal of the rescue disk', spec)
        for disk in found:
            LOG.info('Removed the rescue disk %s', disk.backing.fileName,
                     instance=instance)

    # Steps

    def _power_off(self, vm, instance, state):
        if str(state) == 'poweredOff':
            return
        try:
            self._wait(vm.PowerOffVM_Task(), 'power off', instance)
        except vexc.InvalidPowerStateException:
            pass  # already off

    def _reconfigure(self, vm, instance, what, spec):
        self._wait(vm.ReconfigVM_Task(spec), what, instance)
