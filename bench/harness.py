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

"""What the benchmarks share: running one measuring test case outside a
test runner, with its class's vcsim started and stopped around it."""

import testtools


def run_case(case_class, method='test_measure'):
    """Run ``case_class(method)`` between its class set-up and tear-down;
    SystemExit naming the failure if it fails."""
    case_class.setUpClass()
    try:
        result = testtools.TestResult()
        case_class(method).run(result)
        if result.errors or result.failures:
            for _, err in result.errors + result.failures:
                print(err)
            raise SystemExit('benchmark failed')
    finally:
        case_class.tearDownClass()
