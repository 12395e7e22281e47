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

"""tools/setup-host.sh installs bindep.txt's packages and python3-venv
only when a virtualenv cannot be made without it.

The script runs for real in a copy of the tree, with apt-get, dpkg-query,
sudo and Python replaced by stubs on PATH that record what they are asked.
"""

import os
import shutil
import stat
import subprocess
import tempfile

import testtools

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

STUBS = {
    # Installed: everything but what $MISSING lists.
    'dpkg-query': '''#!/bin/sh
for pkg; do :; done
case " $MISSING " in *" $pkg "*) exit 1;; esac
printf 'install ok installed'
''',
    'apt-get': '''#!/bin/sh
echo "$*" >> "$LOG"
case "$*" in *python3-venv*) touch "$STATE/venv-installed";; esac
''',
    'sudo': '#!/bin/sh\nexec "$@"\n',
    # python3 -m venv DIR: works once python3-venv is installed, or
    # always with $VENV_WORKS.
    'python3': '''#!/bin/sh
[ "$1 $2" = "-m venv" ] || exit 2
if [ -z "$VENV_WORKS" ] && [ ! -e "$STATE/venv-installed" ]; then
    mkdir -p "$3/bin"; echo "ensurepip is not available" >&2; exit 1
fi
mkdir -p "$3/bin"
printf '#!/bin/sh\\necho "pip $*" >> "$LOG"\\n: > %s\\nchmod +x %s\\n' \
    "$3/bin/tox" "$3/bin/tox" > "$3/bin/pip"
chmod +x "$3/bin/pip"
''',
}


class SetupHostTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.root)
        os.mkdir(os.path.join(self.root, 'tools'))
        shutil.copy(os.path.join(TOP, 'tools', 'setup-host.sh'),
                    os.path.join(self.root, 'tools'))
        shutil.copy(os.path.join(TOP, 'bindep.txt'), self.root)
        self.stubs = os.path.join(self.root, 'stubs')
        os.mkdir(self.stubs)
        for name, text in STUBS.items():
            path = os.path.join(self.stubs, name)
            with open(path, 'w') as f:
                f.write(text)
            os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
        self.log = os.path.join(self.root, 'log')

    def run_setup(self, **env):
        env = dict(os.environ, PATH=self.stubs + ':' + os.environ['PATH'],
                   LOG=self.log, STATE=self.root, PYTHON='python3', **env)
        env.setdefault('MISSING', '')
        result = subprocess.run(
            ['bash', os.path.join(self.root, 'tools', 'setup-host.sh')],
            env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(0, result.returncode, result.stderr)
        with open(self.log) as f:
            return f.read().splitlines()

    def installs(self, log):
        return [line.split()[-1] for line in log if 'install -y' in line]

    def test_python3_venv_is_installed_when_venv_fails(self):
        log = self.run_setup()
        self.assertEqual(['python3-venv'], self.installs(log))
        self.assertIn("pip install -q tox>=4.0", log)
        self.assertTrue(os.path.exists(
            os.path.join(self.root, '.venv', 'bin', 'tox')))

    def test_nothing_is_installed_when_venv_works(self):
        log = self.run_setup(VENV_WORKS='1')
        self.assertEqual([], self.installs(log))
        self.assertIn("pip install -q tox>=4.0", log)

    def test_missing_bindep_packages_are_installed(self):
        log = self.run_setup(VENV_WORKS='1', MISSING='qemu-utils shellcheck')
        installing = [line for line in log if 'install -y' in line]
        self.assertEqual(1, len(installing), log)
        self.assertTrue(installing[0].endswith('qemu-utils shellcheck'),
                        installing[0])

    def test_a_second_run_installs_nothing(self):
        self.run_setup()
        os.remove(self.log)
        open(self.log, 'w').close()
        self.assertEqual([], self.run_setup(MISSING=''))
