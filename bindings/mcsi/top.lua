-- SPDX-License-Identifier: LGPL-2.1-or-later
--[==[
mcsi.top: a live view of every session and its connections (`mcsi top`).

  mcsi top [--connect[=SOCKET]] [--once] [--json] [--interval SECONDS] [--session ID]
                                                              -- mcsid's sessions
  require("mcsi.top").run{ interval = 1, once = false, json = false, session = nil,
                           out = io.stdout, keys = true }     -- in a script: its own sessions

Each interval (1 s) it takes a snapshot of every session (mcsi.sessions(): the
daemon's, through mcsi.connect, for `mcsi top`; a script's own engine's for
run{} in a script that did not connect) and shows, from the
difference with the last one, per session and per connection: state, role
(leading / primary / active / standby), portal, IOPS (SCSI commands per second),
MB/s (both directions, 10^6 bytes), queue depth (commands outstanding now),
latency p50 and p99 over the interval (from each connection's latency
histogram, log2 buckets of microseconds: an estimate inside the bucket, at
worst a factor 2 off), and the session's commands re-issued after a
connection failed and its failovers (reinstatements after losing every
connection); below, the last events (mcsi.on, the daemon's Subscribe) as
they come.

Keys: i sort by IOPS, m by MB/s, l by p99 latency, n by name (target, then
id); 1-9 show only that session, up/down (or k/j) move to the previous/next
one, a or 0 (or Esc) show all again; q quits (Ctrl-C too).

--once prints one frame (plain text, no escape codes) after one interval;
--json prints one JSON object per interval (with --once, one), for scripts:
{"time", "interval_s", "sessions": [{"id", "target", "state", "policy",
"connection_count", "max_connections", "iops", "mbps", "queue_depth",
"p50_us", "p99_us", "commands_retried", "recoveries", "connections": [{"id",
"cid", "state", "role", "portal", "iops", "mbps", "queue_depth", "p50_us",
"p99_us", "commands"}]}], "events": [{"time", "kind", "session_id",
"connection_id", "reason"}]}. A rate or latency with no data (the first
sight of a connection, no command in the interval) is null.

The terminal: ANSI escapes and the alternate screen, keys read with the
terminal out of canonical mode and without echo (`stty -icanon -echo`),
restored on every way out. No curses.
]==]
local pretty = require "mcsi.pretty"

local M = {}

M.BUCKETS = 24                       -- MCSI_LATENCY_BUCKETS (core/mcsi.h)
M.EVENTS_SHOWN = 6
M.EVENTS_KEPT = 50

-- ---- the numbers -----------------------------------------------------------------------

-- The p-quantile (0 < p <= 1) of a histogram of log2 buckets of microseconds
-- (delta[k + 1]: commands in [2^k, 2^(k+1)) us, the first bucket from 0, the
-- last open), interpolated linearly inside its bucket; nil for no command.
function M.percentile(delta, p)
  local total = 0
  for k = 1, M.BUCKETS do total = total + (delta[k] or 0) end
  if total <= 0 then return nil end
  local rank = math.max(1, math.ceil(p * total))
  local seen = 0
  for k = 1, M.BUCKETS do
    local n = delta[k] or 0
    if n > 0 and seen + n >= rank then
      local lo = k == 1 and 0 or 2 ^ (k - 1)
      if k == M.BUCKETS then return lo end
      return lo + (2 ^ k - lo) * (rank - seen) / n
    end
    seen = seen + n
  end
end

-- What the histogram counted between two snapshots (prev nil: since the start).
function M.histogram_delta(prev, cur)
  local d = {}
  for k = 1, M.BUCKETS do
    local a, b = prev and prev[k] or 0, cur and cur[k] or 0
    d[k] = b >= a and b - a or b         -- a counter that went back: a new connection with the same id
  end
  return d
end

local function role(c)
  local r = c.primary and "primary" or c.active and "active" or "standby"
  return c.leading and "leading/" .. r or r
end

local function rate(a, b, dt)
  if not a or not b or dt <= 0 then return nil end
  return b >= a and (b - a) / dt or nil
end

local function bytes(c) return (c.stats.bytes_sent or 0) + (c.stats.bytes_received or 0) end

-- One connection's row from its two snapshots (prev nil: first sight).
local function conn_row(pc, c, dt)
  local row = { id = c.id, cid = c.cid, state = c.state, role = role(c), portal = c.portal,
                queue_depth = c.queue_depth or 0, commands = c.stats.commands or 0 }
  if pc then
    row.iops = rate(pc.stats.commands, c.stats.commands, dt)
    local b = rate(bytes(pc), bytes(c), dt)
    row.mbps = b and b / 1e6
    row.delta = M.histogram_delta(pc.stats.latency, c.stats.latency)
    row.p50_us = M.percentile(row.delta, 0.50)
    row.p99_us = M.percentile(row.delta, 0.99)
  end
  return row
end

local function by_id(list)
  local t = {}
  for _, x in ipairs(list or {}) do t[x.id] = x end
  return t
end

local function add(a, b) if a == nil then return b end if b == nil then return a end return a + b end

-- One frame: every session of cur with its connections, rates over the
-- interval since prev (a snapshot: { t = ms, sessions = list }).
function M.frame(prev, cur)
  local dt = prev and (cur.t - prev.t) / 1000 or 0
  local psess = by_id(prev and prev.sessions)
  local f = { time = os.date("%H:%M:%S"), interval_s = dt, sessions = {} }
  for _, s in ipairs(cur.sessions or {}) do
    local ps = psess[s.id]
    local pconns = by_id(ps and ps.connections)
    local row = { id = s.id, target = s.target, state = s.state, policy = s.policy_name or "",
                  connection_count = s.connection_count or #(s.connections or {}),
                  max_connections = s.max_connections, commands_retried = s.commands_retried or 0,
                  recoveries = s.recoveries or 0, queue_depth = 0, connections = {} }
    local delta = {}
    for k = 1, M.BUCKETS do delta[k] = 0 end
    for _, c in ipairs(s.connections or {}) do
      local cr = conn_row(pconns[c.id], c, dt)
      row.connections[#row.connections + 1] = cr
      row.iops, row.mbps = add(row.iops, cr.iops), add(row.mbps, cr.mbps)
      row.queue_depth = row.queue_depth + cr.queue_depth
      for k = 1, M.BUCKETS do delta[k] = delta[k] + (cr.delta and cr.delta[k] or 0) end
      cr.delta = nil
    end
    row.p50_us, row.p99_us = M.percentile(delta, 0.50), M.percentile(delta, 0.99)
    f.sessions[#f.sessions + 1] = row
  end
  return f
end

-- ---- sorting and picking ---------------------------------------------------------------

M.SORTS = {
  iops = function(a, b) return (a.iops or -1) > (b.iops or -1) end,
  mbps = function(a, b) return (a.mbps or -1) > (b.mbps or -1) end,
  latency = function(a, b) return (a.p99_us or -1) > (b.p99_us or -1) end,
  name = function(a, b)
    if (a.target or "") ~= (b.target or "") then return (a.target or "") < (b.target or "") end
    return (a.id or 0) < (b.id or 0)
  end,
}

-- Sorted in place (sessions, and the connections of each; ties by id).
function M.sort(f, key)
  local less = M.SORTS[key] or M.SORTS.name
  local function cmp(a, b)
    if less(a, b) then return true end
    if less(b, a) then return false end
    return (a.id or 0) < (b.id or 0)
  end
  table.sort(f.sessions, cmp)
  for _, s in ipairs(f.sessions) do
    table.sort(s.connections, function(a, b)
      if key == "name" or not M.SORTS[key] then return (a.cid or 0) < (b.cid or 0) end
      return cmp(a, b)
    end)
  end
  return f
end

-- ---- text ---------------------------------------------------------------------------------

local function us_text(us)
  if not us then return "-" end
  if us < 1000 then return string.format("%.0fus", us) end
  if us < 1e6 then return string.format("%.1fms", us / 1000) end
  return string.format("%.2fs", us / 1e6)
end

-- Ids print one way everywhere (mcsi.pretty.hex: 0x%016x); the session rows show the target.
local function idtext(id) return math.type(id) == "integer" and pretty.hex(id) or tostring(id or "?") end

local function num(v, fmt) return v and string.format(fmt, v) or "-" end

local function clip(s, n)
  s = tostring(s or "")
  if #s <= n then return s end
  return ".." .. s:sub(#s - n + 3)
end

local ROW = "%-3s %-44s %-10s %-15s %-21s %8s %8s %4s %8s %8s %7s %9s"
M.HEADER = string.format(ROW, "#", "SESSION / CONNECTION", "STATE", "ROLE", "PORTAL", "IOPS", "MB/s", "QD",
                         "P50", "P99", "RETRIED", "FAILOVERS")

local function session_line(i, s, picked)
  local conns = string.format("%d conn%s", s.connection_count, s.connection_count == 1 and "" or "s")
  if s.max_connections and s.max_connections > 0 then conns = conns .. " of " .. s.max_connections end
  return string.format(ROW, (picked and ">" or "") .. i, idtext(s.id) .. " " .. clip(s.target, 25),
                       clip(s.state, 10), clip(s.policy, 15), conns, num(s.iops, "%.0f"), num(s.mbps, "%.2f"),
                       s.queue_depth, us_text(s.p50_us), us_text(s.p99_us), s.commands_retried, s.recoveries)
end

local function conn_line(c)
  return string.format(ROW, "", string.format("  %s cid %d", idtext(c.id), c.cid or 0), clip(c.state, 10),
                       clip(c.role, 15), clip(c.portal, 21), num(c.iops, "%.0f"), num(c.mbps, "%.2f"),
                       c.queue_depth, us_text(c.p50_us), us_text(c.p99_us), "", "")
end

local function event_line(e)
  local who = "session " .. idtext(e.session_id)
  if e.connection_id then who = who .. " conn " .. idtext(e.connection_id) end
  local r = (e.reason and e.reason ~= "") and ": " .. e.reason or ""
  return string.format("%s %-18s %s%s", e.time, e.kind, who, r)
end

-- The lines of one frame (view: sort, only = a session id or nil, events,
-- status = a problem to show, width).
function M.lines(f, view)
  view = view or {}
  local out = {}
  local shown = 0
  for _, s in ipairs(f.sessions) do
    if not view.only or s.id == view.only then shown = shown + 1 end
  end
  out[1] = string.format("mcsi top  %s  every %.1f s  %d session%s%s  sort: %s", f.time, view.interval or 1,
                         #f.sessions, #f.sessions == 1 and "" or "s",
                         view.only and string.format(" (showing session %s)", idtext(view.only)) or "", view.sort or "name")
  out[2] = "keys: i iops  m MB/s  l latency  n name  1-9/up/down pick  a all  q quit"
  if view.status then out[#out + 1] = "! " .. view.status end
  out[#out + 1] = ""
  out[#out + 1] = M.HEADER
  for i, s in ipairs(f.sessions) do
    if not view.only or s.id == view.only then
      out[#out + 1] = session_line(i, s, view.only == s.id)
      for _, c in ipairs(s.connections) do out[#out + 1] = conn_line(c) end
    end
  end
  if #f.sessions == 0 then out[#out + 1] = "(no session)" end
  out[#out + 1] = ""
  out[#out + 1] = "EVENTS"
  local ev = view.events or {}
  for i = math.max(1, #ev - M.EVENTS_SHOWN + 1), #ev do out[#out + 1] = event_line(ev[i]) end
  if #ev == 0 then out[#out + 1] = "(none yet)" end
  local w = view.width
  for i, l in ipairs(out) do
    l = l:gsub("%s+$", "")
    out[i] = w and #l > w and l:sub(1, w) or l
  end
  return out
end

-- The --json form of a frame: plain data, null for no value.
function M.json(f, events)
  local j = { time = f.time, interval_s = f.interval_s, sessions = {}, events = {} }
  for _, s in ipairs(f.sessions) do j.sessions[#j.sessions + 1] = s end
  for _, e in ipairs(events or {}) do j.events[#j.events + 1] = e end
  return pretty.json_encode(j)
end

-- ---- the live loop -----------------------------------------------------------------------

local function snapshot(api)
  local list, st = api.sessions()
  if type(list) ~= "table" then return nil, tostring(st or "no session list") end
  return { t = api.now(), sessions = list }
end

-- (io.popen and os.execute are missing under mcsi --sandbox: no terminal then)
local function shell_out(cmd)
  local p = io.popen and io.popen(cmd .. " 2>/dev/null")
  if not p then return nil end
  local s = p:read("a")
  local ok = p:close()
  return ok and s or nil
end

-- The terminal's settings now (nil: stdin is no terminal), and its size.
local function tty_state() local s = shell_out("stty -g") return s and s:gsub("%s+$", "") end
local function tty_width()
  local s = shell_out("stty size")
  return s and tonumber(s:match("%d+%s+(%d+)"))
end
local function stdout_is_tty() return os.execute ~= nil and os.execute("test -t 1") == true end

local Top = {}
Top.__index = Top

function Top:event(ev)
  local e = { time = os.date("%H:%M:%S"), kind = ev.kind, session_id = ev.session_id,
              connection_id = ev.connection_id, reason = self.api.redact and self.api.redact(ev.reason or "") or ev.reason }
  local list = self.events
  list[#list + 1] = e
  if #list > M.EVENTS_KEPT then table.remove(list, 1) end
  self.fresh_events[#self.fresh_events + 1] = e
  self.dirty = true
end

-- Moves the pick by step (+1 down, -1 up) in the order shown.
function Top:move(step)
  local ss = self.frame and self.frame.sessions or {}
  if #ss == 0 then return end
  local at = 0
  for i, s in ipairs(ss) do if s.id == self.only then at = i end end
  at = at == 0 and (step > 0 and 1 or #ss) or math.max(1, math.min(#ss, at + step))
  self.only = ss[at].id
end

local SORT_KEYS = { i = "iops", m = "mbps", l = "latency", n = "name" }

function Top:key(ch)
  if self.esc == 1 then
    self.esc = nil
    if ch == "[" or ch == "O" then self.esc = 2 return end
    self.only = nil                      -- a lone Esc: show all
  elseif self.esc == 2 then
    self.esc = nil
    if ch == "A" then self:move(-1) elseif ch == "B" then self:move(1) end
    self.dirty = true
    return
  end
  if ch == "\27" then self.esc = 1 return end
  if ch == "q" or ch == "Q" then self.quit = true
  elseif SORT_KEYS[ch] then self.sort = SORT_KEYS[ch]
  elseif ch == "k" then self:move(-1)
  elseif ch == "j" then self:move(1)
  elseif ch == "a" or ch == "0" then self.only = nil
  elseif ch:match("^[1-9]$") then
    local s = self.frame and self.frame.sessions[tonumber(ch)]
    if s then self.only = s.id end
  else return end
  self.dirty = true
end

function Top:draw()
  self.dirty = false
  if not self.frame then return end
  M.sort(self.frame, self.sort)
  local out = self.out
  if self.json then
    out:write(M.json(self.frame, self.fresh_events), "\n")
    self.fresh_events = {}
  elseif self.screen then
    local lines = M.lines(self.frame, { sort = self.sort, only = self.only, events = self.events,
                                        status = self.status, interval = self.interval, width = self.width })
    out:write("\27[H", table.concat(lines, "\27[K\n"), "\27[K\n\27[J")
  else
    local lines = M.lines(self.frame, { sort = self.sort, only = self.only, events = self.events,
                                        status = self.status, interval = self.interval })
    out:write(table.concat(lines, "\n"), "\n")
  end
  out:flush()
end

function Top:refresh()
  if self.screen then self.width = tty_width() or self.width end    -- the terminal may have been resized
  local cur, err = snapshot(self.api)
  self.status = err
  if cur then
    self.frame = M.frame(self.last, cur)
    self.last = cur
  end
  if self.only and self.frame then   -- the picked session went away: all again
    local there = false
    for _, s in ipairs(self.frame.sessions) do there = there or s.id == self.only end
    if not there then self.only = nil end
  end
  self.dirty = true
end

function Top:watch_keys()
  if not self.keys or not self.tty then return end
  io.stdin:setvbuf("no")
  self.key_watch = self.api.watch(0, function()
    local ch = io.stdin:read(1)
    if not ch then                      -- end of input: no more keys
      self.api.cancel(self.key_watch)
      self.key_watch = nil
      return
    end
    self:key(ch)
  end)
end

-- The screen (escapes, redrawn in place) when the output is the terminal;
-- else (a file, a pipe) plain frames one after the other, as top -b.
function Top:enter_screen()
  if self.once or self.json or self.out ~= io.stdout or not stdout_is_tty() then return end
  self.screen = true
  if self.tty then os.execute("stty -icanon -echo min 1 time 0 2>/dev/null") end
  self.width = tty_width()
  self.out:write("\27[?1049h\27[?25l\27[H\27[2J")
  self.out:flush()
end

function Top:leave_screen()
  if self.key_watch then self.api.cancel(self.key_watch) self.key_watch = nil end
  if self.event_handler then self.api.off(self.event_handler) self.event_handler = nil end
  if not self.screen then return end
  self.screen = false
  self.out:write("\27[?25h\27[?1049l")
  self.out:flush()
  if self.tty then os.execute("stty " .. self.tty .. " 2>/dev/null") end
end

function Top:loop()
  local interval_ms = self.interval * 1000
  self:refresh()                         -- the first snapshot: rates from the next one
  local due = self.api.now() + interval_ms
  if self.screen then self:draw() end   -- at once on the screen; printed frames wait for rates
  while not self.quit do
    local wait = due - self.api.now()
    if wait <= 0 then
      self:refresh()
      self:draw()
      self.drawn = self.drawn + 1
      if self.once or (self.frames and self.drawn >= self.frames) then return end
      due = math.max(due + interval_ms, self.api.now() + interval_ms / 2)
    else
      self.api.poll(math.min(math.floor(wait) + 1, 200))
      if self.dirty and self.screen then self:draw() end
    end
  end
end

-- Runs the view until q (or one frame with once, o.frames frames with
-- frames). o: interval (seconds), once, json, frames, session (an id to show
-- alone), sort ("iops", "mbps", "latency", "name"), out (a file), keys (read
-- keys from stdin when it is a terminal), api (the mcsi module).
function M.run(o)
  o = o or {}
  local self = setmetatable({
    api = o.api or require "mcsi", interval = tonumber(o.interval) or 1, once = o.once, json = o.json,
    only = o.session and math.tointeger(tonumber(o.session)), out = o.out or io.stdout, keys = o.keys ~= false,
    sort = o.sort or "name", events = {}, fresh_events = {}, frames = o.frames, drawn = 0,
  }, Top)
  assert(self.interval > 0, "mcsi.top: interval must be more than 0 seconds")
  self.tty = not self.once and not self.json and self.keys and tty_state() or nil
  local function on_event(ev) self:event(ev) end
  local ok, id = pcall(self.api.on, "*", on_event)   -- in-process: "*"; the daemon's client: no kind
  self.event_handler = ok and id or self.api.on(on_event)
  self:enter_screen()
  self:watch_keys()
  local ok, err = pcall(self.loop, self)
  self:leave_screen()
  if not ok then
    if tostring(err):find("interrupted!", 1, true) then return true end
    error(err, 0)
  end
  return true
end

M.USAGE = [=[
usage: mcsi top [--connect[=SOCKET]] [--once] [--json] [--interval SECONDS] [--session ID]
  every session and connection of mcsid (at SOCKET, else $MCSI_SOCKET, else
  /run/mcsi/mcsid.sock; a script shows its own: require("mcsi.top").run{}),
  refreshed every interval (1 s): state, role, portal, IOPS, MB/s, queue
  depth, latency p50/p99, commands re-issued, failovers, recent events.
  keys: i iops, m MB/s, l latency, n name (sort); 1-9, up/down pick a
  session, a all; q quit
  --once      one frame as plain text after one interval, then exit
  --json      one JSON object per interval (with --once: one)
]=]

-- `mcsi top ARGS`: true, or nil and a message (the exit status is the caller's).
function M.main(args)
  local o, connect, socket = {}, false, nil
  local i = 1
  while args[i] do
    local a = args[i]
    local v = a:match("^%-%-interval=(.+)$") or a:match("^%-%-session=(.+)$")
    if a == "--once" then o.once = true
    elseif a == "--json" then o.json = true
    elseif a == "--connect" then
      connect = true
      if args[i + 1] and not args[i + 1]:match("^%-") then i = i + 1 socket = args[i] end
    elseif a:match("^%-%-connect=") then connect, socket = true, a:sub(11)
    elseif a == "--interval" or a == "-d" or a:match("^%-%-interval=") then
      if not v then i = i + 1 v = args[i] end
      o.interval = tonumber(v)
      if not o.interval or o.interval <= 0 then return nil, "mcsi top: --interval wants seconds (more than 0)" end
    elseif a == "--session" or a:match("^%-%-session=") then
      if not v then i = i + 1 v = args[i] end
      o.session = math.tointeger(tonumber(v))
      if not o.session then return nil, "mcsi top: --session wants a session id" end
    elseif a == "--help" or a == "-h" then io.stdout:write(M.USAGE) return true
    else return nil, "mcsi top: unknown option '" .. a .. "'\n" .. M.USAGE end
    i = i + 1
  end
  -- `mcsi top` shows the daemon's sessions: a fresh process has none of its own
  -- (a script shows its own with M.run). Its socket: --connect=SOCKET, else
  -- $MCSI_SOCKET, else /run/mcsi/mcsid.sock; already connected: that one.
  local mcsi = require "mcsi"
  if connect or not rawget(mcsi, "_remote") then
    local ok, err = mcsi.connect(socket)
    if not ok then return nil, "mcsi top: cannot reach mcsid: " .. tostring(err) end
  end
  return M.run(o)
end

M._Top = Top                          -- for tests

return M
