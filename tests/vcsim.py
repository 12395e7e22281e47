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

"""A live vcsim (govmomi's vCenter simulator) for tests, and pyvmomi helpers
that query it independently of nova_vmware_ext.

    fx = self.useFixture(VcsimFixture(hosts=2, vms=3))
    si = fx.connect()                        # verified TLS, logged in
    hosts = query(si, vim.HostSystem, ['name', 'parent'])

or one simulator per test class with ``VcsimClassMixin``. Prefer reading
vSphere properties through ``query`` (one PropertyCollector call) over
attributes of managed objects: each lazy attribute read is a ``Fetch``
round trip (our tools/vcsim answers those faithfully; stock vcsim 0.24
panicked on unset properties).
"""

import atexit
import contextlib
import fcntl
import functools
import http.cookies
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from unittest import mock
import urllib.parse

import fixtures

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_SCRIPT = os.path.join(REPO_ROOT, 'tools', 'vcsim', 'build.sh')
WSDL_SCRIPT = os.path.join(REPO_ROOT, 'tools', 'vcsim', 'wsdl_gen.py')

READY_TIMEOUT = 120  # seconds for vcsim to build its inventory and listen
STOP_TIMEOUT = 10  # seconds between SIGTERM and SIGKILL
BUILD_TIMEOUT = 900

URL_PREFIX = 'VCSIM_URL='


class VcsimError(Exception):
    """vcsim could not be built or started."""


_binary = None
_binary_lock = threading.Lock()

SHM_MIN_FREE = 2 << 30  # bytes free on /dev/shm to prefer it


def _base_tmpdir():
    """Where fixtures put their directories: $VCSIM_TMPDIR, else /dev/shm
    when it is writable and roomy, else the system temporary directory.

    vcsim writes a few files per VM; on a busy ext4 /tmp, 2,500 VMs took
    12 s of kernel time to create against 1.7 s on tmpfs.
    """
    if os.environ.get('VCSIM_TMPDIR'):
        return os.environ['VCSIM_TMPDIR']
    try:
        st = os.statvfs('/dev/shm')
        if (os.access('/dev/shm', os.W_OK | os.X_OK)
                and st.f_bavail * st.f_frsize >= SHM_MIN_FREE):
            return '/dev/shm'
    except OSError:
        pass
    return None  # tempfile's default


def _cache_dir():
    # The same default as build.sh; only used here for the build lock.
    if os.environ.get('VCSIM_CACHE_DIR'):
        return os.environ['VCSIM_CACHE_DIR']
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
        os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'nova-vmware-ext')


def build_vcsim():
    """Return the path of the vcsim binary, building it if needed.

    $VCSIM_BINARY, when set, names a prebuilt binary to use instead. The
    build runs at most once per process, and under a file lock so parallel
    test workers wait for one build instead of compiling side by side.
    """
    global _binary
    with _binary_lock:
        if _binary is not None:
            return _binary
        prebuilt = os.environ.get('VCSIM_BINARY')
        if prebuilt:
            if not os.access(prebuilt, os.X_OK):
                raise VcsimError(
                    'VCSIM_BINARY=%s is not executable' % prebuilt)
            _binary = prebuilt
            return _binary

        cache = _cache_dir()
        os.makedirs(cache, exist_ok=True)
        with open(os.path.join(cache, 'build.lock'), 'a') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                result = subprocess.run(
                    ['bash', BUILD_SCRIPT], stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True, timeout=BUILD_TIMEOUT, check=False)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        lines = result.stdout.strip().splitlines()
        if result.returncode != 0 or len(lines) != 1:
            raise VcsimError('%s failed (exit %d):\n%s' % (
                BUILD_SCRIPT, result.returncode, result.stderr.strip()))
        _binary = lines[0]
        return _binary


_wsdl_dir = None


def wsdl_dir():
    """The directory of the generated vim WSDL (tools/vcsim/wsdl_gen.py),
    made once per set of inputs and cached beside the vcsim binary.
    $VCSIM_WSDL_DIR, when set, names a prebuilt one."""
    global _wsdl_dir
    with _binary_lock:
        if _wsdl_dir is None:
            _wsdl_dir = os.environ.get('VCSIM_WSDL_DIR') or _generate_wsdl()
        return _wsdl_dir


def _generate_wsdl():
    cache = _cache_dir()
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, 'build.lock'), 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            result = subprocess.run(
                [sys.executable, WSDL_SCRIPT, '--cached'],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, timeout=BUILD_TIMEOUT,
                check=False)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or len(lines) != 1:
        raise VcsimError('%s failed (exit %d):\n%s' % (
            WSDL_SCRIPT, result.returncode, result.stderr.strip()))
    return lines[0]


# Every vcsim this process started and has not stopped yet, with the
# directory of its fixture: the atexit net.
_running = {}
_running_lock = threading.Lock()


def _stop_process(proc, timeout=STOP_TIMEOUT):
    """SIGTERM, wait, SIGKILL if needed; reaps the process."""
    try:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
    except ProcessLookupError:
        proc.wait()
    finally:
        if proc.stdin:
            proc.stdin.close()
        with _running_lock:
            _running.pop(proc, None)


@atexit.register
def _stop_leftovers():
    with _running_lock:
        leftovers = list(_running.items())
    for proc, tmpdir in leftovers:
        _stop_process(proc, timeout=2)
        shutil.rmtree(tmpdir, ignore_errors=True)


class VcsimFixture(fixtures.Fixture):
    """Runs one vcsim process with the given inventory shape.

    Per datacenter: ``clusters`` clusters of ``hosts`` hosts each,
    ``standalone_hosts`` standalone hosts, ``datastores`` local datastores
    (LocalDS_0...) mounted on every host, ``portgroups`` port groups
    (DC0_DVPG0...) on one distributed switch DVS0 (which also has its
    uplink port group), and ``vms`` powered-on VMs in each cluster's root
    resource pool and on each standalone host (on a random host of the
    cluster). Names: DC0, DC0_C0, DC0_C0_H0, DC0_C0_RP0_VM0, DC0_H0_VM0.

    After setUp: ``host``, ``port``, ``url`` (https://127.0.0.1:PORT/sdk),
    ``username``, ``password``, ``ca_file`` (the server certificate, for
    verified TLS), ``pid``, ``tmpdir`` (removed on cleanup) and ``log_file``
    (vcsim's stderr), ``control_url`` and ``control_token`` (the fault
    injection endpoint: see ``inject`` and ``server_calls``), ``wsdl_url``
    (https://127.0.0.1:PORT/sdk/vimService.wsdl, the vim WSDL for suds
    clients: see ``oslo_session``).
    """

    def __init__(self, clusters=1, hosts=3, standalone_hosts=0, vms=0,
                 datastores=2, portgroups=1, datacenters=1,
                 username='vcsim-user', password=None, extra_args=()):
        super().__init__()
        self.shape = dict(
            dc=datacenters, cluster=clusters, host=hosts,
            standalone_host=standalone_hosts, vm=vms, ds=datastores,
            pg=portgroups)
        self.username = username
        self.password = password or secrets.token_urlsafe(12)
        self.extra_args = tuple(extra_args)
        self._proc = None

    def _setUp(self):
        binary = build_vcsim()
        self.tmpdir = tempfile.mkdtemp(prefix='vcsim-', dir=_base_tmpdir())
        self.addCleanup(shutil.rmtree, self.tmpdir, ignore_errors=True)
        self.ca_file = os.path.join(self.tmpdir, 'cert.pem')
        self.pidfile = os.path.join(self.tmpdir, 'vcsim.pid')
        self.log_file = os.path.join(self.tmpdir, 'vcsim.log')
        self.control_token_file = os.path.join(self.tmpdir, 'control-token')
        stdout_file = os.path.join(self.tmpdir, 'stdout')

        cmd = [binary, '-listen', '127.0.0.1:0',
               '-username', self.username, '-password', self.password,
               '-tmpdir', os.path.join(self.tmpdir, 'datastores'),
               '-pidfile', self.pidfile, '-cert-out', self.ca_file,
               '-control-token-file', self.control_token_file,
               '-wsdl-dir', wsdl_dir(),
               # vcsim exits when our end of its stdin closes, even if this
               # process is killed before any cleanup can run.
               '-exit-on-stdin-eof']
        for flag, value in self.shape.items():
            cmd += ['-' + flag.replace('_', '-'), str(value)]
        cmd += self.extra_args

        env = dict(os.environ, TMPDIR=self.tmpdir)
        # Files, not pipes, for its output: nobody reads them after start-up
        # and a full pipe would block the simulator.
        with open(stdout_file, 'wb') as out, open(self.log_file, 'wb') as err:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=out, stderr=err, env=env,
                cwd=self.tmpdir, start_new_session=True)
        with _running_lock:
            _running[self._proc] = self.tmpdir
        self.pid = self._proc.pid
        self.addCleanup(self._stop)

        self.url = self._wait_for_url(stdout_file)
        parsed = urllib.parse.urlsplit(self.url)
        self.host, self.port = parsed.hostname, parsed.port
        # Written before VCSIM_URL is printed.
        with open(self.control_token_file) as f:
            self.control_token = f.read().strip()
        self.control_url = 'https://%s:%d/_control' % (self.host, self.port)
        self.wsdl_url = 'https://%s:%d/sdk/vimService.wsdl' % (
            self.host, self.port)
        # The same files, read locally: one URL for every simulator, so
        # suds builds its model of them once per process (oslo_session).
        self.wsdl_file_url = 'file://%s/vimService.wsdl' % wsdl_dir()

    def _wait_for_url(self, stdout_file):
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            with open(stdout_file) as out:
                for line in out:
                    if line.startswith(URL_PREFIX) and line.endswith('\n'):
                        return line[len(URL_PREFIX):].strip()
            if self._proc.poll() is not None:
                raise VcsimError(
                    'vcsim exited with %s before it was ready:\n%s'
                    % (self._proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                raise VcsimError('vcsim not ready after %ss:\n%s'
                                 % (READY_TIMEOUT, self.log_tail()))
            time.sleep(0.05)

    def log_tail(self, lines=40):
        """The last lines vcsim wrote to stderr."""
        try:
            with open(self.log_file, errors='replace') as log:
                return ''.join(log.readlines()[-lines:])
        except OSError as e:
            return '(no log: %s)' % e

    def _stop(self):
        if self._proc is not None:
            _stop_process(self._proc)
            self._proc = None

    def connect(self, username=None, password=None):
        """A logged-in ServiceInstance, logged out at cleanup."""
        si = service_instance(self, username, password)
        self.addCleanup(_disconnect, si)
        return si

    def oslo_session(self, username=None, password=None, **kwargs):
        """A logged-in oslo.vmware VMwareAPISession over verified TLS,
        logged out at cleanup. It loads the vim WSDL from
        ``wsdl_file_url``, the files this simulator serves at ``wsdl_url``
        (pass ``wsdl_loc=fx.wsdl_url`` to load them over HTTPS), once per
        process. ``kwargs`` go to VMwareAPISession (e.g.
        ``task_poll_interval``)."""
        session = oslo_session(self, username, password, **kwargs)
        self.addCleanup(_oslo_logout, session)
        return session

    # Fault injection and call counts: the control endpoint of
    # tools/vcsim/fault_inject.go, which documents the rules.
    def _control(self, method, path, body=None):
        import requests

        resp = requests.request(
            method, '%s/%s' % (self.control_url, path), json=body,
            headers={'Authorization': 'Bearer ' + self.control_token},
            verify=self.ca_file, timeout=30)
        if resp.status_code >= 400:
            raise VcsimError('%s /_control/%s: HTTP %d: %s' % (
                method, path, resp.status_code, resp.text.strip()))
        return resp.json()

    def inject(self, method, action='fault', fault=None, count=1,
               delay_ms=None, moid=None, message=None, fault_fields=None):
        """Make the next ``count`` SOAP calls of ``method`` misbehave.

        ``method``: a vim25 method name (``'PowerOnVM_Task'``) or ``'*'``.
        ``action``: ``'fault'`` (a SOAP fault of type ``fault``),
        ``'delay'`` (serve it ``delay_ms`` late), ``'drop'`` (close the
        connection unanswered), ``'reset'`` (TCP RST) or ``'task_error'``
        (a Task that fails with ``fault``; nothing is done).
        ``fault``: a fault type name (``'InvalidPowerState'``,
        ``'vim.fault.NoDiskSpace'``) or a pyvmomi fault class.
        ``count``: calls to hit; None for every call until cleared.
        ``delay_ms``: for ``'fault'``, ``'drop'`` and ``'reset'``, a wait
        before; for ``'task_error'``, how long the task runs before it
        fails. ``moid``: only calls on this object (a moid or a managed
        object). ``message``: the fault's message. ``fault_fields``: the
        fault's properties, e.g. ``{'file': '[LocalDS_0] x.vmdk'}``.

        Returns the rule, a dict with its ``id``.
        """
        rule = {'method': method, 'action': action,
                'count': -1 if count is None else count}
        if fault is not None:
            rule['fault'] = getattr(fault, '_wsdlName', fault)
        if delay_ms is not None:
            rule['delay_ms'] = int(delay_ms)
        if moid is not None:
            rule['moid'] = getattr(moid, '_moId', moid)
        if message is not None:
            rule['message'] = message
        if fault_fields is not None:
            rule['fault_fields'] = fault_fields
        return self._control('POST', 'faults', rule)

    def faults(self):
        """The rules not used up yet, with their ``remaining`` counts (-1:
        unlimited) and ``hits``, in matching order."""
        return self._control('GET', 'faults')['rules']

    def remove_fault(self, rule_id):
        self._control('DELETE', 'faults/%d' % rule_id)

    def clear_faults(self):
        """Remove all rules; returns how many there were."""
        return self._control('DELETE', 'faults')['removed']

    def server_calls(self):
        """{SOAP method: number of requests received} since the start or
        the last reset, including requests answered by an injected rule."""
        return self._control('GET', 'calls')['methods']

    def reset_server_calls(self):
        """Zero the counts; returns them as they were."""
        return self._control('DELETE', 'calls')['methods']


def service_instance(fx, username=None, password=None):
    """Log in to the simulator of ``fx`` with pyvmomi over verified TLS.

    The caller disconnects (``pyVim.connect.Disconnect``); prefer
    ``fx.connect()``, which does it at cleanup.
    """
    from pyVim import connect

    context = ssl.create_default_context(cafile=fx.ca_file)
    return connect.SmartConnect(
        protocol='https', host=fx.host, port=fx.port,
        user=fx.username if username is None else username,
        pwd=fx.password if password is None else password,
        sslContext=context)


def oslo_session(fx, username=None, password=None, **kwargs):
    """Log in to the simulator of ``fx`` with oslo.vmware (suds) through
    the WSDL it serves. The caller logs out (``session.logout()``); prefer
    ``fx.oslo_session()``, which does it at cleanup."""
    from oslo_vmware import api

    options = dict(api_retry_count=1, task_poll_interval=0.1,
                   port=fx.port, cacert=fx.ca_file, insecure=False,
                   wsdl_loc=fx.wsdl_file_url)
    options.update(kwargs)
    with _suds_definitions_cached():
        return api.VMwareAPISession(
            fx.host, fx.username if username is None else username,
            fx.password if password is None else password, **options)


_suds_patch_lock = threading.Lock()


def _caching_suds_client():
    """oslo.vmware's suds client class, keeping suds' model of its WSDL.

    suds builds its model of the 3 MB vim WSDL anew for each client (1-3 s
    of CPU); with cachingpolicy=1 it keeps the built model in oslo.vmware's
    in-memory cache, keyed by the WSDL's URL, so a process pays once per
    URL. oslo.vmware offers no option for it: callers patch the class it
    instantiates.
    """
    from oslo_vmware import service

    return functools.partial(service.CompatibilitySudsClient,
                             cachingpolicy=1)


@contextlib.contextmanager
def _suds_definitions_cached():
    with _suds_patch_lock, mock.patch(
            'oslo_vmware.service.CompatibilitySudsClient',
            _caching_suds_client()):
        yield


class SudsWsdlCache(fixtures.Fixture):
    """While in use, every oslo.vmware session this process makes (e.g.
    inside glance_store or a Cinder driver) reuses suds' model of a WSDL URL
    it loaded before, instead of 1-3 s of CPU per session."""

    def _setUp(self):
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_vmware.service.CompatibilitySudsClient',
            _caching_suds_client()))


def _oslo_logout(session):
    try:
        session.logout()
    except Exception:  # already gone with the simulator: nothing to undo
        pass


def _disconnect(si):
    from pyVim import connect

    try:
        connect.Disconnect(si)
    except Exception:  # already gone with the simulator: nothing to undo
        pass


def query(si, vimtype, path_set, root=None):
    """Properties of all objects of ``vimtype`` under ``root``.

    One ContainerView and RetrievePropertiesEx (following continuation
    tokens); returns {moid: {property path: value}}, where unset properties
    are missing.
    """
    from pyVmomi import vim
    from pyVmomi import vmodl

    pc_types = vmodl.query.PropertyCollector
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(
        root or content.rootFolder, [vimtype], True)
    try:
        spec = pc_types.FilterSpec(
            objectSet=[pc_types.ObjectSpec(
                obj=view, skip=True,
                selectSet=[pc_types.TraversalSpec(
                    name='view', path='view', skip=False,
                    type=vim.view.ContainerView)])],
            propSet=[pc_types.PropertySpec(
                type=vimtype, pathSet=list(path_set))])
        collector = content.propertyCollector
        result = collector.RetrievePropertiesEx(
            [spec], pc_types.RetrieveOptions())
        found = {}
        while result is not None:
            for obj in result.objects:
                found[obj.obj._moId] = {
                    p.name: p.val for p in obj.propSet or ()}
            if not result.token:
                break
            result = collector.ContinueRetrievePropertiesEx(result.token)
        return found
    finally:
        view.Destroy()


def session_cookie(si):
    """The Cookie header value of the session of ``si``."""
    cookie = http.cookies.SimpleCookie(si._stub.cookie)
    morsel = cookie['vmware_soap_session']
    return '%s=%s' % (morsel.key, morsel.coded_value)


def datastore_url(fx, path, datastore='LocalDS_0', datacenter='DC0'):
    """The datastore HTTP (/folder) URL of ``path`` on ``datastore``."""
    query_string = urllib.parse.urlencode(
        {'dcPath': datacenter, 'dsName': datastore})
    return 'https://%s:%d/folder/%s?%s' % (
        fx.host, fx.port, urllib.parse.quote(path.lstrip('/')), query_string)


class VcsimClassMixin:
    """One VcsimFixture shared by all tests of a class.

    Shape it with ``VCSIM_SHAPE = dict(hosts=2, ...)`` (VcsimFixture's
    arguments); tests use ``self.vcsim``. Tests sharing it must not depend
    on each other's changes to the inventory.
    """

    VCSIM_SHAPE = {}
    vcsim = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        fx = VcsimFixture(**cls.VCSIM_SHAPE)
        fx.setUp()  # cleans itself up if it fails
        cls.vcsim = fx

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.vcsim is not None:
                cls.vcsim.cleanUp()
        finally:
            cls.vcsim = None
            super().tearDownClass()
