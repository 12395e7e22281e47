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

"""Storage policies (SPBM): vCenter's PBM service through pyVmomi's ``pbm``.

PBM lives at ``/pbm/sdk`` beside vim25's ``/sdk`` and takes the vim25
session in the ``vcSessionCookie`` SOAP header: its stub shares the session,
so its calls are counted, retried, re-authenticated and timed out like every
other (vsphere/session.py). pyVmomi carries PBM's types: no WSDL is needed.

Policy names are resolved to profile ids once and kept; a name not known
yet is looked up again (a policy made since). A spawn with a policy costs
one PbmQueryMatchingHub.
"""

import threading

from oslo_log import log as logging
from oslo_vmware import exceptions as vexc
from pyVmomi import pbm

from nova_vmware_ext.vsphere import faults

LOG = logging.getLogger(__name__)

PBM_PATH = '/pbm/sdk'
# PBM 6.5 (vSphere 6.5 and later).
PBM_VERSION = 'pbm.version.version11'
HUB_DATASTORE = 'Datastore'


class ProfileGone(vexc.VMwareDriverException):
    """The profile id a name was known by is gone (the policy was
    deleted, or made again under the same name): look the name up again."""


class StoragePolicies(object):
    """vCenter's storage policies, and which datastores satisfy them."""

    def __init__(self, session):
        self.session = session
        self._lock = threading.Lock()
        self._content = None
        self._generation = None
        self._ids = {}  # policy name -> profile id

    def _service(self):
        """PBM's service content (one call per vCenter session)."""
        with self._lock:
            if (self._content is None
                    or self._generation != self.session.generation):
                stub = self.session.shared_session_stub(PBM_PATH,
                                                        PBM_VERSION)
                self._content = pbm.ServiceInstance(
                    'ServiceInstance', stub).PbmRetrieveServiceContent()
                self._generation = self.session.generation
            return self._content

    def profile_id(self, name):
        """The profile id of the storage policy ``name``, or None.

        Names are matched exactly, as vCenter shows them (the in-tree
        driver's rule).
        """
        known = self._ids.get(name)
        if known is not None:
            return known
        return self._read_names().get(name)

    def names(self):
        """The names of vCenter's storage policies, sorted (asked anew)."""
        return sorted(self._read_names())

    def _read_names(self):
        """{policy name: profile id} of vCenter's storage requirement
        policies (two calls), kept for profile_id."""
        manager = self._service().profileManager
        ids = manager.PbmQueryProfile(
            resourceType=pbm.profile.ResourceType(resourceType='STORAGE'),
            profileCategory='REQUIREMENT')
        found = {profile.name: profile.profileId.uniqueId
                 for profile in (manager.PbmRetrieveContent(ids)
                                 if ids else ())}
        with self._lock:
            self._ids = found
        return found

    def forget(self):
        """Policies were renamed or removed: look names up again."""
        with self._lock:
            self._ids = {}

    def matching_datastores(self, profile_id, datastores):
        """The moids of those ``datastores`` (managed objects) that
        satisfy the policy.

        :raises ProfileGone: vCenter has no such profile (any more); the
            names known are forgotten.
        """
        if not datastores:
            return set()
        hubs = [pbm.placement.PlacementHub(hubType=HUB_DATASTORE,
                                           hubId=ds._moId)
                for ds in datastores]
        try:
            matching = self._service().placementSolver.PbmQueryMatchingHub(
                hubsToSearch=hubs,
                profile=pbm.profile.ProfileId(uniqueId=profile_id))
        except vexc.VimException as exc:
            if not faults.is_fault(exc, 'InvalidArgument'):
                raise
            self.forget()
            raise ProfileGone('storage profile %s is gone: %s' % (
                profile_id, exc))
        return {hub.hubId for hub in matching or ()
                if hub.hubType == HUB_DATASTORE}
