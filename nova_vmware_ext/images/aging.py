"""Image cache aging: remove cached images no VM uses any more.

The cache is shared by every compute on a datastore, so "in use" is asked of
vCenter, not of this compute's instances: an entry is in use while any VM on
the datastore has a disk whose parent chain, or a CD-ROM, points into it.
An entry goes once it has been unused for
``[image_cache] remove_unused_original_minimum_age_seconds`` as seen by this
compute, and its files are at least that old. Entries being filled (a fetch
lock or temporary folder inside) are left alone. A compute that still links
to a removed entry fills it again (see compute/spawn.py).
"""

import time

from oslo_log import log as logging
from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.images import cache as image_cache
from nova_vmware_ext.vsphere import files as vfiles
from nova_vmware_ext.vsphere import props

LOG = logging.getLogger(__name__)


def _backing_files(device):
    backing = getattr(device, 'backing', None)
    while backing is not None:
        name = getattr(backing, 'fileName', None)
        if name:
            yield name
        backing = getattr(backing, 'parent', None)


class CacheAging(object):

    def __init__(self, session, waiter, inventory, cache):
        self.session = session
        self.waiter = waiter
        self.inventory = inventory
        self.cache = cache
        self._unused_since = {}

    def run(self, min_age):
        """One pass over every usable datastore; returns removed entries."""
        removed = []
        for datastore in self.inventory.datastores():
            try:
                removed += self._age(datastore, min_age)
            except vexc.VimException as exc:
                LOG.warning('Image cache aging on datastore %(ds)s failed: '
                            '%(err)s', {'ds': datastore.name, 'err': exc})
        return removed

    def _entries(self, datastore):
        """{image id: newest modification time} of the cache folder."""
        item = props.retrieve_one(self.session, datastore.ref,
                                  ['browser'])
        folder = vfiles.DatastorePath(datastore.name, self.cache.folder_name)
        spec = vim.host.DatastoreBrowser.SearchSpec(
            details=vim.host.DatastoreBrowser.FileInfo.Details(
                fileType=True, modification=True))
        try:
            task = item['browser'].SearchDatastoreSubFolders_Task(
                str(folder), spec)
            results = self.waiter.wait(task, 'listing of %s' % folder)
        except vexc.FileNotFoundException:
            return {}
        entries, busy = {}, set()
        for result in results or ():
            path = vfiles.DatastorePath.parse(result.folderPath)
            rel = path.rel_path[len(folder.rel_path):].strip('/')
            if not rel:
                continue
            image_id = rel.split('/')[0]
            for info in result.file or ():
                if (info.path.startswith('tmp-') or info.path.startswith(
                        image_cache.LOCK_PREFIX)):
                    busy.add(image_id)
                stamp = info.modification.timestamp() if \
                    info.modification else 0
                entries[image_id] = max(entries.get(image_id, 0), stamp)
            entries.setdefault(image_id, 0)
        for image_id in busy:
            entries.pop(image_id, None)
        return entries

    def _in_use(self, datastore):
        """Image ids that VMs on this datastore (any compute's) refer to."""
        item = props.retrieve_one(self.session, datastore.ref, ['vm'])
        vms = list(item.get('vm') or ()) if item else []
        prefix = '[%s] %s/' % (datastore.name, self.cache.folder_name)
        used = set()
        for vm in props.retrieve_objects(
                self.session, vms,
                {vim.VirtualMachine: ['config.hardware.device']}):
            for device in vm.get('config.hardware.device') or ():
                for name in _backing_files(device):
                    if name.startswith(prefix):
                        used.add(name[len(prefix):].split('/')[0])
        return used

    def _age(self, datastore, min_age):
        entries = self._entries(datastore)
        if not entries:
            return []
        used = self._in_use(datastore)
        now = time.time()
        removed = []
        for image_id, modified in sorted(entries.items()):
            key = (datastore.name, image_id)
            if image_id in used:
                self._unused_since.pop(key, None)
                continue
            since = self._unused_since.setdefault(key, now)
            if now - since < min_age or now - modified < min_age:
                continue
            folder = self.cache.folder(datastore.name, image_id)
            LOG.info('Removing unused cached image %(image)s from '
                     '%(folder)s', {'image': image_id, 'folder': folder})
            self.cache.delete(folder)
            self.cache.forget(folder.join('%s.vmdk' % image_id))
            self._unused_since.pop(key, None)
            removed.append(folder)
        return removed
