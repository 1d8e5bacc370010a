-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_ops.lua: every operation of the flat API against real tgt and istgt,
-- the Status object and table, and failures answered with a Status (never raised).
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi

TestStatus = {}

function TestStatus:test_table()
  lu.assertEquals(mcsi.status.ISDSC_SUCCESS, 0)
  lu.assertEquals(mcsi.status.ISDSC_CANT_REMOVE_LAST_CONNECTION, 0xEFFF003D)
  lu.assertEquals(mcsi.status[0xEFFF0064], "ISDSC_CANNOT_REMOVE_LEADING_CONNECTION")
  local n = 0
  for k, v in pairs(mcsi.status) do
    if type(k) == "string" then
      n = n + 1
      lu.assertEquals(mcsi.status[v], k, "code -> name for " .. k)
      lu.assertStrMatches(k, "ISDSC_[%u%d_]+")
    end
  end
  lu.assertTrue(n >= 100, "every row of the table (" .. n .. ")")
end

function TestStatus:test_object()
  local st = mcsi.Status.new("ISDSC_CANT_REMOVE_LAST_CONNECTION")
  lu.assertEquals(st.name, "ISDSC_CANT_REMOVE_LAST_CONNECTION")
  lu.assertEquals(st.code, mcsi.status.ISDSC_CANT_REMOVE_LAST_CONNECTION)
  lu.assertFalse(st.ok)
  lu.assertEquals(st.message, "Cannot remove the last connection of a session")
  lu.assertStrContains(tostring(st), string.format("ISDSC_CANT_REMOVE_LAST_CONNECTION (0x%08X): ", st.code))
  lu.assertTrue(mcsi.Status.new(0).ok)
  lu.assertEquals(mcsi.Status.new(0).name, "ISDSC_SUCCESS")
  -- the 0xAFFF.... warnings count as ok
  for k, v in pairs(mcsi.status) do
    if type(k) == "string" and v & 0xFFFF0000 == 0xAFFF0000 then
      lu.assertTrue(mcsi.Status.new(v).ok, k)
    end
  end
  lu.assertEquals(mcsi.Status.new(0), mcsi.Status.new("ISDSC_SUCCESS", "other text"))
  lu.assertEquals(mcsi.Status.new(0x12345).name, "ISDSC_UNKNOWN")
  H.assertRaises("read-only", function() st.code = 1 end)
  lu.assertNil(st.nonsense)
end

TestOps = {}

function TestOps:tearDown()
  H.check_clean()
end

local function io_roundtrip(sid, lun)
  local cap, st = mcsi.scsi_read_capacity(sid, lun)
  H.assertStatus(st, "ISDSC_SUCCESS", "read capacity")
  lu.assertTrue(cap.blocks > 0 and cap.block_size == 512, "capacity " .. cap.blocks .. " x " .. cap.block_size)
  local data = {}
  for i = 1, 8 * 512 // 16 do data[i] = string.format("block-data-%05d", i) end
  data = table.concat(data)
  H.assertStatus(mcsi.write(sid, lun, 100, data), "ISDSC_SUCCESS", "write")
  local back, st2 = mcsi.read(sid, lun, 100, 8)
  H.assertStatus(st2, "ISDSC_SUCCESS", "read")
  lu.assertEquals(#back, #data)
  lu.assertTrue(back == data, "read back what was written")
  local inq, st3 = mcsi.scsi_inquiry(sid, lun)
  H.assertStatus(st3, "ISDSC_SUCCESS", "inquiry")
  lu.assertEquals(inq.vendor, inq.raw:sub(9, 16))   -- T10 vendor identification, bytes 8-15
  lu.assertEquals(inq.peripheral_type, 0)
  lu.assertTrue(#inq.raw >= 36)
  local vpd, st4 = mcsi.scsi_inquiry(sid, lun, 0x80)
  H.assertStatus(st4, "ISDSC_SUCCESS", "VPD 0x80")
  lu.assertEquals(vpd.page, 0x80)
  local luns, st5 = mcsi.scsi_report_luns(sid)
  H.assertStatus(st5, "ISDSC_SUCCESS", "report luns")
  lu.assertTrue(#luns >= 1)
  H.assertStatus(mcsi.scsi_test_unit_ready(sid, lun), "ISDSC_SUCCESS", "TUR")
end

function TestOps:test_tgt()
  local sid, cid, st = mcsi.login_to_target{ portal = H.tgt, target = H.tgt_iqn, max_connections = 4,
                                             header_digest = "crc32c", data_digest = "crc32c" }
  H.assertStatus(st, "ISDSC_SUCCESS", "login")
  lu.assertIsNumber(sid)
  lu.assertTrue(math.type(sid) == "integer" and math.type(cid) == "integer" and sid ~= cid)
  local list = mcsi.sessions()
  lu.assertEquals(#list, 1)
  local s = list[1]
  lu.assertEquals(s.id, sid)
  lu.assertEquals(s.target, H.tgt_iqn)
  lu.assertEquals(s.state, "active")
  lu.assertTrue(s.tsih ~= 0)
  lu.assertEquals(#s.isid, 12)
  lu.assertEquals(#s.connections, 1)
  local c = s.connections[1]
  lu.assertEquals(c.id, cid)
  lu.assertEquals(c.portal, H.tgt)
  lu.assertTrue(c.leading)
  lu.assertTrue(c.local_port > 0)
  lu.assertEquals(c.header_digest, "crc32c")
  lu.assertEquals(c.state, "active")
  io_roundtrip(sid, H.file_lun)
  local info, st2 = mcsi.session_info(sid)
  H.assertStatus(st2, "ISDSC_SUCCESS")
  lu.assertTrue(info.connections[1].stats.commands >= 5)
  local ci, st3 = mcsi.connection_info(sid, cid)
  H.assertStatus(st3, "ISDSC_SUCCESS")
  lu.assertEquals(ci.cid, c.cid)
  H.assertStatus(mcsi.lun_reset(sid, H.file_lun), "ISDSC_SUCCESS", "LUN reset")
  H.assertStatus(mcsi.logout_from_target(sid), "ISDSC_SUCCESS", "logout")
  lu.assertEquals(#mcsi.sessions(), 0)
  local _, st4 = mcsi.session_info(sid)
  H.assertStatus(st4, "ISDSC_INVALID_SESSION_ID", "info after logout")
end

function TestOps:test_istgt()
  local sid = H.login(H.istgt2, H.istgt_iqn)
  io_roundtrip(sid, 0)
  H.assertStatus(mcsi.logout_from_target(sid), "ISDSC_SUCCESS", "logout")
end

function TestOps:test_chap()
  local chap = { username = H.env("MCSI_CHAP_USER"), secret = H.env("MCSI_CHAP_SECRET") }
  for _, t in ipairs{ { H.tgt, H.env("MCSI_TGT_IQN_CHAP") }, { H.istgt, H.env("MCSI_ISTGT_IQN_CHAP") } } do
    local sid, _, st = mcsi.login_to_target{ portal = t[1], target = t[2], chap = chap }
    H.assertStatus(st, "ISDSC_SUCCESS", "CHAP login " .. t[2])
    mcsi.logout_from_target(sid)
    local sid2, cid2, st2 = mcsi.login_to_target{ portal = t[1], target = t[2],
                                                  chap = { username = chap.username, secret = "wrong-secret-000" } }
    lu.assertNil(sid2)
    lu.assertNil(cid2)
    H.assertStatus(st2, "ISDSC_AUTHENTICATION_FAILURE", "wrong secret " .. t[2])
  end
  local mutual = { username = H.env("MCSI_CHAP_USER2"), secret = H.env("MCSI_CHAP_SECRET2"),
                   target_username = H.env("MCSI_CHAP_TARGET_USER"), target_secret = H.env("MCSI_CHAP_TARGET_SECRET") }
  local sid, _, st = mcsi.login_to_target{ portal = H.istgt, target = H.env("MCSI_ISTGT_IQN_MUTUAL"), chap = mutual }
  H.assertStatus(st, "ISDSC_SUCCESS", "mutual CHAP")
  mcsi.logout_from_target(sid)
end

function TestOps:test_failures_are_statuses()
  local function fails(opts, name)
    local sid, cid, st = mcsi.login_to_target(opts)
    lu.assertNil(sid)
    lu.assertNil(cid)
    H.assertStatus(st, name, name)
    lu.assertStrContains(st.message, ": ")        -- the detail follows the table's text
  end
  fails({ portal = H.tgt, target = "iqn.2026-11.org.mcsi.test:nothing" }, "ISDSC_TARGET_NOT_FOUND")
  fails({ portal = "127.0.0.1:" .. H.env("MCSI_FREE_PORT"), target = H.tgt_iqn }, "ISDSC_CONNECTION_FAILED")
  fails({ portal = "no-such-host.invalid:3260", target = H.tgt_iqn }, "ISDSC_INVALID_HOST")
  fails({ target = H.tgt_iqn }, "ISDSC_NO_PORTAL_SPECIFIED")
  fails({ portal = H.tgt, target = "not an iqn" }, "ISDSC_INVALID_ISCSI_NAME")
  fails({ portal = H.tgt, target = H.tgt_iqn, nop_interval_ms = 5 }, "ISDSC_INVALID_PARAMETER")
  H.assertStatus(mcsi.logout_from_target(0x7777), "ISDSC_INVALID_SESSION_ID")
  local d, st = mcsi.read(0x7777, 1, 0, 1)
  lu.assertNil(d)
  H.assertStatus(st, "ISDSC_INVALID_SESSION_ID")
  local t, st2 = mcsi.send_targets("127.0.0.1:" .. H.env("MCSI_FREE_PORT"))
  lu.assertNil(t)
  H.assertStatus(st2, "ISDSC_CONNECTION_FAILED")
end

function TestOps:test_scsi_errors()
  local sid = H.login()
  local _, st = mcsi.read(sid, H.file_lun, 0xFFFFFFFFFFFF, 1)       -- beyond the end
  H.assertStatus(st, "ISDSC_SCSI_REQUEST_FAILED", "LBA out of range")
  lu.assertStrContains(st.message, "ILLEGAL")
  H.assertStatus(mcsi.write(sid, H.file_lun, 0, "abc"), "ISDSC_INVALID_PARAMETER", "partial block")
  mcsi.logout_from_target(sid)
end

function TestOps:test_send_targets()
  local t, st = mcsi.send_targets(H.tgt)
  H.assertStatus(st, "ISDSC_SUCCESS")
  local found
  for _, e in ipairs(t) do
    if e.name == H.tgt_iqn then found = e end
  end
  lu.assertNotNil(found, "the plain target is listed")
  lu.assertTrue(#found.addresses >= 1)
  local t2, st2 = mcsi.send_targets{ portal = H.istgt }
  H.assertStatus(st2, "ISDSC_SUCCESS")
  lu.assertTrue(#t2 >= 1)
  lu.assertEquals(#mcsi.sessions(), 0)
end

function TestOps:test_initiator_name()
  local name = mcsi.initiator()
  lu.assertStrMatches(name, "iqn%..+")
  H.assertRaises("not a valid iSCSI initiator name", mcsi.initiator, { name = "Bad Name" })
  lu.assertEquals(mcsi.initiator{ name = "iqn.2026-11.org.mcsi:lua-test" }, "iqn.2026-11.org.mcsi:lua-test")
  local sid = H.login()
  H.assertRaises("one initiator name per process", mcsi.login_to_target,
    { portal = H.tgt, target = H.tgt_iqn, initiator = "iqn.2026-11.org.mcsi:other" })
  local sid2, _, st = mcsi.login_to_target{ portal = H.tgt, target = H.tgt_iqn, initiator = "iqn.2026-11.org.mcsi:lua-test" }
  H.assertStatus(st, "ISDSC_SUCCESS", "same name again")
  mcsi.logout_from_target(sid)
  mcsi.logout_from_target(sid2)
end

H.finish()
