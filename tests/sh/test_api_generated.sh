#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/sh/test_api_generated.sh [BUILD_DIR]: the faces generated from the one
# description of every operation (api/operations.lua, api/generate.lua) are
# what the description makes:
#   - regenerated into a temporary directory, every committed generated file
#     is the same (else it is stale: run `make generate`);
#   - every described C function (c_sig and c_forms) is declared in core/mcsi.h
#     as described: its prototypes are the generated block of core/mcsi.h;
#   - a dummy operation added to a COPY of the description appears in every
#     face (the daemon's table and run declarations, the Lua operation table
#     that the remote client and the binding read, iscsicli's command map,
#     doc/protocol.md, mcsi(1), mcsi-iscsicli(1), mcsid(8), core/mcsi.h's
#     prototypes, which still compile);
#   - a description that names a Status core/status_list.h lacks is refused.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/sh/tap.sh
. "$HERE/tap.sh"
cd "$ROOT" || exit 1
tap_checks 61
command -v lua5.4 >/dev/null || tap_skip_all "no lua5.4"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# ---- stale files ----
lua5.4 api/generate.lua --out "$TMP/gen" 2>"$TMP/err"
tap_ok $? "api/generate.lua runs" || tap_note "$(cat "$TMP/err")"
mapfile -t FILES < <(lua5.4 api/generate.lua --list)
tap_ok $(( ${#FILES[@]} >= 10 ? 0 : 1 )) "it lists its generated files (${#FILES[@]})"
for f in "${FILES[@]}"; do
    cmp -s "$f" "$TMP/gen/$f"
    tap_ok $? "$f is up to date with api/operations.lua (else: make generate)" \
        || tap_note "$(diff -u "$f" "$TMP/gen/$f" | head -20)"
    grep -q "generated from api/operations.lua by api/generate.lua; do not edit" "$f"
    tap_ok $? "$f says it is generated"
done

# The stale check itself sees a change: a description whose doc text differs
# makes a different file.
cat >"$TMP/changed.lua" <<EOF
local D = dofile("$ROOT/api/operations.lua")
D.operations[1].doc = D.operations[1].doc .. " (changed)"
return D
EOF
lua5.4 api/generate.lua --desc "$TMP/changed.lua" --out "$TMP/changed" 2>/dev/null
! cmp -s doc/protocol.md "$TMP/changed/doc/protocol.md"
tap_ok $? "a changed description makes a different doc/protocol.md (the stale check can fail)"

# ---- the C face ----
lua5.4 api/generate.lua --check-c core/mcsi.h >"$TMP/cface" 2>&1
tap_ok $? "every described C function is declared in core/mcsi.h with the described signature" \
    || tap_note "$(grep -v '^ok' "$TMP/cface")"
ncs=$(grep -c '^ok' "$TMP/cface")
tap_ok $(( ncs >= 15 ? 0 : 1 )) "the C face covers $ncs operations"
# ... and sees a declaration that drifted.
sed 's/mcsi_status mcsi_lun_reset(mcsi_initiator \*ini, mcsi_id sid, uint64_t lun);/mcsi_status mcsi_lun_reset(mcsi_initiator *ini, mcsi_id sid, uint32_t lun);/' \
    core/mcsi.h >"$TMP/drift.h"
! cmp -s core/mcsi.h "$TMP/drift.h" && ! lua5.4 api/generate.lua --check-c "$TMP/drift.h" >/dev/null 2>&1
tap_ok $? "a C declaration that differs from the description fails the C face check"
# ... also one of an operation's other forms (c_forms: the asynchronous one).
sed 's/^mcsi_status mcsi_lun_reset_async(mcsi_initiator \*ini, mcsi_id sid, uint64_t lun, mcsi_completion c);$/mcsi_status mcsi_lun_reset_async(mcsi_initiator *ini, mcsi_id sid, uint32_t lun, mcsi_completion c);/' \
    core/mcsi.h >"$TMP/drift2.h"
! cmp -s core/mcsi.h "$TMP/drift2.h" && ! lua5.4 api/generate.lua --check-c "$TMP/drift2.h" >/dev/null 2>&1
tap_ok $? "an asynchronous form (c_forms) that differs from the description fails the C face check"
# The prototypes of core/mcsi.h are the generated block, in one place.
awk '/BEGIN generated from api\/operations.lua/{b=NR} /END generated/{e=NR} END{exit !(b && e > b)}' core/mcsi.h
tap_ok $? "core/mcsi.h has the generated block of the operations' prototypes"
mapfile -t CFUNCS < <(sed -n 's/^ok: [^:]*: .*[ *]\(mcsi_[a-z0-9_]*\)(.*/\1/p' "$TMP/cface")
for fn in "${CFUNCS[@]}"; do
    sed -n '/BEGIN generated from api\/operations.lua/,/END generated/p' core/mcsi.h | grep -q "^[a-z_][a-z0-9_ ]*[ *]$fn(" \
        && [ "$(sed '/BEGIN generated from api\/operations.lua/,/END generated/d' core/mcsi.h | grep -c "^[a-z_][a-z0-9_ ]*[ *]$fn(")" = 0 ] \
        || { echo "$fn"; }
done >"$TMP/outside"
tap_ok $([ -s "$TMP/outside" ]; echo $(( 1 - $? ))) "every described C function is declared in the generated block only" \
    || tap_note "declared outside the block or not in it: $(cat "$TMP/outside")"
tap_ok $(( ${#CFUNCS[@]} >= 40 ? 0 : 1 )) "the C face's functions, async and offset forms included: ${#CFUNCS[@]}"

# ---- a dummy operation reaches every face ----
cat >"$TMP/dummy.lua" <<EOF
local D = dofile("$ROOT/api/operations.lua")
D.operations[#D.operations + 1] = {
  name = "api_dummy_probe", family = "misc",
  c_sig = "mcsi_status mcsi_api_dummy_probe(mcsi_initiator *ini, mcsi_id sid, uint64_t lun)",
  lua_args = { "session_id", "lun", "table" }, iscsicli = { "ApiDummyProbe" }, session_methods = { "dummy_probe" },
  policy = "own_session",
  params = { { name = "session_id", type = "id", required = true, doc = "the session" },
             { name = "lun", type = "uint", max = 7, doc = "the LUN" },
             { name = "probe_depth", type = "uint", doc = "how deep" } },
  options = { "chap" },
  results = { { name = "ProbeResult" } }, statuses = { "ISDSC_SUCCESS", "ISDSC_INVALID_SESSION_ID" },
  doc = "A dummy operation of tests/sh/test_api_generated.sh.",
}
return D
EOF
lua5.4 api/generate.lua --desc "$TMP/dummy.lua" --out "$TMP/dummy" 2>"$TMP/err"
tap_ok $? "a description with a dummy operation generates" || tap_note "$(cat "$TMP/err")"
G=$TMP/dummy
grep -q '{ "ApiDummyProbe", mcsid_run_api_dummy_probe, MCSID_POLICY_OWN_SESSION, params_api_dummy_probe },' "$G/daemon/methods_table.c" \
  && grep -q '{ "ProbeDepth", P_UINT, 0, NULL }' "$G/daemon/methods_table.c" \
  && grep -q '{ "UniqueSessionId", P_ID, 1, NULL }' "$G/daemon/methods_table.c" \
  && grep -q '{ "TargetSecretFile", P_STRING, 0, NULL }' "$G/daemon/methods_table.c"
tap_ok $? "daemon: ApiDummyProbe's row (a policy may call it on its own session) and schema (its own parameters and the chap option set)"
grep -q 'void mcsid_run_api_dummy_probe(struct mcsid_call \*call);' "$G/daemon/methods_run.h"
tap_ok $? "daemon: its run function mcsid_run_api_dummy_probe is declared"
lua5.4 - "$G/bindings/mcsi/api_ops.lua" <<'EOF'
local t = dofile(arg[1])
local o = t.ops.api_dummy_probe
assert(o and o.rpc == "ApiDummyProbe" and o.lua == "api_dummy_probe" and o.c == "mcsi_api_dummy_probe", "names")
assert(t.by_rpc.ApiDummyProbe == o and t.iscsicli.ApiDummyProbe == o, "indexes")
assert(o.lua_args[1] == "session_id" and o.lua_args[2] == "lun", "lua_args")
assert(o.param.session_id.rpc == "UniqueSessionId" and o.param.session_id.required, "session_id")
assert(o.param.lun.max == 7 and o.param.probe_depth.rpc == "ProbeDepth", "lun, probe_depth")
assert(o.param.secret.set == "chap" and o.param.secret.secret, "chap set")
assert(o.session_methods[1] == "dummy_probe", "the remote client's Session method")
EOF
tap_ok $? "Lua (mcsi.api_ops: the remote client's call map and the binding's checks): api_dummy_probe -> ApiDummyProbe"
grep -q '{"api_dummy_probe", lmcsi_l_api_dummy_probe},' "$G/bindings/lapi_table.c" \
  && grep -q '^int lmcsi_l_api_dummy_probe(lua_State \*L);$' "$G/bindings/lapi_table.h" \
  && grep -q '{"dummy_probe", "api_dummy_probe"},' "$G/bindings/lapi_table.c"
tap_ok $? "Lua binding: mcsi.api_dummy_probe in the generated method table (and s:dummy_probe), lmcsi_l_api_dummy_probe declared"
lua5.4 - "$G/bindings/lapi_table.c" <<'EOF2'
local f = assert(io.open(arg[1])) local c = f:read("a") f:close()
local spec = assert(c:match("const lmcsi_opt_spec lmcsi_opts_api_dummy_probe%[%] = {(.-)};"), "no option table")
assert(spec:find('{ "probe_depth", LMCSI_OPT_INTEGER, 0, LUA_MAXINTEGER }', 1, true), "probe_depth")
assert(spec:find('{ "chap", LMCSI_OPT_TABLE, 0, 0 }', 1, true), "the chap table")
assert(not spec:find('"lun"', 1, true) and not spec:find('"session_id"', 1, true), "positional ones are no options")
assert(not spec:find('"secret"', 1, true), "CHAP keys live in the chap table")
EOF2
tap_ok $? "Lua binding: the options table of api_dummy_probe is checked by the generated spec (probe_depth, chap)"
grep -q 'ApiDummyProbe = { op = "api_dummy_probe", rpc = "ApiDummyProbe", lua = "api_dummy_probe" },' "$G/scripts/iscsicli.lua"
tap_ok $? "iscsicli: the command ApiDummyProbe maps to it"
lua5.4 -e "assert(loadfile('$G/scripts/iscsicli.lua'))" 2>/dev/null
tap_ok $? "iscsicli.lua with the block still compiles"
grep -q '^#### ApiDummyProbe$' "$G/doc/protocol.md" && grep -q '| `ProbeDepth` | non-negative integer |' "$G/doc/protocol.md" \
  && grep -q 'A dummy operation of tests/sh/test_api_generated.sh.' "$G/doc/protocol.md" \
  && grep -A8 '^#### ApiDummyProbe$' "$G/doc/protocol.md" | grep -q '^Policies: may call it on their own session.$'
tap_ok $? "doc/protocol.md: its reference entry with its parameters"
grep -q 'mcsi.api_dummy_probe(session_id, lun, { ... })' "$G/doc/mcsi.1"
tap_ok $? "mcsi(1): its Lua call"
grep -q 'ApiDummyProbe' "$G/doc/mcsi-iscsicli.1"
tap_ok $? "mcsi-iscsicli(1): its command"
grep -q '^\.B ApiDummyProbe \\fIUniqueSessionId\\fR$' "$G/daemon/mcsid.8"
tap_ok $? "mcsid(8): its method and required parameter"
sed -n '/BEGIN generated from api\/operations.lua/,/END generated/p' "$G/core/mcsi.h" \
    | grep -B1 -x 'mcsi_status mcsi_api_dummy_probe(mcsi_initiator \*ini, mcsi_id sid, uint64_t lun);' \
    | grep -qx '/\* A dummy operation of tests/sh/test_api_generated.sh. \*/'
tap_ok $? "core/mcsi.h: its C prototype, with its doc, in the generated block"
lua5.4 api/generate.lua --desc "$TMP/dummy.lua" --check-c "$G/core/mcsi.h" >/dev/null 2>&1
tap_ok $? "core/mcsi.h: the generated C face passes the C face check with the dummy"
if command -v cc >/dev/null; then
    cp core/status_list.h "$G/core/"
    printf '#include "mcsi.h"\nint main(void) { mcsi_status (*f)(mcsi_initiator *, mcsi_id, uint64_t) = mcsi_api_dummy_probe; return f == 0; }\n' >"$G/core/use.c"
    cc -std=c11 -Wall -Werror -fsyntax-only "$G/core/use.c" 2>"$TMP/err"
    tap_ok $? "core/mcsi.h with the dummy compiles and declares mcsi_api_dummy_probe" || tap_note "$(head -5 "$TMP/err")"
else
    tap_skip "core/mcsi.h with the dummy compiles (no cc)"
fi
! grep -rq 'ApiDummyProbe\|api_dummy_probe' "${FILES[@]}"
tap_ok $? "the committed files know no dummy (the copy was used)"

# ---- a daemon built with the dummy answers its schema ----
# The build's daemon objects, the dummy's generated table and a stub run
# function linked as make links mcsid (its own commands, from make -n).
BUILD=${1:-}
if [ -z "$BUILD" ] || [ ! -x "$BUILD/mcsid" ] || ! command -v cc >/dev/null || ! command -v python3 >/dev/null; then
    for _ in $(seq 1 11); do     # as many as the checks of the other branch
        tap_skip "a daemon built with the dummy operation (needs BUILD_DIR with mcsid, cc and python3)"
    done
else
    SAN=
    grep -q __asan_init "$BUILD/mcsid" && SAN="-fsanitize=address,undefined"
    cp daemon/methods.h "$G/daemon/"            # so that its "methods_run.h" is the dummy's
    cat >"$TMP/dummy_run.c" <<'EOF2'
#include "methods.h"
void mcsid_run_api_dummy_probe(mcsid_call *call)
{
  json_t *out = json_pack("{s:I}", "ProbeResult", (json_int_t)mcsid_param_uint(call, "ProbeDepth", 7));
  mcsid_call_finish(call, ISDSC_SUCCESS, NULL, out);
}
EOF2
    cc_cmd=$(make -s -n BUILD="$BUILD" "$BUILD/daemon/methods_table.o" -W daemon/methods_table.c 2>/dev/null | grep -- ' -c daemon/methods_table.c')
    link_cmd=$(make -s -n BUILD="$BUILD" "$BUILD/mcsid" -W "$BUILD/daemon/methods_table.o" 2>/dev/null | grep -- "-o $BUILD/mcsid ")
    cc_base=${cc_cmd%% -c daemon/methods_table.c*}
    cc_base=${cc_base//-MMD -MP/}
    ok=1
    if [ -n "$cc_cmd" ] && [ -n "$link_cmd" ] \
        && eval "$cc_base $SAN -I$G/daemon -c $G/daemon/methods_table.c -o $TMP/methods_table.o" 2>"$TMP/err" \
        && eval "$cc_base $SAN -I$G/daemon -c $TMP/dummy_run.c -o $TMP/dummy_run.o" 2>>"$TMP/err"; then
        link_cmd=${link_cmd/ -o $BUILD\/mcsid / -o $TMP\/mcsid-dummy }
        link_cmd=${link_cmd/ $BUILD\/daemon\/methods_table.o / $TMP\/methods_table.o $TMP\/dummy_run.o }
        eval "$link_cmd $SAN" 2>>"$TMP/err" && ok=0
    fi
    tap_ok $ok "a daemon links with the dummy's generated method table and a stub run function" || tap_note "$(head -20 "$TMP/err")"
    if [ $ok -eq 0 ]; then
        mkdir -p "$TMP/d"
        printf 'initiator_name = iqn.2026-11.org.mcsi:api-dummy\nexport_dir = %s\n' "$TMP/d/exports" >"$TMP/d/mcsid.conf"
        "$TMP/mcsid-dummy" --socket "$TMP/d/s" --state-dir "$TMP/d/state" --config "$TMP/d/mcsid.conf" \
            </dev/null >"$TMP/d/log" 2>&1 &
        dpid=$!
        for _ in $(seq 1 250); do [ -S "$TMP/d/s" ] && break; sleep 0.02; done
        python3 - "$TMP/d/s" >"$TMP/answers" 2>&1 <<'EOF2'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rw")
reqs = [("GetVersion", None),
        ("ApiDummyProbe", {"UniqueSessionId": "zz"}),
        ("ApiDummyProbe", {}),
        ("ApiDummyProbe", {"UniqueSessionId": 1, "Nope": 1}),
        ("ApiDummyProbe", {"UniqueSessionId": 1, "ProbeDepth": -1}),
        ("ApiDummyProbe", {"UniqueSessionId": "0x10", "ProbeDepth": 5, "Username": "u"}),
        ("SetLoadBalancePolicy", {"UniqueSessionId": 1, "LoadBalancePolicy": 2, "Paths": [5]}),
        ("SetLoadBalancePolicy", {"UniqueSessionId": 1, "LoadBalancePolicy": 2, "Paths": [{"UniqueConnectionId": 1}, {"Bogus": 1}]}),
        ("SetLoadBalancePolicy", {"UniqueSessionId": 1, "LoadBalancePolicy": 2, "Paths": [{"UniqueConnectionId": 1, "Weight": "x"}]}),
        ("SetLoadBalancePolicy", {"UniqueSessionId": 1, "LoadBalancePolicy": 2, "Paths": [{"Weight": 1}]})]
for i, (m, p) in enumerate(reqs):
    r = {"jsonrpc": "2.0", "id": i, "method": m}
    if p is not None: r["params"] = p
    f.write(json.dumps(r) + "\n"); f.flush()
    a = json.loads(f.readline())
    if m == "GetVersion": print("methods", "ApiDummyProbe" in a["result"]["Methods"])
    elif "error" in a: print("error", a["error"]["code"], a["error"]["message"])
    else: print("result", a["result"]["StatusName"], a["result"].get("ProbeResult"))
EOF2
        kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null
        ans=$(cat "$TMP/answers")
        tap_is "$(sed -n 1p <<<"$ans")" "methods True" "dummy daemon: GetVersion lists ApiDummyProbe"
        tap_is "$(sed -n 2p <<<"$ans")" "error -32602 invalid params: UniqueSessionId must be an id (a number or a decimal or 0x string)" \
            "dummy daemon: a wrong type is -32602 with the described parameter's name"
        tap_is "$(sed -n 3p <<<"$ans")" "error -32602 invalid params: UniqueSessionId is required" \
            "dummy daemon: a missing required parameter is -32602"
        tap_is "$(sed -n 4p <<<"$ans")" "error -32602 invalid params: ApiDummyProbe has no parameter Nope" \
            "dummy daemon: an undescribed parameter is -32602"
        tap_is "$(sed -n 5p <<<"$ans")" "error -32602 invalid params: ProbeDepth must be a non-negative integer" \
            "dummy daemon: ProbeDepth is checked as described (uint)"
        tap_is "$(sed -n 6p <<<"$ans")" "result ISDSC_SUCCESS 5" \
            "dummy daemon: a good call (with a parameter of the chap option set) reaches the run function"
        tap_is "$(sed -n 7p <<<"$ans")" "error -32602 invalid params: Paths[0] must be an object" \
            "daemon: an array of described objects: an element that is no object is -32602"
        tap_is "$(sed -n 8p <<<"$ans")" "error -32602 invalid params: Paths[1] has no member Bogus" \
            "daemon: ... an undescribed member is -32602, with its index"
        tap_is "$(sed -n 9p <<<"$ans")" "error -32602 invalid params: Paths[0].Weight must be a non-negative integer" \
            "daemon: ... a member of the wrong type is -32602"
        tap_is "$(sed -n 10p <<<"$ans")" "error -32602 invalid params: Paths[0].UniqueConnectionId is required" \
            "daemon: ... a missing required member is -32602"
    fi
fi

# ---- a bad description is refused ----
cat >"$TMP/bad.lua" <<EOF
local D = dofile("$ROOT/api/operations.lua")
D.operations[1].statuses = { "ISDSC_NO_SUCH_STATUS" }
return D
EOF
lua5.4 api/generate.lua --desc "$TMP/bad.lua" --out "$TMP/bad" >/dev/null 2>"$TMP/err"
[ $? -ne 0 ] && grep -q 'ISDSC_NO_SUCH_STATUS is not in core/status_list.h' "$TMP/err" && [ ! -e "$TMP/bad/daemon/methods_table.c" ]
tap_ok $? "a Status that core/status_list.h lacks is refused, nothing written"
cat >"$TMP/bad2.lua" <<EOF
local D = dofile("$ROOT/api/operations.lua")
for _, op in ipairs(D.operations) do
  if op.name == "lun_reset" then op.lua_args = { "session_id", "lunn" } end
  if op.name == "abort_task" then op.family = "nowhere" end
end
return D
EOF
lua5.4 api/generate.lua --desc "$TMP/bad2.lua" --out "$TMP/bad2" >/dev/null 2>"$TMP/err"
[ $? -ne 0 ] && grep -q 'lun_reset: lua_args names lunn, which is no parameter' "$TMP/err" \
  && grep -q 'abort_task: no daemon/methods_nowhere.c for its run function' "$TMP/err"
tap_ok $? "a Lua argument that is no parameter, a family without its daemon file: refused"

tap_done
