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
// datastores, numbered by datacenter and name (LocalDS_0 of the first
// datacenter is datastore-1), and rewrites every
// reference to them reachable from the registry. It also lists each
// datastore once in its folder (the model adds it once per host).

package main

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
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
	sort.Slice(stores, func(i, j int) bool { return dsLess(stores[i], stores[j]) })
	renames := make(map[string]string, len(stores))
	for i, ds := range stores {
		renames[ds.Self.Value] = fmt.Sprintf("datastore-%d", i+1)
	}

	old := make([]types.ManagedObjectReference, len(stores))
	for i, ds := range stores {
		old[i] = ds.Self
	}
	rewriteRegistryRefs(renames)
	for i, ds := range stores {
		simulator.Map.Remove(old[i])
		simulator.Map.Put(ds)
	}
	dsDedupeFolderChildren()
}

// dsDedupeFolderChildren lists each datastore once in its folder: the
// model adds a datastore to its folder once per host it mounts it on.
func dsDedupeFolderChildren() {
	for _, e := range simulator.Map.All("Folder") {
		f := e.(*simulator.Folder)
		seen := make(map[types.ManagedObjectReference]bool)
		children := f.ChildEntity[:0]
		for _, ref := range f.ChildEntity {
			if ref.Type == "Datastore" && seen[ref] {
				continue
			}
			seen[ref] = true
			children = append(children, ref)
		}
		f.ChildEntity = children
	}
}

// dsLess orders datastores by their folder (datacenters in creation
// order), then by name with LocalDS_2 before LocalDS_10.
func dsLess(a, b *simulator.Datastore) bool {
	fa, fb := dsFolderOf(a), dsFolderOf(b)
	if fa != fb {
		return len(fa) < len(fb) || len(fa) == len(fb) && fa < fb
	}
	if len(a.Name) != len(b.Name) {
		return len(a.Name) < len(b.Name)
	}
	return a.Name < b.Name
}

// dsFolderOf is the datastore folder moid the stock moid ends with.
func dsFolderOf(ds *simulator.Datastore) string {
	return ds.Self.Value[strings.LastIndex(ds.Self.Value, "@")+1:]
}

var morType = reflect.TypeOf(types.ManagedObjectReference{})

// rewriteRegistryRefs renames the Datastore references in the exported
// fields of every registry object reachable from the service instance and
// the inventory, in one walk that also follows the references it meets.
func rewriteRegistryRefs(renames map[string]string) {
	queue := []types.ManagedObjectReference{vim25.ServiceInstance}
	for _, e := range simulator.Map.All("") {
		queue = append(queue, e.Reference())
	}
	r := &refRewriter{renames: renames, seen: make(map[visited]bool),
		found: func(ref types.ManagedObjectReference) { queue = append(queue, ref) }}
	done := make(map[types.ManagedObjectReference]bool)
	for len(queue) > 0 {
		ref := queue[0]
		queue = queue[1:]
		if done[ref] {
			continue
		}
		done[ref] = true
		// The registry still knows renamed datastores by their old moid:
		// found reports references before renaming them.
		if obj := simulator.Map.Get(ref); obj != nil {
			r.walk(reflect.ValueOf(obj))
		}
	}
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
