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

// Moving a relocated VM's files between datastores (for ds_relocate.go):
// its home folder, its disks, and every datastore path in its
// configuration and snapshots that names them.

package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// dsMoves moves a VM's files and remembers the new datastore path of each
// old one. The caller holds the VM's lock.
type dsMoves struct {
	vm      *simulator.VirtualMachine
	homeOld string // "[ds] folder" before the move
	homeNew string
	files   map[string]string // old datastore path -> new one

	snapshots []types.ManagedObjectReference // to rewrite once the VM is unlocked
}

// dsLocal resolves "[ds] path" with the datastores of the VM's datacenter.
func dsLocal(vm *simulator.VirtualMachine, dsPath string) (string, *simulator.Datastore, bool) {
	var p object.DatastorePath
	if !p.FromString(dsPath) {
		return "", nil, false
	}
	ds := dsDatastoreNamed(vm, p.Datastore)
	if ds == nil {
		return "", nil, false
	}
	return filepath.Join(ds.Info.GetDatastoreInfo().Url, filepath.FromSlash(p.Path)), ds, true
}

// dsDatastoreNamed finds a datastore by name among all datastores of the
// inventory that share a datastore folder with the VM's.
func dsDatastoreNamed(vm *simulator.VirtualMachine, name string) *simulator.Datastore {
	for _, ref := range vm.Datastore {
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok && ds.Name == name {
			return ds
		}
	}
	var found *simulator.Datastore
	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		if ds.Name != name {
			continue
		}
		if found == nil || (vm.Runtime.Host != nil && dsContains(dsHostDatastores(*vm.Runtime.Host), ds.Self)) {
			found = ds
		}
	}
	return found
}

// dsFreeName returns dir/name, or dir/name_N when that exists.
func dsFreeName(dir, name, ext string) string {
	candidate := name + ext
	for i := 1; ; i++ {
		if _, err := os.Lstat(filepath.Join(dir, candidate)); os.IsNotExist(err) {
			return candidate
		}
		candidate = fmt.Sprintf("%s_%d%s", name, i, ext)
	}
}

// dsMove renames a file or folder, copying when renaming is impossible.
func dsMove(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return err
	}
	if err := os.Rename(from, to); err == nil {
		return nil
	}
	if err := dsCopy(from, to); err != nil {
		return err
	}
	return os.RemoveAll(from)
}

func dsCopy(from, to string) error {
	fi, err := os.Stat(from)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		if err := os.MkdirAll(to, 0o700); err != nil {
			return err
		}
		entries, err := os.ReadDir(from)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := dsCopy(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err = io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// moveHome moves the VM's home folder to the datastore target.
func (m *dsMoves) moveHome(target *simulator.Datastore) error {
	var vmx object.DatastorePath
	if !vmx.FromString(m.vm.Config.Files.VmPathName) {
		return fmt.Errorf("bad vmPathName %q", m.vm.Config.Files.VmPathName)
	}
	src, _, ok := dsLocal(m.vm, vmx.String())
	if !ok {
		return fmt.Errorf("cannot resolve %s", vmx.String())
	}
	targetRoot := target.Info.GetDatastoreInfo().Url
	folder := path.Dir(vmx.Path)
	if folder == "." || folder == "/" || folder == "" {
		// No folder of its own: its files go to a folder of its name.
		name := dsFreeName(targetRoot, m.vm.Name, "")
		base := strings.TrimSuffix(path.Base(vmx.Path), path.Ext(vmx.Path))
		entries, err := os.ReadDir(filepath.Dir(src))
		if err != nil {
			return err
		}
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || !(strings.HasPrefix(n, base+".") || strings.HasPrefix(n, "vmware")) {
				continue
			}
			if err := dsMove(filepath.Join(filepath.Dir(src), n), filepath.Join(targetRoot, name, n)); err != nil {
				return err
			}
			m.files[(&object.DatastorePath{Datastore: vmx.Datastore, Path: n}).String()] =
				(&object.DatastorePath{Datastore: target.Name, Path: path.Join(name, n)}).String()
		}
		m.homeNew = (&object.DatastorePath{Datastore: target.Name, Path: name}).String()
		return nil
	}
	name := dsFreeName(targetRoot, path.Base(folder), "")
	if err := dsMove(filepath.Dir(src), filepath.Join(targetRoot, name)); err != nil {
		return err
	}
	m.homeOld = (&object.DatastorePath{Datastore: vmx.Datastore, Path: folder}).String()
	m.homeNew = (&object.DatastorePath{Datastore: target.Name, Path: name}).String()
	return nil
}

// remap returns the datastore path a file has after the moves so far.
func (m *dsMoves) remap(p string) string {
	if n, ok := m.files[p]; ok {
		return n
	}
	if m.homeOld == "" {
		return p
	}
	if p == m.homeOld || p == m.homeOld+"/" {
		return m.homeNew + strings.TrimPrefix(p, m.homeOld)
	}
	if strings.HasPrefix(p, m.homeOld+"/") {
		return m.homeNew + strings.TrimPrefix(p, m.homeOld)
	}
	return p
}

// dsDiskFiles lists a disk's descriptor and the extent files next to it.
func dsDiskFiles(local string) []string {
	files := []string{local}
	stem := strings.TrimSuffix(local, ".vmdk")
	for _, suffix := range []string{"-flat", "-delta", "-sesparse", "-ctk", "-rdm", "-rdmp"} {
		if _, err := os.Lstat(stem + suffix + ".vmdk"); err == nil {
			files = append(files, stem+suffix+".vmdk")
		}
	}
	if more, err := filepath.Glob(stem + "-s[0-9][0-9][0-9].vmdk"); err == nil {
		files = append(files, more...)
	}
	return files
}

// moveDisks moves each disk whose file is not on its target datastore.
func (m *dsMoves) moveDisks(targets map[int32]*simulator.Datastore) {
	homeFolder := m.vm.Name
	var home object.DatastorePath
	if home.FromString(m.remap(m.vm.Config.Files.VmPathName)) {
		if dir := path.Dir(home.Path); dir != "." && dir != "" {
			homeFolder = dir
		}
	}
	for _, d := range m.vm.Config.Hardware.Device {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		target := targets[disk.Key]
		backing, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if target == nil || !ok {
			continue
		}
		current := m.remap(backing.GetVirtualDeviceFileBackingInfo().FileName)
		var p object.DatastorePath
		if !p.FromString(current) || p.Datastore == target.Name {
			continue
		}
		src, _, ok := dsLocal(m.vm, current)
		if !ok {
			continue
		}
		root := target.Info.GetDatastoreInfo().Url
		dir := filepath.Join(root, filepath.FromSlash(homeFolder))
		if home.Datastore != target.Name {
			// A folder of the VM's name on that datastore.
			dir = filepath.Join(root, m.vm.Name)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			log.Printf("relocate %s: %s", m.vm.Self, err)
			continue
		}
		stem := strings.TrimSuffix(path.Base(p.Path), ".vmdk")
		newStem := strings.TrimSuffix(dsFreeName(dir, stem, ".vmdk"), ".vmdk")
		rel, _ := filepath.Rel(root, dir)
		for _, file := range dsDiskFiles(src) {
			suffix := strings.TrimPrefix(filepath.Base(file), stem)
			to := filepath.Join(dir, newStem+suffix)
			if err := dsMove(file, to); err != nil {
				log.Printf("relocate %s: moving %s: %s", m.vm.Self, file, err)
				continue
			}
			oldPath := (&object.DatastorePath{Datastore: p.Datastore, Path: path.Join(path.Dir(p.Path), stem+suffix)}).String()
			m.files[m.inverse(oldPath)] = (&object.DatastorePath{
				Datastore: target.Name, Path: path.Join(filepath.ToSlash(rel), newStem+suffix),
			}).String()
		}
	}
}

// inverse returns the path a file had before the home folder moved (files
// maps original paths).
func (m *dsMoves) inverse(p string) string {
	if m.homeOld != "" && (p == m.homeNew || strings.HasPrefix(p, m.homeNew+"/")) {
		return m.homeOld + strings.TrimPrefix(p, m.homeNew)
	}
	return p
}

// rewrite points the VM's configuration, snapshots and layouts at the new
// paths and rebuilds its file layout.
func (m *dsMoves) rewrite() {
	vm := m.vm
	dsRewriteConfig(vm.Config, m.remap)
	vm.Summary.Config.VmPathName = vm.Config.Files.VmPathName
	var snapshots []types.ManagedObjectReference
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(tree []types.VirtualMachineSnapshotTree) {
		for _, t := range tree {
			snapshots = append(snapshots, t.Snapshot)
			walk(t.ChildSnapshotList)
		}
	}
	if vm.Snapshot != nil {
		walk(vm.Snapshot.RootSnapshotList)
	}
	m.snapshots = snapshots

	for i := range vm.Layout.Snapshot {
		for j, f := range vm.Layout.Snapshot[i].SnapshotFile {
			vm.Layout.Snapshot[i].SnapshotFile[j] = m.remap(f)
		}
	}
	if vm.Layout.SwapFile != "" {
		vm.Layout.SwapFile = m.remap(vm.Layout.SwapFile)
	}
	dsRebuildLayout(vm)
}

// dsRewriteConfig maps the file names of a VM configuration.
func dsRewriteConfig(c *types.VirtualMachineConfigInfo, remap func(string) string) {
	if c == nil {
		return
	}
	f := &c.Files
	for _, p := range []*string{&f.VmPathName, &f.SnapshotDirectory, &f.SuspendDirectory, &f.LogDirectory, &f.FtMetadataDirectory} {
		if *p != "" {
			*p = remap(*p)
		}
	}
	for _, d := range c.Hardware.Device {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		for ok {
			info := b.GetVirtualDeviceFileBackingInfo()
			info.FileName = remap(info.FileName)
			var p object.DatastorePath
			if p.FromString(info.FileName) {
				if ds := dsDatastoreByName(p.Datastore); ds != nil {
					ref := ds.Self
					info.Datastore = &ref
				}
			}
			b, ok = dsParentBacking(b)
		}
	}
}

// dsParentBacking returns the parent of a disk backing that has one.
func dsParentBacking(b types.BaseVirtualDeviceFileBackingInfo) (types.BaseVirtualDeviceFileBackingInfo, bool) {
	switch x := b.(type) {
	case *types.VirtualDiskFlatVer2BackingInfo:
		if x.Parent != nil {
			return x.Parent, true
		}
	case *types.VirtualDiskSeSparseBackingInfo:
		if x.Parent != nil {
			return x.Parent, true
		}
	case *types.VirtualDiskSparseVer2BackingInfo:
		if x.Parent != nil {
			return x.Parent, true
		}
	}
	return nil, false
}

func dsDatastoreByName(name string) *simulator.Datastore {
	var found *simulator.Datastore
	for _, e := range simulator.Map.All("Datastore") {
		if ds := e.(*simulator.Datastore); ds.Name == name {
			if found == nil || ds.Self.Value < found.Self.Value {
				found = ds
			}
		}
	}
	return found
}

// dsVMDatastores lists the datastores of a VM's home and disk files.
func dsVMDatastores(vm *simulator.VirtualMachine) []types.ManagedObjectReference {
	var refs []types.ManagedObjectReference
	add := func(dsPath string) {
		var p object.DatastorePath
		if !p.FromString(dsPath) {
			return
		}
		if _, ds, ok := dsLocal(vm, dsPath); ok && !dsContains(refs, ds.Self) {
			refs = append(refs, ds.Self)
		}
	}
	add(vm.Config.Files.VmPathName)
	for _, d := range vm.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok {
			b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
			for ok {
				add(b.GetVirtualDeviceFileBackingInfo().FileName)
				b, ok = dsParentBacking(b)
			}
		}
	}
	return refs
}
