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

"""tools/vcsim/auth_privileges.go: privilege queries follow the permissions."""

from pyVmomi import vim
from pyVmomi import vmodl
import testtools

from tests import vcsim

_ASKED = ['VirtualMachine.Inventory.Create', 'Datastore.Browse',
          'System.View']


def narrow_user(test, si, privileges, entity=None):
    """Give the login user a role with only ``privileges`` on ``entity``
    (default: the root folder, propagating) instead of Admin; restored at
    cleanup. Returns the role id."""
    auth = si.content.authorizationManager
    root = si.content.rootFolder
    role = auth.AddAuthorizationRole('narrow-%d' % len(auth.roleList),
                                     privileges)
    test.addCleanup(auth.RemoveAuthorizationRole, role, False)
    before = auth.RetrieveEntityPermissions(root, False)
    test.addCleanup(auth.SetEntityPermissions, root, before)
    user = test.vcsim.username
    mine = [p for p in before if p.principal == user]
    others = [p for p in before if p.principal != user]
    narrowed = vim.AuthorizationManager.Permission(
        principal=user, group=False, roleId=role, propagate=True)
    if entity is None:
        auth.SetEntityPermissions(root, others + [narrowed])
    else:
        auth.SetEntityPermissions(entity, [narrowed])
        test.addCleanup(auth.SetEntityPermissions, entity, [])
        test.assertEqual(1, len(mine))
    return role


class PrivilegesTest(vcsim.VcsimClassMixin, testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.auth = self.si.content.authorizationManager
        self.key = self.si.content.sessionManager.currentSession.key
        self.folder = self.si.content.rootFolder.childEntity[0].vmFolder

    def granted(self, entity):
        answer = self.auth.HasPrivilegeOnEntities(
            [entity], self.key, _ASKED)
        return {a.privId: a.isGranted for a in answer[0].privAvailability}

    def test_login_user_is_admin_by_default(self):
        self.assertEqual(dict.fromkeys(_ASKED, True),
                         self.granted(self.folder))
        fetched = self.auth.FetchUserPrivilegeOnEntities(
            [self.folder], self.vcsim.username)
        self.assertIn('Sessions.ValidateSession', fetched[0].privileges)

    def test_narrowed_role_lacks_the_other_privileges(self):
        role = narrow_user(self, self.si, ['Datastore.Browse'])
        self.assertGreaterEqual(role, 0)
        self.assertEqual({'VirtualMachine.Inventory.Create': False,
                          'Datastore.Browse': True, 'System.View': True},
                         self.granted(self.folder))
        # HasPrivilegeOnEntity answers follow too, but Go's XML encoder
        # drops the false elements of its bool[] (omitempty applies to each
        # element): only a granted answer survives the trip.
        self.assertEqual([True], self.auth.HasPrivilegeOnEntity(
            self.folder, self.key, _ASKED[1:2]))
        self.assertEqual([], self.auth.HasPrivilegeOnEntity(
            self.folder, self.key, _ASKED[:1]))

    def test_permission_on_the_entity_wins_over_its_parent(self):
        narrow_user(self, self.si, ['VirtualMachine.Inventory.Create'],
                    entity=self.folder)
        self.assertTrue(self.granted(self.folder)[
            'VirtualMachine.Inventory.Create'])
        self.assertFalse(self.granted(self.folder)['Datastore.Browse'])
        # The root folder keeps the Admin role.
        self.assertTrue(self.granted(self.si.content.rootFolder)[
            'Datastore.Browse'])

    def test_vcenter_storage_profile_privilege(self):
        # vcsim's list is ESX's: auth_vcenter_privileges.go adds vCenter's
        # StorageProfile ones to Admin and lets roles name them.
        root = self.si.content.rootFolder
        asked = ['StorageProfile.View', 'Datastore.Browse']

        def granted():
            answer = self.auth.HasPrivilegeOnEntities([root], self.key, asked)
            return {a.privId: a.isGranted
                    for a in answer[0].privAvailability}
        self.assertEqual(dict.fromkeys(asked, True), granted())
        narrow_user(self, self.si, ['StorageProfile.View'])
        self.assertEqual({'StorageProfile.View': True,
                          'Datastore.Browse': False}, granted())
        self.assertRaises(vmodl.fault.InvalidArgument,
                          self.auth.AddAuthorizationRole, 'bad-ids',
                          ['StorageProfile.View', 'No.Such'])
        self.assertNotIn('bad-ids', [r.name for r in self.auth.roleList])

    def test_unknown_session_is_refused(self):
        self.assertRaises(vmodl.fault.InvalidArgument,
                          self.auth.HasPrivilegeOnEntities,
                          [self.folder], 'no-such-session', _ASKED)

    def test_user_without_permission_has_none(self):
        fetched = self.auth.FetchUserPrivilegeOnEntities(
            [self.folder], 'somebody-else')
        self.assertEqual([], list(fetched[0].privileges or []))
