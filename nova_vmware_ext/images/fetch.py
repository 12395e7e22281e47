"""Glance -> datastore: fill image cache entries, streaming, constant memory.

- streamOptimized VMDK: imported as a throw-away VM through an HttpNfcLease
  (vCenter inflates it into a regular disk), whose disk is then moved into
  the cache and the VM unregistered;
- thin / preallocated (flat) VMDK: a descriptor made by CreateVirtualDisk,
  then the flat extent written over datastore HTTP;
- sparse VMDK: uploaded as is, then CopyVirtualDisk makes a regular disk;
- ISO: uploaded as a file.
Each writes into a temporary folder beside the entry and moves the result
into place last; on failure the temporary folder is removed.
"""

import itertools
import struct

from oslo_log import log as logging
from oslo_utils import units
from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.vsphere import nfc

LOG = logging.getLogger(__name__)

_SPARSE_MAGIC = b'KDMV'


class ImageSource(object):
    """What Glance gives: id, size in bytes, and a chunk iterator factory."""

    def __init__(self, image_id, size, disk_type, adapter_type, chunks):
        self.image_id = image_id
        self.size = size
        self.disk_type = disk_type
        self.adapter_type = adapter_type
        self.chunks = chunks  # callable returning a fresh iterator


def sparse_capacity(first_chunk):
    """Virtual size in bytes from a (stream optimized) sparse VMDK header."""
    if len(first_chunk) < 20 or first_chunk[:4] != _SPARSE_MAGIC:
        return None
    sectors = struct.unpack_from('<Q', first_chunk, 12)[0]
    return sectors * 512


def _peek(chunks):
    """(first chunk of at least 512 bytes, iterator over all bytes)."""
    iterator = iter(chunks)
    head = b''
    for chunk in iterator:
        head += chunk
        if len(head) >= 512:
            break
    return head, itertools.chain([head], iterator)


class Fetcher(object):
    """Writes images into cache entries of one datastore."""

    def __init__(self, session, waiter, http, inventory, cache, files,
                 disks):
        self.session = session
        self.waiter = waiter
        self.http = http
        self.inventory = inventory
        self.cache = cache
        self.files = files  # vsphere.files.FileManager
        self.disks = disks  # vsphere.disks.VirtualDisks
        # Virtual size (bytes) of cache entries: recorded here from a sparse
        # header while filling, and by spawns for what they learn or grow,
        # so that sizing a root disk needs no second look at the image.
        self.capacities = {}

    def _url(self, path):
        return path.http_url(self.session.host, self.session.port,
                             self.inventory.get().datacenter_path)

    def _in_temp(self, entry, write):
        """Run ``write(temp folder)``; always remove the temp folder.

        A transfer refused because the session expired meanwhile (the HTTP
        client logged in again) is started over once, from a fresh Glance
        stream.
        """
        for attempt in (1, 2):
            temp = self.cache.temp_folder(entry.datastore,
                                          entry.parent.basename)
            try:
                write(temp)
                return
            except vexc.NotAuthenticatedException as exc:
                if attempt == 2:
                    raise
                LOG.info('%s: the vCenter session expired during the '
                         'transfer (%s); starting it again', entry, exc)
            finally:
                self.cache.discard(temp)

    def fill_iso(self, source, entry):
        def write(temp):
            staged = temp.join(entry.basename)
            self.files.make_directory(temp)
            self.http.put(self._url(staged), source.chunks(), source.size,
                          'upload of image %s' % source.image_id)
            self.cache.move_into_place(staged, entry)
        self._in_temp(entry, write)

    def fill_disk(self, source, entry):
        fill = {'streamOptimized': self._stream_optimized,
                'sparse': self._sparse}.get(source.disk_type, self._flat)
        self._in_temp(entry, lambda temp: fill(source, entry, temp))

    def _move_disk(self, staged, entry):
        self.disks.move(staged, entry)

    def _flat(self, source, entry, temp):
        """Descriptor by CreateVirtualDisk, then the flat extent by HTTP."""
        if source.size % 512:
            raise vexc.ImageTransferException(
                'image %s: a flat VMDK is a whole number of 512-byte '
                'sectors; %d bytes is not' % (source.image_id, source.size))
        staged = temp.join(entry.basename)
        self.files.make_directory(temp)
        self.disks.create(
            staged, max(source.size // units.Ki, 1),
            disk_type='thin' if source.disk_type == 'thin' else 'preallocated',
            adapter=source.adapter_type)
        flat = temp.join(entry.basename[:-len('.vmdk')] + '-flat.vmdk')
        self.http.put(self._url(flat), source.chunks(), source.size,
                      'upload of image %s' % source.image_id)
        self._move_disk(staged, entry)

    def _sparse(self, source, entry, temp):
        """Upload the sparse file, let vCenter copy it into a regular disk."""
        sparse = temp.join('%s-sparse.vmdk' % source.image_id)
        self.files.make_directory(temp)
        head, chunks = _peek(source.chunks())
        capacity = sparse_capacity(head)
        if capacity is None:
            raise vexc.ImageTransferException(
                'image %s is declared sparse but is not a sparse VMDK (no '
                'sparse extent header)' % source.image_id)
        self.http.put(self._url(sparse), chunks, source.size,
                      'upload of image %s' % source.image_id)
        staged = temp.join(entry.basename)
        self.disks.copy(sparse, staged)
        self._move_disk(staged, entry)
        self.capacities[entry] = capacity

    def _stream_optimized(self, source, entry, temp):
        """Import as a VM through NFC, keep its disk, drop the VM."""
        head, chunks = _peek(source.chunks())
        capacity = sparse_capacity(head)
        if capacity is None:
            raise vexc.ImageTransferException(
                'image %s is declared streamOptimized but is not a VMDK '
                '(no sparse extent header)' % source.image_id)
        inv = self.inventory.get()
        name = temp.basename
        staged = temp.join(entry.basename)
        spec = _import_spec(name, temp, staged, capacity, source.adapter_type)
        vm = nfc.import_vm(
            self.session, self.waiter, self.http, inv.resource_pool,
            inv.vm_folder, spec, [(chunks, source.size, nfc.STREAM_VMDK)],
            'import of image %s' % source.image_id)
        try:
            vm.UnregisterVM()
        except vexc.VimException:
            self.waiter.wait(vm.Destroy_Task(), 'removal of import VM')
            raise
        self._move_disk(staged, entry)
        self.capacities[entry] = capacity


def _import_spec(name, folder, disk_path, capacity, adapter_type):
    controller = vim.vm.device.VirtualLsiLogicController(
        key=-100, busNumber=0,
        sharedBus=vim.vm.device.VirtualSCSIController.Sharing.noSharing)
    disk = vim.vm.device.VirtualDisk(
        key=-101, controllerKey=-100, unitNumber=0,
        capacityInKB=max(capacity // units.Ki, 1),
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName=str(disk_path), diskMode='persistent',
            thinProvisioned=True))
    config = vim.vm.ConfigSpec(
        name=name, guestId='otherGuest', numCPUs=1, memoryMB=4,
        files=vim.vm.FileInfo(vmPathName='[%s] %s/' % (
            folder.datastore, folder.rel_path)),
        deviceChange=[
            vim.vm.device.VirtualDeviceSpec(operation='add',
                                            device=controller),
            vim.vm.device.VirtualDeviceSpec(operation='add',
                                            fileOperation='create',
                                            device=disk)])
    return vim.vm.VmImportSpec(configSpec=config)
