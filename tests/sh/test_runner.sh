#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/sh/test_runner.sh BUILD_DIR: tests/run-tests.sh counts what it should,
# on a tree of made-up tests (MCSI_TEST_ROOT, a fake build directory; BUILD_DIR
# is not used): "ok N - # SKIP" as skipped, each LuaUnit case of a TAP run on
# its own (failures and errors as failures, lu.skip as skipped), a crash
# before the plan, a plan that does not match and a missing plan each as one
# more failure; the last line "N passed, N failed, N skipped". Then, each on
# a tree of its own: choosing files (PATTERN, FILE:CASE, a pattern that
# matches nothing, targets only when needed, the re-run hints, make check
# TESTS=); whole-file skips counted and named (tests/sh/tap.sh tap_checks,
# tap_skip_all); the hermetic run: a test that connects to mcsid's default
# socket fails the run, naming itself (the decoy), so does one that writes in
# HOME or /run/mcsi (as root only: the decoy needs a private mount namespace).
# shellcheck disable=SC2016 # the fake tests' scripts, in single quotes, expand when they run
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/sh/tap.sh
. "$HERE/tap.sh"
unset MCSI_TESTS MCSI_TEST_RERUN   # make check TESTS=... of the run we are part of: not for our runs
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcsi-runner.XXXXXX") || exit 1
trap '[ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
mkdir -p "$WORK/root/tests" "$WORK/build/tests"

# fake NAME SCRIPT: a test "binary" BUILD/tests/test_unit_NAME running SCRIPT with bash.
fake() {
    printf '#!/bin/bash\n%s\n' "$2" >"$WORK/build/tests/test_unit_$1"
    chmod +x "$WORK/build/tests/test_unit_$1"
}
fake a_skip   'echo "ok 1 - passes"; echo "ok 2 - # SKIP no table"; echo "1..2"'
fake b_crash  'echo "ok 1 - passes"; kill -SEGV $$'
fake c_short  'echo "1..3"; echo "ok 1 - passes"'
fake d_noplan 'echo "ok 1 - passes"'
fake e_fails  'echo "ok 1 - passes"; echo "not ok 2 - fails"; echo "1..2"; exit 1'
cat >"$WORK/cases.lua" <<'LUA'
local lu = require "luaunit"
function test_1_passes() end
function test_2_fails() lu.assertEquals(1, 2) end
function test_3_raises() error("boom") end
function test_4_skips() lu.skip("not here") end
function test_5_passes() end
os.exit(lu.LuaUnit.run("-o", "tap", "-v"), true)
LUA
fake f_luaunit "exec lua5.4 '$WORK/cases.lua'"

MCSI_TEST_ROOT=$WORK/root MCSI_TEST_WRAPPER='' MCSI_TEST_TIMEOUT=60 \
    bash "$HERE/../run-tests.sh" "$WORK/build" >"$WORK/out" 2>&1
rc=$?
[ $rc -ne 0 ]
tap_ok $? "run-tests.sh fails when something failed (exit $rc)"
line() { grep -E "^--- $1: " "$WORK/out" | sed 's/; [0-9]*s$//'; }
tap_is "$(line test_unit_a_skip)" "--- test_unit_a_skip: exit 0; 1 ok, 0 not ok, 1 skipped" \
    "a skip is counted as skipped, not passed"
tap_is "$(line test_unit_b_crash)" \
    "--- test_unit_b_crash: exit 139 (killed by signal 11), failed without a 'not ok' line: counted as one more failure; 1 ok, 1 not ok, 0 skipped" \
    "a crash before the plan is one more failure"
tap_is "$(line test_unit_c_short)" \
    "--- test_unit_c_short: exit 0, planned 3, ran 1: counted as one more failure; 1 ok, 1 not ok, 0 skipped" \
    "fewer lines than the plan is one more failure"
tap_is "$(line test_unit_d_noplan)" \
    "--- test_unit_d_noplan: exit 0, no plan: counted as one more failure; 1 ok, 1 not ok, 0 skipped" \
    "no plan is one more failure"
tap_is "$(line test_unit_e_fails)" "--- test_unit_e_fails: exit 1; 1 ok, 1 not ok, 0 skipped" \
    "a 'not ok' line is one failure"
tap_is "$(line test_unit_f_luaunit)" "--- test_unit_f_luaunit: exit 2; 2 ok, 2 not ok, 1 skipped" \
    "LuaUnit's TAP output: each case counts"
tap_is "$(tail -n 1 "$WORK/out")" "12 passed, 6 failed, 2 skipped" "the last line (5 passed: the hermetic checks)"
[ "$TAP_FAILED" -eq 0 ] || tap_note "$(grep -v '^---' "$WORK/out" | tail -n 30)"

# --- Choosing files: TESTS patterns (tests/run-tests.sh PATTERN... / MCSI_TESTS).
# A tree with every kind: C binaries (a unit one), tests/sh, tests/lua,
# tests/daemon, tests/nbd. Each file prints its arguments in its one check;
# the "harness" only notes that it ran (targets started) and runs the command.
S=$WORK/sel
mkdir -p "$S/build/tests" "$S/root/tests/sh" "$S/root/tests/lua" "$S/root/tests/daemon" "$S/root/tests/nbd"
bin() { printf '#!/bin/bash\necho "ok 1 - args:$*"; echo 1..1\n' >"$S/build/tests/$1"; chmod +x "$S/build/tests/$1"; }
bin test_unit_a; bin test_io; bin test_nbd_z
printf 'echo "ok 1 - args:$*"; echo 1..1\n' >"$S/root/tests/sh/test_x.sh"
printf 'echo "ok 1 - args:$*"; echo 1..1\n' >"$S/root/tests/nbd/test_nbd_y.sh"
printf 'print("ok 1 - args:" .. table.concat(arg, " ")) print("1..1")\n' >"$S/root/tests/lua/test_io.lua"
printf 'import sys\nprint("ok 1 - args:" + " ".join(sys.argv[1:]))\nprint("1..1")\n' >"$S/root/tests/daemon/test_io.py"
printf '#!/bin/bash\ntouch "%s/targets-started"\nexec "$@"\n' "$S" >"$S/harness"
# sel PATTERN...: runs the runner on that tree; ran = the files it ran, in order
sel() {
    rm -f "$S/targets-started"
    MCSI_TEST_ROOT=$S/root MCSI_TEST_HARNESS=$S/harness MCSI_TEST_WRAPPER='' MCSI_TEST_TIMEOUT=60 \
        MCSI_TESTS='' bash "$HERE/../run-tests.sh" "$S/build" "$@" >"$S/out" 2>&1
    rc=$?
    ran=$(sed -n 's/^=== \(.*\)/\1/p' "$S/out" | grep -vx 'starting targets.*\|hermetic' | paste -sd ' ')
}
sel test_io
tap_is "$rc $ran" "0 test_io lua/test_io.lua daemon/test_io.py" "TESTS=test_io runs every kind named test_io"
sel 'test_nbd_*'
tap_is "$rc $ran" "0 test_nbd_z nbd/test_nbd_y.sh" "TESTS='test_nbd_*': a glob, C and NBD files alike"
sel test_unit_a tests/sh/test_x.sh
tap_is "$rc $ran" "0 test_unit_a sh/test_x.sh" "several patterns; a path in the tree"
[ ! -e "$S/targets-started" ]
tap_ok $? "no targets started when no chosen file needs them"
sel tests/lua/test_io.lua:TestIo.test_b tests/lua/test_io.lua:TestIo.test_c
tap_is "$rc $ran $(grep '^ok 1 - args' "$S/out" | paste -sd ' ')" \
    "0 lua/test_io.lua ok 1 - args:TestIo.test_b TestIo.test_c" "FILE:CASE passes the cases to a Lua file"
[ -e "$S/targets-started" ]
tap_ok $? "targets started for a Lua file"
sel daemon/test_io.py:Test.test_m
tap_is "$rc $ran $(grep '^ok 1 - args' "$S/out")" "0 daemon/test_io.py ok 1 - args:Test.test_m" \
    "FILE:CASE passes the case to a Python file"
sel test_io.py:Test.test_m test_io.py
tap_is "$(grep '^ok 1 - args' "$S/out")" "ok 1 - args:" "the whole file wins over one of its cases"
sel nosuch
tap_is "$rc $(grep -c passed "$S/out")" "2 0" "a pattern that matches nothing: exit 2, no count"
tap_ok "$(grep -qF "TESTS=nosuch: no test file matches 'nosuch'" "$S/out"; echo $?)" "... and says which pattern"
sel test_io test_nope
tap_is "$rc $ran" "2 " "one pattern that matches nothing among others: exit 2, nothing run"
sel test_unit_a:case
tap_is "$rc $(grep -c 'only a Lua or Python file runs one case' "$S/out")" "2 1" "a case of a C file: exit 2"
bin test_unit_b_fails
printf '#!/bin/bash\necho "not ok 1 - fails"; echo 1..1; exit 1\n' >"$S/build/tests/test_unit_b_fails"
printf 'print("1..2") print("not ok 1\\tTestIo.test_a") print("ok 2\\tTestIo.test_b") os.exit(1)\n' \
    >"$S/root/tests/lua/test_io.lua"
MCSI_TEST_RERUN="make check TESTS=" sel 'test_unit_*' test_io.lua
tap_is "$(sed -n '/^re-run a failed file:$/,/passed/p' "$S/out" | paste -sd '|')" \
    "re-run a failed file:|  make check TESTS=tests/c/test_unit_b_fails.c|  make check TESTS=tests/lua/test_io.lua|  make check TESTS=tests/lua/test_io.lua:TestIo.test_a|7 passed, 2 failed, 0 skipped" \
    "each failed file's re-run command (and each failed LuaUnit case's), before the last line"
[ "$TAP_FAILED" -eq 0 ] || tap_note "$(tail -n 20 "$S/out")"
mk=$(make -n -C "$HERE/../.." check BUILD="$S/build" TESTS='test_io tests/lua/x.lua:T.t' 2>&1 | grep -F 'MCSI_TESTS=')
tap_ok "$([[ $mk == *'MCSI_TESTS="test_io tests/lua/x.lua:T.t"'* ]]; echo $?)" "make check TESTS=... hands the patterns on" ||
    tap_note "$mk"

# --- Whole-file skips: counted (as the checks the file says it has, else one) and named.
K=$WORK/skip
mkdir -p "$K/build/tests" "$K/root/tests"
kfake() { printf '#!/bin/bash\n%s\n' "$2" >"$K/build/tests/test_unit_$1"; chmod +x "$K/build/tests/test_unit_$1"; }
kfake a_counted 'echo "1..0 # SKIP nbdinfo missing (39 checks)"'
kfake b_bare    'echo "1..0 # SKIP needs root"'
kfake c_every   'echo "ok 1 - # SKIP no table"; echo "ok 2 # skip no disk"; echo "1..2"'
kfake d_runs    'echo "ok 1 - passes"; echo "1..1"'
MCSI_TEST_ROOT=$K/root MCSI_TEST_WRAPPER='' MCSI_TEST_TIMEOUT=60 MCSI_TESTS='' \
    bash "$HERE/../run-tests.sh" "$K/build" >"$K/out" 2>&1
rc=$?
kline() { grep -E "^--- test_unit_$1: " "$K/out" | sed 's/; [0-9]*s$//'; }
tap_is "$(kline a_counted)" \
    "--- test_unit_a_counted: exit 0; skipped whole: nbdinfo missing (39 checks); 0 ok, 0 not ok, 39 skipped" \
    "a plan 1..0 with a skip reason and (39 checks): 39 skipped checks"
tap_is "$(kline b_bare)" "--- test_unit_b_bare: exit 0; skipped whole: needs root; 0 ok, 0 not ok, 1 skipped" \
    "a plan 1..0 with a skip reason, no count: one skipped check"
tap_is "$(grep '^skipped files:' "$K/out")" "skipped files: test_unit_a_counted test_unit_b_bare test_unit_c_every" \
    "the summary names every file that skipped whole (every check skipped too)"
tap_is "$(grep -A3 '^skipped files:' "$K/out" | sed 1d | paste -sd '|')" \
    "  test_unit_a_counted: nbdinfo missing (39 checks)|  test_unit_b_bare: needs root|  test_unit_c_every: every check skipped" \
    "... with the reason of each"
tap_is "$rc $(tail -n 1 "$K/out")" "0 6 passed, 0 failed, 42 skipped" "skips are no failure; the last line counts them"
[ "$TAP_FAILED" -eq 0 ] || tap_note "$(tail -n 20 "$K/out")"
# tap.sh: tap_skip_all says the count of tap_checks; tap_done fails when the file ran another count
tap_is "$(bash -c ". '$HERE/tap.sh'; tap_checks 3; tap_skip_all 'no tool'; echo not reached")" \
    "1..0 # SKIP no tool (3 checks)" "tap_skip_all: the plan line with the count of tap_checks"
tap_is "$(bash -c ". '$HERE/tap.sh'; tap_ok 0 yes || echo noted; tap_ok 1 no || echo noted")" \
    "$(printf 'ok 1 - yes\nnot ok 2 - no\nnoted')" "tap_ok fails with the check: 'tap_ok \$? MSG || tap_note ...' notes failures only"
out=$(bash -c ". '$HERE/tap.sh'; tap_checks 3; tap_ok 0 one; tap_ok 0 two; tap_done")
tap_is "$? $(printf '%s\n' "$out" | paste -sd '|')" \
    "1 ok 1 - one|ok 2 - two|not ok 3 - this file says it runs 3 checks (tap_checks) and ran 2: update tap_checks|1..3" \
    "tap_done fails a file whose tap_checks is off"

# --- Hermetic: a decoy on mcsid's default socket; HOME, /etc/mcsi, /var/lib/mcsi, /run/mcsi watched.
sock=$(sed -n 's/^DEFAULT_SOCKET=\([^ ]*\).*/\1/p' "$HERE/../run-tests.sh")
lua_sock=$(sed -n 's/^M.DEFAULT_SOCKET = "\(.*\)"$/\1/p' "$HERE/../../bindings/mcsi/remote.lua")
c_sock=$(sed -n 's/^#define DEFAULT_SOCKET "\(.*\)"$/\1/p' "$HERE/../../daemon/main.c")
tap_is "$sock $sock" "$lua_sock $c_sock" "the decoy's socket is mcsid's default (remote.lua, daemon/main.c)"
D=$WORK/herm
mkdir -p "$D/build/tests" "$D/root/tests"
dfake() { printf '#!/bin/bash\n%s\n' "$2" >"$D/build/tests/test_unit_$1"; chmod +x "$D/build/tests/test_unit_$1"; }
# has REGEX MSG: a check that D/out has a line REGEX (the "not ok" lines shown if not)
has() {
    grep -qE "$1" "$D/out"
    local st=$?
    tap_ok $st "$2"
    [ $st -eq 0 ] || tap_note "$(grep '^not ok' "$D/out")"
}
# herm: runs the runner on the tree D (with MCSI_SOCKET set, which it must drop)
herm() {
    rm -f "$D"/build/tests/*
    dfake "$@"
    real_before=$(stat -c '%i %Y' "$sock" 2>&1)
    MCSI_TEST_ROOT=$D/root MCSI_TEST_WRAPPER='' MCSI_TEST_TIMEOUT=60 MCSI_TESTS='' MCSI_SOCKET=/nonexistent \
        bash "$HERE/../run-tests.sh" "$D/build" >"$D/out" 2>&1
    rc=$?
    hline=$(grep -E "^--- hermetic: " "$D/out" | sed 's/; [0-9]*s$//')
}
if [ "$(id -u)" != 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
    tap_skip "the decoy checks need root (a private mount namespace over /run/mcsi)"
else
    herm clean 'echo "ok 1 - MCSI_SOCKET=${MCSI_SOCKET-unset} HOME is empty: $(ls -A "$HOME" | wc -l)"; echo 1..1'
    tap_is "$rc $(grep '^ok 1 - MCSI' "$D/out") | $hline" \
        "0 ok 1 - MCSI_SOCKET=unset HOME is empty: 0 | --- hermetic: exit 0; 5 ok, 0 not ok, 0 skipped" \
        "a clean tree: the hermetic checks pass; MCSI_SOCKET dropped, HOME empty"
    herm connects "python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect(\"$sock\")'; echo ok 1; echo 1..1"
    tap_is "$rc $hline" "1 --- hermetic: exit 0; 4 ok, 1 not ok, 0 skipped" \
        "a test that connects to $sock fails the run"
    has "^not ok 1 - 1 connection\(s\) to the decoy mcsid on $sock, from: test_unit_connects; first: pid [0-9]+ uid 0: [^ ]*python3 -c \.\.\. \(1 more arguments\) \(during test_unit_connects\)\$" \
        "... in one 'not ok' line naming the program and the test file"
    tap_is "$(stat -c '%i %Y' "$sock" 2>&1)" "$real_before" "... and the real $sock (or its absence) is untouched"
    herm home 'touch "$HOME/.mcsi_history"; echo ok 1; echo 1..1'
    has '^not ok 2 - HOME \(an empty directory of the run\) was written: .*/\.mcsi_history$' \
        "a test that writes in HOME fails the run, naming the file"
    herm rundir "mkdir ${sock%/*}/exports; echo ok 1; echo 1..1"
    has "^not ok 5 - ${sock%/*} changed: .*> ${sock%/*}/exports d" "a test that writes in ${sock%/*} fails the run"
    # Without a namespace, with a daemon on the socket: no decoy, and mcsid's
    # directories are not judged (that daemon may write them); said, counted as skipped.
    # (In a namespace of our own, a listener stands for that daemon.)
    dfake taken 'echo ok 1; echo 1..1'
    made=; [ -d "${sock%/*}" ] || made=1
    out=$(unshare -m --propagation private bash -c '
        mkdir -p "$1" && mount -t tmpfs mcsi-test "$1" || exit 99
        python3 -c "import socket, time; s = socket.socket(socket.AF_UNIX); s.bind(\"$2\"); s.listen(); time.sleep(60)" &
        for _ in $(seq 100); do [ -S "$2" ] && break; sleep 0.05; done
        MCSI_TEST_NO_NAMESPACE=1 MCSI_TEST_ROOT=$3/root MCSI_TEST_WRAPPER= MCSI_TEST_TIMEOUT=60 \
            bash "$4" "$3/build"
        echo "rc=$?"
        kill %1' - "${sock%/*}" "$sock" "$D" "$HERE/../run-tests.sh" 2>&1)
    [ -z "$made" ] || rmdir "${sock%/*}"   # the mount point we made (its tmpfs went with the namespace)
    tap_is "$(printf '%s\n' "$out" | grep -E '^(ok .*SKIP|rc=|--- hermetic)' | sed 's/; [0-9]*s$//' | paste -sd '|')" \
        "ok 1 - # SKIP no decoy on $sock: $sock is taken and there is no private mount namespace (run as root)|ok 3 - # SKIP /etc/mcsi not checked: an mcsid may run there and change it|ok 4 - # SKIP /var/lib/mcsi not checked: an mcsid may run there and change it|ok 5 - # SKIP ${sock%/*} not checked: an mcsid may run there and change it|--- hermetic: exit 0; 1 ok, 0 not ok, 4 skipped|rc=0" \
        "without a namespace, a taken socket: no decoy and no judging of mcsid's directories, said and counted as skipped"
fi

tap_done
