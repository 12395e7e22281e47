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

"""Fault injection into vcsim (tools/vcsim/fault_inject.go) and its server
side call counts, seen from pyvmomi."""

import collections
import http.client
import time
import xml.etree.ElementTree as ElementTree

from pyVmomi import vim
from pyVmomi import vmodl
import requests
import testtools

from tests import vcsim

PC = vmodl.query.PropertyCollector


def _soap_method(request):
    """The method of a serialized SOAP request: the Body's first child."""
    envelope = ElementTree.fromstring(request)
    for child in envelope:
        if child.tag.endswith('}Body'):
            return child[0].tag.rpartition('}')[2]
    raise AssertionError('no SOAP Body in %r' % request)


class VcsimFaultsTest(vcsim.VcsimClassMixin, testtools.TestCase):

    VCSIM_SHAPE = dict(hosts=1, vms=2, datastores=1, portgroups=0)

    def setUp(self):
        super().setUp()
        self.fx = self.vcsim
        self.si = self.fx.connect()
        self.fx.clear_faults()
        self.addCleanup(self.fx.clear_faults)
        vms = vcsim.query(self.si, vim.VirtualMachine,
                          ['name', 'runtime.powerState'])
        refs = {moid: vim.VirtualMachine(moid, self.si._stub)
                for moid in vms}
        self.vm, self.other_vm = [refs[m] for m in sorted(vms)]

    # Helpers.

    def power_state(self, vm):
        pc = self.si.content.propertyCollector
        spec = PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=vm)],
            propSet=[PC.PropertySpec(type=vim.VirtualMachine,
                                     pathSet=['runtime.powerState'])])
        return pc.RetrieveContents([spec])[0].propSet[0].val

    def task_info(self, task):
        pc = self.si.content.propertyCollector
        spec = PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=task)],
            propSet=[PC.PropertySpec(type=vim.Task, pathSet=['info'])])
        return pc.RetrieveContents([spec])[0].propSet[0].val

    def wait_for_task(self, task, timeout=30):
        """The info of ``task`` once it has ended, waiting on a property
        filter (WaitForUpdatesEx), not polling."""
        pc = self.si.content.propertyCollector
        spec = PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=task)],
            propSet=[PC.PropertySpec(type=vim.Task,
                                     pathSet=['info.state'])])
        prop_filter = pc.CreateFilter(spec, partialUpdates=False)
        try:
            version = ''
            deadline = time.monotonic() + timeout
            while True:
                info = self.task_info(task)
                if info.state in ('success', 'error'):
                    return info
                self.assertLess(time.monotonic(), deadline,
                                'task %s still %s' % (task, info.state))
                update = pc.WaitForUpdatesEx(
                    version, PC.WaitOptions(maxWaitSeconds=5))
                if update is not None:
                    version = update.version
        finally:
            prop_filter.Destroy()

    def assert_no_rules(self):
        self.assertEqual([], self.fx.faults())

    # Faults.

    def test_fault_is_raised_count_times_then_the_call_works(self):
        rule = self.fx.inject('CurrentTime', fault='TaskInProgress', count=2,
                              message='busy, try later')
        self.assertEqual(2, rule['remaining'])
        for _ in range(2):
            e = self.assertRaises(vim.fault.TaskInProgress,
                                  self.si.CurrentTime)
            self.assertEqual('busy, try later', e.msg)
        self.assert_no_rules()
        self.assertIsNotNone(self.si.CurrentTime())

    def test_fault_types_deserialize_with_their_fields(self):
        vm = self.vm
        cases = [
            ('InvalidPowerState', None, vim.fault.InvalidPowerState,
             {'existingState': self.power_state(vm)}),
            ('vim.fault.FileNotFound', {'file': '[LocalDS_0] x/x.vmdk'},
             vim.fault.FileNotFound, {'file': '[LocalDS_0] x/x.vmdk'}),
            ('NoDiskSpace', {'datastore': 'LocalDS_0'},
             vim.fault.NoDiskSpace, {'datastore': 'LocalDS_0'}),
            ('InvalidVmState', None, vim.fault.InvalidVmState, {'vm': vm}),
            ('vmodl.fault.SystemError', {'reason': 'disk on fire'},
             vmodl.fault.SystemError, {'reason': 'disk on fire'}),
            ('ManagedObjectNotFound', None, vmodl.fault.ManagedObjectNotFound,
             {'obj': vm}),
            (vim.fault.DuplicateName, {'name': 'x'}, vim.fault.DuplicateName,
             {'name': 'x', 'object': vm}),
        ]
        for fault, fields, expected, attrs in cases:
            self.fx.inject('PowerOnVM_Task', fault=fault, moid=vm,
                           fault_fields=fields)
            e = self.assertRaises(expected, vm.PowerOnVM_Task)
            self.assertIs(expected, type(e))
            for name, value in attrs.items():
                self.assertEqual(value, getattr(e, name), (fault, name))
        # TaskInProgress names a task, as pyvmomi insists on.
        self.fx.inject('PowerOnVM_Task', fault='TaskInProgress', moid=vm)
        e = self.assertRaises(vim.fault.TaskInProgress, vm.PowerOnVM_Task)
        self.assertIsInstance(e.task, vim.Task)
        self.assert_no_rules()

    def test_not_authenticated(self):
        self.fx.inject('RetrievePropertiesEx', fault='NotAuthenticated')
        e = self.assertRaises(vim.fault.NotAuthenticated, vcsim.query,
                              self.si, vim.HostSystem, ['name'])
        self.assertEqual('System.View', e.privilegeId)
        self.assertIsInstance(e.object, vmodl.query.PropertyCollector)
        self.assertEqual(1, len(vcsim.query(self.si, vim.HostSystem,
                                            ['name'])))

    def test_fault_with_delay(self):
        self.fx.inject('CurrentTime', fault='SystemError', delay_ms=300)
        start = time.monotonic()
        self.assertRaises(vmodl.fault.SystemError, self.si.CurrentTime)
        self.assertGreaterEqual(time.monotonic() - start, 0.3)

    def test_moid_filter_only_hits_that_object(self):
        self.fx.inject('PowerOnVM_Task', fault='TaskInProgress', moid=self.vm)
        # Both VMs are powered on: a real PowerOn fails in its task,
        # changing nothing.
        info = self.wait_for_task(self.other_vm.PowerOnVM_Task())
        self.assertIsInstance(info.error, vim.fault.InvalidPowerState)
        [rule] = self.fx.faults()
        self.assertEqual((1, 0), (rule['remaining'], rule['hits']))

        self.assertRaises(vim.fault.TaskInProgress, self.vm.PowerOnVM_Task)
        self.assert_no_rules()

    # Delays and dropped connections.

    def test_delay(self):
        self.fx.inject('CurrentTime', action='delay', delay_ms=400)
        start = time.monotonic()
        self.assertIsNotNone(self.si.CurrentTime())
        self.assertGreaterEqual(time.monotonic() - start, 0.4)
        self.assert_no_rules()

    def test_drop_then_the_next_call_works(self):
        self.fx.inject('CurrentTime', action='drop', count=2)
        for _ in range(2):
            self.assertRaises(
                (http.client.RemoteDisconnected, ConnectionResetError),
                self.si.CurrentTime)
        self.assert_no_rules()
        # Same session, new connection.
        self.assertIsNotNone(self.si.CurrentTime())

    def test_reset(self):
        self.fx.inject('CurrentTime', action='reset')
        self.assertRaises(ConnectionResetError, self.si.CurrentTime)
        self.assertIsNotNone(self.si.CurrentTime())

    def test_star_rule_makes_vcenter_unreachable_until_cleared(self):
        self.fx.inject('*', action='drop', count=None)
        self.assertRaises(ConnectionResetError, self.si.CurrentTime)
        self.assertRaises(ConnectionResetError, vcsim.query,
                          self.si, vim.HostSystem, ['name'])
        [rule] = self.fx.faults()
        self.assertEqual((-1, 2), (rule['remaining'], rule['hits']))

        self.assertEqual(1, self.fx.clear_faults())
        self.assertIsNotNone(self.si.CurrentTime())

    def test_rules_match_in_order_and_can_be_removed(self):
        first = self.fx.inject('CurrentTime', fault='NotAuthenticated',
                               count=None)
        self.fx.inject('*', fault='SystemError')
        self.assertRaises(vim.fault.NotAuthenticated, self.si.CurrentTime)
        self.fx.remove_fault(first['id'])
        self.assertRaises(vmodl.fault.SystemError, self.si.CurrentTime)
        self.assert_no_rules()
        self.assertIsNotNone(self.si.CurrentTime())

    # Failing tasks.

    def test_task_error(self):
        vm = self.vm
        self.assertEqual('poweredOn', self.power_state(vm))
        self.fx.inject('PowerOffVM_Task', action='task_error',
                       fault='TaskInProgress', message='vm is busy')
        task = vm.PowerOffVM_Task()
        info = self.wait_for_task(task)
        self.assertEqual('error', info.state)
        self.assertIsInstance(info.error, vim.fault.TaskInProgress)
        self.assertEqual('vm is busy', info.error.msg)
        self.assertEqual(vm, info.entity)
        self.assertEqual('VirtualMachine.powerOff', info.descriptionId)
        self.assertEqual('poweredOn', self.power_state(vm))
        self.assert_no_rules()

        # Used up: the next call is performed.
        self.assertEqual('success',
                         self.wait_for_task(vm.PowerOffVM_Task()).state)
        self.assertEqual('poweredOff', self.power_state(vm))
        self.assertEqual('success',
                         self.wait_for_task(vm.PowerOnVM_Task()).state)

    def test_slow_task_error(self):
        self.fx.inject('PowerOffVM_Task', action='task_error',
                       fault='NoDiskSpace', delay_ms=500)
        start = time.monotonic()
        task = self.vm.PowerOffVM_Task()
        self.assertEqual('running', self.task_info(task).state)
        info = self.wait_for_task(task)
        self.assertGreaterEqual(time.monotonic() - start, 0.5)
        self.assertEqual('error', info.state)
        self.assertIsInstance(info.error, vim.fault.NoDiskSpace)
        self.assertEqual('poweredOn', self.power_state(self.vm))

    def test_task_error_needs_a_session(self):
        other = self.fx.connect()
        other.content.sessionManager.Logout()
        self.fx.inject('PowerOffVM_Task', action='task_error',
                       fault='TaskInProgress')
        stale_vm = vim.VirtualMachine(self.vm._moId, other._stub)
        self.assertRaises(vim.fault.NotAuthenticated,
                          stale_vm.PowerOffVM_Task)
        self.assertEqual('poweredOn', self.power_state(self.vm))
        self.assert_no_rules()  # used up all the same

    # The control endpoint.

    def test_bad_rules_are_refused(self):
        bad = [
            dict(method='PowerOnVm_Task', fault='SystemError'),
            dict(method='CurrentTime', fault='NoSuchFault'),
            dict(method='CurrentTime', fault='VirtualMachine'),
            dict(method='CurrentTime'),
            dict(method='CurrentTime', action='task_error',
                 fault='SystemError'),
            dict(method='CurrentTime', action='delay'),
            dict(method='CurrentTime', action='explode'),
            dict(method='CurrentTime', fault='FileNotFound',
                 fault_fields={'nonsense': 1}),
            dict(method='CurrentTime', fault='SystemError', count=0),
        ]
        for rule in bad:
            e = self.assertRaises(vcsim.VcsimError, self.fx.inject, **rule)
            self.assertIn('HTTP 400', str(e))
        self.assert_no_rules()

    def test_control_endpoint_needs_the_token(self):
        url = self.fx.control_url
        rule = {'method': 'CurrentTime', 'action': 'drop'}
        for headers, status in [
                ({}, 401),
                ({'Authorization': 'Bearer wrong'}, 403),
                ({'Authorization': 'Basic ' + self.fx.control_token}, 403),
                ({'Cookie': vcsim.session_cookie(self.si)}, 401)]:
            for method, path, body in [('GET', 'faults', None),
                                       ('POST', 'faults', rule),
                                       ('DELETE', 'faults', None),
                                       ('GET', 'calls', None),
                                       ('DELETE', 'calls', None)]:
                resp = requests.request(
                    method, '%s/%s' % (url, path), json=body,
                    headers=headers, verify=self.fx.ca_file, timeout=30)
                self.assertEqual(status, resp.status_code,
                                 (headers, method, path))
        self.assert_no_rules()
        self.assertIsNotNone(self.si.CurrentTime())

    # Call counts.

    def test_server_counts_match_the_client(self):
        sent = collections.Counter()

        def count(request):
            sent[_soap_method(request)] += 1
            return request

        self.fx.reset_server_calls()
        with self.si._stub.requestModifier(count):
            for _ in range(3):
                self.si.CurrentTime()
            vcsim.query(self.si, vim.VirtualMachine, ['name'])
            self.fx.inject('CurrentTime', fault='SystemError')
            self.assertRaises(vmodl.fault.SystemError, self.si.CurrentTime)
            self.fx.inject('RetrieveServiceContent', action='drop')
            self.assertRaises(ConnectionResetError,
                              self.si.RetrieveContent)

        self.assertEqual(4, sent['CurrentTime'])
        self.assertEqual(1, sent['RetrievePropertiesEx'])
        self.assertEqual(dict(sent), self.fx.server_calls())
        self.assertEqual(dict(sent), self.fx.reset_server_calls())
        self.assertEqual({}, self.fx.server_calls())

    def suds_request(self, method, this_type, this_value):
        """POST a call as oslo.vmware's suds client sends it: an
        operationID SOAP header before the Body. (status, body)"""
        envelope = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<SOAP-ENV:Envelope xmlns:ns0="urn:vim25"'
            ' xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
            '<SOAP-ENV:Header><operationID>op-1234</operationID>'
            '</SOAP-ENV:Header><SOAP-ENV:Body><ns0:%s>'
            '<ns0:_this type="%s">%s</ns0:_this></ns0:%s>'
            '</SOAP-ENV:Body></SOAP-ENV:Envelope>'
            % (method, this_type, this_value, method))
        response = requests.post(
            self.fx.url, data=envelope.encode(),
            headers={'Content-Type': 'text/xml; charset=utf-8',
                     'SOAPAction': 'urn:vim25/7.0',
                     'Cookie': vcsim.session_cookie(self.si)},
            verify=self.fx.ca_file, timeout=30)
        return response.status_code, response.text

    def test_soap_header_is_not_the_method(self):
        # The method is the Body's first child: vcsim counted suds calls as
        # 'operationID' and its rules never matched them.
        self.fx.reset_server_calls()
        status, body = self.suds_request('CurrentTime', 'ServiceInstance',
                                         'ServiceInstance')
        self.assertEqual(200, status, body)
        self.assertIn('CurrentTimeResponse', body)
        self.assertEqual({'CurrentTime': 1}, self.fx.server_calls())

        self.fx.inject('CurrentTime', fault='TaskInProgress',
                       message='busy for suds')
        status, body = self.suds_request('CurrentTime', 'ServiceInstance',
                                         'ServiceInstance')
        self.assertEqual(500, status)
        self.assertIn('TaskInProgressFault', body)
        self.assertIn('busy for suds', body)
        self.assert_no_rules()

        # The moid filter sees the Body's _this too.
        self.fx.inject('PowerOffVM_Task', action='task_error',
                       fault='InvalidPowerState', moid=self.vm)
        status, body = self.suds_request('PowerOffVM_Task', 'VirtualMachine',
                                         self.vm._moId)
        self.assertEqual(200, status, body)
        self.assert_no_rules()
        self.assertEqual(3, sum(self.fx.server_calls().values()))
