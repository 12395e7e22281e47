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

"""tools/demo.py: its side-by-side table and the noise it silences."""

import logging
import warnings

import testtools

from tests.unit.test_test_summary import _load_tool

demo = _load_tool('demo')


class SideBySideTest(testtools.TestCase):

    LEFT = ('Nova server (compute API)', [
        ('id', 'fc2297ec-bb45-42cd-9d20-b918e9002aeb'),
        ('addresses', 'private 192.168.1.30'),
        ('port', '88dae9fa 00:0c:29:0d:11:74'),
        ('binding', "dvs {'dvs_port_group_name': 'DC0_DVPG0'}")])
    RIGHT = ('vSphere VM (vCenter API)', [
        ('name', 'demo-server'),
        ('CPUs / memory', '2 / 512 MiB'),
        ('disk', '[LocalDS_0] x/demo-server.vmdk (1024 MiB)'),
        ('datastore', 'LocalDS_0'),
        ('linked to', '[LocalDS_0] base/image.vmdk'),
        ('NIC', 'VirtualE1000 00:0c:29:0d:11:74'),
        ('network', 'DC0_DVPG0')])

    def test_every_label_and_value_of_a_column_starts_at_one_place(self):
        lines = demo.side_by_side(self.LEFT, self.RIGHT)
        self.assertEqual(8, len(lines))
        right_at = lines[0].index('vSphere VM')
        left_value_at = len('addresses  ')
        right_value_at = right_at + len('CPUs / memory  ')
        for i, (label, value) in enumerate(self.LEFT[1], 1):
            self.assertEqual(label, lines[i][:left_value_at].strip())
            self.assertEqual(value, lines[i][left_value_at:right_at].strip())
        for i, (label, value) in enumerate(self.RIGHT[1], 1):
            self.assertEqual(' ' * 3, lines[i][right_at - 3:right_at], i)
            self.assertEqual(label, lines[i][right_at:right_value_at].strip())
            self.assertEqual(value, lines[i][right_value_at:])

    def test_rows_below_a_shorter_column_keep_the_other_in_place(self):
        lines = demo.side_by_side(self.LEFT, self.RIGHT)
        right_at = lines[0].index('vSphere VM')
        self.assertEqual('network', lines[7][right_at:].split()[0])
        self.assertEqual('', lines[7][:right_at].strip())


class QuietKnownNoiseTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        for name in ('nova.monkey_patch', 'nova.thread_pool_factory'):
            logger = logging.getLogger(name)
            self.addCleanup(logger.setLevel, logger.level)
        catcher = warnings.catch_warnings(record=True)
        self.caught = catcher.__enter__()
        self.addCleanup(catcher.__exit__, None, None, None)
        warnings.simplefilter('always')
        self.nova_level = logging.getLogger('nova').level
        demo.quiet_known_noise()

    def warn(self, message, category, module):
        warnings.warn_explicit(message, category, module + '.py', 85,
                               module=module)

    def test_eventlets_warning_on_novas_import_is_silenced(self):
        self.warn('\nEventlet is deprecated. It is currently being '
                  'maintained in bugfix mode', UserWarning,
                  'nova.monkey_patch')
        self.assertEqual([], self.caught)

    def test_other_warnings_still_show(self):
        self.warn('Eventlet is deprecated.', UserWarning, 'somewhere.else')
        self.warn('something else', DeprecationWarning, 'nova.monkey_patch')
        self.assertEqual(['Eventlet is deprecated.', 'something else'],
                         [str(w.message) for w in self.caught])

    def test_the_noisy_loggers_are_quieter_and_only_them(self):
        self.assertFalse(logging.getLogger(
            'nova.thread_pool_factory').isEnabledFor(logging.INFO))
        self.assertTrue(logging.getLogger(
            'nova.thread_pool_factory').isEnabledFor(logging.WARNING))
        self.assertFalse(logging.getLogger(
            'nova.monkey_patch').isEnabledFor(logging.WARNING))
        self.assertEqual(self.nova_level, logging.getLogger('nova').level)


class ArgumentsTest(testtools.TestCase):

    def test_glance_datastore_is_an_option_off_by_default(self):
        self.assertFalse(demo.parse_args([]).glance_datastore)
        self.assertTrue(demo.parse_args(
            ['--glance-datastore']).glance_datastore)
