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

"""The driver's one exception boundary: vSphere errors become Nova's.

``convert_exceptions`` decorates VCDriver; every public method then raises
what the compute manager expects, in this order (first match wins):

=============================================  ===============================
raised below the facade                        what Nova gets
=============================================  ===============================
the instance's VM gone (InstanceNotFound, or   in WHEN_GONE's methods, their
ManagedObjectNotFound on a VirtualMachine)     answer (``destroy`` succeeds)
NotImplementedError, any Nova exception        the same exception, unchanged
the instance's VM gone (ManagedObjectNotFound  InstanceNotFound
on a VirtualMachine)
vCenter unreachable or the session lost        HypervisorUnavailable
(CONNECTION_ERRORS, also as a cause)
any other vSphere error in a step marked       that failure, e.g. destroy's
``fails_as(failure)``                          power off: InstancePowerOff-
                                               Failure (Nova keeps the ports)
any other vSphere error in a method of         that method's failure, e.g.
METHOD_FAILURES                                InstancePowerOnFailure
any other vSphere error (oslo.vmware's         NovaException
VMwareDriverException family)
anything else (a bug)                          unchanged
=============================================  ===============================

Messages name the driver method, its object (instance or node) and the
fault; the original exception stays the ``__cause__``. Messages never carry
the vCenter password or anything shaped like a credential.
"""

import contextlib
import functools
import http.client
import inspect
import socket

from nova import exception
from oslo_log import log as logging
from oslo_utils import strutils
from oslo_vmware import exceptions as vexc
from pyVmomi import vim
import requests

from nova_vmware_ext import conf as vmware_conf

LOG = logging.getLogger(__name__)
CONF = vmware_conf.CONF

# vCenter cannot be reached or no longer accepts us.
CONNECTION_ERRORS = (
    vexc.VimConnectionException,     # our session: unreachable, TLS, lost
    vexc.NotAuthenticatedException,  # rejected even after a new login
    requests.ConnectionError,        # datastore HTTP and NFC transfers
    requests.Timeout,
    ConnectionError,                 # refused, reset, aborted, broken pipe
    TimeoutError,                    # socket.timeout
    socket.gaierror,                 # the vCenter name does not resolve
    http.client.HTTPException,       # a reply cut short
)

# Everything the vSphere layers raise (oslo.vmware's family, which
# vsphere/faults.py translates every vmodl fault into).
VSPHERE_ERRORS = (vexc.VMwareDriverException,) + CONNECTION_ERRORS

# A vSphere error in these methods is a failure of the method's own
# operation, as Nova names it.
METHOD_FAILURES = {
    'spawn': exception.InstanceDeployFailure,
    'power_on': exception.InstancePowerOnFailure,
    'resume_state_on_host_boot': exception.InstancePowerOnFailure,
    'power_off': exception.InstancePowerOffFailure,
    'reboot': exception.InstanceRebootFailure,
    'suspend': exception.InstanceSuspendFailure,
    'resume': exception.InstanceResumeFailure,
    'rescue': exception.InstanceRescueFailure,
    'unrescue': exception.InstanceUnRescueFailure,
    'attach_interface': exception.InterfaceAttachFailed,
    'detach_interface': exception.InterfaceDetachFailed,
}

# What these methods return when the instance's VM is gone: the compute
# manager deletes an instance only once destroy succeeded.
WHEN_GONE = {'destroy': None, 'instance_exists': False}

_PASS_THROUGH = (NotImplementedError, exception.NovaException)
_MAX_CAUSES = 8


@contextlib.contextmanager
def fails_as(failure):
    """Mark a step of an operation: a vSphere error inside it is
    ``failure`` (a Nova exception class taking ``reason``) at the boundary."""
    try:
        yield
    except VSPHERE_ERRORS as exc:
        exc.nova_failure = failure
        raise


def convert_exceptions(cls):
    """Class decorator: every public method of ``cls`` goes through the
    table above. Signatures are kept (Nova checks them against
    ComputeDriver)."""
    for name, member in list(vars(cls).items()):
        if not name.startswith('_') and inspect.isfunction(member):
            setattr(cls, name, _guarded(member))
    return cls


def _guarded(method):
    signature = inspect.signature(method)

    @functools.wraps(method)
    def guarded(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            call = _Call(method.__name__, signature, args, kwargs)
            if call.method in WHEN_GONE and _instance_gone(call, exc):
                LOG.info('%s: the VM of %s is gone (%s)', call.method,
                         call.subject, _describe(exc))
                return WHEN_GONE[call.method]
            converted = convert(call, exc)
            if converted is exc:
                raise
            raise converted from exc

    # getfullargspec (Nova's signature check) does not follow __wrapped__.
    guarded.__signature__ = signature
    return guarded


class _Call(object):
    """One driver call: its method name and what it was about."""

    def __init__(self, method, signature, args, kwargs):
        self.method = method
        try:
            self.arguments = signature.bind(*args, **kwargs).arguments
        except TypeError:
            self.arguments = {}

    @property
    def instance_uuid(self):
        instance = self.arguments.get('instance')
        return getattr(instance, 'uuid', None)

    @property
    def subject(self):
        if self.instance_uuid:
            return 'instance %s' % self.instance_uuid
        if self.arguments.get('nodename'):
            return 'node %s' % self.arguments['nodename']
        return 'vCenter %s' % _vcenter()


def convert(call, exc):
    """What ``call`` raises instead of ``exc`` (``exc`` itself when it
    passes unchanged)."""
    if isinstance(exc, _PASS_THROUGH) or not isinstance(exc, VSPHERE_ERRORS):
        return exc
    reason = '%s of %s failed: %s' % (call.method, call.subject,
                                      _describe(exc))
    if call.instance_uuid and _vm_gone(exc):
        return exception.InstanceNotFound(
            message='Instance %s could not be found: %s' % (
                call.instance_uuid, reason),
            instance_id=call.instance_uuid)
    if _is_connection_error(exc):
        return exception.HypervisorUnavailable(
            message='vCenter %s is unavailable: %s' % (_vcenter(), reason),
            host=CONF.vmware.host_ip)
    failure = (getattr(exc, 'nova_failure', None)
               or METHOD_FAILURES.get(call.method))
    if failure is not None:
        if '%(reason)s' in failure.msg_fmt:
            return failure(reason=reason)
        # Nova formats some failures (interfaces) from an instance UUID
        # only: the whole reason is their message.
        return failure(message=reason)
    return exception.NovaException(message=reason)


def _instance_gone(call, exc):
    return isinstance(exc, exception.InstanceNotFound) or bool(
        call.instance_uuid and _vm_gone(exc))


def _vm_gone(exc):
    """ManagedObjectNotFound naming a VirtualMachine."""
    if not isinstance(exc, vexc.ManagedObjectNotFoundException):
        return False
    obj = getattr(getattr(exc, 'fault', None), 'obj', None)
    return isinstance(obj, vim.VirtualMachine)


def _causes(exc):
    """``exc`` and what it was raised from, nearest first."""
    seen = []
    while exc is not None and len(seen) < _MAX_CAUSES and not any(
            exc is known for known in seen):
        seen.append(exc)
        yield exc
        exc = exc.__cause__ or getattr(exc, 'cause', None)


def _is_connection_error(exc):
    return any(isinstance(e, CONNECTION_ERRORS) for e in _causes(exc))


def _describe(exc):
    """The fault's name and message, without credentials."""
    if isinstance(exc, vexc.VMwareDriverException):
        # str() would append the whole pyvmomi fault object.
        text = str(exc.msg)
    else:
        text = str(exc)
    name = (getattr(exc, 'fault_name', None)
            or ','.join(getattr(exc, 'fault_list', None) or ())
            or type(exc).__name__)
    if name not in text:
        text = '%s: %s' % (name, text) if text else name
    return _scrub(text)


def _scrub(text):
    text = strutils.mask_password(text)
    password = CONF.vmware.host_password
    if password:
        text = text.replace(password, '***')
    return text


def _vcenter():
    return '%s:%s' % (CONF.vmware.host_ip, CONF.vmware.host_port)
