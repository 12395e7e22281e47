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

"""vmodl faults -> oslo_vmware exceptions, the classes operators know.

Every fault raised by a vCenter call or carried by a failed task goes through
``translate`` so the layers above catch one family of exceptions. The original
pyvmomi fault stays reachable as ``exc.cause`` and its class name in
``exc.fault_name``.
"""

from oslo_vmware import exceptions as vexc
from pyVmomi import vmodl


class TaskTimeout(vexc.VimException):
    msg_fmt = 'Timed out waiting for a vCenter task.'


class ApiTimeout(vexc.VimConnectionException):
    """vCenter did not answer one request within [vmware_ext] api_timeout.

    Not retried: the endpoint already had the whole timeout to answer.
    """


class InvalidPath(ValueError):
    """A datastore path that is malformed or escapes its datastore."""


def fault_name(fault):
    """Short vmodl name of a fault class or instance: 'FileNotFound'."""
    cls = fault if isinstance(fault, type) else type(fault)
    return cls.__name__.rsplit('.', 1)[-1]


def _exception_class(fault):
    """The most specific registered exception class for a fault.

    vmodl faults form a hierarchy (FileNotFound is a FileFault); walking the
    MRO maps a fault no one registered to its nearest known ancestor.
    """
    for cls in type(fault).__mro__:
        if not issubclass(cls, vmodl.MethodFault):
            break
        exc_class = vexc.get_fault_class(fault_name(cls))
        if exc_class:
            return exc_class
    return None


def describe(fault):
    """One line naming a fault and what vCenter said about it."""
    message = getattr(fault, 'msg', None) or ''
    if not message:
        for attr in ('faultMessage', 'localizedMessage'):
            value = getattr(fault, attr, None)
            if value:
                message = (value if isinstance(value, str)
                           else '; '.join(getattr(m, 'message', str(m))
                                          for m in value))
                break
    obj = getattr(fault, 'obj', None)
    if obj is not None and fault_name(fault) == 'ManagedObjectNotFound':
        message = message or '%s no longer exists' % obj._moId
    return '%s: %s' % (fault_name(fault), message) if message else (
        fault_name(fault))


def translate(fault, context=None):
    """Build the oslo_vmware exception for a pyvmomi fault.

    :param fault: a vmodl.MethodFault instance (as raised by pyvmomi or found
        in ``TaskInfo.error.fault``).
    :param context: optional text naming the call, e.g. 'PowerOnVM_Task on
        vm-42', put in front of the message.
    """
    text = describe(fault)
    if context:
        text = '%s failed: %s' % (context, text)
    exc_class = _exception_class(fault)
    if exc_class is None:
        exc = vexc.VimFaultException([fault_name(fault)], text, cause=fault)
    elif issubclass(exc_class, vexc.VimException):
        exc = exc_class(text, cause=fault)
    else:
        exc = exc_class(text)
    exc.fault_name = fault_name(fault)
    exc.fault = fault
    return exc


def is_fault(exc, name):
    """True if ``exc`` was translated from the vmodl fault ``name``."""
    fault = getattr(exc, 'fault', None)
    if fault is None:
        return False
    return any(fault_name(cls) == name for cls in type(fault).__mro__
               if issubclass(cls, vmodl.MethodFault))
