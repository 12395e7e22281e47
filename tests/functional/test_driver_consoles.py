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

"""Consoles against vcsim: MKS and WebMKS tickets, VNC, serial port and log.

What the driver hands Nova is compared with what vSphere says through an
independent pyvmomi connection: the ESXi host the VM runs on, the ports
and extraConfig of the VM, its serial port device.
"""

import hashlib
import os
import ssl
import threading

import fixtures
from nova.console import type as ctype
from nova import exception
from oslo_serialization import jsonutils
from pyVmomi import vim

from tests.functional import driver_base
from tests.functional import test_driver_spawn
from tests import vspc

VSPC_URI = 'vmware-vspc'
VSPC_PROXY = 'telnet://vspc.example.org:13370'


def option(vm, key):
    """The value of a VM's extraConfig key, or None."""
    for opt in vm['config.extraConfig']:
        if opt.key == key:
            return opt.value
    return None


class ConsoleTestBase(test_driver_spawn.SpawnTestBase):

    VCSIM_SHAPE = dict(hosts=2, datastores=1, portgroups=1)

    def restart_driver(self):
        driver = super().restart_driver()
        driver._host.spawner.image_api = self.images
        return driver

    def running(self, **kwargs):
        instance = self.make_instance(**kwargs)
        self.spawn(instance, self.flat)
        return instance

    def host_name(self, vm):
        hosts = self.query(vim.HostSystem, ['name'])
        return hosts[vm['runtime.host']._moId]['name']

    def vm(self, instance):
        item = super().vm(instance)
        item.update(self.vm_of(instance.uuid, ['runtime.host']))
        return item


class MksConsoleTest(ConsoleTestBase):

    def expected_thumbprint(self):
        # vcsim's hosts are served by its own certificate.
        with open(self.vcsim.ca_file) as f:
            return hashlib.sha1(ssl.PEM_cert_to_DER_cert(
                f.read())).hexdigest()

    def test_mks_ticket_for_nova_mksproxy(self):
        instance = self.running()
        logger = self.useFixture(fixtures.FakeLogger(level=10))  # DEBUG
        console = self.driver.get_mks_console(self.context, instance)
        self.assertIsInstance(console, ctype.ConsoleMKS)
        vm = self.vm(instance)
        self.assertEqual(self.host_name(vm), console.host)
        self.assertEqual(902, console.port)
        auth = jsonutils.loads(console.internal_access_path)
        self.assertEqual({'ticket', 'cfgFile', 'thumbprint'}, set(auth))
        self.assertEqual(self.expected_thumbprint(), auth['thumbprint'])
        # The .vmx as the ESXi host sees it.
        self.assertTrue(auth['cfgFile'].endswith(
            '/%s/%s.vmx' % (instance.uuid, instance.uuid)), auth['cfgFile'])
        self.assertGreaterEqual(len(auth['ticket']), 16)
        # Neither the ticket nor the payload reaches any log.
        self.assertIn('Acquired a mks ticket', logger.output)
        self.assertNotIn(auth['ticket'], logger.output)
        self.assertNotIn(auth['thumbprint'], logger.output)
        # A ticket is good once: each console gets its own.
        again = self.driver.get_mks_console(self.context, instance)
        self.assertNotEqual(auth['ticket'], jsonutils.loads(
            again.internal_access_path)['ticket'])

    def test_webmks_ticket_for_a_browser(self):
        self.flags.config(group='vmware_ext', mks_console_type='webmks')
        self.restart_driver()
        instance = self.running()
        console = self.driver.get_mks_console(self.context, instance)
        host = self.host_name(self.vm(instance))
        self.assertEqual((host, 443), (console.host, console.port))
        auth = jsonutils.loads(console.internal_access_path)
        self.assertEqual('wss://%s:443/ticket/%s' % (host, auth['ticket']),
                         auth['url'])
        self.assertEqual(self.expected_thumbprint(), auth['thumbprint'])

    def test_powered_off_vm_has_no_console(self):
        instance = self.make_instance()
        self.spawn(instance, self.flat, power_on=False)
        self.assertRaises(exception.InstanceNotReady,
                          self.driver.get_mks_console, self.context,
                          instance)

    def test_unknown_instance(self):
        self.assertRaises(exception.InstanceNotFound,
                          self.driver.get_mks_console, self.context,
                          self.make_instance())


class VncConsoleTest(ConsoleTestBase):

    def setUp(self):
        super().setUp()
        self.flags.config(group='vnc', enabled=True)
        self.flags.config(group='vmware', vnc_port=5950, vnc_port_total=3,
                          vnc_keymap='de', console_delay_seconds=1)
        self.restart_driver()

    def test_spawn_enables_vnc_on_distinct_ports(self):
        # A VM the in-tree driver made holds the first port.
        in_tree_uuid, in_tree_vm = self.make_nova_vm(extra_config={
            'RemoteDisplay.vnc.enabled': 'true',
            'RemoteDisplay.vnc.port': '5950'}, power_on=True)
        first, second = self.running(), self.running()
        ports = []
        for instance in (first, second):
            vm = self.vm(instance)
            self.assertEqual('true', option(vm, 'RemoteDisplay.vnc.enabled'))
            self.assertEqual('de', option(vm, 'RemoteDisplay.vnc.keyMap'))
            self.assertEqual('1000000',
                             option(vm, 'keyboard.typematicMinDelay'))
            ports.append(int(option(vm, 'RemoteDisplay.vnc.port')))
        self.assertEqual([5951, 5952], ports)
        # The range (3 ports) is full now.
        self.assertRaises(exception.ConsolePortRangeExhausted,
                          self.running)
        # The VMs of both drivers have their console on their ESXi host.
        for instance, port in ((first, 5951),
                               (self.instance(in_tree_uuid), 5950)):
            console = self.driver.get_vnc_console(self.context, instance)
            self.assertIsInstance(console, ctype.ConsoleVNC)
            vm = self.vm_of(instance.uuid, ['runtime.host'])
            self.assertEqual(self.host_name(vm), console.host)
            self.assertEqual(port, console.port)

    def test_port_held_twice_is_given_up_by_the_later_vm(self):
        # Another compute on the cluster, or a VM migrated in with its
        # port: two VMs hold 5950.
        vnc = {'RemoteDisplay.vnc.enabled': 'true',
               'RemoteDisplay.vnc.port': '5950'}
        older_uuid, _ = self.make_nova_vm(extra_config=vnc)
        later_uuid, _ = self.make_nova_vm(extra_config=vnc)
        instance = self.running()
        port = 'config.extraConfig["RemoteDisplay.vnc.port"]'
        found = {uuid: self.vm_of(uuid, [port])[port].value
                 for uuid in (older_uuid, later_uuid, instance.uuid)}
        self.assertEqual({older_uuid: '5950', later_uuid: '5951',
                          instance.uuid: '5952'}, found)

    def test_cached_ports_cost_no_call(self):
        self.running()
        instance = self.make_instance()
        with self.session.calls.scope() as scope:
            self.spawn(instance, self.flat)
        self.assertEqual(0, scope.by_method['RetrievePropertiesEx'])
        self.assertEqual('5951',
                         option(self.vm(instance), 'RemoteDisplay.vnc.port'))

    def test_racing_spawns_get_distinct_ports(self):
        instances = [self.make_instance() for _ in range(3)]
        errors = []

        def spawn(instance):
            try:
                self.spawn(instance, self.flat)
            except Exception as exc:  # reported below
                errors.append(exc)
        threads = [threading.Thread(target=spawn, args=(i,))
                   for i in instances]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual([], errors)
        self.assertEqual([5950, 5951, 5952], sorted(
            int(option(self.vm(i), 'RemoteDisplay.vnc.port'))
            for i in instances))

    def test_vm_without_vnc(self):
        self.flags.config(group='vnc', enabled=False)
        self.restart_driver()
        instance = self.running()
        self.assertIsNone(option(self.vm(instance),
                                 'RemoteDisplay.vnc.port'))
        self.assertRaises(exception.ConsoleTypeUnavailable,
                          self.driver.get_vnc_console, self.context,
                          instance)


class SerialConsoleTest(ConsoleTestBase):

    def setUp(self):
        super().setUp()
        self.log_dir = self.useFixture(fixtures.TempDir()).path
        self.flags.config(group='vmware',
                          serial_port_service_uri=VSPC_URI,
                          serial_port_proxy_uri=VSPC_PROXY,
                          serial_log_dir=self.log_dir)
        self.restart_driver()

    def test_spawn_adds_the_concentrator_port(self):
        instance = self.running()
        ports = [d for d in self.vm(instance)['config.hardware.device']
                 if isinstance(d, vim.vm.device.VirtualSerialPort)]
        self.assertEqual(1, len(ports))
        backing = ports[0].backing
        self.assertIsInstance(backing,
                              vim.vm.device.VirtualSerialPort.URIBackingInfo)
        self.assertEqual(('server', VSPC_URI, VSPC_PROXY),
                         (backing.direction, backing.serviceURI,
                          backing.proxyURI))
        self.assertTrue(ports[0].yieldOnPoll)
        self.assertTrue(ports[0].connectable.startConnected)

    def test_console_log_as_vspc_writes_it(self):
        instance = self.running()
        self.assertEqual('', self.driver.get_console_output(self.context,
                                                            instance))
        path = os.path.join(self.log_dir, instance.uuid.replace('-', ''))
        with open(path, 'wb') as f:
            f.write(b'Ubuntu 24.04 vm-one ttyS0\n\nvm-one login: ')
        self.assertEqual('Ubuntu 24.04 vm-one ttyS0\n\nvm-one login: ',
                         self.driver.get_console_output(self.context,
                                                        instance))

    def test_interactive_console_through_vspc(self):
        admin = self.useFixture(vspc.FakeVspcAdmin())
        self.flags.config(group='vmware_ext',
                          vspc_admin_address=admin.address)
        self.restart_driver()
        instance = self.running()
        self.assertRaises(exception.ConsoleTypeUnavailable,
                          self.driver.get_serial_console, self.context,
                          instance)  # not connected to the concentrator
        key = instance.uuid.replace('-', '')
        admin.relays[key] = '10.0.0.5:20001'
        console = self.driver.get_serial_console(self.context, instance)
        self.assertIsInstance(console, ctype.ConsoleSerial)
        self.assertEqual(('10.0.0.5', 20001), (console.host, console.port))
        self.assertEqual([['GET', key]] * 2, admin.asked)

    def test_no_vm_no_console(self):
        self.assertRaises(exception.InstanceNotFound,
                          self.driver.get_console_output, self.context,
                          self.make_instance())


class NoSerialPortTest(driver_base.DriverTestCase):

    VCSIM_SHAPE = dict(hosts=1, datastores=1)

    def test_without_a_concentrator_there_is_no_log(self):
        instance_uuid, _ = self.make_nova_vm(power_on=True)
        self.assertRaises(exception.ConsoleNotAvailable,
                          self.driver.get_console_output, None,
                          self.instance(instance_uuid))
        self.assertRaises(exception.ConsoleTypeUnavailable,
                          self.driver.get_serial_console, None,
                          self.instance(instance_uuid))
