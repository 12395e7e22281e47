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

// Datastore type: VMFS (or NFS) instead of OTHER.
//
// vcsim 0.24.2 makes its model datastores with CreateLocalDatastore, so
// they report summary.type OTHER and a LocalDatastoreInfo. A vCenter's
// block datastores are VMFS, with a VmfsDatastoreInfo describing the VMFS
// volume, and drivers pick datastores by type (Nova's accepts VMFS, NFS,
// NFS41 and vsan, never OTHER). Installed after the inventory exists, this
// rewrites the model's datastores to the type of -ds-type. The datastore
// stays a local directory underneath: info.url is what the simulator
// resolves datastore paths with, so it keeps naming that directory.

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

var dsTypeFlag = flag.String("ds-type", "VMFS",
	"summary.type of the model's datastores: VMFS (VmfsDatastoreInfo), NFS or NFS41 "+
		"(NasDatastoreInfo), or OTHER (vcsim's own LocalDatastoreInfo)")

func init() {
	modelSetups = append(modelSetups, dsCheckTypeFlag)
	installers = append(installers, dsSetTypes)
}

func dsCheckTypeFlag(*simulator.Model) error {
	switch *dsTypeFlag {
	case "VMFS", "NFS", "NFS41", "OTHER":
		return nil
	}
	return fmt.Errorf("-ds-type %q: want VMFS, NFS, NFS41 or OTHER", *dsTypeFlag)
}

// dsVolumeUUID makes a VMFS-style volume UUID (8-8-4-12 hex digits) that is
// stable for a datastore name.
func dsVolumeUUID(name string) string {
	sum := sha256.Sum256([]byte("vcsim-vmfs:" + name))
	h := hex.EncodeToString(sum[:])
	return h[0:8] + "-" + h[8:16] + "-" + h[16:20] + "-" + h[20:32]
}

func dsSetTypes(*simulator.Model, *simulator.Server) {
	kind := *dsTypeFlag
	if kind == "OTHER" {
		return
	}
	var stores []*simulator.Datastore
	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		if _, ok := ds.Info.(*types.LocalDatastoreInfo); ok {
			stores = append(stores, ds)
		}
	}
	sort.Slice(stores, func(i, j int) bool { return stores[i].Name < stores[j].Name })

	for i, ds := range stores {
		ds := ds
		target := i
		simulator.Map.WithLock(ds, func() { dsRetype(ds, kind, target) })
	}
}

func dsRetype(ds *simulator.Datastore, kind string, target int) {
	local := ds.Info.(*types.LocalDatastoreInfo)
	info := local.DatastoreInfo
	capacity := ds.Summary.Capacity
	var mountPath string

	switch kind {
	case "VMFS":
		uuid := dsVolumeUUID(ds.Name)
		mountPath = "/vmfs/volumes/" + uuid
		info.ContainerId = strings.ReplaceAll(uuid, "-", "")
		info.MaxVirtualDiskCapacity = 68169720922112 // 62 TB, VMFS 6
		ds.Info = &types.VmfsDatastoreInfo{
			DatastoreInfo:          info,
			MaxPhysicalRDMFileSize: 70368744177664, // 64 TB
			MaxVirtualRDMFileSize:  68169720922112,
			Vmfs: &types.HostVmfsVolume{
				HostFileSystemVolume: types.HostFileSystemVolume{
					Type: "VMFS", Name: ds.Name, Capacity: capacity,
				},
				BlockSizeMb:      1,
				BlockSize:        1024,
				UnmapGranularity: 1024,
				UnmapPriority:    "low",
				MaxBlocks:        63963136,
				MajorVersion:     6,
				Version:          "6.82",
				Uuid:             uuid,
				Extent: []types.HostScsiDiskPartition{{
					DiskName: fmt.Sprintf("mpx.vmhba0:C0:T%d:L0", target+1), Partition: 1,
				}},
				Ssd:          types.NewBool(true),
				Local:        types.NewBool(len(ds.Host) < 2),
				ScsiDiskType: "native512",
			},
		}
	case "NFS", "NFS41":
		mountPath = "/vmfs/volumes/" + dsVolumeUUID(ds.Name)[:17]
		ds.Info = &types.NasDatastoreInfo{
			DatastoreInfo: info,
			Nas: &types.HostNasVolume{
				HostFileSystemVolume: types.HostFileSystemVolume{
					Type: kind, Name: ds.Name, Capacity: capacity,
				},
				RemoteHost:       "127.0.0.1",
				RemotePath:       "/exports/" + ds.Name,
				RemoteHostNames:  []string{"127.0.0.1"},
				ProtocolEndpoint: types.NewBool(false),
			},
		}
	}

	ds.Summary.Type = kind
	ds.Summary.MultipleHostAccess = types.NewBool(len(ds.Host) > 1)
	for i := range ds.Host {
		ds.Host[i].MountInfo.Path = mountPath
	}
}
