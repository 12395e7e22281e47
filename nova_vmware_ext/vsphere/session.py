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

"""The one door to vCenter: a pyvmomi session that logs in, retries and counts.

Every SOAP request of the driver goes through ``_Door.InvokeMethod``: managed
objects handed out by ``Session`` are bound to the door, so plain pyvmomi
calls (``vm.PowerOnVM_Task()``) are counted, re-authenticated after a lost
session, retried on connection errors and have their faults translated into
``oslo_vmware.exceptions``.
"""

import collections
import contextlib
import contextvars
import http.client
import http.cookies
import socket
import ssl
import threading
import time
from xml.etree import ElementTree

from oslo_log import log as logging
from oslo_vmware import exceptions as vexc
from pyVim import connect as pyvim_connect
from pyVmomi import SoapAdapter
from pyVmomi import vim
from pyVmomi import vmodl
from pyVmomi import VmomiSupport

from nova_vmware_ext.vsphere import faults

LOG = logging.getLogger(__name__)

# Read-only methods: a request whose response was lost can be sent again.
_SAFE_PREFIXES = ('Retrieve', 'ContinueRetrieve', 'CancelRetrieve',
                  'WaitForUpdates', 'CancelWaitForUpdates', 'Find', 'Query',
                  'Fetch', 'CurrentTime', 'SessionIsActive', 'Browse',
                  'PbmQuery', 'PbmRetrieve', 'PbmCheck', 'PbmFetch')

_PROPERTY_READS = frozenset(['RetrieveProperties', 'RetrievePropertiesEx',
                             'ContinueRetrievePropertiesEx'])

# Idle pooled connections are dropped before vCenter's proxy would close
# them, so a reused keep-alive connection is rarely found dead.
_POOL_IDLE_SECONDS = 50

SESSION_COOKIE = 'vmware_soap_session'

_scopes = contextvars.ContextVar('nova_vmware_ext_call_scopes', default=())
_logging_in = contextvars.ContextVar('nova_vmware_ext_logging_in',
                                     default=False)


class CallScope(object):
    """SOAP calls made by one operation (in one thread or greenthread)."""

    def __init__(self, counter):
        self.counter = counter
        self.by_method = collections.Counter()
        self.login = 0

    @property
    def total(self):
        """Calls of the operation itself; logins are counted apart."""
        return sum(self.by_method.values())

    def __repr__(self):
        return '<CallScope total=%d login=%d %s>' % (
            self.total, self.login, dict(self.by_method))


class CallCounter(object):
    """Counts SOAP round trips, for the whole session and per operation."""

    def __init__(self):
        self._lock = threading.Lock()
        self.by_method = collections.Counter()
        self.login = 0

    @property
    def total(self):
        return sum(self.by_method.values())

    @contextlib.contextmanager
    def scope(self):
        """Count the calls made in this context until the block ends."""
        scope = CallScope(self)
        token = _scopes.set(_scopes.get() + (scope,))
        try:
            yield scope
        finally:
            _scopes.reset(token)

    def record(self, method, login=False):
        with self._lock:
            if login:
                self.login += 1
            else:
                self.by_method[method] += 1
        for scope in _scopes.get():
            if scope.counter is self:
                if login:
                    scope.login += 1
                else:
                    scope.by_method[method] += 1


def _timeout_error(endpoint, timeout, step, exc):
    return faults.ApiTimeout(
        '%s: vCenter %s did not answer within %s s ([vmware_ext] '
        'api_timeout)' % (step, endpoint, timeout), cause=exc)


def _not_sent(exc):
    """True when a connection error proves the request never left us."""
    return isinstance(exc, (ConnectionRefusedError, socket.gaierror))


def _is_connection_error(exc):
    return isinstance(exc, (OSError, http.client.HTTPException))


def _reports_unauthenticated(method, result):
    """A property read whose properties all came back NotAuthenticated.

    vCenter answers RetrieveProperties(Ex) of a dead session with a
    MissingSet of NotAuthenticated faults instead of a SOAP fault.
    """
    if method not in _PROPERTY_READS or result is None:
        return False
    objects = getattr(result, 'objects', None)
    if objects is None and isinstance(result, list):
        objects = result
    for content in objects or ():
        for missing in content.missingSet or ():
            if isinstance(missing.fault, vim.fault.NotAuthenticated):
                return True
    return False


def _is_unauthenticated(obj, method):
    return (isinstance(obj, vim.fault.NotAuthenticated)
            or _reports_unauthenticated(method, obj))


class _Door(SoapAdapter.StubAdapterBase):
    """pyvmomi stub adapter wrapping the SOAP stub with our policies."""

    def __init__(self, session, soap_stub):
        super().__init__(version=soap_stub.version)
        self._session = session
        self.soap = soap_stub

    def InvokeMethod(self, mo, info, args):
        session = self._session
        method = info.wsdlName
        logging_in = _logging_in.get()
        attempt = 0
        relogged = False
        while True:
            generation = session.generation
            self._before_request()
            session.calls.record(method, login=logging_in)
            try:
                status, obj = self.soap.InvokeMethod(mo, info, args, self)
            except ssl.SSLCertVerificationError as exc:
                raise vexc.VimConnectionException(
                    'TLS verification of vCenter %s failed (%s); set '
                    '[vmware] ca_file to the CA that signed its '
                    'certificate' % (session.endpoint, exc.verify_message),
                    cause=exc)
            except TimeoutError as exc:
                raise _timeout_error(session.endpoint, session.timeout,
                                     '%s on %s' % (method, mo._moId), exc)
            except Exception as exc:
                if not _is_connection_error(exc):
                    raise
                safe = _not_sent(exc) or method.startswith(_SAFE_PREFIXES)
                if not safe or attempt >= session.retry_count:
                    raise vexc.VimConnectionException(
                        '%s on %s: connection to vCenter %s failed%s: %s' % (
                            method, mo._moId, session.endpoint,
                            '' if safe else ' (outcome unknown, not retried)',
                            exc), cause=exc)
                delay = session.retry_delay(attempt)
                attempt += 1
                LOG.warning('%(method)s on %(moid)s: connection to vCenter '
                            '%(endpoint)s failed (%(err)s); retry '
                            '%(n)d/%(max)d in %(delay).1fs',
                            {'method': method, 'moid': mo._moId,
                             'endpoint': session.endpoint, 'err': exc,
                             'n': attempt, 'max': session.retry_count,
                             'delay': delay})
                time.sleep(delay)
                continue
            if status == 200 and not _reports_unauthenticated(method, obj):
                return obj
            if (_is_unauthenticated(obj, method)
                    and not logging_in and not relogged):
                LOG.info('vCenter %s session expired during %s; logging in '
                         'again', session.endpoint, method)
                session.relogin(generation)
                relogged = True
                continue
            if status == 200:  # still unauthenticated after a new login
                raise vexc.NotAuthenticatedException(
                    '%s on %s: vCenter %s rejects the session' % (
                        method, mo._moId, session.endpoint))
            if isinstance(obj, vmodl.MethodFault):
                raise faults.translate(obj, '%s on %s' % (method, mo._moId))
            raise vexc.VimException('%s on %s: unexpected reply %r' % (
                method, mo._moId, obj))

    def _before_request(self):
        """Called before each attempt of a request."""


class _SharedSessionDoor(_Door):
    """A door to another SOAP endpoint of vCenter (PBM's /pbm/sdk) that
    uses the vim25 session: vCenter takes its cookie in the
    ``vcSessionCookie`` SOAP header. Read before each attempt, so a request
    after a new login carries the new session."""

    def _before_request(self):
        cookie = http.cookies.SimpleCookie(self._session.session_cookie)
        morsel = cookie.get(SESSION_COOKIE)
        self.soap.requestContext = {
            'vcSessionCookie': morsel.value if morsel else ''}


class Session(object):
    """A logged-in vCenter session.

    :param host: vCenter address.
    :param username, password: credentials; the password is kept only in
        this object and never logged.
    :param ca_file: CA bundle verifying the vCenter certificate.
    :param insecure: skip verification (ignored when ca_file is set).
    """

    def __init__(self, host, username, password, port=443, ca_file=None,
                 insecure=False, retry_count=10, retry_interval=0.5,
                 retry_max_interval=10.0, pool_size=10, timeout=900):
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.ca_file = ca_file
        self.insecure = insecure and not ca_file
        self.retry_count = retry_count
        self.retry_interval = retry_interval
        self.retry_max_interval = retry_max_interval
        self.pool_size = pool_size
        self.timeout = timeout
        self.calls = CallCounter()
        self.content = None
        self._door = None
        self._login_lock = threading.Lock()
        self._generation = 0

    def __repr__(self):
        return '<Session %s@%s>' % (self.username, self.endpoint)

    @property
    def endpoint(self):
        return '%s:%s' % (self.host, self.port)

    @property
    def ssl_context(self):
        if self.insecure:
            return ssl._create_unverified_context()
        return ssl.create_default_context(cafile=self.ca_file)

    def retry_delay(self, attempt):
        return min(self.retry_interval * (2 ** attempt),
                   self.retry_max_interval)

    def login(self):
        """Connect, negotiate the API version and log in."""
        if self.insecure:
            LOG.warning('TLS verification of vCenter %s is disabled '
                        '([vmware] insecure = True): anyone on the path can '
                        'read the credentials', self.endpoint)
        if self._door is None:
            self._door = _Door(self, self._soap_stub())
        with self._login_lock:
            self._login()
        return self

    def _soap_stub(self):
        attempt = 0
        while True:
            try:
                version = self._negotiate_version()
                return SoapAdapter.SoapStubAdapter(
                    host=self.host, port=self.port, version=version,
                    sslContext=self.ssl_context, poolSize=self.pool_size,
                    httpConnectionTimeout=self.timeout,
                    connectionPoolTimeout=_POOL_IDLE_SECONDS)
            except ssl.SSLCertVerificationError as exc:
                raise vexc.VimConnectionException(
                    'TLS verification of vCenter %s failed (%s); set '
                    '[vmware] ca_file to the CA that signed its '
                    'certificate' % (self.endpoint, exc.verify_message),
                    cause=exc)
            except TimeoutError as exc:
                raise _timeout_error(self.endpoint, self.timeout,
                                     'API version discovery', exc)
            except Exception as exc:
                if attempt >= self.retry_count:
                    raise vexc.VimConnectionException(
                        'vCenter %s is unreachable or is not a vSphere API '
                        'endpoint: %s' % (self.endpoint, exc), cause=exc)
                delay = self.retry_delay(attempt)
                attempt += 1
                LOG.warning('Cannot reach vCenter %(endpoint)s (%(err)s); '
                            'retry %(n)d/%(max)d in %(delay).1fs',
                            {'endpoint': self.endpoint, 'err': exc,
                             'n': attempt, 'max': self.retry_count,
                             'delay': delay})
                time.sleep(delay)

    def _negotiate_version(self):
        """The newest vim25 version both pyVmomi and vCenter speak.

        What pyVim's SmartStubAdapter does, with our timeout: its own
        request for vimServiceVersions.xml has none.
        """
        conn = http.client.HTTPSConnection(
            self.host, self.port, context=self.ssl_context,
            timeout=self.timeout)
        try:
            conn.request('GET', '/sdk/vimServiceVersions.xml')
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        self.calls.record('vimServiceVersions', login=True)
        if response.status != 200:
            raise vexc.VimConnectionException(
                'GET /sdk/vimServiceVersions.xml answered HTTP %d' %
                response.status)
        offered = {version.text.strip()
                   for version in ElementTree.fromstring(body).iter('version')
                   if version.text}
        for version in pyvim_connect.GetServiceVersions('vim25'):
            if VmomiSupport.versionIdMap[version] in offered:
                return version
        raise vexc.VimConnectionException(
            'no vSphere API version in common (vCenter offers %s)' %
            ', '.join(sorted(offered)))

    def _login(self):
        token = _logging_in.set(True)
        try:
            if self.content is None:
                si = vim.ServiceInstance('ServiceInstance', self._door)
                self.content = si.RetrieveContent()
            self.content.sessionManager.Login(self.username, self._password)
        except vexc.VimFaultException as exc:
            if faults.is_fault(exc, 'InvalidLogin'):
                raise vexc.VimFaultException(
                    ['InvalidLogin'], 'vCenter %s rejected the login of user '
                    '%r: check [vmware] host_username and host_password' % (
                        self.endpoint, self.username), cause=exc.fault)
            raise
        finally:
            _logging_in.reset(token)
        self._generation += 1
        LOG.info('Logged in to vCenter %s (%s, API %s) as %s',
                 self.endpoint, self.content.about.fullName,
                 self.content.about.apiVersion, self.username)

    @property
    def generation(self):
        """How many times this session has logged in.

        A change means the vCenter session was replaced: what belonged to the
        old one (property collectors, filters, HTTP cookies) is gone.
        """
        return self._generation

    def relogin(self, seen_generation):
        """Log in again, unless someone did since ``seen_generation``.

        ``seen_generation`` is the ``generation`` read before the request
        that vCenter rejected: threads that fail together log in once.
        """
        with self._login_lock:
            if self._generation != seen_generation:
                return
            # A new session from scratch: vCenter refuses a second Login on
            # a session it still knows.
            old_key = self._door.soap.GetSessionId()
            self._door.soap.cookie = ''
            self._door.soap.SetSessionId(None)
            self._login()
            if old_key and old_key != self.session_key:
                self._terminate(old_key)

    def _terminate(self, key):
        """End a session we no longer use, if vCenter still has it."""
        token = _logging_in.set(True)
        try:
            self.content.sessionManager.TerminateSession([key])
        except Exception as exc:
            LOG.debug('Old vCenter session already gone: %s', exc)
        finally:
            _logging_in.reset(token)

    def logout(self):
        """End the vCenter session; never raises."""
        if self._door is None:
            return
        token = _logging_in.set(True)
        try:
            self.content.sessionManager.Logout()
            LOG.info('Logged out of vCenter %s', self.endpoint)
        except Exception as exc:
            LOG.debug('Logout from vCenter %s failed: %s', self.endpoint, exc)
        finally:
            _logging_in.reset(token)
            self._door.soap.DropConnections()
            self._door = None
            self.content = None

    @property
    def session_cookie(self):
        """The HTTP cookie of this session, for datastore HTTP transfers."""
        return self._door.soap.cookie

    @property
    def session_key(self):
        """Key of this session, as in SessionManager.currentSession."""
        return self._door.soap.GetSessionId()

    def shared_session_stub(self, path, version):
        """A stub adapter for another SOAP endpoint of vCenter (``path``,
        e.g. /pbm/sdk, speaking ``version``) over this session: the same
        TLS, timeouts, retries, call counting and re-login as vim25 calls.
        """
        soap = SoapAdapter.SoapStubAdapter(
            host=self.host, port=self.port, path=path, version=version,
            sslContext=self.ssl_context, poolSize=self.pool_size,
            httpConnectionTimeout=self.timeout,
            connectionPoolTimeout=_POOL_IDLE_SECONDS)
        return _SharedSessionDoor(self, soap)

    def mo(self, type_name, moid):
        """A managed object reference bound to this session's door."""
        return VmomiSupport.GetVmodlType('vim.' + type_name)(moid, self._door)

    def bind(self, ref):
        """Rebind a managed object reference from elsewhere to this door."""
        return type(ref)(ref._moId, self._door)
