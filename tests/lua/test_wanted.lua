-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_wanted.lua: the session's wanted number of connections in-process (the
-- engine's own state: mcsi.h MCSI_SI_WANTED_CONNECTIONS), and
-- scripts/failover.lua keeping it: an add raises it, a removal lowers it and
-- failover does NOT add the connection back; a connection the target drops is
-- replaced; set_wanted_connections (function and Session method) sets it.
-- (A success Status reads "Success" in Lua, in-process and remote alike: the
-- count is read from session_info; the C completion's message and mcsid's
-- answers say it.)
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi
local failover = require "mcsi.failover"

TestWanted = {}

function TestWanted:tearDown()
  H.check_clean()
end

local function healthy(sid)
  local n = 0
  for _, c in ipairs(mcsi.session_info(sid).connections) do
    if c.state == "active" then n = n + 1 end
  end
  return n
end

local function wait_until(pred, ms)
  for _ = 1, ms // 50 do
    if pred() then return true end
    mcsi.sleep(50)
  end
  return pred()
end

function TestWanted:test_add_remove_set()
  local s, st = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
  H.assertStatus(st, "ISDSC_SUCCESS")
  lu.assertEquals(s:info().wanted_connections, 1, "a new session wants the connection it has")
  local _, ast = s:add_connection{ portal = H.tgt2 }
  H.assertStatus(ast, "ISDSC_SUCCESS")
  lu.assertEquals(mcsi.session_info(s.id).wanted_connections, 2)
  local cid = mcsi.add_connection_to_session(s.id, { portal = H.tgt })
  lu.assertEquals(s:info().wanted_connections, 3)
  local rst = mcsi.remove_connection_from_session(s.id, cid)
  H.assertStatus(rst, "ISDSC_SUCCESS")
  lu.assertEquals(s:info().wanted_connections, 2, "a removal lowers it")
  H.assertStatus(mcsi.set_wanted_connections(s.id, 4), "ISDSC_SUCCESS")
  lu.assertEquals(s:info().wanted_connections, 4)
  local sst = s:set_wanted_connections(2)
  H.assertStatus(sst, "ISDSC_SUCCESS")
  lu.assertEquals(s:info().wanted_connections, 2)
  H.assertRaises("1..65535", mcsi.set_wanted_connections, s.id, 0)
  H.assertStatus(mcsi.set_wanted_connections(0x7777777, 2), "ISDSC_INVALID_SESSION_ID")
  s:logout()
end

function TestWanted:test_failover_keeps_the_admins_count()
  local s, st = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
  H.assertStatus(st, "ISDSC_SUCCESS")
  local f = failover.start{ session = s.id, portals = { H.tgt, H.tgt2 }, connections = 3, interval_ms = 100,
                            quiet = true }
  lu.assertEquals(s:info().wanted_connections, 3, "connections = 3 is the session's wanted count")
  lu.assertTrue(wait_until(function() return healthy(s.id) == 3 end, 5000), "failover grows to 3")
  local victim
  for _, c in ipairs(s:info().connections) do if not c.leading then victim = c.id end end
  H.assertStatus(mcsi.remove_connection_from_session(s.id, victim), "ISDSC_SUCCESS")
  mcsi.sleep(1500)                                      -- 15 policy periods
  lu.assertEquals(healthy(s.id), 2, "an admin's removal is not undone by failover")
  lu.assertEquals(s:info().wanted_connections, 2)
  H.assertStatus(f:status(), "ISDSC_SUCCESS")         -- its goal follows the session's
  H.assertStatus(s:set_wanted_connections(3), "ISDSC_SUCCESS")
  lu.assertTrue(wait_until(function() return healthy(s.id) == 3 end, 5000), "raised: failover adds one")
  f:stop()
  s:logout()
end

-- failover.policy (what mcsid attaches) takes the session's wanted count when no connections are given.
function TestWanted:test_policy_uses_the_wanted_count()
  local s, st = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
  H.assertStatus(st, "ISDSC_SUCCESS")
  s:add_connection{ portal = H.tgt2 }
  H.assertStatus(s:set_wanted_connections(3), "ISDSC_SUCCESS")   -- more than it has
  local f = failover.policy(s.id, { portals = { H.tgt, H.tgt2 }, interval_ms = 100, quiet = true })
  lu.assertEquals(f.connections, 3, "the policy's goal is the session's wanted count, not its connections")
  lu.assertTrue(wait_until(function() return healthy(s.id) == 3 end, 5000), "it grows the session to 3")
  mcsi.sleep(500)
  lu.assertEquals(healthy(s.id), 3, "and no connection beyond")
  f:stop()
  s:logout()
end

-- Through mcsid (mcsi --connect): the same field, function and Session method.
function TestWanted:test_through_the_daemon()
  local d = H.start_mcsid("wanted-test")
  local script = string.format([[
    local s = assert(mcsi.login{ portal = %q, target = %q })
    print("login", s:info().wanted_connections)
    s:add_connection{ portal = %q }
    print("add", s:info().wanted_connections)
    print("set", mcsi.set_wanted_connections(s.id, 4).ok, mcsi.session_info(s.id).wanted_connections)
    print("method", s:set_wanted_connections(3).ok, s:info().wanted_connections)
    print("bad", mcsi.set_wanted_connections(0x7777777, 2).name)
    print("raises", (select(2, pcall(mcsi.set_wanted_connections, s.id, 0))):find("1..65535", 1, true) ~= nil)
    s:logout()]], H.tgt, H.tgt_iqn, H.tgt2)
  local rc, out = H.run(string.format("%s --connect %s -e %s", H.shq(H.mcsi_bin), H.shq(d.sock), H.shq(script)))
  d:stop()
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "login\t1\nadd\t2\nset\ttrue\t4\nmethod\ttrue\t3\nbad\tISDSC_INVALID_SESSION_ID\nraises\ttrue\n")
end

H.finish()
