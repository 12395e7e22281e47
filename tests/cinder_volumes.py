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

"""Cinder's real VMware volume drivers, as a library, against a vcsim.

Cinder and Nova cannot be imported into one Python process (their options
collide: DuplicateOptError), so ``run()`` starts this module as a script in
a subprocess of the same interpreter. The script reads a request on stdin
and prints one JSON document: the result of each operation, in order.
Starting Cinder takes seconds: batch the operations of a test into one run.

Request (each operation names its driver, "vmdk" or "fcd")::

    {"vcenter": {"host", "port", "username", "password", "ca_file",
                 "wsdl", "cluster"},
     "ops": [{"driver", "op": "create", "id", "size_gb"},
             {"driver", "op": "connect", "id", "size_gb",
              "provider_location", "connector"},
             {"driver", "op": "extend", "id", "size_gb",
              "provider_location"},
             {"driver", "op": "delete", "id", "size_gb",
              "provider_location"}]}

``create`` answers ``{"provider_location"}`` (a First Class Disk's
``<fcd id>@<datastore moid>``; None for the VMDK driver), which later
operations on that volume in the same request get unless they name one;
``connect`` answers the connection_info of ``initialize_connection``. No
Cinder service or database: volumes are ``objects.Volume`` built directly,
without a type.
"""

import json
import os
import subprocess
import sys

DRIVERS = {
    'vmdk': ('cinder.volume.drivers.vmware.vmdk', 'VMwareVcVmdkDriver'),
    'fcd': ('cinder.volume.drivers.vmware.fcd',
            'VMwareVStorageObjectDriver'),
}
TIMEOUT = 120


def run(fx, ops, cluster='DC0_C0'):
    """Run ``ops`` through Cinder's drivers against the vcsim of fixture
    ``fx`` (its vim WSDL); returns the results, in order."""
    request = {'ops': ops, 'vcenter': {
        'host': fx.host, 'port': fx.port, 'username': fx.username,
        'password': fx.password, 'ca_file': fx.ca_file,
        'wsdl': fx.wsdl_file_url, 'cluster': cluster}}
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__)],
        input=json.dumps(request).encode(), capture_output=True,
        timeout=TIMEOUT, env=dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in sys.path if p)))
    if proc.returncode != 0:
        raise RuntimeError('Cinder\'s drivers failed (exit %d): %s' % (
            proc.returncode, proc.stderr.decode()[-4000:]))
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def _configure(request):
    from oslo_config import cfg

    from cinder.volume import configuration

    vc = request['vcenter']
    conf = cfg.CONF
    conf([], project='cinder', default_config_files=[])
    group = configuration.SHARED_CONF_GROUP
    for name, value in (('vmware_host_ip', vc['host']),
                        ('vmware_host_port', vc['port']),
                        ('vmware_host_username', vc['username']),
                        ('vmware_host_password', vc['password']),
                        ('vmware_ca_file', vc['ca_file']),
                        ('vmware_wsdl_location', vc['wsdl']),
                        ('vmware_cluster_name', [vc['cluster']]),
                        ('vmware_api_retry_count', 2),
                        ('vmware_task_poll_interval', 0.1)):
        conf.set_override(name, value, group=group)


def _volume(ctx, op):
    from cinder import objects

    return objects.Volume(
        ctx, id=op['id'], size=op.get('size_gb', 1), project_id='project',
        display_name=op['id'], volume_type_id=None, _name_id=None,
        provider_location=op.get('provider_location'))


def _perform(driver, ctx, op):
    volume = _volume(ctx, op)
    if op['op'] == 'create':
        update = driver.create_volume(volume) or {}
        return {'provider_location': update.get('provider_location')}
    if op['op'] == 'connect':
        return driver.initialize_connection(volume, op.get('connector', {}))
    if op['op'] == 'extend':
        driver.extend_volume(volume, op['size_gb'])
        return {}
    if op['op'] == 'delete':
        driver.delete_volume(volume)
        return {}
    raise ValueError('unknown operation %r' % op['op'])


def _driver(kind, ctx, drivers):
    """Cinder's driver of ``kind``, set up once per process."""
    import importlib

    from cinder.volume import configuration
    from cinder.volume.drivers.vmware import vmdk

    if kind not in drivers:
        module, name = DRIVERS[kind]
        driver = getattr(importlib.import_module(module), name)(
            configuration=configuration.Configuration(
                vmdk.vmdk_opts, config_group='vmware'))
        driver.do_setup(ctx)
        drivers[kind] = driver
    return drivers[kind]


def main():
    request = json.load(sys.stdin)
    from cinder import context
    from cinder import objects
    # Importing the drivers registers their options.
    from cinder.volume.drivers.vmware import fcd  # noqa: F401
    from cinder.volume.drivers.vmware import vmdk  # noqa: F401

    objects.register_all()
    _configure(request)
    ctx = context.get_admin_context()
    drivers, locations, results = {}, {}, []
    for op in request['ops']:
        op.setdefault('provider_location', locations.get(op['id']))
        result = _perform(_driver(op['driver'], ctx, drivers), ctx, op)
        if op['op'] == 'create':
            locations[op['id']] = result['provider_location']
        results.append(result)
    print(json.dumps(results))


if __name__ == '__main__':
    main()
