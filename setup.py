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

import configparser
import os

import setuptools

HERE = os.path.dirname(os.path.abspath(__file__))


def _version_without_git():
    """setup.cfg's version for pbr when it has nothing to read its own from.

    pbr takes the version from PKG-INFO (an sdist) or from git history; a
    copy of the tree with neither (a tarball of the files, `git archive`)
    would fail with "Versioning for this project requires either an sdist
    tarball, or access to an upstream git repository". PBR_VERSION set by
    the caller still wins.
    """
    if any(os.path.exists(os.path.join(HERE, name))
           for name in ('.git', 'PKG-INFO')):
        return None
    config = configparser.ConfigParser()
    config.read(os.path.join(HERE, 'setup.cfg'))
    return config.get('metadata', 'version', fallback=None)


version = _version_without_git()
if version and not os.environ.get('PBR_VERSION'):
    os.environ['PBR_VERSION'] = version

setuptools.setup(setup_requires=['pbr>=6.0.0'], pbr=True)
