-- SPDX-License-Identifier: LGPL-2.1-or-later
--[[
mcsi.args: the command-line options of the scripts in scripts/, declared once.
Each option has a name, a kind (which checks and converts its value), a
placeholder and one line of help. A bad command line ends the program with a
message and the usage on stderr, exit status 2; --help (or -h) prints the usage
and the options on stdout, exit status 0.

  local args = require "mcsi.args"
  local o = args.parse({ ... }, {
    program = "failover.lua",
    usage   = "mcsi scripts/failover.lua --target IQN --portal ADDR[=WEIGHT]... [options]",
    about   = "keeps a session at N healthy connections",          -- optional
    options = {
      { "target", "name", "IQN", "the target's iSCSI name", required = true },
      { "portal", "portal_weight", "ADDR[=WEIGHT]", "a portal and its weight", many = true, required = true },
      { "connections", "count", "N", "connections to keep" },
      { "chap-secret", "secret", "S", "our CHAP secret (never printed)" },
      { "quiet", "flag", nil, "no log lines" },
    },
    rules = function(o) if ... then return "message" end end,      -- rules across options
    exit_codes = "0 ..., 1 ..., 2 bad arguments",                   -- shown by --help
  })
  o.target, o.portal (a list: many = true), o.connections, o.chap_secret, o.quiet

  args.check(argv, spec) -> o, or nil and the message (the same without exiting)

Kinds: string, name (no blanks), secret (a string that no message ever shows),
portal (HOST, HOST:PORT or [V6]:PORT), portal_weight (a portal, optionally
=WEIGHT, giving { portal =, weight = }), count (integer >= 1), lun (integer >= 0),
ms (integer >= 1), seconds (number > 0), flag (no value). "--name=value" is
accepted as well as "--name value".
]]
local M = {}

local function portal(v)
  local host, port = v:match("^%[([%x:%.]+)%]:(%d+)$")
  if not host then host, port = v:match("^([%w%-%.]+):(%d+)$") end
  if not host then host = v:match("^[%w%-%.]+$") end
  if not host then return nil, "not a portal (HOST, HOST:PORT or [IPv6]:PORT)" end
  if port and not (tonumber(port) >= 1 and tonumber(port) <= 65535) then
    return nil, "port out of range 1..65535"
  end
  return v
end

local function integer(v, min, what)
  local n = math.tointeger(tonumber(v))
  if not n or n < min then return nil, "not " .. what end
  return n
end

-- kind -> function(value) returning the converted value, or nil and why
local kinds = {
  string = function(v) return v end,
  secret = function(v) return v end,
  name = function(v)
    if v:find("%s") then return nil, "blanks in a name" end
    return v
  end,
  portal = portal,
  portal_weight = function(v)
    local addr, w = v:match("^(.-)=([^=]*)$")
    local weight = 1
    if addr then
      weight = math.tointeger(tonumber(w))
      if not weight or weight < 1 or weight > 65535 then
        return nil, "the weight after '=' must be an integer 1..65535"
      end
    end
    local p, why = portal(addr or v)
    if not p then return nil, why end
    return { portal = p, weight = weight }
  end,
  count = function(v) return integer(v, 1, "an integer >= 1") end,
  lun = function(v) return integer(v, 0, "a LUN (integer >= 0)") end,
  ms = function(v) return integer(v, 1, "a number of milliseconds >= 1") end,
  seconds = function(v)
    local n = tonumber(v)
    if not n or n ~= n or n <= 0 or n == math.huge then return nil, "not a number of seconds > 0" end
    return n
  end,
}

local function key(name) return (name:gsub("%-", "_")) end

local function find_option(spec, name)
  for _, opt in ipairs(spec.options) do
    if opt[1] == name then return opt end
  end
end

-- Checks one value; the message never shows a secret.
local function convert(opt, v)
  if v == "" then return nil, string.format("--%s: empty value", opt[1]) end
  local value, why = kinds[opt[2]](v)
  if value == nil then
    local shown = opt[2] == "secret" and "" or string.format(" '%s'", v)
    return nil, string.format("--%s%s: %s", opt[1], shown, why)
  end
  return value
end

local function store(o, opt, value)
  local k = key(opt[1])
  if opt.many then
    o[k] = o[k] or {}
    o[k][#o[k] + 1] = value
  elseif o[k] ~= nil then
    return string.format("--%s given twice", opt[1])
  else
    o[k] = value
  end
end

-- Parses argv against spec: o, or nil and the message. o.help is true for --help.
function M.check(argv, spec)
  local o, i = {}, 1
  while i <= #argv do
    local a = argv[i]
    if a == "--help" or a == "-h" then return { help = true } end
    local name, inline = a:match("^%-%-([%w%-]+)=(.*)$")
    name = name or a:match("^%-%-([%w%-]+)$")
    local opt = name and find_option(spec, name)
    if not opt then
      return nil, name and ("unknown option --" .. name) or ("unexpected argument '" .. a .. "'")
    end
    local value
    if opt[2] == "flag" then
      if inline then return nil, "--" .. name .. " takes no value" end
      value = true
    else
      local v = inline or argv[i + 1]
      if not inline then i = i + 1 end
      local vname = v and v:match("^%-%-([%w%-]+)")
      if v == nil or (not inline and (vname and find_option(spec, vname) or v == "--help")) then
        return nil, "missing value for --" .. name
      end
      local why
      value, why = convert(opt, v)
      if value == nil then return nil, why end
    end
    local why = store(o, opt, value)
    if why then return nil, why end
    i = i + 1
  end
  for _, opt in ipairs(spec.options) do
    if opt.required and o[key(opt[1])] == nil then return nil, "--" .. opt[1] .. " is required" end
  end
  local why = spec.rules and spec.rules(o)
  if why then return nil, why end
  return o
end

-- The --help text: usage, what it does, the options, the exit codes.
function M.help(spec)
  local lines = { "usage: " .. spec.usage }
  if spec.about then lines[#lines + 1] = spec.about end
  lines[#lines + 1] = "options:"
  for _, opt in ipairs(spec.options) do
    local left = "--" .. opt[1] .. (opt[3] and (" " .. opt[3]) or "")
    local notes = (opt.required and " (required)" or "") .. (opt.many and " (repeatable)" or "")
    lines[#lines + 1] = string.format("  %-26s %s%s", left, opt[4] or "", notes)
  end
  lines[#lines + 1] = string.format("  %-26s %s", "--help", "this text")
  if spec.exit_codes then lines[#lines + 1] = "exit status: " .. spec.exit_codes end
  return table.concat(lines, "\n") .. "\n"
end

-- Parses or ends the program: exit 0 after --help, exit 2 on a bad command line.
function M.parse(argv, spec)
  local o, why = M.check(argv, spec)
  if o and o.help then
    io.stdout:write(M.help(spec))
    os.exit(0)
  elseif not o then
    io.stderr:write(spec.program, ": ", why, "\nusage: ", spec.usage, "\n(", spec.program,
      " --help lists the options)\n")
    os.exit(2)
  end
  return o
end

return M
