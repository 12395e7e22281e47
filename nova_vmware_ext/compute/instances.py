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

"""Which VM is which instance: lookup, listing and state of Nova's VMs.

A VM belongs to Nova when vCenter says it is managed by the OpenStack
extension (``config.managedBy``), as the in-tree driver marked its VMs too.
An instance's VM is found by ``config.instanceUuid`` = the Nova UUID, and,
for VMs whose instanceUuid was changed (restored, re-registered), by the
``nvp.vm-uuid`` extraConfig key both drivers write. Found references are
remembered, so a known instance costs no lookup call. With the VM watcher's
table (vsphere/watch.py) warm, listing, existence and cached power states
cost no call at all.
"""

import threading
import time

from nova.compute import power_state
from nova import exception
from nova.virt import hardware
from oslo_log import log as logging
from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.vsphere import props

LOG = logging.getLogger(__name__)

EXTENSION_KEY = 'org.openstack.compute'
EXTENSION_TYPE_INSTANCE = 'instance'
# A snapshot's temporary clone (compute/snapshot.py): no instance.
EXTENSION_TYPE_SNAPSHOT = 'snapshot'
UUID_KEY = 'nvp.vm-uuid'

POWER_STATES = {
    'poweredOn': power_state.RUNNING,
    'poweredOff': power_state.SHUTDOWN,
    'suspended': power_state.SUSPENDED,
}

_UUID_PATH = 'config.extraConfig["%s"]' % UUID_KEY
_LIST_PATHS = ['config.instanceUuid', 'config.managedBy', 'config.template',
               _UUID_PATH]
# Seconds our own create or destroy waits for the watcher to see it.
TABLE_SYNC_TIMEOUT = 5
# Seconds after the driver last acted on a VM during which a cached power
# state is read from vCenter all the same: the watcher may not have seen
# the outcome yet (and a reset changes nothing it could see).
RECENT = 5
# What the VM watcher keeps of each VM (it adds power and connection state).
WATCH_PATHS = tuple(_LIST_PATHS)


def vm_name(display_name, instance_uuid):
    """The VM name the in-tree driver gives an instance, for vSphere admins.

    ``<display name> (<uuid>)``, the display name cut to 41 characters so
    that the whole stays within vSphere's 80; the UUID alone when there is
    no display name (nova.virt.vmwareapi.vm_util._get_vm_name). Lookups
    never use it: the UUID is in config.instanceUuid and nvp.vm-uuid.
    """
    if display_name:
        return '%s (%s)' % (display_name[:41], instance_uuid[:36])
    return instance_uuid[:36]


def nova_uuid(item):
    """The instance UUID of a VM Nova made (ours or the in-tree
    driver's), or None for any other VM."""
    if item.get('config.template'):
        return None
    option = item.get(_UUID_PATH)
    if option is not None and option.value:
        return option.value
    managed_by = item.get('config.managedBy')
    if (managed_by is not None and managed_by.extensionKey == EXTENSION_KEY
            and managed_by.type != EXTENSION_TYPE_SNAPSHOT):
        return item.get('config.instanceUuid')
    return None


class Instances(object):
    """Nova's VMs in one cluster."""

    def __init__(self, session, inventory, waiter, page_size=1000,
                 table=None):
        self.session = session
        self.inventory = inventory
        self.waiter = waiter
        self.page_size = page_size
        self.table = table  # a vsphere.watch.VmTable, used while warm
        self._acted = {}  # uuid -> time.monotonic() the driver last acted
        self._lock = threading.Lock()
        self._view = None
        self._view_generation = None
        self._refs = {}

    def _vm_view(self):
        """A long-lived view of every VM of the cluster."""
        with self._lock:
            generation = self.session.generation
            if self._view is None or self._view_generation != generation:
                cluster = self.inventory.get().cluster
                self._view = props.ContainerView(self.session, cluster,
                                                 [vim.VirtualMachine])
                self._view_generation = generation
            return self._view

    def _retrieve(self, paths):
        try:
            return self._vm_view().retrieve({vim.VirtualMachine: paths},
                                            self.page_size)
        except vexc.ManagedObjectNotFoundException:
            with self._lock:  # the view died with a session: make another
                self._view = None
            return self._vm_view().retrieve({vim.VirtualMachine: paths},
                                            self.page_size)

    def _watched(self, instance_uuid):
        """The watcher's VmState of an instance, or None (unknown to a
        warm table, or no warm table)."""
        table = self.table
        if table is None or not table.warm:
            return None
        return table.get(instance_uuid)

    def list_uuids(self):
        """Instance UUIDs of every Nova VM in the cluster (one query, none
        with a warm table)."""
        table = self.table
        if table is not None and table.warm:
            return table.uuids()
        uuids = []
        for item in self._retrieve(_LIST_PATHS):
            uuid = nova_uuid(item)
            if uuid:
                uuids.append(uuid)
                self._refs[uuid] = item['obj']
        return uuids

    def remember(self, instance_uuid, vm_ref):
        """A VM we just made: known from now on, listed once the watcher
        has seen it (so a spawn's caller reads its own write)."""
        self._refs[instance_uuid] = vm_ref
        self._acting_on(instance_uuid)
        self._await_table(instance_uuid, lambda state: state is not None)

    def forget(self, instance_uuid):
        """Look the instance's VM up again next time (a stale reference, a
        VM that moved)."""
        self._refs.pop(instance_uuid, None)

    def removed(self, instance_uuid, vm_ref):
        """A VM we destroyed: gone from the listing once the watcher has
        seen it go (so the caller reads its own write)."""
        self.forget(instance_uuid)
        self._await_table(instance_uuid, lambda state: (
            state is None or state.ref._moId != vm_ref._moId))

    def _await_table(self, instance_uuid, predicate):
        """Wait for the watcher to see our own change (it is usually
        there within milliseconds); the table catches up later anyway."""
        table = self.table
        if table is None or not table.warm:
            return
        if not table.wait_for(lambda t: predicate(t.get(instance_uuid)),
                              TABLE_SYNC_TIMEOUT):
            LOG.debug('The VM watcher has not seen the change of instance '
                      '%s yet', instance_uuid)

    def find(self, instance_uuid):
        """The VM of an instance, or None."""
        ref = self._refs.get(instance_uuid)
        if ref is not None:
            return ref
        watched = self._watched(instance_uuid)
        if watched is not None:
            self._refs[instance_uuid] = watched.ref
            props = self.table.properties(instance_uuid) or {}
            if props.get('config.instanceUuid') != instance_uuid:
                self._adopt(instance_uuid, watched.ref)
            return watched.ref
        ref = self._search(instance_uuid)
        if ref is not None:
            self._refs[instance_uuid] = ref
        return ref

    def _search(self, instance_uuid):
        index = self.session.content.searchIndex
        found = index.FindByUuid(datacenter=self.inventory.get().datacenter,
                                 uuid=instance_uuid, vmSearch=True,
                                 instanceUuid=True)
        if found is not None:
            return found
        # A VM whose instanceUuid no longer is the Nova UUID (restored from
        # backup, re-registered): the in-tree driver's extraConfig key.
        for item in self._retrieve([_UUID_PATH]):
            option = item.get(_UUID_PATH)
            if option is not None and option.value == instance_uuid:
                self._adopt(instance_uuid, item['obj'])
                return item['obj']
        return None

    def _adopt(self, instance_uuid, vm):
        """Make a VM found by its nvp.vm-uuid key findable the fast way."""
        LOG.info('Adopting VM %(vm)s, found by its %(key)s extraConfig key, '
                 'as instance %(uuid)s: setting its instanceUuid and '
                 'managedBy', {'vm': vm._moId, 'key': UUID_KEY,
                               'uuid': instance_uuid})
        spec = vim.vm.ConfigSpec(
            instanceUuid=instance_uuid,
            managedBy=vim.ext.ManagedByInfo(
                extensionKey=EXTENSION_KEY, type=EXTENSION_TYPE_INSTANCE))
        try:
            self.waiter.wait(vm.ReconfigVM_Task(spec),
                             'adoption of VM %s' % vm._moId)
        except vexc.VimException as exc:
            # Still usable through the extraConfig key; try again next time.
            LOG.warning('Could not adopt VM %(vm)s: %(err)s',
                        {'vm': vm._moId, 'err': exc})

    def _acting_on(self, instance_uuid):
        now = time.monotonic()
        self._acted[instance_uuid] = now
        if len(self._acted) > 1000:  # keep only the recent ones
            self._acted = {uuid: at for uuid, at in self._acted.items()
                           if now - at < RECENT}

    def _acted_recently(self, instance_uuid):
        at = self._acted.get(instance_uuid)
        return at is not None and time.monotonic() - at < RECENT

    def get(self, instance):
        """The VM of an instance, to act on; InstanceNotFound if there is
        none."""
        self._acting_on(instance.uuid)
        ref = self.find(instance.uuid)
        if ref is None:
            raise exception.InstanceNotFound(instance_id=instance.uuid)
        return ref

    def read(self, instance, paths):
        """Properties of an instance's VM, re-finding a moved reference."""
        item = self._read_ref(self.get(instance), paths)
        if item is None:
            self.forget(instance.uuid)  # stale reference: look it up again
            item = self._read_ref(self.get(instance), paths)
            if item is None:
                raise exception.InstanceNotFound(instance_id=instance.uuid)
        return item

    def _read_ref(self, ref, paths):
        try:
            return props.retrieve_one(self.session, ref, paths)
        except vexc.ManagedObjectNotFoundException:
            return None

    def call(self, instance, operation):
        """``operation(vm_ref)``, retried once if the reference was stale."""
        try:
            return operation(self.get(instance))
        except vexc.ManagedObjectNotFoundException:
            self.forget(instance.uuid)
            return operation(self.get(instance))

    def exists(self, instance):
        if self._watched(instance.uuid) is not None:
            return True
        try:
            self.read(instance, ['runtime.powerState'])
        except exception.InstanceNotFound:
            return False
        return True

    def info(self, instance, use_cache=False):
        """Power state of the instance's VM: from the watcher's table with
        ``use_cache`` (when it knows the VM and the driver has not acted on
        it in the last RECENT seconds), else asked of vCenter."""
        watched = None
        if use_cache and not self._acted_recently(instance.uuid):
            watched = self._watched(instance.uuid)
        if watched is not None:
            # find() costs no call for a watched VM (it adopts one found
            # by its nvp.vm-uuid key only).
            vm_state, ref = watched.power_state, self.find(instance.uuid)
        else:
            item = self.read(instance, ['runtime.powerState'])
            vm_state, ref = item.get('runtime.powerState'), item['obj']
        state = POWER_STATES.get(str(vm_state), power_state.NOSTATE)
        return hardware.InstanceInfo(state=state, internal_id=ref._moId)
