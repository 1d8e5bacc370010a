#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/bench-nbd-sparse.sh BUILD_DIR: copying a mostly empty thin LUN out
# through an NBD export, mcsi (scripts/export.lua, one connection) against
# qemu-nbd serving the same LUN through libiscsi (`qemu-nbd -t --shared=8 -k
# SOCK -f raw --cache=none iscsi://...`), in the same run, with the same
# clients. A report, never a pass/fail test. Run inside the harness (make
# bench-nbd-sparse; make bench runs it too):
#   tests/harness/with-targets bash tools/bench-nbd-sparse.sh build
#
# The LUN: 1 GiB, tgt thin_provisioning=1 over a sparse file holding 16 MiB
# of random data in 4 pieces (tid 12, added for the run). Both servers
# answer NBD_CMD_BLOCK_STATUS from GET LBA STATUS, so a client can skip the
# holes. Workloads, per contender: `nbdcopy URI FILE` and `qemu-img convert
# -f raw -O raw URI FILE` into /dev/shm (seconds of wall time, the copy
# checked identical), and `nbdinfo --map` (extents seen). Each round starts
# every contender afresh and runs them in the listed order in odd rounds,
# reversed in even ones; BENCH_NBD_ROUNDS rounds (default 3, at least 3).
# The report gives medians with min-max and the ratio qemu-nbd / mcsi of
# the medians (above 1: mcsi is faster). Writes
# BUILD_DIR/bench-nbd-sparse-report.md; logs in BUILD_DIR/bench-nbd-sparse-logs/.
set -uo pipefail

BENCH=bench-nbd-sparse.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench-nbd-lib.sh"
[ $# -eq 1 ] || die "usage: bench-nbd-sparse.sh BUILD_DIR"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "$1" && pwd) || die "no build directory $1"
ROUNDS=${BENCH_NBD_ROUNDS:-3}
CONTENDERS=(mcsi qemu-nbd)
LOGS=$BUILD/bench-nbd-sparse-logs
RES=$LOGS/results.tsv
OUT=$BUILD/bench-nbd-sparse-report.md
bench_preflight BENCH_NBD_ROUNDS "$ROUNDS" nbdcopy qemu-img qemu-nbd nbdinfo
[ -x "$BUILD/mcsi" ] || die "$BUILD/mcsi not built"
mkdir -p "$LOGS" && rm -f "$LOGS"/*

TID=12
IQN=iqn.2026-11.org.mcsi.test:nbd-sparse-bench
SIZE=$((1 << 30))
bench_workdir mcsi-bench-sparse
cleanup() { stop_server; adm --op delete --mode target --tid "$TID" --force >/dev/null 2>&1; rm -rf -- "$W"; }
trap cleanup EXIT

truncate -s "$SIZE" "$W/lun.img"
for mib in 0 256 600 1000; do
  head -c $((4 << 20)) /dev/urandom | dd of="$W/lun.img" bs=1M seek="$mib" conv=notrunc status=none
done
adm --op new --mode target --tid "$TID" --targetname "$IQN" &&
  adm --op bind --mode target --tid "$TID" --initiator-address ALL &&
  adm --op new --mode logicalunit --tid "$TID" --lun 1 --backing-store "$W/lun.img" &&
  adm --op update --mode logicalunit --tid "$TID" --lun 1 --params thin_provisioning=1 || die "cannot add the bench LUN"

start() {
  local name=$1 log=$LOGS/server-$1.log
  case $name in
    mcsi) serve_mcsi "$BUILD/mcsi" "$IQN" 1 "$log" ;;
    qemu-nbd) serve_qemu_nbd "iscsi://127.0.0.1:$MCSI_TGT_PORT/$IQN/1" "$log" ;;
  esac
  await_server "$name" "$log"
}

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# one_round NAME ROUND: every workload against a fresh server.
one_round() {
  local name=$1 r=$2 t0 t1 ok
  start "$name"
  nbdinfo --map "$URI" >"$LOGS/map-$name-$r.txt" 2>&1
  printf '%s\t%s\textents\t%s\n' "$name" "$r" "$(wc -l <"$LOGS/map-$name-$r.txt")" >>"$RES"
  rm -f "$W/out.img"; truncate -s "$SIZE" "$W/out.img"
  t0=$(now); nbdcopy "$URI" "$W/out.img" >>"$LOGS/client.log" 2>&1; ok=$?; t1=$(now)
  cmp -s "$W/out.img" "$W/lun.img" || ok=1
  printf '%s\t%s\tnbdcopy\t%s\t%s\n' "$name" "$r" "$(secs "$t0" "$t1")" "$ok" >>"$RES"
  rm -f "$W/out.img"
  t0=$(now); qemu-img convert -f raw -O raw "$URI" "$W/out.img" >>"$LOGS/client.log" 2>&1; ok=$?; t1=$(now)
  cmp -s "$W/out.img" "$W/lun.img" || ok=1
  printf '%s\t%s\tqemu-img-convert\t%s\t%s\n' "$name" "$r" "$(secs "$t0" "$t1")" "$ok" >>"$RES"
  rm -f "$W/out.img"
  stop_server
}

bench_rounds "$ROUNDS" one_round "${CONTENDERS[@]}"

# median [min-max] of a workload's seconds for one contender
stat_of() {
  awk -F'\t' -v n="$1" -v w="$2" '$1 == n && $3 == w { print $4 }' "$RES" | sort -n |
    awk '{ v[NR] = $1 } END { if (!NR) { print "-"; exit } m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
           printf "%.2f [%.2f-%.2f]", m, v[1], v[NR] }'
}
med_of() { stat_of "$1" "$2" | cut -d' ' -f1; }
fails=$(awk -F'\t' '$3 != "extents" && $5 != 0' "$RES" | wc -l)
{
  echo "# Copying a mostly empty 1 GiB thin LUN out through NBD ($(date -u +%Y-%m-%dT%H:%MZ), $ROUNDS rounds)"
  echo
  echo "tgt thin_provisioning=1, 16 MiB of data in 4 pieces, the rest holes; seconds of wall time, median [min-max];"
  echo "ratio = qemu-nbd / mcsi (above 1: mcsi faster). Copies checked identical: $([ "$fails" -eq 0 ] && echo all || echo "$fails FAILED")."
  echo
  echo "| workload | mcsi | qemu-nbd + libiscsi | ratio |"
  echo "|---|---|---|---|"
  for w in nbdcopy qemu-img-convert; do
    m=$(med_of mcsi "$w"); q=$(med_of qemu-nbd "$w")
    ratio=$(awk -v m="$m" -v q="$q" 'BEGIN { if (m > 0) printf "%.2f", q / m; else print "-" }')
    echo "| $w | $(stat_of mcsi "$w") | $(stat_of qemu-nbd "$w") | $ratio |"
  done
  echo
  echo "nbdinfo --map lines: mcsi $(awk -F'\t' '$1 == "mcsi" && $3 == "extents" { print $4; exit }' "$RES"), qemu-nbd $(awk -F'\t' '$1 == "qemu-nbd" && $3 == "extents" { print $4; exit }' "$RES")"
  echo
  echo '```'
  head -12 "$LOGS/map-mcsi-1.txt"
  echo '```'
} >"$OUT"
cat "$OUT"
