#!/bin/bash
# tests/sh/test_layers.sh BUILD_DIR: core/ is a stack of layers (core/LAYERS)
# that call only downward. For every object of core/, each mcsi_ function it
# uses (nm: undefined symbols) must be defined by its own layer or a lower
# level, and each header it includes must belong to its own layer or below;
# a layer of the same level (a sibling) is as forbidden as one above. Every
# core/ source and header must have a layer.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/sh/tap.sh
. "$HERE/tap.sh"
BUILD=${1:?usage: test_layers.sh BUILD_DIR}
MAP=$ROOT/core/LAYERS
declare -A level layer
while read -r lv name files; do
    case $lv in ''|'#'*) continue ;; esac
    for f in $files; do level[$f]=$lv; layer[$f]=$name; done
done <"$MAP"

# may_use USER PROVIDER: 0 if USER's layer may use PROVIDER's.
may_use() {
    [ "${layer[$1]}" = "${layer[$2]}" ] || [ "${level[$2]}" -lt "${level[$1]}" ]
}

unplaced=()
for f in "$ROOT"/core/*.c "$ROOT"/core/*.h; do
    b=$(basename "$f"); b=${b%.*}
    [ -n "${layer[$b]:-}" ] || unplaced+=("$b")
done
[ ${#unplaced[@]} -eq 0 ]
tap_ok $? "every file of core/ has a layer in core/LAYERS${unplaced[*]:+ (missing: ${unplaced[*]})}"

# Which object defines each function.
declare -A owner
nobj=0
for o in "$BUILD"/core/*.o; do
    b=$(basename "$o" .o)
    nobj=$((nobj + 1))
    while read -r sym; do owner[$sym]=$b; done < <(nm --defined-only "$o" | awk '$2 ~ /[TtDdBbRr]/ && $3 ~ /^mcsi_/ { print $3 }')
done
[ "$nobj" -gt 10 ]
tap_ok $? "found the objects of core/ in $BUILD/core ($nobj)"

calls_up=()
for o in "$BUILD"/core/*.o; do
    b=$(basename "$o" .o)
    while read -r sym; do
        p=${owner[$sym]:-}
        [ -n "$p" ] || continue
        may_use "$b" "$p" || calls_up+=("$b.c -> $sym ($p.c, layer ${layer[$p]})")
    done < <(nm --undefined-only "$o" | awk '$2 == "U" && $1 ~ /^mcsi_/ { print $1 } $1 == "U" && $2 ~ /^mcsi_/ { print $2 }')
done
[ ${#calls_up[@]} -eq 0 ]
tap_ok $? "no function of core/ calls into a layer above it or beside it (${#calls_up[@]} calls)"
for c in "${calls_up[@]}"; do tap_note "$c"; done

includes_up=()
for f in "$ROOT"/core/*.c "$ROOT"/core/*.h; do
    b=$(basename "$f"); b=${b%.*}
    [ -n "${layer[$b]:-}" ] || continue
    while read -r h; do
        hb=${h%.h}
        [ -n "${layer[$hb]:-}" ] || continue
        may_use "$b" "$hb" || includes_up+=("$(basename "$f") includes $h (layer ${layer[$hb]})")
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done
[ ${#includes_up[@]} -eq 0 ]
tap_ok $? "no file of core/ includes the header of a layer above it or beside it (${#includes_up[@]} includes)"
for c in "${includes_up[@]}"; do tap_note "$c"; done

# The check itself can fail: a made-up upward call is caught.
layer[fake_lower]=transport; level[fake_lower]=1
! may_use fake_lower initiator && may_use initiator fake_lower && ! may_use mcs scsi
tap_ok $? "the rule refuses transport -> initiator and mcs -> scsi, allows initiator -> transport"
tap_done
