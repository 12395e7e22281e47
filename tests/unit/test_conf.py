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

"""The [vmware] section works with or without Nova's own registration."""

import io
import logging
import os

import fixtures
from nova.conf import vmware as nova_vmware_conf
from oslo_config import cfg
from oslo_config import generator
import testtools

from nova_vmware_ext import conf

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _opts_by_name(group_opts):
    return {opt.name: opt for opt in group_opts}


class RegistrationTest(testtools.TestCase):

    def _conf_file(self, text):
        path = self.useFixture(
            fixtures.TempDir()).join('nova.conf')
        with open(path, 'w') as f:
            f.write(text)
        return path

    def _check_reads_section(self, config):
        path = self._conf_file(
            '[vmware]\nhost_ip = vc.example.org\nhost_username = admin\n'
            'host_password = s3cret\ncluster_name = Cluster A\n'
            'datastore_regex = nas.*\n[vmware_ext]\ntask_timeout = 60\n')
        config(args=[], default_config_files=[path])
        self.assertEqual('vc.example.org', config.vmware.host_ip)
        self.assertEqual('s3cret', config.vmware.host_password)
        self.assertEqual('Cluster A', config.vmware.cluster_name)
        self.assertEqual('nas.*', config.vmware.datastore_regex)
        self.assertEqual(443, config.vmware.host_port)
        self.assertTrue(config.vmware.use_linked_clone)
        self.assertEqual(60, config.vmware_ext.task_timeout)

    def test_without_nova_registration(self):
        config = cfg.ConfigOpts()
        conf.register_opts(config)
        for opt in conf.vmware_opts:
            self.assertIn(opt.name, config.vmware)
        self._check_reads_section(config)

    def test_after_nova_registration(self):
        config = cfg.ConfigOpts()
        nova_vmware_conf.register_opts(config)
        conf.register_opts(config)  # must not raise DuplicateOptError
        self._check_reads_section(config)

    def test_registering_twice_is_harmless(self):
        config = cfg.ConfigOpts()
        conf.register_opts(config)
        conf.register_opts(config)
        self._check_reads_section(config)

    def test_every_in_tree_option_is_declared_alike(self):
        ours = _opts_by_name(conf.vmware_opts)
        for group, opts in nova_vmware_conf.list_opts().items():
            for opt in opts:
                self.assertIn(opt.name, ours, 'in-tree [vmware] %s missing'
                              % opt.name)
                mine = ours[opt.name]
                self.assertEqual(type(opt), type(mine), opt.name)
                self.assertEqual(opt.default, mine.default, opt.name)
                self.assertEqual(opt.secret, mine.secret, opt.name)

    def test_password_is_secret(self):
        self.assertTrue(_opts_by_name(conf.vmware_opts)['host_password']
                        .secret)

    def test_list_opts(self):
        groups = {group.name: opts for group, opts in conf.list_opts()}
        self.assertEqual({'vmware', 'vmware_ext'}, set(groups))
        self.assertIn('task_timeout', _opts_by_name(groups['vmware_ext']))


class UnactedOptionsTest(testtools.TestCase):
    """Options the driver does not act on are named when the operator sets
    them, never when left alone."""

    def _config(self, text, nova_first=True):
        path = self.useFixture(fixtures.TempDir()).join('nova.conf')
        with open(path, 'w') as f:
            f.write(text)
        config = cfg.ConfigOpts()
        if nova_first:
            nova_vmware_conf.register_opts(config)
        conf.register_opts(config)
        config(args=[], default_config_files=[path])
        return config

    def test_nothing_set_nothing_named(self):
        config = self._config('[vmware]\nhost_ip = vc\ncluster_name = c\n')
        self.assertEqual([], conf.unacted_options(config))

    def test_options_set_in_the_file_are_named(self):
        # maximum_objects = 100 equals the default, but the operator wrote
        # it; pbm_enabled acts.
        config = self._config(
            '[vmware]\nhost_ip = vc\nmaximum_objects = 100\n'
            'pbm_enabled = False\npbm_wsdl_location = x\nvnc_port = 5901\n'
            'task_poll_interval = 1.0\n'
            'serial_port_service_uri = vspc\nuse_linked_clone = False\n'
            '[vmware_ext]\npage_size = 10\n')
        # The console options (vnc_port, serial_port_service_uri) act.
        self.assertEqual(
            ['vmware.maximum_objects', 'vmware.pbm_wsdl_location',
             'vmware.task_poll_interval'], conf.unacted_options(config))
        # The section keeps loading: the values are there.
        self.assertEqual(5901, config.vmware.vnc_port)
        self.assertFalse(config.vmware.use_linked_clone)

    def test_without_novas_registration_too(self):
        config = self._config('[vmware]\npbm_wsdl_location = x\n'
                              'pbm_default_policy = gold\n'
                              'console_delay_seconds = 2\n',
                              nova_first=False)
        self.assertEqual(['vmware.pbm_wsdl_location'],
                         conf.unacted_options(config))
        self.assertEqual(2, config.vmware.console_delay_seconds)

    def test_an_override_counts_when_it_changes_the_value(self):
        config = self._config('')
        for name, value in (('maximum_objects', 500),
                            ('vnc_keymap', 'en-us')):
            config.set_override(name, value, group='vmware')
            # Overrides live in the group object, which Nova shares.
            self.addCleanup(config.clear_override, name, group='vmware')
        self.assertEqual(['vmware.maximum_objects'],
                         conf.unacted_options(config))

    def test_every_listed_option_exists(self):
        declared = {group.name: _opts_by_name(opts)
                    for group, opts in conf.list_opts()}
        for group, names in conf.UNACTED_OPTIONS.items():
            for name in names:
                self.assertIn(name, declared[group])

    def test_one_warning_per_option_naming_it(self):
        logger = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))
        config = self._config('[vmware]\nmaximum_objects = 5\n'
                              'vnc_keymap = de\npbm_wsdl_location = x\n'
                              'pbm_enabled = True\n')
        conf.warn_unacted_options(config)
        lines = logger.output.strip().splitlines()
        self.assertEqual(2, len(lines), lines)
        self.assertIn('[vmware] maximum_objects is set', lines[0])
        self.assertIn('not yet supported', lines[0])
        self.assertIn('[vmware] pbm_wsdl_location is set', lines[1])
        self.assertIn('no WSDL is needed', lines[1])


class SampleConfigTest(testtools.TestCase):
    """etc/nova-vmware-ext.conf.sample is what the generator makes now."""

    def test_sample_is_current(self):
        gen_conf = cfg.ConfigOpts()
        generator.register_cli_opts(gen_conf)
        gen_conf(args=['--config-file', os.path.join(
            TOP, 'etc', 'oslo-config-generator', 'nova-vmware-ext.conf')])
        out = io.StringIO()
        generator.generate(gen_conf, output_file=out)
        with open(os.path.join(TOP, 'etc',
                               'nova-vmware-ext.conf.sample')) as f:
            committed = f.read()
        self.assertEqual(
            committed, out.getvalue(),
            'etc/nova-vmware-ext.conf.sample is stale: run tox -e genconfig')

    def test_sample_says_which_options_have_no_effect(self):
        with open(os.path.join(TOP, 'etc',
                               'nova-vmware-ext.conf.sample')) as f:
            sample = f.read()
        # Each option's help is the comment block just above its line.
        blocks = sample.split('\n\n')
        for name, why in conf.UNACTED_OPTIONS['vmware'].items():
            block = [b for b in blocks if '\n#%s = ' % name in '\n' + b]
            self.assertEqual(1, len(block), name)
            # Compared without spaces: the generator wraps lines anywhere.
            help_text = ''.join(block[0].replace('#', ' ').split())
            expected = ('Notusedbynova-vmware-ext'
                        if why.startswith('not used') else
                        'Notyetsupportedbynova-vmware-ext')
            self.assertIn(expected, help_text, name)
