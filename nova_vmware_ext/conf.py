"""Configuration: the operator's ``[vmware]`` section plus ``[vmware_ext]``.

Nova still registers ``[vmware]`` for its in-tree driver; a future Nova may
not. We declare the same options (names, types, defaults) and register each
one only where Nova has not, so an existing nova.conf keeps working either way.
"""

from oslo_config import cfg

try:
    # Let Nova declare [vmware] first where it still does; registering ours
    # first would make Nova's own registration fail as a duplicate.
    import nova.conf  # noqa: F401
except ImportError:  # pragma: no cover - nova is a hard requirement today
    pass

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
                 help='Kept for compatibility with the in-tree driver. This '
                      'driver never polls tasks: it waits for property '
                      'updates (WaitForUpdatesEx).'),
    cfg.IntOpt('api_retry_count', min=0, default=10,
               help='Times a vCenter call is retried after a connection '
                    'error (with exponential backoff).'),
    cfg.PortOpt('vnc_port', default=5900,
                help='First port of the VNC range given to VMs.'),
    cfg.IntOpt('vnc_port_total', min=0, default=10000,
               help='Number of ports in the VNC range.'),
    cfg.StrOpt('vnc_keymap', default='en-us',
               help='Keyboard layout of VNC consoles.'),
    cfg.BoolOpt('use_linked_clone', default=True,
                help='Root disks are linked clones of the cached image '
                     '(a child disk over the shared cache copy) instead of '
                     'full copies.'),
    cfg.IntOpt('connection_pool_size', min=10, default=10,
               help='Maximum number of HTTP connections to vCenter.'),
    cfg.BoolOpt('pbm_enabled', default=False,
                help='Place instances by storage policy (SPBM).'),
    cfg.StrOpt('pbm_wsdl_location',
               help='Location of the PBM service WSDL.'),
    cfg.StrOpt('pbm_default_policy',
               help='Storage policy used when a flavor names none.'),
    cfg.IntOpt('maximum_objects', min=0, default=100,
               help='Largest number of objects vCenter is asked to return '
                    'in one page of a property query.'),
    cfg.StrOpt('cache_prefix',
               help='Prefix of the image cache folder on each datastore.'),
    cfg.StrOpt('integration_bridge',
               help='NSX-MH integration bridge name (legacy NSX only).'),
    cfg.IntOpt('console_delay_seconds', min=0,
               help='Keystroke delay for remote consoles on slow links.'),
    cfg.StrOpt('serial_port_service_uri',
               help='Virtual serial port concentrator URI; unset: no '
                    'serial port.'),
    cfg.URIOpt('serial_port_proxy_uri', schemes=['telnet', 'telnets'],
               help='Proxy in front of serial_port_service_uri.'),
    cfg.StrOpt('serial_log_dir', default='/opt/vmware/vspc',
               help='Directory where the serial port concentrator keeps '
                    'console logs.'),
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
    cfg.IntOpt('task_update_wait', default=60, min=1,
               help='Seconds vCenter may hold one WaitForUpdatesEx request '
                    'open while waiting for task progress.'),
]


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


CONF = cfg.CONF
register_opts(CONF)
