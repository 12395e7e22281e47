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

"""vcsim's NIC hot-add and removal, as vSphere does them.

A NIC added to a powered-on VM with ReconfigVM_Task joins it at once, and
its network is in the VM's ``network`` property until the NIC goes. For NSX
opaque networks tools/vcsim/vm_nic_networks.go restores that: stock vcsim
0.24.2 adds an empty reference, which makes the property unreadable
(pyVmomi fails it with KeyError ''), and never removes it.
"""

import uuid

from pyVmomi import vim
import testtools

from tests.functional.vcsim_vms import by_name
from tests.functional.vcsim_vms import new_vm
from tests.functional.vcsim_vms import read
from tests.functional.vcsim_vms import reconfigure
from tests.functional.vcsim_vms import wait
from tests import vcsim

Card = vim.vm.device.VirtualEthernetCard


class NicHotPlugTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(hosts=1, datastores=1, portgroups=1,
                       extra_args=('-nsx', '2'))

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.vm = new_vm(self.si, 'nics-%s' % uuid.uuid4().hex[:8],
                         disk_units=(), power_on=True)
        self.addCleanup(self._remove)
        self.opaque = {item['summary'].opaqueNetworkId: moid
                       for moid, item in vcsim.query(
                           self.si, vim.OpaqueNetwork, ['summary']).items()}

    def _remove(self):
        wait(self.si, self.vm.PowerOffVM_Task())
        wait(self.si, self.vm.Destroy_Task())

    def add(self, backing, mac, key=-1):
        reconfigure(self.si, self.vm, deviceChange=[
            vim.vm.device.VirtualDeviceSpec(
                operation='add', device=vim.vm.device.VirtualVmxnet3(
                    key=key, addressType='manual', macAddress=mac,
                    backing=backing))])

    def remove(self, mac):
        device = self.nics()[mac]
        reconfigure(self.si, self.vm, deviceChange=[
            vim.vm.device.VirtualDeviceSpec(operation='remove',
                                            device=device)])

    def nics(self):
        devices = read(self.si, self.vm, ['config.hardware.device'])[
            'config.hardware.device']
        return {d.macAddress: d for d in devices
                if isinstance(d, vim.vm.device.VirtualEthernetCard)}

    def networks(self):
        return sorted(n._moId for n in read(self.si, self.vm, ['network'])
                      .get('network', ()))

    def opaque_backing(self, switch_id):
        return Card.OpaqueNetworkBackingInfo(
            opaqueNetworkId=switch_id, opaqueNetworkType='nsx.LogicalSwitch')

    def test_opaque_nics_come_and_go_with_their_networks(self):
        first, second = sorted(self.opaque)
        self.add(self.opaque_backing(first), 'fa:16:3e:10:00:01')
        self.assertEqual('poweredOn', read(
            self.si, self.vm, ['runtime.powerState'])['runtime.powerState'])
        self.assertEqual(['fa:16:3e:10:00:01'], list(self.nics()))
        self.assertEqual([self.opaque[first]], self.networks())

        # Two NICs on one network: it is listed once, and stays while one
        # of them does.
        self.add(self.opaque_backing(first), 'fa:16:3e:10:00:02', key=-2)
        self.add(self.opaque_backing(second), 'fa:16:3e:10:00:03', key=-3)
        self.assertEqual(sorted([self.opaque[first], self.opaque[second]]),
                         self.networks())
        self.remove('fa:16:3e:10:00:01')
        self.remove('fa:16:3e:10:00:03')
        self.assertEqual([self.opaque[first]], self.networks())
        self.remove('fa:16:3e:10:00:02')
        self.assertEqual({}, self.nics())
        self.assertEqual([], self.networks())

    def test_standard_and_opaque_nics_side_by_side(self):
        network = by_name(self.si, vim.Network, 'VM Network')
        switch = sorted(self.opaque)[0]
        self.add(Card.NetworkBackingInfo(deviceName='VM Network'),
                 'fa:16:3e:10:00:04')
        self.add(self.opaque_backing(switch), 'fa:16:3e:10:00:05', key=-2)
        self.assertEqual(sorted([network._moId, self.opaque[switch]]),
                         self.networks())
        self.remove('fa:16:3e:10:00:05')
        self.assertEqual([network._moId], self.networks())
        self.remove('fa:16:3e:10:00:04')
        self.assertEqual([], self.networks())

    def test_created_with_an_opaque_nic(self):
        switch = sorted(self.opaque)[0]
        dc = self.si.content.rootFolder.childEntity[0]
        pool = read(self.si, by_name(self.si, vim.ClusterComputeResource,
                                     'DC0_C0'), ['resourcePool'])
        vm = wait(self.si, dc.vmFolder.CreateVM_Task(
            config=vim.vm.ConfigSpec(
                name='opaque-%s' % uuid.uuid4().hex[:8],
                guestId='otherGuest64', numCPUs=1, memoryMB=64,
                files=vim.vm.FileInfo(vmPathName='[LocalDS_0]'),
                deviceChange=[vim.vm.device.VirtualDeviceSpec(
                    operation='add', device=vim.vm.device.VirtualE1000(
                        key=-1, addressType='manual',
                        macAddress='fa:16:3e:10:00:06',
                        backing=self.opaque_backing(switch)))]),
            pool=pool['resourcePool']))
        self.addCleanup(lambda: wait(self.si, vm.Destroy_Task()))
        self.assertEqual([self.opaque[switch]],
                         [n._moId for n in read(self.si, vm, ['network'])
                          ['network']])
