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

// A VM's layout, layoutEx and storage usage, rebuilt from its files as
// they are (after ds_relocate.go moved them).

package main

import (
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// dsFileType is the layoutEx type of a VM file.
func dsFileType(name string) string {
	lower := strings.ToLower(name)
	ext := path.Ext(lower)
	stem := strings.TrimSuffix(lower, ext)
	switch ext {
	case ".vmx":
		return string(types.VirtualMachineFileLayoutExFileTypeConfig)
	case ".vmxf":
		return string(types.VirtualMachineFileLayoutExFileTypeExtendedConfig)
	case ".nvram":
		return string(types.VirtualMachineFileLayoutExFileTypeNvram)
	case ".log":
		return string(types.VirtualMachineFileLayoutExFileTypeLog)
	case ".vmsd":
		return string(types.VirtualMachineFileLayoutExFileTypeSnapshotList)
	case ".vmsn":
		return string(types.VirtualMachineFileLayoutExFileTypeSnapshotData)
	case ".vmss":
		return string(types.VirtualMachineFileLayoutExFileTypeSuspend)
	case ".vswp":
		if strings.HasPrefix(stem, "vmx-") {
			return string(types.VirtualMachineFileLayoutExFileTypeUwswap)
		}
		return string(types.VirtualMachineFileLayoutExFileTypeSwap)
	case ".vmem":
		if strings.Contains(stem, "snapshot") {
			return string(types.VirtualMachineFileLayoutExFileTypeSnapshotMemory)
		}
		return string(types.VirtualMachineFileLayoutExFileTypeSuspendMemory)
	case ".vmdk":
		if dsExtent.MatchString(lower) {
			return string(types.VirtualMachineFileLayoutExFileTypeDiskExtent)
		}
		return string(types.VirtualMachineFileLayoutExFileTypeDiskDescriptor)
	case ".stat":
		return string(types.VirtualMachineFileLayoutExFileTypeStat)
	}
	return ""
}

// dsRebuildLayout makes layoutEx (files, disks) and layout.disk from the
// VM's files as they are, keeping the keys of files it already listed,
// and recomputes the storage usage.
func dsRebuildLayout(vm *simulator.VirtualMachine) {
	oldKeys := make(map[string]int32)
	nextKey := int32(0)
	for _, f := range vm.LayoutEx.File {
		if f.Key >= nextKey {
			nextKey = f.Key + 1
		}
	}
	files := []types.VirtualMachineFileLayoutExFileInfo{}
	index := make(map[string]int)
	keyOf := func(dsPath string, local string) (int32, bool) {
		if i, ok := index[dsPath]; ok {
			return files[i].Key, true
		}
		fi, err := os.Stat(local)
		if err != nil || fi.IsDir() {
			return 0, false
		}
		key, ok := oldKeys[dsPath]
		if !ok {
			key = nextKey
			nextKey++
		}
		index[dsPath] = len(files)
		files = append(files, types.VirtualMachineFileLayoutExFileInfo{
			Key:        key,
			Name:       dsPath,
			Type:       dsFileType(path.Base(dsPath)),
			Size:       fi.Size(),
			UniqueSize: fi.Size(),
			Accessible: types.NewBool(true),
		})
		return key, true
	}

	// The home folder.
	if local, _, ok := dsLocal(vm, vm.Config.Files.VmPathName); ok {
		var vmx object.DatastorePath
		vmx.FromString(vm.Config.Files.VmPathName)
		entries, _ := os.ReadDir(filepath.Dir(local))
		var names []string
		for _, e := range entries {
			if !e.IsDir() && !strings.HasSuffix(e.Name(), ".vmdk") {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			p := object.DatastorePath{Datastore: vmx.Datastore, Path: path.Join(path.Dir(vmx.Path), n)}
			keyOf(p.String(), filepath.Join(filepath.Dir(local), n))
		}
	}

	// The disks, each a chain of descriptor + extents, top first.
	var disks []types.VirtualMachineFileLayoutExDiskLayout
	var disksOld []types.VirtualMachineFileLayoutDiskLayout
	for _, d := range vm.Config.Hardware.Device {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		layout := types.VirtualMachineFileLayoutExDiskLayout{Key: disk.Key}
		old := types.VirtualMachineFileLayoutDiskLayout{Key: disk.Key}
		b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		for ok {
			name := b.GetVirtualDeviceFileBackingInfo().FileName
			old.DiskFile = append(old.DiskFile, name)
			var unit types.VirtualMachineFileLayoutExDiskUnit
			if local, _, found := dsLocal(vm, name); found {
				var p object.DatastorePath
				p.FromString(name)
				for _, file := range dsDiskFiles(local) {
					fp := object.DatastorePath{Datastore: p.Datastore, Path: path.Join(path.Dir(p.Path), filepath.Base(file))}
					if key, ok := keyOf(fp.String(), file); ok {
						unit.FileKey = append(unit.FileKey, key)
					}
				}
			}
			layout.Chain = append(layout.Chain, unit)
			b, ok = dsParentBacking(b)
		}
		disks = append(disks, layout)
		disksOld = append(disksOld, old)
	}

	// Snapshot layouts keep naming their files by key: keep those still
	// listed.
	valid := make(map[int32]bool)
	for _, f := range files {
		valid[f.Key] = true
	}
	for i := range vm.LayoutEx.Snapshot {
		s := &vm.LayoutEx.Snapshot[i]
		if !valid[s.DataKey] {
			s.DataKey = -1
		}
		if !valid[s.MemoryKey] {
			s.MemoryKey = -1
		}
	}

	now := time.Now()
	vm.LayoutEx.File = files
	vm.LayoutEx.Disk = disks
	vm.LayoutEx.Timestamp = now
	vm.Layout.Disk = disksOld
	dsUpdateStorage(vm, now)
}

// dsUpdateStorage recomputes storage and summary.storage from layoutEx.
func dsUpdateStorage(vm *simulator.VirtualMachine, now time.Time) {
	usage := make(map[types.ManagedObjectReference]*types.VirtualMachineUsageOnDatastore)
	var order []types.ManagedObjectReference
	tops := make(map[string]int64) // top disk file -> capacity
	for _, d := range vm.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok {
			if b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
				tops[b.GetVirtualDeviceFileBackingInfo().FileName] = disk.CapacityInBytes
			}
		}
	}
	for _, f := range vm.LayoutEx.File {
		_, ds, ok := dsLocal(vm, f.Name)
		if !ok {
			continue
		}
		u := usage[ds.Self]
		if u == nil {
			u = &types.VirtualMachineUsageOnDatastore{Datastore: ds.Self}
			usage[ds.Self] = u
			order = append(order, ds.Self)
		}
		u.Committed += f.Size
		if strings.HasSuffix(f.Name, ".vmdk") {
			u.Unshared += f.Size
		}
		if capacity, ok := tops[f.Name]; ok && capacity > f.Size {
			u.Uncommitted += capacity - f.Size
		}
	}
	summary := &types.VirtualMachineStorageSummary{Timestamp: now}
	per := make([]types.VirtualMachineUsageOnDatastore, 0, len(order))
	for _, ref := range order {
		u := usage[ref]
		per = append(per, *u)
		summary.Committed += u.Committed
		summary.Uncommitted += u.Uncommitted
		summary.Unshared += u.Unshared
	}
	if vm.Storage == nil {
		vm.Storage = new(types.VirtualMachineStorageInfo)
	}
	vm.Storage.PerDatastoreUsage = per
	vm.Storage.Timestamp = now
	vm.Summary.Storage = summary
}
