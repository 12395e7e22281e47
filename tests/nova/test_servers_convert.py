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


def qcow2_image(size_mb=16, qemu_format='qcow2'):
    """A real qcow2 (or another qemu-img format) of ``size_mb`` virtual
    MiB with a pattern at its start (qemu-img)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, 'disk.raw')
        with open(raw, 'wb') as f:
            f.write(b'nova-vmware-ext ' * 4096)
            f.truncate(size_mb * MiB)
        if qemu_format == 'raw':
            with open(raw, 'rb') as f:
                return f.read()
        out = os.path.join(tmp, 'disk.out')
        subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O',
                        qemu_format, raw, out], check=True,
                       stdin=subprocess.DEVNULL)
        with open(out, 'rb') as f:
            return f.read()


class ConvertedImageServersTest(test_servers.VcsimServersTestBase):

    def setUp(self):
        super().setUp()
        self.flags(query_placement_for_image_type_support=True,
                   group='scheduler')

    def add_image(self, disk_format, data, virtual_size):
        meta = {'name': '%s-image' % disk_format, 'status': 'active',
                'container_format': 'bare', 'disk_format': disk_format,
                'size': len(data), 'virtual_size': virtual_size,
                'min_ram': 0, 'min_disk': 0, 'protected': False,
                'visibility': 'public', 'is_public': True, 'tags': [],
                'properties': {'vmware_adaptertype': 'lsiLogic',
                               'vmware_ostype': 'otherLinux64Guest'}}
        return self.glance.create(None, meta, data=io.BytesIO(data))

    def test_boot_from_qcow2(self):
        self.boot_and_delete('qcow2', qcow2_image(16), 16 * MiB)

    def test_boot_from_raw_vhd_vhdx_vdi(self):
        # One server each, in turn, on one compute (the scheduler finds
        # each format's trait on it).
        for disk_format, qemu_format in (('raw', 'raw'), ('vhd', 'vpc'),
                                         ('vhdx', 'vhdx'), ('vdi', 'vdi')):
            data = qcow2_image(8, qemu_format)
            # A VHD's disk is 8 MiB rounded to its CHS geometry: its
            # footer's current size.
            size = (int.from_bytes(data[-512 + 48:-512 + 56], 'big')
                    if disk_format == 'vhd' else 8 * MiB)
            self.boot_and_delete(disk_format, data, size)

    def boot_and_delete(self, disk_format, data, virtual_size):
        """Boot a server from the image through the REST API, check its
        VM is a linked clone of the converted cache entry, delete it."""
        image = self.add_image(disk_format, data, virtual_size)
        flavor_id = self._create_flavor(memory_mb=256, vcpu=1, disk=0,
                                        ephemeral=0)
        self.keep_cache_entry(image['id'], flavor_id)
        server = self._create_server(image_uuid=image['id'],
                                     flavor_id=flavor_id, networks='none')
        self.assertEqual('ACTIVE', server['status'], disk_format)
        vm = self.vms()[server['id']]
        self.assertEqual('poweredOn', vm['runtime.powerState'])
        disks = base.disks(vm)
        self.assertEqual([virtual_size // 1024],
                         [d.capacityInKB for d in disks])
        # A linked clone of the converted disk in the image cache.
        parent = disks[0].backing.parent.fileName
        self.assertRegex(parent, r'^\[[^]]+\] [0-9.]*_base/%s/%s\.vmdk$'
                         % (image['id'], image['id']))
        self.assertEqual(200, self.datastore_file(parent).status_code)
        self._delete_server(server)
        self.assertNotIn(server['id'], self.vms())

    def test_format_without_the_trait_lands_nowhere(self):
        image = self.add_image('ploop', b'\0' * MiB, MiB)
        flavor_id = self._create_flavor(memory_mb=256, vcpu=1, disk=1,
                                        ephemeral=0)
        server = self._create_server(image_uuid=image['id'],
                                     flavor_id=flavor_id, networks='none',
                                     expected_state='ERROR')
        self.assertIn('No valid host', server['fault']['message'])
        self.assertNotIn(server['id'], self.vms())
        self._delete_server(server)
