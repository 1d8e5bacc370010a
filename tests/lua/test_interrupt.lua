-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_interrupt.lua: Ctrl-C (SIGINT) during a blocking call of the mcsi
-- program (issue 8): a login to a portal that never answers, a discovery, a
-- sleep inside a coroutine's mcsi.run: the call is interrupted at once (well
-- before its timeout) and the chunk stops there (what follows never runs).
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi

TestInterrupt = {}

local M = H.mcsi_bin

-- Runs args in the background, sends SIGINT after 400 ms; returns the exit
-- code, the output and the milliseconds from the signal to the exit.
local function interrupted(args)
  local script = "(" .. M .. " " .. args .. " & pid=$!; sleep 0.4; t0=$(date +%s%N); kill -INT $pid; wait $pid;"
    .. " rc=$?; t1=$(date +%s%N); echo; echo \"ms=$(( (t1 - t0) / 1000000 ))\"; exit $rc)"
  local rc, out = H.run(script)
  return rc, out, tonumber(out:match("ms=(%d+)"))
end

function TestInterrupt:test_blocking_calls_stop_the_chunk()
  local silent, stop = H.silent_portal()
  local login = string.format("mcsi.login_to_target{ portal = %q, target = %q, login_timeout_ms = 60000 }",
    silent, H.tgt_iqn)
  local cases = {
    login .. "; print('after')",
    string.format("mcsi.send_targets{ portal = %q, login_timeout_ms = 60000 }; print('after')", silent),
    "mcsi.spawn(function() " .. login .. " end); mcsi.run(); print('after')",
    "for i = 1, 3 do local ok = pcall(mcsi.sleep, 1) end; " .. login .. "; print('after')",
  }
  local worst = 0
  for _, code in ipairs(cases) do
    local rc, out, ms = interrupted("-e " .. H.shq(code))
    lu.assertEquals(rc, 1, code .. ": " .. out)
    lu.assertStrContains(out, "interrupted!")
    lu.assertNotStrContains(out, "after")
    lu.assertNotNil(ms, out)
    lu.assertTrue(ms < 10000, "interrupted well before the 60 s timeout: " .. ms .. " ms")
    worst = math.max(worst, ms)
  end
  -- a script file the same way
  local f = os.tmpname()
  local fh = io.open(f, "w")
  fh:write(login .. "\nprint('after')\n")
  fh:close()
  local rc, out, ms = interrupted(H.shq(f))
  os.remove(f)
  lu.assertEquals(rc, 1, out)
  lu.assertStrContains(out, "interrupted!")
  lu.assertNotStrContains(out, "after")
  worst = math.max(worst, ms)
  io.stderr:write(string.format("# Ctrl-C during a blocking call: the program ended %d ms after SIGINT at worst\n", worst))
  stop()
end

-- The signal lands while a timer's (or a watch's) Lua code runs: the callback's
-- pcall must not swallow it as the callback's error; mcsi.run stops with it.
-- (scripts/export.lua's churn timer ignored SIGTERM this way.)
function TestInterrupt:test_interrupt_inside_a_callback_stops_the_run()
  local busy = "local function spin() local t = os.clock() while os.clock() - t < 0.05 do end end; "
    .. "mcsi.every(1, spin); mcsi.run(); print('after')"
  local script = "(timeout 20 " .. M .. " -e " .. H.shq(busy) .. " & pid=$!; sleep 0.4; kill -INT $pid; wait $pid; rc=$?; echo; echo rc=$rc)"
  local _, out = H.run(script)
  local rc = tonumber(out:match("rc=(%d+)"))
  lu.assertEquals(rc, 1, "the program stops with the interrupt (124: it ran on until timeout): " .. out)
  lu.assertStrContains(out, "interrupted!")
  lu.assertNotStrContains(out, "error in an mcsi timer callback")
  lu.assertNotStrContains(out, "after")
end

H.finish()
