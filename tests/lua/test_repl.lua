-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_repl.lua: the mcsi REPL driven through a terminal (tmux): a line in,
-- the printed result out; expressions without "=", Status and session lists
-- pretty-printed, continuation lines, tab completion, history, errors, and
-- the engine running (a timer fires) while the prompt waits.
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi

local nsock = 0
local T
local hist

local function tmux(args)
  local rc, out = H.run(T .. args)
  return out, rc
end

local function screen()
  return (tmux("capture-pane -p -J -S -200 -t repl"))
end

-- Waits until the screen contains text (plain), returns the screen.
local function wait_for(text, ms)
  local t0 = mcsi.now()
  repeat
    local s = screen()
    if s:find(text, 1, true) then return s end
    mcsi.sleep(50)
  until mcsi.now() - t0 > (ms or 5000)
  lu.fail("REPL screen never showed: " .. text .. "\n--- screen:\n" .. screen())
end

local function send(line)
  tmux("send-keys -t repl -l " .. H.shq(line))
  tmux("send-keys -t repl Enter")
end

TestRepl = {}

-- The REPL in a fresh terminal: `mcsi` with args (e.g. "--connect SOCKET").
local function start_repl(args)
  nsock = nsock + 1
  T = "tmux -L mcsi-repl-test-" .. H.pid() .. "-" .. nsock .. " "
  local env = string.format("env MCSI_HISTORY=%s LUA_PATH=%s LUA_CPATH=%s TERM=xterm", H.shq(hist),
    H.shq(os.getenv("LUA_PATH") or ""), H.shq(os.getenv("LUA_CPATH") or ""))
  local _, rc = tmux("new-session -d -s repl -x 200 -y 50 " .. H.shq(env .. " " .. H.mcsi_bin .. " " .. (args or "")))
  lu.assertEquals(rc, 0)
  wait_for("mcsi>")
end

local daemon                          -- a private mcsid, for the cases under --connect

function TestRepl:setUp()
  hist = os.tmpname()
  start_repl()
end

function TestRepl:tearDown()
  tmux("kill-server")
  os.remove(hist)
  if daemon then daemon:stop() daemon = nil end
  H.check_clean()
end

-- The same terminal's REPL again, now as `mcsi --connect` to a private mcsid.
local function restart_connected()
  tmux("kill-server")
  daemon = H.start_mcsid("repl")
  start_repl("--connect " .. H.shq(daemon.sock))
end

function TestRepl:test_expressions_and_statuses()
  send("1 + 2")
  wait_for("\n3\n")
  send("mcsi.remove_connection_from_session(1, 2)")
  wait_for("ISDSC_INVALID_SESSION_ID (0xEFFF001C) ok=false: Invalid session id")
  send("= mcsi.status.ISDSC_SUCCESS")
  wait_for("\n0\n")
  send("x = nil + 1")
  wait_for("attempt to perform arithmetic on a nil value")
  send("for i = 1, 3 do")
  wait_for(">>")
  send("  io.write(i, ',')")
  send("end")
  wait_for("1,2,3,")
  send("{ a = 1, 'x' }")
  wait_for('"x",')
end

function TestRepl:test_sessions_table()
  send(string.format("sid, cid, st = mcsi.login_to_target{ portal = %q, target = %q }", H.tgt, H.tgt_iqn))
  send("st")
  wait_for("ISDSC_SUCCESS (0x00000000) ok=true: Success")
  send(string.format("mcsi.add_connection_to_session(sid, %q)", H.tgt2))
  send("mcsi.sessions()")
  local s = wait_for("CONNECTION          CID")
  lu.assertStrContains(s, "session 0x")
  lu.assertStrContains(s, H.tgt_iqn)
  wait_for("leading,active")
  send("iscsicli 'SessionList'")
  wait_for("Total of 1 sessions")
  send("mcsi.logout_from_target(sid)")
  wait_for("ISDSC_SUCCESS (0x00000000) ok=true: Success\nmcsi>", 5000)
end

function TestRepl:test_engine_runs_at_the_prompt()
  send("fired = 0; mcsi.every(20, function() fired = fired + 1 end)")
  mcsi.sleep(400)
  send("fired > 5")
  wait_for("\ntrue\n")
  send("mcsi.timer(100, function() print('TIMER-OUTPUT') end)")
  wait_for("TIMER-OUTPUT")
  send("'still here'")
  wait_for('"still here"')
end

function TestRepl:test_completion_and_history()
  tmux("send-keys -t repl -l 'mcsi.remove_conn'")
  for _ = 1, 3 do
    tmux("send-keys -t repl Tab")
    mcsi.sleep(150)
  end
  local s = wait_for("remove_connection_async")
  lu.assertStrContains(s, "remove_connection_from_session")
  tmux("send-keys -t repl C-u")
  tmux("send-keys -t repl -l 'mcsi.sessi'")
  tmux("send-keys -t repl Tab")
  wait_for("mcsi.session")
  tmux("send-keys -t repl C-u")
  send("'history-line-1'")
  wait_for('"history-line-1"')
  tmux("send-keys -t repl Up")
  tmux("send-keys -t repl Enter")
  local s2 = wait_for('"history-line-1"\nmcsi>')
  local _, n = s2:gsub('"history%-line%-1"\n', "")
  lu.assertTrue(n >= 2, "the Up arrow brought the line back")
  tmux("send-keys -t repl C-d")
  mcsi.sleep(300)
  local f = io.open(hist)
  local text = f and f:read("a") or ""
  if f then f:close() end
  lu.assertStrContains(text, "'history-line-1'")
end

function TestRepl:test_ctrl_c()
  send("while true do end")
  mcsi.sleep(200)
  tmux("send-keys -t repl C-c")
  wait_for("interrupted!")
  send("'alive'")
  wait_for('"alive"')
  tmux("send-keys -t repl -l 'half a line'")
  tmux("send-keys -t repl C-c")
  send("'after ctrl-c'")
  wait_for('"after ctrl-c"')
end

-- help: every described Lua function with a one-line usage (api/operations.lua
-- through mcsi.api_ops), one function by value or by name, in both modes.
local function check_help(mode)
  send("help")
  local s = wait_for("mcsi functions (" .. mode .. "):")
  s = wait_for("one function\nmcsi>")
  lu.assertNotStrContains(s, "\nnil\n")
  local api = require "mcsi.api_ops"
  local n = 0
  for name, op in pairs(api.ops) do
    if name == op.lua then
      n = n + 1
      lu.assertStrContains(s, "mcsi." .. op.lua .. (op.lua_args == "table" and "{" or "("))
      lu.assertStrContains(s, op.doc)
    end
  end
  lu.assertTrue(n >= 20, "the description has the Lua functions: " .. n)
  lu.assertStrContains(s, "mcsi.login{ target =, portal =, ... }")
  lu.assertStrContains(s, "mcsi.scsi_inquiry(session_id, [lun], [page])")
  send("help(mcsi.login)")
  s = wait_for("also: mcsi.login_to_target; JSON-RPC LoginToTarget")
  lu.assertStrContains(s, "options: target (required), portal (required)")
  send("help 'login'")
  wait_for("help 'login'\nmcsi.login{ target =, portal =, ... }\n  The same login, returning an mcsi.Session")
  send('help "QLoginTarget"')
  wait_for("also: JSON-RPC LoginToTarget; iscsicli LoginTarget, QLoginTarget")
  send('help "inquiry"')
  wait_for("mcsi.Session:inquiry()")
  send("help(print)")
  wait_for("help: no described mcsi function is that function")
end

function TestRepl:test_help()
  check_help("in-process")
end

function TestRepl:test_help_connected()
  restart_connected()
  check_help("served by mcsid")
end

-- The names Tab lists after text (Tab twice: readline shows every match).
local function completions(text)
  tmux("send-keys -t repl C-l")
  local t0 = mcsi.now()
  repeat                              -- until the screen holds the prompt alone
    mcsi.sleep(50)
    tmux("clear-history -t repl")
    local _, lines = screen():gsub("[^\n]*%S[^\n]*", "")
  until lines <= 1 or mcsi.now() - t0 > 5000
  tmux("send-keys -t repl -l " .. H.shq(text))
  for _ = 1, 3 do                     -- the first may complete a common prefix; then the list
    tmux("send-keys -t repl Tab")
    mcsi.sleep(150)
  end
  local s = screen()
  tmux("send-keys -t repl C-u")
  local base, word = text:match("^(.*[.:])([%w_]*)$")
  local set = {}
  for line in s:gmatch("[^\n]+") do
    if not line:find("^mcsi> ") then          -- the prompt line holds the text, not a match
      for name in line:gmatch(base:gsub("%p", "%%%0") .. "([%w_]+)") do
        if name:sub(1, #word) == word then set[name] = true end
      end
    end
  end
  local list = {}
  for name in pairs(set) do list[#list + 1] = name end
  table.sort(list)
  return list
end

local function object_completions()
  send(string.format("s = mcsi.login{ portal = %q, target = %q }", H.tgt, H.tgt_iqn))
  send("c = s:connections()[1]")
  send("s ~= nil and c ~= nil")
  wait_for("\ntrue\n")
  local got = {}
  for _, text in ipairs({ "s:", "s.", "c:", "c.", "mcsi.Session.", "mcsi.sess", "mcsi.scsi_r" }) do
    got[text] = table.concat(completions(text), " ")
  end
  send("s:logout()")
  wait_for("ISDSC_SUCCESS")
  return got
end

-- Tab completes the same names on an mcsi.Session / mcsi.Connection and on
-- mcsi.* in-process and under --connect (remote objects are tables whose
-- metatable has the methods: completion reads the same `methods` / `fields`).
function TestRepl:test_completion_same_in_both_modes()
  local inproc = object_completions()
  lu.assertStrContains(inproc["s:"], "add_connection")
  lu.assertStrContains(inproc["s:"], "inquiry")
  lu.assertStrContains(inproc["s:"], "logout")
  lu.assertStrContains(inproc["s."], "owned")
  lu.assertStrContains(inproc["c:"], "remove_async")
  lu.assertStrContains(inproc["c."], "session_id")
  lu.assertStrContains(inproc["mcsi.sess"], "session_info")
  for _, text in ipairs({ "s:", "s.", "c:", "c." }) do io.stderr:write("# ", text, " ", inproc[text], "\n") end
  restart_connected()
  local remote = object_completions()
  for text, names in pairs(inproc) do
    lu.assertEquals(remote[text], names, "completion of " .. text .. " under --connect")
  end
end

-- Ctrl-C during a blocking call: "interrupted!" alone (no position inside
-- mcsi.remote, no traceback), the REPL goes on, and the next calls work
-- (under --connect: the daemon's late answer to the abandoned call is dropped).
local function check_ctrl_c_in_call(silent)
  send(string.format("st = mcsi.login_to_target{ portal = %q, target = %q, login_timeout_ms = 1500 }",
    silent, H.tgt_iqn))
  mcsi.sleep(400)
  tmux("send-keys -t repl C-c")
  local s = wait_for("interrupted!")
  lu.assertNotStrContains(s, "remote.lua")
  lu.assertNotStrContains(s, "stack traceback")
  lu.assertNotStrContains(s, "interrupted!\n\t")
  send("'alive'")
  wait_for('"alive"')
  mcsi.sleep(1700)                    -- the abandoned login's answer (a failure) has come by now
  send(string.format("s2 = mcsi.login{ portal = %q, target = %q }", H.tgt, H.tgt_iqn))
  send("s2 and s2:inquiry(0).vendor")
  wait_for('"IET')
  send("s2:logout()")
  wait_for("ISDSC_SUCCESS")
  send("#mcsi.sessions()")
  wait_for("\n0\nmcsi>")
end

function TestRepl:test_ctrl_c_in_a_blocking_call()
  local silent, stop = H.silent_portal()
  check_ctrl_c_in_call(silent)
  stop()
end

function TestRepl:test_ctrl_c_in_a_blocking_call_connected()
  local silent, stop = H.silent_portal()
  restart_connected()
  check_ctrl_c_in_call(silent)
  stop()
end

-- The two meanings of "policy" have two names: the load-balance policy (a
-- number, SetLoadBalancePolicy) is the session's load_balance /
-- load_balance_name and prints as "load-balance"; "policy" / "policy_name"
-- stay readable (old names, one version). A policy is a script.
local function check_load_balance_names()
  send(string.format("s = mcsi.login{ portal = %q, target = %q }", H.tgt, H.tgt_iqn))
  send("mcsi.load_balance_policies['least-queue-depth'] == 4 and mcsi.policies == mcsi.load_balance_policies")
  wait_for("\ntrue\n")
  send("mcsi.set_load_balance_policy(s, 'least-queue-depth')")
  send("i = mcsi.session_info(s)")
  send("i.load_balance .. ' ' .. i.load_balance_name .. ' ' .. i.policy .. ' ' .. i.policy_name")
  wait_for('"4 least-queue-depth 4 least-queue-depth"')
  send("mcsi.sessions()")
  wait_for("load-balance 4 (least-queue-depth)")
  send("s:logout()")
  wait_for("ISDSC_SUCCESS (0x00000000) ok=true: Success\nmcsi>")
end

function TestRepl:test_load_balance_names()
  check_load_balance_names()
  restart_connected()
  check_load_balance_names()
end

H.finish()
