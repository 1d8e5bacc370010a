#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/bench-lua.sh BUILD: the Lua part of make bench (run inside
# tests/harness/with-targets, like tools/bench.sh).
#   1. cost of a Lua call to a status-only operation (remove_connection_from_session
#      with an unknown session id: a Status object per call) against the same C call;
#   2. the mcsi REPL's idle CPU while it holds 100 connections (25 sessions x 4
#      on tgt), waiting at its prompt in a terminal (tmux) for 10 s.
# Prints a Markdown table.
set -uo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
: "${MCSI_TGT_PORT:?run under tests/harness/with-targets}"
N=${MCSI_BENCH_LUA_CALLS:-2000000}

c_ns=$("$BUILD/bench-lua" "$N" | awk '/c_ns_per_call/ { print $2 }')
lua_ns=$("$BUILD/mcsi" tools/bench-lua.lua calls "$N" | awk '/lua_ns_per_call/ { print $2 }')

SOCK="mcsi-bench-lua-$$"
OUT=$(mktemp)
tmux -L "$SOCK" new-session -d -x 200 -y 50 \
    "$BUILD/mcsi -i tools/bench-lua.lua hold 127.0.0.1:$MCSI_TGT_PORT $MCSI_TGT_IQN_PLAIN 25 2>&1 | tee $OUT"
for _ in $(seq 1 300); do grep -q '^ready' "$OUT" && break; sleep 0.1; done
conns=$(awk '/^ready/ { print $2 }' "$OUT")
pid=$(pgrep -n -f "$BUILD/mcsi -i tools/bench-lua.lua hold" || true)
cpu=n/a
if [ -n "$pid" ] && [ -n "$conns" ]; then
    sleep 1
    t0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    sleep 10
    t1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    hz=$(getconf CLK_TCK)
    cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz / 10 * 100 }')
fi
tmux -L "$SOCK" kill-server 2>/dev/null
rm -f "$OUT"

echo
echo "### Lua binding (tools/bench-lua.sh)"
echo
echo "| measure | value |"
echo "|---|---|"
echo "| C call, remove_connection_from_session (unknown id) | ${c_ns:-n/a} ns |"
echo "| Lua call, mcsi.remove_connection_from_session (unknown id, Status object) | ${lua_ns:-n/a} ns |"
echo "| REPL idle CPU, ${conns:-?} connections open, 10 s at the prompt | ${cpu} % of one core |"
