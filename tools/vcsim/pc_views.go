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

// ContainerView contents that follow the inventory.
//
// vcsim 0.24.2 computes a ContainerView's list when the view is created and
// afterwards only adds objects created under its container and drops
// objects destroyed. An object that moves (a VM relocated to another host
// or resource pool, a VM marked as a template, which leaves its resource
// pool) stays listed where it was and is missing where it went. vCenter
// keeps views current, so the property collector recomputes a view's list
// from the inventory before it reads the view or traverses it.

package main

import (
	"reflect"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// pcIsContainer tells the objects pcChildren looks into.
func pcIsContainer(obj mo.Reference) bool {
	switch pcManagedObject(obj).Addr().Interface().(type) {
	case *mo.Datacenter, *mo.Folder, *mo.StoragePod, *mo.ComputeResource,
		*mo.ClusterComputeResource, *mo.ResourcePool, *mo.VirtualApp, *mo.HostSystem:
		return true
	}
	return false
}

// pcChildren lists the objects a ContainerView sees directly inside a
// container, as vCenter defines it.
func pcChildren(obj mo.Reference) []types.ManagedObjectReference {
	var children []types.ManagedObjectReference
	switch e := pcManagedObject(obj).Addr().Interface().(type) {
	case *mo.Datacenter:
		children = []types.ManagedObjectReference{e.VmFolder, e.HostFolder, e.DatastoreFolder, e.NetworkFolder}
	case *mo.Folder:
		children = e.ChildEntity
	case *mo.StoragePod:
		children = e.ChildEntity
	case *mo.ComputeResource:
		children = e.Host
		if e.ResourcePool != nil {
			children = append(children, *e.ResourcePool)
		}
	case *mo.ClusterComputeResource:
		children = e.Host
		if e.ResourcePool != nil {
			children = append(children, *e.ResourcePool)
		}
	case *mo.ResourcePool:
		children = e.ResourcePool
		children = append(children, e.Vm...)
	case *mo.VirtualApp:
		children = e.ResourcePool.ResourcePool
		children = append(children, e.Vm...)
	case *mo.HostSystem:
		children = e.Vm
	}
	return append([]types.ManagedObjectReference(nil), children...)
}

// pcRefreshView recomputes the list of a ContainerView (other objects are
// left alone).
func pcRefreshView(ctx *simulator.Context, obj mo.Reference) {
	view, ok := obj.(*simulator.ContainerView)
	if !ok {
		return
	}
	var container types.ManagedObjectReference
	var recursive bool
	var kinds []string
	ctx.WithLock(view, func() {
		container, recursive = view.Container, view.Recursive
		kinds = append(kinds, view.Type...)
	})

	include := func(ref types.ManagedObjectReference, child mo.Reference) bool {
		if len(kinds) == 0 {
			return true
		}
		rtype := reflect.Type(nil)
		for _, kind := range kinds {
			if ref.Type == kind {
				return true
			}
			if rtype == nil {
				rtype = pcManagedObject(child).Type()
			}
			if pcIsA(ref, rtype, kind) {
				return true
			}
		}
		return false
	}

	list := []types.ManagedObjectReference{}
	seen := make(map[types.ManagedObjectReference]bool)
	var walk func(mo.Reference)
	walk = func(parent mo.Reference) {
		var children []types.ManagedObjectReference
		simulator.Map.WithLock(parent, func() { children = pcChildren(parent) })
		for _, ref := range children {
			child := simulator.Map.Get(ref)
			if child == nil {
				continue
			}
			if !seen[ref] && include(ref, child) {
				seen[ref] = true
				list = append(list, ref)
			}
			if recursive && pcIsContainer(child) {
				walk(child)
			}
		}
	}
	if root := simulator.Map.Get(container); root != nil {
		walk(root)
	}

	ctx.WithLock(view, func() {
		if !pcSameRefs(view.View, list) {
			view.View = list
		}
	})
}

func pcSameRefs(a, b []types.ManagedObjectReference) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
