-- SPDX-License-Identifier: LGPL-2.1-or-later
--[[
mcsi.pretty: how the mcsi REPL and scripts show values.

  local pretty = require "mcsi.pretty"
  pretty.format(v)        -> text: a Status on one line, a session list as a
                             table of sessions and their connections, any other
                             table as a sorted Lua constructor
  pretty.print(...)       -> prints each value with format (as JSON when
                             pretty.json is true, which `mcsi --json` sets)
  pretty.json_encode(v)   -> JSON text (Status -> {code,name,message,ok},
                             Session/Connection -> their id)
  pretty.sessions(list)   -> the session table as text (columns)
  pretty.hex(id)          -> "0x%016x"

Secrets: a string under a key that names a secret or a password (secret,
target_secret, chap_secret, Password, ... but not secret_file or secret_env)
shows as "<hidden>", and every CHAP secret given to the mcsi module is
replaced by "<hidden>" in any string shown (mcsi.redact), in text and JSON.
]]
local M = { json = false }

local HIDDEN = "<hidden>"

local redact_fn
local function redact(s)
  if redact_fn == nil then
    local ok, mcsi = pcall(require, "mcsi")
    redact_fn = ok and type(mcsi) == "table" and mcsi.redact or false
  end
  return redact_fn and redact_fn(s) or s
end

-- true for keys whose string value is a secret
local function secret_key(k)
  if type(k) ~= "string" then return false end
  local l = k:lower()
  if l:find("_file$") or l:find("_env$") then return false end
  return l:find("secret", 1, true) ~= nil or l:find("password", 1, true) ~= nil
end
M.secret_key = secret_key

local function is_ud(v, name)
  if type(v) ~= "userdata" then return false end
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__name") == name
end

local function hex(v)
  return string.format("0x%016x", v)
end
M.hex = hex

local function is_session_list(v)
  if type(v) ~= "table" or #v == 0 then return false end
  for _, s in ipairs(v) do
    if type(s) ~= "table" or type(s.connections) ~= "table" or s.tsih == nil then return false end
  end
  return true
end

local function is_session_info(v)
  return type(v) == "table" and type(v.connections) == "table" and v.tsih ~= nil and v.id ~= nil
end

local function status_line(st)
  return string.format("%s (0x%08X) ok=%s: %s", st.name, st.code, tostring(st.ok), redact(st.message))
end

local function role(c)
  local r = {}
  if c.leading then r[#r + 1] = "leading" end
  if c.primary then r[#r + 1] = "primary" end
  r[#r + 1] = c.active and "active" or "standby"
  return table.concat(r, ",")
end

local function pad(s, n)
  s = tostring(s)
  return s .. string.rep(" ", n - #s)
end

-- The sessions as a text table, one block per session.
function M.sessions(list)
  if is_session_info(list) then list = { list } end
  local out = {}
  if #list == 0 then return "(no sessions)" end
  for _, s in ipairs(list) do
    out[#out + 1] = string.format("session %s  %s  %s  policy %d (%s)  tsih 0x%04x  isid %s  %d connection%s",
      hex(s.id), s.target, s.state, s.policy or 0, s.policy_name or "?", s.tsih, s.isid,
      s.connection_count or #s.connections, (s.connection_count or #s.connections) == 1 and "" or "s")
    out[#out + 1] = "  " .. pad("CONNECTION", 20) .. pad("CID", 5) .. pad("PORTAL", 22) .. pad("LOCAL", 7)
      .. pad("STATE", 12) .. pad("ROLE", 24) .. pad("WEIGHT", 7) .. pad("QD", 5) .. "COMMANDS"
    for _, c in ipairs(s.connections) do
      out[#out + 1] = "  " .. pad(hex(c.id), 20) .. pad(c.cid, 5) .. pad(c.portal, 22) .. pad(c.local_port, 7)
        .. pad(c.state, 12) .. pad(role(c), 24) .. pad(c.weight, 7) .. pad(c.queue_depth, 5)
        .. tostring(c.stats and c.stats.commands or 0)
    end
  end
  return table.concat(out, "\n")
end

local function key_order(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local function quote(s)
  return (string.format("%q", redact(s)):gsub("\\\n", "\\n"))
end

local function fmt(v, indent, seen, depth)
  local t = type(v)
  if t == "string" then return quote(v) end
  if math.type(v) == "integer" and (v > 0xFFFFFFFF or v < 0) and indent ~= "" then return tostring(v) end
  if t ~= "table" and t ~= "userdata" then return tostring(v) end
  if is_ud(v, "mcsi.Status") then
    return string.format('Status { name = %q, code = 0x%08X, ok = %s, message = %q }',
      v.name, v.code, tostring(v.ok), redact(v.message))
  end
  if t == "userdata" then return tostring(v) end
  if seen[v] then return "<cycle>" end
  if depth > 8 then return "{...}" end
  seen[v] = true
  local keys, n = {}, #v
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_order)
  local inner = indent .. "  "
  local parts = {}
  for i = 1, n do parts[#parts + 1] = inner .. fmt(v[i], inner, seen, depth + 1) end
  for _, k in ipairs(keys) do
    local ks = (type(k) == "string" and k:match("^[%a_][%w_]*$")) and k or "[" .. fmt(k, inner, seen, depth + 1) .. "]"
    local val = v[k]
    local vs
    if (k == "id" or k == "session_id" or k == "connection_id") and math.type(val) == "integer" then
      vs = hex(val)
    elseif secret_key(k) and type(val) == "string" then
      vs = quote(HIDDEN)
    else
      vs = fmt(val, inner, seen, depth + 1)
    end
    parts[#parts + 1] = inner .. ks .. " = " .. vs
  end
  seen[v] = nil
  if #parts == 0 then return "{}" end
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
end

function M.format(v)
  if is_ud(v, "mcsi.Status") then return status_line(v) end
  if is_session_list(v) or is_session_info(v) then return M.sessions(v) end
  return fmt(v, "", {}, 0)
end

-- JSON ---------------------------------------------------------------------

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
                  ["\r"] = "\\r", ["\t"] = "\\t" }

local function json_string(s)
  return '"' .. redact(s):gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function json(v, seen)
  local t = type(v)
  if v == nil then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if math.type(v) == "integer" then return string.format("%d", v) end
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    return string.format("%.17g", v)
  end
  if t == "string" then return json_string(v) end
  if is_ud(v, "mcsi.Status") then
    return string.format('{"code":%d,"name":%s,"message":%s,"ok":%s}', v.code, json_string(v.name),
      json_string(v.message), tostring(v.ok))
  end
  if is_ud(v, "mcsi.Session") or is_ud(v, "mcsi.Connection") then
    return v.closed and "null" or string.format("%d", v.id)
  end
  if t ~= "table" then return json_string(tostring(v)) end
  if seen[v] then error("mcsi.pretty.json_encode: a table refers to itself") end
  seen[v] = true
  local n, count = #v, 0
  for _ in pairs(v) do count = count + 1 end
  local parts = {}
  if n > 0 and n == count then
    for i = 1, n do parts[i] = json(v[i], seen) end
    seen[v] = nil
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, key_order)
  for _, k in ipairs(keys) do
    local val = v[k]
    if secret_key(k) and type(val) == "string" then val = HIDDEN end
    parts[#parts + 1] = json_string(tostring(k)) .. ":" .. json(val, seen)
  end
  seen[v] = nil
  if #parts == 0 then return n == 0 and "[]" or "{}" end
  return "{" .. table.concat(parts, ",") .. "}"
end

function M.json_encode(v)
  return json(v, {})
end

function M.print(...)
  local n = select("#", ...)
  for i = 1, n do
    local v = select(i, ...)
    if M.json then io.write(M.json_encode(v), "\n") else io.write(M.format(v), "\n") end
  end
  io.flush()
end

return M
