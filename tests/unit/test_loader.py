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

"""Nova's own loader finds our driver in an installed (non-editable) build."""

import json
import os
import subprocess
import sys

import testtools

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

_PROBE = r'''
import importlib.metadata, json, os
import nova, nova.virt
from nova.virt import driver, fake
import nova_vmware_ext
drv = driver.load_compute_driver(fake.FakeVirtAPI(),
                                 'vmware_ext.driver.VCDriver')
import nova.virt.vmware_ext.driver as shim
files = [str(f) for f in importlib.metadata.files('nova-vmware-ext')]
print(json.dumps({
    'class': type(drv).__module__ + '.' + type(drv).__name__,
    'is_compute_driver': isinstance(drv, driver.ComputeDriver),
    'shim': shim.__file__,
    'package': nova_vmware_ext.__file__,
    'nova': nova.__file__,
    'nova_virt': nova.virt.__file__,
    'in_tree_vmware': os.path.isdir(os.path.join(
        os.path.dirname(nova.virt.__file__), 'vmwareapi')),
    'dist_files': files,
}))
'''


class LoaderTest(testtools.TestCase):

    def test_load_compute_driver_from_installed_build(self):
        # Run outside the source tree so only the installed build is seen.
        env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
        proc = subprocess.run(
            [sys.executable, '-c', _PROBE], cwd='/', env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            timeout=120)
        self.assertEqual(0, proc.returncode, proc.stderr[-3000:])
        found = json.loads(proc.stdout.strip().splitlines()[-1])
        self.assertEqual('nova_vmware_ext.driver.VCDriver', found['class'])
        self.assertTrue(found['is_compute_driver'])
        source = tuple(os.path.join(TOP, d) + os.sep
                       for d in ('nova', 'nova_vmware_ext'))
        for key in ('shim', 'package', 'nova'):
            self.assertFalse(found[key].startswith(source),
                             '%s imported from the source tree: %s'
                             % (key, found[key]))
            self.assertIn('site-packages', found[key])
        # Nova is intact: its own package files, its in-tree drivers.
        self.assertTrue(found['in_tree_vmware'])
        self.assertEqual(os.path.dirname(found['nova']),
                         os.path.dirname(os.path.dirname(found['shim']))
                         .rsplit(os.sep, 1)[0])
        # We ship only nova/virt/vmware_ext below nova/.
        nova_files = [f for f in found['dist_files']
                      if f.startswith('nova/')]
        self.assertTrue(nova_files)
        for name in nova_files:
            self.assertTrue(name.startswith('nova/virt/vmware_ext/'), name)
