-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_lifetime.lua: handles and the end of a program (issue 8). Garbage
-- collection of a Session or Connection never logs a session out or removes
-- a connection (luv's rule for live handles); sessions end by logout, by a
-- <close> variable, or at exit, where every session (the flat API's too) is
-- logged out cleanly, also after os.exit. The target side is checked:
-- tgtadm lists the connections of tgt, and istgt logs "Logout from NAME"
-- only for a Logout (a dropped connection logs nothing of the kind).
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi

TestLifetime = {}

function TestLifetime:tearDown()
  H.check_clean()
end

local function tgt_conns(initiator)
  local _, out = H.run("TGT_IPC_SOCKET=" .. H.env("MCSI_TGT_IPC") .. " tgtadm -C 0 --lld iscsi --op show --mode conn --tid 1")
  local n = 0
  for _ in out:gmatch("Initiator: " .. initiator:gsub("%p", "%%%0")) do n = n + 1 end
  return n
end

local function istgt_logouts(initiator)
  local f = assert(io.open(H.env("MCSI_HARNESS_DIR") .. "/istgt.log"))
  local n = 0
  for line in f:lines() do
    if line:find("Logout from " .. initiator .. " ", 1, true) then n = n + 1 end
  end
  f:close()
  return n
end

local function unique(what)
  return string.format("iqn.2026-11.org.mcsi:%s-%d-%d", what, os.time(), math.random(1, 1e6))
end

function TestLifetime:test_collecting_handles_ends_nothing()
  local name = mcsi.initiator()
  local before = tgt_conns(name)
  mcsi.login{ portal = H.tgt, target = H.tgt_iqn }             -- unassigned, as at the REPL
  local s = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
  s:add_connection(H.tgt2)                                      -- unassigned Connection
  collectgarbage()
  collectgarbage()
  mcsi.poll(50)
  lu.assertEquals(#mcsi.sessions(), 2, "no session logged out by the collector")
  lu.assertEquals(s:info().connection_count, 2, "no connection removed by the collector")
  lu.assertEquals(tgt_conns(name) - before, 3, "tgt still has the three connections")
  -- the unassigned one is still reachable as an object of the engine
  for _, info in ipairs(mcsi.sessions()) do
    lu.assertTrue(mcsi.logout_from_target(info.id).ok)
  end
  lu.assertTrue(s.closed == false)
  lu.assertEquals(tgt_conns(name) - before, 0)
end

function TestLifetime:test_close_still_ends_them()
  local name = mcsi.initiator()
  local before = tgt_conns(name)
  do
    local s <close> = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
    do
      local c <close> = s:add_connection(H.tgt2)
      lu.assertEquals(tgt_conns(name) - before, 2)
    end
    lu.assertEquals(s:info().connection_count, 1, "<close> removed the connection")
  end
  lu.assertEquals(#mcsi.sessions(), 0, "<close> logged the session out")
  lu.assertEquals(tgt_conns(name) - before, 0)
end

-- A child program ends in one of several ways; every session it left is
-- logged out: a flat-API session and an object session on istgt (the Logout
-- appears in istgt's log), and an object session with two connections on tgt.
local function child_leaves_sessions(ending, interp)
  local name = unique("exit")
  local code = string.format([[
    local mcsi = require "mcsi"
    mcsi.initiator{ name = %q }
    local sid, _, st = mcsi.login_to_target{ portal = %q, target = %q }
    assert(st.ok, tostring(st))
    local s = assert(mcsi.login{ portal = %q, target = %q })
    local t = assert(mcsi.login{ portal = %q, target = %q })
    assert(t:add_connection(%q))
    print("sessions", #mcsi.sessions())
    %s
  ]], name, H.istgt, H.istgt_iqn, H.istgt2, H.istgt_iqn, H.tgt, H.tgt_iqn, H.tgt2, ending)
  local f = os.tmpname()
  local fh = io.open(f, "w")
  fh:write(code)
  fh:close()
  local rc, out = H.run((interp or H.interp) .. " " .. H.shq(f))
  os.remove(f)
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "sessions\t3")
  lu.assertEquals(istgt_logouts(name), 2, ending .. ": both istgt sessions logged out (not dropped)")
  lu.assertEquals(tgt_conns(name), 0, ending .. ": tgt has no connection of it left")
end

function TestLifetime:test_exit_logs_every_session_out()
  child_leaves_sessions("-- the end of the script")
  child_leaves_sessions("os.exit(0)")
  child_leaves_sessions("os.exit(0, true)")
  child_leaves_sessions("mcsi.timer(0, function() os.exit(0) end); mcsi.run()")
  child_leaves_sessions("-- the mcsi program", H.mcsi_bin)
end

H.finish()
