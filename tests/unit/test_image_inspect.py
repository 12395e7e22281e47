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

"""images/inspect.py against real images made by qemu-img and genisoimage."""

import dataclasses
import os
from typing import Optional

import fixtures
from oslo_vmware import exceptions as vexc
import testtools

from nova_vmware_ext.images import inspect
from tests import image_files

MiB = 1024 * 1024
GLANCE_CHUNK = 64 * 1024
RANDOM = os.urandom(MiB)


class Images(object):
    """Real images of every kind, by name."""

    @staticmethod
    def get():
        return {
            'streamOptimized': image_files.stream_optimized(),
            'sparse': image_files.monolithic_sparse(),
            'qcow2': image_files.qemu_image('qcow2'),
            'vhd': image_files.qemu_image('vpc'),
            'vhdx': image_files.qemu_image('vhdx'),
            'vdi': image_files.qemu_image('vdi'),
            'iso': image_files.iso_image(),
            'raw': RANDOM,
            'mbr': image_files.mbr_disk(),
            'gpt': image_files.mbr_disk(gpt=True),
            'huge': image_files.with_capacity(
                image_files.stream_optimized(), 2 ** 40),
            'passwd': image_files.with_extent(
                image_files.monolithic_sparse(), '/etc/passwd'),
        }


@dataclasses.dataclass(frozen=True)
class Source:
    image_id: str = 'img-1'
    disk_format: str = 'vmdk'
    disk_type: str = 'preallocated'
    size: int = 0
    virtual_size: Optional[int] = None


def chunks(data, size=GLANCE_CHUNK):
    for offset in range(0, len(data), size):
        yield data[offset:offset + size]


def consume(stream):
    """Bytes yielded by ``stream``."""
    return sum(len(chunk) for chunk in stream)


def judge(data, disk_type='preallocated', disk_format='vmdk', limits=None,
          size=None, stream=None, **kwargs):
    source = Source(disk_format=disk_format, disk_type=disk_type,
                    size=len(data) if size is None else size, **kwargs)
    return inspect.judge(source, stream if stream is not None
                         else chunks(data), limits or inspect.Limits())


class TableTest(testtools.TestCase):
    """Each (disk_format, disk_type) pair takes its format, refuses others."""

    def setUp(self):
        super().setUp()
        self.images = Images.get()

    def accept(self, kind, disk_type, disk_format='vmdk'):
        data = self.images[kind]
        stream = judge(data, disk_type, disk_format)
        self.assertEqual(data, b''.join(stream))
        return stream.verdict

    def refuse(self, kind, disk_type, disk_format='vmdk'):
        return self.assertRaises(inspect.ImageRefused, judge,
                                 self.images[kind], disk_type, disk_format)

    def test_stream_optimized_vmdk(self):
        verdict = self.accept('streamOptimized', 'streamOptimized')
        self.assertEqual(('vmdk', 'streamoptimized', 4 * MiB),
                         (verdict.format, verdict.subformat,
                          verdict.virtual_size))

    def test_monolithic_sparse_vmdk(self):
        verdict = self.accept('sparse', 'sparse')
        self.assertEqual(('vmdk', 'monolithicsparse', 4 * MiB),
                         (verdict.format, verdict.subformat,
                          verdict.virtual_size))

    def test_flat_disks_are_raw_or_a_partitioned_whole_disk(self):
        for disk_type in ('thin', 'preallocated', 'eagerZeroedThick'):
            verdict = self.accept('raw', disk_type)
            self.assertEqual(('raw', MiB),
                             (verdict.format, verdict.virtual_size))
        self.assertEqual('gpt', self.accept('mbr', 'thin').format)
        self.assertEqual('gpt', self.accept('gpt', 'preallocated').format)

    def test_iso(self):
        verdict = self.accept('iso', None, 'iso')
        self.assertEqual('iso', verdict.format)
        self.assertEqual(len(self.images['iso']), verdict.virtual_size)

    def test_other_formats_labelled_vmdk_are_refused_naming_both(self):
        for kind in ('qcow2', 'vhd', 'vhdx', 'vdi', 'iso'):
            for disk_type in ('streamOptimized', 'thin'):
                exc = self.refuse(kind, disk_type)
                self.assertIn('vmware_disktype %s' % disk_type, str(exc))
                self.assertIn('bytes are %s' % kind, str(exc))

    def test_vmdk_kinds_are_not_interchangeable(self):
        exc = self.refuse('sparse', 'streamOptimized')
        self.assertIn('must be a streamOptimized VMDK, but its bytes are '
                      'vmdk (monolithicsparse)', str(exc))
        exc = self.refuse('streamOptimized', 'sparse')
        self.assertIn('bytes are vmdk (streamoptimized)', str(exc))
        exc = self.refuse('streamOptimized', 'thin')
        self.assertIn('must be a bare disk extent', str(exc))

    def test_random_bytes_are_no_vmdk_and_no_iso(self):
        for disk_type in ('streamOptimized', 'sparse'):
            exc = self.refuse('raw', disk_type)
            self.assertIn('bytes are raw', str(exc))
        exc = self.refuse('raw', None, 'iso')
        self.assertIn('must be an ISO 9660 or UDF image, but its bytes are '
                      'raw', str(exc))

    def test_random_bytes_as_flat_disk_must_be_whole_sectors(self):
        exc = self.assertRaises(inspect.ImageRefused, judge,
                                os.urandom(MiB + 100), 'thin')
        self.assertIn('512-byte sectors; 1048676 bytes is not', str(exc))

    def test_label_without_a_rule(self):
        exc = self.refuse('qcow2', 'thin', 'ploop')
        self.assertIn('no rule says what disk_format ploop', str(exc))

    def test_formats_converted_to_vmdk_whatever_their_disk_type(self):
        for kind, disk_format, size in (
                ('qcow2', 'qcow2', 4 * MiB), ('vhdx', 'vhdx', 4 * MiB),
                ('vdi', 'vdi', 4 * MiB), ('raw', 'raw', MiB),
                ('gpt', 'raw', MiB)):
            for disk_type in ('preallocated', 'streamOptimized'):
                verdict = self.accept(kind, disk_type, disk_format)
                self.assertEqual(size, verdict.virtual_size, kind)
                self.assertIn(verdict.format,
                              inspect.CONVERTIBLE[disk_format].formats)
        self.assertEqual('vhd', self.accept('vhd', 'thin', 'vhd').format)

    def test_converted_formats_must_be_what_they_say(self):
        exc = self.refuse('qcow2', 'preallocated', 'raw')
        self.assertIn('labelled disk_format raw, which must be a raw disk '
                      '(raw, MBR or GPT), but its bytes are qcow2', str(exc))
        exc = self.refuse('vhdx', 'preallocated', 'vhd')
        self.assertIn('but its bytes are vhdx', str(exc))
        exc = self.refuse('raw', 'preallocated', 'qcow2')
        self.assertIn('must be a qcow2 image, but its bytes are raw',
                      str(exc))


class SafetyTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # What the code logs goes with the test's details, not stderr.
        self.useFixture(fixtures.FakeLogger())
        self.images = Images.get()

    def test_descriptor_extent_naming_a_host_file_is_refused(self):
        exc = self.assertRaises(inspect.ImageRefused, judge,
                                self.images['passwd'], 'sparse')
        self.assertIn('safety checks: descriptor: Invalid extent filenames',
                      str(exc))

    def test_qcow2_naming_another_file_is_refused(self):
        for what, check in (('backing', 'backing_file'),
                            ('data_file', 'data_file')):
            exc = self.assertRaises(inspect.ImageRefused, judge,
                                    image_files.qcow2_with(what),
                                    disk_format='qcow2')
            self.assertIn('the qcow2 image fails the format inspector\'s '
                          'safety checks: %s' % check, str(exc))

    def test_descriptor_alone_is_refused(self):
        text = (b'# Disk DescriptorFile\nversion=1\n'
                b'createType="streamOptimized"\nRW 8 SPARSE "disk.vmdk"\n')
        exc = self.assertRaises(inspect.ImageRefused, judge, text,
                                'streamOptimized')
        self.assertIn('VMDK descriptor (text) without the sparse extent',
                      str(exc))

    def test_footer_is_checked_at_the_end_of_the_stream(self):
        # Longer than the head, so that its footer comes after it.
        data = self.images['streamOptimized']
        data = data[:-1536] + b'\0' * (3 * MiB) + data[-1536:]
        good = image_files.with_footer(data)
        self.assertEqual(len(data), consume(judge(good, 'streamOptimized')))
        broken = image_files.with_footer(data, end_of_stream=b'\x01' * 512)
        stream = judge(broken, 'streamOptimized')  # the head passes
        exc = self.assertRaises(inspect.ImageRefused, consume, stream)
        self.assertIn('footer: End-of-stream marker is invalid', str(exc))

    def test_footer_of_a_small_image_is_checked_with_its_head(self):
        data = self.images['streamOptimized']
        good = image_files.with_footer(data)
        self.assertEqual(len(data), consume(judge(good, 'streamOptimized')))
        broken = image_files.with_footer(data, end_of_stream=b'\x01' * 512)
        exc = self.assertRaises(inspect.ImageRefused, judge, broken,
                                'streamOptimized')
        self.assertIn('footer: End-of-stream marker is invalid', str(exc))


class SizeTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.images = Images.get()

    def test_huge_capacity_is_refused_without_a_flavor_bound(self):
        exc = self.assertRaises(inspect.ImageRefused, judge,
                                self.images['huge'], 'streamOptimized',
                                limits=inspect.Limits(root_disk=0))
        self.assertIn('disk of %d bytes is larger than vSphere' % 2 ** 49,
                      str(exc))

    def test_disk_larger_than_the_flavor(self):
        exc = self.assertRaises(inspect.LargerThanFlavor, judge,
                                self.images['streamOptimized'],
                                'streamOptimized',
                                limits=inspect.Limits(root_disk=2 * MiB))
        self.assertEqual((4 * MiB, 2 * MiB), (exc.disk_size, exc.root_disk))

    def test_disk_larger_than_the_datastore_free_space(self):
        exc = self.assertRaises(inspect.ImageRefused, judge,
                                self.images['raw'], 'thin',
                                limits=inspect.Limits(datastore_free=MiB - 1))
        self.assertIn('needs %d bytes, the datastore has %d free'
                      % (MiB, MiB - 1), str(exc))

    def test_glance_virtual_size_must_match_the_header(self):
        exc = self.assertRaises(inspect.ImageRefused, judge,
                                self.images['streamOptimized'],
                                'streamOptimized', virtual_size=8 * MiB)
        self.assertIn('disk of %d bytes, Glance says %d' % (4 * MiB, 8 * MiB),
                      str(exc))
        stream = judge(self.images['streamOptimized'], 'streamOptimized',
                       virtual_size=4 * MiB)
        self.assertEqual(4 * MiB, stream.verdict.virtual_size)

    def test_zero_length_image(self):
        exc = self.assertRaises(inspect.ImageRefused, judge, b'', 'thin')
        self.assertIn('the image is empty', str(exc))

    def test_stream_ending_in_its_head_before_glance_size(self):
        data = self.images['streamOptimized']
        exc = self.assertRaises(vexc.ImageTransferException, judge,
                                data[:1000], 'streamOptimized',
                                size=len(data))
        self.assertIn('ended after 1000 of %d bytes' % len(data), str(exc))

    def test_stream_ending_after_its_head_before_glance_size(self):
        data = self.images['raw'] * 3
        stream = judge(data[:-MiB], 'thin', size=len(data))
        exc = self.assertRaises(vexc.ImageTransferException, consume, stream)
        self.assertIn('ended after %d of %d bytes' % (2 * MiB, 3 * MiB),
                      str(exc))

    def test_stream_longer_than_glance_size(self):
        data = self.images['raw'] * 3
        stream = judge(data, 'thin', size=len(data) - MiB)
        exc = self.assertRaises(vexc.ImageTransferException, consume, stream)
        self.assertIn('more than the %d bytes' % (2 * MiB), str(exc))


class StreamTest(testtools.TestCase):

    def test_head_is_bounded_and_glance_stream_closed_on_refusal(self):
        pulled = []

        class Glance(object):
            closed = False

            def __iter__(self):
                return self

            def __next__(self):
                if len(pulled) >= 100:
                    raise StopIteration
                pulled.append(1)
                return b'QFI\xfb' + b'\0' * (MiB - 4)

            def close(self):
                Glance.closed = True

        glance = Glance()
        self.assertRaises(inspect.ImageRefused, judge, b'', 'thin',
                          size=100 * MiB, stream=glance)
        self.assertEqual(inspect.HEAD_BYTES // MiB, len(pulled))
        self.assertTrue(Glance.closed)
