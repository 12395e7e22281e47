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

"""Property retrieval through ContainerView with paging, against vcsim."""

import math

from pyVmomi import vim

from nova_vmware_ext.vsphere import props
from tests.functional import base


class PagingTest(base.VcsimTestCase):

    # 1 cluster x 2,500 VMs in its root resource pool.
    VCSIM_SHAPE = dict(hosts=2, vms=2500, portgroups=0)
    PAGE = 1000

    def test_reads_2500_vms_in_pages(self):
        with self.session.calls.scope() as scope:
            vms = props.retrieve_all(
                self.session,
                {vim.VirtualMachine: ['name', 'config.instanceUuid',
                                      'runtime.powerState']},
                page_size=self.PAGE)
        self.assertEqual(2500, len(vms))
        expected = self.query(vim.VirtualMachine, ['config.instanceUuid'])
        self.assertEqual(set(expected), {vm['obj']._moId for vm in vms})
        for vm in vms:
            self.assertEqual(expected[vm['obj']._moId]['config.instanceUuid'],
                             vm['config.instanceUuid'])
            self.assertIsInstance(vm['obj'], vim.VirtualMachine)
        self.assertEqual(1, scope.by_method['RetrievePropertiesEx'])
        self.assertEqual(math.ceil(2500 / self.PAGE) - 1,
                         scope.by_method['ContinueRetrievePropertiesEx'])
        self.assertEqual(1, scope.by_method['CreateContainerView'])
        self.assertEqual(1, scope.by_method['DestroyView'])

    def test_container_view_is_reused(self):
        view = props.ContainerView(self.session,
                                   self.session.content.rootFolder,
                                   [vim.HostSystem])
        self.addCleanup(view.destroy)
        with self.session.calls.scope() as scope:
            first = view.retrieve({vim.HostSystem: ['name']})
            second = view.retrieve({vim.HostSystem: ['name']})
        self.assertEqual(2, len(first))
        self.assertEqual(first, second)
        self.assertEqual({'RetrievePropertiesEx': 2}, dict(scope.by_method))

    def test_retrieve_objects_of_several_types_in_one_call(self):
        hosts = self.query(vim.HostSystem, ['name'])
        stores = self.query(vim.Datastore, ['name'])
        refs = ([self.session.mo('HostSystem', m) for m in hosts] +
                [self.session.mo('Datastore', m) for m in stores])
        with self.session.calls.scope() as scope:
            items = props.retrieve_objects(
                self.session, refs, {vim.HostSystem: ['name'],
                                     vim.Datastore: ['summary.capacity']})
        self.assertEqual(1, scope.total)
        by_id = {i['obj']._moId: i for i in items}
        for moid, found in hosts.items():
            self.assertEqual(found['name'], by_id[moid]['name'])
        for moid in stores:
            self.assertGreater(by_id[moid]['summary.capacity'], 0)

    def test_unset_property_is_absent_not_an_error(self):
        vms = self.query(vim.VirtualMachine, ['name'])
        vm = self.session.mo('VirtualMachine', sorted(vms)[0])
        item = props.retrieve_one(self.session, vm,
                                  ['name', 'config.annotation'])
        self.assertEqual(vms[vm._moId]['name'], item['name'])
        self.assertIn(item.get('config.annotation'), (None, ''))
