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

"""Wait for vCenter tasks through property-collector updates, never by polling.

Each session keeps one *task stream*: a private property collector with one
filter on ``TaskManager.recentTask``, so every task the driver starts shows up
in the next WaitForUpdatesEx without a call to register it. A wait therefore
costs one long-held WaitForUpdatesEx (more only while the task runs). One
waiting thread at a time holds the request open and hands the updates to all
others (leader/followers), because update versions belong to a collector.

NFC leases are watched through the same stream: a second filter on a
ListView of the leases being waited for, so that a lease costs one
ModifyListView (adding it, and dropping the leases seen ready before)
and shares the stream's WaitForUpdatesEx with the tasks.

Where the stream cannot be set up (a user without rights on the
TaskManager), waits fall back to a filter per wait on a pooled collector:
CreateFilter + WaitForUpdatesEx + DestroyPropertyFilter.
"""

import collections
import math
import threading
import time

from oslo_log import log as logging
from oslo_vmware import exceptions as vexc
from pyVmomi import vim
from pyVmomi import vmodl

from nova_vmware_ext.vsphere import faults

LOG = logging.getLogger(__name__)

PropertyCollector = vmodl.query.PropertyCollector

_TASK_PATHS = ['info.state', 'info.error', 'info.result']
LEASE_PATHS = ['state', 'info', 'error']
_DONE = (vim.TaskInfo.State.success, vim.TaskInfo.State.error)
# Finished tasks remembered for waiters that register after the update
# arrived (a fast task can finish before its caller starts waiting).
_REMEMBERED = 4096


class _TaskState(object):
    __slots__ = ('moid', 'state', 'error', 'result')

    def __init__(self, moid):
        self.moid = moid
        self.state = None
        self.error = None
        self.result = None

    @property
    def done(self):
        return self.state in _DONE

    def apply(self, change):
        value = None if change.op == 'remove' else change.val
        if change.name == 'info.state':
            self.state = value
        elif change.name == 'info.error':
            self.error = value
        elif change.name == 'info.result':
            self.result = value
        elif change.name == 'info' and value is not None:
            self.state, self.error = value.state, value.error
            self.result = value.result


def _deadline_wait(deadline, update_wait):
    remaining = deadline - time.monotonic()
    return max(1, min(update_wait, math.ceil(remaining))), remaining


def _apply_update(update, states, leases=None):
    """Fold an UpdateSet into {moid: _TaskState} (creating entries) and,
    for NFC leases, into ``leases``: {moid: {path: value}}."""
    for filter_update in update.filterSet or ():
        for obj_update in filter_update.objectSet or ():
            moid = obj_update.obj._moId
            if isinstance(obj_update.obj, vim.HttpNfcLease):
                values = (leases or {}).get(moid)
                if values is not None:  # else nobody waits for it now
                    _apply_lease(obj_update, values)
                continue
            state = states.get(moid)
            if state is None:
                state = states[moid] = _TaskState(moid)
            for change in obj_update.changeSet or ():
                state.apply(change)


def _apply_lease(obj_update, values):
    if obj_update.kind == 'leave':
        values.setdefault('state', 'gone')
        return
    for change in obj_update.changeSet or ():
        values[change.name] = None if change.op == 'remove' else change.val


def _lease_settled(values):
    """Ready with its info (which may come in an update of its own), or
    over."""
    if not values:
        return False
    state = values.get('state')
    if state == 'ready':
        return values.get('info') is not None
    return state in ('error', 'done', 'gone')


class _TaskStream(object):
    """One filter on TaskManager.recentTask, shared by all waiters."""

    def __init__(self, session, update_wait):
        self.session = session
        self.update_wait = update_wait
        self._cond = threading.Condition()
        self._busy = False
        self._generation = None
        self._collector = None
        self._version = ''
        self._states = collections.OrderedDict()
        self._waited = collections.Counter()  # moid -> waiters
        self._later = {}  # moid -> what: checked when its update arrives
        self._setup = threading.Lock()  # around (re)creating the collector
        self._view = None  # ListView of the leases watched (see watch_lease)
        self._leases = {}  # moid -> {path: value} of the leases waited for
        self._leases_seen = {}  # moid -> lease: in the view, not waited for

    def _ensure(self):
        """(Re)create the collector and filter, once per login."""
        with self._setup:
            return self._ensure_locked()

    def _ensure_locked(self):
        generation = self.session.generation
        if self._collector is not None and self._generation == generation:
            return self._collector
        content = self.session.content
        collector = content.propertyCollector.CreatePropertyCollector()
        try:
            collector.CreateFilter(PropertyCollector.FilterSpec(
                objectSet=[PropertyCollector.ObjectSpec(
                    obj=content.taskManager, skip=True,
                    selectSet=[PropertyCollector.TraversalSpec(
                        name='recentTask', type=vim.TaskManager,
                        path='recentTask', skip=False)])],
                propSet=[PropertyCollector.PropertySpec(
                    type=vim.Task, pathSet=_TASK_PATHS)]), True)
        except Exception:
            _destroy(collector)
            raise
        self._collector, self._generation, self._version = (
            collector, generation, '')
        self._view = None  # the session's views went with its login
        self._leases_seen.clear()
        return collector

    def _add_lease(self, lease):
        """Put a lease into the watched ListView (made empty with the
        first lease: CreateListView + CreateFilter, once per login); the
        leases seen settled before leave it in the same ModifyListView.
        Returns the login generation it was added in."""
        with self._setup:
            collector = self._ensure_locked()
            generation = self._generation
            with self._cond:
                self._leases[lease._moId] = {}
            if self._view is None:
                view = self.session.content.viewManager.CreateListView([])
                try:
                    collector.CreateFilter(PropertyCollector.FilterSpec(
                        objectSet=[PropertyCollector.ObjectSpec(
                            obj=view, skip=True,
                            selectSet=[PropertyCollector.TraversalSpec(
                                name='leases', type=vim.view.ListView,
                                path='view', skip=False)])],
                        propSet=[PropertyCollector.PropertySpec(
                            type=vim.HttpNfcLease, pathSet=LEASE_PATHS)]),
                        True)
                except Exception:
                    _destroy_view(view)
                    raise
                self._view = view
            with self._cond:
                gone = dict(self._leases_seen)
            self._view.ModifyListView(add=[lease],
                                      remove=list(gone.values()))
            with self._cond:
                for moid in gone:
                    self._leases_seen.pop(moid, None)
            return generation

    def wait_lease(self, lease, deadline, what):
        """Watch an NFC lease until it is ready (or fails, or is gone):
        one ModifyListView, then the stream's WaitForUpdatesEx. Returns its
        {path: value} (LEASE_PATHS); None when the deadline passed first.
        """
        moid = lease._moId
        try:
            generation = self._add_lease(lease)
        except Exception:
            with self._cond:
                self._leases.pop(moid, None)
            raise

        def settled():
            if self._generation != generation:
                raise vexc.NotAuthenticatedException(
                    '%s: vCenter logged the session out while its NFC '
                    'lease was being made ready' % what)
            values = self._leases.get(moid)
            return values if _lease_settled(values) else None
        try:
            return self._wait_until(settled, deadline)
        finally:
            with self._cond:
                self._leases.pop(moid, None)
                if self._generation == generation:
                    self._leases_seen[moid] = lease

    def _forget_old(self):
        """Drop the oldest finished tasks nobody waits for, over the bound."""
        excess = len(self._states) - _REMEMBERED
        if excess <= 0:
            return
        for moid in [m for m, state in self._states.items()
                     if state.done and m not in self._waited][:excess]:
            del self._states[moid]

    def watch(self, moid, what):
        """Check a task when the next wait sees it finish; log a failure."""
        with self._cond:
            self._later[moid] = what
            self._waited[moid] += 1
            self._report_later()

    def _report_later(self):
        """Log the failures of watched tasks now done; the lock is held."""
        for moid in [m for m in self._later
                     if m in self._states and self._states[m].done]:
            what = self._later.pop(moid)
            self._waited.subtract([moid])
            self._waited += collections.Counter()
            state = self._states[moid]
            if state.state == vim.TaskInfo.State.error:
                LOG.warning('%s failed: %s', what,
                            getattr(state.error, 'msg', state.error))

    def wait(self, moids, deadline, what):
        """Block until every task in ``moids`` is done; return their states."""
        with self._cond:
            self._waited.update(moids)
        try:
            return self._wait(moids, deadline, what)
        finally:
            with self._cond:
                self._waited.subtract(moids)
                self._waited += collections.Counter()  # drop zero counts

    def _wait(self, moids, deadline, what):
        def finished():
            found = [self._states.get(m) for m in moids]
            if all(s is not None and s.done for s in found):
                return found
            return None
        found = self._wait_until(finished, deadline)
        if found is None:
            pending = sorted(m for m in moids if not (
                m in self._states and self._states[m].done))
            raise faults.TaskTimeout(
                message='%s: still running after the timeout (%s)'
                % (what or 'vCenter task', ', '.join(pending)))
        return found

    def _wait_until(self, check, deadline):
        """``check()`` (called with the lock held) once it is not None;
        None when the deadline passes first."""
        cond = self._cond
        while True:
            with cond:
                found = check()
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                if self._busy:
                    cond.wait(remaining)
                    continue
                self._busy = True
            self._lead(deadline)

    def _lead(self, deadline):
        """Hold one WaitForUpdatesEx for everybody, then share the result."""
        update, reset = None, False
        try:
            collector = self._ensure()
            max_wait, _ = _deadline_wait(deadline, self.update_wait)
            update = collector.WaitForUpdatesEx(
                self._version,
                PropertyCollector.WaitOptions(maxWaitSeconds=max_wait))
        except (vexc.ManagedObjectNotFoundException,
                vexc.NotAuthenticatedException):
            # The session was renewed under us: its collectors are gone.
            # Start over; the new snapshot still lists the tasks.
            if self._generation == self.session.generation:
                raise
            reset = True
        finally:
            with self._cond:
                self._busy = False
                if reset:
                    self._collector = None
                if update is not None:
                    self._version = update.version
                    _apply_update(update, self._states, self._leases)
                    self._report_later()
                    self._forget_old()
                self._cond.notify_all()

    def close(self):
        with self._cond:
            collector, self._collector = self._collector, None
        if collector is not None:
            _destroy(collector)


def _destroy_view(view):
    try:
        view.DestroyView()
    except Exception as exc:
        LOG.debug('DestroyView failed: %s', exc)


def _destroy(collector):
    try:
        collector.DestroyPropertyCollector()
    except Exception as exc:
        LOG.debug('DestroyPropertyCollector failed: %s', exc)


def _within_api_timeout(update_wait, api_timeout):
    """How long vCenter may hold a WaitForUpdatesEx: less than the socket
    waits for its answer (api_timeout), or every quiet wait would fail."""
    bound = max(1, api_timeout * 3 // 4)
    if update_wait <= bound:
        return update_wait
    LOG.warning('[vmware_ext] task_update_wait (%(wait)s s) must be shorter '
                'than api_timeout (%(timeout)s s): vCenter holds task '
                'waits for %(bound)s s instead',
                {'wait': update_wait, 'timeout': api_timeout,
                 'bound': bound})
    return bound


class TaskWaiter(object):
    """Waits for tasks of one session.

    :param update_wait: seconds vCenter may hold one WaitForUpdatesEx open.
    :param timeout: default limit for one wait, in seconds.
    :param stream: use the shared task stream (else a filter per wait).
    """

    def __init__(self, session, update_wait=60, timeout=3600, stream=True):
        self.session = session
        update_wait = _within_api_timeout(update_wait, session.timeout)
        self.update_wait = update_wait
        self.timeout = timeout
        self._stream = _TaskStream(session, update_wait) if stream else None
        self._lease_stream = True
        self._lock = threading.Lock()
        self._idle = []  # (login generation, collector) for filter waits

    def wait(self, task, what=None, timeout=None):
        """Wait for one task; return its result or raise its fault."""
        return self.wait_all([task], what, timeout)[0]

    def wait_all(self, tasks, what=None, timeout=None):
        """Wait until every task has finished.

        All tasks are waited for even when one fails, so nothing keeps
        running unobserved; then the first failure is raised.

        :param what: words naming the operation, for errors and logs.
        :returns: the tasks' results, in order.
        """
        tasks = list(tasks)
        if not tasks:
            return []
        moids = [task._moId for task in tasks]
        deadline = time.monotonic() + (timeout or self.timeout)
        states = None
        if self._stream is not None:
            try:
                states = self._stream.wait(moids, deadline, what)
            except vexc.NoPermissionException as exc:
                LOG.warning('Cannot follow vCenter tasks through '
                            'TaskManager.recentTask (%s); waiting with a '
                            'filter per task instead', exc)
                self._stream = None
        if states is None:
            states = self._filter_wait(tasks, deadline, what)
        for moid, state in zip(moids, states):
            if state.state == vim.TaskInfo.State.error:
                raise self._task_error(moid, state, what)
        return [state.result for state in states]

    def wait_later(self, task, what):
        """Do not wait for ``task`` now: the next wait of this session sees
        it finish (one WaitForUpdatesEx answers for every task of the task
        stream) and logs its failure. For cleanups nobody waits on (a fetch
        lock's removal). Without the task stream: waited for now, its
        failure logged.
        """
        if self._stream is not None:
            self._stream.watch(task._moId, what)
            return
        try:
            self.wait(task, what)
        except Exception as exc:
            LOG.warning('%s failed: %s', what, exc)

    def wait_lease(self, lease, timeout, what=None):
        """Watch an HttpNfcLease until it is ready, failed or gone.

        Through the task stream (one ModifyListView, the WaitForUpdatesEx
        shared with task waits), else with a filter of its own. Returns its
        values of LEASE_PATHS, or None when ``timeout`` seconds passed.
        """
        deadline = time.monotonic() + timeout
        if self._stream is not None and self._lease_stream:
            try:
                return self._stream.wait_lease(lease, deadline, what)
            except vexc.NoPermissionException as exc:
                LOG.warning('Cannot watch NFC leases through a ListView '
                            '(%s); watching each with a filter instead', exc)
                self._lease_stream = False
        return self.wait_for_values(lease, LEASE_PATHS, _lease_settled,
                                    timeout)

    def _task_error(self, moid, state, what):
        # pyvmomi hands TaskInfo.error (a LocalizedMethodFault on the wire)
        # over as the MethodFault itself, localizedMessage in its msg.
        error = state.error
        context = what or 'vCenter task %s' % moid
        if not isinstance(error, vmodl.MethodFault):
            return vexc.VimException('%s failed: %s' % (context, error))
        return faults.translate(error, context)

    def _filter_wait(self, tasks, deadline, what):
        states = collections.OrderedDict(
            (task._moId, _TaskState(task._moId)) for task in tasks)
        generation, collector = self._borrow()
        healthy = False
        try:
            pfilter = collector.CreateFilter(PropertyCollector.FilterSpec(
                objectSet=[PropertyCollector.ObjectSpec(obj=task)
                           for task in tasks],
                propSet=[PropertyCollector.PropertySpec(
                    type=vim.Task, pathSet=_TASK_PATHS)]), True)
            try:
                version = ''
                while not all(s.done for s in states.values()):
                    max_wait, remaining = _deadline_wait(deadline,
                                                         self.update_wait)
                    if remaining <= 0:
                        raise faults.TaskTimeout(
                            message='%s: still running after the timeout'
                            % (what or 'vCenter task'))
                    update = collector.WaitForUpdatesEx(
                        version,
                        PropertyCollector.WaitOptions(maxWaitSeconds=max_wait))
                    if update is not None:
                        version = update.version
                        _apply_update(update, states)
            finally:
                pfilter.DestroyPropertyFilter()
            healthy = True
        finally:
            self._give_back(generation, collector, healthy)
        return [states[task._moId] for task in tasks]

    def wait_for_property(self, obj, path, predicate, timeout):
        """Wait until ``predicate(value of obj.path)`` holds.

        Watches the property with WaitForUpdatesEx (the first answer is the
        current value). Returns True when the predicate held, False when
        ``timeout`` seconds passed first.
        """
        return self.wait_for_values(
            obj, [path], lambda values: path in values and predicate(
                values[path]), timeout) is not None

    def wait_for_values(self, obj, paths, done, timeout):
        """Watch properties of ``obj`` until ``done({path: value})`` holds.

        One filter: CreateFilter, a WaitForUpdatesEx per change (the first
        answer holds the current values), DestroyPropertyFilter. Returns
        the values, or None when ``timeout`` seconds passed first.
        """
        deadline = time.monotonic() + timeout
        generation, collector = self._borrow()
        healthy = False
        try:
            pfilter = collector.CreateFilter(PropertyCollector.FilterSpec(
                objectSet=[PropertyCollector.ObjectSpec(obj=obj)],
                propSet=[PropertyCollector.PropertySpec(
                    type=type(obj), pathSet=list(paths))]), True)
            try:
                values = self._watch(collector, deadline, done)
            finally:
                pfilter.DestroyPropertyFilter()
            healthy = True
            return values
        finally:
            self._give_back(generation, collector, healthy)

    def _watch(self, collector, deadline, done):
        values, version = {}, ''
        while True:
            max_wait, remaining = _deadline_wait(deadline, self.update_wait)
            if version and remaining <= 0:
                return None
            update = collector.WaitForUpdatesEx(version, PropertyCollector.
                                                WaitOptions(
                                                    maxWaitSeconds=max_wait))
            if update is None:
                continue
            version = update.version
            for filter_update in update.filterSet or ():
                for obj_update in filter_update.objectSet or ():
                    for change in obj_update.changeSet or ():
                        values[change.name] = (None if change.op == 'remove'
                                               else change.val)
            if done(values):
                return values

    def _borrow(self):
        generation = self.session.generation
        with self._lock:
            while self._idle:
                gen, collector = self._idle.pop()
                if gen == generation:
                    return gen, collector
        main = self.session.content.propertyCollector
        return generation, main.CreatePropertyCollector()

    def _give_back(self, generation, collector, healthy):
        if healthy and generation == self.session.generation:
            with self._lock:
                self._idle.append((generation, collector))
            return
        _destroy(collector)

    def close(self):
        """Destroy this waiter's collectors (before logout)."""
        if self._stream is not None:
            self._stream.close()
        with self._lock:
            idle, self._idle = self._idle, []
        for _gen, collector in idle:
            _destroy(collector)
