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

"""Snapshot -> new image -> boot from it, through Nova's compute REST API
and the ``openstack`` CLI, with our driver on vcsim.

The image's bytes are checked in Nova's Glance fixture, the VMs in vcsim
over a separate pyvmomi connection.
"""

import time

from tests.nova import base
from tests.nova import cli
from tests.nova import test_servers


class SnapshotTestMixin(object):

    def boot_and_snapshot(self, flavor_id, create_image):
        """Boot a server, snapshot it with ``create_image(server)`` (which
        returns the new image's id); check the image; return both."""
        server = self.boot(flavor_id)
        self.assertEqual('ACTIVE', server['status'])
        image_id = create_image(server)
        image = self.glance.show(None, image_id)
        self.assertEqual('active', image['status'])
        data = self.glance._imagedata[image_id]
        # Exported by vSphere as a streamOptimized VMDK: for vcsim, the
        # flattened disk is the image the server booted.
        self.assertEqual(self.glance._imagedata[self.image['id']], data)
        self.assertEqual(('vmdk', 'bare'), (image['disk_format'],
                                            image['container_format']))
        props = image['properties']
        self.assertEqual(('streamOptimized', 'lsiLogic'), (
            props['vmware_disktype'], props['vmware_adaptertype']))
        # Nova's own properties survive the driver's update.
        self.assertEqual(server['id'], props['instance_uuid'])
        self.assertEqual('snapshot', props['image_type'])
        # No clone, no vSphere snapshot left.
        vms = self.vms()
        self.assertEqual([server['id']], list(vms))
        self.assertIsNone(vms[server['id']].get('snapshot'))
        return server, image_id

    def boot_from(self, image_id, flavor_id):
        self.keep_cache_entry(image_id, flavor_id)
        server = self._create_server(
            image_uuid=image_id, flavor_id=flavor_id,
            networks=[{'uuid': test_servers.NETWORK}])
        self.assertEqual('ACTIVE', server['status'])
        vm = self.vms()[server['id']]
        self.assertEqual('poweredOn', vm['runtime.powerState'])
        [disk] = base.disks(vm)
        self.assertIn('_base/%s/' % image_id, disk.backing.parent.fileName)
        return server


class SnapshotRestTest(SnapshotTestMixin,
                       test_servers.VcsimServersTestBase):

    def setUp(self):
        super().setUp()
        base.store_uploads(self.glance)

    def vms(self):
        return base.vms_by_instance_uuid(
            self.si, base.VM_PATHS + ('snapshot',))

    def _create_image(self, server):
        response = self.api.post_server_action(
            server['id'], {'createImage': {'name': 'snap'}})
        self._wait_for_server_parameter(server,
                                        {'OS-EXT-STS:task_state': None})
        return response['image_id']

    def test_create_image_then_boot_from_it(self):
        flavor_id = self._create_flavor(memory_mb=256, vcpu=1, disk=1,
                                        ephemeral=0)
        server, image_id = self.boot_and_snapshot(flavor_id,
                                                  self._create_image)
        second = self.boot_from(image_id, flavor_id)
        self._delete_server(second)
        self._delete_server(server)


class SnapshotCliTest(SnapshotTestMixin,
                      test_servers.VcsimServersTestBase):

    def setUp(self):
        super().setUp()
        self.assertIsNotNone(cli.openstack_command(),
                             'python-openstackclient is not installed')
        base.store_uploads(self.glance)
        self.cloud = cli.serve(self)

    def vms(self):
        return base.vms_by_instance_uuid(
            self.si, base.VM_PATHS + ('snapshot',))

    def _create_image(self, server):
        code, out, err = cli.openstack(
            self.cloud, 'server', 'image', 'create', '--name', 'cli-snap',
            '-f', 'json', server['id'])
        self.assertEqual(0, code, err[-2000:])
        deadline = time.monotonic() + 60
        while self._get_server(server['id'])['OS-EXT-STS:task_state']:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.2)
        return out['id']

    def _get_server(self, server_id):
        return self.api.get_server(server_id)

    def test_server_image_create_then_boot(self):
        flavor_id = self._create_flavor(memory_mb=256, vcpu=1, disk=1,
                                        ephemeral=0)
        server, image_id = self.boot_and_snapshot(flavor_id,
                                                  self._create_image)
        self.assertEqual('cli-snap', self.glance.show(None, image_id)['name'])
        second = self.boot_from(image_id, flavor_id)
        self._delete_server(second)
        self._delete_server(server)
