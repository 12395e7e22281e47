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

"""vsphere/transfer.HttpClient.get_head: a file's size and first bytes by
one ranged GET, from servers that honour ranges and servers that do not;
the byte counters (what crossed nova-compute)."""

import http.server

from oslo_vmware import exceptions as vexc
import testtools

from tests.unit import test_transfer

FILE = bytes(range(256)) * (16 * 1024)  # 4 MiB


class _Files(http.server.BaseHTTPRequestHandler):
    honour_ranges = True
    sent = []

    def do_GET(self):
        if self.path.endswith('/missing'):
            self.send_response(404)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        wanted = self.headers.get('Range')
        body, status = FILE, 200
        if wanted and self.honour_ranges:
            first, last = wanted.split('=')[1].split('-')
            body, status = FILE[int(first):int(last) + 1], 206
        self.send_response(status)
        self.send_header('Content-Length', str(len(body)))
        if status == 206:
            self.send_header('Content-Range', 'bytes %s-%d/%d' % (
                first, int(first) + len(body) - 1, len(FILE)))
        self.end_headers()
        try:
            for offset in range(0, len(body), 65536):
                self.wfile.write(body[offset:offset + 65536])
                _Files.sent.append(65536)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client read what it wanted

    def log_message(self, *args):
        pass


class _NoRanges(_Files):
    honour_ranges = False


class GetHeadTest(testtools.TestCase):

    serve = test_transfer.HttpClientTest.serve

    def _client(self):
        from nova_vmware_ext.vsphere import transfer
        return transfer.HttpClient(test_transfer.FakeSession(timeout=5))

    def test_ranged_get(self):
        client = self._client()
        size, head = client.get_head(self.serve(_Files), 'head', 1 << 20)
        self.assertEqual((len(FILE), FILE[:1 << 20]), (size, head))
        self.assertEqual(1 << 20, client.received)
        self.assertEqual(0, client.sent)

    def test_a_server_ignoring_ranges_is_read_only_up_to_the_head(self):
        client = self._client()
        size, head = client.get_head(self.serve(_NoRanges), 'head', 1000)
        self.assertEqual((len(FILE), FILE[:1000]), (size, head))
        self.assertLess(client.received, 1 << 20)

    def test_a_file_smaller_than_the_head(self):
        size, head = self._client().get_head(self.serve(_Files), 'head',
                                             8 << 20)
        self.assertEqual((len(FILE), FILE), (size, head))

    def test_missing_file(self):
        url = self.serve(_Files).replace('/folder/x', '/folder/missing')
        self.assertRaises(vexc.FileNotFoundException,
                          self._client().get_head, url, 'head', 1000)
