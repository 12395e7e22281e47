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

// CloneVM_Task as vSphere does it. vcsim 0.24.2:
//
//   - rewrites the SOURCE VM's disk backings to the clone's new files (its
//     clone shares the source's device objects and sets their file names),
//     and gives the clone the source's MAC addresses;
//   - ignores powerOn, most of the clone spec's config (numCPUs, memoryMB,
//     allocations... it applies extraConfig by appending and deviceChange
//     without completing it), location.host (the clone lands on the
//     source's host, whatever the pool), linked clones (diskMoveType
//     createNewChildDiskBacking from a snapshot) and the source's own
//     configuration beyond CPUs, memory and devices (annotation,
//     extraConfig, allocations, firmware...).
//
// Here:
//
//   - while the stock clone runs (a task hook, under the source's lock),
//     the source's device list is swapped for a deep copy that the stock
//     code may change and hand to the clone, then put back: the source stays
//     untouched. NICs whose MAC vSphere assigns get new ones.
//   - the request goes to the stock server without config, powerOn and
//     template; once its task has succeeded (the client has not seen the
//     answer yet) the clone is finished in this order: the source's (or
//     the snapshot's) configuration, linked clone disks, placement on
//     location.host / a host of location.pool's cluster, the spec's config
//     applied as ReconfigVM_Task would (vm_reconfig.go), template, Tools
//     (vm_methods.go), power on. A failure fails the clone's task (and
//     removes the clone, unless only powering on failed).
//   - a linked clone (location.diskMoveType createNewChildDiskBacking, with
//     snapshot a snapshot of the source) gets, for each disk the snapshot
//     has, a child delta disk of its own in its folder, NAME-000001.vmdk
//     (a vmfsSparse descriptor naming the parent) + NAME-000001-delta.vmdk,
//     whose backing.parent is the snapshot's disk backing (the source's
//     disk file: vcsim's snapshots make no delta disks for the source).
//   - refused, with a failed task: a linked clone without snapshot, a
//     snapshot of another VM, location.host outside location.pool's
//     cluster (InvalidArgument), a location.datastore that is not one
//     (vcsim panicked).
//   - CreateSnapshot_Task: the snapshot keeps a deep copy of the VM's
//     config (vcsim's shared the VM's device list, which later reconfigures
//     of the VM scrambled), so a linked clone's parents are the snapshot's.
//   - MarkAsTemplate also takes the VM out of its pool's vm list (vcsim
//     only unsets its resourcePool).
//
// Tasks: the clone's own sub-steps run as tasks of their own (reconfigure,
// power on), visible in the task manager; a watcher other than the caller
// may see the clone task succeed a moment before a late failure flips it.
//
// Not done: location.disk (per-disk datastores), customization, and full
// clones of a snapshot's disk state (clones copy the current disks).

package main

import (
	"fmt"
	"log"
	"os"
	"path"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	vmMethods["CloneVM_Task"] = vmClone
	vmMethods["MarkAsTemplate"] = vmMarkAsTemplate

	sources := new(vmTaskState)
	vmTaskHooks["VirtualMachine.cloneVm"] = append(vmTaskHooks["VirtualMachine.cloneVm"], vmTaskHook{
		started: func(task *mo.Task) {
			// The stock call holds the source's lock.
			vm, ok := simulator.Map.Get(*task.Info.Entity).(*simulator.VirtualMachine)
			if !ok || vm.Config == nil {
				return
			}
			devices := vmCopyDevices(vm.Config.Hardware.Device)
			for _, d := range devices {
				if nic, ok := d.(types.BaseVirtualEthernetCard); ok {
					card := nic.GetVirtualEthernetCard()
					if card.AddressType != string(types.VirtualEthernetCardMacTypeManual) {
						card.MacAddress = "" // the clone gets its own
					}
				}
			}
			sources.put(task, vm.Config.Hardware.Device)
			vm.Config.Hardware.Device = devices
		},
		ended: func(task *mo.Task) {
			devices, ok := sources.take(task).([]types.BaseVirtualDevice)
			if !ok {
				return
			}
			if vm, ok := simulator.Map.Get(*task.Info.Entity).(*simulator.VirtualMachine); ok {
				vm.Config.Hardware.Device = devices
			}
		},
	})
	// vcsim's snapshot shares its VM's device objects and list (a shallow
	// copy of the config), which later reconfigures of the VM change: a
	// snapshot is read-only in vSphere, and a linked clone's parent.
	vmTaskHooks["VirtualMachine.createSnapshot"] = append(vmTaskHooks["VirtualMachine.createSnapshot"], vmTaskHook{
		ended: func(task *mo.Task) {
			ref, ok := task.Info.Result.(types.ManagedObjectReference)
			if !ok || task.Info.State != types.TaskInfoStateSuccess {
				return
			}
			if snap, ok := simulator.Map.Get(ref).(*simulator.VirtualMachineSnapshot); ok {
				simulator.Map.WithLock(snap, func() { snap.Config = *vmDeepCopyConfig(&snap.Config) })
			}
		},
	})
}

const vmLinkedClone = string(types.VirtualMachineRelocateDiskMoveOptionsCreateNewChildDiskBacking)

func vmClone(c *vmCall) {
	req := c.method.Body.(*types.CloneVM_Task)
	src, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		c.passThrough()
		return
	}
	if fault := vmCloneCheck(req, src); fault != nil {
		if !c.loggedIn() {
			c.replyNotAuthenticated()
			return
		}
		var ref types.ManagedObjectReference
		// The clone hooks expect the source locked while its task runs.
		simulator.Map.WithLock(src, func() {
			ref = vmRunTask(req.This, "cloneVm", func() (types.AnyType, types.BaseMethodFault) {
				return nil, fault
			})
		})
		c.reply("CloneVM_TaskResponse", &taskResponse{Returnval: ref})
		return
	}

	stock := *req
	stock.Spec.Config = nil
	stock.Spec.PowerOn = false
	stock.Spec.Template = false
	rec := c.forward(&methods.CloneVM_TaskBody{Req: &stock})
	task, fault := taskOfAnswer(rec)
	if fault == nil {
		var result types.AnyType
		if result, fault = vmTaskOutcome(task); fault == nil {
			if ref, ok := result.(types.ManagedObjectReference); ok {
				if fault = vmFinishClone(c, req, src, ref); fault != nil {
					vmFailTask(task, fault)
				}
			}
		}
	}
	c.send(rec)
}

// vmCloneCheck finds what vSphere refuses in a clone request and vcsim
// does not (or panics on).
func vmCloneCheck(req *types.CloneVM_Task, src *simulator.VirtualMachine) types.BaseMethodFault {
	loc := req.Spec.Location
	if loc.Datastore != nil {
		if _, ok := simulator.Map.Get(*loc.Datastore).(*simulator.Datastore); !ok {
			return &types.InvalidArgument{InvalidProperty: "spec.location.datastore"}
		}
	}
	if snap := req.Spec.Snapshot; snap != nil {
		s, ok := simulator.Map.Get(*snap).(*simulator.VirtualMachineSnapshot)
		if !ok || s.Vm != src.Self {
			return &types.InvalidArgument{InvalidProperty: "spec.snapshot"}
		}
	} else if loc.DiskMoveType == vmLinkedClone {
		// Only a snapshot's disks are read-only, safe to share.
		return &types.InvalidArgument{InvalidProperty: "spec.snapshot"}
	}
	if loc.Host != nil {
		host, ok := simulator.Map.Get(*loc.Host).(*simulator.HostSystem)
		if !ok {
			return &types.InvalidArgument{InvalidProperty: "spec.location.host"}
		}
		if loc.Pool != nil {
			if owner := vmPoolOwner(*loc.Pool); owner != nil && host.Parent != nil && *host.Parent != *owner {
				return &types.InvalidArgument{InvalidProperty: "spec.location.host"}
			}
		}
	}
	return nil
}

// vmPoolOwner is the compute resource (cluster) of a resource pool.
func vmPoolOwner(ref types.ManagedObjectReference) *types.ManagedObjectReference {
	switch p := simulator.Map.Get(ref).(type) {
	case *simulator.ResourcePool:
		return &p.Owner
	case *simulator.VirtualApp:
		return &p.Owner
	}
	return nil
}

// vmFinishClone does what the stock clone left out; see the top of file.
func vmFinishClone(c *vmCall, req *types.CloneVM_Task, src *simulator.VirtualMachine,
	ref types.ManagedObjectReference) types.BaseMethodFault {
	clone, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return &types.ManagedObjectNotFound{Obj: ref}
	}
	fault := vmCloneConfig(c, req, src, clone)
	if fault == nil && req.Spec.PowerOn && !req.Spec.Template {
		_, fault = c.internalTask(&methods.PowerOnVM_TaskBody{Req: &types.PowerOnVM_Task{This: ref}})
		return fault
	}
	if fault != nil {
		if _, err := c.internalTask(&methods.Destroy_TaskBody{Req: &types.Destroy_Task{This: ref}}); err != nil {
			log.Printf("vm: removing failed clone %s: %T", ref.Value, err)
		}
	}
	return fault
}

func vmCloneConfig(c *vmCall, req *types.CloneVM_Task, src *simulator.VirtualMachine,
	clone *simulator.VirtualMachine) types.BaseMethodFault {
	var snap *simulator.VirtualMachineSnapshot
	if req.Spec.Snapshot != nil {
		snap, _ = simulator.Map.Get(*req.Spec.Snapshot).(*simulator.VirtualMachineSnapshot)
	}

	// What the clone inherits: the configuration of the source, or of its
	// snapshot, and for a linked clone the snapshot's disk backings.
	var inherited types.VirtualMachineConfigSpec
	var hasTools bool
	parents := make(map[int32]*types.VirtualDiskFlatVer2BackingInfo)
	simulator.Map.WithLock(src, func() {
		config := src.Config
		if snap != nil {
			config = &snap.Config
		}
		inherited = vmInheritedConfig(config)
		hasTools = vmHasTools(src)
		if req.Spec.Location.DiskMoveType != vmLinkedClone {
			return
		}
		for _, d := range config.Hardware.Device {
			if disk, ok := d.(*types.VirtualDisk); ok {
				if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
					parents[disk.Key] = vmDeepCopyBacking(b)
				}
			}
		}
	})
	this := clone.Self
	if _, fault := c.internalTask(&methods.ReconfigVM_TaskBody{Req: &types.ReconfigVM_Task{
		This: this, Spec: inherited,
	}}); fault != nil {
		return fault
	}

	if len(parents) != 0 {
		if fault := vmLinkDisks(clone, parents); fault != nil {
			return fault
		}
	}

	vmPlaceClone(clone, req.Spec.Location)

	if config := req.Spec.Config; config != nil {
		spec := *config
		spec.Name = ""
		if spec.Files != nil {
			files := *spec.Files
			files.VmPathName = ""
			spec.Files = &files
		}
		if _, fault := c.internalTask(&methods.ReconfigVM_TaskBody{Req: &types.ReconfigVM_Task{
			This: this, Spec: spec,
		}}); fault != nil {
			return fault
		}
	}

	if req.Spec.Template {
		a, fault := decodeSOAPAnswer(c.internal(&methods.MarkAsTemplateBody{Req: &types.MarkAsTemplate{This: this}}))
		if fault != nil || a == nil {
			return fault
		}
	}

	if hasTools {
		simulator.Map.WithLock(clone, func() {
			if !vmHasTools(clone) {
				vmSetTools(clone, true)
			}
		})
	}
	return nil
}

// vmInheritedConfig is the part of a VM's configuration that a clone
// inherits beyond what vcsim copies (CPUs, memory, guest, devices).
func vmInheritedConfig(config *types.VirtualMachineConfigInfo) types.VirtualMachineConfigSpec {
	c := vmDeepCopyConfig(config)
	spec := types.VirtualMachineConfigSpec{
		Annotation:            c.Annotation,
		Version:               c.Version,
		Firmware:              c.Firmware,
		NumCPUs:               c.Hardware.NumCPU,
		NumCoresPerSocket:     c.Hardware.NumCoresPerSocket,
		MemoryMB:              int64(c.Hardware.MemoryMB),
		CpuAllocation:         c.CpuAllocation,
		MemoryAllocation:      c.MemoryAllocation,
		NestedHVEnabled:       c.NestedHVEnabled,
		CpuHotAddEnabled:      c.CpuHotAddEnabled,
		CpuHotRemoveEnabled:   c.CpuHotRemoveEnabled,
		MemoryHotAddEnabled:   c.MemoryHotAddEnabled,
		ChangeTrackingEnabled: c.ChangeTrackingEnabled,
		BootOptions:           c.BootOptions,
		LatencySensitivity:    c.LatencySensitivity,
	}
	if c.Tools != nil {
		tools := *c.Tools
		tools.PendingCustomization = ""
		spec.Tools = &tools
	}
	flags := c.Flags
	spec.Flags = &flags
	for _, o := range c.ExtraConfig {
		if o.GetOptionValue().Key != "govcsim" {
			spec.ExtraConfig = append(spec.ExtraConfig, o)
		}
	}
	return spec
}

// vmPlaceClone puts the clone on location.host, or on a host of
// location.pool's cluster when the stock clone left it on the source's
// host in another cluster; host.vm lists and the environment browser
// follow.
func vmPlaceClone(clone *simulator.VirtualMachine, loc types.VirtualMachineRelocateSpec) {
	var current types.ManagedObjectReference
	var vmx string
	simulator.Map.WithLock(clone, func() {
		current = *clone.Runtime.Host
		vmx = clone.Config.Files.VmPathName
	})
	target := loc.Host
	if target == nil && loc.Pool != nil {
		owner := vmPoolOwner(*loc.Pool)
		host, _ := simulator.Map.Get(current).(*simulator.HostSystem)
		if owner == nil || host == nil || host.Parent == nil || *host.Parent == *owner {
			return
		}
		var p object.DatastorePath
		p.FromString(vmx)
		for _, h := range vmComputeHosts(*owner) {
			if hs, ok := simulator.Map.Get(h).(*simulator.HostSystem); ok && vmDatastore(p.Datastore, hs.Datastore) != nil {
				target = &h
				break
			}
		}
	}
	if target == nil || *target == current {
		return
	}
	to, ok := simulator.Map.Get(*target).(*simulator.HostSystem)
	if !ok {
		return
	}
	if from, ok := simulator.Map.Get(current).(*simulator.HostSystem); ok {
		simulator.Map.RemoveReference(from, &from.Vm, clone.Self)
	}
	simulator.Map.AppendReference(to, &to.Vm, clone.Self)
	ref := *target
	simulator.Map.WithLock(clone, func() {
		if to.Parent != nil {
			if browser := vmEnvironmentBrowser(*to.Parent); browser != nil {
				clone.EnvironmentBrowser = *browser
			}
		}
		simulator.Map.Update(clone, []types.PropertyChange{
			{Name: "runtime.host", Val: &ref},
			{Name: "summary.runtime.host", Val: &ref},
		})
	})
}

// vmComputeHosts are the hosts of a cluster or standalone compute resource.
func vmComputeHosts(ref types.ManagedObjectReference) []types.ManagedObjectReference {
	var hosts []types.ManagedObjectReference
	switch cr := simulator.Map.Get(ref).(type) {
	case *simulator.ClusterComputeResource:
		simulator.Map.WithLock(cr, func() { hosts = append(hosts, cr.Host...) })
	case *mo.ComputeResource:
		simulator.Map.WithLock(cr, func() { hosts = append(hosts, cr.Host...) })
	}
	return hosts
}

func vmEnvironmentBrowser(ref types.ManagedObjectReference) *types.ManagedObjectReference {
	switch cr := simulator.Map.Get(ref).(type) {
	case *simulator.ClusterComputeResource:
		return cr.EnvironmentBrowser
	case *mo.ComputeResource:
		return cr.EnvironmentBrowser
	}
	return nil
}

// vmLinkDisks replaces the full copies the stock clone made of the disks
// in parents (by device key) with child delta disks of those parents.
func vmLinkDisks(clone *simulator.VirtualMachine, parents map[int32]*types.VirtualDiskFlatVer2BackingInfo) types.BaseMethodFault {
	var fault types.BaseMethodFault
	freed := make(map[types.ManagedObjectReference]int64)
	simulator.Map.WithLock(clone, func() {
		var hostDatastores []types.ManagedObjectReference
		if host, ok := simulator.Map.Get(*clone.Runtime.Host).(*simulator.HostSystem); ok {
			hostDatastores = host.Datastore
		}
		devices := make([]types.BaseVirtualDevice, len(clone.Config.Hardware.Device))
		copy(devices, clone.Config.Hardware.Device)
		for i, d := range devices {
			disk, ok := d.(*types.VirtualDisk)
			if !ok {
				continue
			}
			b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
			parent := parents[disk.Key]
			if !ok || parent == nil {
				continue
			}
			var child string
			child, fault = vmMakeChildDisk(b.FileName, parent.FileName, disk.CapacityInKB, hostDatastores)
			if fault != nil {
				return
			}
			backing := *b
			backing.FileName = child
			backing.Parent = parent
			backing.DeltaDiskFormat = string(types.VirtualDiskDeltaDiskFormatRedoLogFormat)
			backing.ThinProvisioned = types.NewBool(true)
			backing.Uuid = ""
			linked := *disk
			linked.Backing = &backing
			devices[i] = &linked
			if backing.Datastore != nil {
				freed[*backing.Datastore] += linked.CapacityInKB * 1024
			}
		}
		simulator.Map.Update(clone, []types.PropertyChange{{Name: "config.hardware.device", Val: devices}})
		// Layouts, and the parents' datastores in clone.datastore.
		clone.RefreshStorageInfo(&simulator.Context{Map: simulator.Map}, &types.RefreshStorageInfo{This: clone.Self})
	})
	if fault != nil {
		return fault
	}
	// vcsim took the full disks' capacity off the datastore.
	for ref, n := range freed {
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok {
			simulator.Map.WithLock(ds, func() {
				ds.Summary.FreeSpace += n
				ds.Info.GetDatastoreInfo().FreeSpace = ds.Summary.FreeSpace
			})
		}
	}
	var datastores []types.ManagedObjectReference
	simulator.Map.WithLock(clone, func() { datastores = append(datastores, clone.Datastore...) })
	for _, ref := range datastores {
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok {
			simulator.Map.AddReference(ds, &ds.Vm, clone.Self)
		}
	}
	return nil
}

// vmMakeChildDisk replaces the disk file (descriptor + flat) the stock
// clone made at name with a child delta disk of parent next to it:
// NAME-000001.vmdk + NAME-000001-delta.vmdk. Returns the child's name.
func vmMakeChildDisk(name, parent string, capacityKB int64, datastores []types.ManagedObjectReference) (string, types.BaseMethodFault) {
	var p object.DatastorePath
	if !p.FromString(name) {
		return "", &types.InvalidDatastorePath{DatastorePath: name}
	}
	local := vmLocalPath(name, datastores)
	if local == "" {
		return "", &types.InvalidDatastore{Name: p.Datastore}
	}
	base := strings.TrimSuffix(local, ".vmdk")
	_ = os.Remove(local)
	_ = os.Remove(base + "-flat.vmdk")

	for i := 1; i < 1000; i++ {
		childBase := fmt.Sprintf("%s-%06d", base, i)
		f, err := os.OpenFile(childBase+".vmdk", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if os.IsExist(err) {
			continue
		}
		if err != nil {
			return "", &types.CannotCreateFile{FileFault: types.FileFault{File: name}}
		}
		parentCID := "ffffffff"
		parentLocal := vmLocalPath(parent, datastores)
		if data, err := os.ReadFile(parentLocal); err == nil && len(data) < 64<<10 {
			for _, line := range strings.Split(string(data), "\n") {
				if strings.HasPrefix(line, "CID=") {
					parentCID = strings.TrimSpace(strings.TrimPrefix(line, "CID="))
				}
			}
		}
		delta := path.Base(childBase) + "-delta.vmdk"
		_, err = fmt.Fprintf(f, "# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID=%s\nparentCID=%s\n"+
			"createType=\"vmfsSparse\"\nparentFileNameHint=\"%s\"\n# Extent description\n"+
			"RW %d VMFSSPARSE \"%s\"\n\n# The Disk Data Base\n#DDB\n\nddb.longContentID = \"%s\"\n",
			vmRandomHex(4), parentCID, vmHostPath(parent, datastores), capacityKB*2, delta, vmRandomHex(16))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			var d *os.File
			if d, err = os.OpenFile(path.Join(path.Dir(childBase), delta), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err == nil {
				err = d.Close()
			}
		}
		if err != nil {
			return "", &types.CannotCreateFile{FileFault: types.FileFault{File: name}}
		}
		p.Path = path.Join(path.Dir(p.Path), path.Base(childBase)+".vmdk")
		return p.String(), nil
	}
	return "", &types.FileAlreadyExists{FileFault: types.FileFault{File: name}}
}

// vmMarkAsTemplate: the stock method unsets the VM's resourcePool but
// leaves the VM in the pool's vm list; a template is in no pool.
func vmMarkAsTemplate(c *vmCall) {
	req := c.method.Body.(*types.MarkAsTemplate)
	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		c.passThrough()
		return
	}
	var pool *types.ManagedObjectReference
	simulator.Map.WithLock(vm, func() {
		if vm.ResourcePool != nil {
			ref := *vm.ResourcePool
			pool = &ref
		}
	})
	rec := c.forward(nil)
	if _, fault := decodeSOAPAnswer(rec); fault == nil && pool != nil {
		switch p := simulator.Map.Get(*pool).(type) {
		case *simulator.ResourcePool:
			simulator.Map.RemoveReference(p, &p.Vm, vm.Self)
		case *simulator.VirtualApp:
			simulator.Map.RemoveReference(p, &p.Vm, vm.Self)
		}
		simulator.Map.WithLock(vm, func() {
			simulator.Map.Update(vm, []types.PropertyChange{
				{Name: "resourcePool", Val: nil},
				{Name: "config.template", Val: true},
				{Name: "summary.config.template", Val: true},
			})
		})
	}
	c.send(rec)
}

func vmDeepCopyBacking(b *types.VirtualDiskFlatVer2BackingInfo) *types.VirtualDiskFlatVer2BackingInfo {
	return vmDeepCopyValue(b).(*types.VirtualDiskFlatVer2BackingInfo)
}

func vmDeepCopyConfig(c *types.VirtualMachineConfigInfo) *types.VirtualMachineConfigInfo {
	return vmDeepCopyValue(c).(*types.VirtualMachineConfigInfo)
}
