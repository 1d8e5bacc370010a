-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_budget.lua: `mcsi --budget-seconds S` ends the program within S plus
-- the grace (1 s), whatever the script does: code the count hook cannot reach
-- (a __gc finalizer, an xpcall message handler, a backtracking string.find,
-- finalizers run at exit), long waits inside the engine (mcsi.sleep, mcsi.run
-- with a far timer), a login against a portal that never answers, and
-- MCSI_INIT. Each run must exit non-zero with the budget message on stderr.
-- Elapsed times are checked against a loose bound (S + grace + 6 s margin),
-- not measured as a benchmark.
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi

local M = H.shq(H.mcsi_bin)
local S, GRACE, MARGIN = 1, 1, 6

-- Runs code under a 1 s budget (a 30 s outer timeout keeps a failing case from
-- hanging the suite); returns exit code, output, elapsed ms.
local function budgeted(code, extra)
  local t0 = mcsi.now()
  local rc, out = H.run((extra or "") .. " timeout 30 " .. M .. " --budget-seconds " .. S .. " -e " .. H.shq(code))
  return rc, out, mcsi.now() - t0
end

local function stops(code, hard, extra)
  local rc, out, ms = budgeted(code, extra)
  lu.assertNotEquals(rc, 0, out)
  lu.assertNotEquals(rc, 124, "still running at the outer timeout: " .. out)
  lu.assertStrContains(out, "time budget of 1 s exceeded")
  if hard then lu.assertStrContains(out, "stopped hard after 1 s of grace") end
  lu.assertTrue(ms < (S + GRACE + MARGIN) * 1000, string.format("ended after %.0f ms", ms))
  return out, ms
end

TestBudget = {}

function TestBudget:test_finalizer_loop()
  stops("setmetatable({}, { __gc = function() while true do end end }); collectgarbage(); print('after')", true)
end

function TestBudget:test_finalizer_loop_at_exit()
  -- the script stops at the budget; lua_close then runs the endless finalizer
  stops("local keep = setmetatable({}, { __gc = function() while true do end end }); while true do end", true)
end

function TestBudget:test_message_handler_loop()
  stops("while true do xpcall(error, function() while true do end end) end")
end

function TestBudget:test_backtracking_find()
  stops("return string.find(string.rep('a', 40), string.rep('a*', 20) .. 'b')", true)
end

function TestBudget:test_sleep_and_run_wait_no_longer()
  local out = stops("mcsi.sleep(1e9)")
  lu.assertStrContains(out, "sleep")
  out = stops("mcsi.timer(1e9, function() end); mcsi.run()")
  lu.assertStrContains(out, "run")
  stops("mcsi.poll(2000000000)")
end

function TestBudget:test_login_against_a_portal_that_never_answers()
  -- A listening socket that never accepts: the kernel completes the TCP
  -- handshake, the Login Request is never answered.
  local listener = io.popen([[exec perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(Listen => 5, LocalAddr => "127.0.0.1", LocalPort => 0, ReuseAddr => 1) or die;
    $| = 1; print "$$ ", $s->sockport, "\n"; sleep 60']])
  local pid, port = (listener:read("l") or ""):match("^(%d+) (%d+)$")
  lu.assertNotNil(tonumber(port), "perl listener")
  local code = string.format("return mcsi.login_to_target{ portal = '127.0.0.1:%s', target = %q, login_timeout_ms = 60000 }",
    port, H.tgt_iqn)
  local out = stops(code)
  lu.assertStrContains(out, "login_to_target")
  code = string.format("return mcsi.send_targets{ portal = '127.0.0.1:%s', login_timeout_ms = 60000 }", port)
  stops(code)
  os.execute("kill " .. pid)
  listener:close()
end

function TestBudget:test_mcsi_init_is_budgeted()
  stops("print('main')", false, "env MCSI_INIT=" .. H.shq("while true do end"))
end

function TestBudget:test_a_script_within_its_budget_is_untouched()
  local rc, out, ms = budgeted("mcsi.sleep(200); print('done')")
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "done")
  lu.assertNotStrContains(out, "budget")
  lu.assertTrue(ms < (S + GRACE + MARGIN) * 1000)
end

H.finish()
