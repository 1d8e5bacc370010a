-- SPDX-License-Identifier: LGPL-2.1-or-later
--[[
rebalance.lua: choose a session's load-balance policy and path weights from
measured latency and queue depth.

Measuring: each connection's latency is probed by making it the only path for
a moment (policy failover-only with it as primary) and timing `probes` TEST
UNIT READY commands; queue depth is the mean of the connections' queue_depth
sampled meanwhile (what other I/O of the process has outstanding). The
previous policy is restored before deciding.

Deciding (the spread is slowest / fastest mean latency):
  spread <= 1.25 and mean queue depth >= 8   -> 4 least queue depth
  spread <= 1.25                             -> 2 round robin
  spread >  1.25                             -> 5 weighted paths, weight of a
                                                path = round(100 * fastest / its latency)
Each change is logged with its Status.

As a library (mcsi preloads it as "mcsi.rebalance"):

  local rebalance = require "mcsi.rebalance"
  local m = rebalance.measure(sid, lun, { probes = 20 })   -- { [cid] = { latency_ms =, queue_depth = } }
  local st, decision = rebalance.apply(sid, m)             -- sets the policy (and weights)
  local r = rebalance.every(sid, lun, 5000)                 -- periodically; r:stop()

A probe that fails (CHECK CONDITION, timeout, no connection) is not a latency:
a connection's latency is the mean over its answered probes. A connection that
answered none is left out of the comparison (weight 1 under weighted paths); when
no probe of any connection was answered, measure() fails with the probes' Status
and nothing is changed.

As a program (logs in, one connection per portal, measures and applies once
or every --interval ms for --duration s, shows the session, logs out):

  mcsi scripts/rebalance.lua --target IQN --lun N --portal A --portal B [--probes N]
      [--interval MS --duration S]

  Exit status: 0 when a policy was chosen from answered probes and set (in every
  round, with --interval); 1 when the login failed, every probe failed, or the
  policy could not be set; 2 for a bad command line. --help prints the options.
]]
local modname = ...
local mcsi = require "mcsi"
local M = {}

local function say(quiet, fmt, ...)
  if not quiet then
    io.write("[rebalance] ", string.format(fmt, ...), "\n")
    io.flush()
  end
end

-- Makes connection c the only path and times probes TEST UNIT READYs; the
-- latency counts answered probes only (nil when none was answered).
local function probe(sid, lun, c, probes)
  local st = mcsi.set_load_balance_policy(sid, "failover-only", { { connection = c.id, primary = true } })
  if not st.ok then return nil, st end
  local qd, busy_ms, answered, failure = 0, 0, 0, nil
  for _ = 1, probes do
    local t0 = mcsi.now()
    local pst = mcsi.scsi_test_unit_ready(sid, lun)
    if pst.ok then
      answered, busy_ms = answered + 1, busy_ms + (mcsi.now() - t0)
    else
      failure = pst
    end
    local i2 = mcsi.session_info(sid)
    for _, c2 in ipairs(i2 and i2.connections or {}) do qd = qd + c2.queue_depth end
  end
  return { portal = c.portal, latency_ms = answered > 0 and busy_ms / answered or nil, queue_depth = qd / probes,
           answered = answered, probes = probes, failure = failure }
end

-- Puts back the policy and paths measure() found.
local function restore(sid, policy, saved)
  if policy == 1 then
    local any
    for _, p in ipairs(saved) do any = any or p.primary end
    if not any then saved = nil end
  end
  return mcsi.set_load_balance_policy(sid, policy >= 1 and policy or 2, saved)
end

-- { [cid] = { portal =, latency_ms =, queue_depth =, answered =, probes =, failure = } }, Status.
-- Fails (nil, Status) when no probe of any connection was answered.
function M.measure(sid, lun, opts)
  opts = opts or {}
  if type(sid) == "userdata" then sid = sid.id end
  local probes = opts.probes or 10
  local info, st = mcsi.session_info(sid)
  if not info then return nil, st end
  local saved = {}
  for _, c in ipairs(info.connections) do
    saved[#saved + 1] = { connection = c.id, weight = c.weight, active = c.active, primary = c.primary }
  end
  local result, answered, failure = {}, 0, nil
  for _, c in ipairs(info.connections) do
    local r, pst = probe(sid, lun, c, probes)
    if not r then st = pst break end
    result[c.id] = r
    answered = answered + r.answered
    failure = r.failure or failure
  end
  local rst = restore(sid, info.policy, saved)
  if not st.ok then return nil, st end
  if answered == 0 then
    return nil, mcsi.Status.new(failure and failure.code or "ISDSC_NO_CONNECTION_AVAILABLE",
      string.format("every probe failed (%d TEST UNIT READY on each of %d connections), nothing to decide from%s",
        probes, #info.connections, failure and (": last: " .. failure.name .. ": " .. failure.message) or ""))
  end
  return result, rst
end

-- The policy for measurements m; nil when no connection answered a probe.
-- Connections that answered none are kept out of the comparison and get
-- weight 1 under weighted paths (which is then chosen).
function M.decide(m)
  local fastest, slowest, qd, n, silent = math.huge, 0, 0, 0, {}
  for cid, r in pairs(m) do
    if r.latency_ms then
      fastest = math.min(fastest, r.latency_ms)
      slowest = math.max(slowest, r.latency_ms)
      qd = qd + r.queue_depth
      n = n + 1
    else
      silent[#silent + 1] = cid
    end
  end
  if n == 0 then return nil end
  qd = qd / n
  local spread = fastest > 0 and slowest / fastest or 1
  if spread <= 1.25 and #silent == 0 then
    return { policy = qd >= 8 and "least-queue-depth" or "round-robin", spread = spread, queue_depth = qd }
  end
  local paths = {}
  for cid, r in pairs(m) do
    local w = r.latency_ms and math.max(1, math.floor(100 * fastest / math.max(r.latency_ms, 1e-6) + 0.5)) or 1
    paths[#paths + 1] = { connection = cid, weight = w }
  end
  table.sort(paths, function(a, b) return a.connection < b.connection end)
  return { policy = "weighted-paths", paths = paths, spread = spread, queue_depth = qd }
end

function M.apply(sid, m, opts)
  opts = opts or {}
  if type(sid) == "userdata" then sid = sid.id end
  local d = M.decide(m)
  if not d then
    local st = mcsi.Status.new("ISDSC_NO_CONNECTION_AVAILABLE", "no connection answered a probe: policy left as it was")
    say(opts.quiet, "policy unchanged -> %s", tostring(st))
    return st, nil
  end
  local st = mcsi.set_load_balance_policy(sid, d.policy, d.paths)
  local ws = {}
  for _, p in ipairs(d.paths or {}) do ws[#ws + 1] = string.format("0x%x=%d", p.connection, p.weight) end
  say(opts.quiet, "policy %-18s spread %.2f qd %.1f %s -> %s", d.policy, d.spread, d.queue_depth,
      table.concat(ws, " "), tostring(st))
  return st, d
end

-- Measures and applies every interval_ms; r.rounds, r.failures (rounds whose
-- measure or apply failed), r.last (the last decision), r.status (the last Status).
function M.every(sid, lun, interval_ms, opts)
  local r = { rounds = 0, failures = 0 }
  r.timer = mcsi.every(interval_ms, function()
    r.rounds = r.rounds + 1
    local m, st = M.measure(sid, lun, opts)
    if m then
      st, r.last = M.apply(sid, m, opts)
    else
      say(opts and opts.quiet, "measure: %s", tostring(st))
    end
    r.status = st
    if not st.ok then r.failures = r.failures + 1 end
  end)
  function r.stop() mcsi.cancel(r.timer) end
  return r
end

-- The policy entry (mcsid: PolicyScript "rebalance", Options { lun =,
-- interval_ms =, probes = }): measures and applies every interval_ms
-- (default 60000) on LUN lun (default 0).
function M.policy(session_id, opts)
  opts = opts or {}
  return M.every(session_id, opts.lun or 0, opts.interval_ms or 60000, opts)
end

if modname == "mcsi.rebalance" then return M end

-- ---- the program -------------------------------------------------------------

local o = require("mcsi.args").parse({ ... }, {
  program = "rebalance.lua",
  usage = "mcsi scripts/rebalance.lua --target IQN --lun N --portal A [--portal B...] [--probes N] "
    .. "[--interval MS --duration S]",
  about = "Logs in (one connection per portal), measures each path and sets the load-balance policy, "
    .. "once or every --interval ms for --duration s; shows the session and logs out.",
  options = {
    { "target", "name", "IQN", "the target's iSCSI name", required = true },
    { "lun", "lun", "N", "the LUN the probes (TEST UNIT READY) go to", required = true },
    { "portal", "portal", "ADDR", "a portal; one connection each", many = true, required = true },
    { "probes", "count", "N", "probes per connection (default 10)" },
    { "interval", "ms", "MS", "measure and apply every MS milliseconds (with --duration)" },
    { "duration", "seconds", "S", "for S seconds (with --interval)" },
  },
  rules = function(a)
    if (a.interval == nil) ~= (a.duration == nil) then return "--interval and --duration go together" end
  end,
  exit_codes = "0 a policy was chosen from answered probes and set (every round, with --interval), "
    .. "1 the login failed, every probe failed, or setting the policy failed, 2 bad arguments",
})

local sid, _, st = mcsi.login_to_target{ portal = o.portal[1], target = o.target }
print("login " .. o.portal[1] .. ": " .. tostring(st))
if not sid then os.exit(1) end
for i = 2, #o.portal do
  print("add " .. o.portal[i] .. ": " .. tostring(select(2, mcsi.add_connection_to_session(sid, o.portal[i]))))
end
local ok
if o.interval then
  local r = M.every(sid, o.lun, o.interval, { probes = o.probes })
  mcsi.timer(o.duration * 1000, mcsi.stop)
  mcsi.run()
  r.stop()
  print(string.format("%d round(s), %d failed", r.rounds, r.failures))
  ok = r.rounds > 0 and r.failures == 0
else
  local m, mst = M.measure(sid, o.lun, { probes = o.probes })
  if m then
    for cid, r in pairs(m) do
      print(string.format("connection 0x%016x %-22s %s  queue depth %.2f", cid, r.portal,
        r.latency_ms and string.format("latency %.3f ms", r.latency_ms)
          or string.format("no probe answered (%d): %s", r.probes, tostring(r.failure)), r.queue_depth))
    end
    ok = M.apply(sid, m).ok
  else
    print("measure: " .. tostring(mst))
    ok = false
  end
end
print(require("mcsi.pretty").format(mcsi.sessions()))
print("logout: " .. tostring(mcsi.logout_from_target(sid)))
os.exit(ok and 0 or 1)
