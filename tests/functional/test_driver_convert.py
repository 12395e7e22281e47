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

"""Spawn from qcow2, raw, VHD, VHDX and VDI images: converted with qemu-img
into the image cache, on vcsim.

Every image is a real one made by qemu-img; every outcome is checked through
an independent pyvmomi query and the datastore's /folder listing, and the
local conversion directory must be empty after success and failure.
"""

import collections
import os
import subprocess

import fixtures
from nova import exception
from pyVmomi import vim

from nova_vmware_ext.images import convert
from tests.functional import test_driver_spawn
from tests import image_files

MiB = 1024 * 1024
DiskUsage = collections.namedtuple('DiskUsage', 'total used free')


class ConvertTestBase(test_driver_spawn.SpawnTestBase):

    VCSIM_SHAPE = dict(hosts=1, datastores=1, portgroups=1)

    def setUp(self):
        super().setUp()
        self.work_dir = self.useFixture(fixtures.TempDir()).path
        self.driver._host.spawner.root_disks.converter.work_dir = (
            self.work_dir)
        self.addCleanup(self.assert_work_dir_empty)

    def assert_work_dir_empty(self):
        self.assertEqual([], os.listdir(self.work_dir))

    def cache_listing(self, image_id):
        """Names in the image's cache folder, read over /folder."""
        folder = '[LocalDS_0] %s/%s/' % (
            self.driver._host.cache_folder, image_id)
        text = self.datastore_file(folder)
        return text.decode() if text is not None else None

    def root_backing(self, instance):
        vm = self.vm(instance)
        self.assertIsNotNone(vm, 'no VM for %s' % instance.uuid)
        disks = self.disks(vm)
        self.assertEqual(1, len(disks))
        return disks[0]


class ConvertSpawnTest(ConvertTestBase):

    def setUp(self):
        super().setUp()
        self.qemu_img = self.useFixture(fixtures.MockPatchObject(
            convert, '_execute', wraps=convert._execute)).mock

    def qemu_img_runs(self, verb):
        return [c[0][0] for c in self.qemu_img.call_args_list
                if c[0][0][1] == verb]

    def assert_same_disk(self, disk_format, data, cached_vmdk):
        """qemu-img compares the image with the cached VMDK: the same
        disk content."""
        tmp = self.useFixture(fixtures.TempDir()).path
        original = os.path.join(tmp, 'original')
        cached = os.path.join(tmp, 'cached.vmdk')
        for path, content in ((original, data), (cached, cached_vmdk)):
            with open(path, 'wb') as f:
                f.write(content)
        result = subprocess.run(
            ['qemu-img', 'compare', '-f', convert.QEMU_FORMATS[disk_format],
             '-F', 'vmdk', original, cached], capture_output=True)
        self.assertEqual(0, result.returncode, result.stdout + result.stderr)

    def _spawn_converted(self, disk_format, data, virtual_size):
        image = self.images.add(data, disk_format=disk_format,
                                vmware_adaptertype='lsiLogic')
        instance = self.make_instance()
        self.spawn(instance, image)
        disk = self.root_backing(instance)
        parent = disk.backing.parent
        self.assertIsNotNone(parent, 'root disk is not a linked clone')
        self.assertEqual(
            '[LocalDS_0] _base/%s/%s.vmdk' % (image.id, image.id),
            parent.fileName)
        self.assertEqual(virtual_size // 1024, disk.capacityInKB)
        self.assertEqual(1, self.images.downloads[image.id])
        vm = self.vm(instance)
        self.assertEqual('poweredOn', vm['runtime.powerState'])
        # The cache holds the streamOptimized VMDK qemu-img made (vcsim
        # keeps an imported disk's bytes as they came), with the image's
        # content.
        cached = self.datastore_file(parent.fileName)
        self.assertEqual(b'KDMV', cached[:4])
        self.assertIn(b'createType="streamOptimized"', cached[:4096])
        self.assert_same_disk(disk_format, data, cached)
        self.assertEqual(1, len(self.qemu_img_runs('convert')))
        return image

    def test_qcow2(self):
        image = self._spawn_converted(
            'qcow2', image_files.qemu_image('qcow2'), 4 * MiB)
        self.assertEqual(1, len(self.qemu_img_runs('check')))
        # A second spawn uses the cache: no download, no conversion.
        self.spawn(self.make_instance(display_name='vm-two'),
                   image)
        self.assertEqual(1, self.images.downloads[image.id])
        self.assertEqual(1, len(self.qemu_img_runs('convert')))

    def test_raw(self):
        self._spawn_converted('raw', os.urandom(MiB) + b'\0' * MiB, 2 * MiB)
        # qemu-img has no check of raw images.
        self.assertEqual([], self.qemu_img_runs('check'))

    def test_vhd(self):
        data = image_files.qemu_image('vpc')
        self._spawn_converted('vhd', data, _vhd_size(data))

    def test_vhdx(self):
        self._spawn_converted('vhdx', image_files.qemu_image('vhdx'),
                              4 * MiB)

    def test_vdi(self):
        self._spawn_converted('vdi', image_files.qemu_image('vdi'), 4 * MiB)

    def test_two_computes_convert_once(self):
        other = self.second_compute()
        other._host.spawner.root_disks.converter.work_dir = self.work_dir
        image = self.images.add(image_files.qemu_image('qcow2'),
                                disk_format='qcow2')
        first, second = self.spawn_on_both(other, image)
        self.assertEqual(1, self.images.downloads[image.id])
        self.assertEqual(1, len(self.qemu_img_runs('convert')))
        for instance in (first, second):
            self.assertEqual('poweredOn',
                             self.vm(instance)['runtime.powerState'])


def _vhd_size(data):
    """A VHD's disk size: its footer's current size (big endian)."""
    return int.from_bytes(data[-512 + 48:-512 + 56], 'big')


class ConvertRefusedTest(ConvertTestBase):
    """Each bad image: a clear error naming it, no VM, no cache entry, no
    temporary folder on the datastore, nothing in the local directory."""

    def assert_refused(self, error, image, *expected, instance=None):
        before = set(self.query(vim.VirtualMachine, ['name']))
        exc = self.assertRaises(error, self.driver.spawn, self.context,
                                instance or self.make_instance(), image, [],
                                None, {}, [])
        if error is not exception.FlavorDiskSmallerThanImage:
            # (Nova's message for that one names the sizes only.)
            self.assertIn(image.id, str(exc))
        for text in expected:
            self.assertIn(text, str(exc))
        self.assertEqual(before, set(self.query(vim.VirtualMachine,
                                                ['name'])))
        self.assertIsNone(self.cache_listing(image.id))
        self.assert_work_dir_empty()
        return exc

    def test_qcow2_labelled_raw(self):
        image = self.images.add(image_files.qemu_image('qcow2'),
                                disk_format='raw')
        self.assert_refused(exception.ImageUnacceptable, image,
                            'must be a raw disk', 'bytes are qcow2')

    def refused_label(self, data_format, label, found):
        # The bytes decide: refused before anything is written, naming
        # the label and what the bytes are.
        image = self.images.add(image_files.qemu_image(data_format),
                                disk_format=label)
        self.assert_refused(exception.ImageUnacceptable, image,
                            'labelled disk_format %s' % label,
                            'bytes are %s' % found)

    def test_vhd_labelled_vhdx(self):
        self.refused_label('vpc', 'vhdx', 'vhd')

    def test_vhdx_labelled_vdi(self):
        self.refused_label('vhdx', 'vdi', 'vhdx')

    def test_vdi_labelled_vhd(self):
        self.refused_label('vdi', 'vhd', 'vdi')

    def test_raw_labelled_qcow2(self):
        self.refused_label('raw', 'qcow2', 'raw')

    def test_qcow2_with_a_backing_file(self):
        image = self.images.add(qcow2_with_backing_file(), disk_format='qcow2')
        self.assert_refused(exception.ImageUnacceptable, image,
                            'safety checks', 'backing_file')

    def test_qcow2_with_a_data_file(self):
        image = self.images.add(qcow2_with_data_file(), disk_format='qcow2')
        self.assert_refused(exception.ImageUnacceptable, image,
                            'safety checks', 'data_file')

    def test_raw_not_whole_sectors(self):
        image = self.images.add(os.urandom(MiB + 100), disk_format='raw')
        self.assert_refused(exception.ImageUnacceptable, image,
                            '512-byte sectors')

    def test_disk_larger_than_the_flavor(self):
        image = self.images.add(image_files.qemu_image('qcow2', size_mb=2048),
                                disk_format='qcow2')
        self.assert_refused(exception.FlavorDiskSmallerThanImage, image,
                            'image is 2147483648 bytes',
                            instance=self.make_instance(root_gb=1))

    def test_truncated_qcow2(self):
        data = image_files.qemu_image('qcow2', size_mb=8, random_mb=4)
        image = self.images.add(data[:len(data) // 2], disk_format='qcow2')
        self.assert_refused(exception.ImageUnacceptable, image,
                            'qemu-img check finds the qcow2 image corrupt')

    def test_qcow2_with_corrupt_metadata(self):
        # The first L2 table's offset points far beyond the file's end.
        data = bytearray(image_files.qemu_image('qcow2'))
        l1_offset = int.from_bytes(data[40:48], 'big')
        data[l1_offset:l1_offset + 8] = (
            (1 << 63) | (1 << 40)).to_bytes(8, 'big')
        image = self.images.add(bytes(data), disk_format='qcow2')
        self.assert_refused(exception.ImageUnacceptable, image,
                            'qemu-img check finds the qcow2 image corrupt')

    def test_qcow2_whose_data_cannot_be_read(self):
        image = self.images.add(image_files.qcow2_with_bad_compressed_data(),
                                disk_format='qcow2')
        self.assert_refused(exception.ImageUnacceptable, image,
                            'qemu-img cannot convert it from qcow2',
                            'Input/output error')

    def test_no_local_space(self):
        self.useFixture(fixtures.MockPatch(
            'shutil.disk_usage', return_value=DiskUsage(10 * MiB, 9 * MiB,
                                                        MiB)))
        image = self.images.add(image_files.qemu_image('qcow2'),
                                disk_format='qcow2')
        self.assert_refused(exception.InstanceDeployFailure, image,
                            'needs', 'which has %d free' % MiB)
        self.assertEqual(0, self.images.downloads[image.id] - 1)

    def test_qemu_img_missing(self):
        self.useFixture(fixtures.MockPatchObject(
            convert, 'QEMU_IMG', '/nonexistent/qemu-img'))
        image = self.images.add(image_files.qemu_image('qcow2'),
                                disk_format='qcow2')
        self.assert_refused(exception.InstanceDeployFailure, image,
                            '/nonexistent/qemu-img is not installed')
        self.assertEqual(0, self.images.downloads[image.id])


def qcow2_with_backing_file():
    return image_files.qcow2_with('backing')


def qcow2_with_data_file():
    return image_files.qcow2_with('data_file')
