-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_events.lua: event registration, the loop (run/stop/poll/sleep),
-- timers, watched fds, protected callbacks (an error is reported with a
-- traceback and the engine keeps running) and the clear error for a blocking
-- call made from inside a callback.
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi

TestEvents = {}

function TestEvents:tearDown()
  H.check_clean()
end

function TestEvents:test_kinds_and_registration()
  lu.assertEquals(mcsi.events[1], "conn-logging-in")
  lu.assertEquals(mcsi.events["session-active"], 6)
  local got = {}
  local h1 = mcsi.on("session-active", function(ev) got[#got + 1] = "A:" .. ev.kind end)
  local h2 = mcsi.on("*", function(ev) got[#got + 1] = "*:" .. ev.kind end)
  lu.assertNotEquals(h1, h2)
  local sid = H.login()
  lu.assertEquals(got, { "*:conn-logging-in", "*:conn-active", "A:session-active", "*:session-active" })
  lu.assertTrue(mcsi.off(h1))
  lu.assertFalse(mcsi.off(h1))
  got = {}
  mcsi.logout_from_target(sid)
  lu.assertEquals(got, { "*:session-logged-out" })
  mcsi.off(h2)
  H.assertRaises("unknown event kind 'bogus'", mcsi.on, "bogus", print)
  H.assertRaises("bad argument #2", mcsi.on, "*", 42)
end

function TestEvents:test_blocking_call_in_callback_raises()
  local err
  local h = mcsi.on("session-active", function(ev)
    local ok, e = pcall(mcsi.logout_from_target, ev.session_id)
    err = e
    -- what may run inside a callback: non-blocking calls
    lu.assertEquals(mcsi.session_info(ev.session_id).state, "active")
    mcsi.timer(0, function() mcsi.logout_from_target(ev.session_id) end)
  end)
  H.login()
  mcsi.off(h)
  lu.assertStrContains(tostring(err), "mcsi.logout_from_target: blocking call from inside an mcsi event")
  lu.assertEquals(#mcsi.sessions(), 1)
  mcsi.poll(0)                          -- the timer logs it out
  lu.assertEquals(#mcsi.sessions(), 0)
end

function TestEvents:test_callback_error_reported_engine_runs()
  local rc, out = H.child([[
    local mcsi = require "mcsi"
    mcsi.on("session-active", function() error("policy bug") end)
    mcsi.timer(1, function() local t = nil; return t.x end)
    local n = 0
    mcsi.every(5, function() n = n + 1 end)
    local sid, cid, st = mcsi.login_to_target{ portal = "]] .. H.tgt .. [[", target = "]] .. H.tgt_iqn .. [[" }
    print("login", st.name)
    mcsi.sleep(60)
    print("ticks", n > 5)
    print("logout", mcsi.logout_from_target(sid).name)
  ]])
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "mcsi: error in an mcsi event callback: ")
  lu.assertStrContains(out, "policy bug")
  lu.assertStrContains(out, "stack traceback:")
  lu.assertStrContains(out, "mcsi: error in an mcsi timer callback: ")
  lu.assertStrContains(out, "attempt to index a nil value")
  lu.assertStrContains(out, "login\tISDSC_SUCCESS")
  lu.assertStrContains(out, "ticks\ttrue")
  lu.assertStrContains(out, "logout\tISDSC_SUCCESS")
end

function TestEvents:test_timers()
  local order = {}
  local t0 = mcsi.now()
  mcsi.timer(30, function() order[#order + 1] = "30" end)
  mcsi.timer(10, function() order[#order + 1] = "10" end)
  local cancelled = mcsi.timer(20, function() order[#order + 1] = "20" end)
  lu.assertTrue(mcsi.cancel(cancelled))
  lu.assertFalse(mcsi.cancel(cancelled))
  local n = 0
  local ev
  ev = mcsi.every(5, function()
    n = n + 1
    if n == 4 then mcsi.cancel(ev) end
  end)
  lu.assertFalse(mcsi.run(), "run returns false when nothing is left")
  lu.assertEquals(order, { "10", "30" })
  lu.assertEquals(n, 4)
  lu.assertTrue(mcsi.now() - t0 >= 29)
  -- stop
  local stopper = mcsi.every(1, function() mcsi.stop() end)
  lu.assertTrue(mcsi.run())
  lu.assertTrue(mcsi.cancel(stopper))
  local t1 = mcsi.now()
  mcsi.sleep(50)
  lu.assertTrue(mcsi.now() - t1 >= 49)
  lu.assertTrue(mcsi.now() - t1 < 500)
  H.assertRaises("milliseconds must be between 0 and 1e12", mcsi.timer, -1, print)
  H.assertRaises("bad argument #2", mcsi.every, 10)
  H.assertRaises("at least 1 ms", mcsi.every, 0, print)
end

function TestEvents:test_poll_and_fd()
  lu.assertIsNumber(mcsi.fd())
  lu.assertTrue(mcsi.fd() >= 0)
  lu.assertEquals(mcsi.next_timeout(), -1)
  local sid = H.login(H.tgt, H.tgt_iqn, { nop_interval_ms = 100, nop_timeout_ms = 100 })
  local t = mcsi.next_timeout()
  lu.assertTrue(t >= 0 and t <= 100, "a NOP timer is armed: " .. t)
  local handled = 0
  local t0 = mcsi.now()
  while mcsi.now() - t0 < 350 do handled = handled + mcsi.poll(50) end
  lu.assertTrue(handled >= 3, "NOPs handled while polling: " .. handled)
  mcsi.logout_from_target(sid)
end

function TestEvents:test_watch()
  -- a file that poll() always finds readable: /dev/null, opened here; its fd
  -- is the highest of ours that points there
  local devnull = assert(io.open("/dev/null"))
  local fdnum
  local p = io.popen("ls -l /proc/" .. H.pid() .. "/fd")
  for line in p:lines() do
    local n, what = line:match(" (%d+) %-> (.*)$")
    if n and what == "/dev/null" and (not fdnum or tonumber(n) > fdnum) then fdnum = tonumber(n) end
  end
  p:close()
  lu.assertNotNil(fdnum)
  local fired, id
  id = mcsi.watch(fdnum, function(fd)
    fired = fd
    mcsi.cancel(id)
  end)
  lu.assertFalse(mcsi.run(), "run ends when the watcher is cancelled")
  lu.assertEquals(fired, fdnum)
  devnull:close()
  H.assertRaises("not an open file descriptor", mcsi.watch, -3, print)
  H.assertRaises("not an open file descriptor", mcsi.watch, 999, print)
end

H.finish()
