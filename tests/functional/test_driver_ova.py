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

"""OVA images through VCDriver.spawn against vcsim.

A vSphere-style OVA (OVF descriptor, manifest, streamOptimized VMDK) boots:
its disk is imported into the image cache through NFC, and the VM takes the
disk controller and guest OS its OVF declares. Hostile OVAs are refused
naming the reason, before any write to vCenter, and leave nothing (VM
inventory and datastore listing compared through an independent session;
the leak check of the test base runs after every test).
"""

import tarfile

from nova import exception
from pyVmomi import vim

from nova_vmware_ext.vsphere import nfc
from nova_vmware_ext.vsphere import props
from tests.functional import test_driver_image_inspection as inspection
from tests import image_files
from tests import ova_files


class OvaTestBase(inspection.InspectionTestBase):

    VCSIM_SHAPE = dict(hosts=1, datastores=1, portgroups=1)

    def setUp(self):
        super().setUp()
        self.leases = []
        test = self

        class RecordedLease(nfc.Lease):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                test.leases.append(self)

        self.patch(nfc, 'Lease', RecordedLease)

    def assert_import_aborted(self):
        self.assertEqual(1, len(self.leases))
        state = props.retrieve_one(self.session, self.leases[0].lease,
                                   ['state'])['state']
        self.assertEqual('error', state)

    def add_ova(self, data, **properties):
        image = self.images.add(data, **properties)
        image.container_format = 'ova'
        return image

    def controller(self, vm):
        disk = self.disks(vm)[0]
        return [d for d in vm['config.hardware.device']
                if d.key == disk.controllerKey][0]


class OvaSpawnTest(OvaTestBase):

    def test_spawn_from_a_vsphere_export(self):
        vmdk = image_files.stream_optimized()
        image = self.add_ova(ova_files.good_ova(vmdk))
        instance = self.make_instance()
        self.spawn(instance, image)
        vm = self.vm(instance)
        self.assertEqual('poweredOn', vm['runtime.powerState'])
        disk = self.disks(vm)[0]
        self.assertTrue(disk.backing.parent.fileName.endswith(
            '_base/%s/%s.vmdk' % (image.id, image.id)))
        # The cache holds the OVA's disk member, not the tar.
        self.assertEqual(vmdk, self.datastore_file(
            disk.backing.parent.fileName))
        self.assertEqual(4 * 1024, disk.capacityInKB)
        # From the OVF: paravirtual SCSI, CentOS 8; the flavor's CPU and
        # memory, not the OVF's 2 CPUs and 1024 MB.
        self.assertIsInstance(self.controller(vm),
                              vim.vm.device.ParaVirtualSCSIController)
        self.assertEqual(('centos8_64Guest', 1, 128), (
            vm['config.guestId'], vm['config.hardware.numCPU'],
            vm['config.hardware.memoryMB']))
        # One read of the descriptor, one stream of the disk.
        self.assertEqual(2, self.images.downloads[image.id])
        # From the cache: the descriptor read again (its hardware), no
        # import.
        again = self.make_instance()
        with self.session.calls.scope() as scope:
            self.spawn(again, image, power_on=False)
        self.assertEqual(3, self.images.downloads[image.id])
        self.assertNotIn('ImportVApp', scope.by_method)
        self.assertEqual('centos8_64Guest',
                         self.vm(again)['config.guestId'])

    def test_image_properties_win_over_the_ovf(self):
        image = self.add_ova(ova_files.good_ova(),
                             vmware_adaptertype='lsiLogic',
                             vmware_ostype='ubuntu64Guest')
        instance = self.make_instance()
        self.spawn(instance, image, power_on=False)
        vm = self.vm(instance)
        self.assertIsInstance(self.controller(vm),
                              vim.vm.device.VirtualLsiLogicController)
        self.assertEqual('ubuntu64Guest', vm['config.guestId'])

    def test_bad_member_after_the_disk_aborts_the_import(self):
        # Larger than what is judged before the transfer starts.
        vmdk = image_files.qemu_image('vmdk', 'streamOptimized', size_mb=8,
                                      random_mb=4)
        data = ova_files.ova([
            ova_files.member('vm.ovf', ova_files.ovf(size=len(vmdk))),
            ova_files.member('vm-disk1.vmdk', vmdk),
            ova_files.member('evil', kind=tarfile.SYMTYPE, linkname='/')])
        self.assert_refused(self.add_ova(data), exception.ImageUnacceptable,
                            "member 'evil' is a symbolic link",
                            nothing_written=False)
        self.assert_import_aborted()

    def test_disk_unlike_its_manifest_aborts_the_import(self):
        vmdk = image_files.qemu_image('vmdk', 'streamOptimized', size_mb=8,
                                      random_mb=4)
        digests = ova_files.manifest({'vm-disk1.vmdk': b'another disk'})
        self.assert_refused(
            self.add_ova(ova_files.good_ova(vmdk, digests)),
            exception.ImageUnacceptable, "the SHA256 of 'vm-disk1.vmdk' is "
            "not the one its manifest lists", nothing_written=False)
        self.assert_import_aborted()

    def test_ova_changed_between_its_reads(self):
        # Glance's stream is read twice (descriptor, then disk): an OVA
        # whose disk member differs the second time is refused before
        # anything is written.
        image = self.add_ova(ova_files.good_ova())
        other = ova_files.good_ova(image_files.qemu_image(
            'vmdk', 'streamOptimized', size_mb=8, random_mb=2))
        real = self.images.download

        def download(context, image_id):
            chunks = list(real(context, image_id))
            self.images.data[image_id] = other  # what the next read sees
            return iter(chunks)
        self.images.download = download
        self.assert_refused(image, exception.ImageUnacceptable,
                            'the OVA changed while it was read')
        self.assertEqual([], self.leases)


class OvaRefusedTest(OvaTestBase):
    """Each hostile OVA: ImageUnacceptable naming why, nothing written."""

    def refused(self, members, *reasons):
        vmdk = image_files.stream_optimized()
        data = ova_files.ova(
            [ova_files.member('vm.ovf', ova_files.ovf(size=len(vmdk)))] +
            members + [ova_files.member('vm-disk1.vmdk', vmdk)])
        self.refused_data(data, *reasons)

    def refused_data(self, data, *reasons):
        self.assert_refused(self.add_ova(data), exception.ImageUnacceptable,
                            'the OVA is refused', *reasons)

    def test_symlink(self):
        self.refused([ova_files.member('x', kind=tarfile.SYMTYPE,
                                       linkname='/etc/passwd')],
                     "'x' is a symbolic link")

    def test_hardlink(self):
        self.refused([ova_files.member('x', kind=tarfile.LNKTYPE,
                                       linkname='vm.ovf')],
                     "'x' is a hard link")

    def test_device_file(self):
        self.refused([ova_files.member('x', kind=tarfile.CHRTYPE)],
                     "'x' is a device file")

    def test_absolute_path(self):
        self.refused([ova_files.member('/etc/x', b'x')],
                     "'/etc/x' has a path outside the archive")

    def test_parent_path(self):
        self.refused([ova_files.member('../x', b'x')],
                     "'../x' has a path outside the archive")

    def test_ovf_without_a_disk(self):
        self.refused_data(ova_files.ova([ova_files.member(
            'vm.ovf', ova_files.ovf(disks=0))]), 'declares no disk')

    def test_disk_the_tar_lacks(self):
        self.refused_data(ova_files.ova([ova_files.member(
            'vm.ovf', ova_files.ovf(href='gone.vmdk'))]),
            "names the disk file 'gone.vmdk', which the tar lacks")

    def test_two_disks(self):
        self.refused_data(ova_files.ova([ova_files.member(
            'vm.ovf', ova_files.ovf(disks=2))]), 'declares 2 disks')

    def test_disk_that_is_not_stream_optimized(self):
        # The disk member's bytes are judged as any streamOptimized VMDK.
        self.assert_refused(
            self.add_ova(ova_files.good_ova(image_files.monolithic_sparse())),
            exception.ImageUnacceptable, 'must be a streamOptimized VMDK, '
            'but its bytes are vmdk (monolithicsparse)')

    def test_fifo(self):
        self.refused([ova_files.member('x', kind=tarfile.FIFOTYPE)],
                     "'x' is a FIFO")

    def test_directory(self):
        self.refused([ova_files.member('d', kind=tarfile.DIRTYPE)],
                     "'d' is a directory")

    def test_not_a_tar(self):
        self.refused_data(b'\x42' * 4096, 'it is not a tar archive')

    def test_compressed_tar(self):
        import gzip
        self.refused_data(gzip.compress(ova_files.good_ova()),
                          'it is not a tar archive')

    def test_empty_tar(self):
        self.refused_data(ova_files.ova([]), 'the tar is empty')

    def test_descriptor_not_first(self):
        vmdk = image_files.stream_optimized()
        self.refused_data(ova_files.ova([
            ova_files.member('vm-disk1.vmdk', vmdk),
            ova_files.member('vm.ovf', ova_files.ovf(size=len(vmdk)))]),
            "its first member 'vm-disk1.vmdk' is not an OVF descriptor")

    def test_oversized_extended_header(self):
        self.refused([ova_files.member('x' * (70 * 1024), b'x')],
                     'a tar extended header of', 'at most 65536')

    def test_oversized_descriptor(self):
        self.refused_data(ova_files.ova([ova_files.member(
            'vm.ovf', b' ' * (1024 * 1024 + 1))]),
            'its OVF descriptor is 1048577 bytes (at most 1048576)')

    def test_too_many_members(self):
        self.refused([ova_files.member('f%d' % i, b'') for i in range(100)],
                     'more than 100 tar members')

    def test_second_descriptor(self):
        self.refused([ova_files.member('other.ovf', ova_files.ovf())],
                     "it holds a second OVF descriptor 'other.ovf'")

    def test_manifest_that_is_no_manifest(self):
        self.refused([ova_files.member('vm.mf', b'not a digest line\n')],
                     "its manifest 'vm.mf' has a line that is no digest")

    def test_oversized_manifest(self):
        self.refused([ova_files.member('vm.mf', b'\n' * (65 * 1024))],
                     "its manifest 'vm.mf' is %d bytes" % (65 * 1024))

    def test_descriptor_unlike_its_manifest(self):
        self.refused([ova_files.member('vm.mf', ova_files.manifest(
            {'vm.ovf': b'another descriptor'}))],
            "the SHA256 of 'vm.ovf' is not the one its manifest lists")

    def test_descriptor_not_well_formed(self):
        self.refused_data(ova_files.ova([ova_files.member(
            'vm.ovf', b'<Envelope><DiskSection>')]),
            'is not well-formed XML')

    def test_descriptor_not_an_envelope(self):
        self.refused_data(ova_files.ova([ova_files.member(
            'vm.ovf', b'<?xml version="1.0"?><Project/>')]),
            'is not an OVF Envelope but <Project>')

    def test_descriptor_declaring_another_disk_format(self):
        sparse = ('http://www.vmware.com/interfaces/specifications/'
                  'vmdk.html#sparse')
        descriptor = ova_files.ovf(disk_format=sparse)
        self.refused_data(
            ova_files.ova([ova_files.member('vm.ovf', descriptor)]),
            'declares a disk of format', '#sparse', 'not a streamOptimized')

    def test_disk_without_a_file(self):
        descriptor = ova_files.ovf().replace(b'ovf:fileRef="file1"',
                                             b'ovf:fileRef="file9"')
        self.refused_data(ova_files.ova([ova_files.member('vm.ovf',
                                                          descriptor)]),
                          "names no file for its disk 'vmdisk1'")

    def test_hostile_xml(self):
        xml = (b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM '
               b'"file:///etc/passwd">]><Envelope>&x;</Envelope>')
        self.refused_data(ova_files.ova([ova_files.member('vm.ovf', xml)]),
                          'DOCTYPE')
