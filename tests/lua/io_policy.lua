-- SPDX-License-Identifier: LGPL-2.1-or-later
-- io_policy.lua: the engine's I/O policy seen through a Lua face, shared by
-- tests/lua/test_io_policy.lua (in-process, and the remote client mcsi.connect
-- in a child process) and usable by any face that has the Lua API.
--
--   local P = require "io_policy"
--   local ft = P.fake_target(build)       -- build/tests/fake-target, a process
--   local rows = P.scenario(mcsi, ft)     -- runs the storms, FUA, DPO
--   P.check(lu, rows, label)              -- the expectations, one place
--   ft:stop()
--
-- The fake target (tests/c/fake_target.c, storms by the io slice) answers
-- the next N I/O commands with a condition; the counts are the TARGET's
-- (its answer to a "count" line on its stdin, in order with the "storm"
-- lines: no timing), never what the initiator reports.
-- The limit is read from core/mcsi.h (MCSI_SCSI_RETRIES), the one place
-- that states it.
local P = {}

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function sleep(s) os.execute("sleep " .. s) end

-- MCSI_SCSI_RETRIES as core/mcsi.h defines it.
function P.retries(root)
  local f = assert(io.open((root or ".") .. "/core/mcsi.h"))
  local text = f:read("a")
  f:close()
  return assert(tonumber(text:match("#define MCSI_SCSI_RETRIES (%d+)")), "MCSI_SCSI_RETRIES in core/mcsi.h")
end

-- ---- the fake target as a process --------------------------------------------------

local FT = {}
FT.__index = FT

-- Starts build/tests/fake-target with a control FIFO on its stdin and a count file;
-- args: extra options, e.g. { "--max-transfer-blocks", "8" } or { "--lun1-4k" }.
function P.fake_target(build, args)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. shq(dir) .. " && mkfifo " .. shq(dir .. "/ctl")))
  local self = setmetatable({ dir = dir, ctl_path = dir .. "/ctl", out_path = dir .. "/out" }, FT)
  local opts = {}
  for i, a in ipairs(args or {}) do opts[i] = shq(a) end
  local p = io.popen(string.format("%s %s <%s >%s 2>&1 & echo $!", shq(build .. "/tests/fake-target"),
    table.concat(opts, " "), shq(self.ctl_path), shq(self.out_path)))
  self.pid = p:read("l")
  p:close()
  self.ctl = assert(io.open(self.ctl_path, "w"))     -- opens once the target opened its end
  for _ = 1, 200 do                                   -- until it printed "PORTAL IQN" (bounded)
    local f = io.open(dir .. "/out")
    local line = f and f:read("l")
    if f then f:close() end
    if line then
      self.portal, self.iqn = line:match("^(%S+) (%S+)")
      if self.iqn then return self end
    end
    sleep(0.02)
  end
  error("fake-target did not start")
end

-- Attaches to a fake target another process started (its control FIFO and output file).
function P.attach(ctl_path, out_path, portal, iqn)
  local self = setmetatable({ ctl_path = ctl_path, out_path = out_path, portal = portal, iqn = iqn }, FT)
  self.ctl = assert(io.open(ctl_path, "w"))
  return self
end

-- The lines the target printed so far.
local function out_lines(path)
  local lines = {}
  local f = io.open(path)
  if f then
    for line in f:lines() do lines[#lines + 1] = line end
    f:close()
  end
  return lines
end

-- The target's counters now: it answers "count" with one line on its stdout
-- (our out file), after every line written before it (a storm is armed then).
function FT:counts()
  local n = #out_lines(self.out_path)
  self.ctl:write("count\n")
  self.ctl:flush()
  for _ = 1, 500 do                                   -- bounded: 5 s
    local lines = out_lines(self.out_path)
    if #lines > n and lines[#lines]:find("\n?commands=") then
      local c = {}
      for k, v in lines[#lines]:gmatch("([%w_]+)=(%d+)") do c[k] = tonumber(v) end
      return c
    end
    sleep(0.01)
  end
  error("the fake target did not answer \"count\"")
end

-- The next n I/O commands get kind ("ua", "busy", "tsf", "aborted"); armed when this returns.
function FT:storm(kind, n)
  self.ctl:write(string.format("storm %s:%d\n", kind, n))
  self:counts()
end

function FT:stop()
  if self.ctl then self.ctl:close() end
  self.ctl = nil
  if self.pid then                                    -- SIGTERM: children (mcsid) may hold the FIFO open
    os.execute(string.format("kill %s 2>/dev/null; while kill -0 %s 2>/dev/null && " ..   -- gone, or a zombie
      "! grep -q '^[0-9]* (.*) Z' /proc/%s/stat 2>/dev/null; do sleep 0.02; done", self.pid, self.pid, self.pid))
  end
  if self.dir then os.execute("rm -rf " .. shq(self.dir)) end
end

-- ---- the scenario ----------------------------------------------------------------------

local KEYS = { "io", "storm", "rw", "fua", "dpo" }

-- The conditions of the retry rule, as the fake target names its storms:
-- UNIT ATTENTION, BUSY, TASK SET FULL, ABORTED COMMAND.
P.KINDS = { "ua", "busy", "tsf", "aborted" }

-- Runs op() and returns a row: its Status name and the target's counter deltas.
local function measure(ft, name, op)
  local before = ft:counts()
  local ok, st = pcall(op)                            -- a face without the call: a row that says so
  local after = ft:counts()
  local row = { name = name, status = not ok and "error: " .. tostring(st):gsub("[|\n]", "/") or st and st.name or "nil" }
  for _, k in ipairs(KEYS) do row[k] = (after[k] or 0) - (before[k] or 0) end
  return row
end

-- The same steps in every face: m is the mcsi API (in-process or mcsi.connect's).
function P.scenario(m, ft, limit)
  local rows = {}
  local sid, _, st = m.login_to_target({ portal = ft.portal, target = ft.iqn, login_timeout_ms = 5000 })
  assert(sid, "login to the fake target: " .. tostring(st))
  local function read1(opts)
    local _, s = m.read(sid, 0, 8, 1, opts)
    return s
  end
  rows[#rows + 1] = measure(ft, "warm-up read", read1)
  for _, kind in ipairs(P.KINDS) do
    ft:storm(kind, limit)
    rows[#rows + 1] = measure(ft, kind .. " storm of limit: read", read1)
    ft:storm(kind, limit + 1)
    rows[#rows + 1] = measure(ft, kind .. " storm of limit+1: read", read1)
    ft:storm(kind, 0)
  end
  ft:storm("ua", limit)
  rows[#rows + 1] = measure(ft, "ua storm of limit: write", function()
    return m.write(sid, 0, 16, string.rep("w", 512))
  end)
  ft:storm("ua", limit + 1)
  rows[#rows + 1] = measure(ft, "ua storm of limit+1: raw READ(10)", function()
    local _, s = m.scsi_command(sid, 0, string.pack(">BBI4BI2B", 0x28, 0, 8, 0, 1, 0), "read", 512)
    return s
  end)
  ft:storm("ua", 0)
  rows[#rows + 1] = measure(ft, "write with fua", function()
    return m.write(sid, 0, 16, string.rep("f", 512), { fua = true })
  end)
  rows[#rows + 1] = measure(ft, "write without options", function()
    return m.write(sid, 0, 16, string.rep("p", 512))
  end)
  rows[#rows + 1] = measure(ft, "read with dpo", function() return read1({ dpo = true }) end)
  rows[#rows + 1] = measure(ft, "flush", function() return m.flush(sid, 0) end)
  rows[#rows + 1] = measure(ft, "unmap (the LUN offers none)", function() return m.unmap(sid, 0, 16, 1) end)
  rows[#rows + 1] = measure(ft, "write_zeroes, read back", function()
    local st0 = m.write_zeroes(sid, 0, 16, 1)
    if not st0.ok then return st0 end
    local data, st1 = m.read(sid, 0, 16, 1)
    if st1.ok and data ~= string.rep("\0", 512) then return { name = "not zeroes" } end
    return st1
  end)
  local st2 = m.logout_from_target(sid)
  assert(st2.ok, "logout: " .. tostring(st2))
  return rows
end

-- ---- splitting and geometry per LUN ------------------------------------------------
-- Each returns a list of failures (empty: all as expected), so that a child
-- process can print them; every count is the target's.

-- A block pattern of n bytes, different per seed.
local function pattern(n, seed)
  local t = {}
  for i = 1, n do t[i] = string.char((i * 7 + seed * 31 + (i >> 9)) % 251) end
  return table.concat(t)
end
P.pattern = pattern

-- With the target started with --max-transfer-blocks n: a write and a read of
-- 4n+5 blocks arrive as 5 commands each, none longer than n blocks, and the
-- data reads back intact.
function P.splitting(m, ft, n)
  local fails = {}
  local function expect(cond, what) if not cond then fails[#fails + 1] = what end end
  local sid, _, st = m.login_to_target({ portal = ft.portal, target = ft.iqn, login_timeout_ms = 5000 })
  assert(sid, "login to the fake target: " .. tostring(st))
  local blocks = 4 * n + 5
  local want = math.ceil(blocks / n)
  local data = pattern(blocks * 512, 3)
  local c0 = ft:counts()
  local st1 = m.write(sid, 0, 64, data)
  local c1 = ft:counts()
  expect(st1.ok, "write of " .. blocks .. " blocks: " .. tostring(st1))
  expect(c1.rw - c0.rw == want, string.format("write of %d blocks: %d WRITEs at the target, want %d",
    blocks, c1.rw - c0.rw, want))
  expect(c1.max_rw_blocks <= n, string.format("write: largest WRITE at the target %d blocks, limit %d",
    c1.max_rw_blocks, n))
  local got, st2 = m.read(sid, 0, 64, blocks)
  local c2 = ft:counts()
  expect(st2.ok, "read of " .. blocks .. " blocks: " .. tostring(st2))
  expect(c2.rw - c1.rw == want, string.format("read of %d blocks: %d READs at the target, want %d",
    blocks, c2.rw - c1.rw, want))
  expect(c2.max_rw_blocks <= n, string.format("read: largest READ at the target %d blocks, limit %d",
    c2.max_rw_blocks, n))
  expect(got == data, "read back: the data written, intact (" .. tostring(got and #got) .. " bytes)")
  assert(m.logout_from_target(sid).ok, "logout")
  return fails
end

-- With the target started with --lun1-4k, on ONE session: LUN 0 (512-byte
-- blocks) and LUN 1 (4096-byte blocks) each write and read back at the same
-- LBA, LUN 1 first then LUN 0; then, on a new session, LUN 0 first then LUN 1. One 4096-byte
-- block on LUN 1 is one WRITE of 1 block at the target; 8 512-byte blocks on
-- LUN 0 one WRITE of 8 blocks.
function P.geometry(m, ft)
  local fails = {}
  local function expect(cond, what) if not cond then fails[#fails + 1] = what end end
  local sid, _, st = m.login_to_target({ portal = ft.portal, target = ft.iqn, login_timeout_ms = 5000 })
  assert(sid, "login to the fake target: " .. tostring(st))
  local function step(lun, lba, blocks, seed, label)
    local bs = lun == 1 and 4096 or 512
    local data = pattern(blocks * bs, seed)
    local c0 = ft:counts()
    local sw = m.write(sid, lun, lba, data)
    local c1 = ft:counts()
    expect(sw.ok, label .. ": write to LUN " .. lun .. ": " .. tostring(sw))
    expect(c1.rw - c0.rw == 1, string.format("%s: write to LUN %d: %d WRITEs at the target, want 1",
      label, lun, c1.rw - c0.rw))
    local got, sr = m.read(sid, lun, lba, blocks)
    local c2 = ft:counts()
    expect(sr.ok, label .. ": read of LUN " .. lun .. ": " .. tostring(sr))
    expect(c2.rw - c1.rw == 1, string.format("%s: read of LUN %d: %d READs at the target, want 1",
      label, lun, c2.rw - c1.rw))
    expect(got == data, string.format("%s: LUN %d reads back what was written to it (%s of %d bytes)",
      label, lun, tostring(got and #got), #data))
    return c2
  end
  -- LUN 1 first on a fresh target: the largest READ/WRITE so far is LUN 1's one block
  local c = step(1, 5, 1, 11, "LUN 1 first")
  expect(c.max_rw_blocks == 1, string.format("LUN 1's 4096 bytes went as %d blocks at the target, want 1",
    c.max_rw_blocks))
  c = step(0, 5, 8, 12, "then LUN 0")
  expect(c.max_rw_blocks == 8, string.format("LUN 0's 4096 bytes went as %d blocks at the target, want 8",
    c.max_rw_blocks))
  assert(m.logout_from_target(sid).ok, "logout")
  -- the other order on a new session, that has learned neither LUN yet
  sid, _, st = m.login_to_target({ portal = ft.portal, target = ft.iqn, login_timeout_ms = 5000 })
  assert(sid, "second login to the fake target: " .. tostring(st))
  step(0, 9, 8, 13, "LUN 0 first")
  step(1, 9, 1, 14, "then LUN 1")
  assert(m.logout_from_target(sid).ok, "logout")
  return fails
end

-- What every face must show: name -> status, io, storm, rw, fua, dpo.
function P.expected(limit)
  local ok, failed = "ISDSC_SUCCESS", "ISDSC_SCSI_REQUEST_FAILED"
  local e = {
    ["warm-up read"] = { ok, 1, 0, 1, 0, 0 },
    ["ua storm of limit: write"] = { ok, limit + 1, limit, limit + 1, 0, 0 },
    ["ua storm of limit+1: raw READ(10)"] = { failed, limit + 1, limit + 1, limit + 1, 0, 0 },
    ["write with fua"] = { ok, 1, 0, 1, 1, 0 },
    ["write without options"] = { ok, 1, 0, 1, 0, 0 },
    ["read with dpo"] = { ok, 1, 0, 1, 0, 1 },
    ["flush"] = { ok, 1, 0, 0, 0, 0 },
    ["unmap (the LUN offers none)"] = { "ISDSC_REQUEST_NOT_SUPPORTED", 0, 0, 0, 0, 0 },
    -- WRITE SAME refused by the fake target (ILLEGAL REQUEST): one WRITE of zeroes instead; then the READ
    ["write_zeroes, read back"] = { ok, 3, 0, 2, 0, 0 },
  }
  for _, kind in ipairs(P.KINDS) do
    e[kind .. " storm of limit: read"] = { ok, limit + 1, limit, limit + 1, 0, 0 }
    e[kind .. " storm of limit+1: read"] = { failed, limit + 1, limit + 1, limit + 1, 0, 0 }
  end
  return e
end

-- One line per row: "name|status|io|storm|rw|fua|dpo" (what a child process prints).
function P.format(row)
  return table.concat({ row.name, row.status, row.io, row.storm, row.rw, row.fua, row.dpo }, "|")
end

function P.parse(text)
  local rows = {}
  for line in text:gmatch("[^\n]+") do
    local name, status, io_, storm, rw, fua, dpo = line:match("^ROW (.-)|(.-)|(%-?%d+)|(%-?%d+)|(%-?%d+)|(%-?%d+)|(%-?%d+)$")
    if name then
      rows[#rows + 1] = { name = name, status = status, io = tonumber(io_), storm = tonumber(storm), rw = tonumber(rw),
                          fua = tonumber(fua), dpo = tonumber(dpo) }
    end
  end
  return rows
end

-- Asserts every expected row, in a message that names the face.
function P.check(lu, rows, limit, face)
  local want = P.expected(limit)
  local seen = 0
  for _, row in ipairs(rows) do
    local w = want[row.name]
    lu.assertNotNil(w, face .. ": unexpected step " .. row.name)
    local got = { row.status, row.io, row.storm, row.rw, row.fua, row.dpo }
    lu.assertEquals(got, w, string.format("%s, %s: {status, io sent, storm answers, READ/WRITE, FUA, DPO} at the target",
      face, row.name))
    seen = seen + 1
  end
  local n = 0
  for _ in pairs(want) do n = n + 1 end
  lu.assertEquals(seen, n, face .. ": every step ran")
end

return P
