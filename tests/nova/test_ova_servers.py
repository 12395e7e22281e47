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

"""Servers from OVA images (container_format ova) through Nova's compute
REST API, with our driver on vcsim: a vSphere-style OVA boots with the
disk controller and guest OS its OVF declares; a hostile one fails the
server with the reason, leaving nothing in vCenter."""

import io
import tarfile

from pyVmomi import vim

from tests.nova import base
from tests.nova import test_servers
from tests import ova_files


def add_ova_image(glance, data, name='ova-image'):
    meta = {'name': name, 'status': 'active', 'container_format': 'ova',
            'disk_format': 'vmdk', 'size': len(data), 'min_ram': 0,
            'min_disk': 0, 'protected': False, 'visibility': 'public',
            'is_public': True, 'tags': [], 'properties': {}}
    return glance.create(None, meta, data=io.BytesIO(data))


class OvaServersTest(test_servers.VcsimServersTestBase):

    CLUSTERS = {'compute': 'DC0_C0'}

    def boot_ova(self, data, expected_status='ACTIVE'):
        image = add_ova_image(self.glance, data)
        flavor_id = self._create_flavor(memory_mb=256, vcpu=1, disk=1,
                                        ephemeral=0)
        if expected_status == 'ACTIVE':
            self.keep_cache_entry(image['id'], flavor_id)
        return image, self._create_server(
            image_uuid=image['id'], flavor_id=flavor_id,
            networks=[{'uuid': test_servers.NETWORK}],
            expected_state=expected_status)

    def test_boot_from_an_ova(self):
        vmdk = base.stream_optimized_vmdk(16)
        image, server = self.boot_ova(ova_files.good_ova(vmdk))
        vm = base.vms_by_instance_uuid(
            self.si, base.VM_PATHS + ('config.guestId',))[server['id']]
        self.assertEqual('poweredOn', vm['runtime.powerState'])
        disk = base.disks(vm)[0]
        self.assertIn('_base/%s/' % image['id'],
                      disk.backing.parent.fileName)
        self.assertEqual(1024 * 1024, disk.capacityInKB)
        self.assertEqual(vmdk, self.datastore_file(
            disk.backing.parent.fileName).content)
        controller = [d for d in vm['config.hardware.device']
                      if d.key == disk.controllerKey][0]
        self.assertIsInstance(controller,
                              vim.vm.device.ParaVirtualSCSIController)
        self.assertEqual('centos8_64Guest', vm['config.guestId'])
        self.assertEqual(vim.vm.device.VirtualVmxnet3,
                         type(base.nics(vm)[0]))
        self._delete_server(server)
        self.assertNotIn(server['id'], self.vms())

    def test_ova_with_a_symlink_fails_the_server(self):
        vmdk = base.stream_optimized_vmdk(16)
        data = ova_files.ova([
            ova_files.member('vm.ovf', ova_files.ovf(size=len(vmdk))),
            ova_files.member('evil', kind=tarfile.SYMTYPE,
                             linkname='/etc/passwd'),
            ova_files.member('vm-disk1.vmdk', vmdk)])
        _image, server = self.boot_ova(data, expected_status='ERROR')
        server = self.api.get_server(server['id'])
        self.assertIn("member 'evil' is a symbolic link",
                      server['fault']['message'])
        self.assertNotIn(server['id'], self.vms())
