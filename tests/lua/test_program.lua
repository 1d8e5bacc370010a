-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_program.lua: the mcsi program as lua is used: -e, scripts with
-- arguments, stdin, exit statuses, --json, the sandbox and the budgets.
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi

local M = H.shq(H.mcsi_bin)
local tmpdir

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

TestProgram = {}

function TestProgram:setUp()
  tmpdir = os.tmpname()
  os.remove(tmpdir)
  assert(os.execute("mkdir -p " .. H.shq(tmpdir) .. "/allowed"))
end

function TestProgram:tearDown()
  os.execute("rm -rf " .. H.shq(tmpdir))
  H.check_clean()
end

function TestProgram:test_e_and_exit_status()
  local rc, out = H.run(M .. " -e 'print(mcsi.version, type(iscsicli), mcsi.program)'")
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "mcsi 0.3.0\ttable\ttrue")
  rc, out = H.run(M .. " -e 'error(\"boom\")'")
  lu.assertEquals(rc, 1)
  lu.assertStrContains(out, "boom")
  lu.assertStrContains(out, "stack traceback")
  rc, out = H.run(M .. " -e 'return 1 + 1, mcsi.Status.new(0)'")
  lu.assertEquals(rc, 0)
  lu.assertStrContains(out, "2\nISDSC_SUCCESS (0x00000000) ok=true: Success")
  rc = H.run(M .. " -e 'os.exit(3)'")
  lu.assertEquals(rc, 3)
  rc, out = H.run(M .. " --no-such-option")
  lu.assertEquals(rc, 1)
  lu.assertStrContains(out, "unrecognized option '--no-such-option'")
  lu.assertStrContains(out, "--sandbox")
end

function TestProgram:test_script_args_and_stdin()
  local script = tmpdir .. "/s.lua"
  write(script, "print(arg[0], arg[1], select(2, ...), #arg)\nlocal sid, cid, st = mcsi.login_to_target{ portal = arg[1], target = arg[2] }\n"
    .. "print(st.name)\nprint(mcsi.logout_from_target(sid).name)\n")
  local rc, out = H.run(M .. " " .. H.shq(script) .. " " .. H.tgt .. " " .. H.tgt_iqn)
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, script .. "\t" .. H.tgt .. "\t" .. H.tgt_iqn .. "\t2")
  lu.assertStrContains(out, "ISDSC_SUCCESS\nISDSC_SUCCESS")
  rc, out = H.run("echo 'print(40 + 2)' | " .. M .. " -")
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "42")
  rc, out = H.run("echo 'print(43)' | " .. M)
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "43")
  write(script, "local t = nil\nreturn t.field\n")
  rc, out = H.run(M .. " " .. H.shq(script))
  lu.assertEquals(rc, 1)
  lu.assertStrContains(out, "attempt to index a nil value")
  rc, out = H.run(M .. " /no/such/script.lua")
  lu.assertEquals(rc, 1)
  lu.assertStrContains(out, "cannot open /no/such/script.lua")
end

function TestProgram:test_json()
  local code = string.format("local s = mcsi.login{ portal = %q, target = %q }; "
    .. "iscsicli 'SessionList'; return mcsi.sessions()", H.tgt, H.tgt_iqn)
  local rc, out = H.run(M .. " --json -e " .. H.shq(code))
  lu.assertEquals(rc, 0, out)
  local lines = {}
  for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
  lu.assertEquals(#lines, 2, out)
  -- iscsicli's one --json shape (issue 9): {"command","result","status"}; the list is its result
  lu.assertStrMatches(lines[1], '^{"command":"SessionList","result":%[{.*}%],"status":{.*"name":"ISDSC_SUCCESS".*}}$')
  lu.assertStrMatches(lines[2], '^%[{.*}%]$')
  for _, l in ipairs(lines) do
    lu.assertStrContains(l, '"target":"' .. H.tgt_iqn .. '"')
    lu.assertStrContains(l, '"connections":[{')
  end
  rc, out = H.run(M .. " --json -e 'return mcsi.Status.new(\"ISDSC_CANT_REMOVE_LAST_CONNECTION\")'")
  lu.assertStrContains(out, '{"code":4026466365,"name":"ISDSC_CANT_REMOVE_LAST_CONNECTION","message":')
end

function TestProgram:test_sandbox_refuses()
  local allowed = tmpdir .. "/allowed"
  local S = M .. " --sandbox --allow-dir " .. H.shq(allowed) .. " -e "
  local function refused(code, what)
    local rc, out = H.run(S .. H.shq(code))
    lu.assertEquals(rc, 1, what .. ": " .. out)
    lu.assertStrContains(out, "not allowed", what)
  end
  refused("os.execute('true')", "os.execute")
  refused("io.popen('id')", "io.popen")
  refused("os.tmpname()", "os.tmpname")
  refused("package.loadlib('libc.so.6', 'puts')", "package.loadlib")
  refused("io.open('" .. tmpdir .. "/outside.txt', 'w')", "write outside")
  refused("io.open('" .. allowed .. "/../outside.txt', 'w')", "write through ..")
  refused("io.open('/etc/passwd', 'a')", "append outside")
  refused("io.output('" .. tmpdir .. "/x')", "io.output outside")
  refused("os.remove('" .. tmpdir .. "/x')", "os.remove outside")
  refused("os.rename('" .. allowed .. "/a', '" .. tmpdir .. "/b')", "os.rename out of the dir")
  refused("debug.sethook()", "debug.sethook")
  os.execute("ln -s " .. H.shq(tmpdir) .. " " .. H.shq(allowed .. "/link"))
  refused("io.open('" .. allowed .. "/link/escape.txt', 'w')", "write through a symlink")
  -- binary chunks
  local rc, out = H.run(S .. H.shq("assert(load(string.dump(function() end)))"))
  lu.assertEquals(rc, 1)
  lu.assertStrContains(out, "attempt to load a binary chunk")
  -- what it may do
  rc, out = H.run(S .. H.shq(string.format([[
    local f = assert(io.open(%q, "w")); f:write("ok"); f:close()
    print(io.open(%q):read("a"), io.open("/etc/hostname") ~= nil)
    assert(os.remove(%q))
    print(type(mcsi.login_to_target))]], allowed .. "/f.txt", allowed .. "/f.txt", allowed .. "/f.txt")))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "ok\ttrue\nfunction")
  -- without --sandbox all of it works
  rc = H.run(M .. " -e " .. H.shq("os.execute('true'); io.popen('true'):close()"))
  lu.assertEquals(rc, 0)
end

function TestProgram:test_instruction_budget_stops_endless_loop()
  local code = [[
    local n = 0
    while true do
      local ok, err = pcall(function() while true do n = n + 1 end end)
      -- catching the error does not help: the next instruction raises again
    end]]
  local t0 = mcsi.now()
  local rc, out = H.run(M .. " --budget-instructions 1000000 -e " .. H.shq(code))
  lu.assertEquals(rc, 1, out)
  lu.assertStrContains(out, "instruction budget of 1000000 exceeded")
  lu.assertTrue(mcsi.now() - t0 < 20000)
end

function TestProgram:test_time_budget()
  local code = "local x = 0; while true do x = x + 1 end"
  local t0 = mcsi.now()
  local rc, out = H.run(M .. " --budget-seconds 0.5 -e " .. H.shq(code))
  lu.assertEquals(rc, 1, out)
  lu.assertStrContains(out, "time budget of 0.5 s exceeded")
  local dt = mcsi.now() - t0
  lu.assertTrue(dt >= 400 and dt < 5000, "stopped after " .. dt .. " ms")
  -- also while waiting inside the engine (mcsi.run with a timer that never ends)
  code = "mcsi.every(1000, function() end); mcsi.run()"
  t0 = mcsi.now()
  rc, out = H.run(M .. " --budget-seconds 0.3 -e " .. H.shq(code))
  lu.assertEquals(rc, 1, out)
  lu.assertStrContains(out, "time budget of 0.3 s exceeded")
  lu.assertTrue(mcsi.now() - t0 < 3000)
  -- and xpcall with a handler cannot keep going either
  code = "while true do xpcall(function() while true do end end, function(e) return e end) end"
  rc, out = H.run(M .. " --budget-seconds 0.3 -e " .. H.shq(code))
  lu.assertEquals(rc, 1, out)
  lu.assertStrContains(out, "exceeded")
end

function TestProgram:test_help_and_version()
  local rc, out = H.run(M .. " --help")
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "usage: ")
  lu.assertStrContains(out, "--budget-seconds")
  lu.assertStrContains(out, "mcsi.spawn")
  rc, out = H.run(M .. " --version </dev/null")
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "mcsi 0.3.0 with Lua 5.4")
  rc, out = H.run(M .. " --no-such-option")
  lu.assertEquals(rc, 1, out)
  lu.assertStrContains(out, "unrecognized option '--no-such-option'")
end

function TestProgram:test_interrupt()
  -- SIGINT stops a running chunk (the hook), also inside mcsi.sleep, and the
  -- program exits with an error like lua does.
  for _, code in ipairs{ "while true do end", "mcsi.sleep(60000)" } do
    local t0 = mcsi.now()
    local rc, out = H.run("(" .. M .. " -e " .. H.shq(code) .. " & pid=$!; sleep 0.3; kill -INT $pid; wait $pid)")
    lu.assertEquals(rc, 1, code .. ": " .. out)
    lu.assertStrContains(out, "interrupted!")
    lu.assertTrue(mcsi.now() - t0 < 5000)
  end
end

H.finish()
