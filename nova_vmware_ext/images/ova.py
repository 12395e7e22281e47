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

"""OVA images: a tar holding an OVF descriptor and the disks it names.

The tar is read as a stream (``tarfile`` mode ``'r|'``): constant memory,
never the whole image in memory or on disk. Its first member must be the
OVF descriptor (as the OVF specification requires), read and parsed with
entities and DTDs refused; the descriptor must declare exactly one disk, a
streamOptimized VMDK, whose file follows in the tar. That member's bytes
are the image's disk: they go through images/inspect.py and the NFC import
like any streamOptimized VMDK. What the descriptor declares of the virtual
hardware is returned as ``OvfHardware`` for the caller to use where the
image's own properties are silent.

Refused (``ImageRefused``, before anything reaches a datastore): members
that are not regular files (links, devices, FIFOs, directories), names
that are absolute or climb out of the archive, oversized headers or
descriptor, a descriptor that is not OVF, hostile XML (a DOCTYPE, entity),
no disk or more than one, a disk that is not streamOptimized, a disk file
the tar lacks, a manifest whose digests the descriptor does not match.
Members after the disk, and the disk's digest in the manifest, are checked
as the disk's stream ends: a mismatch then fails the import, which removes
what it wrote.
"""

import dataclasses
import hashlib
import posixpath
import re
import tarfile
from typing import Optional
from xml.etree import ElementTree
from xml.parsers import expat

from oslo_utils import units

from nova_vmware_ext.images import inspect

ImageRefused = inspect.ImageRefused

# An OVF descriptor is a few KB; tar headers (PAX, GNU long names) a few
# hundred bytes. Larger ones are refused rather than read into memory.
MAX_DESCRIPTOR_BYTES = units.Mi
MAX_HEADER_BYTES = 64 * units.Ki
# An OVA holds a descriptor, a manifest, a certificate and its disks.
MAX_MEMBERS = 100
CHUNK = 64 * units.Ki
STREAM_OPTIMIZED = 'streamoptimized'

# CIM ResourceType values (DSP0243) of the Items this driver reads.
_CPU, _MEMORY, _IDE, _SCSI, _ETHERNET, _DISK, _SATA = (
    '3', '4', '5', '6', '10', '17', '20')
# rasd:ResourceSubType of a controller -> vSphere adapter type.
_SCSI_SUBTYPES = {'lsilogic': 'lsiLogic', 'buslogic': 'busLogic',
                  'lsilogicsas': 'lsiLogicsas', 'virtualscsi': 'paraVirtual'}
_SATA_SUBTYPES = ('vmware.sata.ahci', 'ahci')
# rasd:ResourceSubType of an Ethernet Item -> Nova's hw_vif_model.
_NIC_SUBTYPES = {'e1000': 'e1000', 'e1000e': 'e1000e', 'vmxnet': 'vmxnet',
                 'vmxnet2': 'vmxnet', 'vmxnet3': 'vmxnet3',
                 'pcnet32': 'pcnet'}
# A manifest's line (OVF 1.x): "SHA256(vm-disk1.vmdk)= 3a5f...".
_MANIFEST_LINE = re.compile(
    r'^(SHA1|SHA256|SHA512)\((.+)\)\s*=\s*([0-9a-fA-F]+)$', re.IGNORECASE)
# A memory Item's rasd:AllocationUnits: "byte * 2^20" is MB (DSP0004).
_BYTE_POWER = re.compile(r'^byte\s*\*\s*2\^(\d{1,2})$')


@dataclasses.dataclass(frozen=True)
class OvfHardware:
    """What an OVF descriptor declares, in vSphere's and Nova's terms."""

    disk_href: str  # the tar member holding the (first and only) disk
    disk_format: str  # the Disk's ovf:format, '...vmdk.html#streamOptimized'
    adapter_type: Optional[str] = None  # lsiLogic, paraVirtual, ide, sata...
    guest_id: Optional[str] = None  # vmw:osType
    vif_model: Optional[str] = None  # e1000, vmxnet3... (hw_vif_model)
    num_cpus: Optional[int] = None
    memory_mb: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class OvaDisk:
    """An OVA's descriptor and the size of its disk member."""

    hardware: OvfHardware
    size: int  # bytes of the disk member (the streamOptimized VMDK)


def disk_source(source):
    """The ImageSource of an OVA's disk, from the ImageSource of the OVA.

    Glance's stream is opened here to read the descriptor (and closed), and
    again by each transfer of the disk, which walks to the disk member.
    :returns: (OvfHardware, fetch.ImageSource of a streamOptimized VMDK).
    """
    found = read_disk(source.image_id, source.chunks())

    def chunks():
        return disk_chunks(source.image_id, source.chunks(), found)
    return found.hardware, dataclasses.replace(
        source, size=found.size, disk_type='streamOptimized',
        disk_format='vmdk', virtual_size=None, chunks=chunks)


def read_disk(image_id, chunks):
    """Read an OVA's head up to its disk member, then close the stream.

    :param chunks: an iterator over the OVA's bytes (Glance's stream).
    :returns: OvaDisk.
    :raises ImageRefused: the tar or its descriptor is not acceptable.
    """
    walk = _Walk(image_id, chunks)
    try:
        hardware, member = walk.to_disk()
        return OvaDisk(hardware, member.size)
    finally:
        walk.close()


def disk_chunks(image_id, chunks, expected):
    """Yield the bytes of the OVA's disk member, then check the members
    after it; the stream is closed at the end.

    :param expected: the OvaDisk ``read_disk`` found: the tar must still
        hold the same disk member.
    """
    walk = _Walk(image_id, chunks)
    try:
        hardware, member = walk.to_disk()
        if (hardware.disk_href, member.size) != (expected.hardware.disk_href,
                                                 expected.size):
            raise ImageRefused(image_id, 'the OVA changed while it was read')
        yield from walk.member_chunks(member)
        walk.to_end()
    finally:
        walk.close()


class _ChunkReader(object):
    """A read()-able file over an iterator of byte chunks."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buffer = b''

    def read(self, size=-1):
        parts, wanted = [], size if size >= 0 else float('inf')
        have = 0
        while have < wanted:
            if not self._buffer:
                self._buffer = next(self._chunks, b'')
                if not self._buffer:
                    break
            part = self._buffer[:wanted - have] if size >= 0 else self._buffer
            self._buffer = self._buffer[len(part):]
            parts.append(bytes(part))
            have += len(part)
        return b''.join(parts)

    def close(self):
        self._buffer = b''
        close = getattr(self._chunks, 'close', None)
        if close is not None:
            close()


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses extended headers (PAX, GNU long names) larger than
    MAX_HEADER_BYTES before tarfile reads them into memory."""

    _EXTENDED = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK,
                 tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)

    def _proc_member(self, tarfile):
        if self.type in self._EXTENDED and self.size > MAX_HEADER_BYTES:
            raise _HeaderTooLarge(self.size)
        return super()._proc_member(tarfile)


class _HeaderTooLarge(Exception):
    pass


class _Walk(object):
    """One pass over an OVA's members, each checked as it is reached."""

    def __init__(self, image_id, chunks):
        self.image_id = image_id
        self._reader = _ChunkReader(chunks)
        self._count = 0
        self._manifest = None  # its name, once read
        self._digests = {}  # from it: member name -> (algorithm, hex)
        try:
            self._tar = self._open()
        except BaseException:
            self._reader.close()  # Glance's stream too
            raise

    def _open(self):
        """The tar in stream mode, uncompressed ('r|' reads the first
        member's header)."""
        try:
            return tarfile.open(fileobj=self._reader, mode='r|',
                                tarinfo=_BoundedTarInfo)
        except _HeaderTooLarge as exc:
            raise self._too_large(exc)
        except tarfile.TarError as exc:
            raise self._refused('it is not a tar archive (%s)' % exc)

    def _too_large(self, exc):
        return self._refused('a tar extended header of %s bytes (at most '
                             '%d)' % (exc, MAX_HEADER_BYTES))

    def _refused(self, reason):
        return ImageRefused(self.image_id, 'the OVA is refused: %s' % reason)

    def _next(self):
        """The next member (checked), or None at the end of the tar."""
        try:
            member = self._tar.next()
        except _HeaderTooLarge as exc:
            raise self._too_large(exc)
        except tarfile.TarError as exc:
            raise self._refused('its tar stream is damaged (%s)' % exc)
        if member is None:
            return None
        self._count += 1
        if self._count > MAX_MEMBERS:
            raise self._refused('more than %d tar members' % MAX_MEMBERS)
        self._check(member)
        return member

    def _check(self, member):
        name = member.name
        if not member.isreg():
            kind = ('a symbolic link' if member.issym() else
                    'a hard link' if member.islnk() else
                    'a device file' if member.isdev() and not member.isfifo()
                    else 'a FIFO' if member.isfifo() else
                    'a directory' if member.isdir() else
                    'of tar type %r' % member.type)
            raise self._refused('member %r is %s; an OVA holds only '
                                'regular files' % (name, kind))
        parts = name.replace('\\', '/').split('/')
        if name.startswith(('/', '\\')) or '..' in parts or ':' in parts[0]:
            raise self._refused('member %r has a path outside the archive'
                                % name)

    def to_disk(self):
        """(OvfHardware, the disk's member), the descriptor read first."""
        first = self._next()
        if first is None:
            raise self._refused('the tar is empty')
        if not first.name.lower().endswith('.ovf'):
            raise self._refused('its first member %r is not an OVF '
                                'descriptor (.ovf), as the OVF '
                                'specification requires' % first.name)
        if first.size > MAX_DESCRIPTOR_BYTES:
            raise self._refused('its OVF descriptor is %d bytes (at most '
                                '%d)' % (first.size, MAX_DESCRIPTOR_BYTES))
        descriptor = self._tar.extractfile(first).read()
        hardware = parse_ovf(self.image_id, descriptor)
        wanted = posixpath.normpath(hardware.disk_href)
        while True:
            member = self._next()
            if member is None:
                raise self._refused('the OVF names the disk file %r, which '
                                    'the tar lacks' % hardware.disk_href)
            if posixpath.normpath(member.name) == wanted:
                return hardware, member
            if member.name.lower().endswith('.mf') and not self._manifest:
                self._read_manifest(member)
                listed = self._digests.get(first.name)
                if listed:
                    self._verify(first.name, hashlib.new(listed[0],
                                                         descriptor))
            if member.name.lower().endswith('.ovf'):
                raise self._refused('it holds a second OVF descriptor %r'
                                    % member.name)

    def _read_manifest(self, member):
        """Digests the manifest (``SHA256(name)= hex`` lines) lists."""
        if member.size > MAX_HEADER_BYTES:
            raise self._refused('its manifest %r is %d bytes (at most %d)'
                                % (member.name, member.size,
                                   MAX_HEADER_BYTES))
        text = self._tar.extractfile(member).read().decode('ascii', 'replace')
        digests = {}
        for line in filter(None, (raw.strip() for raw in text.splitlines())):
            match = _MANIFEST_LINE.match(line)
            if match is None:
                raise self._refused('its manifest %r has a line that is no '
                                    'digest: %r' % (member.name, line[:80]))
            algorithm, name, value = match.groups()
            digests[name] = (algorithm.lower(), value.lower())
        self._manifest, self._digests = member.name, digests

    def _verify(self, name, digest):
        """Compare ``digest`` (hashlib) with the manifest's for ``name``."""
        expected = self._digests.get(name)
        if expected is not None and digest.hexdigest() != expected[1]:
            raise self._refused('the %s of %r is not the one its manifest '
                                'lists' % (expected[0].upper(), name))

    def member_chunks(self, member):
        """The member's bytes; checked against the manifest at the end."""
        data = self._tar.extractfile(member)
        listed = self._digests.get(member.name)
        digest = hashlib.new(listed[0]) if listed else None
        try:
            while True:
                chunk = data.read(CHUNK)
                if not chunk:
                    break
                if digest is not None:
                    digest.update(chunk)
                yield chunk
        except tarfile.TarError as exc:
            raise self._refused('its tar stream is damaged (%s)' % exc)
        if digest is not None:
            self._verify(member.name, digest)

    def to_end(self):
        """Check every member after the disk (their data is skipped)."""
        while self._next() is not None:
            pass

    def close(self):
        self._reader.close()


# The descriptor

class _HostileXml(Exception):
    pass


def _refuse_dtd(*_args):
    raise _HostileXml('a DOCTYPE (DTDs and entities are refused)')


def _refuse_entity(*_args):
    raise _HostileXml('an entity declaration')


def _qualified(name):
    # expat joins namespace and local name with the separator: 'uri}local'.
    return '{' + name if '}' in name else name


def _parse_xml(data):
    """An ElementTree of ``data``; DTDs, entities and external references
    refused (what defusedxml's defaults refuse), with expat directly."""
    builder = ElementTree.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator='}')
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_entity
    parser.StartElementHandler = lambda tag, attrs: builder.start(
        _qualified(tag), {_qualified(k): v for k, v in attrs.items()})
    parser.EndElementHandler = lambda tag: builder.end(_qualified(tag))
    parser.CharacterDataHandler = builder.data
    parser.Parse(data, True)
    return builder.close()


def _local(tag):
    return tag.rsplit('}', 1)[-1]


def _attr(element, name):
    """An attribute by local name, whatever its namespace."""
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value
    return None


def _children(element, name):
    return [c for c in element if _local(c.tag) == name]


def _descendants(element, name):
    return [e for e in element.iter() if _local(e.tag) == name]


def _text(item, name):
    found = _children(item, name)
    return (found[0].text or '').strip() if found else None


def parse_ovf(image_id, data):
    """OvfHardware of an OVF descriptor's bytes.

    :raises ImageRefused: hostile or malformed XML, not an OVF envelope,
        no disk or more than one, a disk that is not streamOptimized.
    """
    def refused(reason):
        return ImageRefused(image_id, 'the OVA is refused: its OVF '
                            'descriptor %s' % reason)
    try:
        root = _parse_xml(data)
    except _HostileXml as exc:
        raise refused('holds %s' % exc)
    except expat.ExpatError as exc:
        raise refused('is not well-formed XML (%s)' % exc)
    if _local(root.tag) != 'Envelope':
        raise refused('is not an OVF Envelope but <%s>' % _local(root.tag))
    disks = [d for s in _descendants(root, 'DiskSection')
             for d in _children(s, 'Disk')]
    if not disks:
        raise refused('declares no disk')
    if len(disks) > 1:
        raise refused('declares %d disks; only single-disk OVAs are '
                      'imported (upload the other disks as images or '
                      'volumes)' % len(disks))
    disk = disks[0]
    disk_format = _attr(disk, 'format') or ''
    if not disk_format.lower().endswith('#' + STREAM_OPTIMIZED):
        raise refused('declares a disk of format %r, not a streamOptimized '
                      'VMDK' % disk_format)
    files = {_attr(f, 'id'): _attr(f, 'href')
             for f in _descendants(root, 'File')}
    href = files.get(_attr(disk, 'fileRef'))
    if not href:
        raise refused('names no file for its disk %r'
                      % _attr(disk, 'diskId'))
    items = _descendants(root, 'Item')
    return OvfHardware(
        disk_href=href, disk_format=disk_format,
        adapter_type=_adapter_type(items, _attr(disk, 'diskId')),
        guest_id=_guest_id(root), vif_model=_vif_model(items),
        num_cpus=_quantity(items, _CPU), memory_mb=_memory_mb(items))


def _of_type(items, resource_type):
    return [i for i in items if _text(i, 'ResourceType') == resource_type]


def _adapter_type(items, disk_id):
    """The adapter type of the controller the disk's Item hangs from."""
    by_instance = {_text(i, 'InstanceID'): i for i in items}
    for item in _of_type(items, _DISK):
        resource = _text(item, 'HostResource') or ''
        if resource.rsplit('/', 1)[-1] != disk_id:
            continue
        controller = by_instance.get(_text(item, 'Parent'))
        if controller is None:
            return None
        kind = _text(controller, 'ResourceType')
        subtype = (_text(controller, 'ResourceSubType') or '').lower()
        if kind == _IDE:
            return 'ide'
        if kind == _SATA and subtype in _SATA_SUBTYPES:
            return 'sata'
        if kind == _SCSI:
            return _SCSI_SUBTYPES.get(subtype)
    return None


def _vif_model(items):
    for item in _of_type(items, _ETHERNET):
        subtype = (_text(item, 'ResourceSubType') or '').lower()
        if subtype in _NIC_SUBTYPES:
            return _NIC_SUBTYPES[subtype]
    return None


def _guest_id(root):
    for section in _descendants(root, 'OperatingSystemSection'):
        os_type = _attr(section, 'osType')
        if os_type:
            return os_type
    return None


def _quantity(items, resource_type):
    for item in _of_type(items, resource_type):
        try:
            return int(_text(item, 'VirtualQuantity'))
        except (TypeError, ValueError):
            return None
    return None


def _memory_mb(items):
    quantity = _quantity(items, _MEMORY)
    if quantity is None:
        return None
    unit = _text(_of_type(items, _MEMORY)[0], 'AllocationUnits')
    match = _BYTE_POWER.match((unit or 'byte * 2^20').strip().lower())
    return quantity * 2 ** int(match.group(1)) // units.Mi if match else None
