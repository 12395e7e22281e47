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

"""Snapshots to Glance leave Cinder volume disks out of the image."""

from nova import exception

from tests.functional import test_driver_snapshot
from tests import volume_backings as backings


class VolumeSnapshotTest(test_driver_snapshot.SnapshotTestBase):

    def setUp(self):
        super().setUp()
        self.leaks.keep([backings.FCD_FOLDER])

    def volume(self, kind):
        make = backings.vmdk_volume if kind == 'vmdk' else backings.fcd_volume
        info = make(self.si, size_mb=8)
        self.addCleanup(backings.delete, self.si, info)
        return info

    def test_attached_volumes_stay_out_of_the_image(self):
        instance = self.spawned()
        infos = [self.volume('vmdk'), self.volume('fcd')]
        for info in infos:
            self.driver.attach_volume(self.context, info, instance,
                                      '/dev/sdb')
        before = [d.backing.fileName for d in self.disks(self.vm(instance))]
        image_id, _ = self.snapshot(instance)
        # The image is the root disk's bytes alone, and the VM keeps its
        # volumes.
        self.assertEqual(self.data, self.images.data[image_id])
        self.assertEqual(before, [d.backing.fileName
                                  for d in self.disks(self.vm(instance))])
        self.assertEqual([], self.clones())
        self.assertIsNone(self.vm_snapshots(instance))
        for info in infos:
            self.driver.detach_volume(self.context, info, instance,
                                      '/dev/sdb')

    def test_instance_booted_from_a_volume_is_refused(self):
        # Nova snapshots such an instance through Cinder; called anyway,
        # the driver must not upload the boot volume as an image.
        instance = self.make_instance()
        root = self.volume('vmdk')
        bdi = {'block_device_mapping': [{'connection_info': root,
                                         'boot_index': 0}]}
        self.driver.spawn(self.context, instance, self.image, [], None, {},
                          [], block_device_info=bdi)
        self.addCleanup(self.driver.destroy, self.context, instance, [],
                        block_device_info=bdi)
        raised = self.assertRaises(exception.NovaException, self.snapshot,
                                   instance)
        self.assertIn('volume', str(raised))
        self.assertEqual([], self.images.updates)
        self.assertEqual([], self.clones())
        self.assertIsNone(self.vm_snapshots(instance))
