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

// Datastore uploads (/folder PUT and POST) that end early store nothing.
//
// vcsim 0.24.2 creates the target file, copies the request body into it
// and ignores the copy's error: a body that ends before its Content-Length
// (the client went away, the connection broke) leaves a truncated file and
// answers 200, so a broken image upload passes unseen; an existing file is
// truncated before the first byte arrives.
//
// dsServeUpload (called by auth_http.go once the request is authorized)
// writes the body to a temporary file beside the target and renames it
// into place only when the whole body arrived: a short or broken body is
// answered 400 and leaves the target as it was. POST keeps the stock rule
// (409 Conflict when the file exists). Like the stock handler it makes the
// missing folders of the path. A request whose datacenter or datastore it
// cannot resolve goes to the stock handler, which answers 404.

package main

import (
	"errors"
	"io"
	"log"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
)

// dsServeUpload serves an authorized /folder request.
func dsServeUpload(next http.Handler, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		next.ServeHTTP(w, r)
		return
	}
	target, ok := dsUploadTarget(r)
	if !ok {
		next.ServeHTTP(w, r)
		return
	}
	if r.Method == http.MethodPost {
		if _, err := os.Stat(target); err == nil {
			w.WriteHeader(http.StatusConflict)
			return
		}
	}
	status, err := dsStoreUpload(target, r)
	if err != nil {
		log.Printf("%s %s: %d: %s", r.Method, r.URL.Path, status, err)
		http.Error(w, err.Error(), status)
	}
}

// dsStoreUpload writes r's body to target, all of it or nothing.
func dsStoreUpload(target string, r *http.Request) (int, error) {
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return http.StatusInternalServerError, err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".upload-")
	if err != nil {
		return http.StatusInternalServerError, err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	n, err := io.Copy(tmp, r.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)):
		return http.StatusBadRequest, errors.New("the request body ended before its Content-Length: nothing stored")
	case err != nil:
		return http.StatusBadRequest, errors.New("reading the request body: " + err.Error() + ": nothing stored")
	case r.ContentLength >= 0 && n != r.ContentLength:
		return http.StatusBadRequest, errors.New("the request body is not as long as its Content-Length: nothing stored")
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return http.StatusInternalServerError, err
	}
	return http.StatusOK, nil
}

// dsUploadTarget is the local file a /folder request names: the path
// below /folder/ on the datastore dsName of the datacenter dcPath (each
// may be left out when there is only one).
func dsUploadTarget(r *http.Request) (string, bool) {
	rel := strings.TrimPrefix(r.URL.Path, authFolderPrefix)
	if rel == r.URL.Path || rel == "" || rel == "/" {
		return "", false
	}
	q := r.URL.Query()
	dc := dsDatacenterByPath(q.Get("dcPath"))
	if dc == nil {
		return "", false
	}
	var root string
	if name := q.Get("dsName"); name != "" {
		ds := dsFindDatastore(dc.Self, name)
		if ds == nil {
			return "", false
		}
		root = ds.Info.GetDatastoreInfo().Url
	} else if len(dc.Datastore) == 1 {
		ds, ok := simulator.Map.Get(dc.Datastore[0]).(*simulator.Datastore)
		if !ok {
			return "", false
		}
		root = ds.Info.GetDatastoreInfo().Url
	} else {
		return "", false
	}
	// Cleaned below "/", the path cannot leave the datastore.
	return filepath.Join(root, filepath.FromSlash(path.Clean("/"+rel))), true
}

// dsDatacenterByPath finds a datacenter by its inventory path ("DC0",
// "F0/DC0") or, for "", the only one.
func dsDatacenterByPath(p string) *simulator.Datacenter {
	p = strings.Trim(p, "/")
	var only *simulator.Datacenter
	count := 0
	for _, e := range simulator.Map.All("Datacenter") {
		dc, ok := e.(*simulator.Datacenter)
		if !ok {
			continue
		}
		count++
		only = dc
		if p != "" && dsInventoryPath(dc) == p {
			return dc
		}
	}
	if p == "" && count == 1 {
		return only
	}
	return nil
}

// dsInventoryPath is an entity's path below the root folder.
func dsInventoryPath(e mo.Entity) string {
	var parts []string
	for e != nil {
		me := e.Entity()
		if me.Parent == nil {
			break // the root folder is not part of the path
		}
		parts = append([]string{me.Name}, parts...)
		e, _ = simulator.Map.Get(*me.Parent).(mo.Entity)
	}
	return strings.Join(parts, "/")
}
