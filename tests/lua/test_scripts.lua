-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_scripts.lua: the main path of each script in scripts/ through the mcsi
-- program: iscsicli's commands, failover repairing a connection dropped from
-- the target side, drain moving off a portal (and refusing when it is the only
-- path), rebalance measuring and setting a policy.
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi
local M = H.shq(H.mcsi_bin)

TestScripts = {}

function TestScripts:tearDown()
  H.check_clean()
end

function TestScripts:test_iscsicli()
  local code = string.format([[
    iscsicli "QAddTargetPortal %s"
    iscsicli "ListTargetPortals"
    iscsicli "ListTargets"
    local sid, cid, st = iscsicli "QLoginTarget %s"
    local c2 = iscsicli(string.format("QAddConnection 0x%%x * %s %s", sid))
    iscsicli "SessionList"
    iscsicli(string.format("ReadCapacity 0x%%x %d", sid))
    iscsicli("ReportLUNs", sid)
    iscsicli(string.format("ScsiInquiry %%d %d 0 0", sid))
    iscsicli(string.format("RemoveConnection 0x%%x 0x%%x", sid, cid))
    print(iscsicli(string.format("RemoveConnection 0x%%x 0x%%x", sid, c2)).name)
    iscsicli(string.format("RemoveConnection 0x%%x 0x%%x", sid, c2))
    iscsicli(string.format("LogoutTarget 0x%%x", sid))
  ]], H.tgt, H.tgt_iqn, H.tgt2:match("^(.*):"), H.env("MCSI_TGT_PORT"), H.file_lun, H.file_lun)
  local rc, out = H.run(M .. " -e " .. H.shq(code))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "Address and Socket   : " .. H.tgt)
  lu.assertStrContains(out, "Targets List:\n")
  lu.assertStrContains(out, "    " .. H.tgt_iqn)
  lu.assertStrMatches(out, ".*Session Id is 0x%x+\nConnection Id is 0x%x+\n.*")
  lu.assertStrContains(out, "Total of 1 sessions")
  lu.assertStrContains(out, "Number Connections     : 2")
  lu.assertStrContains(out, "Length of block       : 512")
  lu.assertStrContains(out, "LUN list length:")
  lu.assertStrContains(out, "Vendor: ")
  lu.assertStrContains(out, "Leading connection cannot be removed")
  lu.assertStrContains(out, "Status: ISDSC_CANNOT_REMOVE_LEADING_CONNECTION (0xEFFF0064)")
  lu.assertStrContains(out, "ISDSC_SUCCESS\n")
  lu.assertStrContains(out, "Status: ISDSC_INVALID_CONNECTION_ID")
  lu.assertStrContains(out, "The operation completed successfully.")
  -- as a program: commands from stdin, exit 1 when one failed
  local rc2, out2 = H.run("printf 'ListTargets\\nRemoveConnection 5 6\\n' | MCSI_PORTALS=" .. H.tgt .. " "
    .. M .. " scripts/iscsicli.lua --local -")
  lu.assertEquals(rc2, 1, out2)
  lu.assertStrContains(out2, H.tgt_iqn)
  lu.assertStrContains(out2, "Status: ISDSC_INVALID_SESSION_ID")
  local rc3, out3 = H.run(M .. " scripts/iscsicli.lua --local LoginTarget " .. H.istgt_iqn .. " T 127.0.0.1 "
    .. H.env("MCSI_ISTGT_PORT") .. string.rep(" '*'", 13) .. " 0")
  lu.assertEquals(rc3, 0, out3)
  lu.assertStrContains(out3, "Session Id is 0x")
  H.assertRaises("unknown command 'Bogus'", require("mcsi.iscsicli"), "Bogus")
end

function TestScripts:test_failover_repairs()
  local log = os.tmpname()
  local cmd = string.format("%s scripts/failover.lua --target %s --portal %s=2 --portal %s=1 --connections 3 "
    .. "--interval 200 --duration 3 --io %d > %s 2>&1 &", M, H.tgt_iqn, H.tgt, H.tgt2, H.file_lun, H.shq(log))
  os.execute(cmd)
  mcsi.sleep(1200)
  -- drop the connection(s) to 127.0.0.2 from the target side
  H.run(string.format("ss -K -tn 'src 127.0.0.2 and sport = :%s'", H.env("MCSI_TGT_PORT")))
  local t0 = mcsi.now()
  local out = ""
  while mcsi.now() - t0 < 8000 do
    mcsi.sleep(200)
    local f = io.open(log)
    out = f:read("a")
    f:close()
    if out:find("logout", 1, true) then break end
  end
  os.remove(log)
  lu.assertStrContains(out, "login      " .. H.tgt)
  local _, adds = out:gsub("%] add ", "")
  lu.assertTrue(adds >= 3, "2 adds at start, at least 1 repair:\n" .. out)
  lu.assertStrContains(out, "] failed")
  lu.assertStrMatches(out, ".*%d+ reads, 0 failed.*")
  lu.assertStrContains(out, "logout")
  lu.assertStrContains(out, "ISDSC_SUCCESS")
end

function TestScripts:test_drain()
  local rc, out = H.run(string.format("%s scripts/drain.lua --target %s --portal %s --portal %s --drain %s --connections 3",
    M, H.tgt_iqn, H.tgt, H.tgt2, H.tgt2))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "[drain] add      " .. H.tgt)
  lu.assertStrContains(out, "[drain] remove   " .. H.tgt2)
  lu.assertStrMatches(out, ".*%[drain%] done +[%d.:]+ +ISDSC_SUCCESS.*")
  -- the only path is on the portal: refused, nothing touched
  rc, out = H.run(string.format("%s scripts/drain.lua --target %s --portal %s --drain %s --connections 2",
    M, H.tgt_iqn, H.tgt, H.tgt))
  lu.assertEquals(rc, 1, out)
  lu.assertStrMatches(out, ".*%[drain%] refuse +[%d.:]+ +ISDSC_CANT_REMOVE_LAST_CONNECTION.*")
  -- as a library, leading connection on the drained portal: kept as standby
  local drain = require "mcsi.drain"
  local sid, lead = H.login()
  mcsi.add_connection_to_session(sid, H.tgt2)
  local st = drain.drain(sid, H.tgt, { quiet = true })
  H.assertStatus(st, "ISDSC_CANNOT_REMOVE_LEADING_CONNECTION")
  local info = mcsi.session_info(sid)
  lu.assertEquals(info.policy_name, "round-robin-subset")
  for _, c in ipairs(info.connections) do
    if c.id == lead then lu.assertFalse(c.active) end
  end
  mcsi.logout_from_target(sid)
end

function TestScripts:test_rebalance()
  local rc, out = H.run(string.format("%s scripts/rebalance.lua --target %s --lun %d --portal %s --portal %s --probes 5",
    M, H.tgt_iqn, H.file_lun, H.tgt, H.tgt2))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "latency")
  lu.assertStrMatches(out, ".*%[rebalance%] policy (%S+).*ISDSC_SUCCESS.*")
  -- the decision rules
  local rb = require "mcsi.rebalance"
  lu.assertEquals(rb.decide{ [1] = { latency_ms = 1, queue_depth = 0 }, [2] = { latency_ms = 1.1, queue_depth = 0 } }.policy,
    "round-robin")
  lu.assertEquals(rb.decide{ [1] = { latency_ms = 1, queue_depth = 10 }, [2] = { latency_ms = 1, queue_depth = 9 } }.policy,
    "least-queue-depth")
  local d = rb.decide{ [1] = { latency_ms = 1, queue_depth = 0 }, [2] = { latency_ms = 4, queue_depth = 0 } }
  lu.assertEquals(d.policy, "weighted-paths")
  lu.assertEquals(d.paths, { { connection = 1, weight = 100 }, { connection = 2, weight = 25 } })
end

H.finish()
