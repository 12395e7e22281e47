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

"""glance_store's VMware backend (the real package) on a vcsim, configured
as a Glance API server configures it, for tests and the demo.

The store reaches vCenter on port 443 only (tests/port443.py) and verifies
its /folder transfers with REQUESTS_CA_BUNDLE: set it to the simulator's
CA around ``add`` and ``delete``.
"""

import io
import logging

import fixtures

STORE_DIR = 'openstack_glance'


def vmware_store(fx, datastore='LocalDS_1', datacenter='DC0'):
    """The glance_store configuration (its own ConfigOpts, not Nova's) of
    a VMware store on vcsim ``fx`` keeping images on ``datastore``.

    Called from setUpClass, outside any test's log capture: what
    glance_store and oslo.vmware log meanwhile (the store's deprecation
    warning, the session's DEBUG lines) is captured here, not printed
    among the test results.
    """
    import glance_store
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    glance_store.register_opts(conf)
    conf([], project='glance')
    for name, value in (
            ('stores', ['vmware']), ('default_store', 'vsphere'),
            ('vmware_server_host', fx.host),
            ('vmware_server_username', fx.username),
            ('vmware_server_password', fx.password),
            ('vmware_ca_file', fx.ca_file),
            ('vmware_api_retry_count', 1),
            ('vmware_datastores', ['%s:%s:100' % (datacenter, datastore)]),
            ('vmware_store_image_dir', '/' + STORE_DIR)):
        conf.set_override(name, value, group='glance_store')
    with fixtures.FakeLogger(level=logging.DEBUG):
        glance_store.create_stores(conf)
    return conf


def add(conf, image_id, data):
    """Store ``data`` as image ``image_id``; (location, size)."""
    import glance_store

    location, size, _checksum, _metadata = glance_store.add_to_backend(
        conf, image_id, io.BytesIO(data), len(data), 'vsphere')
    return location, size


def delete(location):
    import glance_store

    glance_store.delete_from_backend(location)
