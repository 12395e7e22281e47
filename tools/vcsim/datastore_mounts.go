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

// Datastore.host for datastores shared by several hosts.
//
// vcsim 0.24.2 makes a model datastore by calling CreateLocalDatastore on
// each host in turn; every call registers a new Datastore under the same
// reference, replacing the previous one, so Datastore.host ends up naming
// only the last host while every HostSystem.datastore names the datastore.
// Clients that pick the datastores a cluster can use from Datastore.host
// (as Nova's drivers do) would see one host. Rebuild it from the hosts.

package main

import (
	"sort"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	installers = append(installers, rebuildDatastoreHostMounts)
}

func rebuildDatastoreHostMounts(*simulator.Model, *simulator.Server) {
	hostsOf := make(map[types.ManagedObjectReference][]types.ManagedObjectReference)
	for _, e := range simulator.Map.All("HostSystem") {
		host := e.(*simulator.HostSystem)
		for _, ds := range host.Datastore {
			hostsOf[ds] = append(hostsOf[ds], host.Self)
		}
	}

	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		hosts := hostsOf[ds.Self]
		if len(hosts) <= len(ds.Host) {
			continue
		}
		sort.Slice(hosts, func(i, j int) bool { return hosts[i].Value < hosts[j].Value })

		mount := types.HostMountInfo{
			AccessMode: string(types.HostMountModeReadWrite),
			Mounted:    types.NewBool(true),
			Accessible: types.NewBool(true),
		}
		if len(ds.Host) > 0 {
			mount = ds.Host[0].MountInfo
		}
		mounts := make([]types.DatastoreHostMount, 0, len(hosts))
		for _, host := range hosts {
			mounts = append(mounts, types.DatastoreHostMount{Key: host, MountInfo: mount})
		}
		simulator.Map.WithLock(ds, func() { ds.Host = mounts })
	}
}
