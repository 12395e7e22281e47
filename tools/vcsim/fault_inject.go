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

// Fault injection: a control endpoint that makes chosen SOAP calls fail the
// way a real vCenter or network can, and counts the SOAP calls served.
//
// Enabled by -control-token-file PATH: a random token is written there (mode
// 0600) before VCSIM_URL is announced, and every request under /_control/
// must carry it as "Authorization: Bearer TOKEN" (401 without it, 403 with a
// wrong one or from a non-loopback address). No vSphere session is needed.
//
//	POST   /_control/faults       add a rule (JSON below); 201 with the rule
//	GET    /_control/faults       {"rules": [rule...]}, in matching order
//	DELETE /_control/faults       remove all rules: {"removed": N}
//	DELETE /_control/faults/ID    remove one rule: {"removed": 1}, or 404
//	GET    /_control/calls        {"total": N, "methods": {"Login": 1, ...}}
//	DELETE /_control/calls        reset the counts; answers the old ones
//
// A rule:
//
//	{"method": "PowerOnVM_Task",   vim25 SOAP method, or "*" for all of them
//	 "action": "fault",            fault | delay | drop | reset | task_error
//	 "fault": "InvalidPowerState", vim25 fault type (fault, task_error)
//	 "message": "...",             faultstring / localizedMessage (optional)
//	 "fault_fields": {...},        fields of the fault (optional, see below)
//	 "count": 2,                   calls to hit (default 1; -1: until removed)
//	 "delay_ms": 1500,             see the actions
//	 "moid": "vm-42"}              only calls whose _this has this value
//
// Answers to POST and GET add "id", "remaining" (-1: unlimited) and "hits".
//
// Each SOAP request to /sdk is matched as it arrives (method: the first
// element inside the SOAP Body; object: its _this element) against the rules
// in the order they were added. The first matching rule is used up by one
// and applied; a rule is removed once its count is used up. Actions:
//
//	fault       answer HTTP 500 with a SOAP fault of that type, as vCenter
//	            does (pyvmomi raises vim.fault.X / vmodl.fault.X); the call
//	            is not performed. delay_ms, if given, waits first.
//	delay       wait delay_ms (required), then serve the call normally.
//	drop        close the connection without any response (the client sees
//	            the remote end close: http.client.RemoteDisconnected).
//	reset       abort the TCP connection with a RST (Python's ssl module
//	            reports it as end of file too: RemoteDisconnected).
//	task_error  for *_Task methods: answer with a new Task for the call's
//	            object that ends in state error with that fault; the
//	            operation is not performed. With delay_ms the task stays
//	            running that long before it fails. A call without a valid
//	            session, or on an unknown object, is answered by the stock
//	            server instead (NotAuthenticated, ManagedObjectNotFound);
//	            the rule is used up all the same.
//
// A bad rule (unknown method, fault type, action or fault field; task_error
// on a method that is not *_Task; delay without delay_ms) is refused with
// 400 {"error": "..."}. The injector is the outermost handler wrapper, so
// it sees each request before the other files' wrappers.
//
// fault_fields is decoded into the govmomi type of the fault with Go's JSON
// rules (field names match case-insensitively, e.g. {"file": "[ds] x.vmdk"}
// or {"existingState": "poweredOn"}; a managed object reference is
// {"type": "VirtualMachine", "value": "vm-42"}); unknown fields are refused.
// Required fields left unset get values pyvmomi can deserialize: an object
// reference names the call's _this object when it is of the type the field
// wants, else one of that type (the newest task for TaskInProgress.task);
// NoPermission.privilegeId is System.View; a power state is the VM's
// current one; a nested fault is a SystemError.
//
// The call counts include calls answered by a rule; requests to /_control/
// and non-SOAP requests (/folder, /nfc, ...) are neither counted nor matched.

package main

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
)

var faultControlTokenFile = flag.String("control-token-file", "",
	"enable the fault injection endpoint /_control/ and write its bearer token to this file")

const faultControlPrefix = "/_control/"

func init() {
	modelSetups = append(modelSetups, faultWriteControlToken)
	// Installers run before the handler wrappers are applied: registering
	// the wrapper from an installer puts it after every wrapper registered
	// from init(), so it is the outermost one and sees every request
	// first, whichever file names the other wrappers have.
	installers = append(installers, func(*simulator.Model, *simulator.Server) {
		if faultCtl.token != "" {
			handlerWrappers = append(handlerWrappers, faultCtl.wrap)
		}
	})
}

// faultCtl is the one injector of this process.
var faultCtl = &faultInjector{calls: make(map[string]int)}

// faultWriteControlToken makes the token and writes it before the inventory is
// made, where an error can still stop the start-up cleanly.
func faultWriteControlToken(*simulator.Model) error {
	if *faultControlTokenFile == "" {
		return nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	faultCtl.token = hex.EncodeToString(raw)
	if err := writeFile(*faultControlTokenFile, []byte(faultCtl.token+"\n")); err != nil {
		return fmt.Errorf("-control-token-file: %s", err)
	}
	return nil
}

// faultRule is one rule, as posted and as listed.
type faultRule struct {
	ID          int             `json:"id"`
	Method      string          `json:"method"`
	Action      string          `json:"action"`
	Fault       string          `json:"fault,omitempty"`
	Message     string          `json:"message,omitempty"`
	FaultFields json.RawMessage `json:"fault_fields,omitempty"`
	Count       int             `json:"count"`
	Remaining   int             `json:"remaining"`
	Hits        int             `json:"hits"`
	DelayMS     int             `json:"delay_ms,omitempty"`
	Moid        string          `json:"moid,omitempty"`
}

const (
	faultActionFault     = "fault"
	faultActionDelay     = "delay"
	faultActionDrop      = "drop"
	faultActionReset     = "reset"
	faultActionTaskError = "task_error"
)

// faultRuleRequest is the body of POST /_control/faults.
type faultRuleRequest struct {
	Method      string          `json:"method"`
	Action      string          `json:"action"`
	Fault       string          `json:"fault"`
	Message     string          `json:"message"`
	FaultFields json.RawMessage `json:"fault_fields"`
	Count       *int            `json:"count"`
	DelayMS     int             `json:"delay_ms"`
	Moid        string          `json:"moid"`
}

func (q *faultRuleRequest) rule() (*faultRule, error) {
	r := &faultRule{
		Method: q.Method, Action: q.Action, Fault: q.Fault, Message: q.Message,
		FaultFields: q.FaultFields, Count: 1, DelayMS: q.DelayMS, Moid: q.Moid,
	}
	if r.Action == "" {
		r.Action = faultActionFault
	}
	if string(r.FaultFields) == "null" {
		r.FaultFields = nil
	}
	if q.Count != nil {
		r.Count = *q.Count
	}
	if r.Count == 0 || r.Count < -1 {
		return nil, errors.New("count must be positive, or -1 for unlimited")
	}
	r.Remaining = r.Count
	if r.DelayMS < 0 {
		return nil, errors.New("delay_ms must not be negative")
	}
	if r.Method == "" {
		return nil, errors.New("method is required")
	}
	if r.Method != "*" && !faultIsMethod(r.Method) {
		return nil, fmt.Errorf("%q is not a vim25 SOAP method", r.Method)
	}

	switch r.Action {
	case faultActionFault, faultActionTaskError:
		if r.Fault == "" {
			return nil, fmt.Errorf("action %s needs a fault", r.Action)
		}
		if r.Action == faultActionTaskError && !strings.HasSuffix(r.Method, "_Task") {
			return nil, errors.New("task_error needs a *_Task method")
		}
		// Check the type and the fields now, not at the first match.
		if _, err := r.newFault(faultServiceInstance); err != nil {
			return nil, err
		}
	case faultActionDelay:
		if r.DelayMS == 0 {
			return nil, errors.New("action delay needs delay_ms")
		}
		fallthrough
	case faultActionDrop, faultActionReset:
		if r.Fault != "" || len(r.FaultFields) > 0 || r.Message != "" {
			return nil, fmt.Errorf("action %s takes no fault, fault_fields or message", r.Action)
		}
	default:
		return nil, fmt.Errorf("unknown action %q (fault, delay, drop, reset, task_error)", r.Action)
	}
	return r, nil
}

func (r *faultRule) matches(call *soapCall) bool {
	return (r.Method == "*" || r.Method == call.Method) &&
		(r.Moid == "" || r.Moid == call.This.Value)
}

type faultInjector struct {
	token string // set before the server starts, read-only afterwards

	mu     sync.Mutex
	rules  []*faultRule
	nextID int
	calls  map[string]int
	total  int
}

// arrived counts a SOAP call and returns a copy of the rule it uses up, if
// any.
func (f *faultInjector) arrived(call *soapCall) *faultRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[call.Method]++
	f.total++
	for i, r := range f.rules {
		if !r.matches(call) {
			continue
		}
		r.Hits++
		if r.Remaining > 0 {
			r.Remaining--
			if r.Remaining == 0 {
				f.rules = append(f.rules[:i:i], f.rules[i+1:]...)
			}
		}
		applied := *r
		return &applied
	}
	return nil
}

func (f *faultInjector) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, faultControlPrefix):
			f.serveControl(w, r)
		case isVimSOAP(r):
			f.serveSOAP(w, r, next)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// authorized answers the request itself with an error unless it comes from
// a loopback address with the right token.
func (f *faultInjector) authorized(w http.ResponseWriter, r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		faultJSONError(w, http.StatusForbidden, "the control endpoint only answers loopback clients")
		return false
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vcsim-control"`)
		faultJSONError(w, http.StatusUnauthorized, "missing Authorization: Bearer token")
		return false
	}
	const scheme = "Bearer "
	given := ""
	if len(auth) > len(scheme) && strings.EqualFold(auth[:len(scheme)], scheme) {
		given = strings.TrimSpace(auth[len(scheme):])
	}
	if subtle.ConstantTimeCompare([]byte(given), []byte(f.token)) != 1 {
		faultJSONError(w, http.StatusForbidden, "wrong control token")
		return false
	}
	return true
}

func (f *faultInjector) serveControl(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	path := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, faultControlPrefix), "/")
	switch {
	case path == "faults":
		switch r.Method {
		case http.MethodGet:
			f.mu.Lock()
			rules := make([]faultRule, 0, len(f.rules))
			for _, rule := range f.rules {
				rules = append(rules, *rule)
			}
			f.mu.Unlock()
			faultWriteJSON(w, http.StatusOK, map[string]interface{}{"rules": rules})
		case http.MethodPost:
			f.addRule(w, r)
		case http.MethodDelete:
			f.mu.Lock()
			n := len(f.rules)
			f.rules = nil
			f.mu.Unlock()
			faultWriteJSON(w, http.StatusOK, map[string]int{"removed": n})
		default:
			faultMethodNotAllowed(w, "GET, POST, DELETE")
		}
	case strings.HasPrefix(path, "faults/"):
		id, err := strconv.Atoi(strings.TrimPrefix(path, "faults/"))
		if err != nil {
			faultJSONError(w, http.StatusNotFound, "no such rule")
			return
		}
		if r.Method != http.MethodDelete {
			faultMethodNotAllowed(w, "DELETE")
			return
		}
		f.mu.Lock()
		removed := 0
		for i, rule := range f.rules {
			if rule.ID == id {
				f.rules = append(f.rules[:i:i], f.rules[i+1:]...)
				removed = 1
				break
			}
		}
		f.mu.Unlock()
		if removed == 0 {
			faultJSONError(w, http.StatusNotFound, "no such rule")
			return
		}
		faultWriteJSON(w, http.StatusOK, map[string]int{"removed": removed})
	case path == "calls":
		if r.Method != http.MethodGet && r.Method != http.MethodDelete {
			faultMethodNotAllowed(w, "GET, DELETE")
			return
		}
		f.mu.Lock()
		calls := make(map[string]int, len(f.calls))
		for method, n := range f.calls {
			calls[method] = n
		}
		total := f.total
		if r.Method == http.MethodDelete {
			f.calls = make(map[string]int)
			f.total = 0
		}
		f.mu.Unlock()
		faultWriteJSON(w, http.StatusOK, map[string]interface{}{"total": total, "methods": calls})
	default:
		faultJSONError(w, http.StatusNotFound, "unknown control path (faults, calls)")
	}
}

func (f *faultInjector) addRule(w http.ResponseWriter, r *http.Request) {
	var q faultRuleRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		faultJSONError(w, http.StatusBadRequest, "bad rule: "+err.Error())
		return
	}
	rule, err := q.rule()
	if err != nil {
		faultJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	f.mu.Lock()
	f.nextID++
	rule.ID = f.nextID
	f.rules = append(f.rules, rule)
	listed := *rule
	f.mu.Unlock()
	faultWriteJSON(w, http.StatusCreated, &listed)
}

func faultMethodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	faultJSONError(w, http.StatusMethodNotAllowed, "method not allowed")
}

func faultJSONError(w http.ResponseWriter, status int, msg string) {
	faultWriteJSON(w, status, map[string]string{"error": msg})
}

func faultWriteJSON(w http.ResponseWriter, status int, v interface{}) {
	data, err := json.Marshal(v)
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"error": "encoding the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}
