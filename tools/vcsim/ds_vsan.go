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

// A vSAN datastore, when -vsan asks for one.
//
// With -vsan each datacenter gets one more datastore, "vsanDatastore",
// mounted on all its hosts like the others, whose summary.type is vsan and
// whose info is a VsanDatastoreInfo, as a vSAN cluster's datastore shows in
// vCenter. Only it satisfies the vSAN rules of storage policies (the stock
// "vSAN Default Storage Policy", see pbm_placement.go).
//
// vSAN keeps virtual disks as objects, made by the vSphere API (CreateVM,
// CreateVirtualDisk, CopyVirtualDisk, an NFC import), never from files: a
// disk uploaded through /folder is refused (403), as a flat extent put on
// a vSAN datastore is no disk vSphere can use. Other files (ISOs, logs)
// upload as on any datastore. Underneath it stays a local directory.

package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

const dsVsanName = "vsanDatastore"

var dsVsanFlag = flag.Bool("vsan", false,
	"add a vSAN datastore, "+dsVsanName+" (summary.type vsan), to each datacenter's hosts")

func init() {
	modelSetups = append(modelSetups, dsAddVsan)
	installers = append(installers, dsMakeVsan)
	handlerWrappers = append(handlerWrappers, dsVsanUploads)
}

// dsVsanIndex is the model's datastore that becomes the vSAN one (-1: none).
var dsVsanIndex = -1

func dsAddVsan(m *simulator.Model) error {
	if !*dsVsanFlag {
		return nil
	}
	if m.Datacenter > 1 {
		return fmt.Errorf("-vsan: only with one datacenter (-dc 1)")
	}
	dsVsanIndex = m.Datastore
	m.Datastore++
	return nil
}

func dsMakeVsan(*simulator.Model, *simulator.Server) {
	if dsVsanIndex < 0 {
		return
	}
	name := fmt.Sprintf("LocalDS_%d", dsVsanIndex)
	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		if ds.Name != name {
			continue
		}
		simulator.Map.WithLock(ds, func() {
			info := *ds.Info.GetDatastoreInfo()
			info.Name = dsVsanName
			info.ContainerId = strings.ReplaceAll(dsVolumeUUID(dsVsanName), "-", "")
			ds.Info = &types.VsanDatastoreInfo{DatastoreInfo: info}
			ds.Name = dsVsanName
			ds.Summary.Name = dsVsanName
			ds.Summary.Type = "vsan"
			ds.Summary.MultipleHostAccess = types.NewBool(true)
			for i := range ds.Host {
				ds.Host[i].MountInfo.Path = "/vmfs/volumes/vsan:" + info.ContainerId
			}
		})
		log.Printf("datastore %s (%s) is vSAN", dsVsanName, ds.Self.Value)
	}
}

// dsVsanUploads refuses /folder uploads of virtual disks to vSAN.
func dsVsanUploads(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if dsVsanIndex >= 0 && (r.Method == http.MethodPut || r.Method == http.MethodPost) &&
			strings.HasPrefix(r.URL.Path, authFolderPrefix+"/") &&
			strings.HasSuffix(strings.ToLower(r.URL.Path), ".vmdk") &&
			r.URL.Query().Get("dsName") == dsVsanName {
			if _, ok := authSession(r); ok {
				log.Printf("%s %s: refused, a vSAN datastore takes no disk files", r.Method, r.URL.Path)
				http.Error(w, "vSAN datastore "+dsVsanName+" stores virtual disks as objects: "+
					"a disk cannot be uploaded as a file (import it, e.g. as streamOptimized through NFC)",
					http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
