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

"""The vCenter privileges nova-vmware-ext needs, and where it needs them.

``REQUIRED`` is the one list (the docs' privileges page and README's
"vCenter privileges" section are written from it); ``missing`` asks
vCenter's AuthorizationManager which of them the session's own user lacks,
in one HasPrivilegeOnEntities call.

An entry with ``when`` is needed only under that condition: the caller
says which conditions hold (``missing(..., conditions=...)``).
"""

import dataclasses

# Where a privilege is needed: the inventory object it is checked on.
ROOT = 'root folder'
VM_FOLDER = 'VM folder'
RESOURCE_POOL = 'resource pool'
CLUSTER = 'cluster'
DATASTORE = 'datastore'
NETWORK = 'network'
# The datastores Glance's VMware store keeps images on: each image's
# location names one, so no configuration of this compute lists them.
GLANCE_DATASTORE = "Glance's datastores"

# Conditions of the entries needed only sometimes.
PBM_ENABLED = '[vmware] pbm_enabled'
GLANCE_LOCATIONS = "Glance's VMware store, its locations shown"


@dataclasses.dataclass(frozen=True)
class Privilege(object):
    id: str
    scope: str  # one of the scopes above
    why: str  # names the condition too, when there is one (the docs)
    when: str = None  # None: always needed; else one of the conditions


def _each(scope, why, *ids, when=None):
    return tuple(Privilege(i, scope, why, when) for i in ids)


REQUIRED = (
    _each(ROOT, 'the image-cache lock checks whether another compute\'s '
          'vCenter session is alive (SessionIsActive)',
          'Sessions.ValidateSession') +
    _each(ROOT, 'registers the org.openstack.compute extension that '
          'instance VMs name in config.managedBy', 'Extension.Register') +
    _each(VM_FOLDER, 'one folder per project', 'Folder.Create') +
    _each(VM_FOLDER, 'create, destroy and move instance VMs',
          'VirtualMachine.Inventory.Create',
          'VirtualMachine.Inventory.Delete',
          'VirtualMachine.Inventory.Unregister',
          'VirtualMachine.Inventory.Move') +
    _each(VM_FOLDER, 'reconfigure instance VMs (resize, disks, NICs, '
          'config drive, extraConfig, consoles)',
          'VirtualMachine.Config.AddNewDisk',
          'VirtualMachine.Config.AddExistingDisk',
          'VirtualMachine.Config.AddRemoveDevice',
          'VirtualMachine.Config.AdvancedConfig',
          'VirtualMachine.Config.Annotation',
          'VirtualMachine.Config.CPUCount',
          'VirtualMachine.Config.DiskExtend',
          'VirtualMachine.Config.EditDevice',
          'VirtualMachine.Config.ManagedBy',
          'VirtualMachine.Config.Memory',
          'VirtualMachine.Config.RemoveDisk',
          'VirtualMachine.Config.Resource',
          'VirtualMachine.Config.Settings') +
    _each(VM_FOLDER, 'power, reboot, suspend and consoles of instances',
          'VirtualMachine.Interact.PowerOn',
          'VirtualMachine.Interact.PowerOff',
          'VirtualMachine.Interact.Reset',
          'VirtualMachine.Interact.Suspend',
          'VirtualMachine.Interact.ConsoleInteract',
          'VirtualMachine.Interact.DeviceConnection',
          'VirtualMachine.Interact.SetCDMedia') +
    _each(VM_FOLDER, 'image import (NFC) and disk copies',
          'VirtualMachine.Provisioning.DiskRandomAccess',
          'VirtualMachine.Provisioning.GetVmFiles',
          'VirtualMachine.Provisioning.PutVmFiles') +
    _each(VM_FOLDER, 'streamOptimized images are imported as a VM '
          '(ImportVApp)', 'VApp.Import') +
    _each(RESOURCE_POOL, 'place instance VMs and imported images in the '
          'cluster\'s pool', 'Resource.AssignVMToPool', 'VApp.Import') +
    _each(CLUSTER, 'server groups as DRS rules (ReconfigureComputeResource)',
          'Host.Inventory.EditCluster') +
    _each(CLUSTER, 'resize and cold migration, live migration (vMotion)',
          'Resource.ColdMigrate', 'Resource.HotMigrate') +
    _each(DATASTORE, 'instance disks, the image cache and its aging',
          'Datastore.AllocateSpace', 'Datastore.Browse',
          'Datastore.FileManagement') +
    _each(NETWORK, 'connect instance NICs to port groups', 'Network.Assign') +
    _each(ROOT, 'storage policies (PBM), only with [vmware] pbm_enabled',
          'StorageProfile.View', when=PBM_ENABLED) +
    _each(GLANCE_DATASTORE, 'cache fills copied from Glance\'s VMware store '
          'when Glance shows image locations (else images are downloaded)',
          'Datastore.Browse', 'Datastore.FileManagement',
          when=GLANCE_LOCATIONS)
)


def by_scope(privileges=REQUIRED, conditions=()):
    """{scope: [privilege id]} in list order, without duplicates: those
    always needed and those whose condition is in ``conditions``."""
    found = {}
    for privilege in privileges:
        if privilege.when is not None and privilege.when not in conditions:
            continue
        ids = found.setdefault(privilege.scope, [])
        if privilege.id not in ids:
            ids.append(privilege.id)
    return found


def missing(session, entities, conditions=()):
    """Privileges the session's user lacks on each entity.

    :param entities: [(entity ref, scope)].
    :param conditions: the conditions (``when``) that hold.
    :returns: [(entity ref, [missing privilege ids])], only entities that
        lack any, in the given order.
    """
    wanted = by_scope(conditions=conditions)
    all_ids = sorted({i for ids in wanted.values() for i in ids})
    refs = [ref for ref, _ in entities]
    manager = session.content.authorizationManager
    answers = manager.HasPrivilegeOnEntities(
        entity=refs, sessionId=session.session_key, privId=all_ids)
    granted = {}
    for answer in answers or ():
        granted[answer.entity._moId] = {
            a.privId for a in answer.privAvailability or () if a.isGranted}
    lacking = []
    for ref, scope in entities:
        have = granted.get(ref._moId, set())
        absent = [i for i in wanted.get(scope, ()) if i not in have]
        if absent:
            lacking.append((ref, absent))
    return lacking
