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

"""PBM's door shares the vim25 session (vsphere/session.py): the session's
cookie goes in each request's vcSessionCookie header, read anew after a
login; PBM's reads are retried like vim25's."""

import fixtures
from pyVmomi import pbm
from pyVmomi import vim
import testtools

from nova_vmware_ext.vsphere import session as vsession
from tests.unit import test_session


class RecordingStub(test_session.ScriptedStub):
    """Also records the request context each call was sent with."""

    requestContext = None

    def InvokeMethod(self, mo, info, args, outer):
        self.contexts = getattr(self, 'contexts', [])
        self.contexts.append(dict(self.requestContext or {}))
        return super().InvokeMethod(mo, info, args, outer)


class SharedSessionDoorTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # What the code logs goes with the test's details, not stderr.
        self.useFixture(fixtures.FakeLogger())
        self.useFixture(fixtures.MockPatch(
            'nova_vmware_ext.vsphere.session.time.sleep'))
        self.session = vsession.Session('vc.example', 'admin', 'pw',
                                        retry_count=2)
        self.vim_stub = test_session.ScriptedStub()
        self.session._door = vsession._Door(self.session, self.vim_stub)

        def fake_login():
            self.session._generation += 1
            self.vim_stub.cookie = 'vmware_soap_session="new-%d"; Path=/' % (
                self.session._generation)
        self.session._login = fake_login
        self.placement = pbm.placement.PlacementSolver('placementSolver')

    def door(self, *outcomes):
        stub = RecordingStub(*outcomes)
        return vsession._SharedSessionDoor(self.session, stub), stub

    def call(self, door):
        return door.InvokeMethod(self.placement, test_session._method(
            'PbmQueryMatchingHub'), ())

    def test_cookie_goes_in_the_header(self):
        door, stub = self.door((200, 'ok'))
        self.assertEqual('ok', self.call(door))
        self.assertEqual([{'vcSessionCookie': 'abc'}], stub.contexts)

    def test_lost_session_logs_in_again_and_sends_the_new_cookie(self):
        door, stub = self.door((500, vim.fault.NotAuthenticated()),
                               (200, 'ok'))
        with self.session.calls.scope() as scope:
            self.assertEqual('ok', self.call(door))
        self.assertEqual([{'vcSessionCookie': 'abc'},
                          {'vcSessionCookie': 'new-1'}], stub.contexts)
        self.assertEqual({'PbmQueryMatchingHub': 2}, dict(scope.by_method))

    def test_pbm_reads_are_retried(self):
        door, stub = self.door(ConnectionResetError(), (200, 'ok'))
        self.assertEqual('ok', self.call(door))
        self.assertEqual(2, len(stub.contexts))

    def test_stub_has_the_sessions_settings(self):
        session = vsession.Session('vc.example', 'admin', 'pw', port=8443,
                                   timeout=33, pool_size=12, insecure=True)
        door = session.shared_session_stub('/pbm/sdk',
                                           'pbm.version.version11')
        self.assertEqual(('vc.example:8443', '/pbm/sdk', 33, 12),
                         (door.soap.host, door.soap.path,
                          door.soap.schemeArgs['timeout'],
                          door.soap.poolSize))
