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

"""nova-vmware-ext-check: its report, its privilege list and its wiring."""

import configparser
import importlib
import io
import json
import os
import re
from unittest import mock

import fixtures
from pyVmomi import vim
import testtools

from nova_vmware_ext.cmd import check
from nova_vmware_ext.compute import preflight
from nova_vmware_ext.compute import preflight_privileges
from nova_vmware_ext.vsphere import privileges

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _readme_privileges():
    """{(object, privilege id)} of README's "vCenter privileges" table."""
    with open(os.path.join(ROOT, 'README.md')) as f:
        text = f.read()
    section = text.split('## vCenter privileges\n', 1)[1].split('\n## ')[0]
    found = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) == 3 and '`' in cells[1]:
            found |= {(cells[0], p) for p in re.findall(r'`([^`]+)`',
                                                        cells[1])}
    return found


class PrivilegeListTest(testtools.TestCase):

    def test_readme_table_is_the_list(self):
        self.assertEqual({(p.scope, p.id) for p in privileges.REQUIRED},
                         _readme_privileges())

    def test_image_cache_lock_session_check_is_listed(self):
        self.assertIn('Sessions.ValidateSession',
                      privileges.by_scope()[privileges.ROOT])

    def test_conditional_entries_only_with_their_condition(self):
        always = privileges.by_scope()
        with_pbm = privileges.by_scope(conditions={privileges.PBM_ENABLED})
        self.assertNotIn('StorageProfile.View', always[privileges.ROOT])
        self.assertEqual(always[privileges.ROOT] + ['StorageProfile.View'],
                         with_pbm[privileges.ROOT])
        self.assertNotIn(privileges.GLANCE_DATASTORE, always)
        self.assertEqual(
            ['Datastore.Browse', 'Datastore.FileManagement'],
            privileges.by_scope(conditions={privileges.GLANCE_LOCATIONS})[
                privileges.GLANCE_DATASTORE])

    def test_conditional_entries_say_when_in_the_docs(self):
        # The docs' table shows only scope, ids and why.
        conditional = [p for p in privileges.REQUIRED if p.when]
        self.assertEqual({privileges.PBM_ENABLED,
                          privileges.GLANCE_LOCATIONS},
                         {p.when for p in conditional})
        self.assertIn('only with [vmware] pbm_enabled', {
            p.why for p in conditional
            if p.when == privileges.PBM_ENABLED}.pop())
        self.assertIn('when Glance shows image locations', {
            p.why for p in conditional
            if p.when == privileges.GLANCE_LOCATIONS}.pop())

    def test_cli_checks_storage_profile_view_only_with_pbm(self):
        conf = mock.Mock()
        conf.vmware.pbm_enabled = False
        self.assertEqual(set(), preflight_privileges.conditions(conf))
        conf.vmware.pbm_enabled = True
        self.assertEqual({privileges.PBM_ENABLED},
                         preflight_privileges.conditions(conf))

    def test_missing_asks_for_conditional_ones_when_they_hold(self):
        folder = vim.Folder('group-d1')
        session = mock.Mock(session_key='key-1')
        auth = session.content.authorizationManager
        auth.HasPrivilegeOnEntities.return_value = [
            vim.AuthorizationManager.EntityPrivilege(
                entity=folder, privAvailability=[
                    vim.AuthorizationManager.PrivilegeAvailability(
                        privId='Folder.Create', isGranted=False)])]
        lacking = privileges.missing(session, [(folder, privileges.ROOT)])
        self.assertNotIn('StorageProfile.View', lacking[0][1])
        self.assertNotIn('StorageProfile.View',
                         auth.HasPrivilegeOnEntities.call_args[1]['privId'])
        lacking = privileges.missing(session, [(folder, privileges.ROOT)],
                                     {privileges.PBM_ENABLED})
        self.assertIn('StorageProfile.View', lacking[0][1])

    def test_missing_reads_one_answer_per_entity(self):
        folder = vim.Folder('group-v3')
        network = vim.Network('network-7')
        wanted = privileges.by_scope()

        def answer(entity, sessionId, privId):
            self.assertEqual('key-1', sessionId)
            self.assertEqual(sorted(set(privId)), privId)
            granted = {'group-v3': set(wanted[privileges.VM_FOLDER]) -
                       {'Folder.Create'}, 'network-7': set()}
            return [vim.AuthorizationManager.EntityPrivilege(
                entity=e, privAvailability=[
                    vim.AuthorizationManager.PrivilegeAvailability(
                        privId=i, isGranted=i in granted[e._moId])
                    for i in privId]) for e in entity]
        session = mock.Mock(session_key='key-1')
        auth = session.content.authorizationManager
        auth.HasPrivilegeOnEntities.side_effect = answer
        lacking = privileges.missing(session, [
            (folder, privileges.VM_FOLDER), (network, privileges.NETWORK)])
        self.assertEqual([(folder, ['Folder.Create']),
                          (network, ['Network.Assign'])], lacking)
        self.assertEqual(1, auth.HasPrivilegeOnEntities.call_count)


class ReportTest(testtools.TestCase):

    def _report(self, statuses, as_json):
        out = io.StringIO()
        results = [preflight.Result('c%d' % n, s, 'msg %d' % n,
                                    'fix %d' % n if s != 'PASS' else None)
                   for n, s in enumerate(statuses)]
        return check.report(results, as_json, out), out.getvalue()

    def test_warnings_alone_exit_zero(self):
        code, text = self._report(['PASS', 'WARN', 'SKIP'], False)
        self.assertEqual(0, code)
        self.assertEqual(['PASS c0             msg 0',
                          'WARN c1             msg 1 -- fix: fix 1',
                          'SKIP c2             msg 2 -- fix: fix 2'],
                         text.splitlines())

    def test_a_failure_exits_one_and_json_counts_it(self):
        code, text = self._report(['PASS', 'FAIL', 'WARN'], True)
        self.assertEqual(1, code)
        doc = json.loads(text)
        self.assertEqual(1, doc['failed'])
        self.assertEqual(1, doc['warnings'])
        self.assertEqual({'check': 'c1', 'status': 'FAIL',
                          'message': 'msg 1', 'fix': 'fix 1'},
                         doc['checks'][1])


class EntryPointTest(testtools.TestCase):

    def test_console_script_names_main(self):
        parser = configparser.ConfigParser()
        parser.read(os.path.join(ROOT, 'setup.cfg'))
        scripts = dict(
            line.split('=', 1) for line in
            parser['entry_points']['console_scripts'].strip().splitlines())
        target = scripts['nova-vmware-ext-check '].strip()
        module, func = target.split(':')
        self.assertIs(check.main,
                      getattr(importlib.import_module(module), func))

    def test_help_exits_zero(self):
        stdout = self.useFixture(fixtures.MockPatch(
            'sys.stdout', io.StringIO())).mock
        exc = self.assertRaises(SystemExit, check.main, ['--help'],
                                io.StringIO())
        self.assertEqual(0, exc.code)
        self.assertIn('--json', stdout.getvalue())
        self.assertIn('--config-file', stdout.getvalue())

    def test_unreadable_config_exits_two_with_the_reason(self):
        stderr = self.useFixture(fixtures.MockPatch(
            'sys.stderr', io.StringIO())).mock
        self.assertEqual(2, check.main(
            ['--config-file', '/nonexistent/nova.conf'], io.StringIO()))
        self.assertIn('/nonexistent/nova.conf', stderr.getvalue())

    def test_bad_option_value_exits_two_naming_it(self):
        path = self.useFixture(fixtures.TempDir()).join('nova.conf')
        with open(path, 'w') as f:
            f.write('[vmware]\nhost_port = not-a-port\n')
        stderr = self.useFixture(fixtures.MockPatch(
            'sys.stderr', io.StringIO())).mock
        out = io.StringIO()
        self.assertEqual(2, check.main(['--config-file', path], out))
        self.assertIn('host_port', stderr.getvalue())
        self.assertEqual('', out.getvalue())
