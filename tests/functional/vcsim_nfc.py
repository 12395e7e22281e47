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

"""NfcTestCase and helpers shared by the tests of vcsim's NFC leases and
HTTP file endpoints (test_vcsim_nfc, test_vcsim_nfc_export)."""

import hashlib
import os
import shutil
import subprocess
import tempfile
import time

from pyVmomi import vim
from pyVmomi import vmodl
import requests
import testtools

from tests import vcsim

PC = vmodl.query.PropertyCollector
MiB = 1 << 20

OVF_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
 xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
 xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/\
CIM_ResourceAllocationSettingData"
 xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/\
CIM_VirtualSystemSettingData">
  <References>
    <File ovf:href="disk.vmdk" ovf:id="file1" ovf:size="%(size)d"/>
  </References>
  <DiskSection>
    <Info>Virtual disks</Info>
    <Disk ovf:capacity="4" ovf:capacityAllocationUnits="byte * 2^20"
     ovf:diskId="vmdisk1" ovf:fileRef="file1"
     ovf:format="http://www.vmware.com/interfaces/specifications/\
vmdk.html#streamOptimized"/>
  </DiskSection>
  <VirtualSystem ovf:id="%(name)s">
    <Info>A virtual machine</Info>
    <Name>%(name)s</Name>
    <VirtualHardwareSection>
      <Info>Virtual hardware</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:ElementName>1 virtual CPU</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>1</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:ElementName>128MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>128</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard Disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""


def props(si, obj, paths):
    """Properties of one object (PropertyCollector, never Fetch)."""
    obj = type(obj)(obj._moId, si._stub)
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=obj)],
        propSet=[PC.PropertySpec(type=type(obj), pathSet=list(paths))])
    result = si.RetrieveContent().propertyCollector.RetrievePropertiesEx(
        [spec], PC.RetrieveOptions())
    return {p.name: p.val for p in result.objects[0].propSet or ()}


def wait_for(si, obj, path, wanted, timeout=30):
    """Wait with WaitForUpdatesEx until property ``path`` of ``obj`` takes
    one of the ``wanted`` values; return it."""
    collector = si.RetrieveContent().propertyCollector
    pc = collector.CreatePropertyCollector()
    try:
        pc.CreateFilter(PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=obj)],
            propSet=[PC.PropertySpec(type=type(obj), pathSet=[path])]),
            partialUpdates=False)
        version = ''
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError('%s of %s never became one of %s'
                                     % (path, obj, wanted))
            result = pc.WaitForUpdatesEx(version, PC.WaitOptions(
                maxWaitSeconds=max(1, int(left))))
            if result is None:
                continue
            version = result.version
            for filter_set in result.filterSet:
                for update in filter_set.objectSet:
                    for change in update.changeSet:
                        if change.name == path and change.val in wanted:
                            return change.val
    finally:
        pc.DestroyPropertyCollector()


def fix_url(fx, url):
    """A lease URL with the host '*' replaced, as clients do."""
    return url.replace('*', '%s:%d' % (fx.host, fx.port), 1)


def ds_relative(file_name):
    """'[LocalDS_0] a/b.vmdk' -> ('LocalDS_0', 'a/b.vmdk')."""
    datastore, path = file_name[1:].split('] ', 1)
    return datastore, path


def digest(data):
    """(size, SHA-256) of some bytes, to compare disks without printing
    megabytes when they differ."""
    return len(data), hashlib.sha256(data).hexdigest()


def make_image(directory, name, size=MiB, subformat=None):
    """A raw image of random bytes, converted with qemu-img to a VMDK of
    ``subformat`` when given; returns (path, bytes)."""
    raw = os.path.join(directory, name + '.raw')
    with open(raw, 'wb') as f:
        f.write(os.urandom(size))
    if subformat is None:
        path = raw
    else:
        path = os.path.join(directory, name + '.vmdk')
        subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O',
                        'vmdk', '-o', 'subformat=' + subformat, raw, path],
                       check=True)
    with open(path, 'rb') as f:
        return path, f.read()


class NfcTestCase(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(hosts=1, datastores=2, portgroups=0)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.content = self.si.RetrieveContent()
        self.cookie = vcsim.session_cookie(self.si)
        pools = vcsim.query(self.si, vim.ResourcePool, ['name'])
        self.pool = vim.ResourcePool(sorted(pools)[0], self.si._stub)
        dcs = vcsim.query(self.si, vim.Datacenter, ['vmFolder'])
        self.vm_folder = list(dcs.values())[0]['vmFolder']
        self.tmpdir = tempfile.mkdtemp(prefix='nfc-test-')
        self.addCleanup(shutil.rmtree, self.tmpdir, ignore_errors=True)

    # HTTP

    def http(self, method, url, cookie=None, **kwargs):
        headers = kwargs.pop('headers', {})
        if cookie:
            headers['Cookie'] = cookie
        kwargs.setdefault('timeout', 120)
        return requests.request(method, url, headers=headers,
                                verify=self.vcsim.ca_file, **kwargs)

    def folder_get(self, file_name, cookie=None):
        datastore, path = ds_relative(file_name)
        url = vcsim.datastore_url(self.vcsim, path, datastore=datastore)
        return self.http('GET', url, cookie or self.cookie)

    # vSphere objects

    def import_spec(self, name, datastore='LocalDS_0', capacity_kb=4096):
        """A VirtualMachineImportSpec like Nova's VMware driver builds for
        a streamOptimized image: one thin disk on an LSI Logic controller.
        """
        controller = vim.vm.device.VirtualLsiLogicController(
            key=-100, busNumber=0, sharedBus='noSharing')
        disk = vim.vm.device.VirtualDisk(
            key=-101, unitNumber=0, controllerKey=-100,
            capacityInKB=capacity_kb,
            backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                fileName='[%s]' % datastore, diskMode='persistent',
                thinProvisioned=True))
        config = vim.vm.ConfigSpec(
            name=name, guestId='otherGuest', numCPUs=1, memoryMB=128,
            files=vim.vm.FileInfo(vmPathName='[%s]' % datastore),
            deviceChange=[
                vim.vm.device.VirtualDeviceSpec(
                    operation='add', device=controller),
                vim.vm.device.VirtualDeviceSpec(
                    operation='add', fileOperation='create', device=disk)])
        return vim.vm.VmImportSpec(configSpec=config)

    def import_vm(self, name, **kwargs):
        """ImportVApp; returns the lease once ready, and its info."""
        lease = self.pool.ImportVApp(spec=self.import_spec(name, **kwargs),
                                     folder=self.vm_folder)
        wait_for(self.si, lease, 'state', ['ready'])
        return lease, props(self.si, lease, ['info'])['info']

    def disk_file(self, vm):
        devices = props(self.si, vm, ['config.hardware.device'])[
            'config.hardware.device']
        disks = [d for d in devices
                 if isinstance(d, vim.vm.device.VirtualDisk)]
        self.assertEqual(1, len(disks))
        return disks[0].backing.fileName

    def vm_names(self):
        return {v['name'] for v in vcsim.query(
            self.si, vim.VirtualMachine, ['name']).values()}

    def power_on(self, vm):
        task = vim.VirtualMachine(vm._moId, self.si._stub).PowerOnVM_Task()
        state = wait_for(self.si, task, 'info.state', ['success', 'error'])
        self.assertEqual('success', state)

    def uploaded_vm(self, name, data):
        """A powered-off VM whose disk holds ``data``, by an import."""
        lease, info = self.import_vm(name)
        response = self.http('PUT', fix_url(self.vcsim, info.deviceUrl[0].url),
                             self.cookie, data=data)
        self.assertEqual(200, response.status_code)
        lease.HttpNfcLeaseComplete()
        return info.entity
