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

"""Check, or add with --fix, the Apache 2.0 header of our source files.

Python, shell (by suffix or a shell shebang) and Go files carry the
OpenStack license notice at the top (after a shebang); empty files are left
alone. flake8's hacking checks the Python ones too (H102, H103);
tests/unit/test_license_headers.py runs this check over the whole tree.
"""

import os
import sys

NOTICE = """\
Licensed under the Apache License, Version 2.0 (the "License"); you may
not use this file except in compliance with the License. You may obtain
a copy of the License at

     http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
License for the specific language governing permissions and limitations
under the License.
"""
SKIPPED_DIRS = {'.git', '.tox', '.venv', '.stestr', 'build', 'dist',
                '__pycache__', '.eggs'}
SHELLS = ('#!/bin/bash', '#!/bin/sh', '#!/usr/bin/env bash',
          '#!/usr/bin/env sh')


def comment(prefix):
    return ''.join((prefix + ' ' + line).rstrip() + '\n'
                   for line in NOTICE.splitlines())


def comment_prefix(path, text):
    """'#' or '//' for a source file of ours, else None."""
    if path.endswith(('.py', '.sh')):
        return '#'
    if path.endswith('.go'):
        return '//'
    first = text.split('\n', 1)[0]
    if first.startswith(SHELLS):
        return '#'
    return None


def source_files(top):
    for dirpath, dirnames, files in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS
                             and not d.endswith('.egg-info'))
        for name in sorted(files):
            yield os.path.join(dirpath, name)


def missing(top):
    """[(path, comment prefix)] of source files without the notice."""
    found = []
    for path in source_files(top):
        try:
            with open(path) as f:
                text = f.read()
        except (UnicodeDecodeError, OSError):
            continue
        prefix = comment_prefix(path, text)
        if prefix and text.strip() and comment(prefix) not in text:
            found.append((path, prefix))
    return found


def add_header(path, prefix):
    with open(path) as f:
        text = f.read()
    shebang = ''
    if text.startswith('#!'):
        shebang, _, text = text.partition('\n')
        shebang += '\n'
    with open(path, 'w') as f:
        f.write(shebang + comment(prefix) + '\n' + text)


def main(argv):
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    fix = '--fix' in argv
    found = missing(top)
    for path, prefix in found:
        if fix:
            add_header(path, prefix)
        print('%s %s' % ('added to' if fix else 'missing in',
                         os.path.relpath(path, top)))
    return 0 if fix or not found else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
