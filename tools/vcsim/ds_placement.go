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

// Where a VM sits in the inventory (for ds_relocate.go): the hosts, pools
// and compute resources that own each other, the vm lists of hosts, pools
// and datastores, and MarkAsVirtualMachine, which moves a template into a
// pool (its vSphere rules are in ds_relocate.go's comment).

package main

import (
	"net/http"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// --- inventory helpers ---

// dsComputeResource returns the mo.ComputeResource of a (cluster) compute
// resource reference.
func dsComputeResource(ref types.ManagedObjectReference) *mo.ComputeResource {
	switch cr := simulator.Map.Get(ref).(type) {
	case *mo.ComputeResource:
		return cr
	case *simulator.ClusterComputeResource:
		return &cr.ComputeResource
	}
	return nil
}

// dsPoolOwner returns the compute resource of a resource pool or vApp.
func dsPoolOwner(ref types.ManagedObjectReference) (types.ManagedObjectReference, bool) {
	var owner types.ManagedObjectReference
	obj := simulator.Map.Get(ref)
	if obj == nil {
		return owner, false
	}
	simulator.Map.WithLock(obj, func() {
		switch p := obj.(type) {
		case *simulator.ResourcePool:
			owner = p.Owner
		case *simulator.VirtualApp:
			owner = p.Owner
		}
	})
	return owner, owner.Value != ""
}

// dsHostOwner returns the compute resource of a host.
func dsHostOwner(ref types.ManagedObjectReference) (types.ManagedObjectReference, bool) {
	host, ok := simulator.Map.Get(ref).(*simulator.HostSystem)
	if !ok {
		return types.ManagedObjectReference{}, false
	}
	var owner types.ManagedObjectReference
	simulator.Map.WithLock(host, func() {
		if host.Parent != nil {
			owner = *host.Parent
		}
	})
	return owner, owner.Value != ""
}

// dsHostsOf lists the hosts and the root pool of a compute resource.
func dsHostsOf(crRef types.ManagedObjectReference) ([]types.ManagedObjectReference, *types.ManagedObjectReference) {
	cr := dsComputeResource(crRef)
	if cr == nil {
		return nil, nil
	}
	var hosts []types.ManagedObjectReference
	var root *types.ManagedObjectReference
	simulator.Map.WithLock(simulator.Map.Get(crRef), func() {
		hosts = append(hosts, cr.Host...)
		if cr.ResourcePool != nil {
			ref := *cr.ResourcePool
			root = &ref
		}
	})
	return hosts, root
}

func dsContains(refs []types.ManagedObjectReference, ref types.ManagedObjectReference) bool {
	for _, r := range refs {
		if r == ref {
			return true
		}
	}
	return false
}

// dsPickHost chooses a host of a compute resource for a VM: keep is kept
// when it belongs to it, else the connected host with the fewest VMs.
func dsPickHost(hosts []types.ManagedObjectReference, keep types.ManagedObjectReference) (types.ManagedObjectReference, bool) {
	if dsContains(hosts, keep) {
		return keep, true
	}
	best, bestCount := types.ManagedObjectReference{}, -1
	for _, ref := range hosts {
		host, ok := simulator.Map.Get(ref).(*simulator.HostSystem)
		if !ok {
			continue
		}
		var count int
		connected := true
		simulator.Map.WithLock(host, func() {
			count = len(host.Vm)
			connected = host.Runtime.ConnectionState == "" ||
				host.Runtime.ConnectionState == types.HostSystemConnectionStateConnected
		})
		if connected && (bestCount < 0 || count < bestCount) {
			best, bestCount = ref, count
		}
	}
	return best, bestCount >= 0
}

// dsHostDatastores lists the datastores a host mounts.
func dsHostDatastores(ref types.ManagedObjectReference) []types.ManagedObjectReference {
	host, ok := simulator.Map.Get(ref).(*simulator.HostSystem)
	if !ok {
		return nil
	}
	var refs []types.ManagedObjectReference
	simulator.Map.WithLock(host, func() { refs = append(refs, host.Datastore...) })
	return refs
}

// dsSetList moves ref into or out of the vm list of obj (a host, pool, vApp
// or datastore), telling property collectors.
func dsSetList(obj mo.Reference, ref types.ManagedObjectReference, in bool) {
	if obj == nil {
		return
	}
	simulator.Map.WithLock(obj, func() {
		var list *[]types.ManagedObjectReference
		switch o := obj.(type) {
		case *simulator.HostSystem:
			list = &o.Vm
		case *simulator.ResourcePool:
			list = &o.Vm
		case *simulator.VirtualApp:
			list = &o.Vm
		case *simulator.Datastore:
			list = &o.Vm
		default:
			return
		}
		has := dsContains(*list, ref)
		if has == in {
			return
		}
		next := make([]types.ManagedObjectReference, 0, len(*list)+1)
		for _, r := range *list {
			if r != ref {
				next = append(next, r)
			}
		}
		if in {
			next = append(next, ref)
		}
		simulator.Map.Update(obj, []types.PropertyChange{{Name: "vm", Val: next}})
	})
}

// --- MarkAsVirtualMachine ---

func dsMarkAsVirtualMachine(w http.ResponseWriter, r *http.Request, next http.Handler, vm *simulator.VirtualMachine, req *types.MarkAsVirtualMachine) {
	var oldHost types.ManagedObjectReference
	var template bool
	simulator.Map.WithLock(vm, func() {
		if vm.Runtime.Host != nil {
			oldHost = *vm.Runtime.Host
		}
		template = vm.Config != nil && vm.Config.Template
	})
	if !template {
		next.ServeHTTP(w, r) // the stock NotSupported
		return
	}

	fault := func() types.BaseMethodFault {
		if _, ok := simulator.Map.Get(req.Pool).(*simulator.ResourcePool); !ok {
			return dsInvalid("pool")
		}
		owner, ok := dsPoolOwner(req.Pool)
		if !ok {
			return dsInvalid("pool")
		}
		hosts, _ := dsHostsOf(owner)
		if req.Host != nil {
			if !dsContains(hosts, *req.Host) {
				return dsInvalid("host")
			}
			return nil
		}
		host, ok := dsPickHost(hosts, oldHost)
		if !ok {
			return dsInvalid("pool")
		}
		req.Host = &host
		return nil
	}()
	if fault != nil {
		if rejectNotLoggedIn(w, r, next) {
			return
		}
		writeSOAPFault(w, "", fault)
		return
	}

	rec := recordResponse(next, r)
	if rec.Code == http.StatusOK {
		newHost := *req.Host
		simulator.Map.WithLock(vm, func() {
			simulator.Map.Update(vm, []types.PropertyChange{
				{Name: "resourcePool", Val: req.Pool},
				{Name: "runtime.host", Val: newHost},
				{Name: "summary.runtime.host", Val: newHost},
				{Name: "config.template", Val: false},
				{Name: "summary.config.template", Val: false},
			})
		})
		if oldHost != newHost {
			dsSetList(simulator.Map.Get(oldHost), vm.Self, false)
		}
		dsSetList(simulator.Map.Get(newHost), vm.Self, true)
		dsSetList(simulator.Map.Get(req.Pool), vm.Self, true)
	}
	replayResponse(w, rec)
}
