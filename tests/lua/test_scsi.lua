-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_scsi.lua: any CDB from Lua, blocking (mcsi.scsi_command) and
-- asynchronous (mcsi.scsi_submit), and ABORT TASK (mcsi.abort_task) of a
-- command that an offline tgt swallowed.
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi

local function tgtadm(args)
  return os.execute("TGT_IPC_SOCKET=" .. H.env("MCSI_TGT_IPC") .. " tgtadm -C 0 --lld iscsi " .. args .. " >/dev/null 2>&1")
end

local function read10(lba, blocks)
  return string.pack(">BBI4BI2B", 0x28, 0, lba, 0, blocks, 0)
end

TestScsi = {}

function TestScsi:tearDown()
  tgtadm("--op update --mode target --tid 1 --name state --value ready")
  H.check_clean()
end

function TestScsi:test_command()
  local sid = H.login(H.tgt, H.tgt_iqn)
  lu.assertTrue(mcsi.scsi_test_unit_ready(sid, H.file_lun).ok)
  local r, st = mcsi.scsi_command(sid, H.file_lun, string.char(0x12, 0, 0, 0, 96, 0), "read", 96)
  lu.assertTrue(st.ok, tostring(st))
  lu.assertEquals(r.status, 0)
  lu.assertEquals(r.data:sub(9, 11), "IET")
  local data = string.rep("mcsi", 1024)
  r, st = mcsi.scsi_command(sid, H.file_lun, string.pack(">BBI4BI2B", 0x2a, 0, 100, 0, 8, 0), "write", data)
  lu.assertTrue(st.ok, tostring(st))
  r, st = mcsi.scsi_command(sid, H.file_lun, read10(100, 8), "read", 4096)
  lu.assertTrue(st.ok, tostring(st))
  lu.assertEquals(r.data, data)
  r, st = mcsi.scsi_command(sid, H.file_lun, read10(0xfffffff0, 8), "read", 4096)
  lu.assertEquals(st.name, "ISDSC_SCSI_REQUEST_FAILED")
  lu.assertEquals(r.status, 2)
  lu.assertEquals(r.sense_key, 5)             -- ILLEGAL REQUEST
  H.assertRaises("CDB", function() mcsi.scsi_command(sid, 1, "", "read", 4) end)
  H.assertRaises("direction must be", function() mcsi.scsi_command(sid, 1, read10(0, 1), "sideways", 4) end)
  lu.assertTrue(mcsi.logout_from_target(sid).ok)
end

function TestScsi:test_submit_and_abort()
  local sid = H.login(H.tgt, H.tgt_iqn)
  lu.assertTrue(mcsi.scsi_test_unit_ready(sid, H.file_lun).ok)
  local got
  local tag, st = mcsi.scsi_submit(sid, H.file_lun, read10(0, 8), "read", 4096, function(r, s) got = { r = r, st = s } end)
  lu.assertTrue(st.ok, tostring(st))
  while not got do mcsi.poll(100) end
  lu.assertTrue(got.st.ok)
  lu.assertEquals(#got.r.data, 4096)
  lu.assertEquals(mcsi.abort_task(sid, tag).name, "ISDSC_NOT_FOUND")

  lu.assertTrue(tgtadm("--op update --mode target --tid 1 --name state --value offline"))
  got = nil
  tag, st = mcsi.scsi_submit(sid, H.file_lun, read10(0, 8), "read", 4096, function(r, s) got = { r = r, st = s } end)
  lu.assertTrue(st.ok, tostring(st))
  mcsi.sleep(100)
  lu.assertNil(got)
  st = mcsi.abort_task(sid, tag)
  lu.assertTrue(st.ok, tostring(st))
  lu.assertNotNil(got)
  lu.assertEquals(got.st.name, "ISDSC_SCSI_REQUEST_FAILED")
  tgtadm("--op update --mode target --tid 1 --name state --value ready")
  lu.assertTrue(mcsi.logout_from_target(sid).ok)
end

H.finish()
