-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_async.lua: asynchronous operations from Lua (issue 8): the callback
-- form (a function as last argument), coroutines of the engine (mcsi.spawn)
-- in which the blocking-looking calls yield while the engine keeps running,
-- many logins at once (some to a portal that never answers) while another
-- session adds and removes connections, each with its own Status.
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi

TestAsync = {}

function TestAsync:tearDown()
  H.check_clean()
end

local function wait_until(cond, what, limit_ms)
  local t0 = mcsi.now()
  while not cond() do
    mcsi.poll(50)
    if mcsi.now() - t0 > (limit_ms or 30000) then error("timed out waiting for " .. what, 2) end
  end
end

function TestAsync:test_many_logins_at_once()
  local silent, stop = H.silent_portal()
  local other = mcsi.login{ portal = H.tgt, target = H.tgt_iqn, max_connections = 4 }
  lu.assertNotNil(other)
  local portals = { H.tgt, H.tgt2 }   -- istgt sleeps 1 s in every new-session login, one at a time
  local N_FAST, N_BAD, N_SLOW = 30, 6, 6
  local order, fast, bad, slow = {}, {}, {}, {}
  local t0 = mcsi.now()
  for i = 1, N_FAST do
    mcsi.spawn(function()
      local sid, cid, st = mcsi.login_to_target{ portal = portals[i % 2 + 1], target = H.tgt_iqn, login_timeout_ms = 10000 }
      fast[i] = { sid = sid, cid = cid, st = st, ms = mcsi.now() - t0 }
      order[#order + 1] = "fast"
    end)
  end
  for i = 1, N_BAD do                     -- answered at once by tgt: no such target
    mcsi.spawn(function()
      local name = "iqn.2026-11.org.mcsi:nowhere-" .. i
      local sid, _, st = mcsi.login_to_target{ portal = H.tgt, target = name }
      bad[i] = { sid = sid, st = st, name = name }
      order[#order + 1] = "fast"
    end)
  end
  for i = 1, N_SLOW do
    mcsi.spawn(function()
      local sid, _, st = mcsi.login_to_target{ portal = silent, target = H.tgt_iqn, login_timeout_ms = 3000 }
      slow[i] = { sid = sid, st = st, ms = mcsi.now() - t0 }
      order[#order + 1] = "slow"
    end)
  end
  -- another session adds and removes connections meanwhile
  local changes, worst = {}, 0
  mcsi.spawn(function()
    for _ = 1, 5 do
      local a = mcsi.now()
      local c, st = other:add_connection(H.tgt2)
      changes[#changes + 1] = st
      if c then changes[#changes + 1] = c:remove() end
      worst = math.max(worst, mcsi.now() - a)
    end
  end)
  -- and the callback form, in the same loop
  local via_cb
  local st0 = mcsi.login_to_target({ portal = H.istgt, target = H.istgt_iqn }, function(sid, cid, st)
    via_cb = { sid = sid, cid = cid, st = st }
  end)
  H.assertStatus(st0, "ISDSC_SUCCESS", "the callback form started")
  lu.assertEquals(#order, 0, "every login returned to the caller at once (none blocked)")
  lu.assertNil(via_cb, "the callback runs later, from the loop")

  wait_until(function() return #order == N_FAST + N_BAD + N_SLOW and #changes == 10 and via_cb end, "every operation")
  local total = mcsi.now() - t0

  for i = 1, N_FAST do
    H.assertStatus(fast[i].st, "ISDSC_SUCCESS", "login " .. i)
    lu.assertIsNumber(fast[i].sid)
    lu.assertIsNumber(fast[i].cid)
  end
  for i = 1, N_BAD do
    H.assertStatus(bad[i].st, "ISDSC_TARGET_NOT_FOUND", "login to a target tgt does not have")
    lu.assertNil(bad[i].sid)
    lu.assertStrContains(bad[i].st.message, bad[i].name)   -- each failure carries its own message
    for j = 1, N_BAD do
      if j ~= i then lu.assertNotStrContains(bad[i].st.message, bad[j].name) end
    end
  end
  for i = 1, N_SLOW do
    H.assertStatus(slow[i].st, "ISDSC_LOGIN_FAILED", "login to the silent portal")
    lu.assertNil(slow[i].sid)
  end
  for i = 1, #changes do H.assertStatus(changes[i], "ISDSC_SUCCESS", "add/remove " .. i) end
  H.assertStatus(via_cb.st, "ISDSC_SUCCESS", "the callback form's login")
  for i = 1, N_FAST + N_BAD do lu.assertEquals(order[i], "fast", "the fast ones end before every slow one") end
  lu.assertEquals(#mcsi.sessions(), N_FAST + 2)

  local slowest_fast, first_slow = 0, math.huge
  for i = 1, N_FAST do slowest_fast = math.max(slowest_fast, fast[i].ms) end
  for i = 1, N_SLOW do first_slow = math.min(first_slow, slow[i].ms) end
  io.stderr:write(string.format("# %d logins at once: the %d fast ones within %.0f ms, the %d to the silent portal at %.0f ms;"
    .. " all in %.0f ms; slowest add+remove %.0f ms\n", N_FAST + N_BAD + N_SLOW + 1, N_FAST + N_BAD, slowest_fast,
    N_SLOW, first_slow, total, worst))

  -- every logout at once, through the callback form
  local outs = {}
  for _, s in ipairs(mcsi.sessions()) do
    if s.id ~= other.id then
      H.assertStatus(mcsi.logout_from_target(s.id, function(st) outs[#outs + 1] = st end), "ISDSC_SUCCESS")
    end
  end
  wait_until(function() return #outs == N_FAST + 1 end, "the logouts")
  for i = 1, #outs do H.assertStatus(outs[i], "ISDSC_SUCCESS", "logout " .. i) end
  H.assertStatus(other:logout(), "ISDSC_SUCCESS")
  stop()
end

function TestAsync:test_coroutines_yield_and_the_engine_runs()
  local marks = {}
  mcsi.spawn(function() mcsi.sleep(150); marks[#marks + 1] = "slow" end)
  mcsi.spawn(function() mcsi.sleep(10); marks[#marks + 1] = "quick" end)
  mcsi.spawn(function(a, b)                -- arguments, and a bare yield resumes at the next turn
    marks[#marks + 1] = a .. b
    coroutine.yield()
    marks[#marks + 1] = "again"
  end, "ar", "gs")
  lu.assertEquals(marks, { "args" }, "spawn runs the function until it first waits")
  wait_until(function() return #marks == 4 end, "the coroutines")
  lu.assertEquals(marks, { "args", "again", "quick", "slow" })
  -- a coroutine's blocking-looking calls: one session, several things at once
  local co_done
  local co = mcsi.spawn(function()
    local s, st = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
    lu.assertTrue(st.ok, tostring(st))
    local cap = s:read_capacity(H.file_lun)
    local data = string.rep("y", cap.block_size * 2)
    lu.assertTrue(s:write(H.file_lun, 8, data).ok)
    lu.assertEquals(s:read(H.file_lun, 8, 2), data)
    lu.assertTrue(s:test_unit_ready(H.file_lun).ok)
    lu.assertEquals(s:inquiry(H.file_lun).vendor:sub(1, 3), "IET")
    lu.assertTrue(#s:report_luns() >= 2)
    local c = s:add_connection(H.tgt2)
    lu.assertTrue(c:remove().ok)
    local r, st2 = mcsi.scsi_command(s, H.file_lun, string.char(0, 0, 0, 0, 0, 0), "none")
    lu.assertTrue(st2.ok, tostring(st2))
    lu.assertEquals(r.status, 0)
    lu.assertTrue(mcsi.send_targets(H.tgt)[1].name ~= nil)
    lu.assertTrue(s:lun_reset(H.file_lun).ok)
    co_done = s:logout()
  end)
  lu.assertEquals(type(co), "thread")
  lu.assertEquals(coroutine.status(co), "suspended", "it waits for its login, the caller goes on")
  wait_until(function() return co_done end, "the coroutine's session")
  H.assertStatus(co_done, "ISDSC_SUCCESS")
  lu.assertEquals(coroutine.status(co), "dead")
end

function TestAsync:test_callback_forms()
  local got = {}
  local function keep(name) return function(...) got[name] = table.pack(...) end end
  mcsi.login_to_target({ portal = H.tgt, target = H.tgt_iqn }, keep("login"))
  wait_until(function() return got.login end, "login")
  local sid = got.login[1]
  H.assertStatus(got.login[3], "ISDSC_SUCCESS")
  mcsi.add_connection_to_session(sid, H.tgt2, keep("add"))
  mcsi.read(sid, H.file_lun, 0, 1, keep("read"))
  mcsi.scsi_read_capacity(sid, H.file_lun, keep("cap"))
  mcsi.scsi_inquiry(sid, H.file_lun, 0x80, keep("vpd"))
  wait_until(function() return got.add and got.read and got.cap and got.vpd end, "add, read, capacity, VPD")
  H.assertStatus(got.add[2], "ISDSC_SUCCESS")
  lu.assertEquals(#got.read[1], 512)
  lu.assertEquals(got.cap[1].block_size, 512)
  lu.assertEquals(got.vpd[1].page, 0x80)
  mcsi.remove_connection_from_session(sid, got.add[1], keep("remove"))
  wait_until(function() return got.remove end, "remove")
  H.assertStatus(got.remove[1], "ISDSC_SUCCESS")
  -- not started: the Status says why, the function never runs
  local ran = false
  H.assertStatus(mcsi.logout_from_target(0x7777, function() ran = true end), "ISDSC_INVALID_SESSION_ID")
  mcsi.poll(50)
  lu.assertFalse(ran)
  -- the callback form is allowed inside callbacks (a blocking call is not)
  local inner
  mcsi.scsi_test_unit_ready(sid, H.file_lun, function()
    lu.assertFalse(pcall(mcsi.logout_from_target, sid))
    mcsi.logout_from_target(sid, function(st) inner = st end)
  end)
  wait_until(function() return inner end, "logout from a callback")
  H.assertStatus(inner, "ISDSC_SUCCESS")
end

function TestAsync:test_coroutine_errors_are_reported()
  local rc, out = H.child([[
    local mcsi = require "mcsi"
    mcsi.spawn(function() mcsi.sleep(5); error("policy bug") end)
    local n = 0
    mcsi.spawn(function() for _ = 1, 3 do mcsi.sleep(10); n = n + 1 end end)
    mcsi.run()
    print("ran", n)
  ]])
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "mcsi: error in an mcsi coroutine: ")
  lu.assertStrContains(out, "policy bug")
  lu.assertStrContains(out, "stack traceback")
  lu.assertStrContains(out, "ran\t3")
end

H.finish()
