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

"""Cinder volumes through Nova's REST API: boot from volume, attach,
extend, detach and delete, checked in vcsim.

Nova's CinderFixture stands in for Cinder's API; the connection_info it
hands nova-compute for each volume is the one Cinder 29's real VMware
drivers made for a backing they created in vcsim (tests/cinder_volumes.py,
a subprocess: Cinder and Nova cannot share a process). Neither driver
needs the instance in its connector here: the boot volume's connector has
none yet (as for any boot from volume), and Cinder's FCD driver reads none.
"""

import time

from pyVmomi import vim

from tests import cinder_volumes
from tests.nova import test_servers
from tests import volume_backings

GiB = 1024 * 1024 * 1024
FCD_VOLUME = '7d6c1a1e-3d43-4a4e-9a43-5f0c1c7f2a01'


class VolumeServersTest(test_servers.VcsimServersTestBase):

    def setUp(self):
        super().setUp()
        self.leaks.keep([volume_backings.FCD_FOLDER])
        # The fixture's class-level table, per test.
        self.cinder.VOLUME_CONNECTION_INFO = dict(
            self.cinder.VOLUME_CONNECTION_INFO)

    def cinder_volumes(self, volumes):
        """Cinder's drivers create ``volumes`` ({volume id: 'vmdk' or
        'fcd'}) and connect them; the fixture then hands out their
        connection_info, returned too."""
        ops = []
        for volume_id, kind in volumes.items():
            ops += [{'driver': kind, 'op': op, 'id': volume_id,
                     'size_gb': 1, 'connector': {}}
                    for op in ('create', 'connect')]
        results = cinder_volumes.run(self.vcsim, ops)
        infos = {}
        for volume_id, info in zip(volumes, results[1::2]):
            self.addCleanup(volume_backings.delete, self.si, info)
            self.cinder.VOLUME_CONNECTION_INFO[volume_id] = info
            infos[volume_id] = info
        return infos

    def boot_from_volume(self, volume_id):
        flavor_id = self._create_flavor(memory_mb=256, vcpu=1, disk=1,
                                        ephemeral=0)
        server = self._build_server(image_uuid='', flavor_id=flavor_id,
                                    networks=[{'uuid': test_servers.NETWORK}])
        server['block_device_mapping_v2'] = [{
            'boot_index': 0, 'uuid': volume_id, 'source_type': 'volume',
            'destination_type': 'volume'}]
        server = self.api.post_server({'server': server})
        return self._wait_for_state_change(server, 'ACTIVE')

    def vm_disks(self, server):
        vm = self.vms()[server['id']]
        return vm, {d.backing.fileName: d for d in vm['config.hardware.device']
                    if isinstance(d, vim.vm.device.VirtualDisk)}

    def wait_for_capacity(self, server, path, kb, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, disks = self.vm_disks(server)
            if disks[path].capacityInKB == kb:
                return
            time.sleep(0.2)
        self.fail('disk %s of server %s never reached %d KB' % (
            path, server['id'], kb))

    def test_boot_from_volume_attach_extend_detach_delete(self):
        root_id = self.cinder.IMAGE_BACKED_VOL
        made = self.cinder_volumes({root_id: 'vmdk', FCD_VOLUME: 'fcd'})
        root, data = made[root_id], made[FCD_VOLUME]
        [root_path] = volume_backings.shadow_disk_path(self.si, root)
        server = self.boot_from_volume(root_id)
        vm, disks = self.vm_disks(server)
        # The volume is the VM's only disk, and it boots from it.
        self.assertEqual([root_path], list(disks))
        obj = vim.VirtualMachine(vm['moid'], self.si._stub)
        self.assertEqual([disks[root_path].key], [
            d.deviceKey for d in obj.config.bootOptions.bootOrder])
        self.assertEqual('poweredOn', vm['runtime.powerState'])

        data_path = volume_backings.fcd(self.si, data).config.backing.filePath
        self._attach_volume(server, FCD_VOLUME)
        _, disks = self.vm_disks(server)
        self.assertEqual(data['data']['id'], disks[data_path].vDiskId.id)

        # Cinder extended it to 2 GiB and tells Nova.
        self.cinder.volumes[FCD_VOLUME] = {
            'id': FCD_VOLUME, 'size': 2, 'status': 'in-use',
            'attach_status': 'attached', 'multiattach': False,
            'availability_zone': 'nova', 'display_name': 'data'}
        self.api.api_post('/os-server-external-events', {'events': [{
            'name': 'volume-extended', 'server_uuid': server['id'],
            'tag': FCD_VOLUME}]})
        self.wait_for_capacity(server, data_path, 2 * GiB // 1024)

        self.api.delete_server_volume(server['id'], FCD_VOLUME)
        self._wait_for_volume_detach(server['id'], FCD_VOLUME)
        _, disks = self.vm_disks(server)
        self.assertEqual([root_path], list(disks))
        self.assertIsNotNone(volume_backings.fcd(self.si, data))

        # Deleting the server leaves the boot volume to Cinder, whole.
        self._delete_server(server)
        self.assertNotIn(server['id'], self.vms())
        self.assertEqual([root_path],
                         volume_backings.shadow_disk_path(self.si, root))
        self.assertEqual(200, self.datastore_file(root_path).status_code)
