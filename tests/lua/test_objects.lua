-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_objects.lua: mcsi.Session and mcsi.Connection objects: methods shared
-- with the flat API, <close>, __tostring, closed handles, and garbage
-- collection leaving no session and no socket behind.
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi

TestObjects = {}

function TestObjects:tearDown()
  H.check_clean()
end

function TestObjects:test_session_object()
  local s, st = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
  H.assertStatus(st, "ISDSC_SUCCESS")
  lu.assertEquals(getmetatable(s).__name, "mcsi.Session")
  lu.assertIsNumber(s.id)
  lu.assertTrue(s.owned)
  lu.assertFalse(s.closed)
  lu.assertStrContains(tostring(s), "mcsi.Session 0x")
  lu.assertStrContains(tostring(s), "active, 1 connection")
  local c, st2 = s:add_connection{ portal = H.tgt2 }
  H.assertStatus(st2, "ISDSC_SUCCESS")
  lu.assertEquals(getmetatable(c).__name, "mcsi.Connection")
  lu.assertEquals(c.session, s)
  lu.assertEquals(c.session_id, s.id)
  lu.assertStrContains(tostring(c), "127.0.0.2")
  local conns = s:connections()
  lu.assertEquals(#conns, 2)
  lu.assertTrue(conns[1].owned == false)
  lu.assertEquals(conns[2], c)
  local cap = s:read_capacity(H.file_lun)
  lu.assertEquals(cap.block_size, 512)
  H.assertStatus(s:write(H.file_lun, 0, string.rep("o", 512)), "ISDSC_SUCCESS")
  lu.assertEquals(s:read(H.file_lun, 0, 1), string.rep("o", 512))
  lu.assertEquals(s:info().connection_count, 2)
  lu.assertEquals(c:info().portal, H.tgt2)
  -- flat functions take the objects too
  lu.assertEquals(mcsi.session_info(s).id, s.id)
  H.assertStatus(s:remove_connection(conns[1]), "ISDSC_CANNOT_REMOVE_LEADING_CONNECTION")
  H.assertStatus(c:remove(), "ISDSC_SUCCESS")
  lu.assertTrue(c.closed)
  lu.assertStrContains(tostring(c), "(closed)")
  H.assertRaises("attempt to use a closed mcsi.Connection", c.remove, c)
  H.assertRaises("attempt to use a closed mcsi.Connection", mcsi.remove_connection_from_session, s, c)
  H.assertStatus(s:logout(), "ISDSC_SUCCESS")
  lu.assertTrue(s.closed)
  lu.assertStrContains(tostring(s), "(closed)")
  H.assertRaises("attempt to use a closed mcsi.Session", s.read_capacity, s, 1)
  H.assertRaises("attempt to use a closed mcsi.Session", mcsi.logout_from_target, s)
  -- __close and __gc are idempotent on closed objects
  getmetatable(s).__close(s)
  getmetatable(s).__gc(s)
  getmetatable(c).__gc(c)
end

function TestObjects:test_close_logs_out()
  do
    local s <close> = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
    local c <close> = s:add_connection(H.tgt2)
    lu.assertEquals(#mcsi.sessions(), 1)
    lu.assertEquals(s:info().connection_count, 2)
  end
  lu.assertEquals(#mcsi.sessions(), 0, "<close> logged the session out")
end

function TestObjects:test_close_on_error()
  local ok = pcall(function()
    local s <close> = mcsi.login{ portal = H.istgt, target = H.istgt_iqn }
    error("boom")
  end)
  lu.assertFalse(ok)
  lu.assertEquals(#mcsi.sessions(), 0, "<close> logged out while unwinding an error")
end

function TestObjects:test_connection_close_removes()
  local s <close> = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
  do
    local c <close> = s:add_connection(H.tgt2)
    lu.assertEquals(s:info().connection_count, 2)
  end
  lu.assertEquals(s:info().connection_count, 1, "the owned connection was removed")
end

function TestObjects:test_borrowed()
  local sid = H.login()
  local s, st = mcsi.Session.of(sid)
  H.assertStatus(st, "ISDSC_SUCCESS")
  lu.assertFalse(s.owned)
  s = nil
  collectgarbage()
  collectgarbage()
  lu.assertEquals(#mcsi.sessions(), 1, "a borrowed Session does not log out when collected")
  local none, st2 = mcsi.Session.of(0x7777)
  lu.assertNil(none)
  H.assertStatus(st2, "ISDSC_INVALID_SESSION_ID")
  mcsi.logout_from_target(sid)
end

-- issue 8 changed the rule: the collector never logs a session out (luv's
-- rule for live handles); logging out leaves no socket behind.
function TestObjects:test_gc_leaves_no_socket()
  collectgarbage()
  local before = H.sockets()
  for _ = 1, 3 do
    local s = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
    local c = s:add_connection(H.tgt2)
    local s2 = mcsi.login{ portal = H.istgt, target = H.istgt_iqn }
    s2:add_connection(H.istgt2)          -- owned Connection dropped at once
  end
  lu.assertTrue(H.sockets() > before, "sockets are open")
  collectgarbage()
  collectgarbage()
  mcsi.poll(0)
  lu.assertEquals(#mcsi.sessions(), 6, "the collector logged no session out")
  H.logout_all()
  lu.assertEquals(#mcsi.sessions(), 0, "every session logged out")
  lu.assertEquals(H.sockets(), before, "no socket left open")
end

H.finish()
