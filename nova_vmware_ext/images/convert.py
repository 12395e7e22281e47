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

"""qcow2, raw, VHD, VHDX and VDI images -> streamOptimized VMDKs by qemu-img.

Once per image and datastore, under the cache entry's fill lock: Glance's
stream is judged by images/inspect.py (the bytes must be what
``disk_format`` says and pass its safety checks: no backing or data file),
written to a local temporary directory whose free space is checked first,
checked by ``qemu-img check`` where the format has a check (a truncated or
corrupt qcow2 otherwise converts, its missing clusters read as zeroes),
converted by ``qemu-img convert`` with the input format pinned (both run
with their address space limited, and killed once they outlast a wall-clock
timeout scaled to the virtual disk: ``[vmware_ext]
image_conversion_timeout`` seconds per GiB, at least MIN_TIMEOUT), and the
streamOptimized result is judged again and imported through the fetcher's
NFC path like any streamOptimized image.
The local directory is always removed.

Why streamOptimized: it is the format vCenter's import inflates into a
regular disk on any datastore type, it is compressed (fewer bytes over the
network than a flat or sparse disk), and it reuses the one path that
images already take, inspection included.
"""

import contextlib
import functools
import json
import math
import os
import shutil
import subprocess
import tempfile

from oslo_concurrency import lockutils
from oslo_concurrency import processutils
from oslo_log import log as logging
from oslo_utils import units

from nova_vmware_ext.images import fetch
from nova_vmware_ext.images import inspect
from nova_vmware_ext.vsphere import transfer

LOG = logging.getLogger(__name__)

# Glance's disk_format -> qemu-img's name of the format (-f).
QEMU_FORMATS = {'raw': 'raw', 'qcow2': 'qcow2', 'vhd': 'vpc',
                'vhdx': 'vhdx', 'vdi': 'vdi'}
# vmware_adaptertype -> qemu's VMDK adapter_type (the descriptor's
# ddb.adapterType; the VM's controller comes from the image regardless).
QEMU_ADAPTERS = {'ide': 'ide', 'busLogic': 'buslogic'}
# qemu-img's address space: enough for its buffers and threads, not for
# reading an image into memory (nova/virt/images.py limits qemu-img info to
# 1 GiB). No CPU-time limit: converting a large image takes long.
ADDRESS_SPACE = 2 * units.Gi
# Formats whose metadata ``qemu-img check`` verifies; its exit codes: 0
# clean, 3 leaked clusters only (harmless for a copy), 2 corrupt, 1 not
# checked.
CHECKED_FORMATS = ('qcow2', 'vhdx', 'vdi')
CHECK_CLEAN = (0, 3)
QEMU_IMG = 'qemu-img'
TEMP_PREFIX = 'vmware-ext-convert-'
# qemu-img's wall-clock limit: TIMEOUT_PER_GIB (the option's default) per
# GiB of virtual disk, never less than MIN_TIMEOUT. Converting a local file
# runs at 50-500 MB/s; a minute per GiB leaves a slow, busy compute room.
TIMEOUT_PER_GIB = 60
MIN_TIMEOUT = 600


class ConversionError(Exception):
    """This compute cannot convert images (not the image's fault)."""

    def __init__(self, image_id, reason):
        super().__init__('image %s: %s' % (image_id, reason))
        self.image_id = image_id
        self.reason = reason


def check_command(source_format, source):
    """qemu-img's argv checking ``source``, or None if its format has no
    check."""
    if source_format not in CHECKED_FORMATS:
        return None
    return (QEMU_IMG, 'check', '--output=json', '-f',
            QEMU_FORMATS[source_format], source)


def command(source_format, source, target, adapter_type=None):
    """qemu-img's argv converting ``source`` into a streamOptimized VMDK."""
    options = 'subformat=streamOptimized,adapter_type=%s' % (
        QEMU_ADAPTERS.get(adapter_type, 'lsilogic'))
    return (QEMU_IMG, 'convert', '-q', '-f', QEMU_FORMATS[source_format],
            '-O', 'vmdk', '-o', options, source, target)


def limits():
    """prlimit for qemu-img: address space only."""
    return processutils.ProcessLimits(address_space=ADDRESS_SPACE)


def timeout(virtual_size, per_gib=TIMEOUT_PER_GIB):
    """Seconds qemu-img may run on a disk of ``virtual_size`` bytes."""
    return max(MIN_TIMEOUT, per_gib * math.ceil(virtual_size / units.Gi))


def space_needed(verdict, size):
    """Local bytes a conversion needs: the image plus its converted disk
    (at most as large as the virtual disk)."""
    return size + verdict.virtual_size


class Converter(object):
    """Fills disk cache entries from images vSphere cannot use as they are.

    :param fetcher: images.fetch.Fetcher, which imports the converted VMDK.
    :param cache: images.cache.ImageCache, for the entry's fill lock.
    :param work_dir: local directory for temporary files (None: the system
        temporary directory).
    :param timeout_per_gib: qemu-img's wall-clock limit per GiB of virtual
        disk (see timeout()).
    """

    def __init__(self, fetcher, cache, work_dir=None,
                 timeout_per_gib=TIMEOUT_PER_GIB):
        self.fetcher = fetcher
        self.cache = cache
        self.work_dir = work_dir
        self.timeout_per_gib = timeout_per_gib

    def ensure_disk(self, entry, source, limits):
        """Make sure the image's cache entry exists, converting it once.

        :raises inspect.ImageRefused: the image is not acceptable (before
            anything is written).
        :raises ConversionError: this compute cannot convert it.
        """
        if self.cache.exists(entry):
            return entry
        if not shutil.which(QEMU_IMG):
            raise ConversionError(source.image_id, '%s is not installed '
                                  '(Debian and Ubuntu: qemu-utils; RHEL: '
                                  'qemu-img)' % QEMU_IMG)
        with lockutils.lock('vmware-ext-fetch-%s' % entry):
            if self.cache.exists(entry):
                return entry
            with self.fetcher.open(source, limits) as download:
                self._check_space(source, download.verdict)
                return self.cache.ensure_staged(
                    entry, lambda path, staging: self._fill(
                        download, path, limits, staging))

    def _check_space(self, source, verdict):
        work_dir = self.work_dir or tempfile.gettempdir()
        try:
            free = shutil.disk_usage(work_dir).free
        except OSError as exc:
            raise ConversionError(source.image_id, 'the image conversion '
                                  'directory %s cannot be used: %s'
                                  % (work_dir, exc))
        needed = space_needed(verdict, source.size)
        if needed > free:
            raise ConversionError(source.image_id, 'converting it needs %d '
                                  'bytes in %s, which has %d free ([vmware_'
                                  'ext] image_conversion_dir)'
                                  % (needed, work_dir, free))

    def _fill(self, download, entry, limits, staging=None):
        source = download.source
        limit = timeout(download.verdict.virtual_size, self.timeout_per_gib)
        with self._work_dir(source) as work_dir:
            original = os.path.join(work_dir, 'image.%s' % source.disk_format)
            converted = os.path.join(work_dir, 'image.vmdk')
            self._download(download, original)
            self._check(source, original, limit)
            self._convert(source, original, converted, limit)
            vmdk = fetch.ImageSource(
                source.image_id, os.path.getsize(converted),
                'streamOptimized', source.adapter_type,
                functools.partial(transfer.file_chunks, converted))
            with self.fetcher.open(vmdk, limits) as judged:
                self.fetcher.fill_disk(judged, entry, staging)

    @contextlib.contextmanager
    def _work_dir(self, source):
        try:
            path = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=self.work_dir)
        except OSError as exc:
            raise ConversionError(source.image_id, 'no temporary directory '
                                  'for its conversion: %s' % exc)
        try:
            yield path
        finally:
            shutil.rmtree(path, onerror=_log_removal_failure)

    @staticmethod
    def _download(download, path):
        with open(path, 'wb') as f:
            for chunk in download.stream():
                f.write(chunk)

    @staticmethod
    def _check(source, original, limit):
        argv = check_command(source.disk_format, original)
        if argv is None:
            return
        try:
            _execute(argv, limit, check_exit_code=list(CHECK_CLEAN))
        except subprocess.TimeoutExpired:
            raise _timed_out(source, 'check', limit)
        except processutils.ProcessExecutionError as exc:
            raise inspect.ImageRefused(source.image_id, 'qemu-img check '
                                       'finds the %s image %s' % (
                                           source.disk_format,
                                           _check_failure(exc)))

    @staticmethod
    def _convert(source, original, converted, limit):
        LOG.info('Converting image %s from %s to a streamOptimized VMDK',
                 source.image_id, source.disk_format)
        try:
            _execute(command(source.disk_format, original, converted,
                             source.adapter_type), limit)
        except subprocess.TimeoutExpired:
            raise _timed_out(source, 'convert', limit)
        except processutils.ProcessExecutionError as exc:
            raise inspect.ImageRefused(source.image_id, 'qemu-img cannot '
                                       'convert it from %s: %s' % (
                                           source.disk_format,
                                           _last_line(exc.stderr, exc)))


def _execute(argv, limit=None, **kwargs):
    """qemu-img under its address-space limit, in the C locale; killed
    when it outlasts ``limit`` seconds (subprocess.TimeoutExpired)."""
    started = []
    try:
        return processutils.execute(
            *argv, prlimit=limits(), timeout=limit,
            on_execute=started.append,
            env_variables={'LC_ALL': 'C', 'LANG': 'C'}, **kwargs)
    except subprocess.TimeoutExpired:
        for process in started:  # prlimit execs it: one process
            _kill(process)
        raise


def _kill(process):
    try:
        process.kill()
        process.wait(timeout=30)
    except Exception as exc:
        LOG.warning('Cannot kill qemu-img (pid %s): %s', process.pid, exc)


def _timed_out(source, verb, limit):
    return ConversionError(source.image_id, 'qemu-img %s did not finish '
                           'within %d s and was killed ([vmware_ext] '
                           'image_conversion_timeout)' % (verb, limit))


def _check_failure(exc):
    """What ``qemu-img check --output=json`` found, in words."""
    try:
        found = json.loads(exc.stdout)
    except (TypeError, ValueError):
        found = None
    if isinstance(found, dict) and found.get('corruptions'):
        return 'corrupt: %d corruptions' % found['corruptions']
    return 'unreadable: %s' % _last_line(exc.stderr, exc)


def _last_line(text, default):
    lines = (text or '').strip().splitlines()
    return lines[-1] if lines else str(default)


def _log_removal_failure(function, path, exc_info):
    LOG.warning('Cannot remove %s after an image conversion: %s', path,
                exc_info[1])
