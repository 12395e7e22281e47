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

"""The vcsim harness itself: login, TLS, inventory, lifecycle, /folder."""

import collections
import os
import ssl
import urllib.error
import urllib.request

from pyVim import connect
from pyVmomi import vim
import testtools

from tests import vcsim


def _http(method, url, ca_file, cookie=None, data=None):
    request = urllib.request.Request(url, data=data, method=method)
    if cookie:
        request.add_header('Cookie', cookie)
    if data is not None:
        request.add_header('Content-Type', 'application/octet-stream')
    context = ssl.create_default_context(cafile=ca_file)
    with urllib.request.urlopen(request, context=context, timeout=30) as resp:
        return resp.status, resp.read()


class VcsimHarnessTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(clusters=2, hosts=2, standalone_hosts=1, vms=2,
                       datastores=3, portgroups=2)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()

    def test_login_over_verified_tls(self):
        si = vcsim.service_instance(self.vcsim)
        self.addCleanup(connect.Disconnect, si)
        self.assertEqual('VirtualCenter', si.content.about.apiType)
        self.assertTrue(self.vcsim.url.startswith('https://127.0.0.1:'))

    def test_certificate_is_really_checked(self):
        # The system trust store does not know the simulator's certificate.
        self.assertRaises(
            ssl.SSLCertVerificationError, connect.SmartConnect,
            host=self.vcsim.host, port=self.vcsim.port,
            user=self.vcsim.username, pwd=self.vcsim.password,
            sslContext=ssl.create_default_context())

    def test_wrong_credentials_are_refused(self):
        self.assertRaises(vim.fault.InvalidLogin, vcsim.service_instance,
                          self.vcsim, password=self.vcsim.password + 'x')
        self.assertRaises(vim.fault.InvalidLogin, vcsim.service_instance,
                          self.vcsim, username='user', password='pass')

    def test_inventory_shape(self):
        count = {t.__name__: len(vcsim.query(self.si, t, ['name']))
                 for t in (vim.Datacenter, vim.ClusterComputeResource,
                           vim.HostSystem, vim.Datastore)}
        self.assertEqual({'vim.Datacenter': 1,
                          'vim.ClusterComputeResource': 2,
                          'vim.HostSystem': 2 * 2 + 1,
                          'vim.Datastore': 3}, count)

        hosts = vcsim.query(self.si, vim.HostSystem, ['parent'])
        per_parent = collections.Counter(
            h['parent']._moId for h in hosts.values()
            if isinstance(h['parent'], vim.ClusterComputeResource))
        self.assertEqual([2, 2], sorted(per_parent.values()))

        datastores = vcsim.query(self.si, vim.Datastore, ['name', 'host'])
        self.assertEqual({'LocalDS_0', 'LocalDS_1', 'LocalDS_2'},
                         {d['name'] for d in datastores.values()})
        for ds in datastores.values():
            self.assertEqual(5, len(ds['host']))  # mounted on every host

        portgroups = vcsim.query(self.si, vim.dvs.DistributedVirtualPortgroup,
                                 ['name'])
        names = {p['name'] for p in portgroups.values()}
        # vcsim adds the switch's uplink port group (DVS0-DVUplinks-N).
        self.assertEqual({'DC0_DVPG0', 'DC0_DVPG1'},
                         {n for n in names if '-DVUplinks' not in n})
        self.assertEqual(3, len(names))

    def test_vms_per_cluster_and_standalone_host(self):
        vms = vcsim.query(self.si, vim.VirtualMachine,
                          ['name', 'runtime.host', 'runtime.powerState'])
        # Model.Machine: -vm VMs in each cluster, and on each standalone host.
        self.assertEqual(
            {'DC0_C0_RP0_VM0', 'DC0_C0_RP0_VM1', 'DC0_C1_RP0_VM0',
             'DC0_C1_RP0_VM1', 'DC0_H0_VM0', 'DC0_H0_VM1'},
            {v['name'] for v in vms.values()})
        hosts = vcsim.query(self.si, vim.HostSystem, ['name'])
        for vm in vms.values():
            self.assertEqual('poweredOn', vm['runtime.powerState'])
            host_name = hosts[vm['runtime.host']._moId]['name']
            self.assertTrue(vm['name'].startswith(host_name[:len('DC0_C0')]))

    def test_datastore_http_round_trip(self):
        url = vcsim.datastore_url(self.vcsim, 'harness/round trip.txt',
                                  datastore='LocalDS_1')
        cookie = vcsim.session_cookie(self.si)
        payload = os.urandom(4096)

        status, _ = _http('PUT', url, self.vcsim.ca_file, cookie, payload)
        self.assertIn(status, (200, 201))
        status, body = _http('GET', url, self.vcsim.ca_file, cookie)
        self.assertEqual(200, status)
        self.assertEqual(payload, body)

        missing = vcsim.datastore_url(self.vcsim, 'harness/missing.txt')
        error = self.assertRaises(urllib.error.HTTPError, _http, 'GET',
                                  missing, self.vcsim.ca_file, cookie)
        self.assertEqual(404, error.code)


class VcsimLifecycleTest(testtools.TestCase):

    def test_process_and_files_are_gone_after_cleanup(self):
        fx = vcsim.VcsimFixture(hosts=1, datastores=1, portgroups=0)
        fx.setUp()
        pid, tmpdir = fx.pid, fx.tmpdir
        try:
            os.kill(pid, 0)  # running
            with open(fx.pidfile) as f:
                self.assertEqual(pid, int(f.read()))
            self.assertTrue(os.listdir(os.path.join(tmpdir, 'datastores')))
        finally:
            fx.cleanUp()
        self.assertRaises(ProcessLookupError, os.kill, pid, 0)
        self.assertFalse(os.path.exists(tmpdir))

    def test_start_up_failure_reports_vcsim_stderr(self):
        # VMs need a datastore: vcsim refuses to start.
        fx = vcsim.VcsimFixture(vms=1, datastores=0)
        try:
            fx.setUp()
        except Exception as e:
            error = e.args[0][1] if isinstance(e.args[0], tuple) else e
        else:
            fx.cleanUp()
            self.fail('vcsim started without a datastore')
        self.assertIsInstance(error, vcsim.VcsimError)
        self.assertIn('-vm needs at least one datastore', str(error))
        self.assertFalse(os.path.exists(fx.tmpdir))
