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

"""Our vCenter session against vcsim: TLS, login, re-login, logout, secrecy."""

import logging
import socket
import threading
import time

import fixtures
from oslo_config import cfg
from oslo_vmware import exceptions as vexc
from pyVmomi import vim
import testtools

from nova_vmware_ext.compute import host as chost
from nova_vmware_ext import conf as ext_conf
from nova_vmware_ext.vsphere import faults
from nova_vmware_ext.vsphere import props
from nova_vmware_ext.vsphere import session as vsession
from nova_vmware_ext.vsphere import transfer
from tests.functional import base
from tests import vcsim


class SessionTest(vcsim.VcsimClassMixin, testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.logs = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))

    def _login(self, **kwargs):
        session = base.make_session(self.vcsim, **kwargs).login()
        self.addCleanup(session.logout)
        return session

    def test_login_over_verified_tls(self):
        session = self._login()
        self.assertEqual('VirtualCenter', session.content.about.apiType)
        self.assertGreaterEqual(session.calls.login, 2)
        self.assertEqual(0, session.calls.total)  # logins counted apart
        self.assertIn('Logged in to vCenter', self.logs.output)

    def test_wrong_password(self):
        session = base.make_session(self.vcsim)
        session._password = 'not-the-password'
        exc = self.assertRaises(vexc.VimFaultException, session.login)
        self.assertEqual(['InvalidLogin'], exc.fault_list)
        self.assertIn(self.vcsim.username, str(exc))
        self.assertIn('host_password', str(exc))
        self.assertNotIn('not-the-password', str(exc))

    def test_untrusted_certificate_is_refused(self):
        # The system store does not trust the simulator's fresh certificate.
        session = base.make_session(self.vcsim, ca_file=None)
        exc = self.assertRaises(vexc.VimConnectionException, session.login)
        self.assertIn('ca_file', str(exc))
        self.assertIn('%s:%s' % (self.vcsim.host, self.vcsim.port), str(exc))

    def test_insecure_is_an_explicit_opt_in_with_a_warning(self):
        session = self._login(ca_file=None, insecure=True)
        self.assertEqual('VirtualCenter', session.content.about.apiType)
        self.assertIn('TLS verification of vCenter', self.logs.output)
        self.assertIn('disabled', self.logs.output)

    def test_unreachable_vcenter(self):
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
        sock.close()  # nothing listens there now
        session = base.make_session(self.vcsim)
        session.port = port
        exc = self.assertRaises(vexc.VimConnectionException, session.login)
        self.assertIn('127.0.0.1:%d' % port, str(exc))
        self.assertIn('unreachable', str(exc))
        self.assertEqual(2, self.logs.output.count('Cannot reach vCenter'))

    def test_relogin_after_session_terminated(self):
        session = self._login()
        root = session.content.rootFolder
        self.assertEqual('Datacenters',
                         props.retrieve_one(session, root, ['name'])['name'])
        logins = session.calls.login
        other = self.vcsim.connect()
        other.content.sessionManager.TerminateSession([session.session_key])

        with session.calls.scope() as scope:
            item = props.retrieve_one(session, root, ['name'])
        self.assertEqual('Datacenters', item['name'])
        self.assertGreater(session.calls.login, logins)
        # The rejected call and its retry both count; the login does not.
        self.assertEqual(2, scope.by_method['RetrievePropertiesEx'])
        self.assertIn('session expired', self.logs.output)

    def test_concurrent_calls_on_an_expired_session_log_in_once(self):
        session = self._login()
        root = session.content.rootFolder
        generation = session.generation
        other = self.vcsim.connect()
        other.content.sessionManager.TerminateSession([session.session_key])
        # Both requests are sent on the dead session before either answer
        # comes back: both are rejected, both threads want a new login.
        self.vcsim.inject('RetrievePropertiesEx', action='delay',
                          delay_ms=500, count=2)
        self.addCleanup(self.vcsim.clear_faults)
        barrier = threading.Barrier(2, timeout=30)
        names, errors = [], []

        def read():
            try:
                barrier.wait()
                names.append(props.retrieve_one(session, root,
                                                ['name'])['name'])
            except Exception as exc:  # reported below
                errors.append(exc)
        threads = [threading.Thread(target=read) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual([], errors)
        self.assertEqual(['Datacenters'] * 2, names)
        self.assertEqual(generation + 1, session.generation)
        self.assertEqual(2, self.logs.output.count('session expired'))

    def test_logout_ends_the_server_session(self):
        session = base.make_session(self.vcsim).login()
        key = session.session_key
        other = self.vcsim.connect()
        manager = other.content.sessionManager
        self.assertTrue(manager.SessionIsActive(key, self.vcsim.username))
        session.logout()
        self.assertFalse(manager.SessionIsActive(key, self.vcsim.username))
        session.logout()  # twice is harmless

    def test_password_never_logged(self):
        password = self.vcsim.password
        session = self._login()
        other = self.vcsim.connect()
        other.content.sessionManager.TerminateSession([session.session_key])
        props.retrieve_one(session, session.content.rootFolder, ['name'])
        cookie, key = session.session_cookie, session.session_key
        bad = base.make_session(self.vcsim)
        bad._password = password + '-wrong'
        self.assertRaises(vexc.VimFaultException, bad.login)
        session.logout()
        output = self.logs.output
        self.assertIn('Logged in to vCenter', output)
        self.assertIn('session expired', output)
        self.assertNotIn(password, output)
        self.assertTrue(cookie)
        self.assertNotIn(cookie, output)
        self.assertNotIn(key, output)

    def test_managed_objects_are_bound_to_the_door(self):
        session = self._login()
        vm = session.mo('VirtualMachine', 'vm-404')
        self.assertIsInstance(vm, vim.VirtualMachine)
        with session.calls.scope() as scope:
            self.assertRaises(vexc.ManagedObjectNotFoundException,
                              vm.PowerOnVM_Task)
        self.assertEqual({'PowerOnVM_Task': 1}, dict(scope.by_method))


class InjectedFaultsTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """Faults vCenter produces that the plain simulator does not."""

    VCSIM_SHAPE = dict(hosts=1, vms=1)

    def setUp(self):
        super().setUp()
        self.addCleanup(self.vcsim.clear_faults)
        self.logs = self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        self.session = base.make_session(self.vcsim).login()
        self.addCleanup(self.session.logout)
        self.root = self.session.content.rootFolder

    def test_expired_session_fault_logs_in_again(self):
        self.vcsim.inject('RetrievePropertiesEx', fault='NotAuthenticated')
        logins = self.session.calls.login
        item = props.retrieve_one(self.session, self.root, ['name'])
        self.assertEqual('Datacenters', item['name'])
        self.assertGreater(self.session.calls.login, logins)

    def test_dropped_read_is_retried(self):
        self.vcsim.inject('RetrievePropertiesEx', action='drop', count=2)
        self.vcsim.reset_server_calls()
        item = props.retrieve_one(self.session, self.root, ['name'])
        self.assertEqual('Datacenters', item['name'])
        self.assertEqual(3, self.vcsim.server_calls()['RetrievePropertiesEx'])
        self.assertEqual(2, self.logs.output.count('retry'))

    def test_dropped_change_is_not_resent(self):
        vms = vcsim.query(self.vcsim.connect(), vim.VirtualMachine, ['name'])
        vm = self.session.mo('VirtualMachine', sorted(vms)[0])
        self.vcsim.inject('PowerOffVM_Task', action='drop')
        self.vcsim.reset_server_calls()
        exc = self.assertRaises(vexc.VimConnectionException,
                                vm.PowerOffVM_Task)
        self.assertIn('outcome unknown', str(exc))
        self.assertEqual(1, self.vcsim.server_calls()['PowerOffVM_Task'])

    def test_vcenter_going_away_is_a_clear_error(self):
        self.vcsim.inject('*', action='drop', count=None)
        exc = self.assertRaises(vexc.VimConnectionException,
                                props.retrieve_one, self.session, self.root,
                                ['name'])
        self.assertIn('%s:%s' % (self.vcsim.host, self.vcsim.port), str(exc))
        self.vcsim.clear_faults()
        self.assertEqual('Datacenters', props.retrieve_one(
            self.session, self.root, ['name'])['name'])


# A correctness bound, not a benchmark: a hang would exceed it by far.
_TIMEOUT = 1
_BOUND = 3 * _TIMEOUT


class SilentEndpoint(fixtures.Fixture):
    """A TCP port whose connections the kernel accepts and nobody answers.

    The socket listens but never calls accept(): the handshake completes in
    the backlog and every byte sent to it stays unread.
    """

    def _setUp(self):
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        sock.listen(16)
        self.addCleanup(sock.close)
        self.host, self.port = sock.getsockname()
        self.endpoint = '%s:%d' % (self.host, self.port)


class TimeoutTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """Every network step gives up after [vmware_ext] api_timeout."""

    def setUp(self):
        super().setUp()
        self.silent = self.useFixture(SilentEndpoint())
        self.addCleanup(self.vcsim.clear_faults)

    def assertFailsInTime(self, exc_class, func, *args):
        start = time.monotonic()
        exc = self.assertRaises(exc_class, func, *args)
        self.assertLess(time.monotonic() - start, _BOUND)
        return exc

    def test_silent_endpoint_fails_login(self):
        session = vsession.Session(self.silent.host, 'admin', 'secret',
                                   port=self.silent.port, timeout=_TIMEOUT,
                                   retry_count=2, retry_interval=0.05)
        exc = self.assertFailsInTime(faults.ApiTimeout, session.login)
        self.assertIn(self.silent.endpoint, str(exc))
        self.assertIn('api_timeout', str(exc))

    def test_silent_endpoint_fails_connect_with_conf_timeout(self):
        config = cfg.ConfigOpts()
        ext_conf.register_opts(config)
        config([], default_config_files=[])
        for name, value in [('host_ip', self.silent.host),
                            ('host_port', self.silent.port),
                            ('host_username', 'admin'),
                            ('host_password', 'secret'),
                            ('cluster_name', 'DC0_C0')]:
            config.set_override(name, value, 'vmware')
        config.set_override('api_timeout', _TIMEOUT, 'vmware_ext')
        exc = self.assertFailsInTime(vexc.VimConnectionException,
                                     chost.Host(config).connect)
        self.assertIn(self.silent.endpoint, str(exc))

    def test_login_call_answered_late_is_not_retried(self):
        self.vcsim.inject('RetrieveServiceContent', action='delay',
                          delay_ms=(_BOUND + 2) * 1000)
        self.vcsim.reset_server_calls()
        session = base.make_session(self.vcsim, timeout=_TIMEOUT)
        exc = self.assertFailsInTime(faults.ApiTimeout, session.login)
        self.assertIn('RetrieveServiceContent', str(exc))
        self.assertIn('%s:%s' % (self.vcsim.host, self.vcsim.port), str(exc))
        self.assertEqual(
            1, self.vcsim.server_calls()['RetrieveServiceContent'])

    def test_call_answered_late_is_not_retried(self):
        session = base.make_session(self.vcsim, timeout=_TIMEOUT).login()
        self.addCleanup(session.logout)
        self.vcsim.inject('RetrievePropertiesEx', action='delay',
                          delay_ms=(_BOUND + 2) * 1000)
        self.vcsim.reset_server_calls()
        exc = self.assertFailsInTime(
            faults.ApiTimeout, props.retrieve_one, session,
            session.content.rootFolder, ['name'])
        self.assertIn('RetrievePropertiesEx on', str(exc))
        self.assertEqual(1, self.vcsim.server_calls()['RetrievePropertiesEx'])

    def test_http_transfer_to_a_silent_endpoint(self):
        session = base.make_session(self.vcsim, timeout=_TIMEOUT).login()
        self.addCleanup(session.logout)
        http = transfer.HttpClient(session)
        url = 'https://%s/folder/x.vmdk?dsName=LocalDS_0' % (
            self.silent.endpoint)
        self.assertFailsInTime(vexc.ImageTransferException, http.put, url,
                               iter([b'x' * 10]), 10, 'upload of x.vmdk')
        self.assertFailsInTime(vexc.ImageTransferException, http.get, url,
                               'download of x.vmdk')
