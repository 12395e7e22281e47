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

"""Storage policies (SPBM) and vSAN through VCDriver against vcsim.

vcsim's datastores: LocalDS_0 tagged Tier:silver, LocalDS_1 tagged
Tier:gold, and vsanDatastore (summary.type vsan), the only one the stock
"vSAN Default Storage Policy" accepts. Where an instance landed, and which
policy vCenter associates with its VM and disks, is read through
independent pyVmomi (vim and pbm) queries; every test ends with the leak
check of DriverTestCase.
"""

from nova import exception
from pyVmomi import vim

from tests.functional import test_driver_spawn
from tests import image_files
from tests import storage_policies as policies

MiB = 1024 * 1024


class StoragePolicyTestBase(test_driver_spawn.SpawnTestBase):

    VCSIM_SHAPE = dict(hosts=2, datastores=2, portgroups=1,
                       extra_args=policies.vcsim_args(
                           tags={'LocalDS_0': 'Tier:silver',
                                 'LocalDS_1': 'Tier:gold'}, vsan=True))

    def setUp(self):
        super().setUp()
        self.pbm = policies.connect(self.vcsim, self.si)
        suffix = self.id().rsplit('.', 1)[1]
        self.policy_ids = {}
        for tier in ('gold', 'silver', 'bronze'):
            name = '%s-%s' % (tier, suffix)
            profile_id = policies.create_policy(
                self.pbm, name, [policies.tag_rule('Tier', tier)])
            self.addCleanup(policies.delete_policy, self.pbm, profile_id)
            self.policy_ids[tier] = (name, profile_id)
        self.flags.config(group='vmware', pbm_enabled=True)
        self.restart_driver()
        self.driver._host.spawner.image_api = self.images

    def policy(self, tier):
        return self.policy_ids[tier][0]

    def with_policy(self, policy, **kwargs):
        return self.make_instance(
            extra_specs={'vmware:storage_policy': policy}, **kwargs)

    def datastore_of(self, instance):
        """(the VM's datastore, its root disk's parent's datastore)."""
        vm = self.vm(instance)
        root = self.disks(vm)[0].backing
        parent = root.parent.fileName if root.parent else root.fileName
        return (vm['config.files.vmPathName'][1:].split(']')[0],
                parent[1:].split(']')[0])

    def associated(self, instance):
        """PBM's profile ids of the VM and of each of its disks."""
        vm = self.vm(instance)
        return (policies.associated(self.pbm, vm['moid']),
                [policies.associated(self.pbm, vm['moid'], disk.key)
                 for disk in self.disks(vm)])

    def assert_refused_before_any_change(self, error, instance, image,
                                         *expected):
        before = set(self.query(vim.VirtualMachine, ['name']))
        with self.session.calls.scope() as scope:
            exc = self.assertRaises(error, self.driver.spawn, self.context,
                                    instance, image, [], None, {}, [])
        vim_calls = {method: n for method, n in scope.by_method.items()
                     if not method.startswith('Pbm')}
        self.assertEqual({}, vim_calls)
        self.assertEqual(0, self.images.downloads[image.id])
        self.assertEqual(before, set(self.query(vim.VirtualMachine,
                                                ['name'])))
        for text in expected:
            self.assertIn(text, str(exc))
        return exc


class StoragePolicySpawnTest(StoragePolicyTestBase):

    def test_flavor_policy_chooses_a_compatible_datastore(self):
        # Each policy has one datastore: whichever the free space alone
        # would pick, one of the two spawns fails without the policy.
        for tier, datastore in (('gold', 'LocalDS_1'),
                                ('silver', 'LocalDS_0')):
            instance = self.with_policy(self.policy(tier))
            self.spawn(instance, self.flat)
            # The root disk's parent, the cache entry, is there too.
            self.assertEqual((datastore, datastore),
                             self.datastore_of(instance), tier)
            profile_id = self.policy_ids[tier][1]
            self.assertEqual(([profile_id], [[profile_id]]),
                             self.associated(instance))
            self.assertEqual('poweredOn',
                             self.vm(instance)['runtime.powerState'])

    def test_default_policy_when_the_flavor_is_silent(self):
        self.flags.config(group='vmware',
                          pbm_default_policy=self.policy('gold'))
        self.restart_driver()
        self.driver._host.spawner.image_api = self.images
        instance = self.make_instance()
        self.spawn(instance, self.flat)
        self.assertEqual(('LocalDS_1', 'LocalDS_1'),
                         self.datastore_of(instance))
        gold = self.policy_ids['gold'][1]
        self.assertEqual(([gold], [[gold]]), self.associated(instance))

    def test_flavor_policy_wins_over_the_default(self):
        self.flags.config(group='vmware',
                          pbm_default_policy=self.policy('gold'))
        self.restart_driver()
        self.driver._host.spawner.image_api = self.images
        instance = self.with_policy(self.policy('silver'))
        self.spawn(instance, self.flat)
        self.assertEqual(('LocalDS_0', 'LocalDS_0'),
                         self.datastore_of(instance))

    def test_unknown_default_policy_stops_the_driver_starting(self):
        self.flags.config(group='vmware', pbm_default_policy='no-such')
        exc = self.assertRaises(exception.InvalidInput, self.restart_driver)
        self.assertIn("[vmware] pbm_default_policy 'no-such' is not a "
                      "storage policy of vCenter", str(exc))
        self.flags.config(group='vmware', pbm_default_policy=None)
        self.restart_driver()

    def test_unknown_policy_is_refused_before_any_change(self):
        self.assert_refused_before_any_change(
            exception.InvalidInput, self.with_policy('no-such-policy'),
            self.flat, "storage policy 'no-such-policy' (flavor m1.test extra "
            "spec vmware:storage_policy) is not a storage policy of vCenter")

    def test_unsatisfiable_policy_is_refused_before_any_change(self):
        self.assert_refused_before_any_change(
            exception.ComputeResourcesUnavailable,
            self.with_policy(self.policy('bronze')), self.flat,
            'no datastore of cluster DC0_C0 satisfies storage policy',
            'none of its datastores LocalDS_0, LocalDS_1, vsanDatastore '
            'satisfies it')

    def test_policy_and_datastore_regex_both_apply(self):
        self.flags.config(group='vmware', datastore_regex='LocalDS_0')
        self.restart_driver()
        self.driver._host.spawner.image_api = self.images
        self.assert_refused_before_any_change(
            exception.ComputeResourcesUnavailable,
            self.with_policy(self.policy('gold')), self.flat,
            'none of its datastores LocalDS_0 satisfies it')

    def test_cached_spawn_adds_one_pbm_call(self):
        self.spawn(self.with_policy(self.policy('gold')), self.flat)
        instance = self.with_policy(self.policy('gold'))
        with self.session.calls.scope() as scope:
            self.spawn(instance, self.flat)
        self.assertEqual(1, scope.by_method['PbmQueryMatchingHub'])
        self.assertLessEqual(scope.total, 5, dict(scope.by_method))

    def test_pbm_session_follows_a_new_login(self):
        self.spawn(self.with_policy(self.policy('gold')), self.flat)
        session = self.session
        # vCenter forgets the session: the next PBM call logs in again.
        self.si.content.sessionManager.TerminateSession(
            [session.session_key])
        generation = session.generation
        instance = self.with_policy(self.policy('silver'))
        self.spawn(instance, self.flat)
        self.assertEqual(('LocalDS_0', 'LocalDS_0'),
                         self.datastore_of(instance))
        # Logged in again (the PBM call, or the VM watcher first): PBM's
        # calls carry the new session, vcsim refuses the old one.
        self.assertGreater(session.generation, generation)

    def test_policy_made_again_under_its_name(self):
        self.spawn(self.with_policy(self.policy('gold')), self.flat)
        # An administrator deletes the policy and makes it again: the
        # name now has another profile id.
        name, old = self.policy_ids['gold']
        policies.delete_policy(self.pbm, old)
        new = policies.create_policy(self.pbm, name,
                                     [policies.tag_rule('Tier', 'gold')])
        self.addCleanup(policies.delete_policy, self.pbm, new)
        instance = self.with_policy(name)
        self.spawn(instance, self.flat)
        self.assertEqual(([new], [[new]]), self.associated(instance))


class VsanTest(StoragePolicyTestBase):

    def vsan_instance(self, **kwargs):
        return self.with_policy(policies.VSAN_DEFAULT, **kwargs)

    def test_vsan_datastore_counts_in_the_capacity(self):
        self.flags.config(group='vmware', datastore_regex='vsan')
        self.restart_driver()
        found = self.query(vim.Datastore, ['summary'])
        vsan = [item['summary'] for item in found.values()
                if item['summary'].type == 'vsan'][0]
        resources = self.driver.get_available_resource(
            self.driver.get_available_nodes()[0])
        # The vSAN datastore alone (the local datastores' file system
        # changes under the test: no free space is compared).
        self.assertEqual(vsan.capacity // 1024 ** 3, resources['local_gb'])

    def test_stream_optimized_image_is_imported_to_vsan(self):
        image = self.images.add(image_files.stream_optimized(4),
                                vmware_disktype='streamOptimized')
        instance = self.vsan_instance()
        with self.session.calls.scope() as scope:
            self.spawn(instance, image)
        self.assertEqual(1, scope.by_method['ImportVApp'])
        self.assertEqual(('vsanDatastore', 'vsanDatastore'),
                         self.datastore_of(instance))
        vsan = policies.policy_id(self.pbm, policies.VSAN_DEFAULT)
        self.assertEqual(([vsan], [[vsan]]), self.associated(instance))

    def test_flat_image_is_converted_for_vsan(self):
        # A flat VMDK goes to other datastores as a file upload, which
        # vSAN refuses (vcsim answers 403): here it is imported instead.
        instance = self.vsan_instance()
        with self.session.calls.scope() as scope:
            self.spawn(instance, self.flat)
        self.assertEqual(1, scope.by_method['ImportVApp'])
        self.assertEqual(('vsanDatastore', 'vsanDatastore'),
                         self.datastore_of(instance))
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])

    def test_sparse_image_is_refused_for_vsan_before_any_change(self):
        image = self.images.add(image_files.monolithic_sparse(4),
                                vmware_disktype='sparse')
        self.assert_refused_before_any_change(
            exception.ImageUnacceptable, self.vsan_instance(), image,
            'is a sparse VMDK, which cannot be put on vSAN datastore '
            'vsanDatastore (upload it as streamOptimized)')
