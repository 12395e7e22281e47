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

// HttpNfcLease as vSphere has it, for ImportVApp (nfc_import.go) and
// ExportVm (nfc_export.go), with the disk transfers of nfc_http.go.
//
// vcsim 0.24.2's lease is born ready, never changes state, ignores the
// leased VM and its timeout, and Complete and Abort only forget it. Here a
// lease:
//   - starts "initializing" without info, and turns "ready" with its info
//     after -nfc-lease-init-delay (clients must wait for ready, as on
//     vSphere);
//   - while held, blocks the operations that would change its VM
//     (VirtualMachine.disabledMethod, enforced by nfc_soap.go);
//   - times out into "error" (Timedout) when HttpNfcLeaseProgress is not
//     called within info.leaseTimeout seconds (-nfc-lease-timeout);
//   - HttpNfcLeaseComplete: "done" and the VM usable again;
//     HttpNfcLeaseAbort (or a time-out): "error" and, for an import, the
//     imported VM and all its files removed;
//   - drives an import/export Task (the one TaskInProgress names);
//   - is a session object (moref session[...]...), invisible to other
//     sessions, like vCenter's.

package main

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

var (
	nfcInitDelay = flag.Duration("nfc-lease-init-delay", 50*time.Millisecond,
		"how long an HttpNfcLease stays 'initializing' before it is 'ready'")
	nfcLeaseTimeout = flag.Duration("nfc-lease-timeout", 300*time.Second,
		"HttpNfcLease info.leaseTimeout: a lease without HttpNfcLeaseProgress for this long times out "+
			"(whole seconds, at least 1s)")
)

// nfcBlockedMethods are the VirtualMachine methods disabled while a lease
// on the VM is held ("operations that alter the state of the virtual
// machines covered by the lease are blocked", vSphere API reference).
var nfcBlockedMethods = []string{
	"PowerOnVM_Task", "ResetVM_Task", "SuspendVM_Task",
	"Destroy_Task", "UnregisterVM",
	"RelocateVM_Task", "MigrateVM_Task", "ReconfigVM_Task",
	"CreateSnapshot_Task", "RevertToCurrentSnapshot_Task", "RemoveAllSnapshots_Task",
	"MarkAsTemplate", "MarkAsVirtualMachine", "UpgradeVM_Task", "Rename_Task",
}

// nfcFile is one file of a lease: a disk (or an ISO image) of the VM.
type nfcFile struct {
	name       string // last element of its URL, e.g. disk-0.vmdk
	key        string // HttpNfcLeaseDeviceUrl.key
	dsPath     string // datastore path, "[LocalDS_0] vm/vm.vmdk"
	local      string // its file on this machine
	disk       bool
	capacityKB int64
}

type nfcLease struct {
	mo.HttpNfcLease // first field: the simulator finds the mo type here

	id      string // the NFC URL path element
	export  bool
	session string // key of the session holding the lease
	vm      types.ManagedObjectReference
	task    *simulator.Task
	files   map[string]*nfcFile
	info    types.HttpNfcLeaseInfo // published when ready
	ctx     simulator.Context      // the creating call's, for clean-ups outside a call

	timer    *time.Timer
	timedOut bool
	over     bool // done or error: no more transfers

	// receiving holds the temporary files of uploads under way (guarded
	// by nfcLeases' lock): an import that fails removes them with its
	// VM, as vCenter does, instead of leaving them to uploads that may
	// still be reading a body the client stopped sending.
	receiving map[string]bool
}

// nfcLeases indexes the leases that are not over, for the NFC URLs and
// the VMs they block. Leaf lock: never held while taking a simulator lock.
var nfcLeases = struct {
	sync.Mutex
	byID map[string]*nfcLease
	byVM map[types.ManagedObjectReference]*nfcLease
}{
	byID: make(map[string]*nfcLease),
	byVM: make(map[types.ManagedObjectReference]*nfcLease),
}

// nfcActive counts the leased VMs, so that nfc_soap.go only looks at
// requests while there is something to block.
var nfcActive int32

func nfcLeaseByID(id string) *nfcLease {
	nfcLeases.Lock()
	defer nfcLeases.Unlock()
	return nfcLeases.byID[id]
}

func nfcLeaseOfVM(vm types.ManagedObjectReference) *nfcLease {
	nfcLeases.Lock()
	defer nfcLeases.Unlock()
	return nfcLeases.byVM[vm]
}

// nfcNewID makes an id like vSphere's lease ids (a UUID starting 52).
func nfcNewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[0] = 0x52
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

func nfcTimeoutSeconds() int32 {
	s := int32(nfcLeaseTimeout.Round(time.Second) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// nfcNewLease makes a lease of the calling session on vm, with the given
// files, and starts it: it turns ready after -nfc-lease-init-delay. The
// caller holds the lock of vm.
func nfcNewLease(ctx *simulator.Context, vm *simulator.VirtualMachine, export bool,
	taskEntity mo.Reference, taskName string, files []*nfcFile, deviceURLs []types.HttpNfcLeaseDeviceUrl) *nfcLease {
	l := &nfcLease{
		id:      nfcNewID(),
		export:  export,
		session: ctx.Session.Key,
		vm:      vm.Self,
		files:   make(map[string]*nfcFile),
		ctx:     *ctx,
	}
	l.ctx.Caller = nil
	for _, f := range files {
		l.files[f.name] = f
	}
	l.Self = types.ManagedObjectReference{Type: "HttpNfcLease"}
	l.State = types.HttpNfcLeaseStateInitializing
	l.Mode = string(types.HttpNfcLeaseModePushOrGet)
	l.Capabilities = types.HttpNfcLeaseCapabilities{PullModeSupported: false, CorsSupported: false}
	ctx.Session.Put(l) // sets Self.Value: session[<key>]<uuid>

	var capacity int64
	for _, f := range files {
		if f.disk {
			capacity += f.capacityKB
		}
	}
	for i := range deviceURLs {
		deviceURLs[i].Url = "https://*/nfc/" + l.id + "/" + deviceURLs[i].Url
		deviceURLs[i].SslThumbprint = nfcThumbprint
	}
	l.info = types.HttpNfcLeaseInfo{
		Lease:                 l.Self,
		Entity:                vm.Self,
		DeviceUrl:             deviceURLs,
		TotalDiskCapacityInKB: capacity,
		LeaseTimeout:          nfcTimeoutSeconds(),
	}

	l.task = simulator.CreateTask(taskEntity, taskName, nil)
	simulator.Map.WithLock(l.task, func() {
		l.task.Info.Reason = &types.TaskReasonUser{UserName: ctx.Session.UserName}
		now := time.Now()
		simulator.Map.Update(l.task, []types.PropertyChange{
			{Name: "info.startTime", Val: now},
			{Name: "info.state", Val: types.TaskInfoStateRunning},
			{Name: "info.progress", Val: int32(0)},
		})
	})

	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "disabledMethod", Val: append(nfcRemoveMethods(vm.DisabledMethod), nfcBlockedMethods...)},
	})

	nfcLeases.Lock()
	nfcLeases.byID[l.id] = l
	nfcLeases.byVM[vm.Self] = l
	atomic.AddInt32(&nfcActive, 1)
	nfcLeases.Unlock()

	ready := func() { simulator.Map.WithLock(l, l.becomeReady) }
	if *nfcInitDelay <= 0 {
		l.becomeReady() // l is not shared yet
	} else {
		time.AfterFunc(*nfcInitDelay, ready)
	}
	return l
}

// nfcRemoveMethods returns list without the methods a lease disables.
func nfcRemoveMethods(list []string) []string {
	var out []string
	for _, m := range list {
		blocked := false
		for _, b := range nfcBlockedMethods {
			if m == b {
				blocked = true
				break
			}
		}
		if !blocked {
			out = append(out, m)
		}
	}
	return out
}

// becomeReady publishes the lease's info; the lease is locked.
func (l *nfcLease) becomeReady() {
	if l.State != types.HttpNfcLeaseStateInitializing {
		return // aborted meanwhile
	}
	simulator.Map.Update(l, []types.PropertyChange{
		{Name: "info", Val: l.info},
		{Name: "initializeProgress", Val: int32(100)},
		{Name: "state", Val: types.HttpNfcLeaseStateReady},
	})
	l.armTimer()
}

// armTimer (re)starts the lease's time-out; the lease is locked.
func (l *nfcLease) armTimer() {
	if l.timer != nil {
		l.timer.Stop()
	}
	l.timer = time.AfterFunc(time.Duration(nfcTimeoutSeconds())*time.Second, func() {
		simulator.Map.WithLock(l, l.expire)
	})
}

// expire ends a lease whose client stopped calling HttpNfcLeaseProgress;
// the lease is locked.
func (l *nfcLease) expire() {
	if l.over {
		return
	}
	log.Printf("HttpNfcLease %s timed out after %ds without progress", l.Self.Value, nfcTimeoutSeconds())
	l.timedOut = true
	ctx := l.ctx
	ctx.Caller = &l.Self
	l.end(&ctx, &types.Timedout{}, "")
}

// end finishes the lease: done when fault is nil, else error with fault
// (and msg, or a message of ours). An import that fails takes its VM and
// files with it. The lease is locked.
func (l *nfcLease) end(ctx *simulator.Context, fault types.BaseMethodFault, msg string) {
	l.over = true
	if l.timer != nil {
		l.timer.Stop()
	}
	nfcLeases.Lock()
	delete(nfcLeases.byID, l.id)
	if nfcLeases.byVM[l.vm] == l {
		delete(nfcLeases.byVM, l.vm)
		atomic.AddInt32(&nfcActive, -1)
	}
	nfcLeases.Unlock()

	vm, _ := simulator.Map.Get(l.vm).(*simulator.VirtualMachine)
	if vm != nil {
		simulator.Map.WithLock(vm, func() {
			var disabled interface{} // unset when empty, as on a fresh VM
			if rest := nfcRemoveMethods(vm.DisabledMethod); len(rest) != 0 {
				disabled = rest
			}
			simulator.Map.Update(vm, []types.PropertyChange{{Name: "disabledMethod", Val: disabled}})
			switch {
			case fault != nil && !l.export:
				l.removeImport(ctx, vm)
			case fault == nil && !l.export:
				vm.RefreshStorageInfo(ctx, nil)
			}
		})
	}

	state := types.HttpNfcLeaseStateDone
	taskState := types.TaskInfoStateSuccess
	var lerr interface{}
	if fault != nil {
		state = types.HttpNfcLeaseStateError
		taskState = types.TaskInfoStateError
		if msg == "" {
			msg = nfcFaultMessage(fault)
		}
		lerr = types.LocalizedMethodFault{Fault: fault, LocalizedMessage: msg}
	}
	simulator.Map.Update(l, []types.PropertyChange{
		{Name: "state", Val: state},
		{Name: "error", Val: lerr},
	})
	simulator.Map.WithLock(l.task, func() {
		changes := []types.PropertyChange{
			{Name: "info.completeTime", Val: time.Now()},
			{Name: "info.state", Val: taskState},
			{Name: "info.error", Val: lerr},
		}
		if fault == nil {
			changes = append(changes, types.PropertyChange{Name: "info.progress", Val: int32(100)})
			if !l.export {
				changes = append(changes, types.PropertyChange{Name: "info.result", Val: l.vm})
			}
		}
		simulator.Map.Update(l.task, changes)
	})
}

func nfcFaultMessage(fault types.BaseMethodFault) string {
	switch fault.(type) {
	case *types.Timedout:
		return "Operation timed out."
	case *types.RequestCanceled:
		return "The task was canceled by a user."
	}
	name := fmt.Sprintf("%T", fault)
	return strings.TrimPrefix(name, "*types.")
}

// removeImport deletes the VM an import created, with its disks wherever
// they are; the VM is locked.
func (l *nfcLease) removeImport(ctx *simulator.Context, vm *simulator.VirtualMachine) {
	var names []string
	for _, f := range l.files {
		names = append(names, f.local)
		if strings.HasSuffix(f.local, ".vmdk") {
			names = append(names, strings.TrimSuffix(f.local, ".vmdk")+"-flat.vmdk")
		}
	}
	nfcLeases.Lock()
	for name := range l.receiving {
		names = append(names, name)
	}
	nfcLeases.Unlock()
	res := vm.DestroyTask(ctx, &types.Destroy_Task{This: vm.Self})
	if task, ok := simulator.Map.Get(res.(*methods.Destroy_TaskBody).Res.Returnval).(*simulator.Task); ok {
		if task.Info.Error != nil {
			log.Printf("removing imported VM %s: %#v", vm.Self.Value, task.Info.Error.Fault)
		}
	}
	for _, name := range names {
		if err := os.Remove(name); err != nil && !os.IsNotExist(err) {
			log.Printf("removing imported file %s: %s", name, err)
		}
	}
}

// leaseFault answers the lease methods on a lease that is not ready.
func (l *nfcLease) leaseFault() *soap.Fault {
	if l.timedOut {
		return simulator.Fault("The lease has timed out.", &types.Timedout{})
	}
	return simulator.Fault(fmt.Sprintf("The lease is in state %s.", l.State), &types.InvalidState{})
}

// mine tells whether the calling session holds the lease: leases are
// session objects, but the simulator falls back to its global registry.
func (l *nfcLease) mine(ctx *simulator.Context) bool {
	return ctx.Session != nil && ctx.Session.Key == l.session
}

func (l *nfcLease) notFound() *soap.Fault {
	return simulator.Fault("The object has already been deleted or has not been completely created",
		&types.ManagedObjectNotFound{Obj: l.Self})
}

func (l *nfcLease) HttpNfcLeaseComplete(ctx *simulator.Context, req *types.HttpNfcLeaseComplete) soap.HasFault {
	body := new(methods.HttpNfcLeaseCompleteBody)
	switch {
	case !l.mine(ctx):
		body.Fault_ = l.notFound()
	case l.State != types.HttpNfcLeaseStateReady:
		body.Fault_ = l.leaseFault()
	default:
		l.end(ctx, nil, "")
		body.Res = new(types.HttpNfcLeaseCompleteResponse)
	}
	return body
}

func (l *nfcLease) HttpNfcLeaseAbort(ctx *simulator.Context, req *types.HttpNfcLeaseAbort) soap.HasFault {
	body := new(methods.HttpNfcLeaseAbortBody)
	switch {
	case !l.mine(ctx):
		body.Fault_ = l.notFound()
	case l.over:
		body.Fault_ = l.leaseFault()
	default:
		var fault types.BaseMethodFault = &types.RequestCanceled{}
		msg := ""
		if req.Fault != nil && req.Fault.Fault != nil {
			fault, msg = req.Fault.Fault, req.Fault.LocalizedMessage
		}
		l.end(ctx, fault, msg)
		body.Res = new(types.HttpNfcLeaseAbortResponse)
	}
	return body
}

func (l *nfcLease) HttpNfcLeaseProgress(ctx *simulator.Context, req *types.HttpNfcLeaseProgress) soap.HasFault {
	body := new(methods.HttpNfcLeaseProgressBody)
	switch {
	case !l.mine(ctx):
		body.Fault_ = l.notFound()
	case l.over:
		body.Fault_ = l.leaseFault()
	default:
		percent := req.Percent
		if percent < 0 {
			percent = 0
		} else if percent > 100 {
			percent = 100
		}
		simulator.Map.Update(l, []types.PropertyChange{{Name: "transferProgress", Val: percent}})
		simulator.Map.WithLock(l.task, func() {
			simulator.Map.Update(l.task, []types.PropertyChange{{Name: "info.progress", Val: percent}})
		})
		if l.State == types.HttpNfcLeaseStateReady {
			l.armTimer()
		}
		body.Res = new(types.HttpNfcLeaseProgressResponse)
	}
	return body
}

// HttpNfcLeaseGetManifest lists the SHA-1 of each file of an export.
func (l *nfcLease) HttpNfcLeaseGetManifest(ctx *simulator.Context, req *types.HttpNfcLeaseGetManifest) soap.HasFault {
	body := new(methods.HttpNfcLeaseGetManifestBody)
	switch {
	case !l.mine(ctx):
		body.Fault_ = l.notFound()
		return body
	case l.State != types.HttpNfcLeaseStateReady:
		body.Fault_ = l.leaseFault()
		return body
	case !l.export:
		body.Fault_ = simulator.Fault("A manifest is only available for an export.", &types.InvalidState{})
		return body
	}
	res := new(types.HttpNfcLeaseGetManifestResponse)
	for _, u := range l.info.DeviceUrl {
		f := l.files[u.TargetId]
		if f == nil {
			continue
		}
		sum, size, err := nfcSHA1(f.local)
		if err != nil {
			body.Fault_ = simulator.Fault(err.Error(), &types.FileFault{File: f.dsPath})
			return body
		}
		res.Returnval = append(res.Returnval, types.HttpNfcLeaseManifestEntry{
			Key:      u.Key,
			Sha1:     sum,
			Size:     size,
			Disk:     f.disk,
			Capacity: f.capacityKB * 1024,
		})
	}
	body.Res = res
	return body
}

func nfcSHA1(name string) (string, int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha1.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
