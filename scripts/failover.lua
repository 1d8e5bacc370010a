-- SPDX-License-Identifier: LGPL-2.1-or-later
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

  --portal ADDR[=WEIGHT]  a portal and its weight (integer >= 1, default 1); repeatable
  --connections N         connections to keep (default: the number of portals)
  --interval MS           health check period (default 500); a failure event
                          triggers a check at once
  --duration S            stop after S seconds (default: run until interrupted)
  --io LUN                read one block of LUN every 100 ms and log failures

  The first login is retried like any other: when no portal answers, the
  script keeps trying with back-off until --duration ends (or Ctrl-C).
  Exit status: 0 when at the end the session has its N healthy connections
  (and, with --io, every read succeeded); 1 when not (never logged in, fewer
  connections, failed reads: the "result" line gives the Status); 2 for a bad
  command line. --help prints the options.

As a library (mcsi preloads it as "mcsi.failover"), in the REPL or a script:

  local failover = require "mcsi.failover"
  local f = failover.start{ session = sid, portals = { { portal = "127.0.0.1:3260", weight = 2 },
                            { portal = "127.0.0.2:3260" } }, connections = 3 }
  ... mcsi.run() / mcsi.sleep(ms) / the REPL prompt keeps it working ...
  f:check()   -- one repair pass now;   f:stop()   -- unregister
  f:status()  -- a Status: success when the session has its N healthy connections
  f.log       -- the actions, each { time =, action =, portal =, status = }
  (start{ target = IQN, ... } without a session logs in itself, and keeps trying.)

The number of connections kept is the session's wanted connections
(session_info's wanted_connections), the administrator's: an admin's
RemoveConnectionFromSession lowers it and the connection is NOT added back,
AddConnectionToSession or SetWantedConnections raises it; a connection that
fails leaves it, and is replaced. connections = N (or --connections) sets it
at the start (and on each session the script logs in). Never more than the
target's negotiated MaxConnections are tried.

Back-off: after a failed add or login on a portal, the portal is skipped for
min(200 ms * 2^(failures-1), 10 s); a success resets it. When the session
itself fails (session-failed), or was never made, the script logs in through
the portals in weight order.
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

local GONE = { failed = true, ["logged-out"] = true }

local COMING = { connecting = true, ["logging-in"] = true }

-- Connections per portal among the healthy (active or standby) ones, and how
-- many others are still logging in (someone else's add: mcsid's keeper after
-- a handover, an administrator's); nil when there is no live session.
local function census(f)
  if not f.session then return nil end
  local info = mcsi.session_info(f.session)
  if not info or GONE[info.state] then return nil end
  local per, healthy, coming = {}, 0, 0
  for _, c in ipairs(info.connections) do
    if c.state == "active" or c.state == "standby" then
      healthy = healthy + 1
      per[c.portal] = (per[c.portal] or 0) + 1
    elseif COMING[c.state] then
      coming = coming + 1
    end
  end
  return healthy, per, info, coming
end

local function backed_off(f, portal)
  local b = f.backoff[portal]
  return b ~= nil and b.until_ms > mcsi.now()
end

-- The portal most under its weight that is not backed off; nil if none.
local function pick(f, per)
  local best, best_score
  for _, p in ipairs(f.portals) do
    if not backed_off(f, p.portal) then
      local score = ((per[p.portal] or 0) + 1) / p.weight
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
  f.last_failure = st
  log(f, "backoff", portal, st, string.format("%d failure(s), next try in %d ms", b.failures, wait))
end

-- Logs in through the portals that are not backed off, in weight order; true
-- when a session was made.
local function relogin(f)
  local order = table.move(f.portals, 1, #f.portals, 1, {})
  table.sort(order, function(a, b) return a.weight > b.weight end)
  for _, p in ipairs(order) do
    if not backed_off(f, p.portal) then
      local sid, _, st = mcsi.login_to_target{ portal = p.portal, target = f.target, chap = f.chap,
                                               max_connections = f.connections }
      log(f, "login", p.portal, st)
      if sid then
        f.session = sid
        f.backoff[p.portal] = nil
        mcsi.set_wanted_connections(sid, f.connections)   -- a new session starts at 1: ours is the count
        return true
      end
      failed_on(f, p.portal, st)
    end
  end
  return false
end

-- The connections to keep: the session's wanted count (the administrator's,
-- which an admin's add or removal changes), within what the target negotiated.
local function goal(f, info)
  local wanted = info and info.wanted_connections
  if math.type(wanted) == "integer" and wanted > 0 and wanted ~= f.connections then
    if f.connections then log(f, "wanted", nil, nil, string.format("%d connections (was %d)", wanted, f.connections)) end
    f.connections = wanted
  end
  local max = info and info.max_connections
  if math.type(max) == "integer" and max > 0 and max < f.connections then
    if not f.capped then   -- said once: no add beyond it is tried (each would fail)
      f.capped = true
      f.last_failure = mcsi.Status.new("ISDSC_TOO_MANY_CONNECTIONS", string.format(
        "the target allows %d connections per session (negotiated MaxConnections), %d wanted", max, f.connections))
      log(f, "limit", nil, f.last_failure)
    end
    return max
  end
  f.capped = false
  return f.connections
end

-- Adds connections until there are `want` healthy ones (or no portal is left to try).
local function grow(f, healthy, per, want)
  while healthy < want do
    local p = pick(f, per)
    if not p then return end                    -- every portal is backing off
    local cid, st = mcsi.add_connection_to_session(f.session, { portal = p.portal, chap = f.chap,
                                                                weight = p.weight })
    log(f, "add", p.portal, st, cid and string.format("connection 0x%016x", cid) or nil)
    if cid then
      f.backoff[p.portal] = nil
      healthy = healthy + 1
      per[p.portal] = (per[p.portal] or 0) + 1
      f.repairs = f.repairs + 1
    else
      failed_on(f, p.portal, st)
      if st.name == "ISDSC_TOO_MANY_CONNECTIONS" or st.name == "ISDSC_INVALID_SESSION_ID" then return end
    end
  end
end

-- One repair pass: a session if there is none (when a target is known), then connections.
function M:check()
  if self.stopped or self.checking then return end
  self.checking = true
  local healthy, per, info, coming = census(self)
  if not healthy and self.target then
    if self.session and not self.lost then
      log(self, "lost", nil, nil, string.format("session 0x%016x is gone", self.session))
      self.lost = true
    end
    if relogin(self) then
      self.lost = false
      healthy, per, info, coming = census(self)
    end
  end
  -- one logging in already counts: its end (active or failed) is an event that checks again
  if healthy then grow(self, healthy + coming, per, goal(self, info)) end
  self.checking = false
end

-- Whether the goal is met now: a live session with f.connections healthy connections.
function M:status()
  local healthy, _, info = census(self)
  if info then goal(self, info) end
  local why = self.last_failure
  local detail = why and (": last failure " .. why.name .. ": " .. why.message) or ""
  if not healthy then
    return mcsi.Status.new(why and why.code or "ISDSC_NO_CONNECTION_AVAILABLE",
      "no session: no login succeeded through any portal" .. detail)
  elseif healthy < self.connections then
    return mcsi.Status.new(why and why.code or "ISDSC_NO_CONNECTION_AVAILABLE",
      string.format("the session has %d of %d healthy connections%s", healthy, self.connections, detail))
  end
  return mcsi.Status.new(0, string.format("the session has its %d healthy connections", healthy))
end

local function portal_list(portals)
  local list = {}
  for i, p in ipairs(portals or {}) do
    if type(p) == "string" then p = { portal = p } end
    if type(p) ~= "table" or type(p.portal) ~= "string" then
      error("failover.start: portals[" .. i .. "] must be a portal string or { portal =, weight = }", 3)
    end
    local w = p.weight or 1
    if math.type(w) ~= "integer" or w < 1 then error("failover.start: portals[" .. i .. "].weight must be an integer >= 1", 3) end
    list[i] = { portal = p.portal, weight = w }
  end
  if #list == 0 then error("failover.start: at least one portal", 3) end
  return list
end

-- Starts keeping opts.session healthy. opts: session (id or mcsi.Session; without
-- one, target is needed and the script logs in itself), portals ({ {portal=, weight=},
-- ... } or strings), connections, chap, interval_ms, target (to log in again if the
-- session fails), quiet.
function M.start(opts)
  local f = setmetatable({ log = {}, backoff = {}, repairs = 0, t0 = mcsi.now(), quiet = opts.quiet,
                           chap = opts.chap, target = opts.target }, M)
  f.session = type(opts.session) == "userdata" and opts.session.id or opts.session
  if not f.session and not f.target then error("failover.start: a session or a target is needed", 2) end
  f.portals = portal_list(opts.portals)
  if opts.connections ~= nil and (math.type(opts.connections) ~= "integer" or opts.connections < 1) then
    error("failover.start: connections must be an integer >= 1", 2)
  end
  local info = f.session and mcsi.session_info(f.session)
  f.connections = opts.connections or (info and info.wanted_connections) or #f.portals
  if opts.connections and info and info.wanted_connections ~= opts.connections then
    mcsi.set_wanted_connections(f.session, opts.connections)   -- asked for: the session's wanted count
  end
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
  f:check()
  return f
end

function M:stop()
  self.stopped = true
  for _, h in ipairs(self.handlers) do mcsi.off(h) end
  mcsi.cancel(self.timer)
end

-- The policy entry (mcsid attaches it to a session: PolicyScript "failover",
-- AttachPolicy): keeps session_id at opts.connections healthy connections over
-- opts.portals (default: the portals its connections use now). The session
-- itself is the daemon's keeper's (it logs in again); this repairs connections.
function M.policy(session_id, opts)
  opts = opts or {}
  local portals = opts.portals
  if not portals or #portals == 0 then
    portals = {}
    local seen = {}
    for _, c in ipairs((mcsi.session_info(session_id) or {}).connections or {}) do
      if not seen[c.portal] then seen[c.portal] = true portals[#portals + 1] = c.portal end
    end
  end
  return M.start{ session = session_id, portals = portals, interval_ms = opts.interval_ms,
                  connections = opts.connections, quiet = opts.quiet }   -- none: the session's wanted count
end

if modname == "mcsi.failover" then return M end

-- ---- the program -------------------------------------------------------------

local o = require("mcsi.args").parse({ ... }, {
  program = "failover.lua",
  usage = "mcsi scripts/failover.lua --target IQN --portal ADDR[=WEIGHT]... [--connections N] "
    .. "[--chap-user U --chap-secret S] [--interval MS] [--duration S] [--io LUN] [--quiet]",
  about = "Keeps a session at N healthy connections over the portals; logs in (and again) with back-off.",
  options = {
    { "target", "name", "IQN", "the target's iSCSI name", required = true },
    { "portal", "portal_weight", "ADDR[=WEIGHT]", "a portal and its weight (default 1)", many = true,
      required = true },
    { "connections", "count", "N", "connections to keep (default: the number of portals)" },
    { "chap-user", "name", "U", "CHAP user name" },
    { "chap-secret", "secret", "S", "CHAP secret (never printed)" },
    { "interval", "ms", "MS", "health check period (default 500)" },
    { "duration", "seconds", "S", "stop after S seconds (default: until Ctrl-C)" },
    { "io", "lun", "LUN", "read one block of LUN every 100 ms" },
    { "quiet", "flag", nil, "no log lines" },
  },
  rules = function(a)
    if (a.chap_user == nil) ~= (a.chap_secret == nil) then return "--chap-user and --chap-secret go together" end
  end,
  exit_codes = "0 the session has its N connections at the end (and every --io read succeeded), "
    .. "1 it has not (see the result line), 2 bad arguments",
})

local f = M.start{ target = o.target, portals = o.portal, connections = o.connections, interval_ms = o.interval,
                   quiet = o.quiet, chap = o.chap_user and { username = o.chap_user, secret = o.chap_secret } }
local reads, read_failures, last_read_failure = 0, 0, nil
if o.io then
  mcsi.every(100, function()
    if not f.session then return end
    local _, st = mcsi.read(f.session, o.io, 0, 1)
    reads = reads + 1
    if not st.ok then
      read_failures, last_read_failure = read_failures + 1, st
      log(f, "io", nil, st)
    end
  end)
end
if o.duration then mcsi.timer(o.duration * 1000, function() mcsi.stop() end) end
local ok, err = pcall(mcsi.run)
f:stop()
if o.io then log(f, "io", nil, nil, string.format("%d reads, %d failed", reads, read_failures)) end
log(f, "summary", nil, nil, string.format("%d connection(s) added", f.repairs))
local result = f:status()
if result.ok and read_failures > 0 then
  result = mcsi.Status.new(last_read_failure.code, string.format("%d of %d reads failed: last: %s", read_failures,
    reads, last_read_failure.message))
end
log(f, "result", nil, result)
if f.session then log(f, "logout", nil, mcsi.logout_from_target(f.session)) end
if not ok and not tostring(err):find("interrupted!", 1, true) then
  io.stderr:write("failover.lua: ", tostring(err), "\n")
  os.exit(1)
end
os.exit(result.ok and 0 or 1)
