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

// RelocateVM_Task of a running VM (a vMotion) as vSphere runs it, on
// demand: over time, with progress, and cancelable by CancelTask.
//
// vcsim 0.24.2 performs every relocation inside the call and has no
// CancelTask (MethodNotFound). vSphere:
//
//   - With -vmotion-duration D > 0, relocating a poweredOn VM answers at
//     once with a running, cancelable task whose info.progress rises in
//     ten steps over D; the VM moves at the end, as any relocation does
//     (ds_relocate.go, vm_relocate_spec.go), whose refusals (bad placement,
//     a deviceChange that is not a NIC edit) answer the call itself.
//     Without it (the default) every relocation still ends inside the call.
//   - CancelTask of such a running task ends it in error with
//     RequestCanceled, info.cancelled set; the VM stays where it was.
//     CancelTask of a finished (or already cancelled) task is InvalidState;
//     of a task that is not cancelable (any other running task, and a
//     vMotion in its last step, when the VM switches over) NotSupported.

package main

import (
	"context"
	"flag"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

var vmotionDuration = flag.Duration("vmotion-duration", 0,
	"how long relocating a powered-on VM takes (0: done inside the call); "+
		"while it runs the task reports progress and can be cancelled")

const vmotionSteps = 10

// vmotionRuns holds the running vMotions, by task moid.
var vmotionRuns sync.Map

type vmotionRun struct {
	mu        sync.Mutex
	cancelled bool
	switching bool // last step: no longer cancelable
	cancel    chan struct{}
}

func init() {
	vmMethods["RelocateVM_Task"] = vmRelocate
	vmMethods["CancelTask"] = vmCancelTask
}

func vmRelocate(c *vmCall) {
	req := c.method.Body.(*types.RelocateVM_Task)
	vm, ok := simulator.Map.Get(req.This).(*simulator.VirtualMachine)
	if !ok {
		c.passThrough()
		return
	}
	var on bool
	simulator.Map.WithLock(vm, func() {
		on = vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
	})
	if *vmotionDuration <= 0 || !on || !c.loggedIn() {
		c.passThrough()
		return
	}
	stock := *req
	// What vSphere checks before a vMotion starts (ds_relocate.go's rules)
	// is refused now, not when the task ends.
	if _, fault := dsPlanRelocation(vm, &stock.Spec); fault != nil {
		c.replyFault(fault)
		return
	}
	if i := vmBadRelocateDevice(vm, stock.Spec.DeviceChange); i >= 0 {
		c.replyFault(&types.InvalidDeviceSpec{
			InvalidVmConfig: types.InvalidVmConfig{Property: "spec.deviceChange"},
			DeviceIndex:     int32(i)})
		return
	}
	// The task outlives this request: its sub-requests must not carry the
	// request's context, which ends with the answer.
	later := &vmCall{front: c.front, r: c.r.Clone(context.Background()), body: c.body, method: c.method}
	run := &vmotionRun{cancel: make(chan struct{})}
	task := simulator.CreateTask(vm, "relocateVm", func(t *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		defer vmotionRuns.Delete(t.Self.Value)
		return run.execute(later, t, &stock)
	})
	vmotionUpdateTask(task, types.PropertyChange{Name: "info.cancelable", Val: true})
	vmotionRuns.Store(task.Self.Value, run)
	go task.Run()
	c.reply("RelocateVM_TaskResponse", &taskResponse{Returnval: task.Self})
}

func (run *vmotionRun) execute(c *vmCall, task *simulator.Task, stock *types.RelocateVM_Task) (types.AnyType, types.BaseMethodFault) {
	step := *vmotionDuration / vmotionSteps
	for i := 1; i < vmotionSteps; i++ {
		select {
		case <-run.cancel:
			return nil, vmotionCancelled(task)
		case <-time.After(step):
		}
		vmotionUpdateTask(task, types.PropertyChange{Name: "info.progress", Val: int32(i * 100 / vmotionSteps)})
	}
	run.mu.Lock()
	cancelled := run.cancelled
	run.switching = true
	run.mu.Unlock()
	if cancelled {
		return nil, vmotionCancelled(task)
	}
	vmotionUpdateTask(task, types.PropertyChange{Name: "info.cancelable", Val: false})
	moved, fault := taskOfAnswer(c.forward(&methods.RelocateVM_TaskBody{Req: stock}))
	if fault == nil {
		_, fault = vmTaskOutcome(moved)
	}
	if fault != nil {
		return nil, fault
	}
	vmotionUpdateTask(task, types.PropertyChange{Name: "info.progress", Val: int32(100)})
	return nil, nil
}

// cancelNow asks a running vMotion to stop.
func (run *vmotionRun) cancelNow() types.BaseMethodFault {
	run.mu.Lock()
	defer run.mu.Unlock()
	switch {
	case run.cancelled:
		return &types.InvalidState{}
	case run.switching:
		return &types.NotSupported{}
	}
	run.cancelled = true
	close(run.cancel)
	return nil
}

func vmotionCancelled(task *simulator.Task) types.BaseMethodFault {
	vmotionUpdateTask(task,
		types.PropertyChange{Name: "info.cancelled", Val: true},
		types.PropertyChange{Name: "info.cancelable", Val: false})
	return &types.RequestCanceled{}
}

func vmotionUpdateTask(task *simulator.Task, changes ...types.PropertyChange) {
	simulator.Map.WithLock(task, func() { simulator.Map.Update(task, changes) })
}

func vmCancelTask(c *vmCall) {
	task, ok := simulator.Map.Get(c.method.This).(*simulator.Task)
	if !ok || !c.loggedIn() {
		c.passThrough()
		return
	}
	if v, ok := vmotionRuns.Load(task.Self.Value); ok {
		if fault := v.(*vmotionRun).cancelNow(); fault != nil {
			c.replyFault(fault)
			return
		}
		c.reply("CancelTaskResponse", &types.CancelTaskResponse{})
		return
	}
	var state types.TaskInfoState
	simulator.Map.WithLock(task, func() { state = task.Info.State })
	if state == types.TaskInfoStateSuccess || state == types.TaskInfoStateError {
		c.replyFault(&types.InvalidState{})
		return
	}
	c.replyFault(&types.NotSupported{})
}
