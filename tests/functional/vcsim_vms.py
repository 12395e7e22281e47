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

"""Helpers shared by the tests of vcsim's virtual machines and disks
(test_vcsim_vm, test_vcsim_disks): pyvmomi reads and task waits, and
small VMs and disks of our own."""

import ssl
import time
import urllib.request

from pyVmomi import vim
from pyVmomi import vmodl

from tests import vcsim

PC = vmodl.query.PropertyCollector


def read(si, obj, paths):
    """Properties of one managed object, read with the PropertyCollector."""
    obj = type(obj)(obj._moId, si._stub)
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=obj)],
        propSet=[PC.PropertySpec(type=type(obj), pathSet=list(paths))])
    content = si.content.propertyCollector.RetrieveContents([spec])
    return {p.name: p.val for p in content[0].propSet or ()}


def wait(si, task, timeout=30):
    """The result of ``task`` once it has ended; raises its fault."""
    deadline = time.monotonic() + timeout
    while True:
        info = read(si, task, ['info'])['info']
        if info.state == 'success':
            return info.result
        if info.state == 'error':
            raise info.error
        if time.monotonic() > deadline:
            raise AssertionError('task %s still %s' % (task, info.state))
        time.sleep(0.05)


def by_name(si, vimtype, name):
    for moid, props in vcsim.query(si, vimtype, ['name']).items():
        if props['name'] == name:
            return vimtype(moid, si._stub)
    raise LookupError(name)


def disks(devices):
    return [d for d in devices if isinstance(d, vim.vm.device.VirtualDisk)]


def http(fx, si, method, path, datastore='LocalDS_0', data=None):
    """(status, headers, body) of a datastore HTTP request."""
    request = urllib.request.Request(
        vcsim.datastore_url(fx, path, datastore=datastore), data=data,
        method=method)
    request.add_header('Cookie', vcsim.session_cookie(si))
    context = ssl.create_default_context(cafile=fx.ca_file)
    with urllib.request.urlopen(request, context=context, timeout=30) as r:
        return r.status, r.headers, r.read()


def new_vm(si, name, disk_units=(0,), datastore='LocalDS_0',
           power_on=False):
    """A VM of our own (in DC0's first cluster): a PVSCSI controller (key
    1000) with 1 MB disks on the given units."""
    dc = si.content.rootFolder.childEntity[0]
    pool = by_name(si, vim.ClusterComputeResource, 'DC0_C0')
    pool = read(si, pool, ['resourcePool'])['resourcePool']
    changes = [vim.vm.device.VirtualDeviceSpec(
        operation='add', device=vim.vm.device.ParaVirtualSCSIController(
            key=1000, busNumber=0, sharedBus='noSharing'))]
    for i, unit in enumerate(disk_units):
        changes.append(vim.vm.device.VirtualDeviceSpec(
            operation='add', fileOperation='create',
            device=new_disk(-1 - i, unit)))
    spec = vim.vm.ConfigSpec(
        name=name, guestId='otherGuest64', numCPUs=1, memoryMB=64,
        files=vim.vm.FileInfo(vmPathName='[%s]' % datastore),
        deviceChange=changes)
    vm = wait(si, dc.vmFolder.CreateVM_Task(config=spec, pool=pool))
    if power_on:
        wait(si, vm.PowerOnVM_Task())
    return vm


def new_disk(key, unit=None, controller=1000, kb=1024):
    return vim.vm.device.VirtualDisk(
        key=key, controllerKey=controller, unitNumber=unit,
        capacityInKB=kb,
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            diskMode='persistent', thinProvisioned=True, fileName=''))


def reconfigure(si, vm, **spec):
    return wait(si, vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(**spec)))


def option(key, value):
    return vim.option.OptionValue(key=key, value=value)


def give_tools(si, vm):
    """Install VMware Tools in the guest, with vcsim's SET.* keys."""
    reconfigure(si, vm, extraConfig=[
        option('SET.guest.toolsStatus', 'toolsOk'),
        option('SET.guest.toolsRunningStatus', 'guestToolsRunning')])
