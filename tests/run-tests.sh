#!/bin/bash
# tests/run-tests.sh BUILD_DIR
#
# Runs every test binary BUILD_DIR/tests/test_* (built from tests/c/test_*.c):
#   * test_unit_*: directly, no targets;
#   * tests/sh/test_*.sh BUILD_DIR (the build itself: exported symbols,
#     make install/uninstall), no targets, never under MCSI_TEST_WRAPPER;
#   * BUILD_DIR/fuzz-replay/replay-<h> (make check builds them): over
#     tests/fuzz/corpus/<h>/ and tests/fuzz/regressions/<h>/, one TAP line
#     per file, never under MCSI_TEST_WRAPPER (they are ASan binaries);
#   * every other binary, then every tests/lua/test_*.lua (with lua5.4), then
#     every tests/daemon/test_*.py (with python3: each starts its own mcsid
#     on a temporary socket and state directory; never under
#     MCSI_TEST_WRAPPER), then every tests/nbd/test_*.sh (bash; NBD clients
#     against exports; never under MCSI_TEST_WRAPPER), in sequence inside ONE
#     tests/harness/with-targets invocation.
# Every test prints TAP lines "ok N - ..." / "not ok N - ..." and a plan
# "1..N", and exits non-zero on failure (a Lua file through LuaUnit's TAP
# output, one line per test case: tests/lua/helper.lua). Every such line
# counts; "ok N ... # SKIP why" counts as skipped, not passed. A test that
# crashes, times out or exits non-zero without a "not ok" line, or prints no
# plan, or fewer or more lines than its plan, counts as one more failure.
# Last line: "N passed, N failed, N skipped". Exit 1 if anything failed or
# nothing passed.
#
# Environment:
#   MCSI_TEST_WRAPPER   prefix for each binary, split on blanks (e.g. valgrind ...)
#   MCSI_TEST_TIMEOUT   seconds per binary / Lua file (default 300; x4 with a wrapper)
#   MCSI_TEST_ROOT      the tree whose tests/sh, tests/lua and tests/fuzz run
#                       (default: the one of this script; tests/sh/test_runner.sh
#                       points it at a tree of its own)
#   Everything else (MCSI_TEST_QUICK, ...) passes through to the tests.
# Lua files run from the repository root with MCSI_BUILD_DIR set and
# LUA_CPATH/LUA_PATH extended with BUILD_DIR, BUILD_DIR/lua, bindings/ and tests/lua/.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "${MCSI_TEST_ROOT:-$HERE/..}" && pwd)
HARNESS=$HERE/harness/with-targets

# run_one RESULTS NAME CMD...: runs one TAP test, appends
# "NAME PASSED FAILED SKIPPED" to RESULTS.
run_one() {
    local results=$1 name=$2; shift 2
    local log rc okn notokn skipn plan ran extra=0 t0 secs
    log=$WORK/out.log
    echo "=== $name"
    t0=$SECONDS
    # The test writes to a file that tail streams, rather than into a pipe:
    # a helper process the test leaves behind (even after a timeout) keeps a
    # pipe open but cannot hold up tail --pid. The test runs as a background
    # job (stdin /dev/null) with default INT/QUIT handling restored, in our
    # process group so that Ctrl-C reaches it.
    env --default-signal=INT,QUIT timeout --foreground -k 10 "$TIMEOUT" "$@" >"$log" 2>&1 </dev/null &
    local pid=$!
    tail -n +1 -s 0.1 --pid="$pid" -f "$log"
    wait "$pid"
    rc=$?
    secs=$((SECONDS - t0))
    skipn=$(grep -ciE '^ok( .*)?#[[:space:]]*skip' "$log")
    okn=$(( $(grep -cE '^ok( |$)' "$log") - skipn ))
    notokn=$(grep -cE '^not ok( |$)' "$log")
    ran=$((okn + notokn + skipn))
    plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\)\([[:space:]].*\)\{0,1\}$/\1/p' "$log" | sed -n 1p)
    local why="" more=""
    case $rc in
        0) ;;
        124) why=" (timed out after ${TIMEOUT}s)" ;;
        127) why=" (could not run)" ;;
        *) [ "$rc" -gt 128 ] && why=" (killed by signal $((rc - 128)))" ;;
    esac
    if [ "$rc" -ne 0 ] && [ "$notokn" -eq 0 ]; then
        more="failed without a 'not ok' line"
    elif [ -z "$plan" ]; then
        more="no plan"
    elif [ "$plan" -ne "$ran" ]; then
        more="planned $plan, ran $ran"
    fi
    [ -z "$more" ] || { extra=1; why="$why, $more: counted as one more failure"; }
    echo "--- $name: exit $rc$why; $okn ok, $((notokn + extra)) not ok, $skipn skipped; ${secs}s"
    echo "$name $okn $((notokn + extra)) $skipn" >>"$results"
}

# Inner mode, inside the harness: run-tests.sh --inside WORK BUILD item...
# (item = bin:PATH, lua:PATH or py:PATH). Exits non-zero if anything failed.
if [ "${1:-}" = --inside ]; then
    WORK=$2 BUILD=$3; shift 3
    results=$WORK/results
    TIMEOUT=${MCSI_TEST_TIMEOUT_EFFECTIVE:-300}
    read -ra WRAPPER <<<"${MCSI_TEST_WRAPPER:-}"
    export MCSI_BUILD_DIR=$BUILD
    export LUA_CPATH="$BUILD/?.so;$BUILD/lua/?.so;${LUA_CPATH:-;}"
    export LUA_PATH="$ROOT/bindings/?.lua;$ROOT/tests/lua/?.lua;${LUA_PATH:-;}"
    first=$(( $(wc -l <"$results") + 1 ))   # RESULTS already holds the unit tests
    for item in "$@"; do
        case $item in
            bin:*) p=${item#bin:}; run_one "$results" "${p##*/}" "${WRAPPER[@]}" "$p" ;;
            lua:*) p=${item#lua:}; (cd "$ROOT" && run_one "$results" "lua/${p##*/}" lua5.4 "$p") ;;
            py:*) p=${item#py:}; (cd "$ROOT" && run_one "$results" "daemon/${p##*/}" python3 "$p") ;;
            nbd:*) p=${item#nbd:}; (cd "$ROOT" && run_one "$results" "nbd/${p##*/}" bash "$p") ;;
        esac
    done
    echo "inside-done" >>"$results"
    awk -v first="$first" 'NR >= first && NF == 4 && $3 > 0 { bad = 1 } END { exit bad }' "$results"
    exit
fi

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "run-tests.sh: no such directory: $1" >&2; exit 1; }

read -ra WRAPPER <<<"${MCSI_TEST_WRAPPER:-}"
if [ -n "${MCSI_TEST_TIMEOUT:-}" ]; then
    TIMEOUT=$MCSI_TEST_TIMEOUT
elif [ ${#WRAPPER[@]} -gt 0 ]; then
    TIMEOUT=1200
else
    TIMEOUT=300
fi
export MCSI_TEST_TIMEOUT_EFFECTIVE=$TIMEOUT

unit=() integ=() lua=() replay=() sh=() py=() nbd=()
if [ -d "$BUILD/fuzz-replay" ]; then
    while IFS= read -r f; do
        replay+=("$f")
    done < <(find "$BUILD/fuzz-replay" -maxdepth 1 -type f -name 'replay-*' -perm -u+x | LC_ALL=C sort)
fi
if [ -d "$BUILD/tests" ]; then
    while IFS= read -r f; do
        case ${f##*/} in
            test_unit_*) unit+=("$f") ;;
            *) integ+=("bin:$f") ;;
        esac
    done < <(find "$BUILD/tests" -maxdepth 1 -type f -name 'test_*' -perm -u+x | LC_ALL=C sort)
fi
if [ -d "$ROOT/tests/sh" ]; then
    while IFS= read -r f; do
        sh+=("$f")
    done < <(find "$ROOT/tests/sh" -maxdepth 1 -type f -name 'test_*.sh' | LC_ALL=C sort)
fi
if [ -d "$ROOT/tests/lua" ]; then
    while IFS= read -r f; do
        lua+=("lua:$f")
    done < <(find "$ROOT/tests/lua" -maxdepth 1 -type f -name 'test_*.lua' | LC_ALL=C sort)
fi

if [ -d "$ROOT/tests/nbd" ] && [ -z "${MCSI_TEST_WRAPPER:-}" ]; then   # 1 GiB copies: not under valgrind
    while IFS= read -r f; do
        nbd+=("nbd:$f")
    done < <(find "$ROOT/tests/nbd" -maxdepth 1 -type f -name 'test_*.sh' | LC_ALL=C sort)
fi

if [ -d "$ROOT/tests/daemon" ]; then
    while IFS= read -r f; do
        py+=("py:$f")
    done < <(find "$ROOT/tests/daemon" -maxdepth 1 -type f -name 'test_*.py' | LC_ALL=C sort)
fi

if [ $(( ${#unit[@]} + ${#integ[@]} + ${#lua[@]} + ${#replay[@]} + ${#py[@]} + ${#nbd[@]} )) -eq 0 ]; then
    echo "run-tests.sh: no test binaries in $BUILD/tests/ and no tests/lua/test_*.lua: nothing to run"
    echo "0 passed, 0 failed, 0 skipped"
    exit 1
fi
echo "run-tests.sh: ${#unit[@]} unit, ${#sh[@]} build, ${#replay[@]} fuzz replay, ${#integ[@]} integration binaries, ${#lua[@]} Lua files, ${#py[@]} daemon tests, ${#nbd[@]} NBD scripts" \
     "(timeout ${TIMEOUT}s each${WRAPPER[*]:+, wrapper: ${WRAPPER[*]}})"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcsi-tests.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
RESULTS=$WORK/results
: >"$RESULTS"

export MCSI_BUILD_DIR=$BUILD
for f in "${unit[@]}"; do
    run_one "$RESULTS" "${f##*/}" "${WRAPPER[@]}" "$f"
done

# The build (tests/sh/): shell scripts given BUILD_DIR, no wrapper.
for f in "${sh[@]}"; do
    run_one "$RESULTS" "sh/${f##*/}" bash "$f" "$BUILD"
done

# Fuzz corpus replay (tests/fuzz/): each saved input of a harness is one
# TAP line of BUILD/fuzz-replay/replay-<h>. Built with ASan+UBSan, so never
# under MCSI_TEST_WRAPPER (valgrind cannot run them); loopback only.
for f in "${replay[@]}"; do
    h=${f##*/replay-}
    run_one "$RESULTS" "fuzz/replay-$h" "$f" "$ROOT/tests/fuzz/corpus/$h" "$ROOT/tests/fuzz/regressions/$h"
done

if [ $(( ${#integ[@]} + ${#lua[@]} + ${#py[@]} + ${#nbd[@]} )) -gt 0 ]; then
    echo "=== starting targets (tests/harness/with-targets)"
    bash "$HARNESS" bash "$HERE/run-tests.sh" --inside "$WORK" "$BUILD" "${integ[@]}" "${lua[@]}" "${py[@]}" "${nbd[@]}"
    hrc=$?
    if ! grep -qx inside-done "$RESULTS"; then
        echo "--- with-targets: exit $hrc before all integration tests ran (harness failure or interrupted)"
        echo "with-targets 0 1 0" >>"$RESULTS"
    fi
fi

read -r passed failed skipped < <(awk 'NF == 4 { p += $2; f += $3; s += $4 } END { print p + 0, f + 0, s + 0 }' "$RESULTS")
if [ "$skipped" -gt 0 ]; then
    echo "skipped:"
    awk 'NF == 4 && $4 > 0 { printf "  %s (%d skipped)\n", $1, $4 }' "$RESULTS"
fi
if [ "$failed" -gt 0 ]; then
    echo "failed:"
    awk 'NF == 4 && $3 > 0 { printf "  %s (%d not ok)\n", $1, $3 }' "$RESULTS"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
