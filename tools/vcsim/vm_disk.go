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

// VirtualDiskManager.ExtendVirtualDisk_Task, which vcsim 0.24.2 lacks
// (MethodNotFound): grows a virtual disk to newCapacityKb, as vSphere does.
//
// vcsim's disks are a descriptor NAME.vmdk and a data extent NAME-flat.vmdk
// (both empty when vcsim makes them). The disk's data grows:
//
//   - NAME-flat.vmdk when it exists (a descriptor + flat extent disk); the
//     extent line of a text descriptor ("RW <sectors> VMFS "NAME-flat.vmdk"")
//     is rewritten with the new size;
//   - the capacity in the header of a hosted sparse disk (KDMV);
//   - otherwise the file itself (a raw disk).
//
// Like vSphere it refuses to shrink a disk (InvalidArgument newCapacityKb),
// a disk of a poweredOn VM (FileLocked: its VM holds it open) and, on
// vCenter, a datastore path without a datacenter (InvalidArgument
// datacenter). VMs whose disk device is backed by the file see the new
// capacityInKB / capacityInBytes, and the datastore's free space drops by
// the growth, as it does when vcsim adds a disk to a VM.

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	vmMethods["ExtendVirtualDisk_Task"] = vmExtendVirtualDisk
}

func vmExtendVirtualDisk(c *vmCall) {
	req := c.method.Body.(*types.ExtendVirtualDisk_Task)
	if req.This != simulator.Map.VirtualDiskManager().Reference() {
		c.passThrough()
		return
	}
	if !c.stockLacks() {
		return
	}
	task := simulator.CreateTask(req.This, "extendVirtualDiskTask", func(*simulator.Task) (result types.AnyType, fault types.BaseMethodFault) {
		simulator.Map.WithLock(req.This, func() { fault = vmExtendDisk(req) })
		return nil, fault
	})
	// The task is on the datacenter: a task's entity is a managed entity
	// (pyVmomi refuses the VirtualDiskManager vcsim names in its own).
	task.Info.Entity, task.Info.EntityName = nil, ""
	if req.Datacenter != nil {
		if dc, ok := simulator.Map.Get(*req.Datacenter).(*simulator.Datacenter); ok {
			task.Info.Entity, task.Info.EntityName = &dc.Self, dc.Name
		}
	}
	c.reply(c.method.Name+"Response", &taskResponse{Returnval: task.Run()})
}

// vmDiskExtent matches the extent lines of a text descriptor:
// RW 2048 VMFS "disk-flat.vmdk" (and FLAT, with an optional offset).
var vmDiskExtent = regexp.MustCompile(`(?m)^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\w+)\s+"([^"]*)"(.*)$`)

func vmExtendDisk(req *types.ExtendVirtualDisk_Task) types.BaseMethodFault {
	var p object.DatastorePath
	if !p.FromString(req.Name) || p.Path == "" {
		return &types.InvalidDatastorePath{DatastorePath: req.Name}
	}
	if req.Datacenter == nil {
		return &types.InvalidArgument{InvalidProperty: "datacenter"}
	}
	dc, ok := simulator.Map.Get(*req.Datacenter).(*simulator.Datacenter)
	if !ok {
		return &types.ManagedObjectNotFound{Obj: *req.Datacenter}
	}
	ds := vmDatastore(p.Datastore, dc.Datastore)
	if ds == nil {
		return &types.InvalidDatastore{Name: p.Datastore}
	}
	if req.NewCapacityKb <= 0 {
		return &types.InvalidArgument{InvalidProperty: "newCapacityKb"}
	}
	file := path.Join(ds.Info.GetDatastoreInfo().Url, p.Path)
	if _, err := os.Stat(file); err != nil {
		return &types.FileNotFound{FileFault: types.FileFault{File: req.Name}}
	}

	disks := vmDisksOf(ds.Self, p.Path)
	for _, d := range disks {
		if d.vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
			return &types.FileLocked{FileFault: types.FileFault{File: req.Name}}
		}
	}

	size := req.NewCapacityKb * 1024
	var grown int64
	var fault types.BaseMethodFault
	flat := strings.TrimSuffix(file, ".vmdk") + "-flat.vmdk"
	if _, err := os.Stat(flat); err == nil && strings.HasSuffix(file, ".vmdk") {
		grown, fault = vmGrowFile(flat, size, req.Name)
		if fault == nil {
			fault = vmRewriteDescriptor(file, req.NewCapacityKb*2, req.Name)
		}
	} else {
		grown, fault = vmGrowSingleFile(file, size, req.Name)
	}
	if fault != nil {
		return fault
	}

	for _, d := range disks {
		d := d
		simulator.Map.WithLock(d.vm, func() { vmSetDiskCapacity(d.vm, d.key, req.NewCapacityKb) })
	}
	if len(disks) != 0 && grown > 0 {
		simulator.Map.WithLock(ds, func() {
			ds.Summary.FreeSpace -= grown
			ds.Info.GetDatastoreInfo().FreeSpace = ds.Summary.FreeSpace
		})
	}
	return nil
}

// vmGrowFile makes a data extent size bytes long; the growth in bytes.
func vmGrowFile(file string, size int64, name string) (int64, types.BaseMethodFault) {
	st, err := os.Stat(file)
	if err != nil {
		return 0, &types.FileNotFound{FileFault: types.FileFault{File: name}}
	}
	if size < st.Size() {
		return 0, &types.InvalidArgument{InvalidProperty: "newCapacityKb"}
	}
	if err := os.Truncate(file, size); err != nil {
		return 0, &types.FileFault{File: name}
	}
	return size - st.Size(), nil
}

// vmGrowSingleFile extends a disk that is one file: a hosted sparse disk's
// header capacity, a text descriptor's extents, or a raw file.
func vmGrowSingleFile(file string, size int64, name string) (int64, types.BaseMethodFault) {
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		return 0, &types.FileFault{File: name}
	}
	defer f.Close()
	head := make([]byte, 1024)
	n, _ := f.ReadAt(head, 0)
	head = head[:n]

	switch {
	case n >= 20 && bytes.Equal(head[:4], []byte("KDMV")):
		// SparseExtentHeader: magic, version, flags, then capacity in
		// sectors (uint64, little endian) at offset 12.
		old := int64(binary.LittleEndian.Uint64(head[12:20])) * 512
		if size < old {
			return 0, &types.InvalidArgument{InvalidProperty: "newCapacityKb"}
		}
		var capacity [8]byte
		binary.LittleEndian.PutUint64(capacity[:], uint64(size/512))
		if _, err := f.WriteAt(capacity[:], 12); err != nil {
			return 0, &types.FileFault{File: name}
		}
		return size - old, nil
	case bytes.Contains(head, []byte("# Disk DescriptorFile")):
		// A descriptor whose extent is not NAME-flat.vmdk.
		m := vmDiskExtent.FindSubmatch(head)
		if m == nil || (string(m[3]) != "FLAT" && string(m[3]) != "VMFS") {
			return 0, new(types.NotSupported)
		}
		extent := path.Join(path.Dir(file), string(m[4]))
		grown, fault := vmGrowFile(extent, size, name)
		if fault == nil {
			fault = vmRewriteDescriptor(file, size/512, name)
		}
		return grown, fault
	}
	return vmGrowFile(file, size, name)
}

// vmRewriteDescriptor puts the new size in sectors in the extent line of a
// text descriptor (vcsim's own descriptors are empty: left alone).
func vmRewriteDescriptor(file string, sectors int64, name string) types.BaseMethodFault {
	data, err := os.ReadFile(file)
	if err != nil || len(data) > 64<<10 || !bytes.Contains(data, []byte("# Disk DescriptorFile")) {
		return nil
	}
	extents := vmDiskExtent.FindAllSubmatchIndex(data, -1)
	if len(extents) != 1 {
		return nil // several extents: their sizes are not ours to split
	}
	m := extents[0]
	var out bytes.Buffer
	out.Write(data[:m[4]])
	fmt.Fprintf(&out, "%d", sectors)
	out.Write(data[m[5]:])
	if err := os.WriteFile(file, out.Bytes(), 0o600); err != nil {
		return &types.FileFault{File: name}
	}
	return nil
}

// vmDisk is a VM's disk device.
type vmDisk struct {
	vm  *simulator.VirtualMachine
	key int32
}

// vmDisksOf finds the disk devices backed by file (a path on datastore ds).
func vmDisksOf(ds types.ManagedObjectReference, file string) []vmDisk {
	var found []vmDisk
	dsName := ""
	if d, ok := simulator.Map.Get(ds).(*simulator.Datastore); ok {
		dsName = d.Name
	}
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm := e.(*simulator.VirtualMachine)
		simulator.Map.WithLock(vm, func() {
			if vm.Config == nil || simulator.FindReference(vm.Datastore, ds) == nil {
				return
			}
			for _, d := range vm.Config.Hardware.Device {
				disk, ok := d.(*types.VirtualDisk)
				if !ok {
					continue
				}
				b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
				if !ok {
					continue
				}
				var p object.DatastorePath
				if p.FromString(b.GetVirtualDeviceFileBackingInfo().FileName) &&
					p.Datastore == dsName && path.Clean(p.Path) == path.Clean(file) {
					found = append(found, vmDisk{vm: vm, key: disk.Key})
				}
			}
		})
	}
	return found
}

// vmSetDiskCapacity updates the capacity of one disk device of vm, whose
// lock the caller holds.
func vmSetDiskCapacity(vm *simulator.VirtualMachine, key int32, kb int64) {
	devices := make([]types.BaseVirtualDevice, len(vm.Config.Hardware.Device))
	copy(devices, vm.Config.Hardware.Device)
	for i, d := range devices {
		if disk, ok := d.(*types.VirtualDisk); ok && disk.Key == key {
			resized := *disk
			resized.CapacityInKB = kb
			resized.CapacityInBytes = kb * 1024
			if resized.DeviceInfo != nil {
				desc := *resized.DeviceInfo.GetDescription()
				desc.Summary = fmt.Sprintf("%s KB", vmGroupDigits(kb))
				resized.DeviceInfo = &desc
			}
			devices[i] = &resized
		}
	}
	simulator.Map.Update(vm, []types.PropertyChange{{Name: "config.hardware.device", Val: devices}})
}

// vmGroupDigits writes n with thousands separators: 1,048,576.
func vmGroupDigits(n int64) string {
	s := fmt.Sprintf("%d", n)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
