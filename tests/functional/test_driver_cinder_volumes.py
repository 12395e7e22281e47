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

"""Volumes made by Cinder's real VMware drivers, attached by ours.

Cinder 29's ``VMwareVcVmdkDriver`` and ``VMwareVStorageObjectDriver`` run
as a library in a subprocess (tests/cinder_volumes.py) against the same
vcsim: they create the backings, answer initialize_connection for our
connector and extend a detached one; the driver attaches and detaches what
they return, and Cinder then deletes its volumes, which it can only do if
the detach gave them back whole.
"""

from oslo_utils import uuidutils
from pyVmomi import vmodl

from tests import cinder_volumes
from tests.functional import test_driver_volumes
from tests import volume_backings as backings


class CinderVolumesTest(test_driver_volumes.VolumeTestBase):

    def test_cinder_made_volumes_attach_detach_and_delete(self):
        instance = self.running()
        connector = self.driver.get_volume_connector(instance)
        self.assertEqual(self.vm(instance)['moid'], connector['instance'])
        vmdk_id, fcd_id = (uuidutils.generate_uuid() for _ in range(2))
        created = cinder_volumes.run(self.vcsim, [
            {'driver': 'vmdk', 'op': 'create', 'id': vmdk_id, 'size_gb': 1},
            {'driver': 'vmdk', 'op': 'connect', 'id': vmdk_id, 'size_gb': 1,
             'connector': connector},
            # Extended while no instance has it (on ESXi a running
            # instance's lock on the file would refuse it).
            {'driver': 'vmdk', 'op': 'extend', 'id': vmdk_id, 'size_gb': 2},
            {'driver': 'fcd', 'op': 'create', 'id': fcd_id, 'size_gb': 1},
            {'driver': 'fcd', 'op': 'connect', 'id': fcd_id, 'size_gb': 1,
             'connector': connector}])
        vmdk, fcd = created[1], created[4]
        location = created[3]['provider_location']
        for info in (vmdk, fcd):
            self.addCleanup(backings.delete, self.si, info)
        # What Cinder hands Nova: no vCenter credentials.
        self.assertEqual({'volume', 'volume_id', 'name', 'profile_id'},
                         set(vmdk['data']))
        self.assertEqual('%s@%s' % (fcd['data']['id'],
                                    fcd['data']['ds_ref_val']), location)

        [shadow_path] = backings.shadow_disk_path(self.si, vmdk)
        fcd_path = self.fcd_path(fcd)
        for info in (vmdk, fcd):
            self.driver.attach_volume(self.context, info, instance,
                                      '/dev/sdb')
        disks = self.volume_disks(instance)
        self.assertEqual({shadow_path, fcd_path}, set(disks))
        self.assertEqual(2 * 1024 * 1024, disks[shadow_path].capacityInKB)
        self.assertEqual(fcd['data']['id'], disks[fcd_path].vDiskId.id)

        for info in (vmdk, fcd):
            self.driver.detach_volume(self.context, info, instance,
                                      '/dev/sdb')
        self.assertEqual({}, self.volume_disks(instance))
        self.assertEqual([shadow_path],
                         backings.shadow_disk_path(self.si, vmdk))
        cinder_volumes.run(self.vcsim, [
            {'driver': 'vmdk', 'op': 'delete', 'id': vmdk_id, 'size_gb': 1},
            {'driver': 'fcd', 'op': 'delete', 'id': fcd_id, 'size_gb': 1,
             'provider_location': location}])
        self.assertRaises(vmodl.fault.ManagedObjectNotFound, getattr,
                          backings.shadow_vm(self.si, vmdk), 'name')
        self.assertIsNone(backings.fcd(self.si, fcd))
        self.assertEqual('poweredOn', self.vm(instance)['runtime.powerState'])
