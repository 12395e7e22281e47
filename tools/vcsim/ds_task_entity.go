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

// A task's info.entity is a managed entity, as pyVmomi insists.
//
// vcsim 0.24.2 names the object a task runs on as its info.entity, also
// when that object is no managed entity: the FileManager for
// DeleteDatastoreFile_Task, MoveDatastoreFile_Task and
// CopyDatastoreFile_Task, the VirtualDiskManager for its disk tasks, a
// HostDatastoreBrowser for searches. TaskInfo.entity is a ManagedEntity,
// so reading such a task's info with pyVmomi raises TypeError.
//
// dsTaskEntityHook unsets the entity (and entityName) of every new task
// whose entity is no managed entity, before the task runs. The front
// dsWrapTaskEntity then names the datacenter of the request (datacenter or
// sourceDatacenter) as the entity of the FileManager and VirtualDiskManager
// tasks it sees, as vCenter does.
//
// It also completes Copy/MoveDatastoreFile_Task: without
// destinationDatacenter the destination is in the source datacenter, as
// vSphere documents (vcsim failed them with InvalidArgument "dc").

package main

import (
	"net/http"
	"reflect"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	installers = append(installers, func(*simulator.Model, *simulator.Server) {
		simulator.Map.AddHandler(&dsTaskEntityHook{})
	})
	handlerWrappers = append(handlerWrappers, dsWrapTaskEntity)
}

// dsDatacenterTasks are the *_Task methods whose task gets the request's
// datacenter as its entity.
var dsDatacenterTasks = []string{
	"DeleteDatastoreFile_Task", "MoveDatastoreFile_Task", "CopyDatastoreFile_Task",
	"CopyVirtualDisk_Task", "CreateVirtualDisk_Task", "DeleteVirtualDisk_Task",
	"ExtendVirtualDisk_Task", "InflateVirtualDisk_Task", "MoveVirtualDisk_Task",
	"EagerZeroVirtualDisk_Task", "ZeroFillVirtualDisk_Task", "ShrinkVirtualDisk_Task",
	"DefragmentVirtualDisk_Task",
}

type dsTaskEntityHook struct{}

func (*dsTaskEntityHook) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "NovaVmwareExtTaskEntity", Value: "task-entity"}
}

func (*dsTaskEntityHook) PutObject(obj mo.Reference) {
	task, ok := obj.(*simulator.Task)
	if !ok {
		return
	}
	simulator.Map.WithLock(task, func() {
		if e := task.Info.Entity; e != nil {
			if _, isEntity := simulator.Map.Get(*e).(mo.Entity); !isEntity {
				task.Info.Entity = nil
				task.Info.EntityName = ""
			}
		}
	})
}

func (*dsTaskEntityHook) UpdateObject(mo.Reference, []types.PropertyChange) {}
func (*dsTaskEntityHook) RemoveObject(types.ManagedObjectReference)         {}

func dsWrapTaskEntity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, _ := decodeSOAPCall(r, dsDatacenterTasks...)
		if method == nil {
			next.ServeHTTP(w, r)
			return
		}
		dsDefaultDestination(r, method.Body)
		rec := recordResponse(next, r)
		if dc := dsRequestDatacenter(method.Body); dc != nil {
			if task, fault := taskOfAnswer(rec); fault == nil {
				simulator.Map.WithLock(task, func() {
					if task.Info.Entity == nil {
						simulator.Map.Update(task, []types.PropertyChange{
							{Name: "info.entity", Val: dc.Self},
							{Name: "info.entityName", Val: dc.Name},
						})
					}
				})
			}
		}
		replayResponse(w, rec)
	})
}

// dsRequestDatacenter is the datacenter a request names in its datacenter
// or sourceDatacenter field, nil when it names none.
func dsRequestDatacenter(req interface{}) *simulator.Datacenter {
	v := reflect.ValueOf(req)
	for v.Kind() == reflect.Ptr || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	for _, name := range []string{"Datacenter", "SourceDatacenter"} {
		f := v.FieldByName(name)
		if !f.IsValid() || f.IsNil() {
			continue
		}
		ref, ok := f.Interface().(*types.ManagedObjectReference)
		if !ok {
			continue
		}
		if dc, ok := simulator.Map.Get(*ref).(*simulator.Datacenter); ok {
			return dc
		}
	}
	return nil
}

// dsDefaultDestination puts the source datacenter of a Copy or
// MoveDatastoreFile_Task without destinationDatacenter into r.
func dsDefaultDestination(r *http.Request, req interface{}) {
	switch req := req.(type) {
	case *types.CopyDatastoreFile_Task:
		if req.DestinationDatacenter == nil && req.SourceDatacenter != nil {
			req.DestinationDatacenter = req.SourceDatacenter
			setSOAPBody(r, encodeSOAPRequest(&methods.CopyDatastoreFile_TaskBody{Req: req}))
		}
	case *types.MoveDatastoreFile_Task:
		if req.DestinationDatacenter == nil && req.SourceDatacenter != nil {
			req.DestinationDatacenter = req.SourceDatacenter
			setSOAPBody(r, encodeSOAPRequest(&methods.MoveDatastoreFile_TaskBody{Req: req}))
		}
	}
}
