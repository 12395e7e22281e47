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

"""A vcsim on 127.0.0.1:443, for clients that have no port option
(glance_store's VMware backend reaches vCenter on 443 only).

Port 443 is one per machine: a test class using it holds an exclusive
file lock from its class set-up to its tear-down, so stestr workers (and
other test runs on the machine) take turns instead of failing to bind.
Binding 443 needs root (or CAP_NET_BIND_SERVICE), as the tests run.
"""

import fcntl
import os
import tempfile
import time

from tests import vcsim

LOCK_FILE = os.path.join(tempfile.gettempdir(),
                         'nova-vmware-ext-vcsim-443.lock')
LOCK_TIMEOUT = 900  # seconds to wait for another class to free the port
ADDRESS = '127.0.0.1:443'
LISTEN = ('-listen', ADDRESS)  # VcsimFixture's extra_args


def _lock(path=LOCK_FILE, timeout=LOCK_TIMEOUT):
    handle = open(path, 'a')
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                raise vcsim.VcsimError('port 443 still held by another test '
                                       'class after %ds (%s)' % (timeout,
                                                                 path))
            time.sleep(0.2)


class Port443ClassMixin(vcsim.VcsimClassMixin):
    """VcsimClassMixin whose simulator listens on 127.0.0.1:443, one class
    at a time on this machine: put ``extra_args=port443.LISTEN`` in the
    class's ``VCSIM_SHAPE``."""

    _port_lock = None

    @classmethod
    def setUpClass(cls):
        cls._port_lock = _lock()
        try:
            super().setUpClass()
            if cls.vcsim.port != 443:
                raise vcsim.VcsimError('%s: not on port 443 (VCSIM_SHAPE '
                                       'lacks port443.LISTEN)' % cls.vcsim.url)
        except BaseException:
            cls._release()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls._release()

    @classmethod
    def _release(cls):
        if cls._port_lock is not None:
            fcntl.flock(cls._port_lock, fcntl.LOCK_UN)
            cls._port_lock.close()
            cls._port_lock = None
