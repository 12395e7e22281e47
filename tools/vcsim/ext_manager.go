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

// ExtensionManager, which vcsim 0.24.2 names in the ServiceContent but does
// not have: every call on it failed with ManagedObjectNotFound.
//
// extManager keeps the registered extensions in extensionList (readable
// through the PropertyCollector, as on vCenter) and answers:
//   - FindExtension: the extension with that key, or nothing;
//   - RegisterExtension: adds it; a key already registered or empty is
//     InvalidArgument (what Nova's in-tree driver expects when another
//     compute registered it first); a missing lastHeartbeatTime becomes now;
//   - UpdateExtension: replaces a registered one (keeping its
//     lastHeartbeatTime when none is given), NotFound otherwise;
//   - UnregisterExtension: removes it, NotFound when there is none.

package main

import (
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	installers = append(installers, extInstall)
}

// extManager embeds mo.ExtensionManager by value as its first field, as the
// simulator requires of the objects it reads properties from. The
// simulator holds its lock around each call.
type extManager struct {
	mo.ExtensionManager
}

func extInstall(*simulator.Model, *simulator.Server) {
	content := simulator.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance).Content
	if content.ExtensionManager == nil {
		return // an ESX model: hosts have none
	}
	m := &extManager{}
	m.Self = *content.ExtensionManager
	simulator.Map.Put(m)
}

// find is the index of the extension with key in the list, or -1.
func (m *extManager) find(key string) int {
	for i := range m.ExtensionList {
		if m.ExtensionList[i].Key == key {
			return i
		}
	}
	return -1
}

func (m *extManager) setList(list []types.Extension) {
	simulator.Map.Update(m, []types.PropertyChange{{Name: "extensionList", Val: list}})
}

func (m *extManager) FindExtension(req *types.FindExtension) soap.HasFault {
	body := &methods.FindExtensionBody{Res: new(types.FindExtensionResponse)}
	if i := m.find(req.ExtensionKey); i >= 0 {
		ext := m.ExtensionList[i]
		body.Res.Returnval = &ext
	}
	return body
}

func (m *extManager) RegisterExtension(req *types.RegisterExtension) soap.HasFault {
	body := new(methods.RegisterExtensionBody)
	ext := req.Extension
	if ext.Key == "" || m.find(ext.Key) >= 0 {
		body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "extension.key"})
		return body
	}
	if ext.LastHeartbeatTime.IsZero() {
		ext.LastHeartbeatTime = time.Now().UTC()
	}
	list := append(append([]types.Extension(nil), m.ExtensionList...), ext)
	m.setList(list)
	body.Res = new(types.RegisterExtensionResponse)
	return body
}

func (m *extManager) UpdateExtension(req *types.UpdateExtension) soap.HasFault {
	body := new(methods.UpdateExtensionBody)
	i := m.find(req.Extension.Key)
	if i < 0 {
		body.Fault_ = simulator.Fault("", &types.NotFound{})
		return body
	}
	ext := req.Extension
	if ext.LastHeartbeatTime.IsZero() {
		ext.LastHeartbeatTime = m.ExtensionList[i].LastHeartbeatTime
	}
	list := append([]types.Extension(nil), m.ExtensionList...)
	list[i] = ext
	m.setList(list)
	body.Res = new(types.UpdateExtensionResponse)
	return body
}

func (m *extManager) UnregisterExtension(req *types.UnregisterExtension) soap.HasFault {
	body := new(methods.UnregisterExtensionBody)
	i := m.find(req.ExtensionKey)
	if i < 0 {
		body.Fault_ = simulator.Fault("", &types.NotFound{})
		return body
	}
	list := append(append([]types.Extension(nil), m.ExtensionList[:i]...), m.ExtensionList[i+1:]...)
	m.setList(list)
	body.Res = new(types.UnregisterExtensionResponse)
	return body
}
