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

// The storage policy service (PBM, SPBM) at /pbm/sdk, as vCenter serves it.
//
// govmomi's own pbm/simulator provides the service content and the profile
// manager (vCenter 6.7's default policies, PbmCreate, PbmRetrieveContent).
// Its endpoint registers itself at /pbm; vCenter's is /pbm/sdk (where
// pyVmomi and oslo.vmware look). This file serves one PBM registry at
// /pbm/sdk, with the placement solver of pbm_placement.go (which filters
// datastores by a policy's rules: the stock one returns every datastore)
// and the associations of pbm_associations.go; requests to /pbm go to it
// too.
//
// Authentication is vCenter's: a PBM request carries the vim25 session's
// cookie in the SOAP header <vcSessionCookie>, not as an HTTP cookie. The
// front below puts that header's value where the stock server looks for a
// session (the vmware_soap_session cookie) and drops any HTTP cookie the
// request brought, so a client that does not send the header is not logged
// in (NotAuthenticated, except PbmRetrieveServiceContent).

package main

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/vmware/govmomi/pbm"
	pbmsim "github.com/vmware/govmomi/pbm/simulator"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
)

// pbmPath is where vCenter serves PBM.
const pbmPath = "/pbm/sdk"

// pbmRegistry is our PBM service's registry (set by the installer, before
// any client connects).
var pbmRegistry *simulator.Registry

func init() {
	installers = append(installers, pbmInstall)
	handlerWrappers = append(handlerWrappers, pbmFront)
}

func pbmInstall(m *simulator.Model, _ *simulator.Server) {
	r := pbmsim.New()
	r.Path = pbmPath
	stock := r.Get(pbmProfileManagerRef).(*pbmsim.ProfileManager)
	r.Put(&pbmProfileManager{ProfileManager: *stock})
	r.Put(&pbmPlacementSolver{ManagedObjectReference: pbmPlacementSolverRef, registry: r})
	pbmRegistry = r
	m.Service.RegisterSDK(r)
}

// pbmFront sends /pbm requests to /pbm/sdk and authenticates PBM requests
// by their vcSessionCookie header.
func pbmFront(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != pbm.Path && r.URL.Path != pbmPath {
			next.ServeHTTP(w, r)
			return
		}
		body, ok := readSOAPBody(w, r)
		if !ok {
			return
		}
		r = r.Clone(r.Context())
		r.URL.Path = pbmPath
		r.Header.Del("Cookie")
		if cookie := pbmSessionCookie(body); cookie != "" {
			r.AddCookie(&http.Cookie{Name: soap.SessionCookieName, Value: cookie})
		}
		setSOAPBody(r, body)
		next.ServeHTTP(w, r)
	})
}

// pbmSessionCookie is the value of the request's <vcSessionCookie> SOAP
// header ("" if none).
func pbmSessionCookie(body []byte) string {
	var env struct {
		Header struct {
			Cookie string `xml:"vcSessionCookie"`
		} `xml:"Header"`
	}
	if err := xml.NewDecoder(bytes.NewReader(body)).Decode(&env); err != nil {
		return ""
	}
	return strings.TrimSpace(env.Header.Cookie)
}
