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

"""Live migration's pure decisions (the vSphere side: tests/functional)."""

from unittest import mock

import fixtures
from nova import exception
from nova.network import model as network_model
from nova import objects
import testtools

from nova_vmware_ext.compute import live_migration as lm
from nova_vmware_ext.compute import nodes
from nova_vmware_ext.vsphere import inventory as vinventory

objects.register_all()

NODE = 'domain-c7.vc-uuid-1'
UUID = '6c5e8a34-7d1f-4f4e-9b0a-0123456789ab'


def datastore(moid, free):
    return vinventory.Datastore(ref=mock.Mock(_moId=moid), name=moid,
                                type='VMFS', url='', capacity=100,
                                free_space=free, accessible=True)


def vif(port_id, portgroup):
    return network_model.VIF(
        id=port_id, address='00:50:56:00:00:01', type='dvs',
        details={'dvs_port_group_name': portgroup},
        network=network_model.Network(id='net', bridge=portgroup))


class NodeTest(testtools.TestCase):

    def test_split_node(self):
        self.assertEqual(('domain-c7', 'vc-uuid-1'), nodes.split_node(NODE))
        for bad in (None, '', 'compute-1', '.uuid', 'domain-c7.'):
            self.assertEqual((None, None), nodes.split_node(bad), bad)


class DecisionsTest(testtools.TestCase):

    def test_datastore_kept_when_allowed(self):
        allowed = [datastore('ds-1', 10), datastore('ds-2', 50)]
        self.assertIsNone(lm._pick_datastore({'ds-1'}, allowed))

    def test_datastore_with_most_free_space_otherwise(self):
        allowed = [datastore('ds-1', 10), datastore('ds-2', 50)]
        self.assertEqual('ds-2', lm._pick_datastore({'ds-0'}, allowed).name)
        self.assertEqual('ds-2', lm._pick_datastore({'ds-0', 'ds-1'},
                                                    allowed).name)

    def test_destination_bindings_replace_the_source_s(self):
        source = [vif('p1', 'pg-src'), vif('p2', 'pg-src')]
        data = objects.VMwareLiveMigrateData(cluster_name='c',
                                             datastore_regex='')
        data.vifs = [objects.VIFMigrateData(
            port_id='p1', vnic_type='normal', vif_type='dvs',
            vif_details={'dvs_port_group_name': 'pg-dest'}, profile={},
            host='dest', source_vif=source[0])]
        found = lm._destination_vifs(source, data)
        self.assertEqual(['pg-dest', 'pg-src'],
                         [v['details']['dvs_port_group_name'] for v in found])
        del data.vifs
        self.assertEqual(source, lm._destination_vifs(source, data))


class ProgressTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # What the code logs goes with the test's details, not stderr.
        self.useFixture(fixtures.FakeLogger())

    def test_bytes_follow_the_percentage(self):
        instance, migration = mock.Mock(), mock.Mock()
        progress = lm._Progress(instance, migration, memory=1000, disks=0)
        progress(30)
        self.assertEqual(30, instance.progress)
        self.assertEqual((1000, 300, 700), (
            migration.memory_total, migration.memory_processed,
            migration.memory_remaining))
        # Nothing counted is null, as Nova's API shows it.
        self.assertEqual((None, None, None), (
            migration.disk_total, migration.disk_processed,
            migration.disk_remaining))
        progress(100)
        self.assertIsNone(migration.memory_remaining)
        self.assertEqual(2, instance.save.call_count)
        self.assertEqual(2, migration.save.call_count)

    def test_a_failed_save_does_not_stop_the_migration(self):
        instance = mock.Mock()
        instance.save.side_effect = exception.InstanceNotFound(
            instance_id=UUID)
        lm._Progress(instance, None, memory=1, disks=1)(50)
        self.assertEqual(50, instance.progress)


class OpsTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # What the code logs goes with the test's details, not stderr.
        self.useFixture(fixtures.FakeLogger())
        self.inventory = mock.Mock(cluster_name='DC0_C1')
        self.session = mock.Mock()
        self.ops = lm.LiveMigrationOps(
            self.session, mock.Mock(), self.inventory, mock.Mock(),
            'domain-c9.vc-uuid-1', datastore_regex=None)
        self.instance = objects.Instance(uuid=UUID)

    def test_destination_data_is_nova_s(self):
        data = self.ops.check_destination(self.instance,
                                          {'hypervisor_hostname': NODE})
        self.assertIsInstance(data, objects.VMwareLiveMigrateData)
        self.assertEqual(('DC0_C1', ''), (data.cluster_name,
                                          data.datastore_regex))

    def test_other_vcenter_and_same_cluster_are_refused(self):
        for node, words in (('domain-c7.vc-uuid-2', 'between vCenters'),
                            ('compute-1', 'between vCenters'),
                            ('domain-c9.vc-uuid-1', 'already in cluster')):
            raised = self.assertRaises(
                exception.MigrationPreCheckError,
                self.ops.check_destination, self.instance,
                {'hypervisor_hostname': node})
            self.assertIn(words, raised.format_message())

    def test_source_refuses_volumes_and_foreign_data(self):
        data = objects.VMwareLiveMigrateData(cluster_name='DC0_C1',
                                             datastore_regex='')
        raised = self.assertRaises(
            exception.MigrationPreCheckError, self.ops.check_source,
            self.instance, data, {'block_device_mapping': [{}]})
        self.assertIn('volumes', raised.format_message())
        raised = self.assertRaises(
            exception.MigrationPreCheckError, self.ops.check_source,
            self.instance, objects.LibvirtLiveMigrateData(), None)
        self.assertIn('LibvirtLiveMigrateData', raised.format_message())
        self.session.assert_not_called()

    def test_foreign_data_is_not_implemented_and_touches_nothing(self):
        post, recover = mock.Mock(), mock.Mock()
        self.assertRaises(NotImplementedError, self.ops.live_migrate, None,
                          self.instance, 'dest', post, recover, False,
                          objects.LibvirtLiveMigrateData())
        post.assert_not_called()
        recover.assert_not_called()
        self.assertEqual([], self.session.mock_calls)

    def test_failure_recovers_cancel_recovers_as_cancelled(self):
        data = objects.VMwareLiveMigrateData(cluster_name='DC0_C1',
                                             datastore_regex='')
        for fault, kwargs in ((RuntimeError('boom'), {}),
                              (lm._Cancelled(),
                               {'migration_status': 'cancelled'})):
            post, recover = mock.Mock(), mock.Mock()
            with mock.patch.object(self.ops, '_relocate', side_effect=fault):
                self.ops.live_migrate('ctx', self.instance, 'dest', post,
                                      recover, False, data)
            post.assert_not_called()
            recover.assert_called_once_with('ctx', self.instance, 'dest',
                                            data, **kwargs)

    def test_abort_without_a_running_vmotion_does_nothing(self):
        self.ops.abort(self.instance)
        self.assertEqual([], self.session.mock_calls)
