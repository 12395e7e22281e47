"""Wait for vCenter tasks through property-collector updates, never by polling.

A wait puts a filter on the tasks' ``info.state/error/result`` and blocks in
WaitForUpdatesEx until vCenter reports them finished: one filter, one or a few
long-held requests, one teardown. Each waiter borrows a private property
collector from a small pool, because update versions belong to a collector
and two waiters sharing one would steal each other's updates.
"""

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
_DONE = (vim.TaskInfo.State.success, vim.TaskInfo.State.error)


class _TaskState(object):
    __slots__ = ('task', 'state', 'error', 'result')

    def __init__(self, task):
        self.task = task
        self.state = None
        self.error = None
        self.result = None

    @property
    def done(self):
        return self.state in _DONE


class TaskWaiter(object):
    """Waits for tasks of one session.

    :param update_wait: seconds vCenter may hold one WaitForUpdatesEx open.
    :param timeout: default limit for one wait, in seconds.
    """

    def __init__(self, session, update_wait=60, timeout=3600):
        self.session = session
        self.update_wait = update_wait
        self.timeout = timeout
        self._lock = threading.Lock()
        self._idle = []  # (login generation, collector)

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
        states = self._wait(tasks, timeout or self.timeout, what)
        for state in states:
            if state.state == vim.TaskInfo.State.error:
                raise self._task_error(state, what)
        return [state.result for state in states]

    def _task_error(self, state, what):
        # pyvmomi hands TaskInfo.error (a LocalizedMethodFault on the wire)
        # over as the MethodFault itself, localizedMessage in its msg.
        error = state.error
        context = what or 'vCenter task %s' % state.task._moId
        if not isinstance(error, vmodl.MethodFault):
            return vexc.VimException('%s failed: %s' % (context, error))
        return faults.translate(error, context)

    def _wait(self, tasks, timeout, what):
        by_key = {}
        states = []
        for task in tasks:
            state = by_key.setdefault(task._moId, _TaskState(task))
            states.append(state)
        generation, collector = self._borrow()
        healthy = False
        try:
            pfilter = collector.CreateFilter(PropertyCollector.FilterSpec(
                objectSet=[PropertyCollector.ObjectSpec(obj=s.task)
                           for s in by_key.values()],
                propSet=[PropertyCollector.PropertySpec(
                    type=vim.Task, pathSet=_TASK_PATHS)]), True)
            try:
                self._consume(collector, by_key, timeout, what)
            finally:
                pfilter.DestroyPropertyFilter()
            healthy = True
        finally:
            self._give_back(generation, collector, healthy)
        return states

    def _consume(self, collector, by_key, timeout, what):
        deadline = time.monotonic() + timeout
        version = ''
        while not all(s.done for s in by_key.values()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pending = sorted(k for k, s in by_key.items() if not s.done)
                raise faults.TaskTimeout(
                    message='%s: still running after %ds (%s)' % (
                        what or 'vCenter task', timeout, ', '.join(pending)))
            options = PropertyCollector.WaitOptions(
                maxWaitSeconds=max(1, min(self.update_wait,
                                          math.ceil(remaining))))
            update = collector.WaitForUpdatesEx(version, options)
            if update is None:
                continue
            version = update.version
            for filter_update in update.filterSet or ():
                for obj_update in filter_update.objectSet or ():
                    state = by_key.get(obj_update.obj._moId)
                    if state is None:
                        continue
                    for change in obj_update.changeSet or ():
                        _apply_change(state, change)

    def _borrow(self):
        generation = self.session._generation
        with self._lock:
            while self._idle:
                gen, collector = self._idle.pop()
                if gen == generation:
                    return gen, collector
        main = self.session.content.propertyCollector
        return generation, main.CreatePropertyCollector()

    def _give_back(self, generation, collector, healthy):
        if healthy and generation == self.session._generation:
            with self._lock:
                self._idle.append((generation, collector))
            return
        try:
            collector.DestroyPropertyCollector()
        except Exception as exc:
            LOG.debug('DestroyPropertyCollector failed: %s', exc)

    def close(self):
        """Destroy the pooled collectors (before logout)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for _gen, collector in idle:
            try:
                collector.DestroyPropertyCollector()
            except Exception as exc:
                LOG.debug('DestroyPropertyCollector failed: %s', exc)


def _apply_change(state, change):
    value = None if change.op == 'remove' else change.val
    if change.name == 'info.state':
        state.state = value
    elif change.name == 'info.error':
        state.error = value
    elif change.name == 'info.result':
        state.result = value
