#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/bench-nbd.sh BUILD_DIR: NBD exports of mcsi (scripts/export.lua with
# 1, 2 and 4 connections in the session) against qemu-nbd serving the same
# LUN through libiscsi (`qemu-nbd -t --shared=8 -k SOCK -f raw --cache=none
# iscsi://...`, one iSCSI connection), in the same run, with the same
# clients. A report, never a pass/fail test. Run inside the harness
# (make bench-nbd, or make bench which runs it after tools/bench.sh):
#   tests/harness/with-targets bash tools/bench-nbd.sh build
#
# The LUN: a 1 GiB file LUN added to the harness's tgtd for the run (tid 9).
# Workloads, per contender: nbdcopy of 1 GiB of random data into the export
# and back out to a file (MB/s of wall time), then fio's nbd engine for
# BENCH_NBD_SECONDS each: 4 KiB random reads and writes at QD 32, 256 KiB
# sequential reads and writes at QD 32 (IOPS, MB/s). Each round starts every
# contender afresh and runs them in the listed order in odd rounds, reversed
# in even ones; BENCH_NBD_ROUNDS rounds (default 3, at least 3). The report
# gives ratios of medians (mcsi / qemu-nbd) first, then medians with
# min-max. Then the hop on the null LUN (tools/bench-nbd-hop.sh: fio 4 KiB
# randread QD 32, IOPS and CPU us per I/O of the serving process, mcsi's
# export and qemu-nbd against mcsi-perf direct; nbdcopy out and in, MB/s and
# CPU us per MB of the serving process; BENCH_NBD_OLD=DIR adds the
# export of another build, e.g. of the base commit, there and as contenders
# mcsi-old-cN in BENCH_NBD_CONTENDERS, whose last one is the peer). Writes
# BUILD_DIR/bench-nbd-report.md; logs in BUILD_DIR/bench-nbd-logs/.
set -uo pipefail

BENCH=bench-nbd.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench-nbd-lib.sh"
[ $# -eq 1 ] || die "usage: bench-nbd.sh BUILD_DIR"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "$1" && pwd) || die "no build directory $1"
ROUNDS=${BENCH_NBD_ROUNDS:-3}
SECS=${BENCH_NBD_SECONDS:-4}
CONTENDERS=(${BENCH_NBD_CONTENDERS:-mcsi-c1 mcsi-c2 mcsi-c4 qemu-nbd})
LOGS=$BUILD/bench-nbd-logs
RES=$LOGS/results.tsv
OUT=$BUILD/bench-nbd-report.md
bench_preflight BENCH_NBD_ROUNDS "$ROUNDS" nbdcopy fio qemu-nbd nbdinfo
[ -x "$BUILD/mcsi" ] || die "$BUILD/mcsi not built"
mkdir -p "$LOGS" && rm -f "$LOGS"/*

TID=9
IQN=iqn.2026-11.org.mcsi.test:nbd-bench
SIZE=$((1 << 30))
bench_workdir mcsi-bench-nbd
cleanup() { stop_server; adm --op delete --mode target --tid "$TID" --force >/dev/null 2>&1; rm -rf -- "$W"; }
trap cleanup EXIT

truncate -s "$SIZE" "$W/lun.img"
adm --op new --mode target --tid "$TID" --targetname "$IQN" &&
  adm --op update --mode target --tid "$TID" --name MaxConnections --value 4 &&
  adm --op bind --mode target --tid "$TID" --initiator-address ALL &&
  adm --op new --mode logicalunit --tid "$TID" --lun 1 --backing-store "$W/lun.img" || die "cannot add the bench LUN"
head -c "$SIZE" /dev/urandom >"$W/in.img"

# start CONTENDER: serves the LUN on $SOCK until stop_server.
start() {
  local name=$1 log=$LOGS/server-$1.log
  case $name in
    mcsi-c*) serve_mcsi "$BUILD/mcsi" "$IQN" 1 "$log" --connections "${name#mcsi-c}" ;;
    mcsi-old-c*) serve_mcsi "${BENCH_NBD_OLD:?mcsi-old-cN needs BENCH_NBD_OLD}/mcsi" "$IQN" 1 "$log" \
                   --connections "${name#mcsi-old-c}" ;;
    qemu-nbd) serve_qemu_nbd "iscsi://127.0.0.1:$MCSI_TGT_PORT/$IQN/1" "$log" ;;
  esac
  await_server "$name" "$log"
}

mbs_of() { awk -v t0="$1" -v t1="$2" -v b="$SIZE" 'BEGIN { printf "%.0f", b / 1e6 / (t1 - t0) }'; }
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$RES"; }   # contender workload round iops mbs

# fio_run RW BS: "iops mbs" from fio's terse output (v3: read bw KiB/s field 7, iops 8; write 48, 49).
fio_run() {
  local out
  out=$(fio --name=bench --ioengine=nbd --uri="$URI" --rw="$1" --bs="$2" --iodepth=32 --size=1g \
          --time_based --runtime="$SECS" --output-format=terse 2>>"$LOGS/fio.err" | grep '^3;' | tail -1)
  case $1 in
    *read) awk -F';' '{ printf "%d %.0f\n", $8, $7 * 1024 / 1e6 }' <<<"$out" ;;
    *) awk -F';' '{ printf "%d %.0f\n", $49, $48 * 1024 / 1e6 }' <<<"$out" ;;
  esac
}

workloads() { # CONTENDER ROUND
  local c=$1 r=$2 t0 t1 iops mbs
  t0=$(now); nbdcopy "$W/in.img" "$URI" 2>>"$LOGS/nbdcopy.err" && t1=$(now) && record "$c" copy-in "$r" - "$(mbs_of "$t0" "$t1")"
  rm -f "$W/out.img"; truncate -s "$SIZE" "$W/out.img"
  t0=$(now); nbdcopy "$URI" "$W/out.img" 2>>"$LOGS/nbdcopy.err" && t1=$(now) && record "$c" copy-out "$r" - "$(mbs_of "$t0" "$t1")"
  cmp -s "$W/in.img" "$W/out.img" || echo "bench-nbd.sh: $c round $r: the copy read back differs" >&2
  for w in randread:4k randwrite:4k read:256k write:256k; do
    read -r iops mbs < <(fio_run "${w%%:*}" "${w#*:}")
    record "$c" "${w%%:*}-${w#*:}" "$r" "${iops:--}" "${mbs:--}"
  done
}

echo "bench-nbd.sh: ${#CONTENDERS[@]} contenders x $ROUNDS rounds, fio ${SECS}s per run" >&2
one_round() { start "$1"; workloads "$1" "$2"; stop_server; }   # CONTENDER ROUND
bench_rounds "$ROUNDS" one_round "${CONTENDERS[@]}"

# The report: per workload, ratios of medians to qemu-nbd, then median [min-max] of each.
lua5.4 - "$RES" "${CONTENDERS[*]}" "$ROUNDS" "$SECS" <<'LUA' | tee "$OUT"
local res, names, rounds, secs = arg[1], arg[2], arg[3], arg[4]
local cont = {}
for n in names:gmatch("%S+") do cont[#cont + 1] = n end
local v = {}            -- v[workload][contender] = { {iops, mbs}, ... }
local order = {}
for line in io.lines(res) do
  local c, w, _, iops, mbs = line:match("^(%S+)\t(%S+)\t(%S+)\t(%S+)\t(%S+)$")
  if c then
    if not v[w] then v[w] = {}; order[#order + 1] = w end
    v[w][c] = v[w][c] or {}
    table.insert(v[w][c], { tonumber(iops), tonumber(mbs) })
  end
end
local function stats(list, k)
  local xs = {}
  for _, p in ipairs(list or {}) do if p[k] then xs[#xs + 1] = p[k] end end
  if #xs == 0 then return nil end
  table.sort(xs)
  local m = #xs % 2 == 1 and xs[(#xs + 1) // 2] or (xs[#xs // 2] + xs[#xs // 2 + 1]) / 2
  return m, xs[1], xs[#xs]
end
local peer = cont[#cont]
print(string.format("### NBD exports: mcsi vs %s (same tgt 1 GiB file LUN, same clients, %s rounds, fio %s s)", peer, rounds, secs))
print()
local head = { "workload", "unit" }
for i = 1, #cont - 1 do head[#head + 1] = cont[i] .. "/" .. peer end
for _, c in ipairs(cont) do head[#head + 1] = c .. " median [min-max]" end
print("| " .. table.concat(head, " | ") .. " |")
print("|" .. string.rep("---|", #head))
for _, w in ipairs(order) do
  local units = w:match("^copy") and { { 2, "MB/s" } } or { { 1, "IOPS" }, { 2, "MB/s" } }
  for _, u in ipairs(units) do
    local row = { w, u[2] }
    local pm = stats(v[w][peer], u[1])
    for i = 1, #cont - 1 do
      local m = stats(v[w][cont[i]], u[1])
      row[#row + 1] = (m and pm and pm > 0) and string.format("%.2f", m / pm) or "-"
    end
    for _, c in ipairs(cont) do
      local m, lo, hi = stats(v[w][c], u[1])
      row[#row + 1] = m and string.format("%.0f [%.0f-%.0f]", m, lo, hi) or "-"
    end
    print("| " .. table.concat(row, " | ") .. " |")
  end
end
LUA

# The hop: CPU per I/O on the null LUN, export/direct (its own rounds, same harness).
echo | tee -a "$OUT"
bash "$ROOT/tools/bench-nbd-hop.sh" "$BUILD" ${BENCH_NBD_OLD:+"$BENCH_NBD_OLD"} >/dev/null &&
  tee -a "$OUT" <"$BUILD/bench-nbd-hop-report.md"
