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

"""Bad flavor, image and NIC input is refused before spawn calls vCenter;
options the driver does not act on are named at start-up.

Each refused spawn is counted at the driver's one door to vCenter: zero SOAP
calls, no login, no Glance download (so no datastore upload either), and an
independent query sees the same VMs as before.
"""

import fixtures
from nova import exception
from nova import objects
from pyVmomi import vim

from tests.functional import test_driver_spawn

MiB = 1024 * 1024


class SpawnRefusedTest(test_driver_spawn.SpawnTestBase):

    VCSIM_SHAPE = dict(hosts=2, datastores=1, portgroups=1)

    def cluster_versions(self):
        """Hardware versions the cluster can create, asked independently."""
        clusters = self.query(vim.ClusterComputeResource,
                              ['name', 'environmentBrowser'])
        browser = [c['environmentBrowser'] for c in clusters.values()
                   if c['name'] == self.CLUSTER][0]
        return {d.key for d in browser.QueryConfigOptionDescriptor()
                if d.createSupported}

    def assert_refused(self, error, instance, image, network_info=(),
                       *expected):
        before = set(self.query(vim.VirtualMachine, ['name']))
        with self.session.calls.scope() as scope:
            exc = self.assertRaises(error, self.driver.spawn, self.context,
                                    instance, image, [], None, {},
                                    list(network_info))
        self.assertEqual((0, 0), (scope.total, scope.login),
                         dict(scope.by_method))
        self.assertEqual(0, self.images.downloads[image.id])
        self.assertEqual(before, set(self.query(vim.VirtualMachine,
                                                ['name'])))
        for text in expected:
            self.assertIn(text, str(exc))
        return exc

    def test_driver_reads_the_clusters_hardware_versions(self):
        versions = self.cluster_versions()
        self.assertIn('vmx-13', versions)
        self.assertEqual(versions, self.driver._host.hw_versions.get())

    def test_versions_are_read_again_after_an_inventory_refresh(self):
        versions = self.driver._host.hw_versions
        with self.session.calls.scope() as cached:
            self.assertEqual(self.cluster_versions(), versions.get())
        self.assertEqual(0, cached.total)
        self.driver._host.inventory.refresh()
        with self.session.calls.scope() as reread:
            self.assertEqual(self.cluster_versions(), versions.get())
            versions.get()
        self.assertEqual(1, reread.by_method['QueryConfigOptionDescriptor'])

    def test_newest_hw_version_the_cluster_offers_is_used(self):
        newest = max(self.cluster_versions(),
                     key=lambda key: int(key.split('-')[1]))
        instance = self.make_instance(vcpus=4, extra_specs={
            'vmware:hw_version': newest, 'hw:cpu_sockets': '2',
            'hw:cpu_policy': 'shared'})
        self.spawn(instance, self.flat, power_on=False)
        vm = self.vm_of(instance.uuid, ['config.version',
                                        'config.hardware.numCoresPerSocket'])
        self.assertEqual((newest, 2), (
            vm['config.version'], vm['config.hardware.numCoresPerSocket']))

    def test_hw_version_the_cluster_cannot_create(self):
        instance = self.make_instance(extra_specs={
            'vmware:hw_version': 'vmx-999'})
        exc = self.assert_refused(exception.InvalidInput, instance,
                                  self.flat, (), "'vmx-999'", 'allowed: ')
        for version in self.cluster_versions():
            self.assertIn(version, str(exc))

    def test_topology_nova_cannot_honour(self):
        instance = self.make_instance(vcpus=4, extra_specs={
            'hw:cpu_cores': '3'})
        self.assert_refused(exception.InvalidInput, instance, self.flat, (),
                            'hw:cpu_cores=3', '4 vCPUs')

    def test_threads(self):
        instance = self.make_instance(vcpus=4, extra_specs={
            'hw:cpu_threads': '2'})
        self.assert_refused(exception.InvalidInput, instance, self.flat, (),
                            'hw:cpu_threads=2')

    def test_nic_binding_the_driver_cannot_plug(self):
        vif = {'id': 'port-1', 'address': 'fa:16:3e:00:00:01',
               'type': 'bridge', 'network': {'bridge': 'br0'}}
        self.assert_refused(exception.InvalidInput, self.make_instance(),
                            self.flat, [vif], "vif type 'bridge'")
        sriov = dict(vif, type='dvs', vnic_type='direct')
        self.assert_refused(exception.InvalidInput, self.make_instance(),
                            self.flat, [sriov], "vnic_type 'direct'")

    def test_vif_model(self):
        image = self.images.add(b'\0' * MiB, vmware_disktype='preallocated',
                                hw_vif_model='virtio')
        self.assert_refused(exception.ImageUnacceptable,
                            self.make_instance(), image, (),
                            'hw_vif_model', "'virtio'")

    def test_video_ram_above_the_flavor_maximum(self):
        image = self.images.add(b'\0' * MiB, vmware_disktype='preallocated',
                                hw_video_ram=64)
        instance = self.make_instance(extra_specs={
            'hw_video:ram_max_mb': '16'})
        self.assert_refused(exception.RequestedVRamTooHigh, instance, image)

    def test_root_disk_smaller_than_glance_virtual_size(self):
        image = self.images.add(b'\0' * MiB,
                                vmware_disktype='streamOptimized')
        image = objects.ImageMeta.from_dict(dict(
            image.obj_to_primitive()['nova_object.data'],
            virtual_size=3 * 1024 * MiB))
        self.assert_refused(exception.FlavorDiskSmallerThanImage,
                            self.make_instance(root_gb=1), image)

    def test_extra_specs_the_driver_cannot_honour(self):
        instance = self.make_instance(extra_specs={
            'hw:numa_nodes': '2', 'hw:cpu_realtime': 'yes',
            'quota:cpu_limit': '100'})
        exc = self.assert_refused(exception.InvalidInput, instance,
                                  self.flat, (), 'hw:cpu_realtime',
                                  'hw:numa_nodes')
        self.assertNotIn('quota:cpu_limit=', str(exc))

    def test_guest_id_vsphere_does_not_know(self):
        image = self.images.add(b'\0' * MiB, vmware_disktype='preallocated',
                                vmware_ostype='ubuntu99Guest')
        self.assert_refused(exception.ImageUnacceptable,
                            self.make_instance(), image, (),
                            "'ubuntu99Guest'")


class UnactedOptionsTest(test_driver_spawn.SpawnTestBase):
    """init_host names each option it will not act on."""

    VCSIM_SHAPE = dict(hosts=1, datastores=1)

    def test_options_set_but_not_acted_on_are_warned_about(self):
        logger = self.useFixture(fixtures.FakeLogger(
            name='nova_vmware_ext'))
        self.flags.config(group='vmware', maximum_objects=50,
                          pbm_wsdl_location='file:///pbm.wsdl',
                          serial_port_service_uri='vspc.example.org')
        self.restart_driver()
        self.assertIn('[vmware] maximum_objects is set', logger.output)
        self.assertIn('[vmware] pbm_wsdl_location is set', logger.output)
        # Acted on (consoles).
        self.assertNotIn('serial_port_service_uri', logger.output)
        # The driver still starts and works with them set.
        self.assertEqual(1, len(self.driver.get_available_nodes()))
