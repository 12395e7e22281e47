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

// The SOAP side of fault injection (fault_inject.go): answering a call (its
// method and _this from scanSOAPCall) with a fault, a failing task or no
// answer at all.

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

var faultServiceInstance = types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}

// faultIsMethod tells whether name is a vim25 request type (one with _this).
func faultIsMethod(name string) bool {
	t, ok := types.TypeFunc()(name)
	if !ok || t.Kind() != reflect.Struct {
		return false
	}
	f, ok := t.FieldByName("This")
	return ok && f.Type == reflect.TypeOf(types.ManagedObjectReference{})
}

func (f *faultInjector) serveSOAP(w http.ResponseWriter, r *http.Request, next http.Handler) {
	body, ok := readSOAPBody(w, r)
	if !ok {
		return
	}

	call, ok := scanSOAPCall(body)
	if !ok {
		next.ServeHTTP(w, r) // the stock server answers what it cannot decode
		return
	}
	rule := f.arrived(call)
	if rule == nil {
		next.ServeHTTP(w, r)
		return
	}
	log.Printf("fault rule %d: %s %s on %s %s", rule.ID, rule.Action, faultName(rule.Fault), call.Method, call.This.Value)

	if rule.DelayMS > 0 && rule.Action != faultActionTaskError {
		timer := time.NewTimer(time.Duration(rule.DelayMS) * time.Millisecond)
		select {
		case <-timer.C:
		case <-r.Context().Done(): // the client or the server went away
			timer.Stop()
			return
		}
	}

	switch rule.Action {
	case faultActionDelay:
		next.ServeHTTP(w, r)
	case faultActionDrop, faultActionReset:
		faultDropConnection(w, rule.Action == faultActionReset)
	case faultActionFault:
		fault, err := rule.newFault(call.This)
		if err != nil { // checked when the rule was added
			log.Printf("fault rule %d: %s", rule.ID, err)
			fault = &types.SystemError{Reason: err.Error()}
		}
		writeSOAPFault(w, rule.message(), fault)
	case faultActionTaskError:
		f.failTask(w, r, next, rule, call)
	}
}

// message is the faultstring, and the localizedMessage of a task's error.
func (r *faultRule) message() string {
	if r.Message != "" {
		return r.Message
	}
	return "Injected fault: " + faultName(r.Fault)
}

// faultName accepts pyvmomi's spellings too: vim.fault.X, vmodl.fault.X.
func faultName(name string) string {
	return name[strings.LastIndex(name, ".")+1:]
}

func faultStrictJSON(data []byte) *json.Decoder {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec
}

var faultMethodFaultType = reflect.TypeOf((*types.BaseMethodFault)(nil)).Elem()

// newFault makes the rule's fault for a call on this.
func (r *faultRule) newFault(this types.ManagedObjectReference) (types.BaseMethodFault, error) {
	name := faultName(r.Fault)
	t, ok := types.TypeFunc()(name)
	if !ok || t.Kind() != reflect.Struct || !reflect.PtrTo(t).Implements(faultMethodFaultType) {
		return nil, fmt.Errorf("%q is not a vim25 fault type", r.Fault)
	}
	v := reflect.New(t)
	if len(r.FaultFields) > 0 {
		dec := faultStrictJSON(r.FaultFields)
		if err := dec.Decode(v.Interface()); err != nil {
			return nil, fmt.Errorf("fault_fields for %s: %s", name, err)
		}
	}
	faultFillRequired(v.Elem(), this, r.message())
	return v.Interface().(types.BaseMethodFault), nil
}

// faultFillRequired sets the required (not omitempty) fields of a fault
// that are still unset to values a client can deserialize: pyvmomi fails on
// an empty enum value or an object reference without a type.
func faultFillRequired(v reflect.Value, this types.ManagedObjectReference, msg string) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		field, fv := t.Field(i), v.Field(i)
		if field.Anonymous && field.Type.Kind() == reflect.Struct {
			faultFillRequired(fv, this, msg)
			continue
		}
		if !fv.CanSet() || strings.Contains(field.Tag.Get("xml"), "omitempty") {
			continue
		}
		switch p := fv.Addr().Interface().(type) {
		case *types.ManagedObjectReference:
			if p.Type == "" {
				if ref, ok := faultFieldRef(field.Name, this); ok {
					*p = ref
				}
			}
		case *types.LocalizedMethodFault:
			if p.Fault == nil {
				*p = types.LocalizedMethodFault{Fault: &types.SystemError{Reason: msg}, LocalizedMessage: msg}
			}
		case *types.VirtualMachinePowerState:
			if *p == "" {
				*p = faultPowerState(this)
			}
		case *types.FtIssuesOnHostHostSelectionType:
			if *p == "" {
				*p = types.FtIssuesOnHostHostSelectionTypeUser
			}
		case *string:
			if *p == "" && field.Name == "PrivilegeId" {
				*p = "System.View"
			}
		}
	}
}

// faultRefFieldKinds: the type of object each required reference field of the
// vim25 faults names ("": any object). pyvmomi checks it on reading.
var faultRefFieldKinds = map[string]string{
	"Object": "", "Obj": "", "Receiver": "",
	"Entity": "ManagedEntity", "Target": "ManagedEntity",
	"Vm": "VirtualMachine", "PrimaryVm": "VirtualMachine",
	"SecondaryVm": "VirtualMachine", "AlreadyLockedVm": "VirtualMachine",
	"Host": "HostSystem", "FailedHost": "HostSystem",
	"Datastore": "Datastore", "Ds": "Datastore",
	"Task":               "Task",
	"Network":            "Network",
	"ComputeResource":    "ComputeResource",
	"Cs":                 "ComputeResource",
	"ExpectedDatacenter": "Datacenter",
}

// faultSubKinds: the types a client accepts where a reference field wants kind.
var faultSubKinds = map[string][]string{
	"Network":         {"Network", "DistributedVirtualPortgroup", "OpaqueNetwork"},
	"ComputeResource": {"ClusterComputeResource", "ComputeResource"},
}

// faultFieldRef is the reference for a required field: the call's object when
// it is of the right type, else some object of that type.
func faultFieldRef(field string, this types.ManagedObjectReference) (types.ManagedObjectReference, bool) {
	kind, known := faultRefFieldKinds[field]
	if !known {
		return types.ManagedObjectReference{}, false
	}
	content := simulator.Map.Get(faultServiceInstance).(*simulator.ServiceInstance).Content
	switch kind {
	case "":
		return this, true
	case "ManagedEntity":
		if _, ok := simulator.Map.Get(this).(mo.Entity); ok {
			return this, true
		}
		return content.RootFolder, true
	case "Task":
		if this.Type == "Task" {
			return this, true
		}
		if tm, ok := simulator.Map.Get(*content.TaskManager).(*simulator.TaskManager); ok {
			var recent []types.ManagedObjectReference
			simulator.Map.WithLock(tm, func() { recent = tm.RecentTask })
			if len(recent) > 0 {
				return recent[len(recent)-1], true
			}
		}
		return types.ManagedObjectReference{Type: kind}, true
	}
	kinds := faultSubKinds[kind]
	if kinds == nil {
		kinds = []string{kind}
	}
	for _, k := range kinds {
		if this.Type == k {
			return this, true
		}
	}
	for _, k := range kinds {
		var first *types.ManagedObjectReference
		for _, e := range simulator.Map.All(k) {
			ref := e.Reference()
			if first == nil || ref.Value < first.Value {
				first = &ref
			}
		}
		if first != nil {
			return *first, true
		}
	}
	return types.ManagedObjectReference{Type: kind}, true
}

// faultPowerState is the power state of the VM this, poweredOff for another object.
func faultPowerState(this types.ManagedObjectReference) types.VirtualMachinePowerState {
	state := types.VirtualMachinePowerStatePoweredOff
	if vm, ok := simulator.Map.Get(this).(*simulator.VirtualMachine); ok {
		simulator.Map.WithLock(vm, func() { state = vm.Runtime.PowerState })
	}
	return state
}

// faultDropConnection closes the client's connection without an answer: with a
// TLS close (the client reads end of file) or, for reset, with a TCP RST.
func faultDropConnection(w http.ResponseWriter, reset bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // net/http closes the connection
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if reset {
		raw := conn
		if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
			raw = tc.NetConn()
		}
		if tcp, ok := raw.(*net.TCPConn); ok {
			_ = tcp.SetLinger(0) // close sends RST and discards unsent data
			_ = tcp.Close()
			return
		}
	}
	_ = conn.Close()
}

// failTask answers a *_Task call with a new task that fails with the rule's
// fault, without performing the call, once the session is known to be valid
// and the object to exist; otherwise the stock server answers.
func (f *faultInjector) failTask(w http.ResponseWriter, r *http.Request, next http.Handler, rule *faultRule, call *soapCall) {
	entity := simulator.Map.Get(call.This)
	if entity == nil || !faultSessionIsValid(r, next) {
		next.ServeHTTP(w, r) // NotAuthenticated or ManagedObjectNotFound: nothing is performed
		return
	}
	fault, err := rule.newFault(call.This)
	if err != nil {
		log.Printf("fault rule %d: %s", rule.ID, err)
		fault = &types.SystemError{Reason: err.Error()}
	}

	name := strings.TrimSuffix(call.Method, "_Task")
	task := simulator.CreateTask(call.This, name, nil)
	entityName := call.This.Value
	if e, ok := entity.(mo.Entity); ok {
		simulator.Map.WithLock(entity, func() { entityName = e.Entity().Name })
	}
	// Like the stock tasks, which change state inside the call, with the
	// object's lock held (registry hooks may count on it); and with the
	// task's, which property collectors take to read it.
	update := func(changes ...types.PropertyChange) {
		simulator.Map.WithLock(entity, func() {
			simulator.Map.WithLock(task, func() { simulator.Map.Update(task, changes) })
		})
	}
	simulator.Map.WithLock(task, func() {
		task.Info.Name = call.Method
		// vCenter's ids do not follow from the method names; this gets the
		// common ones (VirtualMachine.powerOn, Datacenter.destroy) right.
		id := strings.ToLower(name[:1]) + name[1:]
		if len(id) > 2 {
			id = strings.TrimSuffix(id, "VM")
		}
		task.Info.DescriptionId = call.This.Type + "." + id
		task.Info.EntityName = entityName
	})
	update(
		types.PropertyChange{Name: "info.startTime", Val: time.Now()},
		types.PropertyChange{Name: "info.state", Val: types.TaskInfoStateRunning},
	)
	fail := func() {
		update(
			types.PropertyChange{Name: "info.completeTime", Val: time.Now()},
			types.PropertyChange{Name: "info.state", Val: types.TaskInfoStateError},
			types.PropertyChange{Name: "info.error", Val: types.LocalizedMethodFault{
				Fault: fault, LocalizedMessage: rule.message()}},
		)
	}
	if rule.DelayMS > 0 {
		time.AfterFunc(time.Duration(rule.DelayMS)*time.Millisecond, fail)
	} else {
		fail()
	}

	writeSOAPResponse(w, call.Method+"Response", &taskResponse{Returnval: task.Self})
}

// faultSessionIsValid asks the stock server whether the session cookie of r is
// logged in: it keeps its sessions to itself.
func faultSessionIsValid(r *http.Request, next http.Handler) bool {
	if _, err := r.Cookie(soap.SessionCookieName); err != nil {
		return false
	}
	_, ok := soapSessionCheck(r, next)
	return ok
}
