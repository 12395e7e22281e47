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

"""HttpNfcLease: import a VM with its disks streamed in, or export them.

vCenter hands out a lease with one URL per disk; the bytes go straight to
the ESXi host (an export streams each disk out as a streamOptimized
VMDK). The lease is kept alive with progress reports and always ends in
Complete or Abort, so a failed import leaves no VM behind.
"""

import contextlib
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

    def __init__(self, session, waiter, lease, what, imports=True):
        self.session = session
        self.imports = imports
        self.waiter = waiter
        self.lease = lease
        self.what = what
        self.info = None
        self._last_progress = 0.0
        self._ended = False

    def wait_ready(self):
        """Wait for the lease to be ready (vCenter makes the VM first),
        reading its info in the same watch (the session's task stream)."""
        item = self.waiter.wait_lease(
            self.lease, _READY_TIMEOUT, self.what) or props.retrieve_one(
                self.session, self.lease, ['state', 'info', 'error']) or {}
        if item.get('state') != 'ready':
            error = item.get('error')
            self._ended = True
            raise LeaseError('%s: the NFC lease is %s%s' % (
                self.what, item.get('state', 'gone'),
                ': %s' % getattr(error, 'msg', error) if error else ''))
        self.info = item['info']
        # The lease is fresh: the first progress report is due in a minute.
        self._last_progress = time.monotonic()
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
                            else '; removing the import VM instead'
                            if self.imports else '')
        if self.imports:
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


def _controller_label(devices, disk):
    """'VirtualLsiLogicController0:1': how a lease's device key names a
    disk (``/vm-42/<label>``)."""
    controller = next((d for d in devices if d.key == disk.controllerKey),
                      None)
    if controller is None:
        return None
    return '%s%s:%s' % (type(controller).__name__.rsplit('.', 1)[-1],
                        getattr(controller, 'busNumber', 0), disk.unitNumber)


def pick_disk_url(lease, devices, disk):
    """The lease's download URL of ``disk`` (a VirtualDisk of the VM in
    ``devices``): the URL whose key names its controller and unit, else
    the first disk's URL."""
    urls = lease.disk_urls()
    if not urls:
        raise LeaseError('%s: the export lease offers no disk' % lease.what)
    label = _controller_label(devices, disk)
    for key, url, _device in urls:
        if label and str(key).endswith('/' + label):
            return url
    LOG.debug('%s: no export URL names %s; taking the first disk',
              lease.what, label)
    return urls[0][1]


@contextlib.contextmanager
def export_vm(session, waiter, vm, what):
    """A ready export lease of a powered-off VM: completed when the block
    ends, aborted (the VM stays as it was) when it raises."""
    lease = Lease(session, waiter, vm.ExportVm(), what, imports=False)
    try:
        lease.wait_ready()
        yield lease
        lease.complete()
    except BaseException as exc:
        with excutils.save_and_reraise_exception():
            lease.abort('%s: %s' % (type(exc).__name__, exc))


def download(lease, http, url, expected_size):
    """The chunks of one exported disk, keeping the lease alive.

    :param expected_size: bytes the progress reported to vCenter is
        measured against (the disk's capacity: an export's size is unknown
        until it ends).
    """
    _size, chunks = http.get(url, lease.what)
    done = 0
    for chunk in chunks:
        done += len(chunk)
        lease.progress(min(99, done * 100 // max(expected_size, 1)))
        yield chunk
