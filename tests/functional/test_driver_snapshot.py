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

"""Snapshot to Glance through VCDriver against vcsim.

The image's bytes, the task states, what is left in vSphere and a boot from
the new image are checked independently of the driver.
"""

from nova.compute import task_states
from nova import exception
from nova import objects
from pyVmomi import vim

from nova_vmware_ext.images import fetch
from nova_vmware_ext.images import inspect
from tests.functional import test_driver_spawn as spawn_tests


class GlanceError(exception.NovaException):
    msg_fmt = 'Glance refused the upload'


class RecordingImageAPI(spawn_tests.FakeImageAPI):
    """The fake Glance, taking uploads too (``fail_after``: bytes read
    before the upload fails)."""

    def __init__(self):
        super().__init__()
        self.updates = []
        self.fail_after = None
        self.during_upload = None

    def update(self, context, image_id, metadata, data=None,
               purge_props=True):
        received = bytearray()
        if self.during_upload is not None:
            self.during_upload()
        for chunk in data:
            received += chunk
            if self.fail_after is not None and \
                    len(received) >= self.fail_after:
                raise GlanceError()
        self.updates.append((image_id, metadata, purge_props))
        self.data[image_id] = bytes(received)
        return metadata


class TaskStates(object):
    def __init__(self):
        self.calls = []

    def __call__(self, task_state, expected_state=None):
        self.calls.append((task_state, expected_state))


class SnapshotTestBase(spawn_tests.SpawnTestBase):

    def setUp(self):
        super().setUp()
        self.images = RecordingImageAPI()
        self.driver._host.spawner.image_api = self.images
        self.driver._host.snapshots.image_api = self.images
        self.data = spawn_tests.stream_optimized_vmdk(4)
        self.image = self.images.add(self.data,
                                     vmware_disktype='streamOptimized',
                                     vmware_ostype='ubuntu64Guest')

    def spawned(self, **kwargs):
        instance = self.make_instance(**kwargs)
        self.spawn(instance, self.image)
        return instance

    def snapshot(self, instance,
                 image_id='0a5e4e7e-1111-4222-8333-0123456789ab'):
        states = TaskStates()
        self.driver.snapshot(self.context, instance, image_id, states)
        return image_id, states

    def vm_snapshots(self, instance):
        return self.vm_of(instance.uuid, ['snapshot']).get('snapshot')

    def clones(self):
        return [v['name'] for v in self.query(vim.VirtualMachine,
                                              ['name']).values()
                if v['name'].startswith('snapshot-')]


class SnapshotTest(SnapshotTestBase):

    def test_snapshot_uploads_the_root_disk_and_leaves_nothing(self):
        instance = self.spawned()
        image_id, states = self.snapshot(instance)

        self.assertEqual(
            [(task_states.IMAGE_PENDING_UPLOAD, None),
             (task_states.IMAGE_UPLOADING, task_states.IMAGE_PENDING_UPLOAD)],
            states.calls)
        [(uploaded_id, metadata, purge)] = self.images.updates
        self.assertEqual((image_id, False), (uploaded_id, purge))
        self.assertEqual(('vmdk', 'bare'), (metadata['disk_format'],
                                            metadata['container_format']))
        props = metadata['properties']
        self.assertEqual(
            ('streamOptimized', 'lsiLogic', 'ubuntu64Guest', 'ubuntu'),
            (props['vmware_disktype'], props['vmware_adaptertype'],
             props['vmware_ostype'], props['os_distro']))
        # vcsim flattens the chain to its base: the bytes the VM booted.
        uploaded = self.images.data[image_id]
        self.assertEqual(self.data, uploaded)
        source = fetch.ImageSource(image_id, len(uploaded), 'streamOptimized',
                                   'lsiLogic', None)
        stream = inspect.judge(source, [uploaded], inspect.Limits())
        self.assertEqual(uploaded, b''.join(stream))
        # Nothing left: no clone, no snapshot (the leak check sees files).
        self.assertEqual([], self.clones())
        self.assertIsNone(self.vm_snapshots(instance))
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])

    def test_the_clone_is_no_instance(self):
        instance = self.spawned()
        seen = {}

        def look():
            found = self.query(vim.VirtualMachine, [
                'name', 'config.managedBy', 'config.instanceUuid',
                'config.extraConfig', 'runtime.powerState'])
            [clone] = [v for v in found.values()
                       if v['name'].startswith('snapshot-')]
            seen.update(clone)
            seen['uuids'] = self.driver.list_instance_uuids()
        self.images.during_upload = look
        self.snapshot(instance)
        self.assertEqual('poweredOff', seen['runtime.powerState'])
        self.assertEqual('snapshot', seen['config.managedBy'].type)
        self.assertNotEqual(instance.uuid, seen['config.instanceUuid'])
        self.assertEqual([], [o for o in seen['config.extraConfig']
                              if o.key == 'nvp.vm-uuid' and o.value])
        self.assertEqual([instance.uuid], seen['uuids'])

    def test_snapshot_leaves_ephemeral_and_swap_out(self):
        instance = self.make_instance()
        instance.flavor.ephemeral_gb = 1
        instance.flavor.swap = 64
        instance.ephemeral_gb = 1
        self.spawn(instance, self.image)
        self.assertEqual(3, len(self.disks(self.vm(instance))))
        image_id, _ = self.snapshot(instance)
        self.assertEqual(self.data, self.images.data[image_id])
        self.assertEqual([], self.clones())

    def test_the_snapshot_image_boots(self):
        instance = self.spawned()
        image_id, _ = self.snapshot(instance)
        _, metadata, _ = self.images.updates[0]
        image = objects.ImageMeta.from_dict(dict(
            metadata, id=image_id, name='snap', size=len(
                self.images.data[image_id])))
        second = self.make_instance(display_name='from-snapshot')
        self.spawn(second, image)
        vm = self.vm(second)
        self.assertEqual('poweredOn', vm['runtime.powerState'])
        self.assertEqual('ubuntu64Guest', vm['config.guestId'])
        [disk] = self.disks(vm)
        self.assertTrue(disk.backing.parent.fileName.endswith(
            '%s/%s.vmdk' % (image_id, image_id)))
        self.assertEqual(self.data,
                         self.datastore_file(disk.backing.parent.fileName))

    def test_powered_off_instance(self):
        instance = self.make_instance()
        self.spawn(instance, self.image, power_on=False)
        image_id, _ = self.snapshot(instance)
        self.assertEqual(self.data, self.images.data[image_id])
        self.assertEqual('poweredOff',
                         self.vm(instance)['runtime.powerState'])
        self.assertIsNone(self.vm_snapshots(instance))


class SnapshotFaultTest(SnapshotTestBase):
    """Every failure: a clear error, nothing left behind."""

    def assert_nothing_left(self, instance):
        self.assertEqual([], self.clones())
        self.assertIsNone(self.vm_snapshots(instance))
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])

    def test_failing_glance_upload(self):
        instance = self.spawned()
        self.images.fail_after = 1
        self.assertRaises(GlanceError, self.snapshot, instance)
        self.assert_nothing_left(instance)

    def test_failed_export_lease(self):
        instance = self.spawned()
        self.vcsim.inject('ExportVm', fault='vim.fault.FileFault',
                          message='export refused')
        error = self.assertRaises(exception.NovaException, self.snapshot,
                                  instance)
        self.assertIn('export refused', str(error))
        self.assertIn('snapshot', str(error))
        self.assert_nothing_left(instance)

    def test_failed_clone(self):
        instance = self.spawned()
        self.vcsim.inject('CloneVM_Task', action='task_error',
                          fault='vim.fault.NoDiskSpace', message='disk full')
        error = self.assertRaises(exception.NovaException, self.snapshot,
                                  instance)
        self.assertIn('disk full', str(error))
        self.assert_nothing_left(instance)

    def test_failed_cleanup_does_not_hide_the_error(self):
        instance = self.spawned()
        self.images.fail_after = 1
        self.vcsim.inject('RemoveSnapshot_Task', action='task_error',
                          fault='vim.fault.FileFault', message='locked')
        self.assertRaises(GlanceError, self.snapshot, instance)
        self.assertEqual([], self.clones())
        # What the failed cleanup left, the test removes (leak check).
        vm = vim.VirtualMachine(self.vm(instance)['moid'], self.si._stub)
        [snap] = self.vm_snapshots(instance).rootSnapshotList
        spawn_tests.driver_base.wait_task(
            snap.snapshot.RemoveSnapshot_Task(removeChildren=False))
        self.assertIsNone(vm.snapshot)

    def test_vanished_vm(self):
        instance = self.make_instance()
        states = TaskStates()
        self.assertRaises(exception.InstanceNotRunning, self.driver.snapshot,
                          self.context, instance, 'img', states)
        self.assertEqual([], states.calls)

    def test_vm_without_disk_is_refused_before_any_change(self):
        instance_uuid, vm = self.make_nova_vm(power_on=True)
        states = TaskStates()
        error = self.assertRaises(
            exception.NovaException, self.driver.snapshot, self.context,
            self.instance(instance_uuid), 'img', states)
        self.assertIn('no disk', str(error))
        self.assertEqual([], states.calls)
        self.assertIsNone(vm.snapshot)
        self.assertEqual([], self.clones())

    def test_vm_vanishing_during_the_snapshot(self):
        # vCenter answers ManagedObjectNotFound for the VM: gone for Nova.
        instance = self.spawned()
        moid = self.vm(instance)['moid']
        for method in ('CreateSnapshot_Task', 'CloneVM_Task'):
            self.vcsim.inject(method, fault='ManagedObjectNotFound',
                              moid=moid)
            error = self.assertRaises(exception.InstanceNotFound,
                                      self.snapshot, instance)
            self.assertIn(method, error.format_message())
            self.assert_nothing_left(instance)

    def test_export_lease_failing_at_its_end(self):
        instance = self.spawned()
        self.vcsim.inject('HttpNfcLeaseComplete', fault='vim.fault.Timedout',
                          message='lease timed out')
        error = self.assertRaises(exception.NovaException, self.snapshot,
                                  instance)
        self.assertIn('lease timed out', str(error))
        self.assert_nothing_left(instance)
