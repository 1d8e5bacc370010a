-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_demo.lua: the README's main job (scripts/demo.lua, run by `make demo`)
-- runs end to end against the harness's tgt: login, LUNs, failover.lua at 4
-- connections, verified I/O through two target-side drops, removal, logout.
local H = require "helper"
local lu = H.lu

TestDemo = {}

function TestDemo:test_demo_runs_clean()
  local rc, out = H.run(H.shq(H.mcsi_bin) .. " scripts/demo.lua")
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "login_to_target                        ISDSC_SUCCESS")
  lu.assertStrContains(out, "4194304 blocks x 512 bytes")
  lu.assertStrContains(out, "4 connections")
  local writes = tonumber(out:match("(%d+) verified writes, 0 mismatches, 0 failed operations"))
  lu.assertNotNil(writes, out)
  lu.assertTrue(writes > 100, out)
  local _, failed = out:gsub("%] failed ", "")
  local _, added = out:gsub("%] add ", "")
  lu.assertEquals(failed, 2, out)            -- both target-side drops seen
  lu.assertEquals(added, 5, out)             -- 3 to grow, 2 to repair
  lu.assertStrContains(out, "ISDSC_CANNOT_REMOVE_LEADING_CONNECTION")
  lu.assertStrContains(out, "logout_from_target                     ISDSC_SUCCESS")
end

H.finish()
