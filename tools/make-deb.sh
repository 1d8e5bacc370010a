#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/make-deb.sh OUT_DIR VERSION (make deb): the Debian packages of
# debian/ (libmcsi1, libmcsi-dev, mcsi, mcsid), built by
# `dpkg-buildpackage -us -uc -b` in a copy of the tree (its files that git
# tracks or would track: no build directory), OUT_DIR/src/mcsi-VERSION. The
# .deb, .changes and .buildinfo files end in OUT_DIR (nothing is written
# beside the repository); then lintian checks them and fails on an error.
# VERSION (core/mcsi.h's) must be debian/changelog's.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:?usage: make-deb.sh OUT_DIR VERSION}
VERSION=${2:?usage: make-deb.sh OUT_DIR VERSION}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)

deb_version=$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version)
if [ "$deb_version" != "$VERSION" ]; then
    echo "make deb: debian/changelog is at $deb_version, core/mcsi.h at $VERSION: add a changelog entry (dch -v $VERSION)" >&2
    exit 1
fi
src=$OUT/src/mcsi-$VERSION
rm -rf "$OUT/src" "$OUT"/*.deb "$OUT"/*.changes "$OUT"/*.buildinfo
mkdir -p "$src"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
        tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$src"
else
    (cd "$ROOT" && tar --exclude=./build --exclude='./build-*' --exclude=./debian/build-pkg -cf - .) | tar -xf - -C "$src"
fi

(cd "$src" && dpkg-buildpackage -us -uc -b -j2)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
mv "$OUT"/src/*.deb "$OUT"/src/*.changes "$OUT"/src/*.buildinfo "$OUT"/
rm -rf "$OUT/src"
changes=$OUT/mcsi_${VERSION}_$arch.changes
echo "make deb: packages in $OUT:"
(cd "$OUT" && ls -1 ./*.deb)
if command -v lintian >/dev/null; then
    lintian --fail-on error "$changes"
else
    echo "make deb: lintian is not installed (tools/deps.sh installs it): not checked" >&2
fi
