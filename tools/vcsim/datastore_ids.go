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

// Datastore moids in vCenter's form, datastore-N.
//
// vcsim 0.24.2 names a datastore "<its local directory>@<datastore folder
// moid>". vCenter's moids are "datastore-N", and clients rely on that:
// Cinder's FCD driver stores "<disk id>@<datastore moid>" and splits it at
// the "@". Installed right after the inventory exists (before the other
// datastore installers, by file name order), this renames the model's
// datastores, numbered in the order of their old moids, and rewrites every
// reference to them reachable from the registry.

package main

import (
	"fmt"
	"reflect"
	"sort"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	installers = append(installers, dsRenameIDs)
}

func dsRenameIDs(*simulator.Model, *simulator.Server) {
	var stores []*simulator.Datastore
	for _, e := range simulator.Map.All("Datastore") {
		stores = append(stores, e.(*simulator.Datastore))
	}
	sort.Slice(stores, func(i, j int) bool { return stores[i].Self.Value < stores[j].Self.Value })
	renames := make(map[string]string, len(stores))
	for i, ds := range stores {
		renames[ds.Self.Value] = fmt.Sprintf("datastore-%d", i+1)
	}

	objects := registryObjects()
	for _, ds := range stores {
		simulator.Map.Remove(ds.Self)
	}
	r := &refRewriter{renames: renames, seen: make(map[visited]bool)}
	for _, obj := range objects {
		r.walk(reflect.ValueOf(obj))
	}
	for _, ds := range stores {
		simulator.Map.Put(ds)
	}
}

var morType = reflect.TypeOf(types.ManagedObjectReference{})

// registryObjects returns the registry's objects reachable from the
// service instance and the inventory through their exported fields.
func registryObjects() []mo.Reference {
	queue := []types.ManagedObjectReference{vim25.ServiceInstance}
	for _, e := range simulator.Map.All("") {
		queue = append(queue, e.Reference())
	}
	found := make(map[types.ManagedObjectReference]bool)
	var objects []mo.Reference
	collect := &refRewriter{seen: make(map[visited]bool), found: func(ref types.ManagedObjectReference) {
		queue = append(queue, ref)
	}}
	for len(queue) > 0 {
		ref := queue[0]
		queue = queue[1:]
		if found[ref] {
			continue
		}
		found[ref] = true
		if obj := simulator.Map.Get(ref); obj != nil {
			objects = append(objects, obj)
			collect.walk(reflect.ValueOf(obj))
		}
	}
	return objects
}

// refRewriter walks a value's exported fields: it reports each managed
// object reference to found and renames the Datastore ones in renames.
type refRewriter struct {
	renames map[string]string
	found   func(types.ManagedObjectReference)
	seen    map[visited]bool
}

type visited struct {
	addr uintptr
	typ  reflect.Type
}

// walk returns whether it changed v (or what v holds).
func (r *refRewriter) walk(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Ptr:
		// A struct and its first field share an address: key by both.
		key := visited{v.Pointer(), v.Type()}
		if v.IsNil() || r.seen[key] {
			return false
		}
		r.seen[key] = true
		return r.walk(v.Elem())
	case reflect.Interface:
		if v.IsNil() {
			return false
		}
		e := v.Elem()
		if e.Kind() == reflect.Ptr {
			return r.walk(e)
		}
		c := reflect.New(e.Type()).Elem()
		c.Set(e)
		if r.walk(c) && v.CanSet() {
			v.Set(c)
			return true
		}
		return false
	case reflect.Struct:
		if v.Type() == morType {
			return r.visitRef(v)
		}
		changed := false
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).PkgPath == "" && r.walk(v.Field(i)) {
				changed = true
			}
		}
		return changed
	case reflect.Slice, reflect.Array:
		changed := false
		for i := 0; i < v.Len(); i++ {
			if r.walk(v.Index(i)) {
				changed = true
			}
		}
		return changed
	}
	return false
}

func (r *refRewriter) visitRef(v reflect.Value) bool {
	ref := v.Interface().(types.ManagedObjectReference)
	if r.found != nil {
		r.found(ref)
	}
	renamed, ok := r.renames[ref.Value]
	if ref.Type != "Datastore" || !ok || !v.CanSet() {
		return false
	}
	v.FieldByName("Value").SetString(renamed)
	return true
}
