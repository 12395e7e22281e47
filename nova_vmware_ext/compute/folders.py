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

"""VM folders per project: ``OpenStack/Project (<id>)/Instances``, as in-tree.

Folders are created on first use and remembered, so a spawn into a known
project makes no folder call. A folder another compute made first is found
by name (DuplicateName).
"""

import threading

from oslo_log import log as logging
from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.vsphere import props

LOG = logging.getLogger(__name__)


class ProjectFolders(object):

    def __init__(self, session, inventory):
        self.session = session
        self.inventory = inventory
        self._lock = threading.Lock()
        self._known = {}

    def instances_folder(self, project_id):
        names = ('OpenStack', 'Project (%s)' % project_id, 'Instances')
        with self._lock:
            cached = self._known.get(names)
            if cached is not None:
                return cached
            folder = self.inventory.get().vm_folder
            for depth in range(1, len(names) + 1):
                key = names[:depth]
                known = self._known.get(key)
                folder = known if known is not None else self._child(
                    folder, names[depth - 1])
                self._known[key] = folder
            return folder

    def forget(self):
        """Folders were removed behind our back: look them up again."""
        with self._lock:
            self._known.clear()

    def _child(self, parent, name):
        try:
            folder = parent.CreateFolder(name)
            LOG.info('Created VM folder %s', name)
            return self.session.bind(folder)
        except vexc.DuplicateName:
            pass
        item = props.retrieve_one(self.session, parent, ['childEntity'])
        children = [c for c in (item or {}).get('childEntity') or ()
                    if isinstance(c, vim.Folder)]
        for child in props.retrieve_objects(self.session, children,
                                            {vim.Folder: ['name']}):
            if child['name'] == name:
                return child['obj']
        raise vexc.VimException('VM folder %r exists but cannot be found '
                                'under %s' % (name, parent._moId))
