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

"""Test-side PBM: an independent pyVmomi ``pbm`` connection to vcsim and
the storage policies tests make there.

vcsim (tools/vcsim/pbm_*.go) serves PBM at /pbm/sdk and authenticates it,
as vCenter does, by the vim25 session's cookie in the ``vcSessionCookie``
SOAP header. Its datastores carry the tags of ``-ds-tags`` (e.g.
``LocalDS_1=Tier:gold``); ``-vsan`` adds a vSAN datastore,
``vsanDatastore``.
"""

import http.cookies
import ssl

from pyVmomi import pbm
from pyVmomi import SoapStubAdapter

PBM_VERSION = 'pbm.version.version11'
TAG_NAMESPACE = 'http://www.vmware.com/storage/tag'
VSAN_DEFAULT = 'vSAN Default Storage Policy'


def vcsim_args(tags=None, vsan=False):
    """vcsim flags: ``tags`` {datastore: 'Category:tag'}, a vSAN datastore."""
    args = []
    if tags:
        args += ['-ds-tags', ','.join('%s=%s' % item
                                      for item in sorted(tags.items()))]
    if vsan:
        args.append('-vsan')
    return args


def connect(fx, si):
    """PBM's ServiceInstanceContent over the session of ``si``."""
    cookie = http.cookies.SimpleCookie(si._stub.cookie)
    stub = SoapStubAdapter(
        host=fx.host, port=fx.port, path='/pbm/sdk', version=PBM_VERSION,
        sslContext=ssl.create_default_context(cafile=fx.ca_file),
        requestContext={
            'vcSessionCookie': cookie['vmware_soap_session'].value})
    return pbm.ServiceInstance('ServiceInstance',
                               stub).PbmRetrieveServiceContent()


def _storage():
    return pbm.profile.ResourceType(resourceType='STORAGE')


def tag_rule(category, *tags):
    return pbm.capability.CapabilityInstance(
        id=pbm.capability.CapabilityMetadata.UniqueId(
            namespace=TAG_NAMESPACE, id=category),
        constraint=[pbm.capability.ConstraintInstance(propertyInstance=[
            pbm.capability.PropertyInstance(
                id='com.vmware.storage.tag.%s.property' % category,
                value=pbm.capability.types.DiscreteSet(values=list(tags)))])])


def create_policy(content, name, *rule_sets):
    """A storage policy whose rule sets (lists of capability instances)
    are alternatives; returns its profile id (a string)."""
    spec = pbm.profile.CapabilityBasedProfileCreateSpec(
        name=name, category='REQUIREMENT', resourceType=_storage(),
        constraints=pbm.profile.SubProfileCapabilityConstraints(subProfiles=[
            pbm.profile.SubProfileCapabilityConstraints.SubProfile(
                name='rule-set-%d' % index, capability=list(rules))
            for index, rules in enumerate(rule_sets)]))
    return content.profileManager.PbmCreate(spec).uniqueId


def delete_policy(content, profile_id):
    content.profileManager.PbmDelete(
        [pbm.profile.ProfileId(uniqueId=profile_id)])


def policy_id(content, name):
    """The profile id of the storage policy called ``name``."""
    manager = content.profileManager
    ids = manager.PbmQueryProfile(resourceType=_storage(),
                                  profileCategory='REQUIREMENT')
    for profile in manager.PbmRetrieveContent(ids):
        if profile.name == name:
            return profile.profileId.uniqueId
    raise LookupError(name)


def associated(content, vm_moid, disk_key=None):
    """Profile ids PBM associates with a VM (its home) or one of its
    disks (by device key)."""
    if disk_key is None:
        ref = pbm.ServerObjectRef(objectType='virtualMachine', key=vm_moid)
    else:
        ref = pbm.ServerObjectRef(objectType='virtualDiskId',
                                  key='%s:%d' % (vm_moid, disk_key))
    return [p.uniqueId for p in
            content.profileManager.PbmQueryAssociatedProfile(ref)]
