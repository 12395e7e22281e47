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

// SearchIndex.FindAllByUuid, which vcsim 0.24.2 lacks (it has FindByUuid):
// every VM (vmSearch) whose config.instanceUuid (instanceUuid true) or BIOS
// config.uuid (otherwise) is the uuid asked for, or every host whose
// hardware uuid it is; only those of the datacenter given, if one is.
// Nova's in-tree driver finds an instance's VM with it. The answer is
// sorted by moid, so it does not depend on the registry's map order.
//
// The SearchIndex singleton cannot be replaced in the registry (the
// simulator type-asserts it), so vmFront answers the call.

package main

import (
	"sort"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	vmMethods["FindAllByUuid"] = searchFindAllByUUID
}

func searchFindAllByUUID(c *vmCall) {
	if !c.stockLacks() {
		return
	}
	req := c.method.Body.(*types.FindAllByUuid)
	if req.Datacenter != nil {
		if _, ok := simulator.Map.Get(*req.Datacenter).(*simulator.Datacenter); !ok {
			c.replyFault(&types.ManagedObjectNotFound{Obj: *req.Datacenter})
			return
		}
	}
	var found []types.ManagedObjectReference
	if req.VmSearch {
		byInstance := req.InstanceUuid != nil && *req.InstanceUuid
		found = searchEntities("VirtualMachine", req.Datacenter, func(e mo.Entity) bool {
			vm := e.(*simulator.VirtualMachine)
			if vm.Config == nil {
				return false
			}
			if byInstance {
				return vm.Config.InstanceUuid == req.Uuid
			}
			return vm.Config.Uuid == req.Uuid
		})
	} else {
		found = searchEntities("HostSystem", req.Datacenter, func(e mo.Entity) bool {
			hw := e.(*simulator.HostSystem).Summary.Hardware
			return hw != nil && hw.Uuid == req.Uuid
		})
	}
	c.reply("FindAllByUuidResponse", &types.FindAllByUuidResponse{Returnval: found})
}

// searchEntities is every entity of kind that match says is one, read under
// its lock, within datacenter dc (nil: anywhere), sorted by moid.
func searchEntities(kind string, dc *types.ManagedObjectReference, match func(mo.Entity) bool) []types.ManagedObjectReference {
	var found []types.ManagedObjectReference
	for _, e := range simulator.Map.All(kind) {
		ok := false
		simulator.Map.WithLock(e, func() { ok = match(e) })
		if ok && (dc == nil || searchDatacenterOf(e) == *dc) {
			found = append(found, e.Reference())
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Value < found[j].Value })
	return found
}

// searchDatacenterOf is the datacenter an entity is in (the zero reference
// if none: it was removed meanwhile).
func searchDatacenterOf(e mo.Entity) types.ManagedObjectReference {
	for e != nil {
		var parent *types.ManagedObjectReference
		simulator.Map.WithLock(e, func() { parent = e.Entity().Parent })
		if parent == nil {
			return types.ManagedObjectReference{}
		}
		if parent.Type == "Datacenter" {
			return *parent
		}
		e, _ = simulator.Map.Get(*parent).(mo.Entity)
	}
	return types.ManagedObjectReference{}
}
