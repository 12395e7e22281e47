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

"""Preflight checks of a nova.conf against its vCenter, before nova-compute.

Each check gives one ``Result`` (PASS, WARN, FAIL or SKIP) with the fix to
apply. ``run`` chains them: a check that needs what a failed one would have
given (a connection, a login, the cluster) is SKIPped, never attempted.
Nothing is changed in vCenter: every check only reads.
"""

import dataclasses
import socket
import ssl
import time

from nova_vmware_ext.compute import host as chost
from nova_vmware_ext.compute import preflight_privileges
from nova_vmware_ext import conf as vmware_conf
from nova_vmware_ext.images import cache as image_cache
from nova_vmware_ext.vsphere import browser as vbrowser
from nova_vmware_ext.vsphere import files as vfiles
from nova_vmware_ext.vsphere import inventory as vinventory
from nova_vmware_ext.vsphere import pbm
from nova_vmware_ext.vsphere import props
from nova_vmware_ext.vsphere import tasks as vtasks

PASS, WARN, FAIL, SKIP = 'PASS', 'WARN', 'FAIL', 'SKIP'

GiB = 1024 ** 3
_SHOWN = 10  # names listed in one line at most


@dataclasses.dataclass(frozen=True)
class Result(object):
    check: str
    status: str
    message: str
    fix: str = None

    def line(self):
        text = '%-4s %-14s %s' % (self.status, self.check, self.message)
        return text + (' -- fix: %s' % self.fix if self.fix else '')


class _Stop(Exception):
    """The checks that follow need what this failed check would give."""


class Preflight(object):
    """Runs the checks of one configuration, in order."""

    def __init__(self, conf):
        self.conf = conf
        self.results = []
        self.session = None
        self.inventory = None

    def add(self, check, status, message, fix=None):
        self.results.append(Result(check, status, message, fix))
        return status

    @property
    def endpoint(self):
        return '%s:%s' % (self.conf.vmware.host_ip, self.conf.vmware.host_port)

    def run(self):
        steps = [self.check_config, self.check_connection, self.check_tls,
                 self.check_credentials, self.check_cluster,
                 self.check_privileges, self.check_hosts,
                 self.check_datastores,
                 self.check_networks, self.check_image_cache]
        if self.conf.vmware.pbm_enabled:
            steps.insert(steps.index(self.check_datastores) + 1,
                         self.check_storage_policy)
        try:
            for number, step in enumerate(steps):
                try:
                    step()
                except _Stop as stop:
                    for later in steps[number + 1:]:
                        self.add(_name(later), SKIP, str(stop))
                    break
        finally:
            if self.session is not None:
                self.session.logout()
        return self.results

    # Configuration and connection.
    def check_config(self):
        for option in vmware_conf.unacted_options(self.conf):
            group, name = option.split('.')
            self.add('config', WARN, '[%s] %s is set but has no effect: %s'
                     % (group, name, vmware_conf.UNACTED_OPTIONS[group][name]),
                     'remove it from nova.conf')
        try:
            chost.check_config(self.conf)
        except Exception as exc:  # nova InvalidInput names what is wrong
            self.add('config', FAIL, _first_line(_reason(exc)),
                     'set it in the [vmware] section of nova.conf')
            raise _Stop('needs a valid [vmware] section')
        self.add('config', PASS, '[vmware] names vCenter %s, user %s, '
                 'cluster %s' % (self.endpoint, self.conf.vmware.host_username,
                                 self.conf.vmware.cluster_name))

    def _handshake(self, context):
        timeout = self.conf.vmware_ext.api_timeout
        vmware = self.conf.vmware
        with socket.create_connection((vmware.host_ip, vmware.host_port),
                                      timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=vmware.host_ip):
                pass

    def check_connection(self):
        timeout = self.conf.vmware_ext.api_timeout
        start = time.monotonic()
        try:
            self._handshake(ssl._create_unverified_context())
        except (TimeoutError, socket.timeout):
            self.add('connection', FAIL, 'vCenter %s did not complete a TLS '
                     'handshake within %s s' % (self.endpoint, timeout),
                     'check that [vmware] host_ip/host_port name vCenter\'s '
                     'HTTPS endpoint; raise [vmware_ext] api_timeout on a '
                     'slow link')
            raise _Stop('needs a connection to vCenter')
        except OSError as exc:
            self.add('connection', FAIL, 'cannot connect to vCenter %s: %s'
                     % (self.endpoint, exc), 'check [vmware] host_ip and '
                     'host_port, DNS and firewalls')
            raise _Stop('needs a connection to vCenter')
        self.add('connection', PASS, 'vCenter %s: TCP and TLS handshake in '
                 '%.2f s' % (self.endpoint, time.monotonic() - start))

    def check_tls(self):
        vmware = self.conf.vmware
        if vmware.insecure and not vmware.ca_file:
            self.add('tls', WARN, 'certificate of vCenter %s not verified '
                     '([vmware] insecure = True)' % self.endpoint,
                     'set [vmware] ca_file to the CA of vCenter and remove '
                     'insecure')
            return
        trust = vmware.ca_file or 'the system trust store'
        try:
            self._handshake(ssl.create_default_context(cafile=vmware.ca_file))
        except ssl.SSLCertVerificationError as exc:
            self.add('tls', FAIL, 'certificate of vCenter %s not trusted by '
                     '%s: %s' % (self.endpoint, trust, exc.verify_message),
                     'set [vmware] ca_file to the CA that signed it')
            raise _Stop('needs a trusted TLS connection')
        except (OSError, ssl.SSLError) as exc:
            self.add('tls', FAIL, 'TLS with vCenter %s verified by %s failed:'
                     ' %s' % (self.endpoint, trust, exc),
                     'check [vmware] ca_file (a PEM CA bundle)')
            raise _Stop('needs a trusted TLS connection')
        self.add('tls', PASS, 'certificate of vCenter %s verified by %s'
                 % (self.endpoint, trust))

    def check_credentials(self):
        session = chost.session_from_conf(self.conf)
        session.retry_count = 0  # report a failure, do not wait it out
        try:
            session.login()
        except Exception as exc:
            if 'InvalidLogin' in (getattr(exc, 'fault_list', None) or ()):
                self.add('credentials', FAIL, 'vCenter %s rejected the login '
                         'of user %r' % (self.endpoint,
                                         self.conf.vmware.host_username),
                         'check [vmware] host_username/host_password')
            else:
                self.add('credentials', FAIL, 'login to vCenter %s failed: %s'
                         % (self.endpoint, _first_line(exc)),
                         'check that vCenter serves the vSphere API (/sdk) '
                         'and the account of [vmware] host_username')
            raise _Stop('needs a login')
        self.session = session
        self.add('credentials', PASS, 'logged in to %s (%s) as %s' % (
            self.endpoint, session.content.about.fullName, session.username))

    # The cluster and what it offers.
    def check_cluster(self):
        try:
            self.inventory = vinventory.resolve(
                self.session, self.conf.vmware.cluster_name)
        except vinventory.InventoryError as exc:
            self.add('cluster', FAIL, str(exc),
                     'set [vmware] cluster_name to one of those clusters')
            raise _Stop('needs the cluster')
        inv = self.inventory
        item = props.retrieve_one(self.session, inv.cluster,
                                  ['configurationEx'])
        config = (item or {}).get('configurationEx')
        drs = getattr(getattr(config, 'drsConfig', None), 'enabled', False)
        ha = getattr(getattr(config, 'dasConfig', None), 'enabled', False)
        self.add('cluster', PASS, 'cluster %s (%s) in datacenter %s' % (
            inv.cluster_name, inv.cluster._moId, inv.datacenter_path))
        if drs:
            self.add('drs', PASS, 'DRS is enabled on cluster %s'
                     % inv.cluster_name)
        else:
            self.add('drs', WARN, 'DRS is disabled on cluster %s: server '
                     'groups (DRS rules) and automatic placement do not work'
                     % inv.cluster_name, 'enable DRS on the cluster')
        if ha:
            self.add('ha', PASS, 'vSphere HA is enabled on cluster %s'
                     % inv.cluster_name)
        else:
            self.add('ha', WARN, 'vSphere HA is disabled on cluster %s: '
                     'instances on a failed host stay down' %
                     inv.cluster_name, 'enable vSphere HA on the cluster')

    def check_privileges(self):
        self.add('privileges', *preflight_privileges.check(self))

    def check_hosts(self):
        hosts = self.inventory.hosts
        unusable = ['%s (%s%s)' % (h.name, h.connection_state,
                                   ', maintenance' if h.in_maintenance
                                   else '')
                    for h in hosts if not h.usable]
        usable = len(hosts) - len(unusable)
        if not usable:
            self.add('hosts', FAIL, 'no connected host out of maintenance in '
                     'cluster %s%s' % (self.inventory.cluster_name,
                                       _listed(': ', unusable)),
                     'connect a host or take one out of maintenance mode')
        elif unusable:
            self.add('hosts', WARN, '%d of %d hosts usable; not: %s' % (
                usable, len(hosts), ', '.join(unusable)),
                'reconnect them or end their maintenance')
        else:
            self.add('hosts', PASS, '%d hosts connected, none in maintenance'
                     % usable)

    def matching_datastores(self):
        return self.inventory.usable_datastores(
            self.conf.vmware.datastore_regex)

    def check_datastores(self):
        regex = self.conf.vmware.datastore_regex
        found = self.matching_datastores()
        if not found:
            seen = ', '.join('%s (%s%s)' % (
                ds.name, ds.type, '' if ds.usable else ', not usable')
                for ds in self.inventory.datastores) or 'none'
            self.add('datastores', FAIL, 'no usable datastore of cluster %s '
                     'matches [vmware] datastore_regex %r; its datastores: %s'
                     % (self.inventory.cluster_name, regex, seen),
                     'set datastore_regex to match one of them')
            return
        full = [ds.name for ds in found if ds.free_space < GiB]
        text = ', '.join('%s %.1f GiB free of %.1f' % (
            ds.name, ds.free_space / GiB, ds.capacity / GiB) for ds in found)
        if len(full) == len(found):
            self.add('datastores', FAIL, 'every matching datastore has less '
                     'than 1 GiB free: %s' % text,
                     'free space or add a datastore to the cluster')
        elif full:
            self.add('datastores', WARN, 'less than 1 GiB free on %s; %s'
                     % (', '.join(full), text), 'free space on them')
        else:
            self.add('datastores', PASS, text)

    def check_storage_policy(self):
        """PBM answers, and pbm_default_policy exists and is satisfied
        by a matching datastore."""
        policies = pbm.StoragePolicies(self.session)
        default = self.conf.vmware.pbm_default_policy
        try:
            names = policies.names()
            profile_id = policies.profile_id(default) if default else None
            matching = policies.matching_datastores(
                profile_id, [ds.ref for ds in self.matching_datastores()]
            ) if profile_id else set()
        except Exception as exc:
            self.add('storage policy', FAIL, 'the storage policy service '
                     '(PBM) of vCenter %s failed: %s' % (
                         self.endpoint, _first_line(exc)),
                     'check that vCenter\'s storage policy service runs, '
                     'or set [vmware] pbm_enabled = False')
            return
        if not default:
            self.add('storage policy', PASS, '%d storage policies; flavors '
                     'without vmware:storage_policy get none ([vmware] '
                     'pbm_default_policy is unset)' % len(names))
        elif profile_id is None:
            self.add('storage policy', FAIL, '[vmware] pbm_default_policy '
                     '%r is not a storage policy of vCenter %s%s' % (
                         default, self.endpoint,
                         _listed('; its policies: ', names[:_SHOWN])),
                     'set pbm_default_policy to one of them')
        elif not matching:
            self.add('storage policy', FAIL, 'no datastore matching '
                     '[vmware] datastore_regex satisfies pbm_default_policy '
                     '%r' % default, 'tag a datastore for the policy, or '
                     'choose another policy')
        else:
            self.add('storage policy', PASS, 'pbm_default_policy %r is '
                     'satisfied by %s' % (default, ', '.join(sorted(
                         ds.name for ds in self.matching_datastores()
                         if ds.ref._moId in matching))))

    def check_networks(self):
        networks = self.inventory.networks
        if not networks:
            self.add('networks', WARN, 'cluster %s sees no network or port '
                     'group: instances cannot have NICs'
                     % self.inventory.cluster_name,
                     'add the cluster\'s hosts to a distributed switch or '
                     'give them port groups')
            return
        names = sorted(n.name for n in networks)
        more = len(names) - _SHOWN
        self.add('networks', PASS, '%d networks: %s%s' % (
            len(names), ', '.join(names[:_SHOWN]),
            ' and %d more' % more if more > 0 else ''))

    def check_image_cache(self):
        found = self.matching_datastores()
        if not found:
            self.add('image cache', SKIP, 'needs a matching datastore')
            return
        folder = image_cache.cache_folder_name(
            self.conf.image_cache.subdirectory_name,
            self.conf.vmware.cache_prefix, self.conf.my_ip,
            self.conf.image_cache.remove_unused_base_images)
        waiter = vtasks.TaskWaiter(
            self.session, update_wait=self.conf.vmware_ext.task_update_wait,
            timeout=self.conf.vmware_ext.task_timeout)
        try:
            browser = vbrowser.DatastoreBrowser(self.session, waiter)
            present, absent = [], []
            for ds in found:
                path = vfiles.DatastorePath(ds.name, folder)
                entry = browser.find(ds.ref, path)
                (present if entry is not None else absent).append(str(path))
        except Exception as exc:
            self.add('image cache', FAIL, 'cannot browse datastores for %s: '
                     '%s' % (folder, _first_line(exc)),
                     'check Datastore.Browse and that the datastores are '
                     'accessible')
            return
        finally:
            waiter.close()
        text = '; '.join(filter(None, [
            _listed('present: ', present),
            _listed('made at the first spawn: ', absent)]))
        self.add('image cache', PASS, text)


def _name(step):
    return step.__name__[len('check_'):].replace('_', ' ')


def _listed(prefix, names):
    return prefix + ', '.join(names) if names else ''


def _first_line(text):
    """The first line of an error: oslo.vmware appends the whole fault."""
    return str(text).strip().split('\n')[0]


def _reason(exc):
    return getattr(exc, 'kwargs', {}).get('reason') or str(exc)


def run(conf):
    """[Result] of every check of ``conf``, in order."""
    return Preflight(conf).run()
