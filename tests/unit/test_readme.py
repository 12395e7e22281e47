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

"""README's table of ComputeDriver operations says what the classes do."""

import inspect
import os
import re

from nova.virt import driver
from nova.virt.vmwareapi import driver as intree_driver
import testtools

from nova_vmware_ext import driver as our_driver

README = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'README.md')
_ROW = re.compile(r'^\| `(?P<name>\w+)` \| (?P<ours>[^|]+) \| '
                  r'(?P<intree>[^|]+) \|$')


def _table():
    with open(README) as f:
        rows = [_ROW.match(line.strip()) for line in f]
    return {m.group('name'): (m.group('ours'), m.group('intree'))
            for m in rows if m}


def _implemented(cls):
    """ComputeDriver methods ``cls`` defines itself and does not refuse."""
    found = set()
    for name, _ in inspect.getmembers(driver.ComputeDriver,
                                      inspect.isfunction):
        method = cls.__dict__.get(name)
        if name.startswith('_') or method is None:
            continue
        source = inspect.getsource(method)
        if 'raise NotImplementedError' not in source:
            found.add(name)
    return found


class ReadmeOperationsTest(testtools.TestCase):

    def test_our_column_is_what_vcdriver_implements(self):
        table = _table()
        said = {name for name, (ours, _) in table.items()
                if ours.startswith('yes')}
        self.assertEqual(_implemented(our_driver.VCDriver), said)

    def test_in_tree_column_is_what_vmwareapi_implements(self):
        table = _table()
        said = {name for name, (_, intree) in table.items()
                if intree.startswith('yes')}
        implemented = _implemented(intree_driver.VMwareVCDriver)
        # pause/unpause delegate to vmops, which refuses them.
        implemented -= {'pause', 'unpause'}
        # Nova's default get_num_instances counts list_instances.
        implemented.add('get_num_instances')
        self.assertEqual(implemented, said)
