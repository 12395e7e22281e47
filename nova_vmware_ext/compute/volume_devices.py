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

"""Volume disks on a VM's device list: PURE, no vCenter call.

Which controller slot a new volume disk takes (adding a controller when
the VM's are full), the device changes that add, remove and grow it, and
which of a VM's disks is a given volume.
"""

import os

from nova import exception
from oslo_utils import units
from pyVmomi import vim

from nova_vmware_ext.compute import image_meta as vimage

# extraConfig key naming the disk of an attached vmdk volume (the in-tree
# driver's key, so either driver detaches what the other attached).
VOLUME_KEY = 'volume-%s'

_SCSI = {
    vimage.ADAPTER_LSILOGIC: vim.vm.device.VirtualLsiLogicController,
    vimage.ADAPTER_BUSLOGIC: vim.vm.device.VirtualBusLogicController,
    vimage.ADAPTER_LSILOGICSAS: vim.vm.device.VirtualLsiLogicSASController,
    vimage.ADAPTER_PARAVIRTUAL: vim.vm.device.ParaVirtualSCSIController,
}
_UNITS = {
    'scsi': tuple(unit for unit in range(16) if unit != 7),
    'sata': tuple(range(30)),
    'ide': (0, 1),
}
_BUSES = {'scsi': 4, 'sata': 4, 'ide': 2}
_OPS = vim.vm.device.VirtualDeviceSpec.Operation


def check_adapter_type(adapter_type):
    """Refuse an adapter type vSphere has no controller for."""
    _family(adapter_type)


def _family(adapter_type):
    if adapter_type in _SCSI:
        return 'scsi'
    if adapter_type in (vimage.ADAPTER_SATA, vimage.ADAPTER_IDE):
        return adapter_type
    raise exception.InvalidInput(reason=(
        'volume adapter type %r is not supported; allowed: %s' % (
            adapter_type, ', '.join(vimage.ADAPTER_TYPES))))


def _controllers(devices, family, adapter_type):
    """The VM's controllers of the adapter type (for SCSI, its very kind),
    and the bus numbers that controllers of the family take."""
    classes = {'scsi': vim.vm.device.VirtualSCSIController,
               'sata': vim.vm.device.VirtualSATAController,
               'ide': vim.vm.device.VirtualIDEController}[family]
    found = sorted((d for d in devices if isinstance(d, classes)),
                   key=lambda d: d.busNumber)
    buses = {c.busNumber for c in found}
    if family == 'scsi':
        found = [c for c in found if type(c) is _SCSI[adapter_type]]
    return found, buses


def free_slot(devices, adapter_type):
    """(controller key, unit number, controller add spec or None).

    The first free unit of a controller of the adapter type (a SCSI volume
    gets the controller kind its connection_info or shadow VM names, as
    in-tree); when there is none with a free unit, a new controller of
    ``adapter_type`` (temporary key -1000) whose add spec the caller sends
    first.
    """
    family = _family(adapter_type)
    controllers, buses = _controllers(devices, family, adapter_type)
    used = {(d.controllerKey, d.unitNumber) for d in devices
            if getattr(d, 'controllerKey', None) is not None}
    for controller in controllers:
        for unit in _UNITS[family]:
            if (controller.key, unit) not in used:
                return controller.key, unit, None
    free = [b for b in range(_BUSES[family]) if b not in buses]
    if family == 'ide' or not free:
        raise exception.InvalidInput(reason=(
            'the VM has no free %s slot for another disk' % family))
    controller_class = (_SCSI[adapter_type] if family == 'scsi'
                        else vim.vm.device.VirtualAHCIController)
    controller = controller_class(key=-1000, busNumber=free[0])
    if family == 'scsi':
        controller.sharedBus = (
            vim.vm.device.VirtualSCSIController.Sharing.noSharing)
    return controller.key, _UNITS[family][0], vim.vm.device.VirtualDeviceSpec(
        operation=_OPS.add, device=controller)


def adapter_type_of(devices, disk):
    """The adapter type of the controller ``disk`` hangs on."""
    controller = next((d for d in devices if d.key == disk.controllerKey),
                      None)
    for name, cls in _SCSI.items():
        if type(controller) is cls:
            return name
    if isinstance(controller, vim.vm.device.VirtualIDEController):
        return vimage.ADAPTER_IDE
    if isinstance(controller, vim.vm.device.VirtualSATAController):
        return vimage.ADAPTER_SATA
    return vimage.DEFAULT_ADAPTER_TYPE


def add_disk(path, capacity_kb, controller_key, unit, key=-1001):
    """The device spec attaching an existing disk file (never creating or
    copying it)."""
    device = vim.vm.device.VirtualDisk(
        key=key, controllerKey=controller_key, unitNumber=unit,
        capacityInKB=capacity_kb, capacityInBytes=capacity_kb * units.Ki,
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName=path,
            diskMode=vim.vm.device.VirtualDiskOption.DiskMode.persistent),
        connectable=vim.vm.device.VirtualDevice.ConnectInfo(
            startConnected=True, connected=True, allowGuestControl=False))
    return vim.vm.device.VirtualDeviceSpec(operation=_OPS.add, device=device)


def remove_disk(device, destroy_file=False):
    """The device spec taking a disk off a VM; its file stays unless
    ``destroy_file``."""
    spec = vim.vm.device.VirtualDeviceSpec(operation=_OPS.remove,
                                           device=device)
    if destroy_file:
        spec.fileOperation = (
            vim.vm.device.VirtualDeviceSpec.FileOperation.destroy)
    return spec


def grow_disk(device, size_bytes):
    """The device edit growing a disk to ``size_bytes`` (rounded up to KB),
    or None when it is that large already (vSphere never shrinks one)."""
    size_kb = -(-int(size_bytes) // units.Ki)
    if (device.capacityInKB or 0) >= size_kb:
        return None
    device.capacityInKB = size_kb
    device.capacityInBytes = size_kb * units.Ki
    return vim.vm.device.VirtualDeviceSpec(operation=_OPS.edit,
                                           device=device)


def volume_marker(volume_id, value):
    """The extraConfig option recording (or, with '', removing) the disk of
    vmdk volume ``volume_id``."""
    return vim.option.OptionValue(key=VOLUME_KEY % volume_id, value=value)


def disk_marker(disk):
    """What identifies a volume's disk on the instance's VM: its backing
    uuid, which a Storage vMotion keeps (the in-tree driver records it too);
    the file name where the disk has no uuid (vcsim)."""
    return getattr(disk.backing, 'uuid', None) or disk.backing.fileName


def find_vmdk_disk(devices, marker, shadow_path):
    """The instance's disk of a vmdk volume, or None.

    By the marker recorded at attach (a uuid, or a file name); then by the
    shadow VM's file; then by that file's name on another datastore or
    folder, where a Storage vMotion of the instance put it.
    """
    candidates = [d for d in devices
                  if isinstance(d, vim.vm.device.VirtualDisk) and
                  getattr(d.backing, 'fileName', None)]
    for disk in candidates:
        if marker and marker in (getattr(disk.backing, 'uuid', None),
                                 disk.backing.fileName):
            return disk
    for disk in candidates:
        if shadow_path and disk.backing.fileName == shadow_path:
            return disk
    if shadow_path:
        name = _file_name(shadow_path)
        moved = [d for d in candidates
                 if _file_name(d.backing.fileName) == name]
        if len(moved) == 1:
            return moved[0]
    return None


def _file_name(path):
    return os.path.basename(path.split(']', 1)[-1].strip())


def find_fcd_disk(devices, disk_id):
    """The VM's disk that is First Class Disk ``disk_id``, or None."""
    for device in devices:
        vdisk_id = getattr(device, 'vDiskId', None)
        if (isinstance(device, vim.vm.device.VirtualDisk) and
                vdisk_id is not None and vdisk_id.id == disk_id):
            return device
    return None


def is_volume_disk(disk, options):
    """Whether a VM's disk is a Cinder volume's: a First Class Disk, or the
    disk a ``volume-<id>`` extraConfig option names (``options``: the VM's
    extraConfig)."""
    if getattr(disk, 'vDiskId', None) is not None:
        return True
    markers = {o.value for o in options or ()
               if o.key.startswith(VOLUME_KEY % '') and o.value}
    return bool(markers & {getattr(disk.backing, 'uuid', None),
                           disk.backing.fileName})


def extra_config(options, key):
    """The value of extraConfig option ``key``, or None."""
    return next((o.value for o in options or () if o.key == key), None)
