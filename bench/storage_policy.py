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

"""Bench row for policy-aware spawn (issue 12): SOAP calls, PBM calls, time.

    python bench/storage_policy.py [--repeat 5]   (also part of bench/run.py)

On vcsim with tagged datastores and PBM (tools/vcsim/pbm_*.go), from a
cached image: a plain spawn (no storage policy) beside a spawn whose flavor
names a tag-based policy, and the first policy spawn of a compute (PBM's
service content and the policy's id looked up once). Calls are the driver
session's own count (PBM's included, login excluded); times are medians of
``repeat`` spawns.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HEADER = ('spawn (image cached)', 'SOAP calls', 'of which PBM',
          'median seconds')


def _pbm_calls(scope):
    return sum(n for method, n in scope.by_method.items()
               if method.startswith('Pbm'))


def bench_policy_spawn(repeat=5):
    """[HEADER rows]: plain spawn vs policy-aware spawn."""
    from bench import harness

    from tests.functional import test_driver_storage_policy as tsp

    rows = []

    class Bench(tsp.StoragePolicyTestBase):

        def measure(self, extra_specs):
            calls, pbm, times = [], [], []
            for _ in range(repeat):
                instance = self.make_instance(extra_specs=extra_specs)
                start = time.monotonic()
                with self.session.calls.scope() as scope:
                    self.spawn(instance, self.flat)
                times.append(time.monotonic() - start)
                calls.append(scope.total)
                pbm.append(_pbm_calls(scope))
                self.driver.destroy(self.context, instance, [])
            return (max(calls), max(pbm),
                    '%.3f' % statistics.median(times))

        def test_measure(self):
            gold = {'vmware:storage_policy': self.policy('gold')}
            # Fill the image cache on both datastores, then start a new
            # driver whose first spawn takes the compute's one-time
            # lookups: its first policy spawn reads PBM's content and the
            # policy's id once.
            for tier in ('gold', 'silver'):
                warm = self.make_instance(extra_specs={
                    'vmware:storage_policy': self.policy(tier)})
                self.spawn(warm, self.flat)
                self.driver.destroy(self.context, warm, [])
            self.restart_driver()
            self.driver._host.spawner.image_api = self.images
            self.spawn(self.make_instance(), self.flat)
            first = self.make_instance(extra_specs=gold)
            start = time.monotonic()
            with self.session.calls.scope() as scope:
                self.spawn(first, self.flat)
            rows.append(('with a storage policy, first of a compute',
                         scope.total, _pbm_calls(scope),
                         '%.3f' % (time.monotonic() - start)))
            rows.append(('plain (no policy)',) + self.measure({}))
            rows.append(('with a storage policy',) + self.measure(gold))

    harness.run_case(Bench)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args()
    from bench import run
    run._table('Policy-aware spawn (login excluded)',
               [HEADER] + bench_policy_spawn(args.repeat))


if __name__ == '__main__':
    main()
