-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_loop_syscalls.lua: the system calls of an export's loop per request
-- (issue 17). scripts/export.lua reads a request that arrived alone with one
-- recv, not a second one to hear EAGAIN (nbd/client.c stops after a recv
-- that emptied the socket). Counted with `strace -f -c` on the mcsi program
-- (skipped without strace, or where ptrace is not allowed).
--
-- The Lua host's turn keeps its poll() before the engine's epoll_wait(0):
-- waiting in epoll_wait alone was measured (issue 17) to cut the events
-- taken per turn (0.46 -> 0.57 turns per I/O, fio 4 KiB QD 32 through the
-- export, 8 alternating rounds) and to cost more CPU per I/O than the
-- syscall it saved; this test counts the polls but does not forbid them.
local H = require "helper"
local lu = H.lu

TestLoopSyscalls = {}

-- LeakSanitizer cannot run under ptrace (an ASan build): off for the traced program only
local NO_LSAN = 'ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" '

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

-- scripts/export.lua on the null LUN under strace, fio's nbd engine reading
-- IOS blocks one at a time: a request header that arrived alone is read
-- with one recv (none more to hear EAGAIN).
function TestLoopSyscalls:test_export_one_recv_per_request()
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
  print("# " .. detail)
end

H.finish()
