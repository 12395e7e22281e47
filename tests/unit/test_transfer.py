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

"""vsphere/transfer.py against local HTTP endpoints: byte counts and
timeouts (the datastore and NFC endpoints of vcsim are tested in
tests/functional)."""

import http.server
import socket
import threading
import time

from oslo_vmware import exceptions as vexc
import testtools

from nova_vmware_ext.vsphere import transfer


class FakeSession(object):
    host = '127.0.0.1'
    port = 443
    insecure = True
    ca_file = None
    session_cookie = 'vmware_soap_session="secret"'

    def __init__(self, timeout):
        self.timeout = timeout
        self.generation = 1
        self.relogins = []

    def relogin(self, seen_generation):
        self.relogins.append(seen_generation)
        self.generation += 1
        self.session_cookie = 'vmware_soap_session="new"'


class _Recorder(http.server.BaseHTTPRequestHandler):
    received = []

    def do_PUT(self):
        length = int(self.headers['Content-Length'])
        body = b''
        while len(body) < length:
            data = self.rfile.read(min(65536, length - len(body)))
            if not data:
                break
            body += data
        _Recorder.received.append(len(body))
        self.send_response(200 if len(body) == length else 400)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def log_message(self, *args):
        pass


class _Session401(http.server.BaseHTTPRequestHandler):
    """Refuses the first session cookie, as vCenter after a session ends."""

    def do_HEAD(self):
        good = 'new' in self.headers.get('Cookie', '')
        self.send_response(200 if good else 401)
        self.send_header('Content-Length', '0')
        self.end_headers()

    do_GET = do_HEAD

    def log_message(self, *args):
        pass


class HttpClientTest(testtools.TestCase):

    def serve(self, handler):
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return 'http://127.0.0.1:%d/folder/x' % server.server_address[1]

    def silent(self):
        """A port that accepts connections and never answers."""
        listener = socket.socket()
        listener.bind(('127.0.0.1', 0))
        listener.listen(8)
        self.addCleanup(listener.close)
        return 'http://127.0.0.1:%d/folder/x' % listener.getsockname()[1]

    def test_timeouts_are_connect_and_read(self):
        client = transfer.HttpClient(FakeSession(timeout=900))
        self.assertEqual((transfer.CONNECT_TIMEOUT, 900), client.timeout)
        client = transfer.HttpClient(FakeSession(timeout=900), timeout=5)
        self.assertEqual((5, 5), client.timeout)

    def test_every_request_to_a_silent_endpoint_times_out(self):
        url = self.silent()
        client = transfer.HttpClient(FakeSession(timeout=0.5))
        for call in (lambda: client.put(url, iter([b'x' * 10]), 10, 'put'),
                     lambda: client.get(url, 'get'),
                     lambda: client.exists(url, 'exists')):
            started = time.monotonic()
            exc = self.assertRaises(vexc.ImageTransferException, call)
            self.assertLess(time.monotonic() - started, 5)
            self.assertIn('timed out', str(exc))

    def test_source_shorter_than_announced_fails_the_upload(self):
        _Recorder.received = []
        url = self.serve(_Recorder)
        client = transfer.HttpClient(FakeSession(timeout=5))
        started = time.monotonic()
        exc = self.assertRaises(vexc.ImageTransferException, client.put,
                                url, iter([b'a' * 1000, b'b' * 1000]), 3000,
                                'upload of image x')
        # Failed at once, not after the server waited out its timeout.
        self.assertLess(time.monotonic() - started, 4)
        self.assertIn('upload of image x: the source ended after 2000 of '
                      'the 3000 bytes announced', str(exc))

    def test_source_longer_than_announced_fails_the_upload(self):
        _Recorder.received = []
        url = self.serve(_Recorder)
        client = transfer.HttpClient(FakeSession(timeout=5))
        exc = self.assertRaises(vexc.ImageTransferException, client.put,
                                url, iter([b'a' * 1000, b'b' * 1000]), 1500,
                                'upload of image x')
        self.assertIn('gave more than the 1500 bytes', str(exc))
        self.assertNotIn(2000, _Recorder.received)

    def test_exact_source_is_sent_whole(self):
        _Recorder.received = []
        url = self.serve(_Recorder)
        client = transfer.HttpClient(FakeSession(timeout=5))
        self.assertEqual(2000, client.put(url, iter([b'a' * 1000,
                                                     b'b' * 1000]), 2000,
                                          'upload'))
        self.assertEqual([2000], _Recorder.received)

    def test_head_and_get_log_in_again_once_after_a_refused_session(self):
        url = self.serve(_Session401)
        session = FakeSession(timeout=5)
        client = transfer.HttpClient(session)
        self.assertTrue(client.exists(url, 'exists'))
        self.assertEqual([1], session.relogins)
        session.session_cookie = 'vmware_soap_session="stale"'
        self.assertEqual(0, client.get(url, 'get')[0])
        self.assertEqual([1, 2], session.relogins)
