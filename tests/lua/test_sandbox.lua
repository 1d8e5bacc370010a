-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_sandbox.lua: escapes from `mcsi --sandbox` that must stay closed:
-- the full debug library through require, binary chunks through require,
-- loadfile, dofile and load, writes through symbolic links (dangling or not),
-- MCSI_INIT running outside the sandbox, native code through package.cpath,
-- collectgarbage("stop"), os.remove / os.rename outside the allowed directory.
-- Each case checks the effect (the file outside was not created), not only
-- the message.
local H = require "helper"
local lu = H.lu

local M = H.shq(H.mcsi_bin)
local tmp, allowed, outside

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

-- Runs code in the sandbox (extra: shell words before the program, e.g. env).
local function sandboxed(code, extra)
  return H.run((extra or "") .. " timeout 20 " .. M .. " --sandbox --allow-dir " .. H.shq(allowed)
    .. " -e " .. H.shq(code))
end

local function refused(code, pattern, what, extra)
  local rc, out = sandboxed(code, extra)
  lu.assertNotEquals(rc, 0, what .. ": " .. out)
  lu.assertStrContains(out, pattern, false, what)
  return out
end

TestSandbox = {}

function TestSandbox:setUp()
  tmp = os.tmpname()
  os.remove(tmp)
  assert(os.execute("mkdir -p " .. H.shq(tmp) .. "/allowed " .. H.shq(tmp) .. "/outside"))
  allowed, outside = tmp .. "/allowed", tmp .. "/outside"
end

function TestSandbox:tearDown()
  os.execute("rm -rf " .. H.shq(tmp))
end

function TestSandbox:test_require_debug_is_the_restricted_one()
  local target = outside .. "/via-debug.txt"
  local code = string.format([[
    local d = require "debug"
    assert(d == debug and package.loaded.debug == debug, "one debug table")
    assert(d.traceback, "traceback stays")
    local _, open = d.getupvalue(io.open, 1)
    open(%q, "w"):write("escaped")]], target)
  refused(code, "attempt to call a nil value (field 'getupvalue')", "debug.getupvalue via require")
  lu.assertFalse(exists(target), "the original io.open was reached through require 'debug'")
  local rc, out = sandboxed("local d = require 'debug'; print(d.getinfo, d.getupvalue, d.setupvalue, d.getregistry)")
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "nil\tnil\tnil\tnil")
end

function TestSandbox:test_require_refuses_binary_chunks()
  local marker = outside .. "/binary-ran.txt"
  local bin = load(string.format("local f = io.open(%q, 'w'); if f then f:write('x') f:close() end; return 'binary'",
    marker))
  write(allowed .. "/binmod.lua", string.dump(bin))
  write(allowed .. "/textmod.lua", "return 'text module'")
  local env = "env LUA_PATH=" .. H.shq(allowed .. "/?.lua")
  refused("return require 'binmod'", "attempt to load a binary chunk", "require of a binary chunk", env)
  lu.assertFalse(exists(marker))
  local rc, out = sandboxed("print(require 'textmod')", env)
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "text module")
  -- the other loaders, with mode "b" asked for explicitly
  local path = allowed .. "/binmod.lua"
  refused(string.format("assert(loadfile(%q, 'b'))", path), "attempt to load a binary chunk", "loadfile 'b'")
  refused(string.format("dofile(%q)", path), "attempt to load a binary chunk", "dofile")
  refused("assert(load(string.dump(function() end), 'x', 'b'))", "attempt to load a binary chunk", "load 'b'")
  refused("assert(load(coroutine.wrap(function() coroutine.yield(string.dump(print and function() end)) end), 'x', 'bt'))",
    "attempt to load a binary chunk", "load from a reader")
  lu.assertFalse(exists(marker))
end

function TestSandbox:test_no_native_code()
  local rc, out = sandboxed("print(#package.searchers, package.searchers[3], package.searchers[4], package.cpath)")
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "2\tnil\tnil\t")
  -- mcsi.so is on the C path the test runs with: require must not load it
  local cdir = H.build
  refused(string.format("package.loaded.mcsi = nil; package.preload.mcsi = nil; package.cpath = %q; require 'mcsi'",
    cdir .. "/?.so"), "module 'mcsi' not found", "require of a C library")
  refused("package.loadlib('libc.so.6', 'puts')", "not allowed", "package.loadlib")
end

function TestSandbox:test_dangling_symlink_is_not_written_through()
  local target = outside .. "/created-by-link.txt"
  assert(os.execute("ln -s " .. H.shq(target) .. " " .. H.shq(allowed .. "/dangling")))
  for _, mode in ipairs{ "w", "a", "w+", "a+", "wb" } do
    refused(string.format("io.open(%q, %q)", allowed .. "/dangling", mode), "symbolic link", "io.open " .. mode)
    lu.assertFalse(exists(target), "io.open(dangling, '" .. mode .. "') created a file outside")
  end
  refused(string.format("io.output(%q); io.write('x')", allowed .. "/dangling"), "symbolic link", "io.output")
  lu.assertFalse(exists(target), "io.output(dangling) created a file outside")
  -- a link to an existing file outside: neither truncated nor appended to
  write(target, "precious")
  refused(string.format("io.open(%q, 'r+'):write('X')", allowed .. "/dangling"), "symbolic link", "r+ through a link")
  refused(string.format("io.open(%q, 'w')", allowed .. "/dangling"), "symbolic link", "w through a link")
  local f = io.open(target)
  lu.assertEquals(f:read("a"), "precious")
  f:close()
  -- removing the link removes the link only
  local rc, out = sandboxed(string.format("assert(os.remove(%q))", allowed .. "/dangling"))
  lu.assertEquals(rc, 0, out)
  lu.assertTrue(exists(target))
  -- ordinary files in the allowed directory: written, renamed, removed
  rc, out = sandboxed(string.format([[
    local f = assert(io.open(%q, "w")); f:write("a"); f:close()
    assert(io.open(%q, "a")):write("b")
    collectgarbage()
    assert(os.rename(%q, %q))
    print(io.open(%q):read("a"))
    assert(os.remove(%q))]], allowed .. "/x", allowed .. "/x", allowed .. "/x", allowed .. "/y", allowed .. "/y",
    allowed .. "/y"))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "ab")
end

function TestSandbox:test_remove_and_rename_stay_inside()
  write(outside .. "/keep.txt", "keep")
  refused(string.format("os.remove(%q)", outside .. "/keep.txt"), "not allowed", "os.remove outside")
  refused(string.format("os.rename(%q, %q)", outside .. "/keep.txt", allowed .. "/stolen.txt"), "not allowed",
    "os.rename from outside")
  refused(string.format("os.remove(%q)", allowed), "not allowed", "os.remove of the allowed directory itself")
  lu.assertTrue(exists(outside .. "/keep.txt"))
  lu.assertTrue(exists(allowed))
end

function TestSandbox:test_mcsi_init_runs_inside_the_sandbox()
  local target = outside .. "/init.txt"
  local init = string.format("os.execute('touch %s')", target)
  refused("print('main')", "os.execute: not allowed in the sandbox", "MCSI_INIT os.execute",
    "env MCSI_INIT=" .. H.shq(init))
  lu.assertFalse(exists(target), "MCSI_INIT escaped the sandbox")
  init = string.format("io.open(%q, 'w'):write('x')", target)
  refused("print('main')", "not allowed", "MCSI_INIT io.open", "env MCSI_INIT=" .. H.shq(init))
  lu.assertFalse(exists(target))
  -- -E still skips it
  local rc, out = sandboxed("print('main')", "env MCSI_INIT=" .. H.shq("error('init ran')") .. " ")
  lu.assertNotEquals(rc, 0, out)
  rc, out = H.run("env MCSI_INIT=" .. H.shq("error('init ran')") .. " " .. M .. " -E --sandbox -e 'print(\"main\")'")
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "main")
end

function TestSandbox:test_collectgarbage_and_what_stays()
  refused("collectgarbage('stop')", "not allowed in the sandbox", "collectgarbage stop")
  refused("collectgarbage('generational')", "not allowed in the sandbox", "collectgarbage mode")
  local rc, out = sandboxed(string.format([[
    collectgarbage(); collectgarbage("step")
    print(collectgarbage("count") > 0, collectgarbage("isrunning"))
    print(io.lines(%q)() ~= nil, io.input(%q) ~= nil)
    print(debug.traceback("tb"):sub(1, 2))
    os.exit(7)]], arg[0], arg[0]))
  lu.assertEquals(rc, 7, out)
  lu.assertStrContains(out, "true\ttrue\ntrue\ttrue\ntb")
end

H.finish()
