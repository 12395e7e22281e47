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

"""vcsim's EnvironmentBrowser answers as an ESXi 7.0 U2 host does.

govmomi 0.24.2 knows only vmx-13 (not even as the default) and returns
vmx-13 for any key; tools/vcsim/env_browser.go lists vmx-07 to vmx-19, the
last the default, for clusters and standalone hosts alike.
"""

import fixtures
from pyVim import task as task_util
from pyVmomi import vim
from pyVmomi import vmodl
import testtools

from tests import vcsim

ESXI_70U2 = ['vmx-07', 'vmx-08', 'vmx-09', 'vmx-10', 'vmx-11', 'vmx-13',
             'vmx-14', 'vmx-15', 'vmx-17', 'vmx-18', 'vmx-19']


class EnvironmentBrowserTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(clusters=1, hosts=2, standalone_hosts=1)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()

    def browser(self, vimtype, name):
        for moid, props in vcsim.query(
                self.si, vimtype, ['name', 'environmentBrowser',
                                   'host']).items():
            if props['name'] == name:
                return props['environmentBrowser'], props['host']
        raise LookupError(name)

    def test_cluster_descriptors(self):
        browser, hosts = self.browser(vim.ClusterComputeResource, 'DC0_C0')
        descriptors = browser.QueryConfigOptionDescriptor()
        self.assertEqual(ESXI_70U2, [d.key for d in descriptors])
        self.assertEqual(['vmx-19'], [d.key for d in descriptors
                                      if d.defaultConfigOption])
        self.assertTrue(all(d.createSupported and d.runSupported
                            for d in descriptors))
        self.assertEqual('ESXi 7.0 U2 virtual machine',
                         descriptors[-1].description)
        self.assertEqual(sorted(h._moId for h in hosts),
                         sorted(h._moId for h in descriptors[0].host))
        self.assertEqual(2, len(descriptors[0].host))

    def test_standalone_host_descriptors(self):
        browser, hosts = self.browser(vim.ComputeResource, 'DC0_H0')
        descriptors = browser.QueryConfigOptionDescriptor()
        self.assertEqual(ESXI_70U2, [d.key for d in descriptors])
        self.assertEqual([hosts[0]._moId],
                         [h._moId for h in descriptors[0].host])

    def test_config_option_of_a_key(self):
        browser, _ = self.browser(vim.ClusterComputeResource, 'DC0_C0')
        option = browser.QueryConfigOption(key='vmx-15')
        self.assertEqual('vmx-15', option.version)
        self.assertEqual(15, option.hardwareOptions.hwVersion)
        self.assertEqual(256, option.hardwareOptions.numCoresPerSocket.max)
        self.assertIn('otherGuest64',
                      [g.id for g in option.guestOSDescriptor])
        self.assertTrue(option.defaultDevice)

    def test_config_option_default_is_vmx_19(self):
        browser, _ = self.browser(vim.ClusterComputeResource, 'DC0_C0')
        self.assertEqual('vmx-19', browser.QueryConfigOption().version)

    def test_config_option_ex_filters_guests(self):
        browser, _ = self.browser(vim.ClusterComputeResource, 'DC0_C0')
        option = browser.QueryConfigOptionEx(
            spec=vim.EnvironmentBrowser.ConfigOptionQuerySpec(
                key='vmx-14', guestId=['otherGuest64']))
        self.assertEqual('vmx-14', option.version)
        self.assertEqual(['otherGuest64'],
                         [g.id for g in option.guestOSDescriptor])

    def test_unknown_key_is_invalid_argument(self):
        browser, _ = self.browser(vim.ClusterComputeResource, 'DC0_C0')
        for key in ('vmx-16', 'vmx-20', 'vmx-999'):
            e = self.assertRaises(vmodl.fault.InvalidArgument,
                                  browser.QueryConfigOption, key=key)
            self.assertEqual('key', e.invalidProperty)

    def test_vm_environment_browser_is_its_cluster_one(self):
        # A VM's environmentBrowser is its compute resource's.
        dc = self.si.content.rootFolder.childEntity[0]
        cluster_browser, _ = self.browser(vim.ClusterComputeResource,
                                          'DC0_C0')
        pool = vcsim.query(self.si, vim.ClusterComputeResource,
                           ['resourcePool'])
        pool = next(iter(pool.values()))['resourcePool']
        spec = vim.vm.ConfigSpec(
            name='env-vm', guestId='otherGuest64', numCPUs=1, memoryMB=64,
            files=vim.vm.FileInfo(vmPathName='[LocalDS_0]'))
        task = dc.vmFolder.CreateVM_Task(config=spec, pool=pool)
        task_util.WaitForTask(task, si=self.si)
        vm = task.info.result
        self.assertEqual(cluster_browser._moId, vm.environmentBrowser._moId)
        self.assertEqual('vmx-19', vm.environmentBrowser.QueryConfigOption(
            key='vmx-19').version)
        # Made without config.version: the default version (stock: vmx-13).
        self.assertEqual('vmx-19', vm.config.version)


class OlderHostsTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """-max-hw-version makes the hosts older: ESXi 6.7 knows vmx-14."""

    VCSIM_SHAPE = dict(clusters=1, hosts=1, vms=1,
                       extra_args=('-max-hw-version', 'vmx-14'))

    def test_list_ends_at_the_maximum(self):
        si = self.vcsim.connect()
        [props] = vcsim.query(si, vim.ClusterComputeResource,
                              ['environmentBrowser']).values()
        browser = props['environmentBrowser']
        descriptors = browser.QueryConfigOptionDescriptor()
        self.assertEqual(ESXI_70U2[:ESXI_70U2.index('vmx-14') + 1],
                         [d.key for d in descriptors])
        self.assertEqual(['vmx-14'], [d.key for d in descriptors
                                      if d.defaultConfigOption])
        self.assertRaises(vmodl.fault.InvalidArgument,
                          browser.QueryConfigOption, key='vmx-15')
        # The inventory's VMs and new ones get the default version.
        versions = vcsim.query(si, vim.VirtualMachine, ['config.version'])
        self.assertEqual({'vmx-14'},
                         {p['config.version'] for p in versions.values()})

    def test_unknown_maximum_is_refused_at_start(self):
        fx = vcsim.VcsimFixture(hosts=1,
                                extra_args=('-max-hw-version', 'vmx-16'))
        e = self.assertRaises(fixtures.MultipleExceptions, fx.setUp)
        error = e.args[0][1]  # the first (type, value, traceback)
        self.assertIsInstance(error, vcsim.VcsimError)
        self.assertIn('-max-hw-version "vmx-16": not one of vmx-07',
                      str(error))
