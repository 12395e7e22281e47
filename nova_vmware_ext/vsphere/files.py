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

"""Datastore paths and the FileManager operations vCenter runs on them.

``DatastorePath`` is the one way paths like ``[ds 1] a/b.vmdk`` are parsed,
joined and printed. Paths are relative to the datastore root: ``..``,
absolute components and control characters are rejected, so nothing built
from an image id or instance name can escape its folder.
"""

import dataclasses
import posixpath
import re
import urllib.parse

from oslo_vmware import exceptions as vexc

from nova_vmware_ext.vsphere import faults

_DS_PATH = re.compile(r'^\[([^\[\]]+)\] ?(.*)$', re.DOTALL)
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')


def _check_component(component, text):
    if component in ('.', '..'):
        raise faults.InvalidPath('%r: "%s" is not allowed in a datastore '
                                 'path' % (text, component))


def _normalize(rel_path, text):
    if _CONTROL.search(rel_path):
        raise faults.InvalidPath('%r: control characters are not allowed '
                                 'in a datastore path' % text)
    if rel_path.startswith('/') or '\\' in rel_path:
        raise faults.InvalidPath('%r: a datastore path is relative to the '
                                 'datastore root, with "/" separators' % text)
    parts = [p for p in rel_path.split('/') if p]
    for part in parts:
        _check_component(part, text)
    return '/'.join(parts)


@dataclasses.dataclass(frozen=True)
class DatastorePath(object):
    """A file or folder on a datastore: ``[datastore] rel/path``."""

    datastore: str
    rel_path: str = ''

    def __post_init__(self):
        name = self.datastore
        if not name or not name.strip() or '[' in name or ']' in name \
                or _CONTROL.search(name):
            raise faults.InvalidPath('invalid datastore name %r' % (name,))
        object.__setattr__(self, 'rel_path',
                           _normalize(self.rel_path, self.rel_path))

    @classmethod
    def parse(cls, text):
        """Parse ``[ds] a/b.vmdk`` (the space after ``]`` is optional)."""
        match = _DS_PATH.match(text or '')
        if not match:
            raise faults.InvalidPath('%r is not a datastore path '
                                     '("[datastore] folder/file")' % (text,))
        return cls(match.group(1), match.group(2))

    def __str__(self):
        if self.rel_path:
            return '[%s] %s' % (self.datastore, self.rel_path)
        return '[%s]' % self.datastore

    def join(self, *parts):
        """A path below this one; each part may contain '/'."""
        extra = '/'.join(p for p in parts if p)
        return DatastorePath(self.datastore,
                             posixpath.join(self.rel_path, extra)
                             if self.rel_path else extra)

    @property
    def basename(self):
        return posixpath.basename(self.rel_path)

    @property
    def parent(self):
        return DatastorePath(self.datastore, posixpath.dirname(self.rel_path))

    def http_url(self, host, port, datacenter_path):
        """URL of this file on vCenter's datastore HTTP service (/folder)."""
        query = urllib.parse.urlencode({'dcPath': datacenter_path,
                                        'dsName': self.datastore})
        netloc = host if port in (None, 443) else '%s:%s' % (host, port)
        return urllib.parse.urlunsplit((
            'https', netloc,
            '/folder/' + urllib.parse.quote(self.rel_path, safe='/'),
            query, ''))


class FileManager(object):
    """FileManager: create, copy, move and delete datastore files and
    folders of one datacenter. Paths are DatastorePaths; tasks are waited
    for with the session's TaskWaiter."""

    def __init__(self, session, waiter, datacenter):
        self.session = session
        self.waiter = waiter
        self.datacenter = datacenter

    @property
    def _manager(self):
        return self.session.content.fileManager

    def make_directory(self, path, parents=True):
        """Create a folder; FileAlreadyExistsException if it exists."""
        self._manager.MakeDirectory(str(path), self.datacenter, parents)

    def delete(self, path, missing_ok=False, wait=True):
        """Delete a file or a folder with its contents.

        :param missing_ok: a path that is not there is no error.
        :param wait: False: start the deletion only; the session's next
            task wait sees it end and logs a failure (TaskWaiter.wait_later).
        """
        task = self._manager.DeleteDatastoreFile_Task(str(path),
                                                      self.datacenter)
        if not wait:
            self.waiter.wait_later(task, 'delete %s' % path)
            return
        try:
            self.waiter.wait(task, 'delete %s' % path)
        except vexc.FileNotFoundException:
            if not missing_ok:
                raise

    def move(self, source, target, force=False):
        """Move a file or folder (not a virtual disk: see VirtualDisks)."""
        task = self._manager.MoveDatastoreFile_Task(
            str(source), self.datacenter, str(target), self.datacenter,
            force)
        self.waiter.wait(task, 'move %s to %s' % (source, target))

    def copy(self, source, target, force=False, source_datacenter=None):
        """Copy a file or folder (not a virtual disk: see VirtualDisks),
        from this datacenter or ``source_datacenter``."""
        task = self._manager.CopyDatastoreFile_Task(
            str(source), source_datacenter or self.datacenter, str(target),
            self.datacenter, force)
        self.waiter.wait(task, 'copy %s to %s' % (source, target))
