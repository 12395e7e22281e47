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

"""Sphinx configuration of nova-vmware-ext's documentation (tox -e docs)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
# The local extension, and the code it documents from this tree (the docs
# env installs the package without dependencies for its entry points).
sys.path.insert(0, os.path.join(HERE, '_exts'))
sys.path.insert(0, TOP)

project = 'nova-vmware-ext'
copyright = 'nova-vmware-ext developers'
author = 'nova-vmware-ext developers'

extensions = [
    'myst_parser',
    'oslo_config.sphinxext',
    'reno.sphinxext',
    'nova_vmware_ext_docs',
]

source_suffix = {'.rst': 'restructuredtext'}
root_doc = 'index'
exclude_patterns = ['_build']
# Every reference must resolve (sphinx-build -n -W): the link check of a
# build with no network. External URLs are not fetched.
nitpicky = True
# Markdown included from README.md and devstack/README.md: headings get
# anchors.
myst_heading_anchors = 3

html_theme = 'alabaster'
html_theme_options = {'description': 'Nova compute driver for VMware '
                                     'vCenter clusters'}
html_static_path = []
html_last_updated_fmt = None
pygments_style = 'sphinx'
