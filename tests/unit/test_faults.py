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

"""vmodl faults become the oslo_vmware exceptions operators know."""

from oslo_vmware import exceptions as vexc
from pyVmomi import vim
from pyVmomi import vmodl
import testtools

from nova_vmware_ext.vsphere import faults


class TranslateTest(testtools.TestCase):

    def test_registered_faults(self):
        cases = [
            (vim.fault.NotAuthenticated(), vexc.NotAuthenticatedException),
            (vmodl.fault.ManagedObjectNotFound(),
             vexc.ManagedObjectNotFoundException),
            (vim.fault.FileNotFound(file='[ds] x'),
             vexc.FileNotFoundException),
            (vim.fault.FileAlreadyExists(), vexc.FileAlreadyExistsException),
            (vim.fault.DuplicateName(), vexc.DuplicateName),
            (vim.fault.InvalidPowerState(), vexc.InvalidPowerStateException),
            (vim.fault.TaskInProgress(), vexc.TaskInProgress),
            (vim.fault.NoDiskSpace(), vexc.NoDiskSpaceException),
            (vim.fault.CannotDeleteFile(), vexc.CannotDeleteFileException),
            (vim.fault.FileLocked(), vexc.FileLockedException),
            (vim.fault.ToolsUnavailable(), vexc.ToolsUnavailableException),
        ]
        for fault, expected in cases:
            exc = faults.translate(fault)
            self.assertIsInstance(exc, expected, fault)
            self.assertIs(fault, exc.fault)
            self.assertIs(fault, exc.cause)

    def test_subclass_maps_to_nearest_registered_ancestor(self):
        # CannotAccessFile is a FileFault nobody registered.
        exc = faults.translate(vim.fault.CannotAccessFile(file='f'))
        self.assertIsInstance(exc, vexc.FileFaultException)
        self.assertEqual('CannotAccessFile', exc.fault_name)
        self.assertTrue(faults.is_fault(exc, 'FileFault'))
        self.assertTrue(faults.is_fault(exc, 'CannotAccessFile'))
        self.assertFalse(faults.is_fault(exc, 'FileNotFound'))

    def test_unknown_fault(self):
        exc = faults.translate(vim.fault.InvalidLogin(msg='bad login'),
                               'Login on SessionManager')
        self.assertIsInstance(exc, vexc.VimFaultException)
        self.assertEqual(['InvalidLogin'], exc.fault_list)
        self.assertIn('Login on SessionManager failed: InvalidLogin: '
                      'bad login', str(exc))

    def test_message_carries_fault_and_context(self):
        exc = faults.translate(vim.fault.InvalidPowerState(
            msg='The attempted operation cannot be performed in the '
                'current state (Powered on).'), 'PowerOnVM_Task on vm-42')
        self.assertIn('PowerOnVM_Task on vm-42 failed: InvalidPowerState: '
                      'The attempted operation', str(exc))

    def test_fault_name(self):
        self.assertEqual('FileNotFound', faults.fault_name(
            vim.fault.FileNotFound))
        self.assertEqual('ManagedObjectNotFound', faults.fault_name(
            vmodl.fault.ManagedObjectNotFound()))

    def test_is_fault_on_foreign_exception(self):
        self.assertFalse(faults.is_fault(ValueError('x'), 'FileFault'))
