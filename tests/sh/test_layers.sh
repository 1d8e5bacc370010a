#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/sh/test_layers.sh BUILD_DIR: core/ is a stack of layers (core/LAYERS)
# that call only downward. For every object of core/, each mcsi_ function it
# uses (nm: undefined symbols) must be defined by its own layer or a lower
# level, and each header it includes must belong to its own layer or below;
# a layer of the same level (a sibling) is as forbidden as one above. Every
# core/ source and header must be in a layer's folder. Fields: no file
# touches a field of a struct another folder defines unless it is that
# folder's level directly above, the struct is public (core/mcsi.h) or a
# base value (core/LAYERS' "values" line); clang's AST says which field each
# a.f or p->f is (tests/sh/layer_fields.py), checked on a copy of core/
# with a deliberate violation too.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/sh/tap.sh
. "$HERE/tap.sh"
BUILD=${1:?usage: test_layers.sh BUILD_DIR}
MAP=$ROOT/core/LAYERS
declare -A level
while read -r lv name _; do
    case $lv in ''|'#'*|values) continue ;; esac
    level[$name]=$lv
done <"$MAP"
level[core]=0                           # core/mcsi.h, core/status_list.h: everyone's

# layer_of PATH: the folder of core/ a file (or an object) belongs to.
layer_of() { basename "$(dirname "$1")"; }

# may_use USER_LAYER PROVIDER_LAYER: 0 if the first may use the second.
may_use() {
    [ "$1" = "$2" ] || [ "$2" = core ] || [ "${level[$2]}" -lt "${level[$1]}" ]
}

unplaced=()
for f in "$ROOT"/core/*/*.[ch]; do
    [ -n "${level[$(layer_of "$f")]:-}" ] || unplaced+=("${f#"$ROOT"/}")
done
[ ${#unplaced[@]} -eq 0 ]
tap_ok $? "every folder of core/ is a layer in core/LAYERS${unplaced[*]:+ (not: ${unplaced[*]})}"

# Which object defines each function.
declare -A owner
nobj=0
for o in "$BUILD"/core/*/*.o; do
    b=${o#"$BUILD"/core/}; b=${b%.o}        # layer/file
    nobj=$((nobj + 1))
    while read -r sym; do owner[$sym]=$b; done < <(nm --defined-only "$o" | awk '$2 ~ /[TtDdBbRr]/ && $3 ~ /^mcsi_/ { print $3 }')
done
[ "$nobj" -gt 10 ]
tap_ok $? "found the objects of core/ in $BUILD/core ($nobj)"

calls_up=()
for o in "$BUILD"/core/*/*.o; do
    b=${o#"$BUILD"/core/}; b=${b%.o}
    while read -r sym; do
        p=${owner[$sym]:-}
        [ -n "$p" ] || continue
        may_use "${b%%/*}" "${p%%/*}" || calls_up+=("$b.c -> $sym ($p.c)")
    done < <(nm --undefined-only "$o" | awk '$2 == "U" && $1 ~ /^mcsi_/ { print $1 } $1 == "U" && $2 ~ /^mcsi_/ { print $2 }')
done
[ ${#calls_up[@]} -eq 0 ]
tap_ok $? "no function of core/ calls into a layer above it or beside it (${#calls_up[@]} calls)"
for c in "${calls_up[@]}"; do tap_note "$c"; done

# Which folder each header of core/ is in.
declare -A header_layer
for h in "$ROOT"/core/*.h "$ROOT"/core/*/*.h; do header_layer[$(basename "$h")]=$(layer_of "$h"); done
includes_up=()
for f in "$ROOT"/core/*/*.[ch]; do
    l=$(layer_of "$f")
    while read -r h; do
        hl=${header_layer[$h]:-}
        [ -n "$hl" ] || continue
        may_use "$l" "$hl" || includes_up+=("${f#"$ROOT"/} includes $h ($hl)")
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done
[ ${#includes_up[@]} -eq 0 ]
tap_ok $? "no file of core/ includes the header of a layer above it or beside it (${#includes_up[@]} includes)"
for c in "${includes_up[@]}"; do tap_note "$c"; done

# Fields, from clang's AST: each member access names its field, the field
# its struct's file, the file its folder.
FIELDS=$HERE/layer_fields.py
if ! command -v clang >/dev/null; then
    tap_ok 1 "clang is installed (tools/deps.sh): the field check needs its AST"
else
    out=$(python3 "$FIELDS" "$ROOT" "$ROOT"/core/*/*.c)
    rc=$?
    tap_is "$rc" 0 "clang parsed every file of core/ for the field check"
    [ "$rc" -eq 0 ] && [ -z "$out" ]
    tap_ok $? "no file of core/ touches a field of a struct two levels down or beside it ($(grep -c . <<<"$out") touches)"
    tap_note "$out"

    # The check can fail: a copy of core/ with three deliberate violations
    # (the initiator reads the transport's fd and finds a transport from its
    # watch, two levels down; scsi writes a field of mcs, beside it) and two allowed touches (login, directly
    # above the transport, reads the fd too; the initiator reads a PDU
    # header, a base value).
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    cp -r "$ROOT/core" "$tmp/core"
    cat >"$tmp/core/initiator/zz_violation.c" <<'C'
#include "transport.h"
int zz_peek_fd(const mcsi_transport *tp) { return tp->fd; }
int zz_opcode(const mcsi_pdu_hdr *h) { return h->opcode; }
mcsi_transport *zz_of_watch(mcsi_watch *w) { return MCSI_CONTAINER(w, mcsi_transport, watch); }
C
    cat >"$tmp/core/login/zz_allowed.c" <<'C'
#include "transport.h"
int zz_login_fd(const mcsi_transport *tp) { return tp->fd; }
C
    cat >"$tmp/core/scsi/zz_beside.c" <<'C'
#include "mcs.h"
void zz_weigh(mcsi_path *p) { p->weight = 2; }
C
    out=$(python3 "$FIELDS" "$tmp" "$tmp"/core/initiator/zz_violation.c "$tmp"/core/login/zz_allowed.c \
          "$tmp"/core/scsi/zz_beside.c)
    tap_is "$out" "core/initiator/zz_violation.c:2: mcsi_transport.fd (transport)
core/initiator/zz_violation.c:4: mcsi_transport.watch (transport)
core/scsi/zz_beside.c:2: mcsi_path.weight (mcs)" \
        "a copy of core/ where the initiator reads mcsi_transport.fd and takes MCSI_CONTAINER of its watch, and scsi writes mcsi_path.weight, is refused; login reading the fd and a PDU header read are allowed"
    # A "values" line names only base structs: one of the transport's stays its own.
    printf 'values mcsi_transport\n' >>"$tmp/core/LAYERS"
    out=$(python3 "$FIELDS" "$tmp" "$tmp"/core/initiator/zz_violation.c)
    tap_is "$out" "core/initiator/zz_violation.c:2: mcsi_transport.fd (transport)
core/initiator/zz_violation.c:4: mcsi_transport.watch (transport)" \
        "naming a transport struct on the values line does not open its fields"
    printf 'int zz_broken(void) { return no_such_thing; }\n' >"$tmp/core/initiator/zz_broken.c"
    python3 "$FIELDS" "$tmp" "$tmp"/core/initiator/zz_broken.c >/dev/null 2>&1
    tap_is "$?" 2 "a file clang cannot parse fails the field check (it never passes unseen)"
fi

# The rule itself: an upward or sideways use is refused.
! may_use transport initiator && may_use initiator transport && ! may_use mcs scsi && ! may_use scsi mcs
tap_ok $? "the rule refuses transport -> initiator and mcs -> scsi, allows initiator -> transport"
tap_done
