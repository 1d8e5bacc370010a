-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_limits.lua: the binding has no silent limits (issue 8): a listing
-- shows every connection of a session (not the first 8), every watched fd is
-- polled (not the first 64), every Lua timer that is due runs in one turn
-- (not 32 of them).
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi

TestLimits = {}

function TestLimits:tearDown()
  H.check_clean()
end

local function max_connections(n)
  return os.execute("TGT_IPC_SOCKET=" .. H.env("MCSI_TGT_IPC") .. " tgtadm -C 0 --lld iscsi --op update --mode target"
    .. " --tid 1 --name MaxConnections --value " .. n .. " >/dev/null 2>&1")
end

function TestLimits:test_every_connection_listed()
  lu.assertTrue(max_connections(16), "tgt allows 16 connections")
  local ok, err = pcall(function() self:every_connection_listed() end)
  max_connections(4)                    -- what the harness set
  if not ok then error(err, 0) end
end

function TestLimits:every_connection_listed()
  local s <close> = mcsi.login{ portal = H.tgt, target = H.tgt_iqn, max_connections = 16 }
  lu.assertNotNil(s)
  local N = 12
  local conns = {}
  for i = 2, N do
    local c, st = s:add_connection(i % 2 == 0 and H.tgt2 or H.tgt)
    lu.assertTrue(st.ok, "connection " .. i .. ": " .. tostring(st))
    conns[#conns + 1] = c
  end
  local info = s:info()
  lu.assertEquals(info.connection_count, N)
  lu.assertEquals(#info.connections, N, "session_info lists every connection")
  lu.assertEquals(#s:connections(), N, "s:connections() gives a handle for each")
  local last = conns[#conns]
  lu.assertEquals(last:info().id, last.id, "connection_info finds the 12th")
  lu.assertStrContains(tostring(last), "cid ")
  local listed = mcsi.sessions()[1]
  lu.assertEquals(#listed.connections, N, "mcsi.sessions() too")
end

function TestLimits:test_every_watcher_and_timer()
  local N = 100
  local files = {}
  for i = 1, N do files[i] = assert(io.open("/dev/null")) end
  local fds = {}
  local p = io.popen("ls -l /proc/" .. H.pid() .. "/fd")
  for line in p:lines() do
    local n, what = line:match(" (%d+) %-> (.*)$")
    if n and what == "/dev/null" then fds[#fds + 1] = tonumber(n) end
  end
  p:close()
  lu.assertTrue(#fds >= N)
  local seen, ids = {}, {}
  for _, fd in ipairs(fds) do
    ids[#ids + 1] = mcsi.watch(fd, function(f) seen[f] = (seen[f] or 0) + 1 end)
  end
  local fired = 0
  for _ = 1, N do mcsi.timer(0, function() fired = fired + 1 end) end
  mcsi.poll(0)
  local n = 0
  for _ in pairs(seen) do n = n + 1 end
  lu.assertEquals(n, #fds, "every watched fd was polled in one turn")
  lu.assertEquals(fired, N, "every due timer ran in one turn")
  for _, id in ipairs(ids) do lu.assertTrue(mcsi.cancel(id)) end
  for _, f in ipairs(files) do f:close() end
  lu.assertEquals(mcsi.next_timeout(), -1, "no timer left")
end

H.finish()
