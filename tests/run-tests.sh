#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/run-tests.sh BUILD_DIR [PATTERN[:CASE]...]
#
# Runs the test files (all of them, or those the PATTERNs name):
#   * BUILD_DIR/tests/test_unit_*: directly, no targets;
#   * tests/sh/test_*.sh BUILD_DIR (the build itself: exported symbols,
#     make install/uninstall), no targets, never under MCSI_TEST_WRAPPER;
#   * BUILD_DIR/fuzz-replay/replay-<h> (make check builds them): over
#     tests/fuzz/corpus/<h>/ and tests/fuzz/regressions/<h>/, one TAP line
#     per file, never under MCSI_TEST_WRAPPER (they are ASan binaries);
#   * every other binary BUILD_DIR/tests/test_* (built from tests/c/test_*.c),
#     then every tests/lua/test_*.lua (with lua5.4), then every
#     tests/daemon/test_*.py (with python3: each starts its own mcsid on a
#     temporary socket and state directory; never under MCSI_TEST_WRAPPER),
#     then every tests/nbd/test_*.sh (bash; NBD clients against exports;
#     not under MCSI_TEST_WRAPPER), in sequence inside ONE
#     tests/harness/with-targets invocation, started only if one of them runs.
#
# Choosing files (make check TESTS='...' passes them as MCSI_TESTS): each
# PATTERN is a shell glob matched against every file's names: its base name
# with and without extension (test_io, test_io.py), its path in the tree
# (tests/daemon/test_io.py, tests/c/test_io.c for a C binary), the short
# name the runner prints (daemon/test_io.py, fuzz/replay-pdu) and its full
# path. So TESTS=test_io runs every kind named test_io; TESTS='test_nbd_*'
# every NBD file. A pattern that matches no file is an error (exit 2).
# PATTERN:CASE runs one case of a Lua or Python file: CASE goes to the file
# as its command-line argument (LuaUnit: TestClass.test_name; unittest:
# Class.method); several cases of one file add up.
#
# Every test prints TAP lines "ok N - ..." / "not ok N - ..." and a plan
# "1..N", and exits non-zero on failure (a Lua file through LuaUnit's TAP
# output, one line per test case: tests/lua/helper.lua). Every such line
# counts; "ok N ... # SKIP why" counts as skipped, not passed. A file that
# skips whole ("1..0 # SKIP why", or every check skipped) is listed under
# "skipped files" and counts as the checks it says it would have run
# ("1..0 # SKIP why (39 checks)"; tests/sh/tap.sh tap_skip_all), else as
# one. A test that crashes, times out or exits non-zero without a "not ok"
# line, or prints no plan, or fewer or more lines than its plan, counts as
# one more failure. Each failed file's re-run command is printed at the end.
# Last line: "N passed, N failed, N skipped". Exit 1 if anything failed or
# nothing passed, 2 on a bad command line.
#
# Hermetic: the suite runs with HOME an empty directory of its own and
# without MCSI_SOCKET / MCSI_HISTORY; a decoy (tests/harness/decoy-mcsid)
# listens on mcsid's default socket /run/mcsi/mcsid.sock. As root the runner
# re-runs itself in a private mount namespace (unshare -m) with empty tmpfs
# over /run/mcsi and over /etc/mcsi and /var/lib/mcsi where they exist, so
# a real mcsid stays out of reach and its files untouched; otherwise the
# decoy goes on the real path when that is free. A last pseudo-file
# "hermetic" fails if anything connected to the decoy (naming the program
# and the test file that ran), if HOME is no longer empty, or if /etc/mcsi,
# /var/lib/mcsi or /run/mcsi changed.
#
# Environment:
#   MCSI_TESTS          more PATTERNs, blank-separated (make check TESTS=...)
#   MCSI_TEST_WRAPPER   prefix for each binary, split on blanks (e.g. valgrind ...)
#   MCSI_TEST_TIMEOUT   seconds per binary / Lua file (default 300; x4 with a wrapper)
#   MCSI_TEST_ROOT      the tree whose tests/sh, tests/lua and tests/fuzz run
#                       (default: the one of this script; tests/sh/test_runner.sh
#                       points it at a tree of its own)
#   MCSI_TEST_RERUN     how the re-run hint starts (make check sets "make check TESTS=")
#   MCSI_TEST_NO_NAMESPACE=1  no private mount namespace even as root (the decoy
#                       then needs the default socket free; tests/sh/test_runner.sh)
#   MCSI_TEST_HARNESS   what starts the targets (default tests/harness/with-targets;
#                       tests/sh/test_runner.sh gives one that starts none)
#   Everything else (MCSI_TEST_QUICK, ...) passes through to the tests.
# Lua files run from the repository root with MCSI_BUILD_DIR set and
# LUA_CPATH/LUA_PATH extended with BUILD_DIR, BUILD_DIR/lua, bindings/ and tests/lua/.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "${MCSI_TEST_ROOT:-$HERE/..}" && pwd)
HARNESS=${MCSI_TEST_HARNESS:-$HERE/harness/with-targets}

DEFAULT_SOCKET=/run/mcsi/mcsid.sock     # daemon/main.c, bindings/mcsi/remote.lua
GUARDED_DIRS="/etc/mcsi /var/lib/mcsi"  # mcsid's default configuration and state

# run_one RESULTS NAME CMD...: runs one TAP test, appends
# "NAME PASSED FAILED SKIPPED" to RESULTS; "NAME: why" to WORK/skipped-files
# when it skipped whole; the re-run command (RERUN_AS, the file's name for
# TESTS=) to WORK/rerun when it failed.
run_one() {
    local results=$1 name=$2; shift 2
    local log rc okn notokn skipn plan ran extra=0 t0 secs
    log=$WORK/out.log
    echo "=== $name"
    echo "$name" >"$WORK/current"           # for the decoy: who was running
    t0=$SECONDS
    # The test writes to a file that tail streams, rather than into a pipe:
    # a helper process the test leaves behind (even after a timeout) keeps a
    # pipe open but cannot hold up tail --pid. The test runs as a background
    # job (stdin /dev/null) with default INT/QUIT handling restored, in our
    # process group so that Ctrl-C reaches it.
    # The log exists (empty) before both start: tail never finds it missing
    # nor sees it truncated under it (which lost or doubled a quick test's lines).
    : >"$log"
    env --default-signal=INT,QUIT timeout --foreground -k 10 "$TIMEOUT" "$@" >>"$log" 2>&1 </dev/null &
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
    local why="" more="" whole=""
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
    if [ "$extra" -eq 0 ] && [ "$plan" = 0 ]; then
        # "1..0 # SKIP why (N checks)": N skipped checks, else one
        whole=$(sed -n 's/^1\.\.0\([[:space:]]*#[[:space:]]*[Ss][Kk][Ii][Pp]\)\{0,1\}[[:space:]]*//p' "$log" | sed -n 1p)
        skipn=$(printf '%s\n' "$whole" | sed -n 's/.*(\([0-9][0-9]*\) checks\{0,1\})[[:space:]]*$/\1/p')
        skipn=${skipn:-1}
        whole=${whole:-no reason given}
        why="$why; skipped whole: $whole"
    elif [ "$extra" -eq 0 ] && [ "$okn" -eq 0 ] && [ "$notokn" -eq 0 ] && [ "$skipn" -gt 0 ]; then
        whole="every check skipped"
    fi
    [ -z "$whole" ] || echo "$name: $whole" >>"$WORK/skipped-files"
    echo "--- $name: exit $rc$why; $okn ok, $((notokn + extra)) not ok, $skipn skipped; ${secs}s"
    echo "$name $okn $((notokn + extra)) $skipn" >>"$results"
    [ $((notokn + extra)) -eq 0 ] || [ "${RERUN_AS:-}" = - ] || rerun_hints "$log" >>"$WORK/rerun"
}

# rerun_hints LOG: the command that re-runs the failed file (RERUN_AS), then,
# for a Lua file, one per failed LuaUnit case ("not ok N<TAB>Class.test").
rerun_hints() {
    echo "$RERUN${RERUN_AS:-$name}"
    [[ ${RERUN_AS:-} == *.lua ]] || return 0
    sed -n 's/^not ok [0-9][0-9]*\t\([A-Za-z_][A-Za-z0-9_.]*\)$/\1/p' "$1" | head -n 5 |
        while IFS= read -r c; do echo "$RERUN$RERUN_AS:$c"; done
}

# split_cases ITEM: sets P (the path) and CASES (the cases, an array) from
# "kind:PATH<TAB>CASE CASE..." without the kind.
split_cases() {
    P=${1%%$'\t'*}
    CASES=()
    [[ $1 != *$'\t'* ]] || read -ra CASES <<<"${1#*$'\t'}"
}

# Inner mode, inside the harness: run-tests.sh --inside WORK BUILD item...
# (item = bin:PATH, lua:PATH or py:PATH, nbd:PATH; a Lua or Python one may
# carry cases after a tab). Exits non-zero if anything failed.
if [ "${1:-}" = --inside ]; then
    WORK=$2 BUILD=$3; shift 3
    results=$WORK/results
    TIMEOUT=${MCSI_TEST_TIMEOUT_EFFECTIVE:-300}
    RERUN=${MCSI_TEST_RERUN_EFFECTIVE:-}
    read -ra WRAPPER <<<"${MCSI_TEST_WRAPPER:-}"
    export MCSI_BUILD_DIR=$BUILD
    export LUA_CPATH="$BUILD/?.so;$BUILD/lua/?.so;${LUA_CPATH:-;}"
    export LUA_PATH="$ROOT/bindings/?.lua;$ROOT/tests/lua/?.lua;${LUA_PATH:-;}"
    first=$(( $(wc -l <"$results") + 1 ))   # RESULTS already holds the unit tests
    for item in "$@"; do
        split_cases "${item#*:}"
        RERUN_AS=tests/${P#"$ROOT"/tests/}
        case $item in
            bin:*) RERUN_AS=tests/c/${P##*/}.c; run_one "$results" "${P##*/}" "${WRAPPER[@]}" "$P" ;;
            lua:*) (cd "$ROOT" && run_one "$results" "lua/${P##*/}" lua5.4 "$P" "${CASES[@]}") ;;
            py:*) (cd "$ROOT" && run_one "$results" "daemon/${P##*/}" python3 "$P" "${CASES[@]}") ;;
            nbd:*) (cd "$ROOT" && run_one "$results" "nbd/${P##*/}" bash "$P") ;;
        esac
    done
    echo "inside-done" >>"$results"
    awk -v first="$first" 'NR >= first && NF == 4 && $3 > 0 { bad = 1 } END { exit bad }' "$results"
    exit
fi

# As root, once: the same run in a private mount namespace, where the decoy
# and empty tmpfs stand over mcsid's paths (hermetic_start).
IN_NS=
if [ "${1:-}" = --in-namespace ]; then
    IN_NS=1
    shift
elif [ -z "${MCSI_TEST_NO_NAMESPACE:-}" ] && [ "$(id -u)" = 0 ] && unshare -m --propagation private true 2>/dev/null; then
    exec unshare -m --propagation private bash "$HERE/run-tests.sh" --in-namespace "$@"
fi

if [ $# -lt 1 ]; then
    echo "usage: $0 BUILD_DIR [PATTERN[:CASE]...]" >&2
    exit 2
fi
BUILD_ARG=$1
BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "run-tests.sh: no such directory: $1" >&2; exit 1; }
shift
read -ra more_patterns <<<"${MCSI_TESTS:-}"
PATTERNS=("$@" "${more_patterns[@]}")

read -ra WRAPPER <<<"${MCSI_TEST_WRAPPER:-}"
if [ -n "${MCSI_TEST_TIMEOUT:-}" ]; then
    TIMEOUT=$MCSI_TEST_TIMEOUT
elif [ ${#WRAPPER[@]} -gt 0 ]; then
    TIMEOUT=1200
else
    TIMEOUT=300
fi
export MCSI_TEST_TIMEOUT_EFFECTIVE=$TIMEOUT
RERUN=${MCSI_TEST_RERUN:-bash tests/run-tests.sh $BUILD_ARG }
export MCSI_TEST_RERUN_EFFECTIVE=$RERUN

# Every test file there is, as KIND:PATH, in the order they run.
ALL=()
find_sorted() { find "$@" -maxdepth 1 -type f 2>/dev/null | LC_ALL=C sort; }
while IFS= read -r f; do
    case ${f##*/} in test_unit_*) ALL+=("unit:$f") ;; esac
done < <(find_sorted "$BUILD/tests" -name 'test_*' -perm -u+x)
while IFS= read -r f; do ALL+=("sh:$f"); done < <(find_sorted "$ROOT/tests/sh" -name 'test_*.sh')
while IFS= read -r f; do ALL+=("replay:$f"); done < <(find_sorted "$BUILD/fuzz-replay" -name 'replay-*' -perm -u+x)
while IFS= read -r f; do
    case ${f##*/} in test_unit_*) ;; *) ALL+=("bin:$f") ;; esac
done < <(find_sorted "$BUILD/tests" -name 'test_*' -perm -u+x)
while IFS= read -r f; do ALL+=("lua:$f"); done < <(find_sorted "$ROOT/tests/lua" -name 'test_*.lua')
while IFS= read -r f; do ALL+=("py:$f"); done < <(find_sorted "$ROOT/tests/daemon" -name 'test_*.py')
if [ -z "${MCSI_TEST_WRAPPER:-}" ]; then   # 1 GiB copies: not under valgrind
    while IFS= read -r f; do ALL+=("nbd:$f"); done < <(find_sorted "$ROOT/tests/nbd" -name 'test_*.sh')
fi

# names_of KIND:PATH: the names a PATTERN may match (see the top).
names_of() {
    local kind=${1%%:*} p=${1#*:} b d
    b=${p##*/}
    case $kind in
        unit|bin) printf '%s\n' "$b" "$b.c" "tests/c/$b.c" "c/$b" "$p" ;;
        replay) printf '%s\n' "$b" "fuzz/$b" "$p" ;;
        *) d=${p%/*}; d=${d##*/}
           printf '%s\n' "$b" "${b%.*}" "tests/$d/$b" "$d/$b" "$p" ;;
    esac
}

# The files the PATTERNs choose: PICK[KIND:PATH] = "" (whole) or its cases.
declare -A PICK=()
if [ ${#PATTERNS[@]} -eq 0 ]; then
    for it in "${ALL[@]}"; do PICK[$it]=; done
fi
for word in "${PATTERNS[@]}"; do
    pat=${word%%:*} case=
    [[ $word != *:* ]] || case=${word#*:}
    pat=${pat#./}; pat=${pat#"$ROOT"/}
    hits=0
    for it in "${ALL[@]}"; do
        while IFS= read -r n; do
            # shellcheck disable=SC2053 # the pattern is a glob
            [[ $n == $pat ]] || continue
            hits=$((hits + 1))
            if [ -z "$case" ]; then
                PICK[$it]=
            elif [[ $it != lua:* && $it != py:* ]]; then
                echo "run-tests.sh: TESTS=$word: only a Lua or Python file runs one case; ${it#*:} runs whole" >&2
                exit 2
            elif [ -z "${PICK[$it]+set}" ] || [ -n "${PICK[$it]}" ]; then
                PICK[$it]="${PICK[$it]:+${PICK[$it]} }$case"
            fi
            break
        done < <(names_of "$it")
    done
    if [ "$hits" -eq 0 ]; then
        echo "run-tests.sh: TESTS=$word: no test file matches '$pat' (C tests in $BUILD/tests," \
             "tests/sh, fuzz replays in $BUILD/fuzz-replay, tests/lua, tests/daemon${WRAPPER[*]:+; not tests/nbd under a wrapper}, tests/nbd)" >&2
        exit 2
    fi
done

unit=() integ=() lua=() replay=() sh=() py=() nbd=()
for it in "${ALL[@]}"; do
    [ -n "${PICK[$it]+set}" ] || continue
    f=${it#*:}
    [ -z "${PICK[$it]}" ] || f+=$'\t'"${PICK[$it]}"
    case $it in
        unit:*) unit+=("$f") ;;
        sh:*) sh+=("$f") ;;
        replay:*) replay+=("$f") ;;
        bin:*) integ+=("bin:$f") ;;
        lua:*) lua+=("lua:$f") ;;
        py:*) py+=("py:$f") ;;
        nbd:*) nbd+=("nbd:$f") ;;
    esac
done

if [ $(( ${#unit[@]} + ${#sh[@]} + ${#integ[@]} + ${#lua[@]} + ${#replay[@]} + ${#py[@]} + ${#nbd[@]} )) -eq 0 ]; then
    echo "run-tests.sh: no test binaries in $BUILD/tests/ and no test files in tests/: nothing to run"
    echo "0 passed, 0 failed, 0 skipped"
    exit 1
fi
echo "run-tests.sh: ${#unit[@]} unit, ${#sh[@]} build, ${#replay[@]} fuzz replay, ${#integ[@]} integration binaries, ${#lua[@]} Lua files, ${#py[@]} daemon tests, ${#nbd[@]} NBD scripts" \
     "(timeout ${TIMEOUT}s each${WRAPPER[*]:+, wrapper: ${WRAPPER[*]}})"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcsi-tests.XXXXXX") || exit 1
RESULTS=$WORK/results
: >"$RESULTS"
: >"$WORK/current"

# --- Hermetic: a decoy on mcsid's socket, an empty HOME, mcsid's files watched.
DECOY_PID='' DECOY_SKIP='' GUARD_SKIP='' MADE_RUNDIR=''
RUNDIR=${DEFAULT_SOCKET%/*}
# snapshot: what mcsid's directories hold (or "absent"), to compare after the suite.
snapshot() {
    local d
    for d in $GUARDED_DIRS "$RUNDIR"; do
        if [ -e "$d" ]; then
            find "$d" -printf '%p %y %m %s %T@\n' 2>&1 | LC_ALL=C sort
        else
            echo "$d absent"
        fi
    done
}
hermetic_start() {
    local d
    if [ -n "$IN_NS" ]; then
        if [ ! -d "$RUNDIR" ]; then mkdir -m 0755 "$RUNDIR" && MADE_RUNDIR=1; fi
        mount -t tmpfs -o mode=0755,size=1m mcsi-test-decoy "$RUNDIR" ||
            { DECOY_SKIP="could not mount a tmpfs over $RUNDIR"; return; }
        for d in $GUARDED_DIRS; do
            [ ! -d "$d" ] || mount -t tmpfs -o mode=0755,size=1m mcsi-test-decoy "$d" ||
                { DECOY_SKIP="could not mount a tmpfs over $d"; return; }
        done
    elif [ -e "$DEFAULT_SOCKET" ]; then
        DECOY_SKIP="$DEFAULT_SOCKET is taken and there is no private mount namespace (run as root)"
        GUARD_SKIP="an mcsid may run there and change it"   # not ours to judge
        return
    elif [ ! -d "$RUNDIR" ]; then
        if ! mkdir -m 0755 "$RUNDIR" 2>/dev/null; then
            DECOY_SKIP="cannot create $RUNDIR (run as root)"
            return
        fi
        MADE_RUNDIR=1
    fi
    [ -w "$RUNDIR" ] || { DECOY_SKIP="cannot write $RUNDIR (run as root)"; return; }
    python3 "$HERE/harness/decoy-mcsid" "$DEFAULT_SOCKET" "$WORK/decoy.log" "$WORK/current" 2>"$WORK/decoy.err" &
    DECOY_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        grep -qx ready "$WORK/decoy.log" 2>/dev/null && break
        kill -0 "$DECOY_PID" 2>/dev/null || break
        sleep 0.05
    done
    grep -qx ready "$WORK/decoy.log" 2>/dev/null ||
        { DECOY_SKIP="the decoy did not start: $(head -c 300 "$WORK/decoy.err")"; DECOY_PID=; }
}
hermetic_stop() {
    [ -z "$DECOY_PID" ] || { kill -TERM "$DECOY_PID" 2>/dev/null; wait "$DECOY_PID" 2>/dev/null; DECOY_PID=; }
    if [ -n "$IN_NS" ]; then umount "$RUNDIR" 2>/dev/null; fi
    [ -z "$MADE_RUNDIR" ] || { rmdir "$RUNDIR" 2>/dev/null; MADE_RUNDIR=; }
}
# hermetic_tap: the checks, as TAP, once the suite is over.
hermetic_tap() {
    local n=0 d
    if [ -n "$DECOY_SKIP" ]; then
        echo "ok $((n += 1)) - # SKIP no decoy on $DEFAULT_SOCKET: $DECOY_SKIP"
    elif grep -q '^pid ' "$WORK/decoy.log"; then
        echo "not ok $((n += 1)) - $(grep -c '^pid ' "$WORK/decoy.log") connection(s) to the decoy mcsid on" \
             "$DEFAULT_SOCKET, from: $(sed -n 's/.*(during \(.*\))$/\1/p' "$WORK/decoy.log" | LC_ALL=C sort -u | paste -sd ' ');" \
             "first: $(grep '^pid ' "$WORK/decoy.log" | head -n 3 | paste -sd ';')"
    else
        echo "ok $((n += 1)) - nothing connected to the decoy mcsid on $DEFAULT_SOCKET"
    fi
    if [ -z "$(find "$HOME" -mindepth 1 -print -quit)" ] && [ "$(stat -c %Y "$HOME")" = "$HOME_MTIME" ]; then
        echo "ok $((n += 1)) - HOME (an empty directory of the run) stayed untouched"
    else
        echo "not ok $((n += 1)) - HOME (an empty directory of the run) was written: $(find "$HOME" -mindepth 1 | head -n 5 | paste -sd ' ')"
    fi
    snapshot >"$WORK/after"
    for d in $GUARDED_DIRS "$RUNDIR"; do
        if [ -n "$GUARD_SKIP" ]; then
            echo "ok $((n += 1)) - # SKIP $d not checked: $GUARD_SKIP"
        elif diff <(grep "^${d}[ /]" "$WORK/before") <(grep "^${d}[ /]" "$WORK/after") >"$WORK/diff"; then
            echo "ok $((n += 1)) - $d unchanged"
        else
            echo "not ok $((n += 1)) - $d changed: $(grep '^[<>]' "$WORK/diff" | head -n 5 | paste -sd ';')"
        fi
    done
    echo "1..$n"
}

trap 'hermetic_stop; rm -rf "$WORK"' EXIT
hermetic_start
mkdir -m 0700 "$WORK/home"
export HOME=$WORK/home
HOME_MTIME=$(stat -c %Y "$HOME")
unset MCSI_SOCKET MCSI_HISTORY XDG_CONFIG_HOME XDG_DATA_HOME XDG_STATE_HOME XDG_CACHE_HOME
snapshot >"$WORK/before"

export MCSI_BUILD_DIR=$BUILD
for f in "${unit[@]}"; do
    RERUN_AS=tests/c/${f##*/}.c run_one "$RESULTS" "${f##*/}" "${WRAPPER[@]}" "$f"
done

# The build (tests/sh/): shell scripts given BUILD_DIR, no wrapper.
for f in "${sh[@]}"; do
    RERUN_AS=tests/sh/${f##*/} run_one "$RESULTS" "sh/${f##*/}" bash "$f" "$BUILD"
done

# Fuzz corpus replay (tests/fuzz/): each saved input of a harness is one
# TAP line of BUILD/fuzz-replay/replay-<h>. Built with ASan+UBSan, so never
# under MCSI_TEST_WRAPPER (valgrind cannot run them); loopback only.
for f in "${replay[@]}"; do
    h=${f##*/replay-}
    RERUN_AS=fuzz/replay-$h run_one "$RESULTS" "fuzz/replay-$h" "$f" "$ROOT/tests/fuzz/corpus/$h" "$ROOT/tests/fuzz/regressions/$h"
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

hermetic_tap >"$WORK/hermetic.tap"
hermetic_stop
RERUN_AS=- run_one "$RESULTS" hermetic cat "$WORK/hermetic.tap"

read -r passed failed skipped < <(awk 'NF == 4 { p += $2; f += $3; s += $4 } END { print p + 0, f + 0, s + 0 }' "$RESULTS")
if [ "$skipped" -gt 0 ]; then
    echo "skipped:"
    awk 'NF == 4 && $4 > 0 { printf "  %s (%d skipped)\n", $1, $4 }' "$RESULTS"
fi
if [ -s "$WORK/skipped-files" ]; then
    echo "skipped files: $(cut -d: -f1 "$WORK/skipped-files" | paste -sd ' ')"
    sed 's/^/  /' "$WORK/skipped-files"
fi
if [ "$failed" -gt 0 ]; then
    echo "failed:"
    awk 'NF == 4 && $3 > 0 { printf "  %s (%d not ok)\n", $1, $3 }' "$RESULTS"
fi
if [ -s "$WORK/rerun" ]; then
    echo "re-run a failed file:"
    sed 's/^/  /' "$WORK/rerun"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
