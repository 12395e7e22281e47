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

"""The driver keeps Nova's ComputeDriver interface, as Nova loads it.

A public method of VCDriver that Nova's base class does not declare, or
whose arguments differ from it, fails here: Nova calls drivers by keyword
and positionally, so a renamed or missing argument breaks at run time only.
"""

import os

from nova.compute import manager
from nova import test
from nova import utils
from nova.virt import driver
from nova.virt import fake
import os_traits

from nova_vmware_ext import driver as vc_driver


class ContractTestCase(test.NoDBTestCase):

    def test_public_api_signatures(self):
        self.assertPublicAPISignatures(driver.ComputeDriver(None),
                                       vc_driver.VCDriver(fake.FakeVirtAPI()))

    def test_capabilities_are_nova_capabilities(self):
        ours = vc_driver.VCDriver.capabilities
        self.assertEqual(set(), set(ours) - set(
            driver.ComputeDriver.capabilities),
            'capabilities Nova does not know')
        # What the driver claims, written out: a capability switched on by
        # accident, or lost, fails here.
        self.assertEqual({'has_imagecache', 'supports_image_type_iso',
                          'supports_image_type_vmdk',
                          'supports_image_type_qcow2',
                          'supports_image_type_raw',
                          'supports_image_type_vhd',
                          'supports_image_type_vhdx',
                          'supports_image_type_vdi',
                          'supports_migrate_to_same_host',
                          'supports_attach_interface',
                          'supports_extend_volume'},
                         {name for name, value in ours.items() if value})

    def test_capabilities_reach_placement_as_traits(self):
        drv = vc_driver.VCDriver(fake.FakeVirtAPI())
        traits = drv.capabilities_as_traits()
        self.assertEqual({os_traits.COMPUTE_IMAGE_TYPE_ISO,
                          os_traits.COMPUTE_IMAGE_TYPE_VMDK,
                          os_traits.COMPUTE_IMAGE_TYPE_QCOW2,
                          os_traits.COMPUTE_IMAGE_TYPE_RAW,
                          os_traits.COMPUTE_IMAGE_TYPE_VHD,
                          os_traits.COMPUTE_IMAGE_TYPE_VHDX,
                          os_traits.COMPUTE_IMAGE_TYPE_VDI,
                          os_traits.COMPUTE_SAME_HOST_COLD_MIGRATE,
                          os_traits.COMPUTE_NET_ATTACH_INTERFACE,
                          os_traits.COMPUTE_VOLUME_EXTEND},
                         {trait for trait, value in traits.items() if value})
        self.assertIs(False, traits[os_traits.COMPUTE_IMAGE_TYPE_PLOOP])
        self.assertIs(False, traits[os_traits.COMPUTE_VOLUME_MULTI_ATTACH])

    def test_compute_manager_loads_the_installed_driver(self):
        # Nova's own path: ComputeManager -> load_compute_driver ->
        # nova.virt.vmware_ext.driver (the shim of the installed package).
        self.flags(compute_driver='vmware_ext.driver.VCDriver')
        compute = manager.ComputeManager()
        self.assertIs(vc_driver.VCDriver, type(compute.driver))

    def test_concurrency_mode_is_the_requested_one(self):
        # tools/test_suites.py runs this package in both of Nova's modes.
        requested = os.environ.get(
            'OS_NOVA_DISABLE_EVENTLET_PATCHING', '').lower()
        self.assertEqual(requested in ('1', 'true', 'yes'),
                         utils.concurrency_mode_threading())
