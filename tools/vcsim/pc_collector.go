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

// PropertyCollector: paging, type-aware traversal and Fetch of unset
// properties, as vCenter does them.
//
// vcsim 0.24.2's PropertyCollector
//   - ignores RetrieveOptions.maxObjects and has no
//     ContinueRetrievePropertiesEx / CancelRetrievePropertiesEx, so a client
//     paging through a large inventory gets MethodNotFound;
//   - ignores TraversalSpec.type: every step of a selectSet is applied to
//     every object reached, so the classic recursive traversal specs
//     (Folder.childEntity, Datacenter.vmFolder, ComputeResource.host, ...)
//     recurse until the stack overflows;
//   - panics in Fetch (pyvmomi's lazy attribute reads) when the property is
//     unset, and the client sees its connection dropped.
//
// pcCollector replaces the PropertyCollector singleton. Each session gets
// its own copy of the singleton (made with reflect.New of the registered
// type) and CreatePropertyCollector makes more, so every collector a client
// can reach is a pcCollector. It selects the objects itself, with vSphere's
// traversal rules, and lets the stock collector read the properties of the
// objects selected. WaitForUpdatesEx and its kin are pc_wait.go's;
// CreateFilter and the rest are the stock ones.
//
// Result sets left by a paged RetrievePropertiesEx belong to the collector
// that made them, so to the session: ContinueRetrievePropertiesEx and
// CancelRetrievePropertiesEx with a token of another collector, an unknown
// one, or one already used up fail with InvalidArgument, as on vCenter.

package main

import (
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	installers = append(installers, pcInstall)
}

func pcInstall(*simulator.Model, *simulator.Server) {
	ref := simulator.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance).Content.PropertyCollector
	pc := new(pcCollector)
	pc.Self = ref
	simulator.Map.Put(pc)
}

// pcCollector is a PropertyCollector. The stock type must stay its first
// field (the simulator digs the mo.PropertyCollector out of field 0), and a
// zero pcCollector must be ready for use (reflect.New makes the per-session
// ones).
type pcCollector struct {
	simulator.PropertyCollector

	pagesMu sync.Mutex
	pages   map[string]*pcPage

	wait pcWait // WaitForUpdatesEx (pc_wait.go)
}

// pcPage is what is left of a paged result.
type pcPage struct {
	objects []types.ObjectContent
	max     int
}

// pcTokens numbers the continuation tokens of all collectors, so a token of
// one collector is never valid on another.
var pcTokens int64

// RetrievePropertiesEx returns at most options.maxObjects objects, and a
// token to read the rest when there are more.
func (pc *pcCollector) RetrievePropertiesEx(ctx *simulator.Context, req *types.RetrievePropertiesEx) soap.HasFault {
	body := new(methods.RetrievePropertiesExBody)
	objects, fault := pcRetrieve(ctx, &pc.PropertyCollector, req.SpecSet)
	if fault != nil {
		body.Fault_ = pcFault(fault)
		return body
	}
	max := 0
	if n := req.Options.MaxObjects; n > 0 {
		max = int(n)
	}
	body.Res = &types.RetrievePropertiesExResponse{Returnval: pc.page(objects, max)}
	return body
}

// page returns the first page of objects (all when max is 0). vCenter
// answers without a result when nothing matched.
func (pc *pcCollector) page(objects []types.ObjectContent, max int) *types.RetrieveResult {
	if len(objects) == 0 {
		return nil
	}
	res := &types.RetrieveResult{Objects: objects}
	if max == 0 || len(objects) <= max {
		return res
	}
	res.Objects = objects[:max:max]
	res.Token = strconv.FormatInt(atomic.AddInt64(&pcTokens, 1), 10)
	pc.pagesMu.Lock()
	if pc.pages == nil {
		pc.pages = make(map[string]*pcPage)
	}
	pc.pages[res.Token] = &pcPage{objects: objects[max:], max: max}
	pc.pagesMu.Unlock()
	return res
}

// take removes the result set of token, nil when there is none.
func (pc *pcCollector) take(token string) *pcPage {
	pc.pagesMu.Lock()
	defer pc.pagesMu.Unlock()
	p := pc.pages[token]
	delete(pc.pages, token)
	return p
}

func pcBadToken() *soap.Fault {
	return simulator.Fault("invalid or expired token", &types.InvalidArgument{InvalidProperty: "token"})
}

// ContinueRetrievePropertiesEx returns the next page of a result set.
func (pc *pcCollector) ContinueRetrievePropertiesEx(ctx *simulator.Context, req *types.ContinueRetrievePropertiesEx) soap.HasFault {
	body := new(methods.ContinueRetrievePropertiesExBody)
	p := pc.take(req.Token)
	if p == nil {
		body.Fault_ = pcBadToken()
		return body
	}
	res := pc.page(p.objects, p.max)
	body.Res = &types.ContinueRetrievePropertiesExResponse{Returnval: *res}
	return body
}

// CancelRetrievePropertiesEx discards the rest of a result set.
func (pc *pcCollector) CancelRetrievePropertiesEx(ctx *simulator.Context, req *types.CancelRetrievePropertiesEx) soap.HasFault {
	body := new(methods.CancelRetrievePropertiesExBody)
	if pc.take(req.Token) == nil {
		body.Fault_ = pcBadToken()
		return body
	}
	body.Res = new(types.CancelRetrievePropertiesExResponse)
	return body
}

// RetrieveProperties (deprecated, all results at once) with the same
// traversal rules.
func (pc *pcCollector) RetrieveProperties(ctx *simulator.Context, req *types.RetrieveProperties) soap.HasFault {
	body := new(methods.RetrievePropertiesBody)
	objects, fault := pcRetrieve(ctx, &pc.PropertyCollector, req.SpecSet)
	if fault != nil {
		body.Fault_ = pcFault(fault)
		return body
	}
	body.Res = &types.RetrievePropertiesResponse{Returnval: objects}
	return body
}

// CreatePropertyCollector makes a pcCollector, not a stock one.
func (pc *pcCollector) CreatePropertyCollector(ctx *simulator.Context, req *types.CreatePropertyCollector) soap.HasFault {
	c := new(pcCollector)
	c.Self.Type = "PropertyCollector" // else the session names it after our Go type
	return &methods.CreatePropertyCollectorBody{
		Res: &types.CreatePropertyCollectorResponse{Returnval: ctx.Session.Put(c).Reference()},
	}
}

func pcFault(fault types.BaseMethodFault) *soap.Fault {
	if _, ok := fault.(*types.ManagedObjectNotFound); ok {
		return simulator.Fault("The object has already been deleted or has not been completely created", fault)
	}
	return simulator.Fault("", fault)
}

// FetchResponse is the response of Fetch: the SOAP element is named after
// the Go type, so the name is not ours to choose.
type FetchResponse struct {
	Returnval types.AnyType `xml:"returnval,omitempty,typeattr"`
}

type pcFetchBody struct {
	Res    *FetchResponse `xml:"FetchResponse,omitempty"`
	Fault_ *soap.Fault    `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
}

func (b *pcFetchBody) Fault() *soap.Fault { return b.Fault_ }

// Fetch reads one property of one object (pyvmomi's lazy attribute reads).
// An unset property is an empty response, as on vCenter. The request type
// lives in a package of the simulator we cannot import, hence interface{}:
// the dispatcher passes it by reflection.
func (pc *pcCollector) Fetch(ctx *simulator.Context, req interface{}) soap.HasFault {
	rv := reflect.ValueOf(req)
	if rv.Kind() == reflect.Ptr {
		rv = rv.Elem()
	}
	thisField, propField := rv.FieldByName("This"), rv.FieldByName("Prop")
	body := new(pcFetchBody)
	if !thisField.IsValid() || !propField.IsValid() {
		body.Fault_ = simulator.Fault("", &types.InvalidRequest{})
		return body
	}
	this := thisField.Interface().(types.ManagedObjectReference)
	prop := propField.String()

	if this == vim25.ServiceInstance && prop == "content" {
		// The stock one trims the content for ovftool; keep that.
		out := reflect.ValueOf(&pc.PropertyCollector).MethodByName("Fetch").Call(
			[]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(req)})
		return out[0].Interface().(soap.HasFault)
	}

	// Fetch may name the object by a super type (ManagedEntity,
	// ComputeResource, ...); the property collector wants the real one.
	this = pcConcreteRef(ctx, this)

	objects, fault := pcRetrieve(ctx, &pc.PropertyCollector, []types.PropertyFilterSpec{{
		ObjectSet: []types.ObjectSpec{{Obj: this}},
		PropSet:   []types.PropertySpec{{Type: this.Type, PathSet: []string{prop}}},
	}})
	if fault != nil {
		body.Fault_ = pcFault(fault)
		return body
	}
	body.Res = new(FetchResponse)
	if len(objects) == 0 {
		return body
	}
	obj := objects[0]
	for _, p := range obj.PropSet {
		if p.Name == prop {
			body.Res.Returnval = p.Val
			return body
		}
	}
	if len(obj.MissingSet) != 0 {
		f := obj.MissingSet[0].Fault
		body.Res = nil
		body.Fault_ = simulator.Fault(f.LocalizedMessage, f.Fault)
	}
	return body
}

// pcConcreteTypes are the managed object types a reference of a super
// type may stand for.
var pcConcreteTypes = map[string][]string{
	"ManagedEntity": {"VirtualMachine", "HostSystem", "Folder", "Datacenter",
		"ClusterComputeResource", "ComputeResource", "ResourcePool", "VirtualApp",
		"Datastore", "Network", "DistributedVirtualPortgroup", "OpaqueNetwork",
		"VmwareDistributedVirtualSwitch", "DistributedVirtualSwitch", "StoragePod"},
	"ComputeResource":          {"ClusterComputeResource"},
	"ResourcePool":             {"VirtualApp"},
	"Network":                  {"DistributedVirtualPortgroup", "OpaqueNetwork"},
	"DistributedVirtualSwitch": {"VmwareDistributedVirtualSwitch"},
	"Folder":                   {"StoragePod"},
}

func pcConcreteRef(ctx *simulator.Context, ref types.ManagedObjectReference) types.ManagedObjectReference {
	if pcLookup(ctx, ref) != nil {
		return ref
	}
	for _, kind := range pcConcreteTypes[ref.Type] {
		r := types.ManagedObjectReference{Type: kind, Value: ref.Value}
		if pcLookup(ctx, r) != nil {
			return r
		}
	}
	return ref
}

// pcLookup finds an object as the stock collector does: in the session
// first (views, filters, the session's own collector), then in the
// inventory.
func pcLookup(ctx *simulator.Context, ref types.ManagedObjectReference) mo.Reference {
	if ctx.Session != nil {
		return ctx.Session.Get(ref)
	}
	return ctx.Map.Get(ref)
}

// pcManagedObject returns the mo.* struct inside a simulator object: the
// simulator's types embed it as their first field, possibly a few levels
// down.
func pcManagedObject(obj mo.Reference) reflect.Value {
	type getter interface{ Get() mo.Reference }
	if g, ok := obj.(getter); ok {
		obj = g.Get()
	}
	rval := reflect.ValueOf(obj).Elem()
	for rval.Kind() == reflect.Struct && rval.NumField() > 0 &&
		!strings.HasSuffix(rval.Type().PkgPath(), "/vim25/mo") {
		rval = rval.Field(0)
	}
	return rval
}

// pcIsA reports whether an object (its reference and mo struct type) is of
// the managed object type kind or of a subtype of it.
func pcIsA(ref types.ManagedObjectReference, rtype reflect.Type, kind string) bool {
	if kind == "" || ref.Type == kind || rtype.Name() == kind {
		return true
	}
	if rtype.Kind() != reflect.Struct {
		return false
	}
	f, ok := rtype.FieldByName(kind)
	return ok && f.Anonymous
}

// pcAs views the mo struct rval of an object as one of type kind: itself,
// or the embedded struct of its super type kind (whose properties are the
// ones a spec of type kind may name). ok is false when the object is not a
// kind.
func pcAs(ref types.ManagedObjectReference, rval reflect.Value, kind string) (reflect.Value, bool) {
	rtype := rval.Type()
	if !pcIsA(ref, rtype, kind) {
		return reflect.Value{}, false
	}
	if kind == "" || ref.Type == kind || rtype.Name() == kind {
		return rval, true
	}
	f, _ := rtype.FieldByName(kind)
	if f.Type.Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	return rval.FieldByIndex(f.Index), true
}

// pcPathRefs reads the managed object references at property path p of the
// mo struct rval. ok is false when the type has no such property.
func pcPathRefs(rval reflect.Value, p string) (refs []types.ManagedObjectReference, ok bool) {
	for _, name := range strings.Split(p, ".") {
		for rval.Kind() == reflect.Interface || rval.Kind() == reflect.Ptr {
			if rval.IsNil() {
				return nil, true // unset on the way: no objects
			}
			rval = rval.Elem()
		}
		if rval.Kind() != reflect.Struct || name == "" {
			return nil, false
		}
		field := strings.ToUpper(name[:1]) + name[1:]
		sf, found := rval.Type().FieldByName(field)
		if !found {
			return nil, false
		}
		rval = rval.FieldByIndex(sf.Index)
		// A type embedding a type of the same name as the property
		// (mo.VirtualApp embeds mo.ResourcePool, which has the property
		// resourcePool): the property is the field inside.
		for sf.Anonymous && rval.Kind() == reflect.Struct {
			if sf, found = rval.Type().FieldByName(field); !found {
				return nil, false
			}
			rval = rval.FieldByIndex(sf.Index)
		}
	}
	switch v := rval.Interface().(type) {
	case types.ManagedObjectReference:
		return []types.ManagedObjectReference{v}, true
	case *types.ManagedObjectReference:
		if v != nil {
			return []types.ManagedObjectReference{*v}, true
		}
		return nil, true
	case []types.ManagedObjectReference:
		return append([]types.ManagedObjectReference(nil), v...), true
	}
	return nil, true // not references: nothing to traverse
}

// pcStep is one object to visit with the selection specs to apply to it.
type pcStep struct {
	ref    types.ManagedObjectReference
	root   bool // named by an ObjectSpec, not reached by a TraversalSpec
	report bool // its properties are wanted (the spec's skip is false)
	with   []types.BaseSelectionSpec
}

type pcVisit struct {
	ref  types.ManagedObjectReference
	spec *types.TraversalSpec
}

// pcSelect returns the objects a filter spec selects, in traversal order.
// A TraversalSpec only applies to objects of its type (or a subtype), and
// an object is followed through the same spec once, so the recursive specs
// terminate.
func pcSelect(ctx *simulator.Context, spec *types.PropertyFilterSpec) ([]types.ManagedObjectReference, types.BaseMethodFault) {
	named := make(map[string]*types.TraversalSpec)
	var collectNames func([]types.BaseSelectionSpec)
	seenSpec := make(map[*types.TraversalSpec]bool)
	collectNames = func(set []types.BaseSelectionSpec) {
		for _, s := range set {
			ts, ok := s.(*types.TraversalSpec)
			if !ok || seenSpec[ts] {
				continue
			}
			seenSpec[ts] = true
			if ts.Name != "" {
				named[ts.Name] = ts
			}
			collectNames(ts.SelectSet)
		}
	}
	for i := range spec.ObjectSet {
		collectNames(spec.ObjectSet[i].SelectSet)
	}

	var selected []types.ManagedObjectReference
	in := make(map[types.ManagedObjectReference]bool)
	add := func(ref types.ManagedObjectReference) {
		if !in[ref] {
			in[ref] = true
			selected = append(selected, ref)
		}
	}
	visited := make(map[pcVisit]bool)

	var stack []pcStep
	for i := len(spec.ObjectSet) - 1; i >= 0; i-- {
		o := spec.ObjectSet[i]
		stack = append(stack, pcStep{ref: o.Obj, root: true, report: !pcTrue(o.Skip), with: o.SelectSet})
	}
	for len(stack) > 0 {
		step := stack[len(stack)-1]
		stack = stack[:len(stack)-1]

		obj := pcLookup(ctx, step.ref)
		if obj == nil {
			if step.root && !pcTrue(spec.ReportMissingObjectsInResults) {
				return nil, &types.ManagedObjectNotFound{Obj: step.ref}
			}
			continue
		}
		if step.report {
			add(step.ref)
		}
		if len(step.with) == 0 {
			continue
		}

		pcRefreshView(ctx, obj)
		var next []pcStep
		var fault types.BaseMethodFault
		ctx.WithLock(obj, func() {
			rval := pcManagedObject(obj)
			for _, s := range step.with {
				ts, ok := s.(*types.TraversalSpec)
				if !ok {
					name := s.GetSelectionSpec().Name
					if ts = named[name]; ts == nil {
						fault = &types.InvalidArgument{InvalidProperty: "selectSet"}
						return
					}
				}
				as, isA := pcAs(step.ref, rval, ts.Type)
				if !isA {
					continue
				}
				refs, ok := pcPathRefs(as, ts.Path)
				if !ok {
					if ts.Type != "" {
						fault = &types.InvalidProperty{Name: ts.Path}
						return
					}
					continue
				}
				for _, ref := range refs {
					v := pcVisit{ref, ts}
					if visited[v] {
						continue
					}
					visited[v] = true
					next = append(next, pcStep{ref: ref, report: !pcTrue(ts.Skip), with: ts.SelectSet})
				}
			}
		})
		if fault != nil {
			return nil, fault
		}
		for i := len(next) - 1; i >= 0; i-- {
			stack = append(stack, next[i])
		}
	}
	return selected, nil
}

func pcTrue(b *bool) bool { return b != nil && *b }

// pcRetrieve runs the filter specs: our selection, the stock collector's
// property reading. Objects selected by several specs are merged.
func pcRetrieve(ctx *simulator.Context, stock *simulator.PropertyCollector, specs []types.PropertyFilterSpec) ([]types.ObjectContent, types.BaseMethodFault) {
	var objects []types.ObjectContent
	index := make(map[types.ManagedObjectReference]int)
	for i := range specs {
		spec := &specs[i]
		refs, fault := pcSelect(ctx, spec)
		if fault != nil {
			return nil, fault
		}
		if len(refs) == 0 || len(spec.PropSet) == 0 {
			continue
		}
		for _, ref := range refs {
			if obj := pcLookup(ctx, ref); obj != nil {
				pcRefreshView(ctx, obj)
			}
		}
		set := make([]types.ObjectSpec, len(refs))
		for j, ref := range refs {
			set[j] = types.ObjectSpec{Obj: ref}
		}
		propSet, keyed, extra := pcKeyedPaths(spec.PropSet)
		res := stock.RetrievePropertiesEx(ctx, &types.RetrievePropertiesEx{
			This: stock.Self,
			SpecSet: []types.PropertyFilterSpec{{
				PropSet:                       propSet,
				ObjectSet:                     set,
				ReportMissingObjectsInResults: types.NewBool(true),
			}},
		})
		if f := res.Fault(); f != nil {
			if mf, ok := f.Detail.Fault.(types.BaseMethodFault); ok {
				return nil, mf
			}
			return nil, &types.SystemError{Reason: f.String}
		}
		r := res.(*methods.RetrievePropertiesExBody).Res.Returnval
		if r == nil {
			continue
		}
		pcKeyedResults(r.Objects, keyed, extra)
		for _, o := range r.Objects {
			j, seen := index[o.Obj]
			if !seen {
				index[o.Obj] = len(objects)
				objects = append(objects, o)
				continue
			}
			have := make(map[string]bool)
			for _, p := range objects[j].PropSet {
				have[p.Name] = true
			}
			for _, p := range o.PropSet {
				if !have[p.Name] {
					objects[j].PropSet = append(objects[j].PropSet, p)
				}
			}
			objects[j].MissingSet = append(objects[j].MissingSet, o.MissingSet...)
		}
	}
	return objects, nil
}
