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

"""Image cache aging: remove cached images no VM uses any more.

The cache is shared by every compute on a datastore, so "in use" is asked of
vCenter, not of this compute's instances: an image is in use while any VM on
the datastore has a disk whose parent chain, or a CD-ROM, points into its
folder. Aging keeps the in-tree driver's record of "unused since": a
``ts-<UTC time>`` marker folder in the image's folder, written the first
time the image is seen unused and removed when it is used again; the image
goes once its marker is ``[image_cache]
remove_unused_original_minimum_age_seconds`` old. Either driver honours the
other's markers. An image being filled (a live fetch lock inside) is left
alone; what dead fills left (their locks and temporary folders) and image
folders without an entry are removed. A compute that still links to a
removed entry fills it again (see compute/spawn.py). What failed fills of
the in-tree driver left at the datastore root goes too, once unchanged for
the same minimum age (images/intree_leftovers.py).
"""

import datetime

from oslo_log import log as logging
from oslo_vmware import exceptions as vexc

from nova_vmware_ext.images import cache as image_cache
from nova_vmware_ext.images import intree_leftovers
from nova_vmware_ext.vsphere import backings

LOG = logging.getLogger(__name__)


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class CacheAging(object):
    """Ages the image cache of every usable datastore of the cluster."""

    def __init__(self, cache, inventory, session, now=_utcnow):
        self.cache = cache
        self.inventory = inventory
        self.session = session
        self.now = now
        self.intree = intree_leftovers.InTreeLeftovers(cache, now)

    def run(self, min_age):
        """One pass over every usable datastore; returns removed folders."""
        removed = []
        for datastore in self.inventory.datastores():
            try:
                removed += self._age(datastore, min_age)
                removed += self.intree.remove(
                    datastore.name, min_age, lambda ds=datastore: (
                        backings.files_in_use(self.session, ds.ref)))
            except vexc.VimException as exc:
                LOG.warning('Image cache aging on datastore %(ds)s failed: '
                            '%(err)s', {'ds': datastore.name, 'err': exc})
        return removed

    def _image_folders(self, datastore):
        """{image folder: ImageFolder} of the datastore's cache folder."""
        root = self.cache.root(datastore.name)
        try:
            tree = self.cache.list_tree(root)
        except vexc.FileNotFoundException:
            return {}
        return {entry.path: image_cache.ImageFolder.of(
                    tree.get(entry.path, ()))
                for entry in tree.get(root, ()) if entry.kind == 'folder'}

    def _used_images(self, datastore):
        """Image ids that VMs on this datastore (anyone's) refer to."""
        prefix = '%s/' % self.cache.root(datastore.name)
        return {name[len(prefix):].split('/')[0]
                for name in backings.files_in_use(self.session, datastore.ref)
                if name.startswith(prefix)}

    def _age(self, datastore, min_age):
        removed, used = [], None
        for folder, contents in sorted(self._image_folders(datastore).items(),
                                       key=lambda item: str(item[0])):
            contents = self.cache.sweep(contents)
            if contents.locks:
                continue  # being filled
            if not contents.entries:
                LOG.info('Removing %s: it holds no cached image', folder)
                self._remove(folder)
                removed.append(folder)
                continue
            if used is None:
                used = self._used_images(datastore)
            if folder.basename in used:
                for marker in contents.markers:
                    self.cache.discard(marker.path)
            elif self._unused_for(folder, contents) >= min_age:
                LOG.info('Removing unused cached image %(image)s from '
                         '%(folder)s', {'image': folder.basename,
                                        'folder': folder})
                self._remove(folder)
                removed.append(folder)
        return removed

    def _unused_for(self, folder, contents):
        """Seconds since the image was first seen unused (marking it now
        if no driver has yet)."""
        now = self.now()
        since = contents.unused_since()
        if since is None:
            LOG.info('Cached image %s is no longer used; marking it',
                     folder)
            self.cache.mark_unused(folder, now)
            since = now.replace(microsecond=0)
        return (now - since).total_seconds()

    def _remove(self, folder):
        self.cache.delete(folder)
        self.cache.forget(folder.join(folder.basename))
