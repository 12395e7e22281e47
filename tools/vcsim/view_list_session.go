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

// ListView.ModifyListView with the session's own objects.
//
// vCenter lets a ListView hold any object the session can see, its
// HttpNfcLeases among them (a client watches leases through one filter on
// a ListView). vcsim 0.24.2 looks the added objects up in the global
// registry only, so a lease (a session object) is ManagedObjectNotFound.
// As nfc_soap.go does for ImportVApp, the wrapper below sends
// ModifyListView to an object of ours, which looks objects up as the
// property collector does (pcLookup: the session first) and changes the
// view like the stock method.

package main

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type listViewRouter struct {
	mo.ExtensibleManagedObject // first field: registry objects must embed an mo type

	target types.ManagedObjectReference // the ListView of the call being served
}

var (
	listViewRouterRef = types.ManagedObjectReference{Type: "ListViewRouter", Value: "list-view-router"}
	listViewTheRouter = &listViewRouter{
		ExtensibleManagedObject: mo.ExtensibleManagedObject{Self: listViewRouterRef}}
	listViewRouterMu sync.Mutex // held around each routed call
)

func init() {
	installers = append(installers, func(*simulator.Model, *simulator.Server) {
		simulator.Map.Put(listViewTheRouter)
	})
	handlerWrappers = append(handlerWrappers, listViewWrapSDK)
}

func listViewWrapSDK(next http.Handler) http.Handler {
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
		if !ok || call.thisEnd == 0 || call.Method != "ModifyListView" {
			next.ServeHTTP(w, r)
			return
		}
		if _, ok := authSession(r); !ok {
			next.ServeHTTP(w, r) // the simulator answers NotAuthenticated
			return
		}
		routed := make([]byte, 0, len(body)+32)
		routed = append(routed, body[:call.thisStart]...)
		routed = append(routed, fmt.Sprintf(`<_this type="%s">%s</_this>`,
			listViewRouterRef.Type, listViewRouterRef.Value)...)
		routed = append(routed, body[call.thisEnd:]...)
		setSOAPBody(r, routed)

		listViewRouterMu.Lock()
		defer listViewRouterMu.Unlock()
		listViewTheRouter.target = call.This
		next.ServeHTTP(w, r)
	})
}

// ModifyListView removes, then adds, as the stock method; objects are
// looked up in the session first. The wrapper holds listViewRouterMu.
func (l *listViewRouter) ModifyListView(ctx *simulator.Context, req *types.ModifyListView) soap.HasFault {
	body := new(methods.ModifyListViewBody)
	view, ok := pcLookup(ctx, l.target).(*simulator.ListView)
	if !ok {
		body.Fault_ = simulator.Fault("", &types.ManagedObjectNotFound{Obj: l.target})
		return body
	}
	for _, ref := range req.Add {
		if pcLookup(ctx, ref) == nil {
			body.Fault_ = simulator.Fault("", &types.ManagedObjectNotFound{Obj: ref})
			return body
		}
	}
	for _, ref := range req.Remove {
		simulator.RemoveReference(&view.View, ref)
	}
	view.View = append(view.View, req.Add...)
	body.Res = new(types.ModifyListViewResponse)
	if len(req.Remove) != 0 || len(req.Add) != 0 {
		simulator.Map.Update(view, []types.PropertyChange{{Name: "view", Val: view.View}})
	}
	return body
}
