"""VCDriver: the Nova compute driver facade for one vCenter cluster.

One short method per Nova call, each delegating to ``compute/``; no vSphere
calls here. Load it with::

    [DEFAULT]
    compute_driver = vmware_ext.driver.VCDriver
"""

from nova.virt import driver
from oslo_log import log as logging

from nova_vmware_ext.compute import host as compute_host

LOG = logging.getLogger(__name__)


class VCDriver(driver.ComputeDriver):
    """A vCenter cluster as one Nova compute node."""

    capabilities = dict(driver.ComputeDriver.capabilities)

    def __init__(self, virtapi):
        super().__init__(virtapi)
        # Connecting waits for init_host: loading the driver (and Nova's
        # tooling that only inspects it) needs no vCenter.
        self._host = compute_host.Host()

    def init_host(self, host):
        self._host.connect()

    def cleanup_host(self, host):
        self._host.disconnect()

    def get_available_nodes(self, refresh=False):
        return [self._host.nodename]
