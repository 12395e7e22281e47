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

"""Cache fills copied inside vSphere from Glance's VMware store (vsphere://
locations), against vcsim: Glance's files are put where glance_store puts
them (``[ds] openstack_glance/<id>``) over the simulator's /folder.

vcsim copies bytes without understanding them, so each test asserts the
path taken (the vSphere calls made, the bytes that crossed nova-compute,
Glance's downloads) as well as the resulting disk; every test runs under
the leak check (tests/leaks.py).
"""

import logging
import os
import tempfile
import urllib.parse

import fixtures
from nova import exception
from oslo_utils import units
from pyVim import task as task_util
from pyVmomi import vim
import requests

from nova_vmware_ext.images import inspect
from tests.functional import test_driver_spawn as tds
from tests import image_files
from tests import vcsim

GLANCE_DIR = 'openstack_glance'
# The lock's owner record and heartbeat: small bookkeeping writes/reads.
BOOKKEEPING = 64 * units.Ki


class StoreGlance(tds.FakeImageAPI):
    """Nova's Glance API for images whose Glance store is a datastore:
    ``get(..., include_locations=True)`` gives their locations."""

    def __init__(self):
        super().__init__()
        self.locations = {}
        self.downloaded = 0  # bytes

    def get(self, context, image_id, include_locations=False):
        urls = self.locations.get(image_id, ()) if include_locations else ()
        return {'id': image_id,
                'locations': [{'url': u, 'metadata': {}} for u in urls]}

    def download(self, context, image_id):
        for chunk in super().download(context, image_id):
            self.downloaded += len(chunk)
            yield chunk


def location_url(fx, image_id, datastore='LocalDS_1', datacenter='DC0',
                 host=None):
    return 'vsphere://%s/folder/%s/%s?%s' % (
        host or '%s:%d' % (fx.host, fx.port), GLANCE_DIR, image_id,
        urllib.parse.urlencode({'dcPath': datacenter,
                                'dsName': datastore}))


class GlanceDatastoreTestBase(tds.SpawnTestBase):

    VCSIM_SHAPE = dict(datacenters=2, hosts=1, standalone_hosts=1,
                       datastores=2, portgroups=0)

    @classmethod
    def setUpClass(cls):
        """Datastores beside the model's (vcsim cannot remove one): DC1's
        glance-ds is the storage of DC0's LocalDS_1 (one NFS export seen in
        two datacenters); DC0's glance-only is on its standalone host."""
        super().setUpClass()
        si = vcsim.service_instance(cls.vcsim)
        try:
            dc0 = [dc for dc in si.RetrieveContent().rootFolder.childEntity
                   if dc.name == 'DC0'][0]
            shared = [d['summary'].url for d in vcsim.query(
                si, vim.Datastore, ['summary'], dc0).values()
                if d['summary'].name == 'LocalDS_1'][0]
            own = tempfile.mkdtemp(dir=cls.vcsim.tmpdir)
            for host, name, path in (('DC1_H0', 'glance-ds', shared),
                                     ('DC0_H0', 'glance-only', own)):
                moid = [m for m, h in vcsim.query(
                    si, vim.HostSystem, ['name']).items()
                    if h['name'] == host][0]
                system = vim.HostSystem(
                    moid, si._stub).configManager.datastoreSystem
                system.CreateLocalDatastore(name, path)
        finally:
            vcsim._disconnect(si)

    def setUp(self):
        super().setUp()
        self.images_before = self.images
        self.images = StoreGlance()
        self.images.data[self.flat.id] = self.images_before.data[self.flat.id]
        self.driver._host.spawner.image_api = self.images
        self.http = self.driver._host.fetcher.http
        self.log = self.useFixture(fixtures.FakeLogger(
            name='nova_vmware_ext.images.datastore_copy',
            level=logging.INFO))

    def put_file(self, rel_path, data, datastore='LocalDS_1',
                 datacenter='DC0'):
        """Write a datastore file over /folder (as glance_store does) and
        remove its folder at cleanup."""
        url = vcsim.datastore_url(self.vcsim, rel_path, datastore,
                                  datacenter)
        response = requests.put(url, data=data, verify=self.vcsim.ca_file,
                                headers={'Cookie': vcsim.session_cookie(
                                    self.si)}, timeout=60)
        response.raise_for_status()
        self.addCleanup(self.delete_file, '[%s] %s' % (
            datastore, rel_path.split('/')[0]), datacenter)

    def delete_file(self, path, datacenter='DC0'):
        content = self.si.RetrieveContent()
        try:
            task_util.WaitForTask(
                content.fileManager.DeleteDatastoreFile_Task(
                    path, self.datacenter(datacenter)))
        except vim.fault.FileNotFound:
            pass

    def datacenter(self, name):
        return [dc for dc in self.si.RetrieveContent().rootFolder.childEntity
                if dc.name == name][0]

    def glance_image(self, data, disk_type='thin', datastore='LocalDS_1',
                     datacenter='DC0', url=None, stored=None, **props):
        """An image Glance keeps at ``[datastore] openstack_glance/<id>``
        (its bytes ``stored``, by default ``data``) in ``datacenter``."""
        image = self.images.add(data, vmware_disktype=disk_type, **props)
        self.put_file('%s/%s' % (GLANCE_DIR, image.id),
                      data if stored is None else stored, datastore,
                      datacenter)
        self.images.locations[image.id] = [url or location_url(
            self.vcsim, image.id, datastore, datacenter)]
        return image

    def spawn_counted(self, image):
        """Spawn from ``image`` (the compute has spawned before); returns
        the vSphere calls by method."""
        self.spawn(self.make_instance(), self.flat)
        instance = self.make_instance()
        self.http.sent = self.http.received = self.images.downloaded = 0
        with self.session.calls.scope() as scope:
            self.spawn(instance, image)
        self.instance = instance
        return dict(scope.by_method)

    def cached(self, image_id, name):
        return self.datastore_file('[%s] _base/%s/%s' % (
            self.vm_datastore(), image_id, name))

    def vm_datastore(self):
        vm = self.vm(self.instance)
        return vm['config.files.vmPathName'][1:].split(']')[0]

    def assertCopied(self, calls, image, data):
        self.assertEqual(1, calls.get('CopyDatastoreFile_Task'), calls)
        self.assertEqual(0, self.images.downloads[image.id])
        self.assertEqual(0, self.images.downloaded)
        # Only the inspected head came through nova-compute.
        self.assertLessEqual(self.http.received,
                             inspect.HEAD_BYTES + BOOKKEEPING)
        self.assertLess(self.http.sent, BOOKKEEPING)
        self.assertEqual('poweredOn',
                         self.vm(self.instance)['runtime.powerState'])
        self.assertIn('copied by vCenter', self.log.output)

    def assertDownloaded(self, image, *why):
        self.assertEqual(1, self.images.downloads[image.id])
        for words in why:
            self.assertIn(words, self.log.output)


class CopyTest(GlanceDatastoreTestBase):

    def test_flat_image_copied_with_a_descriptor_of_ours(self):
        data = os.urandom(8 * tds.MiB)
        image = self.glance_image(data, 'thin', vmware_adaptertype='ide')
        calls = self.spawn_counted(image)
        self.assertCopied(calls, image, data)
        self.assertEqual(0, calls.get('CreateVirtualDisk_Task', 0), calls)
        # As many calls as the streamed fill (test_driver_fill_calls): the
        # cluster's datastore is known without a query.
        self.assertEqual(0, calls.get('RetrievePropertiesEx', 0), calls)
        self.assertLessEqual(sum(calls.values()), 11, calls)
        self.assertLess(self.http.received, 8 * tds.MiB // 3)
        self.assertEqual(data, self.cached(image.id, '%s-flat.vmdk'
                                           % image.id))
        descriptor = self.cached(image.id, '%s.vmdk' % image.id)
        self.assertIn(b'RW 16384 VMFS "%s-flat.vmdk"' % image.id.encode(),
                      descriptor)
        self.assertIn(b'ddb.adapterType = "ide"', descriptor)
        self.assertIn(b'ddb.thinProvisioned = "1"', descriptor)
        # The root disk is a linked clone of the entry, 8 MiB.
        disk = self.disks(self.vm(self.instance))[0]
        self.assertEqual('[%s] _base/%s/%s.vmdk' % (
            self.vm_datastore(), image.id, image.id),
            disk.backing.parent.fileName)
        self.assertEqual(8 * units.Ki, disk.capacityInKB)

    def test_sparse_image_copied_then_made_a_regular_disk(self):
        data = image_files.qemu_image('vmdk', 'monolithicSparse',
                                      size_mb=16, random_mb=4)
        self.assertGreater(len(data), inspect.HEAD_BYTES)
        image = self.glance_image(data, 'sparse')
        calls = self.spawn_counted(image)
        self.assertCopied(calls, image, data)
        self.assertEqual(1, calls.get('CopyVirtualDisk_Task'), calls)
        disk = self.disks(self.vm(self.instance))[0]
        self.assertEqual(16 * units.Ki, disk.capacityInKB)
        self.assertIsNotNone(self.cached(image.id, '%s.vmdk' % image.id))

    def test_across_datacenters_on_storage_the_cluster_mounts(self):
        # DC1's datastore glance-ds is the storage of DC0's LocalDS_1.
        data = os.urandom(4 * tds.MiB)
        image = self.glance_image(data, 'preallocated',
                                  datastore='glance-ds', datacenter='DC1')
        calls = self.spawn_counted(image)
        self.assertCopied(calls, image, data)
        self.assertIn('same storage as datastore LocalDS_1',
                      self.log.output)
        # Another datacenter's datastore takes one query (three calls).
        self.assertEqual(1, calls.get('RetrievePropertiesEx'), calls)
        self.assertEqual(data, self.cached(image.id, '%s-flat.vmdk'
                                           % image.id))


class FallbackTest(GlanceDatastoreTestBase):
    """Locations not copied from: the image is downloaded from Glance, the
    log says why, nothing is left behind."""

    def spawn_downloaded(self, image, *why):
        calls = self.spawn_counted(image)
        self.assertEqual(0, calls.get('CopyDatastoreFile_Task', 0), calls)
        self.assertDownloaded(image, *why)
        self.assertEqual('poweredOn',
                         self.vm(self.instance)['runtime.powerState'])
        return calls

    def test_another_vcenter(self):
        data = b'\x21' * tds.MiB
        image = self.glance_image(data)
        self.images.locations[image.id] = [location_url(
            self.vcsim, image.id, host='vc2.example.org')]
        self.spawn_downloaded(image, 'on vCenter vc2.example.org, not on '
                              'this compute\'s vCenter 127.0.0.1:%d'
                              % self.vcsim.port)

    def test_missing_ds_name_and_a_path_escaping_the_datastore(self):
        data = b'\x21' * tds.MiB
        image = self.glance_image(data)
        good = self.images.locations[image.id][0]
        self.images.locations[image.id] = [
            good.replace('&dsName=LocalDS_1', ''),
            good.replace('folder/%s/' % GLANCE_DIR,
                         'folder/%s/../%s/' % (GLANCE_DIR, GLANCE_DIR))]
        self.spawn_downloaded(image, 'needs one non-empty dsName',
                              '".." is not allowed')

    def test_datastore_not_mounted_on_the_cluster(self):
        # A datastore of DC0 on its standalone host only.
        image = self.glance_image(b'\x21' * tds.MiB,
                                  datastore='glance-only')
        self.spawn_downloaded(image, 'datastore glance-only is not mounted '
                              'on a usable host of cluster DC0_C0')

    def test_datastore_of_another_datacenter_on_other_storage(self):
        image = self.glance_image(b'\x21' * tds.MiB, datastore='LocalDS_0',
                                  datacenter='DC1')
        self.spawn_downloaded(image, 'datastore LocalDS_0 is not mounted '
                              'on a usable host of cluster DC0_C0')

    def test_unknown_datacenter_and_datastore(self):
        image = self.glance_image(b'\x21' * tds.MiB)
        self.images.locations[image.id] = [location_url(
            self.vcsim, image.id, datastore='nope')]
        self.spawn_downloaded(image, 'datacenter DC0 of vCenter')

    def test_file_missing_on_the_datastore(self):
        image = self.images.add(b'\x21' * tds.MiB, vmware_disktype='thin')
        self.images.locations[image.id] = [location_url(self.vcsim,
                                                        image.id)]
        self.spawn_downloaded(image, 'its file cannot be read')

    def test_copy_refused_by_vcenter_is_downloaded_instead(self):
        image = self.glance_image(b'\x21' * tds.MiB)
        self.vcsim.inject('CopyDatastoreFile_Task', action='task_error',
                          fault='NoPermission')
        self.addCleanup(self.vcsim.clear_faults)
        calls = self.spawn_counted(image)
        self.assertEqual(1, calls.get('CopyDatastoreFile_Task'), calls)
        self.assertDownloaded(image, 'vCenter did not copy')
        self.assertEqual(b'\x21' * tds.MiB, self.cached(
            image.id, '%s-flat.vmdk' % image.id))

    def test_stream_optimized_images_are_streamed(self):
        data = tds.stream_optimized_vmdk(4)
        image = self.glance_image(data, 'streamOptimized')
        calls = self.spawn_counted(image)
        self.assertEqual(1, calls.get('ImportVApp'), calls)
        self.assertEqual(0, calls.get('CopyDatastoreFile_Task', 0), calls)
        self.assertEqual(1, self.images.downloads[image.id])


class RefusedTest(GlanceDatastoreTestBase):
    """Glance's file is not what Glance says: refused, nothing written."""

    def _refused(self, image, *words):
        instance = self.make_instance()
        exc = self.assertRaises(exception.ImageUnacceptable,
                                self.driver.spawn, self.context, instance,
                                image, [], None, {}, [])
        for word in words:
            self.assertIn(word, str(exc))
        self.assertIsNone(self.vm(instance))
        self.assertEqual(0, self.images.downloads[image.id])

    def test_header_not_what_glance_says(self):
        sparse = image_files.monolithic_sparse()
        image = self.glance_image(b'\0' * len(sparse), 'thin', stored=sparse)
        self._refused(image, 'a bare disk extent', 'vmdk (monolithicsparse)')

    def test_size_not_what_glance_says(self):
        image = self.glance_image(b'\x21' * tds.MiB,
                                  stored=b'\x21' * (2 * tds.MiB))
        self._refused(image, 'holds 2097152 bytes, Glance says 1048576')

    def test_a_failure_after_the_copy_leaves_nothing(self):
        image = self.glance_image(b'\x21' * tds.MiB)
        self.vcsim.inject('MoveVirtualDisk_Task', action='task_error',
                          fault='CannotAccessFile')
        self.addCleanup(self.vcsim.clear_faults)
        instance = self.make_instance()
        self.vcsim.reset_server_calls()
        exc = self.assertRaises(exception.InstanceDeployFailure,
                                self.driver.spawn, self.context, instance,
                                image, [], None, {}, [])
        self.assertIn('CannotAccessFile', str(exc))
        calls = self.vcsim.server_calls()
        self.assertEqual(1, calls.get('CopyDatastoreFile_Task'), calls)
        self.assertEqual(0, self.images.downloads[image.id])
        self.assertIsNone(self.vm(instance))
        # The copied extent and our descriptor went with the fetch lock's
        # folder: the leak check finds nothing in the cache.
