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

"""Real OVA files for tests: a tar of an OVF descriptor (as vSphere's export
writes it) and a streamOptimized VMDK from qemu-img, and hostile variants."""

import hashlib
import io
import tarfile

from tests import image_files

DISK_FORMAT = ('http://www.vmware.com/interfaces/specifications/'
               'vmdk.html#streamOptimized')

_DISK = ('<Disk ovf:capacity="{capacity}" ovf:capacityAllocationUnits='
         '"byte * 2^20" ovf:diskId="{disk_id}" ovf:fileRef="{file_id}" '
         'ovf:format="{format}"/>')
_FILE = '<File ovf:href="{href}" ovf:id="{file_id}" ovf:size="{size}"/>'

OVF = '''<?xml version="1.0" encoding="UTF-8"?>
<Envelope vmw:buildId="build-1" xmlns="http://schemas.dmtf.org/ovf/envelope/1"
 xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common"
 xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
 xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
 xmlns:vmw="http://www.vmware.com/schema/ovf"
 xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>{files}</References>
  <DiskSection>
    <Info>Virtual disk information</Info>{disks}
  </DiskSection>
  <NetworkSection><Info>The list of logical networks</Info>
    <Network ovf:name="VM Network"/></NetworkSection>
  <VirtualSystem ovf:id="vm">
    <Info>A virtual machine</Info>
    <Name>vm</Name>
    <OperatingSystemSection ovf:id="94" vmw:osType="{os_type}">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System><vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType></System>
      <Item><rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:ElementName>{cpus} virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>{cpus}</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:ElementName>{memory} MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>{memory}</rasd:VirtualQuantity></Item>
      <Item><rasd:Address>0</rasd:Address>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>{scsi}</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>{nic}</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
'''


def ovf(disks=1, href='vm-disk1.vmdk', size=0, disk_format=DISK_FORMAT,
        os_type='centos8_64Guest', scsi='VirtualSCSI', nic='VmxNet3',
        cpus=2, memory=1024):
    """An OVF descriptor as vSphere exports it, declaring ``disks`` disks
    (the first one's file ``href``)."""
    files = ''.join(_FILE.format(
        href=href if i == 1 else 'vm-disk%d.vmdk' % i, file_id='file%d' % i,
        size=size) for i in range(1, disks + 1))
    disk_xml = ''.join(_DISK.format(
        capacity=4, disk_id='vmdisk%d' % i, file_id='file%d' % i,
        format=disk_format) for i in range(1, disks + 1))
    return OVF.format(files=files, disks=disk_xml, os_type=os_type,
                      scsi=scsi, nic=nic, cpus=cpus,
                      memory=memory).encode()


def member(name, data=b'', kind=tarfile.REGTYPE, linkname=''):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def ova(members):
    """A tar of ``members``: (TarInfo, bytes) pairs, in that order."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w', format=tarfile.PAX_FORMAT) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def manifest(files, algorithm='SHA256'):
    """A manifest of ``files`` ({name: bytes}), as ovftool writes it."""
    return ''.join('%s(%s)= %s\n' % (algorithm, name, hashlib.new(
        algorithm, data).hexdigest()) for name, data in files.items()).encode()


def good_ova(vmdk=None, digests=None, **ovf_args):
    """An OVA as vSphere exports it: descriptor, manifest, disk.

    :param digests: the manifest's bytes (default: the right SHA256s).
    """
    vmdk = vmdk if vmdk is not None else image_files.stream_optimized()
    descriptor = ovf(size=len(vmdk), **ovf_args)
    if digests is None:
        digests = manifest({'vm.ovf': descriptor, 'vm-disk1.vmdk': vmdk})
    return ova([member('vm.ovf', descriptor), member('vm.mf', digests),
                member('vm-disk1.vmdk', vmdk)])
