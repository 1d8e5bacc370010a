-- SPDX-License-Identifier: LGPL-2.1-or-later
--[[
mcsi.policy: one policy, run by its own process: `mcsid --policy-runner`
(daemon/policy_runner.c), which mcsid starts for each AttachPolicy on one
end of a socketpair, and which has already dropped its privileges, set its
limits and its seccomp filter when this runs.

  require("mcsi.policy").run{ fd = FD, buf = BYTES, id = N, session = SID,
                              script = NAME, source = TEXT, chunkname = "@...",
                              options = { ... }, instructions = N, ms = MS }
  -> "stopped" / "ended" / "failed" / "lost" when the policy is over

The mcsi module talks to mcsid over fd (mcsi.remote, the JSON-RPC that
mcsi.connect speaks): the policy has the same Lua API as a script connected
to the daemon, and the daemon decides what this connection may do (see
daemon/policy.c: its own session only, no paths, no secrets).

A policy script is Lua text run in its own environment: the safe parts of
the standard library (no io, no os.execute, no load, no debug, no require
but of "mcsi"), print (to the daemon's log), and an `mcsi` that is the module
with the loop's parts changed:
  mcsi.on / mcsi.timer / mcsi.every / mcsi.spawn run their functions as
  coroutines under the policy's budget (so the blocking calls yield);
  mcsi.run, mcsi.poll, mcsi.stop, mcsi.watch, mcsi.export are refused.
The script is called as chunk("mcsi." .. script) and returns either a table
M with M.policy(session_id, options) (the entry point of scripts/failover.lua,
drain.lua and rebalance.lua), or a function(session_id, options). The entry
may return an object with a :stop() method, run when the policy is detached
or its session ends.

Budget here: each activation (the entry, each event, each timer) is one
coroutine allowed `instructions` VM instructions and `ms` milliseconds of
wall time (mcsi._guard, lguard.c); past it every instruction raises. What
escapes a count hook (C functions, finalizers, message handlers, coroutines
of the script's own) is the daemon's to stop: it kills this process at its
CPU budget, and the kernel at its memory limit.

To the daemon (notifications): PolicyLog { Line }, PolicyEnd { State,
Reason }, PolicyPong. From it: PolicyStop { State, Reason } (detached, or its
session ended): the object's stop runs, then PolicyEnd; PolicyPing every
500 ms, answered from the loop (a loop that stands still longer than the
time budget of an activation is killed).
]]
local mcsi = require "mcsi"
local remote = require "mcsi.remote"

local P = {}

local SAFE = { "assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall", "select", "tonumber",
               "tostring", "type", "setmetatable", "getmetatable", "rawequal", "rawget", "rawset", "rawlen",
               "_VERSION" }
local SAFE_LIBS = { "string", "table", "math", "utf8", "coroutine" }
local LINE_MAX = 1000                  -- bytes of one log line

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- Text for the daemon: JSON wants UTF-8.
local function clean(s)
  s = tostring(s)
  if utf8.len(s) then return s end
  return (s:gsub("[\128-\255]", "?"))
end

local function first_line(msg)
  return clean((tostring(msg):gsub("\nstack traceback:.*$", "")))
end

-- The mcsi a policy sees.
local function policy_mcsi(p)
  local m = setmetatable({}, { __index = mcsi, __metatable = false })
  function m.on(kind, fn)
    if type(kind) == "function" then kind, fn = nil, kind end
    local id = mcsi.on(kind, function(ev) p.activate(fn, ev) end)
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
      p.activate(fn)
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
  function m.spawn(fn, ...) return p.activate(fn, ...) end
  local function refused(name, why)
    return function() error("mcsi." .. name .. " is not available to a policy (" .. why .. ")", 2) end
  end
  for _, name in ipairs{ "run", "poll", "stop", "watch" } do m[name] = refused(name, "the runner runs the loop") end
  m.export = refused("export", "a policy names no path and serves no socket")
  m.connect = refused("connect", "a policy has its own connection")
  m._guard, m._on_coroutine_error, m._unix, m._remote = false, false, false, false
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
      if #pending > LINE_MAX then log(pending) pending = "" end
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

-- Runs the policy o (see the top) until it is over; returns its end state.
function P.run(o)
  local p = { state = "running", handlers = {}, timers = {} }
  local client

  local function log(line)
    line = tostring(line)
    if #line > LINE_MAX then line = line:sub(1, LINE_MAX) .. "..." end
    line = clean(line)
    if client then client:notify("PolicyLog", { Line = line }) end
  end

  -- The end: handlers and timers dropped, the object's stop (unless it
  -- failed) under the budget of an activation, the daemon told.
  local function finish(state, reason)
    if p.state ~= "running" then return end
    p.state = state
    for id in pairs(p.handlers) do mcsi.off(id) end
    for id in pairs(p.timers) do mcsi.cancel(id) end
    p.handlers, p.timers = {}, {}
    if state ~= "failed" and state ~= "lost" and type(p.object) == "table" and type(p.object.stop) == "function" then
      local co = coroutine.create(function() p.object.stop(p.object) end)
      mcsi._guard(co, o.instructions, o.ms)
      local ok, err = coroutine.resume(co)
      if not ok then log("its stop raised: " .. first_line(err)) end
    end
    if state ~= "lost" and client then client:notify("PolicyEnd", { State = state, Reason = clean(reason or "") }) end
    mcsi.stop()
  end

  -- Runs fn(...) as a guarded coroutine.
  function p.activate(fn, ...)
    if p.state ~= "running" then return end
    local co = mcsi.spawn(function(...)
      coroutine.yield()                   -- the budget is set before the first instruction of fn
      return fn(...)
    end, ...)
    mcsi._guard(co, o.instructions, o.ms)
    return co
  end

  local _, st = remote.attach_fd(mcsi, o.fd, {
    buf = o.buf,
    on_coroutine_error = function(_, err) finish("failed", first_line(err)) end,
    on_notification = function(method, params)
      if method == "PolicyPing" then
        if client then client:notify("PolicyPong") end   -- the loop turns: no activation is stuck
      elseif method == "PolicyStop" then
        finish(params.State == "ended" and "ended" or "stopped", tostring(params.Reason or "detached"))
      end
    end,
    on_lost = function() finish("lost") end,
  })
  if not st.ok then return "lost" end
  client = mcsi._remote
  client:notify("PolicyPong")             -- started: the daemon's clock of the loop starts now
  if o.cpu_backstop then
    o.cpu_backstop()
    mcsi.every(1000, o.cpu_backstop)      -- the runner's RLIMIT_CPU, moved while its loop turns
  end

  -- The string metatable is the state's: the policy gets none (nor can it
  -- change what the runner's own strings do).
  getmetatable("").__metatable = false
  local env = sandbox(p, log)
  local chunk, err = load(o.source, o.chunkname or ("=" .. o.script), "t", env)
  if not chunk then
    finish("failed", first_line(err))
    return p.state
  end
  -- the session's end ends the policy
  p.handlers[mcsi.on("session-logged-out", function(ev)
    if ev.session_id == o.session then finish("ended", "session logged out") end
  end)] = true
  p.handlers[mcsi.on("session-failed", function(ev)
    if ev.session_id == o.session then finish("ended", "session failed") end
  end)] = true
  p.activate(function()
    local mod = chunk("mcsi." .. o.script)
    local entry = type(mod) == "function" and mod or type(mod) == "table" and mod.policy
    if type(entry) ~= "function" then
      error("the script returned no policy entry (a function, or a table with .policy)")
    end
    p.object = entry(o.session, o.options or {})
  end)
  while p.state == "running" do mcsi.run() end
  return p.state
end

return P
