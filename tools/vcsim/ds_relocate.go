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

// RelocateVM_Task and MarkAsVirtualMachine keep the inventory consistent.
//
// vcsim 0.24.2's RelocateVM_Task sets the VM's runtime.host, resourcePool
// and datastore, but never takes the VM off the lists of its old host,
// pool and datastores, nor puts it on the new ones (it "removes" the
// target's own reference from the target's list instead). So HostSystem.vm,
// ResourcePool.vm and Datastore.vm, and the ContainerViews built from them,
// keep the VM where it was and miss it where it is; once the VM is
// destroyed, the old host still lists it. It moves no file either: after a
// relocation to another datastore the VM's files, config.files and disk
// backings still name the old datastore while vm.datastore names the new
// one. A pool that is a vApp, or a reference to nothing, panics the
// simulator. MarkAsVirtualMachine sets resourcePool and runtime.host but
// leaves the pool's and the hosts' lists alone, accepts any pool, and
// notifies no property collector.
//
// vSphere's rules, done here around the stock handlers:
//
//   - RelocateVM_Task: the VM leaves the lists of its old host, pool and
//     datastores and joins those of the new ones. A pool without a host
//     puts the VM on a host of the pool's compute resource (its current one
//     when it belongs to it); a host of another compute resource without a
//     pool puts the VM in that compute resource's root pool; a host outside
//     the pool's compute resource is an InvalidArgument, as are references
//     to objects of the wrong type (a vApp pool is NotSupported), and a
//     target host that does not mount a datastore the VM will use is an
//     InvalidDatastore. A template stays in no pool.
//   - With spec.datastore, the VM's home folder (the .vmx folder, with its
//     disks, logs, nvram, snapshots) moves to that datastore (under a free
//     name, "vm_1", if the name is taken there), and every disk not in the
//     home folder moves into the new home folder, unless spec.disk names
//     another datastore for it: then it moves into a folder of the VM's
//     name on that datastore. config.files, the disk backings (also those
//     of the VM's snapshots), layout, layoutEx (rebuilt from the files),
//     storage and vm.datastore follow.
//   - MarkAsVirtualMachine: the pool must be a resource pool, the host (if
//     given) a host of the pool's compute resource; without a host the VM
//     stays on its host when that one belongs to the pool's compute
//     resource, else goes to one that does. The VM joins the pool's list
//     and, when its host changes, moves between the hosts' lists.
//
// Not done: disk parents (linked clone bases) outside the VM's home folder
// stay where they are (vSphere's default diskMoveType would copy them), and
// the simulator's own per-VM log file name (unexported) keeps naming the
// old folder, so power operations of a moved VM log "no such file".
//
// This file decides and finishes a relocation around the stock handler;
// ds_placement.go has the inventory lists and MarkAsVirtualMachine,
// ds_move.go moves the files, ds_layout.go rebuilds layoutEx and storage.

package main

import (
	"fmt"
	"log"
	"net/http"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	handlerWrappers = append(handlerWrappers, dsWrapPlacement)
}

func dsWrapPlacement(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, _ := decodeSOAPCall(r, "RelocateVM_Task", "MarkAsVirtualMachine")
		if method == nil {
			next.ServeHTTP(w, r)
			return
		}
		vm, ok := simulator.Map.Get(method.This).(*simulator.VirtualMachine)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		switch req := method.Body.(type) {
		case *types.RelocateVM_Task:
			dsRelocate(w, r, next, vm, &req.Spec)
		case *types.MarkAsVirtualMachine:
			dsMarkAsVirtualMachine(w, r, next, vm, req)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// --- RelocateVM_Task ---

// dsRelocation is what a relocation will do, decided before the stock
// handler runs.
type dsRelocation struct {
	vm       types.ManagedObjectReference
	template bool

	oldHost, newHost types.ManagedObjectReference
	oldPool, newPool *types.ManagedObjectReference
	oldStores        []types.ManagedObjectReference

	home  *simulator.Datastore           // new home datastore, nil: unchanged
	disks map[int32]*simulator.Datastore // disk key -> its datastore
}

func dsInvalid(prop string) types.BaseMethodFault {
	return &types.InvalidArgument{InvalidProperty: prop}
}

func dsPlanRelocation(vm *simulator.VirtualMachine, spec *types.VirtualMachineRelocateSpec) (*dsRelocation, types.BaseMethodFault) {
	plan := &dsRelocation{vm: vm.Self, disks: make(map[int32]*simulator.Datastore)}
	diskKeys := make(map[int32]bool)
	var homeName string
	simulator.Map.WithLock(vm, func() {
		if vm.Runtime.Host != nil {
			plan.oldHost = *vm.Runtime.Host
		}
		if vm.ResourcePool != nil {
			ref := *vm.ResourcePool
			plan.oldPool = &ref
		}
		plan.oldStores = append(plan.oldStores, vm.Datastore...)
		if vm.Config != nil {
			plan.template = vm.Config.Template
			for _, d := range vm.Config.Hardware.Device {
				if disk, ok := d.(*types.VirtualDisk); ok {
					diskKeys[disk.Key] = true
				}
			}
			var p object.DatastorePath
			if p.FromString(vm.Config.Files.VmPathName) {
				homeName = p.Datastore
			}
		}
	})

	if ref := spec.Datastore; ref != nil {
		ds, ok := simulator.Map.Get(*ref).(*simulator.Datastore)
		if !ok {
			return nil, dsInvalid("spec.datastore")
		}
		plan.home = ds
		if ds.Name == homeName {
			plan.home = nil // stays where it is; disks may still move
		}
		for key := range diskKeys {
			plan.disks[key] = ds
		}
	}
	for i, loc := range spec.Disk {
		if !diskKeys[loc.DiskId] {
			return nil, dsInvalid(fmt.Sprintf("spec.disk[%d].diskId", i))
		}
		ds, ok := simulator.Map.Get(loc.Datastore).(*simulator.Datastore)
		if !ok {
			return nil, dsInvalid(fmt.Sprintf("spec.disk[%d].datastore", i))
		}
		plan.disks[loc.DiskId] = ds
	}
	if ref := spec.Folder; ref != nil {
		if _, ok := simulator.Map.Get(*ref).(*simulator.Folder); !ok {
			return nil, dsInvalid("spec.folder")
		}
	}

	// Compute placement.
	plan.newHost, plan.newPool = plan.oldHost, plan.oldPool
	var poolOwner types.ManagedObjectReference
	if ref := spec.Pool; ref != nil {
		switch simulator.Map.Get(*ref).(type) {
		case *simulator.ResourcePool:
		case *simulator.VirtualApp:
			return nil, &types.NotSupported{}
		default:
			return nil, dsInvalid("spec.pool")
		}
		owner, ok := dsPoolOwner(*ref)
		if !ok {
			return nil, dsInvalid("spec.pool")
		}
		poolOwner = owner
		pool := *ref
		plan.newPool = &pool
	}
	if ref := spec.Host; ref != nil {
		owner, ok := dsHostOwner(*ref)
		if !ok {
			return nil, dsInvalid("spec.host")
		}
		plan.newHost = *ref
		if spec.Pool != nil {
			if owner != poolOwner {
				return nil, dsInvalid("spec.host")
			}
		} else if plan.oldPool != nil {
			if cur, ok := dsPoolOwner(*plan.oldPool); !ok || cur != owner {
				// Another compute resource: its root pool.
				_, root := dsHostsOf(owner)
				if root == nil {
					return nil, dsInvalid("spec.host")
				}
				plan.newPool = root
			}
		}
	} else if spec.Pool != nil {
		hosts, _ := dsHostsOf(poolOwner)
		host, ok := dsPickHost(hosts, plan.oldHost)
		if !ok {
			return nil, dsInvalid("spec.pool")
		}
		plan.newHost = host
	}
	if plan.template {
		plan.newPool = nil
	}

	// The new host must see every datastore the VM will use.
	mounted := dsHostDatastores(plan.newHost)
	need := make(map[types.ManagedObjectReference]string)
	if plan.home != nil {
		need[plan.home.Self] = plan.home.Name
	} else {
		for _, ref := range plan.oldStores {
			need[ref] = ""
		}
	}
	for _, ds := range plan.disks {
		need[ds.Self] = ds.Name
	}
	for ref, name := range need {
		if !dsContains(mounted, ref) {
			ref := ref
			return nil, &types.InvalidDatastore{Datastore: &ref, Name: name}
		}
	}
	return plan, nil
}

func dsRelocate(w http.ResponseWriter, r *http.Request, next http.Handler, vm *simulator.VirtualMachine, spec *types.VirtualMachineRelocateSpec) {
	plan, fault := dsPlanRelocation(vm, spec)
	if fault != nil {
		if rejectNotLoggedIn(w, r, next) {
			return
		}
		writeSOAPFault(w, "", fault)
		return
	}
	rec := recordResponse(next, r)
	if task, fault := taskOfAnswer(rec); fault == nil {
		var state types.TaskInfoState
		simulator.Map.WithLock(task, func() { state = task.Info.State })
		if state == types.TaskInfoStateSuccess {
			dsFinishRelocation(vm, plan)
		}
	}
	replayResponse(w, rec)
}

// dsFinishRelocation does what the stock relocation left undone.
func dsFinishRelocation(vm *simulator.VirtualMachine, plan *dsRelocation) {
	var newStores []types.ManagedObjectReference
	var moves *dsMoves
	simulator.Map.WithLock(vm, func() {
		if vm.Config == nil || vm.Layout == nil || vm.LayoutEx == nil {
			return
		}
		moves = &dsMoves{vm: vm, files: make(map[string]string)}
		if plan.home != nil {
			if err := moves.moveHome(plan.home); err != nil {
				log.Printf("relocate %s: moving its home folder: %s", vm.Self, err)
				return
			}
		}
		moves.moveDisks(plan.disks)
		moves.rewrite()

		newStores = dsVMDatastores(vm)
		changes := []types.PropertyChange{
			{Name: "datastore", Val: newStores},
			{Name: "runtime.host", Val: plan.newHost},
			{Name: "summary.runtime.host", Val: plan.newHost},
			{Name: "config.files", Val: vm.Config.Files},
			{Name: "summary.config.vmPathName", Val: vm.Config.Files.VmPathName},
			{Name: "config.hardware.device", Val: vm.Config.Hardware.Device},
			{Name: "layout", Val: vm.Layout},
			{Name: "layoutEx", Val: vm.LayoutEx},
			{Name: "storage", Val: vm.Storage},
			{Name: "summary.storage", Val: vm.Summary.Storage},
		}
		if plan.newPool != nil {
			changes = append(changes, types.PropertyChange{Name: "resourcePool", Val: *plan.newPool})
		} else {
			changes = append(changes, types.PropertyChange{Name: "resourcePool", Val: nil})
		}
		simulator.Map.Update(vm, changes)
	})
	if newStores == nil {
		return
	}
	// The VM's snapshots keep configurations of their own (taken outside
	// the VM's lock: snapshot methods lock the snapshot, then the VM).
	for _, ref := range moves.snapshots {
		if s, ok := simulator.Map.Get(ref).(*simulator.VirtualMachineSnapshot); ok {
			simulator.Map.WithLock(s, func() { dsRewriteConfig(&s.Config, moves.remap) })
		}
	}

	if plan.oldHost != plan.newHost {
		dsSetList(simulator.Map.Get(plan.oldHost), vm.Self, false)
	}
	dsSetList(simulator.Map.Get(plan.newHost), vm.Self, true)
	if plan.oldPool != nil && (plan.newPool == nil || *plan.oldPool != *plan.newPool) {
		dsSetList(simulator.Map.Get(*plan.oldPool), vm.Self, false)
	}
	if plan.newPool != nil {
		dsSetList(simulator.Map.Get(*plan.newPool), vm.Self, true)
	}
	for _, ref := range plan.oldStores {
		if !dsContains(newStores, ref) {
			dsSetList(simulator.Map.Get(ref), vm.Self, false)
		}
	}
	for _, ref := range newStores {
		dsSetList(simulator.Map.Get(ref), vm.Self, true)
	}
}
