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

"""Rescue, suspend, diagnostics and stuck reboots through Nova on vcsim.

Each outcome is checked in vSphere over a separate pyvmomi connection; the
diagnostics also through the ``openstack`` client, as an operator asks.
"""

from unittest import mock

from nova.compute import task_states
from nova import context as nova_context
from nova import objects
from nova.tests.functional.api import client
from pyVmomi import vim

from tests.nova import base
from tests.nova import cli
from tests.nova import test_servers


class ServerLifecycleTest(test_servers.VcsimServersTestBase):

    def boot_small(self):
        flavor_id = self._create_flavor(memory_mb=256, vcpu=2, disk=1,
                                        ephemeral=0)
        return self.boot(flavor_id)

    def vm_state(self, server_id):
        """The disks, boot order and power state of the server's VM."""
        vm = vim.VirtualMachine(self.vms()[server_id]['moid'], self.si._stub)
        disks = sorted((d.key, d.backing.fileName)
                       for d in vm.config.hardware.device
                       if isinstance(d, vim.vm.device.VirtualDisk))
        order = [getattr(d, 'deviceKey', None)
                 for d in vm.config.bootOptions.bootOrder]
        return {'disks': disks, 'boot_order': order,
                'power': vm.runtime.powerState}

    def test_rescue_and_unrescue(self):
        server = self.boot_small()
        before = self.vm_state(server['id'])
        server = self._rescue_server(server)
        rescued = self.vm_state(server['id'])
        self.assertEqual('poweredOn', rescued['power'])
        added = [d for d in rescued['disks'] if d not in before['disks']]
        self.assertEqual(1, len(added))
        key, path = added[0]
        # The server's image, as Nova passes it, in the instance's folder.
        self.assertIn('%s/%s-rescue.vmdk' % (server['id'], self.image['id']),
                      path)
        self.assertEqual([key], rescued['boot_order'])
        self.assertEqual(200, self.datastore_file(path).status_code)

        server = self._unrescue_server(server)
        self.assertEqual(before, self.vm_state(server['id']))
        self.assertEqual(404, self.datastore_file(path).status_code)
        self._delete_server(server)

    def test_a_stuck_reboot_is_rebooted_hard(self):
        server = self.boot_small()
        context = nova_context.get_admin_context()
        instance = objects.Instance.get_by_uuid(context, server['id'])
        instance.task_state = task_states.REBOOTING
        instance.save()
        self.vcsim.reset_server_calls()
        # Rebooting for longer than [DEFAULT] reboot_timeout.
        self.flags(reboot_timeout=60)
        with mock.patch('oslo_utils.timeutils.is_older_than',
                        return_value=True):
            self.computes['compute'].manager._poll_rebooting_instances(
                context)
        server = self._wait_for_server_parameter(
            server, {'status': 'ACTIVE', 'OS-EXT-STS:task_state': None})
        self.assertEqual(1, self.vcsim.server_calls().get('ResetVM_Task'))
        self.assertEqual('poweredOn', self.vm_state(server['id'])['power'])
        self._delete_server(server)

    def test_pause_suspend_resume_and_diagnostics(self):
        # One server for all (each boot costs seconds in both test modes).
        server = self.boot_small()
        vm = self.vms()[server['id']]
        self.check_diagnostics(server, vm)

        # Nova's API waits for the compute: 501 Not Implemented, as for
        # the in-tree driver; the server stays ACTIVE and running.
        raised = self.assertRaises(client.OpenStackApiException,
                                   self.api.post_server_action,
                                   server['id'], {'pause': {}})
        self.assertEqual(501, raised.response.status_code)
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual('poweredOn', self.vm_state(server['id'])['power'])

        server = self._suspend_server(server)
        self.assertEqual('suspended', self.vm_state(server['id'])['power'])
        server = self._resume_server(server)
        self.assertEqual('poweredOn', self.vm_state(server['id'])['power'])
        self._delete_server(server)

    def check_diagnostics(self, server, vm):
        diags = self.api.get_server_diagnostics(server['id'])
        self.assertEqual('running', diags['state'])
        self.assertEqual('vmwareapi', diags['driver'])
        self.assertEqual(256, diags['memory_details']['maximum'])
        self.assertEqual(2, diags['num_cpus'])
        self.assertEqual([n.macAddress for n in base.nics(vm)],
                         [n['mac_address'] for n in diags['nic_details']])
        self.assertEqual(len(base.disks(vm)), diags['num_disks'])
        # As an operator asks: openstack server show --diagnostics.
        self.assertIsNotNone(cli.openstack_command(),
                             'python-openstackclient is not installed')
        code, out, err = cli.openstack(cli.serve(self), 'server', 'show',
                                       '--diagnostics', server['id'],
                                       '-f', 'json')
        self.assertEqual(0, code, err[-2000:])
        self.assertEqual(vm['config.hardware.memoryMB'],
                         out['memory_details']['maximum'])
        self.assertEqual('running', out['state'])
        self.assertEqual(len(base.nics(vm)), out['num_nics'])
