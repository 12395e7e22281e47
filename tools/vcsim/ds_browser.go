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

// HostDatastoreBrowser searches as vSphere does them.
//
// vcsim 0.24.2's SearchDatastore_Task and SearchDatastoreSubFolders_Task
//   - return no file when the search spec has no matchPattern (vSphere
//     returns every file), and panic when there is no search spec at all
//     (Nova lists the image cache that way);
//   - name sub folders "[ds]/a/b" in SearchDatastoreSubFolders_Task results
//     (vSphere: "[ds] a/b");
//   - ignore sortFoldersFirst and searchCaseInsensitive, the fileOwner flag
//     and VM template files, and count extents (-flat.vmdk ...) as disks;
//   - never report a disk's capacityKb (see ds_disk_capacity.go).
//
// dsBrowser replaces every HostDatastoreBrowser of the inventory (nothing
// in the simulator needs the stock type), and those made later by a new
// datastore, and searches with its own code.

package main

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	installers = append(installers, dsInstallBrowsers)
}

// dsBrowser is a HostDatastoreBrowser: the stock type first, by value.
type dsBrowser struct {
	simulator.HostDatastoreBrowser
}

// dsBrowserSwapper replaces the browsers made after start-up.
type dsBrowserSwapper struct {
	self types.ManagedObjectReference
}

func (h *dsBrowserSwapper) Reference() types.ManagedObjectReference { return h.self }

func (h *dsBrowserSwapper) PutObject(obj mo.Reference) {
	if b, ok := obj.(*simulator.HostDatastoreBrowser); ok {
		dsSwapBrowser(b)
	}
}

func (*dsBrowserSwapper) UpdateObject(mo.Reference, []types.PropertyChange) {}
func (*dsBrowserSwapper) RemoveObject(types.ManagedObjectReference)         {}

func dsSwapBrowser(b *simulator.HostDatastoreBrowser) {
	nb := &dsBrowser{}
	simulator.Map.WithLock(b, func() {
		nb.HostDatastoreBrowser.HostDatastoreBrowser = b.HostDatastoreBrowser
		nb.Datastore = append([]types.ManagedObjectReference(nil), b.Datastore...)
	})
	simulator.Map.Put(nb)
}

func dsInstallBrowsers(*simulator.Model, *simulator.Server) {
	refs := make(map[types.ManagedObjectReference]bool)
	for _, e := range simulator.Map.All("Datastore") {
		refs[e.(*simulator.Datastore).Browser] = true
	}
	for _, e := range simulator.Map.All("HostSystem") {
		refs[e.(*simulator.HostSystem).DatastoreBrowser] = true
	}
	for ref := range refs {
		if b, ok := simulator.Map.Get(ref).(*simulator.HostDatastoreBrowser); ok {
			dsSwapBrowser(b)
		}
	}
	simulator.Map.AddHandler(&dsBrowserSwapper{
		self: types.ManagedObjectReference{Type: "DsBrowserSwapper", Value: "ds-browser-swapper"},
	})
}

// SearchDatastoreTask searches one folder.
func (b *dsBrowser) SearchDatastoreTask(ctx *simulator.Context, req *types.SearchDatastore_Task) soap.HasFault {
	s := &dsSearch{browser: b, spec: req.SearchSpec}
	task := simulator.CreateTask(b, "searchDatastoreTask", func(t *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		t.Info.DescriptionId = "host.DatastoreBrowser.search"
		res, fault := s.run(t, req.DatastorePath, false)
		if fault != nil {
			return nil, fault
		}
		return res[0], nil
	})
	return &methods.SearchDatastore_TaskBody{
		Res: &types.SearchDatastore_TaskResponse{Returnval: task.Run()},
	}
}

// SearchDatastoreSubFoldersTask searches a folder and all folders below.
func (b *dsBrowser) SearchDatastoreSubFoldersTask(ctx *simulator.Context, req *types.SearchDatastoreSubFolders_Task) soap.HasFault {
	s := &dsSearch{browser: b, spec: req.SearchSpec}
	task := simulator.CreateTask(b, "searchDatastoreSubFoldersTask", func(t *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		t.Info.DescriptionId = "host.DatastoreBrowser.searchSubFolders"
		res, fault := s.run(t, req.DatastorePath, true)
		if fault != nil {
			return nil, fault
		}
		return types.ArrayOfHostDatastoreBrowserSearchResults{HostDatastoreBrowserSearchResults: res}, nil
	})
	return &methods.SearchDatastoreSubFolders_TaskBody{
		Res: &types.SearchDatastoreSubFolders_TaskResponse{Returnval: task.Run()},
	}
}

type dsSearch struct {
	browser *dsBrowser
	spec    *types.HostDatastoreBrowserSearchSpec
	ds      *simulator.Datastore
	res     []types.HostDatastoreBrowserSearchResults
}

// dsDatastore finds a datastore by name among refs.
func dsDatastore(name string, refs []types.ManagedObjectReference) *simulator.Datastore {
	for _, ref := range refs {
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok && ds.Name == name {
			return ds
		}
	}
	return nil
}

// datastore finds the datastore named in a search: one this browser
// browses.
func (s *dsSearch) datastore(name string) *simulator.Datastore {
	// The dispatcher holds the lock of the browser.
	if ds := dsDatastore(name, s.browser.Datastore); ds != nil {
		return ds
	}
	// A datastore's own browser browses it, whatever list it was made with.
	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		if ds.Name == name && ds.Browser == s.browser.Self {
			return ds
		}
	}
	return nil
}

func (s *dsSearch) run(t *simulator.Task, dsPath string, recurse bool) ([]types.HostDatastoreBrowserSearchResults, types.BaseMethodFault) {
	var p object.DatastorePath
	if !p.FromString(dsPath) {
		return nil, &types.InvalidDatastorePath{DatastorePath: dsPath}
	}
	s.ds = s.datastore(p.Datastore)
	if s.ds == nil {
		return nil, &types.InvalidDatastore{Name: p.Datastore}
	}
	t.Info.Entity = &s.ds.Self
	t.Info.EntityName = s.ds.Name

	rel := strings.Trim(path.Clean("/"+p.Path), "/")
	if strings.HasPrefix(path.Clean("/"+p.Path), "/..") {
		return nil, &types.InvalidDatastorePath{DatastorePath: dsPath}
	}
	root := s.ds.Info.GetDatastoreInfo().Url
	dir := filepath.Join(root, filepath.FromSlash(rel))
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return nil, &types.FileNotFound{FileFault: types.FileFault{File: dsPath}}
	}
	if fault := s.search(rel, dir, recurse); fault != nil {
		return nil, fault
	}
	return s.res, nil
}

// dsFolderPath is a datastore path the way search results name folders:
// "[ds]" for the top, "[ds] a/b" below.
func dsFolderPath(ds, rel string) string {
	if rel == "" {
		return "[" + ds + "]"
	}
	return "[" + ds + "] " + rel
}

func (s *dsSearch) search(rel, dir string, recurse bool) types.BaseMethodFault {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return &types.FileNotFound{FileFault: types.FileFault{File: dsFolderPath(s.ds.Name, rel)}}
	}
	if s.spec != nil && s.spec.SortFoldersFirst != nil && *s.spec.SortFoldersFirst {
		sort.SliceStable(entries, func(i, j int) bool { return entries[i].IsDir() && !entries[j].IsDir() })
	}

	res := types.HostDatastoreBrowserSearchResults{
		Datastore:  &s.ds.Self,
		FolderPath: dsFolderPath(s.ds.Name, rel),
	}
	var folders []string
	for _, entry := range entries {
		fi, err := entry.Info()
		if err != nil {
			continue // gone since ReadDir
		}
		if fi.IsDir() {
			folders = append(folders, entry.Name())
		}
		if !s.matchName(fi.Name()) {
			continue
		}
		if info := s.fileInfo(fi); info != nil {
			if disk, ok := info.(*types.VmDiskFileInfo); ok && dsWantsCapacity(s.spec) {
				disk.CapacityKb = dsDiskCapacityKb(filepath.Join(dir, entry.Name()))
			}
			res.File = append(res.File, info)
		}
	}
	s.res = append(s.res, res)

	if recurse {
		for _, name := range folders {
			if fault := s.search(path.Join(rel, name), filepath.Join(dir, name), true); fault != nil {
				return fault
			}
		}
	}
	return nil
}

// matchName applies matchPattern: no pattern matches every name.
func (s *dsSearch) matchName(name string) bool {
	if s.spec == nil || len(s.spec.MatchPattern) == 0 {
		return true
	}
	fold := s.spec.SearchCaseInsensitive != nil && *s.spec.SearchCaseInsensitive
	for _, pattern := range s.spec.MatchPattern {
		n := name
		if fold {
			pattern, n = strings.ToLower(pattern), strings.ToLower(name)
		}
		if ok, _ := path.Match(pattern, n); ok {
			return true
		}
	}
	return false
}

// dsExtent matches the extent files of a virtual disk, which vSphere does
// not list as disks.
var dsExtent = regexp.MustCompile(`-(flat|delta|sesparse|ctk|rdm|rdmp|s[0-9]{3}|[0-9]{6}-delta|[0-9]{6}-sesparse)\.vmdk$`)

// dsKind is the FileInfo type vSphere gives a file (empty: a plain file).
func dsKind(fi os.FileInfo) string {
	if fi.IsDir() {
		return "Folder"
	}
	name := fi.Name()
	switch strings.ToLower(path.Ext(name)) {
	case ".vmdk":
		if dsExtent.MatchString(name) {
			return ""
		}
		return "VmDisk"
	case ".vmx":
		return "VmConfig"
	case ".vmtx":
		return "VmTemplate"
	case ".log":
		return "VmLog"
	case ".nvram":
		return "VmNvram"
	case ".vmsn":
		return "VmSnapshot"
	case ".iso":
		return "IsoImage"
	case ".flp", ".img":
		return "FloppyImage"
	}
	return ""
}

// dsQueryKind is the file kind a FileQuery asks for ("*": any file).
func dsQueryKind(q types.BaseFileQuery) string {
	switch q.(type) {
	case *types.FolderFileQuery:
		return "Folder"
	case *types.VmDiskFileQuery:
		return "VmDisk"
	case *types.VmConfigFileQuery:
		return "VmConfig"
	case *types.TemplateConfigFileQuery:
		return "VmTemplate"
	case *types.VmLogFileQuery:
		return "VmLog"
	case *types.VmNvramFileQuery:
		return "VmNvram"
	case *types.VmSnapshotFileQuery:
		return "VmSnapshot"
	case *types.IsoImageFileQuery:
		return "IsoImage"
	case *types.FloppyImageFileQuery:
		return "FloppyImage"
	}
	return "*"
}

// fileInfo is the result entry for a file the queries select, nil if they
// do not. With no query every file matches. The entry is of the FileInfo
// type of its kind when a query of that kind selected it, when the details
// ask for file types, and always for folders; else a plain FileInfo.
func (s *dsSearch) fileInfo(fi os.FileInfo) types.BaseFileInfo {
	kind := dsKind(fi)
	selected := s.spec == nil || len(s.spec.Query) == 0
	typed := false
	if !selected {
		for _, q := range s.spec.Query {
			want := dsQueryKind(q)
			if want == kind {
				selected, typed = true, true
				break
			}
			if want == "*" {
				selected = true
			}
		}
	}
	if !selected {
		return nil
	}

	info := types.FileInfo{Path: fi.Name()}
	var details types.FileQueryFlags
	if s.spec != nil && s.spec.Details != nil {
		details = *s.spec.Details
	}
	if details.FileSize {
		info.FileSize = fi.Size()
	}
	if details.Modification {
		mtime := fi.ModTime()
		info.Modification = &mtime
	}
	if details.FileOwner != nil && *details.FileOwner {
		info.Owner = "root"
	}
	if !typed && !details.FileType && kind != "Folder" {
		return &info
	}
	switch kind {
	case "Folder":
		return &types.FolderFileInfo{FileInfo: info}
	case "VmDisk":
		return &types.VmDiskFileInfo{FileInfo: info}
	case "VmConfig":
		return &types.VmConfigFileInfo{FileInfo: info}
	case "VmTemplate":
		return &types.TemplateConfigFileInfo{VmConfigFileInfo: types.VmConfigFileInfo{FileInfo: info}}
	case "VmLog":
		return &types.VmLogFileInfo{FileInfo: info}
	case "VmNvram":
		return &types.VmNvramFileInfo{FileInfo: info}
	case "VmSnapshot":
		return &types.VmSnapshotFileInfo{FileInfo: info}
	case "IsoImage":
		return &types.IsoImageFileInfo{FileInfo: info}
	case "FloppyImage":
		return &types.FloppyImageFileInfo{FileInfo: info}
	}
	return &info
}
