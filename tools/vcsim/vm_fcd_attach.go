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

// VirtualMachine.AttachDisk_Task and DetachDisk_Task, which vcsim 0.24.2
// lacks (MethodNotFound): a First Class Disk (a VStorageObject of
// VcenterVStorageObjectManager, as CreateDisk_Task makes it) attached to
// and detached from a VM, as vSphere does it.
//
//   - AttachDisk_Task(diskId, datastore, controllerKey, unitNumber) adds a
//     VirtualDisk backed by the object's file, with vDiskId set to the
//     disk's id and the object's capacity, on the given controller and
//     unit (the stock ReconfigVM_Task checks both; no controllerKey: the
//     VM's first SCSI controller). No such disk on that datastore is a
//     NotFound; a disk that a VM (this one or another) already has is a
//     ResourceInUse, as vSphere refuses a First Class Disk attached
//     elsewhere; no SCSI controller for a missing controllerKey is a
//     MissingController.
//   - DetachDisk_Task(diskId) removes the VM's disk whose vDiskId is the
//     id, keeping its file (the disk lives on as a VStorageObject); a VM
//     without it is a NotFound.
//
// Both change the VM through the stock ReconfigVM_Task within the call
// (so the VM's devices, layout and the datastore's lists follow) and
// answer with a task that has already ended in the outcome.

package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/vpx"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	vmMethods["AttachDisk_Task"] = vmAttachDisk
	vmMethods["DetachDisk_Task"] = vmDetachDisk
}

func vmAttachDisk(c *vmCall) {
	req := c.method.Body.(*types.AttachDisk_Task)
	if !vmLacksOnVM(c, req.This) {
		return
	}
	fault := vmAttachFcd(c, req)
	task := vmRunTask(req.This, "attachDisk", func() (types.AnyType, types.BaseMethodFault) {
		return nil, fault
	})
	c.reply(c.method.Name+"Response", &taskResponse{Returnval: task})
}

func vmDetachDisk(c *vmCall) {
	req := c.method.Body.(*types.DetachDisk_Task)
	if !vmLacksOnVM(c, req.This) {
		return
	}
	fault := vmDetachFcd(c, req)
	task := vmRunTask(req.This, "detachDisk", func() (types.AnyType, types.BaseMethodFault) {
		return nil, fault
	})
	c.reply(c.method.Name+"Response", &taskResponse{Returnval: task})
}

// vmLacksOnVM is true when the call is on a VM of a logged-in session and
// the stock server lacks the method; otherwise the call was answered.
func vmLacksOnVM(c *vmCall, this types.ManagedObjectReference) bool {
	if _, ok := simulator.Map.Get(this).(*simulator.VirtualMachine); !ok {
		c.passThrough()
		return false
	}
	return c.stockLacks()
}

// vmFcdObject is the VStorageObject diskId on datastore ds, or a NotFound.
func vmFcdObject(ds types.ManagedObjectReference, id types.ID) (*types.VStorageObject, types.BaseMethodFault) {
	m, ok := simulator.Map.Get(*vpx.ServiceContent.VStorageObjectManager).(*simulator.VcenterVStorageObjectManager)
	if !ok {
		return nil, &types.NotSupported{}
	}
	if _, ok := simulator.Map.Get(ds).(*simulator.Datastore); !ok {
		return nil, &types.ManagedObjectNotFound{Obj: ds}
	}
	var res interface{}
	simulator.Map.WithLock(m, func() {
		res = m.RetrieveVStorageObject(&simulator.Context{Map: simulator.Map},
			&types.RetrieveVStorageObject{This: m.Self, Id: id, Datastore: ds})
	})
	body := res.(*methods.RetrieveVStorageObjectBody)
	if body.Fault_ != nil || body.Res == nil {
		return nil, &types.NotFound{}
	}
	obj := body.Res.Returnval
	return &obj, nil
}

// vmFcdUser is the VM that has First Class Disk id, if any.
func vmFcdUser(id string) *types.ManagedObjectReference {
	for _, entity := range simulator.Map.All("VirtualMachine") {
		vm, ok := entity.(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		var found bool
		simulator.Map.WithLock(vm, func() { found = vmFcdDevice(vm, id) != nil })
		if found {
			self := vm.Self
			return &self
		}
	}
	return nil
}

// vmFcdDevice is the VM's disk whose vDiskId is id (the caller holds the
// VM's lock).
func vmFcdDevice(vm *simulator.VirtualMachine, id string) *types.VirtualDisk {
	if vm.Config == nil {
		return nil
	}
	for _, d := range vm.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok && disk.VDiskId != nil && disk.VDiskId.Id == id {
			return disk
		}
	}
	return nil
}

// vmFirstSCSIController is the key of the VM's first SCSI controller, or 0.
func vmFirstSCSIController(vm *simulator.VirtualMachine) int32 {
	var key int32
	simulator.Map.WithLock(vm, func() {
		for _, d := range vm.Config.Hardware.Device {
			if c, ok := d.(types.BaseVirtualSCSIController); ok {
				key = c.GetVirtualSCSIController().Key
				return
			}
		}
	})
	return key
}

func vmAttachFcd(c *vmCall, req *types.AttachDisk_Task) types.BaseMethodFault {
	obj, fault := vmFcdObject(req.Datastore, req.DiskId)
	if fault != nil {
		return fault
	}
	if user := vmFcdUser(req.DiskId.Id); user != nil {
		return &types.ResourceInUse{Type: "VirtualMachine", Name: user.Value}
	}
	backing, ok := obj.Config.Backing.(*types.BaseConfigInfoDiskFileBackingInfo)
	if !ok {
		return &types.NotSupported{}
	}
	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		return &types.ManagedObjectNotFound{Obj: req.This}
	}
	controller := req.ControllerKey
	if controller == 0 {
		if controller = vmFirstSCSIController(vm); controller == 0 {
			return &types.MissingController{}
		}
	}
	thin := backing.ProvisioningType == "" || backing.ProvisioningType == string(types.BaseConfigInfoDiskFileBackingInfoProvisioningTypeThin)
	disk := &types.VirtualDisk{
		VirtualDevice: types.VirtualDevice{
			Key:           -1,
			ControllerKey: controller,
			UnitNumber:    req.UnitNumber,
			Backing: &types.VirtualDiskFlatVer2BackingInfo{
				VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{
					FileName: backing.FilePath,
				},
				DiskMode:        string(types.VirtualDiskModePersistent),
				ThinProvisioned: types.NewBool(thin),
			},
		},
		CapacityInKB:    obj.Config.CapacityInMB * 1024,
		CapacityInBytes: obj.Config.CapacityInMB * 1024 * 1024,
		VDiskId:         &types.ID{Id: req.DiskId.Id},
	}
	_, fault = c.internalTask(&methods.ReconfigVM_TaskBody{Req: &types.ReconfigVM_Task{
		This: req.This,
		Spec: types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
			&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: disk},
		}},
	}})
	return fault
}

func vmDetachFcd(c *vmCall, req *types.DetachDisk_Task) types.BaseMethodFault {
	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		return &types.ManagedObjectNotFound{Obj: req.This}
	}
	var disk *types.VirtualDisk
	simulator.Map.WithLock(vm, func() {
		if d := vmFcdDevice(vm, req.DiskId.Id); d != nil {
			disk = vmDeepCopyValue(d).(*types.VirtualDisk)
		}
	})
	if disk == nil {
		return &types.NotFound{}
	}
	_, fault := c.internalTask(&methods.ReconfigVM_TaskBody{Req: &types.ReconfigVM_Task{
		This: req.This,
		Spec: types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
			&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationRemove, Device: disk},
		}},
	}})
	return fault
}
