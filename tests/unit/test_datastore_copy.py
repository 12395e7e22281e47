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

"""images/datastore_copy.py's choice of fill and vsphere/
datastore_lookup.judge_reach, without vCenter (vcsim tests:
tests/functional/test_driver_glance_datastore.py)."""

from unittest import mock

import fixtures
from pyVmomi import vim
import testtools

from nova_vmware_ext.images import datastore_copy
from nova_vmware_ext.images import fetch
from nova_vmware_ext.images import inspect
from nova_vmware_ext.vsphere import datastore_lookup
from nova_vmware_ext.vsphere import inventory

IMAGE = 'img-1'
URL = ('vsphere://vc/folder/openstack_glance/%s?dcPath=DC0&dsName=ds1'
       % IMAGE)


def host(moid, usable=True):
    return inventory.HostSystem(vim.HostSystem(moid), moid,
                                'connected' if usable else 'disconnected',
                                False)


def datastore(name='ds1', url='ds:///vmfs/volumes/a/', accessible=True):
    return inventory.Datastore(vim.Datastore(name), name, 'VMFS', url,
                               1 << 40, 1 << 39, accessible)


def cluster(hosts, datastores=()):
    return inventory.ClusterInventory(
        datacenter=None, datacenter_name='DC0', datacenter_path='DC0',
        vm_folder=None, cluster=None, cluster_name='C0', resource_pool=None,
        hosts=tuple(hosts), datastores=tuple(datastores), networks=())


def mount(moid, mounted=True, accessible=True):
    return vim.Datastore.HostMount(
        key=vim.HostSystem(moid), mountInfo=vim.host.MountInfo(
            mounted=mounted, accessible=accessible))


class JudgeReachTest(testtools.TestCase):

    def test_mounted_on_a_usable_host_of_the_cluster(self):
        reach = datastore_lookup.judge_reach(
            datastore(), [mount('host-9'), mount('host-1')],
            cluster([host('host-1')]))
        self.assertEqual((True, 'mounted on cluster C0'), reach)

    def test_not_reached(self):
        for mounts, hosts, accessible, why in [
                ([mount('host-9')], [host('host-1')], True,
                 'not mounted on a usable host of cluster C0'),
                ([mount('host-1')], [host('host-1', usable=False)], True,
                 'not mounted'),
                ([mount('host-1', accessible=False)], [host('host-1')],
                 True, 'not mounted'),
                ([mount('host-1', mounted=False)], [host('host-1')], True,
                 'not mounted'),
                ([mount('host-1')], [host('host-1')], False,
                 'not accessible')]:
            reachable, how = datastore_lookup.judge_reach(
                datastore(accessible=accessible), mounts, cluster(hosts))
            self.assertFalse(reachable)
            self.assertIn(why, how)

    def test_the_same_storage_in_another_datacenter(self):
        ours = datastore('local-name', url='ds:///vmfs/volumes/a/')
        reachable, how = datastore_lookup.judge_reach(
            datastore('glance-name'), [mount('host-in-dc1')],
            cluster([host('host-1')], [ours]))
        self.assertTrue(reachable)
        self.assertIn('same storage as datastore local-name', how)


class PlanTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # What the code logs goes with the test's details, not stderr.
        self.useFixture(fixtures.FakeLogger())
        fetcher = mock.Mock()
        fetcher.session.host, fetcher.session.port = 'vc', 443
        self.lookup = mock.Mock()
        self.copier = datastore_copy.DatastoreCopier(fetcher, self.lookup)
        self.http = fetcher.http
        self.locations = mock.Mock(return_value=[URL])

    def source(self, disk_type='thin', disk_format='vmdk', size=1 << 20):
        return fetch.ImageSource(IMAGE, size, disk_type, 'lsiLogic',
                                 lambda: iter(()), disk_format=disk_format,
                                 locations=self.locations)

    def test_glance_is_not_asked_for_images_a_copy_cannot_fill(self):
        for disk_type, disk_format in (('streamOptimized', 'vmdk'),
                                       (None, 'qcow2'), (None, 'iso')):
            self.assertIsNone(self.copier.plan(
                self.source(disk_type, disk_format), inspect.Limits()))
        self.locations.assert_not_called()
        self.lookup.find.assert_not_called()

    def test_a_location_on_another_vcenter_is_not_looked_up(self):
        self.locations.return_value = [URL.replace('//vc/', '//vc2/')]
        self.assertIsNone(self.copier.plan(self.source(), inspect.Limits()))
        self.lookup.find.assert_not_called()

    def test_an_unreached_datastore_is_not_read(self):
        self.lookup.find.return_value = datastore_lookup.FoundDatastore(
            None, 'DC0', datastore(), False, 'not mounted')
        self.assertIsNone(self.copier.plan(self.source(), inspect.Limits()))
        self.http.get_head.assert_not_called()

    def test_a_reached_flat_file_is_judged_by_its_head(self):
        self.lookup.find.return_value = datastore_lookup.FoundDatastore(
            'dc-ref', 'DC0', datastore(), True, 'mounted on cluster C0')
        self.http.get_head.return_value = (1 << 20, b'\0' * (1 << 20))
        plan = self.copier.plan(self.source(), inspect.Limits())
        self.assertEqual(('raw', 1 << 20), (plan.verdict.format,
                                            plan.verdict.virtual_size))
        self.assertEqual('dc-ref', plan.datacenter)
        url, _what, length = self.http.get_head.call_args[0]
        self.assertEqual(inspect.HEAD_BYTES, length)
        self.assertEqual('https://vc/folder/openstack_glance/%s?dcPath=DC0&'
                         'dsName=ds1' % IMAGE, url)

    def test_a_file_of_another_size_is_refused(self):
        self.lookup.find.return_value = datastore_lookup.FoundDatastore(
            'dc-ref', 'DC0', datastore(), True, 'mounted on cluster C0')
        self.http.get_head.return_value = (2 << 20, b'\0' * (1 << 20))
        exc = self.assertRaises(inspect.ImageRefused, self.copier.plan,
                                self.source(), inspect.Limits())
        self.assertIn('holds 2097152 bytes, Glance says 1048576', str(exc))
