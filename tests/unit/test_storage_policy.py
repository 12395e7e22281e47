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

"""Which datastore a new instance gets: storage policy and vSAN rules
(compute/storage_policy.py), without vCenter."""

from unittest import mock

import fixtures
from nova import exception
from nova import objects
from pyVmomi import vim
import testtools

from nova_vmware_ext.compute import image_meta as vimage
from nova_vmware_ext.compute import migrate
from nova_vmware_ext.compute import storage_policy
from nova_vmware_ext.vsphere import inventory as vinventory

objects.register_all()

GiB = 1024 ** 3


def _ds(name, free_gb, kind='VMFS', moid=None):
    return vinventory.Datastore(
        ref=vim.Datastore(moid or 'datastore-%s' % name), name=name,
        type=kind, url='ds:///%s/' % name, capacity=100 * GiB,
        free_space=free_gb * GiB, accessible=True)


def _flavor(extra_specs=None):
    return objects.Flavor(name='m1.small', flavorid='2', vcpus=1,
                          memory_mb=512, root_gb=1, ephemeral_gb=0, swap=0,
                          extra_specs=extra_specs or {})


def _image(disk_type='streamOptimized', disk_format='vmdk',
           container_format='bare'):
    return vimage.from_image_meta(objects.ImageMeta.from_dict({
        'id': '0ee9b2b2-0ff8-4e3a-9a0e-1b1f1c1d1e1f',
        'disk_format': disk_format, 'container_format': container_format,
        'properties': {'vmware_disktype': disk_type}
        if disk_format == 'vmdk' else {}}))


def _free(ds):
    return ds.free_space


SMALL, LARGE, VSAN = _ds('small', 10), _ds('large', 50), _ds(
    'vsanDatastore', 90, kind='vsan')


class RequestedPolicyTest(testtools.TestCase):

    def test_flavor_policy_wins_over_the_default(self):
        self.assertEqual('gold', storage_policy.requested_policy(
            _flavor({'vmware:storage_policy': 'gold'}), True, 'silver'))

    def test_default_when_the_flavor_is_silent(self):
        self.assertEqual('silver', storage_policy.requested_policy(
            _flavor(), True, 'silver'))
        self.assertIsNone(storage_policy.requested_policy(
            _flavor(), True, None))

    def test_ignored_with_a_warning_without_pbm(self):
        logger = self.useFixture(fixtures.FakeLogger())
        self.assertIsNone(storage_policy.requested_policy(
            _flavor({'vmware:storage_policy': 'gold'}), False, 'silver'))
        self.assertIn("asks for storage policy 'gold' but [vmware] "
                      "pbm_enabled is False", logger.output)

    def test_blank_flavor_policy_is_invalid(self):
        self.assertRaises(exception.InvalidInput,
                          storage_policy.requested_policy,
                          _flavor({'vmware:storage_policy': ''}), True)


class ChooseTest(testtools.TestCase):

    def test_most_free_space_without_policy(self):
        self.assertEqual((VSAN, None), storage_policy.choose(
            [SMALL, LARGE, VSAN], _free))

    def test_only_compatible_datastores(self):
        self.assertEqual((SMALL, None), storage_policy.choose(
            [SMALL, LARGE, VSAN], _free, compatible={SMALL.ref._moId}))

    def test_no_compatible_datastore_names_them_all(self):
        chosen, why = storage_policy.choose([SMALL, LARGE], _free,
                                            compatible=set())
        self.assertIsNone(chosen)
        self.assertEqual('none of its datastores large, small satisfies it',
                         why)

    def test_compatible_outside_the_candidates_does_not_count(self):
        # PBM may know datastores datastore_regex leaves out.
        chosen, _ = storage_policy.choose([SMALL], _free,
                                          compatible={LARGE.ref._moId})
        self.assertIsNone(chosen)

    def test_sparse_image_avoids_vsan(self):
        self.assertEqual((LARGE, None), storage_policy.choose(
            [SMALL, LARGE, VSAN], _free, image=_image('sparse')))

    def test_sparse_image_with_only_vsan_left(self):
        chosen, why = storage_policy.choose(
            [SMALL, VSAN], _free, compatible={VSAN.ref._moId},
            image=_image('sparse'))
        self.assertIsNone(chosen)
        self.assertIn('is a sparse VMDK, which cannot be put on vSAN '
                      'datastore vsanDatastore', why)

    def test_what_vsan_takes(self):
        for image, takes in (
                (_image('streamOptimized'), True), (_image('thin'), True),
                (_image('preallocated'), True), (_image('sparse'), False),
                (_image(disk_format='qcow2'), True),
                (_image(disk_format='iso'), True),
                (_image(container_format='ova'), True)):
            self.assertEqual(takes, storage_policy.vsan_takes(image),
                             (image.disk_format, image.disk_type))


class StoragePlacementTest(testtools.TestCase):
    """The vCenter side is mocked here; tests/functional/
    test_driver_storage_policy.py runs it against vcsim."""

    def setUp(self):
        super().setUp()
        # What the code logs goes with the test's details, not stderr.
        self.useFixture(fixtures.FakeLogger())

    def _placement(self, datastores, matching, ids=None, default=None):
        inventory = mock.Mock(cluster_name='C0', datastore_regex=None)
        inventory.datastores.return_value = datastores
        resources = mock.Mock(free_space=_free)
        policies = mock.Mock()
        policies.session.endpoint = 'vc:443'
        policies.profile_id.side_effect = (ids or {'gold': 'p-gold'}).get
        policies.matching_datastores.return_value = matching
        return storage_policy.StoragePlacement(
            inventory, resources, policies, default_policy=default)

    def test_policy_and_datastore(self):
        placement = self._placement([SMALL, LARGE], {SMALL.ref._moId})
        chosen = placement.choose(
            _flavor({'vmware:storage_policy': 'gold'}), _image())
        self.assertEqual(storage_policy.Placement(SMALL, 'p-gold', 'gold'),
                         chosen)
        placement.policies.matching_datastores.assert_called_once_with(
            'p-gold', [SMALL.ref, LARGE.ref])

    def test_unknown_policy_names_where_it_came_from(self):
        placement = self._placement([SMALL], set(), default='bronze')
        exc = self.assertRaises(exception.InvalidInput, placement.choose,
                                _flavor(), _image())
        self.assertIn("storage policy 'bronze' ([vmware] pbm_default_policy)"
                      " is not a storage policy of vCenter vc:443", str(exc))
        exc = self.assertRaises(
            exception.InvalidInput, placement.choose,
            _flavor({'vmware:storage_policy': 'iron'}), _image())
        self.assertIn('flavor m1.small extra spec vmware:storage_policy',
                      str(exc))

    def test_unsatisfiable_policy(self):
        placement = self._placement([SMALL, LARGE], set())
        exc = self.assertRaises(
            exception.ComputeResourcesUnavailable, placement.choose,
            _flavor({'vmware:storage_policy': 'gold'}), _image())
        self.assertIn("no datastore of cluster C0 satisfies storage policy "
                      "'gold': none of its datastores large, small "
                      "satisfies it", str(exc))

    def test_no_policy_asks_nothing(self):
        placement = self._placement([SMALL, LARGE], set())
        self.assertEqual(storage_policy.Placement(LARGE),
                         placement.choose(_flavor(), _image()))
        placement.policies.profile_id.assert_not_called()

    def test_pbm_off(self):
        placement = storage_policy.StoragePlacement(
            mock.Mock(datastores=mock.Mock(return_value=[SMALL, LARGE])),
            mock.Mock(free_space=_free))
        self.assertEqual(storage_policy.Placement(LARGE), placement.choose(
            _flavor({'vmware:storage_policy': 'gold'}), _image()))
        placement.check_default_policy()  # nothing to check

    def test_default_policy_checked_at_start(self):
        self._placement([SMALL], set(), default='gold').check_default_policy()
        exc = self.assertRaises(
            exception.InvalidInput,
            self._placement([SMALL], set(), default='bronze')
            .check_default_policy)
        self.assertIn("[vmware] pbm_default_policy 'bronze' is not a storage "
                      "policy of vCenter vc:443", str(exc))


class ResizeTest(testtools.TestCase):

    def test_resize_to_another_storage_policy_is_refused(self):
        # The VM's disks stay where they are and keep their policy: a
        # resize would silently break the new flavor's promise.
        meta = objects.ImageMeta.from_dict({'properties': {}})
        exc = self.assertRaises(
            exception.InstanceFaultRollback, migrate.check_new_flavor,
            _flavor({'vmware:storage_policy': 'gold'}),
            _flavor({'vmware:storage_policy': 'silver'}), meta)
        self.assertIn('changes vmware:storage_policy',
                      str(exc.inner_exception))
        migrate.check_new_flavor(
            _flavor({'vmware:storage_policy': 'gold'}),
            _flavor({'vmware:storage_policy': 'gold'}), meta)

    def test_policy_change_is_ignored_without_pbm(self):
        # With pbm_enabled off a flavor's policy is ignored at spawn
        # (warned about), so its change does not stop a resize.
        meta = objects.ImageMeta.from_dict({'properties': {}})
        migrate.check_new_flavor(
            _flavor({'vmware:storage_policy': 'gold'}),
            _flavor({'vmware:storage_policy': 'silver'}), meta,
            policies_enabled=False)
