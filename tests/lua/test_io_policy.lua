-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_io_policy.lua: the engine owns the I/O policy, and the Lua faces
-- carry none of their own (issue 15). Against build/tests/fake-target with
-- storms armed at run time (tests/lua/io_policy.lua), the same steps and the
-- same expectations for:
--   * Lua in-process (bindings/lscsi.c): mcsi.read, mcsi.write, mcsi.flush,
--     mcsi.scsi_command;
--   * the remote client (mcsi.connect, bindings/mcsi/remote.lua) in a child
--     process, through a real mcsid on a temporary socket.
-- A UNIT ATTENTION, BUSY, TASK SET FULL or ABORTED COMMAND storm of
-- MCSI_SCSI_RETRIES commands succeeds and
-- the target received exactly MCSI_SCSI_RETRIES + 1; a storm one longer
-- fails after exactly MCSI_SCSI_RETRIES + 1 (raw CDBs too); a write with
-- { fua = true } reaches the target with the FUA bit, a read with
-- { dpo = true } with DPO, and nothing else does. With the target's Block
-- Limits at N blocks (--max-transfer-blocks), a read and a write longer than
-- N blocks arrive as several commands of at most N blocks, data intact; with
-- LUN 1 in 4096-byte blocks (--lun1-4k), LUN 0 and LUN 1 of ONE session both
-- write and read back at the same LBA in either order, each in its own block
-- size. Every count is the target's own.
local H = require "helper"
local P = require "io_policy"
local lu, mcsi = H.lu, H.mcsi
local ROOT = arg and arg[0] and arg[0]:match("^(.*)/tests/lua/[^/]*$") or "."
local LIMIT = P.retries(ROOT)
local MAX_BLOCKS = 8          -- the Block Limits' MAXIMUM TRANSFER LENGTH of the splitting cases
local SPLIT_ARGS = { "--max-transfer-blocks", tostring(MAX_BLOCKS) }
local GEOMETRY_ARGS = { "--lun1-4k" }

TestIoPolicy = {}

function TestIoPolicy:setUp()
  self.ft = P.fake_target(H.build)
end

-- replaces the case's fake target by one started with args
function TestIoPolicy:restart_target(args)
  self.ft:stop()
  self.ft = nil
  self.ft = P.fake_target(H.build, args)
  return self.ft
end

function TestIoPolicy:tearDown()
  if self.daemon then
    self.daemon:stop()
    self.daemon = nil
  end
  if self.ft then self.ft:stop() end
  H.check_clean()
end

function TestIoPolicy:test_in_process()
  local rows = P.scenario(mcsi, self.ft, LIMIT)
  P.check(lu, rows, LIMIT, "Lua in-process")
end

-- options are checked: a misspelt one raises, as a bad argument does
function TestIoPolicy:test_options_checked()
  local sid = H.login(self.ft.portal, self.ft.iqn)
  H.assertRaises("unknown option", function() mcsi.read(sid, 0, 0, 1, { FUA = true }) end)
  H.assertRaises("table expected", function() mcsi.write(sid, 0, 0, string.rep("x", 512), "fua") end)
  local data, st = mcsi.read(sid, 0, 0, 1, nil)
  lu.assertTrue(st.ok, tostring(st))
  lu.assertEquals(#data, 512)
  lu.assertTrue(mcsi.logout_from_target(sid).ok)
end

-- the callback and coroutine forms take the options too, and get the same results
function TestIoPolicy:test_forms()
  local ft = self.ft
  local sid = H.login(ft.portal, ft.iqn)
  local before = ft:counts()
  local got
  local st = mcsi.write(sid, 0, 24, string.rep("c", 512), { fua = true }, function(s) got = { st = s } end)
  lu.assertTrue(st.ok, tostring(st))
  while not got do mcsi.poll(50) end
  lu.assertTrue(got.st.ok, tostring(got.st))
  local co
  mcsi.spawn(function()
    local data, s = mcsi.read(sid, 0, 24, 1, { dpo = true })
    co = { data = data, st = s }
  end)
  while not co do mcsi.poll(50) end
  lu.assertTrue(co.st.ok, tostring(co.st))
  lu.assertEquals(co.data, string.rep("c", 512))
  local after = ft:counts()
  lu.assertEquals({ after.rw - before.rw, after.fua - before.fua, after.dpo - before.dpo }, { 2, 1, 1 },
    "callback write with fua, coroutine read with dpo: {READ/WRITE, FUA, DPO} at the target")
  lu.assertTrue(mcsi.logout_from_target(sid).ok)
end

-- requests still waiting in the engine (a BUSY storm's back-off) when the
-- state closes: their completions let go without done; nothing leaks or
-- runs late (under make asan: LeakSanitizer)
function TestIoPolicy:test_pending_at_close()
  local ft = self.ft
  local code = string.format([[
local mcsi = require "mcsi"
local P = require "io_policy"
local ft = P.attach(%q, %q, %q, %q)
local sid = assert(mcsi.login_to_target({ portal = ft.portal, target = ft.iqn }))
ft:storm("busy", 1000)
assert(mcsi.read(sid, 0, 0, 1, { fua = true }, function() print("late callback") end).ok)
assert(mcsi.write(sid, 0, 0, string.rep("x", 512), function() print("late callback") end).ok)
mcsi.spawn(function() mcsi.flush(sid, 0) print("late coroutine") end)
mcsi.sleep(100)
ft.ctl:close()
print("closing")
os.exit(0, true)
]], ft.ctl_path, ft.out_path, ft.portal, ft.iqn)
  local rc, out = H.child(code)
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "closing")
  lu.assertNotStrContains(out, "late")
  lu.assertNotStrContains(out, "Sanitizer")
  ft:storm("busy", 0)
end

local function start_daemon(self)
  self.daemon = H.start_mcsid("io-policy-test")
  return self.daemon
end

function TestIoPolicy:test_remote_client()
  local d = start_daemon(self)
  local ft = self.ft
  local code = string.format([[
local mcsi = require "mcsi"
local P = require "io_policy"
assert(mcsi.connect(%q))
local ft = P.attach(%q, %q, %q, %q)
for _, row in ipairs(P.scenario(mcsi, ft, %d)) do print("ROW " .. P.format(row)) end
ft.ctl:close()
]], d.sock, ft.ctl_path, ft.out_path, ft.portal, ft.iqn, LIMIT)
  local rc, out = H.child(code)
  lu.assertEquals(rc, 0, out)
  P.check(lu, P.parse(out), LIMIT, "the remote client (mcsi.connect)")
end

function TestIoPolicy:test_splitting_in_process()
  local ft = self:restart_target(SPLIT_ARGS)
  lu.assertEquals(P.splitting(mcsi, ft, MAX_BLOCKS), {}, "Lua in-process: splitting at the target")
end

function TestIoPolicy:test_geometry_in_process()
  local ft = self:restart_target(GEOMETRY_ARGS)
  lu.assertEquals(P.geometry(mcsi, ft), {}, "Lua in-process: LUN 0 and LUN 1 each in its block size")
end

-- runs P[step](mcsi, ft, ...) in a child through mcsi.connect; its failures
local function remote_fails(self, step, extra)
  local d = start_daemon(self)
  local ft = self.ft
  local code = string.format([[
local mcsi = require "mcsi"
local P = require "io_policy"
assert(mcsi.connect(%q))
local ft = P.attach(%q, %q, %q, %q)
for _, f in ipairs(P[%q](mcsi, ft, %s)) do print("FAIL " .. f) end
ft.ctl:close()
print("done")
]], d.sock, ft.ctl_path, ft.out_path, ft.portal, ft.iqn, step, tostring(extra))
  local rc, out = H.child(code)
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "done")
  local fails = {}
  for f in out:gmatch("FAIL ([^\n]*)") do fails[#fails + 1] = f end
  return fails
end

function TestIoPolicy:test_splitting_remote_client()
  self:restart_target(SPLIT_ARGS)
  lu.assertEquals(remote_fails(self, "splitting", MAX_BLOCKS), {}, "the remote client: splitting at the target")
end

function TestIoPolicy:test_geometry_remote_client()
  self:restart_target(GEOMETRY_ARGS)
  lu.assertEquals(remote_fails(self, "geometry", nil), {}, "the remote client: LUN 0 and LUN 1 each in its block size")
end

H.finish()
