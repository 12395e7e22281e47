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

"""Bench rows for resize and cold migration (issue 10): SOAP calls and time.

    python bench/moves.py          (also part of bench/run.py)

Two drivers on two clusters of one vcsim (tests/functional/
test_driver_migrate.py's setup); each step is measured as Nova's compute
manager runs it, counted by the simulator (both computes' calls).
"""

import os
import sys
import time

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bench_moves():
    """[(step, SOAP calls, seconds)] of resizes and moves."""
    from bench import harness

    from tests.functional import test_driver_migrate as tdm

    rows = []

    class Bench(tdm.MigrateTest):

        def measure(self, name, *steps):
            self.vcsim.reset_server_calls()
            start = time.monotonic()
            for step in steps:
                step()
            elapsed = time.monotonic() - start
            rows.append((name, sum(self.vcsim.server_calls().values()),
                         '%.2f' % elapsed))

        def test_measure(self):
            instance = self.booted()
            same = self.migration(dest_node=self.source_node)
            other = self.migration()
            bigger = self.flavor()
            self.measure('resize in place (grow, consolidate)',
                         lambda: self.resize(instance, bigger, self.driver,
                                             same))
            self.measure('confirm resize', lambda: self.driver.
                         confirm_migration(self.context, same, instance, []))
            self.measure('cold migration to another cluster',
                         lambda: self.resize(instance, instance.flavor,
                                             self.dest, other))
            self.measure('revert (back to the source cluster)',
                         lambda: self.revert(instance, self.dest, other))

    harness.run_case(Bench)
    return rows


def main():
    from bench import run
    run._table('Resize and cold migration (SOAP calls seen by vCenter)',
               [('step', 'calls', 'seconds')] + bench_moves())


if __name__ == '__main__':
    main()
