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

"""Bench rows of the VM watcher: event latency and the power-state sweep.

- event latency: a power change made over another vSphere session to the
  LifecycleEvent reaching the driver's listener (Nova's compute manager),
  median and max over N changes, start and stop apart (stop after the
  delay that a quick return cancels: shortened here, and subtracted);
- power-state sweep: get_info of every instance as Nova's periodic
  _sync_power_states does, cached (the watcher's table) and uncached, in
  vCenter calls and wall time, plus what warming the table cost.

Run through bench/run.py (``tox -e bench``).
"""

import statistics
import threading
import time

STOP_DELAY = 0.2  # seconds, instead of 15: 100 stops stay quick


class _Listener(object):
    def __init__(self):
        self._cond = threading.Condition()
        self.events = []

    def __call__(self, event):
        with self._cond:
            self.events.append((time.monotonic(), event.get_transition()))
            self._cond.notify_all()

    def next(self, timeout=30):
        with self._cond:
            if not self._cond.wait_for(lambda: self.events, timeout):
                raise RuntimeError('no lifecycle event within %s s' % timeout)
            return self.events.pop(0)


def _driver(fx):
    """A VCDriver logged in to the simulator of ``fx`` (as nova-compute)."""
    from nova.virt import fake

    from bench import harness
    from nova_vmware_ext import driver as vc_driver

    conf = harness.nova_conf_for(fx)
    conf.set_override('task_update_wait', 30, group='vmware_ext')
    conf.set_override('my_ip', '')
    driver = vc_driver.VCDriver(fake.FakeVirtAPI())
    driver.init_host('bench')
    return driver


def _mark_as_novas(si, vms, workers=4):
    """Give each VM the nvp.vm-uuid key of its instanceUuid (as the
    in-tree driver's VMs have): the simulator's VMs become Nova's."""
    from pyVim import task as task_util
    from pyVmomi import vim

    def mark(chunk):
        for vm, uuid in chunk:
            task_util.WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(
                extraConfig=[vim.option.OptionValue(key='nvp.vm-uuid',
                                                    value=uuid)])))

    threads = [threading.Thread(target=mark, args=(vms[i::workers],))
               for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _uuids(si):
    from pyVmomi import vim

    from tests import vcsim

    return [(vim.VirtualMachine(moid, si._stub), item['config.instanceUuid'])
            for moid, item in vcsim.query(
                si, vim.VirtualMachine, ['config.instanceUuid']).items()]


def bench_event_latency(changes=100):
    """Rows: (transition, changes, median ms, max ms)."""
    from pyVim import task as task_util

    from nova_vmware_ext.compute import events
    from tests import vcsim

    fx = vcsim.VcsimFixture(hosts=2, vms=1)
    fx.setUp()
    events.STOP_DELAY, saved = STOP_DELAY, events.STOP_DELAY
    try:
        si = fx.connect()
        driver = _driver(fx)
        try:
            listener = _Listener()
            [(vm, uuid)] = _uuids(si)
            _mark_as_novas(si, [(vm, uuid)], workers=1)
            if not driver._host.watcher.table.wait_for(
                    lambda t: t.get(uuid) is not None, 30):
                raise RuntimeError('the watcher did not see VM %s become '
                                   "Nova's" % vm._moId)
            driver.register_event_listener(listener)
            latency = {'start': [], 'stop': []}
            for _ in range(changes):
                for name, change in (('stop', vm.PowerOffVM_Task),
                                     ('start', vm.PowerOnVM_Task)):
                    asked = time.monotonic()
                    task = change()  # the event says it happened
                    seen, _ = listener.next()
                    latency[name].append(seen - asked)
                    # (The next change waits until vCenter is done.)
                    task_util.WaitForTask(task)
        finally:
            driver.cleanup_host('bench')
    finally:
        events.STOP_DELAY = saved
        fx.cleanUp()
    rows = []
    for name, delay in (('STARTED', 0), ('STOPPED', STOP_DELAY)):
        values = [(v - delay) * 1000 for v in
                  latency['start' if name == 'STARTED' else 'stop']]
        rows.append(('%s%s' % (name, ' (after the %.1f s delay)' % delay
                               if delay else ''),
                     len(values), '%.1f' % statistics.median(values),
                     '%.1f' % max(values)))
    return rows


def bench_power_sweep(vms):
    """Rows: get_info of ``vms`` instances, cached and uncached."""
    from nova import objects

    from tests import vcsim

    fx = vcsim.VcsimFixture(hosts=4, vms=vms)
    fx.setUp()
    rows = []
    try:
        si = fx.connect()
        marked = _uuids(si)
        _mark_as_novas(si, marked)
        began = time.monotonic()
        driver = _driver(fx)
        try:
            session = driver._host.session
            table = driver._host.watcher.table
            if not table.wait_for(
                    lambda t: t.warm and len(t.uuids()) == vms, 600):
                raise RuntimeError('the watcher did not see %d VMs' % vms)
            rows.append(('init_host until the table is warm', vms,
                         session.calls.total, '%.2fs' % (
                             time.monotonic() - began)))
            instances = [objects.Instance(uuid=uuid) for _, uuid in marked]
            for label, cached in (('get_info, cached (watcher)', True),
                                  ('get_info, uncached', False)):
                start = time.monotonic()
                with session.calls.scope() as scope:
                    for instance in instances:
                        driver.get_info(instance, use_cache=cached)
                rows.append((label, vms, scope.total,
                             '%.2fs' % (time.monotonic() - start)))
            with session.calls.scope() as scope:
                start = time.monotonic()
                listed = driver.list_instance_uuids()
            rows.append(('list_instance_uuids', len(listed), scope.total,
                         '%.3fs' % (time.monotonic() - start)))
        finally:
            driver.cleanup_host('bench')
    finally:
        fx.cleanUp()
    return rows
