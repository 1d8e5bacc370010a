-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_iscsicli_cli.lua: mcsi-iscsicli as an administrator meets it (issue 16),
-- through the real program build/mcsi-iscsicli against a real mcsid on a
-- temporary socket:
--   * no silent fallback: a socket that refuses is an error (never "0
--     sessions ... completed successfully"); no socket at all is a one-line
--     notice on stderr, then in-process; --local says nothing; --help and
--     help CMD contact nothing;
--   * a command for every method the daemon lists (GetVersion), each with
--     --help from the description; "did you mean"; options anywhere on the
--     line; --timeout bounds a call, "contacting mcsid..." after a second;
--   * the daemon's methods without a Microsoft command work as commands
--     (ExportLun, ListExports, UnexportLun, AttachPolicy, ListPolicies,
--     DetachPolicy, SetLoadBalancePolicy, GetSessionInfo);
--   * sessions print as 0x%016x, are read as decimal, hex or the target's
--     name (two sessions to one target: an error listing both);
--   * PersistentLoginTarget run again (same or another Connections) prints
--     the result and exits 0.
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi
local cjson = require "cjson"
local CLI = H.shq(H.build .. "/mcsi-iscsicli")

local D

local function run3(cmd) return H.run3(cmd, 60) end   -- rc, stdout, stderr (bounded)

-- the program on the test's daemon; opts go at the END of the line (anywhere works)
local function cli(args)
  return run3(string.format("%s %s --socket %s", CLI, args, H.shq(D.sock)))
end

local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

-- A Unix socket path that exists and refuses (bound, never listening): ECONNREFUSED.
local function refusing_socket()
  local path = D.dir .. "/refusing.sock"
  assert(os.execute(string.format("python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(%q)'", path)))
  return path
end

local function logout_all_daemon()
  H.run(string.format("%s --connect %s -e 'for _, s in ipairs(mcsi.sessions()) do mcsi.logout_from_target(s.id) end'",
    H.shq(H.mcsi_bin), H.shq(D.sock)))
end

TestIscsicliCli = {}

function TestIscsicliCli:setUp()
  D = H.start_mcsid("iscsicli-cli", "retry_initial_ms = 200\nretry_max_ms = 2000\n")
end

function TestIscsicliCli:tearDown()
  logout_all_daemon()
  D:stop()
  H.check_clean()
end

function TestIscsicliCli:test_a_refusing_socket_is_an_error()
  local sock = refusing_socket()
  for _, how in ipairs({ "env MCSI_SOCKET=" .. H.shq(sock) .. " " .. CLI .. " SessionList",
                         CLI .. " SessionList --socket " .. H.shq(sock),
                         "env MCSI_SOCKET=" .. H.shq(sock) .. " " .. CLI .. " QAddTargetPortal " .. H.tgt }) do
    local rc, out, err = run3(how)
    lu.assertEquals(rc, 1, how .. ": " .. out .. err)
    lu.assertNotStrContains(out, "completed successfully", false, how)
    lu.assertNotStrContains(out, "Total of 0 sessions", false, how)
    lu.assertStrContains(err, "Connection refused", false, how)
    lu.assertStrContains(err, sock, false, how)
    lu.assertEquals(#lines(err), 1, "one line: " .. err)
  end
  -- under --json the refusal is one object on stdout too
  local jrc, jout = run3(CLI .. " SessionList --json --socket " .. H.shq(sock))
  lu.assertEquals(jrc, 1, jout)
  local obj = cjson.decode(jout)
  lu.assertEquals(obj.command, "SessionList")
  lu.assertEquals(obj.status.name, "ISDSC_SERVICE_NOT_RUNNING")
  lu.assertStrContains(obj.status.message, "Connection refused")
  -- --socket PATH that does not exist: asked for, so an error too
  local rc, out, err = run3(CLI .. " SessionList --socket " .. H.shq(D.dir .. "/none.sock"))
  lu.assertEquals(rc, 1, out .. err)
  lu.assertStrContains(err, "No such file or directory")
  lu.assertNotStrContains(out, "completed successfully")
end

function TestIscsicliCli:test_no_daemon_is_a_notice_then_in_process()
  local none = H.shq(D.dir .. "/no-such-dir/mcsid.sock")
  local script = string.format("printf 'QAddTargetPortal %s\\nQLoginTarget %s\\nSessionList\\n'", H.tgt, H.tgt_iqn)
  local rc, out, err = run3(script .. " | env MCSI_SOCKET=" .. none .. " " .. CLI .. " -")
  lu.assertEquals(rc, 0, out .. err)
  lu.assertStrContains(out, "Total of 1 sessions")
  lu.assertEquals(#lines(err), 1, "one notice line: " .. err)
  lu.assertStrContains(err, "no mcsid")
  lu.assertStrContains(err, "(sessions, portals) ends with it")
  -- --local: the explicit choice, no notice
  rc, out, err = run3(script .. " | env MCSI_SOCKET=" .. none .. " " .. CLI .. " --local -")
  lu.assertEquals(rc, 0, out .. err)
  lu.assertStrContains(out, "Total of 1 sessions")
  lu.assertEquals(err, "")
end

function TestIscsicliCli:test_help_contacts_nothing()
  local env = "env MCSI_SOCKET=" .. H.shq(refusing_socket()) .. " "
  for _, args in ipairs({ "--help", "help", "SessionList --help", "help ExportLun", "ExportLun -h",
                          "--help LogoutTarget" }) do
    local rc, out, err = run3(env .. CLI .. " " .. args)
    lu.assertEquals(rc, 0, args .. ": " .. out .. err)
    lu.assertEquals(err, "", args)
    lu.assertStrContains(out, "usage: mcsi-iscsicli", false, args)
  end
  local rc, out = run3(env .. CLI .. " help ExportLun")
  lu.assertEquals(rc, 0)
  lu.assertStrContains(out, "usage: mcsi-iscsicli ExportLun <UniqueSessionId> <Lun>")
  lu.assertStrContains(out, "mcsid ExportLun: Serves one LUN")
  lu.assertStrContains(out, "Parameters (in this order, or Name=Value):")
end

function TestIscsicliCli:test_every_daemon_method_is_a_command_with_help()
  local rc, out = H.run(string.format("%s --connect %s -e 'for _, m in ipairs(mcsi.daemon.methods) do print(m) end'",
    H.shq(H.mcsi_bin), H.shq(D.sock)))
  lu.assertEquals(rc, 0, out)
  local methods = lines(out)
  lu.assertTrue(#methods >= 30, "the daemon's methods: " .. #methods)
  local ops = require("mcsi.iscsicli").command_ops
  local by_method = {}
  for command, row in pairs(ops) do
    if not by_method[row.rpc] or command == row.rpc then by_method[row.rpc] = command end
  end
  for _, want in ipairs({ "ExportLun", "UnexportLun", "ListExports", "AttachPolicy", "DetachPolicy", "ListPolicies",
                          "SetLoadBalancePolicy", "GetSessionInfo" }) do
    lu.assertEquals(by_method[want], want, want .. " is a command")
  end
  for _, m in ipairs(methods) do
    local command = by_method[m]
    lu.assertNotNil(command, "no iscsicli command for the daemon's method " .. m)
    local hrc, hout, herr = run3(CLI .. " " .. command .. " --help --socket /nonexistent")
    lu.assertEquals(hrc, 0, command .. ": " .. hout .. herr)
    lu.assertStrContains(hout, "usage: mcsi-iscsicli " .. command, false, command)
    lu.assertStrContains(hout, "mcsid " .. m, false, command .. " --help names its method")
  end
end

function TestIscsicliCli:test_did_you_mean()
  local rc, out, err = run3(CLI .. " SesionList --local")
  lu.assertEquals(rc, 2, out .. err)
  lu.assertStrContains(err, "did you mean SessionList?")
  rc, out, err = run3(CLI .. " exportlnu --local")
  lu.assertEquals(rc, 2)
  lu.assertStrContains(err, "did you mean ExportLun?")
  rc, out, err = run3(CLI .. " Frobnicate --local")
  lu.assertEquals(rc, 2)
  lu.assertStrContains(err, "unknown command 'Frobnicate'")
  lu.assertNotStrContains(err, "did you mean")
  lu.assertEquals(out, "")
  rc, out, err = run3(CLI .. " help SesionList")
  lu.assertEquals(rc, 2)
  lu.assertStrContains(err, "did you mean SessionList?")
end

function TestIscsicliCli:test_options_anywhere()
  local rc, out, err = run3(string.format("%s --json SessionList --socket %s", CLI, H.shq(D.sock)))
  lu.assertEquals(rc, 0, out .. err)
  lu.assertEquals(cjson.decode(out).command, "SessionList")
  rc, out, err = run3(string.format("%s SessionList --json --socket=%s", CLI, H.shq(D.sock)))
  lu.assertEquals(rc, 0, out .. err)
  lu.assertEquals(cjson.decode(out).status.name, "ISDSC_SUCCESS")
  rc, out = run3(string.format("%s VersionInfo --local --timeout 5", CLI))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "mcsid: not used")
  rc, out, err = run3(CLI .. " VersionInfo --timeout")
  lu.assertEquals(rc, 2)
  lu.assertStrContains(err, "--timeout needs")
  rc, out, err = run3(CLI .. " VersionInfo --timeout 0")
  lu.assertEquals(rc, 2)
end

-- A discovery through a portal that accepts TCP and never answers: the
-- daemon waits for its login deadline (15 s); --timeout 3 ends the command
-- at 3 s with an ISDSC Status, after "contacting mcsid..." at 1 s.
function TestIscsicliCli:test_timeout_and_contacting_line()
  local portal, stop = H.silent_portal()
  local t0 = mcsi.now()
  local rc, out, err = cli("QAddTargetPortal " .. portal .. " --timeout 3")
  local took = mcsi.now() - t0
  stop()
  lu.assertEquals(rc, 1, out .. err)
  lu.assertStrContains(out, "ISDSC_SERVICE_DID_NOT_RESPOND")
  lu.assertStrContains(out, "did not answer within 3 s")
  lu.assertEquals(err, "contacting mcsid...\n")
  lu.assertTrue(took >= 2900 and took < 12000, "took " .. took .. " ms")
  -- a quick command prints no such line
  rc, out, err = cli("SessionList --timeout 3")
  lu.assertEquals(rc, 0, out .. err)
  lu.assertEquals(err, "")
  -- in-process (--local) --timeout is the login deadline of a discovery (15 s by default)
  portal, stop = H.silent_portal()
  t0 = mcsi.now()
  rc, out, err = run3(string.format("printf 'QAddTargetPortal %s\nListTargets\n' | %s --local --timeout 2 -", portal, CLI))
  took = mcsi.now() - t0
  stop()
  lu.assertEquals(rc, 1, out .. err)
  lu.assertStrContains(out, "Status: ISDSC_")
  lu.assertEquals(err, "")
  lu.assertTrue(took >= 1900 and took < 10000, "in-process: took " .. took .. " ms")
end

function TestIscsicliCli:test_generic_commands()
  local rc, out, err = cli("QAddTargetPortal " .. H.tgt)
  lu.assertEquals(rc, 0, out .. err)
  rc, out = cli("QLoginTarget " .. H.tgt_iqn)
  lu.assertEquals(rc, 0, out)
  local sid = out:match("Session Id is (0x%x+)")
  rc, out, err = cli(string.format("GetSessionInfo %s", sid))
  lu.assertEquals(rc, 0, out .. err)
  lu.assertStrContains(out, "UniqueSessionId        : " .. sid)
  lu.assertStrContains(out, "TargetName             : " .. H.tgt_iqn)
  rc, out, err = cli(string.format("ExportLun %d %d cli.sock", math.tointeger(tonumber(sid)), H.file_lun))
  lu.assertEquals(rc, 0, out .. err)
  local eid = out:match("\nExportId%s+: (%d+)")
  lu.assertNotNil(eid, out)
  rc, out = cli("ListExports")
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "SocketName             : cli.sock")
  rc, out = cli("ListExports --json")
  lu.assertEquals(cjson.decode(out).result.Exports[1].UniqueSessionId, math.tointeger(tonumber(sid)),
    "JSON keeps ids integers")
  rc, out = cli("UnexportLun " .. eid)
  lu.assertEquals(rc, 0, out)
  rc, out = cli("ListExports")
  lu.assertStrContains(out, "Exports                : (none)")
  rc, out = cli(string.format("AttachPolicy %s PolicyScript=failover", sid))
  lu.assertEquals(rc, 0, out)
  local pid = out:match("PolicyId%s+: (%d+)")
  lu.assertNotNil(pid, out)
  rc, out = cli("ListPolicies")
  lu.assertStrContains(out, "failover")
  rc, out = cli("DetachPolicy " .. pid)
  lu.assertEquals(rc, 0, out)
  rc, out = cli(string.format("SetLoadBalancePolicy %s round-robin", sid))
  lu.assertEquals(rc, 0, out)
  rc, out = cli("GetSessionInfo " .. sid .. " --json")
  lu.assertEquals(cjson.decode(out).result.Session.LoadBalancePolicy, 2)
  -- a missing required argument, a bad value: the command line (exit 2)
  rc, out, err = cli("ExportLun")
  lu.assertEquals(rc, 2, out .. err)
  lu.assertStrContains(err, "needs <UniqueSessionId>")
  rc, out, err = cli(string.format("ExportLun %s %d Sockett=x.sock", sid, H.file_lun))
  lu.assertEquals(rc, 2, out .. err)
  lu.assertStrContains(err, "ExportLun has no parameter Sockett: did you mean Socket?")
  rc, out, err = cli("DetachPolicy x")
  lu.assertEquals(rc, 2)
  lu.assertStrContains(err, "PolicyId must be a number")
  -- without the daemon: says it needs mcsid
  rc, out = run3(CLI .. " --local ListExports")
  lu.assertEquals(rc, 1, out)
  lu.assertStrContains(out, "ISDSC_SERVICE_NOT_RUNNING")
end

-- Subscribe: the daemon's events while it runs (--timeout ends it).
function TestIscsicliCli:test_subscribe_prints_events()
  local outf, errf = os.tmpname(), os.tmpname()
  local pidf = io.popen(string.format("%s Subscribe session-active,session-logged-out --timeout 8 --socket %s >%s 2>%s & echo $!",
    CLI, H.shq(D.sock), H.shq(outf), H.shq(errf)))
  local pid = pidf:read("l")
  pidf:close()
  local function slurp(f) local fh = io.open(f) local t = fh:read("a") fh:close() return t end
  for _ = 1, 100 do                               -- until it listens (bounded)
    if slurp(errf):find("listening", 1, true) then break end
    mcsi.sleep(50)
  end
  lu.assertStrContains(slurp(errf), "listening to mcsid's events")
  local rc, out = cli("QAddTargetPortal " .. H.tgt)
  lu.assertEquals(rc, 0, out)
  rc, out = cli("QLoginTarget " .. H.tgt_iqn)
  lu.assertEquals(rc, 0, out)
  local sid = out:match("Session Id is (0x%x+)")
  rc, out = cli("LogoutTarget " .. sid)
  lu.assertEquals(rc, 0, out)
  os.execute(string.format("while kill -0 %s 2>/dev/null; do sleep 0.1; done", pid))   -- its --timeout: 8 s
  local got = slurp(outf)
  os.remove(outf)
  os.remove(errf)
  lu.assertStrContains(got, "session-active       session " .. sid)
  lu.assertStrContains(got, "session-logged-out   session " .. sid)
  lu.assertNotStrContains(got, "conn-active", false, "only the kinds asked for")
  lu.assertStrContains(got, "The operation completed successfully.")
end

function TestIscsicliCli:test_sessions_by_id_or_target_name()
  local rc, out = cli("QAddTargetPortal " .. H.tgt)
  lu.assertEquals(rc, 0, out)
  rc, out = cli("QLoginTarget " .. H.tgt_iqn)
  lu.assertEquals(rc, 0, out)
  local sid = out:match("Session Id is (0x%x+)")
  lu.assertNotNil(sid, out)
  lu.assertEquals(#sid, 18, "0x%016x")
  -- the target's name, decimal and hex all name it
  rc, out = cli(string.format("ReadCapacity %s %d", H.tgt_iqn, H.file_lun))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "Length of block")
  rc, out = cli(string.format("ReadCapacity %d %d", math.tointeger(tonumber(sid)), H.file_lun))
  lu.assertEquals(rc, 0, out)
  rc, out = cli("GetSessionInfo " .. H.tgt_iqn)
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "UniqueSessionId        : " .. sid)
  -- two sessions to one target: naming it is an error that lists both
  rc, out = cli("QLoginTarget " .. H.tgt_iqn)
  lu.assertEquals(rc, 0, out)
  local sid2 = out:match("Session Id is (0x%x+)")
  rc, out = cli("LogoutTarget " .. H.tgt_iqn)
  lu.assertEquals(rc, 1, out)
  lu.assertStrContains(out, "2 sessions to " .. H.tgt_iqn)
  lu.assertStrContains(out, sid)
  lu.assertStrContains(out, sid2)
  lu.assertStrContains(out, "ISDSC_INVALID_SESSION_ID")
  rc, out = cli("LogoutTarget " .. sid2)
  lu.assertEquals(rc, 0, out)
  rc, out = cli("LogoutTarget " .. H.tgt_iqn)
  lu.assertEquals(rc, 0, out)
  rc, out = cli("SessionList")
  lu.assertStrContains(out, "Total of 0 sessions")
  rc, out = cli("LogoutTarget " .. H.tgt_iqn)
  lu.assertEquals(rc, 1, out)
  lu.assertStrContains(out, "no session to " .. H.tgt_iqn)
end

function TestIscsicliCli:test_persistent_login_again_prints_the_result()
  local args = string.format("PersistentLoginTarget %s T 127.0.0.1 %s", H.tgt_iqn, H.env("MCSI_TGT_PORT"))
  local rc, out, err = cli(args .. " Connections=1")
  lu.assertEquals(rc, 0, out .. err)
  local sid = out:match("Session Id is (0x%x+)")
  lu.assertNotNil(sid, out)
  for _, n in ipairs({ 1, 2, 2, 1 }) do                  -- the same count, more, the same again, fewer
    rc, out, err = cli(args .. " Connections=" .. n)
    lu.assertEquals(rc, 0, "Connections=" .. n .. ": " .. out .. err)
    lu.assertEquals(err, "")
    lu.assertStrContains(out, "Session Id is 0x")
    lu.assertStrContains(out, "The operation completed successfully.")
    rc, out = cli(args .. " Connections=" .. n .. " --json")
    lu.assertEquals(rc, 0, out)
    lu.assertTrue(cjson.decode(out).status.ok, out)
  end
  rc, out = cli("RemovePersistentTarget " .. H.tgt_iqn)
  lu.assertEquals(rc, 0, out)
end

-- The REPL's printing (mcsi.pretty, no daemon): ids one way wherever they are
-- recognisable as ids; JSON keeps integers.
TestPrettyIds = {}

function TestPrettyIds:test_ids_print_as_hex()
  local pretty = require "mcsi.pretty"
  local ok = mcsi.Status.new(0)
  local l = pretty.format_results(0x19682, 0x19683, ok)        -- mcsi.login_to_target's results
  lu.assertEquals(l[1], "0x0000000000019682")
  lu.assertEquals(l[2], "0x0000000000019683")
  lu.assertStrContains(l[3], "ISDSC_SUCCESS")
  lu.assertEquals(pretty.format_results(7, "x", ok)[1], "7")    -- not all ids: left as numbers
  lu.assertEquals(pretty.format_results(7)[1], "7")
  local t = pretty.format({ UniqueSessionId = 104066, Connections = { { UniqueConnectionId = 104067 } }, Count = 3 })
  lu.assertStrContains(t, "UniqueSessionId = 0x0000000000019682")
  lu.assertStrContains(t, "UniqueConnectionId = 0x0000000000019683")
  lu.assertStrContains(t, "Count = 3")
  lu.assertStrContains(pretty.format({ UniqueConnectionIds = { 5, 6 } }),
    "UniqueConnectionIds = { 0x0000000000000005, 0x0000000000000006 }")
  lu.assertEquals(pretty.hex(nil), "(none)")
  pretty.json = true
  local j = pretty.format_results(0x19682, ok)
  pretty.json = false
  lu.assertEquals(j[1], "104066")
  local listing = pretty.listing({ UniqueSessionId = 104066, Secret = "x", Nested = { UniqueConnectionIds = { 1, 2 } } })
  lu.assertStrContains(listing, "UniqueSessionId        : 0x0000000000019682")
  lu.assertStrContains(listing, "0x0000000000000001 0x0000000000000002")
  lu.assertStrContains(listing, "Secret                 : <hidden>")
end

H.finish()
