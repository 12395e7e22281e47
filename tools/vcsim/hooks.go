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

// Extension points for the other files of this package.
//
// main.go only builds the inventory and the TLS server. Files that complete
// or change vcsim's behaviour register themselves here from their init()
// (Go runs the init functions of a package's files in file name order, so
// the order of registration is deterministic):
//
//	func init() {
//		modelSetups = append(modelSetups, func(m *simulator.Model) error { ... })
//		installers = append(installers, func(m *simulator.Model, s *simulator.Server) { ... })
//		handlerWrappers = append(handlerWrappers, func(next http.Handler) http.Handler { ... })
//	}
//
// A file that needs its own command line flag declares it at package level
// with the flag package; main() parses all flags before any hook runs.

package main

import (
	"net/http"

	"github.com/vmware/govmomi/simulator"
)

// modelSetups run after the flags are applied to the model and before
// Model.Create, e.g. to change a Model field the flags do not cover.
var modelSetups []func(*simulator.Model) error

// installers run once the inventory exists and the server is listening, but
// before the URL is announced, so no client can have connected yet. This is
// the place to replace singletons in simulator.Map or to register
// Map.AddHandler hooks.
var installers []func(*simulator.Model, *simulator.Server)

// handlerWrappers wrap the server's HTTP handler (the simulator's ServeMux,
// which serves /sdk, /folder/, /nfc/, /guestFile/ and /about). They are
// applied in registration order, so the last one registered is the
// outermost and sees each request first.
var handlerWrappers []func(http.Handler) http.Handler

func runModelSetups(m *simulator.Model) error {
	for _, setup := range modelSetups {
		if err := setup(m); err != nil {
			return err
		}
	}
	return nil
}

func runInstallers(m *simulator.Model, s *simulator.Server) {
	for _, install := range installers {
		install(m, s)
	}

	h := s.Config.Handler
	for _, wrap := range handlerWrappers {
		h = wrap(h)
	}
	s.Config.Handler = h

	// The server started serving inside NewServer. Nobody knows its port
	// yet, but the race detector does not know that: taking the server's
	// connection mutex here (with no connection to close) orders the
	// writes above before every connection's ConnState(StateNew) hook,
	// which takes the same mutex before the connection reads the handler.
	s.CloseClientConnections()
}
