"""What a VM should be: flavor + image + network info -> frozen specs.

Pure functions, no vCenter calls. ``machine_spec`` gathers everything the
driver decided about a new VM into a ``MachineSpec``; ``vm_config`` turns it
into pyVmomi objects. Bad flavor extra specs raise ``InvalidInput`` naming the
key, the value and what is allowed.
"""

import dataclasses
import math
import re
import types
from typing import Mapping, Optional, Tuple

from nova import exception
from nova.network import model as network_model
from nova import version
from nova.virt import hardware
from oslo_log import log as logging
from oslo_utils import units

from nova_vmware_ext.compute import image_meta as vimage
from nova_vmware_ext.vsphere.files import DatastorePath

LOG = logging.getLogger(__name__)

SHARES_LEVELS = ('low', 'normal', 'high', 'custom')
SHARES_CUSTOM = 'custom'
# quota:<resource>_* extra specs and the unit vSphere counts them in.
QUOTA_RESOURCES = (('cpu', 'MHz'), ('memory', 'MB'), ('disk_io', 'IOPS'),
                   ('vif', 'Mbps'))
_HW_VERSION = re.compile(r'^vmx-\d{2,3}$')
_TOPOLOGY_KEYS = ('hw:cpu_sockets', 'hw:cpu_cores', 'hw:cpu_threads',
                  'hw:cpu_max_sockets', 'hw:cpu_max_cores',
                  'hw:cpu_max_threads')

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


@dataclasses.dataclass(frozen=True)
class Allocation(object):
    """Limit, reservation and shares of one resource, in vSphere's units.

    ``None`` means unset: no limit, no reservation, vSphere's 'normal'
    shares. ``shares`` is only set with ``shares_level`` 'custom'.
    """

    limit: Optional[int] = None
    reservation: Optional[int] = None
    shares_level: Optional[str] = None
    shares: Optional[int] = None

    @property
    def is_set(self):
        return any(value is not None for value in (
            self.limit, self.reservation, self.shares_level))


@dataclasses.dataclass(frozen=True)
class DiskIoLimits(Allocation):
    """Storage I/O allocation of one disk; limit and reservation in IOPS."""


@dataclasses.dataclass(frozen=True)
class FlavorLimits(object):
    """The vSphere knobs a flavor's extra specs set."""

    cpu: Allocation = Allocation()
    memory: Allocation = Allocation()
    disk_io: DiskIoLimits = DiskIoLimits()
    vif: Allocation = Allocation()
    hw_version: Optional[str] = None
    storage_policy: Optional[str] = None
    video_ram_max_mb: int = 0


@dataclasses.dataclass(frozen=True)
class CpuTopology(object):
    num_cpus: int
    cores_per_socket: int


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
    allocation: Allocation = Allocation()


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
    io_limits: DiskIoLimits = DiskIoLimits()
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
class MachineSpec(object):
    name: str
    instance_uuid: str
    guest_id: str
    num_cpus: int
    cores_per_socket: int
    memory_mb: int
    firmware: Optional[str] = None
    hw_version: Optional[str] = None
    cpu_allocation: Allocation = Allocation()
    memory_allocation: Allocation = Allocation()
    extra_config: Mapping[str, str] = dataclasses.field(
        default_factory=dict)
    annotation: str = ''
    disks: Tuple[DiskSpec, ...] = ()
    cdroms: Tuple[CdromSpec, ...] = ()
    nics: Tuple[NicSpec, ...] = ()
    nested_hv: bool = False
    video_ram_kb: Optional[int] = None

    def __post_init__(self):
        # Read-only views and tuples: a spec cannot change once built.
        object.__setattr__(self, 'extra_config',
                           types.MappingProxyType(dict(self.extra_config)))
        for name in ('disks', 'cdroms', 'nics'):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def with_networks(self, resolved):
        """A copy whose NICs use ``resolved[port_id]`` (a NetworkRef)."""
        return dataclasses.replace(self, nics=tuple(
            dataclasses.replace(nic, network=resolved.get(nic.port_id,
                                                          nic.network))
            for nic in self.nics))


def _invalid(key, value, allowed):
    raise exception.InvalidInput(reason=(
        'flavor extra spec %s=%r is not valid for the VMware driver; '
        'allowed: %s' % (key, value, allowed)))


def _int_spec(extra_specs, key, allowed, minimum=0):
    value = extra_specs.get(key)
    if value is None or value == '':
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < minimum:
        _invalid(key, value, allowed)
    return number


def _allocation(extra_specs, resource, unit, cls=Allocation):
    prefix = 'quota:%s_' % resource
    limit = _int_spec(extra_specs, prefix + 'limit',
                      'an integer >= 0 (%s; 0 = unlimited)' % unit)
    reservation = _int_spec(extra_specs, prefix + 'reservation',
                            'an integer >= 0 (%s)' % unit)
    level = extra_specs.get(prefix + 'shares_level') or None
    if level is not None and level not in SHARES_LEVELS:
        _invalid(prefix + 'shares_level', level, ', '.join(SHARES_LEVELS))
    shares = _int_spec(extra_specs, prefix + 'shares_share',
                       'an integer >= 0')
    if level == SHARES_CUSTOM and shares is None:
        raise exception.InvalidInput(reason=(
            'flavor extra spec %sshares_level=custom needs %sshares_share; '
            'allowed: an integer >= 0' % (prefix, prefix)))
    if level != SHARES_CUSTOM and shares is not None:
        # Nova documents the share count as ignored without 'custom'.
        LOG.warning('Flavor extra spec %(key)s is ignored: %(level)s is '
                    'not custom', {'key': prefix + 'shares_share',
                                   'level': prefix + 'shares_level'})
        shares = None
    return cls(limit=limit or None, reservation=reservation or None,
               shares_level=level, shares=shares)


def flavor_limits(flavor):
    """Parse the quota:*, vmware:* and hw_video:* extra specs of a flavor."""
    extra_specs = flavor.extra_specs or {}
    allocations = {
        resource: _allocation(extra_specs, resource, unit,
                              DiskIoLimits if resource == 'disk_io'
                              else Allocation)
        for resource, unit in QUOTA_RESOURCES}
    hw_version = extra_specs.get('vmware:hw_version') or None
    if hw_version is not None and not _HW_VERSION.match(hw_version):
        _invalid('vmware:hw_version', hw_version,
                 'vmx-NN, a virtual hardware version such as vmx-13')
    video_ram_max = _int_spec(extra_specs, 'hw_video:ram_max_mb',
                              'an integer >= 0 (MB)')
    return FlavorLimits(
        cpu=allocations['cpu'], memory=allocations['memory'],
        disk_io=allocations['disk_io'], vif=allocations['vif'],
        hw_version=hw_version,
        storage_policy=extra_specs.get('vmware:storage_policy') or None,
        video_ram_max_mb=video_ram_max or 0)


def cpu_topology(flavor, image_meta):
    """numCPUs and numCoresPerSocket from hw:cpu_* and hw_cpu_* (no threads).

    ``image_meta`` is Nova's ImageMeta: Nova's own topology rules apply.
    """
    extra_specs = flavor.extra_specs or {}
    for key in _TOPOLOGY_KEYS:
        _int_spec(extra_specs, key, 'an integer >= 1', minimum=1)
    requested = [('hw:cpu_threads', extra_specs.get('hw:cpu_threads'))]
    if image_meta.obj_attr_is_set('properties'):
        requested.append(('hw_cpu_threads',
                          image_meta.properties.get('hw_cpu_threads')))
    for key, threads in requested:
        if threads not in (None, '') and int(threads) > 1:
            raise exception.InvalidInput(reason=(
                '%s=%s: a vSphere VM has one thread per core; allowed: 1 '
                'or unset (use hw:cpu_sockets and hw:cpu_cores)' % (
                    key, threads)))
    topology = hardware.get_best_cpu_topology(flavor, image_meta,
                                              allow_threads=False)
    return CpuTopology(num_cpus=flavor.vcpus,
                       cores_per_socket=topology.cores)


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
            allocation=allocation or Allocation()))
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
    io_limits = io_limits or DiskIoLimits()

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


def machine_spec(instance, flavor, image_meta, network_info, *, root_disk,
                 image=None, context=None, folder=None, cdroms=(),
                 ephemerals_gb=None, swap_mb=None, extra_config=None,
                 integration_bridge=None, package=None):
    """Everything a new VM for ``instance`` should be, as a MachineSpec.

    ``image_meta`` is Nova's ImageMeta; ``image`` its ImageProperties when
    the caller has them already. ``cdroms`` are ISO DatastorePaths (the
    image's, a config drive) attached in order. ``extra_config`` adds to or
    overrides the VM's extraConfig options.
    """
    image = image or vimage.from_image_meta(image_meta)
    limits = flavor_limits(flavor)
    topology = cpu_topology(flavor, image_meta)
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
        nested_hv=(image.guest_id.startswith('vmkernel') or
                   image.guest_id in _NESTED_HV_GUESTS),
        video_ram_kb=_video_ram_kb(image, limits))
