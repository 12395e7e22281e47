#!/usr/bin/env bash
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

# Install what the tests and the demo need on a fresh Debian machine: the
# packages bindep.txt lists (Go + govmomi to build vcsim, qemu-utils and
# genisoimage for images and config drives, ...), and tox in ./.venv.
# python3-venv only when `python3 -m venv` cannot make a virtualenv (Debian
# splits ensurepip out of python3). Safe to run again: it installs only
# what is missing.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}

# The Debian packages of bindep.txt but python3-venv, which is asked for
# only when needed.
bindep_packages() {
    sed -n 's/^\([a-z0-9][a-z0-9.+-]*\) .*platform:dpkg.*/\1/p' \
        "$top/bindep.txt" | grep -vx python3-venv
}

apt_install() {
    echo "setup-host: installing $*"
    local sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q \
        --no-install-recommends "$@"
}

missing=()
for pkg in $(bindep_packages); do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi

if [ ! -x "$top/.venv/bin/tox" ]; then
    echo "setup-host: creating $top/.venv with tox"
    if ! "$python" -m venv "$top/.venv"; then
        rm -rf "$top/.venv"
        apt_install python3-venv
        "$python" -m venv "$top/.venv"
    fi
    "$top/.venv/bin/pip" install -q --upgrade pip
    "$top/.venv/bin/pip" install -q 'tox>=4.0'
fi
