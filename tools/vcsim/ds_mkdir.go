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

// FileManager.MakeDirectory of an existing directory fails.
//
// vSphere answers FileAlreadyExists when the directory (or a file of that
// name) exists, also with createParentDirectories set; callers such as
// Nova's image cache rely on it to tell "made it" from "was there". vcsim
// 0.24.2 makes the directory with os.MkdirAll in that case, which succeeds
// on an existing directory. The simulator type-asserts its FileManager, so
// it cannot be replaced: this wrapper drops createParentDirectories from a
// request whose directory exists, and the stock handler's os.Mkdir then
// fails with FileAlreadyExists (after its own session and argument checks).

package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	handlerWrappers = append(handlerWrappers, dsWrapMakeDirectory)
}

var dsCreateParents = regexp.MustCompile(
	`<(?:[\w.-]+:)?createParentDirectories(?:\s[^>]*)?>[^<]*</(?:[\w.-]+:)?createParentDirectories>`)

func dsWrapMakeDirectory(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, body := decodeSOAPCall(r, "MakeDirectory")
		if method != nil {
			req := method.Body.(*types.MakeDirectory)
			if req.CreateParentDirectories != nil && *req.CreateParentDirectories {
				if file := dsResolve(req.Datacenter, req.Name); file != "" {
					if _, err := os.Stat(file); err == nil {
						setSOAPBody(r, dsCreateParents.ReplaceAll(body, nil))
					}
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// dsResolve returns the local file of a datastore path in a datacenter,
// "" when it does not name one.
func dsResolve(dc *types.ManagedObjectReference, name string) string {
	var p object.DatastorePath
	if dc == nil || !p.FromString(name) {
		return ""
	}
	ds := dsFindDatastore(*dc, p.Datastore)
	if ds == nil {
		return ""
	}
	return filepath.Join(ds.Info.GetDatastoreInfo().Url, filepath.FromSlash(p.Path))
}

// dsFindDatastore finds a datastore by name in a datacenter's datastore
// folder (and its sub folders and datastore clusters).
func dsFindDatastore(dcRef types.ManagedObjectReference, name string) *simulator.Datastore {
	dc, ok := simulator.Map.Get(dcRef).(*simulator.Datacenter)
	if !ok {
		return nil
	}
	var find func(types.ManagedObjectReference, int) *simulator.Datastore
	find = func(ref types.ManagedObjectReference, depth int) *simulator.Datastore {
		obj := simulator.Map.Get(ref)
		if obj == nil || depth > 32 {
			return nil
		}
		if ds, ok := obj.(*simulator.Datastore); ok {
			if ds.Name == name {
				return ds
			}
			return nil
		}
		var children []types.ManagedObjectReference
		switch f := obj.(type) {
		case *simulator.Folder:
			children = f.ChildEntity
		case *simulator.StoragePod:
			children = f.ChildEntity
		}
		for _, child := range append([]types.ManagedObjectReference(nil), children...) {
			if ds := find(child, depth+1); ds != nil {
				return ds
			}
		}
		return nil
	}
	return find(dc.DatastoreFolder, 0)
}
