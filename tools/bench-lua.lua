-- SPDX-License-Identifier: LGPL-2.1-or-later
-- bench-lua.lua: the Lua side of tools/bench-lua.sh, run by the mcsi program.
--   mcsi tools/bench-lua.lua calls N        -> "lua_ns_per_call <ns>" (same operation as bench-lua.c)
--   mcsi tools/bench-lua.lua hold PORTAL IQN SESSIONS -> logs in SESSIONS x 4 connections, prints
--                                              "ready <connections>", then waits in the REPL loop
local mode = arg[1]
if mode == "calls" then
  local n = tonumber(arg[2]) or 2000000
  local remove = mcsi.remove_connection_from_session
  for i = 1, 1000 do remove(0x7777, i) end            -- warm up
  collectgarbage()
  local t0 = os.clock()
  for i = 1, n do remove(0x7777, i) end
  local dt = os.clock() - t0
  print(string.format("lua_ns_per_call %.1f", dt * 1e9 / n))
elseif mode == "hold" then
  local portal, iqn, nsess = arg[2], arg[3], tonumber(arg[4]) or 25
  local p2 = portal:gsub("^127%.0%.0%.1:", "127.0.0.2:")
  local conns = 0
  for _ = 1, nsess do
    local sid, _, st = mcsi.login_to_target{ portal = portal, target = iqn }
    assert(sid, tostring(st))
    conns = conns + 1
    for k = 1, 3 do
      local cid = mcsi.add_connection_to_session(sid, k % 2 == 1 and p2 or portal)
      if cid then conns = conns + 1 end
    end
  end
  print("ready " .. conns)
  io.stdout:flush()
end
