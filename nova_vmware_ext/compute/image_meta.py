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

"""The image properties the VMware driver reads, validated once.

``from_image_meta`` turns Nova's ``ImageMeta`` into an immutable
``ImageProperties`` spelled in vSphere's own terms (guestId, controller kind,
NIC device class), or raises ``ImageUnacceptable`` naming the property, the
bad value and what is allowed. Pure: no vCenter calls.
"""

import dataclasses
import difflib
import re
from typing import Optional

from nova import exception
from nova.objects import fields
from oslo_log import log as logging
from pyVmomi import vim

LOG = logging.getLogger(__name__)

DISK_FORMAT_VMDK = 'vmdk'
DISK_FORMAT_ISO = 'iso'
# Formats the images layer converts to a streamOptimized VMDK (qemu-img).
CONVERTIBLE_DISK_FORMATS = ('raw', 'qcow2', 'vhd', 'vhdx', 'vdi')
DISK_FORMATS = (DISK_FORMAT_VMDK, DISK_FORMAT_ISO) + CONVERTIBLE_DISK_FORMATS

CONTAINER_FORMAT_BARE = 'bare'
CONTAINER_FORMAT_OVA = 'ova'
CONTAINER_FORMATS = (CONTAINER_FORMAT_BARE, CONTAINER_FORMAT_OVA)

DISK_TYPE_STREAM_OPTIMIZED = 'streamOptimized'
DISK_TYPE_SPARSE = 'sparse'
DISK_TYPE_THIN = 'thin'
DISK_TYPE_PREALLOCATED = 'preallocated'
DISK_TYPE_EAGER_ZEROED_THICK = 'eagerZeroedThick'
DISK_TYPES = (DISK_TYPE_STREAM_OPTIMIZED, DISK_TYPE_SPARSE, DISK_TYPE_THIN,
              DISK_TYPE_PREALLOCATED, DISK_TYPE_EAGER_ZEROED_THICK)
DEFAULT_DISK_TYPE = DISK_TYPE_PREALLOCATED
# Older images say 'thick' for a lazily zeroed flat disk.
_DISK_TYPE_ALIASES = {'thick': DISK_TYPE_PREALLOCATED}

ADAPTER_LSILOGIC = 'lsiLogic'
ADAPTER_BUSLOGIC = 'busLogic'
ADAPTER_LSILOGICSAS = 'lsiLogicsas'
ADAPTER_PARAVIRTUAL = 'paraVirtual'
ADAPTER_IDE = 'ide'
ADAPTER_SATA = 'sata'
SCSI_ADAPTER_TYPES = (ADAPTER_LSILOGIC, ADAPTER_BUSLOGIC,
                      ADAPTER_LSILOGICSAS, ADAPTER_PARAVIRTUAL)
ADAPTER_TYPES = SCSI_ADAPTER_TYPES + (ADAPTER_IDE, ADAPTER_SATA)
DEFAULT_ADAPTER_TYPE = ADAPTER_LSILOGIC

_SCSI_MODELS = {
    fields.SCSIModel.LSILOGIC: ADAPTER_LSILOGIC,
    fields.SCSIModel.BUSLOGIC: ADAPTER_BUSLOGIC,
    fields.SCSIModel.LSISAS1068: ADAPTER_LSILOGICSAS,
    fields.SCSIModel.VMPVSCSI: ADAPTER_PARAVIRTUAL,
}
_DISK_BUSES = {
    fields.DiskBus.SCSI: None,  # the controller kind is hw_scsi_model's
    fields.DiskBus.IDE: ADAPTER_IDE,
    fields.DiskBus.SATA: ADAPTER_SATA,
}
_CDROM_BUSES = {
    fields.DiskBus.IDE: ADAPTER_IDE,
    fields.DiskBus.SATA: ADAPTER_SATA,
}

VIF_MODELS = {
    'e1000': 'VirtualE1000',
    'e1000e': 'VirtualE1000e',
    'vmxnet': 'VirtualVmxnet',
    'vmxnet3': 'VirtualVmxnet3',
    'pcnet': 'VirtualPCNet32',
}
DEFAULT_VIF_MODEL = VIF_MODELS['e1000']

_FIRMWARE = {fields.FirmwareType.BIOS: 'bios', fields.FirmwareType.UEFI: 'efi'}

GUEST_IDS = frozenset(vim.vm.GuestOsDescriptor.GuestOsIdentifier.values)
DEFAULT_GUEST_ID = 'otherGuest'
LINUX_GUEST_ID = 'other3xLinux64Guest'

# os_distro names (Glance's documented values and libosinfo short ids) ->
# guestId. '{}' stands for the major version: the requested one when this
# pyVmomi knows it, else the closest older one it knows.
_DISTRO_GUEST_IDS = {
    'almalinux': 'almalinux_64Guest',
    'amazonlinux': 'amazonlinux{}_64Guest',
    'amzn': 'amazonlinux{}_64Guest',
    'asianux': 'asianux{}_64Guest',
    'centos': 'centos{}_64Guest',
    'centos-stream': 'centos{}_64Guest',
    'coreos': 'coreos64Guest',
    'debian': 'debian{}_64Guest',
    'fedora': 'fedora64Guest',
    'flatcar': 'flatcar_64Guest',
    'freebsd': 'freebsd{}_64Guest',
    'mandrake': 'mandrakeGuest',
    'mandriva': 'mandriva64Guest',
    'mes': 'mandriva64Guest',
    'msdos': 'dosGuest',
    'netware': 'netware6Guest',
    'ol': 'oracleLinux{}_64Guest',
    'oraclelinux': 'oracleLinux{}_64Guest',
    'opensolaris': 'solaris11_64Guest',
    'opensuse': 'opensuse64Guest',
    'opensuse-leap': 'opensuse64Guest',
    'opensusetumbleweed': 'opensuse64Guest',
    'photon': 'vmwarePhoton64Guest',
    'redhat': 'rhel{}_64Guest',
    'rhel': 'rhel{}_64Guest',
    'rocky': 'rockylinux_64Guest',
    'rockylinux': 'rockylinux_64Guest',
    'sled': 'sles{}_64Guest',
    'sles': 'sles{}_64Guest',
    'solaris': 'solaris{}_64Guest',
    'ubuntu': 'ubuntu64Guest',
    # Linux distributions vSphere has no guestId of their own for.
    'alpine': LINUX_GUEST_ID,
    'alpinelinux': LINUX_GUEST_ID,
    'arch': LINUX_GUEST_ID,
    'archlinux': LINUX_GUEST_ID,
    'cirros': LINUX_GUEST_ID,
    'gentoo': LINUX_GUEST_ID,
    'linux': LINUX_GUEST_ID,
    'slackware': LINUX_GUEST_ID,
    # Other 64-bit systems.
    'dragonfly': 'otherGuest64',
    'netbsd': 'otherGuest64',
    'openbsd': 'otherGuest64',
}
_WINDOWS_GUEST_IDS = {
    'windows': 'windows9Server64Guest',
    'winxp': 'winXPPro64Guest',
    'winvista': 'winVista64Guest',
    'win7': 'windows7_64Guest',
    'win8': 'windows8_64Guest',
    'win8.1': 'windows8_64Guest',
    'win10': 'windows9_64Guest',
    'win11': 'windows11_64Guest',
    'win2k3': 'winNetEnterprise64Guest',
    'win2k3r2': 'winNetEnterprise64Guest',
    'win2k8': 'winLonghorn64Guest',
    'win2k8r2': 'windows7Server64Guest',
    'win2k12': 'windows8Server64Guest',
    'win2k12r2': 'windows8Server64Guest',
    'win2k16': 'windows9Server64Guest',
    'win2k19': 'windows2019srv_64Guest',
    'win2k22': 'windows2019srvNext_64Guest',
    'win2k25': 'windows2022srvNext_64Guest',
}
# Without a version, a guestId every vCenter since 6.7 accepts: pyVmomi may
# know newer ids than the vCenter it talks to.
_UNVERSIONED = {
    'amazonlinux{}_64Guest': 'amazonlinux2_64Guest',
    'asianux{}_64Guest': 'asianux4_64Guest',
    'centos{}_64Guest': 'centos8_64Guest',
    'debian{}_64Guest': 'debian10_64Guest',
    'freebsd{}_64Guest': 'freebsd64Guest',
    'oracleLinux{}_64Guest': 'oracleLinux8_64Guest',
    'rhel{}_64Guest': 'rhel8_64Guest',
    'sles{}_64Guest': 'sles15_64Guest',
    'solaris{}_64Guest': 'solaris11_64Guest',
}
_DISTRO = re.compile(r'^(?P<family>[a-z]+(?:-[a-z]+)*?)'
                     r'(?:-?(?P<major>\d+)[0-9a-z._-]*)?$')


@dataclasses.dataclass(frozen=True)
class ImageProperties(object):
    """What the driver needs of a Glance image, in vSphere terms."""

    image_id: Optional[str]
    name: Optional[str] = None
    disk_format: Optional[str] = None
    container_format: Optional[str] = None
    size: int = 0
    virtual_size: Optional[int] = None
    disk_type: str = DEFAULT_DISK_TYPE
    adapter_type: str = DEFAULT_ADAPTER_TYPE
    cdrom_adapter_type: str = ADAPTER_IDE
    guest_id: str = DEFAULT_GUEST_ID
    vif_model: str = DEFAULT_VIF_MODEL
    firmware: Optional[str] = None
    linked_clone: Optional[bool] = None
    video_ram_mb: Optional[int] = None

    @property
    def is_iso(self):
        return self.disk_format == DISK_FORMAT_ISO

    @property
    def is_ova(self):
        return self.container_format == CONTAINER_FORMAT_OVA

    @property
    def is_sparse(self):
        return self.disk_type == DISK_TYPE_SPARSE

    @property
    def is_stream_optimized(self):
        return self.disk_type == DISK_TYPE_STREAM_OPTIMIZED

    @property
    def needs_conversion(self):
        """A disk image that must become a VMDK before vSphere can use it."""
        return self.disk_format in CONVERTIBLE_DISK_FORMATS


class _Checker(object):
    """Raises ImageUnacceptable for one image, with uniform messages."""

    def __init__(self, image_id):
        self.image_id = image_id

    def fail(self, reason):
        raise exception.ImageUnacceptable(image_id=self.image_id,
                                          reason=reason)

    def choice(self, prop, value, allowed):
        self.fail('%s %r is not supported by the VMware driver; allowed: '
                  '%s' % (prop, value, ', '.join(allowed)))


def _attr(obj, name):
    return getattr(obj, name) if obj.obj_attr_is_set(name) else None


def from_image_meta(image_meta):
    """Validate a ``nova.objects.ImageMeta``; return ``ImageProperties``."""
    props = _attr(image_meta, 'properties')
    image_id = _attr(image_meta, 'id')
    check = _Checker(image_id)

    def get(key):
        return props.get(key) if props is not None else None

    disk_format = _attr(image_meta, 'disk_format') or None
    if disk_format is not None and disk_format not in DISK_FORMATS:
        check.choice('disk_format', disk_format, DISK_FORMATS)
    container_format = _attr(image_meta, 'container_format') or None
    if container_format is not None:
        if container_format not in CONTAINER_FORMATS:
            check.choice('container_format', container_format,
                         CONTAINER_FORMATS)
        if (container_format == CONTAINER_FORMAT_OVA and
                disk_format != DISK_FORMAT_VMDK):
            check.fail("container_format 'ova' needs disk_format 'vmdk' "
                       "(an OVA carries VMDK disks), not %r" % disk_format)

    return ImageProperties(
        image_id=image_id,
        name=_attr(image_meta, 'name') or None,
        disk_format=disk_format,
        container_format=container_format,
        size=_attr(image_meta, 'size') or 0,
        virtual_size=_attr(image_meta, 'virtual_size') or None,
        disk_type=_disk_type(check, get('hw_disk_type')),
        adapter_type=_adapter_type(check, get('hw_disk_bus'),
                                   get('hw_scsi_model')),
        cdrom_adapter_type=_cdrom_adapter_type(check, get('hw_cdrom_bus')),
        guest_id=guest_id(get('os_distro'), get('os_type'),
                          image_id=image_id),
        vif_model=_vif_model(check, get('hw_vif_model')),
        firmware=_FIRMWARE.get(get('hw_firmware_type')),
        linked_clone=get('img_linked_clone'),
        video_ram_mb=get('hw_video_ram') or None)


def with_ovf(image_meta, image, hardware, disk_size):
    """An OVA image's properties completed by its OVF descriptor.

    The disk is the OVA's streamOptimized VMDK of ``disk_size`` bytes. The
    descriptor's disk controller, guest OS and NIC model apply where the
    image's properties are silent (hw_disk_bus/hw_scsi_model, os_distro,
    hw_vif_model); values vSphere would not take are ignored. Its CPU and
    memory never apply: Nova places and accounts an instance by its flavor.
    """
    props = _attr(image_meta, 'properties') if image_meta else None

    def silent(*keys):
        return props is None or all(props.get(k) is None for k in keys)
    changes = dict(disk_type=DISK_TYPE_STREAM_OPTIMIZED, size=disk_size,
                   virtual_size=None)
    if (silent('hw_disk_bus', 'hw_scsi_model') and
            hardware.adapter_type in ADAPTER_TYPES):
        changes['adapter_type'] = hardware.adapter_type
    if silent('os_distro') and hardware.guest_id:
        if hardware.guest_id in GUEST_IDS:
            changes['guest_id'] = hardware.guest_id
        else:
            LOG.warning('Image %(image)s: its OVF declares the guest OS '
                        '%(guest)r, which is no vSphere guestId; ignored',
                        {'image': image.image_id, 'guest': hardware.guest_id})
    if silent('hw_vif_model') and hardware.vif_model in VIF_MODELS:
        changes['vif_model'] = VIF_MODELS[hardware.vif_model]
    return dataclasses.replace(image, **changes)


def _disk_type(check, value):
    if value is None:
        return DEFAULT_DISK_TYPE
    value = _DISK_TYPE_ALIASES.get(value, value)
    if value not in DISK_TYPES:
        check.choice('hw_disk_type (vmware_disktype)', value, DISK_TYPES)
    return value


def _adapter_type(check, disk_bus, scsi_model):
    if disk_bus is not None and disk_bus not in _DISK_BUSES:
        check.choice('hw_disk_bus', disk_bus, _DISK_BUSES)
    adapter = _DISK_BUSES.get(disk_bus)
    if adapter is not None:
        # An IDE or SATA disk: a SCSI model, if any, does not apply.
        return adapter
    if scsi_model is None:
        return DEFAULT_ADAPTER_TYPE
    if scsi_model not in _SCSI_MODELS:
        check.choice('hw_scsi_model (vmware_adaptertype)', scsi_model,
                     _SCSI_MODELS)
    return _SCSI_MODELS[scsi_model]


def _cdrom_adapter_type(check, cdrom_bus):
    if cdrom_bus is None:
        return ADAPTER_IDE
    if cdrom_bus not in _CDROM_BUSES:
        check.choice('hw_cdrom_bus', cdrom_bus, _CDROM_BUSES)
    return _CDROM_BUSES[cdrom_bus]


def _vif_model(check, value):
    if value is None:
        return DEFAULT_VIF_MODEL
    if value not in VIF_MODELS:
        check.choice('hw_vif_model', value, VIF_MODELS)
    return VIF_MODELS[value]


def guest_id(os_distro, os_type=None, image_id=None):
    """The vSphere guestId for an image's ``os_distro`` (``vmware_ostype``).

    A valid guestId is kept; a known distribution name maps to its 64-bit
    guestId; an invalid guestId-shaped value is refused with close matches;
    any other name gets a generic guestId (Linux when ``os_type`` says so).
    """
    if not os_distro:
        return DEFAULT_GUEST_ID
    if os_distro in GUEST_IDS:
        return os_distro
    if os_distro.lower().endswith(('guest', 'guest64')):
        by_lower = {g.lower(): g for g in GUEST_IDS}
        close = [by_lower[m] for m in difflib.get_close_matches(
            os_distro.lower(), by_lower, n=3)]
        hint = ' (did you mean %s?)' % ', '.join(close) if close else ''
        raise exception.ImageUnacceptable(image_id=image_id, reason=(
            'os_distro (vmware_ostype) %r is not a vSphere guestId%s; '
            'allowed: a member of vim.vm.GuestOsDescriptor.'
            'GuestOsIdentifier, or an os_distro name (with or without '
            'version): %s' % (os_distro, hint, ', '.join(sorted(
                set(_DISTRO_GUEST_IDS) | set(_WINDOWS_GUEST_IDS))))))
    found = _distro_guest_id(os_distro.strip().lower().replace(' ', '-'))
    if found:
        return found
    fallback = (LINUX_GUEST_ID if os_type == fields.OSType.LINUX
                else DEFAULT_GUEST_ID)
    LOG.warning('Image %(image)s: os_distro %(distro)r names no known '
                'vSphere guest OS; the VM gets guestId %(guest)s',
                {'image': image_id, 'distro': os_distro, 'guest': fallback})
    return fallback


def _distro_guest_id(distro):
    if distro.startswith('win'):
        found = _WINDOWS_GUEST_IDS.get(distro)
        return found if found in GUEST_IDS else None
    match = _DISTRO.match(distro)
    if not match or match.group('family') not in _DISTRO_GUEST_IDS:
        return None
    pattern = _DISTRO_GUEST_IDS[match.group('family')]
    if '{}' not in pattern:
        return pattern if pattern in GUEST_IDS else None
    return _versioned(pattern, match.group('major'))


def _versioned(pattern, major):
    """The guestId of ``pattern`` for ``major``, or the closest older one."""
    before, after = pattern.split('{}')
    versioned = re.compile(r'^%s(\d+)%s$' % (re.escape(before),
                                             re.escape(after)))
    known = [int(m.group(1)) for m in map(versioned.match, GUEST_IDS) if m]
    older = [v for v in known if major is not None and v <= int(major)]
    if older:
        return pattern.format(max(older))
    return _UNVERSIONED[pattern]
