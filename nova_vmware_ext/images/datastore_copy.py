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

"""Cache fills inside vSphere, from Glance's VMware store.

An image Glance keeps on a datastore of this compute's vCenter (a
``vsphere://`` location, images/locations.py) that the cluster reaches is
copied by vCenter instead of streamed through nova-compute:

- flat (thin, preallocated, eagerZeroedThick): CopyDatastoreFile_Task of
  Glance's bare file to the entry's ``-flat.vmdk``, beside a descriptor we
  write (a few hundred bytes over datastore HTTP);
- sparse: CopyDatastoreFile_Task of the file, then CopyVirtualDisk_Task
  into a regular disk.

Before anything is written, the file's first bytes (one ranged GET) are
judged as Glance's stream would be (images/inspect.py), and its size must
be Glance's. Everything else is downloaded from Glance by images/fetch.py
(streamOptimized images must be imported; converted formats are converted),
and so is an image whose location is refused or not reached, or whose copy
vCenter refuses: the log says why.
"""

import dataclasses
import uuid

from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_vmware import exceptions as vexc

from nova_vmware_ext.images import inspect
from nova_vmware_ext.images import locations as vlocations
from nova_vmware_ext.vsphere import datastore_lookup

LOG = logging.getLogger(__name__)

# vmware_disktype values whose Glance file a datastore copy can use.
COPYABLE = ('thin', 'preallocated', 'eagerZeroedThick', 'sparse')
SECTOR = inspect.SECTOR
# ddb.adapterType knows ide, buslogic, lsilogic; vSphere writes lsilogic
# for the SAS, paravirtual and SATA controllers' disks too.
_DDB_ADAPTERS = {'ide': 'ide', 'busLogic': 'buslogic'}


def flat_descriptor(extent_name, size_bytes, adapter_type='lsiLogic',
                    thin=True):
    """The text descriptor of a disk whose data is the flat file
    ``extent_name`` (beside it) of ``size_bytes``, as ESXi writes one."""
    sectors = size_bytes // SECTOR
    adapter = _DDB_ADAPTERS.get(adapter_type, 'lsilogic')
    heads = 16 if adapter == 'ide' else 255
    cylinders = max(min(sectors // (heads * 63), 16383 if heads == 16
                        else 2 ** 32), 1)
    lines = [
        '# Disk DescriptorFile', 'version=1', 'encoding="UTF-8"',
        'CID=%s' % uuid.uuid4().hex[:8], 'parentCID=ffffffff',
        'createType="vmfs"', '', '# Extent description',
        'RW %d VMFS "%s"' % (sectors, extent_name), '',
        '# The Disk Data Base', '#DDB', '',
        'ddb.adapterType = "%s"' % adapter,
        'ddb.geometry.cylinders = "%d"' % cylinders,
        'ddb.geometry.heads = "%d"' % heads,
        'ddb.geometry.sectors = "63"',
        'ddb.longContentID = "%s"' % uuid.uuid4().hex]
    if thin:
        lines.append('ddb.thinProvisioned = "1"')
    lines.append('ddb.virtualHWVersion = "4"')
    return ('\n'.join(lines) + '\n').encode('utf-8')


@dataclasses.dataclass(frozen=True)
class CopyPlan:
    """A judged Glance file that vCenter can copy into the cache."""

    location: vlocations.DatastoreLocation
    datacenter: object  # the datacenter of Glance's datastore
    verdict: inspect.Verdict
    how: str  # how the cluster reaches the datastore


class DatastoreCopier(object):
    """Fills disk entries by datastore copies where it can, else through
    ``fetcher`` (images.fetch.Fetcher).

    :param lookup: vsphere.datastore_lookup.DatastoreLookup of the vCenter.
    """

    def __init__(self, fetcher, lookup):
        self.fetcher = fetcher
        self.lookup = lookup
        self.cache = fetcher.cache
        self.files = fetcher.files
        self.disks = fetcher.disks
        self.http = fetcher.http
        self.host = fetcher.session.host
        self.port = fetcher.session.port

    def ensure_disk(self, entry, source, limits):
        """Make sure the disk image's cache entry exists (as
        Fetcher.ensure_disk), copied inside vSphere where it can be.

        :raises ImageRefused: Glance's file is not what Glance says.
        """
        if self.cache.exists(entry):
            return entry
        plan = self.plan(source, limits)
        if plan is None:
            return self.fetcher.ensure_disk(entry, source, limits)
        with lockutils.lock('vmware-ext-fetch-%s' % entry):
            if self.cache.exists(entry):
                return entry
            return self.cache.ensure_staged(
                entry, lambda path, staging: self._fill(
                    plan, source, limits, path, staging))

    def plan(self, source, limits):
        """The CopyPlan of ``source``, or None (logged) to download it.

        Nothing is written; Glance's file is read up to its first
        inspect.HEAD_BYTES.

        :raises ImageRefused: the file's size or first bytes are not what
            Glance says of the image.
        """
        if (source.locations is None or source.disk_format != 'vmdk'
                or source.disk_type not in COPYABLE):
            return None
        location, refused = vlocations.pick(
            source.locations(), source.image_id, self.host, self.port)
        for reason in refused:
            LOG.warning('Image %(image)s: not copying its location %(why)s; '
                        'downloading it from Glance instead',
                        {'image': source.image_id, 'why': reason})
        if location is None:
            return None
        try:
            found = self.lookup.find(location.datacenter_path,
                                     location.path.datastore)
        except datastore_lookup.DatastoreNotFound as exc:
            return self._download_instead(source, location, exc)
        if not found.reachable:
            return self._download_instead(source, location, found.how)
        verdict = self._judge_head(source, location, limits)
        if verdict is None:
            return None
        return CopyPlan(location, found.datacenter, verdict, found.how)

    def _download_instead(self, source, location, why):
        LOG.warning('Image %(image)s: Glance keeps it at %(loc)s, but %(why)s;'
                    ' downloading it from Glance instead', {
                        'image': source.image_id, 'loc': location,
                        'why': why})
        return None

    def _judge_head(self, source, location, limits):
        """The Verdict on the file's first bytes; None (logged) when the
        file cannot be read."""
        url = location.path.http_url(self.host, self.port,
                                     location.datacenter_path)
        try:
            size, head = self.http.get_head(
                url, 'read of the head of %s' % location.path,
                inspect.HEAD_BYTES)
        except (vexc.VimException, vexc.ImageTransferException) as exc:
            return self._download_instead(
                source, location, 'its file cannot be read (%s)' % exc)
        if size != source.size:
            raise inspect.ImageRefused(
                source.image_id, 'its file %s holds %d bytes, Glance says '
                '%d' % (location.path, size, source.size))
        judged = inspect.judge(source, [head], limits)
        judged.close()
        return judged.verdict

    def _fill(self, plan, source, limits, entry, staging):
        """Copy into ``staging`` (the fetch lock's folder), then move the
        disk to the entry's name; a copy vCenter refuses is downloaded
        from Glance instead, in a folder of the staging one."""
        base = entry.basename[:-len('.vmdk')]
        sparse = source.disk_type == 'sparse'
        copied = staging.join('%s-%s.vmdk' % (base,
                                              'sparse' if sparse else 'flat'))
        try:
            self.files.copy(plan.location.path, copied,
                            source_datacenter=plan.datacenter)
        except vexc.VimException as exc:
            LOG.warning('Image %(image)s: vCenter did not copy %(loc)s '
                        '(%(err)s); downloading it from Glance instead',
                        {'image': source.image_id, 'loc': plan.location,
                         'err': exc})
            self._download(source, limits, entry, staging.join('download'))
            return
        staged = staging.join(entry.basename)
        size = plan.verdict.virtual_size
        if sparse:
            self.disks.copy(copied, staged)
        else:
            self.cache.write_small(staged, flat_descriptor(
                copied.basename, size, source.adapter_type,
                thin=source.disk_type == 'thin'))
        self.fetcher.move_disk(staged, entry)
        self.fetcher.capacities[entry] = size
        LOG.info('Image %(image)s copied by vCenter from %(loc)s (%(how)s) '
                 'to %(entry)s', {'image': source.image_id,
                                  'loc': plan.location, 'how': plan.how,
                                  'entry': entry})

    def _download(self, source, limits, entry, folder):
        self.files.make_directory(folder)
        with self.fetcher.open(source, limits) as download:
            self.fetcher.fill_disk(download, entry, folder)
