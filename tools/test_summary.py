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

"""Print the last test run as one line: 'N passed, N failed, N skipped'.

CI reads that line; stestr's own summary is a table. After
tools/test_suites.py, whose suites each keep their results in their own
stestr repository (the two tests/nova runs share their test ids), every
suite's executions are counted and summed, with a breakdown per suite;
after a plain ``stestr run``, its last run is counted. Exits 1 when a run
failed or no test ran, so it can close a test command.
"""

import collections
import io
import json
import os
import subprocess
import sys

import subunit
import testtools

DEFAULT_REPO = '.stestr'
MANIFEST = os.path.join(DEFAULT_REPO, 'suites', 'last.json')


class _FinalStatus(testtools.StreamResult):
    def __init__(self):
        super().__init__()
        self.statuses = {}

    def status(self, test_id=None, test_status=None, **kwargs):
        if test_id and test_status in ('success', 'fail', 'skip', 'xfail',
                                       'uxsuccess'):
            self.statuses[test_id] = test_status


def counts(repo_url=None):
    """(passed, failed, skipped) of the last run in a stestr repository
    (the default one: None)."""
    where = ['--repo-url', repo_url] if repo_url else []
    raw = subprocess.run([sys.executable, '-m', 'stestr'] + where
                         + ['last', '--subunit'], check=True,
                         stdout=subprocess.PIPE).stdout
    result = _FinalStatus()
    subunit.ByteStreamToStreamResult(io.BytesIO(raw)).run(result)
    found = collections.Counter(result.statuses.values())
    return (found['success'] + found['xfail'],
            found['fail'] + found['uxsuccess'], found['skip'])


def _mtime(path):
    try:
        return os.path.getmtime(path)
    except OSError:
        return None


def suites():
    """[(title, repo)] of the last tools/test_suites.py, if it is newer
    than the last plain run (in the default repository); else None."""
    manifest = _mtime(MANIFEST)
    plain = _mtime(os.path.join(DEFAULT_REPO, 'next-stream'))
    if manifest is None or (plain is not None and plain > manifest):
        return None
    with open(MANIFEST) as f:
        return [(suite['title'], suite['repo']) for suite in json.load(f)]


def summary(per_suite):
    """The line CI reads, then each suite's counts when there are several."""
    total = [sum(column) for column in zip(*per_suite.values())] or [0] * 3
    line = 'tests: %d passed, %d failed, %d skipped' % tuple(total)
    if len(per_suite) > 1:
        line += ' (%s)' % '; '.join(
            '%s: %d passed, %d failed, %d skipped' % ((title,) + tuple(c))
            for title, c in per_suite.items())
    return line, total


def main():
    runs = suites()
    if runs is None:
        runs = [('tests', None)]
    line, (passed, failed, _skipped) = summary(
        {title: counts(repo) for title, repo in runs})
    print(line)
    return 1 if failed or not passed else 0


if __name__ == '__main__':
    sys.exit(main())
