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

"""Sphinx directives that render the docs from the sources they describe.

- ``markdown-section``: one section of a Markdown file (README.md), parsed
  with MyST, so README stays the one place a table is written (and tested,
  tests/unit/test_readme.py);
- ``privileges-table``: the vCenter privileges the driver needs, from
  ``nova_vmware_ext.vsphere.privileges.REQUIRED`` (the list the check CLI
  asks vCenter about);
- ``unacted-options``: the options that load but have no effect, and why,
  from ``nova_vmware_ext.conf.UNACTED_OPTIONS`` (what nova-compute warns
  about).

A missing file or section is an error: the docs build (-W) fails rather
than render a page that has drifted from README.
"""

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.directives.other import Include
from sphinx.util.docutils import SphinxDirective

from markdown_sections import markdown_section


class MarkdownSection(Include):
    """``.. markdown-section:: /README.md`` with ``:section: <heading>``
    (the whole file without it), rendered by MyST."""

    option_spec = dict(Include.option_spec,
                       section=directives.unchanged_required,
                       **{'with-subsections': directives.flag})

    def run(self):
        self.options['parser'] = directives.parser_name(
            'myst_parser.sphinx_')
        return super().run()

    def read_file(self, path):
        text = super().read_file(path)
        title = self.options.get('section')
        if title is None:
            return text
        try:
            return markdown_section(text, title,
                                    'with-subsections' in self.options)
        except ValueError as exc:
            raise self.severe('%s: %s' % (path, exc))


class PrivilegesTable(SphinxDirective):
    """The table of REQUIRED privileges: object, privileges, why."""

    def run(self):
        from nova_vmware_ext.vsphere import privileges

        rows = []
        for privilege in privileges.REQUIRED:
            key = (privilege.scope, privilege.why)
            if rows and rows[-1][0] == key:
                rows[-1][1].append(privilege.id)
            else:
                rows.append((key, [privilege.id]))
        body = [(scope, ids, why) for (scope, why), ids in rows]
        return [_table(('Object', 'Privileges', 'Why'), body)]


class UnactedOptions(SphinxDirective):
    """A bullet list: ``[group] name``: why it has no effect."""

    def run(self):
        from nova_vmware_ext import conf

        items = nodes.bullet_list()
        for group, names in sorted(conf.UNACTED_OPTIONS.items()):
            for name, why in sorted(names.items()):
                option = '[%s] %s' % (group, name)
                para = nodes.paragraph()
                para += nodes.literal(option, option)
                para += nodes.Text(': %s.' % why)
                item = nodes.list_item()
                item += para
                items += item
        return [items]


def _literals(ids):
    para = nodes.paragraph()
    for number, privilege in enumerate(ids):
        if number:
            para += nodes.Text(', ')
        para += nodes.literal(privilege, privilege)
    return para


def _table(header, rows):
    table = nodes.table(classes=['privileges'])
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in (15, 50, 35):
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    head += _row([nodes.paragraph(text=title) for title in header])
    body = nodes.tbody()
    group += body
    for scope, ids, why in rows:
        body += _row([nodes.paragraph(text=scope), _literals(ids),
                      nodes.paragraph(text=why)])
    return table


def _row(cells):
    row = nodes.row()
    for content in cells:
        entry = nodes.entry()
        entry += content
        row += entry
    return row


def setup(app):
    app.add_directive('markdown-section', MarkdownSection)
    app.add_directive('privileges-table', PrivilegesTable)
    app.add_directive('unacted-options', UnactedOptions)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
