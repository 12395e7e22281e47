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

// Command vcsim serves govmomi's vCenter simulator (simulator.VPX) for
// nova-vmware-ext's tests and devstack: an inventory shaped by flags, exact
// user/password login, TLS with a fresh certificate a client can verify, and
// one line on stdout announcing the SDK URL once it is ready:
//
//	VCSIM_URL=https://127.0.0.1:PORT/sdk
//
// Behaviour beyond setup and flags lives in the other files of this package,
// plugged in through the hooks of hooks.go.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
)

type options struct {
	listen         string
	datacenters    int
	clusters       int
	hosts          int
	standaloneHost int
	vms            int
	datastores     int
	portgroups     int
	opaqueNetworks int
	folders        int
	autostart      bool
	username       string
	password       string
	tmpdir         string
	pidfile        string
	certOut        string
	stdinEOF       bool
	trace          bool
}

func parseFlags() *options {
	o := new(options)
	flag.StringVar(&o.listen, "listen", "127.0.0.1:0", "address to listen on (port 0: a free port)")
	flag.IntVar(&o.datacenters, "dc", 1, "number of datacenters")
	flag.IntVar(&o.clusters, "cluster", 1, "clusters per datacenter")
	flag.IntVar(&o.hosts, "host", 3, "hosts per cluster")
	flag.IntVar(&o.standaloneHost, "standalone-host", 0, "standalone hosts per datacenter")
	flag.IntVar(&o.vms, "vm", 0, "VMs per cluster and per standalone host (govmomi Model.Machine: "+
		"made in each cluster's root resource pool, not per host; "+
		"total = dc * (cluster + standalone-host) * vm)")
	flag.IntVar(&o.datastores, "ds", 2, "local datastores per datacenter, each mounted on all its hosts")
	flag.IntVar(&o.portgroups, "pg", 1, "distributed port groups per datacenter (on one DVS, DVS0; 0: no DVS)")
	flag.IntVar(&o.opaqueNetworks, "nsx", 0, "NSX opaque networks per datacenter")
	flag.IntVar(&o.folders, "folder", 0, "datacenters to place, with their sub-folders, inside a folder")
	flag.BoolVar(&o.autostart, "autostart", true, "power on the VMs made by -vm")
	flag.StringVar(&o.username, "username", "user", "the only user name Login accepts")
	flag.StringVar(&o.password, "password", "pass", "the only password Login accepts")
	flag.StringVar(&o.tmpdir, "tmpdir", "", "directory for the datastores (default: a fresh temporary directory, removed on exit)")
	flag.StringVar(&o.pidfile, "pidfile", "", "write the process id to this file")
	flag.StringVar(&o.certOut, "cert-out", "", "write the server certificate (PEM) to this file, for clients to use as CA file")
	flag.BoolVar(&o.stdinEOF, "exit-on-stdin-eof", false, "shut down when stdin reaches end of file (the parent went away)")
	flag.BoolVar(&o.trace, "trace", false, "write SOAP requests and responses to stderr")
	flag.Parse()
	return o
}

func (o *options) validate() error {
	if flag.NArg() != 0 {
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	}
	counts := map[string]int{
		"dc": o.datacenters, "cluster": o.clusters, "host": o.hosts,
		"standalone-host": o.standaloneHost, "vm": o.vms, "ds": o.datastores,
		"pg": o.portgroups, "nsx": o.opaqueNetworks, "folder": o.folders,
	}
	for name, n := range counts {
		if n < 0 {
			return fmt.Errorf("-%s must not be negative", name)
		}
	}
	if o.vms > 0 && o.datastores == 0 {
		return errors.New("-vm needs at least one datastore (-ds), VMs live on LocalDS_0")
	}
	if o.username == "" || o.password == "" {
		return errors.New("-username and -password must not be empty")
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return fmt.Errorf("-listen: %s", err)
	}
	return nil
}

func (o *options) model() *simulator.Model {
	m := simulator.VPX()
	m.Datacenter = o.datacenters
	m.Cluster = o.clusters
	m.ClusterHost = o.hosts
	m.Host = o.standaloneHost
	m.Machine = o.vms
	m.Datastore = o.datastores
	m.Portgroup = o.portgroups
	m.OpaqueNetwork = o.opaqueNetworks
	m.Folder = o.folders
	m.Autostart = o.autostart
	return m
}

// writeFile replaces path atomically, so a reader never sees it half written.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func main() {
	log.SetPrefix("vcsim: ")
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if err := run(parseFlags()); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

func run(o *options) error {
	if err := o.validate(); err != nil {
		return err
	}
	simulator.Trace = o.trace

	// Everything the simulator writes (datastores, VM files) goes below
	// dir: the simulator makes its datastores with ioutil.TempDir("").
	dir := o.tmpdir
	removeDir := dir == ""
	if removeDir {
		var err error
		if dir, err = os.MkdirTemp("", "vcsim-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if err := os.Setenv("TMPDIR", dir); err != nil {
		return err
	}

	if o.pidfile != "" {
		if err := writeFile(o.pidfile, []byte(strconv.Itoa(os.Getpid())+"\n")); err != nil {
			return err
		}
		defer os.Remove(o.pidfile)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	starting := make(chan struct{})
	go func() {
		// A signal while the inventory is being made: nothing to shut down yet.
		select {
		case sig := <-stop:
			select {
			case <-starting: // lost a race with start-up's end: shut down cleanly
				stop <- sig
				return
			default:
			}
			log.Printf("%s during start-up, exiting", sig)
			if removeDir {
				_ = os.RemoveAll(dir)
			}
			if o.pidfile != "" {
				_ = os.Remove(o.pidfile)
			}
			os.Exit(1)
		case <-starting:
		}
	}()

	begin := time.Now()
	m := o.model()
	if err := runModelSetups(m); err != nil {
		return err
	}
	if err := m.Create(); err != nil {
		return fmt.Errorf("creating the inventory: %s", err)
	}
	defer m.Remove()
	c := m.Count()
	log.Printf("inventory: %d datacenters, %d clusters, %d hosts, %d VMs, %d datastores, %d DV port groups, %d opaque networks (%s)",
		c.Datacenter, c.Cluster, c.Host, c.Machine, c.Datastore, c.Portgroup, c.OpaqueNetwork,
		time.Since(begin).Round(time.Millisecond))

	host, _, _ := net.SplitHostPort(o.listen)
	cert, certPEM, err := serverCertificate(net.ParseIP(host))
	if err != nil {
		return fmt.Errorf("making the TLS certificate: %s", err)
	}
	if o.certOut != "" {
		if err = writeFile(o.certOut, certPEM); err != nil {
			return err
		}
	}

	m.Service.Listen = &url.URL{Host: o.listen, User: url.UserPassword(o.username, o.password)}
	m.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	m.Service.RegisterEndpoints = true
	srv := m.Service.NewServer()
	runInstallers(m, srv)

	sdk := url.URL{Scheme: "https", Host: srv.URL.Host, Path: srv.URL.Path}
	close(starting) // from here on, a signal shuts down cleanly
	fmt.Printf("VCSIM_URL=%s\n", sdk.String())
	log.Printf("ready in %s, datastores under %s", time.Since(begin).Round(time.Millisecond), dir)

	if o.stdinEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			log.Print("stdin closed")
			stop <- syscall.SIGHUP
		}()
	}
	sig := <-stop
	signal.Stop(stop)
	log.Printf("%s: shutting down", sig)

	// Close waits for requests in flight; a long WaitForUpdatesEx must not
	// keep the process alive.
	closed := make(chan struct{})
	go func() {
		srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		log.Print("requests still in flight after 5s, exiting anyway")
	}
	return nil
}
