#!/usr/bin/env bash
# Install what the tests and the demo need on a fresh Debian machine:
# Go + govmomi (to build vcsim), qemu-utils and genisoimage (images, config
# drives), shellcheck and gawk (the devstack plugin's checks; devstack
# merges config files with gawk), and tox in ./.venv. Safe to run again: it
# installs only what is missing.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
apt_packages=(golang-go golang-github-vmware-govmomi-dev qemu-utils genisoimage
              git shellcheck gawk)

missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup-host: installing ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q \
        --no-install-recommends "${missing[@]}"
fi

python=${PYTHON:-python3}
if [ ! -x "$top/.venv/bin/tox" ]; then
    echo "setup-host: creating $top/.venv with tox"
    "$python" -m venv "$top/.venv"
    "$top/.venv/bin/pip" install -q --upgrade pip
    "$top/.venv/bin/pip" install -q 'tox>=4.0'
fi
