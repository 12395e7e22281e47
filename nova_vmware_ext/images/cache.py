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

"""The image cache on each datastore, shared by every compute that uses it.

Layout (the in-tree driver's, so either driver reuses the other's entries):

    [ds] <cache folder>/<image id>/<image id>.vmdk        the image's disk
    [ds] <cache folder>/<image id>/<image id>.<GB>.vmdk   grown to a flavor
    [ds] <cache folder>/<image id>/<image id>.iso         an ISO image
    [ds] <cache folder>/<image id>/ts-<UTC time>/         unused since then
    [ds] <cache folder>/<image id>/fetch-lock.<entry_ext>/ a fill under way,
                                                           its files inside
    [ds] <cache folder>/<image id>/tmp-<hex>/             temporary files of
                                                           older fills

An entry is written under a temporary name inside its fetch lock's folder
and moved to its name last (one MoveVirtualDisk or MoveDatastoreFile), or,
for an NFC import (streamOptimized, converted images), written straight
at its name: an entry counts as there only while its fetch lock does not
exist, and breaking a dead fill's lock removes what it wrote in place
first (see images/lock.py). So an entry this driver sees is always whole;
the in-tree driver (or an older version of this one) sharing the cache
folder, which knows no lock, can see an import under way. One fetch per
image and datastore runs at a time: in this process a named lock, across
computes a lock folder with a heartbeat; removing the lock removes what the
fill wrote in its folder. A fill into an image folder that was there
before removes what dead fills left in it; a fill that fails removes what
it wrote and the image's folder if it leaves it empty.
"""

import dataclasses
import datetime
import time
import urllib.parse
import uuid

from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_vmware import exceptions as vexc

from nova_vmware_ext.images import lock as cache_lock
from nova_vmware_ext.vsphere import browser as vbrowser
from nova_vmware_ext.vsphere import disks as vdisks
from nova_vmware_ext.vsphere import files as vfiles

LOG = logging.getLogger(__name__)

LOCK_PREFIX = cache_lock.PREFIX
TEMP_PREFIX = 'tmp-'
# The in-tree driver's "unused since" marker (nova/virt/vmwareapi/
# imagecache.py): a folder named by the compute's UTC time.
MARKER_PREFIX = 'ts-'
MARKER_FORMAT = '%Y-%m-%d-%H-%M-%S'


def cache_folder_name(subdirectory_name, cache_prefix=None, my_ip=None,
                      aging_enabled=True):
    """The cache folder on each datastore, by the in-tree driver's rule.

    As ``VMwareVMOps._get_base_folder`` of nova/virt/vmwareapi/vmops.py:
    ``[vmware] cache_prefix`` + ``[image_cache] subdirectory_name`` when a
    prefix is set; else ``[DEFAULT] my_ip`` + subdirectory_name when
    ``[image_cache] remove_unused_base_images`` is on (one folder per
    compute); else subdirectory_name alone.
    """
    if cache_prefix:
        return '%s%s' % (cache_prefix, subdirectory_name)
    if aging_enabled:
        return '%s%s' % (my_ip, subdirectory_name)
    return subdirectory_name


def marker_name(when):
    """The in-tree ``ts-`` marker for a UTC datetime."""
    return MARKER_PREFIX + when.strftime(MARKER_FORMAT)


def marker_time(name):
    """The UTC datetime of a ``ts-`` marker name, or None if it is not one."""
    if not name.startswith(MARKER_PREFIX):
        return None
    try:
        return datetime.datetime.strptime(
            name[len(MARKER_PREFIX):], MARKER_FORMAT).replace(
                tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True)
class ImageFolder(object):
    """What one image's cache folder holds, sorted by what it is for."""

    entries: tuple   # FileEntry of disks, extents, ISOs
    temps: tuple     # tmp-* folders of fills
    locks: tuple     # fetch-lock.* folders
    markers: tuple   # ts-* markers

    @classmethod
    def of(cls, listing):
        sorted_out = {'entries': [], 'temps': [], 'locks': [], 'markers': []}
        for entry in listing:
            if entry.name.startswith(TEMP_PREFIX):
                sorted_out['temps'].append(entry)
            elif entry.name.startswith(LOCK_PREFIX):
                sorted_out['locks'].append(entry)
            elif marker_time(entry.name) is not None:
                sorted_out['markers'].append(entry)
            else:
                sorted_out['entries'].append(entry)
        return cls(**{k: tuple(v) for k, v in sorted_out.items()})

    def unused_since(self):
        """The oldest ``ts-`` marker's time, or None."""
        times = [marker_time(m.name) for m in self.markers]
        return min(times) if times else None


class ImageCache(object):
    """Entries of the image cache and how they come to be.

    :param owner: this compute's name, recorded in the locks it holds.
    :param heartbeat_interval, stale_after: see images/lock.py.
    :param files, browser: the datacenter's vsphere.files.FileManager and
        a vsphere.browser.DatastoreBrowser (made here when not given).
    """

    def __init__(self, session, waiter, http, inventory, folder_name,
                 fetch_timeout=3600, owner='nova-compute',
                 heartbeat_interval=cache_lock.HEARTBEAT_INTERVAL,
                 stale_after=cache_lock.STALE_AFTER, files=None,
                 browser=None):
        self.session = session
        self.waiter = waiter
        self.http = http
        self.inventory = inventory
        self.folder_name = folder_name
        self.fetch_timeout = fetch_timeout
        self.owner = owner
        self.heartbeat_interval = heartbeat_interval
        self.stale_after = stale_after
        self.browser = browser or vbrowser.DatastoreBrowser(session, waiter)
        self._given_files = files
        self._known = set()
        self._check_sessions = True
        self._session_record = (None, None)  # (generation, (key, user))

    # Layout

    def root(self, datastore):
        return vfiles.DatastorePath(datastore, self.folder_name)

    def folder(self, datastore, image_id):
        return self.root(datastore).join(image_id)

    def disk_path(self, datastore, image_id):
        return self.folder(datastore, image_id).join('%s.vmdk' % image_id)

    def sized_path(self, datastore, image_id, size_gb):
        return self.folder(datastore, image_id).join(
            '%s.%d.vmdk' % (image_id, size_gb))

    def iso_path(self, datastore, image_id):
        return self.folder(datastore, image_id).join('%s.iso' % image_id)

    def temp_folder(self, datastore, image_id):
        return self.folder(datastore, image_id).join(
            TEMP_PREFIX + uuid.uuid4().hex[:12])

    # Lookup

    def _url(self, path):
        inv = self.inventory.get()
        return path.http_url(self.session.host, self.session.port,
                             inv.datacenter_path)

    def _folder_url(self, folder):
        """The /folder URL of a datastore folder (a trailing slash)."""
        url = urllib.parse.urlsplit(self._url(folder))
        return urllib.parse.urlunsplit(url._replace(path=url.path + '/'))

    def exists(self, path):
        """True if the entry is there and whole (no fill of it under way:
        its fetch lock absent); remembered once seen. Two HTTP HEADs."""
        if path in self._known:
            return True
        if not self.present(path):
            return False
        if self.folder_exists(self.datastore_lock(path).path):
            return False
        self._known.add(path)
        return True

    def present(self, path):
        """True if a file has the entry's name, whole or not (HEAD)."""
        return self.http.exists(self._url(path), 'cache lookup %s' % path)

    def folder_exists(self, folder):
        return self.http.exists(self._folder_url(folder),
                                'cache lookup %s' % folder)

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
        return self.ensure_staged(path, lambda entry, staging: fill(entry))

    def ensure_staged(self, path, fill):
        """As ensure, calling ``fill(path, staging)``: ``staging`` is an
        existing folder (the fetch lock's) to write the entry in before
        moving it to ``path`` (or to write what goes with an entry written
        in place); it goes with the lock.
        """
        with lockutils.lock('vmware-ext-cache-%s' % path):
            if self.exists(path):
                return path
            # Only a folder that was there can hold what dead fills left.
            sweep = self.folder_exists(path.parent)
            lock = self.datastore_lock(path).acquire()
            try:
                # Ours now: a file with the entry's name is whole (a dead
                # fill's in-place writes went when its lock was broken).
                if not self.present(path):
                    self._fill(path, fill, lock, sweep)
                else:
                    self._known.add(path)
            except Exception:
                with excutils.save_and_reraise_exception():
                    self._fill_failed(path, lock)
            else:
                lock.release(wait=False, done=True)
        return path

    def _fill_failed(self, path, lock):
        """Release the lock of a failed fill, unless what it wrote in place
        is still there: the lock then stays, hiding it, until a waiter or
        aging breaks it and removes the entry first."""
        try:
            left = self.present(path)
        except Exception as exc:
            LOG.warning('Cannot tell whether the failed fill left %s (%s)',
                        path, exc)
            left = True
        if left:
            lock.abandon()
            return
        lock.release()
        self._remove_if_empty(path.parent)

    def _fill(self, path, fill, lock, sweep=True):
        """Fill ``path`` in the lock's folder, then (``sweep``) remove what
        dead fills left in the image's folder, as listed when the fill
        began (the listing ends during the fill's own task waits: no wait
        of its own).
        """
        listing = self._start_listing(path.parent) if sweep else None
        started = time.monotonic()
        fill(path, lock.path)
        LOG.info('Image cache entry %(path)s ready in %(s).1fs',
                 {'path': path, 's': time.monotonic() - started})
        self._known.add(path)
        try:
            if listing is not None:
                self.sweep(ImageFolder.of(listing()), own_lock=lock.path)
        except Exception as exc:
            LOG.warning('Cannot sweep %s for what failed fills left (%s); '
                        'image cache aging or the next fill will',
                        path.parent, exc)

    def _start_listing(self, folder):
        """``finish()`` -> the folder's FileEntry values, or None."""
        try:
            return self.start_list(folder)
        except Exception as exc:
            LOG.warning('Cannot list %s for what failed fills left (%s)',
                        folder, exc)
            return None

    def datastore_lock(self, path):
        """The cross-compute fetch lock of the cache entry ``path``; a dead
        owner's in-place writes go with it."""
        return cache_lock.DatastoreLock(
            self, path.parent.join(cache_lock.folder_name(path.basename)),
            self.owner, self.fetch_timeout, self.heartbeat_interval,
            self.stale_after, on_break=lambda: self.discard_entry(path))

    def _look_at_lock(self, lock_entry):
        """One look at a lock (a FileEntry): (may its owner be alive?,
        its owner record)."""
        lock = cache_lock.DatastoreLock(self, lock_entry.path, None, 0,
                                        self.heartbeat_interval,
                                        self.stale_after)
        record = lock.read_record()
        return lock.judge().live_once(record, lock_entry.age), record

    def lock_is_live(self, lock_entry):
        """One look at a lock (a FileEntry): may its owner be alive?"""
        return self._look_at_lock(lock_entry)[0]

    def discard_entry(self, path):
        """Remove an entry (a disk with its extents, or a file) a dead fill
        may have written in place; raises if it cannot."""
        try:
            if path.basename.endswith('.vmdk'):
                vdisks.VirtualDisks(self.session, self.waiter,
                                    self.inventory.get().datacenter
                                    ).delete(path)
            else:
                self.delete(path)
        except vexc.FileNotFoundException:
            return
        LOG.warning('Removed %s, written in place by a fill that did not '
                    'finish', path)

    def remove_leftovers(self, folder, own_lock=None):
        """Remove what dead fills left in an image's folder (see sweep).
        Returns the ImageFolder that remains."""
        try:
            contents = ImageFolder.of(self.list(folder))
        except vexc.FileNotFoundException:
            return ImageFolder.of(())
        return self.sweep(contents, own_lock)

    def sweep(self, contents, own_lock=None):
        """Remove the locks of dead fills and, unless a live fill of
        another entry is under way there, all temporary folders: every
        fill holds a lock while it has a temporary folder. Returns the
        ImageFolder that remains (live locks included)."""
        locks = [entry for entry in contents.locks if entry.path != own_lock]
        looks = {entry.path: self._look_at_lock(entry) for entry in locks}
        live = [entry for entry in locks if looks[entry.path][0]]
        written = set()
        gone = [entry for entry in locks if entry not in live
                and self._discard_written(contents, entry,
                                          looks[entry.path][1], written)]
        if not live:
            gone += contents.temps
        for entry in gone:
            LOG.info('Removing %s, left by a fill that did not finish',
                     entry.path)
            self.discard(entry.path)
        return dataclasses.replace(
            contents, locks=tuple(e for e in contents.locks if e not in gone),
            temps=tuple(e for e in contents.temps if e not in gone),
            entries=tuple(e for e in contents.entries
                          if e.path not in written))

    def _discard_written(self, contents, lock_entry, record, written):
        """Before a dead lock goes: remove the entry its fill may have
        written in place (unless its record says it finished), adding its
        path to ``written``. False when that fails: the lock then stays,
        hiding the entry."""
        if cache_lock.finished(record):
            return True
        for entry in contents.entries:
            if cache_lock.folder_name(entry.name) == lock_entry.name:
                try:
                    self.discard_entry(entry.path)
                    written.add(entry.path)
                    extent = entry.path.parent.join(
                        entry.name[:-len('.vmdk')] + '-flat.vmdk')
                    written.add(extent)
                except Exception as exc:
                    LOG.warning('Cannot remove %s, which a fill that did not '
                                'finish may have written (%s); its lock %s '
                                'stays', entry.path, exc, lock_entry.path)
                    return False
        return True

    def _remove_if_empty(self, folder):
        """After a failed fill: no leftover and no empty image folder stays
        behind (a datastore may finish writing an aborted upload into the
        temporary folder after the fill removed it)."""
        try:
            left = self.remove_leftovers(folder)
            if not (left.entries or left.locks or left.temps or left.markers):
                self.delete(folder)
        except Exception as exc:
            LOG.warning('Cannot remove the empty image cache folder %s: %s',
                        folder, exc)

    # Datastore access (also what images/lock.py needs)

    def _files(self):
        return self._given_files or vfiles.FileManager(
            self.session, self.waiter, self.inventory.get().datacenter)

    def _datastore_ref(self, name):
        for datastore in self.inventory.get().datastores:
            if datastore.name == name:
                return datastore.ref
        raise vexc.FileNotFoundException(
            'datastore %s is not one of cluster %s' % (
                name, self.inventory.cluster_name))

    def list(self, folder):
        """FileEntry values directly in a datastore folder."""
        return self.browser.list_folder(self._datastore_ref(folder.datastore),
                                        folder)

    def start_list(self, folder):
        """Start listing a folder; ``finish()`` -> its FileEntry values."""
        return self.browser.start_listing(
            self._datastore_ref(folder.datastore), folder)

    def list_tree(self, folder):
        """{folder: [FileEntry]} for ``folder`` and every folder below."""
        return self.browser.list_tree(self._datastore_ref(folder.datastore),
                                      folder)

    def age_of(self, path):
        """Seconds since a datastore file or folder changed; None if gone."""
        found = self.browser.find(self._datastore_ref(path.datastore), path)
        return found.age if found is not None else None

    def make_directory(self, path):
        self._files().make_directory(path)

    def read_small(self, path, limit):
        """The first ``limit`` bytes of a small datastore file."""
        _size, chunks = self.http.get(self._url(path), 'read of %s' % path)
        data = b''
        for chunk in chunks:
            data += chunk
            if len(data) >= limit:
                break
        return data[:limit]

    def write_small(self, path, data):
        self.http.put(self._url(path), iter([data]), len(data),
                      'write of %s' % path, quiet=True)

    def session_record(self):
        """(key, user name) of our vCenter session, as vCenter names it.

        vCenter's UserSession key is not the session cookie; where it is
        (vcsim), no key is recorded: the cookie is a secret.
        """
        generation = self.session.generation
        if self._session_record[0] != generation:
            current = self.session.content.sessionManager.currentSession
            key = current.key
            if key and key in (self.session.session_cookie or ''):
                key = ''
            self._session_record = (generation, (key, current.userName))
        return self._session_record[1]

    def session_generation(self):
        """Changes when the session logs in again."""
        return self.session.generation

    def session_alive(self, record):
        """Is a lock owner's vCenter session still there? None if vCenter
        will not say (no Sessions.ValidateSession privilege)."""
        if not self._check_sessions:
            return None
        try:
            return bool(self.session.content.sessionManager.SessionIsActive(
                record.session, record.user))
        except vexc.VimException as exc:
            LOG.info('vCenter cannot tell whether a session is active (%s): '
                     'image cache locks are judged by their heartbeat alone',
                     exc)
            self._check_sessions = False
            return None

    def move_into_place(self, source, path):
        """Move a finished file (not a disk) to its cache entry name."""
        self._files().move(source, path)

    def delete(self, path, wait=True):
        self._files().delete(path, missing_ok=True, wait=wait)

    def discard(self, path):
        """Delete a temporary file or folder; a failure is logged, never
        raised (it must not hide the error of the fill that made it, and
        the next fill of the image or aging removes what stays)."""
        try:
            self.delete(path)
        except Exception as exc:
            LOG.warning('Cannot remove %s (%s); the next fill of that image '
                        'or image cache aging will', path, exc)

    def mark_unused(self, folder, when):
        """Write the in-tree ``ts-`` marker: the image is unused since."""
        try:
            self.make_directory(folder.join(marker_name(when)))
        except vexc.FileAlreadyExistsException:
            pass
