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

"""vcsim's virtual machines and disks behave as vSphere's.

govmomi 0.24.2's simulator gets several things wrong that the driver depends
on; tools/vcsim/vm_*.go make it faithful, and each test here states the
vSphere behaviour it restores (each fails against the stock simulator):

- CloneVM_Task leaves the source VM alone, honours powerOn, the clone spec's
  config, location (datastore, host, pool), template and linked clones;
- ReconfigVM_Task sets or deletes extraConfig keys, merges partial CPU and
  memory allocations, and numbers new disks on their controller;
- RebootGuest, AcquireTicket and AcquireMksTicket exist, with vSphere's
  faults (the disk methods are test_vcsim_disks');
- VMware Tools run while a VM that has them is powered on.
"""

import hashlib
import ssl

from pyVmomi import vim
from pyVmomi import vmodl
import testtools

from tests.functional.vcsim_vms import by_name
from tests.functional.vcsim_vms import disks
from tests.functional.vcsim_vms import give_tools
from tests.functional.vcsim_vms import http
from tests.functional.vcsim_vms import new_disk
from tests.functional.vcsim_vms import new_vm
from tests.functional.vcsim_vms import option
from tests.functional.vcsim_vms import read
from tests.functional.vcsim_vms import reconfigure
from tests.functional.vcsim_vms import wait
from tests import vcsim


class CloneTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """CloneVM_Task."""

    VCSIM_SHAPE = dict(clusters=2, hosts=2, vms=1, datastores=2)

    VM_PROPS = ['name', 'config.hardware.device', 'runtime.powerState',
                'runtime.host', 'resourcePool', 'datastore',
                'config.files.vmPathName', 'config.template']

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.dc = self.si.content.rootFolder.childEntity[0]
        self.folder = self.dc.vmFolder

    def clone(self, source, name, **spec):
        spec.setdefault('location', vim.vm.RelocateSpec())
        return wait(self.si, source.CloneVM_Task(
            folder=self.folder, name=name, spec=vim.vm.CloneSpec(**spec)))

    def test_source_disks_and_nics_stay_untouched(self):
        # vSphere copies the source's disks to the clone's folder; vcsim
        # 0.24 rewrote the source's disk backings to the clone's files.
        source = new_vm(self.si, 'clone-src-1', disk_units=(0, 1))
        before = read(self.si, source, self.VM_PROPS)
        clone = self.clone(source, 'clone-dst-1')
        after = read(self.si, source, self.VM_PROPS)
        copy = read(self.si, clone, self.VM_PROPS)

        def files(props):
            return [d.backing.fileName
                    for d in disks(props['config.hardware.device'])]

        self.assertEqual(['[LocalDS_0] clone-src-1/clone-src-1.vmdk',
                          '[LocalDS_0] clone-src-1/clone-src-1_1.vmdk'],
                         files(after))
        self.assertEqual(files(before), files(after))
        self.assertEqual(2, len(files(copy)))
        for name in files(copy):
            self.assertTrue(name.startswith('[LocalDS_0] clone-dst-1/'),
                            name)
        # pyVmomi data objects compare by identity: compare their text.
        self.assertEqual(str(before['config.hardware.device']),
                         str(after['config.hardware.device']))

    def test_clone_gets_its_own_mac_addresses(self):
        # vCenter assigns a clone new MACs (unless they are manual).
        source = by_name(self.si, vim.VirtualMachine, 'DC0_C0_RP0_VM0')
        clone = self.clone(source, 'clone-mac')

        def macs(vm):
            devices = read(self.si, vm, ['config.hardware.device'])
            return [d.macAddress
                    for d in devices['config.hardware.device']
                    if isinstance(d, vim.vm.device.VirtualEthernetCard)]

        self.assertEqual(1, len(macs(clone)))
        self.assertNotEqual(macs(source), macs(clone))

    def test_power_on(self):
        # spec.powerOn powers the clone on; vcsim 0.24 ignored it.
        source = by_name(self.si, vim.VirtualMachine, 'DC0_C0_RP0_VM0')
        on = self.clone(source, 'clone-on', powerOn=True)
        off = self.clone(source, 'clone-off', powerOn=False)
        self.assertEqual('poweredOn',
                         read(self.si, on, ['runtime.powerState'])
                         ['runtime.powerState'])
        self.assertEqual('poweredOff',
                         read(self.si, off, ['runtime.powerState'])
                         ['runtime.powerState'])

    def test_config_applied_as_a_reconfigure(self):
        # The clone spec's config changes the clone as ReconfigVM_Task
        # would; vcsim 0.24 ignored all but extraConfig (appended) and
        # deviceChange. The source keeps its own configuration, and the
        # clone inherits what the spec does not change.
        source = new_vm(self.si, 'clone-src-config')
        reconfigure(self.si, source, annotation='the source',
                    extraConfig=[option('keep', 'me'),
                                 option('change', 'me')],
                    cpuAllocation=vim.ResourceAllocationInfo(
                        reservation=100))
        config = vim.vm.ConfigSpec(
            numCPUs=4, memoryMB=256,
            extraConfig=[option('change', 'done'), option('new', 'x')],
            cpuAllocation=vim.ResourceAllocationInfo(limit=2000),
            deviceChange=[vim.vm.device.VirtualDeviceSpec(
                operation='add', fileOperation='create',
                device=new_disk(-50))])
        clone = self.clone(source, 'clone-config', config=config)

        paths = ['config.hardware.numCPU', 'config.hardware.memoryMB',
                 'config.extraConfig', 'config.cpuAllocation',
                 'config.annotation', 'config.hardware.device']
        got = read(self.si, clone, paths)
        self.assertEqual(4, got['config.hardware.numCPU'])
        self.assertEqual(256, got['config.hardware.memoryMB'])
        extra = {o.key: o.value for o in got['config.extraConfig']}
        self.assertEqual('me', extra['keep'])
        self.assertEqual('done', extra['change'])
        self.assertEqual('x', extra['new'])
        self.assertEqual(len(extra), len(got['config.extraConfig']))
        self.assertEqual(100, got['config.cpuAllocation'].reservation)
        self.assertEqual(2000, got['config.cpuAllocation'].limit)
        self.assertEqual('the source', got['config.annotation'])
        self.assertEqual([0, 1], [d.unitNumber for d in disks(
            got['config.hardware.device'])])

        src = read(self.si, source, paths)
        self.assertEqual(1, src['config.hardware.numCPU'])
        self.assertEqual(64, src['config.hardware.memoryMB'])
        self.assertNotIn('new', {o.key for o in src['config.extraConfig']})
        self.assertEqual(1, len(disks(src['config.hardware.device'])))

    def test_location_datastore_host_and_pool(self):
        # The clone's files go to location.datastore, and it runs on
        # location.host in location.pool; the host's, pool's and
        # datastore's vm lists name it. vcsim 0.24 left it on the
        # source's host.
        source = by_name(self.si, vim.VirtualMachine, 'DC0_C0_RP0_VM0')
        src = read(self.si, source, self.VM_PROPS)
        cluster = by_name(self.si, vim.ClusterComputeResource, 'DC0_C0')
        hosts = read(self.si, cluster, ['host'])['host']
        target = [h for h in hosts if h != src['runtime.host']][0]
        ds1 = by_name(self.si, vim.Datastore, 'LocalDS_1')
        pool = src['resourcePool']

        clone = self.clone(source, 'clone-placed', location=(
            vim.vm.RelocateSpec(datastore=ds1, host=target, pool=pool)))
        got = read(self.si, clone, self.VM_PROPS)
        self.assertEqual(target, got['runtime.host'])
        self.assertEqual(pool, got['resourcePool'])
        self.assertEqual('[LocalDS_1] clone-placed/clone-placed.vmx',
                         got['config.files.vmPathName'])
        for disk in disks(got['config.hardware.device']):
            self.assertTrue(disk.backing.fileName.startswith(
                '[LocalDS_1] clone-placed/'), disk.backing.fileName)
        self.assertEqual([ds1], list(got['datastore']))
        self.assertIn(clone, read(self.si, target, ['vm'])['vm'])
        self.assertNotIn(clone, read(self.si, src['runtime.host'],
                                     ['vm'])['vm'])
        self.assertIn(clone, read(self.si, pool, ['vm'])['vm'])
        self.assertIn(clone, read(self.si, ds1, ['vm'])['vm'])

    def test_pool_of_another_cluster_picks_a_host_there(self):
        # With only location.pool, the clone runs on a host of the pool's
        # cluster (DRS places it), not on the source's host elsewhere.
        source = by_name(self.si, vim.VirtualMachine, 'DC0_C0_RP0_VM0')
        other = by_name(self.si, vim.ClusterComputeResource, 'DC0_C1')
        props = read(self.si, other, ['resourcePool', 'host'])
        clone = self.clone(source, 'clone-c1', location=vim.vm.RelocateSpec(
            pool=props['resourcePool']))
        got = read(self.si, clone, self.VM_PROPS)
        self.assertIn(got['runtime.host'], list(props['host']))
        self.assertEqual(props['resourcePool'], got['resourcePool'])
        self.assertIn(clone, read(self.si, got['runtime.host'],
                                  ['vm'])['vm'])
        self.assertIn(clone, read(self.si, props['resourcePool'],
                                  ['vm'])['vm'])

    def test_location_host_outside_the_pool_is_refused(self):
        source = by_name(self.si, vim.VirtualMachine, 'DC0_C0_RP0_VM0')
        pool = read(self.si, source, ['resourcePool'])['resourcePool']
        other = by_name(self.si, vim.ClusterComputeResource, 'DC0_C1')
        host = read(self.si, other, ['host'])['host'][0]
        self.assertRaises(
            vmodl.fault.InvalidArgument, self.clone, source, 'clone-bad',
            location=vim.vm.RelocateSpec(pool=pool, host=host))
        self.assertRaises(LookupError, by_name, self.si, vim.VirtualMachine,
                          'clone-bad')

    def test_linked_clone_gets_a_child_delta_disk(self):
        # diskMoveType createNewChildDiskBacking from a snapshot: the
        # clone's disk is a new child disk in its own folder whose parent
        # is the snapshot's disk, the source's disk file; the source's
        # disk is untouched. vcsim 0.24 made a full copy (parent unset).
        source = new_vm(self.si, 'linked-src')
        wait(self.si, source.CreateSnapshot_Task(
            name='base', memory=False, quiesce=False))
        snapshot = read(self.si, source, ['snapshot.currentSnapshot'])[
            'snapshot.currentSnapshot']
        clone = self.clone(source, 'linked-dst', snapshot=snapshot,
                           location=vim.vm.RelocateSpec(
                               diskMoveType='createNewChildDiskBacking'))

        parent_name = '[LocalDS_0] linked-src/linked-src.vmdk'
        src_disk, = disks(read(self.si, source, ['config.hardware.device'])
                          ['config.hardware.device'])
        self.assertEqual(parent_name, src_disk.backing.fileName)
        self.assertIsNone(src_disk.backing.parent)

        disk, = disks(read(self.si, clone, ['config.hardware.device'])
                      ['config.hardware.device'])
        child = disk.backing.fileName
        self.assertEqual('[LocalDS_0] linked-dst/linked-dst-000001.vmdk',
                         child)
        self.assertEqual(parent_name, disk.backing.parent.fileName)
        self.assertEqual(src_disk.capacityInKB, disk.capacityInKB)

        # The child exists on the datastore and names its parent.
        status, _, descriptor = http(
            self.vcsim, self.si, 'GET', 'linked-dst/linked-dst-000001.vmdk')
        self.assertEqual(200, status)
        self.assertIn(b'createType="vmfsSparse"', descriptor)
        self.assertIn(b'linked-src/linked-src.vmdk', descriptor)
        self.assertEqual(200, http(self.vcsim, self.si, 'HEAD',
                                   'linked-src/linked-src.vmdk')[0])

    def test_snapshot_config_does_not_follow_the_vm(self):
        # A snapshot keeps the configuration the VM had when it was taken
        # (linked clones use its disks); vcsim 0.24's snapshot shared the
        # VM's device list, which a later reconfigure of the VM scrambled.
        source = new_vm(self.si, 'snap-src', disk_units=(0, 1))
        wait(self.si, source.CreateSnapshot_Task(
            name='two disks', memory=False, quiesce=False))
        snapshot = read(self.si, source, ['snapshot.currentSnapshot'])[
            'snapshot.currentSnapshot']
        first = disks(read(self.si, source, ['config.hardware.device'])[
            'config.hardware.device'])[0]
        reconfigure(self.si, source, deviceChange=[
            vim.vm.device.VirtualDeviceSpec(operation='remove',
                                            device=first)])
        kept = disks(read(self.si, snapshot, ['config.hardware.device'])[
            'config.hardware.device'])
        self.assertEqual(['[LocalDS_0] snap-src/snap-src.vmdk',
                          '[LocalDS_0] snap-src/snap-src_1.vmdk'],
                         [d.backing.fileName for d in kept])

    def test_linked_clone_needs_a_snapshot(self):
        # Only a snapshot's disks are read-only and safe to share.
        source = by_name(self.si, vim.VirtualMachine, 'DC0_C0_RP0_VM0')
        self.assertRaises(
            vmodl.fault.InvalidArgument, self.clone, source, 'linked-bad',
            location=vim.vm.RelocateSpec(
                diskMoveType='createNewChildDiskBacking'))

    def test_clone_of_a_vm_with_tools_has_tools(self):
        # The clone's guest is a copy of the source's, VMware Tools
        # included: they run once the clone is powered on.
        source = new_vm(self.si, 'tools-src', power_on=True)
        give_tools(self.si, source)
        clone = self.clone(source, 'tools-dst', powerOn=True)
        self.assertEqual(
            {'guest.toolsRunningStatus': 'guestToolsRunning',
             'guest.toolsStatus': 'toolsOk'},
            read(self.si, clone, ['guest.toolsRunningStatus',
                                  'guest.toolsStatus']))

    def test_template(self):
        # template=True makes a template: config.template, no resource
        # pool, not among its former pool's VMs.
        source = by_name(self.si, vim.VirtualMachine, 'DC0_C0_RP0_VM0')
        pool = read(self.si, source, ['resourcePool'])['resourcePool']
        clone = self.clone(source, 'clone-template', template=True)
        got = read(self.si, clone, self.VM_PROPS + ['summary.config.template'])
        self.assertTrue(got['config.template'])
        self.assertTrue(got['summary.config.template'])
        self.assertNotIn('resourcePool', got)
        self.assertEqual('poweredOff', got['runtime.powerState'])
        self.assertNotIn(clone, read(self.si, pool, ['vm'])['vm'])


class ReconfigureTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """ReconfigVM_Task (and CreateVM_Task)."""

    VCSIM_SHAPE = dict(hosts=1, vms=0, datastores=1)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.vm = new_vm(self.si, self.id().rsplit('.', 1)[-1])

    def extra_config(self):
        return [(o.key, o.value) for o in read(
            self.si, self.vm, ['config.extraConfig'])['config.extraConfig']]

    def test_extra_config_replaces_the_value(self):
        # Setting a key again replaces its value (vcsim 0.24: a second
        # entry with the same key).
        reconfigure(self.si, self.vm, extraConfig=[option('k', '1')])
        reconfigure(self.si, self.vm, extraConfig=[option('k', '2')])
        reconfigure(self.si, self.vm, extraConfig=[option('j', 'a'),
                                                   option('j', 'b')])
        got = self.extra_config()
        self.assertEqual([('k', '2')], [o for o in got if o[0] == 'k'])
        self.assertEqual([('j', 'b')], [o for o in got if o[0] == 'j'])

    def test_extra_config_empty_value_deletes_the_key(self):
        reconfigure(self.si, self.vm, extraConfig=[option('gone', 'x'),
                                                   option('stays', 'y')])
        reconfigure(self.si, self.vm, extraConfig=[option('gone', '')])
        got = dict(self.extra_config())
        self.assertNotIn('gone', got)
        self.assertEqual('y', got['stays'])

    def test_partial_allocation_keeps_the_other_fields(self):
        # Only limit given: reservation and shares keep their values
        # (vcsim 0.24 unset them).
        reconfigure(
            self.si, self.vm,
            cpuAllocation=vim.ResourceAllocationInfo(
                reservation=100,
                shares=vim.SharesInfo(level='custom', shares=3000)),
            memoryAllocation=vim.ResourceAllocationInfo(reservation=32))
        reconfigure(self.si, self.vm,
                    cpuAllocation=vim.ResourceAllocationInfo(limit=500),
                    memoryAllocation=vim.ResourceAllocationInfo(limit=64))
        got = read(self.si, self.vm, ['config.cpuAllocation',
                                      'config.memoryAllocation'])
        cpu, mem = got['config.cpuAllocation'], got['config.memoryAllocation']
        self.assertEqual((100, 500), (cpu.reservation, cpu.limit))
        self.assertEqual(('custom', 3000), (cpu.shares.level,
                                            cpu.shares.shares))
        self.assertEqual((32, 64), (mem.reservation, mem.limit))
        self.assertEqual('normal', mem.shares.level)

    def test_new_disk_gets_the_next_free_unit_skipping_7(self):
        # A disk added without unitNumber gets the first free unit of its
        # SCSI controller, never 7 (the controller's own); vcsim 0.24
        # refused it (InvalidDeviceSpec).
        reconfigure(self.si, self.vm, deviceChange=[
            vim.vm.device.VirtualDeviceSpec(
                operation='add', fileOperation='create',
                device=new_disk(-1 - i, unit))
            for i, unit in enumerate((1, 2, 3, 4, 5, 6))])
        reconfigure(self.si, self.vm, deviceChange=[
            vim.vm.device.VirtualDeviceSpec(
                operation='add', fileOperation='create',
                device=new_disk(-1)),
            vim.vm.device.VirtualDeviceSpec(
                operation='add', fileOperation='create',
                device=new_disk(-2)),
            vim.vm.device.VirtualDeviceSpec(
                operation='add', device=vim.vm.device.VirtualCdrom(
                    key=-3, controllerKey=1000,
                    backing=vim.vm.device.VirtualCdrom
                    .RemotePassthroughBackingInfo(
                        deviceName='', exclusive=False)))])
        devices = read(self.si, self.vm, ['config.hardware.device'])[
            'config.hardware.device']
        units = [d.unitNumber for d in devices if d.controllerKey == 1000]
        self.assertEqual([0, 1, 2, 3, 4, 5, 6, 8, 9, 10], units)

    def test_new_vm_disks_are_numbered(self):
        # The same in CreateVM_Task; a removed disk frees its unit.
        vm = new_vm(self.si, 'numbered', disk_units=(None, None))
        devices = read(self.si, vm, ['config.hardware.device'])[
            'config.hardware.device']
        first, second = disks(devices)
        self.assertEqual([0, 1], [first.unitNumber, second.unitNumber])
        reconfigure(self.si, vm, deviceChange=[
            vim.vm.device.VirtualDeviceSpec(operation='remove',
                                            device=first),
            vim.vm.device.VirtualDeviceSpec(
                operation='add', fileOperation='create',
                device=new_disk(-1))])
        devices = read(self.si, vm, ['config.hardware.device'])[
            'config.hardware.device']
        self.assertEqual([1, 0], [d.unitNumber for d in disks(devices)])


class VmMethodsTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """RebootGuest, AcquireTicket, AcquireMksTicket, Tools."""

    VCSIM_SHAPE = dict(hosts=2, vms=0, datastores=1)

    def setUp(self):
        super().setUp()
        self.si = self.vcsim.connect()
        self.vm = new_vm(self.si, self.id().rsplit('.', 1)[-1],
                         power_on=True)

    def power_state(self):
        return read(self.si, self.vm, ['runtime.powerState'])[
            'runtime.powerState']

    def test_reboot_guest_needs_running_tools(self):
        # vcsim's VMs have no Tools: vSphere cannot reboot their guest.
        tools = read(self.si, self.vm, ['guest.toolsRunningStatus'])
        self.assertEqual('guestToolsNotRunning',
                         tools['guest.toolsRunningStatus'])
        self.assertRaises(vim.fault.ToolsUnavailable, self.vm.RebootGuest)

    def test_reboot_guest_keeps_the_vm_on(self):
        give_tools(self.si, self.vm)
        self.assertIsNone(self.vm.RebootGuest())
        self.assertEqual('poweredOn', self.power_state())

    def test_reboot_guest_of_a_powered_off_vm(self):
        give_tools(self.si, self.vm)
        wait(self.si, self.vm.PowerOffVM_Task())
        error = self.assertRaises(vim.fault.InvalidPowerState,
                                  self.vm.RebootGuest)
        self.assertEqual('poweredOff', error.existingState)

    def test_tools_run_while_the_vm_is_on(self):
        give_tools(self.si, self.vm)
        paths = ['guest.toolsRunningStatus', 'guest.toolsStatus',
                 'summary.guest.toolsRunningStatus']
        wait(self.si, self.vm.PowerOffVM_Task())
        self.assertEqual(
            {'guest.toolsRunningStatus': 'guestToolsNotRunning',
             'guest.toolsStatus': 'toolsNotRunning',
             'summary.guest.toolsRunningStatus': 'guestToolsNotRunning'},
            read(self.si, self.vm, paths))
        wait(self.si, self.vm.PowerOnVM_Task())
        self.assertEqual(
            {'guest.toolsRunningStatus': 'guestToolsRunning',
             'guest.toolsStatus': 'toolsOk',
             'summary.guest.toolsRunningStatus': 'guestToolsRunning'},
            read(self.si, self.vm, paths))

    def expected_thumbprint(self):
        with open(self.vcsim.ca_file) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        digest = hashlib.sha1(der).hexdigest().upper()
        return ':'.join(digest[i:i + 2] for i in range(0, len(digest), 2))

    def assert_console_ticket(self, ticket, port):
        props = read(self.si, self.vm, ['runtime.host', 'name'])
        host = read(self.si, props['runtime.host'], ['name'])['name']
        self.assertEqual(host, ticket.host)
        self.assertEqual(port, ticket.port)
        self.assertEqual(self.expected_thumbprint(), ticket.sslThumbprint)
        name = props['name']
        # The .vmx as the host sees it: /vmfs/volumes/<uuid>/... on VMFS.
        self.assertTrue(ticket.cfgFile.startswith('/'), ticket.cfgFile)
        self.assertTrue(ticket.cfgFile.endswith('/%s/%s.vmx' % (name, name)),
                        ticket.cfgFile)
        self.assertGreaterEqual(len(ticket.ticket), 16)

    def test_acquire_mks_and_webmks_tickets(self):
        mks = self.vm.AcquireTicket(ticketType='mks')
        self.assertIsInstance(mks, vim.VirtualMachineTicket)
        self.assert_console_ticket(mks, 902)
        webmks = self.vm.AcquireTicket(ticketType='webmks')
        self.assert_console_ticket(webmks, 443)
        self.assertNotEqual(mks.ticket, webmks.ticket)

    def test_acquire_mks_ticket(self):
        ticket = self.vm.AcquireMksTicket()
        self.assertIsInstance(ticket, vim.VirtualMachineMksTicket)
        self.assert_console_ticket(ticket, 902)

    def test_tickets_need_a_powered_on_vm(self):
        wait(self.si, self.vm.PowerOffVM_Task())
        self.assertRaises(vim.fault.InvalidPowerState,
                          self.vm.AcquireTicket, ticketType='webmks')
        self.assertRaises(vim.fault.InvalidPowerState,
                          self.vm.AcquireMksTicket)

    def test_unknown_ticket_type(self):
        self.assertRaises(vmodl.fault.InvalidArgument,
                          self.vm.AcquireTicket, ticketType='vnc')

    def test_methods_need_a_session(self):
        # As every vSphere method but the login ones.
        si = vcsim.service_instance(self.vcsim)
        vm = vim.VirtualMachine(self.vm._moId, si._stub)
        si.content.sessionManager.Logout()
        self.assertRaises(vim.fault.NotAuthenticated, vm.RebootGuest)
        self.assertRaises(vim.fault.NotAuthenticated, vm.AcquireTicket,
                          ticketType='mks')


class VmToolsFlagTest(vcsim.VcsimClassMixin, testtools.TestCase):
    """vcsim -vm-tools: VMs whose guests have Tools (as Nova's images)."""

    VCSIM_SHAPE = dict(hosts=1, vms=1, datastores=1,
                       extra_args=('-vm-tools',))

    def test_powered_on_vms_run_tools_and_reboot_their_guest(self):
        si = self.vcsim.connect()
        vm = by_name(si, vim.VirtualMachine, 'DC0_C0_RP0_VM0')
        self.assertEqual(
            {'guest.toolsRunningStatus': 'guestToolsRunning',
             'guest.toolsStatus': 'toolsOk'},
            read(si, vm, ['guest.toolsRunningStatus', 'guest.toolsStatus']))
        vm.RebootGuest()
        self.assertEqual('poweredOn', read(si, vm, ['runtime.powerState'])[
            'runtime.powerState'])

        fresh = new_vm(si, 'fresh')
        self.assertEqual('toolsNotRunning', read(
            si, fresh, ['guest.toolsStatus'])['guest.toolsStatus'])
        wait(si, fresh.PowerOnVM_Task())
        self.assertEqual('guestToolsRunning', read(
            si, fresh, ['guest.toolsRunningStatus'])[
                'guest.toolsRunningStatus'])
