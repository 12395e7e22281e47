#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

# plugin.sh - devstack plugin of nova-vmware-ext: Nova's compute on VMware
# vCenter through this out-of-tree driver (VIRT_DRIVER=vmware_ext), or on
# our vCenter simulator (NOVA_VMWARE_EXT_SIMULATOR=True).
#
# devstack sources this file as `plugin.sh <mode> [phase]`; see
# devstack/README.md.

source "$NOVA_VMWARE_EXT_DIR/devstack/lib/nova-vmware-ext"

if [[ "$VIRT_DRIVER" == "vmware_ext" ]] && is_service_enabled n-cpu vmware-vcsim; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing nova-vmware-ext"
        install_nova_vmware_ext

    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        # nova-compute starts right after this phase: the simulator first.
        if is_nova_vmware_ext_simulated; then
            echo_summary "Starting the vCenter simulator"
            start_nova_vmware_ext_vcsim
            load_nova_vmware_ext_vcsim_password
        fi
        if is_service_enabled n-cpu; then
            echo_summary "Configuring nova-vmware-ext"
            configure_nova_vmware_ext
        fi
        if [[ "$GLANCE_VMWARE_STORE" == "True" ]] && is_service_enabled g-api; then
            echo_summary "Configuring Glance's VMware store"
            configure_glance_vmware_store
        fi

    elif [[ "$1" == "stack" && "$2" == "test-config" ]]; then
        if is_service_enabled tempest; then
            echo_summary "Setting tempest's compute features for nova-vmware-ext"
            configure_tempest_nova_vmware_ext
        fi
    fi

    if [[ "$1" == "unstack" ]]; then
        stop_nova_vmware_ext
    fi

    if [[ "$1" == "clean" ]]; then
        cleanup_nova_vmware_ext
    fi
fi
