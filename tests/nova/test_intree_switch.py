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

"""Switching a nova-compute between Nova's in-tree vmwareapi driver and
ours, both ways, with servers running (issue 13).

One nova-compute on vcsim cluster DC0_C0 runs Nova's in-tree driver
(``vmwareapi.VMwareVCDriver``) and boots servers; it restarts on ours with
the same ``[vmware]`` options and Nova's defaults: ours lists, powers and
reboots the in-tree driver's servers, boots from the same image reading
the in-tree cache entry (no new upload), deletes and ages the cache. It
restarts on the in-tree driver, which does the same with what ours made.
Each step is checked in vcsim over a separate pyvmomi connection.
"""

import collections
from unittest import mock

from nova import context as nova_context
from oslo_utils.fixture import uuidsentinel as uuids

from tests import intree
from tests import leaks
from tests.nova import base
from tests.nova import test_servers


class InTreeSwitchTest(test_servers.VcsimServersTestBase):

    VCSIM_SHAPE = dict(hosts=2, datastores=1, portgroups=1)

    def setUp(self):
        super().setUp()
        self.glance_downloads = collections.Counter()
        real = self.glance.download

        def download(context, image_id, **kwargs):
            self.glance_downloads[image_id] += 1
            return real(context, image_id, **kwargs)

        self.glance.download = download

    def _setup_compute_service(self):
        # suds talks HTTPS as the compute starts (ours only later).
        base.real_https(self)
        # Our vcsim serves it: without it, fail saying so.
        self.assertIsNone(intree.missing_wsdl(self.vcsim))
        self.useFixture(intree.InTreeSessionFixture())
        # Aging removes an unused entry at its second pass, not a day on.
        self.flags(remove_unused_original_minimum_age_seconds=0,
                   group='image_cache')
        self.flags(compute_driver=intree.DRIVER)
        # The in-tree driver polls its tasks (Nova's default: every 0.5 s).
        self.flags(task_poll_interval=0.1, group='vmware')
        return super()._setup_compute_service()

    def switch_to(self, driver):
        """nova-compute restarts on ``driver``, same options; it keeps the
        node (and so its resource provider and servers)."""
        node = self.driver().get_available_nodes()
        self.flags(compute_driver=driver)
        # The node's identity file survives a restart.
        with mock.patch('nova.virt.node.get_local_node_uuid',
                        return_value=uuids.node_compute):
            self.computes['compute'] = self.restart_compute_service(
                self.computes['compute'], keep_hypervisor_state=False)
        self.assertEqual(driver.split('.')[-1],
                         type(self.driver()).__name__)
        self.assertEqual(node, self.driver().get_available_nodes())
        self.assertEqual(1, len(self.api.api_get(
            '/os-hypervisors').body['hypervisors']))

    def boot(self, image, flavor_id):
        return self._create_server(
            image_uuid=image['id'], flavor_id=flavor_id,
            networks=[{'uuid': test_servers.NETWORK}])

    def cache_files(self, image_id):
        """Datastore-relative paths under the image's cache folder."""
        folder = '%s/%s/' % (self.cache_folder, image_id)
        return sorted(rel.split(folder, 1)[1] for rel in (
            path.split('] ', 1)[1] for path in leaks.datastore_files(self.si))
            if rel.startswith(folder))

    def uploads(self):
        """Image imports vcsim has seen (an upload makes one)."""
        return self.vcsim.server_calls().get('ImportVApp', 0)

    def assert_cache_reused(self, downloads):
        """Since the last reset: no Glance download, no import, no copy
        of a cached disk (the flavor-sized copy was there too)."""
        calls = self.vcsim.server_calls()
        self.assertEqual((0, 0), (calls.get('ImportVApp', 0),
                                  calls.get('CopyVirtualDisk_Task', 0)),
                         calls)
        self.assertEqual(downloads, self.glance_downloads)

    def power_cycle(self, server):
        """Stop, start and reboot ``server`` through the API; vSphere
        follows."""
        moid = self.vms()[server['id']]['moid']
        self._stop_server(server)
        self.assertEqual('poweredOff', self.vms()[server['id']][
            'runtime.powerState'])
        self._start_server(server)
        self._reboot_server(server, hard=True)
        vm = self.vms()[server['id']]
        self.assertEqual(('poweredOn', moid),
                         (vm['runtime.powerState'], vm['moid']))

    def age_cache(self):
        """Two passes of nova-compute's image cache periodic: the first
        marks unused entries, the second removes them."""
        manager = self.computes['compute'].manager
        for _ in range(2):
            manager._run_image_cache_manager_pass(
                nova_context.get_admin_context())

    def test_switch_to_ours_and_back(self):
        flavor_id = self._create_flavor(memory_mb=128, vcpu=1, disk=1,
                                        ephemeral=0)
        first = self.image
        second = base.add_vmdk_image(self.glance, name='vmdk-second')
        self.cache_folder = self.driver()._vmops._base_folder
        # The cache folder stays, as both drivers leave it.
        self.leaks.keep(['%s/' % self.cache_folder])

        # The in-tree driver boots two servers; the image lands in its
        # cache once.
        self.vcsim.reset_server_calls()
        theirs = self.boot(first, flavor_id)
        theirs_too = self.boot(first, flavor_id)
        self.assertEqual(1, self.uploads())
        self.assertEqual('%s (%s)' % (theirs['name'], theirs['id']),
                         self.vms()[theirs['id']]['name'])
        self.assertIn('%s.vmdk' % first['id'], self.cache_files(first['id']))

        # Ours takes over: same node, same cache folder, same servers.
        self.switch_to(intree.OURS)
        driver = self.driver()
        self.assertEqual(self.cache_folder, driver._host.cache_folder)
        self.assertEqual(sorted([theirs['id'], theirs_too['id']]),
                         sorted(driver.list_instance_uuids()))
        self.assertEqual(['ACTIVE', 'ACTIVE'], [s['status'] for s in
                                                self.api.get_servers()])
        self.power_cycle(theirs)
        # Booting from the same image reads the in-tree cache entry.
        self.vcsim.reset_server_calls()
        downloads = dict(self.glance_downloads)
        ours = self.boot(first, flavor_id)
        self.assert_cache_reused(downloads)
        self.assertTrue(base.disks(self.vms()[ours['id']])[0].backing.parent
                        .fileName.endswith('/%s/%s.1.vmdk' % (
                            first['id'], first['id'])))
        # Ours caches the second image (the in-tree driver will read it).
        kept = self.boot(second, flavor_id)
        for server in (theirs, theirs_too, ours):
            self._delete_server(server)
        self.assertEqual([kept['id']], driver.list_instance_uuids())
        self.age_cache()
        self.assertEqual([], self.cache_files(first['id']))
        self.assertIn('%s.vmdk' % second['id'],
                      self.cache_files(second['id']))

        # Back to the in-tree driver, with a server ours made.
        self.switch_to(intree.DRIVER)
        self.assertEqual([kept['id']], self.driver().list_instance_uuids())
        self.power_cycle(kept)
        self.vcsim.reset_server_calls()
        downloads = dict(self.glance_downloads)
        again = self.boot(second, flavor_id)
        self.assert_cache_reused(downloads)
        self.assertTrue(base.disks(self.vms()[again['id']])[0].backing.parent
                        .fileName.endswith('/%s/%s.1.vmdk' % (
                            second['id'], second['id'])))
        self._delete_server(kept)
        self._delete_server(again)
        self.assertEqual([], self.driver().list_instance_uuids())
        self.age_cache()
        self.assertEqual([], self.cache_files(second['id']))
