-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_rebalance.lua: scripts/rebalance.lua when probes fail. TEST UNIT READY
-- to a LUN tgt does not have answers CHECK CONDITION on every path: no latency
-- was measured, so no policy may be picked; the program exits 1.
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi
local M = H.shq(H.mcsi_bin)
local NO_LUN = 77

TestRebalance = {}

function TestRebalance:tearDown()
  H.check_clean()
end

function TestRebalance:test_every_probe_failed_program()
  local rc, out = H.run(string.format("timeout 60 %s scripts/rebalance.lua --target %s --lun %d --portal %s --portal %s "
    .. "--probes 3", M, H.tgt_iqn, NO_LUN, H.tgt, H.tgt2))
  lu.assertEquals(rc, 1, out)
  lu.assertStrContains(out, "measure: ISDSC_SCSI_REQUEST_FAILED")
  lu.assertStrContains(out, "every probe failed")
  lu.assertNotStrContains(out, "[rebalance] policy")
  lu.assertStrContains(out, "policy 2 (round-robin)")                     -- left as it was
  -- periodic mode: every round failed
  rc, out = H.run(string.format("timeout 60 %s scripts/rebalance.lua --target %s --lun %d --portal %s --probes 2 "
    .. "--interval 200 --duration 1", M, H.tgt_iqn, NO_LUN, H.tgt))
  lu.assertEquals(rc, 1, out)
  lu.assertNotStrContains(out, "[rebalance] policy")
  lu.assertStrMatches(out, ".*(%d+) round%(s%), %1 failed.*")
end

function TestRebalance:test_every_probe_failed_library()
  local rb = require "mcsi.rebalance"
  local sid = H.login()
  mcsi.add_connection_to_session(sid, H.tgt2)
  mcsi.set_load_balance_policy(sid, "least-queue-depth")
  local m, st = rb.measure(sid, NO_LUN, { probes = 2 })
  lu.assertNil(m)
  H.assertStatus(st, "ISDSC_SCSI_REQUEST_FAILED")
  lu.assertStrContains(st.message, "every probe failed")
  lu.assertEquals(mcsi.session_info(sid).policy_name, "least-queue-depth")   -- restored, not replaced
  -- a good LUN measures and decides
  m, st = rb.measure(sid, H.file_lun, { probes = 2 })
  lu.assertTrue(st.ok, tostring(st))
  for _, r in pairs(m) do
    lu.assertEquals(r.answered, 2)
    lu.assertTrue(r.latency_ms > 0)
  end
  lu.assertNotNil(rb.decide(m))
  mcsi.logout_from_target(sid)
end

function TestRebalance:test_decide_ignores_failed_probes()
  local rb = require "mcsi.rebalance"
  lu.assertNil(rb.decide{ [1] = { answered = 0, queue_depth = 0 }, [2] = { answered = 0, queue_depth = 0 } })
  local st = rb.apply(1, { [1] = { answered = 0, queue_depth = 0 } }, { quiet = true })
  H.assertStatus(st, "ISDSC_NO_CONNECTION_AVAILABLE")
  -- one silent path: weighted paths, the silent one at weight 1
  local d = rb.decide{ [1] = { latency_ms = 1, queue_depth = 0, answered = 3 }, [2] = { answered = 0, queue_depth = 0 } }
  lu.assertEquals(d.policy, "weighted-paths")
  lu.assertEquals(d.paths, { { connection = 1, weight = 100 }, { connection = 2, weight = 1 } })
end

H.finish()
