-- test_export.lua: mcsi.export (NBD exports of a LUN, nbd/) from Lua: the
-- object and its info, clients (qemu-io, nbdinfo: programs nobody here wrote,
-- run in the background) served while the script waits in mcsi.sleep, in
-- mcsi.run, in blocking calls, in a coroutine, and at the REPL prompt;
-- read-only over TCP; a session logged out under its export; errors; stop;
-- garbage collection never stops a running export.
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi

local dir
local have_clients = os.execute("command -v qemu-io >/dev/null && command -v nbdinfo >/dev/null")

-- Runs a shell command in the background; returns a function that answers its
-- exit code once it ended (nil before) and its output.
local function bg(cmd)
  local n = os.tmpname()
  os.remove(n)
  -- the exit code appears whole (mv), never as an empty file being written
  os.execute("(" .. cmd .. " >" .. n .. ".out 2>&1; echo $? >" .. n .. ".tmp; mv " .. n .. ".tmp " .. n .. ".rc) &")
  return function()
    local f = io.open(n .. ".rc")
    if not f then return nil end
    local rc = tonumber(f:read("l"))
    f:close()
    if not rc then return nil end
    local o = io.open(n .. ".out")
    local out = o and o:read("a") or ""
    if o then o:close() end
    os.remove(n .. ".rc")
    os.remove(n .. ".out")
    return rc, out
  end
end

-- Waits for a background job, calling wait() (which must run the engine) meanwhile.
local function finish(job, wait)
  local t0 = mcsi.now()
  while mcsi.now() - t0 < 60000 do
    local rc, out = job()
    if rc then return rc, out end
    wait()
  end
  local state = {}
  for _, x in ipairs(mcsi.exports()) do
    for k, v in pairs(x:info()) do state[#state + 1] = k .. "=" .. tostring(v) end
  end
  table.sort(state)
  lu.fail("background client did not end in 60 s; exports: " .. table.concat(state, " "))
end

local function qemu_io(uri, ...)
  local args = {}
  for _, c in ipairs({ ... }) do args[#args + 1] = "-c " .. H.shq(c) end
  return bg("qemu-io -f raw " .. H.shq(uri) .. " " .. table.concat(args, " "))
end

TestExport = {}

function TestExport:setUp()
  if not have_clients then lu.skip("qemu-io or nbdinfo missing (bash tools/deps.sh)") end
  dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. H.shq(dir))
end

function TestExport:tearDown()
  for _, x in ipairs(mcsi.exports()) do x:stop() end
  if dir then os.execute("rm -rf " .. H.shq(dir)) end
  H.check_clean()
end

function TestExport:test_object_info_and_sleep()
  local s = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
  local x, st = mcsi.export(s, H.file_lun, { socket = dir .. "/s", name = "disk", description = "a LUN" })
  lu.assertTrue(st.ok, tostring(st))
  lu.assertEquals(getmetatable(x).__name, "mcsi.Export")
  lu.assertEquals(x.uri, "nbd+unix:///disk?socket=" .. dir .. "/s")
  lu.assertStrContains(tostring(x), "mcsi.Export nbd+unix:///disk")
  local i = x:info()
  lu.assertEquals(i.size, 2 * 1024 * 1024 * 1024)
  lu.assertEquals(i.block_size, 512)
  lu.assertEquals(i.max_request, 32 * 1024 * 1024)
  lu.assertEquals(i.session_id, s.id)
  lu.assertEquals(i.lun, H.file_lun)
  lu.assertEquals(i.clients, 0)
  lu.assertFalse(i.read_only)
  lu.assertEquals(#mcsi.exports(), 1)
  local rc, out = finish(qemu_io(x.uri, "write -P 0x42 1M 64k", "read -P 0x42 1M 64k"), function() mcsi.sleep(20) end)
  lu.assertEquals(rc, 0, out)
  i = x:info()
  lu.assertTrue(i.requests >= 2)
  lu.assertEquals(i.errors, 0)
  lu.assertTrue(i.bytes_written >= 65536 and i.bytes_read >= 65536)
  lu.assertEquals(i.clients_total, 1)
  x:stop()
  lu.assertTrue(x.closed)
  x:stop()                                      -- twice is fine
  H.assertRaises("stopped mcsi.Export", function() x:info() end)
  lu.assertNil(io.open(dir .. "/s"), "the socket is removed")
  lu.assertEquals(#mcsi.exports(), 0)
  s:logout()
end

function TestExport:test_served_during_run_and_blocking_calls()
  local s = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
  s:add_connection{ portal = H.tgt2 }
  local x = assert(mcsi.export(s, H.file_lun, { socket = dir .. "/s" }))
  -- mcsi.run: a timer stops it once the client is done
  local job, rc, out = qemu_io(x.uri, "write -P 0x11 2M 1M", "read -P 0x11 2M 1M")
  local t = mcsi.every(20, function()
    rc, out = job()
    if rc then mcsi.stop() end
  end)
  mcsi.run()
  mcsi.cancel(t)
  lu.assertEquals(rc, 0, out)
  -- blocking calls on the same session
  rc, out = finish(qemu_io(x.uri, "write -P 0x12 3M 1M", "read -P 0x12 3M 1M"), function()
    local data, st = s:read(H.file_lun, 0, 8)
    lu.assertTrue(st.ok, tostring(st))
  end)
  lu.assertEquals(rc, 0, out)
  x:stop()
  s:logout()
end

function TestExport:test_in_a_coroutine_and_read_only_tcp()
  local s = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
  local x, st
  mcsi.spawn(function()
    x, st = mcsi.export(s, H.file_lun, { tcp = "127.0.0.1:0", read_only = true })
  end)
  local t0 = mcsi.now()
  while not st and mcsi.now() - t0 < 10000 do mcsi.poll(50) end
  lu.assertTrue(st and st.ok, tostring(st))
  local i = x:info()
  lu.assertTrue(i.read_only)
  lu.assertEquals(i.tcp_host, "127.0.0.1")
  lu.assertTrue(i.tcp_port > 0)
  lu.assertEquals(x.uri, "nbd://127.0.0.1:" .. i.tcp_port .. "/")
  local rc, out = finish(bg("nbdinfo " .. H.shq(x.uri)), function() mcsi.sleep(20) end)
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "is_read_only: true")
  rc, out = finish(bg("qemu-io -r -f raw " .. H.shq(x.uri) .. " -c 'read 0 64k'"), function() mcsi.sleep(20) end)
  lu.assertEquals(rc, 0, out)
  rc, out = finish(qemu_io(x.uri, "write 0 64k"), function() mcsi.sleep(20) end)
  lu.assertNotEquals(rc, 0, "a write to a read-only export must fail: " .. out)
  x:stop()
  s:logout()
end

function TestExport:test_errors()
  local s = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
  H.assertRaises("socket = PATH or tcp", function() mcsi.export(s, H.file_lun, {}) end)
  H.assertRaises("sockit", function() mcsi.export(s, H.file_lun, { sockit = "x" }) end)
  local x, st = mcsi.export(s, 7, { socket = dir .. "/s" })       -- no such LUN
  lu.assertNil(x)
  lu.assertFalse(st.ok)
  x, st = mcsi.export(0x7fffffff, H.file_lun, { socket = dir .. "/s" })
  lu.assertNil(x)
  lu.assertFalse(st.ok)
  x, st = mcsi.export(s, H.file_lun, { tcp = "not an address" })
  lu.assertNil(x)
  lu.assertFalse(st.ok)
  lu.assertStrContains(tostring(st), "not an address")
  lu.assertEquals(#mcsi.exports(), 0)
  s:logout()
end

function TestExport:test_gc_never_stops_and_session_gone()
  local s = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
  do
    local x = mcsi.export(s, H.file_lun, { socket = dir .. "/s" })
    lu.assertNotNil(x)
  end
  collectgarbage()
  collectgarbage()
  local uri = "nbd+unix:///?socket=" .. dir .. "/s"
  local rc, out = finish(qemu_io(uri, "read 0 4k"), function() mcsi.sleep(20) end)
  lu.assertEquals(rc, 0, "an unreferenced export still serves: " .. out)
  lu.assertEquals(#mcsi.exports(), 1)
  -- the session goes: the export answers EIO, nothing breaks
  s:logout()
  rc, out = finish(qemu_io(uri, "read 0 4k"), function() mcsi.sleep(20) end)
  lu.assertNotEquals(rc, 0, "a read after the logout must fail: " .. out)
  lu.assertTrue(mcsi.exports()[1]:info().errors > 0)
  mcsi.exports()[1]:stop()
end

-- The REPL: an export made at the prompt serves clients while the prompt waits.
function TestExport:test_repl()
  if not os.execute("command -v tmux >/dev/null") then lu.skip("tmux missing") end
  local T = "tmux -L mcsi-export-test-" .. H.pid() .. " "
  local env = string.format("env LUA_PATH=%s LUA_CPATH=%s TERM=xterm", H.shq(os.getenv("LUA_PATH") or ""),
    H.shq(os.getenv("LUA_CPATH") or ""))
  H.run(T .. "new-session -d -s repl -x 200 -y 50 " .. H.shq(env .. " " .. H.mcsi_bin))
  local function screen() return select(2, H.run(T .. "capture-pane -p -J -S -200 -t repl")) end
  local function wait_for(text)
    local t0 = mcsi.now()
    repeat
      if screen():find(text, 1, true) then return true end
      mcsi.sleep(50)
    until mcsi.now() - t0 > 10000
    return false
  end
  local function send(line)
    H.run(T .. "send-keys -t repl -l " .. H.shq(line))
    H.run(T .. "send-keys -t repl Enter")
  end
  local ok = wait_for("mcsi>")
  send(string.format("s = mcsi.login{ portal = %q, target = %q }", H.tgt, H.tgt_iqn))
  send(string.format("x, st = mcsi.export(s, %d, { socket = %q })", H.file_lun, dir .. "/r"))
  send("print('export ' .. tostring(st.ok))")
  ok = ok and wait_for("export true")
  local rc, out
  if ok then
    rc, out = H.run("qemu-io -f raw " .. H.shq("nbd+unix:///?socket=" .. dir .. "/r")
      .. " -c 'write -P 0x21 5M 64k' -c 'read -P 0x21 5M 64k'")
  end
  send("x:stop() s:logout() os.exit(0)")
  mcsi.sleep(300)
  H.run(T .. "kill-server")
  lu.assertTrue(ok, "the REPL made the export:\n" .. screen())
  lu.assertEquals(rc, 0, out)
end

H.finish()
