#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/spdx.sh [--check]: gives every source file of the repository (git
# ls-files) an SPDX-License-Identifier line (LICENSE says which license is
# whose): LGPL-2.1-or-later, MIT for bindings/lmcsi_main.c (modelled on
# lua.c). The line goes first, after a #! line; in the comment syntax of the
# file (C, Lua, shell/Python/make, roff). Idempotent: a file that names an
# SPDX-License-Identifier in its first 5 lines is left alone. Not given one:
# files the generators write whole (api/generate.lua's tables,
# tools/gen-status.sh's core/status_list.h: they carry their inputs' license),
# Markdown, data (tests/fuzz corpora, *.tsv, *.map, *.dict), the configuration
# and the unit (LICENSE covers them). --check lists the files without one and
# exits 1 if there are any (tests/sh/test_install.sh).
set -u
cd "$(dirname "$0")/.." || exit 1
check=0
[ "${1:-}" = --check ] && check=1
generated=" daemon/methods_table.c daemon/methods_run.h bindings/mcsi/api_ops.lua bindings/lapi_table.h \
bindings/lapi_table.c core/status_list.h "

license_of() {
    case $1 in
    bindings/lmcsi_main.c) echo MIT ;;
    *) echo LGPL-2.1-or-later ;;
    esac
}

# The comment line for FILE, or nothing when FILE gets none.
line_for() {
    local f=$1 id
    id="SPDX-License-Identifier: $(license_of "$f")"
    case " $generated " in *" $f "*) return ;; esac
    case $f in
    tests/fuzz/corpus/* | tests/fuzz/regressions/*) return ;;
    *.c | *.h) echo "/* $id */" ;;
    *.lua) echo "-- $id" ;;
    *.sh | *.py | Makefile | */Makefile | *.pc.in | scripts/*.in) echo "# $id" ;;
    *.[1-8]) echo ".\\\" $id" ;;
    *)
        # Scripts without a suffix (tests/harness/with-targets, ...).
        [ "$(head -c 2 "$f")" = "#!" ] && echo "# $id" ;;
    esac
}

missing=0
while IFS= read -r f; do
    [ -f "$f" ] || continue
    line=$(line_for "$f")
    [ -n "$line" ] || continue
    head -5 "$f" | grep -q "SPDX-License-Identifier:" && continue
    if [ $check = 1 ]; then
        echo "$f: no SPDX-License-Identifier line"
        missing=$((missing + 1))
        continue
    fi
    if [ "$(head -c 2 "$f")" = "#!" ]; then
        { head -1 "$f"; printf '%s\n' "$line"; tail -n +2 "$f"; } >"$f.spdx"
    else
        { printf '%s\n' "$line"; cat "$f"; } >"$f.spdx"
    fi
    chmod --reference="$f" "$f.spdx" && mv "$f.spdx" "$f"
done < <(git ls-files)
[ $check = 0 ] || [ $missing = 0 ]
