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

"""images/locations.py: Glance's vsphere:// locations, parsed and judged;
images/datastore_copy.flat_descriptor."""

import re
from unittest import mock

import fixtures
import testtools

from nova_vmware_ext.images import datastore_copy
from nova_vmware_ext.images import locations

IMAGE = '0d5f8d3e-5e43-4e3b-9a4e-6c2d6f3f7a11'
GOOD = ('vsphere://vc.example.org/folder/openstack_glance/%s'
        '?dcPath=DC0&dsName=LocalDS_0' % IMAGE)


class ParseTest(testtools.TestCase):

    def test_glance_store_location(self):
        loc = locations.parse(GOOD)
        self.assertEqual('vc.example.org', loc.host)
        self.assertEqual(443, loc.port)
        self.assertEqual('DC0', loc.datacenter_path)
        self.assertEqual('[LocalDS_0] openstack_glance/%s' % IMAGE,
                         str(loc.path))

    def test_port_nested_datacenter_and_quoted_names(self):
        loc = locations.parse(
            'vsphere://VC.example.org:8443/folder/glance%20images/x'
            '?dsName=nfs+1&dcPath=%2Fdcs%2FDC1')
        self.assertEqual(('vc.example.org', 8443), (loc.host, loc.port))
        self.assertEqual('dcs/DC1', loc.datacenter_path)
        self.assertEqual('[nfs 1] glance images/x', str(loc.path))

    def test_ipv6_host(self):
        loc = locations.parse('vsphere://[fd00::1]/folder/a/b?dcPath=D&'
                              'dsName=S')
        self.assertEqual('fd00::1', loc.host)

    def assertRefused(self, url, *words):
        exc = self.assertRaises(locations.LocationRefused, locations.parse,
                                url)
        for word in words:
            self.assertIn(word, str(exc))
        return exc

    def test_refused(self):
        base = 'vsphere://vc/folder/openstack_glance/x'
        for url, words in [
                ('https://vc/folder/a?dcPath=D&dsName=S', ['vsphere://']),
                (base + '?dcPath=DC0', ['dsName']),
                (base + '?dsName=S', ['dcPath']),
                (base + '?dcPath=DC0&dsName=', ['dsName']),
                (base + '?dcPath=DC0&dsName=S&dsName=T', ['dsName']),
                (base + '?dcPath=DC0&dsName=S&x=1', ['unknown', 'x']),
                ('vsphere://vc/folder/../etc/x?dcPath=D&dsName=S', ['..']),
                ('vsphere://vc/folder/a/%2E%2E/b?dcPath=D&dsName=S',
                 ['..']),
                ('vsphere://vc/folder/a/%0Ab?dcPath=D&dsName=S',
                 ['control']),
                ('vsphere://vc/folder/a?dcPath=D&dsName=a%5Db',
                 ['datastore name']),
                ('vsphere://vc/folder/a?dcPath=D/../E&dsName=S',
                 ['datacenter path']),
                ('vsphere://vc/folder/?dcPath=D&dsName=S', ['no file']),
                ('vsphere://vc/other/a?dcPath=D&dsName=S', ['/folder/']),
                ('vsphere:///folder/a?dcPath=D&dsName=S', ['no vCenter']),
                ('vsphere://vc:99999/folder/a?dcPath=D&dsName=S',
                 ['not a URL']),
                (base + '?dcPath=D&dsName=S#frag', ['fragment'])]:
            self.assertRefused(url, *words)

    def test_credentials_are_refused_and_never_repeated(self):
        exc = self.assertRefused(
            'vsphere://admin:s3cret@vc/folder/a?dcPath=D&dsName=S',
            'credentials')
        self.assertNotIn('s3cret', str(exc))
        self.assertNotIn('admin', str(exc))


class PickTest(testtools.TestCase):

    def test_first_usable_location_on_our_vcenter(self):
        other = GOOD.replace('vc.example.org', 'vc2.example.org')
        found, refused = locations.pick(
            ['rbd://pool/x', 'file:///var/lib/glance/x', other, GOOD],
            IMAGE, 'VC.example.org', 443)
        self.assertEqual('[LocalDS_0] openstack_glance/%s' % IMAGE,
                         str(found.path))
        self.assertEqual(1, len(refused))
        self.assertIn('on vCenter vc2.example.org, not on this compute\'s '
                      'vCenter vc.example.org', refused[0])

    def test_another_port_is_another_vcenter(self):
        found, refused = locations.pick([GOOD], IMAGE, 'vc.example.org',
                                        8443)
        self.assertIsNone(found)
        self.assertIn('vc.example.org:8443', refused[0])

    def test_a_file_not_named_by_the_image_is_refused(self):
        # Another image's file, or an instance's disk.
        for path in ('openstack_glance/another-image',
                     '%s/%s-flat.vmdk' % (IMAGE, IMAGE)):
            url = ('vsphere://vc/folder/%s?dcPath=DC0&dsName=LocalDS_0'
                   % path)
            found, refused = locations.pick([url], IMAGE, 'vc')
            self.assertIsNone(found)
            self.assertIn('not named by the image id %s' % IMAGE, refused[0])

    def test_no_vsphere_location(self):
        self.assertEqual((None, []), locations.pick(
            ['rbd://a/b', 'swift+https://x/y'], IMAGE, 'vc'))


class FlatDescriptorTest(testtools.TestCase):

    def _parse(self, text):
        return dict(re.findall(r'^(\S+) = "(.*)"$', text.decode(), re.M))

    def test_thin_scsi_disk(self):
        text = datastore_copy.flat_descriptor('img-flat.vmdk', 8 << 20,
                                              'lsiLogicsas', thin=True)
        self.assertIn(b'\nRW 16384 VMFS "img-flat.vmdk"\n', text)
        self.assertIn(b'\ncreateType="vmfs"\n', text)
        ddb = self._parse(text)
        self.assertEqual('lsilogic', ddb['ddb.adapterType'])
        self.assertEqual('1', ddb['ddb.thinProvisioned'])
        self.assertEqual(('255', '63'), (ddb['ddb.geometry.heads'],
                                         ddb['ddb.geometry.sectors']))
        self.assertEqual('1', ddb['ddb.geometry.cylinders'])

    def test_preallocated_ide_disk(self):
        text = datastore_copy.flat_descriptor('d-flat.vmdk', 1 << 30, 'ide',
                                              thin=False)
        ddb = self._parse(text)
        self.assertEqual('ide', ddb['ddb.adapterType'])
        self.assertNotIn('ddb.thinProvisioned', ddb)
        self.assertEqual(str((1 << 30) // 512 // (16 * 63)),
                         ddb['ddb.geometry.cylinders'])
        self.assertIn(b'RW 2097152 VMFS "d-flat.vmdk"', text)


class NovaGlanceLocationsTest(testtools.TestCase):
    """compute/root_disks.image_locations through Nova's own glance API
    (nova.image.glance.API over a fake glanceclient): what Glance exposes
    reaches the driver, as in-tree."""

    SCHEMA = {'name': 'image', 'properties': {
        name: {} for name in ('id', 'name', 'status', 'size', 'disk_format',
                              'container_format', 'visibility', 'owner',
                              'direct_url', 'locations')}}

    class Image(dict):
        schema = None

    def _glance_gives(self, **attributes):
        from nova.image import glance

        image = self.Image(id=IMAGE, name='img', status='active', size=4,
                           disk_format='vmdk', container_format='bare',
                           visibility='public', **attributes)
        image.schema = self.SCHEMA
        client = mock.Mock()
        client.call.return_value = image
        self.useFixture(fixtures.MockPatch(
            'nova.image.glance.get_default_image_service',
            return_value=glance.GlanceImageServiceV2(client=client)))
        return glance.API()

    def _locations(self, api):
        from nova import context

        from nova_vmware_ext.compute import root_disks
        return root_disks.image_locations(
            api, context.get_admin_context(), IMAGE)

    def test_show_multiple_locations_and_direct_url(self):
        other = 'rbd://fsid/images/%s/snap' % IMAGE
        api = self._glance_gives(
            locations=[{'url': GOOD, 'metadata': {}},
                       {'url': other, 'metadata': {}}], direct_url=GOOD)
        self.assertEqual((GOOD, other), self._locations(api))

    def test_show_image_direct_url_only(self):
        api = self._glance_gives(direct_url=GOOD)
        self.assertEqual((GOOD,), self._locations(api))

    def test_glance_exposing_nothing(self):
        self.assertEqual((), self._locations(self._glance_gives()))

    def test_glance_refusing_is_no_location(self):
        import glanceclient.exc

        api = self._glance_gives()
        client = api._get_session_and_image_id(None, IMAGE)[0]._client
        client.call.side_effect = glanceclient.exc.HTTPForbidden()
        self.assertEqual((), self._locations(api))
