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

// Power-state rules of vSphere that vcsim 0.24.2 does not apply:
//
//   - SuspendVM_Task suspends only a poweredOn VM (vcsim also "suspends" a
//     poweredOff one, which then resumes by powering on);
//   - ResetVM_Task resets only a poweredOn VM (vcsim powers a suspended VM
//     off and on: its suspended state is lost and it runs);
//   - ReconfigVM_Task cannot change the devices or boot options of a
//     suspended VM: its hardware is saved with its memory (vcsim changes
//     them). A poweredOff or poweredOn VM takes them (disks hot-add and
//     hot-remove on a running VM, as on ESXi).
//
// Each refusal is a task that fails with InvalidPowerState, as vSphere
// answers, naming the state the operation needs and the VM's state.

package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	// After every file's init: wrap whatever handles these methods.
	installers = append(installers, func(*simulator.Model, *simulator.Server) {
		vmWrapPowerRule("SuspendVM_Task", func(c *vmCall) types.VirtualMachinePowerState {
			return types.VirtualMachinePowerStatePoweredOn
		})
		vmWrapPowerRule("ResetVM_Task", func(c *vmCall) types.VirtualMachinePowerState {
			return types.VirtualMachinePowerStatePoweredOn
		})
		vmWrapPowerRule("ReconfigVM_Task", vmReconfigNeeds)
	})
}

// vmReconfigNeeds is the power state a reconfiguration needs: "" for any
// state but suspended, poweredOff for device or boot changes.
func vmReconfigNeeds(c *vmCall) types.VirtualMachinePowerState {
	req, ok := c.method.Body.(*types.ReconfigVM_Task)
	if !ok || (len(req.Spec.DeviceChange) == 0 && req.Spec.BootOptions == nil) {
		return ""
	}
	return types.VirtualMachinePowerStatePoweredOff
}

// vmWrapPowerRule refuses method on a VM whose power state does not fit
// what needs(call) says ("" for no rule; poweredOff means "not suspended":
// a running VM's devices change by hot-add and hot-remove).
func vmWrapPowerRule(method string, needs func(*vmCall) types.VirtualMachinePowerState) {
	next := vmMethods[method]
	vmMethods[method] = func(c *vmCall) {
		if fault := vmPowerRuleFault(c, needs(c)); fault != nil && c.loggedIn() {
			task := simulator.CreateTask(c.method.This, method, func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
				return nil, fault
			})
			c.reply(c.method.Name+"Response", &taskResponse{Returnval: task.Run()})
			return
		}
		if next != nil {
			next(c)
			return
		}
		c.passThrough()
	}
}

func vmPowerRuleFault(c *vmCall, needed types.VirtualMachinePowerState) types.BaseMethodFault {
	if needed == "" {
		return nil
	}
	vm, ok := simulator.Map.Get(c.method.This).(*simulator.VirtualMachine)
	if !ok {
		return nil // the stock server answers for what is not a VM
	}
	var state types.VirtualMachinePowerState
	simulator.Map.WithLock(vm, func() { state = vm.Runtime.PowerState })
	refused := state != needed
	if needed == types.VirtualMachinePowerStatePoweredOff {
		refused = state == types.VirtualMachinePowerStateSuspended
	}
	if !refused {
		return nil
	}
	return &types.InvalidPowerState{RequestedState: needed, ExistingState: state}
}
