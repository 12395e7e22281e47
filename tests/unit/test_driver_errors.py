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

"""Every public driver method, through every kind of fault, raises Nova's.

The driver's collaborators are replaced by a host whose every call raises
the injected fault; the methods are enumerated from VCDriver itself, so a
new method is driven here as soon as it exists.
"""

import inspect
import socket
from unittest import mock

from nova import conf as nova_conf
from nova import exception
from nova import objects
from nova.virt import driver as nova_driver
from nova.virt import fake
from oslo_config import fixture as config_fixture
from oslo_vmware import exceptions as vexc
from pyVmomi import vim
from pyVmomi import vmodl
import requests
import testtools

from nova_vmware_ext.compute import errors
from nova_vmware_ext import driver as vc_driver
from nova_vmware_ext.vsphere import faults

objects.register_all()
CONF = nova_conf.CONF

UUID = '6c5e8a34-7d1f-4f4e-9b0a-0123456789ab'
NODE = 'domain-c7.vcenter-uuid'
PASSWORD = 'S3cret-pass'

# Methods that make no vCenter call: nothing can go wrong below them.
NO_VCENTER_CALL = frozenset(['cleanup', 'get_available_nodes',
                             'get_host_ip_addr', 'plug_vifs', 'unplug_vifs',
                             'cleanup_live_migration_destination_check'])

# Methods that always refuse: NotImplementedError, whatever is below.
REFUSED = frozenset(['live_migration_force_complete', 'swap_volume'])

# The failure Nova names for a vSphere error in these methods.
POWER_FAILURES = {
    'power_on': exception.InstancePowerOnFailure,
    'resume_state_on_host_boot': exception.InstancePowerOnFailure,
    'power_off': exception.InstancePowerOffFailure,
    'reboot': exception.InstanceRebootFailure,
    'spawn': exception.InstanceDeployFailure,
    'suspend': exception.InstanceSuspendFailure,
    'resume': exception.InstanceResumeFailure,
    'rescue': exception.InstanceRescueFailure,
    'unrescue': exception.InstanceUnRescueFailure,
    'attach_interface': exception.InterfaceAttachFailed,
    'detach_interface': exception.InterfaceDetachFailed,
}

# What these answer when the instance's VM is gone.
WHEN_GONE = {'destroy': None, 'instance_exists': False}

# Values for the arguments of driver methods, by name.
ARGUMENTS = {
    'instance': objects.Instance(uuid=UUID),
    'nodename': NODE,
    'reboot_type': 'HARD',
    'network_info': [],
    'host': 'compute-1',
    'all_instances': [],
}


def vm_gone():
    return faults.translate(
        vmodl.fault.ManagedObjectNotFound(obj=vim.VirtualMachine('vm-42')),
        'PowerOnVM_Task on vm-42')


def power_task_failed():
    fault = vim.fault.InvalidState(msg='the host is in maintenance mode')
    return faults.translate(fault, 'power on of instance %s' % UUID)


def vim_fault():
    return vexc.VimFaultException(['InsufficientResourcesFault'],
                                  'not enough memory in the resource pool')


def session_lost():
    return vexc.VimConnectionException(
        'RetrievePropertiesEx on propertyCollector: connection to vCenter '
        'vc.example.org:443 failed: [Errno 111] Connection refused',
        cause=ConnectionRefusedError(111, 'Connection refused'))


def upload_cut():
    try:
        try:
            raise requests.ConnectionError('Connection aborted')
        except requests.ConnectionError as exc:
            raise vexc.ImageTransferException('upload of image x') from exc
    except vexc.ImageTransferException as exc:
        return exc


class FaultyHost(mock.MagicMock):
    """Every call on any attribute, at any depth, raises its fault."""

    def _get_child_mock(self, **kwargs):
        return FaultyHost(side_effect=self.fault, fault=self.fault)

    def __init__(self, fault=None, **kwargs):
        super().__init__(**kwargs)
        self.fault = fault


def public_methods():
    return sorted(name for name, member in vars(vc_driver.VCDriver).items()
                  if not name.startswith('_') and inspect.isfunction(member))


class BoundaryTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        flags = self.useFixture(config_fixture.Config(CONF))
        flags.config(group='vmware', host_ip='vc.example.org',
                     host_port=443, host_password=PASSWORD)
        flags.config(group='image_cache', remove_unused_base_images=True)

    def call(self, name, fault):
        """Call driver method ``name`` with its collaborators raising."""
        drv = vc_driver.VCDriver(fake.FakeVirtAPI())
        drv._host = FaultyHost(fault)
        method = getattr(drv, name)
        kwargs = {}
        for param in inspect.signature(method).parameters.values():
            if param.default is param.empty:
                kwargs[param.name] = ARGUMENTS.get(param.name,
                                                   mock.MagicMock())
        return method(**kwargs)

    def takes_instance(self, name):
        return 'instance' in inspect.signature(
            getattr(vc_driver.VCDriver, name)).parameters

    def assertConverted(self, name, fault, expected_class, *words):
        # Any exception, then its exact class: a mismatch names the method.
        raised = self.assertRaises(Exception,  # noqa: H202
                                   self.call, name, fault)
        self.assertIs(expected_class, type(raised),
                      '%s raised %r' % (name, raised))
        self.assertIs(fault, raised.__cause__)
        message = raised.format_message()
        for word in (name,) + words:
            self.assertIn(word, message)
        self.assertNotIn(PASSWORD, message)
        return raised

    def subject(self, name):
        if self.takes_instance(name):
            return UUID
        if 'nodename' in inspect.signature(
                getattr(vc_driver.VCDriver, name)).parameters:
            return NODE
        return 'vc.example.org:443'

    def faulty_methods(self):
        names = public_methods()
        # The enumeration found the facade; each method is driven below.
        self.assertIn('power_on', names)
        self.assertIn('get_available_resource', names)
        return [name for name in names
                if name not in NO_VCENTER_CALL | REFUSED]

    def test_refused_methods_refuse(self):
        for name in REFUSED:
            self.assertIn(name, public_methods())
            self.assertRaises(NotImplementedError, self.call, name,
                              session_lost())

    def test_methods_without_vcenter_calls_are_known(self):
        for name in NO_VCENTER_CALL:
            self.assertIn(name, public_methods())
            # Would raise if it made any call below the facade.
            self.call(name, session_lost())

    def test_every_method_is_converted(self):
        for name in self.faulty_methods():
            self.assertTrue(hasattr(getattr(vc_driver.VCDriver, name),
                                    '__wrapped__'), name)

    def test_vm_gone(self):
        for name in self.faulty_methods():
            fault = vm_gone()
            if name in WHEN_GONE:
                self.assertIs(WHEN_GONE[name], self.call(name, fault))
            elif self.takes_instance(name):
                raised = self.assertConverted(
                    name, fault, exception.InstanceNotFound, UUID,
                    'ManagedObjectNotFound', 'vm-42')
                self.assertEqual(UUID, raised.kwargs['instance_id'])
            else:
                self.assertConverted(name, fault, exception.NovaException,
                                     self.subject(name),
                                     'ManagedObjectNotFound')

    def test_connection_lost(self):
        for make in (session_lost, upload_cut):
            for name in self.faulty_methods():
                raised = self.assertConverted(
                    name, make(), exception.HypervisorUnavailable,
                    self.subject(name), 'vc.example.org:443')
                self.assertEqual('vc.example.org', raised.kwargs['host'])

    def test_raw_network_errors(self):
        for fault in (requests.Timeout('read timed out'),
                      socket.timeout('timed out'),
                      socket.gaierror(-2, 'Name or service not known'),
                      vexc.NotAuthenticatedException('session rejected')):
            raised = self.assertConverted(
                'get_info', fault, exception.HypervisorUnavailable, UUID,
                type(fault).__name__)
            self.assertIs(fault, raised.__cause__)

    def test_power_task_failure(self):
        for name in self.faulty_methods():
            expected = POWER_FAILURES.get(name, exception.NovaException)
            self.assertConverted(name, power_task_failed(), expected,
                                 self.subject(name), 'InvalidState',
                                 'maintenance mode')

    def test_other_vsphere_fault(self):
        for name in self.faulty_methods():
            expected = POWER_FAILURES.get(name, exception.NovaException)
            self.assertConverted(name, vim_fault(), expected,
                                 self.subject(name),
                                 'not enough memory in the resource pool',
                                 'InsufficientResourcesFault')

    def test_vsphere_layer_errors(self):
        # Raised by our vsphere/ code rather than translated from a fault.
        fault = faults.TaskTimeout(
            message='power off of instance %s: still running' % UUID)
        self.assertConverted('power_off', fault,
                             exception.InstancePowerOffFailure, UUID,
                             'TaskTimeout', 'still running')
        fault = vexc.FileNotFoundException('[LocalDS_0] x/x.vmdk')
        self.assertConverted('get_info', fault, exception.NovaException,
                             UUID, 'FileNotFoundException', 'x.vmdk')

    def test_not_implemented_passes_unchanged(self):
        for name in self.faulty_methods():
            fault = NotImplementedError('not yet')
            raised = self.assertRaises(NotImplementedError, self.call, name,
                                       fault)
            self.assertIs(fault, raised)

    def test_nova_exceptions_pass_unchanged(self):
        for name in self.faulty_methods():
            fault = exception.InstanceInvalidState(
                attr='vm_state', instance_uuid=UUID, state='error',
                method=name)
            raised = self.assertRaises(exception.InstanceInvalidState,
                                       self.call, name, fault)
            self.assertIs(fault, raised)

    def test_instance_not_found_passes_but_destroy_is_done(self):
        for name in self.faulty_methods():
            fault = exception.InstanceNotFound(instance_id=UUID)
            if name in WHEN_GONE:
                self.assertIs(WHEN_GONE[name], self.call(name, fault))
                continue
            raised = self.assertRaises(exception.InstanceNotFound,
                                       self.call, name, fault)
            self.assertIs(fault, raised)

    def test_bugs_pass_unchanged(self):
        fault = AttributeError("'NoneType' object has no attribute 'x'")
        raised = self.assertRaises(AttributeError, self.call, 'get_info',
                                   fault)
        self.assertIs(fault, raised)

    def test_credentials_never_in_the_message(self):
        fault = vexc.VimFaultException(
            ['InvalidLogin'], "login failed for password='%s' (%s)"
            % (PASSWORD, PASSWORD))
        raised = self.assertConverted('init_host', fault,
                                      exception.NovaException, 'InvalidLogin')
        self.assertIn('***', raised.format_message())

    def test_managed_object_not_found_of_other_objects(self):
        # A resource pool gone is not the instance gone.
        fault = faults.translate(vmodl.fault.ManagedObjectNotFound(
            obj=vim.ResourcePool('resgroup-9')))
        self.assertConverted('power_on', fault,
                             exception.InstancePowerOnFailure, UUID,
                             'resgroup-9')

    def test_signatures_are_nova_s(self):
        base = nova_driver.ComputeDriver
        for name in public_methods():
            self.assertEqual(
                inspect.getfullargspec(getattr(base, name))[:-1],
                inspect.getfullargspec(getattr(vc_driver.VCDriver, name))[:-1],
                name)

    def test_table_names_only_nova_failures(self):
        for failure in errors.METHOD_FAILURES.values():
            self.assertTrue(issubclass(failure, exception.NovaException))


class StepFailureTest(testtools.TestCase):
    """A step marked with fails_as names the failure, whatever the method."""

    def setUp(self):
        super().setUp()
        flags = self.useFixture(config_fixture.Config(CONF))
        flags.config(group='vmware', host_ip='vc.example.org')

    def destroy_raising(self, fault):
        def destroy(instance, destroy_disks=True, context=None,
                    block_device_info=None):
            with errors.fails_as(exception.InstancePowerOffFailure):
                raise fault
        drv = vc_driver.VCDriver(fake.FakeVirtAPI())
        drv._host = mock.Mock()
        drv._host.destroyer.destroy.side_effect = destroy
        # Any exception: the callers check its exact class.
        return self.assertRaises(Exception,  # noqa: H202
                                 drv.destroy, None, ARGUMENTS['instance'], [])

    def test_vsphere_fault_in_the_step(self):
        fault = power_task_failed()
        raised = self.destroy_raising(fault)
        self.assertIs(exception.InstancePowerOffFailure, type(raised))
        self.assertIs(fault, raised.__cause__)
        for word in ('destroy', UUID, 'InvalidState'):
            self.assertIn(word, raised.format_message())

    def test_connection_loss_in_the_step_is_still_unavailability(self):
        raised = self.destroy_raising(session_lost())
        self.assertIs(exception.HypervisorUnavailable, type(raised))

    def test_bug_in_the_step_passes_unchanged(self):
        fault = KeyError('x')
        self.assertIs(fault, self.destroy_raising(fault))
