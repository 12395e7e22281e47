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

"""Moves of a VM that leave its Cinder volumes where they are.

A RelocateVM_Task with ``spec.datastore`` moves the VM's files and every
disk it has to that datastore, a volume's disk too: behind Cinder's back,
whose shadow VM (vmdk) or First Class Disk catalog (vstorageobject) then
names a file that moved. So a move between clusters (resize, cold
migration, and the revert moving back) names each volume disk in
``spec.disk`` with the datastore it is on, and vSphere leaves it there;
the VM's own files and its root and ephemeral disks go to the chosen
datastore. (The in-tree driver let the disk move, and gave the moved file
back to the shadow VM at detach; an FCD it did not attach.)

The VM's host must then mount each volume's datastore. A cold migration to
a cluster whose hosts do not see it (another storage network, a local
datastore) is refused before anything changes, naming the volume and the
datastore: by the source, before it powers the VM off
(``check_cluster_sees``: Nova then rolls the server back), and by the
destination before it moves the VM (``check_reachable``). Both read which
datastores the cluster's usable hosts mount; everything else is pure.
"""

import dataclasses

from nova import exception
from nova.virt import driver
from oslo_vmware import exceptions as vexc
from pyVmomi import vim
from pyVmomi import vmodl

from nova_vmware_ext.compute import volume_devices as devs
from nova_vmware_ext.vsphere import files as vfiles
from nova_vmware_ext.vsphere import props

# A disk named in spec.disk with its own datastore: nothing is copied, its
# parents (if any) stay shared, never consolidated into a new file.
KEEP = 'moveAllDiskBackingsAndAllowSharing'


@dataclasses.dataclass(frozen=True)
class VolumeDisk(object):
    """A Cinder volume's disk on the VM."""

    volume_id: str
    key: int
    path: str
    datastore: object  # vim.Datastore; None where vCenter does not say

    @property
    def datastore_name(self):
        try:
            return vfiles.DatastorePath.parse(self.path).datastore
        except ValueError:
            return self.path


def volume_disks(devices, options):
    """The VM's volume disks: the First Class Disks (by ``vDiskId``) and the
    disks a ``volume-<id>`` extraConfig option names (``options``: the
    VM's volume extraConfig options)."""
    prefix = devs.VOLUME_KEY % ''
    markers = {o.value: o.key[len(prefix):] for o in options or ()
               if o.key.startswith(prefix) and o.value}
    found = []
    for disk in devices or ():
        if not isinstance(disk, vim.vm.device.VirtualDisk):
            continue
        backing = disk.backing
        vdisk_id = getattr(disk, 'vDiskId', None)
        volume_id = (vdisk_id.id if vdisk_id is not None else
                     markers.get(getattr(backing, 'uuid', None)) or
                     markers.get(getattr(backing, 'fileName', None)))
        if volume_id:
            found.append(VolumeDisk(volume_id, disk.key,
                                    getattr(backing, 'fileName', None),
                                    getattr(backing, 'datastore', None)))
    return found


def of_vm(session, item):
    """The volume disks of a VM read with its devices: every ``volume-<id>``
    option counts, also one of a volume block_device_info does not list
    (its extraConfig is read when ``item`` lacks it)."""
    options = item.get('config.extraConfig')
    if options is None:
        options = (props.retrieve_one(session, item['obj'], [
            'config.extraConfig']) or {}).get('config.extraConfig')
    return volume_disks(item.get('config.hardware.device'), options)


def may_have_volumes(block_device_info):
    """False when Nova says the instance has no volume."""
    return (block_device_info is None or
            bool(driver.block_device_info_get_mapping(block_device_info)))


def locators(volumes):
    """``spec.disk`` of a relocation keeping each volume disk on its own
    datastore."""
    return [vim.vm.RelocateSpec.DiskLocator(diskId=v.key,
                                            datastore=v.datastore,
                                            diskMoveType=KEEP)
            for v in volumes]


def hosts_seeing(volumes, mounts, target, cluster_name):
    """The hosts (moids, of ``mounts``: {host moid: set of datastore
    moids it mounts}, the usable hosts of cluster ``cluster_name``) that
    mount every volume's datastore and ``target`` (the
    vsphere.inventory.Datastore the VM goes to, or None); a ResizeError
    naming the volume and the datastore when no host can take the VM with
    its volumes where they are."""
    for volume in volumes:
        if volume.datastore is None:
            raise exception.ResizeError(reason=(
                'vCenter does not say which datastore disk %s of volume %s '
                'is on: the VM is not moved, its volume could move with it'
                % (volume.path, volume.volume_id)))
        if not any(volume.datastore._moId in seen
                   for seen in mounts.values()):
            raise exception.ResizeError(reason=(
                'volume %s is on datastore %s, which no usable host of '
                'cluster %s mounts: the VM cannot move there without its '
                'volume, which only Cinder moves (cold migrate or resize '
                'to a cluster that mounts %s, or migrate the volume in '
                'Cinder first)' % (volume.volume_id, volume.datastore_name,
                                   cluster_name, volume.datastore_name)))
    needed = {v.datastore._moId: v.datastore_name for v in volumes}
    if target is not None:
        needed[target.ref._moId] = target.name
    hosts = sorted(moid for moid, seen in mounts.items()
                   if set(needed) <= seen)
    if not hosts:
        raise exception.ResizeError(reason=(
            'no usable host of cluster %s mounts all of datastores %s (of '
            'volumes %s and of the VM): the VM is not moved' % (
                cluster_name, ', '.join(sorted(needed.values())),
                ', '.join(v.volume_id for v in volumes))))
    return hosts


def check_reachable(session, inventory, volumes, target):
    """``hosts_seeing`` for the usable hosts of the cluster of
    ``inventory`` (a vsphere.inventory.ClusterInventory), read now: a
    datastore unmounted since the inventory was read counts. [] when the
    VM has no volume."""
    if not volumes:
        return []
    usable = [h.ref for h in inventory.hosts if h.usable]
    items = props.retrieve_objects(session, usable,
                                   {vim.HostSystem: ['datastore']})
    return hosts_seeing(volumes, _mounts(items), target,
                        inventory.cluster_name)


def check_cluster_sees(session, cluster_moid, volumes):
    """``hosts_seeing`` for the usable hosts of the cluster ``cluster_moid``
    (another compute's: the source of a cold migration checks its
    destination before it powers the VM off). A cluster gone is not
    refused here: the destination then fails on its own."""
    if not volumes:
        return
    try:
        items = props.retrieve_related(
            session, vim.ClusterComputeResource(cluster_moid), ['host'],
            {vim.HostSystem: ['runtime.connectionState',
                              'runtime.inMaintenanceMode', 'datastore']})
    except (vmodl.fault.ManagedObjectNotFound,
            vexc.ManagedObjectNotFoundException):
        return
    usable = [i for i in items
              if str(i.get('runtime.connectionState')) == 'connected' and
              not i.get('runtime.inMaintenanceMode')]
    hosts_seeing(volumes, _mounts(usable), None, cluster_moid)


def _mounts(items):
    """{host moid: moids of the datastores it mounts} of hosts read with
    their ``datastore``."""
    return {i['obj']._moId: {d._moId for d in i.get('datastore') or ()}
            for i in items}
