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

"""Every Python, shell and Go source file carries the Apache 2.0 notice."""

import os
import tempfile

import testtools

from tests.unit.test_test_summary import _load_tool
from tests.unit.test_test_summary import TOP

headers = _load_tool('license_headers')


class LicenseHeadersTest(testtools.TestCase):

    def test_every_source_file_has_the_notice(self):
        self.assertEqual([], [os.path.relpath(path, TOP)
                              for path, _ in headers.missing(TOP)])

    def test_fix_adds_the_notice_after_a_shebang(self):
        with tempfile.TemporaryDirectory() as top:
            script = os.path.join(top, 'run')
            with open(script, 'w') as f:
                f.write('#!/usr/bin/env bash\necho hi\n')
            module = os.path.join(top, 'vm.go')
            with open(module, 'w') as f:
                f.write('package main\n')
            with open(os.path.join(top, 'data.txt'), 'w') as f:
                f.write('Not code.\n')
            self.assertEqual([(script, '#'), (module, '//')],
                             headers.missing(top))
            for path, prefix in headers.missing(top):
                headers.add_header(path, prefix)
            self.assertEqual([], headers.missing(top))
            with open(script) as f:
                lines = f.read().splitlines()
        self.assertEqual('#!/usr/bin/env bash', lines[0])
        self.assertTrue(lines[1].startswith('# Licensed under the Apache'))
        self.assertEqual(['', 'echo hi'], lines[-2:])
