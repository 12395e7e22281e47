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

"""Diagnostics of an instance's VM, from one property read.

``get_diagnostics`` is Nova's legacy free-form dict: the scalar values of
the VM's summary (config, quickStats, runtime), each key prefixed
``vmware:`` as the in-tree driver names them. ``get_instance_diagnostics``
fills Nova's Diagnostics model: power state, uptime, memory (configured and
guest-used, from quickStats), one CPU entry per vCPU, one NIC entry per
virtual NIC with its MAC address and one disk entry per virtual disk.
vSphere keeps per-device I/O counters in its performance manager, not in
the VM's properties: those fields stay unset, as in-tree.
``get_instance_disk_info`` lists the VM's virtual disks in the JSON shape
Nova's libvirt driver gives (path, virtual size, parent disk); the in-tree
driver returns nothing.
"""

import datetime

from oslo_serialization import jsonutils

from nova.compute import power_state
from nova import objects
from nova.virt import configdrive
from oslo_utils import timeutils
from pyVmomi import vim

from nova_vmware_ext.compute import instances as vinstances

_PATHS = ['runtime.powerState', 'summary.config', 'summary.quickStats',
          'summary.runtime', 'config.hardware.device']
_SUMMARY_PATHS = ('summary.config', 'summary.quickStats', 'summary.runtime')
_SCALARS = (str, int, float, bool)


class DiagnosticsOps(object):

    def __init__(self, instances):
        self.instances = instances

    def get_diagnostics(self, instance):
        item = self.instances.read(instance, _PATHS)
        found = {}
        for path in _SUMMARY_PATHS:
            found.update(_scalars(item.get(path)))
        return {'vmware:%s' % key: value for key, value in found.items()}

    def get_instance_disk_info(self, instance):
        """JSON list of the VM's disks: ``path`` (its datastore path),
        ``type`` 'vmdk', ``virt_disk_size`` in bytes, ``backing_file`` (the
        parent disk of a linked clone, '' for none)."""
        item = self.instances.read(instance, ['config.hardware.device'])
        disks = []
        for device in item.get('config.hardware.device') or ():
            if not isinstance(device, vim.vm.device.VirtualDisk):
                continue
            backing = device.backing
            parent = getattr(backing, 'parent', None)
            disks.append({
                'type': 'vmdk',
                'path': getattr(backing, 'fileName', None),
                'virt_disk_size': (device.capacityInBytes
                                   or (device.capacityInKB or 0) * 1024),
                'backing_file': getattr(parent, 'fileName', None) or '',
            })
        return jsonutils.dumps(disks)

    def get_instance_diagnostics(self, instance):
        item = self.instances.read(instance, _PATHS)
        config = item.get('summary.config')
        stats = item.get('summary.quickStats')
        state = vinstances.POWER_STATES.get(
            str(item.get('runtime.powerState')), power_state.NOSTATE)
        diags = objects.Diagnostics(
            state=power_state.STATE_MAP[state], driver='vmwareapi',
            hypervisor='vmware', hypervisor_os='esxi',
            config_drive=configdrive.required_by(instance),
            uptime=_uptime(state, stats, item.get('summary.runtime')))
        diags.memory_details = objects.MemoryDiagnostics(
            maximum=getattr(config, 'memorySizeMB', None),
            used=getattr(stats, 'guestMemoryUsage', None))
        for cpu in range(getattr(config, 'numCpu', None) or 0):
            diags.add_cpu(id=cpu)
        for device in item.get('config.hardware.device') or ():
            if isinstance(device, vim.vm.device.VirtualEthernetCard):
                diags.add_nic(mac_address=device.macAddress or None)
            elif isinstance(device, vim.vm.device.VirtualDisk):
                diags.add_disk()
        return diags


def _uptime(state, stats, runtime):
    """Seconds since the VM booted; 0 when it is not running."""
    if state != power_state.RUNNING:
        return 0
    uptime = getattr(stats, 'uptimeSeconds', None)
    if uptime is not None:
        return uptime
    boot_time = getattr(runtime, 'bootTime', None)
    if boot_time is None:
        return 0
    return max(int(timeutils.delta_seconds(boot_time, timeutils.utcnow(
        with_timezone=True))), 0)


def _scalars(data):
    """{property: value} of a vSphere data object's scalar properties."""
    if data is None:
        return {}
    found = {}
    for prop in data._GetPropertyList():
        value = getattr(data, prop.name, None)
        if isinstance(value, datetime.datetime):
            found[prop.name] = value.isoformat()
        elif isinstance(value, _SCALARS):
            found[prop.name] = value
    return found
