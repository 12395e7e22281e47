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

"""Bench rows for live migration: SOAP round trips and wall time per step.

    python bench/live_migration.py        (also a table of bench/run.py)

Two drivers on two clusters of one vcsim, as in
tests/functional/test_driver_live_migration.py, with an instant vMotion
(no -vmotion-duration): the figures are the driver's own cost around
RelocateVM_Task, on each side, and what the simulator saw.
"""

import os
import sys
import time

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bench_live_migration():
    """Rows (step, source calls, destination calls, server saw, seconds)."""
    from bench import harness

    from tests.functional import test_driver_live_migration as tlm

    rows = []

    class Bench(tlm.LiveMigrationTest):
        VCSIM_SHAPE = dict(clusters=2, hosts=4, datastores=2, portgroups=2)

        def test_measure(self):
            instance = self.running_instance()
            state = {}

            def checks():
                state['data'] = self.checked(instance)

            steps = [
                ('checks + pre_live_migration', checks),
                ('live_migration (vMotion + NICs)',
                 lambda: self.live_migrate(instance, state['data'])),
                ('post_live_migration_at_source',
                 lambda: self.source.post_live_migration_at_source(
                     self.context, instance, [])),
                ('post_live_migration_at_destination',
                 lambda: self.dest.post_live_migration_at_destination(
                     self.context, instance, [])),
            ]
            for name, step in steps:
                self.vcsim.reset_server_calls()
                start = time.monotonic()
                with self.source._host.session.calls.scope() as src, \
                        self.dest._host.session.calls.scope() as dst:
                    step()
                elapsed = time.monotonic() - start
                server = sum(self.vcsim.server_calls().values())
                rows.append((name, src.total, dst.total, server,
                             '%.3f' % elapsed))
            self.post.assert_called_once()

    harness.run_case(Bench)
    return [('step', 'source calls', 'destination calls', 'server saw',
             'seconds')] + rows


def main():
    from bench import run
    run._table('Live migration between two clusters (login excluded)',
               bench_live_migration())


if __name__ == '__main__':
    main()
