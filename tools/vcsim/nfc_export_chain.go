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

// ExportVm of a disk with parents (a linked clone, a VM with snapshots):
// vSphere streams the disk as the guest sees it, the whole chain flattened
// into one streamOptimized VMDK. vcsim never writes guest data, so a child
// disk's delta holds nothing and the flattened disk is its chain's base:
// the export serves the base disk's bytes (the stock export would serve the
// child's sparse descriptor).

package main

import "github.com/vmware/govmomi/vim25/types"

// nfcChainBase is the file of the disk at the base of a backing's parent
// chain (the backing's own file when it has no parent).
func nfcChainBase(b types.BaseVirtualDeviceFileBackingInfo) string {
	flat, ok := b.(*types.VirtualDiskFlatVer2BackingInfo)
	if !ok {
		return b.GetVirtualDeviceFileBackingInfo().FileName
	}
	for flat.Parent != nil {
		flat = flat.Parent
	}
	return flat.FileName
}
