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

// A new VM's vmPathName that names a folder keeps the whole folder path.
//
// Given vmPathName "[ds] a/b/" (or "[ds] a/b"), vSphere puts the new VM's
// files into a/b: "[ds] a/b/<name>.vmx". vcsim 0.24.2 makes the folder
// a/b, or "a/b (0)" when it exists (the driver makes it first), and then
// keeps only its last part: the files land in "[ds] b/" (or "[ds] b (0)/")
// at the datastore root, and a driver's cleanup of a/b looks right while
// the files stay behind.
//
// vmKeepFolder rewrites such a vmPathName, before the stock CreateVM_Task
// (and ImportVApp, which creates the VM the same way) sees it, to the
// .vmx file inside the folder, making the folder's last part if needed.
// The stock code then keeps the path as it is. "[ds]" alone (a folder
// named after the VM) and a path to a .vmx file are left alone.

package main

import (
	"os"
	"path"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// vmKeepFolder rewrites spec's vmPathName for a VM made in the VM folder
// folderRef; a fault when the folder path cannot be used.
func vmKeepFolder(folderRef types.ManagedObjectReference, spec *types.VirtualMachineConfigSpec) types.BaseMethodFault {
	p, dir, ok := vmFolderPath(spec)
	if !ok {
		return nil
	}
	for _, part := range strings.Split(dir, "/") {
		if part == "" || part == "." || part == ".." {
			return &types.InvalidDatastorePath{DatastorePath: spec.Files.VmPathName}
		}
	}
	folder, ok := simulator.Map.Get(folderRef).(mo.Entity)
	if !ok {
		return nil // the stock code reports it
	}
	dc := nfcDatacenterOf(folder)
	if dc == nil {
		return nil
	}
	ds := dsFindDatastore(dc.Self, p.Datastore)
	if ds == nil {
		return &types.InvalidDatastore{Name: p.Datastore}
	}
	root := ds.Info.GetDatastoreInfo().Url
	parent := path.Dir(dir)
	if info, err := os.Stat(path.Join(root, parent)); err != nil || !info.IsDir() {
		return &types.FileNotFound{FileFault: types.FileFault{
			File: (&object.DatastorePath{Datastore: p.Datastore, Path: parent}).String(),
		}}
	}
	if err := os.Mkdir(path.Join(root, dir), 0o700); err != nil && !os.IsExist(err) {
		return &types.FileFault{File: spec.Files.VmPathName}
	}
	p.Path = path.Join(dir, vmFileName(spec.Name)+".vmx")
	spec.Files.VmPathName = p.String()
	return nil
}

// vmFolderPath is the folder spec's vmPathName names, if it names one
// below the datastore root; ok is false when vmKeepFolder leaves it alone.
func vmFolderPath(spec *types.VirtualMachineConfigSpec) (p object.DatastorePath, dir string, ok bool) {
	if spec == nil || spec.Files == nil || spec.Name == "" {
		return p, "", false // the stock code reports what is missing
	}
	if !p.FromString(spec.Files.VmPathName) {
		return p, "", false
	}
	dir = strings.Trim(p.Path, "/")
	return p, dir, dir != "" && path.Ext(dir) != ".vmx"
}

// vmFileName is a VM name as vSphere names its files: '%', '/' and '\'
// escaped as in inventory names.
func vmFileName(name string) string {
	return strings.NewReplacer("%", "%25", "/", "%2f", `\`, "%5c").Replace(name)
}
