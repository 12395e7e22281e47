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

# Build tools/vcsim (govmomi's vCenter simulator with our main package) into
# a cache directory and print the binary's path as the only line on stdout.
#
# The binary is named after a sha256 over the sources of tools/vcsim, the Go
# version, the govmomi package version and any extra build flags, so it is
# rebuilt only when one of them changes. The build writes a temporary file
# and renames it into place, so concurrent callers never see a partial binary.
#
# Environment:
#   VCSIM_CACHE_DIR        cache directory
#                          (default: ${XDG_CACHE_HOME:-$HOME/.cache}/nova-vmware-ext)
#   VCSIM_GOPATH           GOPATH holding govmomi (default: /usr/share/gocode)
#   VCSIM_GO_BUILD_FLAGS   extra flags for go build, e.g. "-race"
set -euo pipefail

die() {
    echo "vcsim build: $*" >&2
    exit 1
}

src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gopath=${VCSIM_GOPATH:-/usr/share/gocode}
govmomi_dir=$gopath/src/github.com/vmware/govmomi

if [[ -n ${VCSIM_CACHE_DIR:-} ]]; then
    cache_dir=$VCSIM_CACHE_DIR
elif [[ -n ${XDG_CACHE_HOME:-} ]]; then
    cache_dir=$XDG_CACHE_HOME/nova-vmware-ext
elif [[ -n ${HOME:-} ]]; then
    cache_dir=$HOME/.cache/nova-vmware-ext
else
    die "no cache directory: set VCSIM_CACHE_DIR, XDG_CACHE_HOME or HOME"
fi

command -v go >/dev/null 2>&1 ||
    die "'go' not found: install Debian package golang-go (apt-get install -y golang-go)"
[[ -d $govmomi_dir/simulator ]] ||
    die "govmomi not found under $gopath: install Debian package golang-github-vmware-govmomi-dev (apt-get install -y golang-github-vmware-govmomi-dev)"
command -v sha256sum >/dev/null 2>&1 || die "'sha256sum' not found (Debian package coreutils)"

go_version=$(go version) || die "'go version' failed"
govmomi_version=$(dpkg-query -W -f '${Version}' golang-github-vmware-govmomi-dev 2>/dev/null || true)
if [[ -z $govmomi_version ]]; then
    # Not installed from the Debian package: identify it by its simulator sources.
    govmomi_version=unpackaged-$(cat "$govmomi_dir"/simulator/*.go | sha256sum | cut -d' ' -f1)
fi
read -r -a build_flags <<<"${VCSIM_GO_BUILD_FLAGS:-}"

shopt -s nullglob
sources=("$src_dir"/*.go)
shopt -u nullglob
((${#sources[@]} > 0)) || die "no Go sources in $src_dir"

hash=$(
    {
        for f in "${sources[@]}"; do
            printf 'file %s %s\n' "$(basename "$f")" "$(wc -c <"$f")"
            cat "$f"
        done
        printf 'go %s\ngovmomi %s\ngopath %s\nflags %s\n' \
            "$go_version" "$govmomi_version" "$gopath" "${build_flags[*]:-}"
    } | sha256sum | cut -c1-16
)
binary=$cache_dir/vcsim-$hash

if [[ ! -x $binary ]]; then
    mkdir -p "$cache_dir"
    tmp=$(mktemp "$cache_dir/.vcsim-$hash.XXXXXX")
    trap 'rm -f "$tmp"' EXIT
    if [[ -z ${GOCACHE:-} && -z ${XDG_CACHE_HOME:-} && -z ${HOME:-} ]]; then
        export GOCACHE=$cache_dir/go-build
    fi
    echo "vcsim build: building $binary" >&2
    (cd "$src_dir" && GO111MODULE=off GOPATH=$gopath GOFLAGS='' \
        go build "${build_flags[@]}" -o "$tmp" .) >&2 ||
        die "go build failed"
    chmod 0755 "$tmp"
    mv -f "$tmp" "$binary"
    trap - EXIT
fi

echo "$binary"
