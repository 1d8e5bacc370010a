#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/sh/test_service_unit.sh BUILD_DIR: daemon/mcsid.service is hardened,
# and its confinement is enough for the daemon.
#   * `systemd-analyze security --offline=true` rates it 4.0 or lower
#     (skipped, counted, where systemd-analyze has no --offline), and it sets
#     the directives an administrator looks for.
#   * The unit's CapabilityBoundingSet, NoNewPrivileges, SystemCallFilter
#     (its groups expanded by `systemd-analyze syscall-filter`),
#     RestrictAddressFamilies and MemoryDenyWriteExecute, applied as systemd applies them, without
#     systemd: setpriv --no-new-privs --bounding-set, then a seccomp filter
#     (tests/sh/seccomp_exec.py) that allows those calls, socket() of those
#     families, and kills the process at any other call. A confined mcsid
#     has exactly those capabilities, the filter and no_new_privs, and
#     answers; one confined without bind(2) is killed (SIGSYS): the filter
#     is live. ProtectSystem=strict (with ProtectHome=read-only) too: in a
#     mount namespace of its own, every file system read-only but /proc,
#     /sys, /dev and TMPDIR (where the tests keep each daemon's socket, state
#     and export_dir, as the unit's RuntimeDirectory, StateDirectory and
#     PrivateTmp are its writable places); a state directory in /var/lib
#     cannot be made.
#   * The daemon's test files (tests/daemon/test_*.py but test_stress.py,
#     60 s of load, and test_handover_load.py, 40 upgrades under load whose
#     calls test_handover.py and test_handover_fdstore.py make too) pass with every mcsid they start confined so
#     (MCSI_MCSID_WRAPPER), against tgt and istgt (tests/harness/with-targets):
#     every call and capability they make the daemon and its policy
#     processes use is allowed. The confined runs are skipped (counted)
#     for a sanitizer's build (MCSI_TEST_CFLAGS, or its mcsid): the
#     sanitizers' own calls (ptrace at exit, personality) are no service's.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/sh/tap.sh
. "$HERE/tap.sh"
BUILD=${1:?usage: test_service_unit.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
UNIT=$ROOT/daemon/mcsid.service
SUITES=$(cd "$ROOT" && for f in tests/daemon/test_*.py; do
  case $f in tests/daemon/test_stress.py | tests/daemon/test_handover_load.py) ;; *) echo "$f" ;; esac
done)
tap_checks $((9 + $(echo "$SUITES" | wc -l)))
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcsi-unit.XXXXXX") || exit 1
pids=()
# shellcheck disable=SC2317  # (the trap's)
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

# values DIRECTIVE: the values of every line of DIRECTIVE, blank-separated
values() { sed -n "s/^$1=//p" "$UNIT" | tr '\n' ' '; }

# ---- the rating, the directives -------------------------------------------------------------
if systemd-analyze security --offline=true "$UNIT" >"$WORK/security" 2>&1; then
    score=$(sed -n 's/.*Overall exposure level for mcsid.service: \([0-9.]*\).*/\1/p' "$WORK/security")
    [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 4.0) }'
    tap_ok $? "systemd-analyze security --offline=true rates mcsid.service $score (at most 4.0)"
    tap_note "$(grep '✗' "$WORK/security")"
else
    tap_skip "systemd-analyze security has no --offline: $(head -1 "$WORK/security")"
fi
missing=
for d in ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes ProtectHome= ReadWritePaths= StateDirectory=mcsi \
         RuntimeDirectory=mcsi RestrictAddressFamilies= SystemCallFilter= CapabilityBoundingSet= \
         SystemCallArchitectures=native ProtectKernelTunables=yes RestrictNamespaces=yes; do
    grep -q "^$d" "$UNIT" || missing="$missing $d"
done
tap_is "$missing" "" "the unit sets ProtectSystem=strict, NoNewPrivileges, PrivateTmp, ProtectHome, ReadWritePaths, ..."

# ---- the confinement, from the unit ---------------------------------------------------------
# expand NAME|@GROUP...: system call names (systemd-analyze syscall-filter, groups in groups)
# shellcheck disable=SC2046  # (one name a word)
expand() {
    local x
    for x in "$@"; do
        case $x in
            @*) expand $(systemd-analyze syscall-filter "$x" 2>/dev/null | sed -n 's/^    \([-@a-z0-9_]*\)$/\1/p') ;;
            *) echo "$x" ;;
        esac
    done
}
filter=$(values SystemCallFilter)
# systemd allows these whatever the filter says (systemd.exec(5)).
# shellcheck disable=SC2086  # (its words)
{ expand $filter; printf '%s\n' execve exit exit_group rt_sigreturn sigreturn; } | LC_ALL=C sort -u >"$WORK/syscalls"
[[ $filter != *"~"* ]] && grep -qx socket "$WORK/syscalls" && [ "$(wc -l <"$WORK/syscalls")" -gt 100 ]
tap_ok $? "SystemCallFilter=$filter: an allow list, $(wc -l <"$WORK/syscalls") calls"
caps=$(values CapabilityBoundingSet)
bounding=-all
for c in $caps; do
    c=${c#CAP_}
    bounding="$bounding,+${c,,}"
done
families=
for f in $(values RestrictAddressFamilies); do
    case $f in AF_UNIX) n=1 ;; AF_INET) n=2 ;; AF_INET6) n=10 ;; *) n=unknown-$f ;; esac
    families="$families${families:+,}$n"
done
mdwe=
grep -qx 'MemoryDenyWriteExecute=yes' "$UNIT" && mdwe=--mdwe
# ProtectSystem=strict: in a mount namespace of its own (slave, as systemd
# makes it: mounts made outside later still reach it), every file system
# read-only but the API ones (/proc, /sys, /dev) and TMPDIR, where the tests
# keep each daemon's socket, state and export_dir (as the unit's
# RuntimeDirectory, StateDirectory and PrivateTmp are the writable places).
tmp=$(cd "${TMPDIR:-/tmp}" && pwd -P)
cat >"$WORK/readonly" <<'EOF'
#!/bin/sh
# readonly TMP PROGRAM ARGS... (in a new mount namespace): every mount read-only but /proc, /sys, /dev and TMP
tmp=$1; shift
mount --rbind "$tmp" "$tmp" || exit 1
findmnt -rn -o TARGET | grep -vE "^/(proc|sys|dev)(/|\$)|^$tmp(/|\$)" | while read -r m; do
    mount -o remount,bind,ro "$m" 2>/dev/null || [ "$m" != / ] || exit 1
done || exit 1
exec "$@"
EOF
ro=
grep -qx 'ProtectSystem=strict' "$UNIT" && ro="unshare -m --propagation slave sh $WORK/readonly $tmp"
# confine SYSCALLS_FILE PROGRAM ARGS...: as the unit (with that allow list)
cat >"$WORK/confine-with" <<EOF
#!/bin/sh
list=\$1; shift
exec $ro setpriv --no-new-privs --inh-caps=-all --bounding-set=$bounding \\
    python3 "$HERE/seccomp_exec.py" "\$list" "$families" $mdwe -- "\$@"
EOF
printf '#!/bin/sh\nexec sh "%s" "%s" "$@"\n' "$WORK/confine-with" "$WORK/syscalls" >"$WORK/confine"
chmod +x "$WORK/confine-with" "$WORK/confine"

# start_confined LIST NAME: mcsid confined with LIST on WORK/NAME.sock; its pid in mpid
start_confined() {
    sh "$WORK/confine-with" "$1" "$BUILD/mcsid" --socket "$WORK/$2.sock" --state-dir "$WORK/$2.state" \
        --config /dev/null 2>"$WORK/$2.log" &
    mpid=$!
    pids+=("$mpid")
    for _ in $(seq 100); do [ -S "$WORK/$2.sock" ] || ! kill -0 "$mpid" 2>/dev/null && break; sleep 0.05; done
}
# A sanitizer's own calls (ptrace when LeakSanitizer stops the world at exit,
# personality) are no service's: the confined runs need the plain build.
if [[ ${MCSI_TEST_CFLAGS:-} == *sanitize* ]] || grep -aqE '__(asan|ubsan|tsan)_' "$BUILD/mcsid" 2>/dev/null; then
    for c in "a confined mcsid answers" "its capabilities" "no_new_privs and a filter" "exits 0" "killed without bind" "read-only"; do
        tap_skip "$c: $BUILD/mcsid is built with a sanitizer"
    done
    for t in $SUITES; do tap_skip "$t confined: $BUILD/mcsid is built with a sanitizer"; done
    tap_done
fi
start_confined "$WORK/syscalls" live
out=$(echo '{"jsonrpc":"2.0","id":1,"method":"GetVersion"}' | socat -t 5 - "UNIX-CONNECT:$WORK/live.sock" 2>&1)
[[ $out == *'"StatusName":"ISDSC_SUCCESS"'* ]]
tap_ok $? "a confined mcsid answers GetVersion"
tap_note "$(tail -3 "$WORK/live.log")"
status=$(cat "/proc/$mpid/status" 2>/dev/null)
eff=$(sed -n 's/^CapEff:[[:space:]]*//p' <<<"$status")
got=$(capsh --decode="$eff" 2>/dev/null | sed 's/.*=//' | tr ',' '\n' | LC_ALL=C sort | paste -sd,)
want=$(for c in $caps; do echo "${c,,}"; done | LC_ALL=C sort | paste -sd,)
tap_is "$got" "$want" "the confined mcsid's capabilities are the unit's CapabilityBoundingSet"
sed -n 's/^\(NoNewPrivs\|Seccomp\):[[:space:]]*/\1 /p' <<<"$status" | paste -sd' ' >"$WORK/flags"
tap_is "$(cat "$WORK/flags")" "NoNewPrivs 1 Seccomp 2" "it runs with no_new_privs and a seccomp filter"
kill -TERM "$mpid" 2>/dev/null; wait "$mpid"
tap_is "$?" 0 "the confined mcsid exits 0 on SIGTERM"
grep -vx bind "$WORK/syscalls" >"$WORK/no-bind"
start_confined "$WORK/no-bind" nobind
wait "$mpid"
tap_is "$?" $((128 + 31)) "an mcsid confined without bind(2) is killed by SIGSYS (the filter is live)"
# ProtectSystem=strict: a state directory outside the writable places cannot be made
ro_state=/var/lib/mcsi-unit-test.$$
sh "$WORK/confine" "$BUILD/mcsid" --socket "$WORK/rostate.sock" --state-dir "$ro_state" --config /dev/null \
    2>"$WORK/rostate.log" &
mpid=$!
pids+=("$mpid")
for _ in $(seq 100); do [ -S "$WORK/rostate.sock" ] || ! kill -0 "$mpid" 2>/dev/null && break; sleep 0.05; done
kill -0 "$mpid" 2>/dev/null && kill -TERM "$mpid"
wait "$mpid"
rc=$?
[ $rc -ne 0 ] && [ ! -e "$ro_state" ] && grep -q "Read-only file system" "$WORK/rostate.log"
tap_ok $? "a confined mcsid cannot make its state in $ro_state: the file system is read-only there (exit $rc)"
tap_note "$(tail -2 "$WORK/rostate.log")"
rmdir "$ro_state" 2>/dev/null

# ---- the daemon's tests, with every mcsid confined -------------------------------------------
cat >"$WORK/suites" <<EOF
cd "$ROOT" || exit 1
for t in $(printf '%s ' $SUITES); do
    s=\$SECONDS
    python3 "\$t" >"$WORK/\$(basename "\$t").log" 2>&1
    echo "\$? \$t \$((SECONDS - s))" >>"$WORK/suite-results"
done
EOF
MCSI_MCSID_WRAPPER=$WORK/confine MCSI_BUILD_DIR=$BUILD bash "$ROOT/tests/harness/with-targets" bash "$WORK/suites" \
    >"$WORK/targets.log" 2>&1
[ -f "$WORK/suite-results" ] || tap_note "$(tail -20 "$WORK/targets.log")"
for t in $SUITES; do
    read -r rc secs < <(sed -n "s|^\([0-9]*\) $t \([0-9]*\)\$|\1 \2|p" "$WORK/suite-results" 2>/dev/null)
    log=$WORK/$(basename "$t").log
    [ "${rc:-}" = 0 ]
    tap_ok $? "$t passes with mcsid confined as the unit says ($(grep -c '^ok' "$log" 2>/dev/null) checks, ${secs:-?} s)" ||
        tap_note "$(grep -E '^not ok|Traceback|SIGSYS|signal' "$log" 2>/dev/null | head -20)"
done
tap_done
