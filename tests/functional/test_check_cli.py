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

"""nova-vmware-ext-check against vcsim: each check's PASS and its failures."""

import io
import json
import os
import subprocess
import sys
import time

import fixtures
from pyVim import task as pyvim_task
from pyVmomi import vim
import testtools

from nova_vmware_ext.cmd import check
from nova_vmware_ext.vsphere import privileges
from tests.functional import test_session
from tests.functional import test_vcsim_privileges
from tests import vcsim

_CHECKS = ['config', 'connection', 'tls', 'credentials', 'cluster', 'drs',
           'ha', 'privileges', 'hosts', 'datastores', 'networks',
           'image cache']


class CheckCliTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(hosts=2, datastores=2, portgroups=1)

    def setUp(self):
        super().setUp()
        # What the check logs besides its report goes with the test.
        self.logs = self.useFixture(fixtures.FakeLogger())
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.addCleanup(self.vcsim.clear_faults)

    def conf_file(self, **overrides):
        fx = self.vcsim
        vmware = dict(host_ip=fx.host, host_port=fx.port,
                      host_username=fx.username, host_password=fx.password,
                      ca_file=fx.ca_file, cluster_name='DC0_C0',
                      api_retry_count=0)
        vmware.update({k: v for k, v in overrides.items()
                       if not k.startswith('ext_')})
        ext = {'api_timeout': 5, 'task_update_wait': 3}
        ext.update({k[4:]: v for k, v in overrides.items()
                    if k.startswith('ext_')})
        path = os.path.join(self.tmp, 'nova.conf')
        with open(path, 'w') as f:
            f.write('[DEFAULT]\nmy_ip = 192.0.2.10\n[vmware]\n')
            f.writelines('%s = %s\n' % kv for kv in vmware.items()
                         if kv[1] is not None)
            f.write('[vmware_ext]\n')
            f.writelines('%s = %s\n' % kv for kv in ext.items())
        return path

    def run_check(self, *args, **overrides):
        out = io.StringIO()
        code = check.main(['--config-file', self.conf_file(**overrides)] +
                          list(args), out=out)
        return code, out.getvalue()

    def results(self, **overrides):
        code, text = self.run_check('--json', **overrides)
        doc = json.loads(text)
        by_check = {}
        for item in doc['checks']:
            by_check.setdefault(item['check'], []).append(item)
        return code, doc, by_check

    def status(self, by_check, name):
        return [item['status'] for item in by_check[name]]

    def test_all_pass_on_vcsim(self):
        code, text = self.run_check()
        lines = text.splitlines()
        self.assertEqual(0, code, text)
        self.assertEqual(_CHECKS, [line.split()[1] if not line.startswith(
            ('PASS image', 'WARN image')) else 'image cache'
            for line in lines])
        for line in lines:
            # vcsim's clusters have HA off (and ignore a dasConfig change).
            expected = 'WARN ha ' if ' ha ' in line else 'PASS '
            self.assertTrue(line.startswith(expected), line)
        self.assertIn('enable vSphere HA on the cluster', text)
        self.assertIn('%s:%s' % (self.vcsim.host, self.vcsim.port), text)
        self.assertIn('LocalDS_0', text)
        self.assertIn('DC0_DVPG0', text)
        self.assertNotIn(self.vcsim.password, text)
        # The cache folder of the in-tree rule: my_ip + '_base'.
        self.assertIn('made at the first spawn: [LocalDS_0] '
                      '192.0.2.10_base', text)

    def test_json_output(self):
        code, doc, by_check = self.results()
        self.assertEqual(0, code)
        self.assertEqual(0, doc['failed'])
        self.assertEqual(1, doc['warnings'])  # HA, as above
        self.assertEqual(_CHECKS, [c['check'] for c in doc['checks']])
        self.assertIsNone(by_check['tls'][0]['fix'])

    def test_missing_options_fail_config_and_skip_the_rest(self):
        code, doc, by_check = self.results(host_username=None,
                                           cluster_name=None)
        self.assertEqual(1, code)
        self.assertEqual(['FAIL'], self.status(by_check, 'config'))
        self.assertIn('host_username, cluster_name',
                      by_check['config'][0]['message'])
        self.assertEqual(['SKIP'], self.status(by_check, 'credentials'))
        self.assertEqual(1, doc['failed'])

    def test_bad_datastore_regex(self):
        code, _, by_check = self.results(datastore_regex='(unclosed')
        self.assertEqual(1, code)
        self.assertIn('datastore_regex', by_check['config'][0]['message'])

    def test_unacted_option_warns(self):
        code, _, by_check = self.results(pbm_wsdl_location='x')
        self.assertEqual(0, code)
        self.assertEqual(['WARN', 'PASS'], self.status(by_check, 'config'))
        self.assertIn('pbm_wsdl_location',
                      by_check['config'][0]['message'])

    def test_wrong_password(self):
        code, text = self.run_check(host_password='not-the-password')
        self.assertEqual(1, code)
        self.assertIn('FAIL credentials', text)
        self.assertIn('check [vmware] host_username/host_password', text)
        self.assertIn(self.vcsim.username, text)
        self.assertNotIn('not-the-password', text)
        self.assertIn('SKIP cluster', text)

    def test_unknown_cluster(self):
        code, _, by_check = self.results(cluster_name='NoSuchCluster')
        self.assertEqual(1, code)
        self.assertEqual(['FAIL'], self.status(by_check, 'cluster'))
        message = by_check['cluster'][0]['message']
        self.assertIn('NoSuchCluster', message)
        self.assertIn('DC0_C0', message)  # the clusters that exist
        self.assertEqual(['SKIP'], self.status(by_check, 'datastores'))

    def test_datastore_regex_matching_nothing(self):
        code, _, by_check = self.results(datastore_regex='^nfs-')
        self.assertEqual(1, code)
        self.assertEqual(['FAIL'], self.status(by_check, 'datastores'))
        self.assertIn('LocalDS_0', by_check['datastores'][0]['message'])
        self.assertEqual(['SKIP'], self.status(by_check, 'image cache'))

    def test_untrusted_certificate(self):
        code, _, by_check = self.results(ca_file=os.devnull)
        self.assertEqual(1, code)
        self.assertEqual(['PASS'], self.status(by_check, 'connection'))
        self.assertEqual(['FAIL'], self.status(by_check, 'tls'))
        self.assertIn('ca_file', by_check['tls'][0]['fix'])

    def test_insecure_warns(self):
        code, _, by_check = self.results(ca_file=None, insecure='true')
        self.assertEqual(0, code)
        self.assertEqual(['WARN'], self.status(by_check, 'tls'))
        self.assertEqual(['PASS'], self.status(by_check, 'credentials'))
        self.assertIn('TLS verification of vCenter %s:%s is disabled'
                      % (self.vcsim.host, self.vcsim.port), self.logs.output)

    def test_nothing_listening(self):
        port = _free_port()
        code, _, by_check = self.results(host_port=port)
        self.assertEqual(1, code)
        self.assertEqual(['FAIL'], self.status(by_check, 'connection'))
        self.assertIn('127.0.0.1:%d' % port,
                      by_check['connection'][0]['message'])

    def test_silent_endpoint_fails_within_api_timeout(self):
        silent = self.useFixture(test_session.SilentEndpoint())
        start = time.monotonic()
        code, _, by_check = self.results(host_port=silent.port,
                                         ext_api_timeout=1)
        self.assertLess(time.monotonic() - start, 10)
        self.assertEqual(1, code)
        self.assertEqual(['FAIL'], self.status(by_check, 'connection'))
        self.assertIn(silent.endpoint, by_check['connection'][0]['message'])
        self.assertIn('api_timeout', by_check['connection'][0]['fix'])

    def _wait(self, task):
        pyvim_task.WaitForTask(task)

    def test_drs_disabled_warns(self):
        cluster = self._cluster()
        spec = vim.cluster.ConfigSpecEx(
            drsConfig=vim.cluster.DrsConfigInfo(enabled=False))
        self._wait(cluster.ReconfigureComputeResource_Task(spec, True))
        try:
            code, _, by_check = self.results()
        finally:
            self._wait(cluster.ReconfigureComputeResource_Task(
                vim.cluster.ConfigSpecEx(
                    drsConfig=vim.cluster.DrsConfigInfo(enabled=True)), True))
        self.assertEqual(0, code)
        self.assertEqual(['WARN'], self.status(by_check, 'drs'))
        self.assertIn('server groups', by_check['drs'][0]['message'])

    def test_ha_enabled_passes(self):
        cluster = self._cluster()

        def set_ha(enabled):
            self._wait(cluster.ReconfigureComputeResource_Task(
                vim.cluster.ConfigSpecEx(
                    dasConfig=vim.cluster.DasConfigInfo(enabled=enabled)),
                True))
        set_ha(True)
        try:
            code, _, by_check = self.results()
        finally:
            set_ha(False)
        self.assertEqual(0, code)
        self.assertEqual(['PASS'], self.status(by_check, 'ha'))
        self.assertEqual(0, sum(c['status'] != 'PASS'
                                for c in sum(by_check.values(), [])))

    def test_endpoint_that_is_not_vsphere(self):
        # TLS answers, the SOAP calls are dropped: one login attempt, no
        # retries with back-off ([vmware] api_retry_count is for the driver).
        self.vcsim.inject('RetrieveServiceContent', action='drop',
                          count=None)
        start = time.monotonic()
        code, _, by_check = self.results(api_retry_count=10)
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(1, code)
        self.assertEqual(['FAIL'], self.status(by_check, 'credentials'))

    def test_hosts_in_maintenance(self):
        hosts = self._cluster().host
        self._wait(hosts[0].EnterMaintenanceMode_Task(0))
        try:
            code, _, one = self.results()
            self._wait(hosts[1].EnterMaintenanceMode_Task(0))
            try:
                code_all, _, every = self.results()
            finally:
                self._wait(hosts[1].ExitMaintenanceMode_Task(0))
        finally:
            self._wait(hosts[0].ExitMaintenanceMode_Task(0))
        self.assertEqual(0, code)
        self.assertEqual(['WARN'], self.status(one, 'hosts'))
        self.assertIn('1 of 2 hosts usable', one['hosts'][0]['message'])
        self.assertEqual(1, code_all)
        self.assertEqual(['FAIL'], self.status(every, 'hosts'))

    def test_user_lacking_privileges(self):
        si = self.vcsim.connect()
        # Everything the driver needs but Network.Assign and
        # Sessions.ValidateSession (the image-cache lock's session check).
        granted = sorted({p.id for p in privileges.REQUIRED} -
                         {'Sessions.ValidateSession', 'Network.Assign'})
        test_vcsim_privileges.narrow_user(self, si, granted)
        code, text = self.run_check()
        self.assertEqual(1, code, text)
        line = [x for x in text.splitlines() if ' privileges ' in x][0]
        self.assertTrue(line.startswith('FAIL privileges'), line)
        self.assertIn('root folder: Sessions.ValidateSession', line)
        self.assertIn('network DC0_DVPG0: Network.Assign', line)
        self.assertNotIn('VM folder', line)
        self.assertIn('vCenter privileges', line)  # where the list is

    def test_missing_network_assign_alone_warns(self):
        si = self.vcsim.connect()
        granted = sorted({p.id for p in privileges.REQUIRED} -
                         {'Network.Assign'})
        test_vcsim_privileges.narrow_user(self, si, granted)
        code, _, by_check = self.results()
        self.assertEqual(0, code)
        self.assertEqual(['WARN'], self.status(by_check, 'privileges'))
        self.assertIn('Network.Assign', by_check['privileges'][0]['message'])

    def test_storage_profile_view_needed_only_with_pbm(self):
        si = self.vcsim.connect()
        granted = sorted({p.id for p in privileges.REQUIRED} -
                         {'StorageProfile.View'})
        test_vcsim_privileges.narrow_user(self, si, granted)
        code, _, by_check = self.results()
        self.assertEqual(0, code)
        self.assertEqual(['PASS'], self.status(by_check, 'privileges'))
        code, _, by_check = self.results(pbm_enabled='true')
        self.assertEqual(1, code)
        result = by_check['privileges'][0]
        self.assertEqual('FAIL', result['status'])
        self.assertEqual('missing root folder: StorageProfile.View',
                         result['message'])
        self.assertIn('doc/source/privileges.rst', result['fix'])

    def test_privileges_not_checkable_warns(self):
        self.vcsim.inject('HasPrivilegeOnEntities', fault='MethodNotFound')
        code, _, by_check = self.results()
        self.assertEqual(0, code)
        self.assertEqual(['WARN'], self.status(by_check, 'privileges'))
        self.assertIn('MethodNotFound', by_check['privileges'][0]['message'])

    def test_image_cache_folder_present(self):
        si = self.vcsim.connect()
        datacenter = si.content.rootFolder.childEntity[0]
        folder = '[LocalDS_1] 192.0.2.10_base'
        si.content.fileManager.MakeDirectory(folder, datacenter, True)
        try:
            code, _, by_check = self.results()
        finally:
            pyvim_task.WaitForTask(
                si.content.fileManager.DeleteDatastoreFile_Task(
                    folder, datacenter))
        self.assertEqual(0, code)
        message = by_check['image cache'][0]['message']
        self.assertIn('present: %s' % folder, message)
        self.assertIn('first spawn: [LocalDS_0] 192.0.2.10_base', message)

    def test_image_cache_not_browsable(self):
        self.vcsim.inject('SearchDatastore_Task', fault='NoPermission',
                          count=None)
        code, _, by_check = self.results()
        self.assertEqual(1, code)
        self.assertEqual(['FAIL'], self.status(by_check, 'image cache'))
        self.assertIn('192.0.2.10_base',
                      by_check['image cache'][0]['message'])

    def test_login_answered_late_fails_within_api_timeout(self):
        self.vcsim.inject('RetrieveServiceContent', action='delay',
                          delay_ms=5000)
        start = time.monotonic()
        code, _, by_check = self.results(ext_api_timeout=1)
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(1, code)
        self.assertEqual(['FAIL'], self.status(by_check, 'credentials'))
        self.assertIn('api_timeout', by_check['credentials'][0]['message'])

    def _cluster(self):
        si = self.vcsim.connect()
        view = si.content.viewManager.CreateContainerView(
            si.content.rootFolder, [vim.ClusterComputeResource], True)
        self.addCleanup(view.Destroy)
        return [c for c in view.view if c.name == 'DC0_C0'][0]

    def test_console_script_runs_as_a_process(self):
        result = subprocess.run(
            [sys.executable, '-m', 'nova_vmware_ext.cmd.check',
             '--config-file', self.conf_file(cluster_name='NoSuchCluster')],
            capture_output=True, text=True, timeout=120,
            env=dict(os.environ, PYTHONPATH=vcsim.REPO_ROOT))
        self.assertEqual(1, result.returncode, result.stderr)
        self.assertIn('FAIL cluster', result.stdout)
        self.assertIn('PASS credentials', result.stdout)


def _free_port():
    import socket
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port
