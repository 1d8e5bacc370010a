-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_badinput.lua: every mcsi function called with nil, wrong types, huge
-- strings, negative and unknown ids, closed objects: a clear error or a
-- Status, never a crash (make asan runs this under the sanitizers too).
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi

local huge = string.rep("x", 1 << 20)
local closed_s, closed_c           -- made in setUp

local pool = {
  { "nil", nil }, { "true", true }, { "zero", 0 }, { "negative", -1 }, { "minint", math.mininteger },
  { "maxint", math.maxinteger }, { "float", 1.5 }, { "nan", 0 / 0 }, { "empty string", "" },
  { "huge string", huge }, { "zero byte", "a\0b" }, { "table", {} }, { "function", print },
  { "coroutine", coroutine.create(print) }, { "file", io.stdout }, { "status", mcsi.Status.new(0) },
}

-- Functions and how many arguments they take (at most).
local funcs = {
  login_to_target = 1, logout_from_target = 1, add_connection_to_session = 2,
  remove_connection_from_session = 2, remove_connection_async = 3, set_load_balance_policy = 3,
  sessions = 0, session_info = 1, connection_info = 2, scsi_inquiry = 3, scsi_read_capacity = 2,
  scsi_report_luns = 1, scsi_test_unit_ready = 2, lun_reset = 2, read = 4, write = 4,
  send_targets = 1, initiator = 1, on = 2, off = 1, timer = 2, every = 2, cancel = 1, watch = 2,
  poll = 1, sleep = 1, now = 0, fd = 0, next_timeout = 0, login = 1, stop = 0,
  scsi_command = 5, scsi_submit = 6, abort_task = 2,
}

local last_value                   -- what the last call returned, when not a Status

local function is_status(v)
  return type(v) == "userdata" and getmetatable(v).__name == "mcsi.Status"
end

-- Calls f(...) protected; the outcome must be an error with a message or a
-- Status as last result. Returns "error" or "status" or "value".
local function outcome(name, f, ...)
  local r = table.pack(pcall(f, ...))
  if not r[1] then
    lu.assertIsString(r[2], name .. ": error object is a string")
    lu.assertTrue(#r[2] > 0 and #r[2] < 4000, name .. ": error message of sane length")
    return "error"
  end
  if r.n > 1 and is_status(r[r.n]) then return "status" end
  last_value = r[2]
  return "value"
end

local registered = {}
local function cleanup()
  for _, id in ipairs(registered) do mcsi.cancel(id); mcsi.off(id) end
  registered = {}
end

TestBadInput = {}

function TestBadInput:setUp()
  closed_s = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
  closed_c = closed_s:add_connection(H.tgt2)
  closed_c:remove()
  closed_s:logout()
  table.insert(pool, { "closed session", closed_s })
  table.insert(pool, { "closed connection", closed_c })
end

function TestBadInput:tearDown()
  pool[#pool], pool[#pool - 1] = nil, nil
  cleanup()
  H.check_clean()
end

function TestBadInput:test_every_function_every_bad_argument()
  local calls, errors, statuses = 0, 0, 0
  for name, nargs in pairs(funcs) do
    local f = mcsi[name]
    lu.assertIsFunction(f, name)
    for pos = 1, math.max(nargs, 1) do
      for _, p in ipairs(pool) do
        -- good-looking values around the bad one
        local args = { 0x7777, 1, 0, 1 }
        if name == "sleep" or name == "poll" or name == "timer" or name == "every" then args[1] = 1 end
        if name == "write" then args[4] = string.rep("d", 512) end
        args[pos] = p[2]
        local kind = outcome(name .. "(" .. p[1] .. " at " .. pos .. ")", f, table.unpack(args, 1, nargs))
        calls = calls + 1
        if kind == "error" then errors = errors + 1 elseif kind == "status" then statuses = statuses + 1 end
        if kind == "value" and (name == "timer" or name == "every" or name == "on" or name == "watch") then
          registered[#registered + 1] = last_value          -- a valid registration: undone below
        end
      end
    end
    cleanup()
  end
  -- no registration may be left from the valid-looking combinations
  for _ = 1, 2 do mcsi.poll(0) end
  print(string.format("# %d calls: %d errors, %d statuses", calls, errors, statuses))
  lu.assertTrue(calls > 400)
  lu.assertTrue(errors > 200)
  lu.assertTrue(statuses > 50)
end

function TestBadInput:test_unknown_and_negative_ids_are_statuses()
  for _, id in ipairs{ 0, -1, 0x7777, math.maxinteger, math.mininteger } do
    H.assertStatus(mcsi.logout_from_target(id), "ISDSC_INVALID_SESSION_ID")
    H.assertStatus(mcsi.remove_connection_from_session(id, id), "ISDSC_INVALID_SESSION_ID")
    local c, st = mcsi.add_connection_to_session(id, H.tgt2)
    lu.assertNil(c)
    H.assertStatus(st, "ISDSC_INVALID_SESSION_ID")
    local d, st2 = mcsi.read(id, 1, 0, 1)
    lu.assertNil(d)
    H.assertStatus(st2, "ISDSC_INVALID_SESSION_ID")
    H.assertStatus(select(2, mcsi.session_info(id)), "ISDSC_INVALID_SESSION_ID")
  end
  local sid = H.login()
  for _, id in ipairs{ 0, -1, 0x7777, math.maxinteger } do
    H.assertStatus(mcsi.remove_connection_from_session(sid, id), "ISDSC_INVALID_CONNECTION_ID")
    H.assertStatus(select(2, mcsi.connection_info(sid, id)), "ISDSC_INVALID_CONNECTION_ID")
  end
  mcsi.logout_from_target(sid)
end

function TestBadInput:test_huge_strings_in_options()
  local function st_of(...) local r = table.pack(...) return r[r.n] end
  for _, k in ipairs{ "portal", "target" } do
    local o = { portal = H.tgt, target = H.tgt_iqn, login_timeout_ms = 2000 }
    o[k] = huge
    lu.assertFalse(st_of(mcsi.login_to_target(o)).ok, k)
  end
  for _, k in ipairs{ "username", "secret", "target_username", "target_secret" } do
    local o = { portal = H.tgt, target = H.tgt_iqn, chap = { username = "u", secret = "s" } }
    o.chap[k] = huge
    lu.assertFalse(st_of(mcsi.login_to_target(o)).ok, "chap." .. k)
  end
  lu.assertFalse(st_of(mcsi.send_targets(huge)).ok)
  H.assertRaises("not a valid iSCSI initiator name", mcsi.initiator, { name = huge })
  local sid = H.login()
  lu.assertFalse(st_of(mcsi.add_connection_to_session(sid, { portal = huge })).ok)
  lu.assertFalse(mcsi.write(sid, H.file_lun, 0, huge .. "x").ok, "not a whole number of blocks")
  H.assertRaises("block count out of range", mcsi.read, sid, H.file_lun, 0, math.maxinteger)
  H.assertRaises("at most", mcsi.read, sid, H.file_lun, 0, 1 << 28)
  mcsi.logout_from_target(sid)
end

function TestBadInput:test_option_errors_are_clear()
  H.assertRaises("unknown option 'portl'", mcsi.login_to_target, { portl = H.tgt })
  H.assertRaises("option 'portal' must be a string, not a number", mcsi.login_to_target, { portal = 3260 })
  H.assertRaises("option 'max_connections' out of range", mcsi.login_to_target, { portal = H.tgt, max_connections = -1 })
  H.assertRaises("option 'header_digest' must be \"crc32c\" or \"none\"", mcsi.login_to_target,
    { portal = H.tgt, header_digest = "md5" })
  H.assertRaises("option 'chap' must be a table", mcsi.login_to_target, { portal = H.tgt, chap = "secret" })
  H.assertRaises("chap: unknown option 'password'", mcsi.login_to_target, { portal = H.tgt, chap = { password = "x" } })
  H.assertRaises("option keys must be strings", mcsi.login_to_target, { H.tgt })
  H.assertRaises("contains a zero byte", mcsi.login_to_target, { portal = "a\0b" })
  H.assertRaises("option 'initial_r2t' must be a boolean", mcsi.login_to_target, { portal = H.tgt, initial_r2t = "yes" })
  H.assertRaises("bad argument #1", mcsi.login_to_target, nil)
  H.assertRaises("session id (integer) or mcsi.Session expected", mcsi.logout_from_target, {})
  H.assertRaises("connection id (integer) or mcsi.Connection expected", mcsi.remove_connection_from_session, 1, {})
  H.assertRaises("LUN must not be negative", mcsi.read, 1, -1, 0, 1)
  H.assertRaises("each path must be a table", mcsi.set_load_balance_policy, 1, 2, { 5 })
  H.assertRaises("a path without 'connection'", mcsi.set_load_balance_policy, 1, 2, { {} })
end

function TestBadInput:test_metamethods_with_wrong_types()
  local s = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
  local mt = getmetatable(s)
  H.assertRaises("mcsi.Session expected", mt.__index, 42, "id")
  H.assertRaises("mcsi.Session expected", mt.__gc, {})
  H.assertRaises("mcsi.Session expected", mt.__tostring, "x")
  H.assertRaises("session id (integer) or mcsi.Session expected", s.read, {}, 1, 0, 1)
  local cmt = getmetatable(closed_c)
  H.assertRaises("mcsi.Connection expected", cmt.__index, s, "id")
  H.assertRaises("mcsi.Status expected", getmetatable(mcsi.Status.new(0)).__index, s, "code")
  H.assertRaises("attempt to use a closed mcsi.Connection", closed_c.info, closed_c)
  lu.assertNil(s.no_such_method)
  s:logout()
end

H.finish()
