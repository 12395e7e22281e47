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

"""ImageProperties from Nova's ImageMeta: defaults, legacy names, errors."""

import dataclasses
import logging

import fixtures
from nova import exception
from nova import objects
import testtools

from nova_vmware_ext.compute import image_meta

objects.register_all()

IMAGE_ID = '0ee9b2b2-0ff8-4e3a-9a0e-1b1f1c1d1e1f'


def _meta(properties=None, **fields):
    fields.setdefault('id', IMAGE_ID)
    fields['properties'] = properties or {}
    return objects.ImageMeta.from_dict(fields)


def _props(properties=None, **fields):
    return image_meta.from_image_meta(_meta(properties, **fields))


class ImagePropertiesTest(testtools.TestCase):

    def test_defaults(self):
        image = image_meta.from_image_meta(objects.ImageMeta.from_dict({}))
        self.assertIsNone(image.image_id)
        self.assertIsNone(image.disk_format)
        self.assertEqual(0, image.size)
        self.assertIsNone(image.virtual_size)
        self.assertEqual('preallocated', image.disk_type)
        self.assertEqual('lsiLogic', image.adapter_type)
        self.assertEqual('ide', image.cdrom_adapter_type)
        self.assertEqual('otherGuest', image.guest_id)
        self.assertEqual('VirtualE1000', image.vif_model)
        self.assertIsNone(image.firmware)
        self.assertIsNone(image.linked_clone)
        self.assertFalse(image.is_iso)
        self.assertFalse(image.is_ova)

    def test_glance_fields(self):
        image = _props(name='cirros', disk_format='vmdk',
                       container_format='bare', size=1024,
                       virtual_size=4096)
        self.assertEqual(IMAGE_ID, image.image_id)
        self.assertEqual('cirros', image.name)
        self.assertEqual('vmdk', image.disk_format)
        self.assertEqual('bare', image.container_format)
        self.assertEqual(1024, image.size)
        self.assertEqual(4096, image.virtual_size)
        self.assertFalse(image.needs_conversion)

    def test_frozen(self):
        image = _props()
        self.assertRaises(dataclasses.FrozenInstanceError, setattr, image,
                          'guest_id', 'x')

    def test_iso_ova_and_convertible(self):
        self.assertTrue(_props(disk_format='iso').is_iso)
        self.assertTrue(_props(disk_format='vmdk',
                               container_format='ova').is_ova)
        self.assertTrue(_props(disk_format='qcow2').needs_conversion)

    def test_legacy_vmware_properties(self):
        image = _props({'vmware_disktype': 'thin',
                        'vmware_adaptertype': 'paraVirtual',
                        'vmware_ostype': 'rhel7_64Guest',
                        'vmware_linked_clone': 'false'})
        self.assertEqual('thin', image.disk_type)
        self.assertEqual('paraVirtual', image.adapter_type)
        self.assertEqual('rhel7_64Guest', image.guest_id)
        self.assertIs(False, image.linked_clone)

    def test_vmware_ostype_with_a_libosinfo_name(self):
        # Nova folds vmware_ostype into os_distro: a distribution name there
        # maps like one in os_distro; only a bad guestId shape is refused.
        self.assertEqual('ubuntu64Guest',
                         _props({'vmware_ostype': 'ubuntu22.04'}).guest_id)
        self.assertEqual('debian12_64Guest',
                         _props({'vmware_ostype': 'debian12'}).guest_id)
        self.assertRaises(exception.ImageUnacceptable, _props,
                          {'vmware_ostype': 'ubuntu99Guest'})

    def test_legacy_adapter_types(self):
        for legacy in ('lsiLogic', 'busLogic', 'lsiLogicsas', 'paraVirtual',
                       'ide'):
            self.assertEqual(legacy, _props(
                {'vmware_adaptertype': legacy}).adapter_type)

    def test_disk_bus_and_scsi_model(self):
        cases = [({'hw_disk_bus': 'scsi'}, 'lsiLogic'),
                 ({'hw_disk_bus': 'ide'}, 'ide'),
                 ({'hw_disk_bus': 'sata'}, 'sata'),
                 ({'hw_scsi_model': 'vmpvscsi'}, 'paraVirtual'),
                 ({'hw_disk_bus': 'scsi', 'hw_scsi_model': 'lsisas1068'},
                  'lsiLogicsas'),
                 ({'hw_disk_bus': 'scsi', 'hw_scsi_model': 'buslogic'},
                  'busLogic'),
                 ({'hw_disk_bus': 'scsi', 'hw_scsi_model': 'lsilogic'},
                  'lsiLogic'),
                 ({'hw_disk_bus': 'ide', 'hw_scsi_model': 'vmpvscsi'},
                  'ide')]
        for props, expected in cases:
            self.assertEqual(expected, _props(props).adapter_type, props)

    def test_disk_types(self):
        for disk_type in image_meta.DISK_TYPES:
            self.assertEqual(disk_type, _props(
                {'hw_disk_type': disk_type}).disk_type)
        self.assertEqual('preallocated',
                         _props({'vmware_disktype': 'thick'}).disk_type)

    def test_vif_models(self):
        cases = {'e1000': 'VirtualE1000', 'e1000e': 'VirtualE1000e',
                 'vmxnet': 'VirtualVmxnet', 'vmxnet3': 'VirtualVmxnet3',
                 'pcnet': 'VirtualPCNet32',
                 # Nova maps the legacy vSphere class names itself.
                 'VirtualVmxnet3': 'VirtualVmxnet3'}
        for model, expected in cases.items():
            self.assertEqual(expected, _props(
                {'hw_vif_model': model}).vif_model)

    def test_firmware_cdrom_video_linked_clone(self):
        self.assertEqual('efi', _props(
            {'hw_firmware_type': 'uefi'}).firmware)
        self.assertEqual('bios', _props(
            {'hw_firmware_type': 'bios'}).firmware)
        self.assertEqual('sata', _props(
            {'hw_cdrom_bus': 'sata'}).cdrom_adapter_type)
        self.assertEqual(64, _props({'hw_video_ram': 64}).video_ram_mb)
        self.assertIs(True, _props(
            {'img_linked_clone': 'yes'}).linked_clone)


class ImageErrorsTest(testtools.TestCase):

    def _assert_refused(self, *expected, properties=None, **fields):
        exc = self.assertRaises(exception.ImageUnacceptable, _props,
                                properties, **fields)
        message = str(exc)
        self.assertIn(IMAGE_ID, message)
        for text in expected:
            self.assertIn(text, message)
        return message

    def test_disk_format(self):
        self._assert_refused('disk_format', "'ami'", 'vmdk, iso, raw',
                             disk_format='ami')

    def test_container_format(self):
        self._assert_refused('container_format', "'docker'", 'bare, ova',
                             disk_format='vmdk', container_format='docker')

    def test_ova_needs_vmdk(self):
        self._assert_refused("container_format 'ova'", "disk_format 'vmdk'",
                             "'iso'", disk_format='iso',
                             container_format='ova')

    def test_disk_type(self):
        self._assert_refused('hw_disk_type', 'vmware_disktype', "'sparsey'",
                             'streamOptimized, sparse, thin, preallocated, '
                             'eagerZeroedThick',
                             properties={'vmware_disktype': 'sparsey'})

    def test_disk_bus(self):
        self._assert_refused('hw_disk_bus', "'virtio'", 'scsi, ide, sata',
                             properties={'hw_disk_bus': 'virtio'})

    def test_scsi_model(self):
        self._assert_refused('hw_scsi_model', "'virtio-scsi'",
                             'lsilogic, buslogic, lsisas1068, vmpvscsi',
                             properties={'hw_scsi_model': 'virtio-scsi'})

    def test_cdrom_bus(self):
        self._assert_refused('hw_cdrom_bus', "'usb'", 'ide, sata',
                             properties={'hw_cdrom_bus': 'usb'})

    def test_vif_model(self):
        self._assert_refused('hw_vif_model', "'virtio'",
                             'e1000, e1000e, vmxnet, vmxnet3, pcnet',
                             properties={'hw_vif_model': 'virtio'})

    def test_invalid_guest_id_suggests_close_ones(self):
        message = self._assert_refused(
            'os_distro', 'vmware_ostype', "'ubuntu64guest'",
            'did you mean ubuntu64Guest', 'GuestOsIdentifier',
            properties={'vmware_ostype': 'ubuntu64guest'})
        for distro in ('ubuntu', 'debian', 'rhel', 'windows', 'win2k19'):
            self.assertIn(distro, message)

    def test_invalid_guest_id_without_close_match(self):
        message = self._assert_refused(
            "'zzzzzzzzzzzzzzzzzzGuest'", 'GuestOsIdentifier',
            properties={'os_distro': 'zzzzzzzzzzzzzzzzzzGuest'})
        self.assertNotIn('did you mean', message)


class GuestIdTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # What the code logs goes with the test's details, not stderr.
        self.useFixture(fixtures.FakeLogger())

    def test_unset_is_other(self):
        self.assertEqual('otherGuest', image_meta.guest_id(None))
        self.assertEqual('otherGuest', image_meta.guest_id('', 'linux'))

    def test_valid_guest_ids_are_kept(self):
        for guest in ('ubuntu64Guest', 'otherGuest64', 'windows9_64Guest',
                      'rhel9_64Guest', 'vmkernel8Guest'):
            self.assertEqual(guest, image_meta.guest_id(guest))

    def test_distribution_names(self):
        cases = {
            'ubuntu': 'ubuntu64Guest',
            'ubuntu22.04': 'ubuntu64Guest',
            'Ubuntu': 'ubuntu64Guest',
            'debian12': 'debian12_64Guest',
            'debian': 'debian10_64Guest',
            'centos7': 'centos7_64Guest',
            'centos-stream9': 'centos9_64Guest',
            'rhel9.2': 'rhel9_64Guest',
            'rhel': 'rhel8_64Guest',
            'fedora38': 'fedora64Guest',
            'sles15sp4': 'sles15_64Guest',
            'opensuse15.4': 'opensuse64Guest',
            'freebsd13.2': 'freebsd13_64Guest',
            'freebsd': 'freebsd64Guest',
            'rocky9': 'rockylinux_64Guest',
            'almalinux9': 'almalinux_64Guest',
            'ol8.6': 'oracleLinux8_64Guest',
            'arch': 'other3xLinux64Guest',
            'archlinux': 'other3xLinux64Guest',
            'windows': 'windows9Server64Guest',
            'win10': 'windows9_64Guest',
            'win2k19': 'windows2019srv_64Guest',
            'win2k22': 'windows2019srvNext_64Guest',
            'msdos': 'dosGuest',
        }
        for distro, expected in cases.items():
            self.assertEqual(expected, image_meta.guest_id(distro), distro)

    def test_unknown_version_takes_the_closest_older_one(self):
        newest = max(int(g[len('debian'):-len('_64Guest')])
                     for g in image_meta.GUEST_IDS
                     if g.startswith('debian') and g.endswith('_64Guest'))
        self.assertEqual('debian%d_64Guest' % newest,
                         image_meta.guest_id('debian%d' % (newest + 5)))
        self.assertEqual('debian10_64Guest', image_meta.guest_id('debian2'))

    def test_every_mapping_is_a_valid_guest_id(self):
        for distro in (list(image_meta._DISTRO_GUEST_IDS) +
                       list(image_meta._WINDOWS_GUEST_IDS)):
            self.assertIn(image_meta.guest_id(distro), image_meta.GUEST_IDS,
                          distro)
        for guest in image_meta._UNVERSIONED.values():
            self.assertIn(guest, image_meta.GUEST_IDS)

    def test_unknown_distribution_warns(self):
        logger = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))
        self.assertEqual('otherGuest', image_meta.guest_id(
            'plan9', image_id='img-1'))
        self.assertEqual('other3xLinux64Guest', image_meta.guest_id(
            'mylinux', 'linux', image_id='img-1'))
        self.assertIn("os_distro 'plan9'", logger.output)
        self.assertIn('img-1', logger.output)
        self.assertIn('other3xLinux64Guest', logger.output)

    def test_os_type_from_image(self):
        image = _props({'os_distro': 'mylinux', 'os_type': 'linux'})
        self.assertEqual('other3xLinux64Guest', image.guest_id)
