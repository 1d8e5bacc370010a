-- SPDX-License-Identifier: LGPL-2.1-or-later
--[[
api/generate.lua: writes every face generated from the one description,
api/operations.lua (see api/README.md).

  lua5.4 api/generate.lua [--desc FILE] [--src DIR] [--out DIR]
      writes the generated files under DIR (default: the source tree, DIR = SRC);
      the files with a generated block (docs, man pages, iscsicli) are read
      from SRC and written to OUT with only their block replaced.
  lua5.4 api/generate.lua [--desc FILE] --list
      the generated files, one per line.
  lua5.4 api/generate.lua [--desc FILE] --check-c HEADER
      every described C function is declared in HEADER with the described
      signature (types; parameter names may differ): exit 1 listing the others.

Whole generated files: daemon/methods_table.c, daemon/methods_run.h,
bindings/mcsi/api_ops.lua, bindings/lapi_table.c, bindings/lapi_table.h. Generated blocks (between BEGIN/END generated
markers): doc/protocol.md, doc/mcsi.1, doc/mcsi-iscsicli.1, daemon/mcsid.8,
scripts/iscsicli.lua, core/mcsi.h (the prototypes of the operations' C
functions, c_sig and c_forms, each with its one-line doc).
]]

local HEADER = "generated from api/operations.lua by api/generate.lua; do not edit"

-- ---- arguments --------------------------------------------------------------------

local opt = { desc = "api/operations.lua", src = ".", out = nil }
do
  local i = 1
  while arg[i] do
    local a = arg[i]
    if a == "--desc" or a == "--src" or a == "--out" or a == "--check-c" then
      opt[a:sub(3):gsub("-", "_")] = assert(arg[i + 1], a .. " needs a value")
      i = i + 2
    elseif a == "--list" then
      opt.list = true
      i = i + 1
    else
      io.stderr:write("generate.lua: unknown argument ", a, "\n")
      os.exit(2)
    end
  end
  opt.out = opt.out or opt.src
end

local D = dofile(opt.desc)

-- ---- the naming rule (stated in api/operations.lua) -------------------------------------

local function camel(name)
  return (name:gsub("^%l", string.upper):gsub("_(%w)", string.upper))
end

local function rpc_param_name(p)
  if p.rpc == false then return nil end
  return p.rpc or D.naming.rpc_params[p.name] or camel(p.name)
end

-- The faces' names of an operation (nil: not in that face).
local function names(op)
  local n = {}
  if op.rpc ~= false then n.rpc = op.rpc or camel(op.name) end
  if op.lua ~= false then n.lua = op.lua or op.name end
  if op.c ~= false then n.c = op.c or ("mcsi_" .. op.name) end
  if n.rpc then n.run = "mcsid_run_" .. op.name end
  return n
end

-- ---- checking the description ------------------------------------------------------------

local status_names = {}
do
  local f = io.open(opt.src .. "/core/status_list.h")
  if f then
    for s in f:read("a"):gmatch("ISDSC_[%u%d_]+") do status_names[s] = true end
    f:close()
  end
end

-- The C functions of an operation: its c_sig (the rule's name) first, then
-- its other forms (c_forms: asynchronous, offset, tagged), each { sig, doc }.
local function c_forms(op)
  if not names(op).c then return {} end
  local list = { { sig = op.c_sig, doc = op.c_doc or op.doc } }
  for _, f in ipairs(op.c_forms or {}) do list[#list + 1] = f end
  return list
end

local errors = {}
local function bad(fmt, ...) errors[#errors + 1] = string.format(fmt, ...) end

-- The operation's parameters with its option sets expanded, in order.
local function all_params(op)
  local list, seen = {}, {}
  local function add(p, set)
    if seen[p.name] then bad("%s: parameter %s given twice", op.name, p.name) return end
    seen[p.name] = true
    local q = setmetatable({ set = set }, { __index = p })
    list[#list + 1] = q
  end
  local function add_set(name)
    local set = D.option_sets[name]
    if not set then bad("%s: no option set %s", op.name, name) return end
    for _, p in ipairs(set.params) do add(p, name) end
    for _, inc in ipairs(set.includes or {}) do add_set(inc) end
  end
  for _, p in ipairs(op.params or {}) do add(p) end
  for _, s in ipairs(op.options or {}) do add_set(s) end
  return list
end

-- The parameters of the JSON-RPC face (rpc = false: Lua only).
local function rpc_params(op)
  local list = {}
  for _, p in ipairs(all_params(op)) do if p.rpc ~= false then list[#list + 1] = p end end
  return list
end

-- The keys of the Lua face's options table (nil: the operation takes none):
-- its parameters and option sets' not given positionally, a set kept in a
-- table of its own (lua_table: chap) as that one key.
local function lua_option_keys(op)
  local takes = op.lua_args == "table"
  local positional = {}
  if type(op.lua_args) == "table" then
    for _, a in ipairs(op.lua_args) do
      if a == "table" then takes = true else positional[a] = true end
    end
  end
  if not takes then return nil end
  local keys, tables = {}, {}
  for _, p in ipairs(all_params(op)) do
    local set = p.set and D.option_sets[p.set]
    if set and set.lua_table then
      if not tables[set.lua_table] then
        tables[set.lua_table] = true
        keys[#keys + 1] = { name = set.lua_table, type = "table" }
      end
    elseif p.lua ~= false and not positional[p.name] then
      keys[#keys + 1] = p
    end
  end
  return keys
end

local function validate()
  local seen = {}
  for _, op in ipairs(D.operations) do
    if type(op.name) ~= "string" or not op.name:match("^[%l][%l%d_]*$") then
      bad("operation name %s is not snake_case", tostring(op.name))
    end
    if seen[op.name] then bad("operation %s described twice", op.name) end
    seen[op.name] = true
    if type(op.doc) ~= "string" or op.doc == "" then bad("%s: no doc", op.name) end
    if not op.statuses or #op.statuses == 0 then bad("%s: no statuses", op.name) end
    if next(status_names) then
      for _, s in ipairs(op.statuses or {}) do
        if not status_names[s] then bad("%s: %s is not in core/status_list.h", op.name, s) end
      end
    end
    for _, p in ipairs(all_params(op)) do
      for _, e in ipairs(p.elements or {}) do
        if not (D.types[e.type] and D.types[e.type].c) then
          bad("%s: member %s of %s has no JSON-RPC type %s", op.name, e.name, p.name, tostring(e.type))
        end
      end
      if not D.types[p.type] then bad("%s: parameter %s has no type %s", op.name, p.name, tostring(p.type))
      elseif p.rpc ~= false and op.rpc ~= false and not D.types[p.type].c then
        bad("%s: parameter %s of type %s cannot be a JSON-RPC parameter (rpc = false)", op.name, p.name, p.type)
      end
    end
    local n = names(op)
    if n.c and not op.c_sig then bad("%s: a C face needs c_sig", op.name) end
    if op.c_forms and not n.c then bad("%s: c_forms without a C face", op.name) end
    for _, f in ipairs(op.c_forms or {}) do
      if type(f.sig) ~= "string" or type(f.doc) ~= "string" or f.doc == "" then
        bad("%s: each of c_forms needs sig and doc", op.name)
      end
    end
    if n.lua and not op.lua_args then bad("%s: a Lua face needs lua_args", op.name) end
    if type(op.lua_args) == "table" then
      local known = {}
      for _, p in ipairs(all_params(op)) do known[p.name] = true end
      for _, a in ipairs(op.lua_args) do
        if a ~= "table" and not known[a] then bad("%s: lua_args names %s, which is no parameter", op.name, a) end
      end
    end
    if op.session_methods and not n.lua then bad("%s: session_methods without a Lua face", op.name) end
    if op.policy ~= nil and op.policy ~= "any" and op.policy ~= "own_session" then
      bad("%s: policy is \"any\", \"own_session\" or absent, not %s", op.name, tostring(op.policy))
    end
    if op.policy == "own_session" and not (op.params and op.params[1] and op.params[1].name == "session_id") then
      bad("%s: policy own_session needs session_id as its first parameter", op.name)
    end
    if n.rpc then
      local f = io.open(opt.src .. "/daemon/methods_" .. tostring(op.family) .. ".c")
      if f then f:close() else bad("%s: no daemon/methods_%s.c for its run function", op.name, tostring(op.family)) end
    end
  end
end

validate()
if #errors > 0 then
  io.stderr:write("api/operations.lua: ", table.concat(errors, "\napi/operations.lua: "), "\n")
  os.exit(1)
end

-- ---- the C face check -------------------------------------------------------------------

-- "T name(A a, B *b)" -> "T name(A,B*)": types only, blanks normalised.
local function c_shape(sig)
  sig = sig:gsub("%s+", " ")
  local ret, name, args = sig:match("^%s*(.-)%s*%f[%w_]([%w_]+)%s*%((.*)%)%s*;?%s*$")
  if not ret then return nil end
  local types = {}
  for a in (args .. ","):gmatch("%s*([^,]-)%s*,") do
    a = a:gsub("%s*%f[%w_][%w_]+$", "")           -- the parameter's name
    a = a:gsub("%s*%*%s*", "*"):gsub("%s+", " ")
    types[#types + 1] = a
  end
  ret = ret:gsub("%s*%*%s*", "*")
  return name, ret .. " " .. name .. "(" .. table.concat(types, ",") .. ")"
end

if opt.check_c then
  local f = assert(io.open(opt.check_c))
  local text = f:read("a"):gsub("/%*.-%*/", " ")
  f:close()
  local declared = {}
  for decl in text:gmatch("[^;{}#]+;") do
    local name, shape = c_shape((decl:gsub("\n", " "):gsub("^%s*extern%s+", "")))
    if name then declared[name] = shape end
  end
  local fails = 0
  for _, op in ipairs(D.operations) do
    local n = names(op)
    for i, form in ipairs(c_forms(op)) do
      local name, want = c_shape(form.sig)
      if i == 1 and name ~= n.c then
        print(("not ok: %s: c_sig names %s, the rule gives %s"):format(op.name, tostring(name), n.c))
        fails = fails + 1
      elseif not name then
        print(("not ok: %s: %s is no C signature"):format(op.name, form.sig))
        fails = fails + 1
      elseif not declared[name] then
        print(("not ok: %s: %s is not declared in %s"):format(op.name, name, opt.check_c))
        fails = fails + 1
      elseif declared[name] ~= want then
        print(("not ok: %s: %s is declared as %s, described as %s"):format(op.name, name, declared[name], want))
        fails = fails + 1
      else
        print(("ok: %s: %s"):format(op.name, want))
      end
    end
  end
  os.exit(fails == 0 and 0 or 1)
end

-- ---- helpers ------------------------------------------------------------------------------

local function lua_string(s) return string.format("%q", s) end

local function write_file(rel, text)
  local path = opt.out .. "/" .. rel
  local dir = path:match("^(.*)/[^/]*$")
  if dir then os.execute("mkdir -p '" .. dir .. "'") end
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function read_file(rel)
  local f = assert(io.open(opt.src .. "/" .. rel, "rb"), rel .. ": cannot be read")
  local t = f:read("a")
  f:close()
  return t
end

-- Replaces what lies between the BEGIN and END lines of the block (kept).
local function replace_block(rel, begin_line, end_line, body)
  local text = read_file(rel)
  local b = text:find(begin_line, 1, true)
  local e = b and text:find(end_line, b, true)
  if not b or not e then error(rel .. ": no generated block (" .. begin_line .. " ... " .. end_line .. ")") end
  local after_begin = text:find("\n", b, true) + 1
  return text:sub(1, after_begin - 1) .. body .. text:sub(e)
end

-- A parameter's name in the Lua face (lua = "connection" overrides it).
local function lua_name(p) return type(p.lua) == "string" and p.lua or p.name end

local function default_text(p)
  if p.default == nil then return nil end
  if type(p.default) == "string" then return p.default == "" and '""' or p.default end
  return tostring(p.default)
end

local function bounds_text(p)
  local parts = {}
  if p.values then parts[#parts + 1] = table.concat(p.values, " | ") end
  if p.min or p.max then parts[#parts + 1] = tostring(p.min or 0) .. ".." .. tostring(p.max or "") end
  if p.max and p.type == "string" then parts[#parts] = "at most " .. p.max .. " bytes" end
  return table.concat(parts, ", ")
end

-- ---- daemon: the method table -----------------------------------------------------------------

local function gen_daemon_table()
  local out = {
    "/* methods_table.c: the daemon's method table and parameter schemas, " .. HEADER .. ".\n",
    " *\n * One row per operation with a JSON-RPC face, in the description's order (GetVersion\n",
    " * lists them so); its run function is methods_run.h's mcsid_run_<operation>. */\n",
    "#include <stddef.h>\n#include \"methods.h\"\n\n",
  }
  local rows_out = {}
  for _, op in ipairs(D.operations) do
    local n = names(op)
    if n.rpc then
      local rows = {}
      for _, p in ipairs(rpc_params(op)) do
        local elems = "NULL"
        if p.elements then
          elems = string.format("elements_%s_%s", op.name, p.name)
          local er = {}
          for _, e in ipairs(p.elements) do
            er[#er + 1] = string.format("{ %s, %s, %d, NULL }", lua_string(rpc_param_name(e)), D.types[e.type].c,
                                        e.required and 1 or 0)
          end
          er[#er + 1] = "{ NULL, 0, 0, NULL }"
          out[#out + 1] = string.format("static const mcsid_param_spec %s[] = {\n  %s,\n};\n", elems,
                                        table.concat(er, ",\n  "))
        end
        rows[#rows + 1] = string.format("{ %s, %s, %d, %s }", lua_string(rpc_param_name(p)), D.types[p.type].c,
                                        p.required and 1 or 0, elems)
      end
      rows[#rows + 1] = "{ NULL, 0, 0, NULL }"
      out[#out + 1] = string.format("static const mcsid_param_spec params_%s[] = {\n  %s,\n};\n", op.name,
                                    table.concat(rows, ",\n  "))
      local policy = ({ any = "MCSID_POLICY_ANY", own_session = "MCSID_POLICY_OWN_SESSION" })[op.policy]
                     or "MCSID_POLICY_REFUSED"
      rows_out[#rows_out + 1] = string.format("  { %s, %s, %s, params_%s },\n", lua_string(n.rpc), n.run, policy, op.name)
    end
  end
  out[#out + 1] = "\nconst mcsid_method mcsid_methods[] = {\n" .. table.concat(rows_out)
  out[#out + 1] = "  { NULL, NULL, 0, NULL },\n};\n"
  return table.concat(out)
end

local function gen_daemon_run_h()
  local out = {
    "/* methods_run.h: the run function of each method of the generated table\n",
    " * (methods_table.c), " .. HEADER .. ".\n",
    " * Each is written by hand in the family file the description names (daemon/methods_<family>.c). */\n",
    "#ifndef MCSID_METHODS_RUN_H\n#define MCSID_METHODS_RUN_H\n\n",
    "struct mcsid_call;\n\n",
  }
  local family
  for _, op in ipairs(D.operations) do
    local n = names(op)
    if n.rpc then
      if op.family ~= family then
        family = op.family
        out[#out + 1] = string.format("/* daemon/methods_%s.c */\n", family)
      end
      out[#out + 1] = string.format("void %s(struct mcsid_call *call);   /* %s */\n", n.run, n.rpc)
    end
  end
  out[#out + 1] = "\n#endif\n"
  return table.concat(out)
end

-- ---- Lua: the operation table (mcsi.api_ops) ------------------------------------------------------

local function lua_value(v)
  if type(v) == "string" then return lua_string(v) end
  if type(v) == "table" then
    local parts = {}
    for _, x in ipairs(v) do parts[#parts + 1] = lua_value(x) end
    return "{ " .. table.concat(parts, ", ") .. " }"
  end
  return tostring(v)
end

local function gen_lua_ops()
  local out = {
    "-- mcsi.api_ops: every operation's names and parameters, " .. HEADER .. ".\n",
    "-- Read by mcsi.api (bindings/mcsi/api.lua), the runtime that maps and checks with it.\n",
    "-- ops[lua or canonical name] = { name, rpc, lua, c, lua_args, params = { { name, rpc, type, required,\n",
    "--   min, max, values, set, lua } } }; by_rpc[RPC method] = the same row; iscsicli[command] = the row.\n",
    "local ops, by_rpc, iscsicli = {}, {}, {}\n",
    "local function op(o)\n",
    "  ops[o.name] = o\n  if o.lua then ops[o.lua] = o end\n  if o.rpc then by_rpc[o.rpc] = o end\n",
    "  for _, c in ipairs(o.iscsicli or {}) do iscsicli[c] = o end\n",
    "  o.param = {}\n  for _, p in ipairs(o.params) do o.param[p.name] = p end\nend\n",
  }
  for _, op in ipairs(D.operations) do
    local n = names(op)
    local fields = { "name = " .. lua_string(op.name) }
    if n.rpc then fields[#fields + 1] = "rpc = " .. lua_string(n.rpc) end
    if n.lua then fields[#fields + 1] = "lua = " .. lua_string(n.lua) end
    if n.c then fields[#fields + 1] = "c = " .. lua_string(n.c) end
    if type(op.lua_args) == "table" then fields[#fields + 1] = "lua_args = " .. lua_value(op.lua_args)
    elseif op.lua_args then fields[#fields + 1] = "lua_args = " .. lua_string(op.lua_args) end
    if op.iscsicli then fields[#fields + 1] = "iscsicli = " .. lua_value(op.iscsicli) end
    if op.session_methods then fields[#fields + 1] = "session_methods = " .. lua_value(op.session_methods) end
    local ps = {}
    for _, p in ipairs(all_params(op)) do
      local f = { "name = " .. lua_string(p.name) }
      if rpc_param_name(p) then f[#f + 1] = "rpc = " .. lua_string(rpc_param_name(p)) end
      f[#f + 1] = "type = " .. lua_string(p.type)
      if p.required then f[#f + 1] = "required = true" end
      if p.min then f[#f + 1] = "min = " .. p.min end
      if p.max then f[#f + 1] = "max = " .. p.max end
      if p.values then f[#f + 1] = "values = " .. lua_value(p.values) end
      if p.set then f[#f + 1] = "set = " .. lua_string(p.set) end
      if p.lua == false then f[#f + 1] = "lua = false" end
      if p.secret then f[#f + 1] = "secret = true" end
      if type(p.lua) == "string" then f[#f + 1] = "lua = " .. lua_string(p.lua) end
      if p.elements then
        local es = {}
        for _, e in ipairs(p.elements) do
          es[#es + 1] = string.format("{ name = %s, rpc = %s, lua = %s, type = %s%s }", lua_string(e.name),
                                      lua_string(rpc_param_name(e)), lua_string(lua_name(e)), lua_string(e.type),
                                      e.required and ", required = true" or "")
        end
        f[#f + 1] = "elements = { " .. table.concat(es, ", ") .. " }"
      end
      ps[#ps + 1] = "{ " .. table.concat(f, ", ") .. " }"
    end
    fields[#fields + 1] = "params = {" .. (#ps > 0 and ("\n    " .. table.concat(ps, ",\n    ") .. " ") or " ") .. "}"
    out[#out + 1] = "op{ " .. table.concat(fields, ", ") .. " }\n"
  end
  out[#out + 1] = "return { ops = ops, by_rpc = by_rpc, iscsicli = iscsicli }\n"
  return table.concat(out)
end

-- ---- Lua binding (in-process): its method table and option checks ----------------------------------

local LUA_OPT_TYPE = { string = "LMCSI_OPT_STRING", integer = "LMCSI_OPT_INTEGER", boolean = "LMCSI_OPT_BOOLEAN",
                       table = "LMCSI_OPT_TABLE", any = "LMCSI_OPT_ANY" }

local function lua_opt_row(p)
  local t = p.type == "table" and "table" or D.types[p.type].lua
  local lo, hi = p.min or 0, p.max or 0
  if t ~= "integer" then lo, hi = 0, 0
  elseif not p.max then hi = "LUA_MAXINTEGER" end
  return string.format("{ %s, %s, %s, %s }", lua_string(lua_name(p)), LUA_OPT_TYPE[t], tostring(lo), tostring(hi))
end

-- The parameters of an operation's Lua face that are arrays of tables: { param, its element spec's name }.
local function lua_element_specs(op)
  local list = {}
  for _, p in ipairs(all_params(op)) do
    if p.elements and p.lua ~= false then list[#list + 1] = { p, "lmcsi_opts_" .. op.name .. "_" .. p.name } end
  end
  return list
end

local function gen_lapi_h()
  local out = {
    "/* lapi_table.h: the Lua binding's operations, " .. HEADER .. ".\n",
    " * Each lmcsi_l_<operation> is written by hand (bindings/l*.c); lmcsi_api_funcs registers them\n",
    " * as mcsi.<operation>; lmcsi_opts_<operation> are the keys of its options table, checked by\n",
    " * lmcsi_check_opts (lmcsi.c). */\n",
    "#ifndef LMCSI_API_TABLE_H\n#define LMCSI_API_TABLE_H\n\n",
  }
  for _, op in ipairs(D.operations) do
    local n = names(op)
    if n.lua then out[#out + 1] = string.format("int lmcsi_l_%s(lua_State *L);\n", op.name) end
  end
  out[#out + 1] = "\nextern const luaL_Reg lmcsi_api_funcs[];\n"
  out[#out + 1] = "/* mcsi.Session methods that are operations: { method, function of the module } */\n"
  out[#out + 1] = "extern const char *const lmcsi_api_session_methods[][2];\n"
  for _, op in ipairs(D.operations) do
    if names(op).lua and lua_option_keys(op) then
      out[#out + 1] = string.format("extern const lmcsi_opt_spec lmcsi_opts_%s[];\n", op.name)
    end
    for _, es in ipairs(names(op).lua and lua_element_specs(op) or {}) do
      out[#out + 1] = string.format("extern const lmcsi_opt_spec %s[];   /* each table of %s */\n", es[2], es[1].name)
    end
  end
  out[#out + 1] = "\n#endif\n"
  return table.concat(out)
end

local function gen_lapi_c()
  local out = {
    "/* lapi_table.c: the Lua binding's operations and option tables, " .. HEADER .. ". */\n",
    "#include \"lmcsi.h\"\n\n",
    "const luaL_Reg lmcsi_api_funcs[] = {\n",
  }
  for _, op in ipairs(D.operations) do
    local n = names(op)
    if n.lua then out[#out + 1] = string.format("  {%s, lmcsi_l_%s},\n", lua_string(n.lua), op.name) end
  end
  out[#out + 1] = "  {NULL, NULL}\n};\n\nconst char *const lmcsi_api_session_methods[][2] = {\n"
  for _, op in ipairs(D.operations) do
    local n = names(op)
    for _, m in ipairs(n.lua and op.session_methods or {}) do
      out[#out + 1] = string.format("  {%s, %s},\n", lua_string(m), lua_string(n.lua))
    end
  end
  out[#out + 1] = "  {NULL, NULL}\n};\n"
  for _, op in ipairs(D.operations) do
    local keys = names(op).lua and lua_option_keys(op)
    if keys then
      local rows = {}
      for _, p in ipairs(keys) do rows[#rows + 1] = lua_opt_row(p) end
      rows[#rows + 1] = "{ NULL, 0, 0, 0 }"
      out[#out + 1] = string.format("\nconst lmcsi_opt_spec lmcsi_opts_%s[] = {\n  %s,\n};\n", op.name,
                                    table.concat(rows, ",\n  "))
    end
    for _, es in ipairs(names(op).lua and lua_element_specs(op) or {}) do
      local rows = {}
      for _, e in ipairs(es[1].elements) do rows[#rows + 1] = lua_opt_row(e) end
      rows[#rows + 1] = "{ NULL, 0, 0, 0 }"
      out[#out + 1] = string.format("\nconst lmcsi_opt_spec %s[] = {\n  %s,\n};\n", es[2], table.concat(rows, ",\n  "))
    end
  end
  return table.concat(out)
end

-- ---- iscsicli: which command is which operation ----------------------------------------------------

local LUA_BEGIN = "-- BEGIN generated from api/operations.lua by api/generate.lua; do not edit"
local LUA_END = "-- END generated"

local function gen_iscsicli()
  local rows = {}
  for _, op in ipairs(D.operations) do
    local n = names(op)
    for _, c in ipairs(op.iscsicli or {}) do
      rows[#rows + 1] = string.format("  %s = { op = %s, rpc = %s, lua = %s },\n", c, lua_string(op.name),
                                      n.rpc and lua_string(n.rpc) or "nil", n.lua and lua_string(n.lua) or "nil")
    end
  end
  local body = "-- Each command that maps to an operation: its canonical name, its JSON-RPC method, its Lua function.\n"
            .. "local COMMAND_OPS = {\n" .. table.concat(rows) .. "}\n"
  return replace_block("scripts/iscsicli.lua", LUA_BEGIN, LUA_END, body)
end

-- ---- docs ------------------------------------------------------------------------------------------

local function param_doc_md(p)
  local name = rpc_param_name(p)
  local t = D.types[p.type].doc
  local b = bounds_text(p)
  local d = default_text(p)
  return string.format("%s | %s | %s | %s | %s | %s", p.required and ("**" .. name .. "**") or ("`" .. name .. "`"),
                       t, b ~= "" and b or "", d and ("`" .. d .. "`") or "", p.name, p.doc or "")
end

local function gen_protocol_md()
  local out = {
    "## Method reference\n\n",
    "Every method, " .. HEADER .. " (the sections above say more). ",
    "One naming rule maps the faces: an operation's canonical name is snake_case, its Lua function has that name, ",
    "its C function is `mcsi_` and that name, its method here is the name in CamelCase; parameters alike, ",
    "except where MSiSCSI names them otherwise (",
  }
  local ex = {}
  for k, v in pairs(D.naming.rpc_params) do ex[#ex + 1] = "`" .. k .. "` = `" .. v .. "`" end
  table.sort(ex)
  out[#out + 1] = table.concat(ex, ", ") .. "). Parameters in **bold** are required.\n\n"
  for _, op in ipairs(D.operations) do
    local n = names(op)
    if n.rpc then
      out[#out + 1] = string.format("#### %s\n\n%s\n\n", n.rpc, op.doc)
      local faces = {}
      if n.lua then faces[#faces + 1] = "Lua `mcsi." .. n.lua .. "`" end
      if n.c then faces[#faces + 1] = "C `" .. n.c .. "`" end
      if op.iscsicli then faces[#faces + 1] = "iscsicli " .. table.concat(op.iscsicli, ", ") end
      if #faces > 0 then out[#out + 1] = "Faces: " .. table.concat(faces, "; ") .. ".\n\n" end
      out[#out + 1] = "Policies: " .. (op.policy == "any" and "may call it"
        or op.policy == "own_session" and "may call it on their own session" or "may not call it") .. ".\n\n"
      local ps = rpc_params(op)
      local own, sets = {}, {}
      for _, p in ipairs(ps) do
        if p.set then sets[p.set] = true else own[#own + 1] = p end
      end
      if #own > 0 then
        out[#out + 1] = "| Parameter | Type | Bounds | Default | Canonical | Meaning |\n|---|---|---|---|---|---|\n"
        for _, p in ipairs(own) do
          out[#out + 1] = "| " .. param_doc_md(p) .. " |\n"
          for _, e in ipairs(p.elements or {}) do
            local row = param_doc_md(e)
            local first, rest = row:match("^(.-) | (.*)$")
            first = first:gsub("^(%**)`?([%w]+)`?(%**)$", function(a, n, b)
              return a .. (a == "" and "`" or "") .. rpc_param_name(p) .. "[]." .. n .. (b == "" and "`" or "") .. b
            end)
            out[#out + 1] = "| " .. first .. " | " .. rest .. " |\n"
          end
        end
        out[#out + 1] = "\n"
      else
        out[#out + 1] = "No parameters of its own.\n\n"
      end
      local setnames = {}
      for s in pairs(sets) do setnames[#setnames + 1] = s end
      table.sort(setnames)
      if #setnames > 0 then out[#out + 1] = "Option sets: " .. table.concat(setnames, ", ") .. " (below).\n\n" end
      if op.results and #op.results > 0 then
        local r = {}
        for _, x in ipairs(op.results) do r[#r + 1] = "`" .. x.name .. "`" end
        out[#out + 1] = "Outputs: " .. table.concat(r, ", ") .. ".\n\n"
      end
      out[#out + 1] = "Statuses: " .. table.concat(op.statuses, ", ") .. ".\n\n"
    end
  end
  local setnames = {}
  for s in pairs(D.option_sets) do setnames[#setnames + 1] = s end
  table.sort(setnames)
  for _, s in ipairs(setnames) do
    local set = D.option_sets[s]
    out[#out + 1] = string.format("#### Option set: %s\n\n%s\n\n", s, set.doc)
    out[#out + 1] = "| Parameter | Type | Bounds | Default | Canonical | Meaning |\n|---|---|---|---|---|---|\n"
    for _, p in ipairs(set.params) do
      if p.rpc ~= false then out[#out + 1] = "| " .. param_doc_md(p) .. " |\n" end
    end
    if set.includes then out[#out + 1] = "\nWith the option set(s) " .. table.concat(set.includes, ", ") .. ".\n" end
    out[#out + 1] = "\n"
  end
  return replace_block("doc/protocol.md", "<!-- BEGIN generated", "<!-- END generated", table.concat(out))
end

local function roff(s) return (s:gsub("\\", "\\\\"):gsub("%-", "\\-"):gsub("^%.", "\\&.")) end

local ROFF_BEGIN = ".\\\" BEGIN generated"
local ROFF_END = ".\\\" END generated"

local function lua_call_text(op, n)
  if op.lua_args == "table" then return "mcsi." .. n.lua .. "{ ... }" end
  local a = {}
  for _, x in ipairs(op.lua_args) do a[#a + 1] = x == "table" and "{ ... }" or x end
  return "mcsi." .. n.lua .. "(" .. table.concat(a, ", ") .. ")"
end

local function gen_mcsi_1()
  local out = { ".SH OPERATIONS\n", "Every operation of the Lua API (" .. roff(HEADER) .. "): its call, the daemon method it\n",
                "is through\n.BR mcsi.connect ,\nand what it does. Each answers an\n.B mcsi.Status\nlast.\n" }
  for _, op in ipairs(D.operations) do
    local n = names(op)
    if n.lua then
      out[#out + 1] = ".TP\n.B " .. roff(lua_call_text(op, n)) .. "\n"
      out[#out + 1] = roff(op.doc) .. (n.rpc and (" (mcsid: " .. n.rpc .. ")") or " (not served by mcsid)") .. "\n"
    end
  end
  return replace_block("doc/mcsi.1", ROFF_BEGIN, ROFF_END, table.concat(out))
end

local function gen_iscsicli_1()
  local out = { ".SH OPERATIONS\n", "Which command is which operation (" .. roff(HEADER) .. "):\n" }
  for _, op in ipairs(D.operations) do
    local n = names(op)
    if op.iscsicli then
      out[#out + 1] = ".TP\n.B " .. roff(table.concat(op.iscsicli, ", ")) .. "\n"
      local via = {}
      if n.rpc then via[#via + 1] = "mcsid " .. n.rpc end
      if n.lua then via[#via + 1] = "mcsi." .. n.lua end
      out[#out + 1] = roff(table.concat(via, ", ") .. ": " .. op.doc) .. "\n"
    end
  end
  return replace_block("doc/mcsi-iscsicli.1", ROFF_BEGIN, ROFF_END, table.concat(out))
end

local function gen_mcsid_8()
  local out = { ".SH METHODS\n", "The methods of the control protocol (" .. roff(HEADER) .. "; their parameters:\n",
                ".IR doc/protocol.md ).\n" }
  for _, op in ipairs(D.operations) do
    local n = names(op)
    if n.rpc then
      local req = {}
      for _, p in ipairs(rpc_params(op)) do if p.required then req[#req + 1] = rpc_param_name(p) end end
      out[#out + 1] = ".TP\n.B " .. n.rpc .. (#req > 0 and (" \\fI" .. table.concat(req, " ") .. "\\fR") or "") .. "\n"
      out[#out + 1] = roff(op.doc) .. "\n"
    end
  end
  return replace_block("daemon/mcsid.8", ROFF_BEGIN, ROFF_END, table.concat(out))
end

-- ---- C: the operations' prototypes in core/mcsi.h ---------------------------------------------

local C_BEGIN = "/* BEGIN generated"
local C_END = "/* END generated"
local C_WIDTH = 110

-- "T name(A a, B b);" on lines of at most C_WIDTH, the parameters aligned after "(".
local function c_prototype(sig)
  sig = sig:gsub("%s+", " "):gsub("^ ", ""):gsub(" ?;? ?$", "")
  local head, args = sig:match("^(.-%()(.*)%)$")
  local lines, line = {}, head
  local indent = string.rep(" ", #head)
  local parts = {}
  for a in (args .. ","):gmatch("%s*([^,]-)%s*,") do parts[#parts + 1] = a end
  for i, a in ipairs(parts) do
    local piece = a .. (i < #parts and "," or ");")
    if line ~= head and line ~= indent and #line + 1 + #piece > C_WIDTH then
      lines[#lines + 1] = line
      line = indent .. piece
    else
      line = line .. ((line == head or line == indent) and "" or " ") .. piece
    end
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n") .. "\n"
end

local function gen_c_header()
  local out = {
    "/* ---- Operations ------------------------------------------------------------\n",
    " * The C function of every operation of api/operations.lua, each with its\n",
    " * other forms (asynchronous: one mcsi_completion, see above; offset and\n",
    " * flags: the mcsi_io_* calls), in the description's order; the types they\n",
    " * take are declared above. */\n",
  }
  local family
  for _, op in ipairs(D.operations) do
    local forms = c_forms(op)
    if #forms > 0 then
      if op.family ~= family then
        family = op.family
        out[#out + 1] = string.format("\n/* -- %s -- */\n", family)
      end
      for _, f in ipairs(forms) do
        out[#out + 1] = "/* " .. f.doc .. " */\n" .. c_prototype(f.sig)
      end
    end
  end
  return replace_block("core/mcsi.h", C_BEGIN, C_END, table.concat(out))
end

-- ---- main -------------------------------------------------------------------------------------------

local outputs = {
  { "daemon/methods_table.c", gen_daemon_table },
  { "daemon/methods_run.h", gen_daemon_run_h },
  { "bindings/mcsi/api_ops.lua", gen_lua_ops },
  { "bindings/lapi_table.h", gen_lapi_h },
  { "bindings/lapi_table.c", gen_lapi_c },
  { "scripts/iscsicli.lua", gen_iscsicli },
  { "doc/protocol.md", gen_protocol_md },
  { "doc/mcsi.1", gen_mcsi_1 },
  { "doc/mcsi-iscsicli.1", gen_iscsicli_1 },
  { "daemon/mcsid.8", gen_mcsid_8 },
  { "core/mcsi.h", gen_c_header },
}

if opt.list then
  for _, o in ipairs(outputs) do print(o[1]) end
  os.exit(0)
end

-- Everything is made first, then written: a failure writes nothing.
local made = {}
for i, o in ipairs(outputs) do made[i] = o[2]() end
for i, o in ipairs(outputs) do write_file(o[1], made[i]) end
