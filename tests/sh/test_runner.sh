#!/bin/bash
# tests/sh/test_runner.sh BUILD_DIR: tests/run-tests.sh counts what it should,
# on a tree of made-up tests (MCSI_TEST_ROOT, a fake build directory; BUILD_DIR
# is not used): "ok N - # SKIP" as skipped, each LuaUnit case of a TAP run on
# its own (failures and errors as failures, lu.skip as skipped), a crash
# before the plan, a plan that does not match and a missing plan each as one
# more failure; the last line "N passed, N failed, N skipped".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/sh/tap.sh
. "$HERE/tap.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcsi-runner.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
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

tap_done
