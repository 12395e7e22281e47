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

// VirtualMachine.ExportVm, missing from vcsim 0.24.2: a lease whose
// info.deviceUrl names one download URL per disk of the VM
// (targetId disk-N.vmdk, fileSize the size of its backing file), served by
// nfc_http.go. As on vSphere, the VM must be powered off
// (InvalidPowerState otherwise), a VM already under a lease answers
// TaskInProgress, and a disk whose file is missing a FileFault.

package main

import (
	"fmt"
	"os"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func nfcExportVM(ctx *simulator.Context, req *types.ExportVm) soap.HasFault {
	body := new(methods.ExportVmBody)

	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		body.Fault_ = nfcNotFound(req.This)
		return body
	}

	simulator.Map.WithLock(vm, func() {
		if l := nfcLeaseOfVM(vm.Self); l != nil {
			body.Fault_ = simulator.Fault("Another task is already in progress.",
				&types.TaskInProgress{Task: l.task.Self})
			return
		}
		for _, m := range vm.DisabledMethod {
			if m == "ExportVm" {
				body.Fault_ = simulator.Fault("The method is disabled", &types.MethodDisabled{})
				return
			}
		}
		if state := vm.Runtime.PowerState; state != types.VirtualMachinePowerStatePoweredOff {
			body.Fault_ = simulator.Fault(
				fmt.Sprintf("The attempted operation cannot be performed in the current state (%s).", state),
				&types.InvalidPowerState{
					RequestedState: types.VirtualMachinePowerStatePoweredOff,
					ExistingState:  state,
				})
			return
		}

		var files []*nfcFile
		var urls []types.HttpNfcLeaseDeviceUrl
		devices := object.VirtualDeviceList(vm.Config.Hardware.Device)
		for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
			disk := d.(*types.VirtualDisk)
			backing, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
			if !ok {
				continue // an RDM or other non-file disk: not exported
			}
			dsPath := nfcChainBase(backing) // nfc_export_chain.go
			local, ok := nfcLocalPath(vm, dsPath)
			var info os.FileInfo
			var err error
			if ok {
				info, err = os.Stat(local)
			}
			if !ok || err != nil {
				body.Fault_ = simulator.Fault(fmt.Sprintf("File %s was not found", dsPath),
					&types.FileNotFound{FileFault: types.FileFault{File: dsPath}})
				return
			}
			f := &nfcFile{
				name:       fmt.Sprintf("disk-%d.vmdk", len(files)),
				key:        nfcDeviceKey(vm, devices, d),
				dsPath:     dsPath,
				local:      local,
				disk:       true,
				capacityKB: disk.CapacityInKB,
			}
			files = append(files, f)
			urls = append(urls, types.HttpNfcLeaseDeviceUrl{
				Key:      f.key,
				Url:      f.name, // completed by nfcNewLease
				Disk:     types.NewBool(true),
				TargetId: f.name,
				FileSize: info.Size(),
			})
		}

		l := nfcNewLease(ctx, vm, true, vm, "exportVm", files, urls)
		body.Res = &types.ExportVmResponse{Returnval: l.Self}
	})
	return body
}
