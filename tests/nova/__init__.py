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

"""Nova's own test harnesses run against our driver and a live vcsim.

Nova chooses its concurrency mode once per process, at import, before
anything imports eventlet, urllib3 or ssl: eventlet monkey patching by
default, native threads with ``OS_NOVA_DISABLE_EVENTLET_PATCHING=True``
(Nova's threading test mode). This package makes that choice first, as
``nova.tests.unit`` and ``nova.tests.functional`` do, and so must run in
processes of its own: ``stestr --test-path ./tests/nova run`` (the default
discovery of ``tests/`` leaves it out; see ``tests/__init__.py``).
"""

import logging

from nova import monkey_patch


def _not_the_eventlet_mode_notice(record):
    # Nova warns, once per process, that its eventlet mode is deprecated:
    # the eventlet runs choose that mode on purpose. Nothing else is hidden.
    return not record.getMessage().startswith(
        'Eventlet based concurrency mode is deprecated')


_patch_log = logging.getLogger('nova.monkey_patch')
_patch_log.addFilter(_not_the_eventlet_mode_notice)
monkey_patch.patch()
_patch_log.removeFilter(_not_the_eventlet_mode_notice)

# A test process never shuts down for real, but Nova's ServiceFixture only
# disables shutdown_all_executors() while the service runs: a compute whose
# stop (cleanup_host, then shutdown_all_executors) finishes in the
# background after that fixture's cleanup marks the process's thread pool
# factory as shut down for good, and every later test of that worker fails
# in Nova's _cleanup_executors. Seen under load in native-threads mode.
from nova import thread_pool_factory  # noqa: E402

thread_pool_factory.shutdown_all_executors = lambda: None

# nova.test sets oslo.log up when first imported (logging.setup(CONF,
# 'nova')): a root handler printing every INFO line to stdout for the whole
# process. Each test captures its own logs (Nova's StandardLogging); what
# runs outside that capture (Nova's executor cleanup, which runs after
# StandardLogging's, class fixtures) would print hundreds of lines among the
# results. In its place, warnings only, on stderr. (Root must keep a
# handler: oslotest's logging.basicConfig() would add one at DEBUG.)
from nova import test as _nova_test  # noqa: E402,F401

_warnings_only = logging.StreamHandler()
_warnings_only.setLevel(logging.WARNING)
_warnings_only.setFormatter(
    logging.Formatter('%(levelname)s [%(name)s] %(message)s'))
logging.getLogger().handlers[:] = [_warnings_only]
