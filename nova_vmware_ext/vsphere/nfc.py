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

"""HttpNfcLease: import a VM with its disks streamed in.

vCenter hands out a lease with one URL per disk; the bytes go straight to
the ESXi host. The lease is kept alive with progress
reports and always ends in Complete or Abort, so a failed import leaves no
VM behind.
"""

import time

from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import units
from oslo_vmware import exceptions as vexc
from pyVmomi import vim
from pyVmomi import vmodl

from nova_vmware_ext.vsphere import props

LOG = logging.getLogger(__name__)

STREAM_VMDK = 'application/x-vnd.vmware-streamVmdk'
# vCenter drops a lease that hears nothing for 5 minutes.
_PROGRESS_EVERY = 60.0
_READY_TIMEOUT = 300


class LeaseError(vexc.ImageTransferException):
    pass


def _device_url(url, session):
    # ESXi answers with '*' for the host when it does not know its name:
    # the data then goes through vCenter's own address.
    host = session.host if session.port in (None, 443) else '%s:%s' % (
        session.host, session.port)
    return url.replace('://*/', '://%s/' % host, 1)


class Lease(object):
    """A ready HttpNfcLease and the disk URLs it offers."""

    def __init__(self, session, waiter, lease, what):
        self.session = session
        self.waiter = waiter
        self.lease = lease
        self.what = what
        self.info = None
        self._last_progress = 0.0
        self._ended = False

    def wait_ready(self):
        ready = self.waiter.wait_for_property(
            self.lease, 'state', lambda s: s in ('ready', 'error'),
            _READY_TIMEOUT)
        item = props.retrieve_one(self.session, self.lease,
                                  ['state', 'info', 'error'])
        if not ready or item.get('state') != 'ready':
            error = item.get('error') if item else None
            self._ended = True
            raise LeaseError('%s: the NFC lease is %s%s' % (
                self.what, item.get('state') if item else 'gone',
                ': %s' % getattr(error, 'msg', error) if error else ''))
        self.info = item['info']
        return self

    def disk_urls(self):
        return [(d.key, _device_url(d.url, self.session), d)
                for d in self.info.deviceUrl or () if d.disk]

    def progress(self, percent):
        now = time.monotonic()
        if now - self._last_progress < _PROGRESS_EVERY:
            return
        self._last_progress = now
        try:
            self.lease.HttpNfcLeaseProgress(percent)
        except vexc.VimException as exc:
            LOG.debug('%s: lease progress not accepted: %s', self.what, exc)

    def complete(self):
        self.lease.HttpNfcLeaseComplete()
        self._ended = True

    def abort(self, reason):
        """Abort the lease: vCenter removes the VM it was importing.

        A failed abort is logged; the caller raises its own error.
        """
        if self._ended:
            return
        self._ended = True
        text = str(reason)[:200]
        fault = vmodl.fault.SystemError(msg=text, reason=text)
        for attempt in (1, 2):
            try:
                self.lease.HttpNfcLeaseAbort(fault)
                return
            except Exception as exc:  # a cleanup: the caller's error matters
                LOG.warning('%s: could not abort the NFC lease (%s)%s',
                            self.what, exc, '; trying again' if attempt == 1
                            else '; removing the import VM instead')
        self._destroy_import_vm()

    def _destroy_import_vm(self):
        """After a refused abort: vCenter keeps the VM until the lease times
        out, unless it lets us destroy it now. Logged, never raised."""
        vm = getattr(self.info, 'entity', None) if self.info else None
        if vm is None:
            return
        try:
            self.waiter.wait(vm.Destroy_Task(),
                             '%s: removal of the import VM' % self.what)
        except Exception as exc:
            LOG.warning('%s: could not remove the import VM %s (%s); it '
                        'remains until its NFC lease times out', self.what,
                        vm._moId, exc)


def disk_import_spec(name, vm_path, disk_path, capacity):
    """The VmImportSpec of a minimal VM whose one disk is streamed in.

    :param vm_path: the VM's folder, '[datastore] folder/'.
    :param disk_path: where vCenter writes the imported disk.
    :param capacity: the disk's virtual size in bytes.
    """
    controller = vim.vm.device.VirtualLsiLogicController(
        key=-100, busNumber=0,
        sharedBus=vim.vm.device.VirtualSCSIController.Sharing.noSharing)
    disk = vim.vm.device.VirtualDisk(
        key=-101, controllerKey=-100, unitNumber=0,
        capacityInKB=max(capacity // units.Ki, 1),
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName=disk_path, diskMode='persistent', thinProvisioned=True))
    config = vim.vm.ConfigSpec(
        name=name, guestId='otherGuest', numCPUs=1, memoryMB=4,
        files=vim.vm.FileInfo(vmPathName=vm_path),
        deviceChange=[
            vim.vm.device.VirtualDeviceSpec(operation='add',
                                            device=controller),
            vim.vm.device.VirtualDeviceSpec(operation='add',
                                            fileOperation='create',
                                            device=disk)])
    return vim.vm.VmImportSpec(configSpec=config)


def import_vm(session, waiter, http, pool, folder, spec, uploads, what):
    """Create a VM from ``spec`` and stream its disks in.

    :param spec: vim.vm.VmImportSpec (VirtualMachineImportSpec).
    :param uploads: list of (chunk iterator, size, content type), one per
        disk, in the order of the spec's disks.
    :returns: the new VM.
    """
    lease = Lease(session, waiter, pool.ImportVApp(spec, folder), what)
    try:
        lease.wait_ready()
        urls = lease.disk_urls()
        if len(urls) != len(uploads):
            raise LeaseError('%s: the lease offers %d disk URLs for %d '
                             'disks' % (what, len(urls), len(uploads)))
        total = sum(size for _, size, _ in uploads) or 1
        sent = 0
        for (_key, url, _dev), (chunks, size, ctype) in zip(urls, uploads):
            base = sent

            def report(percent, base=base, size=size):
                lease.progress(int((base + size * percent / 100) * 100
                                   / total))
            http.put(url, chunks, size, what, content_type=ctype,
                     on_percent=report)
            sent += size
        vm = lease.info.entity
        lease.complete()
        return session.bind(vm)
    except BaseException as exc:
        with excutils.save_and_reraise_exception():
            lease.abort('%s: %s' % (type(exc).__name__, exc))
