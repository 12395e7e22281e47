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

"""Bench rows for an uncached spawn per image format (issue 9): SOAP calls,
wall time, MB/s against a plain HTTP PUT of the same bytes in the same run,
peak memory.

    python bench/formats.py [--size-mb 32]      (also part of bench/run.py)

Each image is made by qemu-img from one raw disk whose first half is random
(incompressible) and the rest zeroes; streamOptimized VMDK is the baseline
without conversion, the other formats go through images/convert.py. The
PUT baseline sends the image's bytes to the datastore over /folder with the
driver's own HTTP client. Peak memory: Python's (tracemalloc) during the
spawn, and qemu-img's largest resident set (GNU time's %M around each run).
"""

import os
import sys
import time
import tracemalloc

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MiB = 1024 * 1024

# (label, Glance disk_format, qemu-img format, VMDK subformat)
FORMATS = (
    ('vmdk streamOptimized (no conversion)', 'vmdk', 'vmdk',
     'streamOptimized'),
    ('qcow2', 'qcow2', 'qcow2', None),
    ('raw', 'raw', 'raw', None),
    ('vhd', 'vhd', 'vpc', None),
    ('vhdx', 'vhdx', 'vhdx', None),
    ('vdi', 'vdi', 'vdi', None),
)


def bench_formats(size_mb=32):
    """[(format, image MB, SOAP calls, seconds, MB/s, PUT MB/s, Python peak,
    qemu-img peak RSS)] of an uncached spawn per format."""
    import fixtures

    from bench import harness
    from nova_vmware_ext.images import convert
    from nova_vmware_ext.vsphere import files as vfiles
    from nova_vmware_ext.vsphere import transfer
    from tests.functional import test_driver_spawn as tds
    from tests import image_files
    from tests import vcsim

    rows = []

    class Bench(tds.SpawnTestBase):
        VCSIM_SHAPE = dict(hosts=1, datastores=1, portgroups=1)

        def put_rate(self, data):
            http = transfer.HttpClient(self.session)
            url = vcsim.datastore_url(self.vcsim, 'bench-put.img',
                                      datastore='LocalDS_0')
            start = time.monotonic()
            http.put(url, iter([data[i:i + MiB]
                                for i in range(0, len(data), MiB)]),
                     len(data), 'bench put')
            elapsed = time.monotonic() - start
            self.driver._host.cache.delete(
                vfiles.DatastorePath('LocalDS_0', 'bench-put.img'))
            return len(data) / 1e6 / elapsed

        def measure_qemu_img(self):
            """Run qemu-img under GNU time; returns the list of peak RSS
            (KB) of its runs."""
            peaks, real = [], convert._execute

            def timed(argv, **kwargs):
                out, err = real(('/usr/bin/time', '-f', 'maxrss=%M')
                                + tuple(argv), **kwargs)
                peaks.append(int(err.rsplit('maxrss=', 1)[1].split()[0]))
                return out, err
            self.useFixture(fixtures.MockPatchObject(convert, '_execute',
                                                     timed))
            return peaks

        def test_measure(self):
            # Warm: project folder, inventory and the session's filters
            # exist before the first measured spawn.
            self.spawn(self.make_instance(), self.flat)
            peaks = self.measure_qemu_img()
            for label, disk_format, qemu, subformat in FORMATS:
                data = image_files.qemu_image(qemu, subformat, size_mb,
                                              size_mb // 2)
                props = {'vmware_adaptertype': 'lsiLogic'}
                if disk_format == 'vmdk':
                    props['vmware_disktype'] = 'streamOptimized'
                image = self.images.add(data, disk_format=disk_format,
                                        **props)
                put = self.put_rate(data)
                instance = self.make_instance()
                tracemalloc.start()
                start = time.monotonic()
                with self.session.calls.scope() as scope:
                    self.spawn(instance, image)
                elapsed = time.monotonic() - start
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                child = max(peaks) / 1e3 if peaks else 0
                del peaks[:]
                rows.append((label, '%.1f' % (len(data) / 1e6), scope.total,
                             '%.2f' % elapsed,
                             '%.1f' % (len(data) / 1e6 / elapsed),
                             '%.1f' % put, '%.1f MB' % (peak / 1e6),
                             '%.1f MB' % child if child else '-'))

    harness.run_case(Bench)
    return [('format', 'image MB', 'SOAP calls', 'seconds', 'MB/s',
             'HTTP PUT MB/s', 'python peak', 'qemu-img peak RSS')] + rows


if __name__ == '__main__':
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size-mb', type=int, default=32)
    args = parser.parse_args()
    from bench import run
    run._table('Uncached spawn per image format (%d MiB virtual disk)'
               % args.size_mb, bench_formats(args.size_mb))
