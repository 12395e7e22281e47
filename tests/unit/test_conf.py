"""The [vmware] section works with or without Nova's own registration."""

import io
import os

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
            __import__('fixtures').TempDir()).join('nova.conf')
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
