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

"""vcsim's NFC lease timeouts and VirtualMachine.ExportVm, made faithful
to vSphere in tools/vcsim/nfc_*.go.

Every test states the vSphere behaviour it checks; each fails against the
stock vcsim 0.24.2, whose leases never time out and which has no ExportVm.
"""

import hashlib
import time

from pyVmomi import vim
from pyVmomi import vmodl

from tests.functional.vcsim_nfc import digest
from tests.functional.vcsim_nfc import fix_url
from tests.functional.vcsim_nfc import make_image
from tests.functional.vcsim_nfc import NfcTestCase
from tests.functional.vcsim_nfc import props
from tests.functional.vcsim_nfc import wait_for
from tests import vcsim


class NfcLeaseTimeoutTest(NfcTestCase):
    """A lease whose client does not call HttpNfcLeaseProgress within
    info.leaseTimeout seconds times out into state 'error' (Timedout), and
    an import that times out is removed."""

    VCSIM_SHAPE = dict(NfcTestCase.VCSIM_SHAPE,
                       extra_args=('-nfc-lease-timeout', '2s'))

    def test_lease_without_progress_times_out(self):
        lease, info = self.import_vm('timeout-vm')
        self.assertEqual(2, info.leaseTimeout)
        self.assertEqual('error', wait_for(self.si, lease, 'state',
                                           ['error', 'done'], timeout=20))
        error = props(self.si, lease, ['error'])['error']
        self.assertIsInstance(error, vim.fault.Timedout)
        self.assertNotIn('timeout-vm', self.vm_names())
        self.assertRaises(vim.fault.Timedout, lease.HttpNfcLeaseComplete)
        self.assertRaises(vim.fault.Timedout, lease.HttpNfcLeaseProgress, 50)

    def test_progress_keeps_the_lease(self):
        lease, info = self.import_vm('kept-vm')
        for percent in range(0, 100, 20):
            time.sleep(0.6)
            lease.HttpNfcLeaseProgress(percent)
        self.assertEqual('ready', props(self.si, lease, ['state'])['state'])
        lease.HttpNfcLeaseComplete()
        self.assertEqual('done', props(self.si, lease, ['state'])['state'])
        self.assertIn('kept-vm', self.vm_names())


class NfcExportTest(NfcTestCase):
    """VirtualMachine.ExportVm (missing from vcsim 0.24.2) and the lease of
    an export."""

    VCSIM_SHAPE = dict(NfcTestCase.VCSIM_SHAPE, vms=1)

    def test_powered_on_vm_cannot_be_exported(self):
        # vSphere: ExportVm faults InvalidPowerState unless powered off.
        vms = vcsim.query(self.si, vim.VirtualMachine,
                          ['name', 'runtime.powerState'])
        moid = [m for m, v in vms.items()
                if v['name'] == 'DC0_C0_RP0_VM0'][0]
        self.assertEqual('poweredOn', vms[moid]['runtime.powerState'])
        vm = vim.VirtualMachine(moid, self.si._stub)
        error = self.assertRaises(vim.fault.InvalidPowerState, vm.ExportVm)
        self.assertEqual('poweredOn', error.existingState)
        self.assertEqual('poweredOff', error.requestedState)
        missing = vim.VirtualMachine('vm-does-not-exist', self.si._stub)
        self.assertRaises(vmodl.fault.ManagedObjectNotFound, missing.ExportVm)

    def test_export_streams_the_disk(self):
        _, data = make_image(self.tmpdir, 'export',
                             subformat='streamOptimized')
        vm = vim.VirtualMachine(self.uploaded_vm('export-vm', data)._moId,
                                self.si._stub)

        lease = vm.ExportVm()
        self.assertTrue(lease._moId.startswith('session['))
        wait_for(self.si, lease, 'state', ['ready'])
        info = props(self.si, lease, ['info'])['info']
        self.assertEqual(vm._moId, info.entity._moId)
        [device] = info.deviceUrl
        self.assertTrue(device.disk)
        self.assertEqual('disk-0.vmdk', device.targetId)
        self.assertEqual(len(data), device.fileSize)
        self.assertTrue(device.url.startswith('https://*/nfc/'))
        self.assertTrue(device.url.endswith('/disk-0.vmdk'))
        self.assertEqual('/%s/VirtualLsiLogicController0:0' % vm._moId,
                         device.key)
        url = fix_url(self.vcsim, device.url)

        response = self.http('GET', url, self.cookie)
        self.assertEqual(200, response.status_code)
        self.assertEqual(digest(data), digest(response.content))
        response = self.http('GET', url, self.cookie,
                             headers={'Range': 'bytes=0-3'})
        self.assertEqual((206, b'KDMV'),
                         (response.status_code, response.content))
        [entry] = lease.HttpNfcLeaseGetManifest()
        self.assertEqual(hashlib.sha1(data).hexdigest(), entry.sha1)
        self.assertEqual((device.key, len(data)), (entry.key, entry.size))

        # The VM is held: another export is a task in progress, power-on
        # is disabled.
        error = self.assertRaises(vim.fault.TaskInProgress, vm.ExportVm)
        task_info = props(self.si, error.task, ['info'])['info']
        self.assertEqual('running', task_info.state)
        self.assertRaises(vim.fault.MethodDisabled, vm.PowerOnVM_Task)

        self.assertEqual(405, self.http('PUT', url, self.cookie,
                                        data=b'x').status_code)
        self.assertEqual(401, self.http('GET', url).status_code)

        lease.HttpNfcLeaseProgress(100)
        lease.HttpNfcLeaseComplete()
        self.assertEqual('done', props(self.si, lease, ['state'])['state'])
        self.assertEqual('success', props(self.si, error.task,
                                          ['info.state'])['info.state'])
        self.assertEqual(404, self.http('GET', url, self.cookie).status_code)
        self.power_on(vm)

    def test_export_abort_keeps_the_vm(self):
        vm = vim.VirtualMachine(
            self.uploaded_vm('kept-export-vm', b'disk bytes')._moId,
            self.si._stub)
        lease = vm.ExportVm()
        wait_for(self.si, lease, 'state', ['ready'])
        lease.HttpNfcLeaseAbort()
        self.assertEqual('error', props(self.si, lease, ['state'])['state'])
        self.assertIn('kept-export-vm', self.vm_names())
        self.assertEqual(b'disk bytes',
                         self.folder_get(self.disk_file(vm)).content)
        self.power_on(vm)

    def test_export_with_generic_service_ticket(self):
        # A vmware_cgi_ticket for the NFC URL stands for the session.
        vm = vim.VirtualMachine(
            self.uploaded_vm('ticket-export-vm', b'ticketed')._moId,
            self.si._stub)
        lease = vm.ExportVm()
        wait_for(self.si, lease, 'state', ['ready'])
        url = fix_url(self.vcsim,
                      props(self.si, lease, ['info'])['info'].deviceUrl[0].url)
        ticket = self.content.sessionManager.AcquireGenericServiceTicket(
            spec=vim.SessionManager.HttpServiceRequestSpec(
                method='httpGet', url=url))
        cookie = 'vmware_cgi_ticket="%s"' % ticket.id
        response = self.http('GET', url, cookie)
        self.assertEqual((200, b'ticketed'),
                         (response.status_code, response.content))
        self.assertEqual(401, self.http('GET', url, cookie).status_code)
        lease.HttpNfcLeaseComplete()
