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

"""Match the networks Neutron's port bindings name with the cluster's networks.

A ``dvs`` binding already names its distributed portgroup exactly. A
``portgroup`` binding names a network: a distributed portgroup of that name
becomes a ``dvs`` reference (switch UUID and key), a standard portgroup is
attached by its managed object. ``opaque`` (NSX-T) networks are addressed by
id and need no lookup. A name the cluster does not have is an error naming
the network and the port.
"""

import dataclasses

from nova import exception


def resolve(inventory, nics):
    """({port id: NetworkRef}, {port id: vim.Network}) for CreateVM."""
    resolved, networks = {}, {}
    for nic in nics:
        ref = nic.network
        if ref.kind != 'portgroup':
            continue
        found = inventory.network_named(ref.name)
        if not found:
            raise exception.NetworkNotFoundForBridge(bridge=(
                '%s (port %s; networks of cluster %s: %s)' % (
                    ref.name, nic.port_id, inventory.cluster_name,
                    ', '.join(sorted(n.name for n in inventory.networks))
                    or 'none')))
        network = found[0]
        if network.kind == 'DistributedVirtualPortgroup':
            resolved[nic.port_id] = dataclasses.replace(
                ref, kind='dvs', switch_uuid=network.switch_uuid,
                portgroup_key=network.portgroup_key)
        elif network.kind == 'OpaqueNetwork':
            resolved[nic.port_id] = dataclasses.replace(
                ref, kind='opaque', opaque_id=network.opaque_id,
                opaque_type=network.opaque_type)
        else:
            networks[nic.port_id] = network.ref
    return resolved, networks
