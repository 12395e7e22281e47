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

"""What the benchmarks share: running one measuring test case outside a
test runner, with its class's vcsim started and stopped around it; Nova's
configuration pointed at a vcsim; Nova's server group lookup without a
database."""

import contextlib
from unittest import mock

import testtools


def nova_conf_for(fx):
    """Nova's CONF, parsed empty, with objects registered and [vmware]
    pointed at vcsim fixture ``fx`` (cluster DC0_C0)."""
    from nova import conf as nova_conf
    from nova import objects

    conf = nova_conf.CONF
    conf([], project='nova', default_config_files=[])
    objects.register_all()
    for name, value in (('host_ip', fx.host), ('host_port', fx.port),
                        ('host_username', fx.username),
                        ('host_password', fx.password),
                        ('ca_file', fx.ca_file), ('cluster_name', 'DC0_C0')):
        conf.set_override(name, value, group='vmware')
    return conf


@contextlib.contextmanager
def no_server_groups():
    """Nova's InstanceGroup lookup answers "in no group", as Nova's
    database would for the bench's instances.

    The bench has no database: the driver's lookup when a member comes or
    goes (compute/server_groups.py) would fail, and the driver rightly
    warns about that on every spawn and destroy.
    """
    from nova import exception
    from nova import objects

    objects.register_all()

    def not_found(context, instance_uuid, *args, **kwargs):
        raise exception.InstanceGroupNotFound(group_uuid=instance_uuid)

    with mock.patch.object(objects.InstanceGroup, 'get_by_instance_uuid',
                           side_effect=not_found):
        yield


def run_case(case_class, method='test_measure'):
    """Run ``case_class(method)`` between its class set-up and tear-down;
    SystemExit naming the failure if it fails."""
    case_class.setUpClass()
    try:
        result = testtools.TestResult()
        case_class(method).run(result)
        if result.errors or result.failures:
            for _, err in result.errors + result.failures:
                print(err)
            raise SystemExit('benchmark failed')
    finally:
        case_class.tearDownClass()
