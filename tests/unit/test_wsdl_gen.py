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

"""tools/vcsim/wsdl_gen.py: the vim WSDL covers what pyVmomi knows.

A pyVmomi or oslo.vmware bump that loses methods the neighbours call
(oslo.vmware users: Cinder, glance_store, Nova's in-tree driver) fails here.
"""

import importlib.util
import io
import os
import shutil
import tempfile
from xml.etree import ElementTree

import fixtures
from pyVmomi import VmomiSupport
import testtools

from tests import vcsim

WSDL = 'http://schemas.xmlsoap.org/wsdl/'
XSD = 'http://www.w3.org/2001/XMLSchema'

# Managed types whose every method the WSDL must offer.
COVERED = ('vim.VirtualMachine', 'vim.vslm.vcenter.VStorageObjectManager',
           'vim.HttpNfcLease', 'vim.SearchIndex', 'vim.ExtensionManager',
           'vim.vm.Snapshot', 'vim.FileManager', 'vim.VirtualDiskManager',
           'vim.host.DatastoreBrowser', 'vim.SessionManager',
           'vmodl.query.PropertyCollector')


def load_generator():
    spec = importlib.util.spec_from_file_location('wsdl_gen',
                                                  vcsim.WSDL_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pyvmomi_methods(type_name):
    """{wsdl name: method info} of a managed type, inherited ones too."""
    methods = {}
    for cls in VmomiSupport.GetVmodlType(type_name).__mro__:
        for info in getattr(cls, '_methodInfo', {}).values():
            methods.setdefault(info.wsdlName, info)
    return methods


class WsdlGenTest(testtools.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gen = load_generator()
        cls.out = tempfile.mkdtemp(prefix='wsdl-gen-test-')
        cls.skipped = cls.gen.generate(cls.out)
        wsdl = ElementTree.parse(os.path.join(cls.out, 'vim.wsdl'))
        cls.port_ops = {op.get('name') for op in wsdl.getroot().findall(
            '{%s}portType/{%s}operation' % (WSDL, WSDL))}
        cls.binding_ops = {op.get('name') for op in wsdl.getroot().findall(
            '{%s}binding/{%s}operation' % (WSDL, WSDL))}
        messages = ElementTree.parse(
            os.path.join(cls.out, 'vim-messagetypes.xsd'))
        cls.requests = {}
        for node in messages.getroot().findall('{%s}complexType' % XSD):
            cls.requests[node.get('name')] = {
                e.get('name'): e.attrib
                for e in node.iter('{%s}element' % XSD)}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out, ignore_errors=True)
        super().tearDownClass()

    def test_covers_every_method_of_the_types_neighbours_use(self):
        for type_name in COVERED:
            for name, info in pyvmomi_methods(type_name).items():
                self.assertIn(name, self.port_ops, type_name)
                self.assertIn(name, self.binding_ops, type_name)
                params = self.requests[name + 'RequestType']
                self.assertEqual(
                    ['_this'] + [p.name for p in info.params],
                    list(params), name)

    def test_vsphere_65_and_later_methods(self):
        for name in ('CreateDisk_Task', 'AttachDisk_Task',
                     'RetrieveVStorageObject', 'HttpNfcLeasePullFromUrls_Task',
                     'FindAllByUuid', 'RetrievePropertiesEx',
                     'WaitForUpdatesEx', 'AcquireGenericServiceTicket'):
            self.assertIn(name, self.port_ops)
        params = self.requests['RemoveSnapshot_TaskRequestType']
        self.assertEqual({'name': 'consolidate', 'type': 'xsd:boolean',
                          'minOccurs': '0'}, params['consolidate'])
        self.assertEqual('vim25:ManagedObjectReference',
                         params['_this']['type'])

    def test_types_newer_than_the_schemas_are_generated(self):
        # SearchIndex.Query (pyVmomi 9) takes a type the 8.0 schemas lack.
        self.assertIn('Query', self.port_ops)
        spec = self.requests['SearchIndexQuerySpec']
        self.assertEqual('vim25:SearchIndexFilter', spec['filters']['type'])
        self.assertIn('ArrayOfSearchIndexQuerySpec', self.requests)

    def test_only_vsan_methods_left_out(self):
        self.assertNotEqual({}, self.skipped)
        # vSAN methods whose types come from the vSAN SDK's namespace.
        self.assertEqual({}, {name: missing
                              for name, missing in self.skipped.items()
                              if 'vsan' not in (name + missing).lower()})

    def test_output_is_deterministic(self):
        again = self.useFixture(fixtures.TempDir()).path
        self.gen.generate(again)
        for name in os.listdir(self.out):
            with open(os.path.join(self.out, name), 'rb') as a, \
                    open(os.path.join(again, name), 'rb') as b:
                self.assertEqual(a.read(), b.read(), name)

    def test_hash_follows_the_schemas(self):
        schemas = self.useFixture(fixtures.TempDir()).path
        for name in self.gen.SCHEMA_FILES:
            shutil.copy(os.path.join(self.out, name), schemas)
        before = self.gen.inputs_hash(schemas)
        with open(os.path.join(schemas, 'vim-types.xsd'), 'a') as f:
            f.write('\n')
        self.assertNotEqual(before, self.gen.inputs_hash(schemas))

    def test_cached_generates_once(self):
        cache = self.useFixture(fixtures.TempDir()).path
        self.useFixture(fixtures.EnvironmentVariable('VCSIM_CACHE_DIR', cache))
        # Generating lists the methods left out on stderr: kept here.
        stderr = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', stderr))
        first = self.gen.cached()
        self.assertEqual(
            os.path.join(cache, 'wsdl-' + self.gen.inputs_hash()), first)
        stamp = os.stat(os.path.join(first, 'vim.wsdl')).st_mtime_ns
        self.assertEqual(first, self.gen.cached())
        self.assertEqual(
            stamp, os.stat(os.path.join(first, 'vim.wsdl')).st_mtime_ns)
        self.assertEqual([os.path.basename(first)], os.listdir(cache))
        # Reported by the one generation only.
        self.assertEqual(1, stderr.getvalue().count(
            'wsdl_gen: left out %d methods' % len(self.skipped)))
