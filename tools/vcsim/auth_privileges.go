// Licensed under the Apache License, Version 2.0 (the "License"); you may
// not use this file except in compliance with the License. You may obtain
// a copy of the License at
//
//      http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
// WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
// License for the specific language governing permissions and limitations
// under the License.

// AuthorizationManager privilege queries that follow the permissions.
//
// vcsim 0.24.2 answers HasPrivilegeOnEntities, HasPrivilegeOnEntity and
// HasUserPrivilegeOnEntities with "granted" for every privilege, and
// FetchUserPrivilegeOnEntities with the Admin role, whoever asks: a client
// checking that its user has the privileges it needs cannot be tested.
// authzManager answers them as vCenter does, from the permissions set with
// SetEntityPermissions: a user's privileges on an entity are those of the
// role of the user's permission closest to the entity (on the entity
// itself, else on the nearest ancestor whose permission propagates); no
// such permission, no privilege. Group permissions are not applied (vcsim
// has no group membership).
//
// The user Login accepts (-username) is given the Admin role on the root
// folder, propagating, so by default it may do everything, as before; a
// test narrows it by replacing that permission. AddAuthorizationRole also
// returns the new role's id (the stock call returns none).
//
// HasPrivilegeOnEntity's bool[] answer loses its false elements on the
// wire (Go's XML encoder applies the response's omitempty to each element):
// clients should use HasPrivilegeOnEntities, as vCenter's docs advise.

package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const authzAdminRole = -1

func init() {
	installers = append(installers, authzInstall)
}

// authzManager embeds the stock manager by value as its first field, as
// the simulator requires of a replaced singleton.
type authzManager struct {
	simulator.AuthorizationManager
}

func authzInstall(m *simulator.Model, _ *simulator.Server) {
	content := simulator.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance).Content
	stock := simulator.Map.Get(*content.AuthorizationManager).(*simulator.AuthorizationManager)
	am := &authzManager{AuthorizationManager: *stock}
	simulator.Map.Put(am)
	if m.Service.Listen == nil || m.Service.Listen.User == nil {
		return
	}
	root := content.RootFolder
	perms := am.permissionsOn(root)
	perms = append(perms, types.Permission{
		Entity:    &root,
		Principal: m.Service.Listen.User.Username(),
		RoleId:    authzAdminRole,
		Propagate: true,
	})
	am.SetEntityPermissions(&types.SetEntityPermissions{Entity: root, Permission: perms})
}

func (m *authzManager) permissionsOn(ref types.ManagedObjectReference) []types.Permission {
	body := m.RetrieveEntityPermissions(&types.RetrieveEntityPermissions{Entity: ref})
	return body.(*methods.RetrieveEntityPermissionsBody).Res.Returnval
}

func (m *authzManager) rolePrivileges(id int32) []string {
	for _, role := range m.RoleList {
		if role.RoleId == id {
			return role.Privilege
		}
	}
	return nil
}

// userPrivileges are the privileges of user on entity (nil: none, or the
// entity does not exist).
func (m *authzManager) userPrivileges(user string, entity types.ManagedObjectReference) []string {
	ref := &entity
	for own := true; ref != nil; own = false {
		obj, ok := simulator.Map.Get(*ref).(mo.Entity)
		if !ok {
			return nil
		}
		for _, p := range m.permissionsOn(*ref) {
			if !p.Group && p.Principal == user && (own || p.Propagate) {
				return m.rolePrivileges(p.RoleId)
			}
		}
		simulator.Map.WithLock(obj, func() { ref = obj.Entity().Parent })
	}
	return nil
}

func (m *authzManager) availability(user string, entity types.ManagedObjectReference, ids []string) []types.PrivilegeAvailability {
	have := make(map[string]bool)
	for _, id := range m.userPrivileges(user, entity) {
		have[id] = true
	}
	var out []types.PrivilegeAvailability
	for _, id := range ids {
		out = append(out, types.PrivilegeAvailability{PrivId: id, IsGranted: have[id]})
	}
	return out
}

func (m *authzManager) entityPrivileges(user string, entities []types.ManagedObjectReference, ids []string) []types.EntityPrivilege {
	var out []types.EntityPrivilege
	for _, e := range entities {
		out = append(out, types.EntityPrivilege{Entity: e, PrivAvailability: m.availability(user, e, ids)})
	}
	return out
}

// sessionUser is the user of a session key; ok is false for an unknown key.
func sessionUser(key string) (string, bool) {
	s, ok := authSessionByKey(key)
	return s.UserName, ok
}

func badSession() *soap.Fault {
	return simulator.Fault("", &types.InvalidArgument{InvalidProperty: "sessionId"})
}

func (m *authzManager) HasPrivilegeOnEntities(req *types.HasPrivilegeOnEntities) soap.HasFault {
	body := new(methods.HasPrivilegeOnEntitiesBody)
	user, ok := sessionUser(req.SessionId)
	if !ok {
		body.Fault_ = badSession()
		return body
	}
	body.Res = &types.HasPrivilegeOnEntitiesResponse{Returnval: m.entityPrivileges(user, req.Entity, req.PrivId)}
	return body
}

func (m *authzManager) HasPrivilegeOnEntity(req *types.HasPrivilegeOnEntity) soap.HasFault {
	body := new(methods.HasPrivilegeOnEntityBody)
	user, ok := sessionUser(req.SessionId)
	if !ok {
		body.Fault_ = badSession()
		return body
	}
	var granted []bool
	for _, a := range m.availability(user, req.Entity, req.PrivId) {
		granted = append(granted, a.IsGranted)
	}
	body.Res = &types.HasPrivilegeOnEntityResponse{Returnval: granted}
	return body
}

func (m *authzManager) HasUserPrivilegeOnEntities(req *types.HasUserPrivilegeOnEntities) soap.HasFault {
	return &methods.HasUserPrivilegeOnEntitiesBody{Res: &types.HasUserPrivilegeOnEntitiesResponse{
		Returnval: m.entityPrivileges(req.UserName, req.Entities, req.PrivId),
	}}
}

func (m *authzManager) FetchUserPrivilegeOnEntities(req *types.FetchUserPrivilegeOnEntities) soap.HasFault {
	var out []types.UserPrivilegeResult
	for _, e := range req.Entities {
		out = append(out, types.UserPrivilegeResult{Entity: e, Privileges: m.userPrivileges(req.UserName, e)})
	}
	return &methods.FetchUserPrivilegeOnEntitiesBody{Res: &types.FetchUserPrivilegeOnEntitiesResponse{Returnval: out}}
}

func (m *authzManager) AddAuthorizationRole(req *types.AddAuthorizationRole) soap.HasFault {
	known, vcenterOnly := splitVcenterOnly(req.PrivIds)
	stockReq := *req
	stockReq.PrivIds = known
	body := m.AuthorizationManager.AddAuthorizationRole(&stockReq).(*methods.AddAuthorizationRoleBody)
	if body.Res != nil {
		for i, role := range m.RoleList {
			if role.Name == req.Name {
				body.Res.Returnval = role.RoleId
				m.RoleList[i].Privilege = append(role.Privilege, vcenterOnly...)
			}
		}
	}
	return body
}
