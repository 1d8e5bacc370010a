#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/sh/test_deb.sh BUILD_DIR: the Debian packages as an administrator
# meets them. `make deb` (dpkg-buildpackage, then lintian: no error) into a
# directory of its own; a snapshot of /usr, /etc and /var/lib; dpkg -i of
# libmcsi1, libmcsi-dev, mcsi and mcsid on this machine (the group mcsi, the
# conffile naming it as socket_group, the unit at the packaged paths); then,
# against tgt (tests/harness/with-targets), the installed /usr/sbin/mcsid
# with the packaged /etc/mcsi/mcsid.conf on a private socket and state
# directory (no systemd as PID 1 here), a login with the installed
# mcsi-iscsicli and I/O with the installed mcsi; lua5.4 finds the installed
# module, a C program builds with pkg-config against libmcsi-dev and runs on
# libmcsi1; dpkg --purge of all four leaves /usr, /etc and /var/lib as they
# were and no group mcsi.
#
# It installs system-wide, so: root only; skipped whole (counted) without
# dpkg-buildpackage, debhelper or the build dependencies, or when one of the
# packages or the group mcsi is already on the machine (never replaced nor
# purged); one run at a time on the machine (flock); whatever it installed
# is purged on any exit (trap); the service is never started (where systemd
# runs, /run/systemd/system is hidden from dpkg's scripts). Inside with-targets it runs again as
# `test_deb.sh --live WORK` and writes its results to WORK/live.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PKGS="mcsid mcsi libmcsi-dev libmcsi1"     # the order of removal

# ---- the part with targets: its results, "STATUS message" lines, to WORK/live -------------
if [ "${1:-}" = --live ]; then
    WORK=$2
    res() { echo "$1 $2" >>"$WORK/live"; }
    note() { printf '%s\n' "$1" >>"$WORK/live.notes"; }
    unset LUA_PATH LUA_CPATH MCSI_SOCKET
    sock=$WORK/run/mcsid.sock
    /usr/sbin/mcsid --config /etc/mcsi/mcsid.conf --socket "$sock" --state-dir "$WORK/state" \
        2>"$WORK/mcsid.log" &
    mpid=$!
    for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
    [ -S "$sock" ]
    res $? "the installed mcsid with the packaged mcsid.conf listens on a private socket"
    res "$([ "$(stat -c '%G %a' "$sock" 2>/dev/null)" = "mcsi 660" ]; echo $?)" \
        "its socket is 0660 root:mcsi (socket_group = mcsi)"
    note "socket: $(stat -c '%U:%G %a' "$sock" 2>&1)"
    cli() { /usr/bin/mcsi-iscsicli --socket "$sock" "$@" >"$WORK/cli.out" 2>&1; }
    cli QAddTargetPortal "127.0.0.1:$MCSI_TGT_PORT"
    res $? "installed mcsi-iscsicli: QAddTargetPortal 127.0.0.1:$MCSI_TGT_PORT"
    note "$(cat "$WORK/cli.out")"
    cli QLoginTarget "$MCSI_TGT_IQN_PLAIN"
    res $? "installed mcsi-iscsicli: QLoginTarget (tgt)"
    note "$(cat "$WORK/cli.out")"
    cli SessionList
    grep -q "Total of 1 sessions" "$WORK/cli.out"
    res $? "installed mcsi-iscsicli: SessionList shows the session, held by the daemon"
    # 512 bytes at LBA 7 of the file LUN, written and read back through the daemon
    out=$(/usr/bin/mcsi --connect "$sock" -e "
        local s = mcsi.sessions()[1]
        local data = string.rep('mcsi.deb', 64)
        print(mcsi.write(s.id, $MCSI_TGT_FILE_LUN, 7, data).name)
        local back, st = mcsi.read(s.id, $MCSI_TGT_FILE_LUN, 7, 1)
        print(st.name, back == data)" 2>&1)
    [ "$out" = "$(printf 'ISDSC_SUCCESS\nISDSC_SUCCESS\ttrue')" ]
    res $? "installed mcsi --connect: a block written and read back the same"
    note "$out"
    kill -TERM $mpid 2>/dev/null; wait $mpid
    res $? "the installed mcsid logs out and exits 0 on SIGTERM"
    note "$(tail -5 "$WORK/mcsid.log")"
    exit 0
fi

# ---- the whole -------------------------------------------------------------------------------
# shellcheck source=tests/sh/tap.sh
. "$HERE/tap.sh"
tap_checks 25
[ "$(id -u)" -eq 0 ] || tap_skip_all "not root: the packages are installed on the machine"
for c in dpkg-buildpackage dh dpkg-checkbuilddeps lintian; do
    command -v "$c" >/dev/null || tap_skip_all "no $c (tools/deps.sh installs dpkg-dev, debhelper, lintian)"
done
(cd "$ROOT" && dpkg-checkbuilddeps) >/dev/null 2>&1 || tap_skip_all "build dependencies missing (dpkg-checkbuilddeps)"
# Where systemd runs, the maintainer scripts would start (and stop) the real
# service: in a mount namespace of its own, this test hides /run/systemd/system
# from them, as on a machine without systemd.
if [ -d /run/systemd/system ] && [ -z "${MCSI_DEB_NS:-}" ]; then
    exec unshare -m --propagation private env MCSI_DEB_NS=1 bash "$0" "$@"
fi
if [ -n "${MCSI_DEB_NS:-}" ]; then
    mount -t tmpfs -o size=1m,mode=0755 mcsi-test-deb /run/systemd/system || tap_skip_all "cannot hide /run/systemd/system"
fi
exec 9>/run/lock/mcsi-test-deb.lock
flock -w 600 9 || tap_skip_all "another test_deb.sh held the lock for 10 minutes"
for p in $PKGS; do
    st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)
    case $st in ""|"un "|"pn ") ;; *) tap_skip_all "$p is on this machine ($st): not replacing nor purging it" ;; esac
done
getent group mcsi >/dev/null && tap_skip_all "a group mcsi exists: purge would remove it"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcsi-deb.XXXXXX") || exit 1
installed=0
# shellcheck disable=SC2317,SC2086  # (the trap's; PKGS: one name a word)
cleanup() {
    if [ $installed -eq 1 ]; then
        dpkg --purge $PKGS >"$WORK/purge-trap.log" 2>&1 || cat "$WORK/purge-trap.log" >&2
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
unset MAKEFLAGS MFLAGS MAKELEVEL

# /usr, /etc and /var/lib: every path with its type, mode, owner and size, and
# the contents of /etc's files; not dpkg's and apt's own databases (dpkg-query
# says what they hold), nor the backups (/etc/group-, ...) that addgroup and
# delgroup write, nor the byte code Python may leave beside its modules.
snapshot() {
    find /usr /etc /var/lib -xdev \( -path /var/lib/dpkg -o -path /var/lib/apt -o -path '/usr/lib/python3*' \
        -o -path '/etc/*-' \) -prune \
        -o \( -type d -printf '%y %m %u:%g %p\n' \) -o \( ! -type d -printf '%y %m %u:%g %s %p\n' \) | LC_ALL=C sort
    find /etc -xdev -type f ! -name '*-' -print0 | LC_ALL=C sort -z | xargs -0 md5sum
}

make -C "$ROOT" --no-print-directory deb DEB_DIR="$WORK/deb" >"$WORK/make.log" 2>&1
rc=$?
tap_ok $rc "make deb DEB_DIR=... (dpkg-buildpackage -us -uc -b, then lintian --fail-on error)"
[ $rc -eq 0 ] || tap_note "$(tail -30 "$WORK/make.log")"
tap_note "$(grep -E '^[EWI]: ' "$WORK/make.log")"
version=$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
debs=()
for p in $PKGS; do debs+=("$WORK/deb/${p}_${version}_$arch.deb"); done
ls "${debs[@]}" >/dev/null 2>&1
tap_ok $? "make deb put mcsid, mcsi, libmcsi-dev and libmcsi1 $version in DEB_DIR"
soname=$(dpkg-deb --fsys-tarfile "$WORK/deb/libmcsi1_${version}_$arch.deb" 2>/dev/null | tar -t | sed -n 's|.*/\(libmcsi\.so\.[0-9]*\)$|\1|p')
tap_is "$soname" libmcsi.so.1 "libmcsi1 holds libmcsi.so.1, its SONAME (the package is named after it)"
! grep -qE '^E: ' "$WORK/make.log"
tap_ok $? "lintian reports no error"

snapshot >"$WORK/before" 2>/dev/null
installed=1
dpkg -i "${debs[@]}" >"$WORK/install.log" 2>&1
rc=$?
tap_ok $rc "dpkg -i the four packages"
[ $rc -eq 0 ] || tap_note "$(tail -20 "$WORK/install.log")"
gid=$(getent group mcsi | cut -d: -f3)
[ -n "$gid" ] && [ "$gid" -lt 1000 ]
tap_ok $? "postinst made the system group mcsi ($gid)"
grep -qx 'socket_group = mcsi' /etc/mcsi/mcsid.conf 2>/dev/null
tap_ok $? "/etc/mcsi/mcsid.conf names it: socket_group = mcsi"
dpkg-query -W -f='${Conffiles}\n' mcsid 2>/dev/null | grep -q '^ /etc/mcsi/mcsid.conf '
tap_ok $? "/etc/mcsi/mcsid.conf is a conffile of mcsid"
grep -qx 'ExecStart=/usr/sbin/mcsid --config /etc/mcsi/mcsid.conf --socket /run/mcsi/mcsid.sock --state-dir /var/lib/mcsi' \
    /lib/systemd/system/mcsid.service 2>/dev/null
tap_ok $? "the unit /lib/systemd/system/mcsid.service runs /usr/sbin/mcsid with /etc/mcsi/mcsid.conf"
[ -e /etc/systemd/system/multi-user.target.wants/mcsid.service ]
tap_ok $? "debhelper's postinst enabled mcsid.service"
out=$(/usr/bin/mcsi -e 'print(mcsi.version)' 2>&1) && /usr/sbin/mcsid --version >/dev/null 2>&1
tap_ok $? "the installed mcsi and mcsid run ($out)"
out=$(env -u LUA_PATH -u LUA_CPATH lua5.4 -e 'print(package.searchpath("mcsi", package.cpath), type(require("mcsi").connect))' 2>&1)
[[ $out == "/usr/lib/"*"/lua/5.4/mcsi.so	function" ]]
tap_ok $? "lua5.4 loads the installed module: require 'mcsi'"
tap_note "$out"
printf '#include <stdio.h>\n#include <mcsi.h>\nint main(void) { puts(mcsi_status_name(ISDSC_LOGIN_FAILED)); return 0; }\n' >"$WORK/prog.c"
# shellcheck disable=SC2046
cc -o "$WORK/prog" "$WORK/prog.c" $(pkg-config --cflags --libs mcsi 2>/dev/null) >"$WORK/cc.log" 2>&1 &&
    [ "$(env -u LD_LIBRARY_PATH "$WORK/prog" 2>&1)" = ISDSC_LOGIN_FAILED ]
tap_ok $? "a C program builds with pkg-config's flags (libmcsi-dev) and runs on libmcsi1"
tap_note "$(cat "$WORK/cc.log")"

bash "$ROOT/tests/harness/with-targets" bash "$HERE/test_deb.sh" --live "$WORK" >"$WORK/targets.log" 2>&1
[ -f "$WORK/live" ] || tap_note "$(tail -20 "$WORK/targets.log")"
n=0
while read -r st msg; do
    tap_ok "$st" "$msg"
    n=$((n + 1))
done <"$WORK/live" 2>/dev/null
tap_is "$n" 7 "every check against tgt ran"
tap_note "$(cat "$WORK/live.notes" 2>/dev/null)"

# shellcheck disable=SC2086
dpkg --purge $PKGS >"$WORK/purge.log" 2>&1
rc=$?
tap_ok $rc "dpkg --purge mcsid mcsi libmcsi-dev libmcsi1"
[ $rc -eq 0 ] && installed=0
tap_note "$(grep -i 'warn' "$WORK/purge.log")"
# shellcheck disable=SC2086
left=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $PKGS 2>/dev/null | grep -v ' [up]n $')
tap_is "$left" "" "dpkg knows none of them any more"
getent group mcsi >/dev/null
tap_ok $((!$?)) "purge removed the group mcsi"
snapshot >"$WORK/after" 2>/dev/null
diff "$WORK/before" "$WORK/after" >"$WORK/diff"
tap_ok $? "/usr, /etc and /var/lib are as they were before dpkg -i"
tap_note "$(head -40 "$WORK/diff")"
tap_done
