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

"""A test process prints no warning block about eventlet (item 5 of the
operators issue: README's test command without warning blocks)."""

import os
import subprocess
import sys

import testtools

from tests.unit.test_test_summary import TOP

# What a test module does first: import the tests package, then a library
# under Nova that imports eventlet (futurist, as nova.utils does).
_IMPORTS = 'import tests, futurist._utils; import warnings; ' \
           'warnings.warn("still shown")'


def _stderr(code):
    env = dict(os.environ, PYTHONPATH=TOP)
    env.pop('EVENTLET_TESTS', None)  # eventlet's own switch stays off
    done = subprocess.run([sys.executable, '-W', 'default', '-c', code],
                          cwd=TOP, env=env, capture_output=True, text=True,
                          timeout=120)
    return done.stderr


class QuietTestProcessTest(testtools.TestCase):

    def test_eventlet_deprecation_block_is_filtered(self):
        stderr = _stderr(_IMPORTS)
        self.assertNotIn('Eventlet is deprecated', stderr)
        self.assertIn('UserWarning: still shown', stderr)

    def test_without_the_tests_package_it_shows(self):
        # The block this filters is real: eventlet prints it by default.
        stderr = _stderr('import futurist._utils')
        self.assertIn('Eventlet is deprecated', stderr)
