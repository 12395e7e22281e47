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

"""Test packages: unit, functional and nova.

Discovery from ``tests/`` (stestr's default) collects ``tests.unit`` and
``tests.functional`` only. ``tests.nova`` runs Nova's own harnesses, which
choose eventlet or native threads for the whole process when first
imported, so it runs in processes of its own:
``stestr --test-path ./tests/nova run`` (see ``tools/test_suites.py``).
"""

import os
import warnings

# eventlet says it is deprecated when a library under Nova first imports it
# (futurist, nova.monkey_patch): an eight-line block in each test process,
# about a dependency we do not choose. Every other warning still shows.
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
# oslo.vmware's image transfers (rw_handles, under glance_store and our NFC
# tests) still call urllib3's deprecated HTTPSConnection.set_cert(): one
# FutureWarning block per process, about code we do not own. Only that call
# from that module is silenced; set_cert() called from anywhere else shows.
warnings.filterwarnings(
    'ignore', message=r'HTTPSConnection\.set_cert\(\) is deprecated',
    category=FutureWarning, module=r'oslo_vmware\.rw_handles$')

_HERE = os.path.dirname(os.path.abspath(__file__))
_DISCOVERED_HERE = ('unit', 'functional')


def load_tests(loader, tests, pattern):
    top = os.path.dirname(_HERE)
    for name in _DISCOVERED_HERE:
        tests.addTests(loader.discover(os.path.join(_HERE, name),
                                       pattern=pattern or 'test*.py',
                                       top_level_dir=top))
    return tests
