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

"""Destroy: power off, remove the VM and its folder; nothing else is touched.

Idempotent: an instance whose VM is already gone is done. Destroy_Task
deletes only the VM's own files (a linked clone's child disk, never its
parent in the image cache); the instance folder is removed afterwards for
what vSphere leaves there (config drive, logs).

A resize or cold migration moves the one VM between clusters (see
compute/migrate.py): a destroy on the destination during a revert
(task_state RESIZE_REVERTING), or one for a VM a move left in another
cluster, leaves the VM alone: the compute Nova names takes it back.
"""

from nova.compute import task_states
from nova import exception
from oslo_log import log as logging
from oslo_vmware import exceptions as vexc

from nova_vmware_ext.compute import errors
from nova_vmware_ext.vsphere import files as vfiles

LOG = logging.getLogger(__name__)

# Task states of a resize or cold migration under way.
MOVING = (task_states.RESIZE_PREP, task_states.RESIZE_MIGRATING,
          task_states.RESIZE_MIGRATED, task_states.RESIZE_FINISH,
          task_states.RESIZE_REVERTING)


class DestroyOps(object):

    def __init__(self, waiter, instances, files, server_groups=None,
                 volumes=None):
        """:param files: vsphere.files.FileManager of the cluster's
        datacenter.
        :param server_groups: compute.server_groups.ServerGroupRules (None:
        DRS rules are not kept).
        :param volumes: compute.volumes.VolumeOps, which detaches the
        instance's volumes before its VM and disks go."""
        self.waiter = waiter
        self.instances = instances
        self.files = files
        self.server_groups = server_groups
        self.volumes = volumes

    def destroy(self, instance, destroy_disks=True, context=None,
                block_device_info=None):
        task_state = (instance.task_state
                      if instance.obj_attr_is_set('task_state') else None)
        if task_state == task_states.RESIZE_REVERTING:
            # Nova's revert_resize on the destination: the VM is the one the
            # source's finish_revert_migration takes back.
            LOG.info('Resize revert: the VM stays for the source compute',
                     instance=instance)
            return
        if self.instances.find(instance.uuid) is None:
            LOG.info('VM is already gone', instance=instance)
            return
        try:
            item = self.instances.read(instance, ['runtime.powerState',
                                                  'config.files.vmPathName',
                                                  'runtime.host'])
        except exception.InstanceNotFound:
            LOG.info('VM is already gone', instance=instance)
            return
        vm = item['obj']
        if task_state in MOVING and not self._is_here(item):
            LOG.info('VM %s is in another cluster while the instance moves: '
                     'it stays', vm._moId, instance=instance)
            return
        what = 'instance %s' % instance.uuid
        if item.get('runtime.powerState') != 'poweredOff':
            try:
                with errors.fails_as(exception.InstancePowerOffFailure):
                    self.waiter.wait(vm.PowerOffVM_Task(),
                                     'power off of ' + what)
            except vexc.InvalidPowerStateException:
                pass
        if self.volumes is not None:
            # Destroy_Task deletes every disk of the VM: a volume's too.
            self.volumes.detach_all(instance, block_device_info)
        folder = None
        vmx = item.get('config.files.vmPathName')
        if vmx:
            folder = vfiles.DatastorePath.parse(vmx).parent
        if destroy_disks:
            self.waiter.wait(vm.Destroy_Task(), 'destroy of ' + what)
            # Only the instance's own folder, named after it, goes.
            if folder is not None and folder.rel_path == instance.uuid:
                self._delete_folder(folder, instance)
        else:
            vm.UnregisterVM()
        self.instances.removed(instance.uuid, vm)
        if self.server_groups is not None and context is not None:
            self.server_groups.member_gone(context, instance)
        LOG.info('Destroyed VM %(vm)s%(files)s', {
            'vm': vm._moId,
            'files': '' if destroy_disks else ' (its files are kept)'},
            instance=instance)

    def _is_here(self, item):
        host = item.get('runtime.host')
        return host is not None and any(
            h.ref._moId == host._moId
            for h in self.instances.inventory.get().hosts)

    def _delete_folder(self, folder, instance):
        try:
            self.files.delete(folder, missing_ok=True)
        except vexc.VimException as exc:
            LOG.warning('Could not delete the instance folder %(folder)s: '
                        '%(err)s', {'folder': folder, 'err': exc},
                        instance=instance)
