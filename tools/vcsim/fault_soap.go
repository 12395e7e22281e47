// The SOAP side of fault injection (fault_inject.go): reading the method and
// _this of a request, and answering it with a fault, a failing task or no
// answer at all.

package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	vimxml "github.com/vmware/govmomi/vim25/xml"
)

var faultServiceInstance = types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}

// faultCall is what rules match on: the method and its target object.
type faultCall struct {
	Method string
	This   types.ManagedObjectReference
}

// faultScanCall reads the method (the first element inside the Body) and the
// _this element of a SOAP request, decoding no more of it than that.
func faultScanCall(body []byte) (*faultCall, bool) {
	d := xml.NewDecoder(bytes.NewReader(body))
	call := new(faultCall)
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && t.Name.Local != "Envelope":
				return nil, false
			case depth == 3 && call.Method == "" && t.Name.Local != "":
				call.Method = t.Name.Local
			case depth == 4 && call.Method != "":
				if t.Name.Local == "_this" {
					for _, a := range t.Attr {
						if a.Name.Local == "type" {
							call.This.Type = a.Value
						}
					}
					var value string
					if err := d.DecodeElement(&value, &t); err != nil {
						return nil, false
					}
					call.This.Value = strings.TrimSpace(value)
				}
				return call, true // _this, when present, comes first
			}
		case xml.EndElement:
			depth--
			if depth == 2 && call.Method != "" {
				return call, true // a method without arguments
			}
		}
	}
}

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

	call, ok := faultScanCall(body)
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
		faultWriteSOAP(w, http.StatusInternalServerError, faultBody(rule.message(), fault))
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

// faultEnvelope is how the stock server and vCenter wrap an answer.
type faultEnvelope struct {
	XMLName vimxml.Name `xml:"soapenv:Envelope"`
	Enc     string      `xml:"xmlns:soapenc,attr"`
	Env     string      `xml:"xmlns:soapenv,attr"`
	XSD     string      `xml:"xmlns:xsd,attr"`
	XSI     string      `xml:"xmlns:xsi,attr"`
	Body    interface{} `xml:"soapenv:Body"`
}

type faultSOAPBody struct {
	Fault *faultSOAPFault
}

type faultSOAPFault struct {
	XMLName vimxml.Name `xml:"soapenv:Fault"`
	Code    string      `xml:"faultcode"`
	String  string      `xml:"faultstring"`
	Detail  struct {
		Fault *faultDetailElem
	} `xml:"detail"`
}

// faultDetailElem is the fault inside <detail>, named TypeFault with an
// xsi:type attribute, the way vCenter sends it.
type faultDetailElem struct {
	Fault types.BaseMethodFault
}

func (d *faultDetailElem) MarshalXML(e *vimxml.Encoder, start vimxml.StartElement) error {
	kind := reflect.TypeOf(d.Fault).Elem().Name()
	start.Name.Local = kind + "Fault"
	start.Attr = append(start.Attr,
		vimxml.Attr{Name: vimxml.Name{Local: "xmlns"}, Value: "urn:" + vim25.Namespace},
		vimxml.Attr{Name: vimxml.Name{Local: "xsi:type"}, Value: kind})
	return e.EncodeElement(d.Fault, start)
}

func faultBody(msg string, fault types.BaseMethodFault) interface{} {
	f := &faultSOAPFault{Code: "ServerFaultCode", String: msg}
	f.Detail.Fault = &faultDetailElem{Fault: fault}
	return faultSOAPBody{Fault: f}
}

// faultResponse is METHODResponse with a managed object reference.
type faultResponse struct {
	XMLName   vimxml.Name
	Xmlns     string                       `xml:"xmlns,attr"`
	Returnval types.ManagedObjectReference `xml:"returnval"`
}

type faultResponseBody struct {
	Res *faultResponse
}

func faultWriteSOAP(w http.ResponseWriter, status int, body interface{}) {
	var out bytes.Buffer
	out.WriteString(vimxml.Header)
	e := vimxml.NewEncoder(&out)
	err := e.Encode(&faultEnvelope{
		Enc:  "http://schemas.xmlsoap.org/soap/encoding/",
		Env:  "http://schemas.xmlsoap.org/soap/envelope/",
		XSD:  "http://www.w3.org/2001/XMLSchema",
		XSI:  "http://www.w3.org/2001/XMLSchema-instance",
		Body: body,
	})
	if err == nil {
		err = e.Flush()
	}
	if err != nil {
		log.Printf("encoding an injected answer: %s", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(out.Bytes())
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
func (f *faultInjector) failTask(w http.ResponseWriter, r *http.Request, next http.Handler, rule *faultRule, call *faultCall) {
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

	faultWriteSOAP(w, http.StatusOK, faultResponseBody{Res: &faultResponse{
		XMLName:   vimxml.Name{Local: call.Method + "Response"},
		Xmlns:     "urn:" + vim25.Namespace,
		Returnval: task.Self,
	}})
}

// faultSessionProbe is a call every valid session may make and no other.
const faultSessionProbe = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">` +
	`<soapenv:Body><CurrentTime xmlns="urn:vim25">` +
	`<_this type="ServiceInstance">ServiceInstance</_this>` +
	`</CurrentTime></soapenv:Body></soapenv:Envelope>`

// faultSessionIsValid asks the stock server whether the session cookie of r is
// logged in: it keeps its sessions to itself.
func faultSessionIsValid(r *http.Request, next http.Handler) bool {
	if _, err := r.Cookie(soap.SessionCookieName); err != nil {
		return false
	}
	probe := r.Clone(r.Context())
	probe.Body = io.NopCloser(strings.NewReader(faultSessionProbe))
	probe.ContentLength = int64(len(faultSessionProbe))
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, probe)
	return rec.Code == http.StatusOK
}
