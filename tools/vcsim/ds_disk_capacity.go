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

// VmDiskFileInfo.capacityKb for HostDatastoreBrowser searches.
//
// vSphere reports a disk's capacity when a VmDiskFileQuery asks for it
// (details.capacityKb); vcsim 0.24.2 never does. dsDiskCapacityKb reads it
// from what vcsim's disks hold, as vm_disk.go writes them:
//
//   - a hosted sparse disk (KDMV): the capacity in its header;
//   - a text descriptor: the sum of its extent lines' sectors;
//   - a descriptor vcsim left empty: the size of NAME-flat.vmdk.
//
// Anything else reports no capacity (0, left out of the reply).

package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/vim25/types"
)

// dsWantsCapacity reports whether a search asks for disks' capacities.
func dsWantsCapacity(spec *types.HostDatastoreBrowserSearchSpec) bool {
	if spec == nil {
		return false
	}
	for _, q := range spec.Query {
		if d, ok := q.(*types.VmDiskFileQuery); ok && d.Details != nil && d.Details.CapacityKb {
			return true
		}
	}
	return false
}

// dsDiskCapacityKb is the capacity in KB of the disk whose descriptor (or
// single file) is file; 0 when it cannot tell.
func dsDiskCapacityKb(file string) int64 {
	f, err := os.Open(file)
	if err != nil {
		return 0
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, _ := f.ReadAt(head, 0)
	head = head[:n]
	switch {
	case n >= 20 && bytes.Equal(head[:4], []byte("KDMV")):
		return int64(binary.LittleEndian.Uint64(head[12:20])) / 2
	case bytes.Contains(head, []byte("# Disk DescriptorFile")):
		var sectors int64
		for _, m := range vmDiskExtent.FindAllSubmatch(head, -1) {
			count, err := strconv.ParseInt(string(m[2]), 10, 64)
			if err == nil {
				sectors += count
			}
		}
		return sectors / 2
	case n == 0:
		if st, err := os.Stat(strings.TrimSuffix(file, ".vmdk") + "-flat.vmdk"); err == nil {
			return st.Size() / 1024
		}
	}
	return 0
}
