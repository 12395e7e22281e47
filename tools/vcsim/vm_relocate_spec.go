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

// RelocateVM_Task's spec.deviceChange and spec.diskMoveType, which vcsim
// 0.24.2 ignores.
//
// vSphere applies a relocation's deviceChange to the moved VM: a client
// moving a VM to a cluster with other networks edits each NIC's backing in
// the same call (an edit of an existing device; vSphere accepts no other
// operation there, and neither does this). With diskMoveType
// moveAllDiskBackingsAndConsolidate the moved disks no longer have parents:
// a linked clone becomes a standalone disk on the target datastore, its
// parent (an image cache disk) stays where it was. Here, once the stock
// relocation (and ds_relocate.go's finishing) has succeeded, the NIC edits
// replace the backings of the devices they name, and with that move type
// every disk backing loses its parent. vcsim's disk files hold no data, so
// no bytes are merged. A deviceChange that is not an edit of a NIC the VM
// has is an InvalidDeviceSpec, before anything moves.

package main

import (
	"net/http"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

const vmConsolidate = string(types.VirtualMachineRelocateDiskMoveOptionsMoveAllDiskBackingsAndConsolidate)

func init() {
	// Registered after ds_relocate.go's wrapper: this one is outside it and
	// sees the relocation finished.
	handlerWrappers = append(handlerWrappers, vmWrapRelocateSpec)
}

func vmWrapRelocateSpec(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, _ := decodeSOAPCall(r, "RelocateVM_Task")
		var req *types.RelocateVM_Task
		var vm *simulator.VirtualMachine
		if method != nil {
			req, _ = method.Body.(*types.RelocateVM_Task)
			vm, _ = simulator.Map.Get(method.This).(*simulator.VirtualMachine)
		}
		if req == nil || vm == nil || (len(req.Spec.DeviceChange) == 0 && !vmAnyConsolidation(&req.Spec)) {
			next.ServeHTTP(w, r)
			return
		}
		if i := vmBadRelocateDevice(vm, req.Spec.DeviceChange); i >= 0 {
			if rejectNotLoggedIn(w, r, next) {
				return
			}
			writeSOAPFault(w, "", &types.InvalidDeviceSpec{
				InvalidVmConfig: types.InvalidVmConfig{Property: "spec.deviceChange"},
				DeviceIndex:     int32(i)})
			return
		}
		rec := recordResponse(next, r)
		if task, fault := taskOfAnswer(rec); fault == nil {
			var state types.TaskInfoState
			simulator.Map.WithLock(task, func() { state = task.Info.State })
			if state == types.TaskInfoStateSuccess {
				vmApplyRelocateSpec(vm, &req.Spec)
			}
		}
		replayResponse(w, rec)
	})
}

// vmBadRelocateDevice is the index of the first change that is not an edit
// of a NIC of the VM, or -1.
func vmBadRelocateDevice(vm *simulator.VirtualMachine, changes []types.BaseVirtualDeviceConfigSpec) int {
	bad := -1
	simulator.Map.WithLock(vm, func() {
		for i, c := range changes {
			spec := c.GetVirtualDeviceConfigSpec()
			_, isNic := spec.Device.(types.BaseVirtualEthernetCard)
			if spec.Operation != types.VirtualDeviceConfigSpecOperationEdit || !isNic ||
				vmDeviceIndex(vm, spec.Device.GetVirtualDevice().Key) < 0 {
				bad = i
				return
			}
		}
	})
	return bad
}

func vmDeviceIndex(vm *simulator.VirtualMachine, key int32) int {
	if vm.Config == nil {
		return -1
	}
	for i, d := range vm.Config.Hardware.Device {
		if d.GetVirtualDevice().Key == key {
			return i
		}
	}
	return -1
}

func vmApplyRelocateSpec(vm *simulator.VirtualMachine, spec *types.VirtualMachineRelocateSpec) {
	var oldStores, newStores []types.ManagedObjectReference
	simulator.Map.WithLock(vm, func() {
		if vm.Config == nil {
			return
		}
		devices := vm.Config.Hardware.Device
		for _, c := range spec.DeviceChange {
			edit := c.GetVirtualDeviceConfigSpec().Device.GetVirtualDevice()
			if i := vmDeviceIndex(vm, edit.Key); i >= 0 {
				devices[i].GetVirtualDevice().Backing = edit.Backing
			}
		}
		changes := []types.PropertyChange{{Name: "config.hardware.device", Val: devices}}
		if vmAnyConsolidation(spec) {
			for _, d := range devices {
				if disk, ok := d.(*types.VirtualDisk); ok && vmDiskMoveType(spec, disk.Key) == vmConsolidate {
					vmDropParent(disk.Backing)
				}
			}
			// The parents are no longer the VM's files, nor their
			// datastores its datastores.
			if vm.Layout != nil && vm.LayoutEx != nil {
				dsRebuildLayout(vm)
				changes = append(changes,
					types.PropertyChange{Name: "layout", Val: vm.Layout},
					types.PropertyChange{Name: "layoutEx", Val: vm.LayoutEx},
					types.PropertyChange{Name: "storage", Val: vm.Storage},
					types.PropertyChange{Name: "summary.storage", Val: vm.Summary.Storage})
			}
			oldStores = append(oldStores, vm.Datastore...)
			newStores = dsVMDatastores(vm)
			changes = append(changes, types.PropertyChange{Name: "datastore", Val: newStores})
		}
		simulator.Map.Update(vm, changes)
	})
	for _, ref := range oldStores {
		if !dsContains(newStores, ref) {
			dsSetList(simulator.Map.Get(ref), vm.Self, false)
		}
	}
}

func vmDropParent(backing types.BaseVirtualDeviceBackingInfo) {
	switch b := backing.(type) {
	case *types.VirtualDiskFlatVer2BackingInfo:
		b.Parent = nil
	case *types.VirtualDiskSeSparseBackingInfo:
		b.Parent = nil
	case *types.VirtualDiskSparseVer2BackingInfo:
		b.Parent = nil
	}
}
