#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/install-dirs.sh: the directories make install creates, so that make
# uninstall removes those and never one that was there before.
#   install-dirs.sh create DESTDIR MANIFEST DIR...
#       creates every DIR with its missing parents (under DESTDIR) and adds the
#       ones it created, as paths without DESTDIR, to the list DESTDIR/MANIFEST
#       (kept across installs: a second install adds nothing). An empty
#       MANIFEST creates the directories and keeps no list (packages: dpkg
#       keeps its own).
#   install-dirs.sh remove DESTDIR MANIFEST
#       removes the list, then every directory it names that is empty, deepest
#       first; a directory that still holds something (a changed mcsid.conf,
#       files of someone else) stays.
set -eu
cmd=${1:?usage: install-dirs.sh create|remove DESTDIR MANIFEST [DIR...]} dest=$2 manifest=$3
shift 3
nl='
'
case $cmd in
create)
    created=
    for d in "$@"; do
        p=$d
        while [ "$p" != / ] && [ "$p" != . ] && [ ! -d "$dest$p" ]; do
            created=$created$p$nl
            p=$(dirname "$p")
        done
        install -d "$dest$d"
    done
    [ -n "$manifest" ] || exit 0
    { [ ! -f "$dest$manifest" ] || cat "$dest$manifest"; printf '%s' "$created"; } | LC_ALL=C sort -u \
        >"$dest$manifest.tmp"
    chmod 644 "$dest$manifest.tmp"
    mv -f "$dest$manifest.tmp" "$dest$manifest"
    ;;
remove)
    [ -n "$manifest" ] && [ -f "$dest$manifest" ] || exit 0
    list=$(LC_ALL=C sort -r "$dest$manifest")
    rm -f "$dest$manifest"
    # Reverse order: a directory comes before every directory that contains it.
    printf '%s\n' "$list" | while IFS= read -r d; do
        case $d in /?*) ;; *) continue ;; esac
        [ ! -d "$dest$d" ] || rmdir "$dest$d" 2>/dev/null || true
    done
    ;;
*)
    echo "install-dirs.sh: create or remove, not $cmd" >&2
    exit 2
    ;;
esac
