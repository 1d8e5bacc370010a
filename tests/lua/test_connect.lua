-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_connect.lua: the Lua API served by the daemon mcsid (mcsi.connect,
-- `mcsi --connect`) and iscsicli on the daemon, against a real mcsid on a
-- temporary socket and state directory:
--   * one script run in-process, through `mcsi --connect SOCKET` and through
--     mcsi.connect() in lua5.4 prints the same results (blocking, callback
--     and coroutine forms, Session objects, events, Status objects);
--   * iscsicli across invocations: QLoginTarget in one process, SessionList in
--     the next shows the session; AddTargetPortal really contacts the portal
--     and the daemon keeps it; the new commands; one --json shape;
--   * no CHAP secret in any output, the daemon's log or state.json.
-- the library's version, as core/mcsi.h states it (the Makefile reads it there too)
local VERSION = (function()
  local h = assert(io.open("core/mcsi.h")):read("a")
  local v = {}
  for _, k in ipairs({ "MAJOR", "MINOR", "PATCH" }) do v[#v + 1] = h:match("#define MCSI_VERSION_" .. k .. " (%d+)") end
  return table.concat(v, ".")
end)()
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi
local cjson = require "cjson"
local M = H.shq(H.mcsi_bin)

local D = {}

local function start_daemon()
  D = H.start_mcsid("connect-test", "log_level = debug\nretry_initial_ms = 200\nretry_max_ms = 2000\n")
end

local function stop_daemon() D:stop(true) end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- The daemon's sessions, seen from a client of the daemon.
local function daemon_sessions()
  local rc, out = H.run(string.format("%s --connect %s -e 'print(#mcsi.sessions())'", M, H.shq(D.sock)))
  lu.assertEquals(rc, 0, out)
  return tonumber(out:match("(%d+)%s*$"))
end

local function daemon_logout_all()
  H.run(string.format("%s --connect %s -e 'for _, s in ipairs(mcsi.sessions()) do mcsi.logout_from_target(s.id) end'",
    M, H.shq(D.sock)))
end

TestConnect = {}

function TestConnect:setUp()
  start_daemon()
end

function TestConnect:tearDown()
  local left = daemon_sessions()
  daemon_logout_all()
  stop_daemon()
  os.execute("rm -rf " .. H.shq(D.dir))
  H.check_clean()
  lu.assertEquals(left, 0, "a test left sessions in the daemon")
end

-- One script, three ways. It prints only what does not depend on where it
-- runs (no ids, no ports, no timing).
local SCRIPT = [=[
local mcsi = require "mcsi"
if os.getenv("USE_CONNECT") then assert(mcsi.connect()) end
local tgt, tgt2, iqn = os.getenv("T1"), os.getenv("T2"), os.getenv("IQN")
local function show(...) print(...) io.stdout:flush() end
local events = {}
local h = mcsi.on("conn-removed", function(ev) events[#events + 1] = ev.kind .. " " .. ev.status.name end)
-- blocking form
local sid, cid, st = mcsi.login_to_target{ portal = tgt, target = iqn }
show("login", math.type(sid), math.type(cid), st.name, getmetatable(st).__name, st.ok)
local c2, st2 = mcsi.add_connection_to_session(sid, tgt2)
show("add", math.type(c2), st2.name)
local info = mcsi.session_info(sid)
show("info", info.state, info.target, #info.connections, info.connections[2].portal == tgt2,
     info.connections[1].leading, info.policy_name)
local cap = mcsi.scsi_read_capacity(sid, tonumber(os.getenv("LUN")))
show("capacity", cap.block_size, cap.blocks * cap.block_size == cap.bytes)
local inq = mcsi.scsi_inquiry(sid, tonumber(os.getenv("LUN")))
show("inquiry", inq.peripheral_type, #inq.raw > 0)
show("luns", #mcsi.scsi_report_luns(sid))
-- SCSI I/O: write + read back, any CDB, TUR, LUN reset, ABORT TASK
local lun, lba = tonumber(os.getenv("LUN")), tonumber(os.getenv("IO_LBA"))
local parts = {}
for i = 1, 8 * 512 do parts[i] = string.char((i * 7 + lba) % 256) end
local blk = table.concat(parts)
show("write", mcsi.write(sid, lun, lba, blk).name)
local back, rst = mcsi.read(sid, lun, lba, 8)
show("read", rst.name, getmetatable(rst).__name, #back, back == blk)
local w2 = mcsi.write(sid, lun, lba, "xyz")
show("short write", w2.name, w2.ok)
local cmd, cst = mcsi.scsi_command(sid, lun, "\x12\0\0\0\x60\0", "read", 96)
show("scsi_command", cst.name, cmd.status, cmd.response, cmd.sense_key, #cmd.sense, cmd.residual_kind,
     cmd.residual, #cmd.data, cmd.data:sub(1, 36) == inq.raw:sub(1, 36))
local bad, bst = mcsi.scsi_command(sid, lun, "\xff\0\0\0\0\0", "none")
show("check condition", bst.name, bst.ok, bad.status, bad.sense_key, bad.asc, bad.ascq, #bad.sense > 0, bad.data)
show("check message", bst.message ~= nil and bst.message ~= mcsi.Status.new(bst.code).message)
show("messages", tostring(bst), tostring(w2), tostring(select(2, mcsi.read(0x7fffffff, lun, 0, 1))),
     tostring(mcsi.abort_task(sid, 0x7ffffff0)), tostring(rst))
local wcmd = mcsi.scsi_command(sid, lun, "\x2a\0" .. string.pack(">I4", lba + 9) .. "\0\0\1\0", "write", blk:sub(513, 1024))
show("scsi_command write", wcmd.status, wcmd.data, mcsi.read(sid, lun, lba + 9, 1) == blk:sub(513, 1024))
local tur = mcsi.scsi_test_unit_ready(sid, lun)
show("tur", tur.name, getmetatable(tur).__name, mcsi.scsi_test_unit_ready(0x7fffffff, lun).name)
show("lun reset", mcsi.lun_reset(sid, lun).name, mcsi.lun_reset(0x7fffffff, lun).name)
show("abort", mcsi.abort_task(sid, 0x7ffffff0).name)
show("read after reset", select(2, mcsi.read(sid, lun, lba, 8)).name, (mcsi.read(sid, lun, lba, 8)) == blk)
show("bad read", select(2, mcsi.read(0x7fffffff, lun, 0, 1)).name)
local cbdata
show("read start", mcsi.read(sid, lun, lba, 1, function(d, s) cbdata = { d, s } end).name)
while not cbdata do mcsi.poll(50) end
show("read callback", cbdata[2].name, cbdata[1] == blk:sub(1, 512))
local cbst
mcsi.write(sid, lun, lba + 1, blk:sub(1, 512), function(s) cbst = s end)
while not cbst do mcsi.poll(50) end
show("write callback", cbst.name, (mcsi.read(sid, lun, lba + 1, 1)) == blk:sub(1, 512))
-- large: several requests through the daemon, one in-process
local big = string.rep(blk, 3 * 256) .. blk:sub(1, 512)          -- 3 MiB + 1 block
show("big write", mcsi.write(sid, lun, lba + 64, big).name)
local bigback, bst2 = mcsi.read(sid, lun, lba + 64, #big // 512)
show("big read", bst2.name, #bigback, bigback == big)
local bigcb
mcsi.read(sid, lun, lba + 64, #big // 512, function(d, s) bigcb = { s.name, tostring(d == big) } end)
while not bigcb do mcsi.poll(50) end
show("big read callback", table.concat(bigcb, " "))
local odd = mcsi.write(sid, lun, lba + 64, string.rep("z", 600 * 1024 + 3))
show("big odd write", odd.name, (mcsi.read(sid, lun, lba + 64, 1)) == big:sub(1, 512))
local co_io
mcsi.spawn(function()
  local d, s = mcsi.read(sid, lun, lba, 2)
  local t = mcsi.scsi_test_unit_ready(sid, lun)
  co_io = { s.name, tostring(d == blk:sub(1, 1024)), t.name }
end)
while not co_io do mcsi.poll(50) end
show("io coroutine", table.concat(co_io, " "))
local targets, dst = mcsi.send_targets(tgt)
local names = {}
for _, t in ipairs(targets) do names[#names + 1] = t.name end
table.sort(names)
show("discovery", dst.name, #targets > 0, names[1] ~= nil)
show("bad sid", select(2, mcsi.session_info(0x7fffffff)).name)
show("lb", mcsi.set_load_balance_policy(sid, "least-queue-depth").name, mcsi.session_info(sid).policy_name,
     mcsi.set_load_balance_policy(sid, 9).name, mcsi.set_load_balance_policy(sid, 2).name,
     mcsi.session_info(sid).policy)
show("bad remove", mcsi.remove_connection_from_session(sid, 0x7ffffff0).name)
-- callback form
local done
show("start", mcsi.remove_connection_from_session(sid, c2, function(s) done = s end).name)
while not done do mcsi.poll(50) end
show("callback", done.name)
-- coroutine form
local co_result
mcsi.spawn(function()
  local c3, s3 = mcsi.add_connection_to_session(sid, { portal = tgt2 })
  mcsi.sleep(10)
  local s4 = mcsi.remove_connection_from_session(sid, c3)
  co_result = { math.type(c3), s3.name, s4.name }
end)
while not co_result do mcsi.poll(50) end
show("coroutine", table.concat(co_result, " "))
-- Session objects
local s, sst = mcsi.login{ portal = tgt, target = iqn }
show("session", getmetatable(s).__name, sst.name, s.owned, #s:connections())
show("session io", s:write(lun, lba + 20, blk:sub(1, 512)).name, (s:read(lun, lba + 20, 1)) == blk:sub(1, 512),
     s:test_unit_ready(lun).name, s:lun_reset(lun).name)
local conn = s:add_connection{ portal = tgt2 }
show("conn", getmetatable(conn).__name, #s:connections(), conn:remove().name)
show("session logout", s:logout().name, s.closed)
show("sessions", #mcsi.sessions())
show("logout", mcsi.logout_from_target(sid).name, mcsi.logout_from_target(sid).name)
for _ = 1, 100 do if #events >= 3 then break end mcsi.sleep(20) end
show("events", table.concat(events, ","))
mcsi.off(h)
show("left", #mcsi.sessions())
]=]

local function script_env()
  return string.format("T1=%s T2=%s IQN=%s LUN=%d IO_LBA=%d MCSI_SOCKET=%s ", H.shq(H.tgt), H.shq(H.tgt2),
                       H.shq(H.tgt_iqn), H.file_lun, 1000000 + math.random(0, 1000) * 64, H.shq(D.sock))
end

function TestConnect:test_same_script_in_process_and_through_the_daemon()
  local f = os.tmpname()
  local fh = io.open(f, "w")
  fh:write(SCRIPT)
  fh:close()
  local env = script_env()
  local rc1, here = H.run(env .. H.interp .. " " .. H.shq(f))
  local rc2, prog = H.run(env .. M .. " --connect " .. H.shq(D.sock) .. " " .. H.shq(f))
  local rc3, lib = H.run(env .. "USE_CONNECT=1 " .. H.interp .. " " .. H.shq(f))
  os.remove(f)
  lu.assertEquals(rc1, 0, here)
  lu.assertEquals(rc2, 0, prog)
  lu.assertEquals(rc3, 0, lib)
  lu.assertStrContains(here, "login\tinteger\tinteger\tISDSC_SUCCESS\tmcsi.Status\ttrue")
  lu.assertStrContains(here, "events\tconn-removed ISDSC_SUCCESS,conn-removed ISDSC_SUCCESS,conn-removed ISDSC_SUCCESS")
  lu.assertStrContains(here, "bad sid\tISDSC_INVALID_SESSION_ID")
  lu.assertStrContains(here, "lb\tISDSC_SUCCESS\tleast-queue-depth\tISDSC_INVALID_LOAD_BALANCE_POLICY\tISDSC_SUCCESS\t2")
  lu.assertStrContains(here, "write\tISDSC_SUCCESS\n")
  lu.assertStrContains(here, "read\tISDSC_SUCCESS\tmcsi.Status\t4096\ttrue")
  lu.assertStrContains(here, "short write\tISDSC_")
  lu.assertStrContains(here, "scsi_command\tISDSC_SUCCESS\t0\t0\t0\t0\t")
  lu.assertStrContains(here, "check condition\tISDSC_SCSI_REQUEST_FAILED\tfalse\t2\t5\t")
  lu.assertStrContains(here, "check message\ttrue")
  lu.assertStrContains(here, "scsi_command write\t0\tnil\ttrue")
  lu.assertStrContains(here, "tur\tISDSC_SUCCESS\tmcsi.Status\tISDSC_INVALID_SESSION_ID")
  lu.assertStrContains(here, "lun reset\tISDSC_SUCCESS\tISDSC_INVALID_SESSION_ID")
  lu.assertStrContains(here, "read after reset\tISDSC_SUCCESS\ttrue")
  lu.assertStrContains(here, "read callback\tISDSC_SUCCESS\ttrue")
  lu.assertStrContains(here, "write callback\tISDSC_SUCCESS\ttrue")
  lu.assertStrContains(here, "io coroutine\tISDSC_SUCCESS true ISDSC_SUCCESS")
  lu.assertStrContains(here, "big write\tISDSC_SUCCESS\nbig read\tISDSC_SUCCESS\t3146240\ttrue\n"
                       .. "big read callback\tISDSC_SUCCESS true\nbig odd write\tISDSC_INVALID_PARAMETER\ttrue")
  lu.assertStrContains(here, "session io\tISDSC_SUCCESS\ttrue\tISDSC_SUCCESS\tISDSC_SUCCESS")
  lu.assertEquals(prog, here, "mcsi --connect")
  lu.assertEquals(lib, here, "mcsi.connect()")
  -- the daemon really did it: its log has the calls
  local log = read_file(D.log)
  lu.assertStrContains(log, "LoginToTarget")
  lu.assertStrContains(log, "RemoveConnectionFromSession")
end

function TestConnect:test_connect_without_daemon_is_a_status()
  local code = [[local m, st = mcsi.connect("/nonexistent/mcsid.sock") print(m, st.name)]]
  local rc, out = H.run(M .. " -e " .. H.shq(code))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "nil\tISDSC_SERVICE_NOT_RUNNING")
  rc, out = H.run(M .. " --connect=/nonexistent/mcsid.sock -e 'print(1)'")
  lu.assertEquals(rc, 1, out)
  lu.assertStrContains(out, "ISDSC_SERVICE_NOT_RUNNING")
end

-- iscsicli as a program, on the daemon (--socket PATH)
local function cli(args, json)
  return H.run(string.format("%s %sscripts/iscsicli.lua --socket %s %s", M, json and "--json " or "", H.shq(D.sock), args))
end

function TestConnect:test_iscsicli_sessions_outlive_the_invocation()
  local rc, out = cli("QAddTargetPortal " .. H.tgt)
  lu.assertEquals(rc, 0, out)
  rc, out = cli("ListTargetPortals")                          -- another process: the daemon kept it
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "Address and Socket   : " .. H.tgt)
  rc, out = cli("QLoginTarget " .. H.tgt_iqn)
  lu.assertEquals(rc, 0, out)
  local sid = out:match("Session Id is (0x%x+)")
  lu.assertNotNil(sid, out)
  rc, out = cli("SessionList")                                -- the next invocation sees it
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "Total of 1 sessions")
  lu.assertStrContains(out, "Session Id             : " .. sid)
  lu.assertStrContains(out, "Target Name            : " .. H.tgt_iqn)
  rc, out = cli("ReportTargetMappings")
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "Total of 1 mappings returned")
  lu.assertStrContains(out, string.format("Target LUN: 0x%x", H.file_lun))
  rc, out = cli("LogoutTarget " .. sid)
  lu.assertEquals(rc, 0, out)
  rc, out = cli("SessionList")
  lu.assertStrContains(out, "Total of 0 sessions")
  -- MCSI_SOCKET works as --socket does
  rc, out = H.run(string.format("MCSI_SOCKET=%s %s scripts/iscsicli.lua VersionInfo", H.shq(D.sock), M))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "mcsid " .. VERSION .. " (protocol 1) at " .. D.sock)
  -- --local keeps everything in the process
  rc, out = H.run(string.format("MCSI_SOCKET=%s %s scripts/iscsicli.lua --local VersionInfo", H.shq(D.sock), M))
  lu.assertStrContains(out, "mcsid: not used")
end

function TestConnect:test_iscsicli_add_target_portal_contacts_the_portal()
  local dead = "127.0.0.1:" .. H.env("MCSI_FREE_PORT")
  local rc, out = cli("QAddTargetPortal " .. dead)
  lu.assertEquals(rc, 1, out)
  lu.assertNotStrContains(out, "completed successfully")
  rc, out = cli("ListTargetPortals")
  lu.assertStrContains(out, "Total of 0 portals are persisted")
  rc, out = cli("AddTargetPortal " .. H.tgt:gsub(":", " "))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(read_file(D.dir .. "/state/state.json"), H.tgt_iqn)   -- stored, with its targets
  rc, out = cli("TargetInfo " .. H.tgt_iqn)
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "Discovered Through   : " .. H.tgt)
  rc, out = cli("RefreshTargetPortal " .. H.tgt:gsub(":", " "))
  lu.assertEquals(rc, 0, out)
  rc, out = cli("RefreshTargetPortal " .. dead:gsub(":", " "))
  lu.assertEquals(rc, 1, out)
  lu.assertStrContains(out, "ISDSC_PORTAL_NOT_FOUND")
  rc, out = cli("RemoveTargetPortal " .. H.tgt:gsub(":", " "))
  lu.assertEquals(rc, 0, out)
  rc, out = cli("ListTargetPortals")
  lu.assertStrContains(out, "Total of 0 portals are persisted")
end

function TestConnect:test_iscsicli_persistent_targets_and_no_secret_anywhere()
  local user, secret = H.env("MCSI_CHAP_USER"), H.env("MCSI_CHAP_SECRET")
  local iqn, port = H.env("MCSI_TGT_IQN_CHAP"), H.env("MCSI_TGT_PORT")
  local outs = {}
  local function run(args, json)
    local rc, out = cli(args, json)
    outs[#outs + 1] = out
    return rc, out
  end
  local rc, out = run(string.format("PersistentLoginTarget %s T 127.0.0.1 %s " .. string.rep("'*' ", 9) .. "%s %s 1 "
    .. "Connections=2 Portals=%s,%s LoadBalancePolicy=round-robin", iqn, port, user, secret, H.tgt, H.tgt2))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "Session Id is 0x")
  rc, out = run("ListPersistentTargets")
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "Target Name           : " .. iqn)
  lu.assertStrContains(out, "Connections           : 2")
  lu.assertStrContains(out, "CHAP Username         : " .. user)
  rc, out = run("SessionList")
  lu.assertStrContains(out, "Number Connections     : 2")
  rc, out = run("ListPersistentTargets", true)
  lu.assertEquals(rc, 0, out)
  local obj = cjson.decode(out:match("[^\n]+"))
  lu.assertEquals(obj.result[1].target, iqn)
  lu.assertEquals(obj.result[1].connections, 2)
  rc, out = run("RemovePersistentTarget " .. iqn)
  lu.assertEquals(rc, 0, out)
  rc, out = run("ListPersistentTargets")
  lu.assertStrContains(out, "Total of 0 persistent targets")
  rc, out = run("RemovePersistentTarget " .. iqn)
  lu.assertEquals(rc, 1, out)
  lu.assertStrContains(out, "ISDSC_TARGET_NOT_FOUND")
  -- without the daemon these need it
  rc, out = H.run(M .. " scripts/iscsicli.lua --local ListPersistentTargets")
  lu.assertEquals(rc, 1, out)
  lu.assertStrContains(out, "ISDSC_SERVICE_NOT_RUNNING")
  outs[#outs + 1] = read_file(D.log)
  outs[#outs + 1] = read_file(D.dir .. "/state/state.json")
  for i, text in ipairs(outs) do
    lu.assertNotStrContains(text, secret, false, "output " .. i .. " shows the CHAP secret")
  end
  daemon_logout_all()
end

function TestConnect:test_iscsicli_json_one_shape()
  local cmds = { "QAddTargetPortal " .. H.tgt, "ListTargetPortals", "ListTargets", "QLoginTarget " .. H.tgt_iqn,
                 "SessionList", "NodeName", "VersionInfo", "TargetInfo " .. H.tgt_iqn, "ReportTargetMappings",
                 "ListPersistentTargets", "QLoginTarget iqn.2026-11.org.example:nobody" }
  local sid
  for _, c in ipairs(cmds) do
    local _, out = cli(c, true)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    lu.assertEquals(#lines, 1, c .. ": one line: " .. out)
    local obj = cjson.decode(lines[1])
    lu.assertEquals(obj.command, c:match("^%S+"), out)
    lu.assertIsTable(obj.status, out)
    lu.assertIsString(obj.status.name, out)
    lu.assertIsNumber(obj.status.code, out)
    lu.assertIsBoolean(obj.status.ok, out)
    if c:find("^QLoginTarget iqn.2026%-11.org.example") then
      lu.assertEquals(obj.status.name, "ISDSC_TARGET_NOT_FOUND")
    else
      lu.assertTrue(obj.status.ok, out)
    end
    if c:find("^QLoginTarget " .. H.tgt_iqn:gsub("%p", "%%%0")) then sid = obj.result.session_id end
    if c == "NodeName" then lu.assertEquals(obj.result.initiator, "iqn.2026-11.org.mcsi:connect-test") end
  end
  lu.assertNotNil(sid)
  local rc, out = cli("LogoutTarget " .. math.tointeger(sid), true)
  lu.assertEquals(rc, 0, out)
  lu.assertEquals(cjson.decode(out).status.name, "ISDSC_SUCCESS")
end

-- The REPL on the daemon: events of sessions made by another process arrive
-- while the prompt waits, and its session list is the daemon's.
function TestConnect:test_repl_on_the_daemon()
  local T = "tmux -L mcsi-connect-test-" .. H.pid() .. " "
  local function tmux(args) local rc, out = H.run(T .. args) return out, rc end
  local function screen() return (tmux("capture-pane -p -J -S -200 -t repl")) end
  local function wait_for(text)
    for _ = 1, 200 do                               -- bounded; not a timing assertion
      if screen():find(text, 1, true) then return true end
      mcsi.sleep(50)
    end
    lu.fail("the REPL never showed: " .. text .. "\n--- screen:\n" .. screen())
  end
  local function send(line)
    tmux("send-keys -t repl -l " .. H.shq(line))
    tmux("send-keys -t repl Enter")
  end
  local env = string.format("env MCSI_HISTORY=/dev/null LUA_PATH=%s LUA_CPATH=%s TERM=xterm",
    H.shq(os.getenv("LUA_PATH") or ""), H.shq(os.getenv("LUA_CPATH") or ""))
  local _, rc = tmux("new-session -d -s repl -x 200 -y 50 " .. H.shq(env .. " " .. H.mcsi_bin .. " --connect " .. D.sock))
  lu.assertEquals(rc, 0)
  local ok, err = pcall(function()
    wait_for("mcsi>")
    send('h = mcsi.on("session-active", function(ev) print("EVENT " .. ev.kind) end)')
    send("mcsi.daemon.version")
    wait_for('"' .. VERSION .. '"')
    local rc2, out = cli("QAddTargetPortal " .. H.tgt)
    lu.assertEquals(rc2, 0, out)
    rc2, out = cli("QLoginTarget " .. H.tgt_iqn)
    lu.assertEquals(rc2, 0, out)
    wait_for("EVENT session-active")                -- delivered while the prompt waited
    send("#mcsi.sessions()")
    wait_for("\n1\n")
  end)
  tmux("kill-server")
  daemon_logout_all()
  if not ok then error(err, 0) end
end

-- A CHAP secret given inline through mcsi.connect goes to the daemon inline
-- (Secret), never through a file: no temporary file is left; it shows nowhere.
function TestConnect:test_inline_chap_secret_through_the_daemon()
  local user, secret = H.env("MCSI_CHAP_USER"), H.env("MCSI_CHAP_SECRET")
  local code = string.format([[
    local before = {}
    for f in io.popen("ls /tmp"):lines() do before[f] = true end
    local sid, cid, st = mcsi.login_to_target{ portal = %q, target = %q, chap = { username = %q, secret = %q } }
    print("login", st.name, math.type(sid))
    local bad = select(3, mcsi.login_to_target{ portal = %q, target = %q, chap = { username = %q, secret = "wrong-secret-x" } })
    print("bad", bad.name)
    local left = 0
    for f in io.popen("ls /tmp"):lines() do if not before[f] and f:match("^lua_") then left = left + 1 end end
    print("temporary files left", left)
    print("logout", mcsi.logout_from_target(sid).name)
  ]], H.tgt, H.env("MCSI_TGT_IQN_CHAP"), user, secret, H.tgt, H.env("MCSI_TGT_IQN_CHAP"), user)
  local rc, out = H.run(M .. " --connect " .. H.shq(D.sock) .. " -e " .. H.shq(code))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "login\tISDSC_SUCCESS\tinteger")
  lu.assertStrContains(out, "bad\tISDSC_AUTHENTICATION_FAILURE")
  lu.assertStrContains(out, "temporary files left\t0")
  lu.assertStrContains(out, "logout\tISDSC_SUCCESS")
  lu.assertNotStrContains(out, secret)
  lu.assertNotStrContains(read_file(D.log), secret)
  lu.assertNotStrContains(read_file(D.dir .. "/state/state.json"), secret)
end

-- secret_file and secret_env through mcsi.connect are read by the client with
-- its own rights, exactly as in-process (the same errors, raised here), and
-- sent inline: mcsid never opens a file for the client.
function TestConnect:test_chap_secret_file_and_env_read_by_the_client()
  local user, secret = H.env("MCSI_CHAP_USER"), H.env("MCSI_CHAP_SECRET")
  local file = D.dir .. "/client.secret"
  local f = assert(io.open(file, "w"))
  f:write(secret .. "\r\n")
  f:close()
  local code = string.format([[
    local function try(what, chap)
      local ok, sid, _, st = pcall(mcsi.login_to_target, { portal = %q, target = %q, chap = chap })
      if not ok then print(what, "raised", sid) return end
      print(what, st.name)
      if sid then mcsi.logout_from_target(sid) end
    end
    try("file", { username = %q, secret_file = %q })
    try("env", { username = %q, secret_env = "MY_CHAP_SECRET" })
    try("none", { username = %q, secret_file = %q })
    try("two", { username = %q, secret = "x", secret_env = "HOME" })
    print(mcsi.redact("is %s hidden"))
  ]], H.tgt, H.env("MCSI_TGT_IQN_CHAP"), user, file, user, user, D.dir .. "/none", user, secret)
  local rc, out = H.run("env MY_CHAP_SECRET=" .. H.shq(secret) .. " " .. M .. " --connect " .. H.shq(D.sock) ..
                        " -e " .. H.shq(code))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "file\tISDSC_SUCCESS")
  lu.assertStrContains(out, "env\tISDSC_SUCCESS")
  lu.assertStrContains(out, "none\traised\tchap: secret_file '" .. D.dir .. "/none': No such file or directory")
  lu.assertStrContains(out, "two\traised\tchap: give one of 'secret', 'secret_file' and 'secret_env'")
  lu.assertStrContains(out, "is <hidden> hidden")
  lu.assertNotStrContains(out, secret)
  lu.assertNotStrContains(read_file(D.log), secret)
  lu.assertNotStrContains(read_file(D.log), "client.secret")   -- no request text in the (debug) log
end

H.finish()
