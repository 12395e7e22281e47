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

"""Nova's in-tree vmwareapi driver (``nova.virt.vmwareapi``) on our vcsim:
what it needs to run beside ours, as the bench's baseline and in the
switch test (tests/nova/test_intree_switch.py).

Nova 34's in-tree driver talks to vCenter through oslo.vmware's suds
client, which fetches ``https://<host>:<port>/sdk/vimService.wsdl`` (Nova
34 has no ``wsdl_location`` option left): tools/vcsim serves it. It calls
SearchIndex.FindAllByUuid, ExtensionManager.FindExtension and
RegisterExtension with a zone-less ``lastHeartbeatTime``, and
CopyVirtualDisk_Task without destDatacenter, which our vcsim answers as
vCenter does (tests/functional/test_vcsim_intree_calls.py).

Two things about the driver itself:
- its VMwareAPISession takes ``[vmware]`` (host, port, user, password, CA
  file...) as *default arguments*, read once when
  ``nova.virt.vmwareapi.session`` is first imported; nova-compute parses
  its configuration first, a test process does not (each test class has a
  vcsim of its own): ``InTreeSessionFixture`` makes it read them when a
  driver is built;
- it reads images through ``nova.virt.vmwareapi.images.IMAGE_API``
  (``get`` and ``download``), a module-level ``nova.image.glance.API``.
"""

import fixtures
from nova import conf as nova_conf
import requests

CONF = nova_conf.CONF

# compute_driver of the in-tree driver, as nova.conf names it.
DRIVER = 'vmwareapi.VMwareVCDriver'
OURS = 'vmware_ext.driver.VCDriver'


def session_arguments():
    """VMwareAPISession's [vmware] arguments, read now."""
    vmware = CONF.vmware
    return dict(host_ip=vmware.host_ip, host_port=vmware.host_port,
                username=vmware.host_username,
                password=vmware.host_password,
                retry_count=vmware.api_retry_count, cacert=vmware.ca_file,
                insecure=vmware.insecure,
                pool_size=vmware.connection_pool_size)


class InTreeSessionFixture(fixtures.Fixture):
    """Every in-tree VMwareAPISession built while this fixture is in use
    reads ``[vmware]`` when it is built, not when Nova's module was first
    imported, and keeps suds' model of the WSDL for the next session of
    the process with the same WSDL URL (one vcsim): tests/vcsim.py's
    oslo_session does the same."""

    def _setUp(self):
        from nova.virt.vmwareapi import session

        from tests import vcsim

        real = session.VMwareAPISession.__init__

        def init(api_session, **kwargs):
            for name, value in session_arguments().items():
                kwargs.setdefault(name, value)
            with vcsim._suds_definitions_cached():
                real(api_session, **kwargs)

        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.vmwareapi.session.VMwareAPISession.__init__', init))


def missing_wsdl(fx):
    """Why the in-tree driver cannot talk to the vcsim of ``fx``, or None:
    oslo.vmware's suds client reads the vim WSDL from
    ``https://<host>:<port>/sdk/vimService.wsdl``."""
    url = fx.url + '/vimService.wsdl'
    status = requests.get(url, verify=fx.ca_file, timeout=30).status_code
    if status != 200:
        return ('vcsim serves no vim WSDL at %s (HTTP %d): the in-tree '
                "driver's suds client needs it" % (url, status))
    return None
