-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_mcs.lua: MC/S from Lua: adding connections, every Status of
-- remove_connection_from_session created for real, load balance policies, and
-- events during a real connection drop (from the target side).
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi

TestMCS = {}

function TestMCS:tearDown()
  H.check_clean()
end

local function tgt_conns()
  local _, out = H.run("TGT_IPC_SOCKET=" .. H.env("MCSI_TGT_IPC") .. " tgtadm -C 0 --lld iscsi --op show --mode conn --tid 1")
  local sessions, nsess, conns = {}, 0, 0
  for line in out:gmatch("[^\n]+") do
    local s = line:match("^Session: (%d+)")
    if s and not sessions[s] then sessions[s], nsess = true, nsess + 1 end
    if line:match("^%s+Connection: ") then conns = conns + 1 end
  end
  return nsess, conns
end

function TestMCS:test_add_and_every_remove_status()
  local sid, lead = H.login(H.tgt, H.tgt_iqn, { max_connections = 4 })
  local cids = { lead }
  for i, p in ipairs{ H.tgt2, H.tgt, H.tgt2 } do
    local cid, st = mcsi.add_connection_to_session(sid, { portal = p, weight = i })
    H.assertStatus(st, "ISDSC_SUCCESS", "add " .. i)
    cids[#cids + 1] = cid
  end
  local nsess, nconn = tgt_conns()
  lu.assertEquals(nsess, 1, "one session at the target")
  lu.assertEquals(nconn, 4, "four connections in it")
  local info = mcsi.session_info(sid)
  lu.assertEquals(info.connection_count, 4)
  lu.assertEquals(info.connections[4].weight, 3)
  -- a 5th: refused without asking the target
  local c5, st5 = mcsi.add_connection_to_session(sid, H.tgt2)
  lu.assertNil(c5)
  H.assertStatus(st5, "ISDSC_TOO_MANY_CONNECTIONS", "5th connection")
  -- the Statuses of remove
  H.assertStatus(mcsi.remove_connection_from_session(sid + 1000, cids[2]), "ISDSC_INVALID_SESSION_ID")
  H.assertStatus(mcsi.remove_connection_from_session(sid, 0x7777), "ISDSC_INVALID_CONNECTION_ID")
  H.assertStatus(mcsi.remove_connection_from_session(sid, lead), "ISDSC_CANNOT_REMOVE_LEADING_CONNECTION")
  local done
  H.assertStatus(mcsi.remove_connection_async(sid, cids[2], function(st) done = st end), "ISDSC_SUCCESS", "async")
  H.assertStatus(mcsi.remove_connection_from_session(sid, cids[2]), "ISDSC_REMOVE_CONNECTION_IN_PROGRESS")
  for _ = 1, 100 do
    if done then break end
    mcsi.poll(50)
  end
  lu.assertNotNil(done, "the async removal completed")
  H.assertStatus(done, "ISDSC_SUCCESS", "async outcome")
  H.assertStatus(mcsi.remove_connection_from_session(sid, cids[2]), "ISDSC_INVALID_CONNECTION_ID", "already removed")
  H.assertStatus(mcsi.remove_connection_from_session(sid, cids[3]), "ISDSC_SUCCESS")
  H.assertStatus(mcsi.remove_connection_from_session(sid, cids[4]), "ISDSC_SUCCESS")
  H.assertStatus(mcsi.remove_connection_from_session(sid, lead), "ISDSC_CANT_REMOVE_LAST_CONNECTION")
  local _, nconn2 = tgt_conns()
  lu.assertEquals(nconn2, 1)
  H.assertStatus(mcsi.logout_from_target(sid), "ISDSC_SUCCESS")
end

function TestMCS:test_istgt_add_remove()
  local sid = H.login(H.istgt, H.istgt_iqn)
  local cid, st = mcsi.add_connection_to_session(sid, { portal = H.istgt2 })
  H.assertStatus(st, "ISDSC_SUCCESS", "istgt add")
  local data = string.rep("m", 4096)
  H.assertStatus(mcsi.write(sid, 0, 8, data), "ISDSC_SUCCESS")
  lu.assertEquals(mcsi.read(sid, 0, 8, 8), data)
  H.assertStatus(mcsi.remove_connection_from_session(sid, cid), "ISDSC_SUCCESS")
  H.assertStatus(mcsi.logout_from_target(sid), "ISDSC_SUCCESS")
end

function TestMCS:test_load_balance_policy()
  local sid, lead = H.login()
  local c2 = mcsi.add_connection_to_session(sid, H.tgt2)
  H.assertStatus(mcsi.set_load_balance_policy(sid, "weighted-paths",
    { { connection = lead, weight = 3 }, { connection = c2, weight = 1 } }), "ISDSC_SUCCESS")
  local info = mcsi.session_info(sid)
  lu.assertEquals(info.policy, 5)
  lu.assertEquals(info.policy_name, "weighted-paths")
  lu.assertEquals(info.connections[1].weight, 3)
  H.assertStatus(mcsi.set_load_balance_policy(sid, mcsi.policies["failover-only"], { { connection = c2, primary = true } }),
    "ISDSC_SUCCESS")
  info = mcsi.session_info(sid)
  lu.assertTrue(info.connections[2].primary)
  lu.assertFalse(info.connections[1].active)
  H.assertStatus(mcsi.set_load_balance_policy(sid, 1, { { connection = c2, primary = true }, { connection = lead, primary = true } }),
    "ISDSC_MULTIPLE_PRIMARY_PATHS_SPECIFIED")
  H.assertStatus(mcsi.set_load_balance_policy(sid, 1, { { connection = c2 } }), "ISDSC_NO_PRIMARY_PATH_SPECIFIED")
  H.assertStatus(mcsi.set_load_balance_policy(sid, 2, { { connection = c2 }, { connection = c2 } }),
    "ISDSC_DUPLICATE_PATH_SPECIFIED")
  H.assertStatus(mcsi.set_load_balance_policy(sid, 9), "ISDSC_INVALID_LOAD_BALANCE_POLICY")
  H.assertStatus(mcsi.set_load_balance_policy(sid, 2, { { connection = 0x7777 } }), "ISDSC_INVALID_CONNECTION_ID")
  H.assertStatus(mcsi.set_load_balance_policy(0x7777, 2), "ISDSC_INVALID_SESSION_ID")
  H.assertStatus(mcsi.set_load_balance_policy(sid, "round-robin"), "ISDSC_SUCCESS")
  H.assertRaises("invalid option 'sideways'", mcsi.set_load_balance_policy, sid, "sideways")
  mcsi.logout_from_target(sid)
end

-- A connection dropped by the target: events conn-failed then conn-removed,
-- with ids, old and new state, reason and a Status; I/O continues.
function TestMCS:test_events_on_drop()
  local sid, lead = H.login(H.tgt, H.tgt_iqn, { nop_interval_ms = 200, nop_timeout_ms = 200 })
  local c2 = mcsi.add_connection_to_session(sid, H.tgt2)
  local port = mcsi.connection_info(sid, c2).local_port
  local seen = {}
  local h = mcsi.on("*", function(ev) seen[#seen + 1] = ev end)
  local rc = H.run(string.format("ss -K -tn 'sport = :%s and dport = :%d'", H.env("MCSI_TGT_PORT"), port))
  lu.assertEquals(rc, 0, "ss -K")
  local t0 = mcsi.now()
  while mcsi.now() - t0 < 3000 do
    mcsi.poll(50)
    if #seen > 0 and seen[#seen].kind == "conn-failed" then break end
  end
  mcsi.poll(10)
  mcsi.off(h)
  local failed
  for _, ev in ipairs(seen) do
    if ev.kind == "conn-failed" then failed = ev end
  end
  lu.assertNotNil(failed, "conn-failed event")
  lu.assertEquals(failed.session_id, sid)
  lu.assertEquals(failed.connection_id, c2)
  lu.assertEquals(failed.old_state, "active")
  lu.assertEquals(failed.new_state, "failed")
  lu.assertStrContains(failed.reason, H.tgt2:match("^[^:]+"))   -- names the failed connection's portal
  lu.assertFalse(failed.status.ok)
  -- (core removes a failed connection without a conn-removed event)
  -- the session goes on with the leading connection
  local info = mcsi.session_info(sid)
  lu.assertEquals(info.connection_count, 1)
  lu.assertEquals(info.connections[1].id, lead)
  H.assertStatus(mcsi.scsi_test_unit_ready(sid, H.file_lun), "ISDSC_SUCCESS")
  mcsi.logout_from_target(sid)
end

H.finish()
