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

"""Console objects, VNC port allocation and the serial log, without vCenter.

vcsim drives the same code in tests/functional/test_driver_consoles.py;
here are the pure parts and what vcsim cannot do (a concentrator's answers,
a collision between computes, many racing spawns).
"""

import os
import socket
import threading
from unittest import mock

import fixtures
from nova import exception
from oslo_config import fixture as config_fixture
from oslo_serialization import jsonutils
from pyVmomi import vim
import testtools

from nova_vmware_ext.compute import consoles
from nova_vmware_ext.compute import specs
from nova_vmware_ext.compute import vm_config
from nova_vmware_ext.compute import vnc_ports
from tests import vspc

THUMBPRINT = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01'
TICKET = 'f0e1d2c3b4a5968778695a4b3c2d1e0f'
UUID = '6c5e8a34-7d1f-4f4e-9b0a-0123456789ab'


def ticket(**kwargs):
    values = dict(ticket=TICKET, host='esx-1.example.org', port=902,
                  sslThumbprint=THUMBPRINT,
                  cfgFile='/vmfs/volumes/ds-uuid/vm/vm.vmx')
    values.update(kwargs)
    return vim.VirtualMachine.Ticket(**values)


class MksConsoleTest(testtools.TestCase):

    def test_mks_ticket_as_nova_mksproxy_reads_it(self):
        console = consoles.mks_console(ticket())
        self.assertEqual(('esx-1.example.org', 902),
                         (console.host, console.port))
        self.assertEqual({'ticket': TICKET,
                          'cfgFile': '/vmfs/volumes/ds-uuid/vm/vm.vmx',
                          'thumbprint': 'abcdef0123456789abcdef0123456789'
                                        'abcdef01'},
                         jsonutils.loads(console.internal_access_path))

    def test_webmks_ticket_names_the_websocket(self):
        console = consoles.mks_console(ticket(port=443), consoles.WEBMKS)
        auth = jsonutils.loads(console.internal_access_path)
        self.assertEqual('wss://esx-1.example.org:443/ticket/' + TICKET,
                         auth['url'])
        self.assertEqual(TICKET, auth['ticket'])
        self.assertNotIn('cfgFile', auth)
        # vSphere 7 gives the url itself.
        console = consoles.mks_console(
            ticket(port=443, url='wss://esx-1/ticket/x'), consoles.WEBMKS)
        self.assertEqual('wss://esx-1/ticket/x', jsonutils.loads(
            console.internal_access_path)['url'])

    def test_ticket_without_host_goes_to_its_issuer(self):
        console = consoles.mks_console(ticket(host=None), consoles.WEBMKS,
                                       default_host='fd00::1')
        self.assertEqual('fd00::1', console.host)
        self.assertIn('wss://[fd00::1]:902/ticket/', jsonutils.loads(
            console.internal_access_path)['url'])


class ConsoleOpsTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # What the code logs goes with the test's details, not stderr.
        self.useFixture(fixtures.FakeLogger())

    def ops(self, **kwargs):
        instances = mock.Mock()
        session = mock.Mock(host='vc.example.org')
        return consoles.ConsoleOps(session, instances, **kwargs), instances

    def test_tickets_are_never_logged(self):
        logger = self.useFixture(fixtures.FakeLogger(level=10))  # DEBUG
        for kind in (consoles.MKS, consoles.WEBMKS):
            ops, instances = self.ops(mks_type=kind)
            instances.call.side_effect = lambda inst, op: op(mock.Mock(
                AcquireTicket=mock.Mock(return_value=ticket())))
            console = ops.mks(mock.Mock(uuid=UUID))
            self.assertIn(TICKET, console.internal_access_path)
        self.assertIn('Acquired a webmks ticket for ESXi host '
                      'esx-1.example.org', logger.output)
        self.assertNotIn(TICKET, logger.output)
        self.assertNotIn('cfgFile', logger.output)
        self.assertNotIn(THUMBPRINT[:8], logger.output)

    def test_vnc_host_gone_is_asked_once_more(self):
        ops, instances = self.ops()
        instances.read.return_value = {
            'runtime.host': vim.HostSystem('host-1'),
            vnc_ports.PORT_PATH: port_option(5901)}
        with mock.patch.object(consoles.props, 'retrieve_one',
                               side_effect=[None, {'name': 'esx-2'}]):
            console = ops.vnc(mock.Mock(uuid=UUID))
        self.assertEqual(('esx-2', 5901), (console.host, console.port))
        self.assertEqual(2, instances.read.call_count)
        with mock.patch.object(consoles.props, 'retrieve_one',
                               return_value=None):
            self.assertRaises(exception.ConsoleTypeUnavailable, ops.vnc,
                              mock.Mock(uuid=UUID))

    def test_no_serial_port_no_console_output(self):
        ops, _ = self.ops(serial_log_dir='/var/log/vspc')
        self.assertRaises(exception.ConsoleNotAvailable, ops.output,
                          mock.Mock(uuid=UUID))

    def test_console_output_is_the_log_tail_as_latin1(self):
        folder = self.useFixture(fixtures.TempDir()).path
        ops, _ = self.ops(serial_port_service_uri='vmware-vspc',
                          serial_log_dir=folder)
        instance = mock.Mock(uuid=UUID)
        self.assertEqual('', ops.output(instance))  # nothing written yet
        data = b'x' * consoles.MAX_CONSOLE_BYTES + b'login: \xff\n'
        with open(os.path.join(folder, UUID.replace('-', '')), 'wb') as f:
            f.write(data)
        output = ops.output(instance)
        self.assertEqual(consoles.MAX_CONSOLE_BYTES, len(output))
        self.assertTrue(output.endswith('login: \xff\n'))
        self.assertEqual(data[-consoles.MAX_CONSOLE_BYTES:],
                         output.encode('latin-1'))

    def test_log_names_cannot_leave_the_folder(self):
        self.assertEqual('6c5e8a347d1f4f4e9b0a0123456789ab',
                         consoles.log_file_name(UUID))
        self.assertRaises(exception.InvalidInput, consoles.log_file_name,
                          '../../etc/passwd')

    def test_vspc_names_the_relay(self):
        admin = self.useFixture(vspc.FakeVspcAdmin())
        admin.relays[UUID.replace('-', '')] = '10.0.0.5:20001'
        ops, _ = self.ops(serial_port_service_uri='vmware-vspc',
                          vspc_admin_address=admin.address)
        console = ops.serial(mock.Mock(uuid=UUID))
        self.assertEqual(('10.0.0.5', 20001), (console.host, console.port))
        self.assertEqual([['GET', '6c5e8a347d1f4f4e9b0a0123456789ab']],
                         admin.asked)
        # A VM the concentrator does not have (off, not connected).
        other = mock.Mock(uuid='00000000-0000-0000-0000-000000000001')
        self.assertRaises(exception.ConsoleTypeUnavailable, ops.serial,
                          other)

    def test_vspc_unreachable_or_garbled(self):
        ops, _ = self.ops(serial_port_service_uri='vmware-vspc',
                          vspc_admin_address='127.0.0.1:1')
        self.assertRaises(exception.ConsoleTypeUnavailable, ops.serial,
                          mock.Mock(uuid=UUID))
        self.assertRaises(ValueError, consoles.parse_vspc_answer,
                          b'<html>')
        self.assertIsNone(consoles.parse_vspc_answer(b'None\n'))

    def test_vspc_that_never_answers(self):
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(('127.0.0.1', 0))
        listener.listen(1)
        address = '127.0.0.1:%d' % listener.getsockname()[1]
        self.assertRaises(OSError, consoles.ask_vspc, address, UUID,
                          timeout=0.2)

    def test_bad_vspc_address_is_refused_at_start(self):
        for address in ('vspc.example.org', 'a:b:c', ':13371'):
            error = self.assertRaises(exception.InvalidInput, self.ops,
                                      vspc_admin_address=address)
            self.assertIn('vspc_admin_address', str(error))

    def test_unreadable_log(self):
        folder = self.useFixture(fixtures.TempDir()).path
        os.mkdir(os.path.join(folder, UUID.replace('-', '')))
        ops, _ = self.ops(serial_port_service_uri='vmware-vspc',
                          serial_log_dir=folder)
        self.assertRaises(exception.ConsoleNotAvailable, ops.output,
                          mock.Mock(uuid=UUID))

    def test_serial_needs_the_concentrator(self):
        ops, _ = self.ops(serial_port_service_uri='vmware-vspc')
        self.assertRaises(exception.ConsoleTypeUnavailable, ops.serial,
                          mock.Mock(uuid=UUID))


class SpawnConsolesTest(testtools.TestCase):

    def test_extra_config_as_in_tree(self):
        self.assertEqual(
            {'RemoteDisplay.vnc.enabled': 'true',
             'RemoteDisplay.vnc.port': '5901',
             'RemoteDisplay.vnc.keyMap': 'de',
             'keyboard.typematicMinDelay': '2000000'},
            specs.console_extra_config(vnc_port=5901, vnc_keymap='de',
                                       console_delay_seconds=2))
        self.assertEqual({}, specs.console_extra_config())

    def test_serial_port_device(self):
        self.assertEqual((), specs.serial_port_specs(None, 'telnet://x:1'))
        serial, = specs.serial_port_specs('vmware-vspc',
                                          'telnet://vspc:13370')
        change = vm_config.serial_port_device_change(serial, key=-7)
        device = change.device
        self.assertEqual('add', change.operation)
        self.assertIsInstance(device, vim.vm.device.VirtualSerialPort)
        self.assertEqual(('server', 'vmware-vspc', 'telnet://vspc:13370'),
                         (device.backing.direction,
                          device.backing.serviceURI,
                          device.backing.proxyURI))
        self.assertTrue(device.yieldOnPoll)
        self.assertTrue(device.connectable.startConnected)

    def test_for_spawn_holds_and_releases_the_port(self):
        ports = mock.Mock()
        ports.allocate.return_value = 5905
        ops = consoles.ConsoleOps(mock.Mock(), mock.Mock(), ports,
                                  vnc_keymap='fr',
                                  serial_port_service_uri='vmware-vspc')
        instance = mock.Mock(uuid=UUID)
        made = ops.for_spawn(instance)
        self.assertEqual('5905', made.extra_config['RemoteDisplay.vnc.port'])
        self.assertEqual('vmware-vspc', made.serial_ports[0].service_uri)
        ops.release(instance, made)
        ports.release.assert_called_once_with(UUID, 5905)


def port_option(port):
    return vim.option.OptionValue(key=specs.VNC_PORT_KEY, value=str(port))


class VncPortsTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # What the code logs goes with the test's details, not stderr.
        self.useFixture(fixtures.FakeLogger())
        self.now = 0.0
        self.vms = {}   # moid -> port
        self.reads = 0
        self.session = mock.Mock(generation=1)
        self.waiter = mock.Mock()
        self.ports = vnc_ports.VncPorts(
            self.session, mock.Mock(), self.waiter, first=5900, total=4,
            max_age=600, clock=lambda: self.now)
        self.ports._retrieve = self.retrieve

    def retrieve(self):
        self.reads += 1
        return [{'obj': vim.VirtualMachine(moid),
                 vnc_ports.PORT_PATH: port_option(port)}
                for moid, port in self.vms.items()] + [
            {'obj': vim.VirtualMachine('vm-no-vnc')}]

    def test_lowest_free_port_read_once(self):
        self.vms = {'vm-1': 5900, 'vm-2': 5902}
        self.assertEqual(5901, self.ports.allocate('a'))
        self.assertEqual(5903, self.ports.allocate('b'))
        self.assertEqual(1, self.reads)

    def test_full_range_is_read_again_then_refused(self):
        self.vms = {'vm-%d' % i: 5900 + i for i in range(4)}
        self.assertRaises(exception.ConsolePortRangeExhausted,
                          self.ports.allocate, 'a')
        self.assertEqual(2, self.reads)
        del self.vms['vm-2']  # deleted meanwhile
        self.assertEqual(5902, self.ports.allocate('a'))

    def test_old_reading_and_new_session_are_read_again(self):
        self.ports.allocate('a')
        self.now = 601
        self.ports.allocate('b')
        self.assertEqual(2, self.reads)
        self.session.generation = 2
        self.ports.allocate('c')
        self.assertEqual(3, self.reads)

    def test_ports_of_spawns_under_way_survive_a_reading(self):
        self.assertEqual(5900, self.ports.allocate('a'))
        self.now = 300
        self.session.generation = 2  # read again; 'a' has no VM yet
        self.assertEqual(5901, self.ports.allocate('b'))
        self.assertEqual(2, self.reads)
        self.vms = {'vm-1': 5900}  # 'a' made its VM
        self.now = 1000  # 'b' never did (its spawn is long over)
        self.assertEqual(5901, self.ports.allocate('c'))
        self.assertEqual(3, self.reads)

    def test_released_port_is_given_again(self):
        port = self.ports.allocate('a')
        self.ports.release('a', port)
        self.assertEqual(port, self.ports.allocate('b'))

    def test_racing_spawns_get_different_ports(self):
        self.ports.total = 200
        barrier = threading.Barrier(8)
        got = []

        def spawn(name):
            barrier.wait()
            for i in range(20):
                got.append(self.ports.allocate('%s-%d' % (name, i)))
        threads = [threading.Thread(target=spawn, args=(str(n),))
                   for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(160, len(got))
        self.assertEqual(sorted(got), sorted(set(got)))
        self.assertEqual(1, self.reads)

    def test_collision_moves_the_later_vm(self):
        # Another compute (or a migration) gave vm-103 the port of vm-12.
        self.vms = {'vm-103': 5900, 'vm-12': 5900}
        moved = mock.Mock()
        self.session.mo.return_value = moved
        self.assertEqual(5902, self.ports.allocate('a'))
        self.session.mo.assert_called_once_with('VirtualMachine', 'vm-103')
        spec, = moved.ReconfigVM_Task.call_args[0]
        self.assertEqual([(specs.VNC_PORT_KEY, '5901')],
                         [(o.key, o.value) for o in spec.extraConfig])
        self.waiter.wait.assert_called_once_with(
            moved.ReconfigVM_Task.return_value, mock.ANY)
        self.assertEqual(5903, self.ports.allocate('b'))

    def test_collisions_pure(self):
        self.assertEqual([('vm-103', 5900), ('vm-7', 5901)],
                         vnc_ports.collisions({5900: ['vm-103', 'vm-12'],
                                               5901: ['vm-7', 'vm-3'],
                                               5902: ['vm-1']}))
        self.assertIsNone(vnc_ports.free_port({1, 2}, 1, 2))
        self.assertIsNone(vnc_ports.free_port({65535}, 65535, 100))
        self.assertIsNone(vnc_ports.port_of(port_option('x')))


class CheckConfigTest(testtools.TestCase):

    def test_bad_vspc_address_stops_init_host_before_login(self):
        from nova_vmware_ext.compute import host
        flags = self.useFixture(config_fixture.Config(host.CONF))
        flags.config(group='vmware', host_ip='vc', host_username='u',
                     host_password='p', cluster_name='c')
        flags.config(group='vmware_ext', vspc_admin_address='vspc.example')
        error = self.assertRaises(exception.InvalidInput, host.check_config)
        self.assertIn("vspc_admin_address 'vspc.example'", str(error))
