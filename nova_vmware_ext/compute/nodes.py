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

"""Nova node names of vCenter clusters, as the in-tree driver made them:
``<cluster moid>.<vCenter instance UUID>``. Pure.

The one place that builds and reads them: migrations compare the vCenter
parts to refuse a move between vCenters.
"""


def node_name(cluster_moid, vcenter_uuid):
    return '%s.%s' % (cluster_moid, vcenter_uuid)


def split_node(nodename):
    """(cluster moid, vCenter UUID) of a node name; (None, None) for a
    name of another shape."""
    cluster, dot, vcenter = (nodename or '').partition('.')
    return (cluster, vcenter) if dot and cluster and vcenter else (None, None)


def vcenter_of(nodename):
    """The vCenter instance UUID in a node name, or None."""
    return split_node(nodename)[1]
