-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_api_faces.lua: the faces built from the one description of every
-- operation (api/operations.lua, generated into mcsi.api_ops and the tables
-- of tests/sh/test_api_generated.sh) are what the running code serves:
--   * in-process: mcsi.<lua name> is a function for every operation with a Lua face;
--   * the daemon: GetVersion's Methods are the described methods, in order;
--   * the remote client (mcsi --connect): every operation with a Lua face is
--     served, each through the daemon method the description names; an
--     operation described but given no hand-written remote function reaches
--     the daemon all the same (the generic call of remote.lua);
--   * mcsi.Session's methods that are operations (session_methods) are the
--     module's functions, in-process and through the daemon;
--   * iscsicli's usage shows every command the description maps;
--   * the binding's options tables are checked by the generated spec: bounds
--     from the description (max_connections 0..65535, as the protocol's).
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi
local api = require "mcsi.api_ops"
local M = H.shq(H.mcsi_bin)

local D = {}

local function start_daemon() D = H.start_mcsid("api-faces-test") end

local function stop_daemon() D:stop() end

-- Described operations, in the description's order (api_ops keeps no order: by name).
local function described(face)
  local list, seen = {}, {}
  for _, op in pairs(api.ops) do
    if op[face] and not seen[op] then
      seen[op] = true
      list[#list + 1] = op
    end
  end
  table.sort(list, function(a, b) return a.name < b.name end)
  return list
end

TestApiFaces = {}

function TestApiFaces.setupClass() start_daemon() end
function TestApiFaces.teardownClass() stop_daemon() end

function TestApiFaces.test_in_process_module_has_every_lua_operation()
  local ops = described("lua")
  lu.assertTrue(#ops >= 15, "described Lua operations: " .. #ops)
  for _, op in ipairs(ops) do
    lu.assertEquals(type(mcsi[op.lua]), "function", "mcsi." .. op.lua .. " (described in api/operations.lua)")
  end
end

function TestApiFaces.test_daemon_methods_are_the_described_ones()
  local script = [[
    local r, st = mcsi.rpc("GetVersion")
    assert(st.ok, tostring(st))
    print(table.concat(r.Methods, " "))
  ]]
  local rc, out = H.run(string.format("%s --connect %s -e %s", M, H.shq(D.sock), H.shq(script)))
  lu.assertEquals(rc, 0, out)
  local served = {}
  for m in out:gmatch("%S+") do served[#served + 1] = m end
  local want = {}
  for _, op in ipairs(described("rpc")) do want[#want + 1] = op.rpc end
  table.sort(served)
  table.sort(want)
  lu.assertEquals(served, want)
end

function TestApiFaces.test_remote_serves_every_lua_operation_through_its_method()
  -- In the client: every described Lua operation is a function of the remote
  -- module table, not the in-process one; the requests it sends name the
  -- described method (Client.send is watched).
  local script = [[
    local mcsi = require "mcsi"
    local api = require "mcsi.api_ops"
    local inproc = {}
    for k, v in pairs(package.loaded.mcsi) do inproc[k] = v end
    -- an operation described (here: added to the loaded description) with no
    -- hand-written remote function: served by the generic call
    api.ops.api_probe_version = { name = "api_probe_version", lua = "api_probe_version", rpc = "GetVersion",
                                  lua_args = {}, params = {}, param = {} }
    local m = assert(mcsi.connect(os.getenv("SOCK")))
    local bad = {}
    for name, op in pairs(api.ops) do
      if name == op.lua then
        if type(m[name]) ~= "function" then bad[#bad + 1] = name .. ": none"
        elseif op.rpc and m[name] == inproc[name] then bad[#bad + 1] = name .. ": the in-process one" end
      end
    end
    local sent = {}
    local client = m._remote
    local send = client.send
    client.send = function(self, method, params, on) sent[#sent + 1] = method return send(self, method, params, on) end
    local r, st = m.api_probe_version()
    assert(st.ok and r.InitiatorName == "iqn.2026-11.org.mcsi:api-faces-test", tostring(st))
    local _, st2 = m.scsi_read_capacity(123456, 0)
    local st3 = m.lun_reset(123456, 0)
    print("BAD " .. table.concat(bad, ","))
    print("SENT " .. table.concat(sent, ","))
    print("ST " .. st2.name .. " " .. st3.name)
  ]]
  local rc, out = H.run(string.format("SOCK=%s %s -e %s", H.shq(D.sock), M, H.shq(script)))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "BAD \n")
  lu.assertStrContains(out, "SENT GetVersion," .. api.ops.scsi_read_capacity.rpc .. "," .. api.ops.lun_reset.rpc .. "\n")
  lu.assertStrContains(out, "ST ISDSC_INVALID_SESSION_ID ISDSC_INVALID_SESSION_ID")
end

function TestApiFaces.test_session_methods_in_process_and_remote()
  local want = {}
  for name, op in pairs(api.ops) do
    if name == op.lua then
      for _, m in ipairs(op.session_methods or {}) do want[#want + 1] = m .. "=" .. op.lua end
    end
  end
  table.sort(want)
  lu.assertTrue(#want >= 10, "described Session methods: " .. #want)
  -- in-process: the metatable's methods are the module's functions
  local methods = debug.getregistry()["mcsi.Session"].methods
  for _, w in ipairs(want) do
    local m, f = w:match("^(.-)=(.*)$")
    lu.assertIs(methods[m], mcsi[f], "in-process s:" .. m .. " is mcsi." .. f)
  end
  -- remote: a Session of the daemon has the same methods, the remote functions
  local script = [[
    local mcsi = require "mcsi"
    local m = assert(mcsi.connect(os.getenv("SOCK")))
    local s, st = m.login{ portal = os.getenv("PORTAL"), target = os.getenv("IQN") }
    assert(s, tostring(st))
    local idx = getmetatable(s).__index
    local out = {}
    for _, w in ipairs({ WANT }) do
      local meth, f = w:match("^(.-)=(.*)$")
      out[#out + 1] = meth .. (idx[meth] == m[f] and idx[meth] ~= nil and ":ok" or ":BAD")
    end
    assert(s:logout().ok)
    print("METHODS " .. table.concat(out, ","))
  ]]
  local quoted = {}
  for i, w in ipairs(want) do quoted[i] = string.format("%q", w) end
  script = script:gsub("WANT", table.concat(quoted, ", "))
  local rc, out = H.run(string.format("SOCK=%s PORTAL=%s IQN=%s %s -e %s", H.shq(D.sock), H.shq(H.tgt),
                                      H.shq(H.tgt_iqn), M, H.shq(script)))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "METHODS ")
  lu.assertNotStrContains(out, ":BAD")
end

function TestApiFaces.test_iscsicli_knows_every_described_command()
  local cli = require "mcsi.iscsicli"
  local n = 0
  for command, op in pairs(api.iscsicli) do
    n = n + 1
    lu.assertStrContains(cli.usage, command, false, "iscsicli's usage shows " .. command .. " (" .. op.name .. ")")
  end
  lu.assertTrue(n >= 20, "described iscsicli commands: " .. n)
end

function TestApiFaces.test_binding_checks_options_with_the_described_bounds()
  -- max_connections is 0..65535 in the description (the protocol's bound):
  -- the in-process binding now says so before any I/O.
  H.assertRaises("mcsi.login_to_target: option 'max_connections' out of range (0..65535)", mcsi.login_to_target,
                 { portal = H.tgt, target = H.tgt_iqn, max_connections = 65536 })
  H.assertRaises("mcsi.send_targets: unknown option 'max_connections'", mcsi.send_targets,
                 { portal = H.tgt, max_connections = 2 })
  H.assertRaises("mcsi.add_connection_to_session: option 'weight' must be an integer, not a string",
                 mcsi.add_connection_to_session, 1, { portal = H.tgt, weight = "x" })
  H.assertRaises("mcsi.login_to_target: option 'nop_interval_ms' out of range (-1..2147483647)",
                 mcsi.login_to_target, { portal = H.tgt, nop_interval_ms = -2 })
  -- each path of set_load_balance_policy: the members the description gives it
  H.assertRaises("mcsi.set_load_balance_policy path: option 'active' must be a boolean",
                 mcsi.set_load_balance_policy, 1, 2, { { connection = 1, active = "yes" } })
  H.assertRaises("mcsi.set_load_balance_policy path: unknown option 'connection_id'",
                 mcsi.set_load_balance_policy, 1, 2, { { connection_id = 1 } })
end

H.finish()
