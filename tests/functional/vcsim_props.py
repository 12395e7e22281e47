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
