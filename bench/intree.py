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

"""Bench rows: our driver beside Nova's in-tree vmwareapi driver.

Both drivers run in this process, one after the other, on one vcsim (one
cluster of two hosts, one datastore), with the same ``[vmware]`` options
and Nova's defaults otherwise, and the same streamOptimized VMDK (16 MiB
virtual, as qemu-img writes it) under four image ids, two per driver, so
that each driver fills cache entries of its own: its first spawn (which
adds the compute's one-time lookups) from one, then an uncached and a
cached spawn from the other. For each operation:

- SOAP round trips: the in-tree driver's as vcsim counted them (it has no
  counter of its own and nothing else talks to vcsim meanwhile); ours
  through the session's own counter (logins excluded), and as vcsim
  counted them, which adds the VM watcher's WaitForUpdatesEx (one per
  batch of changes the operation makes, whoever made them);
- wall time.

The in-tree driver needs vcsim to serve the vim WSDL (oslo.vmware's suds
client); see tests/intree.py. Run through bench/run.py (``tox -e bench``).
"""

import collections
import contextlib
import logging
import tempfile
import time
from unittest import mock

MiB = 1024 * 1024

OPERATIONS = ('first spawn (cold compute, image not cached)',
              'spawn (image not cached)', 'spawn (image cached)',
              'power_off', 'power_on', 'reboot (SOFT: no Tools, a reset)',
              'destroy')
HEADER = ('operation', 'in-tree calls', 'ours calls', 'calls ours/in-tree',
          'ours + watcher', 'in-tree s', 'ours s', 'time ours/in-tree')


def _ratio(ours, theirs):
    return '%.2f' % (ours / theirs) if theirs else 'n/a'


def side_by_side(ours, theirs):
    """Table rows (HEADER first) from {operation: (calls, calls vcsim saw,
    seconds)} of our driver and of the in-tree one, in OPERATIONS order,
    then their total."""
    rows = [HEADER]
    total = {'ours': [0, 0, 0.0], 'theirs': [0, 0, 0.0]}
    for name in OPERATIONS + ('all of the above',):
        if name in ours:
            mine, its = ours[name], theirs[name]
            for key, figures in (('ours', mine), ('theirs', its)):
                total[key] = [a + b for a, b in zip(total[key], figures)]
        else:
            mine, its = total['ours'], total['theirs']
        rows.append((name, its[1], mine[0], _ratio(mine[0], its[1]),
                     mine[1], '%.2f' % its[2], '%.2f' % mine[2],
                     _ratio(mine[2], its[2])))
    return rows


class _Glance(object):
    """Nova's Glance API as both drivers read it: a record and its bytes,
    downloads counted."""

    def __init__(self):
        self.images = {}
        self.downloads = collections.Counter()

    def add(self, data):
        from nova import objects
        from oslo_utils import uuidutils

        image_id = uuidutils.generate_uuid()
        record = {
            'id': image_id, 'name': 'bench-%s' % image_id[:8],
            'status': 'active', 'disk_format': 'vmdk',
            'container_format': 'bare', 'size': len(data),
            'virtual_size': 16 * MiB,
            'properties': {'vmware_disktype': 'streamOptimized',
                           'vmware_adaptertype': 'lsiLogic',
                           'vmware_ostype': 'otherLinux64Guest'}}
        self.images[image_id] = (record, data)
        return objects.ImageMeta.from_dict(record)

    def get(self, context, image_id, **kwargs):
        return dict(self.images[image_id][0])

    def download(self, context, image_id, **kwargs):
        self.downloads[image_id] += 1
        data = self.images[image_id][1]
        return (data[offset:offset + 256 * 1024]
                for offset in range(0, len(data), 256 * 1024))


def _instance(image, node):
    from nova import objects
    from oslo_utils import uuidutils

    flavor = objects.Flavor(
        name='m1.bench', memory_mb=128, vcpus=1, root_gb=1, ephemeral_gb=0,
        swap=0, flavorid='42', extra_specs={})
    return objects.Instance(
        id=1, uuid=uuidutils.generate_uuid(), project_id='p-bench',
        user_id='u-bench', hostname='bench', display_name='bench',
        flavor=flavor, vcpus=1, memory_mb=128, root_gb=1, ephemeral_gb=0,
        config_drive='', system_metadata={}, metadata={},
        image_ref=image.id, key_data=None, node=node, host='bench',
        vm_state='building', task_state=None, power_state=0,
        availability_zone=None, launched_at=None)


def measure(driver, node, images, fx, own_calls=None):
    """{operation: (calls, calls vcsim saw, seconds)} of ``driver`` with
    two ``images``, not cached yet. ``own_calls()``, a context manager whose
    value has the ``total`` of the calls made in the block once it ends,
    counts the driver's own (default: what vcsim saw)."""
    from nova import context as nova_context

    context = nova_context.get_admin_context()
    cold, image = images
    instances = [_instance(cold, node), _instance(image, node)]
    first, second = instances[1], _instance(image, node)
    ops = [
        ('first spawn (cold compute, image not cached)', lambda: driver.spawn(
            context, instances[0], cold, [], None, {}, [], None)),
        ('spawn (image not cached)', lambda: driver.spawn(
            context, first, image, [], None, {}, [], None)),
        ('spawn (image cached)', lambda: driver.spawn(
            context, second, image, [], None, {}, [], None)),
        ('power_off', lambda: driver.power_off(second)),
        ('power_on', lambda: driver.power_on(context, second, [])),
        ('reboot (SOFT: no Tools, a reset)',
         lambda: driver.reboot(context, second, [], 'SOFT')),
        ('destroy', lambda: driver.destroy(context, second, [])),
    ]
    server = _ServerCalls(fx)
    own_calls = own_calls or server
    results = {}
    for name, op in ops:
        start = time.monotonic()
        with server(), own_calls() as own:
            op()
        elapsed = time.monotonic() - start
        results[name] = (own.total, server.total, elapsed)
    for instance in instances:
        driver.destroy(context, instance, [])
    return results


class _ServerCalls(object):
    """What vcsim counted between the start and the end of a block."""

    def __init__(self, fx):
        self.fx = fx
        self.total = None

    @contextlib.contextmanager
    def __call__(self):
        self.fx.reset_server_calls()
        yield self
        self.total = sum(self.fx.server_calls().values())


def _configure(fx, lock_dir):
    from bench import harness

    conf = harness.nova_conf_for(fx)
    conf.set_override('lock_path', lock_dir, group='oslo_concurrency')


def _ours(fx, images):
    from nova.virt import fake

    from nova_vmware_ext import driver as vc_driver

    driver = vc_driver.VCDriver(fake.FakeVirtAPI())
    driver.init_host('bench')
    try:
        node = driver.get_available_nodes()[0]
        return measure(driver, node, images, fx,
                       driver._host.session.calls.scope)
    finally:
        driver.cleanup_host('bench')


def _intree(fx, images):
    from nova.virt import fake
    from nova.virt.vmwareapi import driver as intree_driver

    from tests import intree

    with intree.InTreeSessionFixture(), \
            mock.patch('nova.compute.api.API'):
        driver = intree_driver.VMwareVCDriver(fake.FakeVirtAPI())
    driver.init_host('bench')
    try:
        node = driver.get_available_nodes()[0]
        return measure(driver, node, images, fx)
    finally:
        driver.cleanup_host('bench')


def bench_intree():
    """Rows of the side-by-side table (HEADER first)."""
    from nova.image import glance as nova_glance

    from tests import image_files
    from tests import intree
    from tests import vcsim

    data = image_files.stream_optimized(16)
    glance = _Glance()
    # oslo.service logs, with a traceback, every fault a task ends with,
    # and suds warns of every fault (oslo.vmware hands it the HTTP status
    # 500 as 200), also of those the in-tree driver expects: a missing
    # folder it searches, a cache folder ours made.
    logging.getLogger('oslo.service').setLevel(logging.CRITICAL)
    logging.getLogger('suds.client').setLevel(logging.ERROR)
    fx = vcsim.VcsimFixture(hosts=2, datastores=1, portgroups=1)
    fx.setUp()
    try:
        reason = intree.missing_wsdl(fx)
        if reason:
            raise SystemExit(reason)
        with tempfile.TemporaryDirectory() as lock_dir, \
                mock.patch.object(nova_glance.API, 'get',
                                  new=mock.Mock(side_effect=glance.get)), \
                mock.patch.object(nova_glance.API, 'download',
                                  new=mock.Mock(side_effect=glance.download)):
            _configure(fx, lock_dir)
            ours = _ours(fx, [glance.add(data), glance.add(data)])
            theirs = _intree(fx, [glance.add(data), glance.add(data)])
    finally:
        fx.cleanUp()
    if sorted(glance.downloads.values()) != [1, 1, 1, 1]:
        raise RuntimeError('each image should be downloaded once: %s'
                           % dict(glance.downloads))
    return side_by_side(ours, theirs)
