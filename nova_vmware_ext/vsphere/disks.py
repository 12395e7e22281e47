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

"""VirtualDiskManager: create, copy, grow, move and delete virtual disks.

A virtual disk is a descriptor (``name.vmdk``) plus its extents
(``name-flat.vmdk`` ...); these calls keep them together, which
FileManager's file calls do not. One datacenter, DatastorePaths in, tasks
waited for with the session's TaskWaiter.
"""

from pyVmomi import vim

# VirtualDiskManager names SCSI adapters in the hosted-disk dialect, which
# lacks the device classes' lsiLogicsas, paraVirtual and sata.
_ADAPTER_TYPES = {'lsiLogicsas': 'lsiLogic', 'paraVirtual': 'lsiLogic',
                  'sata': 'lsiLogic'}
DISK_TYPES = ('thin', 'preallocated', 'eagerZeroedThick')


def adapter_type(device_adapter):
    """The VirtualDiskManager adapter type for a device adapter type."""
    return _ADAPTER_TYPES.get(device_adapter, device_adapter or 'lsiLogic')


class VirtualDisks(object):
    """The VirtualDiskManager of one datacenter."""

    def __init__(self, session, waiter, datacenter):
        self.session = session
        self.waiter = waiter
        self.datacenter = datacenter

    @property
    def _manager(self):
        return self.session.content.virtualDiskManager

    def create(self, path, capacity_kb, disk_type='thin',
               adapter='lsiLogic'):
        """A new, empty disk of ``capacity_kb`` at ``path``.

        :param adapter: the device adapter type the disk is made for.
        """
        if disk_type not in DISK_TYPES:
            raise ValueError('disk type %r is not one of %s' % (
                disk_type, ', '.join(DISK_TYPES)))
        spec = vim.VirtualDiskManager.FileBackedVirtualDiskSpec(
            adapterType=adapter_type(adapter), diskType=disk_type,
            capacityKb=max(int(capacity_kb), 1))
        task = self._manager.CreateVirtualDisk_Task(str(path),
                                                    self.datacenter, spec)
        self.waiter.wait(task, 'creation of disk %s' % path)

    def copy(self, source, target, force=False):
        """Copy a disk (any kind, a hosted sparse one included) into a
        regular disk at ``target``."""
        task = self._manager.CopyVirtualDisk_Task(
            str(source), self.datacenter, str(target), self.datacenter,
            None, force)
        self.waiter.wait(task, 'copy of disk %s to %s' % (source, target))

    def extend(self, path, capacity_kb, eager_zero=False):
        """Grow a disk to ``capacity_kb`` (vSphere never shrinks one)."""
        task = self._manager.ExtendVirtualDisk_Task(
            str(path), self.datacenter, int(capacity_kb), eager_zero)
        self.waiter.wait(task, 'extension of disk %s to %d KB' % (
            path, capacity_kb))

    def move(self, source, target, force=False):
        task = self._manager.MoveVirtualDisk_Task(
            str(source), self.datacenter, str(target), self.datacenter,
            force)
        self.waiter.wait(task, 'move of disk %s to %s' % (source, target))

    def delete(self, path):
        task = self._manager.DeleteVirtualDisk_Task(str(path),
                                                    self.datacenter)
        self.waiter.wait(task, 'deletion of disk %s' % path)
