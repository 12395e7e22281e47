"""Run the test suites, each in its own stestr run, into one result.

1. ``tests/`` (unit and functional);
2. ``tests/nova`` with eventlet (Nova's default test mode);
3. ``tests/nova`` with native threads (``OS_NOVA_DISABLE_EVENTLET_PATCHING=
   True``, how Nova 34's nova-compute runs by default).

Nova picks its concurrency mode once per process, so 2 and 3 cannot share
a run with each other or with 1. Arguments are stestr filters (regexes on
test ids), as for ``stestr run``; a suite none of whose tests match is
skipped. Runs after the first are combined into it, so ``stestr last``
(and tools/test_summary.py) report them all, each test id once (the two
tests/nova runs share their ids); the first failing suite ends the command
with its status, so a failure is never hidden by a later pass.
"""

import os
import re
import subprocess
import sys
import time

MODE = 'OS_NOVA_DISABLE_EVENTLET_PATCHING'
# stestr run options followed by a value.
VALUE_OPTIONS = ('--concurrency', '-c', '--worker-file', '--group-regex',
                 '-g', '--exclude-list', '-e', '--include-list', '-i',
                 '--exclude-regex', '-E')
SUITES = (
    ('unit and functional', './tests', {}),
    ('tests/nova, eventlet', './tests/nova', {MODE: 'False'}),
    ('tests/nova, native threads', './tests/nova', {MODE: 'True'}),
)


def stestr(test_path, args, env, **kwargs):
    return subprocess.run(
        [sys.executable, '-m', 'stestr', '--test-path', test_path] + args,
        env=env, **kwargs)


def selected(test_path, filters, env):
    """How many tests of the suite the filters select (None: all)."""
    listing = stestr(test_path, ['list'], env, stdout=subprocess.PIPE,
                     text=True)
    if listing.returncode:
        raise SystemExit('stestr could not list %s (exit %d)'
                         % (test_path, listing.returncode))
    ids = listing.stdout.split()
    if filters:
        ids = [i for i in ids if any(re.search(f, i) for f in filters)]
    return len(ids)


def split(argv):
    """(stestr run options, filters)."""
    options, filters = [], []
    args = iter(argv)
    for arg in args:
        if arg in VALUE_OPTIONS:
            options += [arg, next(args, '')]
        elif arg.startswith('-'):
            options.append(arg)
        else:
            filters.append(arg)
    return options, filters


def main(argv):
    options, filters = split(argv)
    if not os.path.isdir('.stestr'):
        # A fresh clone: `stestr list` needs the repository `run` makes.
        subprocess.run([sys.executable, '-m', 'stestr', 'init'], check=True,
                       stdout=subprocess.DEVNULL)
    ran = False
    for title, test_path, extra_env in SUITES:
        env = dict(os.environ, **extra_env)
        count = selected(test_path, filters, env)
        if not count:
            print('test_suites: %s: no test selected, skipped' % title)
            continue
        print('test_suites: %s: %d tests' % (title, count), flush=True)
        started = time.monotonic()
        combine = ['--combine'] if ran else []
        status = stestr(test_path, ['run'] + combine + options + filters,
                        env).returncode
        ran = True
        print('test_suites: %s: %s in %.0f s' % (
            title, 'failed' if status else 'passed',
            time.monotonic() - started), flush=True)
        if status:
            return status
    if not ran:
        print('test_suites: no test matches %s' % ' '.join(filters))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
