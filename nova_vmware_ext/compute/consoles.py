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

"""Remote consoles of instances, each in the form its Nova proxy reads.

- MKS (Nova's ``webmks`` console): a ticket from
  ``VirtualMachine.AcquireTicket``. ``mks`` (the default) is what the
  in-tree driver hands nova-mksproxy: the ESXi host, port 902 and, in
  ``internal_access_path``, JSON with ``ticket``, ``cfgFile`` and the host's
  SHA-1 ``thumbprint`` (lower-case hex, no colons). ``webmks`` is a ticket
  for a browser or proxy that speaks WebMKS to ESXi itself: the host, port
  443 and JSON with ``ticket``, ``thumbprint`` and the WebSocket ``url``.
- VNC (legacy, ESXi before 7.0): the ESXi host the VM runs on and the VM's
  ``RemoteDisplay.vnc.port``, for VMs made by either driver.
- Serial: vmware-vspc, the concentrator the VMs' serial ports connect to
  (``[vmware] serial_port_service_uri``), writes each VM's output to
  ``serial_log_dir/<instance UUID without dashes>`` (the console log) and,
  with ``enable_clients``, relays an interactive console on a TCP port its
  admin interface names (``GET <uuid>`` -> ``host:port``).

Tickets, and the JSON that carries them, are never logged.
"""

import dataclasses
import os
import socket
from typing import Mapping, Optional, Tuple

from nova.console import type as ctype
from nova import exception
from oslo_log import log as logging
from oslo_serialization import jsonutils
from oslo_utils import netutils
from oslo_vmware import exceptions as vexc

from nova_vmware_ext.compute import specs
from nova_vmware_ext.compute import vnc_ports as vvnc_ports
from nova_vmware_ext.vsphere import props

LOG = logging.getLogger(__name__)

MKS = 'mks'
WEBMKS = 'webmks'
# What get_console_output returns at most: its last bytes (as in-tree).
MAX_CONSOLE_BYTES = 100 * 1024
# Seconds a question to the concentrator's admin interface may take.
VSPC_TIMEOUT = 10
_VSPC_MAX_ANSWER = 256


@dataclasses.dataclass(frozen=True)
class SpawnConsoles(object):
    """What a new VM gets for its consoles: extraConfig and serial ports;
    ``vnc_port`` is held for it until the VM exists."""

    extra_config: Mapping[str, str]
    serial_ports: Tuple[specs.SerialPortSpec, ...] = ()
    vnc_port: Optional[int] = None


def thumbprint_hex(thumbprint):
    """'AA:BB:..' as nova-mksproxy compares it: 'aabb..'."""
    return (thumbprint or '').replace(':', '').lower()


def mks_console(ticket, ticket_type=MKS, default_host=None):
    """The ConsoleMKS of a VirtualMachineTicket (or MksTicket).

    ``default_host`` stands in for a ticket that names no host (then the
    connection goes to the server that issued it).
    """
    host = ticket.host or default_host
    auth = {'ticket': ticket.ticket,
            'thumbprint': thumbprint_hex(ticket.sslThumbprint)}
    if ticket_type == MKS:
        auth['cfgFile'] = ticket.cfgFile
    else:
        auth['url'] = getattr(ticket, 'url', None) or (
            'wss://%s:%d/ticket/%s' % (
                netutils.escape_ipv6(host), ticket.port, ticket.ticket))
    return ctype.ConsoleMKS(host=host, port=ticket.port,
                            internal_access_path=jsonutils.dumps(auth))


def log_file_name(instance_uuid):
    """The file vmware-vspc writes a VM's serial output to: the VM's
    vCenter UUID (our instance UUID) without dashes."""
    name = instance_uuid.replace('-', '')
    if not name.isalnum():  # never a path outside serial_log_dir
        raise exception.InvalidInput(reason=(
            'instance UUID %r cannot name a console log' % instance_uuid))
    return name


def read_tail(path, limit=MAX_CONSOLE_BYTES):
    """The last ``limit`` bytes of a file."""
    with open(path, 'rb') as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - limit))
        return f.read()


def parse_vspc_answer(answer):
    """(host, port) from vmware-vspc's answer to GET, None for 'None'."""
    text = answer.decode('ascii', 'replace').strip()
    if not text or text == 'None':
        return None
    host, port = netutils.parse_host_port(text)
    if not host or not port:
        raise ValueError('not host:port: %r' % text[:80])
    return host, port


def vspc_address(address):
    """(host, port) of ``[vmware_ext] vspc_admin_address``."""
    try:
        host, port = netutils.parse_host_port(address)
    except ValueError:
        host = port = None
    if not host or not port:
        raise exception.InvalidInput(reason=(
            '[vmware_ext] vspc_admin_address %r is not host:port' % address))
    return host, port


def ask_vspc(address, instance_uuid, timeout=VSPC_TIMEOUT):
    """Where vmware-vspc relays the serial console of a VM, or None."""
    host, port = vspc_address(address)
    question = 'GET %s\n' % log_file_name(instance_uuid)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(question.encode('ascii'))
        answer = b''
        while b'\n' not in answer and len(answer) < _VSPC_MAX_ANSWER:
            chunk = sock.recv(_VSPC_MAX_ANSWER)
            if not chunk:
                break
            answer += chunk
    return parse_vspc_answer(answer)


class ConsoleOps(object):
    """Consoles of the instances of one cluster.

    :param session: vsphere.session.Session.
    :param instances: compute.instances.Instances, which VM is which.
    :param vnc_ports: compute.vnc_ports.VncPorts when new VMs get a VNC
        server ([vnc] enabled), else None.
    :param options: the ``[vmware]`` and ``[vmware_ext]`` console options.
    """

    def __init__(self, session, instances, vnc_ports=None, *,
                 mks_type=MKS, vnc_keymap=None, console_delay_seconds=None,
                 serial_port_service_uri=None, serial_port_proxy_uri=None,
                 serial_log_dir=None, vspc_admin_address=None):
        self.session = session
        self.instances = instances
        self.vnc_ports = vnc_ports
        self.mks_type = mks_type
        self.vnc_keymap = vnc_keymap
        self.console_delay_seconds = console_delay_seconds
        self.serial_port_service_uri = serial_port_service_uri
        self.serial_port_proxy_uri = serial_port_proxy_uri
        self.serial_log_dir = serial_log_dir
        if vspc_admin_address:
            vspc_address(vspc_admin_address)  # refused at start-up
        self.vspc_admin_address = vspc_admin_address

    # Spawn

    def for_spawn(self, instance):
        """The consoles of a new VM; its VNC port is held until
        ``release`` (a failed spawn) or for good."""
        vnc_port = None
        if self.vnc_ports is not None:
            vnc_port = self.vnc_ports.allocate(instance.uuid)
            LOG.debug('VNC port %s', vnc_port, instance=instance)
        return SpawnConsoles(
            extra_config=specs.console_extra_config(
                vnc_port=vnc_port, vnc_keymap=self.vnc_keymap,
                console_delay_seconds=self.console_delay_seconds),
            serial_ports=specs.serial_port_specs(
                self.serial_port_service_uri, self.serial_port_proxy_uri),
            vnc_port=vnc_port)

    def release(self, instance, consoles):
        """The VM of ``consoles`` was not made: free what it held."""
        if consoles.vnc_port is not None and self.vnc_ports is not None:
            self.vnc_ports.release(instance.uuid, consoles.vnc_port)

    # Consoles

    def mks(self, instance):
        """A ticket for the VM's console (InstanceNotReady unless on)."""
        ticket_type = self.mks_type

        def acquire(vm):
            return vm.AcquireTicket(ticketType=ticket_type)
        try:
            ticket = self.instances.call(instance, acquire)
        except vexc.InvalidPowerStateException as exc:
            raise exception.InstanceNotReady(
                instance_id=instance.uuid) from exc
        LOG.debug('Acquired a %(type)s ticket for ESXi host %(host)s',
                  {'type': ticket_type, 'host': ticket.host},
                  instance=instance)
        return mks_console(ticket, ticket_type, self.session.host)

    def vnc(self, instance):
        """The ESXi host and VNC port of the VM (in-tree compatible)."""
        for attempt in (1, 2):
            item = self.instances.read(instance, [vvnc_ports.PORT_PATH,
                                                  'runtime.host'])
            port = vvnc_ports.port_of(item.get(vvnc_ports.PORT_PATH))
            host_ref = item.get('runtime.host')
            if port is None or host_ref is None:
                raise exception.ConsoleTypeUnavailable(console_type='vnc')
            host = props.retrieve_one(self.session, host_ref, ['name'])
            if host is not None:
                break
            # The host left vCenter (the VM moved meanwhile): ask again.
        else:
            raise exception.ConsoleTypeUnavailable(console_type='vnc')
        LOG.debug('VNC console on ESXi host %(host)s port %(port)s',
                  {'host': host['name'], 'port': port}, instance=instance)
        return ctype.ConsoleVNC(host=host['name'], port=port)

    def output(self, instance):
        """The VM's serial console log (its last 100 KiB), as text."""
        if not self.serial_port_service_uri or not self.serial_log_dir:
            raise exception.ConsoleNotAvailable()
        path = os.path.join(self.serial_log_dir,
                            log_file_name(instance.uuid))
        self.instances.get(instance)  # InstanceNotFound without a VM
        try:
            data = read_tail(path)
        except FileNotFoundError:
            LOG.warning('No console log at %s yet: is vmware-vspc running '
                        'and writing to [vmware] serial_log_dir?', path,
                        instance=instance)
            return ''
        except OSError as exc:  # not readable by nova-compute
            LOG.warning('Cannot read the console log %(path)s: %(err)s',
                        {'path': path, 'err': exc}, instance=instance)
            raise exception.ConsoleNotAvailable() from exc
        # Nova encodes a str as latin-1: this decoding keeps every byte.
        return data.decode('latin-1')

    def serial(self, instance):
        """Where vmware-vspc relays the VM's interactive serial console."""
        if not self.serial_port_service_uri or not self.vspc_admin_address:
            raise exception.ConsoleTypeUnavailable(console_type='serial')
        self.instances.get(instance)  # InstanceNotFound without a VM
        try:
            found = ask_vspc(self.vspc_admin_address, instance.uuid)
        except (OSError, ValueError) as exc:
            LOG.warning('vmware-vspc at %(addr)s did not say where the '
                        'serial console is: %(err)s',
                        {'addr': self.vspc_admin_address, 'err': exc},
                        instance=instance)
            raise exception.ConsoleTypeUnavailable(
                console_type='serial') from exc
        if found is None:  # the VM is off or not connected to it
            raise exception.ConsoleTypeUnavailable(console_type='serial')
        return ctype.ConsoleSerial(host=found[0], port=found[1])
