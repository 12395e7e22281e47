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

"""Which VM changes become lifecycle events, and when (a fake clock)."""

import threading
import time

import fixtures
from nova.compute import power_state
from nova.virt import event as virtevent
import testtools

from nova_vmware_ext.compute import events
from nova_vmware_ext.vsphere import watch

STARTED = virtevent.EVENT_LIFECYCLE_STARTED
STOPPED = virtevent.EVENT_LIFECYCLE_STOPPED
SUSPENDED = virtevent.EVENT_LIFECYCLE_SUSPENDED
RESUMED = virtevent.EVENT_LIFECYCLE_RESUMED
UUID = 'a3c2c4f0-6c1e-4b8e-9d53-0b8f6f6e1a01'


class FakeFuture(object):
    def __init__(self, deadline, fn, args):
        self.deadline, self.fn, self.args = deadline, fn, args
        self.cancelled = self.done = False

    def cancel(self):
        self.cancelled = True
        return not self.done


class FakeCalls(object):
    """DelayedCalls on a clock the test moves."""

    def __init__(self, delay=15):
        self.delay = delay
        self.clock = 0.0
        self.futures = []
        self.shut_down = False

    def now(self, fn, *args):
        fn(*args)

    def submit(self, fn, *args):
        future = FakeFuture(self.clock + self.delay, fn, args)
        self.futures.append(future)
        return future

    def advance(self, seconds):
        self.clock += seconds
        for future in list(self.futures):
            if (future.deadline <= self.clock and not future.cancelled
                    and not future.done):
                future.done = True
                future.fn(*future.args)

    @property
    def pending(self):
        return [f for f in self.futures if not (f.cancelled or f.done)]

    def shutdown(self):
        self.shut_down = True


def vm(state, connected=True, uuid=UUID, moid='vm-1'):
    return watch.VmState(moid, uuid, state,
                         'connected' if connected else 'disconnected')


class LifecycleEventsTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # What the code logs goes with the test's details, not stderr.
        self.logs = self.useFixture(fixtures.FakeLogger())
        self.emitted = []
        self.calls = FakeCalls()
        self.events = events.LifecycleEvents(self.emitted.append, self.calls)
        self.state = None

    def see(self, state, connected=True, uuid=UUID):
        """The watcher reports the VM now in ``state`` (None: gone)."""
        after = vm(state, connected, uuid) if state else None
        self.events.changed([(self.state, after)])
        self.state = after

    def transitions(self):
        return [(e.get_instance_uuid(), e.get_transition())
                for e in self.emitted]

    def test_transition_rules(self):
        self.assertEqual((STARTED, False), events.transition(
            power_state.SHUTDOWN, power_state.RUNNING))
        self.assertEqual((RESUMED, False), events.transition(
            power_state.SUSPENDED, power_state.RUNNING))
        self.assertEqual((STOPPED, True), events.transition(
            power_state.RUNNING, power_state.SHUTDOWN))
        self.assertEqual((SUSPENDED, True), events.transition(
            power_state.RUNNING, power_state.SUSPENDED))
        self.assertEqual((STOPPED, True), events.transition(
            power_state.SUSPENDED, power_state.SHUTDOWN))
        self.assertEqual((None, False), events.transition(
            power_state.RUNNING, power_state.RUNNING))
        self.assertEqual((None, False), events.transition(
            power_state.RUNNING, power_state.NOSTATE))

    def test_first_sight_is_no_event(self):
        self.see('poweredOff')
        self.calls.advance(60)
        self.assertEqual([], self.emitted)

    def test_start_is_told_at_once(self):
        self.see('poweredOff')
        self.see('poweredOn')
        self.assertEqual([(UUID, STARTED)], self.transitions())

    def test_stop_is_told_after_the_delay(self):
        self.see('poweredOn')
        self.see('poweredOff')
        self.calls.advance(14.9)
        self.assertEqual([], self.emitted)
        self.calls.advance(0.1)
        self.assertEqual([(UUID, STOPPED)], self.transitions())
        # Then a start is a change again.
        self.see('poweredOn')
        self.assertEqual([(UUID, STOPPED), (UUID, STARTED)],
                         self.transitions())

    def test_event_time_is_when_the_change_was_seen(self):
        self.see('poweredOn')
        before = time.time()
        self.see('poweredOff')
        after = time.time()
        self.calls.advance(15)
        self.assertTrue(before <= self.emitted[0].get_timestamp() <= after)

    def test_a_quick_return_cancels_the_stop(self):
        # A reboot or an HA restart: off, then on again within the delay.
        self.see('poweredOn')
        self.see('poweredOff')
        self.calls.advance(10)
        self.see('poweredOn')
        self.calls.advance(60)
        self.assertEqual([], self.emitted)
        self.assertEqual([], self.calls.pending)

    def test_suspend_and_resume(self):
        self.see('poweredOn')
        self.see('suspended')
        self.calls.advance(15)
        self.see('poweredOn')
        self.assertEqual([(UUID, SUSPENDED), (UUID, RESUMED)],
                         self.transitions())

    def test_suspend_then_off_tells_only_the_last(self):
        self.see('poweredOn')
        self.see('suspended')
        self.calls.advance(5)
        self.see('poweredOff')
        self.calls.advance(14)
        self.assertEqual([], self.emitted)  # the stop's delay starts anew
        self.calls.advance(1)
        self.assertEqual([(UUID, STOPPED)], self.transitions())

    def test_nothing_while_not_connected(self):
        # HA failover: the host is gone, the VM's state is not to be
        # believed until it is connected again.
        self.see('poweredOn')
        self.see('poweredOff')
        self.see('poweredOff', connected=False)  # cancels the pending stop
        self.see('poweredOn', connected=False)
        self.calls.advance(60)
        self.assertEqual([], self.emitted)
        self.see('poweredOn')  # restarted elsewhere: nothing happened
        self.calls.advance(60)
        self.assertEqual([], self.emitted)
        self.see('poweredOff', connected=False)
        self.see('poweredOff')  # came back off: told, after the delay
        self.calls.advance(15)
        self.assertEqual([(UUID, STOPPED)], self.transitions())

    def test_a_vm_leaving_cancels_and_tells_nothing(self):
        self.see('poweredOn')
        self.see('poweredOff')
        self.see(None)  # destroyed, or moved to another cluster
        self.calls.advance(60)
        self.assertEqual([], self.emitted)
        self.see('poweredOn')  # back: first sight again
        self.assertEqual([], self.emitted)

    def test_quiet_instance(self):
        self.see('poweredOn')
        with self.events.quiet(UUID):
            self.see('poweredOff')
            self.calls.advance(60)
        self.assertEqual([], self.emitted)
        # Off is the new baseline.
        self.see('poweredOn')
        self.assertEqual([(UUID, STARTED)], self.transitions())

    def test_quiet_cancels_what_is_pending(self):
        self.see('poweredOn')
        self.see('poweredOff')
        with self.events.quiet(UUID):
            self.calls.advance(60)
        self.assertEqual([], self.emitted)

    def test_vms_that_are_not_novas_tell_nothing(self):
        self.see('poweredOn', uuid=None)
        self.see('poweredOff', uuid=None)
        self.calls.advance(60)
        self.assertEqual([], self.emitted)

    def test_a_vm_becoming_novas_is_first_seen(self):
        self.see('poweredOn', uuid=None)
        self.see('poweredOff', uuid=UUID)
        self.calls.advance(60)
        self.assertEqual([], self.emitted)

    def test_close_cancels_pending_events(self):
        self.see('poweredOn')
        self.see('poweredOff')
        self.events.close()
        self.assertTrue(self.calls.shut_down)
        self.calls.advance(60)
        self.assertEqual([], self.emitted)
        # A late report (a watcher that would not stop) is ignored.
        self.see('poweredOn')
        self.assertEqual([], self.emitted)

    def test_a_failing_listener_does_not_stop_the_others(self):
        def emit(event):
            if event.get_instance_uuid() == UUID:
                raise RuntimeError('boom')
            self.emitted.append(event)
        self.events.emit = emit
        other = 'b3c2c4f0-6c1e-4b8e-9d53-0b8f6f6e1a02'
        self.events.changed([(None, vm('poweredOff')),
                             (None, vm('poweredOff', uuid=other,
                                       moid='vm-2'))])
        self.events.changed([(vm('poweredOff'), vm('poweredOn')),
                             (vm('poweredOff', uuid=other, moid='vm-2'),
                              vm('poweredOn', uuid=other, moid='vm-2'))])
        self.assertEqual([(other, STARTED)], self.transitions())
        # The failure is logged, naming the instance, with its traceback.
        self.assertIn('Lifecycle event for %s failed' % UUID,
                      self.logs.output)
        self.assertIn('RuntimeError: boom', self.logs.output)


class DelayedCallsTest(testtools.TestCase):
    """The real thing: Nova's delaying executor over its default pool."""

    def test_delay_cancel_and_shutdown(self):
        calls = events.DelayedCalls(0.2)
        ran = []
        done = threading.Event()
        began = time.monotonic()
        calls.submit(lambda: (ran.append(time.monotonic() - began),
                              done.set()))
        cancelled = calls.submit(ran.append, 'cancelled')
        self.assertTrue(cancelled.cancel())
        self.assertTrue(done.wait(10))
        self.assertEqual(1, len(ran))
        self.assertGreaterEqual(ran[0], 0.2)
        thread = calls._delayed._thread
        calls.shutdown()
        self.assertFalse(thread.is_alive())
        calls.shutdown()  # twice is fine
