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

"""Diagnostics through VCDriver against vcsim, checked against the VM."""

from nova.network import model as network_model
from oslo_serialization import jsonutils
from oslo_utils import uuidutils
from pyVmomi import vim

from tests.functional import test_driver_spawn


class DiagnosticsTest(test_driver_spawn.SpawnTestBase):

    def _running(self, **kwargs):
        vif = network_model.VIF(
            id=uuidutils.generate_uuid(), address='fa:16:3e:00:00:07',
            type='dvs', details={'dvs_port_group_name': 'DC0_DVPG0'},
            network=network_model.Network(id='net-1', bridge='DC0_DVPG0',
                                          label='private'))
        instance = self.make_instance(**kwargs)
        self.spawn(instance, self.flat,
                   network_info=network_model.NetworkInfo([vif]))
        return instance

    def test_instance_diagnostics_describe_the_vm(self):
        instance = self._running(vcpus=2, memory_mb=256)
        vm = self.vm(instance)
        devices = vm['config.hardware.device']
        diags = self.driver.get_instance_diagnostics(instance)
        self.assertEqual('running', diags.state)
        self.assertEqual('vmwareapi', diags.driver)
        self.assertEqual('esxi', diags.hypervisor_os)
        self.assertFalse(diags.config_drive)
        self.assertEqual(256, diags.memory_details.maximum)
        self.assertEqual(2, diags.num_cpus)
        self.assertEqual([0, 1], [c.id for c in diags.cpu_details])
        macs = [d.macAddress for d in devices
                if isinstance(d, vim.vm.device.VirtualEthernetCard)]
        self.assertEqual(['fa:16:3e:00:00:07'], macs)
        self.assertEqual(macs, [n.mac_address for n in diags.nic_details])
        disks = [d for d in devices
                 if isinstance(d, vim.vm.device.VirtualDisk)]
        self.assertEqual(len(disks), diags.num_disks)
        self.assertGreaterEqual(diags.uptime, 0)
        self.assertLess(diags.uptime, 600)

    def test_stopped_instance(self):
        instance = self._running()
        self.driver.power_off(instance)
        diags = self.driver.get_instance_diagnostics(instance)
        self.assertEqual('shutdown', diags.state)
        self.assertEqual(0, diags.uptime)

    def test_legacy_diagnostics(self):
        instance = self._running(memory_mb=192)
        diags = self.driver.get_diagnostics(instance)
        self.assertEqual(192, diags['vmware:memorySizeMB'])
        self.assertEqual('poweredOn', diags['vmware:powerState'])
        self.assertEqual(instance.uuid, diags['vmware:instanceUuid'])
        self.assertTrue(all(k.startswith('vmware:') for k in diags))
        self.assertTrue(all(isinstance(v, (str, int, float, bool))
                            for v in diags.values()))

    def test_disk_info_lists_the_vms_disks(self):
        instance = self._running()
        devices = self.vm(instance)['config.hardware.device']
        disks = [d for d in devices
                 if isinstance(d, vim.vm.device.VirtualDisk)]
        info = jsonutils.loads(self.driver.get_instance_disk_info(instance))
        self.assertEqual([d.backing.fileName for d in disks],
                         [i['path'] for i in info])
        self.assertEqual([d.capacityInKB * 1024 for d in disks],
                         [i['virt_disk_size'] for i in info])
        parents = [d.backing.parent.fileName if d.backing.parent else ''
                   for d in disks]
        self.assertEqual(parents, [i['backing_file'] for i in info])
        # The root disk is a linked clone of the cached image.
        self.assertIn('_base/', info[0]['backing_file'])
