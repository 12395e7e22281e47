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

"""What failed fills of Nova's in-tree vmwareapi driver left on a datastore.

The in-tree driver (nova/virt/vmwareapi/vmops.py) fills its image cache
through folders at the datastore root, removed when the fill ends well:

- ``vmware_temp/<uuid>/``: sparse, flat and ISO images are written there,
  then moved into the cache;
- ``OSTACK_IMG_<uuid>/``: streamOptimized and OVA images are imported as a
  VM of that name (unregistered after the import), its disk then moved
  into the cache;
- ``OSTACK_SNAP_<uuid>/``: a snapshot's linked clone VM, destroyed after
  its disk is exported to Glance.

None of them has a lock or a heartbeat, and an in-tree compute of a mixed
fleet may be filling one right now: a folder goes only when nothing in it
has changed for the aging threshold (``[image_cache]
remove_unused_original_minimum_age_seconds``), and never while a
registered VM uses a disk in it (left to the operator, logged).
``vmware_temp`` itself stays: an in-tree fill makes its folders inside.
"""

import datetime
import re

from oslo_log import log as logging
from oslo_utils import uuidutils
from oslo_vmware import exceptions as vexc

from nova_vmware_ext.vsphere import files as vfiles

LOG = logging.getLogger(__name__)

TEMP_FOLDER = 'vmware_temp'
_VM_FOLDER = re.compile(r'^OSTACK_(IMG|SNAP)_(.+)$')


def _is_leftover_vm_folder(name):
    match = _VM_FOLDER.match(name)
    return bool(match) and uuidutils.is_uuid_like(match.group(2))


class InTreeLeftovers(object):
    """Removes the in-tree driver's leftovers of one datastore.

    :param cache: the ImageCache (its datastore access).
    :param now: () -> aware UTC datetime.
    """

    def __init__(self, cache, now):
        self.cache = cache
        self.now = now

    def candidates(self, datastore):
        """[(folder FileEntry, {folder: [FileEntry]} of its tree)]."""
        root = vfiles.DatastorePath(datastore)
        found = []
        for entry in self.cache.list(root):
            if entry.kind != 'folder':
                continue
            if entry.name == TEMP_FOLDER:
                tree = self.cache.list_tree(entry.path)
                found += [(child, tree) for child in tree.get(entry.path, ())
                          if child.kind == 'folder'
                          and uuidutils.is_uuid_like(child.name)]
            elif _is_leftover_vm_folder(entry.name):
                found.append((entry, self.cache.list_tree(entry.path)))
        return found

    def idle_for(self, folder, tree):
        """Seconds since anything in ``folder`` (or it) last changed."""
        prefix = folder.path.rel_path + '/'
        times = [folder.modified] + [
            entry.modified for path, entries in tree.items()
            if path == folder.path or path.rel_path.startswith(prefix)
            for entry in entries]
        if any(t is None for t in times):
            return None  # unknown: never old enough
        newest = max(t if t.tzinfo else t.replace(tzinfo=datetime.timezone.utc)
                     for t in times)
        return (self.now() - newest).total_seconds()

    def remove(self, datastore, min_age, files_in_use):
        """Remove the leftovers idle for ``min_age`` seconds or more.

        :param files_in_use: () -> names (``[ds] path``) of files VMs use.
        :returns: the removed folders.
        """
        try:
            candidates = self.candidates(datastore)
        except vexc.FileNotFoundException:
            return []
        removed, used = [], None
        for folder, tree in candidates:
            idle = self.idle_for(folder, tree)
            if idle is None or idle < min_age:
                continue
            if used is None:
                used = files_in_use()
            prefix = str(folder.path) + '/'
            if any(name.startswith(prefix) for name in used):
                LOG.warning('%s looks left by a failed fill or snapshot of '
                            'the in-tree vmwareapi driver, but a registered '
                            'VM uses a disk in it: not removed', folder.path)
                continue
            LOG.info('Removing %(folder)s, left by the in-tree vmwareapi '
                     'driver and unchanged for %(idle)ds',
                     {'folder': folder.path, 'idle': idle})
            self.cache.delete(folder.path)
            removed.append(folder.path)
        return removed
