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

// EnvironmentBrowser answers as an ESXi 7.0 U2 host does.
//
// vcsim 0.24.2 knows one virtual hardware version, vmx-13: the only
// descriptor of QueryConfigOptionDescriptor, not even marked as the
// default, and QueryConfigOption returns vmx-13 whatever key is asked for.
// A driver checking a flavor's hardware version against what the cluster
// supports cannot be tested against that.
//
// envBrowser replaces every EnvironmentBrowser (made by the compute
// resources, before and after start-up) and answers from envHwVersions:
// the versions an ESXi 7.0 U2 host can create and run, vmx-19 the default.
// QueryConfigOption and QueryConfigOptionEx return the option of the key
// asked for (the default one without a key) and InvalidArgument for a key
// that is not in the list.
//
// -max-hw-version vmx-NN makes the hosts older: the list ends at vmx-NN,
// which becomes the default (e.g. vmx-14 for ESXi 6.7).
//
// The default is also the version of a VM made without config.version (and
// the one UpgradeVM_Task upgrades to), as on vSphere; stock vcsim used
// vmx-13 for both.

package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

var envMaxHwVersion = flag.String("max-hw-version", "",
	"newest virtual hardware version the hosts support, e.g. vmx-14 (default: vmx-19, ESXi 7.0 U2)")

func init() {
	modelSetups = append(modelSetups, envSetHwVersions)
	installers = append(installers, envInstallBrowsers)
}

// envSetHwVersions applies -max-hw-version and makes the default the
// version of new VMs.
func envSetHwVersions(*simulator.Model) error {
	defer func() { esx.HardwareVersion = envHwVersions[len(envHwVersions)-1].key }()
	if *envMaxHwVersion == "" {
		return nil
	}
	for i, v := range envHwVersions {
		if v.key == *envMaxHwVersion {
			envHwVersions = envHwVersions[:i+1]
			return nil
		}
	}
	var keys []string
	for _, v := range envHwVersions {
		keys = append(keys, v.key)
	}
	return fmt.Errorf("-max-hw-version %q: not one of %s", *envMaxHwVersion, strings.Join(keys, ", "))
}

// envHwVersion is one virtual hardware version a host supports.
type envHwVersion struct {
	key         string
	description string
	maxCPUs     int32
	maxMemoryMB int64
}

// envHwVersions are ESXi 7.0 U2's, oldest first; the last is the default.
// (vmx-12 and vmx-16 are Workstation's, which ESXi does not list.)
var envHwVersions = []envHwVersion{
	{"vmx-07", "ESX/ESXi 4.x virtual machine", 8, 255 * 1024},
	{"vmx-08", "ESXi 5.0 virtual machine", 32, 1011 * 1024},
	{"vmx-09", "ESXi 5.1 virtual machine", 64, 1011 * 1024},
	{"vmx-10", "ESXi 5.5 virtual machine", 64, 1011 * 1024},
	{"vmx-11", "ESXi 6.0 virtual machine", 128, 4080 * 1024},
	{"vmx-13", "ESXi 6.5 virtual machine", 128, 6128 * 1024},
	{"vmx-14", "ESXi 6.7 virtual machine", 128, 6128 * 1024},
	{"vmx-15", "ESXi 6.7 U2 virtual machine", 256, 6128 * 1024},
	{"vmx-17", "ESXi 7.0 virtual machine", 256, 6128 * 1024},
	{"vmx-18", "ESXi 7.0 U1 virtual machine", 768, 24560 * 1024},
	{"vmx-19", "ESXi 7.0 U2 virtual machine", 768, 24560 * 1024},
}

// envBrowser is an EnvironmentBrowser: the stock type first, by value.
type envBrowser struct {
	simulator.EnvironmentBrowser
}

// envBrowserSwapper replaces the browsers made after start-up.
type envBrowserSwapper struct {
	self types.ManagedObjectReference
}

func (h *envBrowserSwapper) Reference() types.ManagedObjectReference { return h.self }

func (h *envBrowserSwapper) PutObject(obj mo.Reference) {
	if b, ok := obj.(*simulator.EnvironmentBrowser); ok {
		envSwapBrowser(b)
	}
}

func (*envBrowserSwapper) UpdateObject(mo.Reference, []types.PropertyChange) {}
func (*envBrowserSwapper) RemoveObject(types.ManagedObjectReference)         {}

func envSwapBrowser(b *simulator.EnvironmentBrowser) {
	nb := &envBrowser{}
	simulator.Map.WithLock(b, func() {
		nb.EnvironmentBrowser.EnvironmentBrowser = b.EnvironmentBrowser
	})
	simulator.Map.Put(nb)
}

func envInstallBrowsers(*simulator.Model, *simulator.Server) {
	for _, kind := range []string{"ClusterComputeResource", "ComputeResource"} {
		for _, e := range simulator.Map.All(kind) {
			ref := envComputeResource(e).EnvironmentBrowser
			if ref == nil {
				continue
			}
			if b, ok := simulator.Map.Get(*ref).(*simulator.EnvironmentBrowser); ok {
				envSwapBrowser(b)
			}
		}
	}
	simulator.Map.AddHandler(&envBrowserSwapper{
		self: types.ManagedObjectReference{Type: "EnvBrowserSwapper", Value: "env-browser-swapper"},
	})
}

// envComputeResource is the mo.ComputeResource of a cluster or of a
// standalone host's compute resource.
func envComputeResource(e mo.Entity) *mo.ComputeResource {
	switch cr := e.(type) {
	case *simulator.ClusterComputeResource:
		return &cr.ComputeResource
	case *mo.ComputeResource:
		return cr
	}
	return nil
}

// hostsOf are the hosts of the compute resource this browser belongs to.
func (b *envBrowser) hostsOf() []types.ManagedObjectReference {
	for _, kind := range []string{"ClusterComputeResource", "ComputeResource"} {
		for _, e := range simulator.Map.All(kind) {
			var hosts []types.ManagedObjectReference
			found := false
			simulator.Map.WithLock(e, func() {
				cr := envComputeResource(e)
				if cr != nil && cr.EnvironmentBrowser != nil && *cr.EnvironmentBrowser == b.Self {
					hosts = append(hosts, cr.Host...)
					found = true
				}
			})
			if found {
				return hosts
			}
		}
	}
	return nil
}

// QueryConfigOptionDescriptor lists every supported hardware version.
func (b *envBrowser) QueryConfigOptionDescriptor(ctx *simulator.Context, req *types.QueryConfigOptionDescriptor) soap.HasFault {
	hosts := b.hostsOf()
	last := len(envHwVersions) - 1
	var res []types.VirtualMachineConfigOptionDescriptor
	for i, v := range envHwVersions {
		res = append(res, types.VirtualMachineConfigOptionDescriptor{
			Key:                 v.key,
			Description:         v.description,
			Host:                hosts,
			CreateSupported:     types.NewBool(true),
			DefaultConfigOption: types.NewBool(i == last),
			RunSupported:        types.NewBool(true),
			UpgradeSupported:    types.NewBool(true),
		})
	}
	return &methods.QueryConfigOptionDescriptorBody{
		Res: &types.QueryConfigOptionDescriptorResponse{Returnval: res},
	}
}

// QueryConfigOption returns the option of one hardware version.
func (b *envBrowser) QueryConfigOption(req *types.QueryConfigOption) soap.HasFault {
	body := new(methods.QueryConfigOptionBody)
	opt, fault := envConfigOption(req.Key, nil)
	if fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	body.Res = &types.QueryConfigOptionResponse{Returnval: opt}
	return body
}

// QueryConfigOptionEx returns the option of spec.key, its guests filtered
// by spec.guestId (all of them when none matches, as vSphere documents).
func (b *envBrowser) QueryConfigOptionEx(req *types.QueryConfigOptionEx) soap.HasFault {
	body := new(methods.QueryConfigOptionExBody)
	var key string
	var guests []string
	if req.Spec != nil {
		key, guests = req.Spec.Key, req.Spec.GuestId
	}
	opt, fault := envConfigOption(key, guests)
	if fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	body.Res = &types.QueryConfigOptionExResponse{Returnval: opt}
	return body
}

func envConfigOption(key string, guestIDs []string) (*types.VirtualMachineConfigOption, types.BaseMethodFault) {
	v := envHwVersions[len(envHwVersions)-1]
	if key != "" {
		found := false
		for _, candidate := range envHwVersions {
			if candidate.key == key {
				v, found = candidate, true
				break
			}
		}
		if !found {
			return nil, &types.InvalidArgument{InvalidProperty: "key"}
		}
	}
	hw, _ := strconv.Atoi(strings.TrimPrefix(v.key, "vmx-"))
	return &types.VirtualMachineConfigOption{
		Version:           v.key,
		Description:       v.description,
		GuestOSDescriptor: envGuests(guestIDs),
		HardwareOptions: types.VirtualHardwareOption{
			HwVersion:         int32(hw),
			NumCPU:            []int32{1, 2, 4, 8, v.maxCPUs},
			NumCoresPerSocket: &types.IntOption{Min: 1, Max: v.maxCPUs, DefaultValue: 1},
			MemoryMB:          types.LongOption{Min: 4, Max: v.maxMemoryMB, DefaultValue: 1024},
		},
		DefaultDevice: esx.VirtualDevice,
	}, nil
}

// envGuests are the descriptors of the simulator's guest ids, only those
// of ids when one of them is known.
func envGuests(ids []string) []types.GuestOsDescriptor {
	var all, matched []types.GuestOsDescriptor
	for _, gid := range simulator.GuestID {
		d := envGuest(string(gid))
		all = append(all, d)
		for _, id := range ids {
			if id == string(gid) {
				matched = append(matched, d)
			}
		}
	}
	if len(matched) > 0 {
		return matched
	}
	return all
}

// envGuest describes a guest with what every guest of ESXi 7.0 supports:
// pyVmomi needs the type names (disk, CD-ROM controller) to be set.
func envGuest(id string) types.GuestOsDescriptor {
	return types.GuestOsDescriptor{
		Id:                          id,
		Family:                      envGuestFamily(id),
		FullName:                    id,
		SupportedMaxCPUs:            768,
		NumSupportedPhysicalSockets: 768,
		NumSupportedCoresPerSocket:  768,
		SupportedMinMemMB:           4,
		SupportedMaxMemMB:           24560 * 1024,
		RecommendedMemMB:            2048,
		RecommendedColorDepth:       32,
		SupportedDiskControllerList: []string{
			"VirtualLsiLogicController", "VirtualLsiLogicSASController",
			"ParaVirtualSCSIController", "VirtualBusLogicController",
			"VirtualIDEController", "VirtualAHCIController", "VirtualNVMEController",
		},
		RecommendedSCSIController:  "ParaVirtualSCSIController",
		RecommendedDiskController:  "ParaVirtualSCSIController",
		SupportedNumDisks:          256,
		RecommendedDiskSizeMB:      16 * 1024,
		RecommendedCdromController: "VirtualIDEController",
		SupportedEthernetCard:      []string{"VirtualE1000", "VirtualE1000e", "VirtualVmxnet3"},
		RecommendedEthernetCard:    "VirtualVmxnet3",
		SupportedFirmware:          []string{"bios", "efi"},
		RecommendedFirmware:        "bios",
		SupportLevel:               "supported",
		SupportedForCreate:         types.NewBool(true),
		VRAMSizeInKB:               &types.IntOption{Min: 1024, Max: 262144, DefaultValue: 4096},
	}
}

func envGuestFamily(id string) string {
	switch {
	case strings.HasPrefix(id, "win"):
		return string(types.VirtualMachineGuestOsFamilyWindowsGuest)
	case strings.HasPrefix(id, "darwin"):
		return string(types.VirtualMachineGuestOsFamilyDarwinGuestFamily)
	}
	return string(types.VirtualMachineGuestOsFamilyLinuxGuest)
}
