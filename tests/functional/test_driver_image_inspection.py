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

"""Hostile images through VCDriver.spawn against vcsim: the bytes decide.

Each image whose bytes are not what its Glance label promises, that fails
the format inspector's safety checks, or whose disk does not fit is refused
with a message naming the image and the reason, and leaves nothing in
vCenter: no VM, no file, no image cache folder, no open NFC lease. Checked
through an independent pyvmomi session (VM inventory, datastore listing).
"""

import fixtures
from nova import exception
from nova import objects
from oslo_utils import uuidutils
from pyVmomi import vim

from nova_vmware_ext.vsphere import nfc
from tests.functional import driver_base
from tests.functional import test_driver_spawn as spawn_tests
from tests import image_files

MiB = 1024 * 1024
# Calls that write to vCenter: none of them may happen for a refused image
# (spawn's rollback may still try to delete the instance folder it did not
# make; the datastore listing shows that nothing changed).
_WRITES = ('MakeDirectory', 'ImportVApp', 'CreateVirtualDisk_Task',
           'CreateVM_Task', 'MoveVirtualDisk_Task', 'CopyVirtualDisk_Task',
           'MoveDatastoreFile_Task')


class Glance(spawn_tests.FakeImageAPI):
    """The fake Glance, with images whose record and stream can lie."""

    def __init__(self):
        super().__init__()
        self.fail_after = {}  # image id -> bytes given before an error

    def add(self, data, disk_format='vmdk', size=None, virtual_size=None,
            **properties):
        image_id = uuidutils.generate_uuid()
        self.data[image_id] = data
        record = {'id': image_id, 'name': 'image-%s' % image_id[:8],
                  'disk_format': disk_format, 'container_format': 'bare',
                  'size': len(data) if size is None else size,
                  'properties': properties}
        if virtual_size is not None:
            record['virtual_size'] = virtual_size
        return objects.ImageMeta.from_dict(record)

    def download(self, context, image_id):
        sent, limit = 0, self.fail_after.get(image_id)
        for chunk in super().download(context, image_id):
            if limit is not None and sent >= limit:
                raise IOError('Glance connection reset after %d bytes'
                              % sent)
            sent += len(chunk)
            yield chunk


class InspectionTestBase(spawn_tests.SpawnTestBase):

    def setUp(self):
        super().setUp()
        self.images = Glance()
        self.driver._host.spawner.image_api = self.images

    def datastore_listing(self):
        """Every file and folder of every datastore (independent session)."""
        found = set()
        for item in self.query(vim.Datastore, ['name', 'browser']).values():
            spec = vim.host.DatastoreBrowser.SearchSpec(matchPattern=['*'])
            results = driver_base.wait_task(
                item['browser'].SearchDatastoreSubFolders_Task(
                    '[%s]' % item['name'], spec))
            for result in results:
                folder = result.folderPath.rstrip('/ ')
                for entry in result.file or ():
                    found.add(('%s/%s' % (folder, entry.path.rstrip('/')))
                              .replace(']/', '] '))
        return found

    def vms(self):
        return {moid: item['name'] for moid, item in
                self.query(vim.VirtualMachine, ['name']).items()}

    def assert_refused(self, image, expected, *reasons, root_gb=0,
                       nothing_written=True, names_image=True):
        """Spawn ``image``: ``expected`` is raised naming the image and
        every reason, and vCenter holds what it held before."""
        vms, files = self.vms(), self.datastore_listing()
        instance = self.make_instance(root_gb=root_gb)
        with self.session.calls.scope() as scope:
            exc = self.assertRaises(expected, self.driver.spawn,
                                    self.context, instance, image, [], None,
                                    {}, [])
        message = str(exc)
        for reason in ((image.id,) if names_image else ()) + reasons:
            self.assertIn(reason, message)
        self.assertEqual(vms, self.vms())
        if nothing_written:
            self.assertEqual({}, {m: n for m, n in scope.by_method.items()
                                  if m in _WRITES})
            self.assertEqual(files, self.datastore_listing())
        else:
            # The cache folder itself may stay (empty); nothing else.
            self.assertEqual(set(), {f for f in self.datastore_listing()
                                     - files
                                     if f.split('] ', 1)[1] != '_base'})
        self.assertIsNone(self.vm(instance))
        return exc


class RefusedBeforeAnyWriteTest(InspectionTestBase):
    """Refused from the first bytes: no vCenter call writes anything."""

    def test_qcow2_labelled_vmdk(self):
        data = image_files.qemu_image('qcow2')
        for disk_type in ('streamOptimized', 'thin'):
            image = self.images.add(data, vmware_disktype=disk_type)
            self.assert_refused(
                image, exception.ImageUnacceptable,
                'vmware_disktype %s' % disk_type, 'bytes are qcow2')

    def test_random_bytes_labelled_stream_optimized_or_sparse(self):
        for disk_type in ('streamOptimized', 'sparse'):
            image = self.images.add(b'\x8f\x13' * MiB,
                                    vmware_disktype=disk_type)
            self.assert_refused(image, exception.ImageUnacceptable,
                                'VMDK, but its bytes are raw')

    def test_random_bytes_labelled_thin_that_are_no_whole_disk(self):
        image = self.images.add(b'\x8f' * (MiB + 3), vmware_disktype='thin')
        self.assert_refused(image, exception.ImageUnacceptable,
                            '512-byte sectors; 1048579 bytes is not')

    def test_vmdk_with_a_huge_capacity_and_no_flavor_bound(self):
        data = image_files.with_capacity(image_files.stream_optimized(),
                                         2 ** 40)
        image = self.images.add(data, vmware_disktype='streamOptimized')
        self.assert_refused(image, exception.ImageUnacceptable,
                            'disk of %d bytes is larger than vSphere'
                            % 2 ** 49, root_gb=0)

    def test_vmdk_larger_than_the_flavor(self):
        data = image_files.stream_optimized(size_mb=2048 + 4)
        image = self.images.add(data, vmware_disktype='streamOptimized')
        self.assert_refused(image, exception.FlavorDiskSmallerThanImage,
                            'image is %d bytes' % ((2048 + 4) * MiB),
                            root_gb=2, names_image=False)

    def test_disk_larger_than_the_datastore_free_space(self):
        free = max(self.driver._host.resources.free_space(ds) for ds in
                   self.driver._host.inventory.datastores())
        sectors = free // 512 + 8
        data = image_files.with_capacity(image_files.stream_optimized(),
                                         sectors)
        image = self.images.add(data, vmware_disktype='streamOptimized')
        self.assert_refused(image, exception.ImageUnacceptable,
                            'needs %d bytes, the datastore has' % (
                                sectors * 512))

    def test_vmdk_declaring_no_capacity(self):
        data = image_files.with_capacity(image_files.stream_optimized(), 0)
        image = self.images.add(data, vmware_disktype='streamOptimized')
        self.assert_refused(image, exception.ImageUnacceptable,
                            'its vmdk header declares no capacity')

    def test_zero_length_image(self):
        image = self.images.add(b'', vmware_disktype='thin')
        self.assert_refused(image, exception.ImageUnacceptable,
                            'the image is empty')

    def test_descriptor_extent_naming_a_host_file(self):
        data = image_files.with_extent(image_files.monolithic_sparse(),
                                       '/etc/passwd')
        image = self.images.add(data, vmware_disktype='sparse')
        self.assert_refused(image, exception.ImageUnacceptable,
                            'safety checks', 'Invalid extent filenames')

    def test_iso_that_is_not_an_iso(self):
        image = self.images.add(b'\x42' * (2 * MiB), disk_format='iso')
        self.assert_refused(image, exception.ImageUnacceptable,
                            'must be an ISO 9660 or UDF image, but its bytes '
                            'are raw')

    def test_glance_virtual_size_that_the_header_contradicts(self):
        data = image_files.stream_optimized()
        image = self.images.add(data, vmware_disktype='streamOptimized',
                                virtual_size=64 * MiB)
        self.assert_refused(image, exception.ImageUnacceptable,
                            'disk of %d bytes, Glance says %d' % (
                                4 * MiB, 64 * MiB))

    def test_stream_ending_within_its_first_bytes(self):
        image = self.images.add(b'\x11' * MiB, vmware_disktype='thin',
                                size=3 * MiB)
        self.assert_refused(image, exception.InstanceDeployFailure,
                            'Glance stream ended after %d of %d bytes' % (
                                MiB, 3 * MiB))


class FailedTransferLeavesNothingTest(InspectionTestBase):
    """Failures after the first bytes: the import is aborted, the staged
    files removed, the error names the cause."""

    def setUp(self):
        super().setUp()
        self.leases = []
        test = self

        class RecordedLease(nfc.Lease):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                test.leases.append(self)

        self.patch(nfc, 'Lease', RecordedLease)

    def lease_state(self, lease):
        # A lease is an object of the session that opened it.
        from nova_vmware_ext.vsphere import props
        return props.retrieve_one(self.session, lease.lease,
                                  ['state'])['state']

    def assert_import_aborted(self):
        self.assertEqual(1, len(self.leases))
        self.assertEqual('error', self.lease_state(self.leases[0]))
        names = [n for n in self.vms().values() if n.startswith('tmp-')]
        self.assertEqual([], names)

    def big_stream_optimized(self):
        # Larger than what is judged before the transfer starts.
        return image_files.qemu_image('vmdk', 'streamOptimized', size_mb=8,
                                      random_mb=4)

    def test_glance_failing_during_an_import_aborts_it(self):
        data = self.big_stream_optimized()
        image = self.images.add(data, vmware_disktype='streamOptimized')
        self.images.fail_after[image.id] = 3 * MiB
        self.assert_refused(image, exception.InstanceDeployFailure,
                            'Glance connection reset after %d bytes'
                            % (3 * MiB), nothing_written=False,
                            names_image=False)
        self.assert_import_aborted()

    def test_bad_end_of_stream_marker_aborts_the_import(self):
        data = image_files.with_footer(self.big_stream_optimized(),
                                       end_of_stream=b'\x01' * 512)
        image = self.images.add(data, vmware_disktype='streamOptimized')
        self.assert_refused(image, exception.ImageUnacceptable,
                            'footer: End-of-stream marker is invalid',
                            nothing_written=False)
        self.assert_import_aborted()

    def test_stream_ending_early_during_an_upload(self):
        data = b'\x21' * (4 * MiB)
        image = self.images.add(data, vmware_disktype='thin',
                                size=5 * MiB)
        self.assert_refused(image, exception.InstanceDeployFailure,
                            'Glance stream ended after %d of %d bytes' % (
                                4 * MiB, 5 * MiB), nothing_written=False)

    def test_good_stream_optimized_with_footer_is_imported(self):
        data = image_files.with_footer(self.big_stream_optimized())
        image = self.images.add(data, vmware_disktype='streamOptimized')
        instance = self.make_instance()
        self.spawn(instance, image)
        parent = self.disks(self.vm(instance))[0].backing.parent
        self.assertEqual(data, self.datastore_file(parent.fileName))
        self.assertEqual('done', self.lease_state(self.leases[0]))


class FailedAbortTest(InspectionTestBase):
    """A lease abort that vCenter refuses once: the transfer's error still
    reaches Nova, and the abort, tried again, leaves nothing behind."""

    def test_failed_abort_does_not_replace_the_error(self):
        logs = self.useFixture(fixtures.FakeLogger(name=nfc.__name__))
        data = image_files.qemu_image('vmdk', 'streamOptimized', size_mb=8,
                                      random_mb=4)
        image = self.images.add(data, vmware_disktype='streamOptimized')
        self.images.fail_after[image.id] = 3 * MiB
        self.vcsim.inject('HttpNfcLeaseAbort', fault='InvalidState',
                          message='lease busy', count=1)
        self.addCleanup(self.vcsim.clear_faults)
        instance = self.make_instance()
        exc = self.assertRaises(exception.InstanceDeployFailure,
                                self.driver.spawn, self.context, instance,
                                image, [], None, {}, [])
        self.assertIn('Glance connection reset after %d bytes' % (3 * MiB),
                      str(exc))
        self.assertIn('could not abort the NFC lease', logs.output)
        self.assertIn('lease busy', logs.output)
