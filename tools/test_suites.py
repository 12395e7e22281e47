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

"""Run the test suites, each in its own stestr run and repository.

1. ``tests/`` (unit and functional);
2. ``tests/nova`` with eventlet (Nova's default test mode);
3. ``tests/nova`` with native threads (``OS_NOVA_DISABLE_EVENTLET_PATCHING=
   True``, how Nova 34's nova-compute runs by default).

Nova picks its concurrency mode once per process, so 2 and 3 cannot share
a run with each other or with 1. Arguments are stestr filters (regexes on
test ids), as for ``stestr run``; a suite none of whose tests match is
skipped. A filter starting with a literal ``tests.<package>`` tells which
suites it can match and in which folder: the others are not even listed,
and the suite runs discovery only there (``tests.unit.test_specs`` lists
and runs ``./tests/unit`` alone).

Suites 2 and 3 run the same test ids, so each suite keeps its results in
a repository of its own (see one with ``stestr --repo-url
.stestr/suites/<name> last``), listed in
``.stestr/suites/last.json`` for tools/test_summary.py, which counts every
suite's executions and sums them. The first failing suite ends the command
with its status, so a failure is never hidden by a later pass.
"""

import json
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
# (title, name of its repository, test path, environment, the packages
# its test path discovers)
SUITES = (
    ('unit and functional', 'unit-functional', './tests', {},
     ('tests.unit', 'tests.functional')),
    ('tests/nova, eventlet', 'nova-eventlet', './tests/nova',
     {MODE: 'False'}, ('tests.nova',)),
    ('tests/nova, native threads', 'nova-threads', './tests/nova',
     {MODE: 'True'}, ('tests.nova',)),
)
SUITES_DIR = os.path.join('.stestr', 'suites')
MANIFEST = os.path.join(SUITES_DIR, 'last.json')


def stestr(repo, test_path, args, env, **kwargs):
    return subprocess.run(
        [sys.executable, '-m', 'stestr', '--repo-url', repo,
         '--test-path', test_path] + args, env=env, **kwargs)


def init_repo(repo):
    """`stestr list` needs the repository `run` would make (stestr keeps
    it in ``<repo url>/.stestr``)."""
    if not os.path.isdir(os.path.join(repo, '.stestr')):
        os.makedirs(repo, exist_ok=True)
        subprocess.run([sys.executable, '-m', 'stestr', '--repo-url', repo,
                        'init'], check=True, stdout=subprocess.DEVNULL)


def record(suites):
    """The suites of this command, for tools/test_summary.py."""
    with open(MANIFEST + '.new', 'w') as f:
        json.dump([{'title': title, 'repo': repo} for title, repo in suites],
                  f, indent=1)
    os.replace(MANIFEST + '.new', MANIFEST)


def selected(repo, test_path, filters, env):
    """How many tests of the suite the filters select (None: all)."""
    listing = stestr(repo, test_path, ['list'], env, stdout=subprocess.PIPE,
                     text=True)
    if listing.returncode:
        raise SystemExit('stestr could not list %s (exit %d)'
                         % (test_path, listing.returncode))
    ids = listing.stdout.split()
    if filters:
        ids = [i for i in ids if any(re.search(f, i) for f in filters)]
    return len(ids)


def literal_prefix(regex):
    """What every test id ``regex`` matches starts with, when it starts
    with ``tests.`` (every test id does); else ''.

    A '.' counts as itself (test ids hold no other character there); a
    character made optional by a quantifier ends the prefix; an
    alternation outside parentheses makes it unknown.
    """
    if _top_level_alternation(regex):
        return ''
    match = re.match(r'\^?((?:\w|\\\.|\.)*)(.?)', regex)
    prefix = match.group(1).replace('\\.', '.')
    if match.group(2) in ('?', '*', '{'):
        prefix = prefix[:-1]
    return prefix if prefix.startswith('tests.') else ''


def _top_level_alternation(regex):
    depth, in_class, chars = 0, False, iter(regex)
    for char in chars:
        if char == '\\':
            next(chars, None)
        elif in_class:
            in_class = char != ']'
        elif char == '[':
            in_class = True
        elif char in '()':
            depth += 1 if char == '(' else -1
        elif char == '|' and depth <= 0:
            return True
    return False


def where(packages, filters):
    """The packages of a suite the filters can match (all of them
    without filters, or when a filter could match anywhere).
    """
    if not filters:
        return packages
    found = []
    for regex in filters:
        prefix = literal_prefix(regex)
        if not prefix:
            return packages
        found += [p for p in packages if p not in found and (
            (p + '.').startswith(prefix) or prefix.startswith(p + '.'))]
    return tuple(p for p in packages if p in found)


def narrowed(test_path, packages, filters):
    """(test path, packages) a run of the filters needs: the folder of
    the one package they can match, when the suite holds several.
    """
    matching = where(packages, filters)
    if len(matching) == 1 and len(packages) > 1:
        return './' + matching[0].replace('.', '/'), matching
    return test_path, matching


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
    ran = []
    # The default repository first: stestr refuses to make one in a
    # folder that is not empty.
    init_repo('.')
    os.makedirs(SUITES_DIR, exist_ok=True)
    record(ran)
    for title, name, test_path, extra_env, packages in SUITES:
        test_path, packages = narrowed(test_path, packages, filters)
        if not packages:
            print('test_suites: %s: no test selected, skipped' % title)
            continue
        env = dict(os.environ, **extra_env)
        repo = os.path.join(SUITES_DIR, name)
        init_repo(repo)
        count = selected(repo, test_path, filters, env)
        if not count:
            print('test_suites: %s: no test selected, skipped' % title)
            continue
        print('test_suites: %s: %d tests' % (title, count), flush=True)
        started = time.monotonic()
        status = stestr(repo, test_path, ['run'] + options + filters,
                        env).returncode
        ran.append((title, repo))
        record(ran)
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
