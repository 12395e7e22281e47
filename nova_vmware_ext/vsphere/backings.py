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

"""Which datastore files VMs use: disks, their parent chains, CD-ROMs."""

from pyVmomi import vim

from nova_vmware_ext.vsphere import props


def _backing_files(device):
    backing = getattr(device, 'backing', None)
    while backing is not None:
        name = getattr(backing, 'fileName', None)
        if name:
            yield name
        backing = getattr(backing, 'parent', None)


def files_in_use(session, datastore):
    """File names (``[ds] path``) that VMs registered on ``datastore`` (a
    reference) use as a disk, a disk's parent or a CD-ROM image: two
    property reads, whoever made the VMs."""
    item = props.retrieve_one(session, datastore, ['vm'])
    vms = list(item.get('vm') or ()) if item else []
    used = set()
    for vm in props.retrieve_objects(
            session, vms, {vim.VirtualMachine: ['config.hardware.device']}):
        for device in vm.get('config.hardware.device') or ():
            used.update(_backing_files(device))
    return used
