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

"""Glance -> datastore: fill image cache entries, streaming, constant memory.

Glance's stream is judged by images/inspect.py before anything is written:
``Fetcher.open`` reads its first bytes and refuses (``ImageRefused``) bytes
that are not what the image's label promises or a disk that does not fit;
the rest is checked as it streams. Then, by kind:

- streamOptimized VMDK: imported as a throw-away VM through an HttpNfcLease
  (vCenter inflates it into a regular disk), the VM unregistered (its disk
  and files stay), the disk moved to the entry's name;
- thin / preallocated (flat) VMDK: a descriptor made by CreateVirtualDisk,
  then the flat extent written over datastore HTTP;
- sparse VMDK: uploaded as is, then CopyVirtualDisk makes a regular disk;
- ISO: uploaded as a file.
Each writes into the staging folder the image cache gives it (its fetch
lock's folder, removed with the lock) and moves the result to the entry's
name last, so the entry appears whole.
"""

import dataclasses
import time
from typing import Callable
from typing import Optional
import uuid

from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import units
from oslo_vmware import exceptions as vexc

from nova_vmware_ext.images import inspect
from nova_vmware_ext.vsphere import nfc

LOG = logging.getLogger(__name__)

ImageRefused = inspect.ImageRefused
LargerThanFlavor = inspect.LargerThanFlavor
Limits = inspect.Limits

# A judged Glance stream unread for longer is opened (and judged) again.
_IDLE_STREAM_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class ImageSource:
    """What Glance gives of one image."""

    image_id: str
    size: int  # bytes of the file, as Glance announces them
    disk_type: str  # vmware_disktype
    adapter_type: str
    chunks: Callable  # returns a fresh iterator over the image's bytes
    disk_format: str = 'vmdk'
    virtual_size: Optional[int] = None  # Glance's, when it has one
    # Returns the URLs of the image's locations as Glance exposes them
    # (asked only when a datastore copy could fill the entry).
    locations: Optional[Callable] = None


class Download(object):
    """Glance's stream of one image, its head judged on opening.

    Each transfer attempt takes one stream: the first is the one judged on
    opening, a retry opens and judges Glance's stream again.
    """

    def __init__(self, source, limits):
        self.source = source
        self.limits = limits
        self._opened = time.monotonic()
        self._next = self._judged()
        self.verdict = self._next.verdict

    def _judged(self):
        return inspect.judge(self.source, self.source.chunks(), self.limits)

    def stream(self):
        stream, self._next = self._next, None
        if stream is not None and (time.monotonic() - self._opened
                                   > _IDLE_STREAM_SECONDS):
            # Left unread while another compute filled the entry (and
            # failed): Glance may have dropped it.
            stream.close()
            stream = None
        return stream if stream is not None else self._judged()

    def close(self):
        if self._next is not None:
            self._next.close()
            self._next = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


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

    def _in_temp(self, entry, write, staging=None):
        """Run ``write(folder)`` in a staging folder made for it.

        ``staging`` is the fetch lock's folder (removed with the lock);
        without it, a temporary folder beside the entry, always removed. A
        transfer refused because the session expired meanwhile (the HTTP
        client logged in again) is started over once, from a fresh Glance
        stream, in a folder of its own.
        """
        for attempt in (1, 2):
            if staging is None:
                folder = self.cache.temp_folder(entry.datastore,
                                                entry.parent.basename)
            else:
                folder = staging if attempt == 1 else staging.join('retry')
            try:
                if folder != staging:
                    self.files.make_directory(folder)
                write(folder)
                return
            except vexc.NotAuthenticatedException as exc:
                if attempt == 2:
                    raise
                LOG.info('%s: the vCenter session expired during the '
                         'transfer (%s); starting it again', entry, exc)
            finally:
                if staging is None:
                    self.cache.discard(folder)

    def ensure_disk(self, entry, source, limits):
        """Make sure the disk image's cache entry exists (see _ensure)."""
        return self._ensure(entry, source, limits, self.fill_disk)

    def ensure_iso(self, entry, source, limits):
        """Make sure the ISO image's cache entry exists (see _ensure)."""
        return self._ensure(entry, source, limits, self.fill_iso)

    def _ensure(self, entry, source, limits, fill):
        """Fill a missing entry; the image's first bytes are judged before
        anything is written to the datastore (its cache lock included).

        :raises ImageRefused: the bytes are not acceptable.
        """
        if self.cache.exists(entry):
            return entry
        # Spawns of this process that miss the same entry wait here for the
        # first one's fill, rather than each opening Glance's stream.
        with lockutils.lock('vmware-ext-fetch-%s' % entry):
            if self.cache.exists(entry):
                return entry
            with self.open(source, limits) as download:
                return self.cache.ensure_staged(
                    entry, lambda path, staging: fill(download, path,
                                                      staging))

    def open(self, source, limits):
        """Open Glance's stream and judge its head; nothing is written.

        :param limits: images.inspect.Limits the image's disk must fit.
        :raises ImageRefused: the bytes are not what the label promises, or
            the disk does not fit.
        """
        return Download(source, limits)

    def fill_iso(self, download, entry, staging=None):
        """Write the ISO's entry (in ``staging``, see _in_temp)."""
        def write(temp):
            stream = download.stream()
            staged = temp.join(entry.basename)
            self._upload(staged, stream)
            self.cache.move_into_place(staged, entry)
        self._in_temp(entry, write, staging)

    def fill_disk(self, download, entry, staging=None):
        """Write the disk's entry (in ``staging``, see _in_temp)."""
        fill = {'streamOptimized': self._stream_optimized,
                'sparse': self._sparse}.get(download.source.disk_type,
                                            self._flat)
        self._in_temp(entry,
                      lambda temp: fill(download.stream(), entry, temp),
                      staging)

    def _upload(self, path, stream):
        self.http.put(self._url(path), stream, stream.source.size,
                      'upload of image %s' % stream.source.image_id)

    def move_disk(self, staged, entry):
        """Give the finished disk its entry's name. Already taken: a
        compute that does not see our lock (an older version naming it
        otherwise) filled the entry meanwhile; its disk is as good, ours
        goes with the lock."""
        try:
            self.disks.move(staged, entry)
        except vexc.FileAlreadyExistsException:
            if not self.cache.exists(entry):
                raise
            LOG.info('%s was filled by another compute meanwhile; using it',
                     entry)

    def _flat(self, stream, entry, temp):
        """Descriptor by CreateVirtualDisk, then the flat extent by HTTP."""
        source, size = stream.source, stream.verdict.virtual_size
        staged = temp.join(entry.basename)
        self.disks.create(
            staged, max(size // units.Ki, 1),
            disk_type='thin' if source.disk_type == 'thin' else 'preallocated',
            adapter=source.adapter_type)
        flat = temp.join(entry.basename[:-len('.vmdk')] + '-flat.vmdk')
        self._upload(flat, stream)
        self.move_disk(staged, entry)
        self.capacities[entry] = size

    def _sparse(self, stream, entry, temp):
        """Upload the sparse file, let vCenter copy it into a regular disk."""
        sparse = temp.join('%s-sparse.vmdk' % stream.source.image_id)
        self._upload(sparse, stream)
        staged = temp.join(entry.basename)
        self.disks.copy(sparse, staged)
        self.move_disk(staged, entry)
        self.capacities[entry] = stream.verdict.virtual_size

    def _stream_optimized(self, stream, entry, temp):
        """Import as a VM through NFC into ``temp``, keep its disk, drop
        the VM (unregistered: its files stay in ``temp``)."""
        source, capacity = stream.source, stream.verdict.virtual_size
        inv = self.inventory.get()
        staged = temp.join(entry.basename)
        spec = nfc.disk_import_spec(
            'tmp-%s' % uuid.uuid4().hex[:12],
            '[%s] %s/' % (temp.datastore, temp.rel_path), str(staged),
            capacity)
        vm = nfc.import_vm(
            self.session, self.waiter, self.http, inv.resource_pool,
            inv.vm_folder, spec, [(stream, source.size, nfc.STREAM_VMDK)],
            'import of image %s' % source.image_id)
        try:
            vm.UnregisterVM()
        except vexc.VimException:
            with excutils.save_and_reraise_exception():
                _remove_import_vm(self.waiter, vm)
        self.move_disk(staged, entry)
        self.capacities[entry] = capacity


def _remove_import_vm(waiter, vm):
    try:
        waiter.wait(vm.Destroy_Task(), 'removal of import VM')
    except Exception as exc:
        LOG.warning('Could not remove import VM %s: %s', vm._moId, exc)
