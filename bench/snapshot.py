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

"""Bench row for snapshots to Glance (issue 9): SOAP calls, time, MB/s.

    python bench/snapshot.py [--size-mb 64]     (also part of bench/run.py)

A server booted from a streamOptimized VMDK of random bytes is snapshotted
through VCDriver on vcsim; Glance is a sink that counts the bytes (so the
peak memory shows the stream is never held whole: Python's, and the
process's resident set above what it was, as bench/formats.py measures
it). Calls are the driver session's own count and what the simulator saw.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MiB = 1024 * 1024


def random_vmdk(size_mb):
    """A streamOptimized VMDK of ``size_mb`` random (incompressible) MiB."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, 'disk.raw')
        with open(raw, 'wb') as f:
            for _ in range(size_mb):
                f.write(os.urandom(MiB))
        out = os.path.join(tmp, 'disk.vmdk')
        subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk',
                        '-o', 'subformat=streamOptimized', raw, out],
                       check=True)
        with open(out, 'rb') as f:
            return f.read()


def bench_snapshot(size_mb=64):
    """[(what, value)] of one snapshot of a ``size_mb`` MiB disk."""
    from bench import harness

    from tests.functional import test_driver_spawn as tds

    rows = []

    class Sink(tds.FakeImageAPI):
        received = 0

        def update(self, context, image_id, metadata, data=None,
                   purge_props=True):
            for chunk in data:
                Sink.received += len(chunk)
            return metadata

    class Bench(tds.SpawnTestBase):

        def test_measure(self):
            images = Sink()
            self.driver._host.spawner.image_api = images
            self.driver._host.snapshots.image_api = images
            image = images.add(random_vmdk(size_mb),
                               vmware_disktype='streamOptimized')
            instance = self.make_instance()
            self.spawn(instance, image)
            self.vcsim.reset_server_calls()
            from bench import formats
            rss = formats._memory('VmRSS')
            formats._reset_peak()
            tracemalloc.start()
            start = time.monotonic()
            with self.session.calls.scope() as scope:
                self.driver.snapshot(self.context, instance,
                                     'bench-snapshot', lambda **kw: None)
            elapsed = time.monotonic() - start
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            rss = formats._memory('VmHWM') - rss
            made = self.vcsim.server_calls()
            rows.extend([
                ('image (streamOptimized VMDK)',
                 '%.1f MB' % (Sink.received / 1e6)),
                ('SOAP calls (driver session)', scope.total),
                ('SOAP calls (simulator saw)', sum(made.values())),
                ('calls by method', ', '.join(
                    '%s %d' % kv for kv in sorted(made.items()))),
                ('wall time', '%.2f s' % elapsed),
                ('throughput (image bytes / wall time)',
                 '%.1f MB/s' % (Sink.received / 1e6 / elapsed)),
                ('peak Python memory', '%.1f MB' % (peak / 1e6)),
                ('peak RSS + (process)', '%.1f MB' % max(rss, 0)),
            ])

    harness.run_case(Bench)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size-mb', type=int, default=64)
    args = parser.parse_args()
    from bench import run
    run._table('Snapshot to Glance (%d MiB disk)' % args.size_mb,
               [('what', 'value')] + bench_snapshot(args.size_mb))


if __name__ == '__main__':
    main()
