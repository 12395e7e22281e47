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

"""The docs render README's sections: each one they name exists.

The docs build (tox -e docs, in tools/run-tests) fails on a missing section
too; this test says so in a filtered unit run, without Sphinx.
"""

import glob
import importlib.util
import os
import re

import testtools

from tests.unit.test_test_summary import TOP

SOURCE = os.path.join(TOP, 'doc', 'source')
_DIRECTIVE = re.compile(
    r'^\.\. markdown-section:: (?P<path>\S+)\n'
    r'(?:   :section: (?P<section>.+)\n)?', re.MULTILINE)


def _sections_module():
    spec = importlib.util.spec_from_file_location(
        'markdown_sections', os.path.join(SOURCE, '_exts',
                                          'markdown_sections.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sections = _sections_module()

TEXT = """\
# Title

Intro.

## First

One.

    # an indented line is code, not a heading

```
## fenced: not a heading either
```

### Sub

Two.

## Second

Three.
"""


def _directives():
    """[(rst file, markdown path, section or None)] of the docs."""
    found = []
    for page in glob.glob(os.path.join(SOURCE, '**', '*.rst'),
                          recursive=True):
        with open(page) as f:
            for match in _DIRECTIVE.finditer(f.read()):
                found.append((os.path.relpath(page, TOP),
                              match.group('path'), match.group('section')))
    return found


class MarkdownSectionTest(testtools.TestCase):

    def test_a_section_ends_at_the_next_heading(self):
        body = sections.markdown_section(TEXT, 'First')
        self.assertTrue(body.startswith('One.\n'))
        self.assertIn('fenced: not a heading', body)
        self.assertNotIn('Two.', body)

    def test_with_subsections_it_ends_at_a_heading_of_its_level(self):
        body = sections.markdown_section(TEXT, 'First', True)
        self.assertIn('### Sub\n\nTwo.', body)
        self.assertNotIn('Three.', body)

    def test_the_last_section_runs_to_the_end(self):
        self.assertEqual('Three.\n',
                         sections.markdown_section(TEXT, 'Second'))

    def test_a_missing_section_is_an_error_naming_it(self):
        error = self.assertRaises(ValueError, sections.markdown_section,
                                  TEXT, 'Third')
        self.assertIn("'Third'", str(error))


class DocsRenderExistingSectionsTest(testtools.TestCase):

    def test_every_section_the_docs_name_exists(self):
        found = _directives()
        self.assertIn(('doc/source/migrating.rst', '/../../README.md',
                       'ComputeDriver operations, beside the in-tree '
                       'driver'), found)
        for page, path, section in found:
            markdown = os.path.normpath(os.path.join(SOURCE,
                                                     path.lstrip('/')))
            with open(markdown) as f:
                text = f.read()
            if section is not None:
                try:
                    sections.markdown_section(text, section)
                except ValueError as exc:
                    self.fail('%s renders %s: %s' % (page, markdown, exc))
