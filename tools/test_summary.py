"""Print the last stestr run as one line: 'N passed, N failed, N skipped'.

CI reads that line; stestr's own summary is a table. Exits 1 when the run
failed or ran no test, so it can close a test command.
"""

import collections
import io
import subprocess
import sys

import subunit
import testtools


class _FinalStatus(testtools.StreamResult):
    def __init__(self):
        super().__init__()
        self.statuses = {}

    def status(self, test_id=None, test_status=None, **kwargs):
        if test_id and test_status in ('success', 'fail', 'skip', 'xfail',
                                       'uxsuccess'):
            self.statuses[test_id] = test_status


def main():
    raw = subprocess.run([sys.executable, '-m', 'stestr', 'last',
                          '--subunit'], check=True,
                         stdout=subprocess.PIPE).stdout
    result = _FinalStatus()
    subunit.ByteStreamToStreamResult(io.BytesIO(raw)).run(result)
    counts = collections.Counter(result.statuses.values())
    passed = counts['success'] + counts['xfail']
    failed = counts['fail'] + counts['uxsuccess']
    print('tests: %d passed, %d failed, %d skipped'
          % (passed, failed, counts['skip']))
    return 1 if failed or not passed else 0


if __name__ == '__main__':
    sys.exit(main())
