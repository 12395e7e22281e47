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

"""Datastore uploads (/folder PUT) store all of the body or nothing.

govmomi 0.24.2 ignored the error of copying the request body into the
file: an upload whose body ended before its Content-Length left a
truncated file and answered 200. tools/vcsim/ds_upload.go writes to a
temporary file and renames it into place only once the whole body arrived.
"""

import http.client
import os
import ssl
import time
import urllib.parse

from pyVmomi import vim
import testtools

from tests import vcsim


class FolderUploadTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(clusters=1, hosts=1, datastores=1, portgroups=0)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.cookie = vcsim.session_cookie(self.si)
        [ds] = vcsim.query(self.si, vim.Datastore, ['info.url']).values()
        self.root = ds['info.url']

    def connection(self):
        context = ssl.create_default_context(cafile=self.vcsim.ca_file)
        return http.client.HTTPSConnection(
            self.vcsim.host, self.vcsim.port, context=context, timeout=30)

    def url(self, path):
        parsed = urllib.parse.urlsplit(vcsim.datastore_url(self.vcsim, path))
        return '%s?%s' % (parsed.path, parsed.query)

    def put(self, path, data, method='PUT'):
        conn = self.connection()
        try:
            conn.request(method, self.url(path), body=data,
                         headers={'Cookie': self.cookie})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def put_truncated(self, path, declared, sent):
        """A PUT that declares ``declared`` bytes, sends ``sent`` and
        closes the connection."""
        conn = self.connection()
        conn.putrequest('PUT', self.url(path))
        conn.putheader('Cookie', self.cookie)
        conn.putheader('Content-Length', str(declared))
        conn.endheaders()
        conn.send(sent)
        conn.close()

    def local(self, path):
        return os.path.join(self.root, *path.split('/'))

    def wait_quiet(self, directory):
        """The directory's entries once no upload temporary is left."""
        deadline = time.monotonic() + 10
        while True:
            names = sorted(os.listdir(directory))
            if not any('.upload-' in n for n in names):
                return names
            self.assertLess(time.monotonic(), deadline, names)
            time.sleep(0.02)

    def test_complete_upload_is_stored(self):
        status, _ = self.put('up/whole.bin', b'x' * 5000)
        self.assertEqual(200, status)
        with open(self.local('up/whole.bin'), 'rb') as f:
            self.assertEqual(b'x' * 5000, f.read())
        self.assertEqual(['whole.bin'], self.wait_quiet(self.local('up')))

    def test_body_ending_early_stores_nothing(self):
        os.makedirs(self.local('short'), exist_ok=True)
        self.put_truncated('short/image.bin', 100000, b'y' * 1000)
        self.assertEqual([], self.wait_quiet(self.local('short')))
        status, _ = self.get('short/image.bin')
        self.assertEqual(404, status)
        # The client has gone: the answer is only in vcsim's log.
        deadline = time.monotonic() + 10
        # (end of file or connection reset, as the client's TCP stack says)
        while ('PUT /folder/short/image.bin: 400: '
               not in self.vcsim.log_tail(200)):
            self.assertLess(time.monotonic(), deadline,
                            self.vcsim.log_tail())
            time.sleep(0.02)

    def test_body_ending_early_keeps_the_old_file(self):
        self.assertEqual(200, self.put('keep/a.bin', b'old')[0])
        self.put_truncated('keep/a.bin', 5000, b'new')
        self.assertEqual(['a.bin'], self.wait_quiet(self.local('keep')))
        with open(self.local('keep/a.bin'), 'rb') as f:
            self.assertEqual(b'old', f.read())

    def test_broken_body_is_answered_400(self):
        # A chunked body with a bad chunk ends the body while the client
        # still listens: it reads the error, and nothing is stored.
        conn = self.connection()
        try:
            conn.putrequest('PUT', self.url('chunked/c.bin'))
            conn.putheader('Cookie', self.cookie)
            conn.putheader('Transfer-Encoding', 'chunked')
            conn.endheaders()
            conn.send(b'3\r\nabc\r\nzz\r\n')
            response = conn.getresponse()
            self.assertEqual(400, response.status)
            self.assertIn(b'nothing stored', response.read())
        finally:
            conn.close()
        self.assertEqual([], self.wait_quiet(self.local('chunked')))

    def test_post_to_an_existing_file_is_a_conflict(self):
        self.assertEqual(200, self.put('post/p.bin', b'1', method='POST')[0])
        self.assertEqual(409, self.put('post/p.bin', b'2', method='POST')[0])
        with open(self.local('post/p.bin'), 'rb') as f:
            self.assertEqual(b'1', f.read())

    def test_dot_dot_stays_inside_the_datastore(self):
        conn = self.connection()
        try:
            conn.putrequest('PUT', '/folder/../../../escaped.bin?%s' % (
                urllib.parse.urlencode({'dcPath': 'DC0',
                                        'dsName': 'LocalDS_0'})),
                            skip_accept_encoding=True)
            conn.putheader('Cookie', self.cookie)
            conn.putheader('Content-Length', '2')
            conn.endheaders()
            conn.send(b'ok')
            conn.getresponse().read()
        finally:
            conn.close()
        parent = os.path.dirname(os.path.normpath(self.root))
        self.assertFalse(os.path.exists(os.path.join(parent, 'escaped.bin')))
        self.assertFalse(os.path.exists(
            os.path.join(os.path.dirname(parent), 'escaped.bin')))

    def get(self, path):
        conn = self.connection()
        try:
            conn.request('GET', self.url(path),
                         headers={'Cookie': self.cookie})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()
