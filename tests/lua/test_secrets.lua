-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_secrets.lua: CHAP secrets never appear in what the module and the mcsi
-- program show (--json and text results, iscsicli listings, error messages
-- and tracebacks, pretty printing), can be given from a file or an
-- environment variable (real logins against tgt's CHAP targets), and stay
-- out of the REPL history file.
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi
local pretty = require "mcsi.pretty"

local M = H.shq(H.mcsi_bin)
local USER, SECRET = H.env("MCSI_CHAP_USER"), H.env("MCSI_CHAP_SECRET")
local USER2, SECRET2 = H.env("MCSI_CHAP_USER2"), H.env("MCSI_CHAP_SECRET2")
local TUSER, TSECRET = H.env("MCSI_CHAP_TARGET_USER"), H.env("MCSI_CHAP_TARGET_SECRET")
local CHAP_IQN, MUTUAL_IQN = H.env("MCSI_TGT_IQN_CHAP"), H.env("MCSI_TGT_IQN_MUTUAL")

local tmp

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function no_secret(out, secret, what)
  lu.assertNil(out:find(secret, 1, true), what .. " shows the secret:\n" .. out)
end

TestSecrets = {}

function TestSecrets:setUp()
  tmp = os.tmpname()
  os.remove(tmp)
  assert(os.execute("mkdir -p " .. H.shq(tmp)))
end

function TestSecrets:tearDown()
  os.execute("rm -rf " .. H.shq(tmp))
  H.check_clean()
end

function TestSecrets:test_json_listing_of_iscsicli()
  local code = string.format([[
    iscsicli("QAddTargetPortal", %q, %q, %q)
    iscsicli "ListTargets"
    iscsicli "ListTargetPortals"
    return iscsicli "ListTargets"]], H.istgt, USER, SECRET)     -- istgt: discovery with CHAP
  for _, opt in ipairs{ "--json", "" } do
    local rc, out = H.run(M .. " " .. opt .. " -e " .. H.shq(code))
    lu.assertEquals(rc, 0, out)
    lu.assertStrContains(out, H.istgt_iqn)
    no_secret(out, SECRET, "mcsi " .. opt .. " iscsicli ListTargets")
  end
end

function TestSecrets:test_results_and_errors_are_masked()
  local code = string.format([[
    local chap = { username = %q, secret = %q }
    local sid, cid, st = mcsi.login_to_target{ portal = %q, target = %q, chap = chap }
    assert(st.ok, tostring(st))
    print(mcsi.redact("before %s after"))
    mcsi.logout_from_target(sid)
    pretty.print({ chap = chap, list = { chap.secret } })
    error("failed with " .. chap.secret)]], USER, SECRET, H.tgt, CHAP_IQN, SECRET)
  local rc, out = H.run(M .. " -e " .. H.shq("pretty = require 'mcsi.pretty'; " .. code))
  lu.assertEquals(rc, 1, out)
  lu.assertStrContains(out, "before <hidden> after")
  lu.assertStrContains(out, 'secret = "<hidden>"')
  lu.assertStrContains(out, "failed with <hidden>")
  lu.assertStrContains(out, "stack traceback")
  no_secret(out, SECRET, "results, pretty printing and the error message")
  -- a wrong secret: the Status and the error name no secret either
  rc, out = H.run(M .. " --json -e " .. H.shq(string.format(
    "local _, _, st = mcsi.login_to_target{ portal = %q, target = %q, chap = { username = %q, secret = 'wrong-secret-9876' } }; return st",
    H.tgt, CHAP_IQN, USER)))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, '"ok":false')
  no_secret(out, "wrong-secret-9876", "a failed login's Status")
end

function TestSecrets:test_pretty_hides_secret_keys()
  local t = { chap = { username = "u", secret = "s3cret-value", target_secret = "t-s3cret", secret_file = "/f" },
              Password = "pw-value" }
  local text, json = pretty.format(t), pretty.json_encode(t)
  for _, s in ipairs{ "s3cret-value", "t-s3cret", "pw-value" } do
    no_secret(text, s, "pretty.format")
    no_secret(json, s, "pretty.json_encode")
  end
  lu.assertStrContains(text, 'secret_file = "/f"')
  lu.assertStrContains(json, '"target_secret":"<hidden>"')
  mcsi.add_secret("added-secret-777")
  lu.assertEquals(pretty.format({ note = "x added-secret-777 y" }), '{\n  note = "x <hidden> y"\n}')
  lu.assertEquals(mcsi.redact("added-secret-777"), "<hidden>")
end

function TestSecrets:test_secret_file_and_env_log_in()
  write(tmp .. "/secret", SECRET .. "\n")
  local sid, _, st = mcsi.login_to_target{ portal = H.tgt, target = CHAP_IQN, login_timeout_ms = 5000,
    chap = { username = USER, secret_file = tmp .. "/secret" } }
  H.assertStatus(st, "ISDSC_SUCCESS", "login with secret_file")
  mcsi.logout_from_target(sid)
  -- mutual CHAP: ours from the environment, the target's from a file (CRLF)
  write(tmp .. "/tsecret", TSECRET .. "\r\n")
  local rc, out = H.run("env MY_CHAP_SECRET=" .. H.shq(SECRET2) .. " " .. M .. " -e " .. H.shq(string.format([[
    local sid, cid, st = mcsi.login_to_target{ portal = %q, target = %q, login_timeout_ms = 5000,
      chap = { username = %q, secret_env = "MY_CHAP_SECRET", target_username = %q, target_secret_file = %q } }
    print(st.name)
    mcsi.logout_from_target(sid)]], H.tgt, MUTUAL_IQN, USER2, TUSER, tmp .. "/tsecret")))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "ISDSC_SUCCESS")
  -- a wrong secret in the file fails like a wrong literal one
  write(tmp .. "/secret", "not-the-secret-000\n")
  sid, _, st = mcsi.login_to_target{ portal = H.tgt, target = CHAP_IQN, login_timeout_ms = 5000,
    chap = { username = USER, secret_file = tmp .. "/secret" } }
  lu.assertNil(sid)
  lu.assertFalse(st.ok)
  -- misuse raises, naming the option, not a secret
  H.assertRaises("give one of 'secret', 'secret_file' and 'secret_env'", mcsi.login_to_target,
    { portal = H.tgt, target = CHAP_IQN, chap = { username = USER, secret = "x", secret_env = "HOME" } })
  H.assertRaises("chap: secret_file '" .. tmp .. "/none': No such file", mcsi.login_to_target,
    { portal = H.tgt, target = CHAP_IQN, chap = { username = USER, secret_file = tmp .. "/none" } })
  H.assertRaises("the environment variable 'MCSI_NO_SUCH_VARIABLE' is not set", mcsi.login_to_target,
    { portal = H.tgt, target = CHAP_IQN, chap = { username = USER, secret_env = "MCSI_NO_SUCH_VARIABLE" } })
end

-- The REPL in a terminal (tmux); its history file afterwards.
function TestSecrets:test_repl_history_keeps_no_secret()
  local hist = tmp .. "/history"
  local T = "tmux -L mcsi-secrets-test-" .. H.pid() .. " "
  local env = string.format("env MCSI_HISTORY=%s LUA_PATH=%s LUA_CPATH=%s TERM=xterm", H.shq(hist),
    H.shq(os.getenv("LUA_PATH") or ""), H.shq(os.getenv("LUA_CPATH") or ""))
  local function screen() return select(2, H.run(T .. "capture-pane -p -J -S -200 -t repl")) end
  local function wait_for(text)
    local t0 = mcsi.now()
    repeat
      if screen():find(text, 1, true) then return end
      mcsi.sleep(50)
    until mcsi.now() - t0 > 8000
    lu.fail("REPL never showed " .. text .. ":\n" .. screen())
  end
  local function send(line)
    H.run(T .. "send-keys -t repl -l " .. H.shq(line))
    H.run(T .. "send-keys -t repl Enter")
  end
  write(tmp .. "/secret", SECRET2 .. "\n")
  local rc = H.run(T .. "new-session -d -s repl -x 250 -y 50 " .. H.shq(env .. " " .. H.mcsi_bin))
  lu.assertEquals(rc, 0)
  local ok, err = pcall(function()
    wait_for("mcsi>")
    send('plain = "plain-line-333"')
    send('c1 = { username = "u", secret = "lit-secret-111" }')
    send("c2 = { target_secret = 'lit-secret-222' }")
    send('pw = "' .. SECRET .. '"')                          -- not recognisable until used
    send(string.format("sid, cid, st = mcsi.login_to_target{ portal = %q, target = %q, chap = { username = %q, secret = pw } }",
      H.tgt, CHAP_IQN, USER))
    send("st.name")
    wait_for('"ISDSC_SUCCESS"')
    send(string.format("c3 = { username = %q, secret_file = %q }", USER2, tmp .. "/secret"))
    send("mcsi.add_secret('added-secret-444')")
    send("mcsi.logout_from_target(sid)")
    send("'done-marker'")
    wait_for('"done-marker"')
    H.run(T .. "send-keys -t repl C-d")
    local t0 = mcsi.now()
    repeat mcsi.sleep(100) until io.open(hist) or mcsi.now() - t0 > 5000
    mcsi.sleep(200)
  end)
  H.run(T .. "kill-server")
  lu.assertTrue(ok, err)
  local f = assert(io.open(hist), "no history file written")
  local text = f:read("a")
  f:close()
  lu.assertStrContains(text, "plain-line-333")
  lu.assertStrContains(text, "secret_file")
  lu.assertStrContains(text, "done-marker")
  for _, s in ipairs{ "lit-secret-111", "lit-secret-222", SECRET, SECRET2, "added-secret-444" } do
    no_secret(text, s, "the REPL history file")
  end
end

H.finish()
