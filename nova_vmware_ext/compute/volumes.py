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

"""Cinder volumes: attach, detach and extend; boot from volume.

Two ``driver_volume_type``s, those of Cinder's VMware drivers:

- ``vmdk`` (``{"volume": <shadow VM moid>, "volume_id", "name",
  "profile_id"}``): the shadow VM's disk file is attached to the instance's
  VM (one ReconfigVM_Task, which also records the disk under the VM's
  ``volume-<volume id>`` extraConfig key, as in-tree). A Storage vMotion
  of the instance takes the file along; detach then gives the shadow VM the
  moved file back (its stale disk removed, the VM relocated to the new
  datastore), so Cinder finds its volume where the data is.
- ``vstorageobject`` (``{"id", "ds_ref_val", "adapter_type"}``): a First
  Class Disk, attached with AttachDisk_Task, detached with DetachDisk_Task.

Every check that needs no change runs first: the driver type (anything
else is NotImplementedError, as Nova's generic suite expects), multiattach
and encryption (refused: Nova reports them to the user), the volume found
in vCenter (VolumeNotFound), not in use by another VM (InvalidVolume), an
IDE disk only while the VM is off (vSphere has no IDE hot plug).
"""

from nova import exception
from nova.virt import driver
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.compute import image_meta as vimage
from nova_vmware_ext.compute import volume_devices as devs
from nova_vmware_ext.vsphere import volumes as vvolumes

LOG = logging.getLogger(__name__)

VMDK = 'vmdk'
FCD = 'vstorageobject'
_REQUIRED = {VMDK: ('volume_id',), FCD: ('id', 'ds_ref_val')}
_VM_PATHS = ['config.hardware.device', 'config.extraConfig',
             'runtime.powerState', 'runtime.host', 'resourcePool',
             'datastore']


def volume_id_of(connection_info):
    data = connection_info.get('data') or {}
    return (connection_info.get('serial') or data.get('volume_id') or
            data.get('id') or data.get('name') or 'unknown')


def check(connection_info, encryption=None):
    """The driver type and data of a volume this driver can attach;
    refuses the others before anything changes."""
    kind = connection_info.get('driver_volume_type')
    if kind not in _REQUIRED:
        raise NotImplementedError(
            'volumes of driver_volume_type %r cannot be attached: this '
            'driver attaches %s volumes (Cinder\'s VMware drivers)' % (
                kind, ' and '.join(sorted(_REQUIRED))))
    data = connection_info.get('data') or {}
    volume_id = volume_id_of(connection_info)
    if connection_info.get('multiattach') or data.get('multiattach'):
        raise exception.MultiattachNotSupportedByVirtDriver(
            volume_id=volume_id)
    if (encryption and encryption.get('provider')) or data.get('encrypted'):
        raise exception.VolumeEncryptionNotSupported(volume_type=kind,
                                                     volume_id=volume_id)
    missing = [key for key in _REQUIRED[kind] if not data.get(key)]
    if missing:
        raise exception.InvalidVolume(reason=(
            '%s connection_info of volume %s lacks %s' % (
                kind, volume_id, ', '.join(missing))))
    if kind == FCD:
        devs.check_adapter_type(data.get('adapter_type') or
                                vimage.DEFAULT_ADAPTER_TYPE)
    return kind, data


def mappings(block_device_info):
    """The volumes of block_device_info, the boot volume first."""
    found = list(driver.block_device_info_get_mapping(block_device_info))
    return sorted(found, key=lambda bdm: _boot_index(bdm) != 0)


def _boot_index(bdm):
    index = bdm.get('boot_index')
    return -1 if index is None else index


def root_volume(block_device_info):
    """The boot volume's mapping, or None when the image is the root."""
    found = mappings(block_device_info)
    return found[0] if found and _boot_index(found[0]) == 0 else None


def check_all(block_device_info):
    """Refuse, before spawn changes anything, a volume it cannot attach."""
    for bdm in mappings(block_device_info):
        check(bdm['connection_info'])


class VolumeOps(object):
    """Volume attach, detach and extend for the instances of one cluster.

    :param instances: compute.instances.Instances, which VM is which.
    :param shadows: vsphere.volumes.ShadowVms.
    :param fcds: vsphere.volumes.FirstClassDisks.
    """

    def __init__(self, session, waiter, instances, shadows, fcds,
                 conf=None):
        self.session = session
        self.waiter = waiter
        self.instances = instances
        self.shadows = shadows
        self.fcds = fcds
        self.conf = conf

    def connector(self, instance):
        """What Cinder's VMware drivers read: the VM's moid as ``instance``
        (they place the shadow VM by its host), ``ip`` and ``host``. Never
        ``platform`` or ``os_type``: given those, Cinder's VMDK driver puts
        the vCenter password into connection_info. No iSCSI initiator: this
        driver attaches no iSCSI volume."""
        connector = {'ip': self.conf.my_block_storage_ip,
                     'host': self.conf.host, 'initiator': None}
        uuid = instance.get('uuid') if hasattr(instance, 'get') else None
        ref = self.instances.find(uuid) if uuid else None
        if ref is not None:
            connector['instance'] = ref._moId
        return connector

    # Attach

    def attach(self, connection_info, instance, encryption=None, boot=False):
        kind, data = check(connection_info, encryption)
        item = self.instances.read(instance, _VM_PATHS)
        if kind == VMDK:
            self._attach_vmdk(item, data, instance, boot)
        else:
            self._attach_fcd(item, data, instance, boot)
        LOG.info('Attached %(kind)s volume %(volume)s', {
            'kind': kind, 'volume': volume_id_of(connection_info)},
            instance=instance)

    def _find_shadow(self, data):
        return self.shadows.find(data.get('volume'), data.get('volume_id'),
                                 data.get('name'))

    def _shadow(self, data):
        shadow = self._find_shadow(data)
        disks = vvolumes.disks(shadow.get('config.hardware.device')
                               if shadow else ())
        if not disks:
            raise exception.VolumeNotFound(volume_id=data['volume_id'])
        return shadow, disks[0]

    def _attach_vmdk(self, item, data, instance, boot):
        shadow, disk = self._shadow(data)
        adapter = devs.adapter_type_of(shadow['config.hardware.device'],
                                       disk)
        key, unit, controller = self._slot(item, adapter, instance)
        hosts = self._check_free(disk.backing.fileName, disk.backing.datastore,
                                 data['volume_id'],
                                 exclude=shadow['obj']._moId)
        host = item.get('runtime.host')
        if host is not None and host._moId not in hosts:
            shadow, disk = self._bring_shadow(item, shadow, data, instance)
        changes = [controller] if controller else []
        changes.append(devs.add_disk(disk.backing.fileName,
                                     disk.capacityInKB, key, unit))
        spec = vim.vm.ConfigSpec(deviceChange=changes, extraConfig=[
            devs.volume_marker(data['volume_id'], devs.disk_marker(disk))])
        self.waiter.wait(item['obj'].ReconfigVM_Task(spec),
                         'attach of volume %s to instance %s' % (
                             data['volume_id'], instance.uuid))
        if boot:
            self._boot_from(instance, item['obj'], lambda devices: (
                devs.find_vmdk_disk(devices, None, disk.backing.fileName)))

    def _bring_shadow(self, item, shadow, data, instance):
        """Move a shadow VM whose disk the instance's host cannot reach
        (Cinder placed it without knowing the instance, as for a boot
        volume) to the instance's datastore, pool and host, as in-tree."""
        target = (item.get('datastore') or [None])[0]
        what = 'volume %s of instance %s' % (data['volume_id'], instance.uuid)
        if target is None:
            raise exception.InvalidVolume(reason=(
                'the host of instance %s does not mount the datastore of %s'
                % (instance.uuid, what)))
        LOG.info('Moving the shadow VM %(vm)s of %(what)s to datastore '
                 '%(ds)s, which the instance\'s host mounts', {
                     'vm': shadow['obj']._moId, 'what': what,
                     'ds': target._moId}, instance=instance)
        self.shadows.relocate(shadow['obj'], target, item.get('resourcePool'),
                              item.get('runtime.host'),
                              'move of the shadow VM of ' + what)
        return self._shadow(dict(data, volume=shadow['obj']._moId))

    def _attach_fcd(self, item, data, instance, boot):
        disk = self.fcds.find(data['id'], data['ds_ref_val'])
        if disk is None:
            raise exception.VolumeNotFound(volume_id=data['id'])
        backing = disk.config.backing
        self._check_free(backing.filePath, backing.datastore, data['id'])
        adapter = data.get('adapter_type') or vimage.DEFAULT_ADAPTER_TYPE
        vm = item['obj']
        what = 'attach of volume %s to instance %s' % (data['id'],
                                                       instance.uuid)
        key, unit, controller = self._slot(item, adapter, instance)
        if controller is None:
            self.fcds.attach(vm, data['id'], data['ds_ref_val'], key, unit,
                             what)
        else:
            # AttachDisk_Task takes an existing controller: add it first,
            # and take it away again if the disk does not come.
            self.waiter.wait(vm.ReconfigVM_Task(vim.vm.ConfigSpec(
                deviceChange=[controller])), 'controller for ' + what)
            item = self.instances.read(instance, _VM_PATHS)
            key, unit, _ = self._slot(item, adapter, instance)
            try:
                self.fcds.attach(vm, data['id'], data['ds_ref_val'], key,
                                 unit, what)
            except Exception:
                with excutils.save_and_reraise_exception():
                    self._remove_controller(vm, item, key, what)
        if boot:
            self._boot_from(instance, vm, lambda devices: (
                devs.find_fcd_disk(devices, data['id'])))

    def _remove_controller(self, vm, item, key, what):
        """Undo the controller added for a failed attach; a failure is
        logged (the attach's error is what the caller raises)."""
        devices = item.get('config.hardware.device') or []
        added = next((d for d in devices if d.key == key), None)
        try:
            self.waiter.wait(vm.ReconfigVM_Task(vim.vm.ConfigSpec(
                deviceChange=[vim.vm.device.VirtualDeviceSpec(
                    operation='remove', device=added)])),
                'removal of the controller added for ' + what)
        except Exception as exc:
            LOG.error('Could not remove the controller %(key)s added for '
                      '%(what)s: %(err)s', {'key': key, 'what': what,
                                            'err': exc})

    def _boot_from(self, instance, vm, which):
        """Boot the VM from the volume disk ``which(devices)`` picks (its
        real device key is known once it is attached)."""
        devices = self.instances.read(
            instance, ['config.hardware.device'])['config.hardware.device']
        disk = which(devices)
        self.waiter.wait(vm.ReconfigVM_Task(vim.vm.ConfigSpec(
            bootOptions=vim.vm.BootOptions(bootOrder=[
                vim.vm.BootOptions.BootableDiskDevice(deviceKey=disk.key)]))),
            'boot order of instance %s' % instance.uuid)

    def _slot(self, item, adapter, instance):
        if (adapter == vimage.ADAPTER_IDE and
                str(item.get('runtime.powerState')) != 'poweredOff'):
            raise exception.InvalidInput(reason=(
                'an IDE volume cannot be attached to or detached from '
                'running instance %s (vSphere has no IDE hot plug): stop it '
                'first' % instance.uuid))
        return devs.free_slot(item.get('config.hardware.device') or [],
                              adapter)

    def _check_free(self, path, datastore, volume_id, exclude=None):
        """Refuse a volume whose file another VM (not its shadow) uses;
        returns the moids of the hosts that mount its datastore."""
        users, hosts = vvolumes.datastore_use(self.session, datastore, {path})
        busy = [moid for moid in users.get(path, []) if moid != exclude]
        if busy:
            raise exception.InvalidVolume(reason=(
                'volume %s is in use: its disk %s is attached to VM %s' % (
                    volume_id, path, ', '.join(busy))))
        return hosts

    # Detach

    def detach(self, connection_info, instance):
        kind = connection_info.get('driver_volume_type')
        if kind not in _REQUIRED:
            check(connection_info)  # NotImplementedError
        data = connection_info.get('data') or {}
        try:
            item = self.instances.read(instance, _VM_PATHS)
        except exception.InstanceNotFound:
            # No VM, no disk to take off it: Nova's compute manager goes on
            # with the detach on DiskNotFound (the backing is Cinder's).
            raise exception.DiskNotFound(
                location='volume %s: the VM of instance %s is gone' % (
                    volume_id_of(connection_info), instance.uuid))
        if kind == VMDK:
            self._detach_vmdk(item, data, instance)
        else:
            self._detach_fcd(item, data, instance)
        LOG.info('Detached %(kind)s volume %(volume)s', {
            'kind': kind, 'volume': volume_id_of(connection_info)},
            instance=instance)

    def _volume_disk(self, item, kind, data, shadow_path=None):
        devices = item.get('config.hardware.device') or []
        if kind == FCD:
            disk = devs.find_fcd_disk(devices, data.get('id'))
        else:
            marker = devs.extra_config(
                item.get('config.extraConfig'),
                devs.VOLUME_KEY % data.get('volume_id'))
            disk = devs.find_vmdk_disk(devices, marker, shadow_path)
        if disk is None:
            raise exception.DiskNotFound(location='volume %s on VM %s' % (
                data.get('volume_id') or data.get('id'), item['obj']._moId))
        return disk

    def _detach_vmdk(self, item, data, instance):
        shadow = self._find_shadow(data)
        shadow_disks = vvolumes.disks(shadow.get('config.hardware.device')
                                      if shadow else ())
        shadow_disk = shadow_disks[0] if shadow_disks else None
        disk = self._volume_disk(
            item, VMDK, data,
            shadow_disk.backing.fileName if shadow_disk else None)
        devices = item.get('config.hardware.device') or []
        self._slot_check(item, devs.adapter_type_of(devices, disk), instance)
        what = 'volume %s of instance %s' % (data['volume_id'],
                                             instance.uuid)
        if shadow is None:
            LOG.warning('The shadow VM of %s is gone: its disk %s is only '
                        'detached', what, disk.backing.fileName,
                        instance=instance)
        elif (shadow_disk is None or
              shadow_disk.backing.fileName != disk.backing.fileName):
            self._restore_shadow(shadow, shadow_disk, disk, what)
        spec = vim.vm.ConfigSpec(
            deviceChange=[devs.remove_disk(disk)],
            extraConfig=[devs.volume_marker(data['volume_id'], '')])
        self.waiter.wait(item['obj'].ReconfigVM_Task(spec), 'detach of ' +
                         what)

    def _restore_shadow(self, shadow, stale, disk, what):
        """Give the shadow VM the file the instance moved (Storage vMotion):
        its stale disk goes, it moves to the file's datastore, and takes
        the file."""
        vm = shadow['obj']
        LOG.info('The disk of %s moved to %s: moving its shadow VM %s there',
                 what, disk.backing.fileName, vm._moId)
        if stale is not None:
            try:
                self.shadows.reconfigure(
                    vm, [devs.remove_disk(stale, destroy_file=True)],
                    'removal of the stale disk of ' + what)
            except vexc.FileNotFoundException as exc:
                LOG.info('Stale disk of %s not deleted (%s): only removed',
                         what, exc)
                self.shadows.reconfigure(
                    vm, [devs.remove_disk(stale)],
                    'removal of the stale disk of ' + what)
        self.shadows.relocate(vm, disk.backing.datastore, None, None,
                              'move of the shadow VM of ' + what)
        devices = self.shadows.find(vm._moId, None)['config.hardware.device']
        key, unit, controller = devs.free_slot(
            devices, devs.adapter_type_of(devices, stale) if stale
            else vimage.DEFAULT_ADAPTER_TYPE)
        changes = [controller] if controller else []
        changes.append(devs.add_disk(disk.backing.fileName,
                                     disk.capacityInKB, key, unit))
        self.shadows.reconfigure(vm, changes, 'return of the disk of ' + what)

    def _detach_fcd(self, item, data, instance):
        disk = self._volume_disk(item, FCD, data)
        devices = item.get('config.hardware.device') or []
        self._slot_check(item, devs.adapter_type_of(devices, disk), instance)
        self.fcds.detach(item['obj'], data['id'],
                         'detach of volume %s from instance %s' % (
                             data['id'], instance.uuid))

    def _slot_check(self, item, adapter, instance):
        if adapter == vimage.ADAPTER_IDE:
            self._slot(item, adapter, instance)

    # Extend

    def extend(self, connection_info, instance, requested_size):
        """Grow the instance's view of a volume Cinder extended: one
        ReconfigVM_Task editing the disk's capacity (a hot extend on a
        running VM; vSphere refuses it for IDE disks and disks with
        snapshots)."""
        kind, data = check(connection_info)
        item = self.instances.read(instance, _VM_PATHS)
        shadow_path = None
        if kind == VMDK:
            shadow = self._find_shadow(data)
            found = vvolumes.disks(shadow.get('config.hardware.device')
                                   if shadow else ())
            shadow_path = found[0].backing.fileName if found else None
        disk = self._volume_disk(item, kind, data, shadow_path)
        change = devs.grow_disk(disk, requested_size)
        if change is None:
            LOG.info('Volume %s is already %d KB', volume_id_of(
                connection_info), disk.capacityInKB, instance=instance)
            return
        self.waiter.wait(item['obj'].ReconfigVM_Task(vim.vm.ConfigSpec(
            deviceChange=[change])), 'extend of volume %s of instance %s' % (
                volume_id_of(connection_info), instance.uuid))

    # Spawn and destroy

    def attach_all(self, instance, block_device_info):
        """Attach a new VM's volumes, the boot volume first and booted
        from."""
        for bdm in mappings(block_device_info):
            self.attach(bdm['connection_info'], instance,
                        boot=_boot_index(bdm) == 0)

    def detach_all(self, instance, block_device_info):
        """Detach every volume of block_device_info still on the VM, so that
        destroying the VM never deletes a volume's disk. All are tried; the
        first failure is raised."""
        failure = None
        for bdm in mappings(block_device_info):
            try:
                self.detach(bdm['connection_info'], instance)
            except exception.DiskNotFound:
                pass  # not attached (any more)
            except Exception as exc:
                LOG.error('Could not detach volume %(volume)s: %(err)s', {
                    'volume': volume_id_of(bdm['connection_info']),
                    'err': exc}, instance=instance)
                failure = failure or exc
        if failure is not None:
            raise failure

    def detach_all_quietly(self, instance, block_device_info):
        """detach_all for a rollback: failures are logged (by detach_all),
        never raised, so the error that failed the spawn is what Nova
        sees. False when a volume is still attached: then the VM must not
        be destroyed with its disks."""
        try:
            self.detach_all(instance, block_device_info)
        except Exception:
            LOG.error('Volumes are left attached to the failed VM, which is '
                      'kept for destroy', instance=instance)
            return False
        return True
