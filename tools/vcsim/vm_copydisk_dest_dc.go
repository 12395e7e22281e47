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

// CopyVirtualDisk_Task without destDatacenter copies within the source's
// datacenter, as vCenter documents ("if not specified, it is assumed that
// the destination path belongs to the source datacenter"); Nova's in-tree
// driver copies its cached image to a flavor-sized one that way. vcsim
// 0.24.2 failed such a copy of a two-file disk with InvalidArgument (dc).
package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	// After every file's init: wrap whatever handles the method.
	installers = append(installers, func(*simulator.Model, *simulator.Server) {
		next := vmMethods["CopyVirtualDisk_Task"]
		vmMethods["CopyVirtualDisk_Task"] = func(c *vmCall) {
			req, ok := c.method.Body.(*types.CopyVirtualDisk_Task)
			if ok && req.DestDatacenter == nil && req.SourceDatacenter != nil {
				dc := *req.SourceDatacenter
				req.DestDatacenter = &dc
				c.body = encodeSOAPRequest(&methods.CopyVirtualDisk_TaskBody{Req: req})
			}
			if next != nil {
				next(c)
				return
			}
			c.passThrough()
		}
	})
}
