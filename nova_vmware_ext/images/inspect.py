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

"""The image's bytes decide what it is, never its Glance label.

Glance's stream is judged as it passes, with oslo.utils' format inspector:
its first bytes (at most ``HEAD_BYTES``, held in memory) before anything is
written to a datastore, the rest while it streams (for what lies at the end
of a file, such as a streamOptimized VMDK's footer). Bytes that are not what
(``disk_format``, ``vmware_disktype``) promises, fail a safety check, or
describe a disk larger than the limits allow raise ``ImageRefused``.
"""

import dataclasses
from typing import Optional

from oslo_utils.imageutils import format_inspector
from oslo_utils import units
from oslo_vmware import exceptions as vexc

# Enough for every inspector this driver accepts to decide: a VMDK's 512-byte
# header and its descriptor (at most 1 MiB, as in qemu), an ISO's first
# 34 KiB, an MBR's 512 bytes, a qcow2's, VHD's or VDI's header.
HEAD_BYTES = 2 * units.Mi
# A VHDX's disk size is in its metadata region, which qemu-img writes at
# 2 MiB (after the 1 MiB log).
VHDX_HEAD_BYTES = 4 * units.Mi
# vSphere's largest virtual disk (62 TB).
MAX_DISK_BYTES = 62 * units.Ti
SECTOR = 512


@dataclasses.dataclass(frozen=True)
class Expected:
    """What the inspector must find in an image's bytes."""

    formats: tuple  # inspector names (FileInspector.NAME)
    subformat: Optional[str] = None  # a VMDK's createType, in lower case
    what: str = ''  # the same, for people

    @property
    def is_disk(self):
        return 'iso' not in self.formats


# A flat disk (thin, preallocated, eagerZeroedThick) is uploaded as the bare
# extent: the inspector reports it as raw, or as gpt when it holds a whole
# disk with an MBR or GPT partition table (Nova's do_image_deep_inspection
# accepts gpt for raw in the same way).
_FLAT = Expected(('raw', 'gpt'), what='a bare disk extent (raw, MBR or GPT)')
# (disk_format, vmware_disktype) -> what the bytes must be. For an ISO the
# disk type does not matter (None).
EXPECTED = {
    ('vmdk', 'streamOptimized'): Expected(
        ('vmdk',), 'streamoptimized', 'a streamOptimized VMDK'),
    ('vmdk', 'sparse'): Expected(
        ('vmdk',), 'monolithicsparse', 'a monolithicSparse VMDK'),
    ('vmdk', 'thin'): _FLAT,
    ('vmdk', 'preallocated'): _FLAT,
    ('vmdk', 'eagerZeroedThick'): _FLAT,
    ('iso', None): Expected(('iso',), what='an ISO 9660 or UDF image'),
}
# disk_format -> what the bytes must be, for images converted to a VMDK by
# images/convert.py (vmware_disktype does not apply to them).
CONVERTIBLE = {
    'raw': Expected(('raw', 'gpt'), what='a raw disk (raw, MBR or GPT)'),
    'qcow2': Expected(('qcow2',), what='a qcow2 image'),
    'vhd': Expected(('vhd',), what='a VHD (vpc) image'),
    'vhdx': Expected(('vhdx',), what='a VHDX image'),
    'vdi': Expected(('vdi',), what='a VDI image'),
}
# Safety checks of a file's last bytes: run at the end of the stream, not on
# its head.
_END_CHECKS = frozenset(['footer'])


class ImageRefused(Exception):
    """The image's bytes are not acceptable; nothing has been written."""

    def __init__(self, image_id, reason):
        super().__init__('image %s: %s' % (image_id, reason))
        self.image_id = image_id
        self.reason = reason


class LargerThanFlavor(ImageRefused):
    """The image's disk does not fit the flavor's root disk."""

    def __init__(self, image_id, disk_size, root_disk):
        super().__init__(image_id, 'its disk is %d bytes, larger than the '
                         'flavor\'s root disk of %d bytes'
                         % (disk_size, root_disk))
        self.disk_size = disk_size
        self.root_disk = root_disk


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds an image's disk must fit, known to the caller."""

    root_disk: int = 0  # bytes of the flavor's root disk; 0: no bound
    datastore_free: Optional[int] = None  # bytes free where it is written


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What the bytes are."""

    format: str  # the inspector's name: vmdk, raw, gpt, iso
    subformat: Optional[str]
    virtual_size: int  # bytes of the disk (of the volume for an ISO)


def expected(disk_format, disk_type):
    """What (disk_format, disk_type) promises, or None if nothing known."""
    if disk_format in CONVERTIBLE:
        return CONVERTIBLE[disk_format]
    if disk_format == 'iso':
        disk_type = None
    return EXPECTED.get((disk_format, disk_type))


def judge(source, chunks, limits):
    """Read and judge the head of ``chunks``, Glance's stream of ``source``.

    :param source: has image_id, disk_format, disk_type, size (bytes Glance
        announces) and virtual_size (Glance's, or None).
    :returns: a ``JudgedStream`` yielding every byte of the image.
    :raises ImageRefused: before any byte is handed on.
    """
    iterator = iter(chunks)
    limit = VHDX_HEAD_BYTES if source.disk_format == 'vhdx' else HEAD_BYTES
    try:
        head, ended = _read_head(iterator, limit)
        verdict = _judge_head(source, head, ended, limits)
    except BaseException:
        _close(iterator)
        raise
    return JudgedStream(source, verdict, head, iterator)


def _read_head(iterator, limit):
    """(first chunks, at least ``limit`` bytes, True if that is all)."""
    head, count = [], 0
    for chunk in iterator:
        if chunk:
            head.append(bytes(chunk))
            count += len(chunk)
        if count >= limit:
            return head, False
    return head, True


def _judge_head(source, head, ended, limits):
    rule = expected(source.disk_format, source.disk_type)
    label = _label(source)
    if rule is None:
        raise ImageRefused(source.image_id, 'no rule says what %s images '
                           'must hold' % label)
    if not source.size:
        raise ImageRefused(source.image_id, 'the image is empty (Glance '
                           'gives its size as 0)')
    count = sum(len(c) for c in head)
    if ended and count < source.size:
        raise _ended_early(source, count)
    inspector = _detect(source, head)
    name = str(inspector)
    # The VMDK inspector names a VMDK's createType (in lower case).
    subformat = getattr(inspector, 'vmdktype', None)
    if name not in rule.formats or subformat != rule.subformat:
        found = '%s (%s)' % (name, subformat) if subformat else name
        raise ImageRefused(source.image_id, 'labelled %s, which must be %s, '
                           'but its bytes are %s' % (label, rule.what, found))
    if name == 'vmdk' and not inspector.has_region('header'):
        raise ImageRefused(source.image_id, 'labelled %s, which must be %s, '
                           'but its bytes are a VMDK descriptor (text) '
                           'without the sparse extent' % (label, rule.what))
    _safety_check(source, inspector, skip=() if ended else _END_CHECKS)
    verdict = Verdict(name, subformat, _virtual_size(source, inspector))
    _check_size(source, rule, verdict, limits)
    return verdict


def _label(source):
    if source.disk_format == 'iso' or source.disk_format in CONVERTIBLE:
        return 'disk_format %s' % source.disk_format
    return 'disk_format %s with vmware_disktype %s' % (
        source.disk_format, source.disk_type)


def _detect(source, head):
    """The one inspector that recognises ``head`` (raw if none does)."""
    wrapper = format_inspector.InspectWrapper(iter(head))
    try:
        for _chunk in wrapper:
            pass
        return wrapper.format
    except format_inspector.ImageFormatError as exc:
        names = {str(i) for i in wrapper.formats or ()}
        if names == {'iso', 'gpt'}:
            # A bootable ISO may carry an MBR in its system area (as Nova's
            # nova.virt.images.get_image_format allows).
            return [i for i in wrapper.formats if str(i) == 'iso'][0]
        raise ImageRefused(source.image_id, 'its format cannot be told: '
                           '%s' % exc)
    finally:
        wrapper.close()


def _safety_check(source, inspector, skip=()):
    try:
        inspector.safety_check()
    except format_inspector.SafetyCheckFailed as exc:
        failed = {name: failure for name, failure in exc.failures.items()
                  if name not in skip}
        if failed:
            raise ImageRefused(source.image_id, 'the %s image fails the '
                               'format inspector\'s safety checks: %s' % (
                                   inspector, '; '.join(
                                       '%s: %s' % item
                                       for item in sorted(failed.items()))))
    except format_inspector.ImageFormatError as exc:
        raise ImageRefused(source.image_id, 'the %s image cannot be '
                           'checked: %s' % (inspector, exc))


def _virtual_size(source, inspector):
    if str(inspector) in ('raw', 'gpt'):
        # A flat extent is the disk itself.
        return source.size
    try:
        return inspector.virtual_size
    except Exception as exc:
        raise ImageRefused(source.image_id, 'the size of its %s disk cannot '
                           'be read: %s' % (inspector, exc))


def _check_size(source, rule, verdict, limits):
    image_id, size = source.image_id, verdict.virtual_size
    if rule.is_disk:
        if verdict.format != 'vmdk' and size % SECTOR:
            raise ImageRefused(image_id, 'a flat disk is a whole number of '
                               '512-byte sectors; %d bytes is not' % size)
        if size <= 0:
            raise ImageRefused(image_id, 'its %s header declares no '
                               'capacity' % verdict.format)
        # The larger of what the bytes and Glance say (Nova's API checks the
        # flavor against Glance's alone).
        largest = max(size, source.virtual_size or 0)
        if largest > MAX_DISK_BYTES:
            raise ImageRefused(image_id, 'its disk of %d bytes is larger '
                               'than vSphere\'s largest (%d bytes)' % (
                                   largest, MAX_DISK_BYTES))
        if limits.root_disk and largest > limits.root_disk:
            raise LargerThanFlavor(image_id, largest, limits.root_disk)
        if source.virtual_size and source.virtual_size != size:
            raise ImageRefused(image_id, 'its bytes describe a disk of %d '
                               'bytes, Glance says %d' % (
                                   size, source.virtual_size))
    needed = max(size, source.size) if rule.is_disk else source.size
    if limits.datastore_free is not None and needed > limits.datastore_free:
        raise ImageRefused(image_id, 'it needs %d bytes, the datastore has '
                           '%d free' % (needed, limits.datastore_free))


def _ended_early(source, count):
    return vexc.ImageTransferException(
        'image %s: the Glance stream ended after %d of %d bytes' % (
            source.image_id, count, source.size))


def _eat(source, inspector, chunk):
    try:
        inspector.eat_chunk(chunk)
    except format_inspector.ImageFormatError as exc:
        raise ImageRefused(source.image_id, 'its bytes stop being a %s '
                           'image: %s' % (inspector, exc))


def _close(iterator):
    close = getattr(iterator, 'close', None)
    if close is not None:
        close()


class JudgedStream(object):
    """Glance's stream whose head passed ``judge``: iterating it yields
    every byte once, counts them against Glance's size, and runs the
    inspector over the whole image, with the checks of its end last."""

    def __init__(self, source, verdict, head, rest):
        self.source = source
        self.verdict = verdict
        self._head = head
        self._rest = rest
        self._used = False

    def __iter__(self):
        if self._used:
            raise RuntimeError('image %s: a judged stream is read once'
                               % self.source.image_id)
        self._used = True
        inspector = format_inspector.get_inspector(self.verdict.format)()
        count = 0
        try:
            for chunk in self._chunks():
                count += len(chunk)
                if count > self.source.size:
                    raise vexc.ImageTransferException(
                        'image %s: the Glance stream gave more than the %d '
                        'bytes Glance announced' % (self.source.image_id,
                                                    self.source.size))
                _eat(self.source, inspector, chunk)
                yield chunk
            if count < self.source.size:
                raise _ended_early(self.source, count)
            inspector.finish()
            _safety_check(self.source, inspector)
        finally:
            self.close()

    def _chunks(self):
        head, self._head = self._head, []
        for chunk in head:
            yield chunk
        for chunk in self._rest:
            if chunk:
                yield bytes(chunk)

    def close(self):
        """Close Glance's stream (it may be left unread)."""
        self._head = []
        _close(self._rest)
