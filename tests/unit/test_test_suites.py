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

"""tools/test_suites.py lists and runs only the suites a filter can match.

An unfiltered run (CI's) lists and runs every suite in its whole test path;
a filter naming a package (``tests.unit.test_specs``) lists and runs only
that package's folder.
"""

import subprocess

import fixtures
import testtools

from tests.unit.test_test_summary import _load_tool

suites = _load_tool('test_suites')


class LiteralPrefixTest(testtools.TestCase):

    def test_prefixes(self):
        for regex, prefix in [
                ('tests.unit.test_specs', 'tests.unit.test_specs'),
                (r'^tests\.functional\.test_x', 'tests.functional.test_x'),
                ('tests.nova.test_servers.ServersTest.test_a',
                 'tests.nova.test_servers.ServersTest.test_a'),
                ('tests.unitx?', 'tests.unit'),
                ('tests.unit.test_[ab]', 'tests.unit.test_'),
                ('tests.unit.test_(specs|vifs)', 'tests.unit.test_'),
                (r'tests.unit.test_a\|b', 'tests.unit.test_a'),
                # Could match anywhere.
                ('test_specs', ''),
                ('tests.(unit|nova)', 'tests.'),
                ('tests.unit.a|tests.nova.b', ''),
                ('tests.unit.[(]|b', ''),
                ('.*nova', ''),
                ('test', '')]:
            self.assertEqual(prefix, suites.literal_prefix(regex), regex)


class NarrowedTest(testtools.TestCase):

    UNIT_FUNCTIONAL = ('./tests', ('tests.unit', 'tests.functional'))
    NOVA = ('./tests/nova', ('tests.nova',))

    def narrowed(self, suite, *filters):
        return suites.narrowed(suite[0], suite[1], list(filters))

    def test_without_filters_every_suite_keeps_its_whole_path(self):
        self.assertEqual(self.UNIT_FUNCTIONAL,
                         self.narrowed(self.UNIT_FUNCTIONAL))
        self.assertEqual(self.NOVA, self.narrowed(self.NOVA))

    def test_a_unit_filter_narrows_to_tests_unit_and_drops_nova(self):
        self.assertEqual(('./tests/unit', ('tests.unit',)),
                         self.narrowed(self.UNIT_FUNCTIONAL,
                                       'tests.unit.test_specs'))
        self.assertEqual(('./tests/nova', ()),
                         self.narrowed(self.NOVA, 'tests.unit.test_specs'))

    def test_a_nova_filter_drops_unit_and_functional(self):
        self.assertEqual(
            ('./tests', ()),
            self.narrowed(self.UNIT_FUNCTIONAL, 'tests.nova.test_servers'))
        self.assertEqual(self.NOVA,
                         self.narrowed(self.NOVA, 'tests.nova.test_servers'))

    def test_filters_on_both_packages_keep_the_whole_path(self):
        self.assertEqual(self.UNIT_FUNCTIONAL,
                         self.narrowed(self.UNIT_FUNCTIONAL, 'tests.unit.a',
                                       'tests.functional.b'))

    def test_a_filter_matching_anywhere_keeps_everything(self):
        self.assertEqual(self.UNIT_FUNCTIONAL,
                         self.narrowed(self.UNIT_FUNCTIONAL, 'tests.unit.a',
                                       'test_specs'))
        self.assertEqual(self.NOVA, self.narrowed(self.NOVA, 'test_specs'))


class MainTest(testtools.TestCase):
    """main() with stestr recorded instead of run."""

    IDS = {'./tests': ['tests.unit.test_specs.T.test_a',
                       'tests.functional.test_x.T.test_b'],
           './tests/unit': ['tests.unit.test_specs.T.test_a'],
           './tests/functional': ['tests.functional.test_x.T.test_b'],
           './tests/nova': ['tests.nova.test_servers.T.test_c']}

    def setUp(self):
        super().setUp()
        self.calls = []
        for name, fake in [('stestr', self.fake_stestr),
                           ('init_repo', lambda repo: None),
                           ('record', lambda ran: None)]:
            self.useFixture(fixtures.MonkeyPatch(
                'tests.unit.test_test_suites.suites.' + name, fake))
        tmp = self.useFixture(fixtures.TempDir()).path
        self.useFixture(fixtures.MonkeyPatch(
            'tests.unit.test_test_suites.suites.SUITES_DIR', tmp))
        self.useFixture(fixtures.MonkeyPatch(
            'sys.stdout', open('/dev/null', 'w')))

    def fake_stestr(self, repo, test_path, args, env, **kwargs):
        self.calls.append((args[0], test_path, env.get(suites.MODE)))
        return subprocess.CompletedProcess(
            args, 0, stdout='\n'.join(self.IDS[test_path]) + '\n')

    def test_an_unfiltered_run_lists_and_runs_every_suite_whole(self):
        self.assertEqual(0, suites.main([]))
        self.assertEqual([('list', './tests', None), ('run', './tests', None),
                          ('list', './tests/nova', 'False'),
                          ('run', './tests/nova', 'False'),
                          ('list', './tests/nova', 'True'),
                          ('run', './tests/nova', 'True')], self.calls)

    def test_a_unit_filter_lists_and_runs_tests_unit_only(self):
        self.assertEqual(0, suites.main(['tests.unit.test_specs']))
        self.assertEqual([('list', './tests/unit', None),
                          ('run', './tests/unit', None)], self.calls)

    def test_a_nova_filter_skips_the_unit_and_functional_suite(self):
        self.assertEqual(0, suites.main(['tests.nova.test_servers']))
        self.assertEqual(['./tests/nova'] * 4,
                         [path for _, path, _ in self.calls])

    def test_a_filter_matching_anywhere_lists_every_suite(self):
        self.assertEqual(0, suites.main(['test_c']))
        self.assertEqual([('list', './tests', None),
                          ('list', './tests/nova', 'False'),
                          ('run', './tests/nova', 'False'),
                          ('list', './tests/nova', 'True'),
                          ('run', './tests/nova', 'True')], self.calls)
