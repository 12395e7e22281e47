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
	"fmt"
	"net/http"
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

func nfcWrapSDK(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isVimSOAP(r) {
			next.ServeHTTP(w, r)
			return
		}
		body, ok := readSOAPBody(w, r)
		if !ok {
			return
		}

		call, ok := scanSOAPCall(body)
		if !ok || call.thisEnd == 0 || (!nfcRoutedMethods[call.Method] && atomic.LoadInt32(&nfcActive) == 0) {
			next.ServeHTTP(w, r)
			return
		}

		if nfcRoutedMethods[call.Method] {
			if _, ok := authSession(r); !ok {
				next.ServeHTTP(w, r) // the simulator answers NotAuthenticated
				return
			}
			routedBody := make([]byte, 0, len(body)+32)
			routedBody = append(routedBody, body[:call.thisStart]...)
			routedBody = append(routedBody, fmt.Sprintf(`<_this type="%s">%s</_this>`,
				nfcRouterRef.Type, nfcRouterRef.Value)...)
			routedBody = append(routedBody, body[call.thisEnd:]...)
			setSOAPBody(r, routedBody)

			nfcRouterMu.Lock()
			defer nfcRouterMu.Unlock()
			nfcTheRouter.target = call.This
			next.ServeHTTP(w, r)
			return
		}

		if call.This.Type == "VirtualMachine" && nfcLeaseOfVM(call.This) != nil {
			for _, m := range nfcBlockedMethods {
				if m == call.Method {
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
