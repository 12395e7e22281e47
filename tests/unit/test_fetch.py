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
