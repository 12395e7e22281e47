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

# shellcheck disable=SC2034  # sets variables devstack reads
# Runs nova-vmware-ext's devstack plugin through devstack's real functions,
# stackrc, lib/nova and run_phase, in the order stack.sh, unstack.sh and
# clean.sh use, with whatever would install or start something recorded in
# $WORK/record instead of run. tests/unit/test_devstack.py drives it.
#
# Usage: harness.sh DEVSTACK_DIR REPO WORK
#   WORK/localrc   the test's settings, appended to the harness's localrc
#
# WORK/devstack is a farm of symlinks to DEVSTACK_DIR's files plus our
# localrc (stackrc reads localrc from its own directory); DEST, DATA_DIR and
# every config file live under WORK.
set -o errexit -o pipefail

devstack_dir=$1
repo=$2
work=$3
top=$work/devstack
export HARNESS_RECORD=$work/record
: >"$HARNESS_RECORD"

mkdir -p "$top" "$work/dest/data" "$work/etc/nova" "$work/etc/glance" "$work/bin"
for entry in "$devstack_dir"/*; do
    ln -s "$entry" "$top/"
done
# As enable_plugin's clone and devstack's editable Nova would leave them.
ln -s "$repo" "$work/dest/nova-vmware-ext"
mkdir -p "$work/dest/nova/nova/virt/libvirt"
echo "# Nova's own" >"$work/dest/nova/nova/virt/libvirt/driver.py"
echo "someone else's" >"$work/dest/data/other"
# The test's own preparations, e.g. a tree devstack did not leave as we think.
if [[ -f $work/before.sh ]]; then
    # shellcheck source=/dev/null
    source "$work/before.sh"
fi

{
    echo "DEST=$work/dest"
    echo "DATA_DIR=$work/dest/data"
    echo "HOST_IP=127.0.0.1"
    echo "SERVICE_HOST=127.0.0.1"
    echo "VIRT_DRIVER=vmware_ext"
    echo "enable_plugin nova-vmware-ext file://$repo"
    cat "$work/localrc"
} >"$top/localrc"

# A fake Go for tools/vcsim/build.sh: records the build, writes a binary.
cat >"$work/bin/go" <<'GO'
#!/bin/bash
echo "go $*" >>"$HARNESS_RECORD"
if [[ $1 == version ]]; then
    echo "go version go0.0-harness linux/amd64"
fi
while [[ $# -gt 0 ]]; do
    if [[ $1 == -o ]]; then
        printf '#!/bin/sh\n' >"$2"
    fi
    shift
done
GO
chmod +x "$work/bin/go"
export PATH=$work/bin:$PATH
export VCSIM_GOPATH=$work/gopath
mkdir -p "$VCSIM_GOPATH/src/github.com/vmware/govmomi/simulator"

TOP_DIR=$top
# shellcheck source=/dev/null
source "$TOP_DIR/functions"
# shellcheck source=/dev/null
source "$TOP_DIR/stackrc"
# stack.sh's setup_devstack_virtualenv: the python of the global venv,
# where pip_install puts nova-compute's packages. Here: recorded, then the
# tests' own python (HARNESS_PYTHON) runs the command.
PYTHON=$DEVSTACK_VENV/bin/python3
mkdir -p "$DEVSTACK_VENV/bin"
cat >"$PYTHON" <<'PYTHON'
#!/bin/bash
echo "$0 $*" >>"$HARNESS_RECORD"
exec "${HARNESS_PYTHON:-python3}" "$@"
PYTHON
chmod +x "$PYTHON"
# shellcheck source=/dev/null
source "$TOP_DIR/lib/database"
# shellcheck source=/dev/null
source "$TOP_DIR/lib/rpc_backend"

# stack.sh traces from here on: nothing below may print a secret.
set -o xtrace

run_phase override_defaults
printf '== override_defaults\n-- image: %s %s\n' "${DEFAULT_IMAGE_NAME:-}" \
    "${IMAGE_URLS:-}" >>"$HARNESS_RECORD"
# shellcheck source=/dev/null
source "$TOP_DIR/lib/glance"
# shellcheck source=/dev/null
source "$TOP_DIR/lib/nova"
run_phase source

# lib/nova and lib/glance name /etc paths: ours instead.
NOVA_CONF_DIR=$work/etc/nova
NOVA_CONF=$NOVA_CONF_DIR/nova.conf
NOVA_CPU_CONF=$NOVA_CONF_DIR/nova-cpu.conf
GLANCE_API_CONF=$work/etc/glance/glance-api.conf
TEMPEST_CONFIG=$work/etc/tempest.conf

# What would install or start something: recorded, not run.
function _record {
    printf '%s\n' "$*" >>"$HARNESS_RECORD"
}
function sudo {
    _record sudo "$@"
}
function apt_get {
    _record apt_get "$@"
}
function install_package {
    _record install_package "$@"
}
function pip_install {
    _record pip_install "$@"
}
function git_clone {
    _record git_clone "$@"
}
function wait_for_service {
    _record wait_for_service "$@"
}
function async_runfunc {
    _record async_runfunc "$@"
}
function async_wait {
    _record async_wait "$@"
}
function configure_tempest {
    _record configure_tempest "$@"
    # lib/tempest's default without LIVE_MIGRATION_AVAILABLE.
    iniset "$TEMPEST_CONFIG" compute-feature-enabled live_migration False
}
function install_tempest_plugins {
    _record install_tempest_plugins "$@"
}
# devstack's run_process and stop_process run; below them, the unit file
# and systemctl are recorded (after devstack's own checks of the command).
function _run_under_systemd {
    _common_systemd_pitfalls "$2"
    _record run_process "$1" "$2"
    # A started vcsim writes its certificate: so does this one.
    local -a words
    read -r -a words <<<"$2"
    local i
    for ((i = 0; i < ${#words[@]} - 1; i++)); do
        if [[ ${words[i]} == -cert-out ]]; then
            echo "harness certificate" >"${words[i + 1]}"
        fi
    done
}
SYSTEMCTL="_record systemctl"

function phase {
    _record "== $*"
    "$@"
    local shim=$NOVA_DIR/nova/virt/vmware_ext
    _record "-- shim: $(find "$shim" -mindepth 1 -printf '%f ' 2>/dev/null | tr ' ' '\n' | sort | tr '\n' ' ')"
    _record "-- state: $(test -d "$NOVA_VMWARE_EXT_STATE_DIR" && echo present || echo absent)"
}

# stack.sh
phase run_phase stack install
cp "$NOVA_VMWARE_EXT_STATE_DIR/requirements-without-nova.txt" "$work/"
# configure_nova / configure_glance made these before post-config.
iniset "$NOVA_CONF" DEFAULT debug True
iniset "$GLANCE_API_CONF" DEFAULT debug True
phase run_phase stack post-config
phase start_nova_compute
phase run_phase stack extra
phase run_phase stack test-config
if [[ -f $work/stop-after-stack ]]; then
    # The test runs what was recorded (e.g. the vcsim service) itself.
    _record "== stopped after stack.sh"
    exit 0
fi
# unstack.sh, then clean.sh (which runs unstack.sh first)
phase run_phase unstack
phase run_phase clean
_record "== done"
