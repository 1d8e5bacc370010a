-- SPDX-License-Identifier: LGPL-2.1-or-later
-- health.lua: an example policy (doc/policies.md). Attach it with
--   AttachPolicy { UniqueSessionId = SID, PolicyScript = "health",
--                  Options = { interval_ms = 1000, lun = 0 } }
-- after copying it to policy_dir. It sets the session's load-balance policy
-- to least-queue-depth, probes the LUN with TEST UNIT READY every interval
-- and logs each answer and each connection that fails.
local M = {}

function M.policy(session_id, opts)
  local interval = math.tointeger(opts.interval_ms) or 1000
  local lun = math.tointeger(opts.lun) or 0
  local probes = 0

  -- A blocking call: inside a policy it yields; the loop goes on meanwhile.
  local st = mcsi.set_load_balance_policy(session_id, "least-queue-depth")
  print("health: load-balance least-queue-depth: " .. st.name)

  local info = mcsi.session_info(session_id)
  print(string.format("health: watching %s (%d connection(s))", info.target, info.connection_count))

  -- Events: only this session's reach a policy.
  mcsi.on("conn-failed", function(ev)
    print(string.format("health: connection 0x%x failed: %s", ev.connection_id or 0, ev.reason))
  end)

  -- A timer: each run is an activation of its own, under the budgets.
  local timer = mcsi.every(interval, function()
    local t0 = mcsi.now()
    local tur = mcsi.scsi_test_unit_ready(session_id, lun)
    probes = probes + 1
    print(string.format("health: probe %d: %s in %.1f ms", probes, tur.name, mcsi.now() - t0))
  end)

  -- The object's stop runs when the policy is detached or its session ends.
  return {
    stop = function()
      mcsi.cancel(timer)
      print(string.format("health: stopped after %d probe(s)", probes))
    end,
  }
end

return M
