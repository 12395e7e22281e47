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

"""Bench row for issue 9: a Glance-backed image (Glance's VMware store
keeps it on a datastore the cluster mounts), its cache filled by a copy
inside vSphere against the same image streamed through nova-compute, in
SOAP calls, wall time and bytes through nova-compute.

    python bench/glance_copy.py [--mb 64]       (also part of bench/run.py)

Glance's file is put where glance_store puts it (``[LocalDS_1]
openstack_glance/<id>``); the streamed fill is the same image on a compute
whose Glance exposes no locations. Counted on a compute that has spawned
before; vcsim copies a file as fast as its disk, a vCenter at datastore
speed: the bytes through nova-compute are the figure that carries over.
"""

import argparse
import os
import sys
import time

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _kinds(size_mb):
    from tests import image_files
    return [
        ('flat (thin)', lambda: os.urandom(size_mb * 1024 * 1024), 'thin'),
        ('sparse', lambda: image_files.qemu_image(
            'vmdk', 'monolithicSparse', size_mb=size_mb,
            random_mb=size_mb // 2), 'sparse'),
    ]


def bench_glance_copy(size_mb=64):
    """[(kind, file MB, path, calls, seconds, MB through nova-compute)]."""
    from bench import harness

    from tests.functional import test_driver_glance_datastore as tgd

    rows = []

    class Bench(tgd.GlanceDatastoreTestBase):

        def measure(self, image):
            http = self.http
            self.spawn(self.make_instance(), self.flat)
            instance = self.make_instance()
            http.sent = http.received = self.images.downloaded = 0
            start = time.monotonic()
            with self.session.calls.scope() as scope:
                self.spawn(instance, image)
            elapsed = time.monotonic() - start
            crossed = self.images.downloaded + http.sent + http.received
            return scope.total, elapsed, crossed

        def test_measure(self):
            for kind, make, disk_type in _kinds(size_mb):
                data = make()
                copied = self.glance_image(data, disk_type)
                streamed = self.images.add(data, vmware_disktype=disk_type)
                for path, image in (('datastore copy', copied),
                                    ('HTTP stream', streamed)):
                    calls, seconds, crossed = self.measure(image)
                    rows.append((kind, '%.1f' % (len(data) / 1e6), path,
                                 calls, '%.2f' % seconds,
                                 '%.2f' % (crossed / 1e6)))

    harness.run_case(Bench)
    return rows


HEADER = ('image kind', 'file MB', 'fill', 'SOAP calls', 'seconds',
          'MB in + out of nova-compute')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mb', type=int, default=64)
    args = parser.parse_args()
    from bench import run
    run._table('Glance-backed image: datastore copy vs HTTP stream (uncached '
               'spawn, login excluded)', [HEADER] + bench_glance_copy(args.mb))


if __name__ == '__main__':
    main()
