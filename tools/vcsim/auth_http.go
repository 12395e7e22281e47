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

// Authentication of the HTTP file endpoints: datastore access (/folder) and,
// through authNFCRequest, the NFC disk transfers of nfc_http.go.
//
// vcsim 0.24.2 serves /folder to anyone. vCenter answers 401 Unauthorized
// (with a Basic challenge) unless the request carries one of:
//   - the vmware_soap_session cookie of a logged-in API session;
//   - HTTP Basic credentials of a user who may log in;
//   - a vmware_cgi_ticket cookie holding a ticket from
//     SessionManager.AcquireGenericServiceTicket, valid once, for the URL
//     and HTTP method it was issued for (this is how Nova's VMware driver
//     and oslo.vmware upload images to a datastore).
//
// The stock AcquireGenericServiceTicket returns a random id that nothing
// remembers; this file records the tickets it hands out, with their
// request spec and session.

package main

import (
	"crypto/subtle"
	"encoding/xml"
	"log"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// authTicketCookie is the cookie carrying a generic service ticket.
const authTicketCookie = "vmware_cgi_ticket"

// authTicketTTL bounds how long an unused ticket stays valid. vSphere
// documents tickets as one-time credentials without giving their lifetime.
const authTicketTTL = 10 * time.Minute

const authFolderPrefix = "/folder"

type authTicket struct {
	method  string // "" (any) or an HTTP method
	url     *url.URL
	session string // key of the session that acquired it
	expires time.Time
}

var authState struct {
	sync.Mutex
	tickets map[string]*authTicket
	user    *url.Userinfo // the credentials Login accepts
}

func init() {
	installers = append(installers, func(m *simulator.Model, _ *simulator.Server) {
		authState.Lock()
		authState.tickets = make(map[string]*authTicket)
		if m.Service.Listen != nil {
			authState.user = m.Service.Listen.User
		}
		authState.Unlock()
	})
	handlerWrappers = append(handlerWrappers, authWrap)
}

// authSessions lists the live sessions of the simulator. The
// SessionManager keeps them in an unexported map; a session's view of the
// SessionManager (what the PropertyCollector reads for sessionList) copies
// them out under the simulator's session lock.
func authSessions() []types.UserSession {
	view := &simulator.Session{Registry: simulator.NewRegistry()}
	ref := simulator.Map.SessionManager().Reference()
	if sm, ok := view.Get(ref).(*simulator.SessionManager); ok {
		return sm.SessionList
	}
	return nil
}

// authSessionByKey returns the live session with the given key.
func authSessionByKey(key string) (types.UserSession, bool) {
	if key == "" {
		return types.UserSession{}, false
	}
	for _, s := range authSessions() {
		if s.Key == key {
			return s, true
		}
	}
	return types.UserSession{}, false
}

// authSession returns the logged-in session named by the request's
// vmware_soap_session cookie.
func authSession(r *http.Request) (types.UserSession, bool) {
	c, err := r.Cookie(soap.SessionCookieName)
	if err != nil {
		return types.UserSession{}, false
	}
	return authSessionByKey(c.Value)
}

// authBasic tells whether the request carries the Basic credentials that
// Login accepts.
func authBasic(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	authState.Lock()
	want := authState.user
	authState.Unlock()
	if want == nil {
		return false
	}
	wantPass, _ := want.Password()
	return subtle.ConstantTimeCompare([]byte(user), []byte(want.Username())) == 1 &&
		subtle.ConstantTimeCompare([]byte(pass), []byte(wantPass)) == 1
}

// authTicketMethods maps SessionManagerHttpServiceRequestSpecMethod values
// to HTTP methods.
var authTicketMethods = map[string]string{
	"httpOptions": http.MethodOptions,
	"httpGet":     http.MethodGet,
	"httpHead":    http.MethodHead,
	"httpPost":    http.MethodPost,
	"httpPut":     http.MethodPut,
	"httpDelete":  http.MethodDelete,
	"httpTrace":   http.MethodTrace,
	"httpConnect": http.MethodConnect,
}

// authSameResource compares the path and query of a ticket's URL with a
// request's (the host is not compared: a ticket names the host it is for,
// and every host of the simulator is this server).
func authSameResource(want *url.URL, got *url.URL) bool {
	if path.Clean(want.Path) != path.Clean(got.Path) {
		return false
	}
	wq, gq := want.Query(), got.Query()
	if len(wq) != len(gq) {
		return false
	}
	for k, v := range wq {
		g := gq[k]
		if len(g) != len(v) {
			return false
		}
		for i := range v {
			if v[i] != g[i] {
				return false
			}
		}
	}
	return true
}

// authUseTicket consumes the generic service ticket of the request's
// vmware_cgi_ticket cookie if it was issued for this URL and method and
// its session is still logged in. A ticket is used up by the first
// request that presents it for its URL, whatever that request's outcome.
func authUseTicket(r *http.Request) (types.UserSession, bool) {
	c, err := r.Cookie(authTicketCookie)
	if err != nil || c.Value == "" {
		return types.UserSession{}, false
	}
	now := time.Now()
	authState.Lock()
	for id, t := range authState.tickets {
		if now.After(t.expires) {
			delete(authState.tickets, id)
		}
	}
	t, ok := authState.tickets[c.Value]
	if ok && (t.method == "" || t.method == r.Method) && authSameResource(t.url, r.URL) {
		delete(authState.tickets, c.Value)
	} else {
		ok = false
	}
	authState.Unlock()
	if !ok {
		return types.UserSession{}, false
	}
	return authSessionByKey(t.session)
}

// authUnauthorized answers as vCenter does for a request without valid
// credentials.
func authUnauthorized(w http.ResponseWriter, r *http.Request) {
	log.Printf("%s %s: 401 Unauthorized (no valid session cookie, ticket or credentials)",
		r.Method, r.URL.Path)
	w.Header().Set("WWW-Authenticate", `Basic realm="VMware HTTP server"`)
	http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
}

func authWrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == authFolderPrefix || strings.HasPrefix(p, authFolderPrefix+"/"):
			if _, ok := authSession(r); ok || authBasic(r) {
				dsServeUpload(next, w, r)
				return
			}
			if _, ok := authUseTicket(r); ok {
				dsServeUpload(next, w, r)
				return
			}
			authUnauthorized(w, r)
		case isVimSOAP(r):
			authServeSDK(next, w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// authServeSDK records the tickets of AcquireGenericServiceTicket calls and
// passes every other SOAP request on untouched.
func authServeSDK(next http.Handler, w http.ResponseWriter, r *http.Request) {
	method, _ := decodeSOAPCall(r, "AcquireGenericServiceTicket")
	if method == nil {
		next.ServeHTTP(w, r)
		return
	}
	req := method.Body.(*types.AcquireGenericServiceTicket)
	session, _ := authSession(r)

	rec := recordResponse(next, r)
	if rec.Code == http.StatusOK && session.Key != "" {
		if id := authTicketID(rec.Body.Bytes()); id != "" {
			authRecordTicket(id, req.Spec, session.Key)
		}
	}
	replayResponse(w, rec)
}

// authTicketID reads the ticket id out of an AcquireGenericServiceTicket
// response.
func authTicketID(response []byte) string {
	var env struct {
		Body struct {
			Response struct {
				Returnval struct {
					ID string `xml:"id"`
				} `xml:"returnval"`
			} `xml:"AcquireGenericServiceTicketResponse"`
		} `xml:"Body"`
	}
	if err := xml.Unmarshal(response, &env); err != nil {
		return ""
	}
	return env.Body.Response.Returnval.ID
}

func authRecordTicket(id string, spec types.BaseSessionManagerServiceRequestSpec, session string) {
	httpSpec, ok := spec.(*types.SessionManagerHttpServiceRequestSpec)
	if !ok {
		return // a ticket for another kind of service: nothing here accepts it
	}
	u, err := url.Parse(httpSpec.Url)
	if err != nil {
		log.Printf("AcquireGenericServiceTicket: bad url %q: %s", httpSpec.Url, err)
		return
	}
	t := &authTicket{url: u, session: session, expires: time.Now().Add(authTicketTTL)}
	if httpSpec.Method != "" {
		m, ok := authTicketMethods[httpSpec.Method]
		if !ok {
			log.Printf("AcquireGenericServiceTicket: unknown method %q", httpSpec.Method)
			return
		}
		t.method = m
	}
	authState.Lock()
	authState.tickets[id] = t
	authState.Unlock()
}

// authNFCRequest returns the session a request to an NFC URL acts for: the
// one of its vmware_soap_session cookie, or the one that acquired the
// generic service ticket of its vmware_cgi_ticket cookie for this URL.
func authNFCRequest(r *http.Request) (types.UserSession, bool) {
	if s, ok := authSession(r); ok {
		return s, true
	}
	return authUseTicket(r)
}
