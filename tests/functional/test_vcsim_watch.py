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

"""vcsim tells a second property collector what the VM watcher needs.

The driver's watcher (vsphere/watch.py) waits on a collector of its own,
with a filter on a ContainerView of the cluster's VMs, while other sessions
change the VMs. Each test states the vSphere behaviour it checks; the
identity changes (tools/vcsim/vm_reconfig_identity.go) and keyed paths
below a changed property (tools/vcsim/pc_wait.go) were missing in vcsim.
"""

from pyVim import task as task_util
from pyVmomi import vim
from pyVmomi import vmodl
import testtools

from tests import vcsim

PC = vmodl.query.PropertyCollector
KEY_PATH = 'config.extraConfig["nvp.vm-uuid"]'
PATHS = ['runtime.powerState', 'config.managedBy', 'config.instanceUuid',
         KEY_PATH]


def changes(update):
    """{path: value} of the one object an UpdateSet reports."""
    [filter_update] = update.filterSet
    [obj_update] = filter_update.objectSet
    return {c.name: (None if c.op == 'remove' else c.val)
            for c in obj_update.changeSet or ()}


class SecondCollectorTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(clusters=1, hosts=1, vms=1)

    def setUp(self):
        super().setUp()
        # The watcher's session, and an admin's.
        self.watching = self.vcsim.connect()
        self.admin = self.vcsim.connect()
        content = self.watching.content
        cluster = content.rootFolder.childEntity[0].hostFolder.childEntity[0]
        view = content.viewManager.CreateContainerView(
            cluster, [vim.VirtualMachine], True)
        self.addCleanup(view.DestroyView)
        self.collector = content.propertyCollector.CreatePropertyCollector()
        self.addCleanup(self.collector.DestroyPropertyCollector)
        self.collector.CreateFilter(PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[
                PC.TraversalSpec(name='view', type=vim.view.ContainerView,
                                 path='view', skip=False)])],
            propSet=[PC.PropertySpec(type=vim.VirtualMachine,
                                     pathSet=PATHS)]), False)
        first = self.collector.WaitForUpdatesEx('', PC.WaitOptions(
            maxWaitSeconds=0))
        self.version = first.version
        vm = first.filterSet[0].objectSet[0].obj
        self.vm = vim.VirtualMachine(vm._moId, self.admin._stub)

    def next_update(self):
        update = self.collector.WaitForUpdatesEx(
            self.version, PC.WaitOptions(maxWaitSeconds=5))
        self.assertIsNotNone(update, 'no update within 5 s')
        self.version = update.version
        return changes(update)

    def reconfigure(self, **spec):
        task_util.WaitForTask(self.vm.ReconfigVM_Task(
            vim.vm.ConfigSpec(**spec)))

    def test_power_change_of_another_session(self):
        state = self.vm.runtime.powerState
        task_util.WaitForTask(self.vm.PowerOffVM_Task()
                              if state == 'poweredOn'
                              else self.vm.PowerOnVM_Task())
        self.assertEqual(
            {'runtime.powerState': 'poweredOff' if state == 'poweredOn'
             else 'poweredOn'}, self.next_update())

    def test_an_extra_config_key_set_and_removed(self):
        self.reconfigure(extraConfig=[vim.option.OptionValue(
            key='nvp.vm-uuid', value='b0a4cc4e')])
        found = self.next_update()
        self.assertEqual(['nvp.vm-uuid', 'b0a4cc4e'],
                         [found[KEY_PATH].key, found[KEY_PATH].value])
        self.reconfigure(extraConfig=[vim.option.OptionValue(
            key='nvp.vm-uuid', value='')])  # an empty value removes it
        self.assertEqual({KEY_PATH: None}, self.next_update())

    def test_managed_by_and_instance_uuid(self):
        self.reconfigure(managedBy=vim.ext.ManagedByInfo(
            extensionKey='org.openstack.compute', type='instance'),
            instanceUuid='5f0c7a4e-1d2b-4c3a-9e8f-7a6b5c4d3e2f')
        found = self.next_update()
        self.assertEqual('org.openstack.compute',
                         found['config.managedBy'].extensionKey)
        self.assertEqual('5f0c7a4e-1d2b-4c3a-9e8f-7a6b5c4d3e2f',
                         found['config.instanceUuid'])
        # A reconfigure that changes neither tells nothing of them.
        self.reconfigure(annotation='unrelated')
        self.assertIsNone(self.collector.WaitForUpdatesEx(
            self.version, PC.WaitOptions(maxWaitSeconds=1)))
