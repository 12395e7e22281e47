"""The compute host: one vCenter session, one cluster, one Nova node.

Builds the session from the operator's ``[vmware]`` / ``[vmware_ext]``
options, resolves the cluster and names the node the way the in-tree driver
did (``<cluster moid>.<vCenter instance UUID>``), so a compute node switched
from ``vmwareapi.VMwareVCDriver`` keeps its ComputeNode record and resource
provider.
"""

import re

from nova import exception
from oslo_log import log as logging

from nova_vmware_ext import conf as vmware_conf
from nova_vmware_ext.vsphere import inventory as vinventory
from nova_vmware_ext.vsphere import session as vsession
from nova_vmware_ext.vsphere import tasks as vtasks

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
    """The vCenter connection and cluster behind this nova-compute."""

    def __init__(self, conf=CONF):
        self.conf = conf
        self.session = None
        self.waiter = None
        self.inventory = None
        self.nodename = None

    def connect(self):
        """Log in, resolve the cluster and its datastores; fail loudly."""
        check_config(self.conf)
        session = session_from_conf(self.conf)
        session.login()
        try:
            inventory = vinventory.Inventory(
                session, self.conf.vmware.cluster_name,
                self.conf.vmware.datastore_regex)
            cluster = inventory.get()
            inventory.datastores()
        except Exception:
            session.logout()
            raise
        self.session = session
        self.waiter = vtasks.TaskWaiter(
            session, update_wait=self.conf.vmware_ext.task_update_wait,
            timeout=self.conf.vmware_ext.task_timeout)
        self.inventory = inventory
        self.nodename = '%s.%s' % (cluster.cluster._moId,
                                   session.content.about.instanceUuid)
        LOG.info('Managing vCenter cluster %(cluster)s as node %(node)s',
                 {'cluster': cluster.cluster_name, 'node': self.nodename})

    def disconnect(self):
        if self.session is None:
            return
        self.waiter.close()
        self.session.logout()
        self.session = None
