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

"""What a flavor's extra specs ask of a VM, and which ones it may ask. Pure.

``flavor_limits`` parses the keys this driver honours (quota:*,
vmware:hw_version, vmware:storage_policy, hw_video:ram_max_mb) and
``cpu_topology`` the hw:cpu_* ones; ``check_supported`` refuses, naming it,
every other key a virt driver would have to act on. Errors are
``InvalidInput`` naming key, value and what is allowed.

A key is this driver's business when its namespace is one a virt driver acts
on (``hw:``, ``hw_rng:``, ``hw_video:``, ``quota:``, ``vmware:``, ``os:``,
``pci_passthrough:``, ``accel:``, and the unscoped ``hide_hypervisor_id``).
Keys Nova's scheduler and placement act on (``resources*``, ``trait*``,
``aggregate_instance_extra_specs:``, ``capabilities:``, ``group_policy``,
unscoped keys matched against aggregate metadata, and any namespace of
another service) pass through untouched: honouring them is not ours to do.
Some keys ask for what a vSphere VM built by this driver is anyway (e.g.
``hw:cpu_policy=shared``): those are accepted with exactly such values.
"""

import dataclasses
import re
from typing import Optional

from nova import exception
from nova.virt import hardware
from oslo_log import log as logging
from oslo_utils import strutils

LOG = logging.getLogger(__name__)

SHARES_LEVELS = ('low', 'normal', 'high', 'custom')
SHARES_CUSTOM = 'custom'
# quota:<resource>_* extra specs and the unit vSphere counts them in.
QUOTA_RESOURCES = (('cpu', 'MHz'), ('memory', 'MB'), ('disk_io', 'IOPS'),
                   ('vif', 'Mbps'))
_HW_VERSION = re.compile(r'^vmx-(\d{2,3})$')
QUOTA_KNOBS = ('limit', 'reservation', 'shares_level', 'shares_share')
TOPOLOGY_KEYS = ('hw:cpu_sockets', 'hw:cpu_cores', 'hw:cpu_threads',
                 'hw:cpu_max_sockets', 'hw:cpu_max_cores',
                 'hw:cpu_max_threads')
# A vCenter storage policy name (honoured with [vmware] pbm_enabled; see
# compute/storage_policy.py). Nova's own extra spec validator already
# declares the key (a string), so nova-api needs no validator of ours.
STORAGE_POLICY = 'vmware:storage_policy'

# Keys the driver acts on (parsed below).
HONOURED = frozenset(
    ['quota:%s_%s' % (resource, knob) for resource, _ in QUOTA_RESOURCES
     for knob in QUOTA_KNOBS] +
    ['vmware:hw_version', STORAGE_POLICY, 'hw_video:ram_max_mb'] +
    list(TOPOLOGY_KEYS))

HONOURED_SUMMARY = (
    'quota:{cpu,memory,disk_io,vif}_{limit,reservation,shares_level,'
    'shares_share}, vmware:hw_version, vmware:storage_policy, '
    'hw_video:ram_max_mb, '
    'hw:cpu_{sockets,cores,threads}, hw:cpu_max_{sockets,cores,threads}')

_FALSE = 'false'
# Keys accepted only with a value that asks for what the driver does anyway:
# key -> (the values, as normalised by _normalise, that are fine; why).
AS_IS = {
    'hw:cpu_policy': (('shared',), 'vCPUs float over the cluster\'s cores'),
    'hw:mem_page_size': (('small', 'any'), 'guest memory uses small pages'),
    'hw:boot_menu': ((_FALSE,), 'no boot menu is shown'),
    'hw:vif_multiqueue_enabled': ((_FALSE,), 'NICs have one queue'),
    'hw:pmu': ((_FALSE,), 'VMs get no virtual PMU'),
    'hw:hide_hypervisor_id': ((_FALSE,), 'the hypervisor id is visible'),
    'hide_hypervisor_id': ((_FALSE,), 'the hypervisor id is visible'),
    'os:secure_boot': (('disabled',), 'secure boot is not set up'),
    # A permission for the image's hw_rng_model, not a request.
    'hw_rng:allowed': ((_FALSE, 'true'), 'it only permits an RNG'),
}
_BOOLEAN = ('hw:boot_menu', 'hw:vif_multiqueue_enabled', 'hw:pmu',
            'hw:hide_hypervisor_id', 'hide_hypervisor_id', 'hw_rng:allowed')

# Namespaces whose keys a virt driver must act on.
DRIVER_NAMESPACES = ('hw', 'hw_rng', 'hw_video', 'quota', 'vmware', 'os',
                     'pci_passthrough', 'accel')
_DRIVER_UNSCOPED = ('hide_hypervisor_id',)

# Why well-known keys are refused, where a reason helps the operator.
_WHY_NOT = {}


def _normalise(key, value):
    if key in _BOOLEAN:
        try:
            return 'true' if strutils.bool_from_string(
                value, strict=True) else _FALSE
        except ValueError:
            return None
    return str(value).strip().lower()


def is_driver_key(key):
    """True for a key in a namespace a virt driver must act on."""
    if key in _DRIVER_UNSCOPED:
        return True
    return ':' in key and key.split(':', 1)[0] in DRIVER_NAMESPACES


def unsupported(extra_specs):
    """[(key, reason)] of the driver's keys it cannot honour, sorted."""
    refused = []
    for key in sorted(extra_specs or {}):
        if key in HONOURED or not is_driver_key(key):
            continue
        value = extra_specs[key]
        if key in AS_IS:
            allowed, meaning = AS_IS[key]
            if _normalise(key, value) in allowed:
                continue
            refused.append((key, 'only %s is accepted (%s)' % (
                ' or '.join(allowed), meaning)))
            continue
        refused.append((key, _WHY_NOT.get(
            key, 'not supported by the VMware driver')))
    return refused


def check_supported(extra_specs):
    """Raise InvalidInput naming every extra spec the driver cannot honour."""
    refused = unsupported(extra_specs)
    if not refused:
        return
    raise exception.InvalidInput(reason=(
        'flavor extra spec%s %s cannot be honoured by the VMware driver (%s);'
        ' it honours %s' % (
            's' if len(refused) > 1 else '',
            ', '.join('%s=%r' % (key, extra_specs[key])
                      for key, _ in refused),
            '; '.join('%s: %s' % item for item in refused), HONOURED_SUMMARY)))


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
    video_ram_max_mb: int = 0
    storage_policy: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class CpuTopology(object):
    num_cpus: int
    cores_per_socket: int


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
    """Parse the quota:*, vmware:* and hw_video:* extra specs of a flavor.

    An extra spec the driver cannot honour is refused (check_supported).
    """
    extra_specs = flavor.extra_specs or {}
    check_supported(extra_specs)
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
    policy = extra_specs.get(STORAGE_POLICY)
    if policy is not None and not str(policy).strip():
        _invalid(STORAGE_POLICY, policy, 'the name of a vCenter storage '
                 'policy')
    return FlavorLimits(
        cpu=allocations['cpu'], memory=allocations['memory'],
        disk_io=allocations['disk_io'], vif=allocations['vif'],
        hw_version=hw_version,
        video_ram_max_mb=video_ram_max or 0,
        storage_policy=str(policy).strip() if policy is not None else None)


def _hw_version_number(key):
    match = _HW_VERSION.match(key or '')
    return int(match.group(1)) if match else -1


def check_hw_version(hw_version, supported):
    """Refuse a hardware version the cluster's hosts cannot create.

    ``supported`` is what EnvironmentBrowser reported (None: unknown, no
    check).
    """
    if hw_version is None or supported is None or hw_version in supported:
        return
    raise exception.InvalidInput(reason=(
        'flavor extra spec vmware:hw_version=%r is not a virtual hardware '
        'version the hosts of this cluster can create VMs with; allowed: %s'
        % (hw_version, ', '.join(sorted(supported, key=_hw_version_number))
           or 'none reported')))


def _requested_topology(flavor, image_meta):
    """[(key, sockets or cores)] asked for, as Nova chooses between them.

    Nova takes the image's preference when it has any, else the flavor's.
    """
    props = (image_meta.properties
             if image_meta.obj_attr_is_set('properties') else None)
    image = [(key, props.get(key) if props is not None else None)
             for key in ('hw_cpu_sockets', 'hw_cpu_cores', 'hw_cpu_threads')]
    if any(value for _, value in image):
        return image[:2]
    extra_specs = flavor.extra_specs or {}
    return [(key, int(extra_specs[key]) if extra_specs.get(key) else None)
            for key in ('hw:cpu_sockets', 'hw:cpu_cores')]


def cpu_topology(flavor, image_meta):
    """numCPUs and numCoresPerSocket from hw:cpu_* and hw_cpu_* (no threads).

    ``image_meta`` is Nova's ImageMeta: Nova's own topology rules apply,
    and a requested sockets or cores count Nova cannot honour for the
    flavor's vCPUs (it would pick another) is refused.
    """
    extra_specs = flavor.extra_specs or {}
    for key in TOPOLOGY_KEYS:
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
    chosen = {'sockets': topology.sockets, 'cores': topology.cores}
    wanted = _requested_topology(flavor, image_meta)
    if any(value and value != chosen[key.rsplit('_', 1)[1]]
           for key, value in wanted):
        raise exception.InvalidInput(reason=(
            'CPU topology %s cannot be honoured for %d vCPUs: sockets x '
            'cores must equal the vCPU count within the hw:cpu_max_* / '
            'hw_cpu_max_* limits (Nova would choose %d sockets x %d cores)'
            % (', '.join('%s=%s' % item for item in wanted if item[1]),
               flavor.vcpus, topology.sockets, topology.cores)))
    return CpuTopology(num_cpus=flavor.vcpus,
                       cores_per_socket=topology.cores)
