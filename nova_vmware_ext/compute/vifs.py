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

"""Interfaces of an existing instance: NIC hot-add and removal, vnic_index.

``attach_interface`` adds one NIC with one ReconfigVM_Task, the VM powered
on (a hot-add) or off, on the network the port's binding names, with the
image's NIC model, and records the port in the first free
``nvp.iface-id.N`` extraConfig slot. ``detach_interface`` removes the NIC
that has the port's MAC and marks its slot ``free``: as in-tree, a slot key
once set is kept and reused, since ESXi wires NSX networking by these keys.
Neutron's ``vnic_index`` of each port is its slot number (NSX plugins read
it), set at spawn and attach and cleared at detach.
"""

import dataclasses

from nova import exception
from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import excutils
from pyVmomi import vim

from nova_vmware_ext.compute import flavor as vflavor
from nova_vmware_ext.compute import image_meta as vimage
from nova_vmware_ext.compute import networks as vnetworks
from nova_vmware_ext.compute import specs
from nova_vmware_ext.compute import vm_config

LOG = logging.getLogger(__name__)

IFACE_ID_PREFIX = 'nvp.iface-id.'
FREE = 'free'
_REMOVE = vim.vm.device.VirtualDeviceSpec.Operation.remove
_DEVICE_PATHS = ['config.extraConfig', 'config.hardware.device']


# Pure: what to change, from what the VM has.

def iface_slots(extra_config):
    """{slot number: port id or 'free'} of the ``nvp.iface-id.N`` keys."""
    slots = {}
    for option in extra_config or ():
        key = option.key or ''
        suffix = key[len(IFACE_ID_PREFIX):]
        if key.startswith(IFACE_ID_PREFIX) and suffix.isdigit():
            slots[int(suffix)] = option.value
    return slots


def attach_slot(slots):
    """The lowest slot number not in use (a ``free`` slot is reused)."""
    used = {index for index, value in slots.items() if value != FREE}
    index = 0
    while index in used:
        index += 1
    return index


def detach_slot(slots, port_id):
    """The slot holding ``port_id``, or None."""
    for index, value in sorted(slots.items()):
        if value == port_id:
            return index
    return None


def nic_with_mac(devices, mac_address):
    """The VM's NIC with ``mac_address`` (any case), or None."""
    for device in devices or ():
        if (isinstance(device, vim.vm.device.VirtualEthernetCard) and
                (device.macAddress or '').lower() == mac_address.lower()):
            return device
    return None


def _slot_option(index, value):
    return vim.option.OptionValue(key='%s%d' % (IFACE_ID_PREFIX, index),
                                  value=value)


def attach_config(nic, network=None):
    """The ConfigSpec adding ``nic`` (a NicSpec, its index the slot)."""
    return vim.vm.ConfigSpec(
        deviceChange=[vm_config.nic_device_change(nic, network)],
        extraConfig=[_slot_option(nic.index, nic.port_id)])


def detach_config(device, slot, slot_value=FREE):
    """The ConfigSpec removing ``device``; its slot (if any) becomes
    ``slot_value``: ``free`` to be reused, '' to remove the key."""
    config = vim.vm.ConfigSpec(deviceChange=[
        vim.vm.device.VirtualDeviceSpec(operation=_REMOVE, device=device)])
    if slot is not None:
        config.extraConfig = [_slot_option(slot, slot_value)]
    return config


def _check_mac(vif):
    """A NIC is found and made by its port's MAC: there must be one."""
    if not vif.get('address'):
        raise exception.InvalidInput(reason=(
            'port %s has no MAC address' % vif.get('id')))


def update_vnic_indexes(network_api, context, instance, network_info):
    """Tell Neutron each port's vnic index (its place in network_info, the
    slot spawn gives it), as the in-tree driver does after CreateVM."""
    for index, vif in enumerate(network_info or ()):
        network_api.update_instance_vnic_index(context, instance, vif, index)


class VifOps(object):
    """Adds and removes the NICs of instances' VMs.

    :param waiter: vsphere.tasks.TaskWaiter.
    :param inventory: vsphere.inventory.Inventory of the cluster (networks).
    :param instances: compute.instances.Instances, which VM is which.
    :param network_api: Nova's Neutron API (``update_instance_vnic_index``).
    :param integration_bridge: ``[vmware] integration_bridge`` (NSX-MH).
    """

    def __init__(self, waiter, inventory, instances, network_api,
                 integration_bridge=None):
        self.waiter = waiter
        self.inventory = inventory
        self.instances = instances
        self.network_api = network_api
        self.integration_bridge = integration_bridge

    def attach_interface(self, context, instance, image_meta, vif):
        nic, network = self._nic(instance, image_meta, vif)
        # One hot-plug at a time per instance: two would take one slot.
        with lockutils.lock('vmware-ext-hot-plug-%s' % instance.uuid):
            item = self.instances.read(instance, _DEVICE_PATHS)
            vm = item['obj']
            if nic_with_mac(item.get('config.hardware.device'),
                            nic.mac_address) is not None:
                raise exception.InterfaceAttachFailed(message=(
                    'Cannot attach port %s to instance %s: its VM already '
                    'has a NIC with MAC %s' % (nic.port_id, instance.uuid,
                                               nic.mac_address)))
            slots = iface_slots(item.get('config.extraConfig'))
            nic = dataclasses.replace(nic, index=attach_slot(slots))
            self.waiter.wait(vm.ReconfigVM_Task(attach_config(nic, network)),
                             'attach of port %s to instance %s' % (
                                 nic.port_id, instance.uuid))
            try:
                self.network_api.update_instance_vnic_index(
                    context, instance, vif, nic.index)
            except Exception:
                with excutils.save_and_reraise_exception():
                    self._take_back(instance, vm, nic,
                                    FREE if nic.index in slots else '')
        LOG.info('Attached port %(port)s (MAC %(mac)s, %(model)s) as '
                 '%(key)s%(slot)d', {'port': nic.port_id,
                                     'mac': nic.mac_address,
                                     'model': nic.model,
                                     'key': IFACE_ID_PREFIX,
                                     'slot': nic.index}, instance=instance)

    def _nic(self, instance, image_meta, vif):
        """(NicSpec, vim.Network or None) of ``vif``; InterfaceAttachFailed
        naming the cause when the port cannot be a NIC of this cluster."""
        try:
            _check_mac(vif)
            image = vimage.from_image_meta(image_meta)
            limits = vflavor.flavor_limits(instance.flavor)
            nic, = specs.nic_specs([vif], image.vif_model,
                                   allocation=limits.vif,
                                   integration_bridge=self.integration_bridge)
            try:
                resolved, networks = vnetworks.resolve(
                    self.inventory.get(), [nic])
            except exception.NetworkNotFoundForBridge:
                # A port group made since we last looked?
                resolved, networks = vnetworks.resolve(
                    self.inventory.refresh(), [nic])
        except (exception.InvalidInput, exception.ImageUnacceptable,
                exception.NetworkNotFoundForBridge) as exc:
            raise exception.InterfaceAttachFailed(message=(
                'Cannot attach port %s to instance %s: %s' % (
                    vif.get('id'), instance.uuid, exc.format_message())))
        nic = dataclasses.replace(
            nic, network=resolved.get(nic.port_id, nic.network))
        return nic, networks.get(nic.port_id)

    def _take_back(self, instance, vm, nic, slot_value):
        """Remove the NIC just attached (Neutron refused its index) and
        give its slot key ``slot_value``, what it was before."""
        try:
            devices = self.instances.read(
                instance, ['config.hardware.device']).get(
                    'config.hardware.device')
            device = nic_with_mac(devices, nic.mac_address)
            if device is not None:
                self.waiter.wait(
                    vm.ReconfigVM_Task(detach_config(device, nic.index,
                                                     slot_value)),
                    'removal of the NIC of port %s' % nic.port_id)
        except Exception as exc:
            LOG.error('Could not remove the NIC of port %(port)s after the '
                      'failed attach: %(err)s', {'port': nic.port_id,
                                                 'err': exc},
                      instance=instance)

    def detach_interface(self, context, instance, vif):
        try:
            _check_mac(vif)
        except exception.InvalidInput as exc:
            raise exception.InterfaceDetachFailed(message=(
                'Cannot detach port %s from instance %s: %s' % (
                    vif.get('id'), instance.uuid, exc.format_message())))
        with lockutils.lock('vmware-ext-hot-plug-%s' % instance.uuid):
            item = self.instances.read(instance, _DEVICE_PATHS)
            device = nic_with_mac(item.get('config.hardware.device'),
                                  vif['address'])
            if device is None:
                raise exception.InterfaceDetachFailed(message=(
                    'Cannot detach port %s from instance %s: its VM has no '
                    'NIC with MAC %s' % (vif['id'], instance.uuid,
                                         vif['address'])))
            slot = detach_slot(iface_slots(item.get('config.extraConfig')),
                               vif['id'])
            # Cleared before the NIC goes, as in-tree.
            self.network_api.update_instance_vnic_index(
                context, instance, vif, None)
            try:
                self.waiter.wait(
                    item['obj'].ReconfigVM_Task(detach_config(device, slot)),
                    'detach of port %s from instance %s' % (vif['id'],
                                                            instance.uuid))
            except Exception:
                with excutils.save_and_reraise_exception():
                    self._restore_index(context, instance, vif, slot)
        LOG.info('Detached port %(port)s (MAC %(mac)s, slot %(slot)s)',
                 {'port': vif['id'], 'mac': vif['address'], 'slot': slot},
                 instance=instance)

    def _restore_index(self, context, instance, vif, slot):
        """The NIC stays: give its port back the vnic index it had."""
        if slot is None:
            return
        try:
            self.network_api.update_instance_vnic_index(
                context, instance, vif, slot)
        except Exception as exc:
            LOG.error('Could not restore the vnic index of port %(port)s '
                      'after the failed detach: %(err)s',
                      {'port': vif['id'], 'err': exc}, instance=instance)
