#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/bench-base.sh BUILD_DIR COMMIT: builds mcsi-perf as it was at COMMIT, for
# make bench BASE=COMMIT (tools/bench.sh --base). Prints the binary's path.
#
# The commit is checked out with `git worktree add` into a temporary directory
# under BUILD_DIR, only its build/mcsi-perf is made (its own Makefile, with
# BENCH_CC / BENCH_CFLAGS when set, so both builds use the same compiler and
# flags), the binary is copied to BUILD_DIR/bench-base/<full sha>/mcsi-perf and
# the worktree is removed, also on failure. A later run with the same commit,
# compiler and flags reuses that binary.
set -euo pipefail

die() { echo "bench-base.sh: $*" >&2; exit 2; }

BUILD=${1:?usage: bench-base.sh BUILD_DIR COMMIT}
REV=${2:?usage: bench-base.sh BUILD_DIR COMMIT}
ROOT=$(git -C "$(dirname "${BASH_SOURCE[0]}")/.." rev-parse --show-toplevel) || die "not in a git repository"
mkdir -p "$BUILD" || die "cannot create $BUILD"
BUILD=$(cd "$BUILD" && pwd)
SHA=$(git -C "$ROOT" rev-parse --verify --quiet "$REV^{commit}") || die "no commit '$REV'"
CC_USED=${BENCH_CC:-cc}
CFLAGS_USED=${BENCH_CFLAGS:--O2 -g}
STAMP="CC=$CC_USED CFLAGS=$CFLAGS_USED"
OUT=$BUILD/bench-base/$SHA

if [ -x "$OUT/mcsi-perf" ] && [ "$(cat "$OUT/build-flags" 2>/dev/null)" = "$STAMP" ]; then
    echo "$OUT/mcsi-perf"
    exit 0
fi

TMP=$(mktemp -d "$BUILD/bench-base-worktree.XXXXXX")
cleanup() {
    git -C "$ROOT" worktree remove --force "$TMP/src" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

echo "bench-base.sh: building mcsi-perf at ${SHA:0:12} in $TMP/src" >&2
git -C "$ROOT" worktree add --detach --quiet "$TMP/src" "$SHA" || die "git worktree add failed"
# The sub-make must not inherit this make's command line (BUILD=..., BASE=...) or jobserver.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$TMP/src" -j2 BUILD=build \
        CC="$CC_USED" CFLAGS="$CFLAGS_USED" build/mcsi-perf >"$TMP/make.log" 2>&1; then
    tail -n 20 "$TMP/make.log" >&2
    die "building mcsi-perf at ${SHA:0:12} failed"
fi
mkdir -p "$OUT"
cp "$TMP/src/build/mcsi-perf" "$OUT/mcsi-perf"
echo "$STAMP" >"$OUT/build-flags"
echo "$OUT/mcsi-perf"
