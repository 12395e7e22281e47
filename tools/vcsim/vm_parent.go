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

// A new child disk needs its parent: CreateVM_Task and ReconfigVM_Task
// adding a disk whose backing names a parent file that does not exist fail
// with FileNotFound, as vSphere does. vcsim 0.24.2 records the parent as
// given and creates the VM, so a driver would never learn that a cached
// image it links to is gone.
package main

import (
	"os"
	"path"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	// After every file's init: wrap whatever handles these methods.
	installers = append(installers, func(*simulator.Model, *simulator.Server) {
		vmWrapParentCheck("CreateVM_Task", func(c *vmCall) []types.BaseVirtualDeviceConfigSpec {
			if req, ok := c.method.Body.(*types.CreateVM_Task); ok {
				return req.Config.DeviceChange
			}
			return nil
		})
		vmWrapParentCheck("ReconfigVM_Task", func(c *vmCall) []types.BaseVirtualDeviceConfigSpec {
			if req, ok := c.method.Body.(*types.ReconfigVM_Task); ok {
				return req.Spec.DeviceChange
			}
			return nil
		})
	})
}

func vmWrapParentCheck(method string, changes func(*vmCall) []types.BaseVirtualDeviceConfigSpec) {
	next := vmMethods[method]
	vmMethods[method] = func(c *vmCall) {
		if missing := vmMissingParent(changes(c)); missing != "" && c.loggedIn() {
			task := simulator.CreateTask(c.method.This, method, func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
				return nil, &types.FileNotFound{FileFault: types.FileFault{File: missing}}
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

// vmMissingParent is the first parent file of a new disk that does not
// exist ("" when all do).
func vmMissingParent(changes []types.BaseVirtualDeviceConfigSpec) string {
	for _, change := range changes {
		spec := change.GetVirtualDeviceConfigSpec()
		if spec.Operation != types.VirtualDeviceConfigSpecOperationAdd {
			continue
		}
		disk, ok := spec.Device.(*types.VirtualDisk)
		if !ok {
			continue
		}
		backing, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if !ok || backing.Parent == nil {
			continue
		}
		if !vmDatastoreFileExists(backing.Parent.FileName) {
			return backing.Parent.FileName
		}
	}
	return ""
}

func vmDatastoreFileExists(name string) bool {
	var p object.DatastorePath
	if !p.FromString(name) {
		return false
	}
	// Datastores of one name in several datacenters (datastore1 of every
	// ESXi): the file is there if any of them holds it.
	for _, obj := range simulator.Map.All("Datastore") {
		ds := obj.(*simulator.Datastore)
		if ds.Name == p.Datastore {
			if _, err := os.Stat(path.Join(ds.Info.GetDatastoreInfo().Url, p.Path)); err == nil {
				return true
			}
		}
	}
	return false
}
