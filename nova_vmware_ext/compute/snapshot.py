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

"""Snapshot an instance to Glance without stunning its guest for the copy.

A vSphere snapshot (no memory, no quiesce) freezes the disks' state for a
moment; a powered-off linked clone of that snapshot (``snapshot-<image
id>``, next to the instance's VM) is exported through an HttpNfcLease, which
turns its root disk into a streamOptimized VMDK, streamed chunk by chunk to
Glance. Other disks (ephemeral, swap) stay out of the image. The clone and
the snapshot are removed afterwards, whatever happened: a cleanup that
fails is logged and never hides the error that made it run.
"""

from nova.compute import task_states
from nova import exception
from nova.image import glance
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import uuidutils
from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.compute import image_meta as vimage
from nova_vmware_ext.compute import instances as vinstances
from nova_vmware_ext.compute import volume_devices
from nova_vmware_ext.vsphere import files as vfiles
from nova_vmware_ext.vsphere import nfc

LOG = logging.getLogger(__name__)

CLONE_PREFIX = 'snapshot-'
_PATHS = ['config.hardware.device', 'config.guestId', 'parent',
          'resourcePool', 'config.extraConfig']

_ADAPTER_TYPES = (
    (vim.vm.device.VirtualLsiLogicSASController,
     vimage.ADAPTER_LSILOGICSAS),
    (vim.vm.device.VirtualLsiLogicController, vimage.ADAPTER_LSILOGIC),
    (vim.vm.device.VirtualBusLogicController, vimage.ADAPTER_BUSLOGIC),
    (vim.vm.device.ParaVirtualSCSIController, vimage.ADAPTER_PARAVIRTUAL),
    (vim.vm.device.VirtualIDEController, vimage.ADAPTER_IDE),
    (vim.vm.device.VirtualSATAController, vimage.ADAPTER_SATA),
)
# guestId prefixes -> Glance's os_distro (most specific first).
_DISTROS = (
    ('ubuntu', 'ubuntu'), ('debian', 'debian'), ('centos', 'centos'),
    ('rhel', 'rhel'), ('sles', 'sles'), ('opensuse', 'opensuse'),
    ('fedora', 'fedora'), ('oracleLinux', 'ol'), ('rockylinux', 'rocky'),
    ('almalinux', 'almalinux'), ('amazonlinux', 'amzn'),
    ('freebsd', 'freebsd'), ('solaris', 'solaris'),
    ('vmwarePhoton', 'photon'), ('coreos', 'coreos'),
    ('flatcar', 'flatcar'), ('windows', 'windows'), ('win', 'windows'),
)


def adapter_type(devices, disk):
    """vmware_adaptertype of the controller ``disk`` hangs on."""
    controller = next((d for d in devices if d.key == disk.controllerKey),
                      None)
    return next((name for cls, name in _ADAPTER_TYPES
                 if isinstance(controller, cls)),
                vimage.DEFAULT_ADAPTER_TYPE)


def os_distro(guest_id):
    """Glance's os_distro for a vSphere guestId, or None when unknown."""
    return next((distro for prefix, distro in _DISTROS
                 if (guest_id or '').startswith(prefix)), None)


def root_disk(devices, extra_config=None):
    """The VM's first disk on a datastore (spawn creates the root disk
    first) that is no Cinder volume's, or None."""
    disks = sorted((d for d in devices or ()
                    if isinstance(d, vim.vm.device.VirtualDisk) and
                    getattr(d.backing, 'fileName', None) and
                    not volume_devices.is_volume_disk(d, extra_config)),
                   key=lambda d: d.key)
    return disks[0] if disks else None


def image_metadata(instance, devices, disk, guest_id):
    """What Glance gets beside the bytes: a streamOptimized VMDK."""
    properties = {
        'vmware_disktype': 'streamOptimized',
        'vmware_adaptertype': adapter_type(devices, disk),
        'vmware_ostype': guest_id or vimage.DEFAULT_GUEST_ID,
        'vmware_image_version': '1',
        'owner_id': instance.project_id,
    }
    distro = os_distro(guest_id)
    if distro:
        properties['os_distro'] = distro
    return {'disk_format': 'vmdk', 'container_format': 'bare',
            'properties': properties}


class SnapshotOps(object):
    """Instance snapshots to Glance.

    :param http: vsphere.transfer.HttpClient, for the export download.
    :param files: vsphere.files.FileManager, to remove the clone's folder.
    :param image_api: Nova's Glance API.
    """

    def __init__(self, session, waiter, instances, http, files,
                 image_api=None):
        self.session = session
        self.waiter = waiter
        self.instances = instances
        self.http = http
        self.files = files
        self.image_api = image_api or glance.API()

    def snapshot(self, context, instance, image_id, update_task_state):
        try:
            item = self.instances.read(instance, _PATHS)
        except exception.InstanceNotFound:
            # What the compute manager (and libvirt) expect of a VM that
            # is not there.
            raise exception.InstanceNotRunning(instance_id=instance.uuid)
        vm, devices = item['obj'], item.get('config.hardware.device') or []
        disk = root_disk(devices, item.get('config.extraConfig'))
        if disk is None:
            raise exception.NovaException(
                'Cannot snapshot instance %s: its VM has no disk on a '
                'datastore but volumes (an instance booted from a volume is '
                'snapshotted through Cinder)' % instance.uuid)
        metadata = image_metadata(instance, devices, disk,
                                  item.get('config.guestId'))
        update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
        what = 'snapshot %s of instance %s' % (image_id, instance.uuid)
        snap = self._wait(vm.CreateSnapshot_Task(
            name=CLONE_PREFIX + image_id, description='Nova image upload',
            memory=False, quiesce=False), 'create ' + what)
        try:
            update_task_state(task_state=task_states.IMAGE_UPLOADING,
                              expected_state=task_states.IMAGE_PENDING_UPLOAD)
            clone = self._clone(vm, snap, item, image_id, what)
            try:
                self._upload(context, instance, image_id, clone, devices,
                             disk, metadata, what)
            except BaseException:
                with excutils.save_and_reraise_exception():
                    self._remove_clone(clone, what, instance)
            self._remove_clone(clone, what, instance)
        except BaseException:
            with excutils.save_and_reraise_exception():
                self._remove_snapshot(snap, what, instance)
        self._remove_snapshot(snap, what, instance)
        LOG.info('Uploaded image %(image)s, the root disk of VM %(vm)s',
                 {'image': image_id, 'vm': vm._moId}, instance=instance)

    def _wait(self, task, what):
        """A task's resulting object, bound to our session."""
        return self.session.bind(self.waiter.wait(task, what))

    def _clone(self, vm, snap, item, image_id, what):
        """A powered-off linked clone of the snapshot that no one takes
        for the instance (its own instanceUuid, no nvp.vm-uuid)."""
        config = vim.vm.ConfigSpec(
            instanceUuid=uuidutils.generate_uuid(),
            managedBy=vim.ext.ManagedByInfo(
                extensionKey=vinstances.EXTENSION_KEY,
                type=vinstances.EXTENSION_TYPE_SNAPSHOT),
            extraConfig=[vim.option.OptionValue(key=vinstances.UUID_KEY,
                                                value='')])
        spec = vim.vm.CloneSpec(
            location=vim.vm.RelocateSpec(
                pool=item.get('resourcePool'),
                diskMoveType='createNewChildDiskBacking'),
            snapshot=snap, powerOn=False, template=False, config=config)
        return self._wait(
            vm.CloneVM_Task(folder=item['parent'],
                            name=CLONE_PREFIX + image_id, spec=spec),
            'linked clone for ' + what)

    def _upload(self, context, instance, image_id, clone, devices, disk,
                metadata, what):
        capacity = (disk.capacityInKB or 0) * 1024
        with nfc.export_vm(self.session, self.waiter, clone,
                           'export for ' + what) as lease:
            url = nfc.pick_disk_url(lease, devices, disk)
            chunks = nfc.download(lease, self.http, url, capacity)
            self.image_api.update(context, image_id, metadata, data=chunks,
                                  purge_props=False)

    def _remove_clone(self, clone, what, instance):
        """Destroy the clone and its folder; a failure is logged."""
        try:
            vmx = clone.config.files.vmPathName
            self.waiter.wait(clone.Destroy_Task(),
                             'removal of the clone for ' + what)
            if vmx:
                folder = vfiles.DatastorePath.parse(vmx).parent
                if folder.rel_path.startswith(CLONE_PREFIX):
                    self.files.delete(folder, missing_ok=True)
        except Exception as exc:
            LOG.warning('Could not remove the temporary clone %(vm)s of '
                        '%(what)s: %(err)s', {'vm': clone._moId,
                                              'what': what, 'err': exc},
                        instance=instance)

    def _remove_snapshot(self, snap, what, instance):
        """Remove the snapshot (its changes consolidate into the VM's
        disks); a failure is logged."""
        try:
            self.waiter.wait(snap.RemoveSnapshot_Task(removeChildren=False),
                             'removal of ' + what)
        except (vexc.VimException, exception.NovaException) as exc:
            LOG.warning('Could not remove the vSphere snapshot %(snap)s of '
                        '%(what)s: %(err)s', {'snap': snap._moId,
                                              'what': what, 'err': exc},
                        instance=instance)
