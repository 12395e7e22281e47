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

"""The listing bench's figures (bench/listing.py) and the bench's server
group lookup without a database (bench/harness.py)."""

from nova import exception
from nova import objects
import testtools
from unittest import mock

from bench import harness
from bench import listing


class MedianRowTest(testtools.TestCase):

    def test_medians_of_the_times_and_counts_of_the_last_run(self):
        runs = [(2000, 4, 4, 0.90, 0.20, 0.60, 847.2, 0.30),
                (2000, 4, 5, 0.30, 0.05, 0.20, 847.0, 0.0),
                (2000, 4, 4, 0.40, 0.10, 0.25, 846.9, 0.01)]
        self.assertEqual(
            ('ours', 2000, 4, 4, '0.400', '0.100', '0.250', '0.050',
             '0.010', '847'),
            listing.median_row('ours', runs))

    def test_rest_is_never_negative(self):
        # Medians of separate columns need not add up.
        runs = [(10, 1, 1, 0.10, 0.08, 0.05, 1.0, 0.0)]
        self.assertEqual('0.000', listing.median_row('x', runs)[7])


class SoapClockTest(testtools.TestCase):

    def test_split_sums_server_wait_parse_and_size(self):
        clock = listing.SoapClock()
        clock.calls = [
            {'sent': 1.0, 'read': 1.5, 'parsed': 2.0, 'size': 2048},
            {'sent': 3.0, 'read': 3.25, 'parsed': 4.0, 'size': 1024},
            {'sent': 5.0},  # a call that never answered: not counted
        ]
        self.assertEqual((0.75, 1.25, 3.0), clock.split())

    def test_times_the_garbage_collector_while_patched(self):
        import gc
        clock = listing.SoapClock()
        with clock.patched():
            gc.collect()
        self.assertGreater(clock.collecting, 0.0)
        collected = clock.collecting
        gc.collect()  # no longer timed
        self.assertEqual(collected, clock.collecting)


class NoServerGroupsTest(testtools.TestCase):

    def test_lookup_answers_no_group_inside_only(self):
        objects.register_all()
        original = objects.InstanceGroup.get_by_instance_uuid
        context = mock.sentinel.context
        with harness.no_server_groups():
            self.assertRaises(exception.InstanceGroupNotFound,
                              objects.InstanceGroup.get_by_instance_uuid,
                              context, 'a-uuid')
        self.assertEqual(original,
                         objects.InstanceGroup.get_by_instance_uuid)
