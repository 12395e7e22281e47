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

"""A test process prints no warning block about eventlet or oslo.vmware's
use of urllib3 (item 5 of the operators issue: README's test command without
warning blocks)."""

import os
import subprocess
import sys

import testtools

from tests.unit.test_test_summary import TOP

# What a test module does first: import the tests package, then a library
# under Nova that imports eventlet (futurist, as nova.utils does).
_IMPORTS = 'import tests, futurist._utils; import warnings; ' \
           'warnings.warn("still shown")'


# urllib3's warning as it reaches the filters when oslo.vmware's rw_handles
# calls set_cert() (stacklevel=2 names the caller's module).
_SET_CERT = ('import tests, warnings; warnings.warn_explicit('
             '"HTTPSConnection.set_cert() is deprecated and will be removed '
             'in urllib3 v3.0.", FutureWarning, "rw_handles.py", 82, '
             'module=%r)')


def _run(code, **env_vars):
    env = dict(os.environ, PYTHONPATH=TOP, **env_vars)
    env.pop('EVENTLET_TESTS', None)  # eventlet's own switch stays off
    return subprocess.run([sys.executable, '-W', 'default', '-c', code],
                          cwd=TOP, env=env, capture_output=True, text=True,
                          timeout=120)


def _stderr(code):
    return _run(code).stderr


class QuietTestProcessTest(testtools.TestCase):

    def test_eventlet_deprecation_block_is_filtered(self):
        stderr = _stderr(_IMPORTS)
        self.assertNotIn('Eventlet is deprecated', stderr)
        self.assertIn('UserWarning: still shown', stderr)

    def test_without_the_tests_package_it_shows(self):
        # The block this filters is real: eventlet prints it by default.
        stderr = _stderr('import futurist._utils')
        self.assertIn('Eventlet is deprecated', stderr)

    def test_oslo_vmware_set_cert_warning_is_filtered(self):
        stderr = _stderr(_SET_CERT % 'oslo_vmware.rw_handles')
        self.assertNotIn('set_cert', stderr)

    def test_set_cert_from_another_module_still_shows(self):
        stderr = _stderr(_SET_CERT % 'nova_vmware_ext.vsphere.nfc')
        self.assertIn('FutureWarning: HTTPSConnection.set_cert()', stderr)

    def test_tests_nova_prints_warnings_only_outside_tests(self):
        # tests/nova in eventlet mode: Nova's notice about that mode, and
        # nova.test's INFO handler on stdout (Nova's executor cleanup runs
        # after each test's log capture) are gone; a warning still shows.
        done = _run(
            'import tests.nova, logging; log = logging.getLogger("x"); '
            'log.info("an info line"); log.warning("a warning line")',
            OS_NOVA_DISABLE_EVENTLET_PATCHING='False')
        output = done.stdout + done.stderr
        self.assertNotIn('Eventlet based concurrency mode', output)
        self.assertNotIn('an info line', output)
        self.assertIn('WARNING [x] a warning line', output)
