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

"""VM names as the in-tree driver gives them: '<display name> (<uuid>)'."""

import testtools

from nova_vmware_ext.compute import instances

UUID = '6c6c4ea5-7b0e-4e2a-9f3c-2b1d8f1e0a11'


class VmNameTest(testtools.TestCase):

    def test_display_name_and_uuid(self):
        self.assertEqual('web-1 (%s)' % UUID,
                         instances.vm_name('web-1', UUID))

    def test_long_display_name_is_cut_to_stay_within_80(self):
        name = instances.vm_name('n' * 200, UUID)
        self.assertEqual(80, len(name))
        self.assertEqual('n' * 41 + ' (%s)' % UUID, name)

    def test_no_display_name_is_the_uuid(self):
        self.assertEqual(UUID, instances.vm_name('', UUID))
        self.assertEqual(UUID, instances.vm_name(None, UUID))

    def test_same_rule_as_in_tree(self):
        from nova.virt.vmwareapi import vm_util
        for display in ('', 'a', 'ünïcode ☃ name', 'x' * 41, 'y' * 42,
                        'with (parens) and / slash'):
            self.assertEqual(vm_util._get_vm_name(display, UUID),
                             instances.vm_name(display, UUID))
