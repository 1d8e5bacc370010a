-- SPDX-License-Identifier: LGPL-2.1-or-later
--[[
tests/sh/option_keys.lua DESCRIPTION HEADER: the MCSI_OPT_* keys of HEADER
(core/mcsi.h, MCSI_OPT_LIST) are the options DESCRIPTION
(api/operations.lua) describes, for tests/sh/test_option_keys.sh.

An option is described when an operation whose C function takes an options
handle (c_sig with mcsi_login_opts: where L, mcsi_conn_opts: where C) has it
as a parameter (not one of the C function's own arguments, not lua = false)
or in one of its option sets (includes followed). Then:
  - every described option has a key of its name, unless
    D.options_without_key lists it (and a listed one must have no key and be
    described: the list stays exact);
  - every key is a described option;
  - the kind matches (a string: STRING; a number, a boolean, a string of
    values: INT), the handles match (the key's L / C letters), and an INT
    option's bounds lie within the key's.
Prints one line per mismatch and exits 1 when there is one; its last line
is "# N keys, M described options".
]]

local desc_path, header_path = arg[1], arg[2]
if not desc_path or not header_path then
  io.stderr:write("usage: option_keys.lua DESCRIPTION HEADER\n")
  os.exit(2)
end
local D = dofile(desc_path)
local fh = assert(io.open(header_path))
local header = fh:read("a")
fh:close()

local bad = {}
local function mismatch(fmt, ...) bad[#bad + 1] = fmt:format(...) end

-- ---- the keys: the rows of MCSI_OPT_LIST (a backslash-continued macro) ----
local function opt_list_text()
  local lines, inside = {}, false
  for line in header:gmatch("[^\n]*") do
    if line:match("^#define MCSI_OPT_LIST%(X%)") then inside = true end
    if inside then
      lines[#lines + 1] = line
      if not line:match("\\%s*$") then break end
    end
  end
  return table.concat(lines, "\n")
end

local keys, nkeys = {}, 0
for enum, value, name, kind, min, max, where in opt_list_text():gmatch(
    'X%((MCSI_OPT_[%w_]+),%s*(%d+),%s*"([%w_]+)",%s*(%u+),%s*(%-?%d+),%s*(%-?%d+),%s*(%u+)%)') do
  if keys[name] then mismatch("key %s: its name given twice", name) end
  keys[name] = { enum = enum, value = tonumber(value), kind = kind, min = math.tointeger(tonumber(min)),
                 max = math.tointeger(tonumber(max)), where = where }
  nkeys = nkeys + 1
end
if nkeys == 0 then mismatch("no MCSI_OPT_LIST rows in %s", header_path) end

-- ---- the described options, each with every place it is described ----
local described, ndescribed = {}, 0
local function describe(p, where, from)
  local d = described[p.name]
  if not d then
    d = { where = {}, places = {} }
    described[p.name] = d
    ndescribed = ndescribed + 1
  end
  d.where[where] = true
  d.places[#d.places + 1] = { p = p, from = from }
end

local function describe_set(name, where, op)
  local set = D.option_sets[name]
  if not set then mismatch("%s: no option set %s", op.name, name) return end
  for _, p in ipairs(set.params) do describe(p, where, op.name .. " (set " .. name .. ")") end
  for _, inc in ipairs(set.includes or {}) do describe_set(inc, where, op) end
end

for _, op in ipairs(D.operations) do
  local sig = op.c ~= false and op.c_sig or ""
  local where = sig:find("mcsi_login_opts", 1, true) and "L" or sig:find("mcsi_conn_opts", 1, true) and "C"
  if where then
    local c_args = {}
    for a in sig:gmatch("([%w_]+)%s*[,)]") do c_args[a] = true end
    for _, p in ipairs(op.params or {}) do
      if p.lua ~= false and not c_args[p.name] then describe(p, where, op.name) end
    end
    for _, s in ipairs(op.options or {}) do describe_set(s, where, op) end
  end
end

-- ---- the exceptions stay exact ----
local without = D.options_without_key or {}
for name, why in pairs(without) do
  if type(why) ~= "string" or why == "" then mismatch("options_without_key.%s: say why", name) end
  if keys[name] then mismatch("options_without_key.%s: it has a key (%s): take it off the list", name, keys[name].enum) end
  if not described[name] then mismatch("options_without_key.%s: no such described option", name) end
end

-- ---- each described option has its key, of its kind, handle and bounds ----
local function kind_of(p)
  if (p.type == "string" and not p.values) or p.type == "portal" then return "STRING" end
  if p.type == "uint" or p.type == "int" or p.type == "bool" or p.values then return "INT" end
  return "(type " .. tostring(p.type) .. ")"
end

local function letters(set)
  return (set.L and "L" or "") .. (set.C and "C" or "")
end

local names = {}
for name in pairs(described) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do
  local d, k = described[name], keys[name]
  if not k then
    if not without[name] then
      mismatch("option %s (%s) has no MCSI_OPT_* key (add one, or list it in options_without_key with why)",
               name, d.places[1].from)
    end
  else
    if letters(d.where) ~= k.where then
      mismatch("option %s: described for %s, key %s is for %s", name, letters(d.where), k.enum, k.where)
    end
    for _, place in ipairs(d.places) do
      local p = place.p
      if kind_of(p) ~= k.kind then
        mismatch("option %s (%s): described %s, key %s is %s", name, place.from, kind_of(p), k.enum, k.kind)
      elseif k.kind == "INT" and p.type ~= "bool" and not p.values then
        local lo = p.min or 0
        if lo < k.min then mismatch("option %s (%s): described min %d below key %s's %d", name, place.from, lo, k.enum, k.min) end
        if p.max and p.max > k.max then
          mismatch("option %s (%s): described max %d above key %s's %d", name, place.from, p.max, k.enum, k.max)
        end
      end
    end
  end
end

-- ---- each key is a described option ----
local knames = {}
for name in pairs(keys) do knames[#knames + 1] = name end
table.sort(knames)
for _, name in ipairs(knames) do
  if not described[name] then
    mismatch("key %s (\"%s\") is no option api/operations.lua describes (an option set's, or a parameter of an "
             .. "operation that takes %s)", keys[name].enum, name, keys[name].where)
  end
end

for _, m in ipairs(bad) do print(m) end
print(("# %d keys, %d described options"):format(nkeys, ndescribed))
os.exit(#bad == 0 and 0 or 1)
