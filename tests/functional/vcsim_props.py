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

"""Helpers shared by the tests of vcsim's PropertyCollector and datastores
(test_vcsim_props_datastores, test_vcsim_placement)."""

import time

from pyVmomi import vim
from pyVmomi import vmodl

PC = vmodl.query.PropertyCollector
TASK_TIMEOUT = 30


def read_props(si, obj, paths):
    """Properties of one object through the PropertyCollector."""
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=obj)],
        propSet=[PC.PropertySpec(type=type(obj), pathSet=list(paths))])
    result = si.content.propertyCollector.RetrievePropertiesEx(
        [spec], PC.RetrieveOptions())
    if result is None:
        return {}
    return {p.name: p.val for p in result.objects[0].propSet or ()}


def wait_task(si, task):
    """The TaskInfo of a finished task (polled through the collector)."""
    deadline = time.monotonic() + TASK_TIMEOUT
    while True:
        info = read_props(si, task, ['info'])['info']
        if info.state not in ('queued', 'running'):
            return info
        if time.monotonic() > deadline:
            raise AssertionError('task %s still %s' % (task, info.state))
        time.sleep(0.02)


def view_spec(view, vimtype, paths):
    return PC.FilterSpec(
        objectSet=[PC.ObjectSpec(
            obj=view, skip=True,
            selectSet=[PC.TraversalSpec(name='view', path='view', skip=False,
                                        type=vim.view.ContainerView)])],
        propSet=[PC.PropertySpec(type=vimtype, pathSet=list(paths))])
