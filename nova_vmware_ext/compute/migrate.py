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

"""Resize and cold migration: the VM is reconfigured, and moved, never rebuilt.

One nova-compute manages one cluster, and the VM is one vCenter object both
computes see. So:

* ``migrate_disk_and_power_off`` (source) checks the new flavor (a smaller
  root disk, other ephemeral or swap disks, an unusable extra spec, other
  disk I/O, NIC or video limits, or another hardware version is an
  ``InstanceFaultRollback``, so Nova puts the server back as it was), and
  that the destination node is on this vCenter, then powers the VM off. It
  cannot move it: it only knows the destination's address.
* ``finish_migration`` (destination) moves the VM when it is in another
  cluster, with one RelocateVM_Task: to this cluster's root pool (and a host
  of it when DRS is off), to one of its allowed datastores (the VM's own
  when allowed), its NIC backings re-resolved among this cluster's networks.
  A volume's disk stays on its datastore (compute/volume_moves.py: a
  cluster whose hosts do not mount it is refused, before any change).
  A linked clone moving to another datastore is consolidated
  (moveAllDiskBackingsAndConsolidate): its parent in the source's image
  cache may not be reachable from here. The config drive ISO, in the VM's
  folder, follows it: vSphere moves the VM's own files, so a CD-ROM file
  left behind is copied into the new folder and the CD-ROM pointed there,
  and the old folder goes. Then one ReconfigVM_Task sets CPUs, cores per
  socket, memory, their allocations (quota:* extra specs) and the root disk
  size, and records the VM's previous values in its extraConfig
  (``nova.resize.revert``) for a revert.
* ``confirm_migration`` (source) deletes nothing: it drops that record.
* ``finish_revert_migration`` (source) moves the VM back the same way and
  restores the recorded CPUs, memory and allocations exactly. A grown root
  disk stays grown: vSphere cannot shrink a disk, and the data the guest
  wrote there is the server's (as in-tree, which shrinks nothing either).
* Server group DRS rules follow: the compute the VM arrives at adds it to
  its cluster's rule, the source's confirm takes it out of its own.
* ``destroy`` during a revert on the destination (task_state
  RESIZE_REVERTING) leaves the VM alone (compute/destroy.py).

The root disk is the image's, never a volume's disk (a First Class Disk,
or a disk a ``volume-<id>`` extraConfig key names, read for the volumes of
block_device_info): a volume-backed instance's resize grows nothing, as
Cinder alone extends a volume. A root disk that is a linked clone is
consolidated before it grows: vSphere does not extend a child disk. The
node names (``<cluster>.<vCenter instance UUID>``) tell whether both ends
are on one vCenter; a move between vCenters is refused.
"""

import dataclasses
import json

from nova import exception
from nova import objects
from oslo_log import log as logging
from oslo_utils import units
from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.compute import flavor as vflavor
from nova_vmware_ext.compute import image_meta as vimage
from nova_vmware_ext.compute import networks as vnetworks
from nova_vmware_ext.compute import nodes
from nova_vmware_ext.compute import specs
from nova_vmware_ext.compute import vm_config
from nova_vmware_ext.compute import volume_devices as devs
from nova_vmware_ext.compute import volume_moves as vmoves
from nova_vmware_ext.vsphere import files as vfiles
from nova_vmware_ext.vsphere import props

LOG = logging.getLogger(__name__)

REVERT_KEY = 'nova.resize.revert'
CONSOLIDATE = 'moveAllDiskBackingsAndConsolidate'

_VM_PATHS = ['config.annotation', 'config.hardware.numCPU',
             'config.hardware.numCoresPerSocket',
             'config.hardware.memoryMB', 'config.hardware.device',
             'config.cpuAllocation', 'config.memoryAllocation',
             'config.files.vmPathName', 'config.version',
             'config.extraConfig["%s"]' % REVERT_KEY, 'runtime.host',
             'runtime.powerState', 'resourcePool', 'datastore']


def refuse_other_vcenter(own_node, other_node):
    """ResizeError when ``other_node`` is on another vCenter."""
    ours, theirs = nodes.vcenter_of(own_node), nodes.vcenter_of(other_node)
    if ours and theirs and ours != theirs:
        raise exception.ResizeError(reason=(
            'node %s is on another vCenter (instance UUID %s) than node %s '
            '(%s): moving a VM between vCenters is not supported by '
            'vmware_ext' % (other_node, theirs, own_node, ours)))


# Flavor limits a resize does not apply to the VM's devices: a change is
# refused rather than ignored.
_KEPT_ON_RESIZE = (('disk_io', 'quota:disk_io_*'), ('vif', 'quota:vif_*'),
                   ('video_ram_max_mb', 'hw_video:ram_max_mb'),
                   ('storage_policy', 'vmware:storage_policy'))


def check_new_flavor(old, new, image_meta, policies_enabled=True):
    """Refuse a flavor this VM cannot be resized to, before anything
    happens: InstanceFaultRollback around a ResizeError naming why.
    ``policies_enabled`` is ``[vmware] pbm_enabled``: without it a flavor's
    storage policy is ignored, and so is its change."""
    try:
        if new.root_gb < old.root_gb:
            raise exception.ResizeError(reason=(
                'unable to shrink the root disk from %d GB to %d GB '
                '(flavor %s): vSphere cannot shrink a virtual disk' % (
                    old.root_gb, new.root_gb, new.name)))
        for field, unit in (('ephemeral_gb', 'GB'), ('swap', 'MB')):
            if getattr(new, field) != getattr(old, field):
                raise exception.ResizeError(reason=(
                    'flavor %s changes %s from %d %s to %d %s: vmware_ext '
                    'resizes CPUs, memory and the root disk only' % (
                        new.name, field, getattr(old, field), unit,
                        getattr(new, field), unit)))
        limits = vflavor.flavor_limits(new)
        vflavor.cpu_topology(new, image_meta)
        old_limits = vflavor.flavor_limits(old)
        if limits.hw_version != old_limits.hw_version:
            raise exception.ResizeError(reason=(
                'flavor %s asks virtual hardware version %s, the VM has '
                'the one of its flavor %s: a resize does not change it' % (
                    new.name, limits.hw_version or 'default', old.name)))
        for field, specs_named in _KEPT_ON_RESIZE:
            if field == 'storage_policy' and not policies_enabled:
                continue
            if getattr(limits, field) != getattr(old_limits, field):
                raise exception.ResizeError(reason=(
                    'flavor %s changes %s from those of flavor %s: a resize '
                    'sets CPU and memory allocations only' % (
                        new.name, specs_named, old.name)))
    except exception.ResizeError as exc:
        raise exception.InstanceFaultRollback(inner_exception=exc)
    except exception.Invalid as exc:
        raise exception.InstanceFaultRollback(
            inner_exception=exception.ResizeError(reason=exc.format_message()))


def _allocation_dict(info):
    if info is None:
        return None
    shares = info.shares
    return {'limit': info.limit, 'reservation': info.reservation,
            'level': str(shares.level) if shares else None,
            'shares': shares.shares if shares else None}


def _allocation_info(saved):
    if saved is None:
        return None
    info = vim.ResourceAllocationInfo(limit=saved['limit'],
                                      reservation=saved['reservation'])
    if saved['level'] is not None:
        info.shares = vim.SharesInfo(level=saved['level'],
                                     shares=saved['shares'] or 0)
    return info


def migration_uuid(migration):
    return migration.uuid if migration.obj_attr_is_set('uuid') else None


def recorded_config(item, migration_id):
    """What ``finish_migration`` keeps for a revert: the VM's CPUs, memory,
    allocations and notes as vCenter has them, and the migration they are
    for, as JSON."""
    return json.dumps({
        'migration': migration_id,
        'annotation': item.get('config.annotation'),
        'numCPUs': item.get('config.hardware.numCPU'),
        'numCoresPerSocket': item.get('config.hardware.numCoresPerSocket'),
        'memoryMB': item.get('config.hardware.memoryMB'),
        'cpuAllocation': _allocation_dict(item.get('config.cpuAllocation')),
        'memoryAllocation': _allocation_dict(
            item.get('config.memoryAllocation')),
    }, sort_keys=True)


def restore_spec(recorded):
    """The ConfigSpec putting the recorded values back, dropping the
    record."""
    saved = json.loads(recorded)
    spec = vim.vm.ConfigSpec(
        numCPUs=saved['numCPUs'], memoryMB=saved['memoryMB'],
        extraConfig=[vim.option.OptionValue(key=REVERT_KEY, value='')])
    if saved.get('annotation') is not None:
        spec.annotation = saved['annotation']
    if saved.get('numCoresPerSocket'):
        spec.numCoresPerSocket = saved['numCoresPerSocket']
    for name in ('cpuAllocation', 'memoryAllocation'):
        info = _allocation_info(saved.get(name))
        if info is not None:
            setattr(spec, name, info)
    return spec


def flavor_spec(instance, flavor, image_meta, context=None, package=None):
    """The ConfigSpec giving the VM ``flavor``'s CPUs, memory and
    allocations (unset quota:* extra specs reset vSphere's defaults), and
    the notes naming the flavor."""
    limits = vflavor.flavor_limits(flavor)
    topology = vflavor.cpu_topology(flavor, image_meta)
    return vim.vm.ConfigSpec(
        numCPUs=topology.num_cpus,
        numCoresPerSocket=topology.cores_per_socket,
        memoryMB=flavor.memory_mb,
        cpuAllocation=vm_config.resource_allocation(limits.cpu),
        memoryAllocation=vm_config.resource_allocation(limits.memory),
        annotation=specs.annotation(instance, flavor, context, package))


def root_disk(item):
    """The root disk from the image of a VM read with its volume paths
    (``devs.volume_paths``), never a volume's disk; None when the instance
    boots from a volume."""
    return devs.root_disk(item.get('config.hardware.device'),
                          devs.volume_options(item))


def needs_growth(disk, root_gb):
    """Whether root disk ``disk`` (or None) is smaller than ``root_gb``."""
    return bool(disk is not None and root_gb and
                disk.capacityInKB < root_gb * units.Mi)


def grow_root_change(disk, root_gb):
    """The device edit growing root disk ``disk`` (or None: nothing to
    grow, a volume is Cinder's) to ``root_gb``, or None."""
    if not needs_growth(disk, root_gb):
        return None
    return devs.grow_disk(disk, root_gb * units.Gi)


def _has_parent(disk):
    return disk is not None and getattr(disk.backing, 'parent', None) \
        is not None


def recorded_for(item, migration_id):
    """The VM's revert record of this migration, or None (a record a
    migration left that was never confirmed nor reverted is stale)."""
    option = item.get('config.extraConfig["%s"]' % REVERT_KEY)
    if option is None or not option.value:
        return None
    try:
        saved = json.loads(option.value)
    except ValueError:
        return None
    return option.value if saved.get('migration') == migration_id else None


class MigrateOps(object):
    """Resize in place and moves between clusters of one vCenter.

    :param inventory: vsphere.inventory.Inventory of this cluster.
    :param resources: compute.resources.ClusterResources (datastores).
    :param folders: compute.folders.ProjectFolders (VM folders).
    :param instances: compute.instances.Instances, which VM is which.
    :param power: compute.power.PowerOps.
    :param files: vsphere.files.FileManager of the cluster's datacenter.
    :param nodename: this compute's node name.
    :param server_groups: compute.server_groups.ServerGroupRules, told when
        a VM moves in or out (None: DRS rules are not kept).
    :param placement: compute.storage_policy.StoragePlacement: a VM moving
        in goes to a datastore its flavor's storage policy allows (None:
        datastore_regex alone).
    """

    def __init__(self, session, waiter, inventory, resources, folders,
                 instances, power, files, nodename, integration_bridge=None,
                 server_groups=None, placement=None):
        self.session = session
        self.placement = placement
        self.server_groups = server_groups
        self.files = files
        self.waiter = waiter
        self.inventory = inventory
        self.resources = resources
        self.folders = folders
        self.instances = instances
        self.power = power
        self.nodename = nodename
        self.integration_bridge = integration_bridge

    def _policies_enabled(self):
        return bool(self.placement is not None and
                    self.placement.policies is not None)

    # Source

    def migrate_disk_and_power_off(self, context, instance, flavor,
                                   timeout=0, retry_interval=0,
                                   block_device_info=None):
        check_new_flavor(instance.flavor, flavor, instance.image_meta,
                         policies_enabled=self._policies_enabled())
        migration = self._migration(context, instance)
        if migration is not None:
            try:
                refuse_other_vcenter(self.nodename, migration.dest_node)
                self._check_volumes_seen(instance, migration.dest_node,
                                         block_device_info)
            except exception.ResizeError as exc:
                raise exception.InstanceFaultRollback(inner_exception=exc)
        self.power.power_off(instance, timeout, retry_interval)
        # Nothing to transfer: the destination takes the VM over.
        return ''

    def _check_volumes_seen(self, instance, dest_node, block_device_info):
        """Refuse a move to another cluster whose hosts do not mount a
        volume's datastore, before the VM powers off."""
        cluster = nodes.split_node(dest_node)[0]
        if (dest_node == self.nodename or cluster is None or
                not vmoves.may_have_volumes(block_device_info)):
            return
        item = self._read(self._vm(instance), ['config.extraConfig'])
        vmoves.check_cluster_sees(self.session, cluster,
                                  vmoves.of_vm(self.session, item))

    @staticmethod
    def _migration(context, instance):
        """The Migration record of the move under way, if Nova has one."""
        mig_context = instance.migration_context \
            if instance.obj_attr_is_set('migration_context') else None
        if mig_context is None or context is None:
            return None
        return objects.Migration.get_by_id(context,
                                           mig_context.migration_id)

    def confirm_migration(self, context, migration, instance):
        """Nothing to delete: there is one VM. Drop the revert record."""
        if migration.source_node != migration.dest_node:
            self._moved(context, instance, 'member_gone')
        spec = vim.vm.ConfigSpec(extraConfig=[
            vim.option.OptionValue(key=REVERT_KEY, value='')])
        try:
            task = self.instances.call(
                instance, lambda vm: vm.ReconfigVM_Task(spec))
        except exception.InstanceNotFound:
            # Deleted meanwhile: Nova confirms a resize before deleting.
            LOG.info('No VM to confirm the move of', instance=instance)
            return
        self.waiter.wait(task, 'confirmation of the resize of instance %s'
                         % instance.uuid)
        LOG.info('Confirmed the move (nothing is deleted)',
                 instance=instance)

    def finish_revert_migration(self, context, instance, network_info,
                                migration, power_on=True,
                                block_device_info=None):
        vm = self._vm(instance)
        self.power.power_off(instance)
        volume_paths = devs.volume_paths(block_device_info)
        item = self._read(vm, volume_paths)
        if not self._is_here(item):
            item = self._move_here(instance, item, network_info,
                                   instance.image_meta, volume_paths)
            self._moved(context, instance, 'member_added')
        recorded = recorded_for(item, migration_uuid(migration))
        if recorded is not None:
            spec = restore_spec(recorded)
        else:
            # Not resized (the destination failed before): its flavor.
            spec = flavor_spec(instance, instance.flavor,
                               instance.image_meta, context)
        self.waiter.wait(vm.ReconfigVM_Task(spec),
                         'revert of the resize of instance %s' %
                         instance.uuid)
        LOG.info('Reverted VM %(vm)s to %(cpus)d CPUs, %(mb)d MB (a grown '
                 'root disk stays grown)', {'vm': vm._moId,
                                            'cpus': spec.numCPUs,
                                            'mb': spec.memoryMB},
                 instance=instance)
        if power_on:
            self.power.power_on(instance)

    # Destination

    def finish_migration(self, context, migration, instance, network_info,
                         image_meta, power_on=True, block_device_info=None):
        """Give the VM the new flavor; only a root disk from the image
        grows (a volume's disk is Cinder's to extend)."""
        refuse_other_vcenter(self.nodename, migration.source_node)
        vm = self._vm(instance)
        volume_paths = devs.volume_paths(block_device_info)
        item = self._read(vm, volume_paths)
        if item.get('runtime.powerState') != 'poweredOff':
            self.power.power_off(instance)
        if not self._is_here(item):
            item = self._move_here(instance, item, network_info, image_meta,
                                   volume_paths)
            self._moved(context, instance, 'member_added')
        root = root_disk(item)
        if _has_parent(root) and needs_growth(root, instance.flavor.root_gb):
            item = self._consolidate(instance, item, volume_paths)
            root = root_disk(item)
        spec = flavor_spec(instance, instance.flavor, image_meta, context)
        migration_id = migration_uuid(migration)
        if recorded_for(item, migration_id) is None:
            spec.extraConfig = [vim.option.OptionValue(
                key=REVERT_KEY, value=recorded_config(item, migration_id))]
        grow = grow_root_change(root, instance.flavor.root_gb)
        if grow is not None:
            spec.deviceChange = [grow]
        self.waiter.wait(vm.ReconfigVM_Task(spec),
                         'resize of instance %s' % instance.uuid)
        LOG.info('Resized VM %(vm)s to flavor %(flavor)s', {
            'vm': vm._moId, 'flavor': instance.flavor.name},
            instance=instance)
        if power_on:
            self.power.power_on(instance)

    # Moving the VM into this cluster

    def _moved(self, context, instance, change):
        """Server group DRS rules follow the VM (a best effort: a failure
        is logged and repaired by their periodic reconcile)."""
        if self.server_groups is not None and context is not None:
            getattr(self.server_groups, change)(context, instance)

    def _vm(self, instance):
        """The instance's VM, looked up in this cluster's datacenter; one
        in another datacenter of this vCenter is a clear refusal."""
        vm = self.instances.find(instance.uuid)
        if vm is not None:
            return vm
        elsewhere = self.session.content.searchIndex.FindByUuid(
            uuid=instance.uuid, vmSearch=True, instanceUuid=True)
        if elsewhere is not None:
            raise exception.ResizeError(reason=(
                'VM %s of instance %s is in another datacenter than cluster '
                '%s: vmware_ext moves VMs between clusters of one '
                'datacenter' % (elsewhere._moId, instance.uuid,
                                self.inventory.get().cluster_name)))
        raise exception.InstanceNotFound(instance_id=instance.uuid)

    def _read(self, vm, volume_paths=()):
        item = props.retrieve_one(self.session, vm,
                                  _VM_PATHS + list(volume_paths))
        if item is None:  # deleted under us
            raise exception.InstanceNotFound(instance_id='VM %s' % vm._moId)
        return item

    def _is_here(self, item):
        """The VM is on a host of this cluster."""
        host = item.get('runtime.host')
        return host is not None and any(
            h.ref._moId == host._moId for h in self.inventory.get().hosts)

    def _target_datastore(self, item, flavor):
        """The VM's own datastore when this cluster may use it (and it
        satisfies the flavor's storage policy), else the allowed one with
        the most free space."""
        allowed = (self.placement.allowed(flavor) if self.placement
                   else self.inventory.datastores())
        home = vfiles.DatastorePath.parse(
            item['config.files.vmPathName']).datastore
        for datastore in allowed:
            if datastore.name == home:
                return datastore, False
        return max(allowed, key=self.resources.free_space), True

    def _host_for(self, inv, seeing=()):
        """A host for the VM (of the moids ``seeing`` its volumes, if any)
        when DRS will not pick one, else None."""
        config = props.retrieve_one(self.session, inv.cluster,
                                    ['configurationEx'])
        drs = getattr((config or {}).get('configurationEx'), 'drsConfig',
                      None)
        if drs is not None and drs.enabled:
            return None
        usable = [h for h in inv.hosts if h.usable and
                  (not seeing or h.ref._moId in seeing)]
        if not usable:
            raise exception.ComputeResourcesUnavailable(reason=(
                'cluster %s has no connected host out of maintenance to '
                'take the VM' % inv.cluster_name))
        return usable[0].ref

    def _move_here(self, instance, item, network_info, image_meta,
                   volume_paths):
        inv = self.inventory.get()
        datastore, moves = self._target_datastore(item, instance.flavor)
        # Refused before any change when no host here sees the volumes.
        volumes = vmoves.of_vm(self.session, item)
        seeing = vmoves.check_reachable(self.session, inv, volumes,
                                        datastore)
        spec = vim.vm.RelocateSpec(
            pool=inv.resource_pool,
            folder=self.folders.instances_folder(instance.project_id))
        host = self._host_for(inv, seeing)
        if host is not None:
            spec.host = host
        if moves:
            spec.datastore = datastore.ref
            spec.disk = vmoves.locators(volumes)
            if _has_parent(root_disk(item)):
                spec.diskMoveType = CONSOLIDATE
        spec.deviceChange = self._nic_changes(
            item.get('config.hardware.device'), network_info, image_meta)
        vm = item['obj']
        self.waiter.wait(vm.RelocateVM_Task(spec),
                         'move of instance %s to cluster %s' % (
                             instance.uuid, inv.cluster_name))
        LOG.info('Moved VM %(vm)s to cluster %(cluster)s, datastore %(ds)s',
                 {'vm': vm._moId, 'cluster': inv.cluster_name,
                  'ds': datastore.name}, instance=instance)
        moved = self._read(vm, volume_paths)
        old_home = vfiles.DatastorePath.parse(
            item['config.files.vmPathName']).parent
        new_home = vfiles.DatastorePath.parse(
            moved['config.files.vmPathName']).parent
        if old_home != new_home:
            self._follow_isos(instance, moved, old_home, new_home)
            moved = self._read(vm, volume_paths)
        return moved

    def _follow_isos(self, instance, item, old_home, new_home):
        """CD-ROM files of the old folder (the config drive) into the new
        one; then the old instance folder goes."""
        changes = []
        for device in item.get('config.hardware.device') or ():
            backing = getattr(device, 'backing', None)
            if not isinstance(backing,
                              vim.vm.device.VirtualCdrom.IsoBackingInfo):
                continue
            path = vfiles.DatastorePath.parse(backing.fileName)
            if path.parent != old_home:
                continue  # an image's ISO elsewhere: not the VM's
            target = new_home.join(path.basename)
            try:
                self.files.copy(path, target)
            except (vexc.FileNotFoundException,
                    vexc.FileAlreadyExistsException):
                pass  # it moved with the folder
            backing.fileName = str(target)
            changes.append(vim.vm.device.VirtualDeviceSpec(
                operation=vim.vm.device.VirtualDeviceSpec.Operation.edit,
                device=device))
        if changes:
            self.waiter.wait(item['obj'].ReconfigVM_Task(
                vim.vm.ConfigSpec(deviceChange=changes)),
                'CD-ROM files of instance %s to %s' % (instance.uuid,
                                                       new_home))
        if old_home.rel_path == instance.uuid:
            self.files.delete(old_home, missing_ok=True)

    def _consolidate(self, instance, item, volume_paths):
        """Make a linked clone's root disk a disk of its own, in place."""
        vm = item['obj']
        datastore, _ = self._target_datastore(item, instance.flavor)
        spec = vim.vm.RelocateSpec(
            datastore=datastore.ref, diskMoveType=CONSOLIDATE,
            disk=vmoves.locators(vmoves.of_vm(self.session, item)))
        self.waiter.wait(vm.RelocateVM_Task(spec),
                         'consolidation of the root disk of instance %s' %
                         instance.uuid)
        return self._read(vm, volume_paths)

    def _nic_changes(self, devices, network_info, image_meta):
        """Edits giving each NIC (matched by MAC) its port's network here."""
        image = vimage.from_image_meta(image_meta)
        nics = specs.nic_specs(network_info, image.vif_model,
                               integration_bridge=self.integration_bridge)
        try:
            resolved, networks = vnetworks.resolve(self.inventory.get(), nics)
        except exception.NetworkNotFoundForBridge:
            resolved, networks = vnetworks.resolve(self.inventory.refresh(),
                                                   nics)
        by_mac = {d.macAddress.lower(): d for d in devices or ()
                  if isinstance(d, vim.vm.device.VirtualEthernetCard)
                  and d.macAddress}
        changes = []
        for nic in nics:
            device = by_mac.get(nic.mac_address.lower())
            if device is None:
                continue
            nic = dataclasses.replace(
                nic, network=resolved.get(nic.port_id, nic.network))
            device.backing = vm_config.nic_backing(
                nic, networks.get(nic.port_id))
            changes.append(vim.vm.device.VirtualDeviceSpec(
                operation=vim.vm.device.VirtualDeviceSpec.Operation.edit,
                device=device))
        return changes
