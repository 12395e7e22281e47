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

"""Power operations: on, off (clean, then hard), reboot soft and hard.

Each hard operation is one vCenter task and one WaitForUpdatesEx. A clean
shutdown asks the guest through VMware Tools and watches the VM's power
state, asking again every ``retry_interval`` seconds, before powering off.
"""

from nova.compute import power_state
from nova import exception
from oslo_log import log as logging
from oslo_vmware import exceptions as vexc

LOG = logging.getLogger(__name__)

_TOOLS_RUNNING = 'guestToolsRunning'


class PowerOps(object):

    def __init__(self, waiter, instances):
        self.waiter = waiter
        self.instances = instances

    def _task(self, instance, start, what):
        """Start a task on the instance's VM and wait for it."""
        task = self.instances.call(instance, start)
        return self.waiter.wait(task, '%s of instance %s' % (
            what, instance.uuid))

    def power_on(self, instance):
        try:
            self._task(instance, lambda vm: vm.PowerOnVM_Task(), 'power on')
        except vexc.InvalidPowerStateException:
            LOG.info('VM is already powered on', instance=instance)
            return
        LOG.info('Powered on', instance=instance)

    def power_off(self, instance, timeout=0, retry_interval=0):
        if timeout and self._clean_shutdown(instance, timeout,
                                            retry_interval):
            return
        try:
            self._task(instance, lambda vm: vm.PowerOffVM_Task(), 'power off')
        except vexc.InvalidPowerStateException:
            LOG.info('VM is already powered off', instance=instance)
            return
        LOG.info('Powered off', instance=instance)

    def _clean_shutdown(self, instance, timeout, retry_interval):
        """Ask the guest to shut down; True once it is off in time."""
        item = self.instances.read(instance, ['runtime.powerState',
                                              'guest.toolsRunningStatus'])
        vm = item['obj']
        if item.get('runtime.powerState') == 'poweredOff':
            return True
        if item.get('guest.toolsRunningStatus') != _TOOLS_RUNNING:
            LOG.info('VMware Tools are not running: powering off without '
                     'a guest shutdown', instance=instance)
            return False
        interval = retry_interval if 0 < retry_interval < timeout else timeout
        waited = 0
        while waited < timeout:
            try:
                vm.ShutdownGuest()
            except (vexc.ToolsUnavailableException,
                    vexc.InvalidPowerStateException) as exc:
                LOG.info('Guest shutdown refused (%s)', exc,
                         instance=instance)
                return False
            step = min(interval, timeout - waited)
            if self.waiter.wait_for_property(
                    vm, 'runtime.powerState',
                    lambda state: state == 'poweredOff', step):
                LOG.info('Guest shut down cleanly', instance=instance)
                return True
            waited += step
        LOG.warning('Guest did not shut down within %d seconds: powering '
                    'off', timeout, instance=instance)
        return False

    def reboot(self, instance, reboot_type):
        if reboot_type == 'SOFT' and self._guest_reboot(instance):
            return
        self._task(instance, lambda vm: vm.ResetVM_Task(), 'reset')
        LOG.info('Reset (hard reboot)', instance=instance)

    def _guest_reboot(self, instance):
        item = self.instances.read(instance, ['runtime.powerState',
                                              'guest.toolsRunningStatus'])
        if item.get('runtime.powerState') != 'poweredOn':
            raise exception.InstanceRebootFailure(
                reason='the VM is %s' % item.get('runtime.powerState'))
        if item.get('guest.toolsRunningStatus') != _TOOLS_RUNNING:
            LOG.info('VMware Tools are not running: resetting instead of '
                     'a guest reboot', instance=instance)
            return False
        try:
            item['obj'].RebootGuest()
        except vexc.ToolsUnavailableException as exc:
            LOG.info('Guest reboot refused (%s): resetting', exc,
                     instance=instance)
            return False
        LOG.info('Guest rebooting (soft reboot)', instance=instance)
        return True

    def resume_state_on_host_boot(self, instance):
        """After a compute restart: the VM runs again if it should."""
        state = self.instances.info(instance).state
        if state != power_state.RUNNING:
            self.power_on(instance)
