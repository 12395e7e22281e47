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

package main

// vCenter privileges vcsim's privilege list lacks.
//
// vcsim 0.24.2 knows the privileges of ESX's Admin role only, so
// AddAuthorizationRole refuses vCenter's (InvalidArgument privIds) and the
// Admin role lacks them. The Admin role gets them here, and
// AddAuthorizationRole (auth_privileges.go) accepts them: storage policies
// (PBM) need StorageProfile.View on vCenter.

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
)

var vcenterOnlyPrivileges = map[string]bool{
	"StorageProfile.Update": true,
	"StorageProfile.View":   true,
}

func init() {
	installers = append(installers, vcenterPrivilegesInstall)
}

func vcenterPrivilegesInstall(_ *simulator.Model, _ *simulator.Server) {
	content := simulator.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance).Content
	am, ok := simulator.Map.Get(*content.AuthorizationManager).(*authzManager)
	if !ok {
		return
	}
	for i := range am.RoleList {
		if am.RoleList[i].RoleId == authzAdminRole {
			for id := range vcenterOnlyPrivileges {
				am.RoleList[i].Privilege = append(am.RoleList[i].Privilege, id)
			}
		}
	}
}

// splitVcenterOnly returns ids without the vCenter-only privileges, and
// those.
func splitVcenterOnly(ids []string) (known, vcenterOnly []string) {
	for _, id := range ids {
		if vcenterOnlyPrivileges[id] {
			vcenterOnly = append(vcenterOnly, id)
		} else {
			known = append(known, id)
		}
	}
	return known, vcenterOnly
}
