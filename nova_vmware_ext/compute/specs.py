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

"""What a VM should be: flavor + image + network info -> frozen specs.

Pure functions, no vCenter calls. ``validate`` runs every flavor, image and
NIC check before spawn changes anything in vCenter; ``machine_spec`` gathers
everything the driver decided about a new VM into a ``MachineSpec``;
``vm_config`` turns it into pyVmomi objects. Flavor extra specs are read in
``flavor``.
"""

import dataclasses
import math
import types
from typing import Mapping, Optional, Tuple

from nova import exception
from nova.network import model as network_model
from nova import version
from oslo_utils import units

from nova_vmware_ext.compute import flavor as vflavor
from nova_vmware_ext.compute import image_meta as vimage
from nova_vmware_ext.vsphere.files import DatastorePath

NETWORK_DVS = 'dvs'
NETWORK_PORTGROUP = 'portgroup'
NETWORK_OPAQUE = 'opaque'
# The opaque network type NSX-T logical switches have in vCenter.
OPAQUE_NSX_LOGICAL_SWITCH = 'nsx.LogicalSwitch'
VIF_TYPES = (network_model.VIF_TYPE_DVS, network_model.VIF_TYPE_OVS)

DISK_ROOT = 'root'
DISK_EPHEMERAL = 'ephemeral'
DISK_SWAP = 'swap'
PROVISIONING_THIN = vimage.DISK_TYPE_THIN
PROVISIONING_THICK = vimage.DISK_TYPE_PREALLOCATED
PROVISIONING_EAGER_ZEROED = vimage.DISK_TYPE_EAGER_ZEROED_THICK
# Image disk types are file formats; on the datastore they are one of these.
_PROVISIONING = {
    vimage.DISK_TYPE_STREAM_OPTIMIZED: PROVISIONING_THIN,
    vimage.DISK_TYPE_SPARSE: PROVISIONING_THIN,
    vimage.DISK_TYPE_THIN: PROVISIONING_THIN,
    vimage.DISK_TYPE_PREALLOCATED: PROVISIONING_THICK,
    vimage.DISK_TYPE_EAGER_ZEROED_THICK: PROVISIONING_EAGER_ZEROED,
}
_NESTED_HV_GUESTS = ('windowsHyperVGuest',)

# extraConfig of the VNC server ESXi (before 7.0) runs for a VM, as the
# in-tree driver sets it.
VNC_ENABLED_KEY = 'RemoteDisplay.vnc.enabled'
VNC_PORT_KEY = 'RemoteDisplay.vnc.port'
VNC_KEYMAP_KEY = 'RemoteDisplay.vnc.keyMap'
# Keystroke repeat delay (microseconds) for consoles on slow links.
TYPEMATIC_DELAY_KEY = 'keyboard.typematicMinDelay'


@dataclasses.dataclass(frozen=True)
class NetworkRef(object):
    """The vSphere network a NIC joins, as Neutron's port binding names it.

    ``dvs``: a distributed portgroup by switch UUID and portgroup key;
    ``portgroup``: a network by name, resolved against the inventory by the
    caller (a distributed portgroup found by name becomes a ``dvs`` ref);
    ``opaque``: an NSX opaque network by id and type.
    """

    kind: str
    name: Optional[str] = None
    switch_uuid: Optional[str] = None
    portgroup_key: Optional[str] = None
    port_key: Optional[str] = None
    opaque_id: Optional[str] = None
    opaque_type: Optional[str] = None
    use_external_id: bool = False


@dataclasses.dataclass(frozen=True)
class NicSpec(object):
    index: int
    port_id: str
    mac_address: str
    model: str
    network: NetworkRef
    allocation: vflavor.Allocation = vflavor.Allocation()


@dataclasses.dataclass(frozen=True)
class RootDisk(object):
    """What the caller decided the root disk is.

    A new blank disk (``create``, no ``parent``), a linked clone (``create``
    with the cached image as ``parent``) or an existing file to attach
    (``create`` false). ``path`` None lets vCenter name a new file.
    ``parent_size_kb`` is the parent's capacity when the caller knows it
    (else the image's virtual size): the child starts at that size.
    """

    path: Optional[DatastorePath] = None
    parent: Optional[DatastorePath] = None
    create: bool = True
    parent_size_kb: Optional[int] = None

    @classmethod
    def blank(cls, path=None):
        return cls(path=path)

    @classmethod
    def linked_clone(cls, parent, path=None, parent_size_kb=None):
        return cls(path=path, parent=parent, parent_size_kb=parent_size_kb)

    @classmethod
    def existing(cls, path):
        return cls(path=path, create=False)


@dataclasses.dataclass(frozen=True)
class DiskSpec(object):
    """One disk of a VM; ``size_kb`` is the size it must end up with.

    A linked clone's child disk is created at its parent's capacity
    (``create_size_kb``) and extended to ``size_kb`` afterwards.
    """

    role: str
    size_kb: int
    adapter_type: str
    provisioning: str = PROVISIONING_THIN
    path: Optional[DatastorePath] = None
    parent: Optional[DatastorePath] = None
    create: bool = True
    io_limits: vflavor.DiskIoLimits = vflavor.DiskIoLimits()
    create_size_kb: Optional[int] = None

    @property
    def is_linked_clone(self):
        return self.parent is not None

    @property
    def needs_extend(self):
        return (self.create_size_kb is not None and
                self.create_size_kb < self.size_kb)


@dataclasses.dataclass(frozen=True)
class CdromSpec(object):
    iso_path: DatastorePath
    adapter_type: str = vimage.ADAPTER_IDE


@dataclasses.dataclass(frozen=True)
class SerialPortSpec(object):
    """A serial port served to a concentrator (vmware-vspc) over the
    network: ``service_uri`` names the concentrator's service, ESXi reaches
    it at ``proxy_uri`` (telnet://host:port)."""

    service_uri: str
    proxy_uri: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class MachineSpec(object):
    name: str
    instance_uuid: str
    guest_id: str
    num_cpus: int
    cores_per_socket: int
    memory_mb: int
    firmware: Optional[str] = None
    hw_version: Optional[str] = None
    cpu_allocation: vflavor.Allocation = vflavor.Allocation()
    memory_allocation: vflavor.Allocation = vflavor.Allocation()
    extra_config: Mapping[str, str] = dataclasses.field(
        default_factory=dict)
    annotation: str = ''
    disks: Tuple[DiskSpec, ...] = ()
    cdroms: Tuple[CdromSpec, ...] = ()
    nics: Tuple[NicSpec, ...] = ()
    serial_ports: Tuple[SerialPortSpec, ...] = ()
    nested_hv: bool = False
    video_ram_kb: Optional[int] = None
    # The storage policy (PBM profile id) of the VM and its disks.
    storage_profile_id: Optional[str] = None

    def __post_init__(self):
        # Read-only views and tuples: a spec cannot change once built.
        object.__setattr__(self, 'extra_config',
                           types.MappingProxyType(dict(self.extra_config)))
        for name in ('disks', 'cdroms', 'nics', 'serial_ports'):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def with_networks(self, resolved):
        """A copy whose NICs use ``resolved[port_id]`` (a NetworkRef)."""
        return dataclasses.replace(self, nics=tuple(
            dataclasses.replace(nic, network=resolved.get(nic.port_id,
                                                          nic.network))
            for nic in self.nics))


def console_extra_config(*, vnc_port=None, vnc_keymap=None,
                         console_delay_seconds=None):
    """extraConfig of a new VM's consoles, as the in-tree driver sets it.

    ``vnc_port``: the VM's VNC port (None: no VNC server); ``vnc_keymap``
    its keyboard layout; ``console_delay_seconds`` a keystroke repeat delay.
    """
    config = {}
    if vnc_port is not None:
        config[VNC_ENABLED_KEY] = 'true'
        config[VNC_PORT_KEY] = str(vnc_port)
        if vnc_keymap:
            config[VNC_KEYMAP_KEY] = vnc_keymap
    if console_delay_seconds:
        config[TYPEMATIC_DELAY_KEY] = str(console_delay_seconds * 1000000)
    return config


def serial_port_specs(service_uri, proxy_uri=None):
    """The serial port of a new VM: one to the concentrator when
    ``service_uri`` is set, else none."""
    if not service_uri:
        return ()
    return (SerialPortSpec(service_uri=service_uri, proxy_uri=proxy_uri),)


def network_ref(vif, integration_bridge=None):
    """The NetworkRef of one VIF of Nova's network_info."""
    vif_type = vif.get('type')
    details = vif.get('details') or {}
    network = vif.get('network') or {}
    if vif_type == network_model.VIF_TYPE_DVS:
        # Neutron's DVS drivers: ids (networking-vsphere's older names too),
        # or the portgroup name, else the network's bridge name.
        switch_uuid = details.get('dvs_id') or details.get('dvs_uuid')
        portgroup_key = (details.get('pg_id') or
                         details.get('dvs_port_group_key'))
        name = details.get('dvs_port_group_name') or network.get('bridge')
        if switch_uuid and portgroup_key:
            return NetworkRef(NETWORK_DVS, name=name,
                              switch_uuid=switch_uuid,
                              portgroup_key=portgroup_key,
                              port_key=details.get('dvs_port_key'))
        if not name:
            raise exception.InvalidInput(reason=(
                'port %s: a dvs binding needs details dvs_id and pg_id, or '
                'dvs_port_group_name, or a network bridge name' % vif['id']))
        return NetworkRef(NETWORK_PORTGROUP, name=name,
                          port_key=details.get('dvs_port_key'))
    if vif_type == network_model.VIF_TYPE_OVS:
        if integration_bridge:
            # NSX-MH: every port is on the integration bridge.
            return NetworkRef(NETWORK_OPAQUE, name=network.get('bridge'),
                              opaque_id=integration_bridge,
                              opaque_type=NETWORK_OPAQUE)
        # NSX-T sends the logical switch; the network id is the fallback.
        return NetworkRef(
            NETWORK_OPAQUE, name=network.get('bridge'),
            opaque_id=(details.get('nsx-logical-switch-id') or
                       network.get('id')),
            opaque_type=OPAQUE_NSX_LOGICAL_SWITCH, use_external_id=True)
    raise exception.InvalidInput(reason=(
        'port %s: vif type %r is not supported by the VMware driver; '
        'allowed: %s' % (vif.get('id'), vif_type, ', '.join(VIF_TYPES))))


def nic_specs(network_info, vif_model, allocation=None,
              integration_bridge=None):
    """One NicSpec per VIF; ``vif_model`` is a vSphere NIC class name."""
    nics = []
    for index, vif in enumerate(network_info or ()):
        vnic_type = vif.get('vnic_type') or network_model.VNIC_TYPE_NORMAL
        if vnic_type != network_model.VNIC_TYPE_NORMAL:
            raise exception.InvalidInput(reason=(
                'port %s: vnic_type %r is not supported by the VMware '
                'driver; allowed: %s' % (vif['id'], vnic_type,
                                         network_model.VNIC_TYPE_NORMAL)))
        nics.append(NicSpec(
            index=index, port_id=vif['id'], mac_address=vif['address'],
            model=vif_model, network=network_ref(vif, integration_bridge),
            allocation=allocation or vflavor.Allocation()))
    return tuple(nics)


def _size_kb(size_bytes):
    return int(math.ceil(size_bytes / float(units.Ki)))


def disk_specs(instance, flavor, image, root_disk, *, folder=None,
               ephemerals_gb=None, swap_mb=None, io_limits=None):
    """Root, ephemeral and swap DiskSpecs, sizes in KB.

    ``root_disk`` (a RootDisk, or None for no root disk) is the caller's
    decision; a root_gb of 0 sizes the root disk after the image. New disks
    are named in ``folder`` (a DatastorePath) when given, else by vCenter.
    ``ephemerals_gb`` (from block_device_info) replaces the flavor's single
    ephemeral disk; ``swap_mb`` replaces the flavor's swap.
    """
    io_limits = io_limits or vflavor.DiskIoLimits()

    def new_path(file_name):
        return folder.join(file_name) if folder is not None else None

    disks = []
    if root_disk is not None:
        image_kb = _size_kb(image.virtual_size or image.size)
        size_kb = flavor.root_gb * units.Mi or image_kb
        if root_disk.create and not size_kb:
            raise exception.InvalidInput(reason=(
                'the root disk has no size: flavor %s has root_gb 0 and '
                'image %s no size' % (flavor.name, image.image_id)))
        path = root_disk.path
        if path is None and root_disk.create:
            path = new_path('%s.vmdk' % instance.uuid)
        create_size_kb = None
        if root_disk.parent is not None:
            create_size_kb = root_disk.parent_size_kb or image_kb
            size_kb = max(size_kb, create_size_kb)
        disks.append(DiskSpec(
            role=DISK_ROOT, size_kb=size_kb, adapter_type=image.adapter_type,
            provisioning=_PROVISIONING[image.disk_type], path=path,
            parent=root_disk.parent, create=root_disk.create,
            io_limits=io_limits, create_size_kb=create_size_kb))
    if ephemerals_gb is None:
        ephemerals_gb = [flavor.ephemeral_gb] if flavor.ephemeral_gb else []
    for index, size_gb in enumerate(ephemerals_gb):
        disks.append(DiskSpec(
            role=DISK_EPHEMERAL, size_kb=size_gb * units.Mi,
            adapter_type=image.adapter_type,
            path=new_path('ephemeral_%d.vmdk' % index), io_limits=io_limits))
    swap_mb = flavor.swap if swap_mb is None else swap_mb
    if swap_mb:
        disks.append(DiskSpec(
            role=DISK_SWAP, size_kb=swap_mb * units.Ki,
            adapter_type=image.adapter_type, path=new_path('swap.vmdk'),
            io_limits=io_limits))
    return tuple(disks)


def _field(obj, name):
    return getattr(obj, name) if obj.obj_attr_is_set(name) else None


def annotation(instance, flavor, context=None, package=None):
    """The VM's notes: who and what it is, one ``key:value`` per line.

    The same lines the in-tree driver writes, so tools that parse them
    keep working.
    """
    def owner(attr, fallback):
        value = getattr(context, attr, None) if context is not None else None
        return value if value is not None else fallback

    lines = [
        ('name', _field(instance, 'display_name')),
        ('userid', owner('user_id', _field(instance, 'user_id'))),
        ('username', owner('user_name', None)),
        ('projectid', owner('project_id', _field(instance, 'project_id'))),
        ('projectname', owner('project_name', None)),
        ('flavor:name', flavor.name),
        ('flavor:memory_mb', flavor.memory_mb),
        ('flavor:vcpus', flavor.vcpus),
        ('flavor:ephemeral_gb', flavor.ephemeral_gb),
        ('flavor:root_gb', flavor.root_gb),
        ('flavor:swap', flavor.swap),
        ('imageid', _field(instance, 'image_ref')),
        ('package', package if package is not None
         else version.version_string_with_package()),
    ]
    return ''.join('%s:%s\n' % (key, '' if value is None else value)
                   for key, value in lines)


def _video_ram_kb(image, limits):
    requested = image.video_ram_mb or 0
    if requested > limits.video_ram_max_mb:
        raise exception.RequestedVRamTooHigh(
            req_vram=requested, max_vram=limits.video_ram_max_mb)
    return requested * units.Ki if requested else None


# Image disk types whose Glance size is the file's, not the disk's.
_SPARSE_DISK_TYPES = (vimage.DISK_TYPE_STREAM_OPTIMIZED,
                      vimage.DISK_TYPE_SPARSE)


def known_disk_size(image):
    """The image disk's virtual size in bytes when known before fetching it.

    Glance's ``virtual_size``, else the size of a flat disk (its file is the
    disk); None for sparse and streamOptimized VMDKs without one (their
    header says) and for ISOs (no root disk of theirs).
    """
    if image.is_iso or image.is_ova:  # an OVA's disk is inside its tar
        return None
    if image.virtual_size:
        return image.virtual_size
    if image.disk_type in _SPARSE_DISK_TYPES or image.needs_conversion:
        return None
    return image.size or None


def check_root_size(flavor, image):
    """Refuse a flavor root disk smaller than the image's disk (if known)."""
    image_bytes = known_disk_size(image)
    flavor_bytes = flavor.root_gb * units.Gi
    if flavor_bytes and image_bytes and flavor_bytes < image_bytes:
        raise exception.FlavorDiskSmallerThanImage(
            flavor_size=flavor_bytes, image_size=image_bytes)


def validate(flavor, image_meta, network_info, *, hw_versions=None,
             integration_bridge=None):
    """Every check of flavor, image and NICs a spawn needs, before any call.

    Returns the image's ``ImageProperties``. ``hw_versions`` are the
    virtual hardware versions the cluster can create (None: unknown).
    Raises ImageUnacceptable, InvalidInput, FlavorDiskSmallerThanImage,
    RequestedVRamTooHigh or Nova's CPU topology errors, naming the input.
    """
    image = vimage.from_image_meta(image_meta)
    limits = vflavor.flavor_limits(flavor)
    vflavor.check_hw_version(limits.hw_version, hw_versions)
    vflavor.cpu_topology(flavor, image_meta)
    nic_specs(network_info, image.vif_model, allocation=limits.vif,
              integration_bridge=integration_bridge)
    _video_ram_kb(image, limits)
    check_root_size(flavor, image)
    return image


def machine_spec(instance, flavor, image_meta, network_info, *, root_disk,
                 image=None, context=None, folder=None, cdroms=(),
                 ephemerals_gb=None, swap_mb=None, extra_config=None,
                 integration_bridge=None, package=None, serial_ports=(),
                 storage_profile_id=None):
    """Everything a new VM for ``instance`` should be, as a MachineSpec.

    ``image_meta`` is Nova's ImageMeta; ``image`` its ImageProperties when
    the caller has them already. ``cdroms`` are ISO DatastorePaths (the
    image's, a config drive) attached in order. ``extra_config`` adds to or
    overrides the VM's extraConfig options; ``serial_ports`` are
    SerialPortSpecs; ``storage_profile_id`` the storage policy of the VM
    and its disks.
    """
    image = image or vimage.from_image_meta(image_meta)
    limits = vflavor.flavor_limits(flavor)
    topology = vflavor.cpu_topology(flavor, image_meta)
    nics = nic_specs(network_info, image.vif_model, allocation=limits.vif,
                     integration_bridge=integration_bridge)
    config = {'nvp.vm-uuid': instance.uuid,
              # /dev/disk/by-id in the guest needs the disks' UUIDs.
              'disk.EnableUUID': 'true'}
    for nic in nics:
        config['nvp.iface-id.%d' % nic.index] = nic.port_id
    config.update(extra_config or {})
    return MachineSpec(
        name=instance.uuid,
        instance_uuid=instance.uuid,
        guest_id=image.guest_id,
        num_cpus=topology.num_cpus,
        cores_per_socket=topology.cores_per_socket,
        memory_mb=flavor.memory_mb,
        firmware=image.firmware,
        hw_version=limits.hw_version,
        cpu_allocation=limits.cpu,
        memory_allocation=limits.memory,
        extra_config=config,
        annotation=annotation(instance, flavor, context, package),
        disks=disk_specs(instance, flavor, image, root_disk, folder=folder,
                         ephemerals_gb=ephemerals_gb, swap_mb=swap_mb,
                         io_limits=limits.disk_io),
        cdroms=tuple(CdromSpec(iso_path=path,
                               adapter_type=image.cdrom_adapter_type)
                     for path in cdroms),
        nics=nics,
        serial_ports=serial_ports,
        nested_hv=(image.guest_id.startswith('vmkernel') or
                   image.guest_id in _NESTED_HV_GUESTS),
        video_ram_kb=_video_ram_kb(image, limits),
        storage_profile_id=storage_profile_id)
