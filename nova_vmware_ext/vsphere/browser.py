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

"""HostDatastoreBrowser: what is in a datastore folder, as plain values.

Searches return ``FileEntry`` values (name, kind, size, modification time,
a disk's capacity), so callers above ``vsphere/`` never see pyVmomi
objects. A folder that is not there raises FileNotFoundException.
"""

import dataclasses
import datetime
import threading

from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.vsphere import files as vfiles
from nova_vmware_ext.vsphere import props

_Browser = vim.host.DatastoreBrowser

_KINDS = ((_Browser.FolderInfo, 'folder'), (_Browser.VmDiskInfo, 'disk'),
          (_Browser.IsoImageInfo, 'iso'))


@dataclasses.dataclass(frozen=True)
class FileEntry(object):
    path: vfiles.DatastorePath
    kind: str  # 'folder', 'disk', 'iso' or 'file'
    size: int = None  # bytes
    modified: datetime.datetime = None
    capacity_kb: int = None  # a disk's virtual size, when asked for

    @property
    def name(self):
        return self.path.basename

    @property
    def age(self):
        """Seconds since the last change, or None if unknown."""
        if self.modified is None:
            return None
        modified = self.modified
        if modified.tzinfo is None:
            modified = modified.replace(tzinfo=datetime.timezone.utc)
        return (datetime.datetime.now(datetime.timezone.utc)
                - modified).total_seconds()


def _kind(info):
    for cls, kind in _KINDS:
        if isinstance(info, cls):
            return kind
    return 'file'


def _entries(result):
    folder = vfiles.DatastorePath.parse(result.folderPath)
    return [FileEntry(path=folder.join(info.path.rstrip('/')),
                      kind=_kind(info), size=info.fileSize,
                      modified=info.modification,
                      capacity_kb=getattr(info, 'capacityKb', None))
            for info in result.file or ()]


def _spec(match=None, disk_capacity=False):
    details = _Browser.FileInfo.Details(fileType=True, fileSize=True,
                                        modification=True)
    spec = _Browser.SearchSpec(details=details,
                               matchPattern=list(match or ()))
    if disk_capacity:
        spec.query = [_Browser.VmDiskQuery(
            details=_Browser.VmDiskQuery.Details(
                capacityKb=True, diskType=True, hardwareVersion=False))]
    return spec


class DatastoreBrowser(object):
    """Searches datastores through their HostDatastoreBrowser.

    Datastores are named by their managed object reference; the browser of
    each is read once and remembered.
    """

    def __init__(self, session, waiter):
        self.session = session
        self.waiter = waiter
        self._lock = threading.Lock()
        self._browsers = {}

    def _browser(self, datastore):
        with self._lock:
            browser = self._browsers.get(datastore._moId)
        if browser is None:
            item = props.retrieve_one(self.session, datastore, ['browser'])
            if item is None:
                raise vexc.ManagedObjectNotFoundException(
                    'datastore %s no longer exists' % datastore._moId)
            browser = item['browser']
            with self._lock:
                self._browsers[datastore._moId] = browser
        return browser

    def _search(self, datastore, start, what, wait=True):
        try:
            task = start(self._browser(datastore))
            return self.waiter.wait(task, what) if wait else task
        except vexc.ManagedObjectNotFoundException:
            with self._lock:  # its browser, or it, went: read it again
                self._browsers.pop(datastore._moId, None)
            raise

    def list_folder(self, datastore, folder, match=None,
                    disk_capacity=False):
        """The files and folders directly in ``folder``.

        :param match: file name patterns (``*.vmdk``); all when None.
        :param disk_capacity: also read each disk's capacity_kb (disks
            only are listed then).
        """
        spec = _spec(match, disk_capacity)
        result = self._search(
            datastore, lambda b: b.SearchDatastore_Task(str(folder), spec),
            'listing of %s' % folder)
        return _entries(result) if result is not None else []

    def start_listing(self, datastore, folder):
        """Start listing ``folder`` and return ``finish()`` -> the
        FileEntry values. The task stream sees the listing end in whatever
        wait comes next, so finishing after other waits costs no call."""
        what = 'listing of %s' % folder
        task = self._search(
            datastore, lambda b: b.SearchDatastore_Task(str(folder), _spec()),
            what, wait=False)

        def finish():
            result = self._search(datastore, lambda b: task, what)
            return _entries(result) if result is not None else []
        return finish

    def list_tree(self, datastore, folder, match=None):
        """{folder: [FileEntry]} for ``folder`` and every folder below."""
        spec = _spec(match)
        results = self._search(
            datastore,
            lambda b: b.SearchDatastoreSubFolders_Task(str(folder), spec),
            'listing of %s and its sub folders' % folder)
        return {vfiles.DatastorePath.parse(r.folderPath): _entries(r)
                for r in results or ()}

    def find(self, datastore, path):
        """The FileEntry of one file or folder, or None if it is not there."""
        try:
            found = self.list_folder(datastore, path.parent,
                                     match=[path.basename])
        except vexc.FileNotFoundException:
            return None
        return next((e for e in found if e.name == path.basename), None)

    def disk_capacity_kb(self, datastore, path):
        """A virtual disk's capacity in KB from vSphere, or None if the disk
        is not there or its capacity is not reported."""
        try:
            found = self.list_folder(datastore, path.parent,
                                     match=[path.basename],
                                     disk_capacity=True)
        except vexc.FileNotFoundException:
            return None
        for entry in found:
            if entry.name == path.basename and entry.capacity_kb:
                return entry.capacity_kb
        return None
