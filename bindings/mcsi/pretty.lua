-- SPDX-License-Identifier: LGPL-2.1-or-later
--[[
mcsi.pretty: how the mcsi REPL and scripts show values.

  local pretty = require "mcsi.pretty"
  pretty.format(v)        -> text: a Status on one line, a session list as a
                             table of sessions and their connections, any other
                             table as a sorted Lua constructor
  pretty.print(...)       -> prints each value with format (as JSON when
                             pretty.json is true, which `mcsi --json` sets);
                             integers right before a last Status (the ids a
                             login or an added connection made) as ids
  pretty.json_encode(v)   -> JSON text (Status -> {code,name,message,ok},
                             Session/Connection -> their id)
  pretty.sessions(list)   -> the session table as text (columns)
  pretty.hex(id)          -> "0x%016x", the one printed form of session and
                             connection ids (anything else: as text)
  pretty.listing(t)       -> "Key : value" lines (iscsicli's generic commands)

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

-- Session and connection ids: one printed form wherever a human reads them
-- (JSON keeps them integers). Anything that is no integer id shows as text.
local function hex(v)
  if math.type(v) ~= "integer" then return v == nil and "(none)" or tostring(v) end
  return string.format("0x%016x", v)
end
M.hex = hex

-- Keys whose integer values are session or connection ids (Lua and JSON-RPC names).
local ID_KEYS = { id = true, session_id = true, connection_id = true, UniqueSessionId = true,
                  UniqueConnectionId = true, UniqueConnectionIds = true, SessionId = true, ConnectionId = true }
function M.id_key(k) return ID_KEYS[k] == true end

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
    out[#out + 1] = string.format("session %s  %s  %s  load-balance %d (%s)  tsih 0x%04x  isid %s  %d connection%s",
      hex(s.id), s.target, s.state, s.load_balance or s.policy or 0, s.load_balance_name or s.policy_name or "?",
      s.tsih, s.isid,
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
    if ID_KEYS[k] and math.type(val) == "integer" then
      vs = hex(val)
    elseif ID_KEYS[k] and type(val) == "table" and #val > 0 and math.type(val[1]) == "integer" then
      local ids = {}
      for i, x in ipairs(val) do ids[i] = hex(x) end
      vs = "{ " .. table.concat(ids, ", ") .. " }"
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

-- A result as iscsicli lists it: "Key : value" lines, nested tables indented,
-- ids as hex, secrets hidden, keys sorted (lists in order).
function M.listing(v, indent, seen)
  indent, seen = indent or "", seen or {}
  if type(v) ~= "table" then return indent .. fmt(v, "", {}, 0) end
  if seen[v] then return indent .. "<cycle>" end
  seen[v] = true
  local lines, n = {}, #v
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_order)
  local function one(label, val, id)
    if type(val) == "table" and next(val) ~= nil then
      lines[#lines + 1] = indent .. label .. ":"
      if id and #val > 0 then
        local ids = {}
        for i, x in ipairs(val) do ids[i] = math.type(x) == "integer" and hex(x) or fmt(x, "", {}, 0) end
        lines[#lines + 1] = indent .. "    " .. table.concat(ids, " ")
      else
        lines[#lines + 1] = M.listing(val, indent .. "    ", seen)
      end
    else
      local vs
      if type(val) == "table" then vs = "(none)"
      elseif id and math.type(val) == "integer" then vs = hex(val)
      elseif secret_key(label) and type(val) == "string" then vs = HIDDEN
      elseif type(val) == "string" then vs = redact(val)
      else vs = fmt(val, "", {}, 0) end
      lines[#lines + 1] = indent .. pad(label, 22) .. " : " .. vs
    end
  end
  for i = 1, n do
    if type(v[i]) == "table" then
      if i > 1 then lines[#lines + 1] = "" end
      lines[#lines + 1] = M.listing(v[i], indent, seen)
    else
      one("[" .. i .. "]", v[i], false)
    end
  end
  for _, k in ipairs(keys) do one(tostring(k), v[k], ID_KEYS[k]) end
  seen[v] = nil
  return table.concat(lines, "\n")
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

-- The lines M.print writes for a call's results. Integers that come right
-- before the call's Status (login_to_target: sid, cid, st;
-- add_connection_to_session: cid, st) are the ids it made: shown as ids.
function M.format_results(...)
  local n = select("#", ...)
  local ids_before = 0
  if n > 1 and is_ud(select(n, ...), "mcsi.Status") then
    ids_before = n - 1
    for i = 1, n - 1 do
      if math.type((select(i, ...))) ~= "integer" then ids_before = 0 end
    end
  end
  local lines = {}
  for i = 1, n do
    local v = select(i, ...)
    if M.json then lines[i] = M.json_encode(v)
    elseif i <= ids_before then lines[i] = hex(v)
    else lines[i] = M.format(v) end
  end
  return lines
end

function M.print(...)
  for _, line in ipairs(M.format_results(...)) do io.write(line, "\n") end
  io.flush()
end

return M
