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

"""Reboots stuck beyond ``[DEFAULT] reboot_timeout``: rebooted hard.

The compute manager hands over the instances that have been rebooting for
longer than reboot_timeout (its periodic _poll_rebooting_instances); as the
in-tree driver does, each gets a hard reboot through the compute API, so
Nova records the action and the instance leaves its rebooting state. One
instance that cannot be rebooted (locked, deleted meanwhile) does not stop
the others.
"""

from nova.compute import api as compute_api
from nova import context as nova_context
from nova import exception
from oslo_log import log as logging

LOG = logging.getLogger(__name__)


class StuckReboots(object):

    def __init__(self, api=None):
        self._api = api

    @property
    def api(self):
        # Made on first use: the compute API builds RPC clients.
        if self._api is None:
            self._api = compute_api.API()
        return self._api

    def reboot_hard(self, timeout, instances):
        if not instances:
            return
        LOG.info('Found %(count)d reboots stuck for more than %(timeout)d '
                 'seconds: rebooting them hard',
                 {'count': len(instances), 'timeout': timeout})
        context = nova_context.get_admin_context()
        for instance in instances:
            try:
                self.api.reboot(context, instance, 'HARD')
            except exception.NovaException as exc:
                LOG.warning('Could not hard reboot the instance stuck '
                            'rebooting: %s', exc, instance=instance)
            else:
                LOG.info('Hard reboot requested for the instance stuck '
                         'rebooting', instance=instance)
