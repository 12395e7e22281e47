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

"""The real glance_store VMware backend stores images on our vcsim; Nova's
own Glance API (over a glanceclient stand-in serving Glance's record and,
for downloads, glance_store's bytes) gives their locations to the driver,
which fills its cache by a copy inside vSphere.

glance_store reaches vCenter on port 443 only: the class's vcsim listens
there, one class at a time on the machine (tests/port443.py). Its /folder
transfers verify TLS with REQUESTS_CA_BUNDLE, pointed at the simulator's CA.
"""

import os
from unittest import mock
import urllib.parse

import fixtures
from nova import context as nova_context
from nova.image import glance
from nova import objects
from oslo_utils import uuidutils

from nova_vmware_ext.images import inspect
from tests.functional import test_driver_glance_datastore as tgd
from tests.functional import test_driver_spawn as tds
from tests import glance_stores
from tests import port443

STORE_DIR = glance_stores.STORE_DIR


class GlanceImage(dict):
    """A glanceclient v2 image: a dict with its schema."""

    schema = {'name': 'image', 'properties': {
        name: {} for name in ('id', 'name', 'status', 'size', 'disk_format',
                              'container_format', 'visibility', 'owner',
                              'direct_url', 'locations', 'virtual_size',
                              'min_ram', 'min_disk')}}


class Chunks(object):
    """glanceclient's data answer: an iterator with ``wrapped``."""

    def __init__(self, iterator):
        self.wrapped = iterator

    def __iter__(self):
        return iter(self.wrapped)


class GlanceClient(object):
    """What Nova's GlanceClientWrapper.call reaches: Glance's API serving
    image records and, for downloads, the bytes glance_store reads."""

    def __init__(self, store):
        self.store = store
        self.images = {}
        self.downloaded = {}

    def call(self, context, version, method, args=(), kwargs=None):
        image_id = args[0]
        if method == 'get':
            return self.images[image_id]
        if method == 'data':
            location = self.images[image_id]['locations'][0]['url']
            chunks, _size = self.store.get_from_backend(location)
            return Chunks(self._counted(image_id, chunks))
        raise NotImplementedError(method)

    def _counted(self, image_id, chunks):
        for chunk in chunks:
            self.downloaded[image_id] = self.downloaded.get(
                image_id, 0) + len(chunk)
            yield chunk


class GlanceStoreTest(port443.Port443ClassMixin,
                      tgd.GlanceDatastoreTestBase):

    VCSIM_SHAPE = dict(tgd.GlanceDatastoreTestBase.VCSIM_SHAPE,
                       extra_args=port443.LISTEN)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import glance_store

        cls.store = glance_store
        cls.store_conf = glance_stores.vmware_store(cls.vcsim)

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.EnvironmentVariable(
            'REQUESTS_CA_BUNDLE', self.vcsim.ca_file))
        # Nova's own Glance API, over the glanceclient stand-in.
        self.client = GlanceClient(self.store)
        self.useFixture(fixtures.MockPatch(
            'nova.image.glance.get_default_image_service',
            return_value=glance.GlanceImageServiceV2(client=self.client)))
        self.glance_api = glance.API()
        self.driver._host.spawner.image_api = self._spawn_image_api()

    def _spawn_image_api(self):
        """Nova's API for Glance-stored images, the fake for the rest (the
        base class's warm-up image)."""
        api, fake = self.glance_api, self.images

        class Images(object):
            def get(self, context, image_id, **kwargs):
                if image_id in fake.data:
                    return fake.get(context, image_id, **kwargs)
                return api.get(context, image_id, **kwargs)

            def download(self, context, image_id, **kwargs):
                if image_id in fake.data:
                    return fake.download(context, image_id)
                return api.download(context, image_id, **kwargs)
        return Images()

    def store_image(self, data, disk_type='thin'):
        """glance_store adds the image; Glance's record exposes its
        location (show_multiple_locations and show_image_direct_url)."""
        image_id = uuidutils.generate_uuid()
        # The store's folder goes too (glance_store leaves it).
        self.addCleanup(self.delete_file, '[LocalDS_1] %s' % STORE_DIR)
        location, size = glance_stores.add(self.store_conf, image_id, data)
        self.addCleanup(glance_stores.delete, location)
        self.client.images[image_id] = GlanceImage(
            id=image_id, name='stored', status='active', size=size,
            disk_format='vmdk', container_format='bare', visibility='public',
            min_ram=0, min_disk=0, direct_url=location,
            locations=[{'url': location, 'metadata': {}}],
            vmware_disktype=disk_type, vmware_adaptertype='lsiLogic')
        return image_id, location

    def image_meta(self, image_id):
        context = nova_context.get_admin_context()
        return objects.ImageMeta.from_dict(self.glance_api.get(context,
                                                               image_id))

    def test_glance_store_location_and_file(self):
        data = b'\x21' * tds.MiB
        image_id, location = self.store_image(data)
        parts = urllib.parse.urlsplit(location)
        self.assertEqual(('vsphere', '127.0.0.1',
                          '/folder/%s/%s' % (STORE_DIR, image_id)),
                         (parts.scheme, parts.netloc, parts.path))
        self.assertEqual({'dsName': ['LocalDS_1'], 'dcPath': ['DC0']},
                         urllib.parse.parse_qs(parts.query))
        self.assertEqual(data, self.datastore_file(
            '[LocalDS_1] %s/%s' % (STORE_DIR, image_id)))

    def test_spawn_copies_the_stored_flat_image_inside_vsphere(self):
        data = os.urandom(8 * tds.MiB)
        image_id, _location = self.store_image(data, 'thin')
        with mock.patch.object(self.glance_api, 'download',
                               wraps=self.glance_api.download) as download:
            calls = self.spawn_counted(self.image_meta(image_id))
        self.assertEqual(1, calls.get('CopyDatastoreFile_Task'), calls)
        self.assertEqual(0, download.call_count)
        self.assertEqual({}, self.client.downloaded)
        self.assertLessEqual(self.http.received,
                             inspect.HEAD_BYTES + tgd.BOOKKEEPING)
        self.assertLess(self.http.sent, tgd.BOOKKEEPING)
        self.assertEqual(data, self.cached(image_id,
                                           '%s-flat.vmdk' % image_id))
        self.assertEqual('poweredOn',
                         self.vm(self.instance)['runtime.powerState'])

    def test_a_stored_stream_optimized_image_is_downloaded_from_glance(self):
        data = tds.stream_optimized_vmdk(4)
        image_id, _location = self.store_image(data, 'streamOptimized')
        calls = self.spawn_counted(self.image_meta(image_id))
        self.assertEqual(0, calls.get('CopyDatastoreFile_Task', 0), calls)
        self.assertEqual(1, calls.get('ImportVApp'), calls)
        # Glance served it from its datastore through glance_store.
        self.assertEqual(len(data), self.client.downloaded[image_id])
