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

"""MachineSpec -> pyVmomi ``vim.vm.ConfigSpec``: pure data, no calls.

``create_spec`` is the spec of CreateVM_Task: hardware, allocations,
extraConfig and every device, with the controllers the disks and CD-ROMs
need. New devices carry negative temporary keys; vCenter assigns real ones.
"""

import itertools

from nova import exception
from pyVmomi import vim

from nova_vmware_ext.compute import flavor as vflavor
from nova_vmware_ext.compute import image_meta as vimage
from nova_vmware_ext.compute import specs

# The vCenter extension the in-tree driver registers: VMs show as
# managed by OpenStack.
EXTENSION_KEY = 'org.openstack.compute'
EXTENSION_TYPE_INSTANCE = 'instance'

# Every new VM has two IDE controllers with these keys, two units each.
IDE_CONTROLLER_KEYS = (200, 201)
_IDE_UNITS = (0, 1)
# Unit 7 of a SCSI bus is the controller itself.
_SCSI_UNITS = tuple(unit for unit in range(16) if unit != 7)
_SCSI_BUSES = 4
_SATA_UNITS = tuple(range(30))
_SATA_BUSES = 4

_SCSI_CONTROLLERS = {
    vimage.ADAPTER_LSILOGIC: vim.vm.device.VirtualLsiLogicController,
    vimage.ADAPTER_BUSLOGIC: vim.vm.device.VirtualBusLogicController,
    vimage.ADAPTER_LSILOGICSAS: vim.vm.device.VirtualLsiLogicSASController,
    vimage.ADAPTER_PARAVIRTUAL: vim.vm.device.ParaVirtualSCSIController,
}
_NIC_CLASSES = {name: getattr(vim.vm.device, name)
                for name in vimage.VIF_MODELS.values()}

_ADD = vim.vm.device.VirtualDeviceSpec.Operation.add
_CREATE = vim.vm.device.VirtualDeviceSpec.FileOperation.create


def temporary_keys(start=-1):
    """Negative device keys, unique within one ConfigSpec."""
    return itertools.count(start, -1)


class _Slots(object):
    """Hands out (controller key, unit number), adding controllers."""

    def __init__(self, keys):
        self._keys = keys
        self.controllers = []
        self._ide = [(key, unit) for key in IDE_CONTROLLER_KEYS
                     for unit in _IDE_UNITS]
        self._open = {}
        self._buses = {'scsi': 0, 'sata': 0}

    def take(self, adapter_type):
        if adapter_type == vimage.ADAPTER_IDE:
            if not self._ide:
                self._full('ide', len(IDE_CONTROLLER_KEYS) * len(_IDE_UNITS))
            return self._ide.pop(0)
        free = self._open.get(adapter_type)
        if not free:
            free = self._open[adapter_type] = self._add(adapter_type)
        return free.pop(0)

    def _add(self, adapter_type):
        if adapter_type == vimage.ADAPTER_SATA:
            family, buses, units = 'sata', _SATA_BUSES, _SATA_UNITS
            controller_class = vim.vm.device.VirtualAHCIController
        elif adapter_type in _SCSI_CONTROLLERS:
            family, buses, units = 'scsi', _SCSI_BUSES, _SCSI_UNITS
            controller_class = _SCSI_CONTROLLERS[adapter_type]
        else:
            raise exception.InvalidInput(reason=(
                'disk adapter type %r is not supported; allowed: %s' % (
                    adapter_type, ', '.join(vimage.ADAPTER_TYPES))))
        bus = self._buses[family]
        if bus == buses:
            self._full(family, buses * len(units))
        self._buses[family] = bus + 1
        controller = controller_class(key=next(self._keys), busNumber=bus)
        if family == 'scsi':
            controller.sharedBus = (
                vim.vm.device.VirtualSCSIController.Sharing.noSharing)
        self.controllers.append(_add_spec(controller))
        return [(controller.key, unit) for unit in units]

    @staticmethod
    def _full(family, count):
        raise exception.InvalidInput(reason=(
            'a VM holds at most %d %s disks and CD-ROMs' % (count, family)))


def _add_spec(device, file_operation=None):
    spec = vim.vm.device.VirtualDeviceSpec(operation=_ADD, device=device)
    if file_operation is not None:
        spec.fileOperation = file_operation
    return spec


def _connected(guest_control):
    return vim.vm.device.VirtualDevice.ConnectInfo(
        startConnected=True, connected=True,
        allowGuestControl=guest_control)


def _shares(allocation):
    level = allocation.shares_level or 'normal'
    return vim.SharesInfo(
        level=level,
        shares=allocation.shares if level == vflavor.SHARES_CUSTOM else 0)


def resource_allocation(allocation):
    """A ResourceAllocationInfo (CPU MHz, memory MB) from an Allocation."""
    return vim.ResourceAllocationInfo(
        limit=allocation.limit or -1,
        reservation=allocation.reservation or 0,
        shares=_shares(allocation))


def _storage_io_allocation(allocation):
    return vim.StorageResourceManager.IOAllocationInfo(
        limit=allocation.limit or -1,
        reservation=allocation.reservation or 0,
        shares=_shares(allocation))


def _nic_allocation(allocation):
    return vim.vm.device.VirtualEthernetCard.ResourceAllocation(
        limit=allocation.limit or -1,
        reservation=allocation.reservation or 0,
        share=_shares(allocation))


def _flat_backing(path, provisioning):
    backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
        fileName=str(path) if path is not None else '',
        diskMode=vim.vm.device.VirtualDiskOption.DiskMode.persistent)
    if provisioning == specs.PROVISIONING_THIN:
        backing.thinProvisioned = True
    elif provisioning == specs.PROVISIONING_EAGER_ZEROED:
        backing.thinProvisioned = False
        backing.eagerlyScrub = True
    else:
        backing.thinProvisioned = False
    return backing


def storage_profile(profile_id):
    """The profile specs applying a storage policy (a PBM profile id) to
    the VM's home or to a disk; [] for none."""
    if not profile_id:
        return []
    return [vim.vm.DefinedProfileSpec(profileId=profile_id)]


def disk_device_change(disk, controller_key, unit_number, key=-100):
    """The VirtualDeviceSpec adding one DiskSpec to a VM.

    A new disk is created (fileOperation 'create'); a linked clone is a new
    child disk whose backing's parent is the parent file, created at the
    parent's size (``create_size_kb``); an existing file is attached as it
    is.
    """
    backing = _flat_backing(disk.path, disk.provisioning)
    if disk.parent is not None:
        backing.parent = _flat_backing(disk.parent, disk.provisioning)
    device = vim.vm.device.VirtualDisk(
        key=key, controllerKey=controller_key, unitNumber=unit_number,
        backing=backing, connectable=_connected(False))
    # An existing file keeps its own size; stating it (as the in-tree
    # driver did) lets vCenter check it and report it at once.
    size_kb = (disk.create_size_kb or disk.size_kb) if disk.create \
        else disk.size_kb
    if size_kb:
        device.capacityInKB = size_kb
        device.capacityInBytes = size_kb * 1024
    if disk.io_limits.is_set:
        device.storageIOAllocation = _storage_io_allocation(disk.io_limits)
    return _add_spec(device, _CREATE if disk.create else None)


def cdrom_device_change(cdrom, controller_key, unit_number, key=-200):
    """The VirtualDeviceSpec adding a CD-ROM with an ISO file."""
    device = vim.vm.device.VirtualCdrom(
        key=key, controllerKey=controller_key, unitNumber=unit_number,
        backing=vim.vm.device.VirtualCdrom.IsoBackingInfo(
            fileName=str(cdrom.iso_path)),
        connectable=_connected(False))
    return _add_spec(device)


def _nic_backing(nic, network):
    ref = nic.network
    if ref.kind == specs.NETWORK_DVS:
        port = vim.dvs.PortConnection(switchUuid=ref.switch_uuid,
                                      portgroupKey=ref.portgroup_key)
        if ref.port_key:
            port.portKey = ref.port_key
        return vim.vm.device.VirtualEthernetCard.\
            DistributedVirtualPortBackingInfo(port=port)
    if ref.kind == specs.NETWORK_OPAQUE:
        return vim.vm.device.VirtualEthernetCard.OpaqueNetworkBackingInfo(
            opaqueNetworkId=ref.opaque_id,
            opaqueNetworkType=ref.opaque_type)
    if ref.kind == specs.NETWORK_PORTGROUP:
        backing = vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(
            deviceName=ref.name)
        if network is not None:
            backing.network = network
        return backing
    raise exception.InvalidInput(reason=(
        'port %s: network kind %r is not one of %s' % (
            nic.port_id, ref.kind, ', '.join((
                specs.NETWORK_DVS, specs.NETWORK_PORTGROUP,
                specs.NETWORK_OPAQUE)))))


def nic_device_change(nic, network=None, key=-300):
    """The VirtualDeviceSpec adding one NicSpec.

    ``network`` is the vim.Network the caller resolved for a ``portgroup``
    NetworkRef (optional: the name alone also binds a standard portgroup).
    """
    if nic.model not in _NIC_CLASSES:
        raise exception.InvalidInput(reason=(
            'port %s: NIC model %r is not one of %s' % (
                nic.port_id, nic.model, ', '.join(sorted(_NIC_CLASSES)))))
    device = _NIC_CLASSES[nic.model](
        key=key, addressType='manual', macAddress=nic.mac_address,
        wakeOnLanEnabled=True, backing=_nic_backing(nic, network),
        connectable=_connected(True))
    if nic.network.use_external_id:
        # NSX finds the VM's port by the Neutron port id.
        device.externalId = nic.port_id
    if nic.allocation.is_set:
        device.resourceAllocation = _nic_allocation(nic.allocation)
    return _add_spec(device)


def serial_port_device_change(serial, key=-400):
    """The VirtualDeviceSpec adding a serial port served over the network
    to a concentrator (as the in-tree driver adds it)."""
    backing = vim.vm.device.VirtualSerialPort.URIBackingInfo(
        direction='server', serviceURI=serial.service_uri)
    if serial.proxy_uri:
        backing.proxyURI = serial.proxy_uri
    device = vim.vm.device.VirtualSerialPort(
        key=key, backing=backing, yieldOnPoll=True,
        connectable=_connected(True))
    return _add_spec(device)


def _tools():
    return vim.vm.ToolsConfigInfo(
        afterPowerOn=True, afterResume=True, beforeGuestStandby=True,
        beforeGuestShutdown=True, beforeGuestReboot=True)


def create_spec(spec, vm_path, networks=None, managed_by=None):
    """The ConfigSpec of CreateVM_Task for a MachineSpec.

    ``vm_path``: where the VM's files go, a DatastorePath or its text;
    ``[datastore]`` lets vCenter make the VM's folder. ``networks`` maps
    NicSpec.port_id to the vim.Network resolved for ``portgroup`` refs.
    ``managed_by`` is the extension key (EXTENSION_KEY) when registered.
    """
    networks = networks or {}
    config = vim.vm.ConfigSpec(
        name=spec.name,
        instanceUuid=spec.instance_uuid,
        guestId=spec.guest_id,
        files=vim.vm.FileInfo(vmPathName=str(vm_path)),
        numCPUs=spec.num_cpus,
        numCoresPerSocket=spec.cores_per_socket,
        memoryMB=spec.memory_mb,
        annotation=spec.annotation,
        tools=_tools(),
        extraConfig=[vim.option.OptionValue(key=key, value=value)
                     for key, value in spec.extra_config.items()])
    if spec.firmware:
        config.firmware = spec.firmware
    if spec.hw_version:
        config.version = spec.hw_version
    if spec.nested_hv:
        config.nestedHVEnabled = True
    if spec.cpu_allocation.is_set:
        config.cpuAllocation = resource_allocation(spec.cpu_allocation)
    if spec.memory_allocation.is_set:
        config.memoryAllocation = resource_allocation(spec.memory_allocation)
    if spec.storage_profile_id:
        config.vmProfile = storage_profile(spec.storage_profile_id)
    if managed_by:
        config.managedBy = vim.ext.ManagedByInfo(
            extensionKey=managed_by, type=EXTENSION_TYPE_INSTANCE)

    keys = temporary_keys()
    slots = _Slots(keys)
    devices = []
    for disk in spec.disks:
        controller_key, unit = slots.take(disk.adapter_type)
        change = disk_device_change(disk, controller_key, unit, next(keys))
        if spec.storage_profile_id:
            change.profile = storage_profile(spec.storage_profile_id)
        devices.append(change)
    for cdrom in spec.cdroms:
        controller_key, unit = slots.take(cdrom.adapter_type)
        devices.append(cdrom_device_change(cdrom, controller_key, unit,
                                           next(keys)))
    for nic in spec.nics:
        devices.append(nic_device_change(nic, networks.get(nic.port_id),
                                         next(keys)))
    for serial in spec.serial_ports:
        devices.append(serial_port_device_change(serial, next(keys)))
    if spec.video_ram_kb:
        devices.append(_add_spec(vim.vm.device.VirtualVideoCard(
            key=next(keys), videoRamSizeInKB=spec.video_ram_kb)))
    # Controllers first: the devices refer to their temporary keys.
    config.deviceChange = slots.controllers + devices
    return config


def nic_backing(nic, network=None):
    """The backing of a NIC for a NicSpec (moves re-resolve it)."""
    return _nic_backing(nic, network)
