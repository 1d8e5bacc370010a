#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/bench-daemon.sh BUILD_DIR: the service's figures for make bench (issue 9),
# a Markdown section printed and written to BUILD_DIR/bench-daemon.md (the
# tools' logs in BUILD_DIR/bench-logs/daemon-*.log). A report, never a
# pass/fail test: a tool that fails leaves its log's tail in the section.
#
# Run it inside the harness (make bench-daemon, also part of make bench):
#   tests/harness/with-targets bash tools/bench-daemon.sh build
#   * tools/mcsid-roundtrip.py: a Status-only call and GetVersion through the
#     socket (p50, p99 over BENCH_DAEMON_CALLS, 2000), AddConnectionToSession
#     and RemoveConnectionFromSession end to end on a real tgt session (p50,
#     p99 over BENCH_DAEMON_ROUNDS, 50);
#   * tools/mcsid-scale.py: BENCH_DAEMON_SESSIONS (250) x
#     BENCH_DAEMON_CONNECTIONS (4) held by one mcsid on tgt, idle CPU over
#     BENCH_DAEMON_IDLE (10) s and RSS per connection.
# About 30 s.
set -uo pipefail

die() { echo "bench-daemon.sh: $*" >&2; exit 2; }
[ $# -eq 1 ] || die "usage: bench-daemon.sh BUILD_DIR"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "$1" 2>/dev/null && pwd) || die "no such directory: $1"
[ -x "$BUILD/mcsid" ] || die "$BUILD/mcsid not built (make)"
: "${MCSI_TGT_PORT:?run inside tests/harness/with-targets}"
LOGS=$BUILD/bench-logs
OUT=$BUILD/bench-daemon.md
mkdir -p "$LOGS" || die "cannot create $LOGS"
export MCSI_BUILD_DIR=$BUILD

# TOOL LOG ARGS...: the tool's stdout (its table), or the failure and its log's tail.
run() {
  local tool=$1 log=$2 out rc; shift 2
  out=$(python3 "$ROOT/tools/$tool" --markdown "$@" 2>"$log"); rc=$?
  if [ $rc -ne 0 ]; then
    printf '%s\n\n%s exited %d; the end of its log (%s):\n\n```\n%s\n```\n' \
      "$out" "$tool" "$rc" "$log" "$(tail -n 15 "$log")"
  else
    printf '%s\n' "$out"
  fi
}

main() {
  local start=$SECONDS
  {
    printf '\n## The service: mcsid through its socket, and at scale (tgt)\n\n'
    printf '%s, %s CPUs, load before %s.\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" \
      "$(cut -d' ' -f1-3 /proc/loadavg)"
    run mcsid-roundtrip.py "$LOGS/daemon-roundtrip.log" \
      --calls "${BENCH_DAEMON_CALLS:-2000}" --rounds "${BENCH_DAEMON_ROUNDS:-50}"
    echo
    run mcsid-scale.py "$LOGS/daemon-scale.log" --sessions "${BENCH_DAEMON_SESSIONS:-250}" \
      --connections "${BENCH_DAEMON_CONNECTIONS:-4}" --idle "${BENCH_DAEMON_IDLE:-10}"
    printf '\nIdle CPU: utime+stime of /proc/PID/stat over the idle seconds; RSS per connection:\n'
    printf '(VmRSS with the sessions - VmRSS before any) / connections. Section time: %d s.\n' \
      $((SECONDS - start))
  } | tee "$OUT"
}

main
