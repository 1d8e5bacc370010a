-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_initiators.lua: several initiators in one Lua state (issue 8):
-- mcsi.Initiator.new{ name = } gives an object whose methods are the flat
-- API on that initiator; the flat API keeps its default initiator; the
-- target sees each under its own name; one loop runs them all.
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi

TestInitiators = {}

function TestInitiators:tearDown()
  H.check_clean()
end

local function tgt_initiators()
  local _, out = H.run("TGT_IPC_SOCKET=" .. H.env("MCSI_TGT_IPC") .. " tgtadm -C 0 --lld iscsi --op show --mode conn --tid 1")
  local names = {}
  for name in out:gmatch("Initiator: (%S+)") do names[name] = (names[name] or 0) + 1 end
  return names
end

function TestInitiators:test_two_initiators_and_the_default()
  local a = mcsi.Initiator.new{ name = "iqn.2026-11.org.mcsi:lua-a" }
  local b = mcsi.Initiator.new{ name = "iqn.2026-11.org.mcsi:lua-b" }
  lu.assertEquals(getmetatable(a).__name, "mcsi.Initiator")
  lu.assertEquals(a.name, "iqn.2026-11.org.mcsi:lua-a")
  lu.assertStrContains(tostring(b), "mcsi.Initiator iqn.2026-11.org.mcsi:lua-b (0 sessions)")
  local default = mcsi.initiator()
  lu.assertNotEquals(default, a.name)

  local sa, ca, sta = a:login_to_target{ portal = H.tgt, target = H.tgt_iqn }
  lu.assertTrue(sta.ok, tostring(sta))
  local sb, stb = b:login{ portal = H.tgt2, target = H.tgt_iqn }
  lu.assertTrue(stb.ok, tostring(stb))
  local sd = H.login()
  local names = tgt_initiators()
  lu.assertEquals(names["iqn.2026-11.org.mcsi:lua-a"], 1, "tgt sees initiator a")
  lu.assertEquals(names["iqn.2026-11.org.mcsi:lua-b"], 1, "tgt sees initiator b")
  lu.assertEquals(names[default], 1, "and the default one")

  -- each initiator lists its own sessions; the flat API every one
  lu.assertEquals(#a:sessions(), 1)
  lu.assertEquals(a:sessions()[1].id, sa)
  lu.assertEquals(a:sessions()[1].initiator, a.name)
  lu.assertEquals(b:sessions()[1].id, sb.id)
  lu.assertEquals(b:sessions()[1].initiator, b.name)
  lu.assertEquals(#mcsi.sessions(), 3)
  -- a session works through its object and the flat API, whoever made it
  local data = string.rep("b", 512)
  lu.assertTrue(sb:write(H.file_lun, 40, data).ok)
  lu.assertEquals(mcsi.read(sb, H.file_lun, 40, 1), data)
  lu.assertEquals(a:read(sa, H.file_lun, 40, 1), data)
  lu.assertEquals(a:session_info(sa).connection_count, 1)
  local cid, st = a:add_connection_to_session(sa, H.tgt2)
  lu.assertTrue(st.ok, tostring(st))
  lu.assertEquals(tgt_initiators()["iqn.2026-11.org.mcsi:lua-a"], 2)
  lu.assertTrue(a:remove_connection_from_session(sa, cid).ok)
  local c = sb:add_connection(H.tgt)               -- objects carry their initiator
  lu.assertEquals(tgt_initiators()["iqn.2026-11.org.mcsi:lua-b"], 2)
  lu.assertEquals(c:info().portal, H.tgt)
  lu.assertTrue(c:remove().ok)
  -- a method runs on its own initiator: b's session (its id may be a's too) is
  -- another session there, or none
  local info_a = a:session_info(sb.id)
  lu.assertTrue(info_a == nil or info_a.id == sa, "never b's session")
  lu.assertEquals(sb:info().id, sb.id)
  H.assertRaises("initiator name 'iqn.2026-11.org.mcsi:other' asked for in a call of the mcsi.Initiator",
    a.login_to_target, a, { portal = H.tgt, target = H.tgt_iqn, initiator = "iqn.2026-11.org.mcsi:other" })

  -- several things at once across initiators, in coroutines
  local done = {}
  for i, ini in ipairs{ a, b } do
    mcsi.spawn(function()
      local s2, st2 = ini:login{ portal = H.tgt, target = H.tgt_iqn }
      done[i] = { st = st2 }
      s2:logout()
    end)
  end
  while not (done[1] and done[2]) do mcsi.poll(50) end
  lu.assertTrue(done[1].st.ok and done[2].st.ok)
  -- events name their initiator
  local seen
  local h = mcsi.on("session-logged-out", function(ev) seen = seen or ev.initiator end)
  lu.assertTrue(a:logout_from_target(sa).ok)
  mcsi.off(h)
  lu.assertEquals(seen, "iqn.2026-11.org.mcsi:lua-a")
  lu.assertTrue(sb:logout().ok)
  local std = mcsi.logout_from_target(sd)
  lu.assertTrue(std.ok, tostring(std) .. " " .. sd)
  lu.assertEquals(#mcsi.sessions(), 0)
  lu.assertNil(tgt_initiators()["iqn.2026-11.org.mcsi:lua-a"])
end

function TestInitiators:test_exit_logs_out_every_initiator()
  local rc, out = H.child(string.format([[
    local mcsi = require "mcsi"
    local a = mcsi.Initiator.new{ name = "iqn.2026-11.org.mcsi:exit-a" }
    assert(a:login{ portal = %q, target = %q })
    assert(mcsi.login{ portal = %q, target = %q })
    print(#mcsi.sessions())
    os.exit(0)
  ]], H.tgt, H.tgt_iqn, H.tgt2, H.tgt_iqn))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "2")
  lu.assertNil(tgt_initiators()["iqn.2026-11.org.mcsi:exit-a"], "no connection of it left")
  H.assertRaises("not a valid iSCSI initiator name", mcsi.Initiator.new, { name = "Bad Name" })
end

H.finish()
