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

// xsd:dateTime values without a time zone, as suds (oslo.vmware) sends
// them: Nova's in-tree driver registers its vCenter extension with
// lastHeartbeatTime = timeutils.utcnow().isoformat(), e.g.
// 2026-12-02T01:30:00.123456. XML Schema allows a dateTime without a zone
// and vCenter takes it as UTC; vcsim 0.24.2 decodes dateTime with Go's
// RFC 3339 parser, which requires one, and answers the whole call with a
// fault.
//
// xsdWrapNaiveDateTime, in front of every other handler but the fault
// injector's (this file's name sorts last), rewrites such values to UTC
// ("Z" appended), only in a vim25 request that the stock decoder refuses
// and that decodes once they are rewritten. A value is one when it is the
// whole text of an element: a string that merely looks like a date in a
// request that decodes as it is stays untouched.

package main

import (
	"bytes"
	"net/http"
	"regexp"
)

func init() {
	handlerWrappers = append(handlerWrappers, xsdWrapNaiveDateTime)
}

// xsdNaiveDateTime is a dateTime with no zone as the whole text of an
// element: >YYYY-MM-DDThh:mm:ss[.fraction]<
var xsdNaiveDateTime = regexp.MustCompile(`>(-?\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)<`)

func xsdWrapNaiveDateTime(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isVimSOAP(r) {
			body, err := takeBody(r)
			if err == nil && xsdNaiveDateTime.Match(body) {
				if fixed, ok := xsdZonedDateTimes(body); ok {
					setSOAPBody(r, fixed)
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// xsdZonedDateTimes is body with its naive dateTime values in UTC, when the
// stock decoder refuses body and accepts the result.
func xsdZonedDateTimes(body []byte) ([]byte, bool) {
	if _, err := decodeSOAPRequest(body); err == nil {
		return nil, false
	}
	fixed := xsdNaiveDateTime.ReplaceAll(body, []byte(">${1}Z<"))
	if bytes.Equal(fixed, body) {
		return nil, false
	}
	if _, err := decodeSOAPRequest(fixed); err != nil {
		return nil, false
	}
	return fixed, true
}
