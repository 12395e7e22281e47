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

"""Live migration (vMotion) to the cluster of another nova-compute.

One nova-compute per cluster: a live migration is a RelocateVM_Task of the
running VM to the destination cluster's root resource pool (and one of its
hosts when DRS is off), onto a datastore the destination allows (a linked
clone that changes datastore is consolidated), with its NICs re-bound as
the destination's port bindings say. The VM stays one
vCenter object (same moid) throughout: nothing here, on either side, ever
deletes it; a failed or cancelled vMotion leaves it running on the source.

The migrate data is Nova's own VMwareLiveMigrateData, which nova-conductor
deserialises without our package: the destination's ``cluster_name`` and
``datastore_regex`` ('' for none: the field is not nullable). Both computes
must manage clusters of one vCenter (the UUID in their node names).

Progress: vCenter reports one percentage per task and Nova has no monitor
outside libvirt, so the driver writes it itself: ``instance.progress``,
and the migration's memory_* (the VM's memory) and disk_* (its disks, when
they change datastore) fields as byte estimates from that percentage (None
where nothing is counted: Nova's API shows them as null or positive).
"""

import dataclasses
import re
import threading

from nova import exception
from nova import objects
from nova.virt import driver
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.compute import errors
from nova_vmware_ext.compute import networks as vnetworks
from nova_vmware_ext.compute import nodes
from nova_vmware_ext.compute import specs
from nova_vmware_ext.compute import vm_config
from nova_vmware_ext.vsphere import faults
from nova_vmware_ext.vsphere import inventory as vinventory
from nova_vmware_ext.vsphere import props
from nova_vmware_ext.vsphere import task_progress

LOG = logging.getLogger(__name__)

_VM_PATHS = ['config.hardware.device', 'config.hardware.memoryMB',
             'datastore', 'runtime.powerState']
_EDIT = vim.vm.device.VirtualDeviceSpec.Operation.edit
_CONSOLIDATE = (vim.vm.RelocateSpec.DiskMoveOptions.
                moveAllDiskBackingsAndConsolidate)
MB = 1024 * 1024


def _precheck_error(reason):
    return exception.MigrationPreCheckError(reason=reason)


def _vmware_data(migrate_data, step):
    if not isinstance(migrate_data, objects.VMwareLiveMigrateData):
        raise _precheck_error(
            '%s needs the VMwareLiveMigrateData of a VMware destination, '
            'got %s' % (step, type(migrate_data).__name__))
    return migrate_data


class _Cancelled(Exception):
    """The vMotion was cancelled (live_migration_abort)."""


class LiveMigrationOps(object):
    """Both ends of a vMotion between two clusters of one vCenter."""

    def __init__(self, session, waiter, inventory, instances, nodename,
                 datastore_regex=None, integration_bridge=None,
                 task_timeout=3600, update_wait=60, server_groups=None):
        """:param server_groups: compute.server_groups.ServerGroupRules, the
        DRS rules a moved member leaves and joins (None: not kept)."""
        self.session = session
        self.waiter = waiter
        self.inventory = inventory
        self.instances = instances
        self.nodename = nodename
        self.datastore_regex = datastore_regex
        self.integration_bridge = integration_bridge
        self.task_timeout = task_timeout
        self.update_wait = update_wait
        self.server_groups = server_groups
        self._lock = threading.Lock()
        self._running = {}  # instance uuid -> its RelocateVM_Task

    # Checks (destination first, then the source)

    def check_destination(self, instance, src_compute_info):
        """The destination's VMwareLiveMigrateData, after refusing a
        source on another vCenter or in this very cluster."""
        source = (src_compute_info or {}).get('hypervisor_hostname')
        src_cluster, src_vcenter = nodes.split_node(source)
        cluster, vcenter = nodes.split_node(self.nodename)
        if src_vcenter != vcenter:
            raise _precheck_error(
                'instance %s is on node %s, not on vCenter %s of the '
                'destination node %s: live migration between vCenters is not '
                'supported' % (instance.uuid, source, vcenter, self.nodename))
        if src_cluster == cluster:
            raise _precheck_error(
                'instance %s is already in cluster %s of node %s' % (
                    instance.uuid, cluster, self.nodename))
        return objects.VMwareLiveMigrateData(
            cluster_name=self.inventory.cluster_name,
            datastore_regex=self.datastore_regex or '')

    def check_source(self, instance, dest_check_data, block_device_info):
        data = _vmware_data(dest_check_data, 'check_can_live_migrate_source')
        _refuse_volumes(instance, block_device_info)
        with errors.fails_as(exception.MigrationPreCheckError):
            self.instances.get(instance)
            self._destination(data)
        return data

    def _destination(self, data):
        """(ClusterInventory, usable datastores) of the destination."""
        try:
            dest = vinventory.resolve(self.session, data.cluster_name)
        except vinventory.InventoryError as exc:
            raise _precheck_error('destination: %s' % exc)
        try:
            allowed = dest.usable_datastores(data.datastore_regex or None)
        except re.error as exc:  # the destination's own setting
            raise _precheck_error(
                'destination datastore_regex %r: %s' % (
                    data.datastore_regex, exc))
        if not allowed:
            raise _precheck_error(
                'no usable datastore of destination cluster %s matches its '
                'datastore_regex %r' % (dest.cluster_name,
                                        data.datastore_regex))
        return dest, allowed

    # Destination before and after

    def pre_live_migration(self, instance, block_device_info, network_info,
                           migrate_data):
        """Refuse volumes, and ports whose networks this cluster does not
        have, before anything moves."""
        data = _vmware_data(migrate_data, 'pre_live_migration')
        _refuse_volumes(instance, block_device_info)
        nics = _nic_specs(_destination_vifs(network_info, data),
                          self.integration_bridge)
        try:
            vnetworks.resolve(self.inventory.get(), nics)
        except exception.NetworkNotFoundForBridge:
            vnetworks.resolve(self.inventory.refresh(), nics)
        return data

    def post_at_destination(self, context, instance):
        """This compute adopts the VM vCenter just moved into its cluster,
        and its server group's DRS rule here takes it in."""
        self.instances.forget(instance.uuid)
        vm = self.instances.get(instance)
        LOG.info('Live migration finished: VM %s now belongs to node %s',
                 vm._moId, self.nodename, instance=instance)
        if self.server_groups is not None:
            self.server_groups.member_added(context, instance)

    def post_at_source(self, context, instance):
        """The VM left: the group's rule here is made without it (named
        gone, since the VM watcher may not have seen it leave yet)."""
        self.instances.forget(instance.uuid)
        if self.server_groups is not None:
            self.server_groups.member_gone(context, instance)

    def rollback_at_destination(self, instance):
        # The VM is one vCenter object that never was this compute's copy:
        # wherever the failed vMotion left it, it must not be deleted.
        LOG.info('Live migration rolled back: the VM is not this compute\'s '
                 'to clean up; nothing to do', instance=instance)

    # Source

    def live_migrate(self, context, instance, dest, post_method,
                     recover_method, block_migration, migrate_data):
        if not isinstance(migrate_data, objects.VMwareLiveMigrateData):
            raise NotImplementedError(
                'the VMware driver live migrates with VMwareLiveMigrateData '
                'from a VMware destination, not %s' %
                type(migrate_data).__name__)
        try:
            self._relocate(instance, migrate_data)
        except _Cancelled:
            LOG.warning('Live migration to %s was cancelled; the VM stays '
                        'on the source', dest, instance=instance)
            recover_method(context, instance, dest, migrate_data,
                           migration_status='cancelled')
            return
        except Exception as exc:
            # As libvirt does: a failed vMotion leaves the VM running where
            # it was, so Nova rolls back and the instance stays usable.
            LOG.error('Live migration to %(dest)s failed; the VM stays on '
                      'the source: %(err)s', {'dest': dest, 'err': exc},
                      instance=instance)
            recover_method(context, instance, dest, migrate_data)
            return
        LOG.info('Live migrated to %s', dest, instance=instance)
        post_method(context, instance, dest, block_migration, migrate_data)

    def _relocate(self, instance, data):
        item = self.instances.read(instance, _VM_PATHS)
        vm = item['obj']
        dest, allowed = self._destination(data)
        current = {ds._moId for ds in item.get('datastore') or ()}
        datastore = _pick_datastore(current, allowed)
        devices = item.get('config.hardware.device') or ()
        spec = vim.vm.RelocateSpec(
            pool=dest.resource_pool,
            deviceChange=self._nic_changes(instance, devices, dest, data))
        if datastore is not None:
            # A linked clone becomes a whole disk there: its parent (the
            # image cache) may be on a datastore the destination does not
            # allow.
            spec.datastore = datastore.ref
            spec.diskMoveType = _CONSOLIDATE
        spec.host = self._pick_host(
            dest, [datastore.ref] if datastore else item.get('datastore'))
        progress = _Progress(
            instance, data.migration if 'migration' in data else None,
            memory=(item.get('config.hardware.memoryMB') or 0) * MB,
            disks=_disk_bytes(devices) if datastore is not None else 0)
        LOG.info('Live migrating VM %(vm)s to cluster %(cluster)s, host '
                 '%(host)s, datastore %(ds)s', {
                     'vm': vm._moId, 'cluster': dest.cluster_name,
                     'host': spec.host._moId if spec.host else 'by DRS',
                     'ds': datastore.name if datastore else 'unchanged'},
                 instance=instance)
        task = vm.RelocateVM_Task(spec)
        with self._lock:
            self._running[instance.uuid] = task
        try:
            self._follow(task, progress, instance)
        except _Cancelled:
            raise
        except Exception:
            with excutils.save_and_reraise_exception() as ctx:
                # Lost sight of the task (e.g. the session dropped): stop it
                # if it still runs, and never let Nova roll back a VM that
                # did arrive.
                self._cancel_quietly(task, instance)
                if self._arrived(vm, dest.cluster, instance):
                    ctx.reraise = False
        finally:
            with self._lock:
                self._running.pop(instance.uuid, None)

    def _cancel_quietly(self, task, instance):
        try:
            self._cancel(task, instance)
        except Exception as exc:
            LOG.debug('Cancelling vMotion task %s failed: %s', task._moId,
                      exc, instance=instance)

    def _arrived(self, vm, cluster, instance):
        try:
            host = props.retrieve_one(self.session, vm, ['runtime.host'])
            parent = props.retrieve_one(self.session,
                                        host['runtime.host'], ['parent'])
        except Exception as exc:
            LOG.warning('Cannot tell where the VM is after its vMotion '
                        'failed: %s', exc, instance=instance)
            return False
        if parent['parent']._moId != cluster._moId:
            return False
        LOG.warning('Following the vMotion failed, but VM %s is in the '
                    'destination cluster: the live migration succeeded',
                    vm._moId, instance=instance)
        return True

    def _follow(self, task, progress, instance):
        what = 'live migration of instance %s' % instance.uuid
        try:
            ended = task_progress.follow(self.session, task, progress,
                                         self.task_timeout, self.update_wait)
        except vexc.VimException as exc:
            LOG.warning('Cannot follow the progress of vMotion task %s '
                        '(%s); waiting for its end without it', task._moId,
                        exc, instance=instance)
            ended = True
        if not ended:
            LOG.warning('The vMotion ran longer than [vmware_ext] '
                        'task_timeout (%d s): cancelling it',
                        self.task_timeout, instance=instance)
            self._cancel(task, instance)
        try:
            self.waiter.wait(task, what)
        except vexc.VimException as exc:
            if not faults.is_fault(exc, 'RequestCanceled'):
                raise
            if ended:
                raise _Cancelled()
            raise faults.TaskTimeout(message=(
                '%s: cancelled after [vmware_ext] task_timeout (%d s)' % (
                    what, self.task_timeout))) from exc
        progress(100)

    def _nic_changes(self, instance, devices, dest, data):
        """Edits re-binding each NIC as its destination port binding says."""
        vifs = {vif['address'].lower(): vif for vif in _destination_vifs(
            instance.get_network_info(), data)}
        found = []
        for device in devices:
            if not isinstance(device, vim.vm.device.VirtualEthernetCard):
                continue
            vif = vifs.get((device.macAddress or '').lower())
            if vif is not None:
                found.append((device, _nic_specs([vif],
                                                 self.integration_bridge)[0]))
        resolved, networks = vnetworks.resolve(dest, [n for _, n in found])
        changes = []
        for device, nic in found:
            nic = dataclasses.replace(
                nic, network=resolved.get(nic.port_id, nic.network))
            device.backing = vm_config.nic_backing(
                nic, networks.get(nic.port_id))
            changes.append(vim.vm.device.VirtualDeviceSpec(
                operation=_EDIT, device=device))
        return changes

    def _pick_host(self, dest, datastores):
        """A usable host of the destination that mounts ``datastores``, or
        None when DRS places the VM."""
        if self._drs_enabled(dest.cluster):
            return None
        need = {ds._moId for ds in datastores or ()}
        hosts = [h for h in dest.hosts if h.usable]
        mounts = props.retrieve_objects(self.session, [h.ref for h in hosts],
                                        {vim.HostSystem: ['datastore']})
        by_moid = {i['obj']._moId: {ds._moId for ds in i.get('datastore')
                                    or ()} for i in mounts}
        for host in sorted(hosts, key=lambda h: h.name):
            if need <= by_moid.get(host.ref._moId, set()):
                return host.ref
        raise exception.MigrationError(reason=(
            'no usable host of cluster %s (DRS off) mounts datastores %s' % (
                dest.cluster_name, ', '.join(sorted(need)))))

    def _drs_enabled(self, cluster):
        config = props.retrieve_one(self.session, cluster,
                                    ['configurationEx'])
        return bool(getattr(getattr((config or {}).get('configurationEx'),
                                    'drsConfig', None), 'enabled', False))

    # Abort

    def abort(self, instance):
        with self._lock:
            task = self._running.get(instance.uuid)
        if task is None:
            LOG.warning('No live migration of this instance is running on '
                        'this compute: nothing to abort', instance=instance)
            return
        self._cancel(task, instance)

    def _cancel(self, task, instance):
        try:
            task.CancelTask()
        except vexc.VimException as exc:
            if not faults.is_fault(exc, 'InvalidState'):
                raise
            LOG.info('The vMotion task %s had already finished',
                     task._moId, instance=instance)
            return
        LOG.info('Asked vCenter to cancel vMotion task %s', task._moId,
                 instance=instance)


def _refuse_volumes(instance, block_device_info):
    if driver.block_device_info_get_mapping(block_device_info):
        raise _precheck_error(
            'instance %s has volumes attached: the VMware driver cannot '
            'live migrate instances with volumes yet' % instance.uuid)


def _destination_vifs(network_info, data):
    """The instance's VIFs, with the destination's port bindings where the
    migrate data has them."""
    dest = {}
    for vif in (data.vifs if 'vifs' in data else ()):
        if 'source_vif' in vif:
            dest[vif.port_id] = vif.get_dest_vif()
    return [dest.get(vif['id'], vif) for vif in network_info or ()]


def _nic_specs(vifs, integration_bridge):
    return [specs.NicSpec(index=index, port_id=vif['id'],
                          mac_address=vif['address'], model='',
                          network=specs.network_ref(vif, integration_bridge))
            for index, vif in enumerate(vifs)]


def _pick_datastore(current, allowed):
    """None when the VM's datastores are all allowed (no storage move),
    else the allowed datastore with the most free space."""
    if current and current <= {ds.ref._moId for ds in allowed}:
        return None
    return max(allowed, key=lambda ds: ds.free_space)


def _disk_bytes(devices):
    return sum(d.capacityInBytes or d.capacityInKB * 1024 for d in devices
               if isinstance(d, vim.vm.device.VirtualDisk))


def _counted(value):
    # Nova's API shows these bytes as null or positive, never 0.
    return value or None


class _Progress(object):
    """Writes a vMotion's percentage to the instance and migration."""

    def __init__(self, instance, migration, memory, disks):
        self.instance = instance
        self.migration = migration
        self.memory = memory
        self.disks = disks

    def __call__(self, percent):
        percent = max(0, min(100, int(percent)))
        try:
            if self.migration is not None:
                memory = self.memory * percent // 100
                disks = self.disks * percent // 100
                m = self.migration
                m.memory_total = _counted(self.memory)
                m.memory_processed = _counted(memory)
                m.memory_remaining = _counted(self.memory - memory)
                m.disk_total = _counted(self.disks)
                m.disk_processed = _counted(disks)
                m.disk_remaining = _counted(self.disks - disks)
                m.save()
            self.instance.progress = percent
            self.instance.save()
        except Exception as exc:  # progress is news, not the migration
            LOG.warning('Could not record live migration progress %(p)d%%: '
                        '%(err)s', {'p': percent, 'err': exc},
                        instance=self.instance)
