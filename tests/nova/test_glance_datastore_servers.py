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

"""A server booted through Nova's compute REST API from a VMDK that the
real glance_store VMware backend stored on a datastore of the cluster: the
image cache is filled by a copy inside vSphere (vcsim), not through
nova-compute.

Glance exposes the image's location (``show_multiple_locations``) as the
record's ``locations`` and ``direct_url``. glance_store reaches vCenter on
port 443 only: the class's vcsim listens there (tests/port443.py).
"""

import collections
import io
import os

import fixtures
from oslo_utils import uuidutils
from pyVim import task as task_util
from pyVmomi import vim

from tests import glance_stores
from tests.nova import base
from tests.nova import test_servers
from tests import port443

MiB = 1024 * 1024


class GlanceDatastoreServersTest(port443.Port443ClassMixin,
                                 test_servers.VcsimServersTestBase):

    VCSIM_SHAPE = dict(test_servers.VcsimServersTestBase.VCSIM_SHAPE,
                       extra_args=port443.LISTEN)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.store_conf = glance_stores.vmware_store(cls.vcsim, 'LocalDS_1')

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.EnvironmentVariable(
            'REQUESTS_CA_BUNDLE', self.vcsim.ca_file))
        self.downloads = collections.Counter()
        real = self.glance.download

        def download(context, image_id, **kwargs):
            self.downloads[image_id] += 1
            return real(context, image_id, **kwargs)
        self.glance.download = download

    def add_glance_backed_image(self, data):
        image_id = uuidutils.generate_uuid()
        self.addCleanup(self._delete, '[LocalDS_1] %s'
                        % glance_stores.STORE_DIR)
        location, _size = glance_stores.add(self.store_conf, image_id, data)
        self.addCleanup(glance_stores.delete, location)
        meta = base.vmdk_image(image_id, data, len(data) // MiB,
                               name='glance-backed', vmware_disktype='thin')
        meta.update(locations=[{'url': location, 'metadata': {}}],
                    direct_url=location)
        return self.glance.create(None, meta, data=io.BytesIO(data))

    def _delete(self, path):
        content = self.si.RetrieveContent()
        try:
            task_util.WaitForTask(content.fileManager.DeleteDatastoreFile_Task(
                path, content.rootFolder.childEntity[0]))
        except vim.fault.FileNotFound:
            pass

    def test_boot_from_a_glance_backed_vmdk(self):
        data = os.urandom(8 * MiB)
        image = self.add_glance_backed_image(data)
        flavor_id = self._create_flavor(memory_mb=256, vcpu=1, disk=0,
                                        ephemeral=0)
        self.keep_cache_entry(image['id'], flavor_id)
        self.vcsim.reset_server_calls()
        server = self._create_server(image_uuid=image['id'],
                                     flavor_id=flavor_id, networks='none')
        self.assertEqual('ACTIVE', server['status'])
        calls = self.vcsim.server_calls()
        self.assertEqual(1, calls.get('CopyDatastoreFile_Task'), calls)
        # Glance's bytes never went through nova-compute.
        self.assertEqual(0, self.downloads[image['id']])
        vm = self.vms()[server['id']]
        self.assertEqual('poweredOn', vm['runtime.powerState'])
        disk = base.disks(vm)[0]
        self.assertEqual(8 * 1024, disk.capacityInKB)
        parent = disk.backing.parent.fileName
        self.assertRegex(parent, r'^\[[^]]+\] [0-9.]*_base/%s/%s\.vmdk$'
                         % (image['id'], image['id']))
        flat = self.datastore_file(parent.replace('.vmdk', '-flat.vmdk'))
        self.assertEqual(data, flat.content)
        self._delete_server(server)
