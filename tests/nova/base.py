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

"""What the tests of this package share: a real VMDK served by Nova's
Glance fixture, ``[vmware]`` options for a vcsim, independent queries.
"""

import io
import os
import subprocess
import sys
import tempfile
import threading
import warnings

import fixtures
from pyVmomi import vim
from sqlalchemy import exc as sqla_exc
import urllib3

from nova_vmware_ext import conf as vmware_conf  # noqa: F401 (options)
from tests import leaks
from tests import vcsim

MiB = 1024 * 1024
CHUNK = 256 * 1024

# The api-paste.ini the nova wheel installs under the virtualenv's prefix;
# Nova's API fixture looks under its state_path otherwise.
API_PASTE_INI = os.path.join(sys.prefix, 'etc', 'nova', 'api-paste.ini')

_vmdks = {}
_vmdks_lock = threading.Lock()


def stream_optimized_vmdk(size_mb=16):
    """A real streamOptimized VMDK of ``size_mb`` virtual MiB (qemu-img).

    Made once per process and size; the disk holds a recognisable pattern
    at its start, the rest is zeroes (compressed away).
    """
    with _vmdks_lock:
        if size_mb not in _vmdks:
            with tempfile.TemporaryDirectory() as tmp:
                raw = os.path.join(tmp, 'disk.raw')
                with open(raw, 'wb') as f:
                    f.write(b'nova-vmware-ext ' * 4096)
                    f.truncate(size_mb * MiB)
                vmdk = os.path.join(tmp, 'disk.vmdk')
                subprocess.run(
                    ['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk',
                     '-o', 'subformat=streamOptimized', raw, vmdk],
                    check=True, stdin=subprocess.DEVNULL)
                with open(vmdk, 'rb') as f:
                    _vmdks[size_mb] = f.read()
        return _vmdks[size_mb]


def vmdk_image(image_id, data, virtual_mb, name='vmdk-image',
               **properties):
    """Glance's record of a streamOptimized VMDK image (v2 fields)."""
    props = {'vmware_disktype': 'streamOptimized',
             'vmware_adaptertype': 'lsiLogic',
             'vmware_ostype': 'otherLinux64Guest'}
    props.update(properties)
    return {
        'id': image_id, 'name': name, 'status': 'active',
        'container_format': 'bare', 'disk_format': 'vmdk',
        'size': len(data),
        # Glance's format inspector records it for VMDKs.
        'virtual_size': virtual_mb * MiB,
        'min_ram': 0, 'min_disk': 0, 'protected': False,
        'visibility': 'public', 'is_public': True, 'tags': [],
        'properties': props,
    }


def serve_image_data(glance):
    """Let Nova's GlanceFixture hand out image bytes the way Glance does.

    ``nova.image.glance.API.download`` without ``data`` and ``dst_path``
    returns an iterator of chunks (how VMware drivers read images); the
    fixture writes only into a file or a file object, so wrap it.
    """
    real = glance.download

    def download(context, image_id, data=None, dst_path=None,
                 trusted_certs=None):
        if data is not None or dst_path is not None:
            return real(context, image_id, data=data, dst_path=dst_path,
                        trusted_certs=trusted_certs)
        buf = io.BytesIO()
        real(context, image_id, data=buf)
        payload = buf.getvalue()
        return (payload[offset:offset + CHUNK]
                for offset in range(0, len(payload), CHUNK))

    glance.download = download


def store_uploads(glance):
    """Let Nova's GlanceFixture keep the bytes an update uploads (it
    drops them), read from the chunk iterator a snapshot hands it."""
    real = glance.update

    def update(context, image_id, metadata, data=None, purge_props=False):
        image = real(context, image_id, metadata, purge_props=purge_props)
        if data is not None:
            glance._imagedata[image_id] = b''.join(
                data if not hasattr(data, 'read') else [data.read()])
            image['size'] = len(glance._imagedata[image_id])
        return image

    glance.update = update


def add_vmdk_image(glance, image_id=None, size_mb=16, virtual_size=True,
                   **kwargs):
    """Register a real VMDK in the fixture; returns its image record."""
    data = stream_optimized_vmdk(size_mb)
    meta = vmdk_image(image_id, data, size_mb, **kwargs)
    if image_id is None:
        del meta['id']
    if not virtual_size:
        del meta['virtual_size']
    return glance.create(None, meta, data=io.BytesIO(data))


def replace_with_vmdk(glance, image_id, size_mb=16):
    """Make an image the fixture already has a real VMDK, keeping its id."""
    glance.images.pop(image_id)
    return add_vmdk_image(glance, image_id, size_mb)


def real_https(test):
    """Undo wsgi-intercept's HTTPS override of urllib3 (a test fixture).

    Nova's Placement fixture intercepts requests to Placement's plain HTTP
    endpoint, and wsgi-intercept 1.13 replaces urllib3's HTTPS connections
    as well: on urllib3 2 those fail on any other host (``unexpected
    keyword argument 'cert_reqs'``), which would break the driver's
    datastore and NFC transfers to vcsim. Placement needs no HTTPS.
    """
    test.useFixture(fixtures.MonkeyPatch(
        'urllib3.connectionpool.HTTPSConnectionPool.ConnectionCls',
        urllib3.connection.HTTPSConnection))


def tolerate_nova_sqlalchemy_deprecations():
    """Nova's WarningsFixture makes SQLAlchemy deprecations in nova's own
    code errors, for Nova's developers. Nova 34 uses ``noload()`` (stopping
    a server), which SQLAlchemy 2.1 deprecates: not ours to fix, so let it
    warn as it does in production. Nova's fixture restores the filters."""
    warnings.filterwarnings('ignore', category=sqla_exc.SADeprecationWarning,
                            module='nova')


def vmware_flags(test, fx, cluster_name='DC0_C0'):
    """[vmware] options pointing at the vcsim of ``fx`` (verified TLS)."""
    test.flags(host_ip=fx.host, host_port=fx.port,
               host_username=fx.username, host_password=fx.password,
               ca_file=fx.ca_file, cluster_name=cluster_name,
               api_retry_count=2, group='vmware')
    test.flags(task_update_wait=5, api_retry_interval=0.05,
               group='vmware_ext')


VM_PATHS = ('name', 'config.instanceUuid', 'runtime.powerState',
            'config.hardware.numCPU', 'config.hardware.memoryMB',
            'config.hardware.device', 'config.files.vmPathName',
            'resourcePool', 'runtime.host', 'network', 'datastore')


def vms_by_instance_uuid(si, paths=VM_PATHS, root=None):
    """{instanceUuid: {path: value, 'moid': ...}} read over ``si``."""
    found = {}
    for moid, item in vcsim.query(si, vim.VirtualMachine,
                                  ['config.instanceUuid'] + list(paths),
                                  root).items():
        uuid = item.get('config.instanceUuid')
        if uuid:
            item['moid'] = moid
            found[uuid] = item
    return found


def check_leaks(test, si):
    """Fail ``test`` if, after its cleanups, a datastore file or a VM is
    there that was not before (tests/leaks.py). Call it before the test
    registers the cleanups whose results it should see."""
    return test.useFixture(leaks.LeakCheck(si))


def keep_cache_entry(check, driver, image_id, sizes_gb=()):
    """The test fills the cache entry of ``image_id`` through ``driver``
    (and grown copies of ``sizes_gb``): the image cache keeps it by
    design."""
    check.keep_cache_entry(driver._host.cache_folder, image_id, sizes_gb)


def give_tools(si, moid):
    """VMware Tools running in the guest (vcsim's SET.guest.* keys)."""
    from pyVim import task as task_util

    vm = vim.VirtualMachine(moid, si._stub)
    task_util.WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=[
        vim.option.OptionValue(key='SET.guest.toolsStatus', value='toolsOk'),
        vim.option.OptionValue(key='SET.guest.toolsRunningStatus',
                               value='guestToolsRunning')])))


def disks(vm):
    return [d for d in vm.get('config.hardware.device') or ()
            if isinstance(d, vim.vm.device.VirtualDisk)]


def nics(vm):
    return [d for d in vm.get('config.hardware.device') or ()
            if isinstance(d, vim.vm.device.VirtualEthernetCard)]


def remove_nova_vms(si):
    """Power off and destroy every VM managed by Nova's extension."""
    from pyVim import task as task_util

    for moid, item in vcsim.query(si, vim.VirtualMachine,
                                  ['config.managedBy',
                                   'runtime.powerState']).items():
        managed_by = item.get('config.managedBy')
        if managed_by is None or (managed_by.extensionKey
                                  != 'org.openstack.compute'):
            continue
        vm = vim.VirtualMachine(moid, si._stub)
        if item.get('runtime.powerState') != 'poweredOff':
            task_util.WaitForTask(vm.PowerOffVM_Task())
        task_util.WaitForTask(vm.Destroy_Task())
