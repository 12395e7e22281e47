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

// SOAP plumbing shared by every file that looks into vim25 requests or
// answers them itself (auth_, ds_, fault_, nfc_, vm_): which requests are
// vim25 SOAP calls, reading a request's body, the method and _this of a
// call, decoding and encoding requests, encoding answers and faults, and
// asking the stock server whether a request's session is logged in.
//
// The method of a call is the first child element of the SOAP Body; a
// SOAP Header before the Body (oslo.vmware's suds clients send
// <operationID> in it) is not part of the call.
package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	vimxml "github.com/vmware/govmomi/vim25/xml"
)

// isVimSOAP reports whether r is a vim25 SOAP call: a POST to /sdk or
// /sdk/vimService (not /pbm or the other endpoints).
func isVimSOAP(r *http.Request) bool {
	p := r.URL.Path
	return r.Method == http.MethodPost && (p == vim25.Path || p == vim25.Path+"/vimService")
}

// soapCall is the head of a SOAP request: its method, its _this and where
// the _this element is in the request.
type soapCall struct {
	Method    string
	This      types.ManagedObjectReference
	thisStart int64 // offsets of the _this element; thisEnd == 0 if none
	thisEnd   int64
}

// scanSOAPCall reads the method (the first element inside the SOAP Body)
// and the _this element of a request, decoding no more of it than that.
func scanSOAPCall(body []byte) (*soapCall, bool) {
	d := xml.NewDecoder(bytes.NewReader(body))
	call := new(soapCall)
	depth := 0
	inBody := false
	for {
		offset := d.InputOffset()
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
			case depth == 2:
				inBody = t.Name.Local == "Body"
			case depth == 3 && inBody && call.Method == "":
				call.Method = t.Name.Local
			case depth == 4 && inBody:
				if t.Name.Local != "_this" {
					return call, true
				}
				for _, a := range t.Attr {
					if a.Name.Local == "type" && a.Name.Space == "" { // not xsi:type
						call.This.Type = a.Value
					}
				}
				var value string
				if err := d.DecodeElement(&value, &t); err != nil {
					return nil, false
				}
				call.This.Value = strings.TrimSpace(value)
				call.thisStart, call.thisEnd = offset, d.InputOffset()
				return call, true // _this, when present, comes first
			}
		case xml.EndElement:
			depth--
			if inBody && depth == 2 && call.Method != "" {
				return call, true // a method without arguments
			}
		}
	}
}

// decodeSOAPRequest decodes a whole vim25 request.
func decodeSOAPRequest(body []byte) (*simulator.Method, error) {
	return simulator.UnmarshalBody(soapTypeFunc, body)
}

// soapTypeFunc resolves vim25 type names, with or without a namespace
// prefix.
func soapTypeFunc(name string) (reflect.Type, bool) {
	if t, ok := types.TypeFunc()(name); ok {
		return t, ok
	}
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return types.TypeFunc()(name[i+1:])
	}
	return nil, false
}

// encodeSOAPRequest is a SOAP request envelope around req, a
// methods.*Body with Req set.
func encodeSOAPRequest(req interface{}) []byte {
	b, err := vimxml.Marshal(soap.Envelope{Body: req})
	if err != nil {
		// Only our own request types are encoded here: a bug.
		log.Panicf("encoding %T: %s", req, err)
	}
	return append([]byte(vimxml.Header), b...)
}

const (
	soapEnvelope = `<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"` +
		` xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"` +
		` xmlns:xsd="http://www.w3.org/2001/XMLSchema"` +
		` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>`
	soapEnvelopeEnd = `</soapenv:Body></soapenv:Envelope>`
)

// writeSOAP answers with status and an envelope around what encode writes.
func writeSOAP(w http.ResponseWriter, status int, encode func(*bytes.Buffer) error) {
	var out bytes.Buffer
	out.WriteString(vimxml.Header + soapEnvelope)
	if err := encode(&out); err != nil {
		log.Printf("encoding a SOAP answer: %s", err)
		http.Error(w, "encoding the answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	out.WriteString(soapEnvelopeEnd)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(out.Bytes())
}

// writeSOAPResponse answers with a <name xmlns="urn:vim25"> response
// element holding the fields of res (a types.*Response; any struct with a
// returnval field of the right type will do).
func writeSOAPResponse(w http.ResponseWriter, name string, res interface{}) {
	writeSOAP(w, http.StatusOK, func(out *bytes.Buffer) error {
		enc := vimxml.NewEncoder(out)
		if err := enc.EncodeElement(res, vimxml.StartElement{Name: vimxml.Name{Space: "urn:" + vim25.Namespace, Local: name}}); err != nil {
			return err
		}
		return enc.Flush()
	})
}

// taskResponse is the answer of any *_Task method.
type taskResponse struct {
	Returnval types.ManagedObjectReference `xml:"returnval"`
}

// writeSOAPFault answers with HTTP 500 and a soapenv:Fault whose detail is
// <TypeFault xmlns="urn:vim25" xsi:type="Type">, as vCenter (and the stock
// simulator) encode faults; pyvmomi raises it as vim.fault.<Type>.
func writeSOAPFault(w http.ResponseWriter, msg string, fault types.BaseMethodFault) {
	writeSOAP(w, http.StatusInternalServerError, func(out *bytes.Buffer) error {
		out.WriteString(`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>`)
		_ = vimxml.EscapeText(out, []byte(msg))
		out.WriteString(`</faultstring><detail>`)
		kind := reflect.TypeOf(fault).Elem().Name()
		enc := vimxml.NewEncoder(out)
		err := enc.EncodeElement(fault, vimxml.StartElement{
			Name: vimxml.Name{Local: kind + "Fault"},
			Attr: []vimxml.Attr{
				{Name: vimxml.Name{Local: "xmlns"}, Value: "urn:" + vim25.Namespace},
				{Name: vimxml.Name{Local: "xsi:type"}, Value: kind},
			},
		})
		if err == nil {
			err = enc.Flush()
		}
		out.WriteString(`</detail></soapenv:Fault>`)
		return err
	})
}

// faultMessage is a short faultstring for fault: its first message, else
// its type name (e.g. "ToolsUnavailable").
func faultMessage(fault types.BaseMethodFault) string {
	if f := fault.GetMethodFault(); f != nil {
		for _, m := range f.FaultMessage {
			if m.Message != "" {
				return m.Message
			}
		}
	}
	return reflect.TypeOf(fault).Elem().Name()
}

// readSOAPBody reads a request's body and puts it back for the next
// handler; on a read error it answers 400 and reports false.
func readSOAPBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := takeBody(r)
	if err != nil {
		log.Printf("reading SOAP request: %s", err)
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

// takeBody reads a request's body and puts what it read back for the next
// handler (which sees the same error, if any, as a short body).
func takeBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	setSOAPBody(r, body)
	return body, err
}

// setSOAPBody replaces the body of r for the next handler.
func setSOAPBody(r *http.Request, body []byte) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	if r.Header.Get("Content-Length") != "" {
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
}

// soapSessionProbe is a call every logged-in session may make and no other.
var soapSessionProbe = encodeSOAPRequest(&methods.CurrentTimeBody{Req: &types.CurrentTime{
	This: types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"},
}})

// soapSessionCheck asks server (the stock one, or a handler in front of
// it) whether the session of r is logged in: the simulator keeps its
// sessions to itself. The recorded answer is the stock NotAuthenticated
// fault when it is not.
func soapSessionCheck(r *http.Request, server http.Handler) (*httptest.ResponseRecorder, bool) {
	probe := r.Clone(r.Context())
	setSOAPBody(probe, soapSessionProbe)
	rec := httptest.NewRecorder()
	server.ServeHTTP(rec, probe)
	return rec, rec.Code == http.StatusOK
}

// replayResponse sends a recorded answer.
func replayResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// decodeSOAPCall decodes r when it is a vim25 call of one of the named
// methods. The body of r stays readable for the next handler.
func decodeSOAPCall(r *http.Request, names ...string) (*simulator.Method, []byte) {
	if !isVimSOAP(r) {
		return nil, nil
	}
	body, err := takeBody(r)
	if err != nil {
		return nil, nil
	}
	call, ok := scanSOAPCall(body)
	if !ok || !soapNamed(call.Method, names) {
		return nil, nil
	}
	method, err := decodeSOAPRequest(body)
	if err != nil || !soapNamed(method.Name, names) {
		return nil, nil
	}
	return method, body
}

func soapNamed(name string, names []string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// recordResponse serves r with next into a recorder, so a wrapper can
// finish the call before the client sees the answer.
func recordResponse(next http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	return rec
}

// rejectNotLoggedIn answers r with the stock NotAuthenticated fault and
// returns true when r does not belong to a logged-in session: a wrapper
// must not answer anything else to a stranger.
func rejectNotLoggedIn(w http.ResponseWriter, r *http.Request, server http.Handler) bool {
	rec, ok := soapSessionCheck(r, server)
	if !ok {
		replayResponse(w, rec)
	}
	return !ok
}

// soapAnswer is a decoded SOAP answer (of the stock server, recorded): a fault, or the returnval of any
// response element.
type soapAnswer struct {
	XMLName vimxml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Body    struct {
		Fault *soap.Fault `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
		Res   struct {
			Returnval types.ManagedObjectReference `xml:"returnval"`
		} `xml:",any"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

// decodeSOAPAnswer decodes a recorded SOAP answer.
func decodeSOAPAnswer(rec *httptest.ResponseRecorder) (*soapAnswer, types.BaseMethodFault) {
	var a soapAnswer
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

// taskOfAnswer is the task a recorded *_Task answer names, or the call's fault.
func taskOfAnswer(rec *httptest.ResponseRecorder) (*simulator.Task, types.BaseMethodFault) {
	a, fault := decodeSOAPAnswer(rec)
	if fault != nil {
		return nil, fault
	}
	task, ok := simulator.Map.Get(a.Body.Res.Returnval).(*simulator.Task)
	if !ok {
		return nil, &types.SystemError{Reason: "vcsim: no task in answer"}
	}
	return task, nil
}
