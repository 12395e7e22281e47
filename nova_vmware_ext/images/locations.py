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

"""Image locations of Glance's VMware store, parsed and judged (pure).

glance_store's VMware backend keeps an image as the bare file
``[dsName] <image dir>/<image id>`` and gives Glance the location

    vsphere://<vCenter host>/folder/<image dir>/<image id>?dcPath=..&dsName=..

A location is data anyone allowed to set an image's locations wrote
(``show_multiple_locations``), so it is judged before use: the vSphere
scheme, this compute's vCenter, one non-empty ``dcPath`` and ``dsName``, a
path that stays inside its datastore, and a file named by the image's id as
glance_store names it (so a location cannot point at another image's or an
instance's files). A refused location is never an error: the image is then
downloaded from Glance as any other.
"""

import dataclasses
import re
import urllib.parse

from nova_vmware_ext.vsphere import faults
from nova_vmware_ext.vsphere import files as vfiles

SCHEME = 'vsphere'
FOLDER_PREFIX = '/folder/'
DEFAULT_PORT = 443
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')


class LocationRefused(ValueError):
    """A location this compute will not copy from; the reason says why."""


@dataclasses.dataclass(frozen=True)
class DatastoreLocation:
    """Where Glance's VMware store keeps an image's file."""

    host: str  # the vCenter host, lower case, without brackets
    port: int
    datacenter_path: str  # inventory path of the datacenter, e.g. 'DC0'
    path: vfiles.DatastorePath

    def __str__(self):
        return '%s in datacenter %s of vCenter %s' % (
            self.path, self.datacenter_path, _netloc(self.host, self.port))


def _netloc(host, port):
    host = '[%s]' % host if ':' in host else host
    return host if port == DEFAULT_PORT else '%s:%d' % (host, port)


def describe(url):
    """The URL without anything that could be a secret, for logs."""
    parts = urllib.parse.urlsplit(url or '')
    try:
        netloc = parts.hostname or ''
    except ValueError:
        netloc = ''
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path,
                                    parts.query, ''))


def _one(query, name, url):
    values = query.get(name) or []
    if len(values) != 1 or not values[0].strip():
        raise LocationRefused('%s: needs one non-empty %s' % (
            describe(url), name))
    return values[0]


def parse(url):
    """A DatastoreLocation from a ``vsphere://`` URL.

    :raises LocationRefused: naming what is wrong.
    """
    try:
        parts = urllib.parse.urlsplit(url or '')
        host, port = parts.hostname, parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise LocationRefused('%s: not a URL (%s)' % (describe(url), exc))
    if parts.scheme != SCHEME:
        raise LocationRefused('%s: not a %s:// location' % (
            describe(url), SCHEME))
    if parts.username is not None or parts.password is not None:
        raise LocationRefused('%s: carries credentials' % describe(url))
    if not host:
        raise LocationRefused('%s: names no vCenter host' % describe(url))
    if parts.fragment:
        raise LocationRefused('%s: has a fragment' % describe(url))
    if not parts.path.startswith(FOLDER_PREFIX):
        raise LocationRefused('%s: the path is not below %s' % (
            describe(url), FOLDER_PREFIX))
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {'dcPath', 'dsName'})
    if unknown:
        raise LocationRefused('%s: unknown parameters %s' % (
            describe(url), ', '.join(unknown)))
    datacenter = _one(query, 'dcPath', url).strip('/')
    datastore = _one(query, 'dsName', url)
    rel_path = urllib.parse.unquote(parts.path[len(FOLDER_PREFIX):])
    if _CONTROL.search(datacenter) or any(
            name in ('', '.', '..') for name in datacenter.split('/')):
        raise LocationRefused('%s: %r is not a datacenter path' % (
            describe(url), datacenter))
    try:
        path = vfiles.DatastorePath(datastore, rel_path)
    except faults.InvalidPath as exc:
        raise LocationRefused('%s: %s' % (describe(url), exc))
    if not path.rel_path:
        raise LocationRefused('%s: names no file' % describe(url))
    return DatastoreLocation(host.lower(), port, datacenter, path)


def of_image(url, image_id, host, port=DEFAULT_PORT):
    """The location ``url`` of image ``image_id`` if this compute, whose
    vCenter is ``host``:``port``, may copy from it.

    :raises LocationRefused: naming why not.
    """
    location = parse(url)
    if (location.host, location.port) != (host.lower().strip('[]'),
                                          port or DEFAULT_PORT):
        raise LocationRefused(
            '%s: on vCenter %s, not on this compute\'s vCenter %s' % (
                describe(url), _netloc(location.host, location.port),
                _netloc(host.lower().strip('[]'), port or DEFAULT_PORT)))
    if location.path.basename != image_id:
        raise LocationRefused(
            '%s: the file is not named by the image id %s, as Glance\'s '
            'VMware store names it' % (describe(url), image_id))
    return location


def pick(urls, image_id, host, port=DEFAULT_PORT):
    """(the first usable DatastoreLocation or None, [why each other
    ``vsphere://`` location was refused]). Locations of other schemes
    (Glance's other stores) are left out silently."""
    refused = []
    for url in urls:
        if not (url or '').startswith(SCHEME + '://'):
            continue
        try:
            return of_image(url, image_id, host, port), refused
        except LocationRefused as exc:
            refused.append(str(exc))
    return None, refused
