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

"""Every third-party module our code imports is a listed requirement.

The driver's imports must be in requirements.txt; the tests', tools' and
benchmarks' in requirements.txt or test-requirements.txt. A module maps to
the distributions that install it through importlib.metadata, so the check
needs the test environment (which has them all) and nothing else.
"""

import ast
import importlib.metadata
import os
import re
import sys

import testtools

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
# Our own top-level packages, and the loader shim's parent (Nova's).
OURS = {'nova_vmware_ext', 'tests', 'bench', 'tools'}


def _normalized(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def _requirements(*files):
    names = set()
    for name in files:
        with open(os.path.join(TOP, name)) as f:
            for line in f:
                match = re.match(r'\s*([A-Za-z0-9][A-Za-z0-9._-]*)', line)
                if match:
                    names.add(_normalized(match.group(1)))
    return names


def _imported(*folders):
    """{top-level module name: first file importing it} (absolute
    imports only).
    """
    found = {}
    for folder in folders:
        for dirpath, _, files in os.walk(os.path.join(TOP, folder)):
            for name in sorted(files):
                if not name.endswith('.py'):
                    continue
                path = os.path.join(dirpath, name)
                with open(path) as f:
                    tree = ast.parse(f.read(), path)
                for node in ast.walk(tree):
                    if isinstance(node, ast.Import):
                        modules = [alias.name for alias in node.names]
                    elif isinstance(node, ast.ImportFrom) and not node.level:
                        modules = [node.module]
                    else:
                        continue
                    for module in modules:
                        found.setdefault(module.split('.')[0],
                                         os.path.relpath(path, TOP))
    return found


def _unlisted(imported, listed):
    """[(module, distributions, file)] of imports no listed requirement
    provides.
    """
    providers = importlib.metadata.packages_distributions()
    missing = []
    for module, path in sorted(imported.items()):
        if module in sys.stdlib_module_names or module in OURS:
            continue
        dists = {_normalized(d) for d in providers.get(module, ())}
        if not dists & listed:
            missing.append((module, sorted(dists) or ['?'], path))
    return missing


class RequirementsTest(testtools.TestCase):

    def test_the_driver_imports_only_runtime_requirements(self):
        listed = _requirements('requirements.txt')
        self.assertEqual(
            [], _unlisted(_imported('nova_vmware_ext', 'nova'), listed))

    def test_tests_and_tools_import_only_listed_requirements(self):
        listed = _requirements('requirements.txt', 'test-requirements.txt')
        self.assertEqual(
            [], _unlisted(_imported('tests', 'tools', 'bench'), listed))

    def test_an_unlisted_import_is_reported(self):
        listed = _requirements('requirements.txt')
        listed.discard('os-resource-classes')
        self.assertEqual(
            [('os_resource_classes', ['os-resource-classes'],
              'nova_vmware_ext/compute/resources.py')],
            _unlisted(_imported('nova_vmware_ext'), listed))
