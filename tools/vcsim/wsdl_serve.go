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

// The vim WSDL under /sdk/, as a vCenter serves it: suds clients
// (oslo.vmware) load https://HOST/sdk/vimService.wsdl and the files it
// imports. vcsim 0.24.2 serves none; -wsdl-dir names a directory of them
// (made by wsdl_gen.py). GET /sdk/NAME.wsdl or /sdk/NAME.xsd answers the
// file of that base name, without a session, as vCenter does.

package main

import (
	"flag"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

var wsdlDirFlag = flag.String("wsdl-dir", "",
	"serve the .wsdl and .xsd files of this directory under /sdk/ (e.g. /sdk/vimService.wsdl)")

func init() {
	handlerWrappers = append(handlerWrappers, wsdlWrap)
}

func wsdlWrap(next http.Handler) http.Handler {
	dir := *wsdlDirFlag
	if dir == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := wsdlFileName(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		file := filepath.Join(dir, name)
		if _, err := os.Stat(file); err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		http.ServeFile(w, r, file)
	})
}

// wsdlFileName returns the file a GET or HEAD of /sdk/NAME.wsdl or
// /sdk/NAME.xsd asks for; nothing in sub-directories.
func wsdlFileName(r *http.Request) (string, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "", false
	}
	dir, name := path.Split(r.URL.Path)
	if dir != "/sdk/" || name == "" || strings.HasPrefix(name, ".") {
		return "", false
	}
	ext := path.Ext(name)
	return name, ext == ".wsdl" || ext == ".xsd"
}
