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

"""A stand-in for vmware-vspc's admin interface, for serial console tests.

vmware-vspc (run with ``enable_clients = True``) relays each connected VM's
serial port on a TCP port of its own and answers, on its admin port, one
line ``GET <VM uuid without dashes>`` with ``host:port`` or ``None``.
"""

import socketserver
import threading

import fixtures


class FakeVspcAdmin(fixtures.Fixture):
    """Serves the admin interface on 127.0.0.1; ``relays`` maps a VM's
    uuid without dashes to ``host:port`` (``default`` for any other)."""

    def __init__(self, default=None):
        super().__init__()
        self.relays = {}
        self.default = default
        self.asked = []

    def _setUp(self):
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                words = self.rfile.readline().decode('ascii').split()
                fake.asked.append(words)
                found = None
                if words[:1] == ['GET'] and len(words) == 2:
                    found = fake.relays.get(words[1], fake.default)
                self.wfile.write(b'%s\n' % (found or 'None').encode())

        server = socketserver.TCPServer(('127.0.0.1', 0), Handler)
        self.addCleanup(server.server_close)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(server.shutdown)
        self.address = '%s:%d' % server.server_address
