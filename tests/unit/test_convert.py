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

"""images/convert.py: qemu-img's command lines, limits and local space."""

import collections
import os
import time
from unittest import mock

import fixtures
from oslo_concurrency import processutils
from oslo_utils import units
import testtools

from nova_vmware_ext.images import convert
from nova_vmware_ext.images import fetch
from nova_vmware_ext.images import inspect

DiskUsage = collections.namedtuple('DiskUsage', 'total used free')


class CommandTest(testtools.TestCase):

    def test_input_format_is_pinned_vhd_being_vpc(self):
        for disk_format, qemu in (('qcow2', 'qcow2'), ('raw', 'raw'),
                                  ('vhd', 'vpc'), ('vhdx', 'vhdx'),
                                  ('vdi', 'vdi')):
            self.assertEqual(
                ('qemu-img', 'convert', '-q', '-f', qemu, '-O', 'vmdk', '-o',
                 'subformat=streamOptimized,adapter_type=lsilogic', '/t/in',
                 '/t/out.vmdk'),
                convert.command(disk_format, '/t/in', '/t/out.vmdk',
                                'lsiLogic'))

    def test_unknown_format_has_no_command(self):
        self.assertRaises(KeyError, convert.command, 'vmdk', 'a', 'b')

    def test_adapter_type_in_the_descriptor(self):
        for adapter, qemu in (('ide', 'ide'), ('busLogic', 'buslogic'),
                              ('paraVirtual', 'lsilogic'), (None, 'lsilogic')):
            argv = convert.command('qcow2', 'a', 'b', adapter)
            self.assertEqual('subformat=streamOptimized,adapter_type=%s'
                             % qemu, argv[argv.index('-o') + 1])

    def test_check_only_for_formats_qemu_checks(self):
        self.assertEqual(
            ('qemu-img', 'check', '--output=json', '-f', 'vhdx', '/t/in'),
            convert.check_command('vhdx', '/t/in'))
        self.assertIsNone(convert.check_command('vhd', '/t/in'))
        self.assertIsNone(convert.check_command('raw', '/t/in'))

    def test_address_space_limited_cpu_time_not(self):
        limits = convert.limits()
        self.assertEqual(2 * units.Gi, limits.address_space)
        self.assertIsNone(limits.cpu_time)
        self.assertEqual(['--as=%d' % (2 * units.Gi)],
                         limits.prlimit_args())

    def test_execute_passes_the_limit(self):
        execute = self.useFixture(fixtures.MockPatchObject(
            processutils, 'execute', return_value=('', ''))).mock
        convert._execute(('qemu-img', 'info', 'x'), check_exit_code=[0])
        args, kwargs = execute.call_args
        self.assertEqual(('qemu-img', 'info', 'x'), args)
        self.assertEqual(['--as=%d' % (2 * units.Gi)],
                         kwargs.pop('prlimit').prlimit_args())
        self.assertTrue(callable(kwargs.pop('on_execute')))
        self.assertEqual({'env_variables': {'LC_ALL': 'C', 'LANG': 'C'},
                          'check_exit_code': [0], 'timeout': None}, kwargs)

    def test_timeout_scaled_to_the_virtual_disk(self):
        self.assertEqual(600, convert.timeout(4 * units.Mi))
        self.assertEqual(600, convert.timeout(10 * units.Gi))
        self.assertEqual(60 * 100, convert.timeout(100 * units.Gi))
        self.assertEqual(60 * 101, convert.timeout(100 * units.Gi + 1))
        self.assertEqual(5 * 200, convert.timeout(200 * units.Gi, 5))

    def test_space_needed_is_image_plus_virtual_disk(self):
        verdict = inspect.Verdict('qcow2', None, 10 * units.Gi)
        self.assertEqual(11 * units.Gi,
                         convert.space_needed(verdict, units.Gi))


class CheckFailureTest(testtools.TestCase):

    def test_corruptions_counted_from_json(self):
        exc = processutils.ProcessExecutionError(
            stdout='{"corruptions": 34, "check-errors": 0}', stderr='x',
            exit_code=2)
        self.assertEqual('corrupt: 34 corruptions',
                         convert._check_failure(exc))

    def test_else_the_last_line_of_stderr(self):
        exc = processutils.ProcessExecutionError(
            stdout='', stderr='a\nqemu-img: Could not open\n', exit_code=1)
        self.assertEqual('unreadable: qemu-img: Could not open',
                         convert._check_failure(exc))


class LocalSpaceTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.converter = convert.Converter(mock.Mock(), mock.Mock(),
                                           self.tmp)
        self.source = fetch.ImageSource('img-1', units.Gi, 'preallocated',
                                        'lsiLogic', None, 'qcow2')
        self.verdict = inspect.Verdict('qcow2', None, 4 * units.Gi)

    def free(self, free):
        self.useFixture(fixtures.MockPatch(
            'shutil.disk_usage', return_value=DiskUsage(0, 0, free)))

    def test_enough(self):
        self.free(5 * units.Gi)
        self.converter._check_space(self.source, self.verdict)

    def test_too_little_names_image_directory_and_sizes(self):
        self.free(5 * units.Gi - 1)
        exc = self.assertRaises(convert.ConversionError,
                                self.converter._check_space, self.source,
                                self.verdict)
        self.assertEqual(
            'image img-1: converting it needs %d bytes in %s, which has %d '
            'free ([vmware_ext] image_conversion_dir)'
            % (5 * units.Gi, self.tmp, 5 * units.Gi - 1), str(exc))

    def test_missing_directory(self):
        self.converter.work_dir = self.tmp + '/gone'
        exc = self.assertRaises(convert.ConversionError,
                                self.converter._check_space, self.source,
                                self.verdict)
        self.assertIn('the image conversion directory %s/gone cannot be '
                      'used' % self.tmp, str(exc))


class HungQemuImgTest(testtools.TestCase):
    """qemu-img that never ends is killed at its wall-clock limit; the
    spawn fails naming it and the local directory is removed."""

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.work = os.path.join(self.tmp, 'work')
        os.mkdir(self.work)
        self.pid_file = os.path.join(self.tmp, 'pid')
        fake = os.path.join(self.tmp, 'qemu-img')
        with open(fake, 'w') as f:
            f.write('#!/bin/sh\necho $$ > %s\nexec sleep 300\n'
                    % self.pid_file)
        os.chmod(fake, 0o755)
        self.useFixture(fixtures.MockPatchObject(convert, 'QEMU_IMG', fake))
        self.useFixture(fixtures.MockPatchObject(convert, 'MIN_TIMEOUT', 1))

    def test_hung_convert_is_killed_and_its_directory_removed(self):
        converter = convert.Converter(mock.Mock(), mock.Mock(), self.work,
                                      timeout_per_gib=1)
        source = fetch.ImageSource('img-1', units.Mi, 'preallocated',
                                   'lsiLogic', None, 'raw')
        download = mock.Mock(source=source, verdict=inspect.Verdict(
            'raw', None, units.Mi))
        download.stream.return_value = iter([b'\0' * units.Mi])
        started = time.monotonic()
        exc = self.assertRaises(convert.ConversionError, converter._fill,
                                download, None, None)
        self.assertLess(time.monotonic() - started, 30)
        self.assertEqual('image img-1: qemu-img convert did not finish '
                         'within 1 s and was killed ([vmware_ext] '
                         'image_conversion_timeout)', str(exc))
        with open(self.pid_file) as f:
            pid = int(f.read())
        self.assertRaises(ProcessLookupError, os.kill, pid, 0)
        self.assertEqual([], os.listdir(self.work))
        converter.fetcher.fill_disk.assert_not_called()
