#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/bench.sh [--base COMMIT] BUILD_DIR: mcsi-perf against libiscsi's
# iscsi-perf on the same LUNs in one run; with --base, also against mcsi-perf
# built from COMMIT. Prints a Markdown report and writes it to
# BUILD_DIR/bench-report.md (every run's output in BUILD_DIR/bench-logs/).
# A report, never a pass/fail test: no figure makes it fail.
#
# Run it inside the harness (make bench [BASE=COMMIT]):
#   tests/harness/with-targets bash tools/bench.sh [--base COMMIT] build
# which exports MCSI_TGT_PORT, MCSI_TGT_IQN_PLAIN, MCSI_TGT_NULL_LUN,
# MCSI_ISTGT_PORT, MCSI_ISTGT_IQN.
#
# Method, per workload: a warm-up run of each program (not counted; the first
# program to run against a fresh target is slower), then ROUNDS rounds in which
# every contender runs once for SECONDS, in the listed order in odd rounds and
# reversed in even ones. The report gives medians with min–max over the rounds
# and ratios of medians; CPU per I/O is user+sys / I/Os of the whole process:
# mcsi-perf's own getrusage, iscsi-perf's rusage as a child (bench-rusage).
#
# Workloads (reads, sequential):
#   tgt null LUN     4 KiB QD 32: mcsi-perf -c 1, 2, 4, iscsi-perf [, old -c 1, 4]
#                    256 KiB QD 16: mcsi-perf -c 1, 4, iscsi-perf [, old -c 1]
#   istgt LUN 0      4 KiB QD 32 and 256 KiB QD 16: mcsi-perf, iscsi-perf
# Knobs (environment): BENCH_ROUNDS (6, at least 3), BENCH_SECONDS (4),
# BENCH_WARMUP (2 s), BENCH_ISTGT (1: the istgt rows), BENCH_EXTRAS (1: the
# MC/S operations and Lua sections), BENCH_BASE (same as --base),
# BENCH_CC / BENCH_CFLAGS (the old build's compiler and flags).
# About 6 minutes with the defaults, 7 with a base.
set -uo pipefail

die() { echo "bench.sh: $*" >&2; exit 2; }
usage() { die "usage: bench.sh [--base COMMIT] BUILD_DIR"; }

BASE_REV=${BENCH_BASE:-}
while [ $# -gt 0 ]; do
  case $1 in
    --base) [ $# -ge 2 ] || usage; BASE_REV=$2; shift 2 ;;
    --base=*) BASE_REV=${1#--base=}; shift ;;
    -*) usage ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || usage

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$1
PERF=$BUILD/mcsi-perf
RUSAGE=$BUILD/bench-rusage
ROUNDS=${BENCH_ROUNDS:-6}
SECS=${BENCH_SECONDS:-4}
WARMUP=${BENCH_WARMUP:-2}
HOST=${MCSI_TGT_HOST:-127.0.0.1}
ISTGT_HOST=${MCSI_ISTGT_HOST:-$HOST}
LOGS=$BUILD/bench-logs
RES=$LOGS/results.tsv
OUT=$BUILD/bench-report.md
BASE_PERF=

[[ $ROUNDS =~ ^[0-9]+$ ]] && [ "$ROUNDS" -ge 3 ] || die "BENCH_ROUNDS must be 3 or more"
[[ $SECS =~ ^[1-9][0-9]*$ ]] || die "BENCH_SECONDS must be a positive integer"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be an integer"
[ -x "$PERF" ] || die "$PERF not built (make)"
[ -x "$RUSAGE" ] || die "$RUSAGE not built (make $RUSAGE)"
command -v iscsi-perf >/dev/null || die "iscsi-perf not installed (libiscsi-bin)"
command -v iscsi-readcapacity16 >/dev/null || die "iscsi-readcapacity16 not installed"
command -v lua5.4 >/dev/null || die "lua5.4 not installed"
: "${MCSI_TGT_PORT:?run inside tests/harness/with-targets}"
: "${MCSI_TGT_IQN_PLAIN:?run inside tests/harness/with-targets}"
: "${MCSI_ISTGT_PORT:?run inside tests/harness/with-targets}"
: "${MCSI_ISTGT_IQN:?run inside tests/harness/with-targets}"
mkdir -p "$LOGS" || die "cannot create $LOGS"
rm -f "$LOGS"/*

TGT_URL="iscsi://$HOST:$MCSI_TGT_PORT/$MCSI_TGT_IQN_PLAIN/${MCSI_TGT_NULL_LUN:-2}"
ISTGT_URL="iscsi://$ISTGT_HOST:$MCSI_ISTGT_PORT/$MCSI_ISTGT_IQN/${BENCH_ISTGT_LUN:-0}"

fact() { printf 'H\t%s\t%s\n' "$1" "$2" >>"$RES"; }
note() { printf 'N\t%s\n' "$*" >>"$RES"; echo "bench.sh: $*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

block_size() { # URL -> logical block length in bytes
  iscsi-readcapacity16 "$1" 2>/dev/null | sed -n 's/^LOGICAL BLOCK LENGTH IN BYTES:\([0-9]*\).*/\1/p'
}

# contender_cmd NAME URL M B SECONDS: sets CMD to the command line of contender NAME.
contender_cmd() {
  local name=$1 url=$2 m=$3 b=$4 s=$5 conns=()
  case $name in
    *-c[0-9]*) conns=(-c "${name##*-c}") ;;
  esac
  case $name in
    mcsi*) CMD=("$PERF" "${conns[@]}" -m "$m" -b "$b" -t "$s" "$url") ;;
    base*) CMD=("$BASE_PERF" "${conns[@]}" -m "$m" -b "$b" -t "$s" "$url") ;;
    iscsi) CMD=(iscsi-perf -m "$m" -b "$b" -t "$s" "$url") ;;
    *) die "unknown contender $name" ;;
  esac
}

# run_one LOG SECONDS CMD...: runs CMD under bench-rusage (and a timeout);
# prints "iops mbs cpu_us wrap_us rc": average IOPS and MB/s from the tool's
# "iops average" line, its own CPU µs per I/O ("us_per_io", mcsi-perf only,
# else "-"), CPU µs per I/O from its rusage as a child with I/Os = IOPS x
# SECONDS, and its exit status. Missing figures are "-".
run_one() {
  local log=$1 secs=$2 rc line iops=- mbs=- own wrap; shift 2
  "$RUSAGE" "$log.rusage" timeout -k 5 $((secs + 60)) "$@" >"$log" 2>"$log.err"
  rc=$?
  line=$(tr '\r' '\n' <"$log" | grep -E '^iops average [0-9]+ \([0-9]+ MB/s\)' | tail -n1)
  [ -n "$line" ] && read -r iops mbs < <(sed -E 's/^iops average ([0-9]+) \(([0-9]+) MB\/s\).*/\1 \2/' <<<"$line")
  own=$(sed -n 's/.*us_per_io \([0-9.]*\).*/\1/p' "$log" | tail -n1)
  wrap=$(awk -v i="$iops" -v s="$secs" '/^user/ {
    if (i == "-" || i + 0 == 0) print "-"; else printf "%.3f\n", ($2 + $4) * 1e6 / (i * s) }' \
    "$log.rusage" 2>/dev/null)
  echo "$iops $mbs ${own:--} ${wrap:--} $rc"
}

# measure TARGET WKEY CONTENDER ROUND FIRST URL M B: one counted run, one R line.
measure() {
  local target=$1 wkey=$2 name=$3 round=$4 first=$5 log iops mbs own wrap rc cpu
  contender_cmd "$name" "$6" "$7" "$8" "$SECS"
  log=$LOGS/$target-$wkey-$name.$round.log
  read -r iops mbs own wrap rc < <(run_one "$log" "$SECS" "${CMD[@]}")
  if [ "$rc" != 0 ] || [ "$iops" = - ]; then
    note "$target $wkey $name round $round: exit status $rc, no figures kept: $(tr '\n' ' ' <"$log.err" | head -c 300)"
    iops=- mbs=- own=- wrap=-
  fi
  cpu=$own
  [ "$name" = iscsi ] && cpu=$wrap
  printf 'R\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$wkey" "$name" "$round" "$first" \
    "$iops" "$mbs" "$cpu" "$wrap" "$rc" >>"$RES"
  echo "bench.sh: $target $wkey round $round/$ROUNDS: $name $iops IOPS, CPU $cpu µs/IO" >&2
}

# warm_up TARGET WKEY URL M B CONTENDERS...: one run of each program, not counted.
warm_up() {
  local target=$1 wkey=$2 url=$3 m=$4 b=$5 name seen=" "; shift 5
  [ "$WARMUP" -gt 0 ] || return 0
  for name in "$@"; do
    local program=${name%%-c*}
    [[ $seen == *" $program "* ]] && continue
    seen+="$program "
    contender_cmd "$program" "$url" "$m" "$b" "$WARMUP"
    local iops rest
    read -r iops rest < <(run_one "$LOGS/$target-$wkey-$program.warmup.log" "$WARMUP" "${CMD[@]}")
    printf 'U\t%s\t%s\t%s\t%s\n' "$target" "$wkey" "$program" "$iops" >>"$RES"
  done
}

# workload TARGET WKEY LABEL URL QD BYTES CONTENDERS...: warm-up, then the rounds.
workload() {
  local target=$1 wkey=$2 label=$3 url=$4 m=$5 bytes=$6 bs b round i; shift 6
  local list=("$@") order
  bs=$(block_size "$url")
  [ "${bs:-0}" -gt 0 ] 2>/dev/null || { note "$label on $url: READ CAPACITY(16) failed, skipped"; return; }
  b=$((bytes / bs))
  [ "$b" -ge 1 ] || b=1
  printf 'W\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$wkey" "$label" "$url" "$bs" "$m" "$b" "$bytes" >>"$RES"
  warm_up "$target" "$wkey" "$url" "$m" "$b" "${list[@]}"
  for ((round = 1; round <= ROUNDS; round++)); do
    order=()
    if ((round % 2)); then
      order=("${list[@]}")
    else
      for ((i = ${#list[@]} - 1; i >= 0; i--)); do order+=("${list[i]}"); done
    fi
    for ((i = 0; i < ${#order[@]}; i++)); do
      measure "$target" "$wkey" "${order[i]}" "$round" $((i == 0)) "$url" "$m" "$b"
    done
  done
}

# mcsi-perf first and iscsi-perf last, so that the two swap places from one
# round to the next; each old build next to the new one it is compared with.
tgt_workloads() {
  local old1=() old4=()
  [ -n "$BASE_PERF" ] && old1=(base) && old4=(base-c4)
  workload tgt 4k "4 KiB read QD 32" "$TGT_URL" 32 4096 mcsi "${old1[@]}" mcsi-c2 mcsi-c4 "${old4[@]}" iscsi
  workload tgt 256k "256 KiB read QD 16" "$TGT_URL" 16 262144 mcsi "${old1[@]}" mcsi-c4 iscsi
}

istgt_workloads() {
  workload istgt 4k "4 KiB read QD 32" "$ISTGT_URL" 32 4096 mcsi iscsi
  workload istgt 256k "256 KiB read QD 16" "$ISTGT_URL" 16 262144 mcsi iscsi
}

extras() {
  local mcs lua
  mcs=$("$BUILD/mcsi-mcsbench" "${BENCH_MCS_ROUNDS:-50}" 2>&1) || mcs="mcsi-mcsbench failed: $mcs"
  lua=$(bash "$ROOT/tools/bench-lua.sh" "$BUILD" 2>&1) || lua="bench-lua.sh failed: $lua"
  printf '\n## MC/S operations (tgt, mcsi-mcsbench)\n\n```\n%s\n```\n' "$mcs"
  printf '\n%s\n' "$lua"   # it has its own heading
}

commit_of() { # DIR -> short commit, "-dirty" when the tree has changes
  local c
  c=$(git -C "$1" rev-parse --short HEAD 2>/dev/null) || { echo "?"; return; }
  git -C "$1" diff --quiet HEAD -- 2>/dev/null || c+="-dirty"
  echo "$c"
}

main() {
  local start=$SECONDS report
  : >"$RES"
  if [ -n "$BASE_REV" ]; then
    BASE_PERF=$(bash "$ROOT/tools/bench-base.sh" "$BUILD" "$BASE_REV") || die "no old build of $BASE_REV"
    fact base "$(git -C "$ROOT" rev-parse --short "$BASE_REV^{commit}")"
  fi
  fact date "$(date -u '+%Y-%m-%d %H:%M UTC')"
  fact cpus "$(nproc)"
  fact kernel "$(uname -r)"
  fact commit "$(commit_of "$ROOT")"
  fact rounds "$ROUNDS"
  fact seconds "$SECS"
  fact warmup "$WARMUP"
  fact load_before "$(loadavg)"
  tgt_workloads
  [ "${BENCH_ISTGT:-1}" = 1 ] && istgt_workloads
  fact load_after "$(loadavg)"
  report=$(lua5.4 "$ROOT/tools/bench-report.lua" "$RES") || die "bench-report.lua failed"
  {
    echo "$report"
    [ "${BENCH_EXTRAS:-1}" = 1 ] && extras
    echo
    echo "Bench time: $((SECONDS - start)) s; every run's output in $LOGS."
  } | tee "$OUT"
}

main
