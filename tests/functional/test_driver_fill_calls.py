"""Measure."""
from tests.functional import test_driver_spawn as ts


class FillCallsTest(ts.SpawnTestBase):

    VCSIM_SHAPE = dict(hosts=1, datastores=1, portgroups=0)

    def _measure(self, image):
        self.spawn(self.make_instance(), self.flat)
        seq = []
        counter = self.session.calls
        orig = counter.record

        def record(method, login=False):
            seq.append(method)
            return orig(method, login)
        counter.record = record
        instance = self.make_instance()
        with self.session.calls.scope() as scope:
            self.spawn(instance, image)
        print('CALLS', image.id[:4], scope.total, dict(scope.by_method))

    def test_so(self):
        self._measure(self.images.add(ts.stream_optimized_vmdk(8),
                                      vmware_disktype='streamOptimized'))

    def test_flat(self):
        self._measure(self.images.add(b'\x21' * ts.MiB,
                                      vmware_disktype='thin'))

    def test_sparse(self):
        self._measure(self.images.add(ts.sparse_vmdk(4),
                                      vmware_disktype='sparse'))
