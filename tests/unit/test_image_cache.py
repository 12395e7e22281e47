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

"""Image cache logic without a vCenter: lock staleness, the fetch lock and
fill cleanup over an in-memory datastore, the in-tree folder and markers."""

import dataclasses
import datetime
import threading
import time
from unittest import mock

import fixtures
from nova import conf as nova_conf
from nova.virt.vmwareapi import imagecache as intree_imagecache
from nova.virt.vmwareapi import vmops as intree_vmops
from oslo_config import fixture as config_fixture
from oslo_vmware import exceptions as vexc
import testtools

from nova_vmware_ext.images import cache as image_cache
from nova_vmware_ext.images import lock as cache_lock
from nova_vmware_ext.vsphere import browser as vbrowser
from nova_vmware_ext.vsphere.files import DatastorePath

CONF = nova_conf.CONF


class Clock(object):
    """A clock the test moves: monotonic and wall time together."""

    def __init__(self, wall=1_000_000.0):
        self.mono = 0.0
        self.wall_time = wall

    def advance(self, seconds):
        self.mono += seconds
        self.wall_time += seconds

    def monotonic(self):
        return self.mono

    def wall(self):
        return self.wall_time


def record(beat, session='s-1', seq=0, owner='compute-2'):
    return cache_lock.OwnerRecord(owner=owner, session=session, user='nova',
                                  beat=beat, seq=seq)


class StaleLockJudgeTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.clock = Clock()
        self.alive = {}
        self.asked = []

        def session_alive(rec):
            self.asked.append(rec.session)
            return self.alive.get(rec.session)
        self.judge = cache_lock.StaleLockJudge(
            interval=10, stale_after=60, session_alive=session_alive,
            clock=self.clock.monotonic, wall=self.clock.wall)

    def test_fresh_heartbeat_is_alive(self):
        self.assertIsNone(self.judge.stale(record(self.clock.wall() - 5)))

    def test_old_heartbeat_is_stale_at_once(self):
        reason = self.judge.stale(record(self.clock.wall() - 3600))
        self.assertIn('heartbeat of its owner compute-2 is 3600s old',
                      reason)

    def test_renewed_heartbeat_keeps_the_lock_alive(self):
        for seq in range(20):
            self.clock.advance(10)
            self.assertIsNone(self.judge.stale(
                record(self.clock.wall(), seq=seq)))

    def test_heartbeat_that_stops_changing_goes_stale(self):
        # The owner's clock runs two hours ahead: by its time the beat is
        # always fresh, but it stopped changing.
        frozen = record(self.clock.wall() + 7200)
        self.assertIsNone(self.judge.stale(frozen))
        self.clock.advance(59)
        self.assertIsNone(self.judge.stale(frozen))
        self.clock.advance(2)
        self.assertIn('is 61s old', self.judge.stale(frozen))

    def test_ended_session_breaks_a_heartbeat_not_renewed(self):
        self.alive['s-1'] = False
        rec = record(self.clock.wall() - 5)
        self.assertIsNone(self.judge.stale(rec))  # it may renew still
        self.clock.advance(16)  # 21s > 2 intervals
        reason = self.judge.stale(rec)
        self.assertIn('vCenter session of its owner compute-2 has ended',
                      reason)
        self.assertEqual(['s-1'], self.asked)  # asked once per session

    def test_ended_session_with_renewed_heartbeat_is_alive(self):
        # The owner logged in again: its old session is gone, it beats on.
        self.alive['s-1'] = False
        for seq in range(10):
            self.clock.advance(10)
            self.assertIsNone(self.judge.stale(
                record(self.clock.wall(), seq=seq)))

    def test_unknown_session_leaves_it_to_the_heartbeat(self):
        rec = record(self.clock.wall() - 30)  # vCenter cannot tell
        self.assertIsNone(self.judge.stale(rec))
        self.clock.advance(31)
        self.assertIsNotNone(self.judge.stale(rec))

    def test_lock_without_record(self):
        self.assertIn('no owner record and was made 7200s ago',
                      self.judge.stale(None, folder_age=7200))
        judge = cache_lock.StaleLockJudge(
            10, 60, clock=self.clock.monotonic, wall=self.clock.wall)
        self.assertIsNone(judge.stale(None, folder_age=1))
        self.clock.advance(61)
        self.assertIn('no owner record for 61s',
                      judge.stale(None, folder_age=1))

    def test_unreadable_record_goes_stale_only_when_it_stays_so(self):
        unreadable = cache_lock.UNREADABLE
        self.assertIsNone(self.judge.stale(unreadable, folder_age=7200))
        self.clock.advance(30)
        self.assertIsNone(self.judge.stale(record(self.clock.wall())))
        self.assertIsNone(self.judge.stale(unreadable))
        self.clock.advance(61)
        self.assertIn('unreadable for 61s', self.judge.stale(unreadable))
        self.assertTrue(self.judge.live_once(unreadable, folder_age=7200))

    def test_one_look(self):
        now = self.clock.wall()
        self.assertTrue(self.judge.live_once(record(now - 59)))
        self.assertFalse(self.judge.live_once(record(now - 61)))
        self.assertTrue(self.judge.live_once(None, folder_age=5))
        self.assertTrue(self.judge.live_once(None, folder_age=None))
        self.assertFalse(self.judge.live_once(None, folder_age=600))


class OwnerRecordTest(testtools.TestCase):

    def test_round_trip(self):
        rec = record(123.5, seq=7)
        self.assertEqual(rec, cache_lock.OwnerRecord.from_bytes(
            rec.to_bytes()))

    def test_owner_name_is_fit_for_a_log_line(self):
        data = (b'{"owner": "evil\\nERROR forged line' + b'x' * 500 +
                b'", "session": "", "user": "", "beat": 1, "seq": 0}')
        owner = cache_lock.OwnerRecord.from_bytes(data).owner
        self.assertEqual('evil?ERROR forged line', owner[:22])
        self.assertEqual(255, len(owner))

    def test_garbage_is_no_record(self):
        for data in (b'', b'\xff\xfe', b'[]', b'{"owner": "x"}', b'null',
                     b'{"owner": 1, "session": 2, "user": 3, "beat": "x",'
                     b' "seq": 0}',
                     b'{"owner": "a", "session": "", "user": "", '
                     b'"beat": NaN, "seq": 0}',
                     b'{"owner": "a", "session": "", "user": "", '
                     b'"beat": Infinity, "seq": 0}'):
            self.assertIsNone(cache_lock.OwnerRecord.from_bytes(data), data)


class InTreeCompatibilityTest(testtools.TestCase):
    """Our folder name and markers against the in-tree driver's own code."""

    def setUp(self):
        super().setUp()
        self.flags = self.useFixture(config_fixture.Config(CONF))

    def test_cache_folder_follows_the_in_tree_rule(self):
        for prefix, my_ip, aging, expected in (
                (None, '10.0.0.7', True, '10.0.0.7_base'),
                (None, '10.0.0.7', False, '_base'),
                ('cell1', '10.0.0.7', True, 'cell1_base'),
                ('cell1', '10.0.0.7', False, 'cell1_base'),
                ('', '10.0.0.7', True, '10.0.0.7_base')):
            self.flags.config(group='vmware', cache_prefix=prefix)
            self.flags.config(my_ip=my_ip)
            self.flags.config(group='image_cache',
                              remove_unused_base_images=aging,
                              subdirectory_name='_base')
            in_tree = intree_vmops.VMwareVMOps._get_base_folder(None)
            self.assertEqual(expected, in_tree)
            self.assertEqual(in_tree, image_cache.cache_folder_name(
                '_base', prefix, my_ip, aging))

    def test_markers_read_by_either_driver(self):
        manager = intree_imagecache.ImageCacheManager(None, '_base')
        when = datetime.datetime(2026, 3, 4, 5, 6, 7,
                                 tzinfo=datetime.timezone.utc)
        ours = image_cache.marker_name(when)
        self.assertEqual('ts-2026-03-04-05-06-07', ours)
        self.assertEqual(when.replace(tzinfo=None),
                         manager._get_datetime_from_filename(ours))
        theirs = manager._get_timestamp_filename()
        parsed = image_cache.marker_time(theirs)
        self.assertLess(abs((datetime.datetime.now(datetime.timezone.utc)
                             - parsed).total_seconds()), 5)
        for name in ('ts-', 'ts-yesterday', 'tmp-2026-03-04-05-06-07'):
            self.assertIsNone(image_cache.marker_time(name))

    def test_folder_contents_sorted_out(self):
        folder = DatastorePath('ds', '_base/img')
        names = ['img.vmdk', 'img-flat.vmdk', 'img.1.vmdk', 'tmp-abc',
                 'fetch-lock.img.vmdk', 'ts-2026-03-04-05-06-07',
                 'ts-2026-01-01-00-00-00', 'ts-garbled']
        contents = image_cache.ImageFolder.of(
            [vbrowser.FileEntry(folder.join(n), 'file') for n in names])
        self.assertEqual(['img.vmdk', 'img-flat.vmdk', 'img.1.vmdk',
                          'ts-garbled'],
                         [e.name for e in contents.entries])
        self.assertEqual(['tmp-abc'], [e.name for e in contents.temps])
        self.assertEqual(['fetch-lock.img.vmdk'],
                         [e.name for e in contents.locks])
        self.assertEqual(datetime.datetime(2026, 1, 1,
                                           tzinfo=datetime.timezone.utc),
                         contents.unused_since())


class FakeDatastore(object):
    """Folders and files of one datastore, in memory.

    ``fail`` maps an operation name to an exception it raises.
    """

    def __init__(self):
        self.files = {}  # path -> bytes (folders: None)
        self.made = {}  # path -> wall time it was made
        self.fail = {}

    def _check(self, operation):
        if operation in self.fail:
            raise self.fail[operation]

    def make_directory(self, path):
        self._check('make_directory')
        if path in self.files:
            raise vexc.FileAlreadyExistsException(str(path))
        parent = path.parent
        while parent.rel_path and parent not in self.files:
            self.files[parent] = None
            parent = parent.parent
        self.files[path] = None
        self.made[path] = time.time()

    def delete(self, path):
        self._check('delete')
        for item in list(self.files):
            if item == path or str(item).startswith(str(path) + '/'):
                del self.files[item]

    def write(self, path, data):
        """As vcsim's /folder PUT: missing folders are made."""
        self._check('write')
        parent = path.parent
        while parent.rel_path and parent not in self.files:
            self.files[parent] = None
            parent = parent.parent
        self.files[path] = data

    def read(self, path):
        if self.files.get(path) is None:
            raise vexc.FileNotFoundException(str(path))
        return self.files[path]

    def listing(self, folder):
        if folder not in self.files:
            raise vexc.FileNotFoundException(str(folder))
        return [vbrowser.FileEntry(p, 'file' if data is not None
                                   else 'folder')
                for p, data in self.files.items() if p.parent == folder]


class MemoryCache(image_cache.ImageCache):
    """An ImageCache whose datastore access goes to a FakeDatastore."""

    def __init__(self, store, **kwargs):
        kwargs.setdefault('fetch_timeout', 60)
        super().__init__(mock.Mock(), None, None, None, '_base',
                         owner='compute-1', **kwargs)
        self.store = store
        self.generation = 1
        self.alive_sessions = {'key-1'}

    def present(self, path):
        self.store._check('present')
        return self.store.files.get(path) is not None

    def folder_exists(self, folder):
        return folder in self.store.files and self.store.files[folder] is None

    def discard_entry(self, path):
        self.store._check('discard_entry')
        self.store.delete(path)

    def list(self, folder):
        return self.store.listing(folder)

    def age_of(self, path):
        made = self.store.made.get(path)
        return None if made is None else time.time() - made

    def make_directory(self, path):
        self.store.make_directory(path)

    def read_small(self, path, limit):
        return self.store.read(path)[:limit]

    def write_small(self, path, data):
        self.store.write(path, data)

    def session_record(self):
        return 'key-%d' % self.generation, 'nova'

    def session_generation(self):
        return self.generation

    def session_alive(self, rec):
        return rec.session in self.alive_sessions

    def delete(self, path, wait=True):
        self.store.delete(path)

    def start_list(self, folder):
        listing = self.list(folder)
        return lambda: listing


DS = DatastorePath('ds', '_base')


class MemoryCacheTestCase(testtools.TestCase):
    """An image cache over a datastore in memory, with entry ``img``."""

    def setUp(self):
        super().setUp()
        # What the code logs goes with the test's details, not stderr.
        self.useFixture(fixtures.FakeLogger())
        self.store = FakeDatastore()
        self.cache = MemoryCache(self.store, heartbeat_interval=0.05,
                                 stale_after=1.0)
        self.entry = DS.join('img/img.vmdk')
        self.lock_path = DS.join('img/fetch-lock.img_vmdk')


class FetchLockTest(MemoryCacheTestCase):

    def other_owner(self, beat, session='key-2'):
        self.store.make_directory(self.lock_path)
        self.store.write(self.lock_path.join('owner.json'),
                         record(beat, session=session).to_bytes())

    def fill(self, data=b'disk'):
        def fill(path):
            self.store.write(path, data)
        return fill

    def test_holder_writes_its_record_and_renews_it(self):
        lock = self.cache.datastore_lock(self.entry).acquire()
        try:
            first = lock.read_record()
            self.assertEqual(('compute-1', 'key-1', 'nova'),
                             (first.owner, first.session, first.user))
            time.sleep(0.3)
            later = lock.read_record()
            self.assertGreater(later.seq, first.seq)
            self.assertGreater(later.beat, first.beat)
        finally:
            lock.release()
        self.assertNotIn(self.lock_path, self.store.files)

    def test_record_read_during_its_rewrite_is_read_again(self):
        self.other_owner(time.time())
        real = self.cache.read_small
        reads = []

        def read_small(path, limit):
            reads.append(path)
            return b'{"own' if len(reads) == 1 else real(path, limit)
        self.cache.read_small = read_small
        lock = self.cache.datastore_lock(self.entry)
        self.assertEqual('compute-2', lock.read_record().owner)
        self.assertEqual(2, len(reads))
        self.cache.read_small = lambda path, limit: b''
        self.assertIs(cache_lock.UNREADABLE, lock.read_record())

    def test_dead_owner_is_broken_at_once(self):
        self.other_owner(time.time() - 3600)
        started = time.monotonic()
        self.cache.ensure(self.entry, self.fill())
        self.assertLess(time.monotonic() - started, 0.5)
        self.assertEqual(b'disk', self.store.files[self.entry])
        self.assertNotIn(self.lock_path, self.store.files)

    def test_owner_whose_session_ended_is_broken_after_its_beat(self):
        self.other_owner(time.time(), session='key-gone')
        started = time.monotonic()
        self.cache.ensure(self.entry, self.fill())
        waited = time.monotonic() - started
        # 2 heartbeats, well before stale_after (1 s).
        self.assertLess(waited, 0.7)
        self.assertEqual(b'disk', self.store.files[self.entry])

    def test_live_owner_is_waited_for(self):
        other = MemoryCache(self.store, heartbeat_interval=0.05,
                            stale_after=1.0)
        held = other.datastore_lock(self.entry).acquire()
        done = []
        thread = threading.Thread(target=lambda: done.append(
            self.cache.ensure(self.entry, self.fill(b'ours'))))
        thread.start()
        time.sleep(1.5)  # beyond stale_after: the heartbeat keeps it
        self.assertEqual([], done)
        self.store.write(self.entry, b'theirs')
        held.release()
        thread.join(10)
        self.assertEqual([self.entry], done)
        self.assertEqual(b'theirs', self.store.files[self.entry])

    def test_live_owner_that_never_finishes_is_taken_over_after_timeout(self):
        self.cache.fetch_timeout = 0.3
        other = MemoryCache(self.store, heartbeat_interval=0.05,
                            stale_after=1.0)
        held = other.datastore_lock(self.entry).acquire()
        self.addCleanup(held.release)
        self.cache.ensure(self.entry, self.fill())
        self.assertEqual(b'disk', self.store.files[self.entry])

    def test_failed_fill_raises_its_error_when_cleanup_fails(self):
        def fill(path):
            self.store.fail['delete'] = vexc.VimConnectionException(
                'vCenter went away')
            raise vexc.ImageTransferException('upload failed')
        exc = self.assertRaises(vexc.ImageTransferException,
                                self.cache.ensure, self.entry, fill)
        self.assertIn('upload failed', str(exc))

    def test_refused_fill_leaves_no_image_folder(self):
        def fill(path):
            raise ValueError('not a VMDK')
        self.assertRaises(ValueError, self.cache.ensure, self.entry, fill)
        self.assertEqual({DS: None}, self.store.files)

    def test_failed_fill_removes_a_temporary_folder_written_late(self):
        # The fill removed its temporary folder, then the datastore
        # finished writing the aborted upload into it again.
        def fill(path):
            self.store.write(DS.join('img/tmp-late/img-flat.vmdk'), b'x')
            raise IOError('glance went away')
        self.assertRaises(IOError, self.cache.ensure, self.entry, fill)
        self.assertEqual({DS: None}, self.store.files)

    def test_failed_fill_keeps_a_live_fills_temporary_folder(self):
        other = MemoryCache(self.store, heartbeat_interval=0.05,
                            stale_after=1.0)
        held = other.datastore_lock(DS.join('img/img.iso')).acquire()
        self.addCleanup(held.release)
        self.store.make_directory(DS.join('img/tmp-iso'))

        def fill(path):
            raise IOError('glance went away')
        self.assertRaises(IOError, self.cache.ensure, self.entry, fill)
        self.assertIn(DS.join('img/tmp-iso'), self.store.files)

    def test_failed_fill_keeps_a_folder_that_holds_other_entries(self):
        self.store.make_directory(DS.join('img'))
        self.store.write(DS.join('img/img.iso'), b'iso')

        def fill(path):
            raise ValueError('not a VMDK')
        self.assertRaises(ValueError, self.cache.ensure, self.entry, fill)
        self.assertEqual([DS, DS.join('img'), DS.join('img/img.iso')],
                         sorted(self.store.files, key=str))

    def test_next_fill_removes_what_a_dead_fill_left(self):
        dead_lock = DS.join('img/fetch-lock.img_20_vmdk')
        self.store.make_directory(dead_lock)
        self.store.write(dead_lock.join('owner.json'),
                         record(time.time() - 3600).to_bytes())
        self.store.make_directory(DS.join('img/tmp-dead'))
        self.store.write(DS.join('img/tmp-dead/img.vmdk'), b'half')
        self.cache.ensure(self.entry, self.fill())
        self.assertEqual([DS, DS.join('img'), self.entry],
                         sorted(self.store.files, key=str))

    def test_next_fill_leaves_a_live_fills_temporary_folder(self):
        other = MemoryCache(self.store, heartbeat_interval=0.05,
                            stale_after=1.0)
        held = other.datastore_lock(DS.join('img/img.20.vmdk')).acquire()
        self.addCleanup(held.release)
        self.store.make_directory(DS.join('img/tmp-live'))
        self.cache.ensure(self.entry, self.fill())
        self.assertIn(DS.join('img/tmp-live'), self.store.files)
        self.assertIn(held.path, self.store.files)

    def test_taken_over_lock_is_left_to_its_new_owner(self):
        self.cache.fetch_timeout = 0.2
        slow = MemoryCache(self.store, heartbeat_interval=0.05,
                           stale_after=1.0)
        held = slow.datastore_lock(self.entry).acquire()
        # The slow owner keeps beating; we take over after fetch_timeout.
        ours = self.cache.datastore_lock(self.entry).acquire()
        time.sleep(0.2)  # the slow owner's heartbeat sees it and stops
        mine = ours.read_record()
        self.assertEqual(ours._heartbeat.record.token, mine.token)
        held.release()  # the slow owner finishes: our lock stays
        self.assertIn(self.lock_path, self.store.files)
        self.assertEqual(mine.token, ours.read_record().token)
        ours.release()
        self.assertNotIn(self.lock_path, self.store.files)

    def test_new_session_is_recorded_at_the_next_beat(self):
        lock = self.cache.datastore_lock(self.entry).acquire()
        self.addCleanup(lock.release)
        self.assertEqual('key-1', lock.read_record().session)
        self.cache.generation = 2  # the session expired, we logged in again
        time.sleep(0.3)
        self.assertEqual('key-2', lock.read_record().session)

    def test_unrecorded_session_is_not_asked_about(self):
        asked = []
        judge = cache_lock.StaleLockJudge(
            1, 60, session_alive=lambda rec: asked.append(rec) or False)
        self.assertIsNone(judge.stale(record(time.time() - 10, session='')))
        self.assertEqual([], asked)

    def test_broken_lock_is_not_made_again_by_its_heartbeat(self):
        lock = self.cache.datastore_lock(self.entry).acquire()
        self.addCleanup(lock.release)
        self.store.delete(self.lock_path)  # a waiter broke it
        time.sleep(0.3)
        self.assertNotIn(self.lock_path, self.store.files)
        self.assertFalse(lock._heartbeat._thread.is_alive())

    def test_lock_whose_heartbeat_cannot_start_is_removed(self):
        self.cache.session_record = mock.Mock(
            side_effect=vexc.VimConnectionException('vCenter went away'))
        self.assertRaises(vexc.VimConnectionException,
                          self.cache.datastore_lock(self.entry).acquire)
        self.assertNotIn(self.lock_path, self.store.files)

    def test_lock_another_waiter_broke_first_is_not_broken_again(self):
        self.other_owner(time.time() - 3600)
        lock = self.cache.datastore_lock(self.entry)
        judged = lock.read_record()
        # Meanwhile another waiter broke it and took it.
        self.store.delete(self.lock_path)
        self.other_owner(time.time(), session='key-3')
        lock._break(judged, 'its heartbeat is 3600s old')
        self.assertEqual('key-3', lock.read_record().session)
        lock._break(lock.read_record(), 'test')
        self.assertNotIn(self.lock_path, self.store.files)

    def test_lock_release_failure_is_logged_not_raised(self):
        lock = self.cache.datastore_lock(self.entry).acquire()
        self.store.fail['delete'] = vexc.VimConnectionException('down')
        lock.release()  # no exception
        self.assertIn(self.lock_path, self.store.files)

    def test_heartbeat_failure_does_not_stop_it(self):
        # Events, not sleeps: the test waits for the writes it needs, however
        # slow the machine, and stop() joins the thread.
        writes = []
        two_after_the_failure = threading.Event()
        first = record(time.time())

        def renew(rec):
            writes.append(rec.seq)
            if len(writes) == 1:
                raise vexc.ImageTransferException('HTTP 503')
            if len(writes) == 3:
                two_after_the_failure.set()
            return rec
        beat = cache_lock.Heartbeat(renew, first, 0.01).start()
        self.assertTrue(two_after_the_failure.wait(60))
        beat.stop()
        self.assertFalse(beat._thread.is_alive())  # nothing after stop()
        self.assertEqual([first.seq + 1, first.seq + 2, first.seq + 3],
                         writes[:3])
        self.assertEqual(first.seq + len(writes), beat.record.seq)


class InPlaceFillTest(MemoryCacheTestCase):
    """A fill that writes its entry in place (an NFC import): the entry
    does not count while its lock exists; a dead fill's in-place writes go
    with its lock, unless its record says it finished."""

    def dead_fill(self, done=False):
        """A fill that died after writing half of its entry in place."""
        self.store.make_directory(self.lock_path)
        dead = dataclasses.replace(record(time.time() - 3600), done=done)
        self.store.write(self.lock_path.join('owner.json'), dead.to_bytes())
        self.store.write(self.entry, b'half')

    def test_entry_under_a_lock_does_not_count(self):
        self.dead_fill()
        self.assertTrue(self.cache.present(self.entry))
        self.assertFalse(self.cache.exists(self.entry))
        self.store.delete(self.lock_path)
        self.assertTrue(self.cache.exists(self.entry))

    def test_breaking_a_dead_fill_removes_its_entry_first(self):
        self.dead_fill()
        filled = []

        def fill(path):
            filled.append(self.store.files.get(path))
            self.store.write(path, b'whole')
        self.cache.ensure(self.entry, fill)
        self.assertEqual([None], filled)  # the half entry was gone
        self.assertEqual(b'whole', self.store.files[self.entry])
        self.assertNotIn(self.lock_path, self.store.files)

    def test_dead_lock_of_a_finished_fill_keeps_its_entry(self):
        self.dead_fill(done=True)
        self.cache.ensure(self.entry, self.fail_fill)
        self.assertEqual(b'half', self.store.files[self.entry])
        self.assertNotIn(self.lock_path, self.store.files)

    def fail_fill(self, path):
        self.fail('the entry was there: no fill')

    def test_dead_lock_stays_when_its_entry_cannot_be_removed(self):
        self.dead_fill()
        self.store.fail['discard_entry'] = vexc.VimException('locked')
        self.assertRaises(vexc.VimException, self.cache.ensure, self.entry,
                          self.fail_fill)
        self.assertIn(self.lock_path, self.store.files)
        self.assertFalse(self.cache.exists(self.entry))

    def test_sweep_removes_a_dead_fills_entry_with_its_lock(self):
        self.dead_fill()
        left = self.cache.remove_leftovers(DS.join('img'))
        self.assertEqual({DS: None, DS.join('img'): None}, self.store.files)
        self.assertEqual((), left.entries + left.locks)

    def test_sweep_keeps_a_finished_fills_entry(self):
        self.dead_fill(done=True)
        left = self.cache.remove_leftovers(DS.join('img'))
        self.assertEqual(b'half', self.store.files[self.entry])
        self.assertEqual(((), [self.entry]),
                         (left.locks, [e.path for e in left.entries]))

    def test_failed_fill_that_left_its_entry_keeps_the_lock(self):
        def fill(path):
            self.store.write(path, b'half')  # the import's abort failed
            raise vexc.ImageTransferException('upload failed')
        exc = self.assertRaises(vexc.ImageTransferException,
                                self.cache.ensure, self.entry, fill)
        self.assertIn('upload failed', str(exc))
        self.assertIn(self.lock_path, self.store.files)
        self.assertFalse(self.cache.exists(self.entry))

    def test_failed_fill_that_cannot_tell_keeps_the_lock(self):
        def fill(path):
            self.store.fail['present'] = vexc.VimConnectionException('down')
            raise vexc.ImageTransferException('upload failed')
        self.assertRaises(vexc.ImageTransferException, self.cache.ensure,
                          self.entry, fill)
        self.assertIn(self.lock_path, self.store.files)

    def test_finished_fill_marks_its_lock_done_before_removing_it(self):
        seen = []
        real_delete = self.store.delete

        def delete(path):
            if path == self.lock_path:
                seen.append(cache_lock.OwnerRecord.from_bytes(
                    self.store.files[self.lock_path.join('owner.json')]))
            real_delete(path)
        self.store.delete = delete
        self.cache.ensure(self.entry, lambda path: self.store.write(
            path, b'whole'))
        self.assertEqual([True], [r.done for r in seen])

    def test_done_is_read_only_from_a_true_value(self):
        data = record(1.0).to_bytes().replace(b'"done": false',
                                              b'"done": "yes"')
        self.assertFalse(cache_lock.OwnerRecord.from_bytes(data).done)
