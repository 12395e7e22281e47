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

"""The VM watcher's table and its loop, on scripted property updates.

What vCenter (vcsim) really sends is covered by
tests/functional/test_driver_watch.py; here: folding updates, rebuilding
after a lost session, and stopping.
"""

import threading

import fixtures
from oslo_vmware import exceptions as vexc
from pyVmomi import vim
from pyVmomi import vmodl
import testtools

from nova_vmware_ext.compute import instances
from nova_vmware_ext.vsphere import watch

PC = vmodl.query.PropertyCollector
UUID_PATH = 'config.extraConfig["nvp.vm-uuid"]'


def change(name, val, op='assign'):
    return PC.Change(name=name, op=op, val=val)


def obj(moid, kind='modify', **props):
    return PC.ObjectUpdate(kind=kind, obj=vim.VirtualMachine(moid),
                           changeSet=[change(k.replace('__', '.'), v)
                                      for k, v in props.items()])


def nova_vm(moid, uuid, power='poweredOn', kind='enter'):
    update = obj(moid, kind, runtime__powerState=power,
                 runtime__connectionState='connected',
                 config__instanceUuid=uuid)
    update.changeSet.append(change(UUID_PATH, vim.option.OptionValue(
        key='nvp.vm-uuid', value=uuid)))
    return update


def update_set(version, *objects, truncated=False):
    return PC.UpdateSet(version=version, truncated=truncated,
                        filterSet=[PC.FilterUpdate(objectSet=list(objects))])


class VmTableTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.table = watch.VmTable(instances.nova_uuid)

    def test_enter_modify_leave(self):
        changes = self.table.replace([nova_vm('vm-1', 'u1'),
                                      obj('vm-2', 'enter',
                                          runtime__powerState='poweredOn')])
        self.assertTrue(self.table.warm)
        self.assertEqual(['u1'], self.table.uuids())
        self.assertEqual(2, len(changes))
        self.assertTrue(all(before is None for before, _ in changes))
        state = self.table.get('u1')
        self.assertEqual(('vm-1', 'poweredOn', True),
                         (state.ref._moId, state.power_state,
                          state.connected))

        [(before, after)] = self.table.apply(
            [obj('vm-1', runtime__powerState='poweredOff')])
        self.assertEqual(('poweredOn', 'poweredOff'),
                         (before.power_state, after.power_state))
        self.assertEqual('poweredOff', self.table.get('u1').power_state)
        # A change of something else of the VM is no change of its state.
        self.assertEqual([], self.table.apply(
            [obj('vm-1', config__managedBy=None)]))

        [(before, after)] = self.table.apply([PC.ObjectUpdate(
            kind='leave', obj=vim.VirtualMachine('vm-1'))])
        self.assertEqual(('u1', None), (before.uuid, after))
        self.assertIsNone(self.table.get('u1'))
        self.assertEqual([], self.table.uuids())

    def test_a_vm_becomes_novas_and_stops_being_it(self):
        self.table.replace([obj('vm-3', 'enter',
                                runtime__powerState='poweredOff',
                                config__instanceUuid='u3')])
        self.assertEqual([], self.table.uuids())
        self.table.apply([PC.ObjectUpdate(
            kind='modify', obj=vim.VirtualMachine('vm-3'),
            changeSet=[change(UUID_PATH, vim.option.OptionValue(
                key='nvp.vm-uuid', value='u3'))])])
        self.assertEqual(['u3'], self.table.uuids())
        self.assertEqual('u3', self.table.properties('u3')[
            'config.instanceUuid'])
        [(before, after)] = self.table.apply([PC.ObjectUpdate(
            kind='modify', obj=vim.VirtualMachine('vm-3'),
            changeSet=[change(UUID_PATH, None, op='remove')])])
        self.assertEqual(('u3', None), (before.uuid, after.uuid))
        self.assertEqual([], self.table.uuids())

    def test_a_clone_carrying_its_sources_key_does_not_take_it(self):
        # CloneVM copies the source's extraConfig before the clone's own
        # spec clears it: the instance stays with its VM throughout.
        self.table.replace([nova_vm('vm-1', 'u1')])
        self.table.apply([nova_vm('vm-9', 'u1')])
        self.assertEqual('vm-1', self.table.get('u1').ref._moId)
        self.table.apply([PC.ObjectUpdate(
            kind='modify', obj=vim.VirtualMachine('vm-9'),
            changeSet=[change(UUID_PATH, None, op='remove'),
                       change('config.instanceUuid', 'u9')])])
        self.assertEqual(['u1'], self.table.uuids())
        self.assertEqual('vm-1', self.table.get('u1').ref._moId)
        self.table.apply([nova_vm('vm-9', 'u1', kind='modify')])
        self.table.apply([PC.ObjectUpdate(
            kind='leave', obj=vim.VirtualMachine('vm-9'))])
        self.assertEqual('vm-1', self.table.get('u1').ref._moId)

    def test_a_uuid_whose_vm_leaves_goes_to_another_claimant(self):
        self.table.replace([nova_vm('vm-1', 'u1'), nova_vm('vm-2', 'u1')])
        held = self.table.get('u1').ref._moId
        other = {'vm-1': 'vm-2', 'vm-2': 'vm-1'}[held]
        self.table.apply([PC.ObjectUpdate(
            kind='leave', obj=vim.VirtualMachine(held))])
        self.assertEqual(other, self.table.get('u1').ref._moId)

    def test_replace_reports_what_changed_meanwhile(self):
        self.table.replace([nova_vm('vm-1', 'u1'), nova_vm('vm-2', 'u2'),
                            nova_vm('vm-3', 'u3')])
        changes = self.table.replace([
            nova_vm('vm-1', 'u1'),  # unchanged
            nova_vm('vm-2', 'u2', power='poweredOff'),  # stopped
            nova_vm('vm-4', 'u4')])  # new; vm-3 is gone
        found = sorted(((b.uuid if b else ''),
                        (a.uuid if a else ''),
                        (a.power_state if a else ''))
                       for b, a in changes)
        self.assertEqual([('', 'u4', 'poweredOn'),
                          ('u2', 'u2', 'poweredOff'),
                          ('u3', '', '')], found)
        self.assertEqual(['u1', 'u2', 'u4'], sorted(self.table.uuids()))

    def test_wait_for(self):
        self.assertFalse(self.table.wait_for(lambda t: t.warm, 0.01))
        threading.Timer(0.05, self.table.replace,
                        [[nova_vm('vm-1', 'u1')]]).start()
        self.assertTrue(self.table.wait_for(
            lambda t: t.get('u1') is not None, 10))


class FakeCollector(object):
    """Answers WaitForUpdatesEx from a script shared by all collectors
    (UpdateSets, or exceptions to raise); waits when it is empty."""

    def __init__(self, session):
        self.session = session
        self.cancelled = threading.Event()
        self.destroyed = False

    def CreateFilter(self, spec, partial):
        self.spec = spec

    def WaitForUpdatesEx(self, version, options):
        self.session.versions.append(version)
        if self.session.script:
            step = self.session.script.pop(0)
            if isinstance(step, Exception):
                if getattr(step, 'relogin', False):
                    self.session.generation += 1
                raise step
            return step
        self.session.idle.set()
        if self.cancelled.wait(10):
            raise vexc.VimException('RequestCanceled')
        return None

    def CancelWaitForUpdates(self):
        self.session.cancels += 1
        if self.session.cancels > self.session.ignored_cancels:
            self.cancelled.set()

    def DestroyPropertyCollector(self):
        self.destroyed = True


class FakeSession(object):

    def __init__(self, script):
        self.script = list(script)
        self.versions = []
        self.generation = 1
        self.cancels = 0
        self.ignored_cancels = 0  # cancels that come before the wait
        self.collectors = []
        self.idle = threading.Event()
        session = self

        class Content(object):
            class propertyCollector(object):
                @staticmethod
                def CreatePropertyCollector():
                    collector = FakeCollector(session)
                    session.collectors.append(collector)
                    return collector

            class viewManager(object):
                @staticmethod
                def CreateContainerView(container, types, recursive):
                    # Unbound: destroying it fails, which is logged only.
                    return vim.view.ContainerView('session[1]view')

        self.content = Content


class VmWatcherTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # What the code logs goes with the test's details, not stderr.
        self.useFixture(fixtures.FakeLogger())

    def watcher(self, script):
        self.session = FakeSession(script)
        self.changes = []
        watcher = watch.VmWatcher(
            self.session, vim.ClusterComputeResource('domain-c7'),
            instances.WATCH_PATHS, instances.nova_uuid,
            on_changes=self.changes.append, update_wait=5)
        self.addCleanup(watcher.stop)
        watcher.start()
        self.assertTrue(self.session.idle.wait(10))
        return watcher

    def test_snapshot_in_parts_then_updates(self):
        watcher = self.watcher([
            update_set('1', nova_vm('vm-1', 'u1'), truncated=True),
            update_set('2', nova_vm('vm-2', 'u2')),
            update_set('3', obj('vm-1', runtime__powerState='poweredOff')),
        ])
        self.assertEqual(['', '1', '2', '3'], self.session.versions)
        self.assertTrue(watcher.table.warm)
        self.assertEqual('poweredOff', watcher.table.get('u1').power_state)
        self.assertEqual([2, 1], [len(c) for c in self.changes])
        spec = self.session.collectors[0].spec
        self.assertIn(UUID_PATH, spec.propSet[0].pathSet)
        self.assertIn('runtime.connectionState', spec.propSet[0].pathSet)

    def test_session_renewed_rebuilds_and_reports_the_difference(self):
        lost = vexc.ManagedObjectNotFoundException('collector gone')
        lost.relogin = True  # the door logged in again meanwhile
        watcher = self.watcher([
            update_set('1', nova_vm('vm-1', 'u1'), nova_vm('vm-2', 'u2')),
            lost,
            update_set('1', nova_vm('vm-1', 'u1', power='poweredOff')),
        ])
        self.assertEqual(2, watcher.rebuilds)
        self.assertTrue(self.session.collectors[0].destroyed)
        self.assertEqual(['', '1', '', '1'], self.session.versions)
        [first, second] = self.changes
        self.assertEqual(2, len(first))
        self.assertEqual(
            [('u1', 'poweredOn', 'poweredOff'), ('u2', 'poweredOn', None)],
            sorted((b.uuid, b.power_state, a and a.power_state)
                   for b, a in second))
        self.assertTrue(watcher.table.warm)

    def test_other_errors_back_off_then_rebuild(self):
        self.patch(watch, 'RETRY_DELAY', 0.05)

        class Down(vexc.VimConnectionException):
            def __init__(self):
                super().__init__('vCenter restarting')

        script = [update_set('1', nova_vm('vm-1', 'u1')), Down(), Down(),
                  update_set('1', nova_vm('vm-1', 'u1'))]
        watcher = self.watcher(script)
        self.assertEqual(3, watcher.rebuilds)
        self.assertEqual(['', '1', '', '', '1'], self.session.versions)
        self.assertTrue(watcher.table.warm)
        self.assertEqual(1, len(self.changes))  # nothing changed meanwhile

    def test_stop_ends_the_thread_and_destroys_the_collector(self):
        watcher = self.watcher([update_set('1', nova_vm('vm-1', 'u1'))])
        self.assertTrue(watcher.alive)
        self.assertTrue(watcher.stop())
        self.assertFalse(watcher.alive)
        self.assertFalse(watcher.table.warm)
        collector = self.session.collectors[0]
        self.assertTrue(collector.cancelled.is_set())
        self.assertTrue(collector.destroyed)
        self.assertNotIn('vmware-ext-vm-watcher',
                         [t.name for t in threading.enumerate()])

    def test_stop_cancels_again_a_cancel_that_came_too_early(self):
        watcher = self.watcher([update_set('1', nova_vm('vm-1', 'u1'))])
        self.session.ignored_cancels = 1
        self.assertTrue(watcher.stop(timeout=5))
        self.assertEqual(2, self.session.cancels)
        self.assertFalse(watcher.alive)
