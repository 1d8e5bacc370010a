#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/sh/test_option_keys.sh [BUILD_DIR]: the login and connection option
# keys of core/mcsi.h (MCSI_OPT_LIST) and the options api/operations.lua
# describes (the login, session and chap sets, and the parameters of the
# operations whose C function takes an options handle) are the same ones,
# with the same kind, handle and bounds (tests/sh/option_keys.lua); the
# options with no key on purpose are listed, with why, in the description
# (options_without_key). Each kind of drift is shown to fail on a copy.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/sh/tap.sh
. "$HERE/tap.sh"
cd "$ROOT" || exit 1
tap_checks 10
command -v lua5.4 >/dev/null || tap_skip_all "no lua5.4"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
CHECK="lua5.4 $HERE/option_keys.lua"

$CHECK api/operations.lua core/mcsi.h >"$TMP/out" 2>&1
tap_ok $? "every described option has its MCSI_OPT_* key and every key is a described option" \
    || tap_note "$(cat "$TMP/out")"
counts=$(tail -n 1 "$TMP/out")
nkeys=$(sed -n 's/^# \([0-9]*\) keys.*/\1/p' <<<"$counts")
tap_ok $(( ${nkeys:-0} >= 24 ? 0 : 1 )) "the check reads the keys of MCSI_OPT_LIST ($counts)"

# A copy of the description, changed by LUA (D is the description), must fail with a line matching WANT.
desc_drift() {
    local what=$1 lua=$2 want=$3
    printf 'local D = dofile("%s/api/operations.lua")\n%s\nreturn D\n' "$ROOT" "$lua" >"$TMP/desc.lua"
    $CHECK "$TMP/desc.lua" core/mcsi.h >"$TMP/out" 2>&1
    local rc=$?
    [ "$rc" -eq 1 ] && grep -q -- "$want" "$TMP/out"
    tap_ok $? "$what" || tap_note "exit $rc: $(cat "$TMP/out")"
}
# A copy of core/mcsi.h, changed by the sed script SED, must fail with a line matching WANT.
header_drift() {
    local what=$1 sed_script=$2 want=$3
    sed "$sed_script" core/mcsi.h >"$TMP/mcsi.h"
    if cmp -s core/mcsi.h "$TMP/mcsi.h"; then
        tap_ok 1 "$what (the sed script changed nothing)"
        return
    fi
    $CHECK api/operations.lua "$TMP/mcsi.h" >"$TMP/out" 2>&1
    local rc=$?
    [ "$rc" -eq 1 ] && grep -q -- "$want" "$TMP/out"
    tap_ok $? "$what" || tap_note "exit $rc: $(cat "$TMP/out")"
}

desc_drift "an option added to the session set without a key fails" \
    'table.insert(D.option_sets.session.params, { name = "probe_depth", type = "uint", doc = "x" })' \
    "option probe_depth .*has no MCSI_OPT_\* key"
desc_drift "a parameter added to add_connection_to_session without a key fails" \
    'for _, op in ipairs(D.operations) do if op.name == "add_connection_to_session" then
       table.insert(op.params, { name = "probe_depth", type = "uint", doc = "x" }) end end' \
    "option probe_depth (add_connection_to_session) has no"
header_drift "a key no option describes fails" \
    's/^\(  X(MCSI_OPT_WEIGHT, 24, .*\) \/\* .*/\1 \\\n  X(MCSI_OPT_PROBE_DEPTH, 25, "probe_depth", INT, 0, 7, L)/' \
    'key MCSI_OPT_PROBE_DEPTH ("probe_depth") is no option'
header_drift "a key of another kind than its option fails" \
    's/"max_redirects", INT,/"max_redirects", STRING,/' \
    "option max_redirects (login_to_target (set session)): described INT, key MCSI_OPT_MAX_REDIRECTS is STRING"
header_drift "a key for another handle than its option's fails" \
    's/"weight", INT, 0, 4294967295, C)/"weight", INT, 0, 4294967295, L)/' \
    "option weight: described for C, key MCSI_OPT_WEIGHT is for L"
desc_drift "a described bound beyond the key's fails" \
    'D.option_sets.session.params[#D.option_sets.session.params].min = -2' \
    "option recovery_timeout_ms .*described min -2 below key MCSI_OPT_RECOVERY_TIMEOUT_MS's -1"
desc_drift "an exception for an option that has a key fails (the list stays exact)" \
    'D.options_without_key.secret = "no reason"' \
    "options_without_key.secret: it has a key (MCSI_OPT_SECRET)"
desc_drift "an exception for no described option fails" \
    'D.options_without_key.no_such_option = "gone"' \
    "options_without_key.no_such_option: no such described option"
tap_done
