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

"""The devstack plugin (devstack/), run through devstack's own code.

tests/devstack/harness.sh sources devstack's real ``functions``,
``stackrc``, ``lib/nova`` and ``run_phase`` from ``DEVSTACK_DIR`` (default:
``../shared/devstack`` beside this repository) and runs the phases
stack.sh, unstack.sh and clean.sh run, with what would install or start
something recorded instead. Without a devstack tree (or bashate, shellcheck,
gawk) these tests skip, naming what is missing; with
``NOVA_VMWARE_EXT_REQUIRE_DEVSTACK`` set (.ci/run sets it when it finds the
tree) they fail.
"""

import atexit
import configparser
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile

import testtools

from tests.unit import test_readme

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HARNESS = os.path.join(REPO, 'tests', 'devstack', 'harness.sh')
SCRIPTS = [os.path.join(REPO, 'devstack', name) for name in (
    'plugin.sh', 'settings', 'override-defaults', 'lib/nova-vmware-ext',
    'files/run-vcsim')] + [HARNESS]
HARNESS_TIMEOUT = 120

VCENTER = {
    'VMWAREAPI_IP': 'vc.example.org',
    'VMWAREAPI_USER': 'nova@vsphere.local',
    'VMWAREAPI_PASSWORD': 'Sup3r-S3cret-xyzzy',
    'VMWAREAPI_CLUSTER': 'Cluster01',
    'VMWAREAPI_CA_FILE': '/etc/nova/vcenter-ca.pem',
    'VMWAREAPI_DATASTORE_REGEX': '^nfs-.*',
}
GLANCE = {
    'GLANCE_VMWARE_STORE': 'True',
    'GLANCE_VMWARE_DATASTORES': 'DC1:nfs-1',
}
SIMULATOR = {'NOVA_VMWARE_EXT_SIMULATOR': 'True'}
# govmomi's simulator's first datacenter and datastore: Glance's default
# datastore on the simulator.
SIMULATOR_GLANCE_DATASTORES = 'DC0:LocalDS_0'

# tempest [compute-feature-enabled] flags that follow one operation of
# README's table: True exactly when the driver implements it.
TEMPEST_FLAG_OPERATIONS = {
    'resize': 'finish_migration',
    'cold_migration': 'migrate_disk_and_power_off',
    'live_migration': 'live_migration',
    'snapshot': 'snapshot',
    'shelve': 'snapshot',
    'rescue': 'rescue',
    'suspend': 'suspend',
    'pause': 'pause',
    'interface_attach': 'attach_interface',
    'swap_volume': 'swap_volume',
}


def _required():
    # .ci/run sets it when it found the tree.
    return bool(os.environ.get('NOVA_VMWARE_EXT_REQUIRE_DEVSTACK'))


def _devstack_dir():
    return os.environ.get('DEVSTACK_DIR') or os.path.join(
        os.path.dirname(REPO), 'shared', 'devstack')


def _missing():
    """What the harness lacks on this machine, or None."""
    if not os.path.isfile(os.path.join(_devstack_dir(), 'stackrc')):
        return 'no devstack tree at %s (set DEVSTACK_DIR)' % _devstack_dir()
    if not shutil.which('gawk'):
        return "devstack's merge_config_file needs gawk (apt-get install gawk)"
    return None


def _tool(name):
    beside = os.path.join(os.path.dirname(sys.executable), name)
    return beside if os.access(beside, os.X_OK) else shutil.which(name)


class Run(object):
    """One harness run: exit status, output, records and config files."""

    def __init__(self, work, proc):
        self.work = work
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.phases = {}
        phase = None
        with open(os.path.join(work, 'record')) as f:
            for line in f.read().splitlines():
                if line.startswith('== '):
                    phase = line[3:]
                    self.phases[phase] = []
                elif phase:
                    self.phases[phase].append(line)

    def conf(self, *path):
        parser = configparser.RawConfigParser(
            strict=False, default_section='nova-vmware-ext: no default')
        parser.read(os.path.join(self.work, 'etc', *path))
        return parser

    def section(self, path, section):
        return dict(self.conf(*path.split('/')).items(section))

    @property
    def output(self):
        return self.stdout + self.stderr


_workdirs = []


@atexit.register
def _remove_workdirs():
    for path in _workdirs:
        shutil.rmtree(path, ignore_errors=True)


@functools.lru_cache(maxsize=None)
def _run(settings, before='', stop_after_stack=False):
    """The harness with these localrc settings (a tuple of pairs), once per
    process."""
    work = tempfile.mkdtemp(prefix='devstack-harness-')
    _workdirs.append(work)
    if stop_after_stack:
        open(os.path.join(work, 'stop-after-stack'), 'w').close()
    with open(os.path.join(work, 'localrc'), 'w') as f:
        for name, value in settings:
            f.write('%s=%s\n' % (name, value))
    if before:
        with open(os.path.join(work, 'before.sh'), 'w') as f:
            f.write(before)
    # The harness's $PYTHON runs commands with ours (pyVmomi, oslo.vmware).
    proc = subprocess.run(
        ['bash', HARNESS, _devstack_dir(), REPO, work],
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
        env=dict(os.environ, HARNESS_PYTHON=sys.executable),
        timeout=HARNESS_TIMEOUT, check=False)
    return Run(work, proc)


def run(*settings, before='', stop_after_stack=False):
    """The harness with the union of these settings dicts; ``before``: bash
    run before devstack is sourced (``$work`` is the harness's directory);
    ``stop_after_stack``: no unstack.sh nor clean.sh."""
    merged = {}
    for group in settings:
        merged.update(group)
    return _run(tuple(sorted(merged.items())), before, stop_after_stack)


def vcsim_command(test, result):
    """The command line the plugin gave run_process for vcsim."""
    started = [line for line in result.phases['run_phase stack post-config']
               if line.startswith('run_process vmware-vcsim ')]
    test.assertEqual(1, len(started), started)
    return started[0].split()[2:]


class HarnessTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        missing = _missing()
        if missing:
            if _required():
                self.fail(missing)
            self.skipTest(missing)

    def assertRan(self, result):
        self.assertEqual(0, result.returncode, result.stderr[-3000:])


class LintTest(testtools.TestCase):

    def _tool_or_skip(self, name):
        path = _tool(name)
        if not path:
            message = '%s is not installed' % name
            if _required():
                self.fail(message)
            self.skipTest(message)
        return path

    def test_bashate_clean(self):
        # devstack's own bashate options (its tox.ini).
        proc = subprocess.run(
            [self._tool_or_skip('bashate'), '-iE006', '-eE005,E042']
            + SCRIPTS, capture_output=True, text=True, check=False)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)

    def test_shellcheck_clean(self):
        proc = subprocess.run(
            [self._tool_or_skip('shellcheck'), '-s', 'bash'] + SCRIPTS,
            capture_output=True, text=True, check=False)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)


class VCenterTest(HarnessTestCase):
    """A real vCenter named in local.conf, Glance on its datastore."""

    def setUp(self):
        super().setUp()
        self.result = run(VCENTER, GLANCE)
        self.assertRan(self.result)
        self.dest = os.path.join(self.result.work, 'dest')

    def test_nova_cpu_conf_names_the_driver_and_vcenter(self):
        cpu = self.result.conf('nova', 'nova-cpu.conf')
        self.assertEqual('vmware_ext.driver.VCDriver',
                         cpu.get('DEFAULT', 'compute_driver'))
        self.assertEqual({
            'host_ip': 'vc.example.org',
            'host_port': '443',
            'host_username': 'nova@vsphere.local',
            'host_password': 'Sup3r-S3cret-xyzzy',
            'cluster_name': 'Cluster01',
            'ca_file': '/etc/nova/vcenter-ca.pem',
            'datastore_regex': '^nfs-.*',
        }, dict(cpu.items('vmware')))

    def test_default_image_is_devstacks_cirros_disk(self):
        # stackrc has no image for VIRT_DRIVER=vmware_ext.
        version = re.search(r'CIRROS_VERSION:-"([^"]+)"', open(os.path.join(
            _devstack_dir(), 'stackrc')).read()).group(1)
        name = 'cirros-%s-%s-disk' % (version, os.uname().machine)
        self.assertEqual(
            ['-- image: %s https://github.com/cirros-dev/cirros/releases/'
             'download/%s/%s.img' % (name, version, name)],
            self.result.phases['override_defaults'])

    def test_nova_compute_runs_on_nova_cpu_conf(self):
        cpu_conf = os.path.join(self.result.work, 'etc', 'nova',
                                'nova-cpu.conf')
        started = self.result.phases['start_nova_compute']
        self.assertIn('run_process n-cpu %s/data/venv/bin/nova-compute '
                      '--config-file %s' % (self.dest, cpu_conf), started)
        everything = sum(self.result.phases.values(), [])
        self.assertEqual([], [line for line in everything
                              if 'vmware-vcsim' in line])

    def test_install_phase_installs_the_package_without_replacing_nova(self):
        install = self.result.phases['run_phase stack install']
        reqs = os.path.join(self.dest, 'data', 'nova-vmware-ext',
                            'requirements-without-nova.txt')
        self.assertIn('pip_install -r %s' % reqs, install)
        self.assertIn('pip_install --no-deps %s/nova-vmware-ext' % self.dest,
                      install)
        self.assertNotIn('-e', ' '.join(
            line for line in install if line.startswith('pip_install')
        ).split())
        with open(os.path.join(self.result.work,
                               'requirements-without-nova.txt')) as f:
            names = [re.split(r'[<>=!~ ;]', line)[0] for line in f
                     if line.strip() and not line.startswith('#')]
        self.assertNotIn('nova', names)
        self.assertIn('pyvmomi', names)
        self.assertIn('oslo.vmware', names)
        self.assertNotIn('install_package golang-go '
                         'golang-github-vmware-govmomi-dev', install)

    def test_shim_in_novas_tree_from_install_until_clean(self):
        listing = '-- shim: .installed-by-nova-vmware-ext __init__.py ' \
                  'driver.py '
        for phase in ('run_phase stack install', 'start_nova_compute',
                      'run_phase unstack'):
            self.assertIn(listing, self.result.phases[phase], phase)
        self.assertIn('-- shim: ', self.result.phases['run_phase clean'])

    def test_clean_removes_only_our_state(self):
        clean = self.result.phases['run_phase clean']
        self.assertIn('-- state: absent', clean)
        self.assertIn('-- state: present',
                      self.result.phases['run_phase unstack'])
        with open(os.path.join(self.dest, 'data', 'other')) as f:
            self.assertEqual("someone else's\n", f.read())
        nova_own = os.path.join(self.dest, 'nova', 'nova', 'virt', 'libvirt',
                                'driver.py')
        self.assertTrue(os.path.isfile(nova_own))
        self.assertTrue(os.path.isfile(os.path.join(
            REPO, 'nova', 'virt', 'vmware_ext', 'driver.py')))

    def test_unstack_stops_nothing_without_the_simulator(self):
        self.assertEqual(
            ['-- shim: .installed-by-nova-vmware-ext __init__.py driver.py ',
             '-- state: present'],
            self.result.phases['run_phase unstack'])

    def test_glance_stores_images_in_vsphere(self):
        self.assertEqual({
            'stores': 'vmware, http',
            'default_store': 'vmware',
            'vmware_server_host': 'vc.example.org',
            'vmware_server_username': 'nova@vsphere.local',
            'vmware_server_password': 'Sup3r-S3cret-xyzzy',
            'vmware_datastores': 'DC1:nfs-1',
            'vmware_store_image_dir': '/openstack_glance',
            'vmware_ca_file': '/etc/nova/vcenter-ca.pem',
        }, self.result.section('glance/glance-api.conf', 'glance_store'))

    def test_tempest_features_follow_the_readme_table(self):
        flags = self.result.section('tempest.conf', 'compute-feature-enabled')
        table = test_readme._table()
        for flag, operation in TEMPEST_FLAG_OPERATIONS.items():
            supported = table[operation][0].startswith('yes')
            self.assertEqual(str(supported), flags[flag],
                             '%s follows %s' % (flag, operation))
        # No vmware-vspc, no VNC asked for: their tests would fail.
        # Live migration refuses instances with volumes
        # (compute/live_migration.py).
        for flag in ('console_output', 'serial_console', 'vnc_console',
                     'spice_console', 'pause', 'change_password',
                     'volume_backed_live_migration'):
            self.assertEqual('False', flags[flag], flag)
        self.assertEqual('True', flags['config_drive'])

    def test_tempest_flags_set_after_devstacks_own(self):
        # The harness's configure_tempest sets live_migration False, as
        # lib/tempest does by default; the plugin's phase comes after.
        self.assertIn('configure_tempest',
                      self.result.phases['run_phase stack test-config'])
        flags = self.result.section('tempest.conf', 'compute-feature-enabled')
        self.assertEqual('True', flags['live_migration'])

    def test_no_secret_is_printed_with_xtrace_on(self):
        # xtrace was on: the plugin's calls are traced.
        self.assertIn('configure_nova_vmware_ext', self.result.stderr)
        self.assertIn('+ ', self.result.stderr)
        self.assertNotIn('Sup3r-S3cret-xyzzy', self.result.output)


class SimulatorTest(HarnessTestCase):
    """NOVA_VMWARE_EXT_SIMULATOR=True: our vcsim as a devstack service."""

    def setUp(self):
        super().setUp()
        self.result = run(SIMULATOR)
        self.assertRan(self.result)
        self.dest = os.path.join(self.result.work, 'dest')
        self.vcsim_dir = os.path.join(self.dest, 'data', 'nova-vmware-ext',
                                      'vcsim')

    def _vcsim_command(self):
        return vcsim_command(self, self.result)

    def test_install_builds_vcsim_with_debians_go_and_govmomi(self):
        install = self.result.phases['run_phase stack install']
        self.assertIn('install_package golang-go '
                      'golang-github-vmware-govmomi-dev', install)
        builds = [line for line in install if line.startswith('go build')]
        self.assertEqual(1, len(builds), install)
        self.assertIn(os.path.join(self.dest, 'data', 'nova-vmware-ext',
                                   'build', '.vcsim-'), builds[0])

    def test_vcsim_runs_as_a_service_before_nova_compute(self):
        command = self._vcsim_command()
        self.assertEqual(os.path.join(self.dest, 'nova-vmware-ext',
                                      'devstack', 'files', 'run-vcsim'),
                         command[0])
        self.assertRegex(command[1], r'/build/vcsim-[0-9a-f]{16}$')
        self.assertEqual(os.path.join(self.vcsim_dir, 'password'),
                         command[2])
        flags = dict(zip(command[3::2], command[4::2]))
        self.assertEqual({
            '-listen': '127.0.0.1:8989',
            '-username': 'nova@vsphere.local',
            '-cert-out': os.path.join(self.vcsim_dir, 'ca.pem'),
            '-tmpdir': os.path.join(self.vcsim_dir, 'datastores'),
            '-wsdl-dir': os.path.join(self.vcsim_dir, 'wsdl'),
            '-host': '3',
            '-ds': '2',
        }, flags)
        post_config = self.result.phases['run_phase stack post-config']
        # nova-compute starts after post-config: vcsim answers by then.
        self.assertEqual(
            'wait_for_service 60 https://127.0.0.1:8989/sdk',
            post_config[post_config.index(
                'run_process vmware-vcsim ' + ' '.join(command)) + 1])

    def test_nova_points_at_vcsim_and_verifies_its_certificate(self):
        vmware = self.result.section('nova/nova-cpu.conf', 'vmware')
        password = vmware.pop('host_password')
        self.assertRegex(password, r'^[0-9a-f]{32}$')
        self.assertEqual({
            'host_ip': '127.0.0.1',
            'host_port': '8989',
            'host_username': 'nova@vsphere.local',
            'cluster_name': 'DC0_C0',
            'ca_file': os.path.join(self.vcsim_dir, 'ca.pem'),
        }, vmware)

    def test_password_is_never_printed_nor_on_the_command_line(self):
        password = self.result.section('nova/nova-cpu.conf',
                                       'vmware')['host_password']
        self.assertNotIn(password, self.result.output)
        self.assertNotIn(password, ' '.join(self._vcsim_command()))
        self.assertIn('start_nova_vmware_ext_vcsim', self.result.stderr)

    def test_unstack_stops_vcsim_and_clean_removes_its_files(self):
        self.assertEqual([
            'systemctl is-enabled devstack@vmware-vcsim.service',
            'systemctl stop devstack@vmware-vcsim.service',
            'systemctl disable devstack@vmware-vcsim.service',
        ], [line for line in self.result.phases['run_phase unstack']
            if line.startswith('systemctl')])
        self.assertIn('-- state: absent',
                      self.result.phases['run_phase clean'])
        self.assertFalse(os.path.exists(self.vcsim_dir))

    def test_install_generates_the_wsdl_with_nova_computes_python(self):
        install = self.result.phases['run_phase stack install']
        python = os.path.join(self.dest, 'data', 'venv', 'bin', 'python3')
        self.assertIn('%s %s/nova-vmware-ext/tools/vcsim/wsdl_gen.py --out %s'
                      % (python, self.dest,
                         os.path.join(self.vcsim_dir, 'wsdl')), install)
        # The python beside nova-compute: where pip_install puts our
        # requirements (pyVmomi, oslo.vmware).
        self.assertIn('run_process n-cpu %s --config-file %s' % (
            os.path.join(os.path.dirname(python), 'nova-compute'),
            os.path.join(self.result.work, 'etc', 'nova', 'nova-cpu.conf')),
            self.result.phases['start_nova_compute'])
        # No privileged port without the Glance store: no setcap.
        self.assertEqual([], [line for line in install
                              if 'setcap' in line or 'libcap' in line])

    def test_tempest_tests_no_vnc_on_the_simulator(self):
        flags = self.result.section('tempest.conf', 'compute-feature-enabled')
        self.assertEqual('False', flags['vnc_console'])


class SimulatorGlanceStoreTest(HarnessTestCase):
    """The simulator with Glance's VMware store: vcsim on 443 serving the
    vim WSDL glance_store's suds client loads."""

    def setUp(self):
        super().setUp()
        self.result = run(SIMULATOR, {'GLANCE_VMWARE_STORE': 'True'},
                          stop_after_stack=True)
        self.assertRan(self.result)
        self.vcsim_dir = os.path.join(self.result.work, 'dest', 'data',
                                      'nova-vmware-ext', 'vcsim')
        self.wsdl_dir = os.path.join(self.vcsim_dir, 'wsdl')

    def test_vcsim_listens_on_443_and_serves_the_wsdl(self):
        command = vcsim_command(self, self.result)
        flags = dict(zip(command[3::2], command[4::2]))
        self.assertEqual('127.0.0.1:443', flags['-listen'])
        self.assertEqual(self.wsdl_dir, flags['-wsdl-dir'])
        post_config = self.result.phases['run_phase stack post-config']
        self.assertIn('wait_for_service 60 https://127.0.0.1:443/sdk',
                      post_config)
        self.assertEqual('443', self.result.section(
            'nova/nova-cpu.conf', 'vmware')['host_port'])

    def test_install_generated_the_wsdl_files(self):
        with open(os.path.join(self.wsdl_dir, 'vimService.wsdl')) as f:
            service = f.read()
        self.assertIn('<service name="VimService">', service)
        self.assertIn('location="vim.wsdl"', service)
        for name in ('vim.wsdl', 'vim-messagetypes.xsd', 'vim-types.xsd',
                     'core-types.xsd'):
            self.assertGreater(
                os.path.getsize(os.path.join(self.wsdl_dir, name)), 0, name)

    def test_a_copy_of_vcsim_may_bind_443_as_stack_user(self):
        install = self.result.phases['run_phase stack install']
        copy = os.path.join(self.vcsim_dir, 'vcsim')
        self.assertIn('install_package libcap2-bin', install)
        self.assertIn('sudo setcap cap_net_bind_service=+ep %s' % copy,
                      install)
        self.assertEqual(copy, vcsim_command(self, self.result)[1])
        self.assertTrue(os.access(copy, os.X_OK))

    def test_glance_store_points_at_the_simulator_with_its_ca(self):
        store = self.result.section('glance/glance-api.conf', 'glance_store')
        vmware = self.result.section('nova/nova-cpu.conf', 'vmware')
        self.assertEqual(vmware['host_password'],
                         store.pop('vmware_server_password'))
        self.assertEqual({
            'stores': 'vmware, http',
            'default_store': 'vmware',
            'vmware_server_host': '127.0.0.1',
            'vmware_server_username': 'nova@vsphere.local',
            'vmware_datastores': SIMULATOR_GLANCE_DATASTORES,
            'vmware_store_image_dir': '/openstack_glance',
            'vmware_ca_file': os.path.join(self.vcsim_dir, 'ca.pem'),
        }, store)

    def test_operators_datastores_win(self):
        result = run(SIMULATOR, GLANCE, stop_after_stack=True)
        self.assertRan(result)
        self.assertEqual('DC1:nfs-1', result.section(
            'glance/glance-api.conf', 'glance_store')['vmware_datastores'])

    def test_no_secret_is_printed(self):
        password = self.result.section('nova/nova-cpu.conf',
                                       'vmware')['host_password']
        self.assertIn('configure_glance_vmware_store', self.result.stderr)
        self.assertNotIn(password, self.result.output)
        self.assertNotIn(password, ' '.join(vcsim_command(self,
                                                          self.result)))


class BadSettingsTest(HarnessTestCase):
    """Wrong or missing settings stop stack.sh with a message naming them."""

    def assertStopped(self, result, message):
        self.assertNotEqual(0, result.returncode)
        self.assertIn(message, result.output)

    def test_vcenter_settings_missing(self):
        result = run({'VMWAREAPI_IP': 'vc.example.org'})
        self.assertStopped(
            result, 'nova-vmware-ext needs VMWAREAPI_USER VMWAREAPI_PASSWORD '
            'VMWAREAPI_CLUSTER in local.conf')
        self.assertNotIn('compute_driver', open(os.path.join(
            result.work, 'etc', 'nova', 'nova.conf')).read())

    def test_ca_file_and_insecure_together(self):
        result = run(VCENTER, {'VMWAREAPI_INSECURE': 'True'})
        self.assertStopped(
            result, 'set VMWAREAPI_CA_FILE or VMWAREAPI_INSECURE=True, '
            'not both')
        self.assertNotIn('Sup3r-S3cret-xyzzy', result.output)

    def test_glance_store_without_datastores(self):
        result = run(VCENTER, {'GLANCE_VMWARE_STORE': 'True'})
        self.assertStopped(result, 'GLANCE_VMWARE_STORE=True needs '
                           'GLANCE_VMWARE_DATASTORES')

    def test_glance_store_on_a_vcenter_off_443(self):
        result = run(VCENTER, GLANCE, {'VMWAREAPI_PORT': '8443'})
        self.assertStopped(result, "glance_store's vmware store has no port "
                           "option: vCenter must listen on 443 "
                           "(VMWAREAPI_PORT=8443)")
        self.assertNotIn('Sup3r-S3cret-xyzzy', result.output)

    def test_glance_store_on_a_simulator_off_443(self):
        result = run(SIMULATOR, GLANCE, {'NOVA_VMWARE_EXT_VCSIM_PORT': '8989'})
        self.assertStopped(result, 'the simulator must listen on 443 '
                           '(NOVA_VMWARE_EXT_VCSIM_PORT=8989; unset it)')
        self.assertNotIn('glance_store', open(os.path.join(
            result.work, 'etc', 'glance', 'glance-api.conf')).read())

    def test_simulator_on_443_beside_tls_proxy(self):
        result = run(SIMULATOR, GLANCE, {'ENABLED_SERVICES+': ',tls-proxy'})
        self.assertStopped(result, "the simulator's port 443 is tls-proxy's")
        self.assertNotIn('setcap', open(os.path.join(
            result.work, 'record')).read())

    def test_wsdl_generation_failure_names_the_command(self):
        result = run(SIMULATOR, before='export HARNESS_PYTHON=false\n')
        dest = os.path.join(result.work, 'dest')
        self.assertStopped(
            result, 'generating the vim WSDL failed: %s/data/venv/bin/python3 '
            '%s/nova-vmware-ext/tools/vcsim/wsdl_gen.py --out '
            '%s/data/nova-vmware-ext/vcsim/wsdl' % (dest, dest, dest))
        self.assertNotIn('== run_phase stack post-config', open(
            os.path.join(result.work, 'record')).read())

    def test_foreign_vmware_ext_in_novas_tree_is_left_alone(self):
        before = (
            'mkdir -p "$work/dest/nova/nova/virt/vmware_ext"\n'
            'echo mine >"$work/dest/nova/nova/virt/vmware_ext/__init__.py"\n')
        result = run(VCENTER, before=before)
        target = os.path.join(result.work, 'dest', 'nova', 'nova', 'virt',
                              'vmware_ext')
        self.assertStopped(result, '%s exists and was not installed by '
                           'nova-vmware-ext' % target)
        with open(os.path.join(target, '__init__.py')) as f:
            self.assertEqual('mine\n', f.read())

    def test_clean_refuses_a_state_dir_that_is_not_ours(self):
        result = run(VCENTER, {'NOVA_VMWARE_EXT_STATE_DIR': '$DATA_DIR'})
        data_dir = os.path.join(result.work, 'dest', 'data')
        self.assertStopped(result, 'NOVA_VMWARE_EXT_STATE_DIR=%s is not a '
                           'directory of its own' % data_dir)
        self.assertIn('== run_phase clean', open(os.path.join(
            result.work, 'record')).read())
        with open(os.path.join(data_dir, 'other')) as f:
            self.assertEqual("someone else's\n", f.read())


class AwkwardValuesTest(HarnessTestCase):

    def test_values_reach_nova_conf_unchanged(self):
        awkward = {
            'VMWAREAPI_USER': r"'DOMAIN\nova'",
            'VMWAREAPI_PASSWORD': r"'p@ss w|rd&x/y\z#1'",
            'VMWAREAPI_CLUSTER': "'DC 1/Cluster 01'",
        }
        result = run(VCENTER, awkward)
        self.assertRan(result)
        vmware = result.section('nova/nova-cpu.conf', 'vmware')
        self.assertEqual(
            (r'DOMAIN\nova', r'p@ss w|rd&x/y\z#1', 'DC 1/Cluster 01'),
            (vmware['host_username'], vmware['host_password'],
             vmware['cluster_name']))
        self.assertNotIn('w|rd&x', result.output)
