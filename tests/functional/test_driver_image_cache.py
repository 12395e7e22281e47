"""Image cache aging: what no VM on the datastore uses goes, nothing else."""

from tests.functional import test_driver_spawn


class ImageCacheAgingTest(test_driver_spawn.SpawnTestBase):

    VCSIM_SHAPE = dict(hosts=2, datastores=1, portgroups=0)

    def _entry(self, image):
        return '[LocalDS_0] _base/%s/%s-flat.vmdk' % (image.id, image.id)

    def test_unused_entries_go_used_ones_stay(self):
        used = self.images.add(b'\x01' * 1024 * 1024,
                               vmware_disktype='thin')
        unused = self.images.add(b'\x02' * 1024 * 1024,
                                 vmware_disktype='thin')
        keeper = self.make_instance()
        self.spawn(keeper, used)
        gone = self.make_instance()
        self.spawn(gone, unused)
        self.driver.destroy(self.context, gone, [])

        # Too young: nothing goes.
        self.flags.config(group='image_cache',
                          remove_unused_original_minimum_age_seconds=3600)
        self.driver.manage_image_cache(self.context, [])
        self.assertIsNotNone(self.datastore_file(self._entry(unused)))

        self.flags.config(group='image_cache',
                          remove_unused_original_minimum_age_seconds=0)
        self.driver.manage_image_cache(self.context, [])
        self.assertIsNone(self.datastore_file(self._entry(unused)))
        self.assertIsNotNone(self.datastore_file(self._entry(used)))
        self.assertEqual('poweredOn', self.vm(keeper)['runtime.powerState'])

        # The image comes back when an instance needs it again.
        again = self.make_instance()
        self.spawn(again, unused)
        self.assertIsNotNone(self.datastore_file(self._entry(unused)))
        self.assertEqual(2, self.images.downloads[unused.id])

    def test_aging_can_be_turned_off(self):
        image = self.images.add(b'\x03' * 1024 * 1024, vmware_disktype='thin')
        instance = self.make_instance()
        self.spawn(instance, image)
        self.driver.destroy(self.context, instance, [])
        self.flags.config(group='image_cache', remove_unused_base_images=False,
                          remove_unused_original_minimum_age_seconds=0)
        self.driver.manage_image_cache(self.context, [])
        self.assertIsNotNone(self.datastore_file(self._entry(image)))
