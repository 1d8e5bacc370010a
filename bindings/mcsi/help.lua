-- SPDX-License-Identifier: LGPL-2.1-or-later
--[[
mcsi.help: the REPL's `help` (the global the mcsi program sets at its
prompt). Everything it says comes from the one description of the API
(api/operations.lua, generated into mcsi.api_ops): one line per Lua
function, its usage and its doc; no hand-kept list.

  help                  (or help()) every described function, one line each
  help(mcsi.login)      one function: found by identity in the module table
  help "login"          one function by name: Lua name (login_to_target,
                        login), JSON-RPC method (LoginToTarget), iscsicli
                        command (QLoginTarget) or mcsi.Session method (inquiry)

The same in-process and under `mcsi --connect`: the names and usages are the
description's, the functions looked up are those the module table holds now.
]]
local api = require "mcsi.api_ops"

local M = {}

-- The Lua face of an operation's parameters: the options table's keys
-- (those of a set such as chap grouped as one table), the required first.
local function table_keys(op, skip)
  local req, opt, sets = {}, {}, {}
  for _, p in ipairs(op.params) do
    if p.lua ~= false and not skip[p.name] then
      if p.set == "chap" then
        if not sets.chap then sets.chap = true opt[#opt + 1] = "chap = {...}" end
      elseif p.required then
        req[#req + 1] = p.name .. " ="
      else
        opt[#opt + 1] = p.name
      end
    end
  end
  return req, opt
end

-- "mcsi.name(args)": positional lua_args, "table" as { key =, ... }.
local function usage(op, fname)
  fname = fname or op.lua
  if op.lua_args == "table" then
    local req = table_keys(op, {})
    return string.format("mcsi.%s{ %s, ... }", fname, table.concat(req, ", "))
  end
  local args, list = {}, op.lua_args or {}
  local last_required = 0               -- an argument before a required one is given, even when it has a default
  for i, a in ipairs(list) do
    if a == "table" or (op.param[a] and op.param[a].required) then last_required = i end
  end
  for i, a in ipairs(list) do
    if a == "table" then
      local positional = {}
      for _, x in ipairs(op.lua_args) do positional[x] = true end
      local req = table_keys(op, positional)
      args[#args + 1] = "{ " .. (#req > 0 and table.concat(req, ", ") .. ", ... " or "... ") .. "}"
    else
      local p = op.param[a]
      args[#args + 1] = (p and not p.required and i > last_required) and "[" .. a .. "]" or a
    end
  end
  return string.format("mcsi.%s(%s)", fname, table.concat(args, ", "))
end

-- Every Lua function of the description: { name, usage, doc, op } sorted by name.
local function entries()
  local list, seen = {}, {}
  for name, op in pairs(api.ops) do
    if name == op.name and op.lua and not seen[op.lua] then
      seen[op.lua] = true
      list[#list + 1] = { name = op.lua, usage = usage(op), doc = op.doc or "", op = op }
      for also, doc in pairs(op.lua_also or {}) do
        list[#list + 1] = { name = also, usage = usage(op, also), doc = doc, op = op }
      end
    end
  end
  table.sort(list, function(a, b) return a.name < b.name end)
  return list
end

local function find(what, mcsi)
  local list = entries()
  if type(what) == "function" then
    for _, e in ipairs(list) do
      if rawequal(mcsi[e.name], what) then return e end
    end
    return nil
  end
  local s = tostring(what):gsub("^mcsi%.", ""):gsub("%(%)$", "")
  for _, e in ipairs(list) do
    if e.name == s then return e end
  end
  for _, e in ipairs(list) do
    local op = e.op
    if e.name == op.lua and (op.rpc == s or op.name == s) then return e end
    for _, c in ipairs(op.iscsicli or {}) do if c:lower() == s:lower() and e.name == op.lua then return e end end
    for _, m in ipairs(op.session_methods or {}) do if m == s and e.name == op.lua then return e end end
  end
  return nil
end

-- The text of one function: usage, doc, its options, its other faces.
local function describe(e)
  local op, out = e.op, {}
  out[#out + 1] = e.usage
  out[#out + 1] = "  " .. e.doc
  if op.lua_args == "table" or (type(op.lua_args) == "table" and op.lua_args[#op.lua_args] == "table") then
    local positional = {}
    for _, x in ipairs(type(op.lua_args) == "table" and op.lua_args or {}) do positional[x] = true end
    local req, opt = table_keys(op, positional)
    local all = {}
    for _, x in ipairs(req) do all[#all + 1] = x:gsub(" =$", "") .. " (required)" end
    for _, x in ipairs(opt) do all[#all + 1] = x end
    out[#out + 1] = "  options: " .. table.concat(all, ", ")
  end
  out[#out + 1] = "  callback form: a function as last argument gets the results and the Status"
  local faces = {}
  if e.name ~= op.lua then faces[#faces + 1] = "mcsi." .. op.lua end
  if op.rpc then faces[#faces + 1] = "JSON-RPC " .. op.rpc end
  if op.iscsicli then faces[#faces + 1] = "iscsicli " .. table.concat(op.iscsicli, ", ") end
  if op.session_methods then faces[#faces + 1] = "mcsi.Session:" .. table.concat(op.session_methods, "(), :") .. "()" end
  if #faces > 0 then out[#out + 1] = "  also: " .. table.concat(faces, "; ") end
  return table.concat(out, "\n")
end

-- The whole list: one line per function, then the functions of the module
-- table that are no operation (their names only) and how to ask for one.
function M.text(mcsi)
  local list, described = entries(), {}
  local width = 0
  for _, e in ipairs(list) do width = math.max(width, #e.usage) end
  width = math.min(width, 56)
  local out = { "mcsi functions (" .. (rawget(mcsi, "_remote") and "served by mcsid" or "in-process") .. "):" }
  for _, e in ipairs(list) do
    described[e.name] = true
    out[#out + 1] = string.format("  %-" .. width .. "s  %s", e.usage, e.doc)
  end
  local others = {}
  for k, v in pairs(mcsi) do
    if type(k) == "string" and k:sub(1, 1) ~= "_" and type(v) == "function" and not described[k] then
      others[#others + 1] = k
    end
  end
  table.sort(others)
  out[#out + 1] = "other functions: " .. table.concat(others, ", ")
  out[#out + 1] = 'help(mcsi.NAME) or help "NAME" (a Lua name, a JSON-RPC method, an iscsicli command): one function'
  return table.concat(out, "\n")
end

-- help([what]) prints; it returns nothing, so that the REPL prints nothing more.
function M.help(what)
  local mcsi = require "mcsi"
  if what == nil then
    print(M.text(mcsi))
    return
  end
  local e = find(what, mcsi)
  if not e then
    print("help: no described mcsi function " .. (type(what) == "function" and "is that function" or tostring(what))
          .. " (help lists them)")
    return
  end
  print(describe(e))
end

M.describe = function(what) local e = find(what, require "mcsi") return e and describe(e) end

return setmetatable(M, { __call = function(_, ...) return M.help(...) end })
