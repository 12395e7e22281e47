// The SOAP side of the NFC leases: it sends ResourcePool.ImportVApp and
// VirtualMachine.ExportVm to our implementations, and refuses the methods
// a lease disables on its VM.
//
// The simulator dispatches a call to the object named by its _this, and
// its VMs and resource pools cannot be replaced by our types. So the
// wrapper below rewrites the _this of these two calls to nfcRouter, an
// object of ours in the registry, and passes the call on to the stock
// dispatcher, which checks the session, locks the router and calls the
// router's method with the caller's real Context. The router serves the
// calls one at a time and finds the original target in nfcRouter.target.

package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type nfcRouter struct {
	mo.ExtensibleManagedObject // first field: registry objects must embed an mo type

	target types.ManagedObjectReference // the _this of the call being served
}

var (
	nfcRouterRef = types.ManagedObjectReference{Type: "NfcRouter", Value: "nfc-router"}
	nfcTheRouter = &nfcRouter{ExtensibleManagedObject: mo.ExtensibleManagedObject{Self: nfcRouterRef}}
	nfcRouterMu  sync.Mutex // held around each routed call
)

// nfcRoutedMethods are the calls the router serves.
var nfcRoutedMethods = map[string]bool{"ImportVApp": true, "ExportVm": true}

func init() {
	installers = append(installers, func(*simulator.Model, *simulator.Server) {
		simulator.Map.Put(nfcTheRouter)
	})
	handlerWrappers = append(handlerWrappers, nfcWrapSDK)
}

// nfcCall is the head of a SOAP request: its method, its _this and where
// the _this element is in the request.
type nfcCall struct {
	method    string
	this      types.ManagedObjectReference
	thisStart int64 // offsets of the _this element; thisEnd == 0 if none
	thisEnd   int64
}

// nfcScanCall reads the method and _this of a SOAP request without
// decoding the rest of it.
func nfcScanCall(body []byte) (*nfcCall, bool) {
	d := xml.NewDecoder(bytes.NewReader(body))
	call := new(nfcCall)
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
			case depth == 2 && t.Name.Local == "Body":
				inBody = true
			case depth == 3 && inBody:
				call.method = t.Name.Local
			case depth == 4 && inBody:
				if t.Name.Local != "_this" {
					return call, true
				}
				for _, a := range t.Attr {
					if a.Name.Local == "type" && a.Name.Space == "" { // not xsi:type
						call.this.Type = a.Value
					}
				}
				var value string
				if err := d.DecodeElement(&value, &t); err != nil {
					return nil, false
				}
				call.this.Value = strings.TrimSpace(value)
				call.thisStart, call.thisEnd = offset, d.InputOffset()
				return call, true
			}
		case xml.EndElement:
			depth--
			if inBody && depth == 2 && call.method != "" {
				return call, true
			}
		}
	}
}

func nfcWrapSDK(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !authIsSDK(r) {
			next.ServeHTTP(w, r)
			return
		}
		body, ok := readSOAPBody(w, r)
		if !ok {
			return
		}

		routed := bytes.Contains(body, []byte("ImportVApp")) || bytes.Contains(body, []byte("ExportVm"))
		if !routed && atomic.LoadInt32(&nfcActive) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		call, ok := nfcScanCall(body)
		if !ok || call.thisEnd == 0 {
			next.ServeHTTP(w, r)
			return
		}

		if nfcRoutedMethods[call.method] {
			if _, ok := authSession(r); !ok {
				next.ServeHTTP(w, r) // the simulator answers NotAuthenticated
				return
			}
			routedBody := make([]byte, 0, len(body)+32)
			routedBody = append(routedBody, body[:call.thisStart]...)
			routedBody = append(routedBody, fmt.Sprintf(`<_this type="%s">%s</_this>`,
				nfcRouterRef.Type, nfcRouterRef.Value)...)
			routedBody = append(routedBody, body[call.thisEnd:]...)
			r.Body = io.NopCloser(bytes.NewReader(routedBody))
			r.ContentLength = int64(len(routedBody))
			r.Header.Set("Content-Length", strconv.Itoa(len(routedBody)))

			nfcRouterMu.Lock()
			defer nfcRouterMu.Unlock()
			nfcTheRouter.target = call.this
			next.ServeHTTP(w, r)
			return
		}

		if call.this.Type == "VirtualMachine" && nfcLeaseOfVM(call.this) != nil {
			for _, m := range nfcBlockedMethods {
				if m == call.method {
					if _, ok := authSession(r); !ok {
						break // not authenticated: the simulator says so
					}
					msg := fmt.Sprintf("The method is disabled by '%s'", nfcDisabledSource)
					writeSOAPFault(w, msg, &types.MethodDisabled{Source: nfcDisabledSource})
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// nfcDisabledSource is MethodDisabled.source for the methods a lease
// blocks.
const nfcDisabledSource = "HttpNfcLease"

// ImportVApp serves ResourcePool.ImportVApp and VirtualApp.ImportVApp. The
// wrapper holds nfcRouterMu and has set r.target.
func (r *nfcRouter) ImportVApp(ctx *simulator.Context, req *types.ImportVApp) soap.HasFault {
	req.This = r.target
	return nfcImportVApp(ctx, req)
}

// ExportVm serves VirtualMachine.ExportVm, like ImportVApp.
func (r *nfcRouter) ExportVm(ctx *simulator.Context, req *types.ExportVm) soap.HasFault {
	req.This = r.target
	return nfcExportVM(ctx, req)
}

// nfcNotFound is the simulator's answer for a reference to no object.
func nfcNotFound(ref types.ManagedObjectReference) *soap.Fault {
	return simulator.Fault(fmt.Sprintf("managed object not found: %s", ref),
		&types.ManagedObjectNotFound{Obj: ref})
}
