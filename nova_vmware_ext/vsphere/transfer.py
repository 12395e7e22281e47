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

"""Streaming HTTP transfers to and from vCenter: datastore /folder and NFC.

Bodies are streamed chunk by chunk from an iterator (never read whole into
memory), with the session cookie, TLS verified like the SOAP session, and
progress logged in percent and MB/s. Every request has a connect and a read
timeout; a body whose source gives more or fewer bytes than announced fails
the request before its last byte is sent (the server would otherwise wait
for the missing bytes).
"""

import time

from oslo_log import log as logging
from oslo_vmware import exceptions as vexc
import requests

LOG = logging.getLogger(__name__)

CHUNK = 1024 * 1024
_LOG_EVERY = 10.0  # seconds between progress lines
# Seconds to open a connection; reads wait up to the session's timeout.
CONNECT_TIMEOUT = 30.0


def file_chunks(path, chunk=CHUNK):
    """A local file as an iterator of chunks, for the put() methods."""
    with open(path, 'rb') as f:
        while True:
            data = f.read(chunk)
            if not data:
                return
            yield data


class Progress(object):
    """Counts bytes of one transfer and logs how it goes."""

    def __init__(self, what, total, on_percent=None):
        self.what = what
        self.total = total or 0
        self.done = 0
        self.on_percent = on_percent
        self._start = time.monotonic()
        self._last_log = self._start
        self._last_percent = -1

    @property
    def percent(self):
        if not self.total:
            return 0
        return min(100, self.done * 100 // self.total)

    @property
    def rate_mbps(self):
        elapsed = max(time.monotonic() - self._start, 1e-6)
        return self.done / elapsed / 1e6

    def add(self, count):
        self.done += count
        now = time.monotonic()
        percent = self.percent
        if percent != self._last_percent and self.on_percent is not None:
            self.on_percent(percent)
        self._last_percent = percent
        if now - self._last_log >= _LOG_EVERY:
            self._last_log = now
            self.log()

    def log(self, final=False):
        LOG.info('%(what)s: %(verb)s %(done).1f of %(total).1f MB '
                 '(%(pct)d%%) at %(rate).1f MB/s', {
                     'what': self.what, 'done': self.done / 1e6,
                     'total': self.total / 1e6, 'pct': self.percent,
                     'rate': self.rate_mbps,
                     'verb': 'done,' if final else 'sent'})

    def wrap(self, chunks):
        """Yield the chunks, counting them against the announced total."""
        for chunk in chunks:
            if chunk:
                if self.done + len(chunk) > self.total:
                    raise vexc.ImageTransferException(
                        '%s: the source gave more than the %d bytes '
                        'announced' % (self.what, self.total))
                self.add(len(chunk))
                yield chunk
        if self.done != self.total:
            raise vexc.ImageTransferException(
                '%s: the source ended after %d of the %d bytes announced'
                % (self.what, self.done, self.total))


class _SizedBody(object):
    """An iterable body whose length requests can see.

    Without ``__len__`` requests sends a generator chunked, which vCenter's
    datastore and NFC endpoints do not accept; with it, Content-Length.
    """

    def __init__(self, chunks, size):
        self._chunks = chunks
        self._size = size

    def __len__(self):
        return self._size

    def __iter__(self):
        return iter(self._chunks)


def _check(response, what):
    if response.status_code == 401 or response.status_code == 403:
        raise vexc.NotAuthenticatedException(
            '%s: vCenter refused the session (HTTP %s)' % (
                what, response.status_code))
    if response.status_code == 404:
        raise vexc.FileNotFoundException('%s: not found (HTTP 404)' % what)
    if response.status_code >= 300:
        raise vexc.ImageTransferException(
            '%s: HTTP %s %s' % (what, response.status_code,
                                response.text[:200]))


def _total_size(response, what):
    """A file's size from a ranged GET's answer: Content-Range of a 206,
    Content-Length of a 200 (a server that ignores ranges)."""
    try:
        if response.status_code == 206:
            return int(response.headers['Content-Range'].rsplit('/', 1)[1])
        return int(response.headers['Content-Length'])
    except (KeyError, IndexError, ValueError):
        raise vexc.ImageTransferException(
            '%s: HTTP %s without the file\'s size' % (
                what, response.status_code))


class HttpClient(object):
    """HTTP requests made with a vCenter session's cookie and TLS."""

    def __init__(self, session, timeout=None):
        self.session = session
        read = timeout or session.timeout
        self.timeout = (min(CONNECT_TIMEOUT, read), read)  # (connect, read)
        self._http = requests.Session()
        # Bytes of bodies this process sent and received: what crossed
        # nova-compute (benchmarks and tests read them).
        self.sent = 0
        self.received = 0

    def _verify(self):
        if self.session.insecure:
            return False
        return self.session.ca_file or True

    def _headers(self, extra=None):
        headers = {'Cookie': self.session.session_cookie}
        headers.update(extra or {})
        return headers

    def put(self, url, chunks, size, what, content_type=None,
            on_percent=None, method='PUT', quiet=False):
        """Stream ``chunks`` (bytes iterator) of ``size`` bytes to ``url``.

        ``quiet``: a small bookkeeping write (a lock's heartbeat) whose
        completion is logged at debug level, not as a transfer.
        """
        progress = Progress(what, size, on_percent)
        headers = {'Content-Type': content_type or 'application/octet-stream'}
        generation = self.session.generation
        try:
            response = self._http.request(
                method, url, data=_SizedBody(progress.wrap(chunks), size),
                headers=self._headers(headers), verify=self._verify(),
                timeout=self.timeout)
        except requests.RequestException as exc:
            raise vexc.ImageTransferException(
                '%s: upload failed after %d of %d bytes: %s' % (
                    what, progress.done, size, exc), cause=exc)
        if response.status_code in (401, 403):
            # The session expired under a long transfer: log in again now,
            # so that the caller's retry (with a fresh source) can succeed.
            self.session.relogin(generation)
        self.sent += progress.done
        _check(response, what)
        if quiet:
            LOG.debug('%s: %d bytes written', what, progress.done)
        else:
            progress.log(final=True)
        return progress.done

    def _bodiless(self, method, url, what, headers=None, **kwargs):
        """A request without a body, sent again once after a re-login if
        vCenter refused the session."""
        for attempt in (1, 2):
            generation = self.session.generation
            try:
                response = self._http.request(
                    method, url, headers=self._headers(headers),
                    verify=self._verify(), timeout=self.timeout, **kwargs)
            except requests.RequestException as exc:
                raise vexc.ImageTransferException('%s: %s' % (what, exc),
                                                  cause=exc)
            if response.status_code not in (401, 403) or attempt == 2:
                return response
            response.close()
            self.session.relogin(generation)

    def get(self, url, what):
        """Open a streamed download; returns (size or None, chunk iterator)."""
        response = self._bodiless('GET', url, what, stream=True)
        _check(response, what)
        size = response.headers.get('Content-Length')
        return (int(size) if size else None,
                self._counted(response.iter_content(chunk_size=CHUNK)))

    def _counted(self, chunks):
        for chunk in chunks:
            self.received += len(chunk)
            yield chunk

    def get_head(self, url, what, length):
        """(size of the file, its first ``length`` bytes at most): one
        ranged GET; the rest of the file never crosses this process."""
        response = self._bodiless(
            'GET', url, what, stream=True,
            headers={'Range': 'bytes=0-%d' % (length - 1)})
        try:
            _check(response, what)
            size = _total_size(response, what)
            head = b''
            for chunk in self._counted(response.iter_content(
                    chunk_size=min(CHUNK, length))):
                head += chunk
                if len(head) >= length:
                    break
            return size, head[:length]
        finally:
            response.close()

    def exists(self, url, what):
        """True if a datastore file exists (HTTP HEAD)."""
        response = self._bodiless('HEAD', url, what)
        if response.status_code == 404:
            return False
        _check(response, what)
        return True
