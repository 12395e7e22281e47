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

"""Hardware versions from EnvironmentBrowser, where vcsim cannot go."""

from unittest import mock

import testtools

from nova_vmware_ext.vsphere import environment


class HardwareVersionsTest(testtools.TestCase):

    def _descriptor(self, key, create=True):
        return mock.Mock(key=key, createSupported=create)

    @mock.patch.object(environment.props, 'retrieve_one')
    def test_only_versions_vms_can_be_created_with(self, retrieve_one):
        session = mock.Mock()
        retrieve_one.return_value = {'environmentBrowser': mock.Mock()}
        session.bind.return_value.QueryConfigOptionDescriptor.return_value = [
            self._descriptor('vmx-04', create=False),
            self._descriptor('vmx-13'), self._descriptor('vmx-19')]
        self.assertEqual(frozenset(['vmx-13', 'vmx-19']),
                         environment.hardware_versions(session, 'cluster'))

    @mock.patch.object(environment.props, 'retrieve_one')
    def test_no_environment_browser_means_unknown(self, retrieve_one):
        retrieve_one.return_value = {}
        self.assertIsNone(environment.hardware_versions(mock.Mock(), 'c'))

    def test_versions_sort_by_number(self):
        self.assertEqual(['vmx-7', 'vmx-09', 'vmx-10', 'vmx-19'], sorted(
            ['vmx-19', 'vmx-10', 'vmx-7', 'vmx-09'],
            key=environment.version_order))
