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

"""Suspend and resume: the VM's memory to its folder and back.

vSphere suspends a poweredOn VM (SuspendVM_Task) and resumes a suspended
one by powering it on. It has no pause; the driver refuses that as the
in-tree driver does. Both are idempotent, as Nova's driver contract wants:
suspending a suspended VM and resuming a running one are done. Suspending
a poweredOff VM fails naming its state (in-tree); resuming a poweredOff VM
(someone powered it off, which discards the suspended state) powers it on,
as libvirt's resume boots a domain that is gone, with a warning.
"""

from nova import exception
from oslo_log import log as logging
from oslo_vmware import exceptions as vexc

LOG = logging.getLogger(__name__)

_ON, _OFF, _SUSPENDED = 'poweredOn', 'poweredOff', 'suspended'


class SuspendOps(object):

    def __init__(self, waiter, instances):
        self.waiter = waiter
        self.instances = instances

    def _state(self, instance):
        item = self.instances.read(instance, ['runtime.powerState'])
        return item['obj'], str(item.get('runtime.powerState'))

    def suspend(self, instance):
        vm, state = self._state(instance)
        if state == _SUSPENDED:
            LOG.info('VM is already suspended', instance=instance)
            return
        if state != _ON:
            raise exception.InstanceSuspendFailure(
                reason='instance %s cannot be suspended: its VM is %s' % (
                    instance.uuid, state))
        try:
            self.waiter.wait(vm.SuspendVM_Task(),
                             'suspend of instance %s' % instance.uuid)
        except vexc.InvalidPowerStateException:
            # Suspended or stopped meanwhile: what is it now?
            vm, state = self._state(instance)
            if state != _SUSPENDED:
                raise
        LOG.info('Suspended', instance=instance)

    def resume(self, instance):
        vm, state = self._state(instance)
        if state == _ON:
            LOG.info('VM is already running', instance=instance)
            return
        if state == _OFF:
            LOG.warning('VM is poweredOff, not suspended: its suspended '
                        'state is lost; powering it on', instance=instance)
        try:
            self.waiter.wait(vm.PowerOnVM_Task(),
                             'resume of instance %s' % instance.uuid)
        except vexc.InvalidPowerStateException:
            vm, state = self._state(instance)
            if state != _ON:
                raise
        LOG.info('Resumed', instance=instance)
