# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/bench-nbd-lib.sh: what the NBD benches (tools/bench-nbd.sh,
# bench-nbd-sparse.sh, bench-nbd-hop.sh) share, sourced by each. The script
# sets BENCH (its name, for messages) before sourcing, and SOCK, URI, LOGS,
# ROOT before serving. One server at a time: SERVER_PID.

die() { echo "$BENCH: $*" >&2; exit 2; }

# bench_preflight ROUNDS_VAR ROUNDS TOOL...: inside the harness, rounds >= 3, tools present.
bench_preflight() {
  local var=$1 rounds=$2 t; shift 2
  [[ $rounds =~ ^[0-9]+$ ]] && [ "$rounds" -ge 3 ] || die "$var must be 3 or more"
  : "${MCSI_TGT_IPC:?run inside tests/harness/with-targets}"
  for t in "$@"; do command -v "$t" >/dev/null || die "$t missing (bash tools/deps.sh)"; done
}

adm() { TGT_IPC_SOCKET=$MCSI_TGT_IPC timeout 10 tgtadm -C 0 --lld iscsi "$@"; }

SERVER_PID=
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=
}

# serve_mcsi MCSI_BIN TARGET LUN LOG [ARGS...]: scripts/export.lua on $SOCK.
serve_mcsi() {
  local bin=$1 target=$2 lun=$3 log=$4; shift 4
  rm -f "$SOCK"
  "$bin" "$ROOT/scripts/export.lua" --target "$target" --portal "127.0.0.1:$MCSI_TGT_PORT" \
    --lun "$lun" --socket "$SOCK" "$@" >>"$log" 2>&1 &
  SERVER_PID=$!
}

# serve_qemu_nbd ISCSI_URI LOG: qemu-nbd through libiscsi on $SOCK.
serve_qemu_nbd() {
  rm -f "$SOCK"
  qemu-nbd -t --shared=8 -k "$SOCK" -f raw --cache=none "$1" >>"$2" 2>&1 &
  SERVER_PID=$!
}

# await_server NAME LOG: until nbdinfo sees the export on $URI (10 s), else die.
await_server() {
  local i
  for ((i = 0; i < 200; i++)); do
    nbdinfo --size "$URI" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  die "$1 did not start (see $2)"
}

# round_order ROUND NAME...: ORDER=(the names), reversed in even rounds.
round_order() {
  local r=$1 i; shift
  ORDER=("$@")
  if [ $((r % 2)) -eq 0 ]; then
    ORDER=(); for ((i = $#; i >= 1; i--)); do ORDER+=("${!i}"); done
  fi
}

# bench_rounds ROUNDS FUNC NAME...: FUNC NAME ROUND for every name in every
# round, in the listed order in odd rounds, reversed in even ones.
bench_rounds() {
  local rounds=$1 func=$2 r c; shift 2
  for ((r = 1; r <= rounds; r++)); do
    round_order "$r" "$@"
    for c in "${ORDER[@]}"; do
      echo "$BENCH: round $r: $c" >&2
      "$func" "$c" "$r"
    done
  done
}

# bench_workdir PREFIX: W (a fresh directory, in /dev/shm when it can), SOCK and URI in it.
bench_workdir() {
  W=$(mktemp -d "/dev/shm/$1.XXXXXX" 2>/dev/null || mktemp -d)
  SOCK=$W/nbd.sock
  URI="nbd+unix:///?socket=$SOCK"
}

now() { date +%s.%N; }
