-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_inflight.lua: an add in flight when its session ends, from Lua in
-- process (issue 14): logged out meanwhile, its callback runs once with a
-- failing Status; the program ends (the engine closed, every session logged
-- out, the initiator freed) with an add in flight: a clean exit, nothing
-- touches freed memory (under make asan the child runs in the ASan-built
-- mcsi program: the engine used to write into a freed connection there).
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi

TestInflight = {}

function TestInflight:tearDown()
  H.check_clean()
end

local function wait_until(cond, what, limit_ms)
  local t0 = mcsi.now()
  while not cond() do
    mcsi.poll(20)
    if mcsi.now() - t0 > (limit_ms or 10000) then error("timed out waiting for " .. what, 2) end
  end
end

function TestInflight:test_logout_answers_the_add_in_flight()
  local silent, stop = H.silent_portal()
  local s = mcsi.login{ portal = H.tgt, target = H.tgt_iqn, max_connections = 4 }
  lu.assertNotNil(s)
  local adds, add_st, out, out_st = 0, nil, 0, nil
  s:add_connection({ portal = silent, login_timeout_ms = 20000 }, function(c, st) adds = adds + 1; add_st = st end)
  mcsi.poll(100)
  lu.assertEquals(adds, 0, "the add waits on the silent portal")
  local t0 = mcsi.now()
  mcsi.logout_from_target(s.id, function(st) out = out + 1; out_st = st end)
  wait_until(function() return out > 0 end, "the logout")
  mcsi.poll(100)
  stop()
  lu.assertEquals(adds, 1, "the add's callback ran once")
  lu.assertEquals(add_st.name, "ISDSC_CONNECTION_FAILED")
  lu.assertStrContains(add_st.message, "logged out")
  lu.assertEquals(out, 1, "the logout's once")
  lu.assertTrue(out_st.ok)
  lu.assertTrue(mcsi.now() - t0 < 5000, "not after the add's 20 s login timeout")
end

function TestInflight:test_exit_with_an_add_in_flight()
  local silent, stop = H.silent_portal()
  local rc, out = H.child(string.format([[
    local mcsi = require "mcsi"
    local s = assert(mcsi.login{ portal = %q, target = %q, max_connections = 4 })
    s:add_connection({ portal = %q, login_timeout_ms = 20000 }, function() print("late callback") end)
    mcsi.poll(100)
    print("exiting")
    os.exit(0, true)       -- closes the state: the engine logs out and frees its initiator
  ]], H.tgt, H.tgt_iqn, silent))
  stop()
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "exiting")
  lu.assertNotStrContains(out, "late callback")   -- no Lua runs once the engine is closed
  lu.assertNotStrContains(out, "AddressSanitizer")
end

H.finish()
