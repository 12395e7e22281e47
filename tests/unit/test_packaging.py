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

"""The package builds from a copy of the tree without git history.

pbr reads the version from git or from an sdist's PKG-INFO; a plain copy
(a tarball of the files, `git archive`) has neither, and setup.py hands pbr
setup.cfg's version then. The build is the real one (pip, pbr, setuptools
of the test environment, no network): about 5 s.
"""

import configparser
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import testtools

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
# What a copy for an install leaves out (and what a build or run makes).
NOT_COPIED = ('.git', '.tox', '.venv', '.stestr', 'build', 'dist',
              '*.egg-info', '__pycache__', 'AUTHORS', 'ChangeLog')


def _setup_cfg_version():
    config = configparser.ConfigParser()
    config.read(os.path.join(TOP, 'setup.cfg'))
    return config.get('metadata', 'version')


class BuildWithoutGitTest(testtools.TestCase):

    def build_wheel(self, source, env=None):
        out = os.path.join(source, 'dist')
        env = dict({k: v for k, v in os.environ.items()
                    if k not in ('PBR_VERSION', 'OSLO_PACKAGE_VERSION')},
                   **(env or {}))
        result = subprocess.run(
            [sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps',
             '--no-build-isolation', '--no-index', '--wheel-dir', out,
             source],
            env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(0, result.returncode, result.stderr[-3000:])
        [wheel] = [name for name in os.listdir(out)
                   if name.endswith('.whl')]
        return os.path.join(out, wheel)

    def copy_without_git(self):
        parent = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, parent)
        copy = os.path.join(parent, 'nova-vmware-ext')
        shutil.copytree(TOP, copy,
                        ignore=shutil.ignore_patterns(*NOT_COPIED))
        self.assertFalse(os.path.exists(os.path.join(copy, '.git')))
        return copy

    def test_a_copy_without_git_builds_with_setup_cfg_version(self):
        wheel = self.build_wheel(self.copy_without_git())
        self.assertEqual(
            'nova_vmware_ext-%s-py3-none-any.whl' % _setup_cfg_version(),
            os.path.basename(wheel))
        with zipfile.ZipFile(wheel) as whl:
            names = set(whl.namelist())
        for path in ('nova_vmware_ext/driver.py',
                     'nova_vmware_ext/compute/host.py',
                     'nova_vmware_ext/vsphere/session.py',
                     'nova/virt/vmware_ext/driver.py'):
            self.assertIn(path, names)

    def test_pbr_version_set_by_the_caller_wins(self):
        wheel = self.build_wheel(self.copy_without_git(),
                                 env={'PBR_VERSION': '9.8.7'})
        self.assertEqual('nova_vmware_ext-9.8.7-py3-none-any.whl',
                         os.path.basename(wheel))
