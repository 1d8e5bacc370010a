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

As a program (logs in, one connection per portal, measures and applies once
or every --interval ms for --duration s, shows the session, logs out):

  mcsi scripts/rebalance.lua --target IQN --lun N --portal A --portal B [--probes N]
      [--interval MS --duration S]
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

function M.measure(sid, lun, opts)
  opts = opts or {}
  if type(sid) == "userdata" then sid = sid.id end
  local probes = opts.probes or 10
  local info, st = mcsi.session_info(sid)
  if not info then return nil, st end
  local saved_policy = info.policy
  local saved = {}
  for _, c in ipairs(info.connections) do
    saved[#saved + 1] = { connection = c.id, weight = c.weight, active = c.active, primary = c.primary }
  end
  local result = {}
  for _, c in ipairs(info.connections) do
    st = mcsi.set_load_balance_policy(sid, "failover-only", { { connection = c.id, primary = true } })
    if not st.ok then break end
    local qd, t0 = 0, mcsi.now()
    local ok = 0
    for _ = 1, probes do
      if mcsi.scsi_test_unit_ready(sid, lun).ok then ok = ok + 1 end
      local i2 = mcsi.session_info(sid)
      for _, c2 in ipairs(i2 and i2.connections or {}) do qd = qd + c2.queue_depth end
    end
    result[c.id] = { portal = c.portal, latency_ms = (mcsi.now() - t0) / probes, queue_depth = qd / probes,
                     answered = ok }
  end
  -- restore what was there
  if saved_policy == 1 then
    local any
    for _, p in ipairs(saved) do any = any or p.primary end
    if not any then saved = nil end
  end
  local rst = mcsi.set_load_balance_policy(sid, saved_policy >= 1 and saved_policy or 2, saved)
  if not st.ok then return nil, st end
  return result, rst
end

function M.decide(m)
  local fastest, slowest, qd, n = math.huge, 0, 0, 0
  for _, r in pairs(m) do
    fastest = math.min(fastest, r.latency_ms)
    slowest = math.max(slowest, r.latency_ms)
    qd = qd + r.queue_depth
    n = n + 1
  end
  if n == 0 then return nil end
  qd = qd / n
  local spread = fastest > 0 and slowest / fastest or 1
  if spread <= 1.25 then
    return { policy = qd >= 8 and "least-queue-depth" or "round-robin", spread = spread, queue_depth = qd }
  end
  local paths = {}
  for cid, r in pairs(m) do
    local w = math.max(1, math.floor(100 * fastest / math.max(r.latency_ms, 1e-6) + 0.5))
    paths[#paths + 1] = { connection = cid, weight = w }
  end
  table.sort(paths, function(a, b) return a.connection < b.connection end)
  return { policy = "weighted-paths", paths = paths, spread = spread, queue_depth = qd }
end

function M.apply(sid, m, opts)
  opts = opts or {}
  if type(sid) == "userdata" then sid = sid.id end
  local d = M.decide(m)
  if not d then return mcsi.Status.new("ISDSC_NO_CONNECTION_AVAILABLE", "nothing measured"), nil end
  local st = mcsi.set_load_balance_policy(sid, d.policy, d.paths)
  local ws = {}
  for _, p in ipairs(d.paths or {}) do ws[#ws + 1] = string.format("0x%x=%d", p.connection, p.weight) end
  say(opts.quiet, "policy %-18s spread %.2f qd %.1f %s -> %s", d.policy, d.spread, d.queue_depth,
      table.concat(ws, " "), tostring(st))
  return st, d
end

function M.every(sid, lun, interval_ms, opts)
  local r = {}
  r.timer = mcsi.every(interval_ms, function()
    local m, st = M.measure(sid, lun, opts)
    if m then r.last = select(2, M.apply(sid, m, opts)) else say(opts and opts.quiet, "measure: %s", tostring(st)) end
  end)
  function r.stop() mcsi.cancel(r.timer) end
  return r
end

if modname == "mcsi.rebalance" then return M end

-- ---- the program -------------------------------------------------------------

local args, o = { ... }, { portals = {} }
local function usage(msg)
  io.stderr:write("rebalance.lua: ", msg, "\nusage: mcsi scripts/rebalance.lua --target IQN --lun N --portal A "
    .. "[--portal B...] [--probes N] [--interval MS --duration S]\n")
  os.exit(2)
end
for i = 1, #args, 2 do
  local a, v = args[i], args[i + 1]
  if v == nil then usage("missing value for " .. a) end
  if a == "--target" then o.target = v
  elseif a == "--lun" then o.lun = tonumber(v)
  elseif a == "--portal" then o.portals[#o.portals + 1] = v
  elseif a == "--probes" then o.probes = tonumber(v)
  elseif a == "--interval" then o.interval = tonumber(v)
  elseif a == "--duration" then o.duration = tonumber(v)
  else usage("unknown option " .. a) end
end
if not o.target or not o.lun or #o.portals == 0 then usage("--target, --lun and --portal are needed") end

local sid, _, st = mcsi.login_to_target{ portal = o.portals[1], target = o.target }
print("login " .. o.portals[1] .. ": " .. tostring(st))
if not sid then os.exit(1) end
for i = 2, #o.portals do print("add " .. o.portals[i] .. ": " .. tostring(select(2, mcsi.add_connection_to_session(sid, o.portals[i])))) end
local ok = true
if o.interval and o.duration then
  local r = M.every(sid, o.lun, o.interval, { probes = o.probes })
  mcsi.timer(o.duration * 1000, mcsi.stop)
  mcsi.run()
  r.stop()
  ok = r.last ~= nil
else
  local m, mst = M.measure(sid, o.lun, { probes = o.probes })
  if m then
    for cid, r in pairs(m) do
      print(string.format("connection 0x%016x %-22s latency %.3f ms  queue depth %.2f", cid, r.portal, r.latency_ms, r.queue_depth))
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
