#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/bench-nbd-hop.sh BUILD_DIR [OLD_BUILD_DIR]: what the NBD hop costs.
# On the harness's tgt null LUN (tid 1, LUN 2: 1 TiB, every command GOOD at
# once, writes discarded: the initiator side is all there is to measure),
# against:
#   mcsi       scripts/export.lua (one connection) of BUILD_DIR
#   mcsi-old   the same of OLD_BUILD_DIR, when given (a build of the base commit)
#   qemu-nbd   qemu-nbd -t --shared=8 through libiscsi (one connection)
# and mcsi-perf -r -m 32 of BUILD_DIR directly on the LUN (no hop), these
# workloads, each with the CPU of the serving process (user+sys from
# /proc/PID/stat over the run; mcsi-perf's own us_per_io):
#   fio        fio's nbd engine, 4 KiB random reads QD 32: IOPS, CPU us per I/O
#              (divided by fio's I/O count)
#   copy-out   nbdcopy EXPORT null: for BENCH_NBD_HOP_SECONDS (the LUN is
#              1 TiB: the copy is stopped, not finished): MB/s of the bytes
#              tgt read for the session (tgtadm --op stat, LUN 2's rd_done),
#              CPU us per MB
#   copy-in    nbdcopy of 1 GiB of random data (a tmpfs file made once) into
#              the export: MB/s of wall time, CPU us per MB
# nbdcopy runs with --connections BENCH_NBD_HOP_COPY_CONNECTIONS (default 4)
# against every server (both advertise multi-conn; said explicitly so that
# both get the same), its default 64 requests of up to 256 KiB.
# Contenders alternate: listed order in odd rounds, reversed in even ones,
# every server started afresh per round; BENCH_NBD_HOP_ROUNDS (default 5, at
# least 3), BENCH_NBD_HOP_SECONDS (default 5) per fio run and per copy-out.
# The report gives medians [min-max], export/direct and mcsi/qemu-nbd.
# Absolute speed on a shared machine is noise; CPU per I/O or per MB moves much less.
# Run inside the harness: tests/harness/with-targets bash tools/bench-nbd-hop.sh build
# Writes BUILD_DIR/bench-nbd-hop-report.md; logs in BUILD_DIR/bench-nbd-hop-logs/.
# BENCH_NBD_HOP_PERF=1: also `perf record -g` on each export for its first
# fio run, copy-out and copy-in (BUILD_DIR/bench-nbd-hop-logs/perf-NAME-WORKLOAD.txt:
# the top of `perf report`, self and with children).
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
COPY_CONNS=${BENCH_NBD_HOP_COPY_CONNECTIONS:-4}
[[ $COPY_CONNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_NBD_HOP_COPY_CONNECTIONS must be a count"
bench_preflight BENCH_NBD_HOP_ROUNDS "$ROUNDS" fio nbdcopy qemu-nbd nbdinfo lua5.4
[ -x "$BUILD/mcsi" ] && [ -x "$BUILD/mcsi-perf" ] || die "$BUILD/mcsi or mcsi-perf not built"
CONTENDERS=(mcsi-perf mcsi ${OLD:+mcsi-old} qemu-nbd)
LOGS=$BUILD/bench-nbd-hop-logs
RES=$LOGS/results.tsv
OUT=$BUILD/bench-nbd-hop-report.md
mkdir -p "$LOGS" && rm -f "$LOGS"/*

LUN=${MCSI_TGT_NULL_LUN:-2}
ISCSI="iscsi://127.0.0.1:$MCSI_TGT_PORT/$MCSI_TGT_IQN_PLAIN/$LUN"
COPY_SIZE=$((1 << 30))
bench_workdir mcsi-bench-hop
TICK=$(getconf CLK_TCK)
cleanup() { stop_server; rm -rf -- "$W"; }
trap cleanup EXIT
head -c "$COPY_SIZE" /dev/urandom >"$W/in.img" || die "cannot write the copy source in $W"

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
# contender workload round value cpu (fio: IOPS, us per I/O; copies: MB/s, us per MB)
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$RES"; }
cpu_us_per() { awk -v t="$1" -v hz="$TICK" -v n="$2" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }'; }   # TICKS UNITS
# Bytes tgt has read from the null LUN for every session now (rd_done bytes of LUN 2).
tgt_read_bytes() {
  adm --op stat --mode target --tid 1 | awk -v lun="$LUN" '$2 == lun && $3 ~ /^[0-9]+$/ { s += $6 } END { printf "%.0f", s }'
}

# perf_start NAME WORKLOAD ROUND / perf_stop: perf record on the server for round 1 (BENCH_NBD_HOP_PERF=1).
PERF_PID= PERF_TAG=
perf_start() {
  PERF_PID=
  [ "${BENCH_NBD_HOP_PERF:-0}" = 1 ] && [ "$3" = 1 ] && command -v perf >/dev/null || return 0
  PERF_TAG=$1-$2
  perf record -g -o "$LOGS/perf-$PERF_TAG.data" -p "$SERVER_PID" >/dev/null 2>&1 &
  PERF_PID=$!
  sleep 0.3
}
perf_stop() {
  [ -n "$PERF_PID" ] || return 0
  kill -INT "$PERF_PID" 2>/dev/null; wait "$PERF_PID" 2>/dev/null
  PERF_PID=
  { echo "# self"
    perf report -i "$LOGS/perf-$PERF_TAG.data" --no-children --stdio --percent-limit 1 -g none 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -30
    echo "# with children (syscalls and our functions)"
    perf report -i "$LOGS/perf-$PERF_TAG.data" --children --sort sym --stdio --percent-limit 2 -g none 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -60; } >"$LOGS/perf-$PERF_TAG.txt"
}

run_fio() { # NAME ROUND
  local c0 c1 out ios iops
  perf_start "$1" fio "$2"
  c0=$(cpu_ticks "$SERVER_PID")
  out=$(fio --name=hop --ioengine=nbd --uri="$URI" --rw=randread --bs=4k --iodepth=32 --size=1g \
          --time_based --runtime="$SECS" --output-format=terse 2>>"$LOGS/fio.err" | grep '^3;' | tail -1)
  c1=$(cpu_ticks "$SERVER_PID")
  perf_stop
  # fio terse v3: read total I/O (KiB) field 6, iops 8
  ios=$(awk -F';' '{ printf "%d", $6 / 4 }' <<<"$out")
  iops=$(awk -F';' '{ printf "%d", $8 }' <<<"$out")
  [ "${ios:-0}" -gt 0 ] || { echo "$BENCH: $1 round $2: fio gave nothing (see $LOGS/fio.err)" >&2; return; }
  record "$1" fio "$2" "$iops" "$(cpu_us_per $((c1 - c0)) "$ios")"
}

run_copy_out() { # NAME ROUND: SECS of nbdcopy EXPORT null:, stopped by SIGINT
  local b0 b1 c0 c1 t0 t1 rc mb
  b0=$(tgt_read_bytes)
  perf_start "$1" copy-out "$2"
  c0=$(cpu_ticks "$SERVER_PID"); t0=$(now)
  timeout -s INT "$SECS" nbdcopy --connections="$COPY_CONNS" "$URI" null: 2>>"$LOGS/nbdcopy.err"
  rc=$?
  t1=$(now); c1=$(cpu_ticks "$SERVER_PID")
  perf_stop
  b1=$(tgt_read_bytes)
  mb=$(awk -v b=$((b1 - b0)) 'BEGIN { printf "%.3f", b / 1e6 }')
  [ "$rc" = 124 ] && awk -v m="$mb" 'BEGIN { exit !(m > 0) }' ||
    { echo "$BENCH: $1 round $2: nbdcopy out ended with $rc after $mb MB (see $LOGS/nbdcopy.err)" >&2; return; }
  record "$1" copy-out "$2" "$(awk -v m="$mb" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", m / (t1 - t0) }')" \
    "$(cpu_us_per $((c1 - c0)) "$mb")"
}

run_copy_in() { # NAME ROUND: the 1 GiB of random data into the export
  local c0 c1 t0 t1 mb
  perf_start "$1" copy-in "$2"
  c0=$(cpu_ticks "$SERVER_PID"); t0=$(now)
  nbdcopy --connections="$COPY_CONNS" "$W/in.img" "$URI" 2>>"$LOGS/nbdcopy.err" ||
    { perf_stop; echo "$BENCH: $1 round $2: nbdcopy in failed (see $LOGS/nbdcopy.err)" >&2; return; }
  t1=$(now); c1=$(cpu_ticks "$SERVER_PID")
  perf_stop
  mb=$(awk -v b="$COPY_SIZE" 'BEGIN { printf "%.3f", b / 1e6 }')
  record "$1" copy-in "$2" "$(awk -v m="$mb" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", m / (t1 - t0) }')" \
    "$(cpu_us_per $((c1 - c0)) "$mb")"
}

run_direct() { # ROUND
  local log=$LOGS/mcsi-perf.log iops us
  "$BUILD/mcsi-perf" -r -m 32 -t "$SECS" "$ISCSI" >"$log.$1" 2>&1
  iops=$(sed -n 's/^iops average \([0-9]*\).*/\1/p' "$log.$1")
  us=$(sed -n 's/.*us_per_io \([0-9.]*\).*/\1/p' "$log.$1")
  [ -n "$iops" ] || { echo "$BENCH: mcsi-perf round $1 failed (see $log.$1)" >&2; return; }
  record mcsi-perf fio "$1" "$iops" "${us:--}"
}

echo "$BENCH: ${CONTENDERS[*]} x $ROUNDS rounds, ${SECS}s each; nbdcopy --connections=$COPY_CONNS" >&2
one_round() { # CONTENDER ROUND
  if [ "$1" = mcsi-perf ]; then run_direct "$2"; return; fi
  start "$1"
  run_fio "$1" "$2"
  run_copy_out "$1" "$2"
  run_copy_in "$1" "$2"
  stop_server
}
bench_rounds "$ROUNDS" one_round "${CONTENDERS[@]}"

lua5.4 - "$RES" "${CONTENDERS[*]}" "$ROUNDS" "$SECS" "$COPY_CONNS" "$(cat /proc/loadavg)" <<'LUA' | tee "$OUT"
local res, names, rounds, secs, conns, load = arg[1], arg[2], arg[3], arg[4], arg[5], arg[6]
local v = {}                      -- v[workload][contender] = { value = {...}, cpu = {...} }
for line in io.lines(res) do
  local c, w, _, val, cpu = line:match("^(%S+)\t(%S+)\t(%S+)\t(%S+)\t(%S+)$")
  if c then
    v[w] = v[w] or {}
    v[w][c] = v[w][c] or { value = {}, cpu = {} }
    table.insert(v[w][c].value, tonumber(val))
    if tonumber(cpu) then table.insert(v[w][c].cpu, tonumber(cpu)) end
  end
end
local function med(xs)
  if not xs or #xs == 0 then return nil end
  table.sort(xs)
  local m = #xs % 2 == 1 and xs[(#xs + 1) // 2] or (xs[#xs // 2] + xs[#xs // 2 + 1]) / 2
  return m, xs[1], xs[#xs]
end
local function cell(xs, fmt)
  local m, lo, hi = med(xs)
  return m and string.format(fmt .. " [" .. fmt .. "-" .. fmt .. "]", m, lo, hi) or "-"
end
local function ratio(a, b) return (a and b and b > 0) and string.format("%.2f", a / b) or "-" end
local function medof(w, c, k) return v[w] and v[w][c] and (med(v[w][c][k])) end
print(string.format("### The NBD hop on the tgt null LUN (%s rounds, medians [min-max]; load average at the end: %s)",
  rounds, load:match("^(%S+ %S+ %S+)") or load))
print()
print(string.format("fio nbd 4 KiB randread QD 32, %s s per run:", secs))
print()
print("| contender | IOPS | CPU us/I/O of the server | IOPS / mcsi-perf direct | CPU/IO qemu-nbd / this |")
print("|---|---|---|---|---|")
local direct = medof("fio", "mcsi-perf", "value")
local qcpu = medof("fio", "qemu-nbd", "cpu")
for c in names:gmatch("%S+") do
  local x = v.fio and v.fio[c]
  if x then
    local m = med(x.value)
    print(string.format("| %s | %s | %s | %s | %s |", c, cell(x.value, "%.0f"), cell(x.cpu, "%.2f"),
      c ~= "mcsi-perf" and ratio(m, direct) or "-", c ~= "mcsi-perf" and c ~= "qemu-nbd" and ratio(qcpu, (med(x.cpu))) or "-"))
  end
end
print()
print(string.format("nbdcopy --connections=%s (64 requests of 256 KiB): copy-out = EXPORT to null: for %s s (MB tgt read), "
  .. "copy-in = 1 GiB of random data from tmpfs into the export:", conns, secs))
print()
print("| workload | contender | MB/s | CPU us/MB of the server | MB/s this / qemu-nbd | CPU/MB qemu-nbd / this |")
print("|---|---|---|---|---|---|")
for _, w in ipairs({ "copy-out", "copy-in" }) do
  local qmb, qc = medof(w, "qemu-nbd", "value"), medof(w, "qemu-nbd", "cpu")
  for c in names:gmatch("%S+") do
    local x = v[w] and v[w][c]
    if x then
      print(string.format("| %s | %s | %s | %s | %s | %s |", w, c, cell(x.value, "%.0f"), cell(x.cpu, "%.0f"),
        c ~= "qemu-nbd" and ratio(med(x.value), qmb) or "-", c ~= "qemu-nbd" and ratio(qc, (med(x.cpu))) or "-"))
    end
  end
end
LUA
