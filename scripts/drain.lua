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

As a program (logs in, spreads --connections over the portals, drains, shows
the session and logs out; exit status 0 when the drain succeeded):

  mcsi scripts/drain.lua --target IQN --portal 127.0.0.1:3260 --portal 127.0.0.2:3260 \
      --drain 127.0.0.2:3260 [--connections N]
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
  local elsewhere = {}
  for _, c in ipairs(info.connections) do
    if c.portal == portal then
      if c.leading then leading_victim = c else victims[#victims + 1] = c end
    else
      others[#others + 1] = c
      elsewhere[#elsewhere + 1] = c.portal
    end
  end
  if #victims == 0 and not leading_victim then
    st = mcsi.Status.new(0, "nothing on " .. portal)
    say("done", portal, st)
    return st, log
  end
  -- 1. add elsewhere first, one per connection on the portal
  local targets = opts.portals or elsewhere
  local added, k = 0, 0
  local want = #victims + (leading_victim and 1 or 0)
  for _ = 1, want do
    if #targets == 0 then break end
    k = k % #targets + 1
    local p = targets[k]
    if p ~= portal then
      local cid, ast = mcsi.add_connection_to_session(sid, { portal = p })
      say("add", p, ast)
      if cid then added = added + 1 end
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
  -- 3. remove the connections on the portal
  st = mcsi.Status.new(0)
  for _, c in ipairs(victims) do
    local rst = mcsi.remove_connection_from_session(sid, c.id)
    say("remove", portal, rst, string.format("connection 0x%016x", c.id))
    if not rst.ok then st = rst end
  end
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
  say("done", portal, st)
  return st, log
end

if modname == "mcsi.drain" then return M end

-- ---- the program -------------------------------------------------------------

local args, o = { ... }, { portals = {} }
local function usage(msg)
  io.stderr:write("drain.lua: ", msg, "\nusage: mcsi scripts/drain.lua --target IQN --portal ADDR... "
    .. "--drain ADDR [--connections N]\n")
  os.exit(2)
end
for i = 1, #args, 2 do
  local a, v = args[i], args[i + 1]
  if v == nil then usage("missing value for " .. a) end
  if a == "--target" then o.target = v
  elseif a == "--portal" then o.portals[#o.portals + 1] = v
  elseif a == "--drain" then o.drain = v
  elseif a == "--connections" then o.connections = tonumber(v)
  else usage("unknown option " .. a) end
end
if not o.target or #o.portals == 0 or not o.drain then usage("--target, --portal and --drain are needed") end
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
