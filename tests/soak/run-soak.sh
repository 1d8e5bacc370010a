#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/soak/run-soak.sh SOAK_BIN [mcsi-soak options...]
#
# Runs the soak (SOAK_BIN, built from tests/soak/mcsi-soak.c) against the
# tgt of tests/harness/with-targets (started here unless MCSI_TGT_IPC says
# we already run inside it), under a hard time limit, then checks from the
# target side that the session left no connection behind after its logout.
#
# Environment:
#   SOAK_DROPS        connection drops (default 1000)
#   SOAK_INTERVAL_MS  time between drops (default 500: about 10 minutes)
#   SOAK_ARGS         more mcsi-soak options, split on blanks (--qd, --blocks, --seed, ...)
#   SOAK_LOG          also write the whole output to this file
# Exit status: mcsi-soak's (0 every criterion held, 1 one failed, 2 usage),
# 1 if the target kept a connection, 124 if the time limit was hit.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ $# -lt 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 SOAK_BIN [mcsi-soak options...]" >&2
    exit 2
fi
if [ -z "${MCSI_TGT_IPC:-}" ]; then
    exec bash "$HERE/../harness/with-targets" bash "${BASH_SOURCE[0]}" "$@"
fi

bin=$1; shift
drops=${SOAK_DROPS:-1000}
interval=${SOAK_INTERVAL_MS:-500}
read -ra extra <<<"${SOAK_ARGS:-}"
[[ $drops =~ ^[0-9]+$ ]] && [[ $interval =~ ^[0-9]+$ ]] ||
    { echo "run-soak.sh: SOAK_DROPS and SOAK_INTERVAL_MS must be numbers" >&2; exit 2; }
# Generous: four times the nominal drop time, plus 10 minutes.
limit=$(( drops * interval * 4 / 1000 + 600 ))

run() {
    timeout -k 10 "$limit" "$bin" --drops "$drops" --interval-ms "$interval" "${extra[@]}" "$@"
    rc=$?
    [ "$rc" -ne 124 ] || echo "FAIL time limit: mcsi-soak still running after $limit s"
    left=$(TGT_IPC_SOCKET=$MCSI_TGT_IPC timeout 5 tgtadm -C 0 --lld iscsi --op show --mode conn --tid 1 2>&1 |
           grep -c 'Connection:')
    if [ "$left" -eq 0 ]; then
        echo "PASS target: no connection of tid 1 left after the logout"
    else
        echo "FAIL target: $left connection(s) of tid 1 left after the logout"
        [ "$rc" -ne 0 ] || rc=1
    fi
    return "$rc"
}

if [ -n "${SOAK_LOG:-}" ]; then
    run "$@" 2>&1 | tee "$SOAK_LOG"
    exit "${PIPESTATUS[0]}"
fi
run "$@"
