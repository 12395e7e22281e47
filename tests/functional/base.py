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

"""Helpers shared by the functional tests: our session against a vcsim."""

import fixtures
from pyVmomi import vmodl
import testtools

from nova_vmware_ext.vsphere import session as vsession
from nova_vmware_ext.vsphere import tasks as vtasks
from tests import vcsim


def make_session(fx, **kwargs):
    """Our Session for the simulator of ``fx`` (not logged in yet)."""
    kwargs.setdefault('ca_file', fx.ca_file)
    kwargs.setdefault('retry_count', 2)
    kwargs.setdefault('retry_interval', 0.05)
    return vsession.Session(fx.host, fx.username, fx.password, port=fx.port,
                            **kwargs)


class VcsimTestCase(vcsim.VcsimClassMixin, testtools.TestCase):
    """One vcsim per class; ``self.session`` is logged in for each test and
    ``self.si`` is an independent pyvmomi connection for assertions."""

    def setUp(self):
        super().setUp()
        # Retries and faults log warnings: kept with the test's details.
        self.useFixture(fixtures.FakeLogger())
        self.session = make_session(self.vcsim).login()
        self.addCleanup(self.session.logout)
        self.waiter = vtasks.TaskWaiter(self.session, update_wait=5,
                                        timeout=60)
        self.addCleanup(self.waiter.close)
        self.si = self.vcsim.connect()

    def query(self, vimtype, paths, root=None):
        return vcsim.query(self.si, vimtype, paths, root)

    def read(self, ref, paths):
        """Properties of one object, read over the independent connection."""
        pc = vmodl.query.PropertyCollector
        obj = type(ref)(ref._moId, self.si._stub)
        spec = pc.FilterSpec(
            objectSet=[pc.ObjectSpec(obj=obj)],
            propSet=[pc.PropertySpec(type=type(ref), pathSet=list(paths))])
        content = self.si.content.propertyCollector.RetrieveContents([spec])
        return {p.name: p.val for p in content[0].propSet or ()}
