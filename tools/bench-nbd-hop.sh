#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/bench-nbd-hop.sh BUILD_DIR [OLD_BUILD_DIR]: what the NBD hop costs.
# On the harness's tgt null LUN (tid 1, LUN 2: every command GOOD at once, so
# the initiator side is all there is to measure), fio's nbd engine at 4 KiB
# random reads QD 32 against:
#   mcsi       scripts/export.lua (one connection) of BUILD_DIR
#   mcsi-old   the same of OLD_BUILD_DIR, when given (a build of the base commit)
#   qemu-nbd   qemu-nbd -t --shared=8 through libiscsi (one connection)
# and mcsi-perf -r -m 32 of BUILD_DIR directly on the LUN (no hop). Per run:
# IOPS, and the CPU of the serving process per I/O (user+sys from
# /proc/PID/stat over the fio run, divided by fio's I/O count; mcsi-perf's own
# us_per_io). Contenders alternate: listed order in odd rounds, reversed in
# even ones; BENCH_NBD_HOP_ROUNDS (default 5, at least 3), BENCH_NBD_HOP_SECONDS
# (default 5) each. The report gives medians [min-max] and export/direct.
# Absolute IOPS on a shared machine are noise; CPU per I/O moves much less.
# Run inside the harness: tests/harness/with-targets bash tools/bench-nbd-hop.sh build
# Writes BUILD_DIR/bench-nbd-hop-report.md; logs in BUILD_DIR/bench-nbd-hop-logs/.
# BENCH_NBD_HOP_PERF=1: also `perf record -g` on each export for one run
# (BUILD_DIR/bench-nbd-hop-logs/perf-NAME.txt: the top of `perf report`, self
# and with children).
set -uo pipefail

BENCH=bench-nbd-hop.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench-nbd-lib.sh"
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: bench-nbd-hop.sh BUILD_DIR [OLD_BUILD_DIR]"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "$1" && pwd) || die "no build directory $1"
OLD=
if [ $# -eq 2 ]; then OLD=$(cd "$2" && pwd) || die "no build directory $2"; fi
ROUNDS=${BENCH_NBD_HOP_ROUNDS:-5}
SECS=${BENCH_NBD_HOP_SECONDS:-5}
bench_preflight BENCH_NBD_HOP_ROUNDS "$ROUNDS" fio qemu-nbd nbdinfo lua5.4
[ -x "$BUILD/mcsi" ] && [ -x "$BUILD/mcsi-perf" ] || die "$BUILD/mcsi or mcsi-perf not built"
CONTENDERS=(mcsi-perf mcsi ${OLD:+mcsi-old} qemu-nbd)
LOGS=$BUILD/bench-nbd-hop-logs
RES=$LOGS/results.tsv
OUT=$BUILD/bench-nbd-hop-report.md
mkdir -p "$LOGS" && rm -f "$LOGS"/*

LUN=${MCSI_TGT_NULL_LUN:-2}
ISCSI="iscsi://127.0.0.1:$MCSI_TGT_PORT/$MCSI_TGT_IQN_PLAIN/$LUN"
bench_workdir mcsi-bench-hop
TICK=$(getconf CLK_TCK)
cleanup() { stop_server; rm -rf -- "$W"; }
trap cleanup EXIT

start() { # NAME: serves the null LUN on $SOCK until stop_server
  local name=$1 log=$LOGS/server-$1.log
  case $name in
    mcsi) serve_mcsi "$BUILD/mcsi" "$MCSI_TGT_IQN_PLAIN" "$LUN" "$log" ;;
    mcsi-old) serve_mcsi "$OLD/mcsi" "$MCSI_TGT_IQN_PLAIN" "$LUN" "$log" ;;
    qemu-nbd) serve_qemu_nbd "$ISCSI" "$log" ;;
  esac
  await_server "$name" "$log"
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # utime + stime (the process's threads)
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RES"; }   # contender round iops us_per_io

run_export() { # NAME ROUND
  local c0 c1 out ios iops perf_pid=
  if [ "${BENCH_NBD_HOP_PERF:-0}" = 1 ] && [ "$2" = 1 ] && command -v perf >/dev/null; then
    perf record -g -o "$LOGS/perf-$1.data" -p "$SERVER_PID" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 0.3
  fi
  c0=$(cpu_ticks "$SERVER_PID")
  out=$(fio --name=hop --ioengine=nbd --uri="$URI" --rw=randread --bs=4k --iodepth=32 --size=1g \
          --time_based --runtime="$SECS" --output-format=terse 2>>"$LOGS/fio.err" | grep '^3;' | tail -1)
  c1=$(cpu_ticks "$SERVER_PID")
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" 2>/dev/null; wait "$perf_pid" 2>/dev/null
    { echo "# self"
      perf report -i "$LOGS/perf-$1.data" --no-children --stdio --percent-limit 1 -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -25
      echo "# with children (syscalls and our functions)"
      perf report -i "$LOGS/perf-$1.data" --children --sort sym --stdio --percent-limit 2 -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -60; } >"$LOGS/perf-$1.txt"
  fi
  # fio terse v3: read total I/O (KiB) field 6, iops 8
  ios=$(awk -F';' '{ printf "%d", $6 / 4 }' <<<"$out")
  iops=$(awk -F';' '{ printf "%d", $8 }' <<<"$out")
  [ "${ios:-0}" -gt 0 ] || { echo "bench-nbd-hop.sh: $1 round $2: fio gave nothing (see $LOGS/fio.err)" >&2; return; }
  record "$1" "$2" "$iops" "$(awk -v t=$((c1 - c0)) -v hz="$TICK" -v n="$ios" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')"
}

run_direct() { # ROUND
  local log=$LOGS/mcsi-perf.log iops us
  "$BUILD/mcsi-perf" -r -m 32 -t "$SECS" "$ISCSI" >"$log.$1" 2>&1
  iops=$(sed -n 's/^iops average \([0-9]*\).*/\1/p' "$log.$1")
  us=$(sed -n 's/.*us_per_io \([0-9.]*\).*/\1/p' "$log.$1")
  [ -n "$iops" ] || { echo "bench-nbd-hop.sh: mcsi-perf round $1 failed (see $log.$1)" >&2; return; }
  record mcsi-perf "$1" "$iops" "${us:--}"
}

echo "bench-nbd-hop.sh: ${CONTENDERS[*]} x $ROUNDS rounds, ${SECS}s each" >&2
one_round() { # CONTENDER ROUND
  if [ "$1" = mcsi-perf ]; then run_direct "$2"; return; fi
  start "$1"
  run_export "$1" "$2"
  stop_server
}
bench_rounds "$ROUNDS" one_round "${CONTENDERS[@]}"

lua5.4 - "$RES" "${CONTENDERS[*]}" "$ROUNDS" "$SECS" <<'LUA' | tee "$OUT"
local res, names, rounds, secs = arg[1], arg[2], arg[3], arg[4]
local v = {}
for line in io.lines(res) do
  local c, _, iops, us = line:match("^(%S+)\t(%S+)\t(%S+)\t(%S+)$")
  if c then
    v[c] = v[c] or { iops = {}, us = {} }
    table.insert(v[c].iops, tonumber(iops))
    if tonumber(us) then table.insert(v[c].us, tonumber(us)) end
  end
end
local function med(xs)
  if not xs or #xs == 0 then return nil end
  table.sort(xs)
  local m = #xs % 2 == 1 and xs[(#xs + 1) // 2] or (xs[#xs // 2] + xs[#xs // 2 + 1]) / 2
  return m, xs[1], xs[#xs]
end
local direct = v["mcsi-perf"] and med(v["mcsi-perf"].iops)
print(string.format("### The NBD hop: fio nbd 4 KiB randread QD 32 on the tgt null LUN (%s rounds, %s s, medians [min-max])", rounds, secs))
print()
print("| contender | IOPS | CPU us/I/O of the server | IOPS / mcsi-perf direct |")
print("|---|---|---|---|")
for c in names:gmatch("%S+") do
  local x = v[c]
  if x then
    local m, lo, hi = med(x.iops)
    local u, ulo, uhi = med(x.us)
    print(string.format("| %s | %.0f [%.0f-%.0f] | %s | %s |", c, m, lo, hi,
      u and string.format("%.2f [%.2f-%.2f]", u, ulo, uhi) or "-",
      (direct and c ~= "mcsi-perf") and string.format("%.2f", m / direct) or "-"))
  end
end
LUA
