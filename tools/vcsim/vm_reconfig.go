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

// ReconfigVM_Task (and CreateVM_Task) as vSphere does them, where vcsim
// 0.24.2 differs:
//
//   - extraConfig: an option sets its key, replacing the key's value (vcsim
//     appends a duplicate key), and an option with an empty value deletes
//     the key (vcsim stores the empty value). Fixed when the task ends, in
//     the stock call, by keeping the last value of each key and dropping the
//     empty ones (vcsim applies the options in order by appending them).
//   - cpuAllocation / memoryAllocation: the fields given (e.g. only limit)
//     change, the others (reservation, shares...) keep their values (vcsim
//     replaces the whole allocation, unsetting what the spec leaves out).
//     Fixed when the task ends, from the allocation saved when it started.
//   - a disk or CD-ROM added without unitNumber gets the first free unit on
//     its controller, skipping the SCSI controller's own unit 7 (vcsim fails
//     a new disk with InvalidDeviceSpec and adds a CD-ROM without a unit).
//     The request is completed before the stock server performs it.

package main

import (
	"reflect"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	vmMethods["ReconfigVM_Task"] = vmReconfigure
	vmMethods["CreateVM_Task"] = vmCreate

	allocations := new(vmTaskState)
	vmTaskHooks["VirtualMachine.reconfigVm"] = append(vmTaskHooks["VirtualMachine.reconfigVm"], vmTaskHook{
		started: func(task *mo.Task) {
			// The stock call holds the VM's lock.
			if vm, ok := simulator.Map.Get(*task.Info.Entity).(*simulator.VirtualMachine); ok && vm.Config != nil {
				allocations.put(task, [2]*types.ResourceAllocationInfo{vm.Config.CpuAllocation, vm.Config.MemoryAllocation})
			}
		},
		ended: func(task *mo.Task) {
			saved, _ := allocations.take(task).([2]*types.ResourceAllocationInfo)
			vm, ok := simulator.Map.Get(*task.Info.Entity).(*simulator.VirtualMachine)
			if !ok || vm.Config == nil || task.Info.State != types.TaskInfoStateSuccess {
				return
			}
			var changes []types.PropertyChange
			if merged := vmMergeAllocation(saved[0], vm.Config.CpuAllocation); merged != nil {
				changes = append(changes, types.PropertyChange{Name: "config.cpuAllocation", Val: merged})
			}
			if merged := vmMergeAllocation(saved[1], vm.Config.MemoryAllocation); merged != nil {
				changes = append(changes, types.PropertyChange{Name: "config.memoryAllocation", Val: merged})
			}
			if options, changed := vmNormalExtraConfig(vm.Config.ExtraConfig); changed {
				changes = append(changes, types.PropertyChange{Name: "config.extraConfig", Val: options})
			}
			if len(changes) != 0 {
				simulator.Map.Update(vm, changes)
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
				simulator.Map.WithLock(vm, func() {
					if options, changed := vmNormalExtraConfig(vm.Config.ExtraConfig); changed {
						simulator.Map.Update(vm, []types.PropertyChange{{Name: "config.extraConfig", Val: options}})
					}
				})
			}
		},
	})
}

// vmMergeAllocation is the allocation vSphere keeps when a reconfigure
// replaced old by spec: spec's fields over old's. nil when nothing changed.
func vmMergeAllocation(old, spec *types.ResourceAllocationInfo) *types.ResourceAllocationInfo {
	if old == nil || spec == nil || old == spec {
		return nil
	}
	merged := *old
	if spec.Reservation != nil {
		merged.Reservation = spec.Reservation
	}
	if spec.ExpandableReservation != nil {
		merged.ExpandableReservation = spec.ExpandableReservation
	}
	if spec.Limit != nil {
		merged.Limit = spec.Limit
	}
	if spec.Shares != nil {
		merged.Shares = spec.Shares
	}
	if spec.OverheadLimit != nil {
		merged.OverheadLimit = spec.OverheadLimit
	}
	return &merged
}

// vmNormalExtraConfig applies options in order as vSphere does: each sets
// its key (keeping the key's first position), an empty value removes it.
func vmNormalExtraConfig(options []types.BaseOptionValue) ([]types.BaseOptionValue, bool) {
	last := make(map[string]int, len(options))
	for i, o := range options {
		last[o.GetOptionValue().Key] = i
	}
	result := make([]types.BaseOptionValue, 0, len(last))
	done := make(map[string]bool, len(last))
	for _, o := range options {
		key := o.GetOptionValue().Key
		if done[key] {
			continue
		}
		done[key] = true
		final := options[last[key]]
		if vmEmptyOption(final.GetOptionValue().Value) {
			continue
		}
		result = append(result, final)
	}
	if len(result) == len(options) {
		return options, false
	}
	return result, true
}

func vmEmptyOption(v types.AnyType) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	}
	return false
}

func vmReconfigure(c *vmCall) {
	req := c.method.Body.(*types.ReconfigVM_Task)
	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		c.passThrough()
		return
	}
	var devices []types.BaseVirtualDevice
	simulator.Map.WithLock(vm, func() {
		if vm.Config != nil {
			devices = append(devices, vm.Config.Hardware.Device...)
		}
	})
	if vmAssignUnits(devices, req.Spec.DeviceChange) {
		c.passOn(&methods.ReconfigVM_TaskBody{Req: req})
		return
	}
	c.passThrough()
}

func vmCreate(c *vmCall) {
	req := c.method.Body.(*types.CreateVM_Task)
	rewrite := false
	if _, _, ok := vmFolderPath(&req.Config); ok {
		// Only a logged-in caller may make the folder.
		if !c.loggedIn() {
			c.replyNotAuthenticated()
			return
		}
		if fault := vmKeepFolder(req.This, &req.Config); fault != nil {
			task := simulator.CreateTask(req.This, "createVm", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
				return nil, fault
			})
			c.reply(c.method.Name+"Response", &taskResponse{Returnval: task.Run()})
			return
		}
		rewrite = true
	}
	if vmAssignUnits(esx.VirtualDevice, req.Config.DeviceChange) || rewrite {
		c.passOn(&methods.CreateVM_TaskBody{Req: req})
		return
	}
	c.passThrough()
}

// vmUnitLimit is how many units a storage controller has (0: not one whose
// devices we number).
func vmUnitLimit(controller types.BaseVirtualDevice) int32 {
	switch controller.(type) {
	case types.BaseVirtualSCSIController:
		return 16
	case *types.VirtualIDEController:
		return 2
	case types.BaseVirtualSATAController:
		return 30
	case *types.VirtualNVMEController:
		return 15
	}
	return 0
}

// vmAssignUnits gives each disk or CD-ROM that changes adds without a
// unitNumber the first free unit of its controller, as vSphere does.
// existing are the VM's devices before the change. Reports whether it
// changed anything.
func vmAssignUnits(existing []types.BaseVirtualDevice, changes []types.BaseVirtualDeviceConfigSpec) bool {
	needed := false
	for _, change := range changes {
		spec := change.GetVirtualDeviceConfigSpec()
		if spec.Operation == types.VirtualDeviceConfigSpecOperationAdd && vmNumbered(spec.Device) &&
			spec.Device.GetVirtualDevice().UnitNumber == nil {
			needed = true
		}
	}
	if !needed {
		return false
	}

	removed := make(map[int32]bool)
	for _, change := range changes {
		spec := change.GetVirtualDeviceConfigSpec()
		if spec.Operation == types.VirtualDeviceConfigSpecOperationRemove && spec.Device != nil {
			removed[spec.Device.GetVirtualDevice().Key] = true
		}
	}

	limit := make(map[int32]int32)
	used := make(map[int32]map[int32]bool)
	use := func(controller, unit int32) {
		if used[controller] == nil {
			used[controller] = make(map[int32]bool)
		}
		used[controller][unit] = true
	}
	addController := func(d types.BaseVirtualDevice) {
		n := vmUnitLimit(d)
		if n == 0 {
			return
		}
		key := d.GetVirtualDevice().Key
		limit[key] = n
		if scsi, ok := d.(types.BaseVirtualSCSIController); ok {
			// The controller itself sits on unit 7 of its bus.
			unit := scsi.GetVirtualSCSIController().ScsiCtlrUnitNumber
			if unit == 0 {
				unit = 7
			}
			use(key, unit)
		}
	}
	for _, d := range existing {
		if !removed[d.GetVirtualDevice().Key] {
			addController(d)
		}
	}
	for _, change := range changes {
		spec := change.GetVirtualDeviceConfigSpec()
		if spec.Operation == types.VirtualDeviceConfigSpecOperationAdd && spec.Device != nil {
			addController(spec.Device)
		}
	}
	for _, d := range existing {
		v := d.GetVirtualDevice()
		if !removed[v.Key] && v.UnitNumber != nil {
			use(v.ControllerKey, *v.UnitNumber)
		}
	}
	for _, change := range changes {
		spec := change.GetVirtualDeviceConfigSpec()
		if spec.Device == nil || spec.Operation == types.VirtualDeviceConfigSpecOperationRemove {
			continue
		}
		if v := spec.Device.GetVirtualDevice(); v.UnitNumber != nil {
			use(v.ControllerKey, *v.UnitNumber)
		}
	}

	changed := false
	for _, change := range changes {
		spec := change.GetVirtualDeviceConfigSpec()
		if spec.Operation != types.VirtualDeviceConfigSpecOperationAdd || !vmNumbered(spec.Device) {
			continue
		}
		v := spec.Device.GetVirtualDevice()
		n, ok := limit[v.ControllerKey]
		if v.UnitNumber != nil || !ok {
			continue
		}
		for unit := int32(0); unit < n; unit++ {
			if !used[v.ControllerKey][unit] {
				unit := unit
				v.UnitNumber = &unit
				use(v.ControllerKey, unit)
				changed = true
				break
			}
		}
	}
	return changed
}

// vmNumbered: devices vSphere numbers on a storage controller.
func vmNumbered(d types.BaseVirtualDevice) bool {
	if d == nil || reflect.ValueOf(d).IsNil() {
		return false
	}
	switch d.(type) {
	case *types.VirtualDisk, *types.VirtualCdrom:
		return true
	}
	return false
}
