-- SPDX-License-Identifier: LGPL-2.1-or-later
--[[
drain.lua: move a session off one portal for maintenance: first add as many
connections elsewhere as there are on that portal, then remove the ones on it.
It refuses cleanly, touching nothing, when no connection could be made
elsewhere (the only path is on that portal). The leading connection cannot be
removed (ISDSC_CANNOT_REMOVE_LEADING_CONNECTION): when it is on the drained
portal it is kept as a standby that carries no I/O (policy round-robin-subset)
and the result says so.

As a library (mcsi preloads it as "mcsi.drain"):

  local drain = require "mcsi.drain"
  local st, log = drain.drain(sid, "127.0.0.1:3260", { portals = { "127.0.0.2:3260" } })
    -- opts.portals: where to add (default: the portals of the session's other
    -- connections); opts.quiet: no printing. st is the Status of the whole
    -- operation, log the actions { action =, portal =, status = }.

The goal: no connection left on the portal, and the session as large as before.
When the session is full (an add answers ISDSC_TOO_MANY_CONNECTIONS), each
removal makes room for its replacement elsewhere. When a replacement cannot be
made the connections on the portal are still removed, and the Status fails
(the add's Status, "the session went from 4 to 2 connections").

As a program (logs in, spreads --connections over the portals, drains, shows
the session and logs out):

  mcsi scripts/drain.lua --target IQN --portal 127.0.0.1:3260 --portal 127.0.0.2:3260 \
      --drain 127.0.0.2:3260 [--connections N]

  Exit status: 0 when the goal was met, 1 when the login failed or the drain was
  refused or incomplete (the "done" line gives the Status), 2 for a bad command
  line (--drain must be one of the --portal). --help prints the options.
]]
local modname = ...
local mcsi = require "mcsi"
local M = {}

local function logger(quiet)
  local log = {}
  return log, function(action, portal, st, detail)
    log[#log + 1] = { action = action, portal = portal, status = st, detail = detail }
    if not quiet then
      io.write(string.format("[drain] %-8s %-22s %s%s\n", action, portal or "-", st and tostring(st) or "",
        detail and ("  " .. detail) or ""))
      io.flush()
    end
  end
end

local function count_healthy(sid)
  local info = mcsi.session_info(sid)
  local n = 0
  for _, c in ipairs(info and info.connections or {}) do
    if c.state == "active" or c.state == "standby" then n = n + 1 end
  end
  return n
end

-- Adds one connection on the next portal of plan (round robin); the cid or nil and the Status.
local function add_elsewhere(sid, plan, say)
  if #plan.targets == 0 then return nil, plan.last_failure end
  plan.next = plan.next % #plan.targets + 1
  local p = plan.targets[plan.next]
  local cid, st = mcsi.add_connection_to_session(sid, { portal = p })
  say("add", p, st, cid and string.format("connection 0x%016x", cid) or nil)
  if not cid then plan.last_failure = st end
  return cid, st
end

-- Removes the connections on the portal; when the session was full, each removal
-- makes room for its replacement elsewhere. Returns the worst removal Status.
local function remove_and_replace(sid, portal, victims, plan, say)
  local st = mcsi.Status.new(0)
  for _, c in ipairs(victims) do
    local rst = mcsi.remove_connection_from_session(sid, c.id)
    say("remove", portal, rst, string.format("connection 0x%016x", c.id))
    if not rst.ok then st = rst end
    if rst.ok and plan.missing > 0 and add_elsewhere(sid, plan, say) then plan.missing = plan.missing - 1 end
  end
  return st
end

function M.drain(sid, portal, opts)
  opts = opts or {}
  if type(sid) == "userdata" then sid = sid.id end
  local log, say = logger(opts.quiet)
  local info, st = mcsi.session_info(sid)
  if not info then
    say("refuse", portal, st)
    return st, log
  end
  local victims, others, leading_victim = {}, {}, nil
  local elsewhere, seen = {}, {}
  for _, c in ipairs(info.connections) do
    if c.portal == portal then
      if c.leading then leading_victim = c else victims[#victims + 1] = c end
    else
      others[#others + 1] = c
      if not seen[c.portal] then seen[c.portal] = true; elsewhere[#elsewhere + 1] = c.portal end
    end
  end
  if #victims == 0 and not leading_victim then
    st = mcsi.Status.new(0, "nothing on " .. portal)
    say("done", portal, st)
    return st, log
  end
  local before = count_healthy(sid)
  -- 1. add elsewhere first, one per connection on the portal, while the session has room
  local plan = { targets = {}, next = 0, missing = 0 }
  for _, p in ipairs(opts.portals or elsewhere) do
    if p ~= portal then plan.targets[#plan.targets + 1] = p end
  end
  local added = 0
  local want = #victims + (leading_victim and 1 or 0)
  for n = 1, want do
    local cid, ast = add_elsewhere(sid, plan, say)
    if cid then added = added + 1
    elseif ast and ast.name == "ISDSC_TOO_MANY_CONNECTIONS" then
      plan.missing = want - n + 1            -- added after a removal makes room
      break
    end
  end
  -- 2. refuse when no path is left off the portal
  if #others + added == 0 then
    st = mcsi.Status.new("ISDSC_CANT_REMOVE_LAST_CONNECTION",
      "Cannot remove the last connection of a session: drain refused, every path of the session is on "
      .. portal .. " and no connection could be made elsewhere")
    say("refuse", portal, st)
    return st, log
  end
  -- 3. remove the connections on the portal (replacing them when the session was full)
  st = remove_and_replace(sid, portal, victims, plan, say)
  -- 4. the leading connection stays, without I/O
  if leading_victim then
    local paths = {}
    for _, c in ipairs(mcsi.session_info(sid).connections) do
      paths[#paths + 1] = { connection = c.id, active = c.id ~= leading_victim.id }
    end
    local pst = mcsi.set_load_balance_policy(sid, "round-robin-subset", paths)
    say("standby", portal, pst, string.format("leading connection 0x%016x", leading_victim.id))
    st = mcsi.Status.new("ISDSC_CANNOT_REMOVE_LEADING_CONNECTION",
      "Leading connection cannot be removed: it stays on " .. portal .. " as a standby without I/O; "
      .. "log the session out and in elsewhere to move it")
  end
  -- 5. the goal includes the session's size: as many connections as before
  local after = count_healthy(sid)
  if st.ok and after < before then
    local why = plan.last_failure
    st = mcsi.Status.new(why and why.code or "ISDSC_NO_CONNECTION_AVAILABLE",
      string.format("drained %s, but the session went from %d to %d connections: %s", portal, before, after,
        why and (why.name .. ": " .. why.message) or "no portal to add on"))
  end
  say("done", portal, st)
  return st, log
end

-- The policy entry (mcsid: AttachPolicy with PolicyScript "drain" and
-- Options { portal = "host:port" [, portals = {...}] }): drains once, logs
-- the result, and ends.
function M.policy(session_id, opts)
  if type(opts) ~= "table" or type(opts.portal) ~= "string" then
    error("drain policy: Options.portal (the portal to drain) is required")
  end
  local st = M.drain(session_id, opts.portal, { portals = opts.portals })
  print("drain of " .. opts.portal .. ": " .. tostring(st))
end

if modname == "mcsi.drain" then return M end

-- ---- the program -------------------------------------------------------------

local o = require("mcsi.args").parse({ ... }, {
  program = "drain.lua",
  usage = "mcsi scripts/drain.lua --target IQN --portal ADDR... --drain ADDR [--connections N]",
  about = "Logs in, spreads N connections over the portals, moves the session off the --drain portal "
    .. "(adding elsewhere first), shows the session and logs out.",
  options = {
    { "target", "name", "IQN", "the target's iSCSI name", required = true },
    { "portal", "portal", "ADDR", "a portal of the target", many = true, required = true },
    { "drain", "portal", "ADDR", "the portal to move off (one of the --portal)", required = true },
    { "connections", "count", "N", "connections before the drain (default: the number of portals)" },
  },
  rules = function(a)
    for _, p in ipairs(a.portal) do if p == a.drain then return nil end end
    return "--drain " .. a.drain .. " is not one of the --portal"
  end,
  exit_codes = "0 nothing is left on the portal and the session kept its size, 1 the drain was refused "
    .. "or incomplete (the done line gives the Status), 2 bad arguments",
})
o.portals, o.portal = o.portal, nil
local pretty = require "mcsi.pretty"

-- Lead on a portal that is not drained when there is one.
table.sort(o.portals, function(a, b) return (a ~= o.drain and 0 or 1) < (b ~= o.drain and 0 or 1) end)
local sid, _, st = mcsi.login_to_target{ portal = o.portals[1], target = o.target }
print("login " .. o.portals[1] .. ": " .. tostring(st))
if not sid then os.exit(1) end
for i = 2, (o.connections or #o.portals) do
  local p = o.portals[(i - 1) % #o.portals + 1]
  local _, ast = mcsi.add_connection_to_session(sid, p)
  print("add " .. p .. ": " .. tostring(ast))
end
print(pretty.format(mcsi.sessions()))
local others = {}
for _, p in ipairs(o.portals) do if p ~= o.drain then others[#others + 1] = p end end
local dst = M.drain(sid, o.drain, { portals = #others > 0 and others or nil })
print(pretty.format(mcsi.sessions()))
print("logout: " .. tostring(mcsi.logout_from_target(sid)))
os.exit(dst.ok and 0 or 1)
