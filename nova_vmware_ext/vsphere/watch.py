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

"""The cluster's VMs kept current through WaitForUpdatesEx.

One background thread per driver holds a WaitForUpdatesEx open on a
property collector of its own (the session's task waiter holds another), with
one filter on a ContainerView of the cluster's VMs. Each update is folded
into a ``VmTable``: the instance table behind listing and ``get_info``, and,
through ``on_changes``, the source of lifecycle events.

A lost session or a vCenter restart ends the wait with an error: the thread
then rebuilds its collector, view and filter (the session's door logs in
again), reads the whole state anew and reports what changed meanwhile.
"""

import collections
import threading
import time

from oslo_log import log as logging
from pyVmomi import vim
from pyVmomi import vmodl

LOG = logging.getLogger(__name__)

PropertyCollector = vmodl.query.PropertyCollector

POWER_STATE = 'runtime.powerState'
CONNECTION_STATE = 'runtime.connectionState'
CONNECTED = 'connected'

# A rebuild after an error waits this long first, doubling up to the max.
RETRY_DELAY = 1.0
RETRY_MAX_DELAY = 30.0


class VmState(collections.namedtuple(
        'VmState', 'ref uuid power_state connection_state')):
    """What the table knows of one VM; ``uuid`` is None for VMs that are
    not Nova's (as ``identify`` decides)."""

    @property
    def connected(self):
        return self.connection_state == CONNECTED


class VmTable(object):
    """Properties of every VM the watcher sees, by moid, with a UUID index.

    :param identify: ``identify(properties)`` -> instance UUID or None,
        given a dict of the watched properties (as props.py makes them).
    """

    def __init__(self, identify):
        self._identify = identify
        self._lock = threading.RLock()  # wait_for's predicate reads too
        self._updated = threading.Condition(self._lock)
        self._props = {}  # moid -> {path: value, 'obj': ref}
        self._states = {}  # moid -> VmState
        self._by_uuid = {}  # uuid -> moid
        self.warm = False  # complete and being kept current

    def get(self, uuid):
        """The VmState of an instance, or None."""
        with self._lock:
            moid = self._by_uuid.get(uuid)
            return self._states.get(moid) if moid else None

    def properties(self, uuid):
        """A copy of the watched properties of an instance's VM, or None."""
        with self._lock:
            props = self._props.get(self._by_uuid.get(uuid))
            return dict(props) if props is not None else None

    def uuids(self):
        with self._lock:
            return list(self._by_uuid)

    def __len__(self):
        with self._lock:
            return len(self._states)

    def wait_for(self, predicate, timeout):
        """Wait until ``predicate(table)`` holds after some update (or at
        once); True if it did within ``timeout`` seconds."""
        with self._updated:
            return self._updated.wait_for(lambda: predicate(self), timeout)

    def apply(self, objects):
        """Fold ObjectUpdates in; return [(before, after)] of VmStates
        that changed (None for a VM entering or leaving)."""
        changes = []
        with self._lock:
            for update in objects:
                moid = update.obj._moId
                before = self._states.get(moid)
                if update.kind == 'leave':
                    self._drop(moid)
                    after = None
                else:
                    props = self._props.setdefault(moid, {'obj': update.obj})
                    for change in update.changeSet or ():
                        if change.op == 'remove' or change.val is None:
                            props.pop(change.name, None)
                        else:
                            props[change.name] = change.val
                    after = self._index(moid, props)
                if before != after:
                    changes.append((before, after))
            self._updated.notify_all()
        return changes

    def replace(self, objects):
        """Start over from a full snapshot (ObjectUpdates of every VM);
        return what changed against the table as it was."""
        with self._lock:
            old = self._states
            self._props, self._states, self._by_uuid = {}, {}, {}
        self.apply(objects)
        with self._lock:
            new = self._states
            changes = [(old.get(moid), new.get(moid))
                       for moid in set(old) | set(new)
                       if old.get(moid) != new.get(moid)]
            self.warm = True
            self._updated.notify_all()
        return changes

    def _drop(self, moid):
        self._props.pop(moid, None)
        state = self._states.pop(moid, None)
        if state is not None and self._by_uuid.get(state.uuid) == moid:
            self._reassign(state.uuid)

    def _index(self, moid, props):
        old = self._states.get(moid)
        state = VmState(props['obj'], self._identify(props),
                        str(props.get(POWER_STATE, '')) or None,
                        str(props.get(CONNECTION_STATE, '')) or None)
        self._states[moid] = state
        if old is not None and old.uuid != state.uuid and (
                self._by_uuid.get(old.uuid) == moid):
            self._reassign(old.uuid)
        if state.uuid and not self._claimed_by_other(state.uuid, moid):
            self._by_uuid[state.uuid] = moid
        return state

    def _claimed_by_other(self, uuid, moid):
        """Another VM holds ``uuid`` and still claims it. A clone briefly
        carries its source's keys (a snapshot's clone does): the instance
        stays with the VM that had it first."""
        current = self._by_uuid.get(uuid)
        return (current is not None and current != moid
                and getattr(self._states.get(current), 'uuid', None) == uuid)

    def _reassign(self, uuid):
        """``uuid`` lost its VM: another VM that claims it takes it."""
        for moid, state in self._states.items():
            if state.uuid == uuid:
                self._by_uuid[uuid] = moid
                return
        self._by_uuid.pop(uuid, None)


class VmWatcher(object):
    """A thread keeping a VmTable of a container's VMs current.

    :param session: vsphere.session.Session (its door logs in again).
    :param container: the cluster (or folder) whose VMs to watch.
    :param paths: VM properties to watch (power and connection state are
        always among them).
    :param identify: see VmTable.
    :param on_changes: called in the thread with the list of changes of
        each update; it must not block.
    :param update_wait: seconds vCenter may hold one WaitForUpdatesEx.
    """

    def __init__(self, session, container, paths, identify, on_changes=None,
                 update_wait=60):
        self.session = session
        self.container = container
        self.paths = sorted(set(paths) | {POWER_STATE, CONNECTION_STATE})
        self.table = VmTable(identify)
        self.on_changes = on_changes
        self.update_wait = update_wait
        self._stopping = threading.Event()
        self._thread = None
        self._lock = threading.Lock()
        self._collector = None
        self._view = None
        self.rebuilds = 0  # times the watch was set up (for tests, logs)

    def start(self):
        self._thread = threading.Thread(target=self._run,
                                        name='vmware-ext-vm-watcher',
                                        daemon=True)
        self._thread.start()

    @property
    def alive(self):
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout=30):
        """End the wait in progress and the thread; destroy the collector.

        Returns True when the thread has ended.
        """
        self._stopping.set()
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:
            # Again while it runs: a cancel that reached vCenter before the
            # wait did cancels nothing.
            self._cancel_wait()
            self._thread.join(min(0.5, max(0, deadline - time.monotonic())))
        if self.alive:
            LOG.warning('The VM watcher did not stop within %s s', timeout)
            return False
        self._close()
        return True

    def _cancel_wait(self):
        with self._lock:
            collector = self._collector
        if collector is not None:
            try:
                collector.CancelWaitForUpdates()
            except Exception as exc:
                LOG.debug('CancelWaitForUpdates failed: %s', exc)

    def _run(self):
        delay = RETRY_DELAY
        while not self._stopping.is_set():
            generation = self.session.generation
            try:
                self._watch()
            except Exception as exc:
                if self._stopping.is_set():
                    break
                healthy, self.table.warm = self.table.warm, False
                self._close()
                if healthy:
                    delay = RETRY_DELAY
                    if self.session.generation != generation:
                        # A new login: the old session's collector is gone.
                        LOG.info('vCenter session renewed: watching the VMs '
                                 'of %s anew', self.container._moId)
                        continue
                LOG.warning('Watching the VMs of %(container)s failed '
                            '(%(err)s); again in %(delay).0f s',
                            {'container': self.container._moId,
                             'err': exc, 'delay': delay})
                self._stopping.wait(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY)
        self.table.warm = False

    def _watch(self):
        collector = self._open()
        version, objects = self._snapshot(collector)
        self._report(self.table.replace(objects))
        LOG.debug('Watching %d VMs of %s', len(self.table),
                  self.container._moId)
        options = PropertyCollector.WaitOptions(
            maxWaitSeconds=self.update_wait)
        while not self._stopping.is_set():
            update = collector.WaitForUpdatesEx(version, options)
            if update is None:
                continue
            version = update.version
            self._report(self.table.apply(_objects(update)))

    def _snapshot(self, collector):
        """The full state, over as many answers as vCenter splits it in."""
        version, objects = '', []
        options = PropertyCollector.WaitOptions(maxWaitSeconds=0)
        while True:
            update = collector.WaitForUpdatesEx(version, options)
            if update is None:
                return version, objects
            version = update.version
            objects.extend(_objects(update))
            if not update.truncated:
                return version, objects

    def _report(self, changes):
        if changes and self.on_changes is not None:
            try:
                self.on_changes(changes)
            except Exception:
                LOG.exception('Handling VM changes failed')

    def _open(self):
        content = self.session.content
        collector = content.propertyCollector.CreatePropertyCollector()
        with self._lock:
            self._collector = collector
        view = content.viewManager.CreateContainerView(
            self.container, [vim.VirtualMachine], True)
        with self._lock:
            self._view = view
        collector.CreateFilter(PropertyCollector.FilterSpec(
            objectSet=[PropertyCollector.ObjectSpec(
                obj=view, skip=True, selectSet=[
                    PropertyCollector.TraversalSpec(
                        name='view', type=vim.view.ContainerView,
                        path='view', skip=False)])],
            propSet=[PropertyCollector.PropertySpec(
                type=vim.VirtualMachine, pathSet=self.paths)]), False)
        self.rebuilds += 1
        return collector

    def _close(self):
        """Destroy our collector and view (best effort: they may be gone
        with the session that made them)."""
        with self._lock:
            collector, self._collector = self._collector, None
            view, self._view = self._view, None
        for obj, destroy in ((collector, 'DestroyPropertyCollector'),
                             (view, 'DestroyView')):
            if obj is None:
                continue
            try:
                getattr(obj, destroy)()
            except Exception as exc:
                LOG.debug('%s of %s failed: %s', destroy, obj._moId, exc)


def _objects(update):
    return [obj for filter_update in update.filterSet or ()
            for obj in filter_update.objectSet or ()]
