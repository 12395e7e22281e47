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

from nova_vmware_ext import driver as vc_driver


class ContractTestCase(test.NoDBTestCase):

    def test_public_api_signatures(self):
        self.assertPublicAPISignatures(driver.ComputeDriver(None),
                                       vc_driver.VCDriver(fake.FakeVirtAPI()))

    def test_capabilities_are_nova_capabilities(self):
        base = set(driver.ComputeDriver.capabilities)
        ours = vc_driver.VCDriver.capabilities
        self.assertEqual(set(), set(ours) - base,
                         'capabilities Nova does not know')
        # Every capability Nova knows is stated (Nova reads them by key).
        self.assertEqual(set(), base - set(ours))
        known = set(driver.CAPABILITY_TRAITS_MAP)
        self.assertTrue(ours['supports_image_type_vmdk'])
        self.assertIn('supports_image_type_vmdk', known)

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
