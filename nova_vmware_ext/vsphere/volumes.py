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

"""Cinder's VMware volume backings, as vSphere holds them.

- A ``vmdk`` volume (Cinder's VMDK driver) is the disk of a powered-off
  "shadow" VM named after the volume, whose ``config.instanceUuid`` is the
  volume's id. The instance's VM attaches that disk file; the shadow VM
  keeps it while no instance has it.
- A ``vstorageobject`` volume (Cinder's FCD driver) is a First Class Disk:
  a VStorageObject on a datastore, attached with
  ``VirtualMachine.AttachDisk_Task`` and detached with ``DetachDisk_Task``.

No Nova here: plain values in, pyVmomi references and plain values out.
"""

from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.vsphere import faults
from nova_vmware_ext.vsphere import props

_SHADOW_PATHS = ['config.hardware.device', 'datastore', 'resourcePool',
                 'runtime.host', 'name', 'config.instanceUuid']


def disks(devices):
    """The VirtualDisks of a device list that have a datastore file."""
    return [d for d in devices or ()
            if isinstance(d, vim.vm.device.VirtualDisk) and
            getattr(d.backing, 'fileName', None)]


def _gone(exc):
    return isinstance(exc, vexc.ManagedObjectNotFoundException) or (
        faults.is_fault(exc, 'ManagedObjectNotFound'))


class ShadowVms(object):
    """The shadow VMs of Cinder's VMDK driver."""

    def __init__(self, session, waiter):
        self.session = session
        self.waiter = waiter

    def find(self, moid, volume_id, name=None):
        """The shadow VM's properties (``obj``, ``config.hardware.device``,
        ``datastore``, ...) or None.

        By the moid Cinder gave, if that VM is the volume's (its
        instanceUuid is the volume id, or it has the volume's name); a VM
        that is gone or another's (a moid reused after a re-registration)
        is looked up again by the volume id, its instanceUuid, as the
        in-tree driver does.
        """
        if moid:
            item = self._read(self.session.mo('VirtualMachine', moid))
            if item is not None and (
                    not volume_id or
                    item.get('config.instanceUuid') == volume_id or
                    item.get('name') in (name, 'volume-%s' % volume_id)):
                return item
        if not volume_id:
            return None
        ref = self.session.content.searchIndex.FindByUuid(
            None, volume_id, True, True)
        return self._read(self.session.bind(ref)) if ref is not None else None

    def _read(self, ref):
        try:
            return props.retrieve_one(self.session, ref, _SHADOW_PATHS)
        except vexc.VimException as exc:
            if _gone(exc):
                return None
            raise

    def reconfigure(self, shadow, device_changes, what):
        spec = vim.vm.ConfigSpec(deviceChange=device_changes)
        self.waiter.wait(shadow.ReconfigVM_Task(spec), what)

    def relocate(self, shadow, datastore, pool, host, what):
        spec = vim.vm.RelocateSpec(datastore=datastore, pool=pool, host=host)
        self.waiter.wait(shadow.RelocateVM_Task(spec), what)


class FirstClassDisks(object):
    """First Class Disks (VStorageObjects) of the vCenter."""

    def __init__(self, session, waiter):
        self.session = session
        self.waiter = waiter

    def find(self, disk_id, datastore_moid):
        """The VStorageObject, or None when vCenter has no such disk."""
        manager = self.session.content.vStorageObjectManager
        try:
            return manager.RetrieveVStorageObject(
                vim.vslm.ID(id=disk_id),
                self.session.mo('Datastore', datastore_moid))
        except vexc.VimException as exc:
            if _gone(exc) or faults.is_fault(exc, 'NotFound'):
                return None
            raise

    def attach(self, vm, disk_id, datastore_moid, controller_key, unit,
               what):
        task = vm.AttachDisk_Task(
            diskId=vim.vslm.ID(id=disk_id),
            datastore=self.session.mo('Datastore', datastore_moid),
            controllerKey=controller_key, unitNumber=unit)
        self.waiter.wait(task, what)

    def detach(self, vm, disk_id, what):
        self.waiter.wait(vm.DetachDisk_Task(vim.vslm.ID(id=disk_id)), what)


def datastore_use(session, datastore, path_names):
    """Who uses a datastore (a reference): ({file name: [VM moids]} of the
    VMs on it whose disks use one of ``path_names``, {moids of the hosts
    that mount it}); two property reads."""
    item = props.retrieve_one(session, datastore, ['vm', 'host'])
    item = item or {}
    hosts = {mount.key._moId for mount in item.get('host') or ()}
    found = {}
    for vm in props.retrieve_objects(
            session, list(item.get('vm') or ()),
            {vim.VirtualMachine: ['config.hardware.device']}):
        for disk in disks(vm.get('config.hardware.device')):
            if disk.backing.fileName in path_names:
                found.setdefault(disk.backing.fileName, []).append(
                    vm['obj']._moId)
    return found, hosts
