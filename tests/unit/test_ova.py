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

"""OVA images: the tar streamed, its OVF read, hostile archives refused."""

import dataclasses
import gzip
import tarfile
import tracemalloc

import fixtures
from nova import exception
from nova import objects
import testtools

from nova_vmware_ext.compute import image_meta as vimage
from nova_vmware_ext.compute import root_disks
from nova_vmware_ext.compute import specs
from nova_vmware_ext.images import fetch
from nova_vmware_ext.images import inspect
from nova_vmware_ext.images import ova
from tests import image_files
from tests import ova_files

MiB = 1024 * 1024
IMAGE_ID = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0'

objects.register_all()


def _chunks(data, size=10000):
    return iter([data[i:i + size] for i in range(0, len(data), size)])


class _Glance(object):
    """Glance's stream of one image, counting opens and closes."""

    def __init__(self, data):
        self.data = data
        self.opened = self.closed = 0

    def __call__(self):
        self.opened += 1
        return self._stream()

    def _stream(self):
        try:
            yield from _chunks(self.data)
        finally:
            self.closed += 1


def _source(data, image_id=IMAGE_ID):
    glance = _Glance(data)
    return glance, fetch.ImageSource(image_id, len(data), 'preallocated',
                                     'lsiLogic', glance, disk_format='vmdk')


class ParseOvfTest(testtools.TestCase):

    def test_vsphere_export_descriptor(self):
        hardware = ova.parse_ovf('i', ova_files.ovf(size=10))
        self.assertEqual(ova.OvfHardware(
            disk_href='vm-disk1.vmdk', disk_format=ova_files.DISK_FORMAT,
            adapter_type='paraVirtual', guest_id='centos8_64Guest',
            vif_model='vmxnet3', num_cpus=2, memory_mb=1024), hardware)

    def test_controller_and_nic_kinds(self):
        for scsi, adapter in (('lsilogic', 'lsiLogic'),
                              ('buslogic', 'busLogic'),
                              ('lsilogicsas', 'lsiLogicsas'),
                              ('unknown', None)):
            self.assertEqual(adapter, ova.parse_ovf(
                'i', ova_files.ovf(scsi=scsi)).adapter_type)
        for nic, model in (('E1000', 'e1000'), ('E1000e', 'e1000e'),
                           ('PCNet32', 'pcnet'), ('Foo', None)):
            self.assertEqual(model, ova.parse_ovf(
                'i', ova_files.ovf(nic=nic)).vif_model)

    def test_ide_and_sata_controllers(self):
        xml = ova_files.ovf().replace(
            b'<rasd:ResourceType>6</rasd:ResourceType>',
            b'<rasd:ResourceType>5</rasd:ResourceType>')
        self.assertEqual('ide', ova.parse_ovf('i', xml).adapter_type)
        xml = ova_files.ovf(scsi='vmware.sata.ahci').replace(
            b'<rasd:ResourceType>6</rasd:ResourceType>',
            b'<rasd:ResourceType>20</rasd:ResourceType>')
        self.assertEqual('sata', ova.parse_ovf('i', xml).adapter_type)

    def test_memory_units(self):
        xml = ova_files.ovf(memory=2).replace(b'byte * 2^20</rasd:Alloc',
                                              b'byte * 2^30</rasd:Alloc')
        self.assertEqual(2048, ova.parse_ovf('i', xml).memory_mb)

    def _refused(self, xml, *words):
        exc = self.assertRaises(ova.ImageRefused, ova.parse_ovf, 'img', xml)
        for word in words:
            self.assertIn(word, exc.reason)
        return exc

    def test_no_disk(self):
        self._refused(ova_files.ovf(disks=0), 'declares no disk')

    def test_two_disks(self):
        self._refused(ova_files.ovf(disks=2), 'declares 2 disks',
                      'single-disk')

    def test_disk_not_stream_optimized(self):
        self._refused(ova_files.ovf(disk_format=(
            'http://www.vmware.com/interfaces/specifications/'
            'vmdk.html#sparse')), 'not a streamOptimized VMDK', '#sparse')

    def test_billion_laughs(self):
        xml = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
               b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
               b'<Envelope>&lol2;</Envelope>')
        self._refused(xml, 'DOCTYPE')

    def test_external_entity(self):
        xml = (b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM '
               b'"file:///etc/passwd">]><Envelope>&x;</Envelope>')
        self._refused(xml, 'DOCTYPE')

    def test_not_xml_and_not_ovf(self):
        self._refused(b'\x00garbage', 'not well-formed XML')
        self._refused(b'<html/>', 'not an OVF Envelope but <html>')


class OvaStreamTest(testtools.TestCase):

    def _refused(self, data, *words):
        glance, source = _source(data)
        exc = self.assertRaises(ova.ImageRefused, ova.disk_source, source)
        for word in ('the OVA is refused',) + words:
            self.assertIn(word, exc.reason)
        self.assertEqual((1, 1), (glance.opened, glance.closed))
        return exc

    def _with(self, *extra, ovf=None, before_disk=True):
        vmdk = image_files.stream_optimized()
        descriptor = ovf_member = ovf or ova_files.ovf(size=len(vmdk))
        ovf_member = ova_files.member('vm.ovf', descriptor)
        disk = ova_files.member('vm-disk1.vmdk', vmdk)
        members = ([ovf_member] + list(extra) + [disk] if before_disk
                   else [ovf_member, disk] + list(extra))
        return ova_files.ova(members)

    def test_good_ova_streams_the_disk_bytes(self):
        vmdk = image_files.stream_optimized()
        glance, source = _source(ova_files.good_ova(vmdk))
        hardware, disk = ova.disk_source(source)
        self.assertEqual('paraVirtual', hardware.adapter_type)
        self.assertEqual((len(vmdk), 'streamOptimized', None),
                         (disk.size, disk.disk_type, disk.virtual_size))
        self.assertEqual(vmdk, b''.join(disk.chunks()))
        self.assertEqual((2, 2), (glance.opened, glance.closed))
        # The disk's bytes are judged as any streamOptimized VMDK's.
        with fetch.Download(disk, inspect.Limits()) as download:
            self.assertEqual(('vmdk', 'streamoptimized', 4 * MiB), (
                download.verdict.format, download.verdict.subformat,
                download.verdict.virtual_size))
            self.assertEqual(vmdk, b''.join(download.stream()))

    def test_symlink(self):
        self._refused(self._with(ova_files.member(
            'evil', kind=tarfile.SYMTYPE, linkname='/etc/passwd')),
            "'evil' is a symbolic link")

    def test_hardlink(self):
        self._refused(self._with(ova_files.member(
            'evil', kind=tarfile.LNKTYPE, linkname='vm.ovf')),
            "'evil' is a hard link")

    def test_device_and_fifo(self):
        self._refused(self._with(ova_files.member(
            'dev', kind=tarfile.CHRTYPE)), "'dev' is a device file")
        self._refused(self._with(ova_files.member(
            'dev', kind=tarfile.BLKTYPE)), "'dev' is a device file")
        self._refused(self._with(ova_files.member(
            'pipe', kind=tarfile.FIFOTYPE)), "'pipe' is a FIFO")

    def test_paths_outside_the_archive(self):
        for name in ('/etc/cron.d/x', '../x', 'a/../../x'):
            self._refused(self._with(ova_files.member(name, b'x')),
                          '%r has a path outside the archive' % name)

    def test_descriptor_not_first(self):
        data = ova_files.ova([ova_files.member('vm.mf', b'x'),
                              ova_files.member('vm.ovf', ova_files.ovf())])
        self._refused(data, "first member 'vm.mf' is not an OVF")

    def test_disk_file_missing(self):
        data = ova_files.ova([ova_files.member('vm.ovf', ova_files.ovf(
            href='other.vmdk'))])
        self._refused(data, "names the disk file 'other.vmdk', which the "
                      "tar lacks")

    def test_ovf_without_disk(self):
        self._refused(self._with(ovf=ova_files.ovf(disks=0)),
                      'declares no disk')

    def test_not_a_tar(self):
        self._refused(image_files.stream_optimized(), 'not a tar archive')

    def test_compressed_tar(self):
        """No decompression: a gzip bomb is not a tar archive."""
        self._refused(gzip.compress(ova_files.good_ova()),
                      'not a tar archive')

    def test_empty_tar(self):
        self._refused(ova_files.ova([]), 'the tar is empty')

    def test_oversized_extended_header(self):
        info, data = ova_files.member('vm.ovf', ova_files.ovf())
        info.pax_headers = {'comment': 'x' * (ova.MAX_HEADER_BYTES + 1)}
        self._refused(ova_files.ova([(info, data)]),
                      'a tar extended header of')

    def test_oversized_descriptor(self):
        big = ova_files.ovf().replace(
            b'<References>', b'<References>' + b' ' * ova.MAX_DESCRIPTOR_BYTES)
        self._refused(self._with(ovf=big), 'its OVF descriptor is')

    def test_too_many_members(self):
        extra = [ova_files.member('f%d' % i, b'') for i in range(
            ova.MAX_MEMBERS)]
        self._refused(self._with(*extra), 'more than 100 tar members')

    def test_bad_member_after_the_disk_fails_the_disk_stream(self):
        data = self._with(ova_files.member('evil', kind=tarfile.SYMTYPE,
                                           linkname='/'), before_disk=False)
        glance, source = _source(data)
        _hardware, disk = ova.disk_source(source)
        exc = self.assertRaises(ova.ImageRefused, b''.join, disk.chunks())
        self.assertIn("'evil' is a symbolic link", exc.reason)
        self.assertEqual((2, 2), (glance.opened, glance.closed))

    def test_disk_bytes_not_stream_optimized_are_refused_by_inspection(self):
        data = ova_files.good_ova(image_files.monolithic_sparse())
        _glance, source = _source(data)
        _hardware, disk = ova.disk_source(source)
        exc = self.assertRaises(inspect.ImageRefused, fetch.Download, disk,
                                inspect.Limits())
        self.assertIn('must be a streamOptimized VMDK, but its bytes are '
                      'vmdk (monolithicsparse)', exc.reason)

    def test_manifest_of_another_disk_fails_the_disk_stream(self):
        vmdk = image_files.stream_optimized()
        digests = ova_files.manifest({'vm.ovf': ova_files.ovf(
            size=len(vmdk)), 'vm-disk1.vmdk': b'another disk'}, 'SHA1')
        _glance, source = _source(ova_files.good_ova(vmdk, digests))
        _hardware, disk = ova.disk_source(source)
        exc = self.assertRaises(ova.ImageRefused, b''.join, disk.chunks())
        self.assertIn("the SHA1 of 'vm-disk1.vmdk' is not the one its "
                      "manifest lists", exc.reason)

    def test_manifest_of_another_descriptor(self):
        digests = ova_files.manifest({'vm.ovf': b'another'})
        self._refused(ova_files.good_ova(digests=digests),
                      "the SHA256 of 'vm.ovf' is not the one its manifest")

    def test_manifest_that_is_no_manifest(self):
        self._refused(ova_files.good_ova(digests=b'hello\n'),
                      "its manifest 'vm.mf' has a line that is no digest")

    def test_constant_memory(self):
        """A 64 MiB disk streams through with a bounded peak."""
        size = 64 * MiB
        info = tarfile.TarInfo('vm-disk1.vmdk')
        info.size = size
        ovf_info, ovf_data = ova_files.member('vm.ovf', ova_files.ovf())
        head = ovf_info.tobuf() + ovf_data + bytes(-len(ovf_data) % 512)
        zero = bytes(MiB)

        def chunks():
            yield head
            yield info.tobuf()
            for _ in range(size // MiB):
                yield zero
            yield bytes(1024)
        found = ova.read_disk('big', chunks())
        self.assertEqual(size, found.size)
        tracemalloc.start()
        try:
            count = sum(len(c) for c in ova.disk_chunks('big', chunks(),
                                                        found))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        self.assertEqual(size, count)
        self.assertLess(peak, 8 * MiB)


def _image_meta(**properties):
    return objects.ImageMeta.from_dict({
        'id': IMAGE_ID, 'disk_format': 'vmdk', 'container_format': 'ova',
        'size': 10 * MiB, 'virtual_size': 10 * MiB,
        'properties': properties})


class WithOvfTest(testtools.TestCase):

    HARDWARE = ova.OvfHardware('d.vmdk', ova_files.DISK_FORMAT,
                               adapter_type='paraVirtual',
                               guest_id='centos8_64Guest',
                               vif_model='vmxnet3', num_cpus=8,
                               memory_mb=8192)

    def setUp(self):
        super().setUp()
        # What the code logs goes with the test's details, not stderr.
        self.useFixture(fixtures.FakeLogger())

    def test_ovf_hardware_where_the_image_is_silent(self):
        meta = _image_meta()
        image = vimage.with_ovf(meta, vimage.from_image_meta(meta),
                                self.HARDWARE, 1234)
        self.assertEqual(
            ('paraVirtual', 'centos8_64Guest', 'VirtualVmxnet3',
             'streamOptimized', 1234, None),
            (image.adapter_type, image.guest_id, image.vif_model,
             image.disk_type, image.size, image.virtual_size))

    def test_image_properties_win(self):
        meta = _image_meta(hw_scsi_model='lsilogic', os_distro='ubuntu',
                           hw_vif_model='e1000e')
        image = vimage.with_ovf(meta, vimage.from_image_meta(meta),
                                self.HARDWARE, 1234)
        self.assertEqual(('lsiLogic', 'ubuntu64Guest', 'VirtualE1000e'),
                         (image.adapter_type, image.guest_id,
                          image.vif_model))

    def test_unknown_ovf_guest_is_ignored(self):
        meta = _image_meta()
        hardware = ova.OvfHardware('d', 'f', guest_id='martianGuest')
        image = vimage.with_ovf(meta, vimage.from_image_meta(meta),
                                hardware, 1)
        self.assertEqual(vimage.DEFAULT_GUEST_ID, image.guest_id)

    def test_refused_ova_is_image_unacceptable(self):
        meta = _image_meta()
        data = ova_files.ova([ova_files.member(
            'vm.ovf', ova_files.ovf(disks=0))])
        _glance, source = _source(data)
        exc = self.assertRaises(
            exception.ImageUnacceptable, root_disks.RootDisks.open_ova, meta,
            vimage.from_image_meta(meta), source)
        self.assertIn('Image %s is unacceptable' % IMAGE_ID, str(exc))
        self.assertIn('OVF descriptor declares no disk', str(exc))

    def test_bare_image_unchanged(self):
        meta = objects.ImageMeta.from_dict({'id': IMAGE_ID,
                                            'disk_format': 'vmdk',
                                            'container_format': 'bare'})
        image = vimage.from_image_meta(meta)
        self.assertEqual((image, 'src'), root_disks.RootDisks.open_ova(
            meta, image, 'src'))


class RescueDiskFromOvaTest(testtools.TestCase):

    def test_cached_disk_of_an_ova_is_its_disk_member(self):
        """A rescue from an OVA image fills the cache with its VMDK."""
        vmdk = image_files.stream_optimized()
        _glance, source = _source(ova_files.good_ova(vmdk))
        filled = []

        class Fetcher(object):
            capacities = {}

            def ensure_disk(self, entry, source, limits):
                filled.append((source.disk_type, b''.join(source.chunks())))
                self.capacities[entry] = 4 * MiB

        class Cache(object):
            def disk_path(self, datastore, image_id):
                return '[%s] _base/%s.vmdk' % (datastore, image_id)

        class Datastore(object):
            name = 'ds1'
            type = 'VMFS'

        disks = root_disks.RootDisks(Cache(), Fetcher(), None, None, None)
        meta = _image_meta()
        path, size_kb = disks.cached_disk(vimage.from_image_meta(meta),
                                          source, Datastore())
        self.assertEqual(('[ds1] _base/%s.vmdk' % IMAGE_ID, 4096),
                         (path, size_kb))
        self.assertEqual([('streamOptimized', vmdk)], filled)


class OvaRootSizeTest(testtools.TestCase):

    def test_the_tar_size_is_not_the_disk_size(self):
        """An OVA's size is its tar's: the flavor is checked against its
        disk once read, not against the tar."""
        image = vimage.from_image_meta(_image_meta())
        self.assertIsNone(specs.known_disk_size(image))
        specs.check_root_size(objects.Flavor(root_gb=1), dataclasses.replace(
            image, size=10 * 1024 * MiB))
