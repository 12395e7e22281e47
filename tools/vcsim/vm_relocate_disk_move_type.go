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

// RelocateVM_Task's per-disk diskMoveType (spec.disk[i].diskMoveType).
//
// vSphere applies a disk locator's own diskMoveType to that disk, the
// spec's diskMoveType to the others: a relocation consolidating a linked
// clone (moveAllDiskBackingsAndConsolidate) leaves a disk whose locator
// says moveAllDiskBackingsAndAllowSharing with its parents, as a client
// keeping another owner's disk (a Cinder volume) where it is asks. A
// locator asking consolidation consolidates its disk even when the spec
// does not. vm_relocate_spec.go asks these when it drops disk parents.

package main

import (
	"github.com/vmware/govmomi/vim25/types"
)

// vmDiskMoveType is the move type that applies to disk key.
func vmDiskMoveType(spec *types.VirtualMachineRelocateSpec, key int32) string {
	for _, loc := range spec.Disk {
		if loc.DiskId == key && loc.DiskMoveType != "" {
			return loc.DiskMoveType
		}
	}
	return spec.DiskMoveType
}

// vmAnyConsolidation tells whether some disk of the relocation is
// consolidated.
func vmAnyConsolidation(spec *types.VirtualMachineRelocateSpec) bool {
	if spec.DiskMoveType == vmConsolidate {
		return true
	}
	for _, loc := range spec.Disk {
		if loc.DiskMoveType == vmConsolidate {
			return true
		}
	}
	return false
}
