-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_drain.lua: scripts/drain.lua when the session is full or no replacement
-- can be made: a full session (4 of MaxConnections 4) is drained by swapping
-- (remove, then add elsewhere) and keeps its 4 connections; when the adds
-- elsewhere fail, the drain still leaves the portal but its Status fails.
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi
local M = H.shq(H.mcsi_bin)

TestDrain = {}

function TestDrain:tearDown()
  H.check_clean()
end

local function on_portal(sid, portal)
  local n, total = 0, 0
  for _, c in ipairs(mcsi.session_info(sid).connections) do
    total = total + 1
    if c.portal == portal then n = n + 1 end
  end
  return n, total
end

function TestDrain:test_full_session_keeps_its_size()
  local rc, out = H.run(string.format("timeout 60 %s scripts/drain.lua --target %s --portal %s --portal %s --drain %s "
    .. "--connections 4", M, H.tgt_iqn, H.tgt, H.tgt2, H.tgt2))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "ISDSC_TOO_MANY_CONNECTIONS")                 -- the session was full
  lu.assertStrMatches(out, ".*%[drain%] done +[%d.:]+ +ISDSC_SUCCESS.*")
  -- the session table printed after the drain: 4 connections, none on the drained portal
  local after = out:match(".*%[drain%] done[^\n]*\n(.*)logout")
  lu.assertStrContains(after, "4 connections")
  lu.assertNotStrContains(after, H.tgt2)
end

function TestDrain:test_full_session_as_a_library()
  local drain = require "mcsi.drain"
  local sid = H.login()
  for _ = 1, 3 do mcsi.add_connection_to_session(sid, H.tgt2) end
  lu.assertEquals({ on_portal(sid, H.tgt2) }, { 3, 4 })
  local st = drain.drain(sid, H.tgt2, { quiet = true, portals = { H.tgt } })
  H.assertStatus(st, "ISDSC_SUCCESS")
  lu.assertEquals({ on_portal(sid, H.tgt2) }, { 0, 4 })
  mcsi.logout_from_target(sid)
end

function TestDrain:test_no_replacement_fails()
  local drain = require "mcsi.drain"
  local sid = H.login()
  mcsi.add_connection_to_session(sid, H.tgt2)
  mcsi.add_connection_to_session(sid, H.tgt2)
  local dead = "127.0.0.1:" .. H.env("MCSI_FREE_PORT")
  local st, log = drain.drain(sid, H.tgt2, { quiet = true, portals = { dead } })
  H.assertStatus(st, "ISDSC_CONNECTION_FAILED")
  lu.assertStrContains(st.message, "the session went from 3 to 1 connections")
  lu.assertEquals({ on_portal(sid, H.tgt2) }, { 0, 1 })                   -- the portal is drained all the same
  lu.assertEquals(log[#log].action, "done")
  lu.assertFalse(log[#log].status.ok)
  mcsi.logout_from_target(sid)
end

H.finish()
