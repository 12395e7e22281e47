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

"""Real image files for tests, made by qemu-img and genisoimage (Debian's
qemu-utils and genisoimage), and hostile variants of them."""

import functools
import os
import struct
import subprocess
import tempfile

MiB = 1024 * 1024


def _run(*argv):
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@functools.lru_cache(maxsize=None)
def qemu_image(fmt, subformat=None, size_mb=4, random_mb=1):
    """A disk of ``size_mb`` virtual MiB whose first ``random_mb`` MiB are
    random, as qemu-img writes it in format ``fmt`` (vmdk, qcow2, vpc, vhdx,
    vdi)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, 'disk.raw')
        with open(raw, 'wb') as f:
            f.write(os.urandom(random_mb * MiB))
            f.truncate(size_mb * MiB)
        out = os.path.join(tmp, 'disk.out')
        options = ['-o', 'subformat=%s' % subformat] if subformat else []
        _run('qemu-img', 'convert', '-f', 'raw', '-O', fmt, *options, raw,
             out)
        with open(out, 'rb') as f:
            return f.read()


def stream_optimized(size_mb=4):
    return qemu_image('vmdk', 'streamOptimized', size_mb)


def monolithic_sparse(size_mb=4):
    return qemu_image('vmdk', 'monolithicSparse', size_mb)


@functools.lru_cache(maxsize=None)
def iso_image():
    """An ISO 9660 image holding one small file."""
    with tempfile.TemporaryDirectory() as tmp:
        content = os.path.join(tmp, 'content')
        os.mkdir(content)
        with open(os.path.join(content, 'README'), 'w') as f:
            f.write('an ISO image\n')
        iso = os.path.join(tmp, 'image.iso')
        _run('genisoimage', '-quiet', '-o', iso, content)
        with open(iso, 'rb') as f:
            return f.read()


def mbr_disk(size=MiB, gpt=False):
    """A whole disk with an MBR partition table (the protective MBR of a
    GPT disk when ``gpt``), zeroes elsewhere."""
    if gpt:
        entry = struct.pack('<B3BB3BII', 0, 0, 2, 0, 0xEE, 0xFF, 0xFF, 0xFF,
                            1, size // 512 - 1)
    else:
        entry = struct.pack('<B3BB3BII', 0x80, 0, 33, 0, 0x83, 0, 0, 0,
                            2048, size // 512 - 2048)
    mbr = b'\0' * 446 + entry + b'\0' * 48 + b'\x55\xaa'
    return mbr + b'\0' * (size - 512)


def with_capacity(vmdk, sectors):
    """The sparse VMDK with its header's capacity set to ``sectors``."""
    return vmdk[:12] + struct.pack('<Q', sectors) + vmdk[20:]


def with_footer(vmdk, end_of_stream=b'\0' * 512):
    """The streamOptimized VMDK with its grain directory offset in a footer
    (the header says GD_AT_END), as VMware's tools write it."""
    header = vmdk[:512]
    at_end = header[:56] + b'\xff' * 8 + header[64:]
    marker = struct.pack('<QII496s', 1, 0, 3, b'\0' * 496)
    return at_end + vmdk[512:-1536] + marker + header + end_of_stream


def with_extent(vmdk, filename):
    """The sparse VMDK with its descriptor's extent naming ``filename``."""
    text = vmdk[512:vmdk.index(b'\0', 512)]  # the null-padded descriptor
    start = text.index(b'RW ')
    first = text.index(b'"', start)
    last = text.index(b'"', first + 1)
    new = (text[:first + 1] + filename.encode() + text[last:]).ljust(
        len(text), b'\0')
    assert vmdk[512 + len(text):512 + len(new)].strip(b'\0') == b''
    return vmdk[:512] + new + vmdk[512 + len(new):]


@functools.lru_cache(maxsize=None)
def qcow2_with(what, size_mb=4):
    """A qcow2 naming another file qemu would read: its ``backing`` file or
    its external ``data_file`` (made in a temporary directory: qemu-img
    writes the data file it creates)."""
    with tempfile.TemporaryDirectory() as tmp:
        other = os.path.join(tmp, 'other.raw')
        if what == 'backing':
            options = ['-u', '-b', other, '-F', 'raw']
        else:
            options = ['-o', 'data_file=%s,data_file_raw=on' % other]
        out = os.path.join(tmp, 'disk.qcow2')
        _run('qemu-img', 'create', '-f', 'qcow2', *options, out,
             '%dM' % size_mb)
        with open(out, 'rb') as f:
            return f.read()


@functools.lru_cache(maxsize=None)
def qcow2_with_bad_compressed_data(size_mb=4):
    """A qcow2 whose metadata is sound (``qemu-img check`` passes) but
    whose compressed clusters do not decompress: reading it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, 'disk.raw')
        with open(raw, 'wb') as f:
            f.write((b'compressible ' * 81000)[:MiB])
            f.truncate(size_mb * MiB)
        out = os.path.join(tmp, 'disk.qcow2')
        _run('qemu-img', 'convert', '-c', '-f', 'raw', '-O', 'qcow2', raw,
             out)
        with open(out, 'rb') as f:
            data = f.read()
    # The compressed clusters come last.
    return data[:-2000] + b'\xff' * 2000
