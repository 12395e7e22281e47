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

"""Where a new instance's disks go: storage policies (SPBM) and vSAN.

With ``[vmware] pbm_enabled``, the flavor's ``vmware:storage_policy`` (else
``[vmware] pbm_default_policy``) names a vCenter storage policy: the
instance's datastore is one that satisfies it (and ``datastore_regex``),
the one with the most free space; the image cache entry its root disk
links to is made on that datastore (a linked clone and its parent share a
datastore); the policy is applied to the VM and its disks. An unknown
policy, or one no datastore of the cluster satisfies, is refused before
anything is made. Without PBM the spec is ignored, as Nova documents it
and the in-tree driver does.

A vSAN datastore keeps disks as objects made by the vSphere API: images
arrive there through an NFC import (streamOptimized, OVA, converted
formats; flat VMDKs are converted, see compute/root_disks.py). A sparse
VMDK, which is uploaded as a file, cannot: such an image avoids vSAN
datastores.

``choose`` is pure; ``StoragePlacement`` asks vCenter.
"""

import dataclasses
from typing import Optional

from nova import exception
from oslo_log import log as logging

from nova_vmware_ext.compute import flavor as vflavor
from nova_vmware_ext.compute import image_meta as vimage
from nova_vmware_ext.vsphere import pbm as vpbm

LOG = logging.getLogger(__name__)

DATASTORE_TYPE_VSAN = 'vsan'
POLICY_SPEC = vflavor.STORAGE_POLICY


@dataclasses.dataclass(frozen=True)
class Placement(object):
    """The datastore of a new instance and the policy applied to it."""

    datastore: object  # vsphere.inventory.Datastore
    profile_id: Optional[str] = None
    policy: Optional[str] = None


def requested_policy(flavor, enabled, default_policy=None):
    """The storage policy name a spawn of ``flavor`` asks for, or None.

    The flavor's ``vmware:storage_policy``, else ``pbm_default_policy``;
    None without PBM (a flavor's policy is then ignored, with a warning).
    """
    asked = vflavor.flavor_limits(flavor).storage_policy
    if not enabled:
        if asked:
            LOG.warning('Flavor %(flavor)s asks for storage policy %(policy)r '
                        'but [vmware] pbm_enabled is False: the policy is '
                        'ignored', {'flavor': flavor.name, 'policy': asked})
        return None
    return asked or default_policy or None


def vsan_takes(image):
    """True when the image's disk can be put on a vSAN datastore: it
    arrives through an NFC import (or is converted to arrive so), or it is
    an ISO (a file, no disk). A sparse VMDK is uploaded as a disk file."""
    if image.is_iso or image.is_ova or image.needs_conversion:
        return True
    return image.disk_type != vimage.DISK_TYPE_SPARSE


def choose(datastores, free_space, compatible=None, image=None):
    """The datastore with the most free space among ``datastores``.

    :param datastores: usable vsphere.inventory.Datastore values (those of
        datastore_regex).
    :param free_space: datastore -> free bytes.
    :param compatible: moids of the datastores a storage policy allows
        (None: no policy).
    :param image: compute.image_meta.ImageProperties; a sparse VMDK avoids
        vSAN datastores.
    :returns: (datastore, None), or (None, why none is).
    """
    candidates = list(datastores)
    if compatible is not None:
        candidates = [ds for ds in candidates if ds.ref._moId in compatible]
        if not candidates:
            return None, 'none of its datastores %s satisfies it' % (
                _names(datastores))
    if image is not None and not vsan_takes(image):
        kept = [ds for ds in candidates if ds.type != DATASTORE_TYPE_VSAN]
        if not kept:
            return None, (
                'image %s is a sparse VMDK, which cannot be put on vSAN '
                'datastore%s %s (upload it as streamOptimized)' % (
                    image.image_id, 's' if len(candidates) > 1 else '',
                    _names(candidates)))
        candidates = kept
    return max(candidates, key=free_space), None


def _names(datastores):
    return ', '.join(sorted(ds.name for ds in datastores)) or 'none'


class StoragePlacement(object):
    """Chooses the datastore of a new instance (before anything is made).

    :param inventory: vsphere.inventory.Inventory of the cluster.
    :param resources: compute.resources.ClusterResources, free space.
    :param policies: vsphere.pbm.StoragePolicies (None: PBM is off).
    :param default_policy: ``[vmware] pbm_default_policy``.
    """

    def __init__(self, inventory, resources, policies=None,
                 default_policy=None):
        self.inventory = inventory
        self.resources = resources
        self.policies = policies
        self.default_policy = default_policy

    def check_default_policy(self):
        """Refuse a ``pbm_default_policy`` vCenter does not have."""
        if self.policies is None or not self.default_policy:
            return
        if self.policies.profile_id(self.default_policy) is None:
            raise exception.InvalidInput(reason=(
                '[vmware] pbm_default_policy %r is not a storage policy of '
                'vCenter %s' % (self.default_policy,
                                self.policies.session.endpoint)))

    def choose(self, flavor, image):
        """The Placement of a new instance of ``flavor`` from ``image``.

        :raises InvalidInput: the policy is unknown to vCenter.
        :raises ComputeResourcesUnavailable: no datastore of the cluster
            satisfies the policy (another compute's cluster may).
        :raises ImageUnacceptable: only vSAN datastores remain for an image
            vSAN cannot take.
        """
        name = requested_policy(flavor, self.policies is not None,
                                self.default_policy)
        datastores = self.inventory.datastores()
        profile_id = compatible = None
        if name is not None:
            profile_id, compatible = self._compatible(name, flavor,
                                                      datastores)
        datastore, why = choose(datastores, self.resources.free_space,
                                compatible, image)
        if datastore is None:
            self._refuse(why, name, compatible, image, datastores)
        return Placement(datastore, profile_id, name)

    def allowed(self, flavor):
        """The datastores a VM of ``flavor`` may live on: those of
        datastore_regex and, with a storage policy, that satisfy it.

        :raises InvalidInput, ComputeResourcesUnavailable: as choose.
        """
        name = requested_policy(flavor, self.policies is not None,
                                self.default_policy)
        datastores = self.inventory.datastores()
        if name is None:
            return datastores
        _, compatible = self._compatible(name, flavor, datastores)
        kept = [ds for ds in datastores if ds.ref._moId in compatible]
        if not kept:
            _, why = choose(datastores, self.resources.free_space,
                            compatible)
            self._refuse(why, name, compatible, None, datastores)
        return kept

    def _compatible(self, name, flavor, datastores):
        """(profile id, moids of the datastores satisfying it); a name
        known by a profile id vCenter no longer has is looked up again."""
        refs = [ds.ref for ds in datastores]
        for attempt in (1, 2):
            profile_id = self._profile_id(name, flavor)
            try:
                return profile_id, self.policies.matching_datastores(
                    profile_id, refs)
            except vpbm.ProfileGone as exc:
                if attempt == 2:
                    raise
                LOG.info('Looking storage policy %(name)r up again: '
                         '%(err)s', {'name': name, 'err': exc})

    def _profile_id(self, name, flavor):
        profile_id = self.policies.profile_id(name)
        if profile_id is None:
            raise exception.InvalidInput(reason=(
                'storage policy %r (%s) is not a storage policy of vCenter '
                '%s' % (name, 'flavor %s extra spec %s' % (
                    flavor.name, POLICY_SPEC)
                    if vflavor.flavor_limits(flavor).storage_policy
                    else '[vmware] pbm_default_policy',
                    self.policies.session.endpoint)))
        return profile_id

    def _refuse(self, why, name, compatible, image, datastores):
        cluster = self.inventory.cluster_name
        if compatible is not None and not [
                ds for ds in datastores if ds.ref._moId in compatible]:
            regex = self.inventory.datastore_regex
            raise exception.ComputeResourcesUnavailable(reason=(
                'no datastore of cluster %s satisfies storage policy %r: %s%s'
                % (cluster, name, why, ' (of [vmware] datastore_regex %r)'
                   % regex if regex else '')))
        raise exception.ImageUnacceptable(image_id=image.image_id, reason=(
            'on cluster %s%s: %s' % (
                cluster, ' with storage policy %r' % name if name else '',
                why)))
