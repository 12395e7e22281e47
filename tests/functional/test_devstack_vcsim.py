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

"""The devstack plugin's simulator service serves what it writes into
nova-cpu.conf: the command the plugin hands devstack's run_process, run
here, answers a login with nova-cpu.conf's address, user, password and CA
file, with the cluster it names, and serves the vim WSDL the plugin
generated for oslo.vmware's suds clients (glance_store)."""

import os
import socket
import ssl
import subprocess
import time
import urllib.request

from pyVim import connect
from pyVmomi import vim

from tests.unit import test_devstack
from tests import vcsim

READY_TIMEOUT = 120


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class SimulatorServiceTest(test_devstack.HarnessTestCase):

    def setUp(self):
        super().setUp()
        self.result = test_devstack.run(test_devstack.SIMULATOR, {
            'NOVA_VMWARE_EXT_VCSIM_BINARY': vcsim.build_vcsim(),
            'NOVA_VMWARE_EXT_VCSIM_PORT': str(_free_port()),
        }, stop_after_stack=True)
        self.assertRan(self.result)
        self.vmware = self.result.section('nova/nova-cpu.conf', 'vmware')
        self._start(test_devstack.vcsim_command(self, self.result))

    def _start(self, command):
        # The harness's stand-in certificate goes: vcsim writes the real one.
        os.remove(self.vmware['ca_file'])
        log = os.path.join(self.result.work, 'vcsim.log')
        with open(log, 'w') as out:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(vcsim._stop_process, proc)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            with open(log) as f:
                if vcsim.URL_PREFIX in f.read():
                    return
            self.assertIsNone(proc.poll(), open(log).read())
            time.sleep(0.2)
        self.fail('vcsim not ready in %ds' % READY_TIMEOUT)

    def _login(self, password):
        context = ssl.create_default_context(cafile=self.vmware['ca_file'])
        si = connect.SmartConnect(
            protocol='https', host=self.vmware['host_ip'],
            port=int(self.vmware['host_port']),
            user=self.vmware['host_username'], pwd=password,
            sslContext=context)
        self.addCleanup(connect.Disconnect, si)
        return si

    def test_nova_cpu_conf_logs_in_and_finds_its_cluster(self):
        si = self._login(self.vmware['host_password'])
        clusters = vcsim.query(si, vim.ClusterComputeResource,
                               ['name', 'host', 'datastore'])
        self.assertEqual([(self.vmware['cluster_name'], 3, 2)], [
            (c['name'], len(c['host']), len(c['datastore']))
            for c in clusters.values()])
        # The generated password is the only one: vcsim's default refused.
        self.assertRaises(vim.fault.InvalidLogin, self._login, 'pass')

    def test_serves_the_generated_wsdl_and_glances_datastore(self):
        url = 'https://%s:%s/sdk/vimService.wsdl' % (
            self.vmware['host_ip'], self.vmware['host_port'])
        context = ssl.create_default_context(cafile=self.vmware['ca_file'])
        with urllib.request.urlopen(url, context=context, timeout=30) as r:
            self.assertEqual(200, r.status)
            self.assertIn(b'<service name="VimService">', r.read())
        # Glance's default datastore on the simulator exists there.
        datacenter, datastore = (
            test_devstack.SIMULATOR_GLANCE_DATASTORES.split(':'))
        si = self._login(self.vmware['host_password'])
        found = [(dc.name, [ds.name for ds in dc.datastore])
                 for dc in si.content.rootFolder.childEntity]
        self.assertIn(datastore, dict(found)[datacenter], found)
