"""Nova's own test harnesses run against our driver and a live vcsim.

Nova chooses its concurrency mode once per process, at import, before
anything imports eventlet, urllib3 or ssl: eventlet monkey patching by
default, native threads with ``OS_NOVA_DISABLE_EVENTLET_PATCHING=True``
(Nova's threading test mode). This package makes that choice first, as
``nova.tests.unit`` and ``nova.tests.functional`` do, and so must run in
processes of its own: ``stestr --test-path ./tests/nova run`` (the default
discovery of ``tests/`` leaves it out; see ``tests/__init__.py``).
"""

from nova import monkey_patch

monkey_patch.patch()
