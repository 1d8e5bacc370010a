-- SPDX-License-Identifier: LGPL-2.1-or-later
-- helper.lua: what the LuaUnit suites in tests/lua share.
--
--   local H = require "helper"     -- first line of every test_*.lua
--   H.mcsi, H.lu (luaunit), H.env(name), H.tgt / H.tgt2 / H.istgt / H.istgt2 (portals)
--   H.sockets() -> number of open sockets of this process (/proc/self/fd)
--   H.logout_all(), H.check_clean() (teardown: no session, no socket left)
--   H.run(cmd) -> exit code, stdout+stderr of a shell command
--   H.silent_portal() -> portal, stop: a portal that accepts TCP and never answers
--   H.mcsi_bin: the mcsi program of the build under test
--   H.finish(): runs LuaUnit and exits (closing the state, so finalizers run);
--     the file's arguments go to LuaUnit (a test name such as TestArgs.test_x
--     runs that case alone: make check TESTS=tests/lua/test_args.lua:TestArgs.test_x);
--     its output is TAP, one "ok N" / "not ok N" line per test case and the
--     plan first, which tests/run-tests.sh counts
--
-- Under an ASan build (make asan) a module built with -fsanitize cannot be
-- loaded into the plain lua5.4; every test file then re-runs itself under the
-- ASan-built `mcsi` program (which links the module statically), so both the
-- module and the program are checked by the sanitizers.
local H = {}

H.build = os.getenv("MCSI_BUILD_DIR") or "build"
H.mcsi_bin = H.build .. "/mcsi"

local function shq(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
H.shq = shq

local function asan_build()
  local f = io.open(H.build .. "/mcsi.so", "rb")
  if not f then return false end
  local data = f:read("a")
  f:close()
  return data:find("__asan_init", 1, true) ~= nil
end

local in_program = package.preload.mcsi ~= nil and package.loaded.mcsi and package.loaded.mcsi.program
if not in_program and asan_build() then
  local argv = { shq(H.mcsi_bin), shq(arg[0]) }
  for i = 1, #arg do argv[#argv + 1] = shq(arg[i]) end
  local ok, how, code = os.execute(table.concat(argv, " "))
  os.exit(ok and 0 or (how == "exit" and code or 1))
end

H.lu = require "luaunit"
H.mcsi = require "mcsi"
local mcsi = H.mcsi

function H.env(name)
  local v = os.getenv(name)
  if not v then error("environment variable " .. name .. " is not set: run under tests/harness/with-targets", 2) end
  return v
end

H.tgt = "127.0.0.1:" .. H.env("MCSI_TGT_PORT")
H.tgt2 = "127.0.0.2:" .. H.env("MCSI_TGT_PORT")
H.istgt = "127.0.0.1:" .. H.env("MCSI_ISTGT_PORT")
H.istgt2 = "127.0.0.2:" .. H.env("MCSI_ISTGT_PORT")
H.tgt_iqn = H.env("MCSI_TGT_IQN_PLAIN")
H.istgt_iqn = H.env("MCSI_ISTGT_IQN")
H.file_lun = tonumber(H.env("MCSI_TGT_FILE_LUN"))
H.null_lun = tonumber(H.env("MCSI_TGT_NULL_LUN"))

function H.sockets()
  local n = 0
  local p = io.popen("ls -l /proc/" .. H.pid() .. "/fd 2>/dev/null")
  for line in p:lines() do
    if line:find("socket:", 1, true) then n = n + 1 end
  end
  p:close()
  return n
end

-- our own pid (the parent of the shell io.popen starts)
function H.pid()
  if not H._pid then
    local f = io.open("/proc/self/stat")
    H._pid = f:read("l"):match("^(%d+)")
    f:close()
  end
  return H._pid
end

function H.logout_all()
  for _, s in ipairs(mcsi.sessions()) do mcsi.logout_from_target(s.id) end
end

-- teardown: the test must leave no session behind
function H.check_clean()
  local left = #mcsi.sessions()
  H.logout_all()
  collectgarbage()
  collectgarbage()
  mcsi.poll(0)
  H.lu.assertEquals(left, 0, "a test left sessions open")
end

function H.run(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok, how, code = p:close()
  if ok then return 0, out end
  return (how == "exit" and code or 128 + (code or 0)), out
end

-- Runs a shell command under `timeout SECONDS`; exit code, stdout, stderr (kept apart).
function H.run3(cmd, seconds)
  local out, err = os.tmpname(), os.tmpname()
  local rc = H.run(string.format("(timeout %d %s >%s 2>%s)", seconds, cmd, shq(out), shq(err)))
  local function slurp(f)
    local fh = io.open(f)
    local text = fh:read("a")
    fh:close()
    os.remove(f)
    return text
  end
  return rc, slurp(out), slurp(err)
end

-- Runs Lua code in a child interpreter (the mcsi program under ASan, else
-- lua5.4); returns its exit code and output (stdout and stderr).
H.interp = in_program and H.mcsi_bin or "lua5.4"
function H.child(code, args)
  local f = os.tmpname()
  local fh = io.open(f, "w")
  fh:write(code)
  fh:close()
  local rc, out = H.run(H.interp .. " " .. shq(f) .. " " .. (args or ""))
  os.remove(f)
  return rc, out
end

function H.login(portal, target, extra)
  local o = { portal = portal or H.tgt, target = target or H.tgt_iqn, login_timeout_ms = 5000 }
  for k, v in pairs(extra or {}) do o[k] = v end
  local sid, cid, st = mcsi.login_to_target(o)
  H.lu.assertTrue(st.ok, "login: " .. tostring(st))
  return sid, cid
end

function H.assertStatus(st, name, what)
  H.lu.assertEquals(getmetatable(st).__name, "mcsi.Status", (what or "") .. ": not a Status")
  H.lu.assertEquals(st.name, name, (what or "") .. ": " .. tostring(st))
  H.lu.assertEquals(st.code, mcsi.status[name])
end

-- A function that must raise a Lua error whose message contains pattern (plain).
function H.assertRaises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  H.lu.assertFalse(ok, "expected an error containing: " .. pattern)
  H.lu.assertStrContains(tostring(err), pattern)
end

-- A portal that never answers: a listening socket (perl) that never accepts;
-- the kernel completes the TCP handshake and the Login Request is never
-- answered. Returns the portal and a function that stops it.
function H.silent_portal()
  local listener = io.popen([[exec perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(Listen => 64, LocalAddr => "127.0.0.1", LocalPort => 0, ReuseAddr => 1) or die;
    $| = 1; print "$$ ", $s->sockport, "\n"; sleep 120']])
  local pid, port = (listener:read("l") or ""):match("^(%d+) (%d+)$")
  H.lu.assertNotNil(tonumber(port), "perl listener")
  return "127.0.0.1:" .. port, function()
    os.execute("kill " .. pid)
    listener:close()
  end
end

-- A private mcsid for one test file or case: its socket, state, exports and
-- log in a directory of its own (never /run/mcsi: make check's decoy
-- watches it). conf: extra configuration lines. Returns d with dir, sock,
-- log, pid and d:stop() (SIGTERM, waits until it is gone or a zombie
-- nobody reaped yet, removes the directory unless keep).
function H.start_mcsid(name, conf)
  local d = { dir = os.tmpname() }
  os.remove(d.dir)
  assert(os.execute("mkdir -p " .. shq(d.dir)))
  d.sock, d.log = d.dir .. "/mcsid.sock", d.dir .. "/mcsid.log"
  local f = assert(io.open(d.dir .. "/mcsid.conf", "w"))
  f:write("initiator_name = iqn.2026-11.org.mcsi:" .. name .. "\n", "export_dir = " .. d.dir .. "/exports\n",
          conf or "")
  f:close()
  local p = io.popen(string.format("%s --socket %s --state-dir %s --config %s </dev/null >>%s 2>&1 & echo $!",
    shq(H.build .. "/mcsid"), shq(d.sock), shq(d.dir .. "/state"), shq(d.dir .. "/mcsid.conf"), shq(d.log)))
  d.pid = p:read("l")
  p:close()
  function d.stop(self, keep)
    if self.pid then
      os.execute(string.format("kill %s; while kill -0 %s 2>/dev/null && ! grep -q '^[0-9]* (.*) Z' /proc/%s/stat; " ..
        "do sleep 0.02; done", self.pid, self.pid, self.pid))
      self.pid = nil
    end
    if not keep then os.execute("rm -rf " .. shq(self.dir)) end
  end
  for _ = 1, 500 do                                   -- until it listens (bounded, not timed)
    if os.execute("test -S " .. shq(d.sock)) then return d end
    os.execute("sleep 0.02")
  end
  error("mcsid did not listen: " .. d.log)
end

function H.finish()
  local code = H.lu.LuaUnit.run("-o", "tap", "-v", table.unpack(arg))
  H.logout_all()
  os.exit(code, true)
end

return H
