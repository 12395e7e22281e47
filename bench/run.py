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

"""Benchmarks, run on demand: SOAP round trips, wall time, throughput, memory.

    tox -e bench            (or: python bench/run.py [--vms 2000])

Each figure is measured beside a baseline in the same run, on the same
simulator:
- round trips per driver operation (the session's own counter, cross-checked
  by the simulator's request counter), at two inventory sizes, so that
  growth with the inventory shows;
- listing all VMs: our paged ContainerView query against the in-tree
  driver's query (maximum_objects = 100) and against lazy pyvmomi reads
  (one Fetch per VM), in calls and seconds, split into vcsim, pyVmomi's
  parse and ours (bench/listing.py);
- image upload: MB/s and peak Python memory of a streamed NFC import
  against reading the image into memory first;
- lifecycle events and the power-state sweep (bench/lifecycle.py);
- an uncached spawn per image format (VMDK flat, sparse and
  streamOptimized, converted ones, OVA) at two disk sizes, beside a plain
  PUT of the same bytes, with peak memory (bench/formats.py);
- a snapshot to Glance (bench/snapshot.py);
- volume attach, extend and detach, vmdk and vstorageobject
  (bench/volumes.py);
- a Glance-backed image filled by a datastore copy inside vSphere against
  the HTTP stream of the same image (bench/glance_copy.py);
- our driver beside Nova's in-tree vmwareapi driver, spawn to destroy, in
  calls and seconds, as ratios (bench/intree.py);
- a spawn with a storage policy beside a plain one
  (bench/storage_policy.py).
Nothing here asserts a time: the output is for people (and the closing note).
"""

import argparse
import os
import sys
import threading
import time
import tracemalloc
import warnings

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# futurist imports eventlet, which announces its own deprecation.
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated',
                        module='futurist')


def _table(title, rows):
    print('\n%s' % title)
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print('  ' + '  '.join(str(c).ljust(w) for c, w in zip(row, widths)))


def bench_operations(vms):
    """Round trips of each driver operation with ``vms`` VMs in vCenter."""
    from bench import harness

    from tests.functional import test_driver_spawn as tds

    results = {}

    class Bench(tds.SpawnTestBase):
        VCSIM_SHAPE = dict(hosts=4, datastores=2, vms=vms)

        def test_measure(self):
            warm = self.make_instance()
            self.spawn(warm, self.flat)
            instance = self.make_instance()
            ops = [
                ('spawn (image cached)', lambda: self.spawn(instance,
                                                            self.flat)),
                ('get_info', lambda: self.driver.get_info(instance)),
                ('power_off (hard)', lambda: self.driver.power_off(instance)),
                ('power_on', lambda: self.driver.power_on(self.context,
                                                          instance, [])),
                ('reboot HARD', lambda: self.driver.reboot(
                    self.context, instance, [], 'HARD')),
                ('list_instance_uuids', self.driver.list_instance_uuids),
                ('update_provider_tree', self._provider_tree),
                ('destroy', lambda: self.driver.destroy(self.context,
                                                        instance, [])),
            ]
            for name, op in ops:
                self.vcsim.reset_server_calls()
                start = time.monotonic()
                with self.session.calls.scope() as scope:
                    op()
                elapsed = time.monotonic() - start
                server = sum(self.vcsim.server_calls().values())
                results[name] = (scope.total, server, elapsed)

        def _provider_tree(self):
            from nova.compute import provider_tree
            node = self.driver.get_available_nodes()[0]
            tree = provider_tree.ProviderTree()
            tree.new_root(node, 'bench')
            self.driver.update_provider_tree(tree, node)

    harness.run_case(Bench)
    return results


def bench_upload(size_mb):
    """Streamed datastore upload vs reading the image into memory first."""
    from nova_vmware_ext.vsphere import transfer

    data_file = '/tmp/nova-vmware-ext-bench-%dmb.img' % size_mb
    if not os.path.exists(data_file):
        with open(data_file, 'wb') as f:
            for _ in range(size_mb):
                f.write(os.urandom(1024 * 1024))
    size = os.path.getsize(data_file)
    from tests.functional import base
    from tests import vcsim
    fx = vcsim.VcsimFixture(hosts=1)
    fx.setUp()
    rows = []
    try:
        session = base.make_session(fx).login()
        http = transfer.HttpClient(session)
        url = vcsim.datastore_url(fx, 'bench/upload-flat.vmdk')

        for label, source in (('streamed (ours)',
                               lambda: transfer.file_chunks(data_file)),
                              ('read whole first (baseline)',
                               lambda: [open(data_file, 'rb').read()])):
            tracemalloc.start()
            start = time.monotonic()
            http.put(url, source(), size, 'bench upload')
            elapsed = time.monotonic() - start
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            rows.append((label, '%.1f MB' % (size / 1e6),
                         '%.1f MB/s' % (size / 1e6 / elapsed),
                         'peak %.1f MB' % (peak / 1e6)))
        session.logout()
    finally:
        fx.cleanUp()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--vms', type=int, default=2000)
    parser.add_argument('--upload-mb', type=int, default=256)
    parser.add_argument('--event-changes', type=int, default=100)
    parser.add_argument('--sweep', default='2000,10000',
                        help='instance counts of the power-state sweep')
    parser.add_argument('--only', choices=['lifecycle', 'intree', 'listing'],
                        help='run only these rows')
    args = parser.parse_args()
    threading.current_thread().name = 'bench'
    from bench import harness
    with harness.no_server_groups():
        _run(args)


def _run(args):
    if args.only is None:
        _main_rows(args)
    if args.only in (None, 'lifecycle'):
        _lifecycle_rows(args)
    if args.only in (None, 'intree'):
        _intree_rows()
    if args.only == 'listing':
        _listing_rows(args)


def _intree_rows():
    from bench import intree
    _table("Ours beside Nova's in-tree vmwareapi driver (SOAP calls per "
           'operation, login excluded; wall time)', intree.bench_intree())


def _lifecycle_rows(args):
    from bench import lifecycle

    _table('Lifecycle event latency (vSphere change -> Nova event)',
           [('event', 'changes', 'median ms', 'max ms')] +
           lifecycle.bench_event_latency(args.event_changes))
    for count in [int(n) for n in args.sweep.split(',') if n]:
        _table('Power-state sweep over %d instances' % count,
               [('what', 'instances', 'vCenter calls', 'time')] +
               lifecycle.bench_power_sweep(count))


def _listing_rows(args):
    from bench import listing
    title = 'Listing %d VMs (medians of %d runs)' % (
        args.vms, listing.REPEATS)
    _table(title, listing.bench_listing(args.vms))


def _main_rows(args):
    small = bench_operations(20)
    large = bench_operations(args.vms)
    rows = [('operation', 'calls (20 VMs)', 'calls (%d VMs)' % args.vms,
             'server saw', 'seconds (%d VMs)' % args.vms)]
    for name in small:
        rows.append((name, small[name][0], large[name][0], large[name][1],
                     '%.2f' % large[name][2]))
    _table('SOAP round trips per operation (login excluded)', rows)
    _listing_rows(args)
    _table('Image upload over datastore HTTP',
           [('method', 'size', 'rate', 'python memory')] +
           bench_upload(args.upload_mb))
    from bench import moves
    _table('Resize and cold migration (SOAP calls seen by vCenter)',
           [('step', 'calls', 'seconds')] + moves.bench_moves())
    from bench import live_migration
    _table('Live migration between two clusters (login excluded)',
           live_migration.bench_live_migration())
    from bench import formats
    _table('Uncached spawn per image format (login excluded)',
           formats.bench_formats((64, 512)))
    from bench import snapshot
    _table('Snapshot to Glance (64 MiB disk)',
           [('what', 'value')] + snapshot.bench_snapshot(64))
    from bench import volumes
    _table('Volume attach, extend, detach (20 other VMs, login excluded)',
           [volumes.HEADER] + volumes.bench_volumes(20))
    from bench import glance_copy
    _table('Glance-backed image: datastore copy vs HTTP stream (uncached '
           'spawn, login excluded)',
           [glance_copy.HEADER] + glance_copy.bench_glance_copy())
    from bench import storage_policy
    _table('Policy-aware spawn (login excluded)',
           [storage_policy.HEADER] + storage_policy.bench_policy_spawn())


if __name__ == '__main__':
    main()
