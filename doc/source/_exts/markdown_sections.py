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

"""Sections of a Markdown file, by heading (no Sphinx here: the unit tests
use it to check that every section the docs render exists)."""

import re

_HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*#*\s*$')


def markdown_section(text, title, with_subsections=False):
    """The body of the section of ``text`` headed ``title``.

    It ends at the next heading (of any level, or only of the same or a
    higher level ``with_subsections``). Lines inside fenced or indented
    code never count as headings.
    """
    lines = text.splitlines()
    start = level = None
    fenced = False
    for number, line in enumerate(lines):
        if line.lstrip().startswith('```'):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match is None:
            continue
        if start is None:
            if match.group(2) == title:
                start, level = number + 1, len(match.group(1))
        elif not with_subsections or len(match.group(1)) <= level:
            return '\n'.join(lines[start:number]).strip('\n') + '\n'
    if start is None:
        raise ValueError('no section headed %r' % title)
    return '\n'.join(lines[start:]).strip('\n') + '\n'
