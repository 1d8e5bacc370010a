-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_iscsicli_secrets.lua: no iscsicli output ever carries a CHAP secret.
-- Every command runs with real secrets (CHAP discovery and login on istgt,
-- mutual CHAP on tgt), wrong ones (failure messages) and misplaced ones
-- (argument errors), in text and in --json mode, in the program's -e (whose
-- results are printed) and as `scripts/iscsicli.lua -`; all of stdout and
-- stderr is searched for every secret. The commands must also have worked,
-- so that the search is not over an empty output.
local H = require "helper"
local lu = H.lu
local M = H.shq(H.mcsi_bin)

local WRONG = "wrong-secret-QZX9"
local V = {
  ISTGT = H.istgt, ISTGT_PORT = H.env("MCSI_ISTGT_PORT"), TGT_PORT = H.env("MCSI_TGT_PORT"),
  ISTGT_CHAP_IQN = H.env("MCSI_ISTGT_IQN_CHAP"), TGT_CHAP_IQN = H.env("MCSI_TGT_IQN_CHAP"),
  TGT_MUTUAL_IQN = H.env("MCSI_TGT_IQN_MUTUAL"),
  U = H.env("MCSI_CHAP_USER"), S1 = H.env("MCSI_CHAP_SECRET"),
  U2 = H.env("MCSI_CHAP_USER2"), S2 = H.env("MCSI_CHAP_SECRET2"),
  TU = H.env("MCSI_CHAP_TARGET_USER"), TS = H.env("MCSI_CHAP_TARGET_SECRET"), W = WRONG,
}
local SECRETS = { V.S1, V.S2, V.TS, WRONG }

local function fill(template)
  return (template:gsub("%${([%w_]+)}", function(k) return assert(V[k], k) end))
end

local function assert_no_secret(out, what)
  for _, s in ipairs(SECRETS) do
    lu.assertNil(out:find(s, 1, true), what .. ": the secret '" .. s .. "' was printed:\n" .. out)
  end
end

-- Every command in one mcsi -e chunk; its last line returns values for -e to print.
local CHUNK = [[
iscsicli "QAddTargetPortal ${ISTGT} ${U} ${S1}"
iscsicli "AddTargetPortal 127.0.0.2 ${ISTGT_PORT} * * * * * * * * * ${U} ${S1} 1"
iscsicli "ListTargetPortals"
iscsicli "ListTargets"
local sid, cid = iscsicli "QLoginTarget ${ISTGT_CHAP_IQN}"
iscsicli(string.format("QAddConnection 0x%x * 127.0.0.2 ${ISTGT_PORT} ${U} ${S1}", sid))
iscsicli(string.format("AddConnection 0x%x * * 127.0.0.2 ${ISTGT_PORT} * * * * * * * ${U} ${S1} 1 *", sid))
iscsicli(string.format("QAddConnection 0x%x * 127.0.0.2 ${ISTGT_PORT} ${U} ${W}", sid))
iscsicli "SessionList"
iscsicli(string.format("ScsiInquiry 0x%x 0 0 0", sid))
iscsicli(string.format("ReadCapacity 0x%x 0", sid))
iscsicli(string.format("ReportLUNs 0x%x", sid))
iscsicli(string.format("RemoveConnection 0x%x 0x%x", sid, cid))
iscsicli(string.format("LogoutTarget 0x%x", sid))
iscsicli "QLoginTarget ${ISTGT_CHAP_IQN} ${U} ${W}"
local m = iscsicli "LoginTarget ${TGT_MUTUAL_IQN} T 127.0.0.1 ${TGT_PORT} * * * * * * * * * ${U2} ${S2} 2 ${TS}"
if m then iscsicli(string.format("LogoutTarget 0x%x", m)) end
iscsicli "LoginTarget ${TGT_MUTUAL_IQN} T 127.0.0.1 ${TGT_PORT} * * * * * * * * * ${U2} ${S2} 2 ${W}"
iscsicli "LoginTarget ${TGT_CHAP_IQN} T 127.0.0.1 ${TGT_PORT} * * * * * * * * * ${U} ${W} 1"
for _, line in ipairs{
  "LoginTarget ${TGT_CHAP_IQN} T 127.0.0.1 ${TGT_PORT} * * * * ${S1}",
  "LoginTarget ${TGT_CHAP_IQN} T 127.0.0.1 ${TGT_PORT} * * * * * ${S1}",
  "LoginTarget ${TGT_CHAP_IQN} T 127.0.0.1 ${TGT_PORT} * * * * * * ${S1}",
  "AddTargetPortal 127.0.0.1 ${TGT_PORT} * * * * * * * * * ${U} ${S1} ${S1}",
  "QAddConnection ${S1} * 127.0.0.1",
  "ReadCapacity 1 ${S1}",
  'QAddTargetPortal 127.0.0.1 ${U} "${S1}',
} do print("argument error:", select(2, pcall(iscsicli, line))) end
iscsicli "RemoveTargetPortal 127.0.0.2 ${ISTGT_PORT}"
return iscsicli.portals, iscsicli "ListTargetPortals"
]]

TestIscsicliSecrets = {}

function TestIscsicliSecrets:tearDown()
  H.check_clean()
end

function TestIscsicliSecrets:test_text_output()
  local rc, out = H.run(M .. " -e " .. H.shq(fill(CHUNK)))
  lu.assertEquals(rc, 0, out)
  assert_no_secret(out, "text")
  -- the commands worked
  lu.assertStrContains(out, "CHAP Username        : " .. V.U)
  lu.assertStrContains(out, "    " .. V.ISTGT_CHAP_IQN .. "\n")
  lu.assertEquals(select(2, out:gsub("Session Id is 0x", "")), 2, "the CHAP and the mutual CHAP login:\n" .. out)
  lu.assertStrContains(out, "Number Connections     : 3")
  lu.assertStrContains(out, "Status: ISDSC_AUTHENTICATION_FAILURE")
  lu.assertEquals(select(2, out:gsub("argument error:", "")), 7, out)
  lu.assertStrContains(out, "HeaderDigest")
  lu.assertStrContains(out, "DataDigest")
  lu.assertStrContains(out, "MaxConnections must be a number")
  lu.assertStrContains(out, "AuthType must be a number")
  lu.assertStrContains(out, "SessionId must be an id")
  lu.assertStrContains(out, "LUN must be a number")
  lu.assertStrContains(out, "unterminated quote")
  lu.assertStrContains(out, 'username = "' .. V.U .. '"')             -- -e printed iscsicli.portals
end

function TestIscsicliSecrets:test_json_output()
  local rc, out = H.run(M .. " --json -e " .. H.shq(fill(CHUNK)))
  lu.assertEquals(rc, 0, out)
  assert_no_secret(out, "json")
  lu.assertStrContains(out, '"name":"' .. V.ISTGT_CHAP_IQN .. '"')      -- ListTargets found the targets
  lu.assertStrContains(out, '"username":"' .. V.U .. '"')
  lu.assertStrContains(out, '"session_id":')
  lu.assertStrContains(out, '"ISDSC_AUTHENTICATION_FAILURE"')
  lu.assertStrContains(out, '"block_size":512')
end

function TestIscsicliSecrets:test_program_stdin()
  local lines = fill(table.concat({
    "QAddTargetPortal ${ISTGT} ${U} ${S1}",
    "ListTargetPortals", "ListTargets",
    "QLoginTarget ${ISTGT_CHAP_IQN}",
    "QLoginTarget ${ISTGT_CHAP_IQN} ${U} ${W}",
    "LoginTarget ${TGT_MUTUAL_IQN} T 127.0.0.1 ${TGT_PORT} * * * * * * * * * ${U2} ${S2} 2 ${TS}",
    "SessionList",
    "LoginTarget ${TGT_CHAP_IQN} T 127.0.0.1 ${TGT_PORT} * * * * ${S1}",
    'QAddTargetPortal 127.0.0.1 ${U} "${S1}',
  }, "\n") .. "\n")
  for _, json in ipairs({ "", "--json " }) do
    local f = os.tmpname()
    local fh = io.open(f, "w")
    fh:write(lines)
    fh:close()
    local rc, out = H.run(string.format("%s %sscripts/iscsicli.lua --local - < %s", M, json, H.shq(f)))
    os.remove(f)
    lu.assertEquals(rc, 2, out)                           -- the argument errors
    assert_no_secret(out, "stdin " .. json)
    lu.assertStrContains(out, V.ISTGT_CHAP_IQN)
    lu.assertStrContains(out, V.TGT_MUTUAL_IQN)           -- SessionList shows the mutual session
  end
  -- one command as arguments
  local rc, out = H.run(M .. " --json scripts/iscsicli.lua --local " .. fill("QAddTargetPortal ${ISTGT} ${U} ${S1}"))
  lu.assertEquals(rc, 0, out)
  assert_no_secret(out, "arguments")
end

H.finish()
