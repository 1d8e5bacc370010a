#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/nbd/test_io_policy.sh: the NBD face of the engine's I/O policy
# (issue 15), with a client nobody here wrote (qemu-io). scripts/export.lua
# exports LUN 0 of build/tests/fake-target; storms are armed at run time
# through the target's stdin (a FIFO) and every count is the target's own
# (its answer to "count" there; READ/WRITE commands: qemu-io also flushes as
# it closes, a SYNCHRONIZE CACHE no storm here needs):
#   - a UNIT ATTENTION, BUSY, TASK SET FULL or ABORTED COMMAND storm of
#     MCSI_SCSI_RETRIES commands (core/mcsi.h)
#     under an NBD read: the read succeeds, the target got exactly
#     MCSI_SCSI_RETRIES + 1 READs; one longer: the read fails (EIO) after
#     exactly MCSI_SCSI_RETRIES + 1, as in C, Lua and the daemon
#     (tests/c/test_io_policy.c, tests/lua/test_io_policy.lua,
#     tests/daemon/test_io_policy.py);
#   - an NBD write with FUA (qemu-io write -f) reaches the target with the FUA
#     bit, one without does not.
# Needs nothing of tests/harness/with-targets; TAP on stdout.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/sh/tap.sh"
. "$HERE/nbd-lib.sh"
FAKE=$BUILD/tests/fake-target

command -v qemu-io >/dev/null || { echo "1..0 # SKIP qemu-io missing (bash tools/deps.sh)"; exit 0; }
[ -x "$FAKE" ] || { echo "1..0 # SKIP $FAKE is not built (make)"; exit 0; }

LIMIT=$(sed -n 's/^#define MCSI_SCSI_RETRIES \([0-9][0-9]*\).*/\1/p' "$ROOT/core/mcsi.h")
nbd_workdir mcsi-nbd-policy
FT_PID=

cleanup() {
    kill_export
    exec 3>&- 2>/dev/null
    [ -z "$FT_PID" ] || { kill -TERM "$FT_PID" 2>/dev/null; wait "$FT_PID" 2>/dev/null; }
    rm -rf -- "$W"
}
trap cleanup EXIT

mkfifo "$W/ctl"
"$FAKE" <"$W/ctl" >"$W/out" 2>&1 &
FT_PID=$!
exec 3>"$W/ctl"
for ((i = 0; i < 200; i++)); do
    [ -s "$W/out" ] && read -r PORTAL IQN <"$W/out" && [ -n "${IQN:-}" ] && break
    sleep 0.02
done
[ -n "${IQN:-}" ]
tap_ok $? "the fake target runs (limit MCSI_SCSI_RETRIES = $LIMIT)"

serve_export "$W/export.log" --target "$IQN" --portal "$PORTAL" --lun 0
tap_ok $? "scripts/export.lua serves LUN 0 of the fake target" || tap_note "$(cat "$W/export.log")"

# counts: "storm rw fua dpo" of the target now: its answer to a "count" line
# on its stdin, after every line written before it (no timing)
counts() {
    local n line i
    n=$(wc -l <"$W/out")
    echo count >&3
    for ((i = 0; i < 500; i++)); do
        [ "$(wc -l <"$W/out")" -gt "$n" ] && break
        sleep 0.01
    done
    line=$(tail -n 1 "$W/out")
    printf '%s\n' "$line" | sed -n 's/.* storm=\([0-9]*\) rw=\([0-9]*\) fua=\([0-9]*\) dpo=\([0-9]*\).*/\1 \2 \3 \4/p'
}
storm() { echo "storm $1:$2" >&3; counts >/dev/null; }   # armed once the target answered the count after it
# delta BEFORE AFTER: the difference of two counts lines
delta() {
    local -a b a
    read -r -a b <<<"$1"
    read -r -a a <<<"$2"
    echo "$((a[0] - b[0])) $((a[1] - b[1])) $((a[2] - b[2])) $((a[3] - b[3]))"
}
# qio CMD: qemu-io on the export (writeback: qemu-io's default writethrough
# would put FUA on every write); "ok" or "failed"
qio() {
    qemu-io -t writeback -f raw "$URI" -c "$1" >"$W/qemu-io.log" 2>&1 || { echo failed; return; }
    grep -qiE 'fail|error' "$W/qemu-io.log" && echo failed || echo ok
}
# measure LABEL WANT_RESULT WANT_DELTA CMD
measure() {
    local before after got
    before=$(counts)
    got=$(qio "$4")
    after=$(counts)
    tap_is "$got $(delta "$before" "$after")" "$2 $3" "$1 {result, storm answers, READ/WRITE, FUA, DPO}" ||
        tap_note "$(cat "$W/qemu-io.log")"
}

measure "an NBD read of one block: one READ" ok "0 1 0 0" "read 4096 512"
for kind in ua busy tsf aborted; do
    storm "$kind" "$LIMIT"
    measure "$kind storm of $LIMIT: the NBD read succeeds after exactly $((LIMIT + 1)) READs" ok \
        "$LIMIT $((LIMIT + 1)) 0 0" "read 4096 512"
    storm "$kind" "$((LIMIT + 1))"
    measure "$kind storm of $((LIMIT + 1)): the NBD read fails after exactly $((LIMIT + 1)) READs" failed \
        "$((LIMIT + 1)) $((LIMIT + 1)) 0 0" "read 4096 512"
    storm "$kind" 0
done
measure "an NBD write with FUA (qemu-io write -f): one WRITE with the FUA bit" ok "0 1 1 0" "write -f 8192 512"
measure "an NBD write without FUA: no FUA bit" ok "0 1 0 0" "write 8192 512"

kill -TERM "$EXPORT_PID"
wait "$EXPORT_PID"
tap_ok $? "SIGTERM stops the export" || tap_note "$(cat "$W/export.log")"
EXPORT_PID=
tap_done
