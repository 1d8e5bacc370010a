--[[
mcsi.policy: long-lived policies attached to sessions, each sandboxed and
under a budget, for a host that runs the loop (mcsid: daemon/policy.c).

  local policy = require "mcsi.policy"
  local p, err = policy.attach{ session = sid, script = "failover", source = TEXT,
                                chunkname = "@failover.lua", options = { ... },
                                instructions = N, ms = MS }
  policy.detach(id [, reason])       policy.list() -> { {id=, session=, script=, state=, reason=}, ... }
  policy.on_end = function(p) ... end   -- p.state "failed" / "stopped" / "ended", p.reason

A policy script is Lua text run in its own environment: the safe parts of
the standard library (no io, no os.execute, no load of binary chunks, no
debug, no require but of "mcsi"), print (to the host's log), and an `mcsi`
that is the module with the loop's parts changed:
  mcsi.on / mcsi.timer / mcsi.every / mcsi.spawn run their functions as
  coroutines of the engine under the policy's budget (so the blocking calls
  yield), remembered so that stopping the policy drops them all; mcsi.run,
  mcsi.poll and mcsi.stop are refused (the host runs the loop).
The script is called as chunk("mcsi." .. script) and returns either a table
M with M.policy(session_id, options) (the entry point of scripts/failover.lua,
drain.lua and rebalance.lua), or a function(session_id, options). The entry
may return an object with a :stop() method.

Budget: each activation (the entry, each event, each timer) is one coroutine
allowed `instructions` VM instructions and `ms` milliseconds of wall time
(mcsi._guard, lguard.c); past it every instruction raises. A policy whose
coroutine raises, or exceeds its budget, is stopped (its handlers and timers
dropped, its other coroutines made to raise) and reported through on_end with
state "failed" and the reason. A policy ends ("ended") when its session is
logged out or fails for good.
]]
local mcsi = require "mcsi"

local P = { policies = {}, next_id = 0 }
P.on_end = function() end

local by_thread = setmetatable({}, { __mode = "k" })   -- coroutine -> policy

local SAFE = { "assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall", "select", "tonumber",
               "tostring", "type", "setmetatable", "getmetatable", "rawequal", "rawget", "rawset", "rawlen",
               "_VERSION" }
local SAFE_LIBS = { "string", "table", "math", "utf8", "coroutine" }

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local function finish(p, state, reason)
  if p.state ~= "running" then return end
  p.state, p.reason = state, reason
  for id in pairs(p.handlers) do mcsi.off(id) end
  for id in pairs(p.timers) do mcsi.cancel(id) end
  p.handlers, p.timers = {}, {}
  for co in pairs(p.threads) do
    if coroutine.status(co) == "suspended" then mcsi._guard(co, 0, 0, "policy " .. state) end
  end
  if state ~= "failed" and p.object and type(p.object.stop) == "function" then
    p.object.stop(p.object)               -- its own clean-up (it only drops handlers)
  end
  P.on_end(p)
end

-- Runs fn(...) as a guarded coroutine of the engine on behalf of p.
local function activate(p, fn, ...)
  if p.state ~= "running" then return end
  local co = mcsi.spawn(function(...)
    coroutine.yield()                     -- the budget is set before the first instruction of fn
    return fn(...)
  end, ...)
  by_thread[co] = p
  p.threads[co] = true
  mcsi._guard(co, p.instructions, p.ms)
  return co
end

mcsi._on_coroutine_error(function(co, msg)
  local p = by_thread[co]
  if not p then
    io.stderr:write("mcsi: error in an mcsi coroutine: ", tostring(msg), "\n")
    return
  end
  p.threads[co] = nil
  finish(p, "failed", (tostring(msg):gsub("\nstack traceback:.*$", "")))
end)

-- The mcsi a policy sees.
local function policy_mcsi(p)
  local m = setmetatable({}, { __index = mcsi })
  function m.on(kind, fn)
    if type(kind) == "function" then kind, fn = "*", kind end
    local id = mcsi.on(kind, function(ev) activate(p, fn, ev) end)
    p.handlers[id] = true
    return id
  end
  function m.off(id)
    p.handlers[id] = nil
    return mcsi.off(id)
  end
  local function add_timer(every, ms, fn)
    local id
    id = (every and mcsi.every or mcsi.timer)(ms, function()
      if not every then p.timers[id] = nil end
      activate(p, fn)
    end)
    p.timers[id] = true
    return id
  end
  function m.timer(ms, fn) return add_timer(false, ms, fn) end
  function m.every(ms, fn) return add_timer(true, ms, fn) end
  function m.cancel(id)
    p.timers[id] = nil
    return mcsi.cancel(id)
  end
  function m.spawn(fn, ...) return activate(p, fn, ...) end
  local function refused(name)
    return function() error("mcsi." .. name .. " is not available to a policy (the daemon runs the loop)", 2) end
  end
  m.run, m.poll, m.stop, m.watch = refused("run"), refused("poll"), refused("stop"), refused("watch")
  m._guard, m._on_coroutine_error, m._unix, m.connect = nil, nil, nil, nil
  function m.initiator(opts)
    if opts ~= nil then error("mcsi.initiator: a policy cannot rename the daemon's initiator", 2) end
    return mcsi.initiator()
  end
  return m
end

local function sandbox(p, log)
  local env = {}
  for _, k in ipairs(SAFE) do env[k] = _G[k] end
  for _, k in ipairs(SAFE_LIBS) do env[k] = copy(_G[k]) end
  env.string.dump = nil
  env.os = { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime }
  local pending = ""                      -- io.write's text, logged a line at a time
  env.io = {
    write = function(...)
      local parts = table.pack(...)
      for i = 1, parts.n do parts[i] = tostring(parts[i]) end
      pending = pending .. table.concat(parts, "", 1, parts.n)
      for line in pending:gmatch("([^\n]*)\n") do log(line) end
      pending = pending:match("[^\n]*$")
    end,
    flush = function() end,
  }
  env.print = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    log(table.concat(parts, "\t", 1, parts.n))
  end
  local m = policy_mcsi(p)
  env.mcsi = m
  env.require = function(name)
    if name == "mcsi" then return m end
    error("a policy may require \"mcsi\" only (not '" .. tostring(name) .. "')", 2)
  end
  env._G = env
  return env
end

local KEEP_ENDED = 64                      -- policies no longer running that P.list still shows

-- Forgets the oldest policies that no longer run, beyond KEEP_ENDED.
local function forget_old()
  local ended = {}
  for id, p in pairs(P.policies) do
    if p.state ~= "running" then ended[#ended + 1] = id end
  end
  table.sort(ended)
  for i = 1, #ended - KEEP_ENDED do P.policies[ended[i]] = nil end
end

-- Attaches a policy; returns it, or nil and a message.
function P.attach(o)
  forget_old()
  P.next_id = P.next_id + 1
  local p = { id = P.next_id, session = o.session, script = o.script, options = o.options or {},
              instructions = o.instructions or 50000000, ms = o.ms or 60000, state = "running",
              handlers = {}, timers = {}, threads = {}, log = o.log or print }
  local env = sandbox(p, function(line) p.log(p, line) end)
  local chunk, err = load(o.source, o.chunkname or ("=" .. o.script), "t", env)
  if not chunk then return nil, err end
  P.policies[p.id] = p
  -- the session's end ends the policy
  p.handlers[mcsi.on("session-logged-out", function(ev)
    if ev.session_id == p.session then finish(p, "ended", "session logged out") end
  end)] = true
  p.handlers[mcsi.on("session-failed", function(ev)
    if ev.session_id == p.session then finish(p, "ended", "session failed") end
  end)] = true
  activate(p, function()
    local mod = chunk("mcsi." .. o.script)
    local entry = type(mod) == "function" and mod or type(mod) == "table" and mod.policy
    if type(entry) ~= "function" then
      error("the script returned no policy entry (a function, or a table with .policy)")
    end
    p.object = entry(p.session, p.options)
  end)
  return p
end

function P.detach(id, reason)
  local p = P.policies[id]
  if not p then return false end
  finish(p, "stopped", reason or "detached")
  P.policies[id] = nil
  return true
end

function P.list()
  local out = {}
  for _, p in pairs(P.policies) do
    out[#out + 1] = { id = p.id, session = p.session, script = p.script, state = p.state, reason = p.reason }
  end
  table.sort(out, function(a, b) return a.id < b.id end)
  return out
end

function P.find_session(sid)
  for _, p in pairs(P.policies) do
    if p.session == sid and p.state == "running" then return p end
  end
end

return P
