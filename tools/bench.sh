#!/bin/bash
# tools/bench.sh BUILD_DIR: mcsi-perf against libiscsi's iscsi-perf on the
# same LUNs, runs alternating, ROUNDS times each; prints Markdown tables and
# writes them to BUILD_DIR/bench.md (raw outputs in BUILD_DIR/bench-logs/).
#
# Run it inside the harness (make bench):
#   tests/harness/with-targets bash tools/bench.sh build
# which exports MCSI_TGT_PORT, MCSI_TGT_IQN_PLAIN, MCSI_TGT_NULL_LUN,
# MCSI_ISTGT_PORT, MCSI_ISTGT_IQN.
# Knobs: BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_MC_ROUNDS (1) and
# BENCH_MC_SECONDS (3): runs of the -c 2 / -c 4 rows (mcsi only, compared with
# iscsi-perf on its one connection), BENCH_ISTGT_LUN (0).  About 3 minutes.
# CPU per I/O is measured the same way for both tools: user+sys of the whole
# process (bash's time) divided by (average IOPS x seconds).
set -uo pipefail

BUILD=${1:?usage: bench.sh BUILD_DIR}
PERF=$BUILD/mcsi-perf
ROUNDS=${BENCH_ROUNDS:-3}
SECS=${BENCH_SECONDS:-5}
MC_ROUNDS=${BENCH_MC_ROUNDS:-1}
MC_SECS=${BENCH_MC_SECONDS:-3}
HOST=${MCSI_TGT_HOST:-127.0.0.1}
ISTGT_HOST=${MCSI_ISTGT_HOST:-$HOST}
LOGS=$BUILD/bench-logs
OUT=$BUILD/bench.md

die() { echo "bench.sh: $*" >&2; exit 2; }
[ -x "$PERF" ] || die "$PERF not built (make)"
command -v iscsi-perf >/dev/null || die "iscsi-perf not installed (libiscsi-bin)"
command -v iscsi-readcapacity16 >/dev/null || die "iscsi-readcapacity16 not installed"
: "${MCSI_TGT_PORT:?run inside tests/harness/with-targets}"
: "${MCSI_TGT_IQN_PLAIN:?run inside tests/harness/with-targets}"
: "${MCSI_ISTGT_PORT:?run inside tests/harness/with-targets}"
: "${MCSI_ISTGT_IQN:?run inside tests/harness/with-targets}"
mkdir -p "$LOGS" || die "cannot create $LOGS"

TGT_URL="iscsi://$HOST:$MCSI_TGT_PORT/$MCSI_TGT_IQN_PLAIN/${MCSI_TGT_NULL_LUN:-2}"
ISTGT_URL="iscsi://$ISTGT_HOST:$MCSI_ISTGT_PORT/$MCSI_ISTGT_IQN/${BENCH_ISTGT_LUN:-0}"

block_size() { # URL -> logical block length in bytes
  iscsi-readcapacity16 "$1" 2>/dev/null | sed -n 's/^LOGICAL BLOCK LENGTH IN BYTES:\([0-9]*\).*/\1/p'
}

# run_one LOG CMD...: runs CMD under bash's time; prints "iops mbs cpu_s rc".
run_one() {
  local log=$1; shift
  local TIMEFORMAT='%3U %3S' line rc
  { time { "$@" >"$log" 2>"$log.err"; echo $? >"$log.rc"; }; } 2>"$log.time"
  rc=$(cat "$log.rc")
  line=$(tr '\r' '\n' <"$log" | grep -E '^iops average [0-9]+ \([0-9]+ MB/s\)' | tail -n1)
  if [ -z "$line" ]; then
    echo "- - - $rc"
    return
  fi
  awk -v l="$line" -v rc="$rc" '{ split(l, f, /[ ()]+/)
    printf "%s %s %.3f %s\n", f[3], f[4], $1 + $2, rc }' "$log.time"
}

median() { # numbers on stdin ("-" ignored) -> median or "-"
  grep -E '^[0-9.]+$' | sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "-"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {
  if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'; }

us_per_io() { awk -v c="$1" -v i="$2" -v s="$3" 'BEGIN {
  if (c == "-" || i == "-" || i + 0 == 0) print "-"; else printf "%.2f\n", c * 1e6 / (i * s) }'; }

note() { echo "$*" >>"$LOGS/notes"; }

# measure TAG SECONDS TOOL ARGS...: runs TOOL ARGS (SECONDS: their -t, for the
# CPU per I/O), appends "iops mbs us_per_io" to $LOGS/TAG.res.
measure() {
  local tag=$1 secs=$2 iops mbs cpu rc log; shift 2
  log=$LOGS/$tag.$ROUND.log
  read -r iops mbs cpu rc < <(run_one "$log" "$@")
  if [ "$rc" != 0 ] || [ "$iops" = - ]; then
    note "$tag round $ROUND: exit status $rc, $(tr '\n' ' ' <"$log.err" | head -c 300)"
  fi
  echo "$iops $mbs $(us_per_io "$cpu" "$iops" "$secs")" >>"$LOGS/$tag.res"
}

col() { awk -v n="$2" '{ print $n }' "$LOGS/$1.res" 2>/dev/null | median; }

# row NAME MCSI_TAG ISCSI_TAG: one Markdown row from the medians.
row() {
  local mi mm mc ii im ic
  mi=$(col "$2" 1); mm=$(col "$2" 2); mc=$(col "$2" 3)
  ii=$(col "$3" 1); im=$(col "$3" 2); ic=$(col "$3" 3)
  echo "| $1 | $mi | $ii | $(ratio "$mi" "$ii") | $mm | $im | $mc | $ic | $(ratio "$mc" "$ic") |"
}

HDR='| workload | mcsi IOPS | iscsi-perf IOPS | IOPS ratio | mcsi MB/s | iscsi-perf MB/s | mcsi CPU µs/IO | iscsi-perf CPU µs/IO | CPU ratio |
|---|---:|---:|---:|---:|---:|---:|---:|---:|'

MC_OK=0
detect_mc() { # URL
  local err rc
  err=$("$PERF" -c 2 -t 1 -m 1 -b 1 "$1" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" = 2 ]; then
    MC_NOTE="multi-connection rows: not yet available (mcsi-perf -c 2: $(head -n1 <<<"$err"))"
  else
    MC_OK=1
    MC_NOTE="multi-connection rows: mcsi-perf -c N (one session, N TCP connections), $MC_ROUNDS run(s) of $MC_SECS s: indicative only; ratios against iscsi-perf on its one connection."
  fi
}

# table TITLE URL PREFIX: the 4 KiB QD 32 and 256 KiB QD 16 read workloads.
table() {
  local title=$1 url=$2 pfx=$3 bs b4 b256 w m b c name
  bs=$(block_size "$url")
  [ "${bs:-0}" -gt 0 ] 2>/dev/null || { note "$title: READ CAPACITY(16) failed on $url"; return; }
  b4=$((4096 / bs)); b256=$((262144 / bs))
  [ "$b4" -ge 1 ] || b4=1
  local rows=()
  for w in "4k:32:$b4:4 KiB read QD 32" "256k:16:$b256:256 KiB read QD 16"; do
    IFS=: read -r name m b label <<<"$w"
    rm -f "$LOGS/$pfx-$name-"*.res
    for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
      measure "$pfx-$name-mcsi" "$SECS" "$PERF" -m "$m" -b "$b" -t "$SECS" "$url"
      measure "$pfx-$name-iscsi" "$SECS" iscsi-perf -m "$m" -b "$b" -t "$SECS" "$url"
    done
    rows+=("$(row "$label (-m $m -b $b)" "$pfx-$name-mcsi" "$pfx-$name-iscsi")")
    if [ "$MC_OK" = 1 ]; then
      for c in 2 4; do
        for ((ROUND = 1; ROUND <= MC_ROUNDS; ROUND++)); do
          measure "$pfx-$name-mcsi-c$c" "$MC_SECS" "$PERF" -c "$c" -m "$m" -b "$b" -t "$MC_SECS" "$url"
        done
        rows+=("$(row "$label, mcsi -c $c" "$pfx-$name-mcsi-c$c" "$pfx-$name-iscsi")")
      done
    fi
  done
  printf '\n### %s\n\nBlock size %s, %s\n\n%s\n' "$title" "$bs" "$url" "$HDR"
  printf '%s\n' "${rows[@]}"
}

main() {
  local start=$SECONDS t1 t2
  rm -f "$LOGS"/*
  detect_mc "$TGT_URL"
  t1=$(table "tgt null LUN" "$TGT_URL" tgt)
  t2=$(table "istgt LUN ${BENCH_ISTGT_LUN:-0}, file-backed, reads only" "$ISTGT_URL" istgt)
  local mcs
  mcs=$("$BUILD/mcsi-mcsbench" "${BENCH_MCS_ROUNDS:-50}" 2>&1) || mcs="mcsi-mcsbench failed: $mcs"
  local lua
  lua=$(bash "$(dirname "$0")/bench-lua.sh" "$BUILD" 2>&1) || lua="bench-lua.sh failed: $lua"
  {
    echo "## mcsi-perf vs iscsi-perf"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r), mcsi $(git -C "$(dirname "$0")/.." rev-parse --short HEAD 2>/dev/null || echo '?')."
    echo "Medians of $ROUNDS alternating runs of $SECS s each; reads, sequential. CPU: user+sys of the process / I/Os done."
    echo "$t1"
    echo "$t2"
    echo
    echo "$MC_NOTE"
    echo
    echo "## MC/S operations (tgt, mcsi-mcsbench)"
    echo
    echo '```'
    echo "$mcs"
    echo '```'
    echo
    echo "## Lua layer (tools/bench-lua.sh)"
    echo
    echo "$lua"
    [ -s "$LOGS/notes" ] && sed 's/^/- /' "$LOGS/notes"
    echo
    echo "Bench time: $((SECONDS - start)) s; raw outputs in $LOGS."
  } | tee "$OUT"
}

main
