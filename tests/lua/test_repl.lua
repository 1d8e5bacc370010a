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

function TestRepl:setUp()
  nsock = nsock + 1
  T = "tmux -L mcsi-repl-test-" .. H.pid() .. "-" .. nsock .. " "
  hist = os.tmpname()
  local env = string.format("env MCSI_HISTORY=%s LUA_PATH=%s LUA_CPATH=%s TERM=xterm", H.shq(hist),
    H.shq(os.getenv("LUA_PATH") or ""), H.shq(os.getenv("LUA_CPATH") or ""))
  local _, rc = tmux("new-session -d -s repl -x 200 -y 50 " .. H.shq(env .. " " .. H.mcsi_bin))
  lu.assertEquals(rc, 0)
  wait_for("mcsi>")
end

function TestRepl:tearDown()
  tmux("kill-server")
  os.remove(hist)
  H.check_clean()
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

H.finish()
