-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_export.lua: mcsi.export (NBD exports of a LUN, nbd/) from Lua: the
-- object and its info, clients (qemu-io, nbdinfo: programs nobody here wrote,
-- run in the background) served while the script waits in mcsi.sleep, in
-- mcsi.run, in blocking calls, in a coroutine, and at the REPL prompt;
-- read-only over plain TCP (said explicitly); a session logged out under its
-- export; errors; stop; garbage collection never stops a running export.
-- TLS over TCP (the default for TCP): X.509 and PSK with nbdinfo, nbdcopy,
-- qemu-img and qemu-io over nbds://; a plain client, an untrusted CA, a
-- client without a certificate and a wrong PSK are refused, and the data
-- stays untouched; a TCP export without TLS credentials does not start
-- unless tls = "off" says so.
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
    x, st = mcsi.export(s, H.file_lun, { tcp = "127.0.0.1:0", read_only = true, tls = "off" })
  end)
  local t0 = mcsi.now()
  while not st and mcsi.now() - t0 < 10000 do mcsi.poll(50) end
  lu.assertTrue(st and st.ok, tostring(st))
  local i = x:info()
  lu.assertTrue(i.read_only)
  lu.assertEquals(i.tls, "off")
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
  x, st = mcsi.export(s, H.file_lun, { tcp = "not an address", tls = "off" })
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

-- ---- TLS ------------------------------------------------------------------------------------------------

local have_tls_tools = os.execute("command -v certtool >/dev/null && command -v psktool >/dev/null "
  .. "&& command -v nbdcopy >/dev/null && command -v qemu-img >/dev/null")

local function tls_keys()
  if not have_tls_tools then lu.skip("certtool, psktool, nbdcopy or qemu-img missing (bash tools/deps.sh)") end
  local k = dir .. "/tls"
  local rc, out = H.run("bash tests/nbd/make-tls-keys.sh " .. H.shq(k))
  lu.assertEquals(rc, 0, "make-tls-keys.sh: " .. tostring(out))
  return k
end

local function wait_engine() mcsi.sleep(20) end
local function run_bg(cmd) return finish(bg(cmd), wait_engine) end

-- qemu's --object and --image-opts for a TLS client of 127.0.0.1:port
local function qemu_tls(k, port, kind)
  local obj = kind == "psk" and ("tls-creds-psk,id=tls0,endpoint=client,username=alice,dir=" .. k .. "/psk")
    or ("tls-creds-x509,id=tls0,endpoint=client,dir=" .. k .. "/" .. kind)
  return "--object " .. H.shq(obj) .. " --image-opts " .. H.shq("driver=nbd,host=127.0.0.1,port=" .. port .. ",tls-creds=tls0")
end

local function qemu_io_tls(k, port, kind, ...)
  local args = {}
  for _, c in ipairs({ ... }) do args[#args + 1] = "-c " .. H.shq(c) end
  return run_bg("qemu-io " .. qemu_tls(k, port, kind) .. " " .. table.concat(args, " "))
end

local OFF = 1536 * 1048576      -- the region these tests write with qemu-io

-- nbdcopy in and out over TLS (several connections: CAN_MULTI_CONN): 4 MiB
-- of random data at offset 0, read back identical (the first 4 MiB of the
-- copy out; cmp stops reading there)
local function copy_in_and_out(uri)
  local src = dir .. "/src.img"
  H.run("head -c 4194304 /dev/urandom >" .. H.shq(src))
  local rc, out = run_bg("nbdcopy " .. H.shq(src) .. " " .. H.shq(uri))
  if rc ~= 0 then return rc, "nbdcopy in: " .. out end
  return run_bg("nbdcopy " .. H.shq(uri) .. " - 2>/dev/null | cmp -n 4194304 " .. H.shq(src) .. " -")
end

function TestExport:test_tcp_needs_tls_or_off()
  local s = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
  local x, st = mcsi.export(s, H.file_lun, { tcp = "127.0.0.1:0" })
  lu.assertNil(x)
  lu.assertFalse(st.ok)
  lu.assertStrContains(tostring(st), "needs TLS")
  x, st = mcsi.export(s, H.file_lun, { tcp = "127.0.0.1:0", tls = "off", tls_psk_file = dir .. "/k" })
  lu.assertNil(x)
  lu.assertStrContains(tostring(st), "TLS is off but")
  x, st = mcsi.export(s, H.file_lun, { tcp = "127.0.0.1:0", tls_cert = dir .. "/c.pem" })
  lu.assertNil(x)
  lu.assertStrContains(tostring(st), "go together")
  H.assertRaises("tls must be", function() mcsi.export(s, H.file_lun, { tcp = "127.0.0.1:0", tls = "maybe" }) end)
  -- files that are not there: refused at the start, the message names the option, not the path
  x, st = mcsi.export(s, H.file_lun, { tcp = "127.0.0.1:0", tls_psk_file = dir .. "/no-such.psk" })
  lu.assertNil(x)
  lu.assertStrContains(tostring(st), "tls_psk_file")
  lu.assertNotStrContains(tostring(st), "no-such")
  x, st = mcsi.export(s, H.file_lun, { tcp = "127.0.0.1:0", tls_cert = dir .. "/no-cert.pem", tls_key = dir .. "/no-key.pem" })
  lu.assertNil(x)
  lu.assertStrContains(tostring(st), "tls_cert")
  lu.assertNotStrContains(tostring(st), "no-cert")
  -- a Unix socket alone needs no TLS
  x, st = mcsi.export(s, H.file_lun, { socket = dir .. "/s" })
  lu.assertTrue(st.ok, tostring(st))
  lu.assertEquals(x:info().tls, "require")
  x:stop()
  lu.assertEquals(#mcsi.exports(), 0)
  s:logout()
end

function TestExport:test_tls_x509()
  local k = tls_keys()
  local s = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
  local x, st = mcsi.export(s, H.file_lun, { tcp = "127.0.0.1:0", tls_cert = k .. "/server-cert.pem",
    tls_key = k .. "/server-key.pem", tls_ca = k .. "/ca-cert.pem" })
  lu.assertTrue(st and st.ok, tostring(st))
  local i = x:info()
  local port = i.tcp_port
  lu.assertEquals(x.uri, "nbds://127.0.0.1:" .. port .. "/")
  lu.assertTrue(i.tls_x509 and i.tls_client_certs and not i.tls_psk)
  local uri = x.uri .. "?tls-certificates=" .. k .. "/client"
  local rc, out = run_bg("nbdinfo " .. H.shq(uri))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "with TLS")
  rc, out = run_bg("qemu-img info " .. qemu_tls(k, port, "client"))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, tostring(i.size) .. " bytes")
  rc, out = qemu_io_tls(k, port, "client", "write -P 0x5a " .. OFF .. " 1M", "read -P 0x5a " .. OFF .. " 1M")
  lu.assertEquals(rc, 0, out)
  rc, out = copy_in_and_out(uri)
  lu.assertEquals(rc, 0, out)
  -- refused: a plain client (its write never lands), an untrusted server CA, no client certificate, a stranger's
  local plain = "nbd://127.0.0.1:" .. port .. "/"
  rc, out = run_bg("nbdinfo " .. H.shq(plain))
  lu.assertNotEquals(rc, 0, "a plain client must be refused: " .. out)
  rc, out = run_bg("qemu-io -f raw " .. H.shq(plain) .. " -c " .. H.shq("write -P 0x11 " .. OFF .. " 64k"))
  lu.assertNotEquals(rc, 0, "a plain write must be refused: " .. out)
  rc, out = run_bg("qemu-img info " .. H.shq(plain))
  lu.assertNotEquals(rc, 0, out)
  lu.assertStrContains(out, "TLS")
  rc, out = run_bg("nbdinfo " .. H.shq(x.uri .. "?tls-certificates=" .. k .. "/other"))
  lu.assertNotEquals(rc, 0, "a client that does not trust the server's CA must fail: " .. out)
  rc, out = run_bg("nbdinfo " .. H.shq(x.uri .. "?tls-certificates=" .. k .. "/nocert"))
  lu.assertNotEquals(rc, 0, "a client without a certificate must be refused: " .. out)
  rc, out = run_bg("qemu-io " .. qemu_tls(k, port, "other") .. " -c " .. H.shq("write -P 0x12 " .. OFF .. " 64k"))
  lu.assertNotEquals(rc, 0, "a certificate of another CA must be refused: " .. out)
  rc, out = qemu_io_tls(k, port, "client", "read -P 0x5a " .. OFF .. " 1M")
  lu.assertEquals(rc, 0, "the refused clients wrote nothing: " .. out)
  i = x:info()
  lu.assertTrue(i.tls_refused >= 3, "options refused for want of TLS: " .. i.tls_refused)
  lu.assertTrue(i.tls_failed >= 2, "handshakes failed: " .. i.tls_failed)
  lu.assertTrue(i.tls_sessions >= 5, "handshakes done: " .. i.tls_sessions)
  lu.assertEquals(i.errors, 0)
  x:stop()
  s:logout()
end

function TestExport:test_tls_psk()
  local k = tls_keys()
  local s = mcsi.login{ portal = H.tgt, target = H.tgt_iqn }
  local x, st = mcsi.export(s, H.file_lun, { tcp = "127.0.0.1:0", tls_psk_file = k .. "/keys.psk" })
  lu.assertTrue(st and st.ok, tostring(st))
  local i = x:info()
  local port = i.tcp_port
  lu.assertTrue(i.tls_psk and not i.tls_x509)
  local uri = "nbds://alice@127.0.0.1:" .. port .. "/?tls-psk-file=" .. k .. "/keys.psk"
  local rc, out = run_bg("nbdinfo " .. H.shq(uri))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "with TLS")
  rc, out = qemu_io_tls(k, port, "psk", "write -P 0x6b " .. OFF .. " 2M", "read -P 0x6b " .. OFF .. " 2M")
  lu.assertEquals(rc, 0, out)
  rc, out = run_bg("qemu-img info " .. qemu_tls(k, port, "psk"))
  lu.assertEquals(rc, 0, out)
  rc, out = copy_in_and_out(uri)
  lu.assertEquals(rc, 0, out)
  -- a wrong key and a plain client: refused, the data untouched
  local wrong = "nbds://alice@127.0.0.1:" .. port .. "/?tls-psk-file=" .. k .. "/wrong.psk"
  rc, out = run_bg("nbdinfo " .. H.shq(wrong))
  lu.assertNotEquals(rc, 0, "a wrong PSK must fail: " .. out)
  rc, out = run_bg("nbdcopy " .. H.shq(dir .. "/src.img") .. " " .. H.shq(wrong))
  lu.assertNotEquals(rc, 0, "nbdcopy with a wrong PSK must fail: " .. out)
  rc, out = run_bg("qemu-io -f raw " .. H.shq("nbd://127.0.0.1:" .. port .. "/") .. " -c " .. H.shq("write -P 0x11 " .. OFF .. " 64k"))
  lu.assertNotEquals(rc, 0, "a plain write must be refused: " .. out)
  rc, out = qemu_io_tls(k, port, "psk", "read -P 0x6b " .. OFF .. " 2M")
  lu.assertEquals(rc, 0, "the refused clients wrote nothing: " .. out)
  i = x:info()
  lu.assertTrue(i.tls_failed >= 2 and i.tls_refused >= 1, "failed " .. i.tls_failed .. ", refused " .. i.tls_refused)
  lu.assertEquals(i.errors, 0)
  x:stop()
  s:logout()
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
