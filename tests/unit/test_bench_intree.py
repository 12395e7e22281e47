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

"""The side-by-side table of bench/intree.py (our driver beside Nova's
in-tree one): figures in their columns, ratios ours / in-tree, a total."""

import testtools

from bench import intree


def figures(calls, server, seconds):
    return {name: (calls, server, seconds) for name in intree.OPERATIONS}


class SideBySideTest(testtools.TestCase):

    def test_columns_ratios_and_total(self):
        ours = figures(3, 5, 0.5)
        theirs = figures(6, 6, 2.0)
        ours['spawn (image not cached)'] = (10, 14, 1.0)
        theirs['spawn (image not cached)'] = (40, 40, 4.0)
        rows = intree.side_by_side(ours, theirs)
        self.assertEqual(intree.HEADER, rows[0])
        by_name = {row[0]: row for row in rows}
        self.assertEqual(
            ('spawn (image not cached)', 40, 10, '0.25', 14, '4.00', '1.00',
             '0.25'), by_name['spawn (image not cached)'])
        self.assertEqual(('power_off', 6, 3, '0.50', 5, '2.00', '0.50',
                          '0.25'), by_name['power_off'])
        self.assertEqual(
            ('all of the above', 76, 28, '0.37', 44, '16.00', '4.00',
             '0.25'), rows[-1])
        self.assertEqual(['operation'] + list(intree.OPERATIONS)
                         + ['all of the above'], [r[0] for r in rows])

    def test_nothing_to_divide_by(self):
        rows = intree.side_by_side(figures(2, 2, 0.1), figures(0, 0, 0.0))
        self.assertEqual(('n/a', 'n/a'), (rows[1][3], rows[1][7]))
