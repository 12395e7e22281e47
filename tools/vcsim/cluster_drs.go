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

// ReconfigureComputeResource_Task as vSphere does it for a cluster's DRS
// settings, where vcsim 0.24.2 differs:
//
//   - drsConfig: the fields the spec sets (enabled, defaultVmBehavior,
//     vmotionRate, enableVmBehaviorOverrides) change the cluster's
//     configurationEx.drsConfig (vcsim ignores drsConfig, so DRS stays
//     enabled whatever a client asks). Applied after the stock task
//     succeeded, before the answer goes back.
//
// The stock call already adds, edits and removes VM-VM rules (rulesSpec)
// in configurationEx.rule, which is what the driver's DRS rules use.

package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	vmMethods["ReconfigureComputeResource_Task"] = clusterReconfigure
}

func clusterReconfigure(c *vmCall) {
	req, ok := c.method.Body.(*types.ReconfigureComputeResource_Task)
	spec, isEx := req.Spec.(*types.ClusterConfigSpecEx)
	if !ok || !isEx || (spec.DrsConfig == nil && spec.DasConfig == nil) {
		c.passThrough()
		return
	}
	rec := c.forward(nil)
	if task, fault := taskOfAnswer(rec); fault == nil {
		if _, fault := vmTaskOutcome(task); fault == nil {
			if spec.DrsConfig != nil {
				clusterApplyDrsConfig(c.method.This, spec.DrsConfig)
			}
			clusterApplyDasConfig(c.method.This, spec.DasConfig) // cluster_das.go
		}
	}
	c.send(rec)
}

// withClusterConfig runs change on the cluster's ConfigurationEx, under the
// registry's lock; nothing for a reference that is no cluster.
func withClusterConfig(ref types.ManagedObjectReference, change func(*types.ClusterConfigInfoEx)) {
	cluster, ok := simulator.Map.Get(ref).(*simulator.ClusterComputeResource)
	if !ok {
		return
	}
	simulator.Map.WithLock(cluster, func() {
		if config, ok := cluster.ConfigurationEx.(*types.ClusterConfigInfoEx); ok {
			change(config)
		}
	})
}

func clusterApplyDrsConfig(ref types.ManagedObjectReference, drs *types.ClusterDrsConfigInfo) {
	withClusterConfig(ref, func(config *types.ClusterConfigInfoEx) {
		if drs.Enabled != nil {
			config.DrsConfig.Enabled = types.NewBool(*drs.Enabled)
		}
		if drs.EnableVmBehaviorOverrides != nil {
			config.DrsConfig.EnableVmBehaviorOverrides = types.NewBool(*drs.EnableVmBehaviorOverrides)
		}
		if drs.DefaultVmBehavior != "" {
			config.DrsConfig.DefaultVmBehavior = drs.DefaultVmBehavior
		}
		if drs.VmotionRate != 0 {
			config.DrsConfig.VmotionRate = drs.VmotionRate
		}
	})
}
