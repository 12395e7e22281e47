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

// Storage policies applied to new VMs and their disks, as PBM reports them.
//
// vCenter associates the policies a CreateVM_Task's ConfigSpec names
// (vmProfile for the VM home, each disk's deviceChange profile) with the
// VM and its disks; PbmQueryAssociatedProfile then answers them. The stock
// simulator ignores those fields and answers no profile. Here a front on
// /sdk records them per instanceUuid of the spec (in spec order for the
// disks), and PbmQueryAssociatedProfile answers them for a virtualMachine
// ("vm-N") or virtualDiskId ("vm-N:<device key>") entity: a VM's disks are
// numbered in device key order, the order the spec added them in.
// ReconfigVM_Task's profiles are not recorded (not needed yet).

package main

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/vmware/govmomi/pbm/methods"
	pbmtypes "github.com/vmware/govmomi/pbm/types"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// pbmApplied is a VM's policies: of its home and of its disks, in order.
type pbmApplied struct {
	vm    []string
	disks [][]string
}

var pbmAssociations = struct {
	sync.Mutex
	byUUID map[string]pbmApplied
}{byUUID: map[string]pbmApplied{}}

func init() {
	handlerWrappers = append(handlerWrappers, pbmRecordFront)
}

// pbmRecordFront records the policies of CreateVM_Task requests.
func pbmRecordFront(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if method, _ := decodeSOAPCall(r, "CreateVM_Task"); method != nil {
			pbmRecord(&method.Body.(*types.CreateVM_Task).Config)
		}
		next.ServeHTTP(w, r)
	})
}

func pbmProfileIds(specs []types.BaseVirtualMachineProfileSpec) []string {
	var ids []string
	for _, spec := range specs {
		if defined, ok := spec.(*types.VirtualMachineDefinedProfileSpec); ok {
			ids = append(ids, defined.ProfileId)
		}
	}
	return ids
}

func pbmRecord(spec *types.VirtualMachineConfigSpec) {
	if spec.InstanceUuid == "" {
		return
	}
	applied := pbmApplied{vm: pbmProfileIds(spec.VmProfile)}
	any := len(applied.vm) != 0
	for _, change := range spec.DeviceChange {
		c := change.GetVirtualDeviceConfigSpec()
		if _, ok := c.Device.(*types.VirtualDisk); ok && c.Operation == types.VirtualDeviceConfigSpecOperationAdd {
			ids := pbmProfileIds(c.Profile)
			any = any || len(ids) != 0
			applied.disks = append(applied.disks, ids)
		}
	}
	pbmAssociations.Lock()
	defer pbmAssociations.Unlock()
	if any {
		pbmAssociations.byUUID[spec.InstanceUuid] = applied
	} else {
		delete(pbmAssociations.byUUID, spec.InstanceUuid)
	}
}

func (m *pbmProfileManager) PbmQueryAssociatedProfile(req *pbmtypes.PbmQueryAssociatedProfile) soap.HasFault {
	body := &methods.PbmQueryAssociatedProfileBody{Res: new(pbmtypes.PbmQueryAssociatedProfileResponse)}
	vmID, diskKey := req.Entity.Key, ""
	if req.Entity.ObjectType == "virtualDiskId" {
		vmID, diskKey, _ = strings.Cut(req.Entity.Key, ":")
	}
	vm, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: vmID}).(*simulator.VirtualMachine)
	if !ok {
		body.Res = nil
		body.Fault_ = simulator.Fault("no such VM: "+vmID, &types.InvalidArgument{InvalidProperty: "entity"})
		return body
	}
	var uuid string
	var disks []int32
	simulator.Map.WithLock(vm, func() {
		if vm.Config == nil {
			return
		}
		uuid = vm.Config.InstanceUuid
		for _, d := range vm.Config.Hardware.Device {
			if disk, ok := d.(*types.VirtualDisk); ok {
				disks = append(disks, disk.Key)
			}
		}
	})
	sort.Slice(disks, func(i, j int) bool { return disks[i] < disks[j] })
	pbmAssociations.Lock()
	applied := pbmAssociations.byUUID[uuid]
	pbmAssociations.Unlock()

	ids := applied.vm
	if req.Entity.ObjectType == "virtualDiskId" {
		ids = nil
		for i, key := range disks {
			if strconv.Itoa(int(key)) == diskKey && i < len(applied.disks) {
				ids = applied.disks[i]
			}
		}
	}
	for _, id := range ids {
		body.Res.Returnval = append(body.Res.Returnval, pbmtypes.PbmProfileId{UniqueId: id})
	}
	return body
}
