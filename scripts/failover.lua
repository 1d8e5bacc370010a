--[[
failover.lua: keep a session at N healthy connections across the portals it is
given. Failed connections are replaced (on the portal that is most under its
weight), portals that keep failing are backed off exponentially, and every
action is logged with its Status.

As a program (the session lives in this process; Ctrl-C or --duration ends it
with a logout):

  mcsi scripts/failover.lua --target IQN --portal 127.0.0.1:3260=2 \
      --portal 127.0.0.2:3260=1 [--connections N] [--chap-user U --chap-secret S]
      [--interval MS] [--duration S] [--io LUN] [--quiet]

  --portal ADDR[=WEIGHT]  a portal and its weight (default 1); repeatable
  --connections N         connections to keep (default: the number of portals)
  --interval MS           health check period (default 500); a failure event
                          triggers a check at once
  --duration S            stop after S seconds (default: run until interrupted)
  --io LUN                read one block of LUN every 100 ms and log failures

As a library (mcsi preloads it as "mcsi.failover"), in the REPL or a script:

  local failover = require "mcsi.failover"
  local f = failover.start{ session = sid, portals = { { portal = "127.0.0.1:3260", weight = 2 },
                            { portal = "127.0.0.2:3260" } }, connections = 3 }
  ... mcsi.run() / mcsi.sleep(ms) / the REPL prompt keeps it working ...
  f:check()   -- one repair pass now;   f:stop()   -- unregister
  f.log       -- the actions, each { time =, action =, portal =, status = }

Back-off: after a failed add on a portal, the portal is skipped for
min(200 ms * 2^(failures-1), 10 s); a success resets it. When the session
itself fails (session-failed), the script logs in again through the portals
in weight order.
]]
local modname = ...
local mcsi = require "mcsi"

local M = {}
M.__index = M

local BACKOFF_MS, BACKOFF_MAX_MS = 200, 10000

local function log(f, action, portal, st, extra)
  local e = { time = mcsi.now(), action = action, portal = portal, status = st, detail = extra }
  f.log[#f.log + 1] = e
  if not f.quiet then
    io.write(string.format("[failover %8.3f] %-10s %-22s %s%s\n", (e.time - f.t0) / 1000, action,
      portal or "-", st and tostring(st) or "", extra and ("  " .. extra) or ""))
    io.flush()
  end
end

-- Connections per portal among the healthy (active or standby) ones.
local function census(f)
  local info = mcsi.session_info(f.session)
  if not info then return nil end
  local per, healthy = {}, 0
  for _, c in ipairs(info.connections) do
    if c.state == "active" or c.state == "standby" then
      healthy = healthy + 1
      per[c.portal] = (per[c.portal] or 0) + 1
    end
  end
  return healthy, per, info
end

-- The portal most under its weight that is not backed off; nil if none.
local function pick(f, per)
  local best, best_score
  local now = mcsi.now()
  for _, p in ipairs(f.portals) do
    local b = f.backoff[p.portal]
    if not b or b.until_ms <= now then
      local score = ((per[p.portal] or 0) + 1) / (p.weight or 1)
      if not best or score < best_score then best, best_score = p, score end
    end
  end
  return best
end

local function failed_on(f, portal, st)
  local b = f.backoff[portal] or { failures = 0 }
  b.failures = b.failures + 1
  local wait = math.min(BACKOFF_MS * 2 ^ (b.failures - 1), BACKOFF_MAX_MS)
  b.until_ms = mcsi.now() + wait
  f.backoff[portal] = b
  log(f, "backoff", portal, st, string.format("%d failure(s), next try in %d ms", b.failures, wait))
end

-- Logs in through the portals in weight order; returns the Status.
local function relogin(f)
  local order = {}
  for i, p in ipairs(f.portals) do order[i] = p end
  table.sort(order, function(a, b) return (a.weight or 1) > (b.weight or 1) end)
  local st
  for _, p in ipairs(order) do
    local b = f.backoff[p.portal]
    if not b or b.until_ms <= mcsi.now() then
      local sid
      sid, _, st = mcsi.login_to_target{ portal = p.portal, target = f.target, chap = f.chap }
      log(f, "login", p.portal, st)
      if sid then
        f.session = sid
        f.backoff[p.portal] = nil
        return st
      end
      failed_on(f, p.portal, st)
    end
  end
  return st
end

-- One repair pass: add connections until there are f.connections healthy ones.
function M:check()
  if self.stopped or self.checking then return end
  self.checking = true
  local healthy, per = census(self)
  if not healthy then
    if self.target then
      log(self, "lost", nil, nil, "session " .. string.format("0x%016x", self.session) .. " is gone")
      relogin(self)
      healthy, per = census(self)
    end
    if not healthy then self.checking = false return end
  end
  while healthy < self.connections do
    local p = pick(self, per)
    if not p then break end                     -- every portal is backing off
    local cid, st = mcsi.add_connection_to_session(self.session, { portal = p.portal, chap = self.chap,
                                                                   weight = p.weight })
    log(self, "add", p.portal, st, cid and string.format("connection 0x%016x", cid) or nil)
    if cid then
      self.backoff[p.portal] = nil
      healthy = healthy + 1
      per[p.portal] = (per[p.portal] or 0) + 1
      self.repairs = self.repairs + 1
    else
      failed_on(self, p.portal, st)
      if st.name == "ISDSC_TOO_MANY_CONNECTIONS" or st.name == "ISDSC_INVALID_SESSION_ID" then break end
    end
  end
  self.checking = false
end

-- Starts keeping opts.session healthy. opts: session (id or mcsi.Session),
-- portals ({ {portal=, weight=}, ... } or strings), connections, chap, interval_ms,
-- target (to log in again if the session fails), quiet.
function M.start(opts)
  local f = setmetatable({ log = {}, backoff = {}, repairs = 0, t0 = mcsi.now(), quiet = opts.quiet,
                           chap = opts.chap, target = opts.target }, M)
  f.session = type(opts.session) == "userdata" and opts.session.id or opts.session
  f.portals = {}
  for i, p in ipairs(opts.portals or {}) do
    f.portals[i] = type(p) == "string" and { portal = p, weight = 1 } or p
  end
  assert(#f.portals > 0, "failover.start: at least one portal")
  f.connections = opts.connections or #f.portals
  f.handlers = {
    mcsi.on("conn-failed", function(ev)
      if ev.session_id ~= f.session then return end
      log(f, "failed", nil, ev.status, string.format("connection 0x%016x: %s", ev.connection_id, ev.reason))
      mcsi.timer(0, function() f:check() end)   -- adding blocks: not from inside the callback
    end),
    mcsi.on("session-failed", function(ev)
      if ev.session_id ~= f.session then return end
      log(f, "sessfail", nil, ev.status, ev.reason)
      mcsi.timer(0, function() f:check() end)
    end),
    mcsi.on("session-recovered", function(ev)
      if ev.session_id == f.session then log(f, "recovered", nil, ev.status, ev.reason) end
    end),
  }
  f.timer = mcsi.every(opts.interval_ms or 500, function() f:check() end)
  if not f.session then relogin(f) end
  f:check()
  return f
end

function M:stop()
  self.stopped = true
  for _, h in ipairs(self.handlers) do mcsi.off(h) end
  mcsi.cancel(self.timer)
end

if modname == "mcsi.failover" then return M end

-- ---- the program -------------------------------------------------------------

local function usage(msg)
  io.stderr:write("failover.lua: ", msg, "\nusage: mcsi scripts/failover.lua --target IQN --portal ADDR[=WEIGHT]... "
    .. "[--connections N] [--chap-user U --chap-secret S] [--interval MS] [--duration S] [--io LUN] [--quiet]\n")
  os.exit(2)
end

local args, o = { ... }, { portals = {} }
local i = 1
while i <= #args do
  local a, v = args[i], args[i + 1]
  if a == "--quiet" then o.quiet = true; i = i + 1
  else
    if v == nil then usage("missing value for " .. a) end
    if a == "--target" then o.target = v
    elseif a == "--portal" then
      local p, w = v:match("^(.-)=(%d+)$")
      o.portals[#o.portals + 1] = { portal = p or v, weight = tonumber(w) or 1 }
    elseif a == "--connections" then o.connections = tonumber(v)
    elseif a == "--chap-user" then o.chap = o.chap or {}; o.chap.username = v
    elseif a == "--chap-secret" then o.chap = o.chap or {}; o.chap.secret = v
    elseif a == "--interval" then o.interval_ms = tonumber(v)
    elseif a == "--duration" then o.duration = tonumber(v)
    elseif a == "--io" then o.io_lun = tonumber(v)
    else usage("unknown option " .. a) end
    i = i + 2
  end
end
if not o.target or #o.portals == 0 then usage("--target and at least one --portal are needed") end

local f = M.start(o)
if not f.session then
  io.stderr:write("failover.lua: could not log in through any portal\n")
  os.exit(1)
end
if o.io_lun then
  local reads, failures = 0, 0
  mcsi.every(100, function()
    local _, st = mcsi.read(f.session, o.io_lun, 0, 1)
    reads = reads + 1
    if not st.ok then
      failures = failures + 1
      log(f, "io", nil, st)
    end
  end)
  f.io_stats = function() return reads, failures end
end
if o.duration then mcsi.timer(o.duration * 1000, function() mcsi.stop() end) end
local ok, err = pcall(mcsi.run)
f:stop()
if f.io_stats then
  local r, fl = f.io_stats()
  log(f, "io", nil, nil, string.format("%d reads, %d failed", r, fl))
end
log(f, "summary", nil, nil, string.format("%d connection(s) added", f.repairs))
local st = mcsi.logout_from_target(f.session)
log(f, "logout", nil, st)
if not ok then
  io.stderr:write("failover.lua: ", tostring(err), "\n")
  os.exit(1)
end
