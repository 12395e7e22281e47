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

"""The fetch lock between computes that share a datastore's image cache.

The lock is a folder made with MakeDirectory (which fails if it exists).
It is also the fill's staging folder: what a fill writes before its entry
is complete lies inside it, so removing a lock removes all a fill left.
Its owner writes an owner record into it (``owner.json``: compute, vCenter
session, a heartbeat time and counter) and rewrites it every
``interval`` seconds while it fills the entry. A compute waiting for the
lock breaks it as soon as it sees the owner is gone:

- the heartbeat is older than ``stale_after`` (by the owner's clock
  compared with ours, or by how long we have watched it not change, so a
  clock ahead of ours cannot keep a dead lock alive);
- the owner's vCenter session has ended (SessionManager.SessionIsActive)
  and the heartbeat was not renewed for two intervals (an owner that is
  alive logged in again: it records its new session at its next beat);
- a lock without an owner record (written by an older version, or its
  owner died between making the folder and writing the record) is older
  than ``stale_after``.

A fill may write its entry in place (a streamOptimized image is imported
straight to the entry's name): while the lock exists the entry does not
count as there (images/cache.py), and whoever removes a dead owner's lock
first removes the entry it guards (``on_break``), unless the owner record
says the fill finished (``done``, written just before the lock is
released).

Like Nova's own service heartbeats (``report_interval`` 10 s,
``service_down_time`` 60 s) this trusts the computes' clocks to agree
within ``stale_after``.
"""

import dataclasses
import json
import math
import re
import threading
import time
import uuid

from oslo_log import log as logging
from oslo_utils import excutils
from oslo_vmware import exceptions as vexc

LOG = logging.getLogger(__name__)

PREFIX = 'fetch-lock'
OWNER_FILE = 'owner.json'
HEARTBEAT_INTERVAL = 10.0
STALE_AFTER = 60.0
_MAX_RECORD = 4096
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')
_REREAD_DELAY = 0.2
# What a lock holds when its owner record cannot be parsed.
UNREADABLE = 'unreadable owner record'


def folder_name(entry_name):
    """The lock folder of an entry: ``fetch-lock.<id>_vmdk`` for
    ``<id>.vmdk``. No ``.vmdk`` in it: the fill writes its disks inside,
    and a folder named like a disk confuses disk tools (vcsim's among
    them)."""
    return '%s.%s' % (PREFIX, entry_name.replace('.', '_'))


@dataclasses.dataclass(frozen=True)
class OwnerRecord(object):
    """Who holds a lock and when it last said it is alive."""

    owner: str      # the compute (nova.conf [DEFAULT] host)
    session: str    # its vCenter UserSession key (not the cookie)
    user: str       # the session's user name, for SessionIsActive
    beat: float     # the owner's wall clock at the last heartbeat
    seq: int = 0    # heartbeats written so far
    token: str = ''  # this holding of the lock (one per acquire)
    done: bool = False  # the entry is whole: the lock is being released

    def to_bytes(self):
        return json.dumps(dataclasses.asdict(self)).encode('utf-8')

    @classmethod
    def from_bytes(cls, data):
        """The record in ``data``, or None if it is not one (another
        compute wrote it: nothing in it is trusted to be well formed)."""
        try:
            fields = json.loads(data.decode('utf-8'))
            record = cls(owner=_printable(fields['owner']),
                         session=str(fields['session']),
                         user=str(fields['user']), beat=float(fields['beat']),
                         seq=int(fields['seq']),
                         token=str(fields.get('token', '')),
                         done=fields.get('done') is True)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        return record if math.isfinite(record.beat) else None


def _printable(value):
    """A name fit for a log line: no control characters, not too long."""
    return _CONTROL.sub('?', str(value))[:255]


class StaleLockJudge(object):
    """Decides, from what a waiter sees of one lock over time, whether its
    owner is gone.

    :param session_alive: ``f(record)`` -> True, False or None (cannot
        tell); asked once per owner session seen.
    """

    def __init__(self, interval=HEARTBEAT_INTERVAL, stale_after=STALE_AFTER,
                 session_alive=None, clock=time.monotonic, wall=time.time):
        self.interval = interval
        self.stale_after = stale_after
        self.session_alive = session_alive or (lambda record: None)
        self.clock = clock
        self.wall = wall
        self._seen = self
        self._seen_at = None
        self._sessions = {}

    def _observe(self, record):
        """Seconds the record has stayed as it is, by our own clock."""
        now = self.clock()
        if self._seen_at is None or record != self._seen:
            self._seen, self._seen_at = record, now
        return now - self._seen_at

    def _session_ended(self, record):
        if not record.session:
            return False  # not recorded: the heartbeat alone decides
        if record.session not in self._sessions:
            self._sessions[record.session] = self.session_alive(record)
        return self._sessions[record.session] is False

    def stale(self, record, folder_age=None):
        """Why the lock's owner is gone, or None while it may be alive.

        :param record: the OwnerRecord read now, None if there is none,
            UNREADABLE if what is there is not a record.
        :param folder_age: seconds since the lock folder was made, when
            known (asked for only when there is no record).
        """
        unchanged = self._observe(record)
        if record is UNREADABLE:
            if unchanged > self.stale_after:
                return 'its owner record has been unreadable for %ds' % (
                    unchanged)
            return None
        if record is None:
            if folder_age is not None and folder_age > self.stale_after:
                return ('it has no owner record and was made %ds ago' %
                        folder_age)
            if unchanged > self.stale_after:
                return 'it has had no owner record for %ds' % unchanged
            return None
        age = max(self.wall() - record.beat, unchanged)
        if age > self.stale_after:
            return ('the heartbeat of its owner %s is %ds old' %
                    (record.owner, age))
        if age > 2 * self.interval and self._session_ended(record):
            return ('the vCenter session of its owner %s has ended and its '
                    'heartbeat is %ds old' % (record.owner, age))
        return None

    def live_once(self, record, folder_age=None):
        """One look, no watching (aging, a fill's leftover sweep): True if
        the owner may be alive."""
        if record is UNREADABLE:
            return True  # a waiter breaks it once it stays so
        if record is None:
            return folder_age is None or folder_age <= self.stale_after
        return self.wall() - record.beat <= self.stale_after


class Heartbeat(object):
    """Renews an owner record every ``interval`` seconds until stopped:
    ``renew(record)`` writes it and returns what it wrote, or None when the
    lock is no longer ours.

    A plain thread: under eventlet's monkey patching it is a green thread,
    under native threads a real one; the record is small and each write
    has the HTTP client's timeout.
    """

    def __init__(self, renew, record, interval):
        self._renew = renew
        self.record = record
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='image-cache-heartbeat')

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.interval):
            self.record = dataclasses.replace(
                self.record, beat=time.time(), seq=self.record.seq + 1)
            try:
                renewed = self._renew(self.record)
            except Exception as exc:
                LOG.warning('Image cache lock heartbeat failed (%s); trying '
                            'again in %ds', exc, self.interval)
                continue
            if renewed is None:
                return
            self.record = renewed

    def stop(self):
        """Stop and wait for a write under way: nothing is written after."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


class DatastoreLock(object):
    """The fetch lock of one cache entry, held by this compute or awaited.

    :param store: the image cache's datastore access (make_directory,
        delete, write_small, read_small, age_of, session_record,
        session_generation, session_alive).
    :param on_break: called before a dead owner's lock is removed, unless
        its record says it finished: removes what it may have written in
        place (it raises if it cannot: the lock then stays).
    """

    def __init__(self, store, path, owner, timeout, interval=None,
                 stale_after=None, on_break=None):
        self.store = store
        self.path = path
        self.owner = owner
        self.timeout = timeout
        self.interval = interval or HEARTBEAT_INTERVAL
        self.stale_after = stale_after or STALE_AFTER
        self.on_break = on_break
        self._heartbeat = None
        self._written = False
        self._generation = None

    @property
    def record_path(self):
        return self.path.join(OWNER_FILE)

    def judge(self):
        return StaleLockJudge(self.interval, self.stale_after,
                              self.store.session_alive)

    def read_record(self):
        """The owner record in the lock; None if there is none; UNREADABLE
        if what is there is not one (twice: a read can meet the owner's
        rewrite half done)."""
        for attempt in (1, 2):
            try:
                data = self.store.read_small(self.record_path, _MAX_RECORD)
            except vexc.FileNotFoundException:
                return None
            record = OwnerRecord.from_bytes(data)
            if record is not None:
                return record
            if attempt == 1:
                time.sleep(_REREAD_DELAY)
        return UNREADABLE

    def _write_record(self, record):
        self.store.write_small(self.record_path, record.to_bytes())
        self._written = True

    def _taken_by(self, record):
        """The record of a compute that broke the lock and holds it now,
        or None while the lock is ours."""
        current = self.read_record()
        if current in (None, UNREADABLE) or current.token == record.token:
            return None
        return current

    def _renew(self, record):
        """Write the next heartbeat; None when the lock is no longer ours."""
        current = self.read_record()
        if current is UNREADABLE:
            current = None if not self._written else record
        if current is None and self._written:
            # Broken by a waiter (a write now could make the folder again).
            LOG.warning('Image cache lock %s was broken by another compute: '
                        'the heartbeat stops', self.path)
            return None
        if current is not None and current.token != record.token:
            LOG.warning('Image cache lock %s was taken over by %s: the '
                        'heartbeat stops', self.path, current.owner)
            return None
        generation = self.store.session_generation()
        if generation != self._generation:
            # We logged in again: waiters must not take the old, ended
            # session for a dead owner.
            key, user = self.store.session_record()
            record = dataclasses.replace(record, session=key, user=user)
            self._generation = generation
        self._write_record(record)
        return record

    def acquire(self):
        """Take the lock, waiting for a live owner and breaking a dead one.

        Waits at most ``timeout`` seconds for an owner that stays alive.
        """
        judge = self.judge()
        deadline = time.monotonic() + self.timeout
        delay = min(0.5, self.interval)
        folder_age = _Once(lambda: self.store.age_of(self.path))
        while True:
            try:
                self.store.make_directory(self.path)
                break
            except vexc.FileAlreadyExistsException:
                pass
            record = self.read_record()
            reason = judge.stale(record,
                                 folder_age() if record is None else None)
            if reason is None and time.monotonic() >= deadline:
                reason = 'its owner did not finish within %ds' % self.timeout
            if reason is not None:
                self._break(record, reason)
                judge = self.judge()
                deadline = time.monotonic() + self.timeout
                folder_age = _Once(lambda: self.store.age_of(self.path))
                continue
            LOG.debug('Waiting for %s to fill the entry of %s',
                      getattr(record, 'owner', 'another compute'),
                      self.path)
            time.sleep(delay)
            delay = min(delay * 2, self.interval)
        try:
            self._start_heartbeat()
        except Exception:
            with excutils.save_and_reraise_exception():
                self._remove_quietly()
        return self

    def _break(self, judged, reason):
        """Remove a dead owner's lock, unless it changed since it was
        judged (another waiter broke it first and holds it now)."""
        if self.read_record() != judged:
            LOG.debug('Image cache lock %s changed meanwhile: judging it '
                      'again', self.path)
            return
        LOG.warning('Breaking the image cache lock %s: %s', self.path,
                    reason)
        if self.on_break is not None and not finished(judged):
            self.on_break()
        self.store.delete(self.path)

    def _remove_quietly(self, wait=True):
        try:
            self.store.delete(self.path, wait=wait)
        except Exception as exc:
            LOG.warning('Cannot remove the image cache lock %s (%s): other '
                        'computes will break it within %ds', self.path, exc,
                        self.stale_after)

    def _start_heartbeat(self):
        self._generation = self.store.session_generation()
        key, user = self.store.session_record()
        record = OwnerRecord(owner=self.owner, session=key, user=user,
                             beat=time.time(), token=uuid.uuid4().hex)
        try:
            self._write_record(record)
        except Exception as exc:
            # Waiters then judge the lock by its folder's age.
            LOG.warning('Cannot write the owner record of image cache lock '
                        '%s: %s', self.path, exc)
        self._heartbeat = Heartbeat(self._renew, record,
                                    self.interval).start()

    def release(self, wait=True, done=False):
        """Stop the heartbeat and remove the lock; never raises (a lock
        left behind has a stopped heartbeat: the next waiter breaks it).

        :param wait: False once the entry is in place: the removal is only
            started (its end is seen by the session's next task wait); a
            waiter meanwhile still sees our fresh heartbeat, tries again a
            moment later, and then finds the entry.
        :param done: the entry is whole: say so in the owner record first,
            so that a lock whose removal fails is broken without removing
            the entry.
        """
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is None:
            return
        heartbeat.stop()
        try:
            other = self._taken_by(heartbeat.record)
        except Exception as exc:
            LOG.warning('Cannot read the image cache lock %s (%s)',
                        self.path, exc)
            other = None
        if other is not None:
            LOG.warning('Image cache lock %s was taken over by %s: leaving '
                        'it to it', self.path, other.owner)
            return
        if done:
            try:
                self._write_record(dataclasses.replace(heartbeat.record,
                                                       done=True))
            except Exception as exc:
                LOG.warning('Cannot mark the image cache lock %s done (%s)',
                            self.path, exc)
        self._remove_quietly(wait)

    def abandon(self):
        """Stop the heartbeat and leave the lock: a failed fill could not
        remove what it wrote in place, which stays hidden behind the lock
        until a waiter or image cache aging breaks it (``on_break``)."""
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            heartbeat.stop()
        LOG.warning('Leaving the image cache lock %s to be broken: what the '
                    'failed fill wrote could not be removed', self.path)


def finished(record):
    """Does a lock's owner record say its fill finished?"""
    return isinstance(record, OwnerRecord) and record.done


class _Once(object):
    """A value computed on first use only."""

    def __init__(self, compute):
        self._compute = compute
        self._done = False
        self._value = None

    def __call__(self):
        if not self._done:
            self._value = self._compute()
            self._done = True
        return self._value
