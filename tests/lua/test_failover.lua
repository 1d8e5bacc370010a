-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_failover.lua: scripts/failover.lua when its goal cannot be met at once:
-- the first login fails (nothing listens: MCSI_FREE_PORT; or tgt refuses the
-- initiator for a while), more connections than the target allows. The script
-- must keep retrying with back-off until --duration ends, never raise, and exit
-- 1 with a failing result Status when it ends without its connections.
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi
local M = H.shq(H.mcsi_bin)

TestFailover = {}

function TestFailover:tearDown()
  H.check_clean()
end

local function failover(argv)
  return H.run(string.format("timeout 60 %s scripts/failover.lua --target %s %s", M, H.tgt_iqn, argv))
end

local function count(s, pattern)
  return select(2, s:gsub(pattern, ""))
end

function TestFailover:test_first_login_fails_keeps_retrying()
  local dead = "127.0.0.1:" .. H.env("MCSI_FREE_PORT")
  local rc, out = failover("--portal " .. dead .. " --interval 100 --duration 2")
  lu.assertEquals(rc, 1, out)                                       -- not 124 (hung), not a raise
  lu.assertNotStrContains(out, "bad argument")
  lu.assertNotStrContains(out, "traceback")
  lu.assertTrue(count(out, "%] login +" .. dead:gsub("%.", "%%.")) >= 2, "retried:\n" .. out)
  lu.assertStrContains(out, "] backoff")
  lu.assertStrMatches(out, ".*%] result +%- +ISDSC_CONNECTION_FAILED %(0xEFFF0003%): no session.*")
end

-- tgt refuses every initiator (unbound), then accepts again: the script logs in
-- on a later try and reaches its connections: exit 0.
function TestFailover:test_login_refused_then_accepted()
  local tgtadm = string.format("TGT_IPC_SOCKET=%s tgtadm -C 0 --lld iscsi --op %%s --mode target --tid 1 -I ALL",
    H.shq(H.env("MCSI_TGT_IPC")))
  local log = os.tmpname()
  local rc0, o0 = H.run(string.format(tgtadm, "unbind"))
  lu.assertEquals(rc0, 0, o0)
  local ok, err = pcall(function()
    os.execute(string.format("(timeout 60 %s scripts/failover.lua --target %s --portal %s --portal %s --connections 2 "
      .. "--interval 100 --duration 6 > %s 2>&1; echo \"exit $?\" >> %s) &", M, H.tgt_iqn, H.tgt, H.tgt2,
      H.shq(log), H.shq(log)))
    local out = ""
    for _ = 1, 100 do                            -- until the first refused login is logged
      mcsi.sleep(100)
      local f = io.open(log)
      out = f:read("a")
      f:close()
      if out:find("] backoff", 1, true) then break end
    end
    lu.assertStrContains(out, "] backoff")
  end)
  local rc1, o1 = H.run(string.format(tgtadm, "bind"))
  lu.assertEquals(rc1, 0, o1)
  lu.assertTrue(ok, tostring(err))
  local out = ""
  for _ = 1, 300 do
    mcsi.sleep(100)
    local f = io.open(log)
    out = f:read("a")
    f:close()
    if out:find("exit %d+") then break end
  end
  os.remove(log)
  lu.assertStrContains(out, "exit 0\n")
  lu.assertStrMatches(out, ".*%] login +[%d.:]+ +ISDSC_[A-Z_]+ %(0xEFFF.*")      -- refused first
  lu.assertStrMatches(out, ".*%] login +[%d.:]+ +ISDSC_SUCCESS.*")                 -- then in
  lu.assertStrMatches(out, ".*%] add +[%d.:]+ +ISDSC_SUCCESS.*")
  lu.assertStrContains(out, "the session has its 2 healthy connections")
end

function TestFailover:test_more_connections_than_allowed_fails()
  -- every harness target allows MaxConnections 4
  local rc, out = failover(string.format("--portal %s --portal %s --connections 6 --interval 100 --duration 1",
    H.tgt, H.tgt2))
  lu.assertEquals(rc, 1, out)
  lu.assertStrMatches(out, ".*%] result +%- +ISDSC_TOO_MANY_CONNECTIONS %(0xEFFF000E%): the session has 4 of 6.*")
  lu.assertStrContains(out, "logout")
end

function TestFailover:test_goal_met_exits_0()
  local rc, out = failover(string.format("--portal %s=2 --portal %s --connections 3 --duration 1 --io %d",
    H.tgt, H.tgt2, H.file_lun))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "the session has its 3 healthy connections")
  lu.assertStrMatches(out, ".*%d+ reads, 0 failed.*")
end

-- As a library: no session and nothing to log in to is a programmer error;
-- a session that cannot be made is retried, never raised.
function TestFailover:test_library_start_without_session()
  local fo = require "mcsi.failover"
  H.assertRaises("a session or a target is needed", fo.start, { portals = { H.tgt } })
  H.assertRaises("weight must be an integer >= 1", fo.start, { target = "x", portals = { { portal = H.tgt, weight = 0 } } })
  local f = fo.start{ target = H.tgt_iqn, portals = { "127.0.0.1:" .. H.env("MCSI_FREE_PORT") }, quiet = true,
                      interval_ms = 50 }
  mcsi.sleep(300)
  f:stop()
  lu.assertNil(f.session)
  local st = f:status()
  H.assertStatus(st, "ISDSC_CONNECTION_FAILED")
  lu.assertTrue(#f.log >= 2)
end

H.finish()
