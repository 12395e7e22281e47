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

// VirtualMachine methods vcsim 0.24.2 lacks, answered as vSphere does, and
// VMware Tools that follow the VM's power state.
//
//   - RebootGuest: InvalidPowerState unless the VM is poweredOn,
//     ToolsUnavailable unless guest.toolsRunningStatus is guestToolsRunning;
//     otherwise the guest reboots and the VM stays poweredOn.
//   - AcquireTicket(ticketType) for "mks" and "webmks", and the older
//     AcquireMksTicket: a one-time ticket for the console of a poweredOn VM
//     (InvalidPowerState otherwise), naming the ESX host the VM runs on (its
//     name in the inventory), the port (902 for MKS, 443 for WebMKS), the
//     host's SHA-1 TLS thumbprint (the simulator's certificate: all its
//     hosts are served by it) and cfgFile, the .vmx file as the host sees
//     it: /vmfs/volumes/<volume uuid>/dir/name.vmx on a VMFS datastore (see
//     ds_vmfs.go), the file's local path on vcsim's own local datastores.
//     vcsim answers API 6.5, whose VirtualMachineTicket has no url yet.
//     Other ticket types: NotSupported (not simulated).
//
// VMware Tools: vcsim's VMs report toolsNotInstalled / guestToolsNotRunning
// whatever their power state, so a poweredOn VM cannot RebootGuest. A VM
// has Tools once its guest.toolsStatus is anything but toolsNotInstalled
// (or guest.toolsRunningStatus is guestToolsRunning): with -vm-tools every
// VM has them; a test can give them to one VM with vcsim's own extraConfig
// keys ReconfigVM_Task(extraConfig=[SET.guest.toolsStatus=toolsOk,
// SET.guest.toolsRunningStatus=guestToolsRunning]). Such a VM's Tools run
// while it is poweredOn and stop when it powers off or suspends, as in
// vSphere (toolsOk/guestToolsRunning, toolsNotRunning/guestToolsNotRunning).

package main

import (
	"crypto/sha1"
	"encoding/base64"
	"flag"
	"fmt"
	"path"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

var vmToolsFlag = flag.Bool("vm-tools", false,
	"VMs have VMware Tools installed: they run while the VM is powered on")

// guest.toolsVersion: a VMware Tools 10.1 (vSphere 6.5 era) build.
const vmToolsVersion = "10279"

func init() {
	vmMethods["RebootGuest"] = vmRebootGuest
	vmMethods["AcquireTicket"] = vmAcquireTicket
	vmMethods["AcquireMksTicket"] = vmAcquireMksTicket

	vmPowerHooks = append(vmPowerHooks, vmToolsFollowPower)
	installers = append(installers, func(*simulator.Model, *simulator.Server) {
		if !*vmToolsFlag {
			return
		}
		for _, e := range simulator.Map.All("VirtualMachine") {
			vm := e.(*simulator.VirtualMachine)
			simulator.Map.WithLock(vm, func() { vmSetTools(vm, true) })
		}
	})
	vmTaskHooks["Folder.createVm"] = append(vmTaskHooks["Folder.createVm"], vmTaskHook{
		ended: func(task *mo.Task) {
			ref, ok := task.Info.Result.(types.ManagedObjectReference)
			if !*vmToolsFlag || !ok || task.Info.State != types.TaskInfoStateSuccess {
				return
			}
			if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok {
				simulator.Map.WithLock(vm, func() { vmSetTools(vm, true) })
			}
		},
	})
}

// vmHasTools reports whether the VM's guest has VMware Tools installed.
func vmHasTools(vm *simulator.VirtualMachine) bool {
	g := vm.Guest
	return g != nil && ((g.ToolsStatus != "" && g.ToolsStatus != types.VirtualMachineToolsStatusToolsNotInstalled) ||
		g.ToolsRunningStatus == string(types.VirtualMachineToolsRunningStatusGuestToolsRunning))
}

// vmSetTools sets the guest's Tools properties: installed or not, running
// while the VM is poweredOn. The caller holds the VM's lock.
func vmSetTools(vm *simulator.VirtualMachine, installed bool) {
	status := types.VirtualMachineToolsStatusToolsNotInstalled
	running := types.VirtualMachineToolsRunningStatusGuestToolsNotRunning
	version, versionStatus := "0", types.VirtualMachineToolsVersionStatusGuestToolsNotInstalled
	if installed {
		version, versionStatus = vmToolsVersion, types.VirtualMachineToolsVersionStatusGuestToolsCurrent
		status = types.VirtualMachineToolsStatusToolsNotRunning
		if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
			status = types.VirtualMachineToolsStatusToolsOk
			running = types.VirtualMachineToolsRunningStatusGuestToolsRunning
		}
	}
	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "guest.toolsStatus", Val: status},
		{Name: "guest.toolsRunningStatus", Val: string(running)},
		{Name: "guest.toolsVersion", Val: version},
		{Name: "guest.toolsVersionStatus", Val: string(versionStatus)},
		{Name: "guest.toolsVersionStatus2", Val: string(versionStatus)},
		{Name: "summary.guest.toolsStatus", Val: status},
		{Name: "summary.guest.toolsRunningStatus", Val: string(running)},
		{Name: "summary.guest.toolsVersionStatus", Val: string(versionStatus)},
		{Name: "summary.guest.toolsVersionStatus2", Val: string(versionStatus)},
	})
}

// vmToolsFollowPower starts or stops the Tools of a VM that has them when
// its power state changed (inside the stock call, which holds its lock).
func vmToolsFollowPower(vm *simulator.VirtualMachine) {
	if !vmHasTools(vm) {
		return
	}
	on := vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
	if on == (vm.Guest.ToolsRunningStatus == string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)) &&
		on == (vm.Guest.ToolsStatus == types.VirtualMachineToolsStatusToolsOk) {
		return
	}
	vmSetTools(vm, true)
}

// vmOnVM runs fn under the lock of the VM a call is on; false when the
// call was answered otherwise (not a VM: whatever the stock server says;
// no session, no such VM: that fault).
func vmOnVM(c *vmCall, fn func(vm *simulator.VirtualMachine)) bool {
	if _, ok := simulator.Map.Get(c.method.This).(*simulator.VirtualMachine); !ok {
		c.passThrough()
		return false
	}
	if !c.stockLacks() {
		return false
	}
	vm, ok := simulator.Map.Get(c.method.This).(*simulator.VirtualMachine)
	if !ok { // gone meanwhile
		c.replyFault(&types.ManagedObjectNotFound{Obj: c.method.This})
		return false
	}
	simulator.Map.WithLock(vm, func() { fn(vm) })
	return true
}

func vmPoweredOn(vm *simulator.VirtualMachine) types.BaseMethodFault {
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		return &types.InvalidPowerState{
			RequestedState: types.VirtualMachinePowerStatePoweredOn,
			ExistingState:  vm.Runtime.PowerState,
		}
	}
	return nil
}

func vmRebootGuest(c *vmCall) {
	var fault types.BaseMethodFault
	ok := vmOnVM(c, func(vm *simulator.VirtualMachine) {
		if fault = vmPoweredOn(vm); fault != nil {
			return
		}
		if vm.Guest == nil || vm.Guest.ToolsRunningStatus != string(types.VirtualMachineToolsRunningStatusGuestToolsRunning) {
			fault = new(types.ToolsUnavailable)
			return
		}
		// The guest restarts inside the running VM: the power state and
		// runtime.bootTime (the last power on) do not change.
	})
	if !ok {
		return
	}
	if fault != nil {
		c.replyFault(fault)
		return
	}
	c.reply("RebootGuestResponse", &types.RebootGuestResponse{})
}

func vmAcquireTicket(c *vmCall) {
	req := c.method.Body.(*types.AcquireTicket)
	var ticket *types.VirtualMachineTicket
	var fault types.BaseMethodFault
	ok := vmOnVM(c, func(vm *simulator.VirtualMachine) {
		var port int32
		switch types.VirtualMachineTicketType(req.TicketType) {
		case types.VirtualMachineTicketTypeMks:
			port = 902
		case types.VirtualMachineTicketTypeWebmks:
			port = 443
		case types.VirtualMachineTicketTypeDevice, types.VirtualMachineTicketTypeGuestControl,
			types.VirtualMachineTicketTypeGuestIntegrity, types.VirtualMachineTicketTypeWebRemoteDevice:
			fault = new(types.NotSupported)
			return
		default:
			fault = &types.InvalidArgument{InvalidProperty: "ticketType"}
			return
		}
		if fault = vmPoweredOn(vm); fault != nil {
			return
		}
		t := vmConsoleTicket(vm, port)
		ticket = &t
	})
	if !ok {
		return
	}
	if fault != nil {
		c.replyFault(fault)
		return
	}
	c.reply("AcquireTicketResponse", &types.AcquireTicketResponse{Returnval: *ticket})
}

func vmAcquireMksTicket(c *vmCall) {
	var ticket types.VirtualMachineTicket
	var fault types.BaseMethodFault
	ok := vmOnVM(c, func(vm *simulator.VirtualMachine) {
		if fault = vmPoweredOn(vm); fault == nil {
			ticket = vmConsoleTicket(vm, 902)
		}
	})
	if !ok {
		return
	}
	if fault != nil {
		c.replyFault(fault)
		return
	}
	c.reply("AcquireMksTicketResponse", &types.AcquireMksTicketResponse{Returnval: types.VirtualMachineMksTicket{
		Ticket:        ticket.Ticket,
		CfgFile:       ticket.CfgFile,
		Host:          ticket.Host,
		Port:          ticket.Port,
		SslThumbprint: ticket.SslThumbprint,
	}})
}

// vmConsoleTicket is a new console ticket for vm (whose lock the caller
// holds) on port of its host.
func vmConsoleTicket(vm *simulator.VirtualMachine, port int32) types.VirtualMachineTicket {
	t := types.VirtualMachineTicket{Ticket: vmRandomHex(16), Port: port}
	if vm.Runtime.Host != nil {
		if host, ok := simulator.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem); ok {
			// Set when the host was added, like the datastores it mounts.
			t.Host = host.Name
			t.SslThumbprint = host.Summary.Config.SslThumbprint
			t.CfgFile = vmHostPath(vm.Config.Files.VmPathName, host.Datastore)
		}
	}
	if t.SslThumbprint == "" {
		t.SslThumbprint = vmServerThumbprint()
	}
	return t
}

// vmServerThumbprint is the SHA-1 thumbprint of the simulator's TLS
// certificate, as vSphere writes them: AA:BB:...
func vmServerThumbprint() string {
	sm := simulator.Map.SessionManager()
	if sm.TLSCert == nil {
		return ""
	}
	der, err := base64.StdEncoding.DecodeString(sm.TLSCert())
	if err != nil {
		return ""
	}
	sum := sha1.Sum(der)
	hexes := make([]string, len(sum))
	for i, b := range sum {
		hexes[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(hexes, ":")
}

// vmDatastore finds a datastore by name among refs.
func vmDatastore(name string, refs []types.ManagedObjectReference) *simulator.Datastore {
	ds, _ := simulator.Map.FindByName(name, refs).(*simulator.Datastore)
	return ds
}

// vmHostPath is the path an ESX host gives the file of a datastore path:
// /vmfs/volumes/<volume uuid>/dir/file on a VMFS datastore, else (vcsim's
// local datastores) the simulator's local path of the file.
func vmHostPath(dsPath string, refs []types.ManagedObjectReference) string {
	var p object.DatastorePath
	if !p.FromString(dsPath) {
		return ""
	}
	if ds := vmDatastore(p.Datastore, refs); ds != nil {
		// Set once when the inventory is made: read without its lock (the
		// caller holds a VM's).
		if info, ok := ds.Info.(*types.VmfsDatastoreInfo); ok && info.Vmfs != nil && info.Vmfs.Uuid != "" {
			return path.Join("/vmfs/volumes", info.Vmfs.Uuid, p.Path)
		}
	}
	return vmLocalPath(dsPath, refs)
}

// vmLocalPath is where the simulator keeps the file of a datastore path
// ("[ds] dir/file") on one of the datastores refs: the datastore's
// directory joined with the path, as /vmfs/volumes/<datastore>/dir/file is
// on an ESX host. "" if unknown.
func vmLocalPath(dsPath string, refs []types.ManagedObjectReference) string {
	var p object.DatastorePath
	if !p.FromString(dsPath) {
		return ""
	}
	ds := vmDatastore(p.Datastore, refs)
	if ds == nil {
		return ""
	}
	return path.Join(ds.Info.GetDatastoreInfo().Url, p.Path)
}
