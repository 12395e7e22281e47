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

"""images/fetch.py without vCenter: which Glance streams a fill reads."""

from unittest import mock

import testtools

from nova_vmware_ext.images import fetch
from nova_vmware_ext.images import inspect
from tests import image_files

MiB = 1024 * 1024


class Glance(object):
    """Counts the streams opened and closed of one image."""

    def __init__(self, data):
        self.data = data
        self.opened = 0
        self.closed = 0

    def chunks(self):
        self.opened += 1
        try:
            for offset in range(0, len(self.data), 64 * 1024):
                yield self.data[offset:offset + 64 * 1024]
        finally:
            self.closed += 1


def source(glance, disk_type='streamOptimized', **kwargs):
    return fetch.ImageSource('img-1', len(glance.data), disk_type,
                             'lsiLogic', glance.chunks, **kwargs)


class DownloadTest(testtools.TestCase):

    def test_first_stream_is_the_judged_one_a_retry_judges_a_new_one(self):
        data = image_files.stream_optimized()
        glance = Glance(data)
        with fetch.Download(source(glance), inspect.Limits()) as download:
            self.assertEqual(4 * MiB, download.verdict.virtual_size)
            self.assertEqual(data, b''.join(download.stream()))
            self.assertEqual(1, glance.opened)
            self.assertEqual(data, b''.join(download.stream()))
            self.assertEqual(2, glance.opened)
        self.assertEqual(2, glance.closed)

    def test_unread_stream_is_closed(self):
        glance = Glance(image_files.stream_optimized())
        with fetch.Download(source(glance), inspect.Limits()):
            pass
        self.assertEqual((1, 1), (glance.opened, glance.closed))

    def test_stream_left_idle_is_opened_again(self):
        glance = Glance(image_files.stream_optimized())
        now = [100.0]
        self.patch(fetch.time, 'monotonic', lambda: now[0])
        download = fetch.Download(source(glance), inspect.Limits())
        now[0] += fetch._IDLE_STREAM_SECONDS + 1
        b''.join(download.stream())
        self.assertEqual((2, 2), (glance.opened, glance.closed))

    def test_refused_image_opens_nothing_further(self):
        glance = Glance(image_files.qemu_image('qcow2'))
        exc = self.assertRaises(fetch.ImageRefused, fetch.Download,
                                source(glance), inspect.Limits())
        self.assertIn('bytes are qcow2', str(exc))
        self.assertEqual((1, 1), (glance.opened, glance.closed))


class StagingTest(testtools.TestCase):
    """Where a fill writes: the fetch lock's folder, a folder of its own
    for a retry after the session expired."""

    def setUp(self):
        super().setUp()
        from nova_vmware_ext.vsphere.files import DatastorePath
        self.files, self.cache = mock.Mock(), mock.Mock()
        self.fetcher = fetch.Fetcher(None, None, None, None, self.cache,
                                     self.files, None)
        self.entry = DatastorePath('ds', '_base/img/img.vmdk')
        self.staging = DatastorePath('ds', '_base/img/fetch-lock.img_vmdk')

    def test_first_attempt_writes_in_the_lock_folder_as_it_is(self):
        used = []
        self.fetcher._in_temp(self.entry, used.append, self.staging)
        self.assertEqual([self.staging], used)
        self.files.make_directory.assert_not_called()
        self.cache.discard.assert_not_called()  # it goes with the lock

    def test_retry_after_an_expired_session_writes_in_a_new_folder(self):
        from oslo_vmware import exceptions as vexc
        used = []

        def write(folder):
            used.append(folder)
            if len(used) == 1:
                raise vexc.NotAuthenticatedException('session expired')
        self.fetcher._in_temp(self.entry, write, self.staging)
        retry = self.staging.join('retry')
        self.assertEqual([self.staging, retry], used)
        self.files.make_directory.assert_called_once_with(retry)
        self.cache.discard.assert_not_called()

    def test_entry_filled_meanwhile_by_another_compute_is_used(self):
        from oslo_vmware import exceptions as vexc
        self.fetcher.disks = disks = mock.Mock()
        disks.move.side_effect = vexc.FileAlreadyExistsException('taken')
        self.cache.exists.return_value = True
        self.fetcher.move_disk(self.staging.join('img.vmdk'), self.entry)
        self.cache.exists.assert_called_once_with(self.entry)

    def test_name_taken_by_something_else_is_an_error(self):
        from oslo_vmware import exceptions as vexc
        self.fetcher.disks = disks = mock.Mock()
        disks.move.side_effect = vexc.FileAlreadyExistsException('taken')
        self.cache.exists.return_value = False
        self.assertRaises(vexc.FileAlreadyExistsException,
                          self.fetcher.move_disk,
                          self.staging.join('img.vmdk'), self.entry)
