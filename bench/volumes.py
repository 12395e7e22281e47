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

"""Benchmark: volume attach, extend and detach (SOAP calls, wall time).

    python bench/volumes.py [--vms 200]     (also part of bench/run.py)

A running server on vcsim (with ``--vms`` other VMs in the inventory)
attaches, extends and detaches a vmdk volume (a shadow VM as Cinder's VMDK
driver makes it) and a vstorageobject one (a First Class Disk), through
VCDriver. Calls are the driver session's own count and what the simulator
saw; the wall time includes vcsim's 250 ms task-update tick per task.
"""

import argparse
import os
import sys
import time

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MiB = 1024 * 1024
HEADER = ('volume', 'step', 'calls (driver)', 'server saw', 'seconds',
          'calls by method')


def bench_volumes(vms=20):
    """Rows of HEADER for each volume kind and step."""
    from bench import harness

    from tests.functional import test_driver_spawn as tds
    from tests import volume_backings

    rows = []

    class Bench(tds.SpawnTestBase):
        VCSIM_SHAPE = dict(hosts=2, datastores=2, portgroups=1, vms=vms)

        def test_measure(self):
            self.leaks.keep([volume_backings.FCD_FOLDER])
            instance = self.make_instance()
            self.spawn(instance, self.flat)
            for kind, make in (('vmdk', volume_backings.vmdk_volume),
                               ('vstorageobject',
                                volume_backings.fcd_volume)):
                info = make(self.si)
                self.addCleanup(volume_backings.delete, self.si, info)
                steps = (
                    ('attach', lambda: self.driver.attach_volume(
                        self.context, info, instance, '/dev/sdb')),
                    ('extend', lambda: self.driver.extend_volume(
                        self.context, info, instance, 2 * MiB)),
                    ('detach', lambda: self.driver.detach_volume(
                        self.context, info, instance, '/dev/sdb')),
                )
                for step, op in steps:
                    rows.append((kind, step) + self._measure(op))

        def _measure(self, op):
            self.vcsim.reset_server_calls()
            start = time.monotonic()
            with self.session.calls.scope() as scope:
                op()
            elapsed = time.monotonic() - start
            made = self.vcsim.server_calls()
            return (scope.total, sum(made.values()), '%.2f' % elapsed,
                    ', '.join('%s %d' % kv for kv in sorted(made.items())))

    harness.run_case(Bench)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--vms', type=int, default=20)
    args = parser.parse_args()
    from bench import run
    run._table('Volume attach, extend, detach (%d other VMs)' % args.vms,
               [HEADER] + bench_volumes(args.vms))


if __name__ == '__main__':
    main()
