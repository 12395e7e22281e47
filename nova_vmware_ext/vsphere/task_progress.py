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

"""Follow a long vCenter task's progress (a vMotion) while it runs.

``TaskWaiter`` says when a task ends; a caller that reports how far a task
got (Nova shows a live migration's progress) also needs ``info.progress``.
One private property collector per followed task watches ``info.state``
and ``info.progress`` through WaitForUpdatesEx: each change costs one
call, nothing is polled.
"""

import math
import time

from oslo_log import log as logging
from pyVmomi import vim
from pyVmomi import vmodl

LOG = logging.getLogger(__name__)

PropertyCollector = vmodl.query.PropertyCollector

_PATHS = ['info.state', 'info.progress']
_DONE = (vim.TaskInfo.State.success, vim.TaskInfo.State.error)


def follow(session, task, on_progress, timeout, update_wait=60):
    """Call ``on_progress(percent)`` each time the task's progress changes,
    until the task ends (its outcome is for ``TaskWaiter.wait`` to tell).

    :returns: True when the task ended, False when ``timeout`` seconds
        passed first (the task is still running).
    """
    deadline = time.monotonic() + timeout
    collector = session.content.propertyCollector.CreatePropertyCollector()
    try:
        collector.CreateFilter(PropertyCollector.FilterSpec(
            objectSet=[PropertyCollector.ObjectSpec(obj=task)],
            propSet=[PropertyCollector.PropertySpec(
                type=vim.Task, pathSet=_PATHS)]), False)
        version, state, progress = '', None, None
        while state not in _DONE:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            update = collector.WaitForUpdatesEx(
                version, PropertyCollector.WaitOptions(
                    maxWaitSeconds=max(1, min(update_wait,
                                              math.ceil(remaining)))))
            if update is None:
                continue
            version = update.version
            values = _changes(update)
            state = values.get('info.state', state)
            percent = values.get('info.progress')
            if percent is not None and percent != progress:
                progress = percent
                on_progress(percent)
        return True
    finally:
        try:
            collector.DestroyPropertyCollector()
        except Exception as exc:  # a lost session took it already
            LOG.debug('DestroyPropertyCollector failed: %s', exc)


def _changes(update):
    values = {}
    for filter_update in update.filterSet or ():
        for obj_update in filter_update.objectSet or ():
            for change in obj_update.changeSet or ():
                values[change.name] = (None if change.op == 'remove'
                                       else change.val)
    return values
