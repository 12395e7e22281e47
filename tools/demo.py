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

"""The main job: Nova with our driver on the embedded vCenter simulator.

Starts vcsim, runs Nova's services in this process (nova-api, -conductor,
-scheduler and nova-compute with ``compute_driver =
vmware_ext.driver.VCDriver``) over Nova's own Placement, Glance and Neutron
test fixtures, uploads a real streamOptimized VMDK made by qemu-img, boots
a server through the compute REST API and shows it beside its vSphere VM,
then deletes it. ``--cli`` also drives the API with the ``openstack``
client. ``--glance-datastore`` instead stores a flat VMDK through
glance_store's VMware backend on the simulator's datastore and shows the
image cache filled by a copy inside vSphere. Exits non-zero on any failure.
"""

import argparse
import logging
import os
import sys
import time
import traceback
import warnings

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Nova loads the installed nova_vmware_ext; the source tree only lends the
# harness pieces (tests/vcsim.py, tests/nova/).
sys.path.append(TOP)

START = time.monotonic()
OUT = sys.__stdout__
GiB = 1024 ** 3
MiB = 1024 ** 2


def step(message):
    OUT.write('[%6.2fs] %s\n' % (time.monotonic() - START, message))
    OUT.flush()


def show(line=''):
    OUT.write(('  %s\n' % line) if line else '\n')
    OUT.flush()


class DemoFailed(Exception):
    pass


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--hosts', type=int, default=3,
                        help='ESXi hosts in the cluster (default: 3)')
    parser.add_argument('--datastores', type=int, default=2,
                        help='datastores (default: 2)')
    parser.add_argument('--vms', type=int, default=0,
                        help='pre-existing (non-Nova) VMs in the cluster')
    parser.add_argument('--image-mb', type=int, default=64,
                        help='virtual size of the VMDK image in MiB '
                             '(default: 64)')
    parser.add_argument('--eventlet', action='store_true',
                        help="run Nova's services with eventlet (default: "
                             "native threads, as Nova 34's nova-compute)")
    parser.add_argument('--cli', action='store_true',
                        help='also serve the compute API on 127.0.0.1 and '
                             'drive it with the openstack client')
    parser.add_argument('--glance-datastore', action='store_true',
                        help="boot from a flat VMDK that glance_store's "
                             "VMware backend keeps on the simulator's "
                             "datastore: the cache is filled by a copy "
                             "inside vSphere (vcsim on port 443, as root)")
    parser.add_argument('--timeout', type=int, default=300,
                        help='seconds to wait for the server at most')
    return parser.parse_args(argv)


def demo_case(args, fx):
    """A Nova functional test case whose one test is the demo.

    Nova's harness gives the in-process services their database, message
    bus, Placement, Glance and Neutron; reusing it as a test case is how
    it is meant to run.
    """
    from nova.compute import power_state
    from nova.tests.functional.api import client as api_client
    from pyVmomi import vim

    from tests.nova import base
    from tests.nova import test_servers
    from tests import vcsim

    class Demo(test_servers.VcsimServersTestBase):
        # Casts stay casts: the API answers at once, the build runs behind.
        CAST_AS_CALL = False
        IMAGE_MB = args.image_mb

        def runTest(self):
            self.show_services()
            self.show_cluster()
            image = (self.store_on_datastore() if args.glance_datastore
                     else self.upload_image())
            flavor = self.api.get_flavor(self._create_flavor(
                name='m1.demo', memory_mb=512, vcpu=2, disk=1,
                ephemeral=0))
            step('flavor %s: %d vCPU, %d MiB, %d GB disk' % (
                flavor['name'], flavor['vcpus'], flavor['ram'],
                flavor['disk']))
            if args.glance_datastore:
                http = self.driver()._host.fetcher.http
                http.received = http.sent = 0
                self.vcsim.reset_server_calls()
            server = self.boot_and_wait(image, flavor)
            if args.glance_datastore:
                self.show_datastore_fill(image, http)
            # The image cache keeps its entry by design (the leak check
            # of the test base sees everything else).
            self.keep_cache_entry(image['id'], flavor['id'])
            self.show_side_by_side(server)
            if args.cli:
                self.cli_round(image, flavor)
            self.delete_and_check(server)

        # The pieces

        def show_services(self):
            drv = self.driver()
            step('Nova %s services in-process: nova-api (Keystone stubbed), '
                 'nova-conductor, nova-scheduler, nova-compute; Placement, '
                 'Glance and Neutron from Nova\'s fixtures; %s' % (
                     _nova_version(), 'eventlet' if args.eventlet
                     else 'native threads'))
            step('nova-compute loaded %s.%s (compute_driver = '
                 'vmware_ext.driver.VCDriver)' % (type(drv).__module__,
                                                  type(drv).__name__))

        def show_cluster(self):
            host = self.driver()._host
            inv = host.inventory.get()
            step('connected; node %s' % host.nodename)
            show('cluster     %s (%s) in datacenter %s' % (
                inv.cluster_name, inv.cluster._moId, inv.datacenter_path))
            for h in inv.hosts:
                hw = h.hardware
                show('host        %-14s %s, %d cores, %d MiB' % (
                    h.name, h.connection_state, hw.numCpuCores,
                    hw.memorySize // MiB))
            for ds in host.inventory.datastores():
                show('datastore   %-14s %s, %.1f of %.1f GiB free' % (
                    ds.name, ds.type, ds.free_space / GiB,
                    ds.capacity / GiB))
            for net in inv.networks:
                show('network     %-14s %s' % (net.name, net.kind))
            show('vCenter calls: %d (plus %d for login)' % (
                host.session.calls.total, host.session.calls.login))
            rp = self._get_provider_uuid_by_host(host.nodename)
            inventory = self._get_provider_inventory(rp)
            show('placement   provider %s: %s' % (rp, ', '.join(
                '%s %d' % (rc, inventory[rc]['total'])
                for rc in sorted(inventory))))

        def upload_image(self):
            image = base.add_vmdk_image(self.glance, size_mb=self.IMAGE_MB,
                                        name='demo-%dM' % self.IMAGE_MB)
            data = base.stream_optimized_vmdk(self.IMAGE_MB)
            step('image %s uploaded to Glance: a streamOptimized VMDK '
                 '(qemu-img), %d KiB for %d MiB virtual' % (
                     image['id'], len(data) // 1024, self.IMAGE_MB))
            return image

        def store_on_datastore(self):
            """A flat VMDK stored by glance_store's VMware backend; Glance
            exposes its location (show_multiple_locations)."""
            import io

            from oslo_utils import uuidutils

            from tests import glance_stores

            conf = glance_stores.vmware_store(self.vcsim, 'LocalDS_0')
            image_id = uuidutils.generate_uuid()
            data = b'nova-vmware-ext ' * (self.IMAGE_MB * MiB // 16)
            location, size = glance_stores.add(conf, image_id, data)
            self.addCleanup(self.remove_from_store, location)
            meta = base.vmdk_image(image_id, data, self.IMAGE_MB,
                                   name='demo-flat-%dM' % self.IMAGE_MB,
                                   vmware_disktype='thin')
            meta.update(locations=[{'url': location, 'metadata': {}}],
                        direct_url=location)
            image = self.glance.create(None, meta, data=io.BytesIO(data))
            self.glance_downloads = 0
            real = self.glance.download

            def download(context, image_id, **kwargs):
                self.glance_downloads += 1
                return real(context, image_id, **kwargs)
            self.glance.download = download
            step('image %s stored by glance_store\'s VMware backend: a flat '
                 '(thin) VMDK of %d MiB at [LocalDS_0] %s/%s; Glance\'s '
                 'location %s' % (image_id, size // MiB,
                                  glance_stores.STORE_DIR, image_id,
                                  location))
            return image

        def remove_from_store(self, location):
            from tests import glance_stores

            glance_stores.delete(location)
            content = self.si.RetrieveContent()
            task = content.fileManager.DeleteDatastoreFile_Task(
                '[LocalDS_0] %s' % glance_stores.STORE_DIR,
                content.rootFolder.childEntity[0])
            _wait(task)

        def show_datastore_fill(self, image, http):
            calls = self.vcsim.server_calls()
            copies = calls.get('CopyDatastoreFile_Task', 0)
            step('image cache filled inside vSphere: CopyDatastoreFile_Task '
                 '%d, CopyVirtualDisk_Task %d (the entry grown to the '
                 'flavor), Glance downloads %d; image bytes through '
                 'nova-compute: %d KiB read (the inspected head), %d bytes '
                 'written (descriptor, lock record) for a %d MiB image' % (
                     copies, calls.get('CopyVirtualDisk_Task', 0),
                     self.glance_downloads, http.received // 1024,
                     http.sent, image['size'] // MiB))
            if copies != 1 or self.glance_downloads:
                raise DemoFailed('the image was not copied inside vSphere')

        def boot_and_wait(self, image, flavor):
            server = self.api.post_server({'server': {
                'name': 'demo-server', 'imageRef': image['id'],
                'flavorRef': flavor['id'],
                'networks': [{'uuid': test_servers.NETWORK}]}})
            step('POST /servers: server %s accepted' % server['id'])
            deadline = time.monotonic() + args.timeout
            seen = None
            while True:
                server = self.api.get_server(server['id'])
                state = (server['status'], server.get('OS-EXT-STS:task_state'))
                if state != seen:
                    step('server %s: %s%s' % (
                        server['id'][:8], state[0],
                        ' (%s)' % state[1] if state[1] else ''))
                    seen = state
                if server['status'] == 'ACTIVE':
                    return server
                if server['status'] == 'ERROR':
                    raise DemoFailed('the server went to ERROR: %s' %
                                     server.get('fault'))
                if time.monotonic() > deadline:
                    raise DemoFailed('the server is not ACTIVE after %d s'
                                     % args.timeout)
                time.sleep(0.2)

        def show_side_by_side(self, server):
            vm = base.vms_by_instance_uuid(self.si).get(server['id'])
            if vm is None:
                raise DemoFailed('vCenter has no VM with instanceUuid %s'
                                 % server['id'])
            pgs = {pg['key']: pg['name'] for pg in vcsim.query(
                self.si, vim.dvs.DistributedVirtualPortgroup,
                ['name', 'key']).values()}
            hosts = vcsim.query(self.si, vim.HostSystem, ['name'])
            disks = base.disks(vm)
            nics = base.nics(vm)
            flavor = server['flavor']
            left = [
                ('id', server['id']),
                ('name', server['name']),
                ('status', '%s (power state %s)' % (
                    server['status'], power_state.STATE_MAP.get(
                        server['OS-EXT-STS:power_state'], '?'))),
                ('flavor', '%s: %d vCPU, %d MiB, %d GB' % (
                    flavor['original_name'], flavor['vcpus'],
                    flavor['ram'], flavor['disk'])),
                ('host', server['OS-EXT-SRV-ATTR:host']),
                ('node', server['OS-EXT-SRV-ATTR:hypervisor_hostname']),
                ('addresses', ', '.join(
                    '%s %s' % (net, a['addr'])
                    for net, addrs in server['addresses'].items()
                    for a in addrs)),
            ]
            for port in self.neutron.list_ports(
                    True, device_id=server['id'])['ports']:
                left.append(('port', '%s %s' % (
                    port['id'][:8], port['mac_address'])))
                left.append(('binding', '%s %s' % (
                    port['binding:vif_type'],
                    port['binding:vif_details'])))
            right = [
                ('name', vm['name']),
                ('instanceUuid', vm['config.instanceUuid']),
                ('power state', vm['runtime.powerState']),
                ('CPUs / memory', '%d / %d MiB' % (
                    vm['config.hardware.numCPU'],
                    vm['config.hardware.memoryMB'])),
                ('ESXi host', hosts[vm['runtime.host']._moId]['name']),
            ]
            for disk in disks:
                backing = disk.backing
                datastore = backing.fileName[1:].split(']')[0]
                right.append(('disk', '%s (%d MiB)' % (
                    backing.fileName, disk.capacityInKB // 1024)))
                right.append(('datastore', datastore))
                if getattr(backing, 'parent', None) is not None:
                    right.append(('linked to', backing.parent.fileName))
            for nic in nics:
                port = getattr(nic.backing, 'port', None)
                network = (pgs.get(port.portgroupKey, port.portgroupKey)
                           if port is not None else '?')
                right.append(('NIC', '%s %s' % (
                    type(nic).__name__.rsplit('.', 1)[-1],
                    nic.macAddress)))
                right.append(('network', network))
            step('server %s is ACTIVE; Nova and vCenter agree:'
                 % server['id'])
            for line in side_by_side(
                    ('Nova server (compute API)', left),
                    ('vSphere VM (vCenter API)', right)):
                show(line)
            # What must agree, checked rather than only shown.
            checks = [
                (vm['runtime.powerState'] == 'poweredOn', 'VM powered on'),
                (vm['config.hardware.numCPU'] == flavor['vcpus'], 'CPUs'),
                (vm['config.hardware.memoryMB'] == flavor['ram'], 'memory'),
                (len(disks) == 1 and disks[0].capacityInKB
                 == flavor['disk'] * MiB, 'root disk size'),
                (len(nics) == 1, 'one NIC'),
            ]
            bad = [what for ok, what in checks if not ok]
            if bad:
                raise DemoFailed('Nova and vCenter disagree on: %s'
                                 % ', '.join(bad))

        def cli_round(self, image, flavor):
            from tests.nova import cli

            command = cli.openstack_command()
            if command is None:
                raise DemoFailed('--cli needs python-openstackclient '
                                 '(test-requirements.txt)')
            cloud = cli.serve(self)
            step('compute API served on %s (noauth: every request is the '
                 'admin of project %s); driving it with %s' % (
                     cloud.url, self.api_fixture.project_id, command))

            def osc(*argv):
                show('$ openstack %s' % ' '.join(argv))
                code, out, err = cli.openstack(cloud, *argv)
                if code:
                    raise DemoFailed('openstack %s failed (%d): %s' % (
                        ' '.join(argv), code, err.strip()[-2000:]))
                if isinstance(out, str):
                    for line in out.rstrip().splitlines():
                        show('  ' + line)
                return out

            def wait(server_id, status):
                deadline = time.monotonic() + args.timeout
                while True:
                    code, shown, err = cli.openstack(
                        cloud, 'server', 'show', server_id, '-f', 'json')
                    if code == 0 and shown['status'] == status:
                        return shown
                    if time.monotonic() > deadline:
                        raise DemoFailed('%s is not %s after %d s' % (
                            server_id, status, args.timeout))
                    time.sleep(0.5)

            def vm_power(server_id):
                vm = base.vms_by_instance_uuid(self.si).get(server_id)
                return vm['runtime.powerState'] if vm else 'no VM'

            created = osc('server', 'create', '--image', image['id'],
                          '--flavor', flavor['name'], '--nic',
                          'net-id=%s' % test_servers.NETWORK, '-f', 'json',
                          '-c', 'id', 'demo-cli')
            server_id = created['id']
            wait(server_id, 'ACTIVE')
            step('CLI server %s ACTIVE; its VM is %s' % (
                server_id, vm_power(server_id)))
            osc('server', 'list', '-c', 'ID', '-c', 'Name', '-c', 'Status',
                '-c', 'Flavor')
            osc('server', 'show', server_id, '-c', 'id', '-c', 'status',
                '-c', 'flavor', '-c', 'OS-EXT-SRV-ATTR:host',
                '-c', 'OS-EXT-SRV-ATTR:hypervisor_hostname')
            osc('server', 'stop', server_id)
            wait(server_id, 'SHUTOFF')
            step('CLI server SHUTOFF; its VM is %s' % vm_power(server_id))
            osc('server', 'start', server_id)
            wait(server_id, 'ACTIVE')
            step('CLI server ACTIVE; its VM is %s' % vm_power(server_id))
            osc('server', 'delete', '--wait', server_id)
            step('CLI server deleted; its VM: %s' % vm_power(server_id))
            if vm_power(server_id) != 'no VM':
                raise DemoFailed('the VM of %s is still there' % server_id)

        def delete_and_check(self, server):
            vm = base.vms_by_instance_uuid(self.si)[server['id']]
            vmx = vm['config.files.vmPathName']
            folder = vmx.rsplit('/', 1)[0] + '/'
            self.api.delete_server(server['id'])
            step('DELETE /servers/%s' % server['id'])
            deadline = time.monotonic() + args.timeout
            while True:
                try:
                    self.api.get_server(server['id'])
                except api_client.OpenStackApiNotFoundException:
                    break
                if time.monotonic() > deadline:
                    raise DemoFailed('the server is still there after %d s'
                                     % args.timeout)
                time.sleep(0.2)
            if server['id'] in base.vms_by_instance_uuid(self.si):
                raise DemoFailed('the VM of %s is still in vCenter'
                                 % server['id'])
            status = self.datastore_file(folder).status_code
            if status != 404:
                raise DemoFailed('the VM folder %s is still there (HTTP %d)'
                                 % (folder, status))
            step('server deleted; VM %s and its folder %s are gone from '
                 'vCenter' % (vm['moid'], folder))

    Demo.vcsim = fx
    return Demo()


def side_by_side(*columns):
    """Lines of (title, [(label, value)]) columns beside each other.

    Each column is as wide as its widest line, labels as wide as the
    column's widest label: every label and every value of a column starts
    at the same place.
    """
    blocks = []
    for title, rows in columns:
        label_width = max((len(label) for label, _ in rows), default=0)
        block = [title] + ['%-*s  %s' % (label_width, label, value)
                           for label, value in rows]
        blocks.append(block)
    height = max(len(block) for block in blocks)
    widths = [max(len(line) for line in block) for block in blocks]
    lines = []
    for i in range(height):
        cells = [block[i] if i < len(block) else '' for block in blocks]
        lines.append('   '.join(
            '%-*s' % (width, cell)
            for width, cell in zip(widths, cells)).rstrip())
    return lines


def quiet_known_noise():
    """Silence what the libraries under the demo are known to repeat.

    Only these, by module and message or logger: eventlet's deprecation
    warning on Nova's import of it (--eventlet asks for it), Nova's
    warning that its eventlet mode is deprecated, and the INFO lines of
    Nova's thread pools starting and shutting down with each service.
    Anything else still shows.
    """
    warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated',
                            module=r'nova\.monkey_patch')
    logging.getLogger('nova.monkey_patch').setLevel(logging.ERROR)
    logging.getLogger('nova.thread_pool_factory').setLevel(logging.WARNING)


def _nova_version():
    from nova import version
    return version.version_string()


class _DriverLog(logging.Handler):
    """The driver's operator log lines, as progress lines."""

    def emit(self, record):
        if record.levelno >= logging.INFO:
            step('  driver: %s' % record.getMessage())


def main(argv=None):
    args = parse_args(argv)
    # Nova chooses eventlet or native threads at its first import;
    # tests/nova makes that choice, so it comes first.
    os.environ['OS_NOVA_DISABLE_EVENTLET_PATCHING'] = (
        'False' if args.eventlet else 'True')
    for name in ('OS_STDOUT_CAPTURE', 'OS_STDERR_CAPTURE'):
        os.environ[name] = '0'
    quiet_known_noise()
    import tests.nova  # noqa: F401
    import unittest

    from tests import vcsim

    step('building vcsim (govmomi simulator, Debian packages) ...')
    vcsim.build_vcsim()
    port_lock = None
    extra = ()
    if args.glance_datastore:
        from tests import port443
        # glance_store reaches vCenter on 443 only.
        port_lock = port443._lock()
        extra = port443.LISTEN
    fx = vcsim.VcsimFixture(hosts=args.hosts, datastores=args.datastores,
                            vms=args.vms, portgroups=1, extra_args=extra)
    fx.setUp()
    if args.glance_datastore:
        # glance_store's /folder transfers verify TLS with it.
        os.environ['REQUESTS_CA_BUNDLE'] = fx.ca_file
    try:
        step('vcsim is up at %s (pid %s)' % (fx.url, fx.pid))
        case = demo_case(args, fx)
        handler = _DriverLog()
        driver_log = logging.getLogger('nova_vmware_ext')
        driver_log.addHandler(handler)
        # Nova's harness captures the logs while it runs; a few lines come
        # after it hands back the handlers (thread pools shutting down).
        root = logging.getLogger()
        saved = root.handlers[:]
        root.handlers[:] = [logging.NullHandler()]
        result = unittest.TestResult()
        try:
            case.run(result)
        finally:
            driver_log.removeHandler(handler)
            root.handlers[:] = saved
        problems = result.errors + result.failures
        if problems or not result.wasSuccessful():
            for _, text in problems:
                sys.stderr.write(_trim(text))
            step('FAILED')
            return 1
        step('services stopped, vcsim stopping; done')
        return 0
    finally:
        fx.cleanUp()
        if port_lock is not None:
            port_lock.close()


def _wait(task):
    from pyVim import task as task_util
    task_util.WaitForTask(task)


def _trim(text, log_lines=30):
    """A failure: the errors Nova logged, then the traceback."""
    marker = 'Traceback (most recent call last):'
    cut = text.rfind(marker)
    log, tb = (text[:cut], text[cut:]) if cut >= 0 else ('', text)
    errors = [line for line in log.splitlines() if ' ERROR ' in line]
    return '\n'.join(errors[-log_lines:] + [tb.rstrip(), ''])


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:
        traceback.print_exc()
        sys.exit(1)
