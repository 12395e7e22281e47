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
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	vimxml "github.com/vmware/govmomi/vim25/xml"
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

// vmSDKPath reports whether path is one of the simulator's vim25 endpoints.
func vmSDKPath(path string) bool {
	return path == "/sdk" || path == "/sdk/vimService"
}

func (f *vmFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !vmSDKPath(r.URL.Path) || len(vmMethods) == 0 {
		f.next.ServeHTTP(w, r)
		return
	}
	body, ok := readSOAPBody(w, r)
	if !ok {
		return
	}
	c := &vmCall{front: f, w: w, r: r, body: body}
	if vmMayHandle(body) {
		method, err := simulator.UnmarshalBody(vmTypeFunc, body)
		if err == nil {
			if h, ok := vmMethods[method.Name]; ok {
				c.method = method
				h(c)
				return
			}
		}
	}
	c.passThrough()
}

// vmMayHandle is a cheap test whether body may call one of vmMethods, so
// that other requests are not decoded twice.
func vmMayHandle(body []byte) bool {
	head := body
	if i := bytes.Index(head, []byte("Body")); i >= 0 {
		head = head[i:]
	}
	if len(head) > 512 {
		head = head[:512]
	}
	for name := range vmMethods {
		if bytes.Contains(head, []byte(name)) {
			return true
		}
	}
	return false
}

// vmTypeFunc resolves vim25 type names, with or without a namespace prefix.
func vmTypeFunc(name string) (reflect.Type, bool) {
	if t, ok := types.TypeFunc()(name); ok {
		return t, ok
	}
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return types.TypeFunc()(name[i+1:])
	}
	return nil, false
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
	c.front.next.ServeHTTP(c.w, c.request(vmEncodeRequest(req)))
}

// forward sends req (a methods.*Body with Req set; nil: the original
// request) to the next handler and returns its answer, unsent.
func (c *vmCall) forward(req interface{}) *httptest.ResponseRecorder {
	body := c.body
	if req != nil {
		body = vmEncodeRequest(req)
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
	inner.ServeHTTP(rec, c.request(vmEncodeRequest(req)))
	return rec
}

// internalTask performs a *_Task method with internal and returns its
// task's outcome: the result, or the fault of the call or of the task.
func (c *vmCall) internalTask(req interface{}) (types.AnyType, types.BaseMethodFault) {
	task, fault := vmTaskOf(c.internal(req))
	if fault != nil {
		return nil, fault
	}
	return vmTaskOutcome(task)
}

// send copies a recorded answer to the client.
func (c *vmCall) send(rec *httptest.ResponseRecorder) {
	h := c.w.Header()
	for k, v := range rec.Header() {
		h[k] = v
	}
	c.w.WriteHeader(rec.Code)
	_, _ = c.w.Write(rec.Body.Bytes())
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
	req := &methods.CurrentTimeBody{Req: &types.CurrentTime{
		This: types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"},
	}}
	rec := httptest.NewRecorder()
	vmStock.ServeHTTP(rec, c.request(vmEncodeRequest(req)))
	return rec.Code == http.StatusOK
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

// vmTaskResponse is the answer of any *_Task method.
type vmTaskResponse struct {
	Returnval types.ManagedObjectReference `xml:"returnval"`
}

const (
	vmSoapEnvNS = "http://schemas.xmlsoap.org/soap/envelope/"
	vmEnvelope  = `<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"` +
		` xmlns:soapenv="` + vmSoapEnvNS + `"` +
		` xmlns:xsd="http://www.w3.org/2001/XMLSchema"` +
		` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>`
	vmEnvelopeEnd = `</soapenv:Body></soapenv:Envelope>`
)

// reply answers with a <name xmlns="urn:vim25"> response element holding
// the fields of res (a types.*Response; any struct with a returnval field
// of the right type will do).
func (c *vmCall) reply(name string, res interface{}) {
	var out bytes.Buffer
	out.WriteString(vimxml.Header + vmEnvelope)
	enc := vimxml.NewEncoder(&out)
	err := enc.EncodeElement(res, vimxml.StartElement{Name: vimxml.Name{Space: "urn:vim25", Local: name}})
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		log.Printf("vm: encoding %s: %s", name, err)
		c.w.WriteHeader(http.StatusInternalServerError)
		return
	}
	out.WriteString(vmEnvelopeEnd)
	c.w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(out.Bytes())
}

// replyFault answers with a SOAP fault whose detail is fault, as vCenter
// does (pyvmomi raises it as vim.fault.<Type>).
func (c *vmCall) replyFault(fault types.BaseMethodFault) {
	writeSOAPFault(c.w, vmFaultMessage(fault), fault)
}

// vmFaultMessage is a short faultstring, e.g. "ToolsUnavailable".
func vmFaultMessage(fault types.BaseMethodFault) string {
	msg := reflect.TypeOf(fault).Elem().Name()
	if f := fault.GetMethodFault(); f != nil {
		for _, m := range f.FaultMessage {
			if m.Message != "" {
				return m.Message
			}
		}
	}
	return msg
}

// vmEncodeRequest is a SOAP request envelope around req, a methods.*Body.
func vmEncodeRequest(req interface{}) []byte {
	b, err := vimxml.Marshal(soap.Envelope{Body: req})
	if err != nil {
		// Only our own request types are encoded here: a bug.
		log.Panicf("vm: encoding %T: %s", req, err)
	}
	return append([]byte(vimxml.Header), b...)
}

// vmAnswer is a decoded SOAP answer: a fault, or the returnval of any
// response element.
type vmAnswer struct {
	XMLName vimxml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Body    struct {
		Fault *soap.Fault `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
		Res   struct {
			Returnval types.ManagedObjectReference `xml:"returnval"`
		} `xml:",any"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

// vmDecodeAnswer decodes a recorded SOAP answer.
func vmDecodeAnswer(rec *httptest.ResponseRecorder) (*vmAnswer, types.BaseMethodFault) {
	var a vmAnswer
	dec := vimxml.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.TypeFunc = types.TypeFunc()
	if err := dec.Decode(&a); err != nil {
		return nil, &types.SystemError{Reason: "vcsim: undecodable answer: " + err.Error()}
	}
	if f := a.Body.Fault; f != nil {
		if mf, ok := f.VimFault().(types.BaseMethodFault); ok {
			return &a, mf
		}
		return &a, &types.SystemError{Reason: f.String}
	}
	return &a, nil
}

// vmTaskOf is the task a recorded *_Task answer names, or the call's fault.
func vmTaskOf(rec *httptest.ResponseRecorder) (*simulator.Task, types.BaseMethodFault) {
	a, fault := vmDecodeAnswer(rec)
	if fault != nil {
		return nil, fault
	}
	task, ok := simulator.Map.Get(a.Body.Res.Returnval).(*simulator.Task)
	if !ok {
		return nil, &types.SystemError{Reason: "vcsim: no task in answer"}
	}
	return task, nil
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
				LocalizedMessage: vmFaultMessage(fault),
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
