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

"""What the cluster's hosts can build: virtual hardware versions, read from
the cluster's EnvironmentBrowser (QueryConfigOptionDescriptor).

Read once when the driver starts and again after the cluster inventory is
resolved anew, so the per-spawn check (compute/flavor.check_hw_version)
costs no vCenter call.
"""

import re
import threading

from oslo_log import log as logging

from nova_vmware_ext.vsphere import props

LOG = logging.getLogger(__name__)
_NUMBER = re.compile(r'(\d+)$')


def version_order(key):
    """Sort key of hardware versions: vmx-9 before vmx-10."""
    match = _NUMBER.search(key)
    return (int(match.group(1)) if match else -1, key)


def hardware_versions(session, cluster):
    """Keys (``vmx-NN``) of the VM config options the cluster can create.

    None when vCenter offers no EnvironmentBrowser for the cluster. Two
    calls: the browser's reference and QueryConfigOptionDescriptor.
    """
    found = props.retrieve_one(session, cluster, ['environmentBrowser'])
    browser = (found or {}).get('environmentBrowser')
    if browser is None:
        return None
    descriptors = session.bind(browser).QueryConfigOptionDescriptor() or ()
    return frozenset(d.key for d in descriptors if d.createSupported)


class HardwareVersions(object):
    """The cluster's hardware versions, kept per inventory snapshot.

    ``inventory`` is a vsphere.inventory.Inventory: when it resolves the
    cluster anew (another snapshot), the versions are read again.
    """

    def __init__(self, session, inventory):
        self.session = session
        self.inventory = inventory
        self._lock = threading.Lock()
        self._snapshot = None
        self._versions = None

    def get(self):
        """frozenset of ``vmx-NN`` keys, or None when vCenter cannot say."""
        current = self.inventory.get()
        with self._lock:
            if self._snapshot is not current:
                self._versions = hardware_versions(self.session,
                                                   current.cluster)
                self._snapshot = current
                LOG.info('Cluster %(cluster)s creates VMs with hardware '
                         'versions %(versions)s', {
                             'cluster': current.cluster_name,
                             'versions': ', '.join(sorted(
                                 self._versions or (), key=version_order))
                             or 'unknown'})
            return self._versions
