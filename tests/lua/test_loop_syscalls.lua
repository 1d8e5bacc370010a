-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_loop_syscalls.lua: the system calls of a turn of the Lua host's loop
-- (issue 17). With only the engine to wait for (one initiator, no fd
-- watched from Lua), mcsi.run and mcsi.sleep wait in the engine's own
-- epoll_wait: no poll() per turn on top of it. With an fd watched from Lua
-- the turn polls the engine's fd and the watched ones, and both keep
-- working. An export (scripts/export.lua) reads a request that arrived
-- alone with one recv, not a second one to hear EAGAIN. Counted with
-- `strace -f -c` on the mcsi program (skipped without strace, or where
-- ptrace is not allowed).
local H = require "helper"
local lu = H.lu

TestLoopSyscalls = {}

local TURNS = 200
-- LeakSanitizer cannot run under ptrace (an ASan build): off for the traced program only
local NO_LSAN = 'ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" '

-- Runs code in the mcsi program under strace: syscall name -> calls, and its output.
local function traced(code, redirect)
  local f = os.tmpname()
  local rc, text = H.run(string.format(NO_LSAN .. "timeout 60 strace -f -qq -c -e trace=poll,ppoll,epoll_wait,epoll_pwait -o %s %s -e %s %s",
    H.shq(f), H.shq(H.mcsi_bin), H.shq(code), redirect or ""))
  local calls = {}
  local fh = io.open(f)
  if fh then
    for line in fh:lines() do
      local n, name = line:match("^%s*[%d.]+%s+[%d.]+%s+%d+%s+(%d+)%s+%d*%s*(%S+)%s*$")
      if n and name ~= "total" then calls[name] = tonumber(n) end
    end
    fh:close()
  end
  os.remove(f)
  return rc, text, calls
end

local function strace_works()
  if not os.execute("command -v strace >/dev/null 2>&1") then return false, "strace missing (bash tools/deps.sh)" end
  local ok = os.execute("strace -qq -o /dev/null true >/dev/null 2>&1")
  return ok, "strace cannot trace here (ptrace not allowed)"
end

local function count(calls, ...)
  local n = 0
  for _, name in ipairs({ ... }) do n = n + (calls[name] or 0) end
  return n
end

function TestLoopSyscalls:test_engine_only_turns_wait_in_epoll_alone()
  local ok, why = strace_works()
  if not ok then lu.skip(why) end
  local code = string.format([[
    local n = 0
    local id = mcsi.every(1, function() n = n + 1; if n == %d then mcsi.stop() end end)
    mcsi.run()
    mcsi.cancel(id)
    mcsi.sleep(20)
    print("ticks " .. n)
  ]], TURNS)
  local rc, out, calls = traced(code)
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "ticks " .. TURNS)
  local waits, polls = count(calls, "epoll_wait", "epoll_pwait"), count(calls, "poll", "ppoll")
  lu.assertTrue(waits >= TURNS, string.format("%d turns waited in epoll_wait (%d calls)", TURNS, waits))
  lu.assertEquals(polls, 0, string.format("no poll() on top of the engine's wait (%d epoll_wait, %d poll)", waits, polls))
end

function TestLoopSyscalls:test_a_watched_fd_still_wakes_the_loop()
  local ok, why = strace_works()
  if not ok then lu.skip(why) end
  -- stdin is /dev/null, always readable: its watcher runs every turn until it
  -- cancels itself; the engine's timers keep running beside it
  local code = [[
    local fired, ticks = 0, 0
    local w
    w = mcsi.watch(0, function() fired = fired + 1; if fired == 50 then mcsi.cancel(w) end end)
    local t = mcsi.every(1, function() ticks = ticks + 1 end)
    mcsi.sleep(100)
    mcsi.cancel(t)
    print("fired " .. fired .. " ticks " .. ticks)
  ]]
  local rc, out, calls = traced(code, "</dev/null")
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "fired 50 ")
  local ticks = tonumber(out:match("ticks (%d+)"))
  lu.assertTrue(ticks and ticks >= 20, "the timer ran beside the watcher: " .. out)
  lu.assertTrue(count(calls, "poll", "ppoll") >= 50, "with an fd watched from Lua the turn polls it")
end

-- scripts/export.lua on the null LUN under strace, fio's nbd engine reading
-- IOS blocks one at a time: the export's loop never polls, and a request
-- header that arrived alone is read with one recv (none more to hear EAGAIN).
function TestLoopSyscalls:test_export_one_wait_and_one_recv_per_request()
  local ok, why = strace_works()
  if not ok then lu.skip(why) end
  if not os.execute("command -v fio >/dev/null && command -v nbdinfo >/dev/null") then
    lu.skip("fio or nbdinfo missing (bash tools/deps.sh)")
  end
  local IOS = 300
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. H.shq(dir)))
  local sock, trace = dir .. "/nbd.sock", dir .. "/strace.txt"
  local uri = "nbd+unix:///?socket=" .. sock
  local script = table.concat({
    string.format(NO_LSAN .. "strace -f -qq -c -e trace=poll,ppoll,epoll_wait,epoll_pwait,recvfrom -o %s %s %s --target %s --portal %s --lun %d --socket %s >%s 2>&1 &",
      H.shq(trace), H.shq(H.mcsi_bin), H.shq("scripts/export.lua"), H.shq(H.tgt_iqn), H.shq(H.tgt), H.null_lun,
      H.shq(sock), H.shq(dir .. "/export.log")),
    "S=$!",
    string.format("for i in $(seq 200); do nbdinfo --size %s >/dev/null 2>&1 && break; sleep 0.05; done", H.shq(uri)),
    string.format("fio --name=t --ioengine=nbd --uri=%s --rw=randread --bs=4k --iodepth=1 --size=64m --number_ios=%d"
      .. " --output-format=terse | grep '^3;' | awk -F';' '{ print \"fio ios\", $6 / 4 }'", H.shq(uri), IOS),
    "kill -TERM $(pgrep -P $S) 2>/dev/null; wait $S",
    "cat " .. H.shq(dir .. "/export.log"),
  }, "\n")
  local rc, out = H.run("timeout 120 bash -c " .. H.shq(script))
  local calls, errors = {}, {}
  local fh = io.open(trace)
  if fh then
    for line in fh:lines() do
      local n, e, name = line:match("^%s*[%d.]+%s+[%d.]+%s+%d+%s+(%d+)%s+(%d*)%s*(%S+)%s*$")
      if n and name ~= "total" then calls[name], errors[name] = tonumber(n), tonumber(e) or 0 end
    end
    fh:close()
  end
  os.execute("rm -rf " .. H.shq(dir))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "fio ios " .. IOS)
  lu.assertStrContains(out, "logout: ISDSC_SUCCESS")
  local recvs, again = calls.recvfrom or 0, errors.recvfrom or 0
  local detail = string.format("%d I/Os: %d recv (%d EAGAIN), %d epoll_wait, %d poll", IOS, recvs, again,
    count(calls, "epoll_wait", "epoll_pwait"), count(calls, "poll", "ppoll"))
  lu.assertTrue(recvs >= IOS, detail)
  lu.assertTrue(again < IOS // 10, "a request read with one recv, no recv for EAGAIN after it: " .. detail)
  lu.assertEquals(count(calls, "poll", "ppoll"), 0, "the export's turns wait in epoll_wait alone: " .. detail)
  print("# " .. detail)
end

H.finish()
