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

// A VM's "network" property for NICs on NSX opaque networks, as vSphere
// keeps it: the OpaqueNetwork a NIC's OpaqueNetworkBackingInfo names (by
// opaqueNetworkId) is among the VM's networks while the NIC exists.
//
// vcsim 0.24.2 adds an empty reference (no type, no value) to the VM's
// networks for such a NIC, which no client can read (pyVmomi fails the
// whole property), and removes nothing when the NIC goes. Fixed when a
// CreateVM_Task or ReconfigVM_Task ends (NICs added or removed, hot or
// not): empty references and OpaqueNetworks are dropped from "network",
// then the OpaqueNetworks of the VM's current opaque NICs are added.

package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	// The stock reconfigure holds the VM's lock while its hooks run.
	vmTaskHooks["VirtualMachine.reconfigVm"] = append(vmTaskHooks["VirtualMachine.reconfigVm"], vmTaskHook{
		ended: func(task *mo.Task) {
			if task.Info.State != types.TaskInfoStateSuccess || task.Info.Entity == nil {
				return
			}
			if vm, ok := simulator.Map.Get(*task.Info.Entity).(*simulator.VirtualMachine); ok {
				vmFixOpaqueNetworks(vm)
			}
		},
	})
	vmTaskHooks["Folder.createVm"] = append(vmTaskHooks["Folder.createVm"], vmTaskHook{
		ended: func(task *mo.Task) {
			ref, ok := task.Info.Result.(types.ManagedObjectReference)
			if !ok || task.Info.State != types.TaskInfoStateSuccess {
				return
			}
			// A new VM: nobody in this call holds its lock.
			if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok {
				simulator.Map.WithLock(vm, func() { vmFixOpaqueNetworks(vm) })
			}
		},
	})
}

// vmFixOpaqueNetworks sets the VM's networks as vSphere has them; the
// caller holds the VM's lock.
func vmFixOpaqueNetworks(vm *simulator.VirtualMachine) {
	if vm.Config == nil {
		return
	}
	var opaque []types.ManagedObjectReference
	for _, device := range vm.Config.Hardware.Device {
		nic, ok := device.(types.BaseVirtualEthernetCard)
		if !ok {
			continue
		}
		backing, ok := nic.GetVirtualEthernetCard().Backing.(*types.VirtualEthernetCardOpaqueNetworkBackingInfo)
		if !ok {
			continue
		}
		if ref, found := vmOpaqueNetwork(backing.OpaqueNetworkId); found && !vmHasRef(opaque, ref) {
			opaque = append(opaque, ref)
		}
	}
	networks := make([]types.ManagedObjectReference, 0, len(vm.Network)+len(opaque))
	changed := false
	for _, ref := range vm.Network {
		if ref.Type == "" || ref.Value == "" || ref.Type == "OpaqueNetwork" {
			changed = changed || !vmHasRef(opaque, ref)
			continue
		}
		networks = append(networks, ref)
	}
	for _, ref := range opaque {
		changed = changed || !vmHasRef(vm.Network, ref)
		networks = append(networks, ref)
	}
	if changed {
		simulator.Map.Update(vm, []types.PropertyChange{{Name: "network", Val: networks}})
	}
}

// vmOpaqueNetwork finds the OpaqueNetwork with this opaqueNetworkId.
func vmOpaqueNetwork(id string) (types.ManagedObjectReference, bool) {
	for _, e := range simulator.Map.All("OpaqueNetwork") {
		if net, ok := e.(*mo.OpaqueNetwork); ok && net.Summary != nil {
			if summary, ok := net.Summary.(*types.OpaqueNetworkSummary); ok && summary.OpaqueNetworkId == id {
				return net.Self, true
			}
		}
	}
	return types.ManagedObjectReference{}, false
}

func vmHasRef(refs []types.ManagedObjectReference, ref types.ManagedObjectReference) bool {
	for _, r := range refs {
		if r == ref {
			return true
		}
	}
	return false
}
