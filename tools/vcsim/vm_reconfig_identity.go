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

// A reconfigure that changes what identifies a VM, config.managedBy,
// config.instanceUuid or an extraConfig option (the nvp.vm-uuid key), is
// published to property collectors, as vSphere does. vcsim 0.24.2 applies
// them without a property update, so a watcher of the VMs never heard that
// a VM became managed by an extension (or no longer is), got another
// instanceUuid or a new extraConfig key (vm_reconfig.go publishes
// extraConfig only when it had to normalize it).

package main

import (
	"reflect"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// vmIdentity is what a reconfigure may change of a VM's identity.
type vmIdentity struct {
	managedBy    *types.ManagedByInfo // a copy
	instanceUUID string
	options      map[string]interface{} // extraConfig: key -> value
}

func vmIdentityOf(config *types.VirtualMachineConfigInfo) vmIdentity {
	id := vmIdentity{instanceUUID: config.InstanceUuid, options: make(map[string]interface{})}
	if config.ManagedBy != nil {
		copied := *config.ManagedBy
		id.managedBy = &copied
	}
	for _, base := range config.ExtraConfig {
		if option := base.GetOptionValue(); option != nil {
			id.options[option.Key] = option.Value
		}
	}
	return id
}

// vmIdentityChanges are the property changes from old to now.
func vmIdentityChanges(old, now vmIdentity, config *types.VirtualMachineConfigInfo) []types.PropertyChange {
	var changes []types.PropertyChange
	if !reflect.DeepEqual(old.options, now.options) {
		changes = append(changes, types.PropertyChange{Name: "config.extraConfig",
			Op: types.PropertyChangeOpAssign, Val: config.ExtraConfig})
	}
	if !reflect.DeepEqual(old.managedBy, now.managedBy) {
		change := types.PropertyChange{Name: "config.managedBy", Op: types.PropertyChangeOpAssign}
		if now.managedBy != nil {
			change.Val = *now.managedBy
		} else {
			change.Op = types.PropertyChangeOpRemove
		}
		changes = append(changes, change)
	}
	if old.instanceUUID != now.instanceUUID {
		changes = append(changes, types.PropertyChange{Name: "config.instanceUuid",
			Op: types.PropertyChangeOpAssign, Val: now.instanceUUID})
	}
	return changes
}

func init() {
	before := new(vmTaskState)
	vmTaskHooks["VirtualMachine.reconfigVm"] = append(vmTaskHooks["VirtualMachine.reconfigVm"], vmTaskHook{
		started: func(task *mo.Task) {
			// The stock call holds the VM's lock.
			if vm, ok := simulator.Map.Get(*task.Info.Entity).(*simulator.VirtualMachine); ok && vm.Config != nil {
				before.put(task, vmIdentityOf(vm.Config))
			}
		},
		ended: func(task *mo.Task) {
			old, saved := before.take(task).(vmIdentity)
			vm, ok := simulator.Map.Get(*task.Info.Entity).(*simulator.VirtualMachine)
			if !saved || !ok || vm.Config == nil || task.Info.State != types.TaskInfoStateSuccess {
				return
			}
			if changes := vmIdentityChanges(old, vmIdentityOf(vm.Config), vm.Config); len(changes) != 0 {
				simulator.Map.Update(vm, changes)
			}
		},
	})
}
