"""Resize and cold migration through Nova's API, two computes, two clusters.

Each test checks the VM over its own pyvmomi connection: in the cluster,
pool and datastore of the compute Nova names, with the flavor's CPUs,
memory and root disk, and the same VM (moid) from boot to the end: the
driver never deletes and rebuilds it.
"""

from tests.nova import multi_cluster


class MovesTest(multi_cluster.TwoClustersTestBase):

    def setUp(self):
        super().setUp()
        self.small = self._create_flavor(memory_mb=256, vcpu=1, disk=1,
                                         ephemeral=0)
        self.flavor = self.api.get_flavor(self.small)

    def boot_on(self, host):
        self.keep_cache_entry(self.image['id'], self.small)
        server = self._create_server(
            image_uuid=self.image['id'], flavor_id=self.small,
            networks=[{'uuid': multi_cluster.test_servers.NETWORK}],
            host=host)
        self.addCleanup(self._delete_server_quietly, server)
        return server

    def _delete_server_quietly(self, server):
        try:
            self._delete_server(server)
        except Exception:  # already deleted by the test
            pass

    def test_each_compute_builds_in_its_cluster_and_datastore(self):
        for host in self.CLUSTERS:
            server = self.boot_on(host)
            self.assertOnCompute(server, host, self.flavor)
