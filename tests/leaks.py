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

"""What a test leaves in vSphere, seen through an independent connection.

``LeakCheck`` lists every file and folder of every datastore (recursively,
with each datastore's HostDatastoreBrowser) and every VM of the inventory
when a test starts, again when its cleanups have run, and fails the test
naming whatever appeared in between. What a test leaves on purpose is
declared path by path (``keep_cache_entry``), never by prefix, so a
temporary folder or a lock beside a kept cache entry is still a leak.
"""

import re

import fixtures
from pyVim import task as task_util
from pyVmomi import vim

from tests import vcsim

_DS_PATH = re.compile(r'^\[(?P<ds>[^\]]+)\] ?(?P<rel>.*)$')


def _rel(ds_path):
    """('ds', 'a/b/') of '[ds] a/b/'; folders keep their trailing '/'."""
    match = _DS_PATH.match(ds_path)
    return match.group('ds'), match.group('rel')


def datastore_files(si):
    """{'[ds] rel/path'} of every file and folder (ending in '/')."""
    found = set()
    for moid, item in vcsim.query(si, vim.Datastore,
                                  ['name', 'browser']).items():
        browser = vim.host.DatastoreBrowser(item['browser']._moId, si._stub)
        task = browser.SearchDatastoreSubFolders_Task(
            '[%s]' % item['name'], vim.host.DatastoreBrowser.SearchSpec())
        task_util.WaitForTask(task)
        for result in task.info.result or ():
            folder = result.folderPath
            if not folder.endswith(('/', ']')):
                folder += '/'
            separator = ' ' if folder.endswith(']') else ''
            for info in result.file or ():
                name = info.path.rstrip('/')
                if isinstance(info, vim.host.DatastoreBrowser.FolderInfo):
                    name += '/'
                found.add('%s%s%s' % (folder, separator, name))
    return found


def vms(si):
    """{moid: 'name ([ds] path.vmx)'} of every VM and template."""
    return {moid: '%s (%s)' % (item.get('name'),
                               item.get('config.files.vmPathName'))
            for moid, item in vcsim.query(
                si, vim.VirtualMachine,
                ['name', 'config.files.vmPathName']).items()}


def cache_entry_paths(cache_folder, image_id):
    """The files an image cache entry may consist of, and its folders.

    The layout of images/cache.py: the image's disk (a descriptor and its
    extent), disks grown to a flavor (``<id>.<GB>.vmdk``) and ISOs.
    """
    folder = '%s/%s/' % (cache_folder, image_id)
    return frozenset([
        cache_folder + '/', folder,
        folder + '%s.vmdk' % image_id, folder + '%s-flat.vmdk' % image_id,
        folder + '%s.iso' % image_id])


def cache_entry_sized(cache_folder, image_id, size_gb):
    folder = '%s/%s/' % (cache_folder, image_id)
    return frozenset([folder + '%s.%d.vmdk' % (image_id, size_gb),
                      folder + '%s.%d-flat.vmdk' % (image_id, size_gb)])


class LeakCheck(fixtures.Fixture):
    """Fails the test on cleanup if vSphere holds more than before.

    Use it before anything the test creates registers its own cleanup:
    cleanups run last first, so the check runs after all of them.
    """

    def __init__(self, si):
        super().__init__()
        self.si = si
        self.kept = set()  # datastore-relative paths a test may leave
        self._forgone = False

    def _setUp(self):
        self.files = datastore_files(self.si)
        self.vms = vms(self.si)
        self.addCleanup(self.check)

    def forgo(self):
        """No check: the test takes its vCenter away (nothing to ask)."""
        self._forgone = True

    def keep(self, rel_paths):
        """These datastore-relative paths may be left (on any datastore)."""
        self.kept.update(rel_paths)

    def keep_cache_entry(self, cache_folder, image_id, sizes_gb=()):
        """The image cache keeps this image's entry by design."""
        self.keep(cache_entry_paths(cache_folder, image_id))
        for size in sizes_gb:
            self.keep(cache_entry_sized(cache_folder, image_id, size))

    def leaks(self):
        """(new files, new VMs) not declared kept."""
        files = sorted(path for path in datastore_files(self.si) - self.files
                       if _rel(path)[1] not in self.kept)
        new_vms = vms(self.si)
        left = sorted(desc for moid, desc in new_vms.items()
                      if moid not in self.vms)
        return files, left

    def check(self):
        if self._forgone:
            return
        files, left = self.leaks()
        if files or left:
            raise AssertionError(
                'the test left behind in vSphere: %s' % '; '.join(
                    (['VMs: ' + ', '.join(left)] if left else [])
                    + (['files: ' + ', '.join(files)] if files else [])))
