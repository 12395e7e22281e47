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

"""tools/test_summary.py counts every suite's executions, ids shared or not."""

import importlib.util
import io
import json
import os
import subprocess
import sys

import fixtures
import subunit
import testtools

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(TOP, 'tools', name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stream(results):
    """A subunit v2 stream of {test id: status}."""
    out = io.BytesIO()
    writer = subunit.StreamResultToBytes(out)
    for test_id, status in results.items():
        writer.status(test_id=test_id, test_status='inprogress')
        writer.status(test_id=test_id, test_status=status)
    return out.getvalue()


class TestSummaryTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.summary = _load_tool('test_summary')
        self.top = self.useFixture(fixtures.TempDir()).path
        cwd = os.getcwd()
        os.chdir(self.top)
        self.addCleanup(os.chdir, cwd)

    def _load(self, repo_url, results):
        where = ['--repo-url', repo_url] if repo_url else []
        if repo_url:
            os.makedirs(repo_url, exist_ok=True)  # stestr makes one level
        subprocess.run([sys.executable, '-m', 'stestr'] + where
                       + ['load', '--force-init', '--subunit'],
                       input=_stream(results), check=True,
                       stdout=subprocess.DEVNULL)

    def _suites(self, *suites):
        os.makedirs(os.path.dirname(self.summary.MANIFEST), exist_ok=True)
        with open(self.summary.MANIFEST, 'w') as f:
            json.dump([{'title': t, 'repo': r} for t, r in suites], f)

    def _main(self):
        # A plain buffer, not a detail: the summary line is asserted, not
        # printed among the results.
        out = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', out))
        status = self.summary.main()
        return status, out.getvalue().strip()

    def test_suites_sharing_test_ids_are_counted_apart(self):
        same = {'tests.nova.test_a.T.test_one': 'success',
                'tests.nova.test_a.T.test_two': 'skip'}
        self._load('.stestr/suites/unit-functional',
                   {'tests.unit.test_x.T.test_y': 'success'})
        self._load('.stestr/suites/nova-eventlet', same)
        self._load('.stestr/suites/nova-threads',
                   dict(same, **{'tests.nova.test_a.T.test_one': 'fail'}))
        self._suites(('unit', '.stestr/suites/unit-functional'),
                     ('nova, eventlet', '.stestr/suites/nova-eventlet'),
                     ('nova, threads', '.stestr/suites/nova-threads'))
        status, line = self._main()
        self.assertEqual(
            'tests: 2 passed, 1 failed, 2 skipped (unit: 1 passed, 0 failed,'
            ' 0 skipped; nova, eventlet: 1 passed, 0 failed, 1 skipped; '
            'nova, threads: 0 passed, 1 failed, 1 skipped)', line)
        self.assertEqual(1, status)

    def test_a_later_plain_run_is_what_is_counted(self):
        self._load(None, {'tests.unit.test_x.T.test_y': 'success',
                          'tests.unit.test_x.T.test_z': 'success'})
        self._load('.stestr/suites/nova-eventlet',
                   {'tests.nova.test_a.T.test_one': 'success'})
        self._suites(('nova, eventlet', '.stestr/suites/nova-eventlet'))
        os.utime(self.summary.MANIFEST, (1, 1))  # before the plain run
        status, line = self._main()
        self.assertEqual('tests: 2 passed, 0 failed, 0 skipped', line)
        self.assertEqual(0, status)

    def test_no_test_run_fails(self):
        self._load(None, {'tests.unit.test_x.T.test_y': 'skip'})
        status, line = self._main()
        self.assertEqual('tests: 0 passed, 0 failed, 1 skipped', line)
        self.assertEqual(1, status)
