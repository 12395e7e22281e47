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

"""Bench rows for the image cache fill (issue 9): an uncached spawn per
image kind, in SOAP calls and wall time, beside a plain HTTP PUT of the
same bytes to the same datastore in the same run.

    python bench/fills.py [--mb 64]          (also part of bench/run.py)

Calls are counted on a compute that has spawned before (the usual case),
and for the first kind also on the compute's first spawn (inventory, task
stream, project folders still unknown).
"""

import argparse
import os
import sys
import time

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _images(size_mb):
    from tests.functional import test_driver_spawn as tds
    return [
        ('flat (thin)', lambda: os.urandom(size_mb * tds.MiB),
         {'vmware_disktype': 'thin'}),
        ('sparse', lambda: tds.sparse_vmdk(size_mb), {
            'vmware_disktype': 'sparse'}),
        ('streamOptimized', lambda: tds.stream_optimized_vmdk(size_mb), {
            'vmware_disktype': 'streamOptimized'}),
    ]


def bench_fills(size_mb=64):
    """[(kind, image MB, calls first spawn, calls warm, seconds, MB/s,
    plain PUT MB/s)]."""
    from bench import harness

    from tests.functional import test_driver_spawn as tds
    from tests import vcsim

    rows = []

    class Bench(tds.SpawnTestBase):
        VCSIM_SHAPE = dict(hosts=2, datastores=1, portgroups=0)

        def counted(self, image):
            instance = self.make_instance()
            start = time.monotonic()
            with self.session.calls.scope() as scope:
                self.spawn(instance, image)
            return scope.total, time.monotonic() - start

        def plain_put(self, data):
            import requests
            url = vcsim.datastore_url(self.vcsim, 'bench-put/put.bin')
            start = time.monotonic()
            requests.put(url, data=data, verify=self.vcsim.ca_file,
                         headers={'Cookie': vcsim.session_cookie(self.si)}
                         ).raise_for_status()
            elapsed = time.monotonic() - start
            requests.delete(url, verify=self.vcsim.ca_file, headers={
                'Cookie': vcsim.session_cookie(self.si)})
            return elapsed

        def test_measure(self):
            cold = None
            for kind, make, props in _images(size_mb):
                if cold is None:  # the compute's first spawn
                    cold, _ = self.counted(self.images.add(make(), **props))
                else:
                    cold = '-'
                data = make()
                image = self.images.add(data, **props)
                warm, elapsed = self.counted(image)
                put = self.plain_put(data)
                mb = len(data) / 1e6
                rows.append((kind, '%.1f' % mb, cold, warm,
                             '%.2f' % elapsed, '%.1f' % (mb / elapsed),
                             '%.1f' % (mb / put)))
                self.leaks.keep(['bench-put/', 'bench-put/put.bin'])

    harness.run_case(Bench)
    return rows


HEADER = ('image kind', 'MB', "calls (compute's first spawn)",
          'calls (warm)',
          'seconds', 'MB/s', 'plain PUT MB/s')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mb', type=int, default=64)
    args = parser.parse_args()
    from bench import run
    run._table('Uncached spawn per image kind (SOAP calls, login excluded)',
               [HEADER] + bench_fills(args.mb))


if __name__ == '__main__':
    main()
