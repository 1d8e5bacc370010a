#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/sh/test_systemd.sh BUILD_DIR: mcsid's unit and packages under a real
# systemd (252, Debian 12's), PID 1 of a container, against tgt
# (tests/harness/with-targets): systemctl reload and restart, and a package
# upgrade, each without a logout or a login and with an NBD client going on.
#
# The container: systemd-nspawn (systemd-container) boots this machine's own
# root file system under an overlay this test mounts (lower: /, upper: a
# tmpfs; whatever the container installs is gone with it; nspawn 252 refuses
# --volatile=overlay of "/"), in a mount namespace of its own (every mount
# goes with it), with the host's network (tgtd on 127.0.0.1), to
# mcsi-test.target (basic.target and nothing of multi-user.target: no tgt,
# no getty; timers masked), in a cgroup of its own under the host's
# name=systemd and unified hierarchies (the host's PID 1 is no systemd:
# --keep-unit --register=no). Commands run in it with nsenter; the host
# reaches its sockets through /proc/<its pid 1>/root.
#
# Then: `make deb` (once) and a copy of the mcsid package with the version
# bumped (dpkg-deb -R, the same files); in the container dpkg -i of libmcsi1,
# mcsi and mcsid (postinst starts mcsid.service: Type=notify, READY=1); a
# persistent 4-connection session with an NBD export (PersistentLoginTarget
# on the control socket); fio (nbd engine, 4 KiB random writes, verify, QD 32)
# from the host through the export's socket during each of
#   (a) systemctl reload mcsid                       (ExecReload: mcsid --upgrade-running)
#       (then a reload the successor refuses, a bad configuration: it fails,
#       saying why in the journal, and the running mcsid goes on)
#   (b) systemctl restart mcsid, plain, nothing armed   (the fd store: the old
#       mcsid asks systemd over D-Bus which job runs on its unit, hears
#       "restart" and hands over; its journal says so)
#   (c) dpkg -i of the bumped mcsid package          (postinst: reload, no restart)
# after each: the command exits 0, the unit is active (running) with a new
# MainPID, the same TSIH and the very same connections on tgt (tgtadm
# --mode conn: no new login), fio saw no error and verified its data, and a
# new NBD client (qemu-io) reads back a pattern written at the start; after
# (c) dpkg knows the new version and the new main process runs the file dpkg
# installed. Then systemctl stop mcsid logs the session out (tgtadm shows no
# session; mcsid's journal says systemd's job was a stop), twice. The steps
# themselves are in tests/sh/systemd_live.py (run under with-targets as
# `test_systemd.sh --live WORK CONTAINER_PID`, results in WORK/live); the
# durations of (a) (b) (c) and fio's longest completion are
# notes.
#
# Root only. Skipped whole (counted) without the tools (tools/deps.sh
# installs them) or when the container does not boot (its log is shown):
# reasons outside the project. One run at a time (flock). On any exit the
# container is powered off (SIGKILL after 20 s), its cgroups removed, WORK
# removed (the overlay's mounts go with the test's mount namespace); the
# host's own /usr, /etc and /var/lib are never written.
# MCSI_SYSTEMD_FIO_SECONDS=A,B,C: fio's runtime around each step (6,8,15);
# MCSI_SYSTEMD_DEBS=DIR: the packages of DIR instead of make deb's.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

# ---- the part with targets: systemd_live.py -------------------------------------------------
if [ "${1:-}" = --live ]; then
    exec python3 "$HERE/systemd_live.py" "$2" "$3"
fi

# shellcheck source=tests/sh/tap.sh
. "$HERE/tap.sh"
tap_checks 45
[ "$(id -u)" -eq 0 ] || tap_skip_all "not root: a container is booted"
for c in systemd-nspawn nsenter dpkg-buildpackage dh dpkg-checkbuilddeps lintian dpkg-deb fio qemu-io tgtadm; do
    command -v "$c" >/dev/null || tap_skip_all "no $c (tools/deps.sh installs systemd-container, dpkg-dev, debhelper, lintian, fio, qemu-utils, tgt)"
done
[ -x /lib/systemd/systemd ] || tap_skip_all "no /lib/systemd/systemd on this machine to boot"
(cd "$ROOT" && dpkg-checkbuilddeps) >/dev/null 2>&1 || tap_skip_all "build dependencies missing (dpkg-checkbuilddeps)"
# The overlay and nspawn's mounts: in a mount namespace of this test's own.
if [ -z "${MCSI_SYSTEMD_NS:-}" ]; then
    exec unshare -m --propagation private env MCSI_SYSTEMD_NS=1 bash "$0" "$@"
fi
exec 9>/run/lock/mcsi-test-systemd.lock
flock -w 600 9 || tap_skip_all "another test_systemd.sh held the lock for 10 minutes"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcsi-systemd.XXXXXX") || exit 1
chmod 755 "$WORK"
NAME=mcsi-test-$$
CGROUPS="/sys/fs/cgroup/systemd/$NAME /sys/fs/cgroup/unified/$NAME"
NSPID='' CPID=''
# shellcheck disable=SC2317  # (the trap's)
stop_container() {
    local t
    if [ -n "$CPID" ] && kill -0 "$CPID" 2>/dev/null; then
        kill -s SIGRTMIN+4 "$CPID" 2>/dev/null    # systemd: poweroff
    fi
    for ((t = 0; t < 200; t++)); do
        if [ -z "$NSPID" ] || ! kill -0 "$NSPID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    [ -n "$CPID" ] && kill -KILL "$CPID" 2>/dev/null          # the whole PID namespace with it
    [ -n "$NSPID" ] && kill -KILL "$NSPID" 2>/dev/null
    [ -n "$NSPID" ] && wait "$NSPID" 2>/dev/null
    NSPID='' CPID=''
    # the cgroups, deepest first (systemd in the container made some)
    for cg in $CGROUPS; do
        [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
    done
}
# shellcheck disable=SC2317
cleanup() {
    stop_container
    # the overlay first: rm must never walk into it (it shows the whole root)
    umount "$WORK/root" 2>/dev/null || umount -l "$WORK/root" 2>/dev/null
    umount "$WORK/rw" 2>/dev/null || umount -l "$WORK/rw" 2>/dev/null
    findmnt -rn -o TARGET | grep -q "^$WORK" || rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
unset MAKEFLAGS MFLAGS MAKELEVEL

# ---- the container ---------------------------------------------------------------------------
# A target of basic.target only: nothing of multi-user.target (tgt, getty) starts in it.
mkdir -p "$WORK/deb" "$WORK/ct" "$WORK/rw" "$WORK/root"
# shellcheck disable=SC2015  # (any step failing: skipped)
mount -t tmpfs -o mode=0755 mcsi-test-rw "$WORK/rw" && mkdir -p "$WORK/rw/upper" "$WORK/rw/work" &&
    mount -t overlay -o "lowerdir=/,upperdir=$WORK/rw/upper,workdir=$WORK/rw/work" mcsi-test-root "$WORK/root" ||
    tap_skip_all "cannot mount an overlay of / (lower) and a tmpfs (upper) for the container"
cat >"$WORK/ct/mcsi-test.target" <<'EOF'
[Unit]
Description=mcsi test boot (basic.target, nothing of multi-user.target)
Requires=basic.target
After=basic.target
AllowIsolate=yes
EOF
# A cgroup of its own in the hierarchies systemd uses (the host's PID 1 made none for us).
for cg in $CGROUPS; do
    [ -d "${cg%/*}" ] && { mkdir -p "$cg" || tap_skip_all "cannot make the cgroup $cg"; }
done
(
    for cg in $CGROUPS; do [ -d "$cg" ] && echo $BASHPID >"$cg/cgroup.procs"; done
    exec systemd-nspawn --quiet --directory="$WORK/root" --keep-unit --register=no \
        --machine="$NAME" --console=passive --resolv-conf=off --timezone=off --link-journal=no \
        --bind-ro="$WORK/deb:/mcsi-deb" --bind-ro="$WORK/ct/mcsi-test.target:/etc/systemd/system/mcsi-test.target" \
        --boot -- systemd.unit=mcsi-test.target systemd.mask=timers.target systemd.mask=tgt.service \
        systemd.mask=systemd-timesyncd.service systemd.mask=getty.target
) >"$WORK/nspawn.log" 2>&1 </dev/null &
NSPID=$!
t0=$EPOCHREALTIME
# its PID 1: nspawn's child that is pid 1 in its own namespace
for ((i = 0; i < 100; i++)); do
    for p in $(pgrep -P "$NSPID" 2>/dev/null); do
        [ "$(sed -n 's/^NSpid:.*[[:space:]]\([0-9]*\)$/\1/p' "/proc/$p/status" 2>/dev/null)" = 1 ] && CPID=$p
    done
    [ -n "$CPID" ] && break
    kill -0 "$NSPID" 2>/dev/null || break
    sleep 0.1
done
state=
for ((i = 0; i < 600 && ${#CPID}; i++)); do
    state=$(nsenter -t "$CPID" -m -p -u -i env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin systemctl is-system-running 2>/dev/null)
    case $state in running | degraded) break ;; esac
    kill -0 "$NSPID" 2>/dev/null || break
    sleep 0.1
done
case $state in
    running | degraded) ;;
    *) msg="systemd-nspawn --boot of this machine's root (an overlay) did not come up (state '$state'): $(tail -5 "$WORK/nspawn.log" | tr '\n' ' ')"
       echo "# $msg" >&2
       tap_skip_all "$msg" ;;
esac
boot_ms=$(( (${EPOCHREALTIME/./} - ${t0/./}) / 1000 ))
echo "$CPID" >"$WORK/container.pid"

# ---- the packages ------------------------------------------------------------------------------
t0=$EPOCHREALTIME
if [ -n "${MCSI_SYSTEMD_DEBS:-}" ]; then    # (packages built already: a test of the test)
    cp "$MCSI_SYSTEMD_DEBS"/*.deb "$WORK/deb/" >"$WORK/make.log" 2>&1
    tap_ok $? "the packages of $MCSI_SYSTEMD_DEBS (MCSI_SYSTEMD_DEBS)"
else
    make -C "$ROOT" --no-print-directory deb DEB_DIR="$WORK/deb" >"$WORK/make.log" 2>&1
    rc=$?
    tap_ok $rc "make deb (dpkg-buildpackage, lintian): $(( (${EPOCHREALTIME/./} - ${t0/./}) / 1000000 )) s" ||
        tap_note "$(tail -30 "$WORK/make.log")"
fi
tap_note "$(grep -E '^[EW]: ' "$WORK/make.log")"
tap_note "the container (systemd $(/lib/systemd/systemd --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p'), pid $CPID) booted in $boot_ms ms ($state)"
version=$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
# The same mcsid package with a higher version: dpkg -i of it is an upgrade.
bumped=$version+upgrade1
rm -rf "$WORK/repack" && mkdir -p "$WORK/deb/bumped" &&
    dpkg-deb -R "$WORK/deb/mcsid_${version}_$arch.deb" "$WORK/repack" &&
    sed -i "s/^Version: .*/Version: $bumped/" "$WORK/repack/DEBIAN/control" &&
    dpkg-deb --root-owner-group -b "$WORK/repack" "$WORK/deb/bumped/mcsid_${bumped}_$arch.deb" >/dev/null
tap_ok $? "mcsid $bumped: the package again with a higher version (dpkg-deb -R, -b)"
rm -rf "$WORK/repack"
printf '%s\n' "$version" "$bumped" "$arch" >"$WORK/versions"

# ---- in the container, against tgt -------------------------------------------------------------
bash "$ROOT/tests/harness/with-targets" bash "$HERE/test_systemd.sh" --live "$WORK" "$CPID" >"$WORK/targets.log" 2>&1
[ -f "$WORK/live" ] || tap_note "$(tail -30 "$WORK/targets.log")"
n=0
while IFS=' ' read -r st msg; do
    tap_ok "$st" "$msg"
    n=$((n + 1))
done <"$WORK/live" 2>/dev/null
tap_is "$n" 41 "every check in the container ran"
tap_note "$(cat "$WORK/live.notes" 2>/dev/null)"
[ "$TAP_FAILED" -eq 0 ] || tap_note "$(tail -40 "$WORK/targets.log")"

pids="$NSPID $CPID"
stop_container
alive=
for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
umount "$WORK/root" "$WORK/rw" 2>/dev/null
left=$(findmnt -rn -o TARGET | grep -c "^$WORK")
[ -z "$alive" ] && [ "$left" -eq 0 ] && [ ! -d "/sys/fs/cgroup/systemd/$NAME" ]
tap_ok $? "the container is gone: no process ($pids), no mount of WORK, no cgroup" ||
    tap_note "alive:$alive; mounts: $left"
tap_done
