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

// WaitForUpdatesEx answers as soon as an update is pending.
//
// vcsim 0.24.2's WaitForUpdatesEx looks at the updates it collected only
// on a 250 ms ticker, even when maxWaitSeconds is 0 and even when the
// update was already there when the call came in, so every task wait that
// is not answered by the initial state costs up to 250 ms. It also
// registers every session's collector as a registry handler under the
// same reference (the per-session copies of the singleton share theirs),
// so only the last session to wait hears about updates; accepts any
// version string; and matches a change of "infoX" to a filter on "info".
//
// pcCollector's waits are event driven: a listener of its own (a registry
// handler with a reference nobody else has) records, per object, the last
// change of each property and wakes the waits of its collector. A wait
// then works out, for each filter:
//   - enter: objects the filter selects now that it has not reported
//     (all of them for version ""), with all their requested properties;
//   - leave: objects it reported that it no longer selects;
//   - modify: requested properties of reported objects touched by a
//     change: the property itself, one below it (partialUpdates: the
//     nested change as it came, else the whole requested property) or one
//     above it (the requested property's current value).
//
// Versions are a counter per collector: "" starts over with the full state;
// the version before the last one returned gets the last update set again
// (its answer may have been lost on the way), any other version but the
// last is InvalidCollectorVersion.
// maxWaitSeconds 0 computes once without waiting; a timeout returns no
// update set; CancelWaitForUpdates ends the waits in progress with
// RequestCanceled. WaitForUpdates (no limit) and CheckForUpdates (no
// wait) are the same wait. maxObjectUpdates is ignored (every update is
// returned at once, never truncated).
//
// Bounds: a listener forgets the changes it recorded past pcDirtyMax
// objects and the next wait then reports every requested property of
// every object its filters reported; the listeners of sessions that are
// gone (the per-session copies of the singleton collector are never
// destroyed) are stopped by the next wait after pcSweepEvery.

package main

import (
	"flag"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// pcWait is the wait state of one collector; its zero value is ready.
type pcWait struct {
	mu       sync.Mutex
	listener *pcListener
	dirty    map[types.ManagedObjectReference]map[string]types.PropertyChange
	overflow bool          // dirty was dropped: report everything
	changed  chan struct{} // closed by the next update
	canceled chan struct{} // closed by CancelWaitForUpdates

	round   sync.Mutex // one update calculation at a time; guards the rest
	version int64
	last    *types.UpdateSet                                                       // the update set of version
	seen    map[types.ManagedObjectReference]map[types.ManagedObjectReference]bool // filter -> objects reported
}

// pcListener hears every registry change for one collector.
type pcListener struct {
	self      types.ManagedObjectReference
	collector types.ManagedObjectReference
	w         *pcWait
}

var pcListeners int64

func (l *pcListener) Reference() types.ManagedObjectReference { return l.self }

func (l *pcListener) PutObject(obj mo.Reference) { l.w.note(obj.Reference(), nil) }

func (l *pcListener) UpdateObject(obj mo.Reference, changes []types.PropertyChange) {
	l.w.note(obj.Reference(), changes)
}

func (l *pcListener) RemoveObject(ref types.ManagedObjectReference) {
	if ref == l.collector && ref.Value != "propertyCollector" {
		// Logout removes the session's collectors this way (all but the
		// session's copy of the singleton, which shares its reference).
		l.w.stop()
		return
	}
	l.w.note(ref, nil)
}

// note records changes of an object and wakes the waits.
func (w *pcWait) note(ref types.ManagedObjectReference, changes []types.PropertyChange) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.listener == nil {
		return
	}
	if w.overflow || (len(w.dirty) >= pcDirtyMax && w.dirty[ref] == nil) {
		w.overflow, w.dirty = true, nil
		w.wakeLocked()
		return
	}
	if w.dirty == nil {
		w.dirty = make(map[types.ManagedObjectReference]map[string]types.PropertyChange)
	}
	props := w.dirty[ref]
	if props == nil {
		props = make(map[string]types.PropertyChange)
		w.dirty[ref] = props
	}
	for _, c := range changes {
		props[c.Name] = c
	}
	w.wakeLocked()
}

func (w *pcWait) wakeLocked() {
	if w.changed != nil {
		close(w.changed)
	}
	w.changed = make(chan struct{})
}

// pcDirtyMax bounds the objects a listener records changes of.
var pcDirtyMax = 20000

func init() {
	flag.IntVar(&pcDirtyMax, "pc-dirty-max", pcDirtyMax,
		"objects whose changes a waiting property collector records before it reports everything instead (tests)")
}

// pcSweepEvery is how often a wait looks for listeners of sessions that
// are gone.
const pcSweepEvery = time.Minute

// pcListening maps the wait state of each listening collector to the key
// of its session.
var pcListening struct {
	sync.Mutex
	sessions  map[*pcWait]string
	lastSweep time.Time
}

// pcSweep stops the listeners of sessions that are gone.
func pcSweep() {
	pcListening.Lock()
	if time.Since(pcListening.lastSweep) < pcSweepEvery {
		pcListening.Unlock()
		return
	}
	pcListening.lastSweep = time.Now()
	live := make(map[string]bool)
	for _, s := range authSessions() {
		live[s.Key] = true
	}
	var gone []*pcWait
	for w, key := range pcListening.sessions {
		if !live[key] {
			gone = append(gone, w)
			delete(pcListening.sessions, w)
		}
	}
	pcListening.Unlock()
	for _, w := range gone {
		w.stop()
	}
}

// start listens to the registry (from the first wait on) and returns the
// channels that end this wait: the next update and a cancel.
func (w *pcWait) start(ctx *simulator.Context, collector types.ManagedObjectReference) (changed, canceled chan struct{}) {
	pcSweep()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.listener == nil && ctx.Session != nil {
		pcListening.Lock()
		if pcListening.sessions == nil {
			pcListening.sessions = make(map[*pcWait]string)
		}
		pcListening.sessions[w] = ctx.Session.Key
		pcListening.Unlock()
	}
	if w.listener == nil {
		n := atomic.AddInt64(&pcListeners, 1)
		w.listener = &pcListener{
			self:      types.ManagedObjectReference{Type: "PcWaitListener", Value: "pc-wait-" + strconv.FormatInt(n, 10)},
			collector: collector,
			w:         w,
		}
		simulator.Map.AddHandler(w.listener)
	}
	if w.changed == nil {
		w.changed = make(chan struct{})
	}
	if w.canceled == nil {
		w.canceled = make(chan struct{})
	}
	return w.changed, w.canceled
}

// next is the channel closed by the next update.
func (w *pcWait) next() chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

// takeDirty returns the changes recorded since the last call; all is true
// when they were too many to keep.
func (w *pcWait) takeDirty() (dirty map[types.ManagedObjectReference]map[string]types.PropertyChange, all bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	dirty, all = w.dirty, w.overflow
	w.dirty, w.overflow = nil, false
	return dirty, all
}

func (w *pcWait) cancel() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.canceled != nil {
		close(w.canceled)
	}
	w.canceled = make(chan struct{})
}

// stop stops listening and cancels the waits in progress.
func (w *pcWait) stop() {
	w.mu.Lock()
	l := w.listener
	w.listener, w.dirty = nil, nil
	w.mu.Unlock()
	if l != nil {
		simulator.Map.RemoveHandler(l)
	}
	pcListening.Lock()
	delete(pcListening.sessions, w)
	pcListening.Unlock()
	w.cancel()
}

// WaitForUpdatesEx returns the changes since version, waiting at most
// options.maxWaitSeconds for one (for ever when unset).
func (pc *pcCollector) WaitForUpdatesEx(ctx *simulator.Context, req *types.WaitForUpdatesEx) soap.HasFault {
	body := new(methods.WaitForUpdatesExBody)
	set, fault := pc.waitForUpdates(ctx, req.Version, req.Options)
	if fault != nil {
		body.Fault_ = fault
		return body
	}
	body.Res = &types.WaitForUpdatesExResponse{Returnval: set}
	return body
}

// WaitForUpdates (deprecated) waits without a limit.
func (pc *pcCollector) WaitForUpdates(ctx *simulator.Context, req *types.WaitForUpdates) soap.HasFault {
	body := new(methods.WaitForUpdatesBody)
	set, fault := pc.waitForUpdates(ctx, req.Version, nil)
	if fault != nil {
		body.Fault_ = fault
		return body
	}
	body.Res = &types.WaitForUpdatesResponse{Returnval: *set}
	return body
}

// CheckForUpdates (deprecated) does not wait.
func (pc *pcCollector) CheckForUpdates(ctx *simulator.Context, req *types.CheckForUpdates) soap.HasFault {
	body := new(methods.CheckForUpdatesBody)
	zero := int32(0)
	set, fault := pc.waitForUpdates(ctx, req.Version, &types.WaitOptions{MaxWaitSeconds: &zero})
	if fault != nil {
		body.Fault_ = fault
		return body
	}
	body.Res = &types.CheckForUpdatesResponse{Returnval: set}
	return body
}

// CancelWaitForUpdates ends the waits in progress on this collector.
func (pc *pcCollector) CancelWaitForUpdates(ctx *simulator.Context, req *types.CancelWaitForUpdates) soap.HasFault {
	pc.wait.cancel()
	return &methods.CancelWaitForUpdatesBody{Res: new(types.CancelWaitForUpdatesResponse)}
}

// DestroyPropertyCollector also stops the collector's listener.
func (pc *pcCollector) DestroyPropertyCollector(ctx *simulator.Context, req *types.DestroyPropertyCollector) soap.HasFault {
	pc.wait.stop()
	return pc.PropertyCollector.DestroyPropertyCollector(ctx, req)
}

func (pc *pcCollector) waitForUpdates(ctx *simulator.Context, version string, opts *types.WaitOptions) (*types.UpdateSet, *soap.Fault) {
	once := false
	var timeout <-chan time.Time
	if opts != nil && opts.MaxWaitSeconds != nil {
		switch s := *opts.MaxWaitSeconds; {
		case s < 0:
			return nil, simulator.Fault("maxWaitSeconds must not be negative",
				&types.InvalidArgument{InvalidProperty: "maxWaitSeconds"})
		case s == 0:
			once = true
		default:
			timer := time.NewTimer(time.Duration(s) * time.Second)
			defer timer.Stop()
			timeout = timer.C
		}
	}
	w := &pc.wait
	changed, canceled := w.start(ctx, pc.Self)
	for {
		set, fault := pc.updateRound(ctx, version)
		if fault != nil || set != nil || once {
			return set, fault
		}
		select {
		case <-changed:
			changed = w.next()
		case <-timeout:
			return nil, nil
		case <-canceled:
			return nil, simulator.Fault("", &types.RequestCanceled{})
		}
	}
}

// updateRound computes the update set since version: nil when there is
// nothing to report (never for version "").
func (pc *pcCollector) updateRound(ctx *simulator.Context, version string) (*types.UpdateSet, *soap.Fault) {
	w := &pc.wait
	w.round.Lock()
	defer w.round.Unlock()
	if version != "" && version != strconv.FormatInt(w.version, 10) {
		if w.last != nil && version == strconv.FormatInt(w.version-1, 10) {
			return w.last, nil // the client missed our last answer: again
		}
		return nil, simulator.Fault("unknown or outdated version "+strconv.Quote(version),
			&types.InvalidCollectorVersion{})
	}
	dirty, all := w.takeDirty()
	if version == "" || w.seen == nil {
		w.seen = make(map[types.ManagedObjectReference]map[types.ManagedObjectReference]bool)
	}
	set := new(types.UpdateSet)
	live := make(map[types.ManagedObjectReference]bool)
	for _, ref := range append([]types.ManagedObjectReference(nil), pc.Filter...) {
		f, ok := pcLookup(ctx, ref).(*simulator.PropertyFilter)
		if !ok {
			continue
		}
		live[ref] = true
		fu, fault := pc.filterUpdate(ctx, ref, f, dirty, all)
		if fault != nil {
			return nil, pcFault(fault)
		}
		if len(fu.ObjectSet) != 0 {
			set.FilterSet = append(set.FilterSet, fu)
		}
	}
	for ref := range w.seen {
		if !live[ref] {
			delete(w.seen, ref)
		}
	}
	if len(set.FilterSet) == 0 && version != "" {
		return nil, nil
	}
	w.version++
	set.Version = strconv.FormatInt(w.version, 10)
	w.last = set
	return set, nil
}

// filterUpdate is what changed for one filter: objects that entered its
// selection, changes of the ones it reported (all of their properties when
// all is set), and objects that left.
func (pc *pcCollector) filterUpdate(ctx *simulator.Context, ref types.ManagedObjectReference, f *simulator.PropertyFilter,
	dirty map[types.ManagedObjectReference]map[string]types.PropertyChange, all bool) (types.PropertyFilterUpdate, types.BaseMethodFault) {
	fu := types.PropertyFilterUpdate{Filter: ref}
	spec := f.Spec
	spec.ReportMissingObjectsInResults = types.NewBool(true) // a gone object leaves
	objects, fault := pcRetrieve(ctx, &pc.PropertyCollector, []types.PropertyFilterSpec{spec})
	if fault != nil {
		return fu, fault
	}
	seen := pc.wait.seen[ref]
	if seen == nil {
		seen = make(map[types.ManagedObjectReference]bool)
		pc.wait.seen[ref] = seen
	}
	current := make(map[types.ManagedObjectReference]*types.ObjectContent, len(objects))
	old := make(map[types.ManagedObjectReference]bool) // reported before this round
	for i := range objects {
		o := &objects[i]
		current[o.Obj] = o
		if seen[o.Obj] {
			old[o.Obj] = true
			continue
		}
		seen[o.Obj] = true
		fu.ObjectSet = append(fu.ObjectSet, pcWholeUpdate(o, types.ObjectUpdateKindEnter))
	}
	if all {
		for i := range objects {
			if o := &objects[i]; old[o.Obj] && len(o.PropSet) != 0 {
				fu.ObjectSet = append(fu.ObjectSet, pcWholeUpdate(o, types.ObjectUpdateKindModify))
			}
		}
	} else {
		for _, obj := range pcSortedRefs(dirty) {
			if !old[obj] {
				continue
			}
			changes := pcMatchChanges(ctx, spec.PropSet, f.PartialUpdates, current[obj], dirty[obj])
			if len(changes) != 0 {
				fu.ObjectSet = append(fu.ObjectSet, types.ObjectUpdate{Obj: obj, Kind: types.ObjectUpdateKindModify, ChangeSet: changes})
			}
		}
	}
	fu.ObjectSet = append(fu.ObjectSet, pcLeaves(seen, current)...)
	return fu, nil
}

// pcWholeUpdate reports all requested properties of an object.
func pcWholeUpdate(o *types.ObjectContent, kind types.ObjectUpdateKind) types.ObjectUpdate {
	ou := types.ObjectUpdate{Obj: o.Obj, Kind: kind}
	if kind == types.ObjectUpdateKindEnter {
		ou.MissingSet = o.MissingSet
	}
	for _, p := range o.PropSet {
		ou.ChangeSet = append(ou.ChangeSet, types.PropertyChange{Name: p.Name, Op: types.PropertyChangeOpAssign, Val: p.Val})
	}
	return ou
}

// pcLeaves reports (and forgets) the objects seen that are no longer
// selected.
func pcLeaves(seen map[types.ManagedObjectReference]bool, current map[types.ManagedObjectReference]*types.ObjectContent) []types.ObjectUpdate {
	var gone []types.ManagedObjectReference
	for obj := range seen {
		if current[obj] == nil {
			gone = append(gone, obj)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].Value < gone[j].Value })
	var updates []types.ObjectUpdate
	for _, obj := range gone {
		delete(seen, obj)
		updates = append(updates, types.ObjectUpdate{Obj: obj, Kind: types.ObjectUpdateKindLeave})
	}
	return updates
}

func pcSortedRefs(m map[types.ManagedObjectReference]map[string]types.PropertyChange) []types.ManagedObjectReference {
	refs := make([]types.ManagedObjectReference, 0, len(m))
	for ref := range m {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool {
		if refs[i].Type != refs[j].Type {
			return refs[i].Type < refs[j].Type
		}
		return refs[i].Value < refs[j].Value
	})
	return refs
}

// pcMatchChanges are the property changes a filter reports for changes of
// an object it selected (o: its requested properties as they are now).
func pcMatchChanges(ctx *simulator.Context, propSet []types.PropertySpec, partial bool,
	o *types.ObjectContent, changes map[string]types.PropertyChange) []types.PropertyChange {
	names := make([]string, 0, len(changes))
	for name := range changes {
		names = append(names, name)
	}
	sort.Strings(names)
	now := make(map[string]types.AnyType, len(o.PropSet))
	for _, p := range o.PropSet {
		now[p.Name] = p.Val
	}
	var out []types.PropertyChange
	reported := make(map[string]bool)
	report := func(c types.PropertyChange) {
		if !reported[c.Name] {
			reported[c.Name] = true
			out = append(out, c)
		}
	}
	current := func(name string) types.PropertyChange {
		return types.PropertyChange{Name: name, Op: types.PropertyChangeOpAssign, Val: now[name]}
	}
	obj := pcLookup(ctx, o.Obj)
	if obj == nil {
		return nil
	}
	rtype := pcManagedObject(obj).Type()
	for _, ps := range propSet {
		if !pcIsA(o.Obj, rtype, ps.Type) {
			continue
		}
		for _, name := range names {
			c := changes[name]
			if pcTrue(ps.All) {
				report(c)
				continue
			}
			for _, path := range ps.PathSet {
				switch {
				case name == path || strings.HasPrefix(path, name+".") ||
					strings.HasPrefix(path, name+"["): // a keyed path below it
					report(current(path))
				case strings.HasPrefix(name, path+"."):
					if partial {
						report(c)
					} else {
						report(current(path))
					}
				}
			}
		}
	}
	return out
}
