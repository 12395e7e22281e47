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

// ReconfigureComputeResource_Task's dasConfig (vSphere HA), which vcsim
// 0.24.2 ignores: the spec's enabled, hostMonitoring and vmMonitoring
// change the cluster's configurationEx.dasConfig, so a client can read HA
// as on or off. Called by clusterReconfigure (cluster_drs.go) after the
// stock task succeeded. Nothing else of HA is simulated.

package main

import (
	"github.com/vmware/govmomi/vim25/types"
)

func clusterApplyDasConfig(ref types.ManagedObjectReference, das *types.ClusterDasConfigInfo) {
	if das == nil {
		return
	}
	withClusterConfig(ref, func(config *types.ClusterConfigInfoEx) {
		if das.Enabled != nil {
			config.DasConfig.Enabled = types.NewBool(*das.Enabled)
		}
		if das.HostMonitoring != "" {
			config.DasConfig.HostMonitoring = das.HostMonitoring
		}
		if das.VmMonitoring != "" {
			config.DasConfig.VmMonitoring = das.VmMonitoring
		}
	})
}
