# shellcheck shell=bash
# tests/sh/tap.sh: TAP lines for the shell tests (sourced), as tests/c/testlib.h:
#   tap_ok COND_STATUS MSG   "ok N - MSG" when COND_STATUS is 0, else "not ok N - MSG"
#   tap_is GOT EXPECTED MSG  equal strings; both shown on failure
#   tap_skip WHY             "ok N - # SKIP WHY"
#   tap_note TEXT            "# TEXT" for every line of TEXT
#   tap_done                 the plan "1..N"; exits 0 only if nothing failed and something ran
TAP_N=0 TAP_FAILED=0

tap_ok() {
    TAP_N=$((TAP_N + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $TAP_N - $2"
    else
        TAP_FAILED=$((TAP_FAILED + 1))
        echo "not ok $TAP_N - $2"
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
    echo "1..$TAP_N"
    [ "$TAP_FAILED" -eq 0 ] && [ "$TAP_N" -gt 0 ]
    exit
}
