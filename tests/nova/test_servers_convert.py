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

"""A server booted through Nova's compute REST API from a qcow2 image,
which the driver converts to a VMDK in the image cache (vcsim).

The scheduler asks Placement for the image type's trait
(``[scheduler] query_placement_for_image_type_support``), as README tells
operators to configure it: a format the driver does not report lands on
no host.
"""

import io
import os
import subprocess
import tempfile

from tests.nova import base
from tests.nova import test_servers

MiB = 1024 * 1024


def qcow2_image(size_mb=16):
    """A real qcow2 of ``size_mb`` virtual MiB with a pattern at its
    start (qemu-img)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, 'disk.raw')
        with open(raw, 'wb') as f:
            f.write(b'nova-vmware-ext ' * 4096)
            f.truncate(size_mb * MiB)
        out = os.path.join(tmp, 'disk.qcow2')
        subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O',
                        'qcow2', raw, out], check=True,
                       stdin=subprocess.DEVNULL)
        with open(out, 'rb') as f:
            return f.read()


class ConvertedImageServersTest(test_servers.VcsimServersTestBase):

    def setUp(self):
        super().setUp()
        self.flags(query_placement_for_image_type_support=True,
                   group='scheduler')

    def add_image(self, disk_format, data, virtual_mb):
        meta = {'name': '%s-image' % disk_format, 'status': 'active',
                'container_format': 'bare', 'disk_format': disk_format,
                'size': len(data), 'virtual_size': virtual_mb * MiB,
                'min_ram': 0, 'min_disk': 0, 'protected': False,
                'visibility': 'public', 'is_public': True, 'tags': [],
                'properties': {'vmware_adaptertype': 'lsiLogic',
                               'vmware_ostype': 'otherLinux64Guest'}}
        return self.glance.create(None, meta, data=io.BytesIO(data))

    def test_boot_from_qcow2(self):
        image = self.add_image('qcow2', qcow2_image(16), 16)
        flavor_id = self._create_flavor(memory_mb=256, vcpu=1, disk=0,
                                        ephemeral=0)
        self.keep_cache_entry(image['id'], flavor_id)
        server = self._create_server(image_uuid=image['id'],
                                     flavor_id=flavor_id, networks='none')
        self.assertEqual('ACTIVE', server['status'])
        vm = self.vms()[server['id']]
        self.assertEqual('poweredOn', vm['runtime.powerState'])
        disks = base.disks(vm)
        self.assertEqual([16 * 1024], [d.capacityInKB for d in disks])
        # A linked clone of the converted disk in the image cache.
        parent = disks[0].backing.parent.fileName
        self.assertRegex(parent, r'^\[[^]]+\] [0-9.]*_base/%s/%s\.vmdk$'
                         % (image['id'], image['id']))
        self.assertEqual(200, self.datastore_file(parent).status_code)
        self._delete_server(server)
        self.assertNotIn(server['id'], self.vms())

    def test_format_without_the_trait_lands_nowhere(self):
        image = self.add_image('ploop', b'\0' * MiB, 1)
        flavor_id = self._create_flavor(memory_mb=256, vcpu=1, disk=1,
                                        ephemeral=0)
        server = self._create_server(image_uuid=image['id'],
                                     flavor_id=flavor_id, networks='none',
                                     expected_state='ERROR')
        self.assertIn('No valid host', server['fault']['message'])
        self.assertNotIn(server['id'], self.vms())
        self._delete_server(server)
