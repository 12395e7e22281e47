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

"""Volume backings made through pyvmomi in the shape Cinder makes them.

Cinder's VMDK driver: a powered-off shadow VM named ``volume-<id>`` whose
instanceUuid is the volume id (extraConfig ``cinder.volume.id``) with one
disk ``[ds] volume-<id>/volume-<id>.vmdk`` on an LSI Logic controller.
Cinder's FCD driver: a VStorageObject made by CreateDisk_Task. Each helper
returns the connection_info Cinder's driver gives for it
(tests/cinder_volumes.py has the real drivers make them).
"""

from oslo_utils import uuidutils
from pyVim import task as task_util
from pyVmomi import vim
from pyVmomi import vmodl

FCD_FOLDER = 'fcd/'


def _wait(task):
    task_util.WaitForTask(task)
    return task.info.result


def _vsom(si):
    # si.content comes from a Fetch, whose answer vcsim strips of the
    # VStorageObjectManager (for ovftool); RetrieveServiceContent has it.
    return si.RetrieveContent().vStorageObjectManager


def _datacenter(si):
    return si.content.rootFolder.childEntity[0]


def _datastore(si, name):
    return next(ds for ds in _datacenter(si).datastore if ds.name == name)


def _pool(si, cluster='DC0_C0'):
    return next(c for c in _datacenter(si).hostFolder.childEntity
                if c.name == cluster).resourcePool


def vmdk_volume(si, size_mb=1, datastore='LocalDS_0', volume_id=None):
    """A shadow VM as Cinder makes it; returns its connection_info."""
    volume_id = volume_id or uuidutils.generate_uuid()
    name = 'volume-%s' % volume_id
    disk = vim.vm.device.VirtualDisk(
        key=-2, controllerKey=-1, unitNumber=0, capacityInKB=size_mb * 1024,
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            diskMode='persistent', thinProvisioned=True,
            fileName='[%s] %s/%s.vmdk' % (datastore, name, name)))
    spec = vim.vm.ConfigSpec(
        name=name, guestId='otherGuest', numCPUs=1, memoryMB=128,
        instanceUuid=volume_id,
        files=vim.vm.FileInfo(vmPathName='[%s] %s' % (datastore, name)),
        extraConfig=[vim.option.OptionValue(key='cinder.volume.id',
                                            value=volume_id)],
        deviceChange=[
            vim.vm.device.VirtualDeviceSpec(
                operation='add',
                device=vim.vm.device.VirtualLsiLogicController(
                    key=-1, busNumber=0, sharedBus='noSharing')),
            vim.vm.device.VirtualDeviceSpec(operation='add',
                                            fileOperation='create',
                                            device=disk)])
    vm = _wait(_datacenter(si).vmFolder.CreateVM_Task(spec, _pool(si)))
    return {'driver_volume_type': 'vmdk', 'serial': volume_id,
            'data': {'volume': vm._moId, 'volume_id': volume_id,
                     'name': name, 'profile_id': None}}


def fcd_volume(si, size_mb=1, datastore='LocalDS_0',
               adapter_type='lsiLogic'):
    """A First Class Disk as Cinder's FCD driver makes it; returns its
    connection_info."""
    ds = _datastore(si, datastore)
    spec = vim.vslm.CreateSpec(
        name='volume-%s' % uuidutils.generate_uuid(), capacityInMB=size_mb,
        backingSpec=vim.vslm.CreateSpec.DiskFileBackingSpec(
            datastore=ds, provisioningType='thin'))
    disk = _wait(_vsom(si).CreateDisk_Task(spec))
    return {'driver_volume_type': 'vstorageobject',
            'data': {'id': disk.config.id.id, 'ds_ref_val': ds._moId,
                     'adapter_type': adapter_type}}


def shadow_vm(si, connection_info):
    return vim.VirtualMachine(connection_info['data']['volume'], si._stub)


def shadow_disk_path(si, connection_info):
    devices = shadow_vm(si, connection_info).config.hardware.device
    return [d.backing.fileName for d in devices
            if isinstance(d, vim.vm.device.VirtualDisk)]


def fcd(si, connection_info):
    """The VStorageObject, or None."""
    data = connection_info['data']
    try:
        return _vsom(si).RetrieveVStorageObject(
            vim.vslm.ID(id=data['id']),
            vim.Datastore(data['ds_ref_val'], si._stub))
    except vim.fault.NotFound:
        return None


def delete(si, connection_info):
    """Remove a backing (test cleanup): the shadow VM with its disk, or the
    First Class Disk."""
    data = connection_info['data']
    try:
        if connection_info['driver_volume_type'] == 'vmdk':
            _wait(shadow_vm(si, connection_info).Destroy_Task())
        else:
            _wait(_vsom(si).DeleteVStorageObject_Task(
                vim.vslm.ID(id=data['id']),
                vim.Datastore(data['ds_ref_val'], si._stub)))
    except (vmodl.fault.ManagedObjectNotFound, vim.fault.NotFound,
            vmodl.fault.InvalidArgument):
        pass
