# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/nbd/nbd-lib.sh: what the NBD test scripts (tests/nbd/test_*.sh) share,
# sourced after tests/sh/tap.sh. The script sets ROOT; this sets BUILD
# ($MCSI_BUILD_DIR, else ROOT/build) and MCSI (its mcsi); nbd_workdir sets
# W, SOCK, URI. One export at a time: EXPORT_PID.

BUILD=${MCSI_BUILD_DIR:-$ROOT/build}
MCSI=$BUILD/mcsi
EXPORT_PID=

# nbd_workdir PREFIX: W (a fresh directory, in /dev/shm when it can), SOCK and URI in it.
nbd_workdir() {
    W=$(mktemp -d "/dev/shm/$1.XXXXXX" 2>/dev/null || mktemp -d)
    SOCK=$W/nbd.sock
    URI="nbd+unix:///?socket=$SOCK"
}

adm() { TGT_IPC_SOCKET=$MCSI_TGT_IPC timeout 10 tgtadm -C 0 --lld iscsi "$@"; }

# add_thin_target TID IQN SIZE: a target in the harness's tgtd, up to 4
# connections, LUN 1 a thin (thin_provisioning=1) sparse file $W/lun.img of SIZE bytes.
add_thin_target() {
    local tid=$1 iqn=$2
    truncate -s "$3" "$W/lun.img" &&
    adm --op new --mode target --tid "$tid" --targetname "$iqn" &&
    adm --op update --mode target --tid "$tid" --name MaxConnections --value 4 &&
    adm --op bind --mode target --tid "$tid" --initiator-address ALL &&
    adm --op new --mode logicalunit --tid "$tid" --lun 1 --backing-store "$W/lun.img" &&
    adm --op update --mode logicalunit --tid "$tid" --lun 1 --params thin_provisioning=1
}
remove_target() { adm --op delete --mode target --tid "$1" --force >/dev/null 2>&1; }

# serve_export LOG ARGS...: scripts/export.lua ARGS --socket $SOCK in the
# background, until it logs "serving" (30 s; 1: it did not, or it exited).
serve_export() {
    local log=$1 i; shift
    rm -f "$SOCK"
    "$MCSI" "$ROOT/scripts/export.lua" "$@" --socket "$SOCK" >"$log" 2>&1 &
    EXPORT_PID=$!
    for ((i = 0; i < 300; i++)); do
        grep -q '^serving ' "$log" && return 0
        kill -0 "$EXPORT_PID" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}

# start_export LOG ARGS...: serve_export of LUN 1 of $IQN on the harness's
# tgt, portals 127.0.0.1 and 127.0.0.2.
start_export() {
    local log=$1; shift
    serve_export "$log" --target "$IQN" --portal "127.0.0.1:$MCSI_TGT_PORT" \
        --portal "127.0.0.2:$MCSI_TGT_PORT" --lun 1 "$@"
}

# stop_export LOG: SIGTERM, then the script's exit status (0: it logged out).
stop_export() {
    kill -TERM "$EXPORT_PID"
    wait "$EXPORT_PID"
    local rc=$?
    EXPORT_PID=
    grep -q '^logout: ISDSC_SUCCESS' "$1" && return "$rc"
    return 1
}

# kill_export: for cleanup traps, quietly.
kill_export() {
    [ -z "$EXPORT_PID" ] || { kill -TERM "$EXPORT_PID" 2>/dev/null; wait "$EXPORT_PID" 2>/dev/null; }
    EXPORT_PID=
}

# json_field NAME <JSON: the value of "NAME": in nbdinfo --json's output
json_field() { sed -n "s/^[[:space:]]*\"$1\": \\(.*\\),\\{0,1\\}\$/\\1/p" | tr -d ','; }
