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

"""vcsim fidelity: the storage policy service (tools/vcsim/pbm_*.go) and
the vSAN datastore (ds_vsan.go), through pyVmomi's ``pbm`` bindings.

Stock govmomi 0.24 serves PBM at /pbm only, answers every datastore to
PbmCheckRequirements, has no PbmQueryMatchingHub, no vSAN datastore, and no
associations of the policies a CreateVM_Task names: each test below fails
there.
"""

import ssl

from pyVmomi import pbm
from pyVmomi import SoapStubAdapter
from pyVmomi import vim
from pyVmomi import vmodl
import requests
import testtools

from tests.functional.driver_base import wait_task
from tests import storage_policies as policies
from tests import vcsim


class PbmTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(hosts=2, datastores=2, extra_args=policies.vcsim_args(
        tags={'LocalDS_1': 'Tier:gold'}, vsan=True))

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.pbm = policies.connect(self.vcsim, self.si)
        self.datastores = {
            item['name']: moid for moid, item in vcsim.query(
                self.si, vim.Datastore, ['name']).items()}

    def gold_policy(self):
        profile_id = policies.create_policy(
            self.pbm, 'gold-%s' % self.id().rsplit('.', 1)[1],
            [policies.tag_rule('Tier', 'gold', 'platinum')])
        self.addCleanup(policies.delete_policy, self.pbm, profile_id)
        return profile_id

    def matching(self, profile_id):
        hubs = self.pbm.placementSolver.PbmQueryMatchingHub(
            profile=pbm.profile.ProfileId(uniqueId=profile_id))
        by_moid = {moid: name for name, moid in self.datastores.items()}
        return sorted(by_moid[hub.hubId] for hub in hubs)

    def test_vsan_datastore_is_in_the_inventory(self):
        found = vcsim.query(self.si, vim.Datastore, ['summary'])
        vsan = [item for item in found.values()
                if item['summary'].name == 'vsanDatastore']
        self.assertEqual(1, len(vsan))
        self.assertEqual('vsan', vsan[0]['summary'].type)
        clusters = vcsim.query(self.si, vim.ClusterComputeResource,
                               ['datastore'])
        for cluster in clusters.values():
            self.assertIn(self.datastores['vsanDatastore'],
                          [ds._moId for ds in cluster['datastore']])

    def test_tag_policy_matches_only_the_tagged_datastore(self):
        self.assertEqual(['LocalDS_1'], self.matching(self.gold_policy()))

    def test_vsan_default_policy_matches_only_vsan(self):
        self.assertEqual(['vsanDatastore'], self.matching(
            policies.policy_id(self.pbm, policies.VSAN_DEFAULT)))

    def test_rule_sets_are_alternatives(self):
        profile_id = policies.create_policy(
            self.pbm, 'gold-or-vsan', [policies.tag_rule('Tier', 'gold')],
            [pbm.capability.CapabilityInstance(
                id=pbm.capability.CapabilityMetadata.UniqueId(
                    namespace='VSAN', id='hostFailuresToTolerate'),
                constraint=[pbm.capability.ConstraintInstance(
                    propertyInstance=[pbm.capability.PropertyInstance(
                        id='hostFailuresToTolerate', value=1)])])])
        self.addCleanup(policies.delete_policy, self.pbm, profile_id)
        self.assertEqual(['LocalDS_1', 'vsanDatastore'],
                         self.matching(profile_id))

    def test_unknown_tag_matches_nothing(self):
        profile_id = policies.create_policy(
            self.pbm, 'bronze', [policies.tag_rule('Tier', 'bronze')])
        self.addCleanup(policies.delete_policy, self.pbm, profile_id)
        self.assertEqual([], self.matching(profile_id))

    def test_check_requirements_names_why_a_datastore_fails(self):
        results = self.pbm.placementSolver.PbmCheckRequirements(
            placementSubjectRequirement=[
                pbm.placement.CapabilityProfileRequirement(
                    profileId=pbm.profile.ProfileId(
                        uniqueId=self.gold_policy()))])
        by_moid = {moid: name for name, moid in self.datastores.items()}
        errors = {by_moid[r.hub.hubId]: [e.msg for e in r.error or ()]
                  for r in results}
        self.assertEqual([], errors['LocalDS_1'])
        self.assertEqual(
            ['datastore LocalDS_0 does not satisfy the policy: no tag gold '
             'or platinum of category Tier'], errors['LocalDS_0'])
        self.assertEqual(1, len(errors['vsanDatastore']))

    def test_unknown_profile_is_invalid_argument(self):
        self.assertRaises(
            vmodl.fault.InvalidArgument,
            self.pbm.placementSolver.PbmQueryMatchingHub,
            profile=pbm.profile.ProfileId(uniqueId='no-such-profile'))

    def test_session_goes_in_the_vc_session_cookie_header(self):
        # An HTTP cookie alone does not log a PBM request in.
        stub = SoapStubAdapter(
            host=self.vcsim.host, port=self.vcsim.port, path='/pbm/sdk',
            version=policies.PBM_VERSION,
            sslContext=ssl.create_default_context(
                cafile=self.vcsim.ca_file))
        stub.cookie = self.si._stub.cookie
        content = pbm.ServiceInstance('ServiceInstance',
                                      stub).PbmRetrieveServiceContent()
        self.assertRaises(vim.fault.NotAuthenticated,
                          content.profileManager.PbmQueryProfile,
                          resourceType=pbm.profile.ResourceType(
                              resourceType='STORAGE'))

    def test_policies_of_a_new_vm_are_associated(self):
        profile_id = self.gold_policy()
        content = self.si.RetrieveContent()
        dc = content.rootFolder.childEntity[0]
        pool = dc.hostFolder.childEntity[0].resourcePool
        disk = vim.vm.device.VirtualDisk(
            key=-100, controllerKey=200, unitNumber=0, capacityInKB=1024,
            backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                diskMode='persistent', fileName='[LocalDS_1]'))
        defined = vim.vm.DefinedProfileSpec(profileId=profile_id)
        spec = vim.vm.ConfigSpec(
            name='pbm-vm', guestId='otherGuest', numCPUs=1, memoryMB=64,
            instanceUuid='5ad1a3c4-0000-4000-8000-0000000000a1',
            files=vim.vm.FileInfo(vmPathName='[LocalDS_1]'),
            vmProfile=[defined],
            deviceChange=[vim.vm.device.VirtualDeviceSpec(
                operation='add', fileOperation='create', device=disk,
                profile=[defined])])
        vm = wait_task(dc.vmFolder.CreateVM_Task(spec, pool))
        self.addCleanup(lambda: wait_task(vm.Destroy_Task()))
        disk_key = [d.key for d in vm.config.hardware.device
                    if isinstance(d, vim.vm.device.VirtualDisk)][0]
        self.assertEqual([profile_id], policies.associated(self.pbm,
                                                           vm._moId))
        self.assertEqual([profile_id], policies.associated(
            self.pbm, vm._moId, disk_key))

    def test_no_disk_files_upload_to_vsan(self):
        cookie = vcsim.session_cookie(self.si)
        for name, status in (('vsanDatastore', 403), ('LocalDS_0', 200)):
            url = vcsim.datastore_url(self.vcsim, 'pbm-test-flat.vmdk',
                                      datastore=name)
            resp = requests.put(url, data=b'\0' * 512,
                                headers={'Cookie': cookie},
                                verify=self.vcsim.ca_file, timeout=30)
            self.assertEqual(status, resp.status_code, name)
            if status == 200:
                self.addCleanup(requests.delete, url,
                                headers={'Cookie': cookie},
                                verify=self.vcsim.ca_file, timeout=30)
        iso = vcsim.datastore_url(self.vcsim, 'pbm-test.iso',
                                  datastore='vsanDatastore')
        self.assertEqual(200, requests.put(
            iso, data=b'x', headers={'Cookie': cookie},
            verify=self.vcsim.ca_file, timeout=30).status_code)
        self.addCleanup(requests.delete, iso, headers={'Cookie': cookie},
                        verify=self.vcsim.ca_file, timeout=30)


class PbmFlagsTest(testtools.TestCase):

    def test_malformed_ds_tags_stop_vcsim_starting(self):
        for value, expected in (
                ('LocalDS_0', 'want NAME=CATEGORY:TAG'),
                ('LocalDS_0=gold', 'tag "gold" is not CATEGORY:TAG')):
            fx = vcsim.VcsimFixture(hosts=1, extra_args=['-ds-tags', value])
            try:
                fx.setUp()
            except Exception as e:
                error = e.args[0][1] if isinstance(e.args[0], tuple) else e
            else:
                fx.cleanUp()
                self.fail('vcsim started with -ds-tags %s' % value)
            self.assertIsInstance(error, vcsim.VcsimError)
            self.assertIn(expected, str(error))
