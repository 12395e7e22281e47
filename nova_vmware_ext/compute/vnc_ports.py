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

"""VNC ports of the cluster's VMs, allocated without scanning vCenter.

ESXi's VNC server (legacy: ESXi 7.0 removed it) listens for a VM on the
VM's ``RemoteDisplay.vnc.port`` on the host the VM runs on. DRS moves VMs
between the hosts of a cluster, so a port must be unique in the cluster,
and only there. The in-tree driver reads the port of every VM of the whole
vCenter on every spawn; here one keyed query of the cluster's VMs
(``config.extraConfig["RemoteDisplay.vnc.port"]``) fills a cache that this
process's own allocations keep current, under a lock, so two racing spawns
never get the same port. The cache is read again when it is older than
``max_age`` or the range looks full. A port that two VMs hold (another
nova-compute on the cluster, a VM migrated in with its port) is found at
that reading, and the VM that took it last gets a new one.
"""

import re
import threading
import time

from nova import exception
from oslo_log import log as logging
from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.compute import specs
from nova_vmware_ext.vsphere import props

LOG = logging.getLogger(__name__)

PORT_PATH = 'config.extraConfig["%s"]' % specs.VNC_PORT_KEY
_MOID_NUMBER = re.compile(r'(\d+)$')


# Ports are 16 bits, whatever vnc_port + vnc_port_total say.
_LAST_PORT = 65535


def free_port(used, first, total):
    """The lowest port of ``[first, first + total)`` (and at most 65535)
    not in ``used``, or None when every one is taken."""
    for port in range(first, min(first + total, _LAST_PORT + 1)):
        if port not in used:
            return port
    return None


def port_of(option):
    """The port in a RemoteDisplay.vnc.port OptionValue, or None."""
    if option is None:
        return None
    try:
        return int(str(option.value).strip())
    except (TypeError, ValueError):
        return None


def _creation_order(moid):
    """vCenter numbers VMs as it creates them: vm-12 before vm-103."""
    match = _MOID_NUMBER.search(moid)
    return (int(match.group(1)) if match else 0, moid)


def collisions(holders):
    """From {port: [moid, ...]}: [(moid, port)] of the VMs that must move,
    all holders of a shared port but the one that took it first."""
    moving = []
    for port, moids in sorted(holders.items()):
        for moid in sorted(moids, key=_creation_order)[1:]:
            moving.append((moid, port))
    return moving


class VncPorts(object):
    """Hands out the VNC ports of new VMs in one cluster.

    :param session: vsphere.session.Session.
    :param inventory: vsphere.inventory.Inventory of the cluster.
    :param waiter: vsphere.tasks.TaskWaiter (to move a colliding VM).
    :param first: ``[vmware] vnc_port``; ``total``: ``vnc_port_total``.
    :param max_age: seconds a reading of the cluster's ports is trusted.
    """

    def __init__(self, session, inventory, waiter, first, total,
                 page_size=1000, max_age=600, clock=time.monotonic):
        self.session = session
        self.inventory = inventory
        self.waiter = waiter
        self.first = first
        self.total = total
        self.page_size = page_size
        self.max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._used = None     # {port: VM moid}, as last read
        self._pending = {}    # {port: (instance UUID, when)}: VMs to be
        self._read_at = None
        self._read_generation = None
        self._view = None
        self._view_generation = None

    def allocate(self, instance_uuid):
        """A free port for the new VM of ``instance_uuid``, held for it."""
        with self._lock:
            if self._stale():
                self._read()
            port = self._free()
            if port is None:
                self._read()  # VMs deleted since: their ports are free
                port = self._free()
            if port is None:
                raise exception.ConsolePortRangeExhausted(
                    min_port=self.first, max_port=self.first + self.total)
            self._pending[port] = (instance_uuid, self._clock())
            return port

    def release(self, instance_uuid, port):
        """Give back the port of a VM that was not made."""
        with self._lock:
            held = self._pending.get(port)
            if held is not None and held[0] == instance_uuid:
                del self._pending[port]

    def _free(self):
        return free_port(self._used.keys() | self._pending.keys(),
                         self.first, self.total)

    def _stale(self):
        return (self._used is None or
                self._clock() - self._read_at > self.max_age or
                self._read_generation != self.session.generation)

    def _read(self):
        """Read every port of the cluster; move the VMs that collide.

        Ports held for spawns still under way stay held.
        """
        holders = {}
        for item in self._retrieve():
            port = port_of(item.get(PORT_PATH))
            if port is not None:
                holders.setdefault(port, []).append(item['obj']._moId)
        self._used = {port: moids[0] for port, moids in holders.items()}
        self._read_generation = self.session.generation
        now = self._clock()
        # A held port is in vCenter now, or its spawn ended long ago.
        self._pending = {
            port: held for port, held in self._pending.items()
            if port not in self._used and now - held[1] <= self.max_age}
        self._read_at = now
        for moid, port in collisions(holders):
            self._move(moid, port)

    def _move(self, moid, port):
        new_port = self._free()
        if new_port is None:
            LOG.warning('VMs of cluster share VNC port %(port)s and no port '
                        'is free to move VM %(vm)s to',
                        {'port': port, 'vm': moid})
            return
        LOG.warning('VNC port %(port)s is held by another VM of the '
                    'cluster too: moving VM %(vm)s to port %(new)s',
                    {'port': port, 'vm': moid, 'new': new_port})
        vm = self.session.mo('VirtualMachine', moid)
        spec = vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(
            key=specs.VNC_PORT_KEY, value=str(new_port))])
        try:
            self.waiter.wait(vm.ReconfigVM_Task(spec),
                             'new VNC port of VM %s' % moid)
        except vexc.VimException as exc:
            LOG.warning('Could not move VM %(vm)s to VNC port %(new)s: '
                        '%(err)s', {'vm': moid, 'new': new_port, 'err': exc})
            return
        self._used[new_port] = moid

    def _retrieve(self):
        paths = {vim.VirtualMachine: [PORT_PATH]}
        try:
            return self._vm_view().retrieve(paths, self.page_size)
        except vexc.ManagedObjectNotFoundException:
            self._view = None  # the view died with a session: make another
            return self._vm_view().retrieve(paths, self.page_size)

    def _vm_view(self):
        generation = self.session.generation
        if self._view is None or self._view_generation != generation:
            self._view = props.ContainerView(
                self.session, self.inventory.get().cluster,
                [vim.VirtualMachine])
            self._view_generation = generation
        return self._view
