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

"""A VCDriver connected to a vcsim, for tests of driver operations."""

import fixtures
from nova import conf as nova_conf
from nova import objects
from nova.virt import fake
from oslo_config import fixture as config_fixture
from oslo_utils import uuidutils
from pyVim import task as task_util
from pyVmomi import vim
from pyVmomi import vmodl
import testtools

from nova_vmware_ext.compute import instances as vinstances
from nova_vmware_ext import driver as vc_driver
from tests import leaks
from tests import vcsim

CONF = nova_conf.CONF
objects.register_all()


def wait_task(task):
    """Test-side wait (pyVim's own), independent of the driver's waiter."""
    task_util.WaitForTask(task)
    return task.info.result


def destroy_vm(vm):
    """Power off and destroy a VM if it still exists (test cleanup)."""
    try:
        if vm.runtime.powerState != 'poweredOff':
            wait_task(vm.PowerOffVM_Task())
        wait_task(vm.Destroy_Task())
    except vmodl.fault.ManagedObjectNotFound:
        pass


class RecordingNetworkAPI(object):
    """Nova's Neutron API as far as the driver uses it: the vnic index
    of each port id, as last set (None: cleared)."""

    def __init__(self):
        self.vnic_indexes = {}

    def update_instance_vnic_index(self, context, instance, vif, index):
        self.vnic_indexes[vif['id']] = index


class DriverTestCase(vcsim.VcsimClassMixin, testtools.TestCase):
    """``self.driver`` is connected to the class's vcsim (cluster DC0_C0);
    ``self.si`` is an independent pyvmomi connection for assertions.

    After each test (and its cleanups) every datastore file and VM must be
    as before, except what the test declared it keeps
    (``keep_cache_entry``): see tests/leaks.py.
    """

    CLUSTER = 'DC0_C0'

    def setUp(self):
        super().setUp()
        # The driver's warnings (faults the tests inject, server groups
        # without a database...) go with the test's details, first so that
        # the cleanups' own lines are captured too.
        self.useFixture(fixtures.FakeLogger())
        self.flags = self.useFixture(config_fixture.Config(CONF))
        # nova-compute parses its configuration before loading a driver;
        # Nova's version string (in each VM's annotation) needs that.
        CONF([], project='nova', default_config_files=[])
        fx = self.vcsim
        for name, value in (('host_ip', fx.host), ('host_port', fx.port),
                            ('host_username', fx.username),
                            ('host_password', fx.password),
                            ('ca_file', fx.ca_file),
                            ('cluster_name', self.CLUSTER),
                            ('api_retry_count', 2)):
            self.flags.config(group='vmware', **{name: value})
        self.flags.config(group='vmware_ext', task_update_wait=5,
                          api_retry_interval=0.05)
        # The image cache folder is then "_base", as tests name it (the
        # in-tree rule: <my_ip><subdirectory_name>; test_driver_image_cache
        # covers a real my_ip).
        self.flags.config(my_ip='')
        self.network_api = RecordingNetworkAPI()
        self.useFixture(fixtures.MockPatch('nova.network.neutron.API',
                                           return_value=self.network_api))
        self.driver = vc_driver.VCDriver(fake.FakeVirtAPI())
        self.driver.init_host('compute-test')
        self.addCleanup(self.driver.cleanup_host, 'compute-test')
        self.si = fx.connect()
        self.leaks = self.useFixture(leaks.LeakCheck(self.si))
        # The cache's root folder outlives its entries, as in-tree; what is
        # inside it is still checked entry by entry.
        self.leaks.keep(['%s/' % self.driver._host.cache_folder])

    def keep_cache_entry(self, image_id, sizes_gb=()):
        """This test fills the image cache entry of ``image_id``, which
        the cache keeps by design (and grown copies of ``sizes_gb``)."""
        self.leaks.keep_cache_entry(self.driver._host.cache_folder,
                                    image_id, sizes_gb)

    def restart_driver(self):
        """nova-compute restarted: a new driver reads the options again."""
        self.driver.cleanup_host('compute-test')
        self.driver = vc_driver.VCDriver(fake.FakeVirtAPI())
        self.driver.init_host('compute-test')
        self.addCleanup(self.driver.cleanup_host, 'compute-test')
        return self.driver

    @property
    def session(self):
        return self.driver._host.session

    def query(self, vimtype, paths, root=None):
        return vcsim.query(self.si, vimtype, paths, root)

    def vm_of(self, instance_uuid, paths=('name',)):
        """Properties of the VM whose instanceUuid is ``instance_uuid``."""
        found = self.query(vim.VirtualMachine,
                           ['config.instanceUuid'] + list(paths))
        for moid, item in found.items():
            if item.get('config.instanceUuid') == instance_uuid:
                item['moid'] = moid
                return item
        return None

    def make_nova_vm(self, instance_uuid=None, managed=True, power_on=False,
                     extra_config=None, instance_uuid_prop=None,
                     nova_key=True):
        """A VM as the in-tree driver (or we) would have made it."""
        instance_uuid = instance_uuid or uuidutils.generate_uuid()
        content = self.si.RetrieveContent()
        dc = content.rootFolder.childEntity[0]
        cluster = [c for c in dc.hostFolder.childEntity
                   if c.name == self.CLUSTER][0]
        options = {vinstances.UUID_KEY: instance_uuid} if nova_key else {}
        options.update(extra_config or {})
        spec = vim.vm.ConfigSpec(
            name=instance_uuid, guestId='otherGuest', numCPUs=1,
            memoryMB=64,
            instanceUuid=instance_uuid_prop or instance_uuid,
            files=vim.vm.FileInfo(vmPathName='[LocalDS_0]'),
            extraConfig=[vim.option.OptionValue(key=k, value=v)
                         for k, v in options.items()])
        if managed:
            spec.managedBy = vim.ext.ManagedByInfo(
                extensionKey=vinstances.EXTENSION_KEY,
                type=vinstances.EXTENSION_TYPE_INSTANCE)
        task = dc.vmFolder.CreateVM_Task(spec, cluster.resourcePool)
        vm = wait_task(task)
        self.addCleanup(destroy_vm, vm)
        if power_on:
            wait_task(vm.PowerOnVM_Task())
        if managed or nova_key:
            self.await_watcher(instance_uuid,
                               'poweredOn' if power_on else 'poweredOff')
        return instance_uuid, vm

    def await_watcher(self, instance_uuid, power_state=None, timeout=10):
        """Wait until the driver's VM watcher shows the instance's VM (in
        ``power_state``; gone for None): a change made behind the driver's
        back reaches its table a moment later."""
        def seen(table):
            state = table.get(instance_uuid)
            if power_state is None:
                return state is None
            return state is not None and state.power_state == power_state
        self.assertTrue(self.driver._host.watcher.table.wait_for(
            seen, timeout), 'the VM watcher did not see %s %s' % (
                instance_uuid, power_state or 'gone'))

    def instance(self, instance_uuid, **kwargs):
        return objects.Instance(uuid=instance_uuid, **kwargs)
