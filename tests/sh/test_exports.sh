#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/sh/test_exports.sh BUILD_DIR: libmcsi.so has a SONAME (libmcsi.so.N, with
# the libmcsi.so link to it) and exports exactly the functions core/mcsi.h
# declares: its defined dynamic symbols (nm -D --defined-only) against the
# compiler's list of the header's prototypes (gcc -aux-info). The version
# script (tools/gen-exports.sh) parses the header on its own, so this also
# catches a declaration that parser misses, a declared function nobody
# defines, and a link without the version script.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/sh/tap.sh
. "$HERE/tap.sh"
BUILD=${1:?usage: test_exports.sh BUILD_DIR}
LIB=$BUILD/libmcsi.so
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcsi-exports.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT

soname=$(readelf -d "$LIB" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
[[ $soname =~ ^libmcsi\.so\.[0-9]+$ ]]
tap_ok $? "libmcsi.so has a SONAME libmcsi.so.<major> (got '$soname')"
[ -n "$soname" ] && [ -L "$LIB" ] && [ -e "$BUILD/$soname" ] && [ "$LIB" -ef "$BUILD/$soname" ] \
    && [ "$(readlink "$LIB")" = "$soname" ]
tap_ok $? "libmcsi.so is a link to $soname, which exists in $BUILD"

# The header's functions as the compiler sees them: every "-aux-info" line of
# core/mcsi.h itself (not the system headers), minus static (inline) ones.
gcc -std=gnu11 -fsyntax-only -aux-info "$WORK/aux" -x c "$ROOT/core/mcsi.h" 2>"$WORK/err"
tap_ok $? "gcc -aux-info reads core/mcsi.h"
tap_note "$(cat "$WORK/err")"
grep -F "/* $ROOT/core/mcsi.h:" "$WORK/aux" | grep -v '\*/ static ' \
    | sed 's|^/\*[^*]*\*/ *||; s/ (.*//; s/.*[ *]//' | LC_ALL=C sort -u >"$WORK/declared"
n=$(wc -l <"$WORK/declared")
[ "$n" -gt 0 ]
tap_ok $? "core/mcsi.h declares $n functions"

nm -D --defined-only "$LIB" | awk '{ print $NF }' | LC_ALL=C sort -u >"$WORK/exported"
extra=$(LC_ALL=C comm -13 "$WORK/declared" "$WORK/exported")
missing=$(LC_ALL=C comm -23 "$WORK/declared" "$WORK/exported")
[ -z "$extra" ]
tap_ok $? "libmcsi.so exports nothing mcsi.h does not declare ($(printf '%s' "$extra" | grep -c .) more)"
tap_note "$(printf '%s' "$extra" | head -20)"
[ -z "$missing" ]
tap_ok $? "libmcsi.so exports every function of mcsi.h ($(printf '%s' "$missing" | grep -c .) missing)"
tap_note "$missing"

# The Lua module: its entry point only, nothing of core/ or of the binding.
mod=$(nm -D --defined-only "$BUILD/mcsi.so" 2>/dev/null | awk '$2 ~ /[TDBRW]/ { print $NF }' | LC_ALL=C sort -u | tr '\n' ' ')
tap_is "$mod" "luaopen_mcsi " "mcsi.so exports luaopen_mcsi and nothing else"
tap_done
