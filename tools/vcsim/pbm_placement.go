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

// PBM's placement solver, filtering datastores by a policy's rules.
//
// govmomi 0.24's PbmCheckRequirements returns every datastore ("TODO:
// filter") and it has no PbmQueryMatchingHub. Here a datastore satisfies a
// policy as on vCenter: when it satisfies every rule of at least one of the
// policy's rule sets (sub-profiles); a policy without rules is satisfied
// by every datastore. The rules this simulator knows:
//
//   - tag-based rules (namespace http://www.vmware.com/storage/tag, the
//     capability id is the tag category, the values a set of tag names):
//     the datastore carries one of those tags of that category. Datastore
//     tags come from -ds-tags (vcsim has no tagging service of its own);
//   - vSAN rules (namespace VSAN, e.g. the stock "vSAN Default Storage
//     Policy"): only a vSAN datastore (summary.type vsan, see ds_vsan.go)
//     provides them;
//   - any other capability: no datastore provides it.
//
// PbmCheckRequirements answers one result per hub, with an error naming the
// unmet rule for an incompatible one; PbmQueryMatchingHub only the matching
// hubs. An unknown profile id is InvalidArgument(profileId), an unknown
// datastore PbmNonExistentHubs, as vCenter answers.

package main

import (
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/vmware/govmomi/pbm/methods"
	pbmsim "github.com/vmware/govmomi/pbm/simulator"
	pbmtypes "github.com/vmware/govmomi/pbm/types"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// pbmTagNamespace is the capability namespace of tag-based policy rules.
const pbmTagNamespace = "http://www.vmware.com/storage/tag"

var (
	pbmProfileManagerRef  = types.ManagedObjectReference{Type: "PbmProfileProfileManager", Value: "ProfileManager"}
	pbmPlacementSolverRef = types.ManagedObjectReference{Type: "PbmPlacementSolver", Value: "placementSolver"}
)

var dsTagsFlag = flag.String("ds-tags", "",
	"datastore tags for tag-based storage policies: NAME=CATEGORY:TAG[+CATEGORY:TAG...][,NAME=...], "+
		"e.g. LocalDS_1=Tier:gold")

// pbmTags is -ds-tags parsed: datastore name -> category -> tag names.
var pbmTags map[string]map[string][]string

func init() {
	modelSetups = append(modelSetups, pbmParseTags)
}

func pbmParseTags(*simulator.Model) error {
	pbmTags = map[string]map[string][]string{}
	if *dsTagsFlag == "" {
		return nil
	}
	for _, item := range strings.Split(*dsTagsFlag, ",") {
		name, tags, ok := strings.Cut(item, "=")
		if !ok || name == "" || tags == "" {
			return fmt.Errorf("-ds-tags %q: want NAME=CATEGORY:TAG[+CATEGORY:TAG...]", item)
		}
		for _, tag := range strings.Split(tags, "+") {
			category, value, ok := strings.Cut(tag, ":")
			if !ok || category == "" || value == "" {
				return fmt.Errorf("-ds-tags %q: tag %q is not CATEGORY:TAG", item, tag)
			}
			if pbmTags[name] == nil {
				pbmTags[name] = map[string][]string{}
			}
			pbmTags[name][category] = append(pbmTags[name][category], value)
		}
	}
	return nil
}

// pbmPlacementSolver replaces the stock PbmPlacementSolver.
type pbmPlacementSolver struct {
	types.ManagedObjectReference

	registry *simulator.Registry
}

func (s *pbmPlacementSolver) PbmCheckRequirements(req *pbmtypes.PbmCheckRequirements) soap.HasFault {
	body := new(methods.PbmCheckRequirementsBody)
	var constraints []pbmtypes.BasePbmCapabilityConstraints
	for _, r := range req.PlacementSubjectRequirement {
		switch r := r.(type) {
		case *pbmtypes.PbmPlacementCapabilityProfileRequirement:
			c, fault := s.profileConstraints(r.ProfileId)
			if fault != nil {
				body.Fault_ = fault
				return body
			}
			constraints = append(constraints, c)
		case *pbmtypes.PbmPlacementCapabilityConstraintsRequirement:
			constraints = append(constraints, r.Constraints)
		}
	}
	stores, fault := pbmHubs(req.HubsToSearch)
	if fault != nil {
		body.Fault_ = fault
		return body
	}
	body.Res = new(pbmtypes.PbmCheckRequirementsResponse)
	for _, ds := range stores {
		result := pbmtypes.PbmPlacementCompatibilityResult{Hub: pbmHub(ds)}
		for _, c := range constraints {
			if why := pbmUnmet(ds, c); why != "" {
				result.Error = append(result.Error, types.LocalizedMethodFault{
					Fault: &pbmtypes.PbmFault{}, LocalizedMessage: why,
				})
			}
		}
		body.Res.Returnval = append(body.Res.Returnval, result)
	}
	return body
}

func (s *pbmPlacementSolver) PbmQueryMatchingHub(req *pbmtypes.PbmQueryMatchingHub) soap.HasFault {
	body := new(methods.PbmQueryMatchingHubBody)
	constraints, fault := s.profileConstraints(req.Profile)
	if fault == nil {
		var stores []*simulator.Datastore
		if stores, fault = pbmHubs(req.HubsToSearch); fault == nil {
			body.Res = new(pbmtypes.PbmQueryMatchingHubResponse)
			for _, ds := range stores {
				if pbmUnmet(ds, constraints) == "" {
					body.Res.Returnval = append(body.Res.Returnval, pbmHub(ds))
				}
			}
			return body
		}
	}
	body.Fault_ = fault
	return body
}

// profileConstraints are the rules of a profile, as the profile manager
// has them; InvalidArgument(profileId) when there is no such profile.
func (s *pbmPlacementSolver) profileConstraints(id pbmtypes.PbmProfileId) (pbmtypes.BasePbmCapabilityConstraints, *soap.Fault) {
	manager := s.registry.Get(pbmProfileManagerRef).(*pbmProfileManager)
	var res soap.HasFault
	s.registry.WithLock(manager, func() {
		res = manager.PbmRetrieveContent(&pbmtypes.PbmRetrieveContent{ProfileIds: []pbmtypes.PbmProfileId{id}})
	})
	body := res.(*methods.PbmRetrieveContentBody)
	if body.Fault_ != nil || body.Res == nil || len(body.Res.Returnval) != 1 {
		return nil, simulator.Fault("unknown storage profile "+id.UniqueId,
			&types.InvalidArgument{InvalidProperty: "profileId"})
	}
	profile, ok := body.Res.Returnval[0].(*pbmtypes.PbmCapabilityProfile)
	if !ok {
		return nil, simulator.Fault("not a capability profile: "+id.UniqueId,
			&types.InvalidArgument{InvalidProperty: "profileId"})
	}
	return profile.Constraints, nil
}

// pbmHubs are the datastores named by hubs (every datastore when none is).
func pbmHubs(hubs []pbmtypes.PbmPlacementHub) ([]*simulator.Datastore, *soap.Fault) {
	var stores []*simulator.Datastore
	if len(hubs) == 0 {
		for _, e := range simulator.Map.All("Datastore") {
			stores = append(stores, e.(*simulator.Datastore))
		}
		sort.Slice(stores, func(i, j int) bool { return stores[i].Self.Value < stores[j].Self.Value })
		return stores, nil
	}
	var missing []pbmtypes.PbmPlacementHub
	for _, hub := range hubs {
		ref := types.ManagedObjectReference{Type: "Datastore", Value: hub.HubId}
		ds, ok := simulator.Map.Get(ref).(*simulator.Datastore)
		if hub.HubType != "Datastore" || !ok {
			missing = append(missing, hub)
			continue
		}
		stores = append(stores, ds)
	}
	if len(missing) != 0 {
		return nil, simulator.Fault(fmt.Sprintf("no such hub: %s", missing[0].HubId),
			&pbmtypes.PbmNonExistentHubs{Hubs: missing})
	}
	return stores, nil
}

func pbmHub(ds *simulator.Datastore) pbmtypes.PbmPlacementHub {
	return pbmtypes.PbmPlacementHub{HubType: ds.Self.Type, HubId: ds.Self.Value}
}

// pbmUnmet says why ds does not satisfy constraints ("" when it does).
func pbmUnmet(ds *simulator.Datastore, constraints pbmtypes.BasePbmCapabilityConstraints) string {
	sub, ok := constraints.(*pbmtypes.PbmCapabilitySubProfileConstraints)
	if !ok || len(sub.SubProfiles) == 0 {
		return ""
	}
	var name, kind string
	simulator.Map.WithLock(ds, func() { name, kind = ds.Name, ds.Summary.Type })
	var reasons []string
	for _, rules := range sub.SubProfiles {
		why := ""
		for _, capability := range rules.Capability {
			if why = pbmCapabilityUnmet(name, kind, capability); why != "" {
				break
			}
		}
		if why == "" {
			return ""
		}
		reasons = append(reasons, why)
	}
	return fmt.Sprintf("datastore %s does not satisfy the policy: %s", name, strings.Join(reasons, "; "))
}

func pbmCapabilityUnmet(name, kind string, capability pbmtypes.PbmCapabilityInstance) string {
	id := capability.Id
	switch {
	case id.Namespace == pbmTagNamespace:
		wanted := pbmValues(capability)
		for _, tag := range pbmTags[name][id.Id] {
			for _, w := range wanted {
				if tag == w {
					return ""
				}
			}
		}
		return fmt.Sprintf("no tag %s of category %s", strings.Join(wanted, " or "), id.Id)
	case strings.EqualFold(id.Namespace, "VSAN"):
		if kind == "vsan" {
			return ""
		}
		return fmt.Sprintf("capability VSAN.%s needs a vSAN datastore (this one is %s)", id.Id, kind)
	}
	return fmt.Sprintf("no provider offers capability %s.%s", id.Namespace, id.Id)
}

// pbmValues are the string values a rule's properties ask for.
func pbmValues(capability pbmtypes.PbmCapabilityInstance) []string {
	var values []string
	add := func(v interface{}) {
		switch v := v.(type) {
		case string:
			values = append(values, v)
		case []string:
			values = append(values, v...)
		case types.ArrayOfString:
			values = append(values, v.String...)
		}
	}
	for _, c := range capability.Constraint {
		for _, p := range c.PropertyInstance {
			if set, ok := p.Value.(pbmtypes.PbmCapabilityDiscreteSet); ok {
				for _, v := range set.Values {
					add(v)
				}
				continue
			}
			if set, ok := p.Value.(*pbmtypes.PbmCapabilityDiscreteSet); ok {
				for _, v := range set.Values {
					add(v)
				}
				continue
			}
			add(p.Value)
		}
	}
	return values
}

// pbmProfileManager is the stock profile manager with the associations of
// pbm_associations.go.
type pbmProfileManager struct {
	pbmsim.ProfileManager
}
