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

// The NFC disk transfer URLs of the leases of nfc_lease.go:
// https://<host>/nfc/<lease id>/<file>, in place of vcsim's /nfc/ handler,
// which discards uploads and panics on downloads of non-empty files.
//
//   - Only for the session that holds the lease (its vmware_soap_session
//     cookie, or a vmware_cgi_ticket for the URL): 401 without credentials,
//     404 for another session's lease, a lease that is not ready or over,
//     or a file the lease does not have.
//   - Import leases take PUT or POST: the body is streamed to a temporary
//     file next to the disk's file, which replaces it once the upload is
//     complete, so the disk's backing file holds exactly the bytes sent
//     (a streamOptimized VMDK, a flat image, ...), however large.
//   - Export leases serve GET (and HEAD, and byte ranges) from the disk's
//     backing file.

package main

import (
	"crypto/sha1"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

const nfcPrefix = "/nfc/"

// nfcThumbprint is the SHA-1 thumbprint of the server certificate, given as
// HttpNfcLeaseDeviceUrl.sslThumbprint as ESX gives its own.
var nfcThumbprint string

func init() {
	installers = append(installers, func(m *simulator.Model, _ *simulator.Server) {
		if tc := m.Service.TLS; tc != nil && len(tc.Certificates) > 0 && len(tc.Certificates[0].Certificate) > 0 {
			sum := sha1.Sum(tc.Certificates[0].Certificate[0])
			hexes := make([]string, len(sum))
			for i, b := range sum {
				hexes[i] = fmt.Sprintf("%02X", b)
			}
			nfcThumbprint = strings.Join(hexes, ":")
		}
	})
	handlerWrappers = append(handlerWrappers, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, nfcPrefix) {
				nfcServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
}

func nfcServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, nfcPrefix), "/")
	session, ok := authNFCRequest(r)
	if !ok {
		authUnauthorized(w, r)
		return
	}
	if len(parts) != 2 {
		http.NotFound(w, r)
		return
	}
	l := nfcLeaseByID(parts[0])
	if l == nil {
		log.Printf("nfc %s %s: no such lease (or it is over)", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	var usable, export bool
	simulator.Map.WithLock(l, func() {
		usable = l.session == session.Key && l.State == types.HttpNfcLeaseStateReady && !l.over
		export = l.export
	})
	f := l.files[parts[1]] // files never change after the lease is made
	if !usable || f == nil {
		log.Printf("nfc %s %s: not a ready lease of this session, or no such file", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}

	switch {
	case export && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		nfcSend(w, r, f)
	case !export && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		nfcReceive(w, r, l, f)
	default:
		if export {
			w.Header().Set("Allow", "GET, HEAD")
		} else {
			w.Header().Set("Allow", "PUT, POST")
		}
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
	}
}

func nfcSend(w http.ResponseWriter, r *http.Request, f *nfcFile) {
	file, err := os.Open(f.local)
	if err != nil {
		log.Printf("nfc %s %s: %s", r.Method, f.local, err)
		http.NotFound(w, r)
		return
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, f.name, info.ModTime(), file) // streams, with ranges
	log.Printf("nfc %s %s: %d bytes", r.Method, f.local, info.Size())
}

func nfcReceive(w http.ResponseWriter, r *http.Request, l *nfcLease, f *nfcFile) {
	dir, base := filepath.Split(f.local)
	tmp, err := os.CreateTemp(dir, "."+base+".nfc-*")
	if err != nil {
		log.Printf("nfc %s %s: %s", r.Method, f.local, err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	l.receive(tmp.Name(), true)
	keep := false
	defer func() {
		l.receive(tmp.Name(), false)
		if !keep {
			_ = os.Remove(tmp.Name())
		}
	}()

	n, err := io.CopyBuffer(tmp, r.Body, make([]byte, 1<<20))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		log.Printf("nfc %s %s: after %d bytes: %s", r.Method, f.local, n, err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}

	status := http.StatusOK
	simulator.Map.WithLock(l, func() {
		if l.over || l.State != types.HttpNfcLeaseStateReady {
			status = http.StatusNotFound // aborted or timed out meanwhile
			return
		}
		if err = os.Rename(tmp.Name(), f.local); err != nil {
			status = http.StatusInternalServerError
			return
		}
		keep = true
	})
	switch status {
	case http.StatusOK:
		log.Printf("nfc %s %s: stored %d bytes", r.Method, f.local, n)
		w.WriteHeader(http.StatusOK)
	case http.StatusNotFound:
		log.Printf("nfc %s %s: the lease ended during the upload", r.Method, f.local)
		http.NotFound(w, r)
	default:
		log.Printf("nfc %s %s: %s", r.Method, f.local, err)
		http.Error(w, err.Error(), status)
	}
}

// receive records (or forgets) an upload's temporary file on its lease.
func (l *nfcLease) receive(name string, started bool) {
	nfcLeases.Lock()
	defer nfcLeases.Unlock()
	if !started {
		delete(l.receiving, name)
		return
	}
	if l.receiving == nil {
		l.receiving = make(map[string]bool)
	}
	l.receiving[name] = true
}
