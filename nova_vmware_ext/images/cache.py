"""The image cache on each datastore, shared by every compute that uses it.

Layout (the in-tree driver's, so existing caches are reused):

    [ds] <cache folder>/<image id>/<image id>.vmdk        the image's disk
    [ds] <cache folder>/<image id>/<image id>.<GB>.vmdk   grown to a flavor
    [ds] <cache folder>/<image id>/<image id>.iso         an ISO image

An entry is written under a temporary name and moved into place when
complete, so a visible entry is always whole. One fetch per image and
datastore runs at a time: in this process a named lock, across computes a
lock folder created with MakeDirectory (which fails if it exists).
"""

import time
import uuid

from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.vsphere import files as vfiles
from nova_vmware_ext.vsphere import props

LOG = logging.getLogger(__name__)

LOCK_PREFIX = 'fetch-lock'
_WAIT_MAX_STEP = 10.0


class ImageCache(object):
    """Entries of the image cache and how they come to be."""

    def __init__(self, session, waiter, http, inventory, folder_name,
                 fetch_timeout=3600):
        self.session = session
        self.waiter = waiter
        self.http = http
        self.inventory = inventory
        self.folder_name = folder_name
        self.fetch_timeout = fetch_timeout
        self._known = set()

    # Layout

    def folder(self, datastore, image_id):
        return vfiles.DatastorePath(datastore, self.folder_name).join(
            image_id)

    def disk_path(self, datastore, image_id):
        return self.folder(datastore, image_id).join('%s.vmdk' % image_id)

    def sized_path(self, datastore, image_id, size_gb):
        return self.folder(datastore, image_id).join(
            '%s.%d.vmdk' % (image_id, size_gb))

    def iso_path(self, datastore, image_id):
        return self.folder(datastore, image_id).join('%s.iso' % image_id)

    def temp_folder(self, datastore, image_id):
        return self.folder(datastore, image_id).join(
            'tmp-%s' % uuid.uuid4().hex[:12])

    # Lookup

    def _url(self, path):
        inv = self.inventory.get()
        return path.http_url(self.session.host, self.session.port,
                             inv.datacenter_path)

    def exists(self, path):
        """True if the entry is there; remembered once seen."""
        if path in self._known:
            return True
        if self.http.exists(self._url(path), 'cache lookup %s' % path):
            self._known.add(path)
            return True
        return False

    def forget(self, path):
        """An entry vanished (aged out by another compute): look again at
        it and at every other entry of the same image."""
        folder = path.parent
        self._known = {p for p in self._known if p.parent != folder}

    # Filling

    def ensure(self, path, fill):
        """Make sure ``path`` exists, calling ``fill(path)`` at most once.

        ``fill`` writes the entry under a temporary name and moves it to
        ``path``; this method serializes fills of one entry, in this process
        and across computes sharing the datastore.
        """
        if self.exists(path):
            return path
        with lockutils.lock('vmware-ext-cache-%s' % path):
            if self.exists(path):
                return path
            with self._datastore_lock(path):
                if not self.exists(path):
                    started = time.monotonic()
                    fill(path)
                    LOG.info('Image cache entry %(path)s ready in %(s).1fs',
                             {'path': path, 's': time.monotonic() - started})
                    self._known.add(path)
        return path

    def _file_manager(self):
        return vfiles.FileManager(self.session, self.waiter,
                                  self.inventory.get().datacenter)

    def _datastore_lock(self, path):
        return _DatastoreLock(self, path.parent.join(
            '%s.%s' % (LOCK_PREFIX, path.basename)))

    def age_of(self, path):
        """Seconds since a datastore file or folder changed; None if gone."""
        datastore = [ds for ds in self.inventory.get().datastores
                     if ds.name == path.datastore]
        if not datastore:
            return None
        item = props.retrieve_one(self.session, datastore[0].ref, ['browser'])
        spec = vim.host.DatastoreBrowser.SearchSpec(
            matchPattern=[path.basename],
            details=vim.host.DatastoreBrowser.FileInfo.Details(
                modification=True, fileType=True))
        try:
            results = self.waiter.wait(
                item['browser'].SearchDatastore_Task(str(path.parent), spec),
                'age of %s' % path)
        except vexc.FileNotFoundException:
            return None
        for info in getattr(results, 'file', None) or ():
            if info.path.rstrip('/') == path.basename and info.modification:
                return time.time() - info.modification.timestamp()
        return None

    def move_into_place(self, source, path):
        """Move a finished file (not a disk) to its cache entry name."""
        self._file_manager().move(source, path)

    def delete(self, path):
        try:
            self._file_manager().delete(path)
        except vexc.FileNotFoundException:
            pass


class _DatastoreLock(object):
    """A folder on the datastore as a lock between computes."""

    def __init__(self, cache, lock_path):
        self.cache = cache
        self.path = lock_path

    def __enter__(self):
        manager = self.cache._file_manager()
        deadline = time.monotonic() + self.cache.fetch_timeout
        delay = 0.5
        first = True
        while True:
            try:
                manager.make_directory(self.path)
                return self
            except vexc.FileAlreadyExistsException:
                pass
            if first:
                # A lock older than any fill can take was left by a compute
                # that died while filling: do not wait for it.
                first = False
                age = self.cache.age_of(self.path)
                if age is not None and age > self.cache.fetch_timeout:
                    deadline = time.monotonic()
            if time.monotonic() >= deadline:
                LOG.warning('Breaking the image cache lock %s: its owner '
                            'did not finish within %ds', self.path,
                            self.cache.fetch_timeout)
                self.cache.delete(self.path)
                deadline = time.monotonic() + self.cache.fetch_timeout
                continue
            LOG.debug('Waiting for another compute to fill %s', self.path)
            # Another compute is fetching this image: its entry appears
            # when it is done (checked by the caller once we hold the lock).
            time.sleep(delay)
            delay = min(delay * 2, _WAIT_MAX_STEP)

    def __exit__(self, *exc_info):
        self.cache.delete(self.path)
