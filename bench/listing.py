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

"""Bench rows: listing every VM, ours beside the in-tree driver's query.

- ours: what list_instance_uuids reads (compute/instances.py: four
  properties) over a ContainerView, page_size 1000 ([vmware_ext]
  page_size), the view made and destroyed around the read;
- ours at page 100: the same query at the in-tree driver's page size, so
  the page size's own effect shows;
- the in-tree driver's list_instances query: its two properties of the
  VMs of the cluster's root resource pool, maximum_objects 100 pages;
- lazy pyvmomi reads (one Fetch per VM), scaled from 200 VMs.

The first three run interleaved REPEATS times after one untimed query of
each (a fresh simulator and a fresh parser pay once for what they meet
first: a single first run measures that, not the query); the figures are
medians. The time splits into waiting for vcsim (request sent to the
whole answer read), pyVmomi parsing the answer, and the rest (our code:
building the dicts). Python's garbage collector runs before each run
(``gc.collect()``), so that no run pays a full collection for the garbage
of the others: one costs about 0.15 s with Nova's modules loaded, and
lands on whichever query happens to be allocating, mostly the one
holding the largest page. The time collections took within the run is
shown apart. Run through bench/run.py (``--only listing``).
"""

import contextlib
import gc
import http.client
import io
import statistics
import time

from unittest import mock

REPEATS = 5
HEADER = ('method', 'VMs', 'calls', 'server saw', 'median s', 'vcsim s',
          'parse s', 'rest s', 'of which GC s', 'KiB')
# nova.virt.vmwareapi.vmops.VMwareVMOps.list_instances
INTREE_PATHS = ['runtime.connectionState', 'config.extraConfig["nvp.vm-uuid"]']


class SoapClock(object):
    """Splits SOAP calls into waiting for the server and parsing.

    The answer is read whole before pyVmomi parses it (pyVmomi otherwise
    parses as the bytes arrive, which mixes the two).
    """

    def __init__(self):
        self.calls = []
        self.collecting = 0.0  # seconds in Python's garbage collector
        self._gc_start = None

    @contextlib.contextmanager
    def patched(self):
        from pyVmomi import SoapAdapter
        deserializer = SoapAdapter.SoapResponseDeserializer
        request = http.client.HTTPConnection.request
        deserialize = deserializer.Deserialize
        calls = self.calls

        def timed_request(conn, *args, **kwargs):
            calls.append({'sent': time.monotonic()})
            return request(conn, *args, **kwargs)

        def timed_deserialize(parser, response, *args, **kwargs):
            data = response.read()
            call = calls[-1]
            call.update(read=time.monotonic(), size=len(data))
            try:
                return deserialize(parser, io.BytesIO(data), *args, **kwargs)
            finally:
                call['parsed'] = time.monotonic()

        gc.callbacks.append(self._gc_clock)
        try:
            with mock.patch.object(http.client.HTTPConnection, 'request',
                                   timed_request), \
                    mock.patch.object(deserializer, 'Deserialize',
                                      timed_deserialize):
                yield self
        finally:
            gc.callbacks.remove(self._gc_clock)

    def _gc_clock(self, phase, info):
        if phase == 'start':
            self._gc_start = time.perf_counter()
        elif self._gc_start is not None:
            self.collecting += time.perf_counter() - self._gc_start

    def split(self):
        """(seconds waiting for the server, seconds parsing, KiB)."""
        done = [c for c in self.calls if 'parsed' in c]
        return (sum(c['read'] - c['sent'] for c in done),
                sum(c['parsed'] - c['read'] for c in done),
                sum(c['size'] for c in done) / 1024.0)


def measure(session, fx, query):
    """(VMs, calls, calls vcsim saw, seconds, vcsim s, parse s, KiB,
    GC s) of one run of ``query()``."""
    clock = SoapClock()
    fx.reset_server_calls()
    gc.collect()
    with clock.patched(), session.calls.scope() as scope:
        start = time.monotonic()
        found = query()
        elapsed = time.monotonic() - start
    server = sum(fx.server_calls().values())
    waited, parsed, size = clock.split()
    return (len(found), scope.total, server, elapsed, waited, parsed, size,
            clock.collecting)


def median_row(label, runs):
    """A table row from several measure() results: counts of the last
    run, medians of the times."""
    vms, calls, server = runs[-1][:3]
    elapsed, waited, parsed, collecting = (
        statistics.median(r[i] for r in runs) for i in (3, 4, 5, 7))
    return (label, vms, calls, server, '%.3f' % elapsed, '%.3f' % waited,
            '%.3f' % parsed, '%.3f' % max(elapsed - waited - parsed, 0.0),
            '%.3f' % collecting, '%.0f' % runs[-1][6])


def _queries(session, vm_paths):
    from pyVmomi import vim

    from nova_vmware_ext.vsphere import props

    cluster = props.retrieve_all(
        session, {vim.ClusterComputeResource: ['resourcePool']})[0]
    pool = cluster['resourcePool']
    return [
        ('ours (list_instance_uuids: 4 properties, page 1000)',
         lambda: props.retrieve_all(session, {vim.VirtualMachine: vm_paths},
                                    page_size=1000)),
        ('ours at page 100',
         lambda: props.retrieve_all(session, {vim.VirtualMachine: vm_paths},
                                    page_size=100)),
        ("in-tree list_instances (2 properties, maximum_objects 100)",
         lambda: props.retrieve_related(
             session, pool, ['vm'], {vim.VirtualMachine: INTREE_PATHS},
             page_size=100)),
    ]


def bench_listing(vms, repeats=REPEATS):
    """Rows (HEADER first) of listing ``vms`` VMs."""
    from nova_vmware_ext.compute import instances
    from tests.functional import base
    from tests import vcsim

    fx = vcsim.VcsimFixture(hosts=4, vms=vms)
    fx.setUp()
    try:
        session = base.make_session(fx).login()
        queries = _queries(session, list(instances.WATCH_PATHS))
        for _, query in queries:
            query()  # untimed: first-use costs
        runs = {label: [] for label, _ in queries}
        for _ in range(repeats):
            for label, query in queries:
                runs[label].append(measure(session, fx, query))
        rows = [HEADER] + [median_row(label, runs[label])
                           for label, _ in queries]
        rows.append(_lazy_row(fx, vms))
        session.logout()
        return rows
    finally:
        fx.cleanUp()


def _lazy_row(fx, vms, sample=200):
    """What plain pyvmomi code does: one Fetch per VM, scaled."""
    from pyVmomi import vim

    si = fx.connect()
    view = si.content.viewManager.CreateContainerView(
        si.content.rootFolder, [vim.VirtualMachine], True)
    fx.reset_server_calls()
    start = time.monotonic()
    count = 0
    for vm in view.view[:sample]:
        vm.config.instanceUuid
        count += 1
    elapsed = time.monotonic() - start
    calls = sum(fx.server_calls().values())
    scale = vms / max(count, 1)
    return ('lazy pyvmomi reads (first %d VMs, scaled)' % sample, vms,
            int(calls * scale), int(calls * scale),
            '%.3f' % (elapsed * scale), '', '', '', '', '')
