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

"""Configuration: the operator's ``[vmware]`` section plus ``[vmware_ext]``.

Nova still registers ``[vmware]`` for its in-tree driver; a future Nova may
not. We declare the same options (names, types, defaults) and register each
one only where Nova has not, so an existing nova.conf keeps working either way.
"""

from oslo_config import cfg
from oslo_log import log as logging

try:
    # Let Nova declare [vmware] first where it still does; registering ours
    # first would make Nova's own registration fail as a duplicate.
    import nova.conf  # noqa: F401
except ImportError:  # pragma: no cover - nova is a hard requirement today
    pass

LOG = logging.getLogger(__name__)

NOT_YET_SUPPORTED = ('Not yet supported by nova-vmware-ext: setting it has '
                     'no effect.')

vmware_group = cfg.OptGroup(
    'vmware',
    title='VMware vCenter connection and placement',
    help='Options shared with the in-tree vmwareapi driver; an existing '
         '[vmware] section works unchanged with vmware_ext.driver.VCDriver.')

ext_group = cfg.OptGroup(
    'vmware_ext',
    title='nova-vmware-ext',
    help='Options specific to nova-vmware-ext.')

vmware_opts = [
    cfg.HostAddressOpt('host_ip',
                       help='Hostname or IP address of the vCenter server.'),
    cfg.PortOpt('host_port', default=443,
                help='HTTPS port of the vCenter server.'),
    cfg.StrOpt('host_username',
               help='vCenter user the driver logs in as.'),
    cfg.StrOpt('host_password', secret=True,
               help='Password of host_username. Never logged.'),
    cfg.StrOpt('ca_file',
               help='CA bundle used to verify the vCenter certificate. '
                    'Unset: the system trust store.'),
    cfg.BoolOpt('insecure', default=False,
                help='Do not verify the vCenter certificate. Only for labs: '
                     'a warning is logged at every connection. Ignored when '
                     'ca_file is set.'),
    cfg.StrOpt('cluster_name',
               help='Name of the vCenter cluster this nova-compute manages '
                    '(one cluster per nova-compute service).'),
    cfg.StrOpt('datastore_regex',
               help='Regular expression selecting the datastores instances '
                    'may use. Unset: every usable datastore of the cluster.'),
    cfg.FloatOpt('task_poll_interval', default=0.5,
                 help='Not used by nova-vmware-ext, which never polls '
                      'tasks: it waits for property updates '
                      '(WaitForUpdatesEx); see [vmware_ext] task_timeout. '
                      'Kept so an in-tree nova.conf loads.'),
    cfg.IntOpt('api_retry_count', min=0, default=10,
               help='Times a vCenter call is retried after a connection '
                    'error (with exponential backoff).'),
    cfg.PortOpt('vnc_port', default=5900,
                help='First port of the VNC range given to VMs when [vnc] '
                     'enabled (legacy: ESXi 7.0 and later have no VNC '
                     'server).'),
    cfg.IntOpt('vnc_port_total', min=0, default=10000,
               help='Number of ports in the VNC range; each VM of the '
                    'cluster holds one.'),
    cfg.StrOpt('vnc_keymap', default='en-us',
               help='Keyboard layout of VNC consoles '
                    '(RemoteDisplay.vnc.keyMap).'),
    cfg.BoolOpt('use_linked_clone', default=True,
                help='Root disks are linked clones of the cached image '
                     '(a child disk over the shared cache copy) instead of '
                     'full copies.'),
    cfg.IntOpt('connection_pool_size', min=10, default=10,
               help='Maximum number of HTTP connections to vCenter.'),
    cfg.BoolOpt('pbm_enabled', default=False,
                help='Place instances by vCenter storage policy (SPBM): '
                     'the flavor extra spec vmware:storage_policy (else '
                     'pbm_default_policy) names a policy; the instance '
                     'goes to the datastore with the most free space among '
                     'those that satisfy it and match datastore_regex, '
                     'the image cache entry its root disk links to is made '
                     'there, and the policy is applied to the VM and its '
                     'disks. A policy vCenter does not have, or that no '
                     'datastore of the cluster satisfies, fails the spawn '
                     'before anything is made. Off: vmware:storage_policy '
                     'is ignored (with a warning), as Nova documents it.'),
    cfg.StrOpt('pbm_wsdl_location',
               help='Not used by nova-vmware-ext: pyVmomi carries the PBM '
                    'types, no WSDL is needed. Kept so an in-tree nova.conf '
                    'loads.'),
    cfg.StrOpt('pbm_default_policy',
               help='Name of the vCenter storage policy of instances whose '
                    'flavor names none (with pbm_enabled). It must exist '
                    'in vCenter: nova-compute refuses to start otherwise. '
                    'Unset: such instances are placed by free space '
                    'alone, with no policy.'),
    cfg.IntOpt('maximum_objects', min=0, default=100,
               help='Largest number of objects vCenter is asked to return '
                    'in one page of a property query. ' + NOT_YET_SUPPORTED +
                    ' Use [vmware_ext] page_size.'),
    cfg.StrOpt('cache_prefix',
               help='Prefix of the image cache folder on each datastore.'),
    cfg.StrOpt('integration_bridge',
               help='NSX-MH integration bridge name (legacy NSX only).'),
    cfg.IntOpt('console_delay_seconds', min=0,
               help='Keystroke delay for remote consoles on slow links '
                    '(keyboard.typematicMinDelay of new VMs).'),
    cfg.StrOpt('serial_port_service_uri',
               help='Service URI of the virtual serial port concentrator '
                    '(vmware-vspc\'s "uri"); set: every new VM gets a '
                    'serial port connected to it. Unset: no serial port.'),
    cfg.URIOpt('serial_port_proxy_uri', schemes=['telnet', 'telnets'],
               help='Where ESXi reaches the concentrator, e.g. '
                    'telnet://vspc.example.org:13370.'),
    cfg.StrOpt('serial_log_dir', default='/opt/vmware/vspc',
               help='Directory where the serial port concentrator keeps '
                    'console logs (one file per VM); read for the console '
                    'log.'),
]

ext_opts = [
    cfg.FloatOpt('api_retry_interval', default=0.5, min=0,
                 help='First delay, in seconds, before retrying a vCenter '
                      'call after a connection error; doubled on each '
                      'retry up to api_retry_max_interval.'),
    cfg.FloatOpt('api_retry_max_interval', default=10.0, min=0,
                 help='Longest delay between two retries of a vCenter '
                      'call.'),
    cfg.IntOpt('api_timeout', default=900, min=1,
               help='Socket timeout, in seconds, of one vCenter API '
                    'request. Must exceed task_update_wait.'),
    cfg.IntOpt('task_timeout', default=3600, min=1,
               help='Longest time, in seconds, to wait for one vCenter '
                    'task before giving up on it.'),
    cfg.IntOpt('page_size', default=1000, min=1,
               help='Objects asked per page of a property query of many '
                    'VMs. Replaces [vmware] maximum_objects, whose default '
                    '(100) makes large clusters slow to list.'),
    cfg.IntOpt('image_fetch_timeout', default=3600, min=60,
               help='Longest time, in seconds, a compute waits for another '
                    'one that is filling the same image cache entry before '
                    'taking its lock over.'),
    cfg.StrOpt('image_conversion_dir',
               help='Local directory where qcow2, raw, VHD, VHDX and VDI '
                    'images are downloaded and converted to VMDK, once per '
                    'image and datastore; it needs free space for the '
                    'image plus its virtual disk. Unset: the system\'s '
                    'temporary directory.'),
    cfg.IntOpt('image_conversion_timeout', default=60, min=1,
               help='Seconds qemu-img may run per GiB of an image\'s '
                    'virtual disk when it checks or converts a qcow2, raw, '
                    'VHD, VHDX or VDI image (never less than 600 s in all); '
                    'then it is killed, its temporary files removed and the '
                    'spawn fails.'),
    cfg.IntOpt('task_update_wait', default=60, min=1,
               help='Seconds vCenter may hold one WaitForUpdatesEx request '
                    'open while waiting for task progress.'),
    cfg.StrOpt('mks_console_type', default='mks', choices=[
        ('mks', 'an MKS ticket (port 902) for nova-mksproxy, as the '
                'in-tree driver gives'),
        ('webmks', 'a WebMKS ticket for a browser or proxy that talks '
                   'WebMKS to ESXi itself (wss://<host>:443/ticket/<t>)')],
               help='The ticket get_mks_console (Nova\'s "webmks" remote '
                    'console) hands out.'),
    cfg.StrOpt('vspc_admin_address',
               help='host:port of the admin interface of a vmware-vspc '
                    'started with enable_clients = True, which says where '
                    'a VM\'s interactive serial console is relayed; '
                    'needed for serial consoles ([serial_console] '
                    'enabled). Unset: no serial console, only its log.'),
]


# [vmware] options this driver does not act on, and why: each is warned
# about at start-up when the operator set it.
UNACTED_OPTIONS = {
    'vmware': dict(
        [('pbm_wsdl_location', 'not used by nova-vmware-ext: pyVmomi carries '
          'the PBM types, no WSDL is needed'),
         ('maximum_objects', 'not yet supported by nova-vmware-ext; '
          '[vmware_ext] page_size sets the page size of property queries'),
         ('task_poll_interval', 'not used by nova-vmware-ext, which waits '
          'for task updates instead of polling ([vmware_ext] task_timeout '
          'bounds the wait)')]),
}


def _defaults():
    return {group.name: {opt.name: opt.default for opt in opts}
            for group, opts in list_opts()}


def _operator_set(conf, group, name):
    """True when nova.conf (or the command line) sets the option, or its
    value differs from the default (an override)."""
    location = conf.get_location(name, group)
    if location is not None and location.location.is_user_controlled:
        return True
    return conf[group][name] != _DEFAULTS[group][name]


def unacted_options(conf):
    """['group.name'] of the options the operator set that have no effect."""
    return ['%s.%s' % (group, name)
            for group, names in sorted(UNACTED_OPTIONS.items())
            for name in sorted(names)
            if _operator_set(conf, group, name)]


def warn_unacted_options(conf):
    """Log one warning per option the operator set that has no effect."""
    for option in unacted_options(conf):
        group, name = option.split('.')
        LOG.warning('[%(group)s] %(name)s is set in the configuration but '
                    'has no effect: %(why)s', {
                        'group': group, 'name': name,
                        'why': UNACTED_OPTIONS[group][name]})


def _register_missing(conf, group, opts):
    """Register each option that nobody registered before us."""
    conf.register_group(group)
    for opt in opts:
        try:
            conf.register_opt(opt, group=group)
        except cfg.DuplicateOptError:
            # Nova (or another driver) declared it: its definition rules,
            # with the same name, type and meaning.
            pass


def register_opts(conf):
    _register_missing(conf, vmware_group, vmware_opts)
    conf.register_group(ext_group)
    conf.register_opts(ext_opts, group=ext_group)


def list_opts():
    """Options for oslo-config-generator (``oslo.config.opts`` entry point)."""
    return [(vmware_group, vmware_opts), (ext_group, ext_opts)]


_DEFAULTS = _defaults()
CONF = cfg.CONF
register_opts(CONF)
