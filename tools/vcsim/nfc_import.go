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

// ResourcePool.ImportVApp (and VirtualApp.ImportVApp) with a lease whose
// disk URLs store what is uploaded (see nfc_lease.go and nfc_http.go).
//
// As on vSphere, the VM is made from the VirtualMachineImportSpec at once,
// with empty disks; the lease's info.deviceUrl names one upload URL per
// disk (and per image file of a CD-ROM or floppy still to be uploaded),
// with importKey matching the OvfFileItem.deviceId of
// OvfManager.CreateImportSpec. An upload becomes the content of the disk's
// backing file, byte for byte.

package main

import (
	"fmt"
	"os"
	"path"
	"reflect"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func nfcImportVApp(ctx *simulator.Context, req *types.ImportVApp) soap.HasFault {
	body := new(methods.ImportVAppBody)

	spec, ok := req.Spec.(*types.VirtualMachineImportSpec)
	if !ok {
		body.Fault_ = simulator.Fault(fmt.Sprintf("%T: type not supported", req.Spec),
			&types.InvalidArgument{InvalidProperty: "spec"})
		return body
	}

	var pool mo.Entity
	switch p := simulator.Map.Get(req.This).(type) {
	case *simulator.ResourcePool:
		pool = p
	case *simulator.VirtualApp:
		pool = p
	default:
		body.Fault_ = nfcNotFound(req.This)
		return body
	}

	var folderRef types.ManagedObjectReference
	if req.Folder != nil {
		if req.This.Type == "VirtualApp" {
			body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "pool"})
			return body
		}
		folderRef = *req.Folder
	} else {
		dc := nfcDatacenterOf(pool)
		if dc == nil {
			body.Fault_ = nfcNotFound(req.This)
			return body
		}
		folderRef = dc.VmFolder
	}
	folder, ok := simulator.Map.Get(folderRef).(*simulator.Folder)
	if !ok {
		body.Fault_ = nfcNotFound(folderRef)
		return body
	}

	if fault := vmKeepFolder(folder.Self, &spec.ConfigSpec); fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	res := folder.CreateVMTask(ctx, &types.CreateVM_Task{
		This:   folder.Self,
		Config: spec.ConfigSpec,
		Pool:   req.This,
		Host:   req.Host,
	})
	task, ok := simulator.Map.Get(res.(*methods.CreateVM_TaskBody).Res.Returnval).(*simulator.Task)
	if !ok {
		body.Fault_ = simulator.Fault("the VM was not created", &types.RuntimeFault{})
		return body
	}
	if task.Info.Error != nil {
		body.Fault_ = simulator.Fault(task.Info.Error.LocalizedMessage, task.Info.Error.Fault)
		return body
	}
	vm, ok := simulator.Map.Get(task.Info.Result.(types.ManagedObjectReference)).(*simulator.VirtualMachine)
	if !ok {
		body.Fault_ = simulator.Fault("the VM was not created", &types.RuntimeFault{})
		return body
	}

	var lease *nfcLease
	simulator.Map.WithLock(vm, func() {
		files, urls := nfcImportFiles(vm)
		lease = nfcNewLease(ctx, vm, false, pool, "importVApp", files, urls)
	})

	body.Res = &types.ImportVAppResponse{Returnval: lease.Self}
	return body
}

// nfcImportFiles lists the files of a new VM that an import uploads; the
// VM is locked.
func nfcImportFiles(vm *simulator.VirtualMachine) ([]*nfcFile, []types.HttpNfcLeaseDeviceUrl) {
	var files []*nfcFile
	var urls []types.HttpNfcLeaseDeviceUrl
	devices := object.VirtualDeviceList(vm.Config.Hardware.Device)
	perKind := make(map[string]int)
	ndisk := 0
	for _, d := range devices {
		backing, ok := d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if !ok {
			continue
		}
		dsPath := backing.GetVirtualDeviceFileBackingInfo().FileName
		kind := devices.Type(d)
		n := perKind[kind]
		perKind[kind]++

		local, ok := nfcLocalPath(vm, dsPath)
		if !ok {
			continue
		}
		disk, isDisk := d.(*types.VirtualDisk)
		f := &nfcFile{dsPath: dsPath, local: local, disk: isDisk, key: nfcDeviceKey(vm, devices, d)}
		if isDisk {
			f.name = fmt.Sprintf("disk-%d.vmdk", ndisk)
			f.capacityKB = disk.CapacityInKB
			ndisk++
		} else {
			if _, err := os.Stat(local); err == nil {
				continue // an existing image: nothing to upload
			}
			f.name = path.Base(local)
		}
		files = append(files, f)
		urls = append(urls, types.HttpNfcLeaseDeviceUrl{
			Key:       f.key,
			ImportKey: fmt.Sprintf("/%s/%s:%d", vm.Name, kind, n),
			Url:       f.name, // completed by nfcNewLease
			Disk:      types.NewBool(isDisk),
		})
	}
	return files, urls
}

// nfcDeviceKey names a device as vSphere's lease device keys do:
// /<vm>/<controller type><bus>:<unit>.
func nfcDeviceKey(vm *simulator.VirtualMachine, devices object.VirtualDeviceList, d types.BaseVirtualDevice) string {
	dev := d.GetVirtualDevice()
	var unit int32
	if dev.UnitNumber != nil {
		unit = *dev.UnitNumber
	}
	if c, ok := devices.FindByKey(dev.ControllerKey).(types.BaseVirtualController); ok {
		return fmt.Sprintf("/%s/%s%d:%d", vm.Self.Value, reflect.TypeOf(c).Elem().Name(),
			c.GetVirtualController().BusNumber, unit)
	}
	return fmt.Sprintf("/%s/%s%d", vm.Self.Value, reflect.TypeOf(d).Elem().Name(), dev.Key)
}

// nfcLocalPath resolves a datastore path of a VM's file to a file of this
// machine, on the datastores of the VM's host.
func nfcLocalPath(vm *simulator.VirtualMachine, dsPath string) (string, bool) {
	var p object.DatastorePath
	if !p.FromString(dsPath) || p.Path == "" || vm.Runtime.Host == nil {
		return "", false
	}
	host, ok := simulator.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem)
	if !ok {
		return "", false
	}
	ds, ok := simulator.Map.FindByName(p.Datastore, host.Datastore).(*simulator.Datastore)
	if !ok {
		return "", false
	}
	return path.Join(ds.Info.GetDatastoreInfo().Url, p.Path), true
}

// nfcDatacenterOf returns the datacenter an entity is in.
func nfcDatacenterOf(e mo.Entity) *simulator.Datacenter {
	for e != nil {
		parent := e.Entity().Parent
		if parent == nil {
			return nil
		}
		obj := simulator.Map.Get(*parent)
		if dc, ok := obj.(*simulator.Datacenter); ok {
			return dc
		}
		e, _ = obj.(mo.Entity)
	}
	return nil
}
