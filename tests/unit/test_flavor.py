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

"""Flavor extra specs: what the driver honours, parses and refuses."""

import dataclasses

import fixtures
from nova import exception
from nova import objects
import testtools

from nova_vmware_ext.compute import flavor as vflavor

objects.register_all()


def _flavor(extra_specs=None, **fields):
    values = dict(name='m1.small', flavorid='2', vcpus=4, memory_mb=2048,
                  root_gb=10, ephemeral_gb=0, swap=0,
                  extra_specs=extra_specs or {})
    values.update(fields)
    return objects.Flavor(**values)


def _image(properties=None):
    return objects.ImageMeta.from_dict({
        'id': '0ee9b2b2-0ff8-4e3a-9a0e-1b1f1c1d1e1f', 'disk_format': 'vmdk',
        'container_format': 'bare', 'properties': properties or {}})


class FlavorLimitsTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # What the code logs goes with the test's details, not stderr.
        self.useFixture(fixtures.FakeLogger())

    def test_no_extra_specs(self):
        limits = vflavor.flavor_limits(_flavor())
        for allocation in (limits.cpu, limits.memory, limits.disk_io,
                           limits.vif):
            self.assertFalse(allocation.is_set)
        self.assertIsInstance(limits.disk_io, vflavor.DiskIoLimits)
        self.assertIsNone(limits.hw_version)
        self.assertEqual(0, limits.video_ram_max_mb)

    def test_every_quota(self):
        extra = {}
        for resource, _unit in vflavor.QUOTA_RESOURCES:
            extra.update({'quota:%s_limit' % resource: '100',
                          'quota:%s_reservation' % resource: '10',
                          'quota:%s_shares_level' % resource: 'custom',
                          'quota:%s_shares_share' % resource: '2000'})
        extra.update({'vmware:hw_version': 'vmx-13',
                      'hw_video:ram_max_mb': '128'})
        limits = vflavor.flavor_limits(_flavor(extra))
        expected = vflavor.Allocation(limit=100, reservation=10,
                                      shares_level='custom', shares=2000)
        self.assertEqual(expected, limits.cpu)
        self.assertEqual(expected, limits.memory)
        self.assertEqual(expected, limits.vif)
        self.assertEqual(vflavor.DiskIoLimits(**dataclasses.asdict(expected)),
                         limits.disk_io)
        self.assertEqual('vmx-13', limits.hw_version)
        self.assertEqual(128, limits.video_ram_max_mb)

    def test_zero_limit_is_unlimited(self):
        limits = vflavor.flavor_limits(_flavor({'quota:cpu_limit': '0'}))
        self.assertIsNone(limits.cpu.limit)
        self.assertFalse(limits.cpu.is_set)

    def test_share_without_custom_level_is_ignored(self):
        limits = vflavor.flavor_limits(_flavor({
            'quota:memory_shares_level': 'high',
            'quota:memory_shares_share': '10'}))
        self.assertEqual(vflavor.Allocation(shares_level='high'),
                         limits.memory)

    def _assert_invalid(self, extra_specs, *expected):
        exc = self.assertRaises(exception.InvalidInput, vflavor.flavor_limits,
                                _flavor(extra_specs))
        for text in expected:
            self.assertIn(text, str(exc))

    def test_not_an_integer(self):
        self._assert_invalid({'quota:cpu_limit': 'fast'},
                             'quota:cpu_limit', "'fast'", 'integer >= 0',
                             'MHz')
        self._assert_invalid({'quota:disk_io_reservation': '-1'},
                             'quota:disk_io_reservation', "'-1'",
                             'integer >= 0', 'IOPS')
        self._assert_invalid({'quota:vif_limit': '1.5'},
                             'quota:vif_limit', 'Mbps')

    def test_shares_level(self):
        self._assert_invalid({'quota:memory_shares_level': 'max'},
                             'quota:memory_shares_level', "'max'",
                             'low, normal, high, custom')

    def test_custom_shares_need_a_share(self):
        self._assert_invalid({'quota:cpu_shares_level': 'custom'},
                             'quota:cpu_shares_level=custom',
                             'quota:cpu_shares_share', 'integer >= 0')

    def test_share_must_be_an_integer(self):
        self._assert_invalid({'quota:cpu_shares_level': 'custom',
                              'quota:cpu_shares_share': 'lots'},
                             'quota:cpu_shares_share', "'lots'")

    def test_hw_version(self):
        self._assert_invalid({'vmware:hw_version': '13'},
                             'vmware:hw_version', "'13'", 'vmx-NN', 'vmx-13')
        self.assertEqual('vmx-21', vflavor.flavor_limits(_flavor(
            {'vmware:hw_version': 'vmx-21'})).hw_version)

    def test_video_ram_max(self):
        self._assert_invalid({'hw_video:ram_max_mb': 'big'},
                             'hw_video:ram_max_mb', "'big'")


class CpuTopologyTest(testtools.TestCase):

    def test_default_is_one_core_per_socket(self):
        self.assertEqual(vflavor.CpuTopology(num_cpus=4, cores_per_socket=1),
                         vflavor.cpu_topology(_flavor(), _image()))

    def test_flavor_sockets_and_cores(self):
        self.assertEqual(2, vflavor.cpu_topology(
            _flavor({'hw:cpu_sockets': '2'}), _image()).cores_per_socket)
        self.assertEqual(4, vflavor.cpu_topology(
            _flavor({'hw:cpu_cores': '4'}), _image()).cores_per_socket)

    def test_image_cores(self):
        topology = vflavor.cpu_topology(
            _flavor(vcpus=8), _image({'hw_cpu_cores': 4}))
        self.assertEqual(8, topology.num_cpus)
        self.assertEqual(4, topology.cores_per_socket)

    def test_threads_are_refused(self):
        exc = self.assertRaises(exception.InvalidInput, vflavor.cpu_topology,
                                _flavor({'hw:cpu_threads': '2'}), _image())
        self.assertIn('hw:cpu_threads=2', str(exc))
        self.assertIn('allowed: 1 or unset', str(exc))
        exc = self.assertRaises(exception.InvalidInput, vflavor.cpu_topology,
                                _flavor(), _image({'hw_cpu_threads': 2}))
        self.assertIn('hw_cpu_threads=2', str(exc))

    def test_one_thread_is_fine(self):
        self.assertEqual(1, vflavor.cpu_topology(
            _flavor({'hw:cpu_threads': '1', 'hw:cpu_sockets': '4'}),
            _image()).cores_per_socket)

    def test_bad_topology_value(self):
        exc = self.assertRaises(exception.InvalidInput, vflavor.cpu_topology,
                                _flavor({'hw:cpu_sockets': 'two'}), _image())
        self.assertIn('hw:cpu_sockets', str(exc))
        self.assertIn("'two'", str(exc))
        self.assertIn('integer >= 1', str(exc))

    def test_sockets_that_do_not_divide_the_vcpus_are_refused(self):
        exc = self.assertRaises(exception.InvalidInput, vflavor.cpu_topology,
                                _flavor({'hw:cpu_sockets': '3'}), _image())
        self.assertIn('hw:cpu_sockets=3', str(exc))
        self.assertIn('4 vCPUs', str(exc))

    def test_cores_that_do_not_divide_the_vcpus_are_refused(self):
        exc = self.assertRaises(exception.InvalidInput, vflavor.cpu_topology,
                                _flavor({'hw:cpu_cores': '3'}), _image())
        self.assertIn('hw:cpu_cores=3', str(exc))
        self.assertIn('Nova would choose 4 sockets x 1 cores', str(exc))

    def test_sockets_times_cores_must_be_the_vcpus(self):
        exc = self.assertRaises(
            exception.InvalidInput, vflavor.cpu_topology,
            _flavor({'hw:cpu_sockets': '2', 'hw:cpu_cores': '4'}), _image())
        self.assertIn('hw:cpu_sockets=2, hw:cpu_cores=4', str(exc))

    def test_image_topology_is_checked_too(self):
        exc = self.assertRaises(exception.InvalidInput, vflavor.cpu_topology,
                                _flavor(vcpus=6), _image({'hw_cpu_cores': 4}))
        self.assertIn('hw_cpu_cores=4', str(exc))
        self.assertIn('6 vCPUs', str(exc))

    def test_flavor_preference_beyond_the_image_limit_is_refused(self):
        # Nova drops a flavor preference the image's maximum excludes.
        exc = self.assertRaises(
            exception.InvalidInput, vflavor.cpu_topology,
            _flavor({'hw:cpu_sockets': '4'}),
            _image({'hw_cpu_max_sockets': 2}))
        self.assertIn('hw:cpu_sockets=4', str(exc))

    def test_matching_sockets_and_cores(self):
        self.assertEqual(vflavor.CpuTopology(num_cpus=8, cores_per_socket=4),
                         vflavor.cpu_topology(
                             _flavor({'hw:cpu_sockets': '2',
                                      'hw:cpu_cores': '4'}, vcpus=8),
                             _image()))

    def test_impossible_limits_raise_novas_error(self):
        exc = self.assertRaises(
            exception.ImageVCPULimitsRangeImpossible, vflavor.cpu_topology,
            _flavor({'hw:cpu_max_sockets': '1', 'hw:cpu_max_cores': '2'}),
            _image())
        self.assertIn('limits 1:2:1 are impossible', str(exc))


class HwVersionTest(testtools.TestCase):

    SUPPORTED = frozenset(['vmx-13', 'vmx-9', 'vmx-19', 'vmx-10'])

    def test_supported_version(self):
        vflavor.check_hw_version('vmx-19', self.SUPPORTED)

    def test_unset_or_unknown_support_is_not_checked(self):
        vflavor.check_hw_version(None, self.SUPPORTED)
        vflavor.check_hw_version('vmx-999', None)

    def test_unsupported_version_names_the_supported_ones(self):
        exc = self.assertRaises(exception.InvalidInput,
                                vflavor.check_hw_version, 'vmx-999',
                                self.SUPPORTED)
        self.assertIn("vmware:hw_version='vmx-999'", str(exc))
        self.assertIn('allowed: vmx-9, vmx-10, vmx-13, vmx-19', str(exc))


class SupportedKeysTest(testtools.TestCase):

    def _refused(self, extra_specs):
        return [key for key, _ in vflavor.unsupported(extra_specs)]

    def test_every_honoured_key_is_accepted(self):
        self.assertEqual([], self._refused(
            {key: '1' for key in vflavor.HONOURED}))

    def test_storage_policy_is_read(self):
        self.assertEqual('Gold tier', vflavor.flavor_limits(_flavor(
            {'vmware:storage_policy': ' Gold tier '})).storage_policy)
        self.assertIsNone(vflavor.flavor_limits(_flavor()).storage_policy)

    def test_blank_storage_policy_is_refused(self):
        exc = self.assertRaises(exception.InvalidInput, vflavor.flavor_limits,
                                _flavor({'vmware:storage_policy': '  '}))
        self.assertIn("vmware:storage_policy='  '", str(exc))
        self.assertIn('the name of a vCenter storage policy', str(exc))

    def test_keys_of_driver_namespaces_are_refused(self):
        refused = {
            'hw:numa_nodes': '2', 'hw:mem_page_size': 'large',
            'hw:cpu_policy': 'dedicated', 'hw:watchdog_action': 'reset',
            'quota:cpu_period': '1000', 'quota:disk_read_bytes_sec': '10',
            'quota:vif_inbound_average': '10', 'hw_rng:rate_bytes': '24',
            'os:secure_boot': 'required', 'vmware:whatever': 'x',
            'pci_passthrough:alias': 'a1:1', 'accel:device_profile': 'p',
            'hide_hypervisor_id': 'true', 'hw:vif_multiqueue_enabled': 'yes',
            'hw_video:ram_min_mb': '1'}
        self.assertEqual(sorted(refused), self._refused(refused))

    def test_values_that_ask_for_what_the_driver_does_are_fine(self):
        self.assertEqual([], self._refused({
            'hw:cpu_policy': 'shared', 'hw:mem_page_size': 'small',
            'hw:boot_menu': 'False', 'hw:vif_multiqueue_enabled': 'no',
            'hw:pmu': '0', 'os:secure_boot': 'disabled',
            'hide_hypervisor_id': 'false', 'hw_rng:allowed': 'True'}))

    def test_a_value_that_is_not_a_boolean_is_refused(self):
        exc = self.assertRaises(exception.InvalidInput, vflavor.flavor_limits,
                                _flavor({'hw:pmu': 'maybe'}))
        self.assertIn("hw:pmu='maybe'", str(exc))
        self.assertIn('only false is accepted', str(exc))

    def test_scheduler_and_placement_keys_pass(self):
        self.assertEqual([], self._refused({
            'resources:VCPU': '2', 'resources1:CUSTOM_GOLD': '1',
            'trait:HW_CPU_X86_AVX2': 'required', 'group_policy': 'none',
            'aggregate_instance_extra_specs:ssd': 'true',
            'capabilities:hypervisor_type': 'VMware vCenter Server',
            'ssd': 'true', 'acme:color': 'blue'}))

    def test_every_refused_key_is_named_in_one_error(self):
        exc = self.assertRaises(exception.InvalidInput, vflavor.flavor_limits,
                                _flavor({'hw:numa_nodes': '2',
                                         'quota:cpu_quota': '5',
                                         'quota:cpu_limit': '100'}))
        self.assertIn("hw:numa_nodes='2', quota:cpu_quota='5'", str(exc))
        self.assertNotIn('quota:cpu_limit=', str(exc))
        self.assertIn('it honours quota:{cpu,memory', str(exc))
