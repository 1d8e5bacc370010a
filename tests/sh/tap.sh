# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# tests/sh/tap.sh: TAP lines for the shell tests (sourced), as tests/c/testlib.h:
#   tap_ok COND_STATUS MSG   "ok N - MSG" when COND_STATUS is 0, else "not ok N - MSG" and
#                            status 1 (so that "tap_ok $? MSG || tap_note DETAIL" shows DETAIL)
#   tap_is GOT EXPECTED MSG  equal strings; both shown on failure
#   tap_skip WHY             "ok N - # SKIP WHY"
#   tap_note TEXT            "# TEXT" for every line of TEXT
#   tap_done                 the plan "1..N"; exits 0 only if nothing failed and something ran
#   tap_checks N             this file runs N checks when it runs whole: tap_skip_all says
#                            so, and tap_done adds a failure when the count is not N
#   tap_skip_all WHY         "1..0 # SKIP WHY (N checks)" and exit 0: the file skips whole,
#                            tests/run-tests.sh counts N skipped checks and names the file
TAP_N=0 TAP_FAILED=0 TAP_CHECKS=

tap_checks() {
    TAP_CHECKS=$1
}

tap_skip_all() {
    echo "1..0 # SKIP $1${TAP_CHECKS:+ ($TAP_CHECKS checks)}"
    exit 0
}

tap_ok() {
    TAP_N=$((TAP_N + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $TAP_N - $2"
    else
        TAP_FAILED=$((TAP_FAILED + 1))
        echo "not ok $TAP_N - $2"
        return 1
    fi
}

tap_is() {
    [ "$1" = "$2" ]
    tap_ok $? "$3" || true
    if [ "$1" != "$2" ]; then
        echo "#   got      '$1'"
        echo "#   expected '$2'"
    fi
}

tap_skip() {
    TAP_N=$((TAP_N + 1))
    echo "ok $TAP_N - # SKIP $1"
}

tap_note() {
    [ -z "$1" ] || printf '%s\n' "$1" | sed 's/^/#   /'
}

tap_done() {
    if [ -n "$TAP_CHECKS" ] && [ "$TAP_N" -ne "$TAP_CHECKS" ]; then
        tap_ok 1 "this file says it runs $TAP_CHECKS checks (tap_checks) and ran $TAP_N: update tap_checks"
    fi
    echo "1..$TAP_N"
    [ "$TAP_FAILED" -eq 0 ] && [ "$TAP_N" -gt 0 ]
    exit
}
