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

"""The standard ``openstack`` client against the in-process compute API.

python-openstackclient runs as a subprocess, as an operator would run it,
against Nova's API served on 127.0.0.1 (tests/nova/cli.py); what it does is
checked in vcsim over a separate pyvmomi connection.
"""

from tests.nova import base
from tests.nova import cli
from tests.nova import test_servers


class OpenStackClientTest(cli.CliTestMixin, test_servers.VcsimServersTestBase):

    def setUp(self):
        super().setUp()
        self.start_cli()

    def power_state(self, server_id):
        return self.vms()[server_id]['runtime.powerState']

    def test_create_list_show_stop_start_delete(self):
        flavor_id = self._create_flavor(name='m1.cli', memory_mb=256,
                                        vcpu=1, disk=1, ephemeral=0)
        self.keep_cache_entry(self.image['id'], flavor_id)
        created = self.osc('server', 'create', '--image', self.image['id'],
                           '--flavor', 'm1.cli',
                           '--nic', 'net-id=%s' % test_servers.NETWORK,
                           '-f', 'json', 'cli-server')
        server_id = created['id']
        shown = self.wait_for(server_id, 'ACTIVE')
        self.assertEqual('compute', shown['OS-EXT-SRV-ATTR:host'])
        vm = self.vms()[server_id]
        self.assertEqual('poweredOn', vm['runtime.powerState'])
        self.assertEqual(256, vm['config.hardware.memoryMB'])
        self.assertEqual(1, len(base.nics(vm)))

        listed = self.osc('server', 'list', '-f', 'json')
        self.assertEqual([('cli-server', 'ACTIVE')],
                         [(s['Name'], s['Status']) for s in listed
                          if s['ID'] == server_id])

        self.osc('server', 'stop', server_id)
        self.wait_for(server_id, 'SHUTOFF')
        self.assertEqual('poweredOff', self.power_state(server_id))
        self.osc('server', 'start', server_id)
        self.wait_for(server_id, 'ACTIVE')
        self.assertEqual('poweredOn', self.power_state(server_id))

        self.osc('server', 'delete', '--wait', server_id)
        self.assertNotIn(server_id, self.vms())
        self.assertEqual([], [s for s in self.osc('server', 'list', '-f',
                                                  'json')
                              if s['ID'] == server_id])
