-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_args.lua: mcsi.args (the scripts' command lines) and, through the mcsi
-- program, every script's --help (usage on stdout, exit 0) and its answer to a
-- bad command line (a clear message on stderr, nothing on stdout, exit 2).
local H = require "helper"
local lu = H.lu
local args = require "mcsi.args"
local M = H.shq(H.mcsi_bin)

local function run3(cmd) return H.run3(cmd, 30) end   -- rc, stdout, stderr (bounded)

local SPEC = {
  program = "t.lua", usage = "t.lua --target IQN --portal A...",
  options = {
    { "target", "name", "IQN", "target", required = true },
    { "portal", "portal_weight", "A[=W]", "portal", many = true },
    { "drain", "portal", "A", "portal" },
    { "connections", "count", "N", "count" },
    { "lun", "lun", "N", "lun" },
    { "interval", "ms", "MS", "ms" },
    { "duration", "seconds", "S", "seconds" },
    { "chap-secret", "secret", "S", "secret" },
    { "quiet", "flag", nil, "flag" },
  },
  rules = function(o) if o.quiet and o.duration then return "--quiet and --duration clash" end end,
}

local function rejects(argv, fragment)
  local o, why = args.check(argv, SPEC)
  lu.assertNil(o, table.concat(argv, " "))
  lu.assertStrContains(why, fragment)
  return why
end

TestArgs = {}

function TestArgs:test_converts_each_kind()
  local o = args.check({ "--target", "iqn.x", "--portal", "127.0.0.1:3260=2", "--portal=h.example", "--drain",
    "[::1]:3260", "--connections", "4", "--lun", "0", "--interval=250", "--duration", "1.5",
    "--chap-secret", "s-1" }, SPEC)
  lu.assertEquals(o, { target = "iqn.x", portal = { { portal = "127.0.0.1:3260", weight = 2 },
    { portal = "h.example", weight = 1 } }, drain = "[::1]:3260", connections = 4, lun = 0, interval = 250,
    duration = 1.5, chap_secret = "s-1" })
  lu.assertEquals(args.check({ "--target", "i", "--quiet" }, SPEC), { target = "i", quiet = true })
  lu.assertEquals(args.check({ "--target", "i", "--help" }, SPEC), { help = true })
  lu.assertEquals(args.check({ "-h" }, SPEC), { help = true })
end

function TestArgs:test_rejects_bad_values()
  rejects({ "--target", "i", "--duration", "abc" }, "--duration 'abc': not a number of seconds > 0")
  rejects({ "--target", "i", "--duration", "-1" }, "--duration")
  rejects({ "--target", "i", "--duration", "nan" }, "--duration")
  rejects({ "--target", "i", "--duration", "inf" }, "--duration")
  rejects({ "--target", "i", "--connections", "abc" }, "--connections 'abc': not an integer >= 1")
  rejects({ "--target", "i", "--connections", "0" }, "--connections")
  rejects({ "--target", "i", "--connections", "2.5" }, "--connections")
  rejects({ "--target", "i", "--portal", "A=x" }, "--portal 'A=x': the weight after '=' must be an integer")
  rejects({ "--target", "i", "--portal", "127.0.0.1:3260=0" }, "the weight")
  rejects({ "--target", "i", "--portal", "127.0.0.1:99999" }, "port out of range")
  rejects({ "--target", "i", "--portal", "a b" }, "not a portal")
  rejects({ "--target", "i", "--drain", "h:1=2" }, "not a portal")
  rejects({ "--target", "i", "--lun", "-1" }, "--lun")
  rejects({ "--target", "i", "--interval", "0" }, "--interval")
  rejects({ "--target", "a b" }, "blanks")
  rejects({ "--target", "" }, "--target: empty value")
end

function TestArgs:test_rejects_bad_shapes()
  rejects({}, "--target is required")
  rejects({ "--target" }, "missing value for --target")
  rejects({ "--target", "--portal", "x" }, "missing value for --target")
  rejects({ "--target", "i", "--bogus", "1" }, "unknown option --bogus")
  rejects({ "--target", "i", "stray" }, "unexpected argument 'stray'")
  rejects({ "--target", "i", "--target", "j" }, "--target given twice")
  rejects({ "--target", "i", "--quiet=yes" }, "--quiet takes no value")
  rejects({ "--target", "i", "--quiet", "--duration", "1" }, "--quiet and --duration clash")
end

function TestArgs:test_a_secret_is_never_echoed()
  local why = rejects({ "--target", "i", "--chap-secret", "" }, "--chap-secret: empty value")
  lu.assertNotStrContains(why, "''")
  -- the program: a rule failing next to a secret does not show it
  local rc, out, err = run3(M .. " scripts/failover.lua --target T --portal 127.0.0.1:3260 --chap-secret TOPSECRET-1")
  lu.assertEquals(rc, 2, out .. err)
  lu.assertStrContains(err, "--chap-user and --chap-secret go together")
  lu.assertNotStrContains(out .. err, "TOPSECRET-1")
end

function TestArgs:test_help_text()
  local text = args.help(SPEC)
  lu.assertStrContains(text, "usage: t.lua --target IQN --portal A...")
  lu.assertStrContains(text, "--target IQN")
  lu.assertStrContains(text, "(required)")
  lu.assertStrContains(text, "(repeatable)")
  lu.assertStrContains(text, "--help")
end

-- Every script through the program: --help, and each bad command line.
local SCRIPTS = { "failover", "drain", "rebalance", "demo" }

function TestArgs:test_every_script_answers_help()
  for _, name in ipairs(SCRIPTS) do
    local rc, out, err = run3(M .. " scripts/" .. name .. ".lua --help")
    lu.assertEquals(rc, 0, name .. ": " .. out .. err)
    lu.assertStrContains(out, "usage: mcsi scripts/" .. name .. ".lua", false, name)
    lu.assertStrContains(out, "exit status:", false, name)
    lu.assertEquals(err, "", name)
  end
  local rc, out, err = run3(M .. " scripts/iscsicli.lua --local --help")
  lu.assertEquals(rc, 0, out .. err)
  lu.assertStrContains(out, "QAddTargetPortal <Address[:Socket]>")
  lu.assertStrContains(out, "exit status 0")
  lu.assertEquals(err, "")
end

local BAD = {
  { "failover", "--target T --portal 127.0.0.1:3260 --duration abc", "--duration 'abc'" },
  { "failover", "--target T --portal 127.0.0.1:3260 --connections abc", "--connections 'abc'" },
  { "failover", "--target T --portal 127.0.0.1:3260=x", "--portal '127.0.0.1:3260=x'" },
  { "failover", "--target T --portal 127.0.0.1:3260 --interval 0", "--interval" },
  { "failover", "--target T --portal 127.0.0.1:3260 --io x", "--io" },
  { "failover", "--target T --portal 127.0.0.1:3260 --chap-user u", "--chap-user and --chap-secret go together" },
  { "failover", "--portal 127.0.0.1:3260", "--target is required" },
  { "failover", "--target T", "--portal is required" },
  { "failover", "--target T --portal 127.0.0.1:3260 --duration", "missing value for --duration" },
  { "failover", "--target T --portal 127.0.0.1:3260 --bogus 1", "unknown option --bogus" },
  { "drain", "--target T --portal 127.0.0.1:3260 --drain 127.0.0.2:3260", "is not one of the --portal" },
  { "drain", "--target T --portal 127.0.0.1:3260 --drain 127.0.0.1:3260 --connections x", "--connections 'x'" },
  { "drain", "--target T --portal 127.0.0.1:3260", "--drain is required" },
  { "drain", "--target T --portal 127.0.0.1:3260=2 --drain 127.0.0.1:3260", "not a portal" },
  { "rebalance", "--target T --portal 127.0.0.1:3260 --lun x", "--lun 'x'" },
  { "rebalance", "--target T --portal 127.0.0.1:3260", "--lun is required" },
  { "rebalance", "--target T --portal 127.0.0.1:3260 --lun 1 --probes 0", "--probes" },
  { "rebalance", "--target T --portal 127.0.0.1:3260 --lun 1 --interval 100", "go together" },
  { "rebalance", "--target T --portal 127.0.0.1:3260 --lun 1 --duration abc --interval 100", "--duration 'abc'" },
  { "demo", "--duration 3", "unknown option --duration" },
  { "demo", "now", "unexpected argument 'now'" },
}

function TestArgs:test_every_script_rejects_bad_arguments()
  for _, case in ipairs(BAD) do
    local name, argv, fragment = case[1], case[2], case[3]
    local rc, out, err = run3(M .. " scripts/" .. name .. ".lua " .. argv)
    local what = name .. " " .. argv
    lu.assertEquals(rc, 2, what .. "\n" .. out .. err)
    lu.assertStrContains(err, name .. ".lua: ", false, what)
    lu.assertStrContains(err, fragment, false, what)
    lu.assertStrContains(err, "usage: mcsi scripts/" .. name .. ".lua", false, what)
    lu.assertEquals(out, "", what)
  end
  -- iscsicli: no command, an unknown one, a bad argument: exit 2, message on stderr
  for _, argv in ipairs({ "", "Bogus", "ReadCapacity notanid 1", "QAddTargetPortal" }) do
    local rc, out, err = run3(M .. " scripts/iscsicli.lua --local " .. argv)
    lu.assertEquals(rc, 2, argv .. "\n" .. out .. err)
    lu.assertStrContains(err, "iscsicli", false, argv)
  end
end

H.finish()
