#!/bin/bash
# tests/sh/test_install.sh BUILD_DIR: make install into a temporary DESTDIR
# (PREFIX a directory no system has), the files it puts, mcsi.pc through
# pkg-config, a small C program built with only pkg-config's flags (against
# the shared library: runs, and cannot reach an internal function), the NBD
# layer (mcsi_nbd.h, libmcsi-nbd.a: a program links and runs), then make
# uninstall: every file install put is gone, files that were there before
# stay. The service: mcsid, its unit (naming the installed paths), its man
# page and configuration (kept when changed); the installed mcsid answers on
# a socket with the installed configuration. MCSI_TEST_CFLAGS (make check passes its CFLAGS) compiles the program
# as the library was (e.g. with -fsanitize under make asan).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/sh/tap.sh
. "$HERE/tap.sh"
BUILD=${1:?usage: test_install.sh BUILD_DIR}
read -ra CFLAGS_T <<<"${MCSI_TEST_CFLAGS:-}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcsi-install.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
D=$WORK/dest P=/opt/mcsi-install-test
# Not a sub-make of make check: no jobserver, no inherited flags.
unset MAKEFLAGS MFLAGS MAKELEVEL
# The build's CFLAGS too, should make find anything to rebuild.
mk() {
    make -C "$ROOT" --no-print-directory BUILD="$BUILD" ${MCSI_TEST_CFLAGS:+CFLAGS="$MCSI_TEST_CFLAGS"} \
        PREFIX=$P DESTDIR="$D" "$@" >"$WORK/make.log" 2>&1
}

# Files of someone else, which uninstall must leave alone.
mkdir -p "$D$P/lib" "$D$P/include" "$D$P/share/mcsi"
echo keep >"$D$P/lib/other.so"; echo keep >"$D$P/include/other.h"; echo keep >"$D$P/share/mcsi/notes"
( cd "$D" && find . \( -type f -o -type l \) | LC_ALL=C sort ) >"$WORK/before"

mk install
rc=$?
tap_ok $rc "make install PREFIX=$P DESTDIR=..."
[ $rc -eq 0 ] || tap_note "$(tail -20 "$WORK/make.log")"
for f in lib/libmcsi.a lib/libmcsi-nbd.a include/mcsi/mcsi_nbd.h \
         lib/libmcsi.so lib/pkgconfig/mcsi.pc include/mcsi/mcsi.h include/mcsi/status_list.h \
         bin/mcsi bin/mcsi-perf lib/lua/5.4/mcsi.so share/lua/5.4/mcsi/pretty.lua share/mcsi/scripts/failover.lua; do
    [ -e "$D$P/$f" ]
    tap_ok $? "installed: $f"
done
for f in sbin/mcsid lib/systemd/system/mcsid.service share/man/man8/mcsid.8; do
    [ -e "$D$P/$f" ]
    tap_ok $? "installed: $f"
done
[ -f "$D/etc/mcsi/mcsid.conf" ]
tap_ok $? "installed: /etc/mcsi/mcsid.conf (SYSCONFDIR under DESTDIR)"
grep -qx "ExecStart=$P/sbin/mcsid --config /etc/mcsi/mcsid.conf --socket /run/mcsi/mcsid.sock --state-dir /var/lib/mcsi" \
    "$D$P/lib/systemd/system/mcsid.service"
tap_ok $? "the unit's ExecStart names the installed mcsid and configuration"
man -l "$D$P/share/man/man8/mcsid.8" 2>/dev/null | grep -q -- "--state-dir"
tap_ok $? "the man page renders"
man -l "$D$P/share/man/man1/mcsi.1" 2>/dev/null | grep -q -- "--connect"
tap_ok $? "mcsi(1) is installed and renders"
man -l "$D$P/share/man/man1/mcsi-iscsicli.1" 2>/dev/null | grep -q "PersistentLoginTarget"
tap_ok $? "mcsi-iscsicli(1) is installed and renders"
[ -x "$D$P/bin/mcsi-iscsicli" ] && grep -q "exec $P/bin/mcsi \$json $P/share/mcsi/scripts/iscsicli.lua" "$D$P/bin/mcsi-iscsicli"
tap_ok $? "installed: bin/mcsi-iscsicli, running the installed mcsi and iscsicli.lua"
out=$("$D$P/bin/mcsi" "$D$P/share/mcsi/scripts/iscsicli.lua" --local VersionInfo 2>&1)
[[ $out == *"The operation completed successfully."* ]]
tap_ok $? "the installed iscsicli.lua runs (VersionInfo)"
tap_note "$out"
# The installed daemon with the installed configuration: one request through socat.
sock=$WORK/run/mcsid.sock
"$D$P/sbin/mcsid" --config "$D/etc/mcsi/mcsid.conf" --socket "$sock" --state-dir "$WORK/state" 2>"$WORK/mcsid.log" &
mpid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
out=$(echo '{"jsonrpc":"2.0","id":1,"method":"GetVersion"}' | socat -t 5 - "UNIX-CONNECT:$sock" 2>&1)
[[ $out == *'"StatusName":"ISDSC_SUCCESS"'* ]]
tap_ok $? "the installed mcsid answers GetVersion on its socket"
tap_note "$out"
kill -TERM $mpid 2>/dev/null; wait $mpid
tap_is "$?" 0 "the installed mcsid exits 0 on SIGTERM"
echo "# changed by the administrator" >>"$D/etc/mcsi/mcsid.conf"
mk install
grep -q "changed by the administrator" "$D/etc/mcsi/mcsid.conf"
tap_ok $? "make install again keeps a changed mcsid.conf"

soname=$(readelf -d "$D$P/lib/libmcsi.so" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
[ -n "$soname" ] && [ -L "$D$P/lib/$soname" ] && [ -f "$D$P/lib/$(readlink "$D$P/lib/$soname")" ]
tap_ok $? "installed: lib/$soname, the SONAME, links to the library"
for f in bin/mcsi-demo bin/mcsi-mcsbench share/mcsi/scripts/demo.lua; do
    [ ! -e "$D$P/$f" ]
    tap_ok $? "not installed (needs the test harness): $f"
done

export PKG_CONFIG_PATH=$D$P/lib/pkgconfig PKG_CONFIG_LIBDIR=$D$P/lib/pkgconfig
# (word splitting drops pkgconf's trailing blank)
# shellcheck disable=SC2046,SC2005
tap_is "$(echo $(pkg-config --cflags mcsi 2>&1))" "-I$P/include/mcsi" "pkg-config --cflags mcsi names PREFIX"
# shellcheck disable=SC2046,SC2005
tap_is "$(echo $(pkg-config --libs mcsi 2>&1))" "-L$P/lib -lmcsi" "pkg-config --libs mcsi names PREFIX"
# The staged tree: the same paths under DESTDIR.
export PKG_CONFIG_SYSROOT_DIR=$D
cflags=$(pkg-config --cflags mcsi) && libs=$(pkg-config --libs mcsi)
tap_ok $? "pkg-config --cflags --libs mcsi with PKG_CONFIG_SYSROOT_DIR=DESTDIR"
version=$(pkg-config --modversion mcsi)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]
tap_ok $? "pkg-config --modversion mcsi is a version ($version)"

cat >"$WORK/prog.c" <<'C'
#include <stdio.h>
#include <mcsi.h>
int main(void)
{
  mcsi_initiator *ini = mcsi_initiator_new("iqn.2026-11.org.mcsi:install-test");
  if (!ini) return 1;
  printf("%s %s %s\n", mcsi_initiator_name(ini), mcsi_status_name(ISDSC_LOGIN_FAILED),
         mcsi_status_message(ISDSC_LOGIN_FAILED));
  mcsi_initiator_free(ini);
  return 0;
}
C
# shellcheck disable=SC2086
cc "${CFLAGS_T[@]}" $cflags -o "$WORK/prog" "$WORK/prog.c" $libs >"$WORK/cc.log" 2>&1
tap_ok $? "a program compiles and links with only pkg-config's flags"
tap_note "$(cat "$WORK/cc.log")"
needed=$(readelf -d "$WORK/prog" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(libmcsi[^]]*\)\]$/\1/p')
tap_is "$needed" "$soname" "the program needs the SONAME"
out=$(LD_LIBRARY_PATH=$D$P/lib "$WORK/prog" 2>&1)
tap_is "$out" "iqn.2026-11.org.mcsi:install-test ISDSC_LOGIN_FAILED Login failed" \
    "the program runs on the installed library"

# The NBD layer: its installed header and archive, linked before the shared
# library (it uses mcsi.h's functions only, all of them exported) and GnuTLS
# (its TLS).
cat >"$WORK/prog_nbd.c" <<'C'
#include <stdio.h>
#include <mcsi_nbd.h>
int main(void)
{
  char err[128] = "";
  mcsi_initiator *ini = mcsi_initiator_new("iqn.2026-11.org.mcsi:install-test");
  mcsi_nbd_opts opts = { .name = "x" };   /* neither a socket nor TCP: refused */
  if (!ini) return 1;
  mcsi_nbd_export *e = mcsi_nbd_export_start(ini, 1, 0, &opts, err, sizeof err);
  printf("%s %s\n", e ? "started" : "refused", err);
  mcsi_initiator_free(ini);
  return 0;
}
C
# shellcheck disable=SC2086
cc "${CFLAGS_T[@]}" $cflags -o "$WORK/prog_nbd" "$WORK/prog_nbd.c" -L"$D$P/lib" -lmcsi-nbd -lgnutls $libs >"$WORK/cc.log" 2>&1
tap_ok $? "a program using mcsi_nbd.h links with -lmcsi-nbd before pkg-config's libs"
tap_note "$(cat "$WORK/cc.log")"
out=$(LD_LIBRARY_PATH=$D$P/lib "$WORK/prog_nbd" 2>&1)
tap_is "$out" "refused neither a socket path nor a TCP address" "the NBD program runs on the installed libraries"

# An internal function of the library (one libmcsi.a defines and mcsi.h does
# not declare) cannot be linked through the installed shared library.
internal=$(nm -g --defined-only "$D$P/lib/libmcsi.a" 2>/dev/null | awk '$2 == "T" { print $3 }' \
           | grep -vxF -f <(nm -D --defined-only "$D$P/lib/libmcsi.so" | awk '{ print $NF }') | head -1)
if [ -n "$internal" ]; then
    printf 'void %s(void);\nint main(void) { %s(); return 0; }\n' "$internal" "$internal" >"$WORK/internal.c"
    # shellcheck disable=SC2086
    ! cc "${CFLAGS_T[@]}" $cflags -o "$WORK/internal" "$WORK/internal.c" $libs >"$WORK/cc.log" 2>&1 \
        && grep -q "undefined reference to .$internal" "$WORK/cc.log"
    tap_ok $? "an internal function ($internal) is not reachable through libmcsi.so"
else
    tap_ok 1 "libmcsi.a has functions beyond mcsi.h (none found to try)"
fi

mk uninstall
tap_ok $? "make uninstall"
grep -q "changed by the administrator" "$D/etc/mcsi/mcsid.conf" 2>/dev/null
tap_ok $? "uninstall keeps a changed mcsid.conf"
rm -f "$D/etc/mcsi/mcsid.conf"
mk install && mk uninstall && [ ! -e "$D/etc/mcsi/mcsid.conf" ] && [ ! -d "$D/etc/mcsi" ]
tap_ok $? "uninstall removes the unchanged mcsid.conf it installed, and its directory"
( cd "$D" && find . \( -type f -o -type l \) | LC_ALL=C sort ) >"$WORK/after"
diff "$WORK/before" "$WORK/after" >"$WORK/diff"
tap_ok $? "uninstall leaves exactly the files that were there before install"
tap_note "$(cat "$WORK/diff")"
left=$(cd "$D$P" && find . -mindepth 1 -type d -name '*mcsi*' ! -path ./share/mcsi | LC_ALL=C sort)
tap_is "$left" "" "uninstall removes mcsi's own empty directories"

tap_done
