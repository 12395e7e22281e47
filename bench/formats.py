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

"""Bench rows for issue 9: an uncached spawn per image format (VMDK flat,
sparse and streamOptimized, qcow2, raw, VHD, VHDX, VDI, OVA) in SOAP calls,
wall time, MB/s against a plain HTTP PUT of the same bytes to the same
simulator in the same run, and peak memory, at two disk sizes.

    python bench/formats.py [--sizes 64,512]     (also part of bench/run.py)

Each image is made by qemu-img from one raw disk whose first half is
random (incompressible) and the rest zeroes, and is served by a fake Glance
that streams it from a local file, so the process holds no image in memory
and its peak resident set shows what a spawn costs: ``peak RSS +`` is the
largest resident set during the spawn (Linux VmHWM, reset before it through
/proc/self/clear_refs) minus the resident set before it. Memory that does
not grow with the image is constant memory. qemu-img's own peak (GNU time's
%M) is given for the converted formats. MB/s is the image's bytes over the
spawn's wall time; the PUT baseline sends the same bytes over /folder with
the driver's HTTP client. Calls are counted on a compute that has spawned
(and imported) before; the lock's removal ends during CreateVM's wait.
"""

import argparse
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MiB = 1024 * 1024

# (label, Glance disk_format, image properties, how the file is made)
KINDS = (
    ('vmdk flat (thin)', 'vmdk', {'vmware_disktype': 'thin'}, 'raw'),
    ('vmdk sparse', 'vmdk', {'vmware_disktype': 'sparse'},
     ('vmdk', 'monolithicSparse')),
    ('vmdk streamOptimized', 'vmdk', {'vmware_disktype': 'streamOptimized'},
     ('vmdk', 'streamOptimized')),
    ('qcow2', 'qcow2', {}, ('qcow2', None)),
    ('raw', 'raw', {}, 'raw'),
    ('vhd', 'vhd', {}, ('vpc', None)),
    ('vhdx', 'vhdx', {}, ('vhdx', None)),
    ('vdi', 'vdi', {}, ('vdi', None)),
    ('ova (streamOptimized disk)', 'vmdk', {}, 'ova'),
)
HEADER = ('image', 'disk MiB', 'image MB', 'SOAP calls', 'seconds', 'MB/s',
          'plain PUT MB/s', 'peak RSS +', 'qemu-img peak RSS')


def _memory(field):
    """A /proc/self/status field in MB (VmRSS, VmHWM)."""
    with open('/proc/self/status') as f:
        kb = int(re.search(r'%s:\s+(\d+)' % field, f.read()).group(1))
    return kb / 1e3


def _reset_peak():
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


def make_image(tmp, how, size_mb):
    """A file in ``tmp`` holding the image: ``size_mb`` MiB of disk, its
    first half random."""
    raw = os.path.join(tmp, 'disk.raw')
    with open(raw, 'wb') as f:
        for _ in range(size_mb // 2):
            f.write(os.urandom(MiB))
        f.truncate(size_mb * MiB)
    if how == 'raw':
        return raw
    fmt, subformat = ('vmdk', 'streamOptimized') if how == 'ova' else how
    out = os.path.join(tmp, 'disk.out')
    options = ['-o', 'subformat=%s' % subformat] if subformat else []
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', fmt] +
                   options + [raw, out], check=True)
    os.unlink(raw)
    if how == 'ova':
        return _ova(tmp, out)
    return out


def _ova(tmp, vmdk):
    """An OVA of the descriptor and the disk (streamed into the tar)."""
    from tests import ova_files
    descriptor = ova_files.ovf(size=os.path.getsize(vmdk))
    path = os.path.join(tmp, 'image.ova')
    with tarfile.open(path, 'w', format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo('vm.ovf')
        info.size = len(descriptor)
        tar.addfile(info, io.BytesIO(descriptor))
        tar.add(vmdk, 'vm-disk1.vmdk')
    os.unlink(vmdk)
    return path


def bench_formats(sizes=(64, 512)):
    """Rows (see HEADER) of an uncached spawn per image kind and size."""
    import fixtures
    from nova import objects
    from oslo_utils import uuidutils

    from bench import harness
    from nova_vmware_ext.images import convert
    from nova_vmware_ext.vsphere import files as vfiles
    from nova_vmware_ext.vsphere import transfer
    from tests.functional import test_driver_spawn as tds
    from tests import vcsim

    rows = []

    class FileImages(tds.FakeImageAPI):
        """Glance streaming each image from a local file."""

        def add_file(self, path, disk_format, container_format, props):
            image_id = uuidutils.generate_uuid()
            self.data[image_id] = path
            return objects.ImageMeta.from_dict({
                'id': image_id, 'name': 'bench-%s' % image_id[:8],
                'disk_format': disk_format,
                'container_format': container_format,
                'size': os.path.getsize(path), 'properties': props})

        def download(self, context, image_id):
            self.downloads[image_id] += 1
            if isinstance(self.data[image_id], bytes):
                return super().download(context, image_id)
            return transfer.file_chunks(self.data[image_id])

    class Bench(tds.SpawnTestBase):
        VCSIM_SHAPE = dict(hosts=1, datastores=1, portgroups=1)

        def put_rate(self, path):
            http = transfer.HttpClient(self.session)
            url = vcsim.datastore_url(self.vcsim, 'bench-put.img',
                                      datastore='LocalDS_0')
            start = time.monotonic()
            http.put(url, transfer.file_chunks(path), os.path.getsize(path),
                     'bench put')
            elapsed = time.monotonic() - start
            self.driver._host.cache.delete(
                vfiles.DatastorePath('LocalDS_0', 'bench-put.img'))
            return os.path.getsize(path) / 1e6 / elapsed

        def measure_qemu_img(self):
            """qemu-img under GNU time: the peak RSS (KB) of its runs."""
            peaks, real = [], convert._execute

            def timed(argv, *args, **kwargs):
                out, err = real(('/usr/bin/time', '-f', 'maxrss=%M')
                                + tuple(argv), *args, **kwargs)
                peaks.append(int(err.rsplit('maxrss=', 1)[1].split()[0]))
                return out, err
            self.useFixture(fixtures.MockPatchObject(convert, '_execute',
                                                     timed))
            return peaks

        def spawn_one(self, label, disk_format, props, how, size_mb, peaks):
            with tempfile.TemporaryDirectory() as tmp:
                path = make_image(tmp, how, size_mb)
                image = self.images.add_file(
                    path, disk_format, 'ova' if how == 'ova' else 'bare',
                    dict(props, vmware_adaptertype='lsiLogic'))
                put = self.put_rate(path)
                instance = self.make_instance()
                before = _memory('VmRSS')
                _reset_peak()
                start = time.monotonic()
                with self.session.calls.scope() as scope:
                    self.spawn(instance, image)
                elapsed = time.monotonic() - start
                peak = _memory('VmHWM') - before
                size = os.path.getsize(path) / 1e6
            child = max(peaks) / 1e3 if peaks else 0
            del peaks[:]
            rows.append((label, size_mb, '%.1f' % size, scope.total,
                         '%.2f' % elapsed, '%.1f' % (size / elapsed),
                         '%.1f' % put, '%.1f MB' % max(peak, 0),
                         '%.1f MB' % child if child else '-'))

        def test_measure(self):
            self.images = FileImages()
            self.driver._host.spawner.image_api = self.images
            # A running compute: it has spawned, and imported, before.
            warm = self.images.add(tds.stream_optimized_vmdk(4),
                                   vmware_disktype='streamOptimized')
            self.spawn(self.make_instance(), warm)
            peaks = self.measure_qemu_img()
            for size_mb in sizes:
                for label, disk_format, props, how in KINDS:
                    self.spawn_one(label, disk_format, props, how, size_mb,
                                   peaks)

    harness.run_case(Bench)
    return [HEADER] + rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', default='64,512',
                        help='virtual disk sizes in MiB, comma separated')
    args = parser.parse_args()
    from bench import run
    sizes = [int(n) for n in args.sizes.split(',') if n]
    run._table('Uncached spawn per image format', bench_formats(sizes))


if __name__ == '__main__':
    main()
