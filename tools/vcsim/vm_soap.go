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

// Plumbing shared by the vm_*.go files, which make vcsim's virtual machine
// and virtual disk methods behave as vSphere does:
//
//   - vmFront, an http.Handler in front of /sdk, hands the SOAP methods named
//     in vmMethods to their vm_*.go handler, which may rewrite the request
//     before the stock server performs it, finish the stock result, or answer
//     a method the simulator lacks. Every other request goes on untouched.
//   - vmRegistryHook, a registry handler, runs the vmTaskHooks of a task
//     (by its descriptionId) when the task starts and when it ends, and the
//     vmPowerHooks when a VM's power state changes. Both run inside the
//     stock call that drives them, in its goroutine, while the stock server
//     holds the lock of the object the call is on (the VM for its methods).
//
// Sub-requests that a handler makes (e.g. powering on a fresh clone) go
// through vmFront's own handlers and then straight to the stock server, not
// through the other engineers' wrappers: for vSphere they are part of one
// call, not calls of their own.

package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// vmMethods maps a vim25 method name (as in the SOAP body, e.g.
// "CloneVM_Task") to its handler. Handlers register from init().
var vmMethods = map[string]func(*vmCall){}

// vmTaskHook runs when a task with its descriptionId (e.g.
// "VirtualMachine.reconfigVm") starts (info.state running) and when it ends
// (success or error), inside the stock call.
type vmTaskHook struct {
	started func(task *mo.Task)
	ended   func(task *mo.Task)
}

var vmTaskHooks = map[string][]vmTaskHook{}

// vmPowerHooks run after a VM's runtime.powerState was updated, inside the
// stock call that changed it (which holds the VM's lock).
var vmPowerHooks []func(vm *simulator.VirtualMachine)

// vmStock is the simulator's own handler, below every wrapper.
var vmStock http.Handler

func init() {
	installers = append(installers, func(_ *simulator.Model, s *simulator.Server) {
		vmStock = s.Config.Handler
		simulator.Map.AddHandler(&vmRegistryHook{})
	})
	handlerWrappers = append(handlerWrappers, func(next http.Handler) http.Handler {
		return &vmFront{next: next}
	})
}

// vmFront serves the methods of vmMethods; everything else goes to next.
type vmFront struct {
	next http.Handler
}

func (f *vmFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isVimSOAP(r) || len(vmMethods) == 0 {
		f.next.ServeHTTP(w, r)
		return
	}
	body, ok := readSOAPBody(w, r)
	if !ok {
		return
	}
	c := &vmCall{front: f, w: w, r: r, body: body}
	if call, ok := scanSOAPCall(body); ok && vmMethods[call.Method] != nil {
		if method, err := decodeSOAPRequest(body); err == nil && vmMethods[method.Name] != nil {
			c.method = method
			vmMethods[method.Name](c)
			return
		}
	}
	c.passThrough()
}

// vmCall is one SOAP request that a vm_*.go handler serves.
type vmCall struct {
	front  *vmFront
	w      http.ResponseWriter
	r      *http.Request
	body   []byte
	method *simulator.Method
}

// request is a copy of the original HTTP request (headers, cookie) with
// the given body.
func (c *vmCall) request(body []byte) *http.Request {
	r := c.r.Clone(c.r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return r
}

// passThrough lets the next handler serve the original request.
func (c *vmCall) passThrough() {
	c.front.next.ServeHTTP(c.w, c.request(c.body))
}

// passOn lets the next handler serve req (a methods.*Body with Req set)
// in place of the original request.
func (c *vmCall) passOn(req interface{}) {
	c.front.next.ServeHTTP(c.w, c.request(encodeSOAPRequest(req)))
}

// forward sends req (a methods.*Body with Req set; nil: the original
// request) to the next handler and returns its answer, unsent.
func (c *vmCall) forward(req interface{}) *httptest.ResponseRecorder {
	body := c.body
	if req != nil {
		body = encodeSOAPRequest(req)
	}
	rec := httptest.NewRecorder()
	c.front.next.ServeHTTP(rec, c.request(body))
	return rec
}

// internal performs req (a methods.*Body with Req set) in the caller's
// session as part of this call: through vmFront's handlers, then the stock
// server, bypassing other wrappers.
func (c *vmCall) internal(req interface{}) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	inner := &vmFront{next: vmStock}
	inner.ServeHTTP(rec, c.request(encodeSOAPRequest(req)))
	return rec
}

// internalTask performs a *_Task method with internal and returns its
// task's outcome: the result, or the fault of the call or of the task.
func (c *vmCall) internalTask(req interface{}) (types.AnyType, types.BaseMethodFault) {
	task, fault := taskOfAnswer(c.internal(req))
	if fault != nil {
		return nil, fault
	}
	return vmTaskOutcome(task)
}

// send copies a recorded answer to the client.
func (c *vmCall) send(rec *httptest.ResponseRecorder) {
	replayResponse(c.w, rec)
}

// stockLacks asks the next handler to perform the original request. When it
// answers MethodNotFound (the caller is logged in and the object exists, but
// the simulator does not have the method), it returns true and the caller
// answers the request itself; otherwise the answer (e.g. NotAuthenticated,
// ManagedObjectNotFound, or the method's result should a wrapper below us
// implement it) has been sent to the client.
func (c *vmCall) stockLacks() bool {
	rec := c.forward(nil)
	if rec.Code == http.StatusInternalServerError &&
		bytes.Contains(rec.Body.Bytes(), []byte("MethodNotFoundFault")) {
		return true
	}
	c.send(rec)
	return false
}

// loggedIn reports whether the request carries a valid session, asking the
// stock server a harmless question (ServiceInstance.CurrentTime) in it.
func (c *vmCall) loggedIn() bool {
	_, ok := soapSessionCheck(c.r, vmStock)
	return ok
}

// replyNotAuthenticated answers as the stock server does to a call without
// a valid session.
func (c *vmCall) replyNotAuthenticated() {
	c.replyFault(&types.NotAuthenticated{NoPermission: types.NoPermission{
		Object: c.method.This, PrivilegeId: "System.View",
	}})
}

// vmRunTask makes a task on obj and runs fn in it now.
func vmRunTask(obj types.ManagedObjectReference, name string,
	fn func() (types.AnyType, types.BaseMethodFault)) types.ManagedObjectReference {
	task := simulator.CreateTask(obj, name, func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return fn()
	})
	return task.Run()
}

// reply answers with a <name xmlns="urn:vim25"> response element holding
// the fields of res (a types.*Response; any struct with a returnval field
// of the right type will do).
func (c *vmCall) reply(name string, res interface{}) {
	writeSOAPResponse(c.w, name, res)
}

// replyFault answers with a SOAP fault whose detail is fault, as vCenter
// does (pyvmomi raises it as vim.fault.<Type>).
func (c *vmCall) replyFault(fault types.BaseMethodFault) {
	writeSOAPFault(c.w, faultMessage(fault), fault)
}

// vmTaskOutcome is the result or fault of a finished task.
func vmTaskOutcome(task *simulator.Task) (result types.AnyType, fault types.BaseMethodFault) {
	simulator.Map.WithLock(task, func() {
		if task.Info.Error != nil {
			fault = task.Info.Error.Fault
			return
		}
		result = task.Info.Result
	})
	return result, fault
}

// vmFailTask turns a task that ended in success into one that failed with
// fault (for work that finishes a stock task after it returned).
func vmFailTask(task *simulator.Task, fault types.BaseMethodFault) {
	simulator.Map.WithLock(task, func() {
		simulator.Map.Update(task, []types.PropertyChange{
			{Name: "info.state", Val: types.TaskInfoStateError},
			{Name: "info.result", Val: nil},
			{Name: "info.error", Val: types.LocalizedMethodFault{
				Fault:            fault,
				LocalizedMessage: faultMessage(fault),
			}},
		})
	})
}

// vmRegistryHook runs vmTaskHooks and vmPowerHooks.
type vmRegistryHook struct{}

func (*vmRegistryHook) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "NovaVmwareExtVmHooks", Value: "vm-hooks"}
}

func (*vmRegistryHook) PutObject(mo.Reference) {}

func (*vmRegistryHook) RemoveObject(types.ManagedObjectReference) {}

func (*vmRegistryHook) UpdateObject(obj mo.Reference, changes []types.PropertyChange) {
	switch o := obj.(type) {
	case *mo.Task:
		for _, change := range changes {
			if change.Name != "info.state" {
				continue
			}
			for _, hook := range vmTaskHooks[o.Info.DescriptionId] {
				switch o.Info.State {
				case types.TaskInfoStateRunning:
					if hook.started != nil {
						hook.started(o)
					}
				case types.TaskInfoStateSuccess, types.TaskInfoStateError:
					if hook.ended != nil {
						hook.ended(o)
					}
				}
			}
		}
	case *mo.VirtualMachine:
		for _, change := range changes {
			if change.Name != "runtime.powerState" {
				continue
			}
			if vm, ok := simulator.Map.Get(o.Self).(*simulator.VirtualMachine); ok {
				for _, hook := range vmPowerHooks {
					hook(vm)
				}
			}
		}
	}
}

// vmTaskState keeps what a started hook saves for the ended hook of the
// same task.
type vmTaskState struct {
	mu sync.Mutex
	m  map[types.ManagedObjectReference]interface{}
}

func (s *vmTaskState) put(task *mo.Task, v interface{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[types.ManagedObjectReference]interface{})
	}
	s.m[task.Self] = v
}

func (s *vmTaskState) take(task *mo.Task) interface{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.m[task.Self]
	delete(s.m, task.Self)
	return v
}

// vmDeepCopy copies v and everything it points to (exported fields; the
// unexported ones, e.g. in time.Time, are copied as they are).
func vmDeepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Ptr:
		if v.IsNil() {
			return v
		}
		n := reflect.New(v.Elem().Type())
		n.Elem().Set(vmDeepCopy(v.Elem()))
		return n
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		n := reflect.New(v.Type()).Elem()
		n.Set(vmDeepCopy(v.Elem()))
		return n
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			n.Index(i).Set(vmDeepCopy(v.Index(i)))
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeMapWithSize(v.Type(), v.Len())
		for _, k := range v.MapKeys() {
			n.SetMapIndex(k, vmDeepCopy(v.MapIndex(k)))
		}
		return n
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		n.Set(v)
		for i := 0; i < v.NumField(); i++ {
			if n.Field(i).CanSet() {
				n.Field(i).Set(vmDeepCopy(v.Field(i)))
			}
		}
		return n
	}
	return v
}

// vmDeepCopyValue is a deep copy of v, of the same type.
func vmDeepCopyValue(v interface{}) interface{} {
	return vmDeepCopy(reflect.ValueOf(v)).Interface()
}

// vmCopyDevices is a deep copy of a device list.
func vmCopyDevices(devices []types.BaseVirtualDevice) []types.BaseVirtualDevice {
	return vmDeepCopy(reflect.ValueOf(devices)).Interface().([]types.BaseVirtualDevice)
}

// vmRandomHex is n random bytes in hex.
func vmRandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		log.Panicf("vm: random: %s", err)
	}
	return hex.EncodeToString(b)
}
