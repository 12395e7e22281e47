#!/bin/bash
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

# Lint tools/vcsim: 'go vet' and 'gofmt -l' (which must list no file), with
# the GOPATH build.sh uses. Run by tox -e pep8.
#
# Environment:
#   VCSIM_GOPATH   GOPATH holding govmomi (default: /usr/share/gocode)
set -euo pipefail

die() {
    echo "vcsim lint: $*" >&2
    exit 1
}

src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gopath=${VCSIM_GOPATH:-/usr/share/gocode}

command -v go >/dev/null 2>&1 ||
    die "'go' not found: install Debian package golang-go (apt-get install -y golang-go)"
command -v gofmt >/dev/null 2>&1 ||
    die "'gofmt' not found: install Debian package golang-go (apt-get install -y golang-go)"
[[ -d $gopath/src/github.com/vmware/govmomi/simulator ]] ||
    die "govmomi not found under $gopath: install Debian package golang-github-vmware-govmomi-dev"

if [[ -z ${GOCACHE:-} && -z ${XDG_CACHE_HOME:-} && -z ${HOME:-} ]]; then
    GOCACHE=$(mktemp -d)
    export GOCACHE
    trap 'rm -rf "$GOCACHE"' EXIT
fi

cd "$src_dir"
unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then
    echo "vcsim lint: not gofmt-formatted (run: gofmt -w tools/vcsim):" >&2
    echo "$unformatted" >&2
    exit 1
fi
GO111MODULE=off GOPATH=$gopath GOFLAGS='' go vet . ||
    die "go vet failed"
