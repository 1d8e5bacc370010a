#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/sh/test_install.sh BUILD_DIR: make install into a temporary DESTDIR
# (PREFIX a directory no system has), the files it puts, mcsi.pc through
# pkg-config, a small C program built with only pkg-config's flags (against
# the shared library: runs, and cannot reach an internal function), the NBD
# layer (mcsi_nbd.h, libmcsi-nbd.a: a program links and runs), then make
# uninstall: the tree is again what it was before install (files, links and
# directories), files and directories that were there before stay. The
# service: mcsid, its unit (naming the installed paths), its man page and
# configuration (kept when changed, in PREFIX/etc: SYSCONFDIR follows PREFIX);
# the installed mcsid answers on a socket with the installed configuration.
# A man page for every installed program (groff -ww: no warning), the
# documentation in PREFIX/share/doc/mcsi. Then make install PREFIX=DIR without
# DESTDIR (as root in a mount namespace where /etc is read-only): /etc/mcsi is
# untouched, every program and the Lua module print core/mcsi.h's version,
# uninstall leaves DIR as it was; PREFIX=/usr puts the configuration in /etc;
# as root, PREFIX=/usr/local (a tmpfs over it in a mount namespace) runs
# ldconfig at install and uninstall, other prefixes and DESTDIR never (a
# stand-in LDCONFIG records its calls). MCSI_TEST_CFLAGS (make check passes
# its CFLAGS) compiles the program as the library was (e.g. with -fsanitize
# under make asan). Installing to another PREFIX rebuilds mcsid's main.o (its
# default configuration): the build's own is restored at the end.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/sh/tap.sh
. "$HERE/tap.sh"
BUILD=${1:?usage: test_install.sh BUILD_DIR}
read -ra CFLAGS_T <<<"${MCSI_TEST_CFLAGS:-}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcsi-install.XXXXXX") || exit 1
case $BUILD in /*) B=$BUILD ;; *) B=$ROOT/$BUILD ;; esac
# The SYSCONFDIR the build's mcsid was made with, given back to it at the end.
BUILD_SYSCONFDIR=$(sed -n 's|.*"\(.*\)/mcsi/mcsid.conf".*|\1|p' "$B/daemon/mcsid_paths.h" 2>/dev/null)
restore_build() {
    [ -z "$BUILD_SYSCONFDIR" ] || make -C "$ROOT" --no-print-directory BUILD="$BUILD" \
        ${MCSI_TEST_CFLAGS:+CFLAGS="$MCSI_TEST_CFLAGS"} SYSCONFDIR="$BUILD_SYSCONFDIR" "$BUILD/mcsid" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap restore_build EXIT
D=$WORK/dest P=/opt/mcsi-install-test
# Not a sub-make of make check: no jobserver, no inherited flags.
unset MAKEFLAGS MFLAGS MAKELEVEL
# A stand-in ldconfig: one line per call in $WORK/ldconfig.log.
printf '#!/bin/sh\necho "ldconfig $*" >>%s\n' "$WORK/ldconfig.log" >"$WORK/ldconfig"
chmod 755 "$WORK/ldconfig"
ldconfig_calls() { [ -f "$WORK/ldconfig.log" ] && wc -l <"$WORK/ldconfig.log" || echo 0; }
# The build's CFLAGS too, should make find anything to rebuild.
mk_any() {
    make -C "$ROOT" --no-print-directory BUILD="$BUILD" ${MCSI_TEST_CFLAGS:+CFLAGS="$MCSI_TEST_CFLAGS"} \
        LDCONFIG="$WORK/ldconfig" "$@" >"$WORK/make.log" 2>&1
}
mk() { mk_any PREFIX=$P DESTDIR="$D" "$@"; }
export -f mk_any            # for the mount namespaces below
export ROOT BUILD WORK
# What a tree holds: type and path of every file, link and directory.
tree_of() { ( cd "$1" && find . -mindepth 1 -printf '%y %p\n' | LC_ALL=C sort ); }

# core/mcsi.h's version: the one every program, mcsi.pc, the Lua module and every man page name.
V=$(sed -n 's/^#define MCSI_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "$ROOT/core/mcsi.h" | paste -sd.)

# Files of someone else, which uninstall must leave alone.
mkdir -p "$D$P/lib" "$D$P/include" "$D$P/share/mcsi"
echo keep >"$D$P/lib/other.so"; echo keep >"$D$P/include/other.h"; echo keep >"$D$P/share/mcsi/notes"
tree_of "$D" >"$WORK/before"

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
[ -f "$D$P/etc/mcsi/mcsid.conf" ] && [ ! -e "$D/etc" ]
tap_ok $? "installed: PREFIX/etc/mcsi/mcsid.conf (SYSCONFDIR follows PREFIX), nothing in DESTDIR/etc"
grep -qx "ExecStart=$P/sbin/mcsid --config $P/etc/mcsi/mcsid.conf --socket /run/mcsi/mcsid.sock --state-dir /var/lib/mcsi" \
    "$D$P/lib/systemd/system/mcsid.service"
tap_ok $? "the unit's ExecStart names the installed mcsid and configuration"
grep -qx "ExecReload=$P/sbin/mcsid --upgrade-running --socket /run/mcsi/mcsid.sock" "$D$P/lib/systemd/system/mcsid.service"
tap_ok $? "the unit's ExecReload (systemctl reload: a handover) names the installed mcsid"
"$D$P/sbin/mcsid" --help 2>&1 | grep -qF -- "--config FILE      key = value configuration (default $P/etc/mcsi/mcsid.conf)"
tap_ok $? "the installed mcsid's default configuration is PREFIX/etc/mcsi/mcsid.conf"
grep -qF "$P/etc/mcsi/mcsid.conf" "$D$P/share/man/man8/mcsid.8" && ! grep -qF "/etc/mcsi/mcsid.conf" \
    <(grep -vF "$P/etc/mcsi/mcsid.conf" "$D$P/share/man/man8/mcsid.8")
tap_ok $? "the installed mcsid(8) names PREFIX/etc/mcsi/mcsid.conf"
tap_is "$(ldconfig_calls)" 0 "no ldconfig for a staged install (DESTDIR)"
grep -q "ldconfig: skipped (DESTDIR)" "$WORK/make.log"
tap_ok $? "make install says it skipped ldconfig (DESTDIR)"
docs="README.md protocol.md"
[ ! -f "$ROOT/doc/policies.md" ] || docs="$docs policies.md"
for f in $docs; do
    src=$ROOT/doc/$f
    [ "$f" != README.md ] || src=$ROOT/README.md
    cmp -s "$src" "$D$P/share/doc/mcsi/$f"
    tap_ok $? "installed: share/doc/mcsi/$f"
done
# A man page for every installed program, rendered by groff without a warning.
progs=$(cd "$D$P" && ls bin/* sbin/* 2>/dev/null)
tap_is "$(echo $progs)" "bin/mcsi bin/mcsi-iscsicli bin/mcsi-perf sbin/mcsid" "the installed programs"
for prog in $progs; do
    sec=1; [ "${prog%%/*}" = sbin ] && sec=8
    page=$D$P/share/man/man$sec/${prog#*/}.$sec
    warn=$(groff -ww -z -man "$page" 2>&1) && [ -z "$warn" ] && [ -f "$page" ]
    tap_ok $? "$prog has a man page, ${prog#*/}($sec), groff -ww renders it without a warning"
    [ -z "$warn" ] || tap_note "$warn"
    grep -q "^\.TH .* \"mcsi $V\"" "$page"
    tap_ok $? "${prog#*/}($sec) is the manual of mcsi $V"
done
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
"$D$P/sbin/mcsid" --config "$D$P/etc/mcsi/mcsid.conf" --socket "$sock" --state-dir "$WORK/state" 2>"$WORK/mcsid.log" &
mpid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
out=$(echo '{"jsonrpc":"2.0","id":1,"method":"GetVersion"}' | socat -t 5 - "UNIX-CONNECT:$sock" 2>&1)
[[ $out == *'"StatusName":"ISDSC_SUCCESS"'* ]]
tap_ok $? "the installed mcsid answers GetVersion on its socket"
tap_note "$out"
kill -TERM $mpid 2>/dev/null; wait $mpid
tap_is "$?" 0 "the installed mcsid exits 0 on SIGTERM"
echo "# changed by the administrator" >>"$D$P/etc/mcsi/mcsid.conf"
mk install
grep -q "changed by the administrator" "$D$P/etc/mcsi/mcsid.conf"
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
grep -q "changed by the administrator" "$D$P/etc/mcsi/mcsid.conf" 2>/dev/null
tap_ok $? "uninstall keeps a changed mcsid.conf"
grep -qF "kept $D$P/etc/mcsi/mcsid.conf: changed since install" "$WORK/make.log"
tap_ok $? "uninstall says it kept the changed mcsid.conf"
tree_of "$D" >"$WORK/after"
diff "$WORK/before" "$WORK/after" | sed -n 's/^> //p' >"$WORK/diff"
tap_is "$(cat "$WORK/diff" | tr '\n' ' ')" "d ./opt/mcsi-install-test/etc d ./opt/mcsi-install-test/etc/mcsi f ./opt/mcsi-install-test/etc/mcsi/mcsid.conf " \
    "uninstall leaves only the changed mcsid.conf (and its directories) more than before install"
diff "$WORK/before" "$WORK/after" | grep -q '^<'
tap_ok $((! $?)) "uninstall removes nothing that was there before install"
# The administrator removes the kept file; another round with it unchanged.
rm -r "$D$P/etc"
mk install && mk uninstall && [ ! -e "$D$P/etc/mcsi/mcsid.conf" ] && [ ! -d "$D$P/etc/mcsi" ]
tap_ok $? "uninstall removes the unchanged mcsid.conf it installed, and its directory"
tree_of "$D" >"$WORK/after"
diff "$WORK/before" "$WORK/after" >"$WORK/diff"
tap_ok $? "after install and uninstall the tree is what it was (files, links, directories)"
tap_note "$(cat "$WORK/diff")"
left=$(cd "$D$P" && find . -mindepth 1 -type d -name '*mcsi*' ! -path ./share/mcsi | LC_ALL=C sort)
tap_is "$left" "" "uninstall removes mcsi's own empty directories"
[ -d "$D$P/share/mcsi" ] && [ -f "$D$P/share/mcsi/notes" ] && [ ! -e "$D$P/share/mcsi/installed-dirs" ]
tap_ok $? "uninstall keeps a directory that was there before (share/mcsi), and removes its list"

# ---- make install PREFIX=DIR, no DESTDIR: /etc untouched ----------------------------------------------
# As root: in a mount namespace where /etc is read-only (a write there fails the install). The state of
# /etc/mcsi is compared in any case.
in_ns() {
    if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
        unshare -m bash -c 'mount --bind /etc /etc && mount -o remount,bind,ro /etc && "$@"' ns "$@"
    else
        "$@"
    fi
}
etc_state() { ls -laR --time-style=full-iso /etc/mcsi 2>&1; }
X=$WORK/prefix/x
mkdir -p "$WORK/prefix"
etc_state >"$WORK/etc.before"
tree_of "$WORK/prefix" >"$WORK/before"
rm -f "$WORK/ldconfig.log"
in_ns mk_any PREFIX="$X" install
rc=$?
tap_ok $rc "make install PREFIX=DIR (no DESTDIR$([ "$(id -u)" = 0 ] && echo ', /etc read-only'))"
[ $rc -eq 0 ] || tap_note "$(tail -20 "$WORK/make.log")"
[ -f "$X/etc/mcsi/mcsid.conf" ]
tap_ok $? "installed: DIR/etc/mcsi/mcsid.conf"
etc_state >"$WORK/etc.after"
diff "$WORK/etc.before" "$WORK/etc.after" >/dev/null
tap_ok $? "/etc/mcsi is untouched"
tap_is "$(ldconfig_calls)" 0 "no ldconfig: DIR/lib is not a directory ld.so searches"
grep -qF "ldconfig: skipped ($X/lib is not a directory ld.so searches)" "$WORK/make.log"
tap_ok $? "make install says why it skipped ldconfig"

# One version: core/mcsi.h's, everywhere.
tap_ok $([[ $V =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; echo $?) "core/mcsi.h's version: $V"
for prog in bin/mcsi sbin/mcsid bin/mcsi-iscsicli bin/mcsi-perf; do
    name=${prog#*/}
    out=$("$X/$prog" --version </dev/null 2>&1 | head -1)
    tap_is "$(echo "$out" | awk '{ print $1, $2 }')" "$name $V" "$prog --version prints $V"
done
out=$(PKG_CONFIG_PATH=$X/lib/pkgconfig PKG_CONFIG_LIBDIR=$X/lib/pkgconfig pkg-config --modversion mcsi 2>&1)
tap_is "$out" "$V" "mcsi.pc's version"
# (a module built with ASan loads into lua5.4 after the ASan runtime only)
preload=
[[ ${MCSI_TEST_CFLAGS:-} != *-fsanitize=*address* ]] || preload=$(cc -print-file-name=libasan.so)
out=$(LD_PRELOAD=$preload LUA_CPATH="$X/lib/lua/5.4/?.so" LUA_PATH="$X/share/lua/5.4/?.lua" \
      lua5.4 -e 'local m = require "mcsi"; print(m._VERSION, m.version)' 2>&1)
tap_is "$out" "mcsi $V	mcsi $V" "the installed Lua module's mcsi._VERSION and mcsi.version"
out=$("$X/bin/mcsi" -e 'print(mcsi._VERSION)' </dev/null 2>&1)
tap_is "$out" "mcsi $V" "mcsi._VERSION in the mcsi program"

in_ns mk_any PREFIX="$X" uninstall
tap_ok $? "make uninstall PREFIX=DIR"
tree_of "$WORK/prefix" >"$WORK/after"
diff "$WORK/before" "$WORK/after" >"$WORK/diff"
tap_ok $? "after install and uninstall DIR's parent is what it was (DIR itself removed)"
tap_note "$(head -20 "$WORK/diff")"
etc_state >"$WORK/etc.after"
diff "$WORK/etc.before" "$WORK/etc.after" >/dev/null
tap_ok $? "/etc/mcsi is still untouched"

# PREFIX=/usr (a package's): the configuration in /etc.
U=$WORK/usr-dest
mk_any PREFIX=/usr DESTDIR="$U" install && [ -f "$U/etc/mcsi/mcsid.conf" ] && [ ! -e "$U/usr/etc" ] \
    && grep -qx "ExecStart=/usr/sbin/mcsid --config /etc/mcsi/mcsid.conf --socket /run/mcsi/mcsid.sock --state-dir /var/lib/mcsi" \
       "$U/usr/lib/systemd/system/mcsid.service" \
    && "$U/usr/sbin/mcsid" --help 2>&1 | grep -qF "(default /etc/mcsi/mcsid.conf)"
tap_ok $? "PREFIX=/usr: SYSCONFDIR is /etc (configuration, unit, mcsid's default)"
mk_any PREFIX=/usr DESTDIR="$U" uninstall && [ -z "$(find "$U" -mindepth 1)" ]
tap_ok $? "PREFIX=/usr DESTDIR=...: uninstall leaves DESTDIR empty"
tap_is "$(ldconfig_calls)" 0 "no ldconfig for PREFIX=/usr under DESTDIR"

# ldconfig for a directory ld.so searches: PREFIX=/usr/local with a tmpfs over /usr/local.
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
    unshare -m bash -c 'mount -t tmpfs tmpfs /usr/local && mount --bind /etc /etc && mount -o remount,bind,ro /etc &&
                        "$@" install && ls /usr/local/lib/libmcsi.so.* >/dev/null &&
                        "$@" uninstall && [ -z "$(find /usr/local -mindepth 1)" ]' \
        ns mk_any PREFIX=/usr/local
    tap_ok $? "PREFIX=/usr/local (a tmpfs): install and uninstall"
    tap_note "$(tail -5 "$WORK/make.log")"
    tap_is "$(ldconfig_calls)" 2 "ldconfig ran once at install and once at uninstall (/usr/local/lib)"
else
    tap_skip "ldconfig for /usr/local/lib: needs root for a mount namespace"
    tap_skip "ldconfig for /usr/local/lib: needs root for a mount namespace"
fi

# ---- the license ----------------------------------------------------------------------------------
grep -q "GNU LESSER GENERAL PUBLIC LICENSE" "$ROOT/LICENSE" && grep -q "GNU GENERAL PUBLIC LICENSE" "$ROOT/LICENSE" \
    && grep -q "Copyright (C) 1994-2022 Lua.org, PUC-Rio." "$ROOT/LICENSE"
tap_ok $? "LICENSE holds the LGPL-2.1, the GPL-3 and lua.c's MIT notice"
grep -q "Copyright (C) 1994-2022 Lua.org, PUC-Rio." "$ROOT/bindings/lmcsi_main.c" \
    && head -3 "$ROOT/bindings/lmcsi_main.c" | grep -q "SPDX-License-Identifier: MIT"
tap_ok $? "bindings/lmcsi_main.c (modelled on lua.c) keeps lua.c's MIT notice"
if [ -d "$ROOT/.git" ] || [ -f "$ROOT/.git" ]; then
    out=$(bash "$ROOT/tools/spdx.sh" --check 2>&1)
    tap_ok $? "every source file has an SPDX-License-Identifier line (else: bash tools/spdx.sh adds them)"
    tap_note "$(echo "$out" | head -20)"
else
    tap_skip "SPDX-License-Identifier lines: not a git checkout"
fi

tap_done
