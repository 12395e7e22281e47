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

"""The compute host: one vCenter session, one cluster, one Nova node.

Builds the session from the operator's ``[vmware]`` / ``[vmware_ext]``
options, resolves the cluster and names the node the way the in-tree driver
did (``<cluster moid>.<vCenter instance UUID>``), so a compute node switched
from ``vmwareapi.VMwareVCDriver`` keeps its ComputeNode record and resource
provider.
"""

import datetime
import re

from nova import exception
from nova.network import neutron
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_vmware import exceptions as vexc
from pyVmomi import vim

from nova_vmware_ext.compute import consoles as vconsoles
from nova_vmware_ext.compute import destroy
from nova_vmware_ext.compute import diagnostics
from nova_vmware_ext.compute import events
from nova_vmware_ext.compute import folders
from nova_vmware_ext.compute import instances as vinstances
from nova_vmware_ext.compute import live_migration
from nova_vmware_ext.compute import migrate
from nova_vmware_ext.compute import nodes
from nova_vmware_ext.compute import power
from nova_vmware_ext.compute import rescue
from nova_vmware_ext.compute import resources
from nova_vmware_ext.compute import root_disks
from nova_vmware_ext.compute import server_groups
from nova_vmware_ext.compute import snapshot
from nova_vmware_ext.compute import spawn
from nova_vmware_ext.compute import storage_policy
from nova_vmware_ext.compute import stuck_reboots
from nova_vmware_ext.compute import suspend
from nova_vmware_ext.compute import vifs
from nova_vmware_ext.compute import vnc_ports
from nova_vmware_ext.compute import volumes
from nova_vmware_ext import conf as vmware_conf
from nova_vmware_ext.images import aging
from nova_vmware_ext.images import cache as image_cache
from nova_vmware_ext.images import convert
from nova_vmware_ext.images import datastore_copy
from nova_vmware_ext.images import fetch
from nova_vmware_ext.vsphere import browser as vbrowser
from nova_vmware_ext.vsphere import datastore_lookup
from nova_vmware_ext.vsphere import disks as vdisks
from nova_vmware_ext.vsphere import drs_rules
from nova_vmware_ext.vsphere import environment
from nova_vmware_ext.vsphere import faults
from nova_vmware_ext.vsphere import files as vfiles
from nova_vmware_ext.vsphere import inventory as vinventory
from nova_vmware_ext.vsphere import pbm
from nova_vmware_ext.vsphere import session as vsession
from nova_vmware_ext.vsphere import tasks as vtasks
from nova_vmware_ext.vsphere import transfer
from nova_vmware_ext.vsphere import volumes as vvolumes
from nova_vmware_ext.vsphere import watch

LOG = logging.getLogger(__name__)
CONF = vmware_conf.CONF

_REQUIRED = ('host_ip', 'host_username', 'host_password', 'cluster_name')


def check_config(conf=CONF):
    """Reject an unusable [vmware] section with one message naming it all."""
    missing = [name for name in _REQUIRED if not conf.vmware[name]]
    if missing:
        raise exception.InvalidInput(reason=(
            'vmware_ext.driver.VCDriver needs [vmware] %s in nova.conf' %
            ', '.join(missing)))
    if conf.vmware_ext.vspc_admin_address:
        vconsoles.vspc_address(conf.vmware_ext.vspc_admin_address)
    if conf.vmware.datastore_regex:
        try:
            re.compile(conf.vmware.datastore_regex)
        except re.error as exc:
            raise exception.InvalidInput(reason=(
                '[vmware] datastore_regex %r is not a valid regular '
                'expression: %s' % (conf.vmware.datastore_regex, exc)))


def session_from_conf(conf=CONF):
    vmware, ext = conf.vmware, conf.vmware_ext
    return vsession.Session(
        host=vmware.host_ip, port=vmware.host_port,
        username=vmware.host_username, password=vmware.host_password,
        ca_file=vmware.ca_file, insecure=vmware.insecure,
        retry_count=vmware.api_retry_count,
        retry_interval=ext.api_retry_interval,
        retry_max_interval=ext.api_retry_max_interval,
        pool_size=vmware.connection_pool_size, timeout=ext.api_timeout)


class Host(object):
    """The vCenter connection and cluster behind this nova-compute.

    The composition root: ``connect()`` logs in and builds each operation
    object with exactly the collaborators it uses.
    """

    def __init__(self, conf=CONF, emit_event=None):
        self.conf = conf
        self._emit_event = emit_event
        self.watcher = None
        self.events = None
        self.session = None
        self.waiter = None
        self.inventory = None
        self.nodename = None

    def connect(self):
        """Log in, resolve the cluster and its datastores; fail loudly."""
        self.disconnect()  # connected before: start over
        check_config(self.conf)
        vmware_conf.warn_unacted_options(self.conf)
        session = session_from_conf(self.conf)
        session.login()
        try:
            inventory = vinventory.Inventory(
                session, self.conf.vmware.cluster_name,
                self.conf.vmware.datastore_regex)
            cluster = inventory.get()
            inventory.datastores()
            hw_versions = environment.HardwareVersions(session, inventory)
            hw_versions.get()
        except Exception:
            session.logout()
            raise
        self.session = session
        self.waiter = vtasks.TaskWaiter(
            session, update_wait=self.conf.vmware_ext.task_update_wait,
            timeout=self.conf.vmware_ext.task_timeout)
        self.inventory = inventory
        self.hw_versions = hw_versions
        self.nodename = nodes.node_name(cluster.cluster._moId,
                                        session.content.about.instanceUuid)
        self._build(session, self.waiter, inventory, cluster.datacenter)
        try:
            self.placement.check_default_policy()
        except Exception:
            with excutils.save_and_reraise_exception():
                self.disconnect()
        self._register_extension()
        self.server_groups.check_drs()
        self._watch(session, cluster.cluster)
        LOG.info('Managing vCenter cluster %(cluster)s as node %(node)s',
                 {'cluster': cluster.cluster_name, 'node': self.nodename})

    def _build(self, session, waiter, inventory, datacenter):
        ext, vmware = self.conf.vmware_ext, self.conf.vmware
        http = transfer.HttpClient(session)
        files = vfiles.FileManager(session, waiter, datacenter)
        disks = vdisks.VirtualDisks(session, waiter, datacenter)
        browser = vbrowser.DatastoreBrowser(session, waiter)
        network_api = neutron.API()
        self.resources = resources.ClusterResources(session, inventory)
        self.instances = vinstances.Instances(session, inventory, waiter,
                                              ext.page_size)
        self.power = power.PowerOps(waiter, self.instances)
        self.server_groups = server_groups.ServerGroupRules(
            inventory, self.instances, drs_rules.DrsRules(session, waiter))
        self.volumes = volumes.VolumeOps(
            session, waiter, self.instances,
            vvolumes.ShadowVms(session, waiter),
            vvolumes.FirstClassDisks(session, waiter), conf=self.conf)
        self.destroyer = destroy.DestroyOps(waiter, self.instances, files,
                                            server_groups=self.server_groups,
                                            volumes=self.volumes)
        self.cache = image_cache.ImageCache(
            session, waiter, http, inventory, self.cache_folder,
            fetch_timeout=ext.image_fetch_timeout, owner=self.conf.host,
            files=files, browser=browser)
        self.fetcher = fetch.Fetcher(session, waiter, http, inventory,
                                     self.cache, files, disks)
        self.aging = aging.CacheAging(self.cache, inventory, session)
        roots = root_disks.RootDisks(
            self.cache, self.fetcher, files, disks, browser,
            use_linked_clone=vmware.use_linked_clone,
            converter=convert.Converter(self.fetcher, self.cache,
                                        ext.image_conversion_dir,
                                        ext.image_conversion_timeout),
            copier=datastore_copy.DatastoreCopier(
                self.fetcher,
                datastore_lookup.DatastoreLookup(session, inventory)))
        project_folders = folders.ProjectFolders(session, inventory)
        self.placement = storage_policy.StoragePlacement(
            inventory, self.resources,
            pbm.StoragePolicies(session) if vmware.pbm_enabled else None,
            default_policy=vmware.pbm_default_policy)
        self.migrator = migrate.MigrateOps(
            session, waiter, inventory, self.resources, project_folders,
            self.instances, self.power, files, self.nodename,
            integration_bridge=vmware.integration_bridge,
            server_groups=self.server_groups, placement=self.placement)
        self.consoles = self._consoles(session, waiter, inventory)
        self.spawner = spawn.SpawnOps(
            session, waiter, inventory, self.resources, project_folders,
            self.instances, roots, files, http,
            integration_bridge=vmware.integration_bridge,
            hw_versions=self.hw_versions, network_api=network_api,
            server_groups=self.server_groups, consoles=self.consoles,
            volumes=self.volumes, placement=self.placement)
        self.vifs = vifs.VifOps(waiter, inventory, self.instances,
                                network_api,
                                integration_bridge=vmware.integration_bridge)
        self.suspender = suspend.SuspendOps(waiter, self.instances)
        self.rescuer = rescue.RescueOps(waiter, self.instances, inventory,
                                        roots, disks)
        self.diagnostics = diagnostics.DiagnosticsOps(self.instances)
        self.snapshots = snapshot.SnapshotOps(session, waiter, self.instances,
                                              http, files)
        self.stuck_reboots = stuck_reboots.StuckReboots()
        self.live_migration = live_migration.LiveMigrationOps(
            session, waiter, inventory, self.instances, self.nodename,
            datastore_regex=vmware.datastore_regex,
            integration_bridge=vmware.integration_bridge,
            task_timeout=ext.task_timeout, update_wait=ext.task_update_wait,
            server_groups=self.server_groups)

    def _consoles(self, session, waiter, inventory):
        vmware, ext = self.conf.vmware, self.conf.vmware_ext
        ports = None
        if self.conf.vnc.enabled:
            ports = vnc_ports.VncPorts(session, inventory, waiter,
                                       vmware.vnc_port, vmware.vnc_port_total,
                                       page_size=ext.page_size)
        return vconsoles.ConsoleOps(
            session, self.instances, ports, mks_type=ext.mks_console_type,
            vnc_keymap=vmware.vnc_keymap,
            console_delay_seconds=vmware.console_delay_seconds,
            serial_port_service_uri=vmware.serial_port_service_uri,
            serial_port_proxy_uri=vmware.serial_port_proxy_uri,
            serial_log_dir=vmware.serial_log_dir,
            vspc_admin_address=ext.vspc_admin_address)

    def _watch(self, session, cluster):
        """Start the VM watcher: the instance table, and lifecycle events
        unless the operator turned them off."""
        self.events = None
        if (self._emit_event is not None
                and self.conf.workarounds.handle_virt_lifecycle_events):
            self.events = events.LifecycleEvents(self._emit_event)
        self.watcher = watch.VmWatcher(
            session, cluster, vinstances.WATCH_PATHS, vinstances.nova_uuid,
            on_changes=self.events.changed if self.events else None,
            update_wait=self.waiter.update_wait)
        self.instances.table = self.watcher.table
        self.watcher.start()

    def capacity(self):
        """A fresh snapshot of the cluster's usable capacity."""
        return self.resources.capacity()

    def _register_extension(self):
        """Register the extension our VMs name in config.managedBy."""
        manager = self.session.content.extensionManager
        if manager is None:
            LOG.info('vCenter %s has no ExtensionManager: VMs are marked '
                     'managed by %s without registering it',
                     self.session.endpoint, vinstances.EXTENSION_KEY)
            return
        try:
            if manager.FindExtension(vinstances.EXTENSION_KEY) is not None:
                return
        except vexc.VimFaultException as exc:
            if not faults.is_fault(exc, 'MethodNotFound'):
                raise
            LOG.info('vCenter %s cannot register extensions (%s): VMs are '
                     'marked managed by %s without it', self.session.endpoint,
                     exc.fault_name, vinstances.EXTENSION_KEY)
            return
        try:
            manager.RegisterExtension(vim.Extension(
                key=vinstances.EXTENSION_KEY, version='1.0',
                company='OpenStack',
                lastHeartbeatTime=datetime.datetime.now(
                    datetime.timezone.utc),
                description=vim.Description(label='OpenStack Compute',
                                            summary='OpenStack services'),
                shownInSolutionManager=True))
        except vexc.VimFaultException as exc:
            # Another compute registered it since FindExtension (vCenter
            # says InvalidArgument, as the in-tree driver also expects).
            if not faults.is_fault(exc, 'InvalidArgument'):
                raise
            return
        LOG.info('Registered the vCenter extension %s',
                 vinstances.EXTENSION_KEY)

    @property
    def cache_folder(self):
        """Image cache folder name on each datastore (as in-tree)."""
        return image_cache.cache_folder_name(
            self.conf.image_cache.subdirectory_name,
            self.conf.vmware.cache_prefix, self.conf.my_ip,
            self.conf.image_cache.remove_unused_base_images)

    def disconnect(self):
        if self.session is None:
            return
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        if self.events is not None:
            self.events.close()
            self.events = None
        self.waiter.close()
        self.session.logout()
        self.session = None
