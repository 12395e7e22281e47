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

"""Lifecycle events: power changes seen in vSphere, told to Nova's manager.

The VM watcher (vsphere/watch.py) reports every change of the cluster's VMs;
this module turns those of Nova's VMs into ``nova.virt.event.LifecycleEvent``s
for the driver's ``emit_event``, as Nova's libvirt driver does
(nova/virt/libvirt/host.py):

- STARTED and RESUMED at once;
- STOPPED and SUSPENDED after ``STOP_DELAY`` seconds, cancelled when the VM
  comes back to the state last reported before then: the compute manager
  stops a server on STOPPED, so a guest reboot or a vSphere HA restart
  (off, then on again) must not produce one;
- nothing for a VM whose connectionState is not ``connected`` (its host is
  unreachable, HA failover in progress): its state is decided once it is
  connected again; nothing for a VM appearing or leaving (spawn, destroy,
  migration to another cluster), nor for one marked ``quiet`` (an operation
  moving it away).

Our own power operations produce events too, as libvirt's do: the manager
ignores an event while the instance has a task in progress and when the
power state it reads back (``get_info(use_cache=False)``) is not the one
the event announces, so an event from our own operation never changes a
server's state, and Nova stays the one place that decides it.
"""

import contextlib
import threading
import time

from nova.compute import power_state
from nova import thread_pool_factory
from nova.virt import event as virtevent
from oslo_log import log as logging

from nova_vmware_ext.compute import instances

LOG = logging.getLogger(__name__)

# Seconds a STOPPED or SUSPENDED event waits for the VM to come back
# (libvirt's LIFECYCLE_DELAY is 15 s too).
STOP_DELAY = 15

_Delaying = (
    thread_pool_factory.StaticallyDelayingCancellableTaskExecutorWrapper)

_DELAYED = {power_state.SHUTDOWN: virtevent.EVENT_LIFECYCLE_STOPPED,
            power_state.SUSPENDED: virtevent.EVENT_LIFECYCLE_SUSPENDED}


def transition(reported, current):
    """The event taking an instance from ``reported`` to ``current``
    (Nova power states) and whether it waits: (transition, delayed), or
    (None, False) when there is nothing to tell."""
    if current == reported:
        return None, False
    if current == power_state.RUNNING:
        if reported == power_state.SUSPENDED:
            return virtevent.EVENT_LIFECYCLE_RESUMED, False
        return virtevent.EVENT_LIFECYCLE_STARTED, False
    if current in _DELAYED:
        return _DELAYED[current], True
    return None, False


def _power_state(vm_state):
    return instances.POWER_STATES.get(vm_state.power_state,
                                      power_state.NOSTATE)


class DelayedCalls(object):
    """Nova's delaying executor over its default pool, made on first use.

    ``submit(fn)`` runs ``fn`` after ``delay`` seconds unless the returned
    future is cancelled first; ``now(fn)`` runs it on the pool at once.
    """

    def __init__(self, delay):
        self.delay = delay
        self._delayed = None
        self._lock = threading.Lock()

    def now(self, fn, *args):
        return thread_pool_factory.spawn(fn, *args)

    def submit(self, fn, *args):
        with self._lock:
            if self._delayed is None:
                pool = thread_pool_factory.get_executor(
                    thread_pool_factory.ExecutorType.DEFAULT)
                self._delayed = _Delaying(delay=self.delay, executor=pool)
            return self._delayed.submit_with_delay(fn, *args)

    def shutdown(self):
        """Stop the delaying thread (cancel pending calls first)."""
        with self._lock:
            delayed, self._delayed = self._delayed, None
        if delayed is not None:
            delayed.shutdown(wait=True)


class LifecycleEvents(object):
    """Decides which VM changes become events, and when.

    :param emit: the driver's ``emit_event``.
    :param calls: runs events now or later (DelayedCalls, or a fake in
        tests).
    """

    def __init__(self, emit, calls=None):
        self.emit = emit
        self.calls = calls or DelayedCalls(STOP_DELAY)
        self._lock = threading.Lock()
        self._reported = {}  # uuid -> power state Nova was last told of
        self._pending = {}  # uuid -> (future, power state it announces)
        self._quiet = {}  # uuid -> operations in progress
        self._closed = False

    def changed(self, changes):
        """Take the watcher's [(before, after)] VmStates."""
        if self._closed:
            return
        for before, after in changes:
            try:
                self._changed(before, after)
            except Exception:
                LOG.exception('Lifecycle event for %s failed',
                              (after or before).uuid)

    def _changed(self, before, after):
        uuid = after.uuid if after is not None else None
        with self._lock:
            if before is not None and before.uuid and before.uuid != uuid:
                self._forget(before.uuid)  # left, or no longer Nova's
            if uuid is None:
                return
            current = _power_state(after)
            if before is None or before.uuid != uuid:
                self._reported[uuid] = current  # first seen: no event
                return
            if not after.connected or uuid in self._quiet:
                self._cancel(uuid)
                if uuid in self._quiet:
                    self._reported[uuid] = current
                return
            reported = self._reported.setdefault(uuid, _power_state(before))
            self._cancel(uuid)
            event, delayed = transition(reported, current)
            if event is None:
                return
            seen = time.time()
            if delayed:
                self._pending[uuid] = (self.calls.submit(
                    self._fire_delayed, uuid, current, event, seen), current)
                return
            self._reported[uuid] = current
        self.calls.now(self._emit, uuid, event, seen)

    def _fire_delayed(self, uuid, state, event, seen):
        with self._lock:
            pending = self._pending.get(uuid)
            if pending is None or pending[1] != state:
                return
            del self._pending[uuid]
            self._reported[uuid] = state
        self._emit(uuid, event, seen)

    def _emit(self, uuid, event, seen):
        LOG.debug('Lifecycle event %s of instance %s', event, uuid)
        self.emit(virtevent.LifecycleEvent(uuid, event, seen))

    def _cancel(self, uuid):
        pending = self._pending.pop(uuid, None)
        if pending is not None:
            pending[0].cancel()
            LOG.debug('Pending lifecycle event of %s cancelled', uuid)

    def _forget(self, uuid):
        self._cancel(uuid)
        self._reported.pop(uuid, None)

    @contextlib.contextmanager
    def quiet(self, uuid):
        """No events for this instance while the block runs (e.g. it is
        leaving by migration); its state then is the new baseline."""
        with self._lock:
            self._quiet[uuid] = self._quiet.get(uuid, 0) + 1
            self._cancel(uuid)
        try:
            yield
        finally:
            with self._lock:
                self._quiet[uuid] -= 1
                if not self._quiet[uuid]:
                    del self._quiet[uuid]

    def close(self):
        """Cancel what is pending and stop the delaying thread."""
        with self._lock:
            self._closed = True
            for uuid in list(self._pending):
                self._cancel(uuid)
        self.calls.shutdown()
