// SOAP requests seen from an http.Handler wrapper (for ds_*.go).
//
// Some vSphere calls can only be completed around the stock handler: the
// simulator type-asserts its own VirtualMachine and FileManager types, so
// they cannot be replaced in the registry. The wrappers of ds_*.go decode
// the few requests they care about and let everything else through
// untouched.

package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// dsSOAPRequest decodes r when it is a SOAP call of one of the named
// methods. The body of r stays readable for the next handler.
func dsSOAPRequest(r *http.Request, names ...string) (*simulator.Method, []byte) {
	if r.Method != http.MethodPost || r.URL.Path != simulator.Map.Path || r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil, nil
	}
	candidate := false
	for _, name := range names {
		if bytes.Contains(body, []byte(name)) {
			candidate = true
			break
		}
	}
	if !candidate {
		return nil, nil
	}
	method, err := simulator.UnmarshalBody(types.TypeFunc(), body)
	if err != nil {
		return nil, nil
	}
	for _, name := range names {
		if method.Name == name {
			return method, body
		}
	}
	return nil, nil
}

// dsSetBody replaces the body of r for the next handler.
func dsSetBody(r *http.Request, body []byte) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
}

// dsRecord serves r with next into a recorder, so a wrapper can finish the
// call before the client sees the response.
func dsRecord(next http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	return rec
}

// dsReplay sends a recorded response.
func dsReplay(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// dsTaskOf returns the task a successful *_Task response names.
func dsTaskOf(rec *httptest.ResponseRecorder) *simulator.Task {
	if rec.Code != http.StatusOK {
		return nil
	}
	dec := xml.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		start, ok := tok.(xml.StartElement)
		if !ok || start.Name.Local != "returnval" {
			continue
		}
		var ref types.ManagedObjectReference
		if err := dec.DecodeElement(&ref, &start); err != nil || ref.Type != "Task" {
			return nil
		}
		task, _ := simulator.Map.Get(ref).(*simulator.Task)
		return task
	}
}

// dsSessionProbe is a call only a logged-in session may make.
const dsSessionProbe = `<?xml version="1.0" encoding="UTF-8"?>` +
	`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">` +
	`<soapenv:Body><CurrentTime xmlns="urn:vim25">` +
	`<_this type="ServiceInstance">ServiceInstance</_this>` +
	`</CurrentTime></soapenv:Body></soapenv:Envelope>`

// dsNotLoggedIn answers r with the stock NotAuthenticated fault and
// returns true when r does not belong to a logged-in session: a wrapper
// must not answer anything else to a stranger.
func dsNotLoggedIn(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
	probe := r.Clone(r.Context())
	probe.Body = io.NopCloser(bytes.NewReader([]byte(dsSessionProbe)))
	probe.ContentLength = int64(len(dsSessionProbe))
	rec := dsRecord(next, probe)
	if rec.Code == http.StatusOK {
		return false
	}
	dsReplay(w, rec)
	return true
}
