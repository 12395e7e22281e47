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

// VirtualDiskManager.CopyVirtualDisk_Task of a single-file disk.
//
// vSphere copies any virtual disk, a hosted monolithic sparse one (one file,
// as uploaded from an image) included, into a regular disk. vcsim 0.24.2
// copies NAME.vmdk and NAME-flat.vmdk and fails with FileNotFound when the
// source is one file. Here a one-file source is copied byte for byte to the
// destination descriptor name, with an empty data extent beside it (the
// layout vcsim's other disk methods expect); vcsim does not convert disk
// formats. Two-file sources go to the stock method.
package main

import (
	"io"
	"os"
	"path"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	vmMethods["CopyVirtualDisk_Task"] = vmCopyVirtualDisk
}

func vmCopyVirtualDisk(c *vmCall) {
	req := c.method.Body.(*types.CopyVirtualDisk_Task)
	if req.This != simulator.Map.VirtualDiskManager().Reference() ||
		req.SourceDatacenter == nil {
		c.passThrough()
		return
	}
	source, ok := vmDiskFile(req.SourceName, *req.SourceDatacenter)
	if !ok || !strings.HasSuffix(source, ".vmdk") {
		c.passThrough()
		return
	}
	if _, err := os.Stat(strings.TrimSuffix(source, ".vmdk") + "-flat.vmdk"); err == nil {
		c.passThrough()
		return
	}
	if !c.loggedIn() {
		c.replyNotAuthenticated()
		return
	}
	dc := req.SourceDatacenter
	if req.DestDatacenter != nil {
		dc = req.DestDatacenter
	}
	task := simulator.CreateTask(req.This, "copyVirtualDisk", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		if _, err := os.Stat(source); err != nil {
			return nil, &types.FileNotFound{FileFault: types.FileFault{File: req.SourceName}}
		}
		dest, ok := vmDiskFile(req.DestName, *dc)
		if !ok {
			return nil, &types.InvalidDatastorePath{DatastorePath: req.DestName}
		}
		if _, err := os.Stat(dest); err == nil && !vmTrue(req.Force) {
			return nil, &types.FileAlreadyExists{FileFault: types.FileFault{File: req.DestName}}
		}
		if err := vmCopyFile(source, dest); err != nil {
			return nil, &types.CannotCreateFile{FileFault: types.FileFault{File: req.DestName}}
		}
		flat, err := os.Create(strings.TrimSuffix(dest, ".vmdk") + "-flat.vmdk")
		if err != nil {
			return nil, &types.CannotCreateFile{FileFault: types.FileFault{File: req.DestName}}
		}
		_ = flat.Close()
		return nil, nil
	})
	task.Info.Entity, task.Info.EntityName = nil, ""
	if d, ok := simulator.Map.Get(*dc).(*simulator.Datacenter); ok {
		task.Info.Entity, task.Info.EntityName = &d.Self, d.Name
	}
	c.reply(c.method.Name+"Response", &taskResponse{Returnval: task.Run()})
}

// vmDiskFile is the local file of a datastore path of a datacenter.
func vmDiskFile(name string, dcRef types.ManagedObjectReference) (string, bool) {
	var p object.DatastorePath
	if !p.FromString(name) || p.Path == "" {
		return "", false
	}
	dc, ok := simulator.Map.Get(dcRef).(*simulator.Datacenter)
	if !ok {
		return "", false
	}
	ds := vmDatastore(p.Datastore, dc.Datastore)
	if ds == nil {
		return "", false
	}
	return path.Join(ds.Info.GetDatastoreInfo().Url, p.Path), true
}

func vmTrue(b *bool) bool { return b != nil && *b }

func vmCopyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(path.Dir(to), 0o700); err != nil {
		return err
	}
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
