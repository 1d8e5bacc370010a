-- SPDX-License-Identifier: LGPL-2.1-or-later
--[[
iscsicli.lua: the Microsoft iscsicli commands that apply to mcsi, with the same
argument order and "*" for a default, printing the outcome the way iscsicli
does ("The operation completed successfully." or the error's text and code).

In the mcsi REPL and in scripts run by `mcsi` it is the global `iscsicli`
(elsewhere: local iscsicli = require "mcsi.iscsicli"):

  iscsicli "QAddTargetPortal 127.0.0.1:3260"
  iscsicli "ListTargets"
  iscsicli "QLoginTarget iqn.2026-11.org.mcsi.test:plain"
  iscsicli "QAddConnection 0x0000000000000001 * 127.0.0.2 3260"
  iscsicli "SessionList"
  iscsicli "RemoveConnection 0x0000000000000001 0x0000000000000003"
  iscsicli("ReadCapacity", sid, 1)          -- arguments may also be separate values

Each call returns the command's Status (last). As a program, one command per
invocation, or one per line from stdin with "-":

  mcsi scripts/iscsicli.lua ListTargets          (after QAddTargetPortal in MCSI_PORTALS)
  printf 'QLoginTarget iqn...\nSessionList\n' | mcsi scripts/iscsicli.lua -

With the service mcsid (the program finds it at --socket PATH, MCSI_SOCKET or
/run/mcsi/mcsid.sock; `mcsi --connect` does it for the global), the commands
go to the daemon: a session made by QLoginTarget in one invocation is in the
next one's SessionList, AddTargetPortal contacts the portal and the daemon
stores it, and the persistent-target commands work. Without it (or with
--local) sessions live in the process that made them: a one-shot invocation
logs its sessions out when it exits. The commands and their arguments: M.usage below
(`iscsicli "help"`, or `mcsi scripts/iscsicli.lua --help`).

CHAP secrets given to a command are kept (to log in and discover with) but
never shown: no listing, JSON, Status or error message carries one. Listings
show the CHAP user name only, and an argument error names the argument, not
its value (a misplaced secret must not be echoed). Through mcsid the secrets
travel inline on its private socket (mcsi.remote), never as a file the daemon
would open; the accounts mcsid keeps belong to the user who stored them (a
user's own are listed as NAME@UID; root's as NAME).

As a program: exit status 0 when every command succeeded, 1 when one answered
a failing Status, 2 for a bad command line (unknown command, bad argument).
]]
local modname = ...
local mcsi = require "mcsi"
local pretty = require "mcsi.pretty"

local M = { portals = {} }

-- The CHAP settings of each known portal (key: its entry in M.portals) and of
-- each discovered target (key: its record), kept out of everything printed.
local credentials = setmetatable({}, { __mode = "k" })
local hex = pretty.hex

local function out(...)
  io.write(...)
  io.write("\n")
end

-- Under --json every command prints ONE object: { command =, status = (the
-- Status: code, name, message, ok), result = (its outputs, when it has any) }.
local current                                   -- the command running: { name =, result = }
local function json_result(v)
  if current then current.result = v end
end

-- Whether the mcsi module talks to the daemon (mcsi.connect, mcsi --connect).
local function remote() return rawget(mcsi, "_remote") ~= nil end

local function show_status(st)
  if pretty.json then
    return st
  elseif st.code == 0 then
    out("The operation completed successfully.")
  else
    out(st.message)
    out(string.format("Status: %s (0x%08X)", st.name, st.code))
  end
  return st
end

local function failure(name, message)
  return mcsi.Status.new(name, message)
end

-- Splits a command line on blanks, keeping "quoted words" whole.
local function split(line)
  local words, pos = {}, 1
  while true do
    local s = line:match("^%s*()", pos)
    if s > #line then break end
    local q = line:sub(s, s)
    if q == '"' or q == "'" then
      local e = line:find(q, s + 1, true)
      if not e then error("iscsicli: unterminated quote (at character " .. s .. ")", 3) end
      words[#words + 1] = line:sub(s + 1, e - 1)
      pos = e + 1
    else
      local e = line:find("%s", s) or #line + 1
      words[#words + 1] = line:sub(s, e - 1)
      pos = e
    end
  end
  return words
end

local function default(v) return v == nil or v == "*" end

local function id_arg(v, what)
  if math.type(v) == "integer" then return v end
  local n = type(v) == "string" and math.tointeger(tonumber(v)) or nil
  if not n then error(string.format("iscsicli: %s must be an id (decimal or 0x hex)", what), 3) end
  return n
end

local function int_arg(v, def, what)
  if default(v) then return def end
  local n = math.tointeger(tonumber(v))
  if not n then error(string.format("iscsicli: %s must be a number", what), 3) end
  return n
end

local function digest(v, what)
  if default(v) then return nil end
  local s = tostring(v):lower()
  if s == "t" or s == "1" or s == "crc32c" or s == "true" then return "crc32c" end
  if s == "f" or s == "0" or s == "none" or s == "false" then return "none" end
  error("iscsicli: " .. what .. " must be T (CRC32C) or * (none)", 3)
end

-- "host", "host:port" or host + socket -> "host:port"
local function portal(addr, socket)
  if default(addr) then return nil end
  if not default(socket) then return string.format("%s:%s", addr, socket) end
  return addr
end

local function chap(user, password, authtype, key)
  local t = int_arg(authtype, (not default(password)) and 1 or 0, "AuthType")
  if t == 0 then return nil end
  local c = { username = not default(user) and user or nil, secret = not default(password) and password or nil }
  if t == 2 then c.target_secret = not default(key) and key or nil end
  -- known at once: masked in any output, and the REPL line that typed it stays out of the history
  if c.secret then mcsi.add_secret(c.secret) end
  if c.target_secret then mcsi.add_secret(c.target_secret) end
  return c
end

-- Target portals --------------------------------------------------------------

-- A portal entry shows its CHAP user name; the secrets stay in credentials.
local function add_portal(p, c)
  local entry
  for _, e in ipairs(M.portals) do
    if e.portal == p then entry = e end
  end
  if not entry then
    entry = { portal = p }
    M.portals[#M.portals + 1] = entry
  end
  entry.username = c and c.username or nil
  credentials[entry] = c
end

-- BEGIN generated from api/operations.lua by api/generate.lua; do not edit
-- Each command that maps to an operation: its canonical name, its JSON-RPC method, its Lua function.
local COMMAND_OPS = {
  VersionInfo = { op = "get_version", rpc = "GetVersion", lua = nil },
  NodeName = { op = "get_version", rpc = "GetVersion", lua = nil },
  LoginTarget = { op = "login_to_target", rpc = "LoginToTarget", lua = "login_to_target" },
  QLoginTarget = { op = "login_to_target", rpc = "LoginToTarget", lua = "login_to_target" },
  LogoutTarget = { op = "logout_from_target", rpc = "LogoutFromTarget", lua = "logout_from_target" },
  AddConnection = { op = "add_connection_to_session", rpc = "AddConnectionToSession", lua = "add_connection_to_session" },
  QAddConnection = { op = "add_connection_to_session", rpc = "AddConnectionToSession", lua = "add_connection_to_session" },
  RemoveConnection = { op = "remove_connection_from_session", rpc = "RemoveConnectionFromSession", lua = "remove_connection_from_session" },
  SessionList = { op = "sessions", rpc = "SessionList", lua = "sessions" },
  ReportTargetMappings = { op = "sessions", rpc = "SessionList", lua = "sessions" },
  ScsiInquiry = { op = "scsi_inquiry", rpc = "ScsiInquiry", lua = "scsi_inquiry" },
  ReadCapacity = { op = "scsi_read_capacity", rpc = "ScsiReadCapacity", lua = "scsi_read_capacity" },
  ReportLUNs = { op = "scsi_report_luns", rpc = "ScsiReportLuns", lua = "scsi_report_luns" },
  AddTargetPortal = { op = "add_target_portal", rpc = "AddTargetPortal", lua = nil },
  QAddTargetPortal = { op = "add_target_portal", rpc = "AddTargetPortal", lua = nil },
  RefreshTargetPortal = { op = "add_target_portal", rpc = "AddTargetPortal", lua = nil },
  RemoveTargetPortal = { op = "remove_target_portal", rpc = "RemoveTargetPortal", lua = nil },
  ListTargetPortals = { op = "list_target_portals", rpc = "ListTargetPortals", lua = nil },
  ListTargets = { op = "list_targets", rpc = "ListTargets", lua = nil },
  TargetInfo = { op = "list_targets", rpc = "ListTargets", lua = nil },
  PersistentLoginTarget = { op = "persistent_login_target", rpc = "PersistentLoginTarget", lua = nil },
  ListPersistentTargets = { op = "list_persistent_targets", rpc = "ListPersistentTargets", lua = nil },
  RemovePersistentTarget = { op = "remove_persistent_target", rpc = "RemovePersistentTarget", lua = nil },
}
-- END generated

local api = require "mcsi.api_ops"

-- The daemon's method of a command (COMMAND_OPS) with its parameters named
-- as the description names them (portal, target, chap_account, ...; chap:
-- the Lua CHAP table, which mcsi.rpc sends inline): result, st.
local function daemon_rpc(command, values)
  local op = api.ops[COMMAND_OPS[command].op]
  local params = {}
  for k, v in pairs(values or {}) do
    if k == "chap" then params.chap = v
    else params[assert(op.param[k] and op.param[k].rpc, "iscsicli: " .. op.name .. " has no parameter " .. k)] = v end
  end
  return mcsi.rpc(op.rpc, params)
end

local commands = {}

-- The daemon's targets { TargetName, Portals, DiscoveredThrough } as iscsicli's
-- records { name =, portal =, addresses =, discovered_through = }.
local function target_records(targets)
  local list = {}
  for i, t in ipairs(targets or {}) do
    local addrs = {}
    for j, a in ipairs(t.Portals or {}) do
      addrs[j] = string.format("%s:%s,%s", a.Address, math.tointeger(a.Port) or a.Port, math.tointeger(a.Tpgt) or a.Tpgt)
    end
    list[i] = { name = t.TargetName, portal = t.DiscoveredThrough and t.DiscoveredThrough[1] or nil,
                addresses = addrs, discovered_through = t.DiscoveredThrough }
  end
  return list
end

-- The daemon contacts the portal (SendTargets) and, only then, stores it and its targets.
local function daemon_add_portal(p, c)
  local r, st = daemon_rpc("AddTargetPortal", { portal = p, chap = c })
  if st.ok then json_result(target_records(r.Targets)) end
  return show_status(st)
end

function commands.AddTargetPortal(a)
  if default(a[1]) then error("iscsicli: AddTargetPortal needs <TargetPortalAddress>", 2) end
  local p, c = portal(a[1], a[2] or "3260"), chap(a[12], a[13], a[14])
  if remote() then return daemon_add_portal(p, c) end
  add_portal(p, c)
  return show_status(mcsi.Status.new(0))
end

function commands.QAddTargetPortal(a)
  if default(a[1]) then error("iscsicli: QAddTargetPortal needs <TargetPortalAddress>", 2) end
  local c = chap(a[2], a[3])
  if remote() then return daemon_add_portal(a[1], c) end
  add_portal(a[1], c)
  return show_status(mcsi.Status.new(0))
end

function commands.RemoveTargetPortal(a)
  local p = portal(a[1], a[2] or "3260")
  if remote() then
    local _, st = daemon_rpc("RemoveTargetPortal", { portal = p })
    return show_status(st)
  end
  for i, e in ipairs(M.portals) do
    if e.portal == p or e.portal == a[1] then
      table.remove(M.portals, i)
      return show_status(mcsi.Status.new(0))
    end
  end
  return show_status(failure("ISDSC_NOT_FOUND", "no such target portal: " .. tostring(p)))
end

-- The portals the daemon stores: { portal =, username = (the CHAP account) }.
local function daemon_portals()
  local r, st = daemon_rpc("ListTargetPortals")
  local list = {}
  for i, e in ipairs(r and r.TargetPortals or {}) do
    list[i] = { portal = string.format("%s:%s", e.Address, math.tointeger(e.Port) or e.Port), account = e.ChapAccount }
  end
  return list, st
end

function commands.ListTargetPortals()
  if remote() then
    local list, st = daemon_portals()
    local l = {}
    for i, e in ipairs(list) do l[i] = e.portal end
    json_result(l)
    if pretty.json then return st end
    out(string.format("Total of %d portals are persisted:", #list))
    for _, e in ipairs(list) do
      out("    Address and Socket   : " .. e.portal)
      if e.account then out("    CHAP Username        : " .. e.account) end
    end
    return show_status(st)
  end
  if pretty.json then
    local l = {}
    for i, e in ipairs(M.portals) do l[i] = e.portal end
    json_result(l)
    return mcsi.Status.new(0)
  end
  out(string.format("Total of %d portals are persisted:", #M.portals))
  for _, e in ipairs(M.portals) do
    out("    Address and Socket   : " .. e.portal)
    if credentials[e] then out("    CHAP Username        : " .. (e.username or "(none)")) end
  end
  return show_status(mcsi.Status.new(0))
end

-- Discovery through every known portal: list of { name =, portal =, username =, addresses = }
local function discover()
  if remote() then
    local r, st = daemon_rpc("ListTargets")
    return target_records(r and r.Targets), st
  end
  local found, seen, last = {}, {}, nil
  for _, e in ipairs(M.portals) do
    local targets, st = mcsi.send_targets{ portal = e.portal, chap = credentials[e] }
    last = st
    for _, t in ipairs(targets or {}) do
      if not seen[t.name] then
        seen[t.name] = true
        local rec = { name = t.name, portal = e.portal, username = e.username, addresses = t.addresses }
        credentials[rec] = credentials[e]
        found[#found + 1] = rec
      end
    end
  end
  return found, last
end

function commands.ListTargets()
  local found, st = discover()
  if remote() then
    json_result(found)
    if pretty.json then return st end
    out("Targets List:")
    for _, t in ipairs(found) do out("    " .. t.name) end
    return show_status(st)
  end
  if #M.portals == 0 then st = failure("ISDSC_NO_PORTAL_SPECIFIED", "no target portal: AddTargetPortal first") end
  if pretty.json then
    json_result(found)
    return st
  end
  out("Targets List:")
  for _, t in ipairs(found) do out("    " .. t.name) end
  return show_status(#found > 0 and mcsi.Status.new(0) or st)
end

local function show_login(sid, cid, st)
  if sid and not pretty.json then
    out("Session Id is " .. hex(sid))
    out("Connection Id is " .. hex(cid))
  elseif sid then
    json_result({ session_id = sid, connection_id = cid })
  end
  show_status(st)
  return sid, cid, st
end

-- LoginToTarget through the portal that listed t, with c or that portal's stored CHAP account.
local function daemon_login(t, c)
  local params = { target = t.name, portal = t.portal, chap = c }
  if not c then
    for _, e in ipairs((daemon_portals())) do
      if e.portal == t.portal then params.chap_account = e.account end
    end
  end
  local r, st = daemon_rpc("QLoginTarget", params)
  if not st.ok then return nil, nil, st end
  return math.tointeger(r.UniqueSessionId), math.tointeger(r.UniqueConnectionId), st
end

function commands.QLoginTarget(a)
  if default(a[1]) then error("iscsicli: QLoginTarget needs <TargetName>", 2) end
  local found = discover()
  for _, t in ipairs(found) do
    if t.name == a[1] then
      local c = credentials[t]
      if not default(a[2]) or not default(a[3]) then c = chap(a[2], a[3]) end
      if remote() then return show_login(daemon_login(t, c)) end
      return show_login(mcsi.login_to_target{ portal = t.portal, target = t.name, chap = c })
    end
  end
  return show_login(nil, nil, failure("ISDSC_TARGET_NOT_FOUND",
    "Target not found: no target portal lists " .. a[1] .. " (AddTargetPortal first)"))
end

function commands.LoginTarget(a)
  if default(a[1]) then error("iscsicli: LoginTarget needs <TargetName>", 2) end
  local p = portal(a[3], a[4])
  if not p then
    for _, t in ipairs(discover()) do
      if t.name == a[1] then p = t.portal end
    end
  end
  return show_login(mcsi.login_to_target{
    portal = p, target = a[1],
    header_digest = digest(a[9], "HeaderDigest"), data_digest = digest(a[10], "DataDigest"),
    max_connections = int_arg(a[11], nil, "MaxConnections"),
    default_time2wait = int_arg(a[12], nil, "DefaultTime2Wait"),
    default_time2retain = int_arg(a[13], nil, "DefaultTime2Retain"),
    chap = chap(a[14], a[15], a[16], a[17]),
  })
end

function commands.LogoutTarget(a)
  return show_status(mcsi.logout_from_target(id_arg(a[1], "SessionId")))
end

local function show_add(cid, st)
  if cid and not pretty.json then out("Connection Id is " .. hex(cid))
  elseif cid then json_result({ connection_id = cid }) end
  show_status(st)
  return cid, st
end

function commands.AddConnection(a)
  local sid = id_arg(a[1], "SessionId")
  return show_add(mcsi.add_connection_to_session(sid, {
    portal = portal(a[4], a[5]), chap = chap(a[13], a[14], a[15], a[16]) }))
end

function commands.QAddConnection(a)
  local sid = id_arg(a[1], "SessionId")
  local addr, socket, user, password = a[3], a[4], a[5], a[6]
  if socket and not tonumber(socket) and socket ~= "*" then   -- no socket given
    addr, socket, user, password = a[3], nil, a[4], a[5]
  end
  if default(addr) then error("iscsicli: QAddConnection needs <TargetPortalAddress>", 2) end
  return show_add(mcsi.add_connection_to_session(sid, { portal = portal(addr, socket), chap = chap(user, password) }))
end

function commands.RemoveConnection(a)
  return show_status(mcsi.remove_connection_from_session(id_arg(a[1], "SessionId"), id_arg(a[2], "ConnectionId")))
end

function commands.SessionList()
  local list = mcsi.sessions()
  if pretty.json then
    json_result(list)
    return mcsi.Status.new(0)
  end
  out(string.format("Total of %d sessions", #list))
  for _, s in ipairs(list) do
    out("")
    out("Session Id             : " .. hex(s.id))
    out("Initiator Node Name    : " .. mcsi.initiator())
    out("Target Node Name       : " .. s.target)
    out("Target Name            : " .. s.target)
    out(string.format("ISID                   : %s", s.isid))
    out(string.format("TSID                   : 0x%04x", s.tsih))
    out(string.format("State                  : %s", s.state))
    out(string.format("Load Balance Policy    : %d (%s)", s.policy, s.policy_name))
    out(string.format("Number Connections     : %d", s.connection_count))
    out("")
    out("    Connections:")
    for _, c in ipairs(s.connections) do
      out("")
      out("        Connection Id     : " .. hex(c.id))
      out(string.format("        CID               : %d", c.cid))
      out(string.format("        Initiator Portal  : %s/%d", c.local_addr, c.local_port))
      out(string.format("        Target Portal     : %s/%d", c.remote_addr, c.remote_port))
      out(string.format("        State             : %s%s", c.state, c.leading and " (leading)" or ""))
    end
  end
  return show_status(mcsi.Status.new(0))
end

local function dump(raw)
  local lines = {}
  for i = 1, #raw, 16 do
    local chunk = raw:sub(i, i + 15)
    lines[#lines + 1] = string.format("    %04x  %-47s  %s", i - 1,
      chunk:gsub(".", function(c) return string.format("%02x ", c:byte()) end):sub(1, -2),
      (chunk:gsub("[^%g ]", ".")))
  end
  return table.concat(lines, "\n")
end

function commands.ScsiInquiry(a)
  local sid, lun = id_arg(a[1], "SessionId"), int_arg(a[2], 0, "LUN")
  local evpd, page = int_arg(a[3], 0, "EvpdCmddt"), int_arg(a[4], 0, "PageCode")
  local data, st = mcsi.scsi_inquiry(sid, lun, evpd ~= 0 and page or nil)
  if data and pretty.json then
    json_result(({ vendor = data.vendor, product = data.product, revision = data.revision,
      peripheral_type = data.peripheral_type, page = data.page, hex = (data.raw:gsub(".", function(c)
        return string.format("%02x", c:byte()) end)) }))
    return st
  elseif data then
    if data.vendor then
      out(string.format("Vendor: %s  Product: %s  Revision: %s  Peripheral type: %d", data.vendor, data.product,
        data.revision, data.peripheral_type))
    end
    out(dump(data.raw))
  end
  return show_status(st)
end

function commands.ReadCapacity(a)
  local cap, st = mcsi.scsi_read_capacity(id_arg(a[1], "SessionId"), int_arg(a[2], 0, "LUN"))
  if cap and pretty.json then
    json_result(cap)
    return st
  elseif cap then
    out(string.format("Address of last block : 0x%x", cap.blocks - 1))
    out(string.format("Length of block       : %d", cap.block_size))
  end
  return show_status(st)
end

function commands.ReportLUNs(a)
  local luns, st = mcsi.scsi_report_luns(id_arg(a[1], "SessionId"))
  if luns and pretty.json then
    json_result(luns)
    return st
  elseif luns then
    out(string.format("LUN list length: %d", #luns))
    for _, l in ipairs(luns) do out(string.format("    0x%x", l)) end
  end
  return show_status(st)
end

-- Persistent targets, mappings, names and versions ---------------------------

local function needs_daemon(name)
  return show_status(failure("ISDSC_SERVICE_NOT_RUNNING", name .. " needs the service mcsid: start it "
    .. "(systemctl start mcsid) or give its socket (--socket PATH, MCSI_SOCKET)"))
end

-- Words "Key=Value" (mcsi's additions to a Microsoft command line) taken out of a.
local function keywords(a, allowed)
  local kw, rest = {}, {}
  for _, w in ipairs(a) do
    local k, v
    if type(w) == "string" then k, v = w:match("^(%a+)=(.*)$") end
    if k and allowed[k] then kw[k] = v else rest[#rest + 1] = w end
  end
  return kw, rest
end

local PERSIST_KEYS = { Connections = true, LoadBalancePolicy = true, PolicyScript = true, Portals = true }

-- PersistentLoginTarget: LoginTarget's arguments, plus Connections=N,
-- LoadBalancePolicy=P, PolicyScript=NAME, Portals=A:P,B:P
function commands.PersistentLoginTarget(a)
  local kw
  kw, a = keywords(a, PERSIST_KEYS)
  if default(a[1]) then error("iscsicli: PersistentLoginTarget needs <TargetName>", 2) end
  local c = chap(a[14], a[15], a[16], a[17])
  if not remote() then return needs_daemon("PersistentLoginTarget") end
  local params = { target = a[1], chap = c, header_digest = digest(a[9], "HeaderDigest"),
                   data_digest = digest(a[10], "DataDigest"), policy_script = kw.PolicyScript,
                   connections = kw.Connections and int_arg(kw.Connections, nil, "Connections") or nil }
  if params.header_digest then params.header_digest = params.header_digest == "crc32c" and "CRC32C" or "None" end
  if params.data_digest then params.data_digest = params.data_digest == "crc32c" and "CRC32C" or "None" end
  if kw.LoadBalancePolicy then
    params.policy = math.tointeger(tonumber(kw.LoadBalancePolicy)) or kw.LoadBalancePolicy
  end
  if kw.Portals then
    params.portals = {}
    for p in kw.Portals:gmatch("[^,]+") do params.portals[#params.portals + 1] = p end
  else
    local p = portal(a[3], a[4])
    if not p then
      for _, t in ipairs((discover())) do
        if t.name == a[1] then p = t.portal end
      end
    end
    if not p then
      return show_login(nil, nil, failure("ISDSC_TARGET_NOT_FOUND",
        "Target not found: give <TargetAddress> or AddTargetPortal first"))
    end
    params.portal = p
  end
  local r, st = daemon_rpc("PersistentLoginTarget", params)
  local sid = r and math.tointeger(r.UniqueSessionId) or 0
  if sid ~= 0 then
    local cids = r.UniqueConnectionIds or {}
    return show_login(sid, math.tointeger(cids[1]), st)
  end
  return show_status(st)
end

function commands.ListPersistentTargets()
  if not remote() then return needs_daemon("ListPersistentTargets") end
  local r, st = daemon_rpc("ListPersistentTargets")
  local list = {}
  for i, e in ipairs(r and r.PersistentTargets or {}) do
    local portals = {}
    for j, p in ipairs(e.Portals or {}) do portals[j] = string.format("%s:%s", p.Address, math.tointeger(p.Port) or p.Port) end
    list[i] = { target = e.TargetName, portals = portals, connections = math.tointeger(e.Connections),
                policy = math.tointeger(e.LoadBalancePolicy), policy_script = e.PolicyScript,
                username = e.ChapAccount, session_id = math.tointeger(e.UniqueSessionId) }
  end
  json_result(list)
  if pretty.json then return st end
  out(string.format("Total of %d persistent targets", #list))
  for _, e in ipairs(list) do
    out("    Target Name           : " .. e.target)
    for _, p in ipairs(e.portals) do out("    Address and Socket    : " .. p) end
    out(string.format("    Connections           : %d", e.connections or 1))
    if e.policy then out(string.format("    Load Balance Policy   : %d", e.policy)) end
    if e.policy_script then out("    Policy Script         : " .. e.policy_script) end
    if e.username then out("    CHAP Username         : " .. e.username) end
    out("    Session Id            : " .. ((e.session_id or 0) ~= 0 and hex(e.session_id) or "(not logged in)"))
    out("")
  end
  return show_status(st)
end

-- RemovePersistentTarget <TargetName>, or Microsoft's
-- RemovePersistentTarget <InitiatorName> <TargetName> <Port> <Address> <Socket>
function commands.RemovePersistentTarget(a)
  local target = a[1]
  if a[2] and not default(a[2]) then target = a[2] end
  if default(target) then error("iscsicli: RemovePersistentTarget needs <TargetName>", 2) end
  if not remote() then return needs_daemon("RemovePersistentTarget") end
  local _, st = daemon_rpc("RemovePersistentTarget", { target = target })
  return show_status(st)
end

-- RefreshTargetPortal <Address> <Socket>: discovery through it again.
function commands.RefreshTargetPortal(a)
  if default(a[1]) then error("iscsicli: RefreshTargetPortal needs <TargetPortalAddress>", 2) end
  local p = portal(a[1], a[2] or "3260")
  if remote() then
    for _, e in ipairs((daemon_portals())) do
      if e.portal == p then
        local r, st = daemon_rpc("RefreshTargetPortal", { portal = p, chap_account = e.account })
        if st.ok then json_result(target_records(r.Targets)) end
        return show_status(st)
      end
    end
    return show_status(failure("ISDSC_PORTAL_NOT_FOUND", "no such target portal: " .. p))
  end
  for _, e in ipairs(M.portals) do
    if e.portal == p or e.portal == a[1] then
      local targets, st = mcsi.send_targets{ portal = e.portal, chap = credentials[e] }
      if targets then json_result(targets) end
      return show_status(st)
    end
  end
  return show_status(failure("ISDSC_PORTAL_NOT_FOUND", "no such target portal: " .. p))
end

-- TargetInfo <TargetName>: its portals and where it was discovered.
function commands.TargetInfo(a)
  if default(a[1]) then error("iscsicli: TargetInfo needs <TargetName>", 2) end
  for _, t in ipairs((discover())) do
    if t.name == a[1] then
      json_result({ name = t.name, addresses = t.addresses, discovered_through = t.discovered_through or { t.portal } })
      if pretty.json then return mcsi.Status.new(0) end
      out("Target Name             : " .. t.name)
      for _, addr in ipairs(t.addresses or {}) do out("    Portal (Address,Tpgt): " .. addr) end
      for _, p in ipairs(t.discovered_through or { t.portal }) do out("    Discovered Through   : " .. p) end
      return show_status(mcsi.Status.new(0))
    end
  end
  return show_status(failure("ISDSC_TARGET_NOT_FOUND", "Target not found: " .. a[1]))
end

function commands.NodeName()
  local name = mcsi.initiator()
  json_result({ initiator = name })
  if not pretty.json then out("The initiator node name is " .. name) end
  return show_status(mcsi.Status.new(0))
end

-- ReportTargetMappings: every session's LUNs (the mappings of this initiator).
function commands.ReportTargetMappings()
  local maps = {}
  for _, s in ipairs(mcsi.sessions()) do
    local luns = mcsi.scsi_report_luns(s.id) or {}
    maps[#maps + 1] = { session_id = s.id, target = s.target, initiator = mcsi.initiator(), luns = luns }
  end
  json_result(maps)
  if pretty.json then return mcsi.Status.new(0) end
  out(string.format("Total of %d mappings returned", #maps))
  for _, m in ipairs(maps) do
    out("    Session Id             : " .. hex(m.session_id))
    out("    Target Name            : " .. m.target)
    out("    Initiator              : " .. m.initiator)
    out(string.format("    LUN Count              : %d", #m.luns))
    for _, l in ipairs(m.luns) do out(string.format("        Target LUN: 0x%x", l)) end
    out("")
  end
  return show_status(mcsi.Status.new(0))
end

function commands.VersionInfo()
  local d = rawget(mcsi, "daemon")
  local v = { mcsi = mcsi.version, daemon = d and d.version or nil,
              protocol_version = d and d.protocol_version or nil, socket = d and d.path or nil }
  json_result(v)
  if not pretty.json then
    out("mcsi iscsicli: " .. mcsi.version)
    if d then out(string.format("mcsid %s (protocol %d) at %s", d.version, d.protocol_version or 0, d.path))
    else out("mcsid: not used (sessions live in this process)") end
  end
  return show_status(mcsi.Status.new(0))
end

local lower = {}
for k in pairs(commands) do lower[k:lower()] = commands[k] end

-- iscsicli(line) or iscsicli(command, args...)
function M.run(cmd, ...)
  local words
  if select("#", ...) == 0 and type(cmd) == "string" then
    words = split(cmd)
  else
    words = { cmd, ... }
    for i = 2, #words do
      if math.type(words[i]) ~= "integer" then words[i] = tostring(words[i]) end
    end
  end
  if #words == 0 or type(words[1]) ~= "string" then error("iscsicli: no command (try iscsicli \"help\")", 2) end
  local name = table.remove(words, 1)
  if name:lower() == "help" then
    out(M.usage)
    return mcsi.Status.new(0)
  end
  local f = lower[name:lower()]
  if not f then error("iscsicli: unknown command '" .. name .. "' (try iscsicli \"help\")", 2) end
  local saved = current
  current = { name = name }
  local results = table.pack(pcall(f, words))
  local this = current
  current = saved
  if not results[1] then error(results[2], 0) end
  if pretty.json then
    local st = results[results.n]
    out(pretty.json_encode({ command = name, status = st, result = this.result }))
  end
  return table.unpack(results, 2, results.n)
end

M.usage = [[
usage: iscsicli "Command args..." (in mcsi), or mcsi scripts/iscsicli.lua Command args... | - (stdin)
Commands (Microsoft's argument order; * = the default):
  AddTargetPortal <Address> <Socket> [<HBA> <Port> <SecurityFlags> <LoginFlags>
      <HeaderDigest> <DataDigest> <MaxConnections> <Time2Wait> <Time2Retain>
      <Username> <Password> <AuthType>]
  QAddTargetPortal <Address[:Socket]> [<Username> <Password>]
  RemoveTargetPortal <Address> <Socket>        ListTargetPortals
  ListTargets [<ForceUpdate>]
  LoginTarget <TargetName> <ReportToPNP> <TargetAddress> <TargetSocket>
      <InitiatorInstance> <Port> <SecurityFlags> <LoginFlags> <HeaderDigest>
      <DataDigest> <MaxConnections> <Time2Wait> <Time2Retain> <Username>
      <Password> <AuthType> <Key> <MappingCount> ...
  QLoginTarget <TargetName> [<Username> <Password>]
  LogoutTarget <SessionId>
  AddConnection <SessionId> <InitiatorInstance> <Port> <TargetAddress>
      <TargetSocket> <SecurityFlags> <LoginFlags> <HeaderDigest> <DataDigest>
      <MaxConnections> <Time2Wait> <Time2Retain> <Username> <Password> <AuthType> <Key>
  QAddConnection <SessionId> <InitiatorInstance> <TargetAddress> [<TargetSocket>]
      [<Username> <Password>]
  RemoveConnection <SessionId> <ConnectionId>
  SessionList [<ShowSessionInfo>]
  ScsiInquiry <SessionId> <LUN> <EvpdCmddt> <PageCode>
  ReadCapacity <SessionId> <LUN>
  ReportLUNs <SessionId>
  PersistentLoginTarget <TargetName> <ReportToPNP> <TargetAddress> <TargetSocket> ...
      (LoginTarget's arguments) [Connections=N] [LoadBalancePolicy=P]
      [PolicyScript=NAME] [Portals=ADDR:PORT,ADDR:PORT]        (mcsid)
  ListPersistentTargets                                       (mcsid)
  RemovePersistentTarget <TargetName>                         (mcsid)
  RefreshTargetPortal <Address> <Socket>
  TargetInfo <TargetName>       NodeName       ReportTargetMappings       VersionInfo
With mcsid running (its socket: --socket PATH, MCSI_SOCKET, or /run/mcsi/mcsid.sock),
the commands go to it: sessions, portals and persistent targets outlive the
invocation; AddTargetPortal contacts the portal and stores it. --local keeps
everything in this process.
--json: every command prints one object {"command","status":{code,name,message,ok},"result"}.
Digests: T or crc32c for CRC32C, * F or none for none. AuthType: 0 none,
1 CHAP, 2 mutual CHAP (Key = the target's secret, Username/Password ours).
Ids print as 0x%016x and are read as decimal or 0x hex. Secrets are never shown.
As a program, MCSI_PORTALS (blank-separated) are added as target portals first (no daemon);
exit status 0 all succeeded, 1 a command failed, 2 bad command line.]]
M.help = M.usage

setmetatable(M, { __call = function(_, ...) return M.run(...) end })

if modname == "mcsi.iscsicli" or modname == "iscsicli" then return M end

-- As a program: --socket PATH / MCSI_SOCKET (must answer) or the default
-- socket (if a daemon listens there) puts the commands on mcsid; --local
-- keeps them in this process. Without the daemon, MCSI_PORTALS
-- (blank-separated) are added as target portals.
local args = { ... }
local socket_opt, keep_local
while args[1] == "--socket" or args[1] == "--local" do
  if table.remove(args, 1) == "--local" then keep_local = true
  else
    socket_opt = table.remove(args, 1)
    if not socket_opt then io.stderr:write("iscsicli.lua: --socket needs a PATH\n") os.exit(2) end
  end
end
if not remote() and not keep_local then
  local wanted = socket_opt or os.getenv("MCSI_SOCKET")
  local ok, st = mcsi.connect(wanted or require("mcsi.remote").DEFAULT_SOCKET)
  if not ok and wanted then
    io.stderr:write("iscsicli.lua: ", tostring(st), "\n")
    os.exit(2)
  end
end
if not remote() then
  for p in (os.getenv("MCSI_PORTALS") or ""):gmatch("%S+") do add_portal(p) end
end
local worst = 0                                   -- 0 ok, 1 a failing Status, 2 a bad command line
local function run_line(...)
  local results = table.pack(pcall(M.run, ...))
  if not results[1] then
    io.stderr:write(tostring(results[2]), "\n")
    worst = 2
    return
  end
  local st = results[results.n]
  if type(st) == "userdata" and not st.ok then worst = math.max(worst, 1) end
end
if #args == 1 and (args[1] == "--help" or args[1] == "-h") then
  out(M.usage)
  os.exit(0)
elseif #args == 0 then
  io.stderr:write("iscsicli.lua: no command\n", M.usage, "\n")
  os.exit(2)
elseif #args == 1 and args[1] == "-" then
  for line in io.lines() do
    if line:match("%S") and not line:match("^%s*#") then run_line(line) end
  end
else
  run_line(table.unpack(args))
end
if not remote() then                              -- the daemon's sessions outlive us
  for _, s in ipairs(mcsi.sessions()) do mcsi.logout_from_target(s.id) end
end
os.exit(worst)
