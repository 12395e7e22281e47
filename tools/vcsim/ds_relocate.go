// RelocateVM_Task and MarkAsVirtualMachine keep the inventory consistent.
//
// vcsim 0.24.2's RelocateVM_Task sets the VM's runtime.host, resourcePool
// and datastore, but never takes the VM off the lists of its old host,
// pool and datastores, nor puts it on the new ones (it "removes" the
// target's own reference from the target's list instead). So HostSystem.vm,
// ResourcePool.vm and Datastore.vm, and the ContainerViews built from them,
// keep the VM where it was and miss it where it is; once the VM is
// destroyed, the old host still lists it. It moves no file either: after a
// relocation to another datastore the VM's files, config.files and disk
// backings still name the old datastore while vm.datastore names the new
// one. A pool that is a vApp, or a reference to nothing, panics the
// simulator. MarkAsVirtualMachine sets resourcePool and runtime.host but
// leaves the pool's and the hosts' lists alone, accepts any pool, and
// notifies no property collector.
//
// vSphere's rules, done here around the stock handlers:
//
//   - RelocateVM_Task: the VM leaves the lists of its old host, pool and
//     datastores and joins those of the new ones. A pool without a host
//     puts the VM on a host of the pool's compute resource (its current one
//     when it belongs to it); a host of another compute resource without a
//     pool puts the VM in that compute resource's root pool; a host outside
//     the pool's compute resource is an InvalidArgument, as are references
//     to objects of the wrong type (a vApp pool is NotSupported), and a
//     target host that does not mount a datastore the VM will use is an
//     InvalidDatastore. A template stays in no pool.
//   - With spec.datastore, the VM's home folder (the .vmx folder, with its
//     disks, logs, nvram, snapshots) moves to that datastore (under a free
//     name, "vm_1", if the name is taken there), and every disk not in the
//     home folder moves into the new home folder, unless spec.disk names
//     another datastore for it: then it moves into a folder of the VM's
//     name on that datastore. config.files, the disk backings (also those
//     of the VM's snapshots), layout, layoutEx (rebuilt from the files),
//     storage and vm.datastore follow.
//   - MarkAsVirtualMachine: the pool must be a resource pool, the host (if
//     given) a host of the pool's compute resource; without a host the VM
//     stays on its host when that one belongs to the pool's compute
//     resource, else goes to one that does. The VM joins the pool's list
//     and, when its host changes, moves between the hosts' lists.
//
// Not done: disk parents (linked clone bases) outside the VM's home folder
// stay where they are (vSphere's default diskMoveType would copy them), and
// the simulator's own per-VM log file name (unexported) keeps naming the
// old folder, so power operations of a moved VM log "no such file".

package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	handlerWrappers = append(handlerWrappers, dsWrapPlacement)
}

func dsWrapPlacement(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, _ := decodeSOAPCall(r, "RelocateVM_Task", "MarkAsVirtualMachine")
		if method == nil {
			next.ServeHTTP(w, r)
			return
		}
		vm, ok := simulator.Map.Get(method.This).(*simulator.VirtualMachine)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		switch req := method.Body.(type) {
		case *types.RelocateVM_Task:
			dsRelocate(w, r, next, vm, &req.Spec)
		case *types.MarkAsVirtualMachine:
			dsMarkAsVirtualMachine(w, r, next, vm, req)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// --- inventory helpers ---

// dsComputeResource returns the mo.ComputeResource of a (cluster) compute
// resource reference.
func dsComputeResource(ref types.ManagedObjectReference) *mo.ComputeResource {
	switch cr := simulator.Map.Get(ref).(type) {
	case *mo.ComputeResource:
		return cr
	case *simulator.ClusterComputeResource:
		return &cr.ComputeResource
	}
	return nil
}

// dsPoolOwner returns the compute resource of a resource pool or vApp.
func dsPoolOwner(ref types.ManagedObjectReference) (types.ManagedObjectReference, bool) {
	var owner types.ManagedObjectReference
	obj := simulator.Map.Get(ref)
	if obj == nil {
		return owner, false
	}
	simulator.Map.WithLock(obj, func() {
		switch p := obj.(type) {
		case *simulator.ResourcePool:
			owner = p.Owner
		case *simulator.VirtualApp:
			owner = p.Owner
		}
	})
	return owner, owner.Value != ""
}

// dsHostOwner returns the compute resource of a host.
func dsHostOwner(ref types.ManagedObjectReference) (types.ManagedObjectReference, bool) {
	host, ok := simulator.Map.Get(ref).(*simulator.HostSystem)
	if !ok {
		return types.ManagedObjectReference{}, false
	}
	var owner types.ManagedObjectReference
	simulator.Map.WithLock(host, func() {
		if host.Parent != nil {
			owner = *host.Parent
		}
	})
	return owner, owner.Value != ""
}

// dsHostsOf lists the hosts and the root pool of a compute resource.
func dsHostsOf(crRef types.ManagedObjectReference) ([]types.ManagedObjectReference, *types.ManagedObjectReference) {
	cr := dsComputeResource(crRef)
	if cr == nil {
		return nil, nil
	}
	var hosts []types.ManagedObjectReference
	var root *types.ManagedObjectReference
	simulator.Map.WithLock(simulator.Map.Get(crRef), func() {
		hosts = append(hosts, cr.Host...)
		if cr.ResourcePool != nil {
			ref := *cr.ResourcePool
			root = &ref
		}
	})
	return hosts, root
}

func dsContains(refs []types.ManagedObjectReference, ref types.ManagedObjectReference) bool {
	for _, r := range refs {
		if r == ref {
			return true
		}
	}
	return false
}

// dsPickHost chooses a host of a compute resource for a VM: keep is kept
// when it belongs to it, else the connected host with the fewest VMs.
func dsPickHost(hosts []types.ManagedObjectReference, keep types.ManagedObjectReference) (types.ManagedObjectReference, bool) {
	if dsContains(hosts, keep) {
		return keep, true
	}
	best, bestCount := types.ManagedObjectReference{}, -1
	for _, ref := range hosts {
		host, ok := simulator.Map.Get(ref).(*simulator.HostSystem)
		if !ok {
			continue
		}
		var count int
		connected := true
		simulator.Map.WithLock(host, func() {
			count = len(host.Vm)
			connected = host.Runtime.ConnectionState == "" ||
				host.Runtime.ConnectionState == types.HostSystemConnectionStateConnected
		})
		if connected && (bestCount < 0 || count < bestCount) {
			best, bestCount = ref, count
		}
	}
	return best, bestCount >= 0
}

// dsHostDatastores lists the datastores a host mounts.
func dsHostDatastores(ref types.ManagedObjectReference) []types.ManagedObjectReference {
	host, ok := simulator.Map.Get(ref).(*simulator.HostSystem)
	if !ok {
		return nil
	}
	var refs []types.ManagedObjectReference
	simulator.Map.WithLock(host, func() { refs = append(refs, host.Datastore...) })
	return refs
}

// dsSetList moves ref into or out of the vm list of obj (a host, pool, vApp
// or datastore), telling property collectors.
func dsSetList(obj mo.Reference, ref types.ManagedObjectReference, in bool) {
	if obj == nil {
		return
	}
	simulator.Map.WithLock(obj, func() {
		var list *[]types.ManagedObjectReference
		switch o := obj.(type) {
		case *simulator.HostSystem:
			list = &o.Vm
		case *simulator.ResourcePool:
			list = &o.Vm
		case *simulator.VirtualApp:
			list = &o.Vm
		case *simulator.Datastore:
			list = &o.Vm
		default:
			return
		}
		has := dsContains(*list, ref)
		if has == in {
			return
		}
		next := make([]types.ManagedObjectReference, 0, len(*list)+1)
		for _, r := range *list {
			if r != ref {
				next = append(next, r)
			}
		}
		if in {
			next = append(next, ref)
		}
		simulator.Map.Update(obj, []types.PropertyChange{{Name: "vm", Val: next}})
	})
}

// --- RelocateVM_Task ---

// dsRelocation is what a relocation will do, decided before the stock
// handler runs.
type dsRelocation struct {
	vm       types.ManagedObjectReference
	template bool

	oldHost, newHost types.ManagedObjectReference
	oldPool, newPool *types.ManagedObjectReference
	oldStores        []types.ManagedObjectReference

	home  *simulator.Datastore           // new home datastore, nil: unchanged
	disks map[int32]*simulator.Datastore // disk key -> its datastore
}

func dsInvalid(prop string) types.BaseMethodFault {
	return &types.InvalidArgument{InvalidProperty: prop}
}

func dsPlanRelocation(vm *simulator.VirtualMachine, spec *types.VirtualMachineRelocateSpec) (*dsRelocation, types.BaseMethodFault) {
	plan := &dsRelocation{vm: vm.Self, disks: make(map[int32]*simulator.Datastore)}
	diskKeys := make(map[int32]bool)
	var homeName string
	simulator.Map.WithLock(vm, func() {
		if vm.Runtime.Host != nil {
			plan.oldHost = *vm.Runtime.Host
		}
		if vm.ResourcePool != nil {
			ref := *vm.ResourcePool
			plan.oldPool = &ref
		}
		plan.oldStores = append(plan.oldStores, vm.Datastore...)
		if vm.Config != nil {
			plan.template = vm.Config.Template
			for _, d := range vm.Config.Hardware.Device {
				if disk, ok := d.(*types.VirtualDisk); ok {
					diskKeys[disk.Key] = true
				}
			}
			var p object.DatastorePath
			if p.FromString(vm.Config.Files.VmPathName) {
				homeName = p.Datastore
			}
		}
	})

	if ref := spec.Datastore; ref != nil {
		ds, ok := simulator.Map.Get(*ref).(*simulator.Datastore)
		if !ok {
			return nil, dsInvalid("spec.datastore")
		}
		plan.home = ds
		if ds.Name == homeName {
			plan.home = nil // stays where it is; disks may still move
		}
		for key := range diskKeys {
			plan.disks[key] = ds
		}
	}
	for i, loc := range spec.Disk {
		if !diskKeys[loc.DiskId] {
			return nil, dsInvalid(fmt.Sprintf("spec.disk[%d].diskId", i))
		}
		ds, ok := simulator.Map.Get(loc.Datastore).(*simulator.Datastore)
		if !ok {
			return nil, dsInvalid(fmt.Sprintf("spec.disk[%d].datastore", i))
		}
		plan.disks[loc.DiskId] = ds
	}
	if ref := spec.Folder; ref != nil {
		if _, ok := simulator.Map.Get(*ref).(*simulator.Folder); !ok {
			return nil, dsInvalid("spec.folder")
		}
	}

	// Compute placement.
	plan.newHost, plan.newPool = plan.oldHost, plan.oldPool
	var poolOwner types.ManagedObjectReference
	if ref := spec.Pool; ref != nil {
		switch simulator.Map.Get(*ref).(type) {
		case *simulator.ResourcePool:
		case *simulator.VirtualApp:
			return nil, &types.NotSupported{}
		default:
			return nil, dsInvalid("spec.pool")
		}
		owner, ok := dsPoolOwner(*ref)
		if !ok {
			return nil, dsInvalid("spec.pool")
		}
		poolOwner = owner
		pool := *ref
		plan.newPool = &pool
	}
	if ref := spec.Host; ref != nil {
		owner, ok := dsHostOwner(*ref)
		if !ok {
			return nil, dsInvalid("spec.host")
		}
		plan.newHost = *ref
		if spec.Pool != nil {
			if owner != poolOwner {
				return nil, dsInvalid("spec.host")
			}
		} else if plan.oldPool != nil {
			if cur, ok := dsPoolOwner(*plan.oldPool); !ok || cur != owner {
				// Another compute resource: its root pool.
				_, root := dsHostsOf(owner)
				if root == nil {
					return nil, dsInvalid("spec.host")
				}
				plan.newPool = root
			}
		}
	} else if spec.Pool != nil {
		hosts, _ := dsHostsOf(poolOwner)
		host, ok := dsPickHost(hosts, plan.oldHost)
		if !ok {
			return nil, dsInvalid("spec.pool")
		}
		plan.newHost = host
	}
	if plan.template {
		plan.newPool = nil
	}

	// The new host must see every datastore the VM will use.
	mounted := dsHostDatastores(plan.newHost)
	need := make(map[types.ManagedObjectReference]string)
	if plan.home != nil {
		need[plan.home.Self] = plan.home.Name
	} else {
		for _, ref := range plan.oldStores {
			need[ref] = ""
		}
	}
	for _, ds := range plan.disks {
		need[ds.Self] = ds.Name
	}
	for ref, name := range need {
		if !dsContains(mounted, ref) {
			ref := ref
			return nil, &types.InvalidDatastore{Datastore: &ref, Name: name}
		}
	}
	return plan, nil
}

func dsRelocate(w http.ResponseWriter, r *http.Request, next http.Handler, vm *simulator.VirtualMachine, spec *types.VirtualMachineRelocateSpec) {
	plan, fault := dsPlanRelocation(vm, spec)
	if fault != nil {
		if rejectNotLoggedIn(w, r, next) {
			return
		}
		writeSOAPFault(w, "", fault)
		return
	}
	rec := recordResponse(next, r)
	if task, fault := taskOfAnswer(rec); fault == nil {
		var state types.TaskInfoState
		simulator.Map.WithLock(task, func() { state = task.Info.State })
		if state == types.TaskInfoStateSuccess {
			dsFinishRelocation(vm, plan)
		}
	}
	replayResponse(w, rec)
}

// dsFinishRelocation does what the stock relocation left undone.
func dsFinishRelocation(vm *simulator.VirtualMachine, plan *dsRelocation) {
	var newStores []types.ManagedObjectReference
	var moves *dsMoves
	simulator.Map.WithLock(vm, func() {
		if vm.Config == nil || vm.Layout == nil || vm.LayoutEx == nil {
			return
		}
		moves = &dsMoves{vm: vm, files: make(map[string]string)}
		if plan.home != nil {
			if err := moves.moveHome(plan.home); err != nil {
				log.Printf("relocate %s: moving its home folder: %s", vm.Self, err)
				return
			}
		}
		moves.moveDisks(plan.disks)
		moves.rewrite()

		newStores = dsVMDatastores(vm)
		changes := []types.PropertyChange{
			{Name: "datastore", Val: newStores},
			{Name: "runtime.host", Val: plan.newHost},
			{Name: "summary.runtime.host", Val: plan.newHost},
			{Name: "config.files", Val: vm.Config.Files},
			{Name: "summary.config.vmPathName", Val: vm.Config.Files.VmPathName},
			{Name: "config.hardware.device", Val: vm.Config.Hardware.Device},
			{Name: "layout", Val: vm.Layout},
			{Name: "layoutEx", Val: vm.LayoutEx},
			{Name: "storage", Val: vm.Storage},
			{Name: "summary.storage", Val: vm.Summary.Storage},
		}
		if plan.newPool != nil {
			changes = append(changes, types.PropertyChange{Name: "resourcePool", Val: *plan.newPool})
		} else {
			changes = append(changes, types.PropertyChange{Name: "resourcePool", Val: nil})
		}
		simulator.Map.Update(vm, changes)
	})
	if newStores == nil {
		return
	}
	// The VM's snapshots keep configurations of their own (taken outside
	// the VM's lock: snapshot methods lock the snapshot, then the VM).
	for _, ref := range moves.snapshots {
		if s, ok := simulator.Map.Get(ref).(*simulator.VirtualMachineSnapshot); ok {
			simulator.Map.WithLock(s, func() { dsRewriteConfig(&s.Config, moves.remap) })
		}
	}

	if plan.oldHost != plan.newHost {
		dsSetList(simulator.Map.Get(plan.oldHost), vm.Self, false)
	}
	dsSetList(simulator.Map.Get(plan.newHost), vm.Self, true)
	if plan.oldPool != nil && (plan.newPool == nil || *plan.oldPool != *plan.newPool) {
		dsSetList(simulator.Map.Get(*plan.oldPool), vm.Self, false)
	}
	if plan.newPool != nil {
		dsSetList(simulator.Map.Get(*plan.newPool), vm.Self, true)
	}
	for _, ref := range plan.oldStores {
		if !dsContains(newStores, ref) {
			dsSetList(simulator.Map.Get(ref), vm.Self, false)
		}
	}
	for _, ref := range newStores {
		dsSetList(simulator.Map.Get(ref), vm.Self, true)
	}
}

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

// --- MarkAsVirtualMachine ---

func dsMarkAsVirtualMachine(w http.ResponseWriter, r *http.Request, next http.Handler, vm *simulator.VirtualMachine, req *types.MarkAsVirtualMachine) {
	var oldHost types.ManagedObjectReference
	var template bool
	simulator.Map.WithLock(vm, func() {
		if vm.Runtime.Host != nil {
			oldHost = *vm.Runtime.Host
		}
		template = vm.Config != nil && vm.Config.Template
	})
	if !template {
		next.ServeHTTP(w, r) // the stock NotSupported
		return
	}

	fault := func() types.BaseMethodFault {
		if _, ok := simulator.Map.Get(req.Pool).(*simulator.ResourcePool); !ok {
			return dsInvalid("pool")
		}
		owner, ok := dsPoolOwner(req.Pool)
		if !ok {
			return dsInvalid("pool")
		}
		hosts, _ := dsHostsOf(owner)
		if req.Host != nil {
			if !dsContains(hosts, *req.Host) {
				return dsInvalid("host")
			}
			return nil
		}
		host, ok := dsPickHost(hosts, oldHost)
		if !ok {
			return dsInvalid("pool")
		}
		req.Host = &host
		return nil
	}()
	if fault != nil {
		if rejectNotLoggedIn(w, r, next) {
			return
		}
		writeSOAPFault(w, "", fault)
		return
	}

	rec := recordResponse(next, r)
	if rec.Code == http.StatusOK {
		newHost := *req.Host
		simulator.Map.WithLock(vm, func() {
			simulator.Map.Update(vm, []types.PropertyChange{
				{Name: "resourcePool", Val: req.Pool},
				{Name: "runtime.host", Val: newHost},
				{Name: "summary.runtime.host", Val: newHost},
				{Name: "config.template", Val: false},
				{Name: "summary.config.template", Val: false},
			})
		})
		if oldHost != newHost {
			dsSetList(simulator.Map.Get(oldHost), vm.Self, false)
		}
		dsSetList(simulator.Map.Get(newHost), vm.Self, true)
		dsSetList(simulator.Map.Get(req.Pool), vm.Self, true)
	}
	replayResponse(w, rec)
}
