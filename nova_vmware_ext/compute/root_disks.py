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

"""Root disks from the image cache: linked clones, sized entries, full copies.

The image goes into the datastore's cache once (shared by every compute);
a root disk is then a child of the cached disk, of a cached copy grown to
the flavor's size, or a full copy in the instance's folder when linked
clones are off.
"""

import dataclasses

from nova import exception
from oslo_log import log as logging
from oslo_utils import units
from oslo_vmware import exceptions as vexc

from nova_vmware_ext.compute import image_meta as vimage
from nova_vmware_ext.compute import specs
from nova_vmware_ext.images import convert
from nova_vmware_ext.images import fetch
from nova_vmware_ext.images import ova
from nova_vmware_ext.vsphere import files as vfiles

LOG = logging.getLogger(__name__)

# Images whose file size is not their disk's size.
_SPARSE_TYPES = (vimage.DISK_TYPE_STREAM_OPTIMIZED, vimage.DISK_TYPE_SPARSE)
# A flat VMDK image (its bytes are the disk's extent) is uploaded as a file,
# except to vSAN, which takes disks only through the vSphere API: there it
# is converted, as raw, into a streamOptimized import.
_FLAT_TYPES = (vimage.DISK_TYPE_THIN, vimage.DISK_TYPE_PREALLOCATED,
               vimage.DISK_TYPE_EAGER_ZEROED_THICK)
DATASTORE_TYPE_VSAN = 'vsan'


def _check_fits(flavor_kb, image_kb):
    """The flavor's root disk (0: the image's size) holds the image."""
    if flavor_kb and flavor_kb < image_kb:
        raise exception.FlavorDiskSmallerThanImage(
            flavor_size=flavor_kb * units.Ki, image_size=image_kb * units.Ki)


def image_locations(image_api, context, image_id):
    """The URLs of an image's locations, as Glance exposes them to Nova
    (``show_multiple_locations``, ``show_image_direct_url``), read through
    Nova's own Glance API as the in-tree driver reads them; () when Glance
    gives none or cannot be asked."""
    try:
        meta = image_api.get(context, image_id, include_locations=True)
    except exception.NovaException as exc:
        LOG.info('Glance gives no locations of image %(image)s (%(err)s); '
                 'it is downloaded', {'image': image_id, 'err': exc})
        return ()
    urls = []
    for location in meta.get('locations') or ():
        url = location.get('url')
        if url and url not in urls:
            urls.append(url)
    return tuple(urls)


def glance_source(image_api, context, image):
    """The images.fetch.ImageSource of a validated image's Glance bytes
    (``image_api``: Nova's Glance API), for spawn and rescue alike."""
    def chunks():
        return image_api.download(context, image.image_id)

    def locations():
        return image_locations(image_api, context, image.image_id)
    return fetch.ImageSource(image.image_id, image.size, image.disk_type,
                             image.adapter_type, chunks,
                             disk_format=image.disk_format,
                             virtual_size=image.virtual_size,
                             locations=locations)


class RootDisks(object):
    """Prepares root disks in the image cache of a datastore.

    :param cache: images.cache.ImageCache, the cache layout and fill lock.
    :param fetcher: images.fetch.Fetcher, which fills cache entries.
    :param files: vsphere.files.FileManager of the cluster's datacenter.
    :param disks: vsphere.disks.VirtualDisks of the cluster's datacenter.
    :param browser: vsphere.browser.DatastoreBrowser, for cached disks'
        capacities.
    :param use_linked_clone: ``[vmware] use_linked_clone``, the default when
        the image does not say.
    :param converter: images.convert.Converter, which fills cache entries
        of qcow2, raw, VHD, VHDX and VDI images.
    :param copier: images.datastore_copy.DatastoreCopier, which fills
        cache entries of VMDK images Glance keeps on a datastore of this
        vCenter by copies inside vSphere (None: always downloaded).
    """

    def __init__(self, cache, fetcher, files, disks, browser,
                 use_linked_clone=True, converter=None, copier=None):
        self.cache = cache
        self.fetcher = fetcher
        self.copier = copier
        self.converter = converter or convert.Converter(fetcher, cache)
        self.files = files
        self.disks = disks
        self.browser = browser
        self.use_linked_clone = use_linked_clone

    @property
    def _capacities(self):
        """Virtual sizes (bytes) of cache entries, as the fetcher records
        them when it fills an entry and as spawns learn them."""
        return self.fetcher.capacities

    def prepare(self, instance, image, source, datastore, limits=None):
        """(RootDisk, [CD-ROM ISO paths]) after filling the cache.

        :param source: images.fetch.ImageSource of the image's bytes.
        :param limits: images.fetch.Limits the image's disk must fit.
        """
        cache, fetcher = self.cache, self.fetcher
        limits = limits or fetch.Limits()
        if image.is_iso:
            iso = cache.iso_path(datastore.name, image.image_id)
            self._fill(iso, source, limits, fetcher.ensure_iso)
            return specs.RootDisk.blank(), [iso]
        flavor_kb = instance.flavor.root_gb * units.Mi
        if image.virtual_size:  # known: refuse before filling the cache
            _check_fits(flavor_kb, image.virtual_size // units.Ki)
        base = cache.disk_path(datastore.name, image.image_id)
        self._fill(base, source, limits, self._ensure_disk(image, datastore))
        image_kb = self._image_kb(image, base, datastore)
        _check_fits(flavor_kb, image_kb)
        linked = image.linked_clone
        if linked is None:
            linked = self.use_linked_clone
        if not linked:
            return specs.RootDisk.existing(self._copy_root(
                instance, base, datastore, max(flavor_kb, image_kb))), []
        if not flavor_kb or flavor_kb == image_kb:
            return specs.RootDisk.linked_clone(base,
                                               parent_size_kb=image_kb), []
        # A child disk is as large as its parent: grow a copy of the image
        # to the flavor once, in the cache, for every instance of that size.
        sized = cache.sized_path(datastore.name, image.image_id,
                                 instance.flavor.root_gb)
        cache.ensure_staged(sized, lambda path, staging: self._grow_copy(
            base, path, flavor_kb, staging))
        return specs.RootDisk.linked_clone(sized, parent_size_kb=flavor_kb), []

    @staticmethod
    def open_ova(image_meta, image, source, instance=None):
        """(image, source) of an OVA image's disk; others unchanged.

        Reads the OVA's descriptor from Glance (nothing is written): the
        image becomes its streamOptimized disk, with the descriptor's
        hardware where the image's properties are silent
        (image_meta.with_ovf).

        :raises ImageUnacceptable: the OVA is refused, naming why.
        """
        if not image.is_ova:
            return image, source
        try:
            hardware, disk = ova.disk_source(source)
        except fetch.ImageRefused as exc:
            raise exception.ImageUnacceptable(image_id=exc.image_id,
                                              reason=exc.reason)
        flavor = instance.flavor if instance is not None else None
        if flavor is not None and (hardware.num_cpus, hardware.memory_mb) \
                not in ((None, None), (flavor.vcpus, flavor.memory_mb)):
            LOG.info('The OVF of image %(image)s declares %(cpus)s CPUs and '
                     '%(mb)s MB; the flavor\'s %(fcpus)d CPUs and %(fmb)d MB '
                     'apply', {'image': image.image_id,
                               'cpus': hardware.num_cpus,
                               'mb': hardware.memory_mb,
                               'fcpus': flavor.vcpus,
                               'fmb': flavor.memory_mb}, instance=instance)
        image = vimage.with_ovf(image_meta, image, hardware, disk.size)
        return image, dataclasses.replace(disk,
                                          adapter_type=image.adapter_type)

    def cached_disk(self, image, source, datastore, limits=None):
        """(path, virtual size in KB) of the image's disk in the
        datastore's cache, filled first if needed (a rescue disk's source).
        """
        image, source = self.open_ova(None, image, source)
        if image.is_iso:
            raise exception.ImageUnacceptable(
                image_id=image.image_id,
                reason='a %s image cannot be a disk; upload a VMDK'
                       % image.disk_format)
        base = self.cache.disk_path(datastore.name, image.image_id)
        self._fill(base, source, limits or fetch.Limits(),
                   self._ensure_disk(image, datastore))
        return base, self._image_kb(image, base, datastore)

    def copy(self, source, target, size_kb):
        """A full copy of a cached disk at ``target``, at least
        ``size_kb``."""
        self._copy_disk(source, target, size_kb)

    def _ensure_disk(self, image, datastore):
        """What fills the image's disk entry: the converter for formats
        vSphere cannot use as they are (and for flat VMDKs going to vSAN,
        which takes no disk file), else the datastore copier when there is
        one, else the fetcher."""
        if image.needs_conversion:
            return self.converter.ensure_disk
        if (datastore.type == DATASTORE_TYPE_VSAN
                and image.disk_type in _FLAT_TYPES):
            def ensure_as_raw(entry, source, limits):
                return self.converter.ensure_disk(
                    entry, dataclasses.replace(source, disk_format='raw'),
                    limits)
            return ensure_as_raw
        if self.copier is not None:
            return self.copier.ensure_disk
        return self.fetcher.ensure_disk

    @staticmethod
    def _fill(entry, source, limits, ensure):
        """``ensure(entry, source, limits)``, a refused image as Nova's."""
        try:
            ensure(entry, source, limits)
        except convert.ConversionError as exc:
            raise exception.InstanceDeployFailure(reason=str(exc))
        except fetch.LargerThanFlavor as exc:
            raise exception.FlavorDiskSmallerThanImage(
                flavor_size=exc.root_disk, image_size=exc.disk_size)
        except fetch.ImageRefused as exc:
            raise exception.ImageUnacceptable(image_id=exc.image_id,
                                              reason=exc.reason)

    def forget(self, path):
        """A cached parent disk vanished: look for its entry again."""
        self.cache.forget(path)

    def _image_kb(self, image, entry, datastore):
        """Virtual size of the image's disk in KB.

        Glance's virtual_size when it has one; else what the fetcher read
        from the image while filling the entry; else, for a disk whose file
        is not its size (sparse, streamOptimized), what vSphere says of the
        cached disk: never the image again.
        """
        if image.virtual_size:
            return max(image.virtual_size // units.Ki, 1)
        known = self._capacities.get(entry)
        if not known and (image.disk_type in _SPARSE_TYPES
                          or image.needs_conversion):
            capacity_kb = self.browser.disk_capacity_kb(datastore.ref, entry)
            if capacity_kb:
                known = self._capacities[entry] = capacity_kb * units.Ki
            else:
                LOG.warning('vCenter reports no capacity for the cached disk '
                            '%(entry)s; sizing it by the image file (%(size)d '
                            'bytes)', {'entry': entry, 'size': image.size})
        return max((known or image.size) // units.Ki, 1)

    def _copy_disk(self, source, target, size_kb):
        self.disks.copy(source, target)
        if size_kb > self._capacities.get(source, 0) // units.Ki:
            self.disks.extend(target, size_kb)

    def _grow_copy(self, base, sized, size_kb, staging):
        """Copy and grow in ``staging`` (the fetch lock's folder, removed
        with it), then move to the entry's name."""
        staged = staging.join(sized.basename)
        self._copy_disk(base, staged, size_kb)
        self.disks.move(staged, sized)
        self._capacities[sized] = size_kb * units.Ki

    def _copy_root(self, instance, base, datastore, size_kb):
        folder = vfiles.DatastorePath(datastore.name, instance.uuid)
        target = folder.join('%s.vmdk' % instance.uuid)
        try:
            self.files.make_directory(folder)
        except vexc.FileAlreadyExistsException:
            pass
        self._copy_disk(base, target, size_kb)
        return target
