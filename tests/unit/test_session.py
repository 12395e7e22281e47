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

"""The door's policies for faults vcsim cannot produce on demand.

Connection failures before and after a request was sent, expired sessions,
certificate failures and the backoff schedule, against a scripted SOAP stub.
"""

import http.client
import logging
import ssl
import threading
import types

import fixtures
from oslo_vmware import exceptions as vexc
from pyVmomi import vim
import testtools

from nova_vmware_ext.vsphere import session as vsession


class ScriptedStub(object):
    """Plays back outcomes: an exception to raise or (status, object)."""

    version = 'vim.version.version9'

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = []
        self.cookie = 'vmware_soap_session="abc"'

    def InvokeMethod(self, mo, info, args, outer):
        self.calls.append(info.wsdlName)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def DropConnections(self):
        pass

    session_id = 'old-session'

    def GetSessionId(self):
        return self.session_id

    def SetSessionId(self, session_id):
        self.session_id = session_id


class ExpiredTogetherStub(ScriptedStub):
    """Rejects the first call of each thread, once all threads made one."""

    def __init__(self, barrier):
        super().__init__()
        self.barrier = barrier
        self.rejected = threading.local()

    def InvokeMethod(self, mo, info, args, outer):
        self.calls.append(info.wsdlName)
        if getattr(self.rejected, 'done', False):
            return 200, 'ok'
        self.rejected.done = True
        self.barrier.wait()  # every thread has read the old generation
        return 500, vim.fault.NotAuthenticated()


def _method(name):
    return types.SimpleNamespace(wsdlName=name)


class DoorTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # What the code logs goes with the test's details, not stderr.
        self.useFixture(fixtures.FakeLogger())
        self.sleep = self.useFixture(fixtures.MockPatch(
            'nova_vmware_ext.vsphere.session.time.sleep')).mock
        self.session = vsession.Session('vc.example', 'admin', 'pw',
                                        retry_count=3, retry_interval=0.5,
                                        retry_max_interval=1.5)
        self.logins = 0

        def fake_login():
            self.logins += 1
            self.session._generation += 1  # what a real login does
            self.session._door.soap.session_id = 'session-%d' % self.logins
        self.session._login = fake_login
        self.vm = vim.VirtualMachine('vm-42')

    def _door(self, *outcomes):
        stub = ScriptedStub(*outcomes)
        door = vsession._Door(self.session, stub)
        self.session._door = door
        return door, stub

    def test_success_is_returned_and_counted(self):
        door, stub = self._door((200, 'ok'))
        with self.session.calls.scope() as scope:
            self.assertEqual('ok', door.InvokeMethod(
                self.vm, _method('PowerOnVM_Task'), ()))
        self.assertEqual(1, scope.total)
        self.assertEqual({'PowerOnVM_Task': 1}, dict(scope.by_method))

    def test_refused_connection_is_retried_with_backoff(self):
        door, stub = self._door(ConnectionRefusedError(),
                                ConnectionRefusedError(), (200, 'ok'))
        with self.session.calls.scope() as scope:
            self.assertEqual('ok', door.InvokeMethod(
                self.vm, _method('PowerOnVM_Task'), ()))
        self.assertEqual(3, len(stub.calls))
        self.assertEqual(3, scope.total)  # every round trip counts
        self.assertEqual([0.5, 1.0], [c.args[0] for c in
                                      self.sleep.call_args_list])

    def test_lost_reply_of_a_change_is_not_resent(self):
        door, stub = self._door(http.client.RemoteDisconnected('gone'),
                                (200, 'ok'))
        exc = self.assertRaises(vexc.VimConnectionException,
                                door.InvokeMethod, self.vm,
                                _method('PowerOnVM_Task'), ())
        self.assertIn('outcome unknown', str(exc))
        self.assertIn('PowerOnVM_Task on vm-42', str(exc))
        self.assertEqual(1, len(stub.calls))

    def test_lost_reply_of_a_read_is_resent(self):
        door, stub = self._door(http.client.RemoteDisconnected('gone'),
                                ConnectionResetError(), (200, 'ok'))
        self.assertEqual('ok', door.InvokeMethod(
            self.vm, _method('RetrievePropertiesEx'), ()))
        self.assertEqual(3, len(stub.calls))

    def test_retries_are_bounded(self):
        door, stub = self._door(*[ConnectionRefusedError()] * 10)
        exc = self.assertRaises(vexc.VimConnectionException,
                                door.InvokeMethod, self.vm,
                                _method('RetrievePropertiesEx'), ())
        self.assertEqual(4, len(stub.calls))  # 1 + api_retry_count
        self.assertIn('vc.example:443', str(exc))
        self.assertEqual([0.5, 1.0, 1.5], [c.args[0] for c in
                                           self.sleep.call_args_list])

    def test_certificate_failure_is_not_retried_and_names_ca_file(self):
        err = ssl.SSLCertVerificationError('certificate verify failed')
        err.verify_message = 'self-signed certificate'
        door, stub = self._door(err)
        exc = self.assertRaises(vexc.VimConnectionException,
                                door.InvokeMethod, self.vm,
                                _method('RetrievePropertiesEx'), ())
        self.assertIn('ca_file', str(exc))
        self.assertIn('self-signed certificate', str(exc))
        self.assertEqual(1, len(stub.calls))

    def test_expired_session_logs_in_again_once(self):
        door, stub = self._door((500, vim.fault.NotAuthenticated()),
                                (200, 'ok'))
        self.assertEqual('ok', door.InvokeMethod(
            self.vm, _method('PowerOffVM_Task'), ()))
        self.assertEqual(1, self.logins)
        self.assertEqual(2, len(stub.calls))
        self.assertEqual('session-1', stub.session_id)  # a new session

    def test_session_still_rejected_after_login(self):
        door, stub = self._door((500, vim.fault.NotAuthenticated()),
                                (500, vim.fault.NotAuthenticated()))
        self.assertRaises(vexc.NotAuthenticatedException, door.InvokeMethod,
                          self.vm, _method('PowerOffVM_Task'), ())
        self.assertEqual(1, self.logins)

    def test_concurrent_expiry_logs_in_once(self):
        # Two threads whose calls vCenter rejects together: the one that
        # logs in first renews the session, the other only sends again.
        door, stub = self._door()
        stub = ExpiredTogetherStub(threading.Barrier(2, timeout=10))
        door.soap = stub
        results = []

        def call():
            results.append(door.InvokeMethod(
                self.vm, _method('PowerOffVM_Task'), ()))
        threads = [threading.Thread(target=call) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        self.assertEqual(['ok', 'ok'], results)
        self.assertEqual(1, self.logins)
        self.assertEqual(1, self.session.generation)
        self.assertEqual(4, len(stub.calls))  # each: rejected, then sent

    def test_relogin_of_an_old_generation_does_nothing(self):
        door, stub = self._door()
        generation = self.session.generation
        self.session.relogin(generation)
        self.assertEqual(generation + 1, self.session.generation)
        self.session.relogin(generation)  # somebody already logged in
        self.assertEqual(1, self.logins)

    def test_faults_are_translated_with_context(self):
        door, stub = self._door((500, vim.fault.InvalidPowerState(
            msg='already on')))
        exc = self.assertRaises(vexc.InvalidPowerStateException,
                                door.InvokeMethod, self.vm,
                                _method('PowerOnVM_Task'), ())
        self.assertIn('PowerOnVM_Task on vm-42 failed', str(exc))

    def test_other_exceptions_pass_through(self):
        door, stub = self._door(ValueError('bug'))
        self.assertRaises(ValueError, door.InvokeMethod, self.vm,
                          _method('PowerOnVM_Task'), ())
        self.assertEqual(1, len(stub.calls))


class CallCounterTest(testtools.TestCase):

    def test_scopes_nest_and_logins_are_apart(self):
        counter = vsession.CallCounter()
        with counter.scope() as outer:
            counter.record('A')
            with counter.scope() as inner:
                counter.record('B')
                counter.record('Login', login=True)
            counter.record('A')
        counter.record('C')
        self.assertEqual({'A': 2, 'B': 1}, dict(outer.by_method))
        self.assertEqual(3, outer.total)
        self.assertEqual(1, inner.total)
        self.assertEqual(1, inner.login)
        self.assertEqual(4, counter.total)
        self.assertEqual(1, counter.login)

    def test_scope_of_another_counter_is_untouched(self):
        first, second = vsession.CallCounter(), vsession.CallCounter()
        with first.scope() as scope:
            second.record('A')
        self.assertEqual(0, scope.total)


class SessionSettingsTest(testtools.TestCase):

    def test_tls_verified_by_default(self):
        session = vsession.Session('vc', 'u', 'p')
        self.assertEqual(ssl.CERT_REQUIRED, session.ssl_context.verify_mode)
        self.assertTrue(session.ssl_context.check_hostname)

    def test_ca_file_wins_over_insecure(self):
        session = vsession.Session('vc', 'u', 'p', ca_file='/x.pem',
                                   insecure=True)
        self.assertFalse(session.insecure)

    def test_insecure_opt_in(self):
        session = vsession.Session('vc', 'u', 'p', insecure=True)
        self.assertEqual(ssl.CERT_NONE, session.ssl_context.verify_mode)

    def test_password_not_in_repr(self):
        session = vsession.Session('vc', 'admin', 'Sup3rS3cret')
        self.assertNotIn('Sup3rS3cret', repr(session))
        self.assertNotIn('Sup3rS3cret', str(session))


class SecretsTest(testtools.TestCase):
    """The password appears in no log line and no error, whatever happens."""

    PASSWORD = 'Sup3rS3cret'

    def setUp(self):
        super().setUp()
        self.logs = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        self.session = vsession.Session('vc.example', 'admin', self.PASSWORD,
                                        insecure=True)
        self.stub = ScriptedStub()
        self.session._door = vsession._Door(self.session, self.stub)

    def _content(self):
        return vim.ServiceInstanceContent(
            sessionManager=vim.SessionManager('SessionManager',
                                              self.session._door),
            about=vim.AboutInfo(fullName='VMware vCenter Server 8.0.3',
                                apiVersion='8.0.3.0'))

    def test_rejected_login(self):
        self.stub.outcomes = [(200, self._content()),
                              (500, vim.fault.InvalidLogin())]
        exc = self.assertRaises(vexc.VimFaultException, self.session.login)
        self.assertIn("user 'admin'", str(exc))
        self.assertEqual(['RetrieveServiceContent', 'Login'], self.stub.calls)
        self.assertIn('TLS verification of vCenter', self.logs.output)
        self.assertNotIn(self.PASSWORD, str(exc))
        self.assertNotIn(self.PASSWORD, repr(exc))
        self.assertNotIn(self.PASSWORD, self.logs.output)

    def test_login_and_relogin(self):
        self.stub.outcomes = [(200, self._content()), (200, None),
                              (200, None), (200, None)]
        self.session.login()
        self.session.relogin(self.session.generation)
        self.assertEqual(['RetrieveServiceContent', 'Login', 'Login',
                          'TerminateSession'], self.stub.calls)
        self.assertEqual(2, self.logs.output.count('Logged in to vCenter'))
        self.assertNotIn(self.PASSWORD, self.logs.output)
        self.assertNotIn(self.PASSWORD, repr(self.session))


class TaskStreamMemoryTest(testtools.TestCase):
    """The stream forgets old finished tasks, never one being waited for."""

    def test_forgets_finished_tasks_beyond_the_bound(self):
        from nova_vmware_ext.vsphere import tasks
        self.useFixture(fixtures.MockPatchObject(tasks, '_REMEMBERED', 3))
        stream = tasks._TaskStream(session=None, update_wait=1)
        for n in range(6):
            state = stream._states['task-%d' % n] = tasks._TaskState(
                'task-%d' % n)
            state.state = 'success' if n != 1 else 'running'
        stream._waited.update(['task-0'])
        stream._forget_old()
        # task-0 is waited for and task-1 still runs: both stay; of the
        # others the oldest go until the bound holds.
        self.assertEqual(['task-0', 'task-1', 'task-5'],
                         sorted(stream._states))
