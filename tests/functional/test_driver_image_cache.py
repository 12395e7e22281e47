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

"""The image cache on vcsim: aging (what no VM on the datastore uses goes,
nothing else), fills that died (their locks and leftovers), and the in-tree
driver's cache folder and markers.

Setup may go through the driver's own session; outcomes are read over
datastore HTTP (/folder) with an independent session.
"""

import datetime
import os
import re
import time
import uuid

from nova import exception
from pyVmomi import vim
import requests

from nova_vmware_ext.images import cache as image_cache
from nova_vmware_ext.images import lock as cache_lock
from nova_vmware_ext.vsphere import disks as vdisks
from nova_vmware_ext.vsphere.files import DatastorePath
from tests.functional import base
from tests.functional import test_driver_spawn
from tests import leaks
from tests import vcsim

MiB = 1024 * 1024
DS = 'LocalDS_0'


class CacheTestBase(test_driver_spawn.SpawnTestBase):

    VCSIM_SHAPE = dict(hosts=2, datastores=1, portgroups=0)

    @property
    def cache(self):
        return self.driver._host.cache

    def names(self, rel_path):
        """Names in a datastore folder ('x/' for folders), read over /folder
        with the independent session; None if the folder is not there."""
        url = vcsim.datastore_url(self.vcsim, rel_path.rstrip('/') + '/')
        response = requests.get(url, verify=self.vcsim.ca_file, headers={
            'Cookie': vcsim.session_cookie(self.si)})
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return sorted(re.findall(r'<a href="([^"]+)">', response.text))

    def age(self, min_age):
        """One image cache aging pass with this minimum age."""
        self.flags.config(group='image_cache',
                          remove_unused_original_minimum_age_seconds=min_age)
        self.driver.manage_image_cache(self.context, [])
        # It marks every unused entry it sees, other tests' too: by design.
        self.leaks.keep(path.split('] ', 1)[1]
                        for path in leaks.datastore_files(self.si)
                        if '/ts-' in path)

    def image_folder(self, image_id):
        return '%s/%s' % (self.cache.folder_name, image_id)

    def put_lock(self, entry, beat_age, session='no-such-session',
                 user='nobody'):
        """A fetch lock of ``entry`` as a compute that died left it."""
        lock = self.cache.datastore_lock(entry)
        self.cache.make_directory(lock.path)
        self.cache.write_small(lock.record_path, cache_lock.OwnerRecord(
            owner='compute-dead', session=session, user=user,
            beat=time.time() - beat_age, seq=42, token='dead').to_bytes())
        return lock.path

    def put_leftover(self, folder):
        """A temporary folder with a half-written file in it."""
        temp = folder.join('tmp-deadbeef0000')
        self.cache.write_small(temp.join('half-flat.vmdk'), b'\x00' * 4096)
        return temp

    def entry(self, image):
        return self.cache.disk_path(DS, image.id)


class DeadFillTest(CacheTestBase):
    """A fill that died (vCenter outage, compute crash) stalls nobody."""

    def test_lock_with_an_old_heartbeat_is_broken_at_once(self):
        image = self.images.add(b'\x21' * MiB, vmware_disktype='thin')
        lock = self.put_lock(self.entry(image), beat_age=3600)
        started = time.monotonic()
        instance = self.make_instance()
        self.spawn(instance, image)
        self.assertLess(time.monotonic() - started, 10)
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])
        self.assertEqual(1, self.images.downloads[image.id])
        self.assertEqual(['%s-flat.vmdk' % image.id, '%s.vmdk' % image.id],
                         self.names(self.image_folder(image.id)))
        self.assertIsNone(self.names(lock.rel_path))

    def test_lock_of_an_ended_session_is_broken_within_seconds(self):
        # The owner's session ended (vCenter restarted, or the compute
        # logged out) one moment after its last heartbeat.
        other = base.make_session(self.vcsim).login()
        session = other.content.sessionManager.currentSession
        key, user = session.key, session.userName
        other.logout()
        image = self.images.add(b'\x22' * MiB, vmware_disktype='thin')
        self.put_lock(self.entry(image), beat_age=0, session=key, user=user)
        self.cache.heartbeat_interval = 1.0
        instance = self.make_instance()
        started = time.monotonic()
        with self.session.calls.scope() as scope:
            self.spawn(instance, image)
        # Without asking vCenter, a fresh heartbeat holds for 60s.
        self.assertLess(time.monotonic() - started, 15)
        self.assertEqual(1, scope.by_method['SessionIsActive'])
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])

    def test_live_owner_is_waited_for_beyond_stale_after(self):
        import threading
        cache = self.cache
        cache.heartbeat_interval, cache.stale_after = 0.3, 1.5
        image = self.images.add(b'\x23' * MiB, vmware_disktype='thin')
        held = cache.datastore_lock(self.entry(image)).acquire()
        self.addCleanup(held.release)
        instance = self.make_instance()
        errors = []

        def spawn():
            try:
                self.spawn(instance, image)
            except Exception as exc:  # reported below
                errors.append(exc)
        thread = threading.Thread(target=spawn)
        thread.start()
        time.sleep(3)  # twice stale_after: the heartbeat holds the lock
        # Only the image's first bytes were read (judged before the lock).
        self.assertEqual(1, self.images.downloads[image.id])
        self.assertTrue(thread.is_alive())
        for attempt in range(10):  # a read can meet a rewrite half done
            owner = self.datastore_file(str(held.record_path))
            record = cache_lock.OwnerRecord.from_bytes(owner or b'')
            if record is not None:
                break
            time.sleep(0.05)
        self.assertGreater(record.seq, 5)
        self.assertEqual(self.driver._host.conf.host, record.owner)
        # vcsim's session key is its cookie: a secret, not written.
        cookie = self.session.session_cookie.split('=', 1)[1].strip('"')
        self.assertNotIn(cookie.encode(), owner)
        self.assertEqual('', record.session)
        held.release()
        thread.join(60)
        self.assertEqual([], errors)
        self.assertEqual(1, self.images.downloads[image.id])
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])

    def test_dead_import_written_in_place_is_replaced(self):
        # An import writes its disk at the entry's name; its compute died
        # half way: the entry stays hidden behind the dead lock, and the
        # compute that breaks the lock removes it first.
        image = self.images.add(test_driver_spawn.stream_optimized_vmdk(4),
                                vmware_disktype='streamOptimized')
        entry = self.entry(image)
        lock = self.put_lock(entry, beat_age=3600)
        half = entry.parent.join('%s-flat.vmdk' % image.id)
        self.cache.write_small(entry, b'# Disk DescriptorFile\n')
        self.cache.write_small(half, b'\x00' * 4096)
        self.assertFalse(self.cache.exists(entry))
        instance = self.make_instance()
        self.spawn(instance, image)
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])
        self.assertEqual(['%s-flat.vmdk' % image.id, '%s.vmdk' % image.id],
                         self.names(self.image_folder(image.id)))
        self.assertIsNone(self.names(lock.rel_path))
        descriptor = self.datastore_file(str(entry))
        self.assertNotEqual(b'# Disk DescriptorFile\n', descriptor)
        self.assertIn(b'createType', descriptor)

    def test_next_fill_removes_what_dead_fills_left(self):
        image = self.images.add(b'\x24' * MiB, vmware_disktype='thin')
        folder = self.cache.folder(DS, image.id)
        self.put_leftover(folder)
        self.put_lock(folder.join('%s.20.vmdk' % image.id), beat_age=3600)
        self.assertEqual(['fetch-lock.%s_20_vmdk/' % image.id,
                          'tmp-deadbeef0000/'],
                         self.names(folder.rel_path))
        self.spawn(self.make_instance(), image)
        self.assertEqual(['%s-flat.vmdk' % image.id, '%s.vmdk' % image.id],
                         self.names(folder.rel_path))

    def test_refused_fill_leaves_no_image_folder(self):
        image = self.images.add(b'\x25' * MiB, vmware_disktype='thin')
        self.vcsim.inject('CreateVirtualDisk_Task', action='task_error',
                          fault='NoDiskSpace')
        self.addCleanup(self.vcsim.clear_faults)
        self.assertRaises(exception.InstanceDeployFailure, self.driver.spawn,
                          self.context, self.make_instance(), image, [],
                          None, {}, [])
        self.assertIsNone(self.names(self.image_folder(image.id)))
        self.assertIsNotNone(self.names(self.cache.folder_name))


class ImageCacheAgingTest(CacheTestBase):

    def _entry(self, image):
        return '[LocalDS_0] _base/%s/%s-flat.vmdk' % (image.id, image.id)

    def test_unused_entries_go_used_ones_stay(self):
        used = self.images.add(b'\x01' * 1024 * 1024,
                               vmware_disktype='thin')
        unused = self.images.add(b'\x02' * 1024 * 1024,
                                 vmware_disktype='thin')
        keeper = self.make_instance()
        self.spawn(keeper, used)
        gone = self.make_instance()
        self.spawn(gone, unused)
        self.driver.destroy(self.context, gone, [])

        # Too young: nothing goes.
        self.age(3600)
        self.assertIsNotNone(self.datastore_file(self._entry(unused)))

        self.age(0)
        self.assertIsNone(self.datastore_file(self._entry(unused)))
        self.assertIsNotNone(self.datastore_file(self._entry(used)))
        self.assertEqual('poweredOn', self.vm(keeper)['runtime.powerState'])

        # The image comes back when an instance needs it again.
        again = self.make_instance()
        self.spawn(again, unused)
        self.assertIsNotNone(self.datastore_file(self._entry(unused)))
        self.assertEqual(2, self.images.downloads[unused.id])

    def test_aging_can_be_turned_off(self):
        image = self.images.add(b'\x03' * 1024 * 1024, vmware_disktype='thin')
        instance = self.make_instance()
        self.spawn(instance, image)
        self.driver.destroy(self.context, instance, [])
        self.flags.config(group='image_cache', remove_unused_base_images=False,
                          remove_unused_original_minimum_age_seconds=0)
        self.driver.manage_image_cache(self.context, [])
        self.assertIsNotNone(self.datastore_file(self._entry(image)))

    def test_leftovers_and_empty_folders_go_live_fills_stay(self):
        root = self.cache.root(DS)
        used = self.images.add(b'\x25' * MiB, vmware_disktype='thin')
        self.spawn(self.make_instance(), used)
        used_folder = root.join(used.id)
        self.put_leftover(used_folder)
        self.put_lock(used_folder.join('%s.9.vmdk' % used.id), beat_age=600)
        only_leftover = self.put_leftover(root.join('a-dead-fill')).parent
        self.cache.make_directory(root.join('an-empty-folder'))
        filling = root.join('a-live-fill')
        live = self.cache.datastore_lock(filling.join('a-live-fill.vmdk'))
        live.acquire()
        self.addCleanup(self.cache.delete, filling)
        self.addCleanup(live.release)
        self.put_leftover(filling)

        self.age(3600)
        # (other tests of the class leave entries of their own there)
        names = self.names(root.rel_path)
        self.assertEqual({'%s/' % used.id, 'a-live-fill/'},
                         {'%s/' % used.id, 'a-live-fill/'} & set(names))
        self.assertEqual(set(), {'a-dead-fill/', 'an-empty-folder/'}
                         & set(names))
        self.assertEqual(['%s-flat.vmdk' % used.id, '%s.vmdk' % used.id],
                         self.names(used_folder.rel_path))
        self.assertEqual(['fetch-lock.a-live-fill_vmdk/',
                          'tmp-deadbeef0000/'],
                         self.names(filling.rel_path))
        self.assertIsNone(self.names(only_leftover.rel_path))


class InTreeCacheTest(CacheTestBase):
    """A compute switched from the in-tree driver, Nova's defaults kept."""

    MY_IP = '192.0.2.17'

    def setUp(self):
        super().setUp()
        self.flags.config(my_ip=self.MY_IP)
        self.restart_driver()
        self.driver._host.spawner.image_api = self.images

    def in_tree_entry(self, image, marker_age=None, fill=b'\x77'):
        """An entry as the in-tree driver leaves it, with its ts- marker
        written ``marker_age`` seconds ago."""
        host = self.driver._host
        folder = self.cache.folder(DS, image.id)
        self.cache.make_directory(folder)
        self.addCleanup(self.cache.delete, folder)
        disk = folder.join('%s.vmdk' % image.id)
        vdisks.VirtualDisks(host.session, host.waiter,
                            host.inventory.get().datacenter).create(
            disk, MiB // 1024, 'thin')
        self.cache.write_small(folder.join('%s-flat.vmdk' % image.id),
                               fill * MiB)
        if marker_age is not None:
            when = (datetime.datetime.now(datetime.timezone.utc)
                    - datetime.timedelta(seconds=marker_age))
            self.cache.make_directory(folder.join(
                when.strftime('ts-%Y-%m-%d-%H-%M-%S')))
        return folder

    def test_in_tree_entries_are_reused_and_aged(self):
        self.assertEqual('%s_base' % self.MY_IP, self.cache.folder_name)
        in_use = self.images.add(b'\x01' * MiB, vmware_disktype='thin')
        used_folder = self.in_tree_entry(in_use, marker_age=7200)
        old = self.in_tree_entry(
            self.images.add(b'\x02' * MiB, vmware_disktype='thin'),
            marker_age=7200)
        recent = self.in_tree_entry(
            self.images.add(b'\x03' * MiB, vmware_disktype='thin'),
            marker_age=600)
        unmarked = self.in_tree_entry(
            self.images.add(b'\x04' * MiB, vmware_disktype='thin'))

        instance = self.make_instance()
        self.spawn(instance, in_use)
        disk = self.disks(self.vm(instance))[0]
        self.assertEqual(str(used_folder.join('%s.vmdk' % in_use.id)),
                         disk.backing.parent.fileName)
        self.assertEqual(0, self.images.downloads[in_use.id])
        self.assertEqual(b'\x77' * MiB, self.datastore_file(
            str(used_folder.join('%s-flat.vmdk' % in_use.id))))

        self.age(3600)
        root = self.cache.root(DS).rel_path
        names = self.names(root)
        self.assertNotIn('%s/' % old.basename, names)
        for kept in (used_folder, recent, unmarked):
            self.assertIn('%s/' % kept.basename, names)
        # In use: its marker goes, so neither driver ages it.
        self.assertEqual(['%s-flat.vmdk' % in_use.id, '%s.vmdk' % in_use.id],
                         self.names(used_folder.rel_path))
        self.assertEqual(1, len([n for n in self.names(recent.rel_path)
                                 if n.startswith('ts-')]))
        # Unused and unmarked: marked now, as the in-tree driver reads it.
        from nova.virt.vmwareapi import imagecache as intree_imagecache
        markers = [n.rstrip('/') for n in self.names(unmarked.rel_path)
                   if n.startswith('ts-')]
        self.assertEqual(1, len(markers))
        marked = intree_imagecache.ImageCacheManager(
            None, '')._get_datetime_from_filename(markers[0])
        self.assertLess(abs((datetime.datetime.utcnow() - marked)
                            .total_seconds()), 60)
        self.assertEqual(image_cache.marker_time(markers[0]).replace(
            tzinfo=None), marked)

    def test_in_tree_folder_for_our_fills(self):
        image = self.images.add(b'\x05' * MiB, vmware_disktype='thin')
        instance = self.make_instance()
        self.spawn(instance, image)
        parent = self.disks(self.vm(instance))[0].backing.parent.fileName
        self.assertEqual(str(DatastorePath(DS, '%s_base/%s/%s.vmdk' % (
            self.MY_IP, image.id, image.id))), parent)


class InTreeLeftoversTest(CacheTestBase):
    """Aging removes what failed in-tree fills left at the datastore root
    (images/intree_leftovers.py), once unchanged for the minimum age."""

    def setUp(self):
        super().setUp()
        [ds] = vcsim.query(self.si, vim.Datastore, ['info.url']).values()
        self.local_root = ds['info.url']

    def put(self, rel_path, age):
        """A file (and its folders) as a fill left it ``age`` seconds ago,
        the folders' times included."""
        path = DatastorePath(DS, rel_path)
        self.cache.write_small(path, b'\x00' * 4096)
        when = time.time() - age
        parts = rel_path.split('/')
        for depth in range(1, len(parts) + 1):
            os.utime(os.path.join(self.local_root, *parts[:depth]),
                     (when, when))
        return path

    def test_old_leftovers_go_young_ones_and_others_stay(self):
        self.addCleanup(self.cache.delete, DatastorePath(DS, 'vmware_temp'))
        old, young, busy = (str(uuid.uuid4()) for _ in range(3))
        img, snap, img_young = (
            'OSTACK_IMG_%s' % uuid.uuid4(), 'OSTACK_SNAP_%s' % uuid.uuid4(),
            'OSTACK_IMG_%s' % uuid.uuid4())
        image = 'a1b2c3d4-0000-4000-8000-000000000001'
        self.put('vmware_temp/%s/%s/%s-flat.vmdk' % (old, image, image), 7200)
        self.put('vmware_temp/%s/%s/tmp-sparse.vmdk' % (young, image), 60)
        # An old folder with a file still being written: it stays.
        self.put('vmware_temp/%s/%s/%s.vmdk' % (busy, image, image), 7200)
        self.put('vmware_temp/%s/%s/%s-flat.vmdk' % (busy, image, image), 5)
        self.put('%s/%s.vmdk' % (img, img), 7200)
        self.put('%s/%s.vmx' % (snap, snap), 7200)
        self.put('%s/%s.vmdk' % (img_young, img_young), 60)
        # Named unlike the in-tree driver's: not ours to judge.
        others = ['vmware_temp/not-a-uuid/x', 'OSTACK_IMG_x/x.vmdk',
                  'someone-elses/x.vmdk']
        for rel_path in others:
            self.put(rel_path, 7200)
        for kept in (young, busy):
            self.addCleanup(self.cache.delete,
                            DatastorePath(DS, 'vmware_temp/' + kept))
        for kept in [img_young] + [p.split('/')[0] for p in others[1:]]:
            self.addCleanup(self.cache.delete, DatastorePath(DS, kept))

        self.age(3600)

        self.assertEqual(['busy/', 'not-a-uuid/', 'young/'], sorted(
            n.replace(young, 'young').replace(busy, 'busy')
            for n in self.names('vmware_temp')))
        root = self.names('')
        for gone in (img, snap):
            self.assertNotIn(gone + '/', root)
        for kept in (img_young, 'OSTACK_IMG_x', 'someone-elses'):
            self.assertIn(kept + '/', root)
        self.assertEqual(['%s-flat.vmdk' % image, '%s.vmdk' % image],
                         self.names('vmware_temp/%s/%s' % (busy, image)))
