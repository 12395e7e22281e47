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

"""nova-vmware-ext-check: is this nova.conf ready for nova-compute?

    nova-vmware-ext-check --config-file /etc/nova/nova.conf [--json]

Prints one line per check (PASS, WARN, FAIL or SKIP, and the fix to apply)
or, with --json, the same as one JSON document. Exits 1 when any check
fails, 0 otherwise (warnings included), 2 when the configuration cannot be
read. Reads vCenter, changes nothing.
"""

import json
import sys

from nova.conf import imagecache
from nova.conf import netconf
from nova.conf import workarounds
from oslo_config import cfg

from nova_vmware_ext.compute import preflight
from nova_vmware_ext import conf as vmware_conf

_CLI_OPTS = [
    cfg.BoolOpt('json', default=False,
                help='Print the results as JSON instead of text lines.'),
]


def load_conf(argv):
    """A ConfigOpts of its own with the options the checks read, parsed
    from ``argv`` (``--config-file``, ``--config-dir``) as nova does."""
    conf = cfg.ConfigOpts()
    conf.register_cli_opts(_CLI_OPTS)
    netconf.register_opts(conf)
    imagecache.register_opts(conf)
    workarounds.register_opts(conf)
    vmware_conf.register_opts(conf)
    conf(argv, project='nova', prog='nova-vmware-ext-check',
         description=__doc__.split('\n\n')[0])
    for group, opts in vmware_conf.list_opts():
        for opt in opts:
            conf[group.name][opt.name]  # a bad value raises now, not later
    return conf


def report(results, as_json, out):
    failed = sum(r.status == preflight.FAIL for r in results)
    if as_json:
        json.dump({'checks': [
            {'check': r.check, 'status': r.status, 'message': r.message,
             'fix': r.fix} for r in results],
            'failed': failed,
            'warnings': sum(r.status == preflight.WARN for r in results)},
            out, indent=2)
        out.write('\n')
    else:
        for result in results:
            out.write(result.line() + '\n')
    return 1 if failed else 0


def main(argv=None, out=None):
    argv = sys.argv[1:] if argv is None else argv
    out = out or sys.stdout
    try:
        conf = load_conf(argv)
    except cfg.Error as exc:  # unreadable file, bad value: no traceback
        sys.stderr.write('nova-vmware-ext-check: %s\n' % exc)
        return 2
    return report(preflight.run(conf), conf.json, out)


if __name__ == '__main__':
    sys.exit(main())
