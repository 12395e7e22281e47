"""The main job on the embedded simulator: vcsim as vCenter, our driver.

Builds and starts vcsim, loads ``vmware_ext.driver.VCDriver`` through Nova's
own loader, connects it, and prints the node and the inventory it manages.
Exits non-zero on any failure.
"""

import argparse
import os
import sys
import time

# The installed nova_vmware_ext is the one under test; the source tree only
# lends the vcsim harness (tests/vcsim.py).
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def step(message):
    print('[%6.2fs] %s' % (time.monotonic() - START, message), flush=True)


START = time.monotonic()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--hosts', type=int, default=3)
    parser.add_argument('--datastores', type=int, default=2)
    parser.add_argument('--vms', type=int, default=0,
                        help='pre-existing (non-Nova) VMs in the cluster')
    args = parser.parse_args()

    from nova import config as nova_config
    from nova.virt import driver as virt_driver
    from nova.virt import fake
    from oslo_config import cfg

    from tests import vcsim

    step('building vcsim (govmomi %s simulator) ...' % 'Debian')
    vcsim.build_vcsim()
    fx = vcsim.VcsimFixture(hosts=args.hosts, datastores=args.datastores,
                            vms=args.vms)
    fx.setUp()
    try:
        step('vcsim is up at %s (pid %s)' % (fx.url, fx.pid))
        conf = cfg.CONF
        nova_config.parse_args([], default_config_files=[])
        conf.set_override('compute_driver', 'vmware_ext.driver.VCDriver')
        for name, value in (('host_ip', fx.host), ('host_port', fx.port),
                            ('host_username', fx.username),
                            ('host_password', fx.password),
                            ('ca_file', fx.ca_file),
                            ('cluster_name', 'DC0_C0')):
            conf.set_override(name, value, group='vmware')

        drv = virt_driver.load_compute_driver(fake.FakeVirtAPI())
        step('Nova loaded %s.%s' % (type(drv).__module__,
                                    type(drv).__name__))
        drv.init_host('demo-compute')
        step('connected; nodes: %s' % ', '.join(drv.get_available_nodes()))
        host = drv._host
        inv = host.inventory.get()
        print('  cluster     %s (%s) in datacenter %s' % (
            inv.cluster_name, inv.cluster._moId, inv.datacenter_path))
        for h in inv.hosts:
            hw = h.hardware
            print('  host        %-14s %s, %d cores, %d MiB' % (
                h.name, h.connection_state, hw.numCpuCores,
                hw.memorySize // 2 ** 20))
        for ds in host.inventory.datastores():
            print('  datastore   %-14s %s, %.1f of %.1f GiB free' % (
                ds.name, ds.type, ds.free_space / 2 ** 30,
                ds.capacity / 2 ** 30))
        for net in inv.networks:
            print('  network     %-14s %s' % (net.name, net.kind))
        print('  vCenter calls: %d (plus %d for login)' % (
            host.session.calls.total, host.session.calls.login))
        drv.cleanup_host('demo-compute')
        step('logged out; done')
    finally:
        fx.cleanUp()
    return 0


if __name__ == '__main__':
    sys.exit(main())
