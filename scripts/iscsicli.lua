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
stores it, and the persistent-target commands work. With no socket there at
all (no daemon; a notice on stderr says so), or with --local, sessions live in
the process that made them: a one-shot invocation logs its sessions out when
it exits. A socket that refuses is an error, never a silent fallback. Every
daemon method without a Microsoft command is a generic command of its own
name (ExportLun, AttachPolicy, GetSessionInfo, ...). The commands and their
arguments: M.usage below (`iscsicli "help"`, `iscsicli "help Command"`, or
`mcsi-iscsicli Command --help`).

CHAP secrets given to a command are kept (to log in and discover with) but
never shown: no listing, JSON, Status or error message carries one. Listings
show the CHAP user name only, and an argument error names the argument, not
its value (a misplaced secret must not be echoed). Through mcsid the secrets
travel inline on its private socket (mcsi.remote), never as a file the daemon
would open; the accounts mcsid keeps belong to the user who stored them (a
user's own are listed as NAME@UID; root's as NAME).

As a program: exit status 0 when every command succeeded, 1 when one answered
a failing Status (or mcsid could not be reached), 2 for a bad command line
(unknown command, bad argument).
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

-- In-process, --timeout (M.timeout, seconds) bounds each login and discovery
-- (login_timeout_ms); through mcsid it bounds the wait for the daemon.
local function login_timeout_ms()
  return M.timeout and math.max(1, math.floor(M.timeout * 1000)) or nil
end

local function id_arg(v, what)
  if math.type(v) == "integer" then return v end
  local n = type(v) == "string" and math.tointeger(tonumber(v)) or nil
  if not n then error(string.format("iscsicli: %s must be an id (decimal or 0x hex)", what), 3) end
  return n
end

-- A command that cannot go on answers this Status (M.run shows it): not a bad command line.
local function fail_with(st) error({ status = st }, 0) end

-- An iSCSI name (iqn., eui., naa.) rather than a number.
local function is_name(v)
  return type(v) == "string" and not tonumber(v) and (v:find("^iqn%.") or v:find("^eui%.") or v:find("^naa%."))
end

-- A session: its id (decimal or 0x hex) or its target's name, looked up in
-- SessionList (exactly one session to that target, else a failing Status).
local function sid_arg(v, what)
  if not is_name(v) then return id_arg(v, what or "SessionId") end
  local found = {}
  for _, s in ipairs(mcsi.sessions()) do
    if s.target == v then found[#found + 1] = s.id end
  end
  if #found == 1 then return found[1] end
  if #found == 0 then fail_with(failure("ISDSC_INVALID_SESSION_ID", "no session to " .. v)) end
  local ids = {}
  for i, id in ipairs(found) do ids[i] = hex(id) end
  table.sort(ids)
  fail_with(failure("ISDSC_INVALID_SESSION_ID", string.format("%d sessions to %s: %s; give one session id",
    #found, v, table.concat(ids, ", "))))
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
-- Each command that maps to an operation: its canonical name, its JSON-RPC method, its Lua function;
-- generic: a daemon method with no Microsoft command, the command is the method itself.
local COMMAND_OPS = {
  VersionInfo = { op = "get_version", rpc = "GetVersion", lua = nil },
  NodeName = { op = "get_version", rpc = "GetVersion", lua = nil },
  Upgrade = { op = "upgrade", rpc = "Upgrade", lua = nil, generic = true },
  LoginTarget = { op = "login_to_target", rpc = "LoginToTarget", lua = "login_to_target" },
  QLoginTarget = { op = "login_to_target", rpc = "LoginToTarget", lua = "login_to_target" },
  LogoutTarget = { op = "logout_from_target", rpc = "LogoutFromTarget", lua = "logout_from_target" },
  AddConnection = { op = "add_connection_to_session", rpc = "AddConnectionToSession", lua = "add_connection_to_session" },
  QAddConnection = { op = "add_connection_to_session", rpc = "AddConnectionToSession", lua = "add_connection_to_session" },
  RemoveConnection = { op = "remove_connection_from_session", rpc = "RemoveConnectionFromSession", lua = "remove_connection_from_session" },
  SetWantedConnections = { op = "set_wanted_connections", rpc = "SetWantedConnections", lua = "set_wanted_connections", generic = true },
  SessionList = { op = "sessions", rpc = "SessionList", lua = "sessions" },
  ReportTargetMappings = { op = "sessions", rpc = "SessionList", lua = "sessions" },
  GetSessionInfo = { op = "session_info", rpc = "GetSessionInfo", lua = "session_info", generic = true },
  SetLoadBalancePolicy = { op = "set_load_balance_policy", rpc = "SetLoadBalancePolicy", lua = "set_load_balance_policy", generic = true },
  ScsiInquiry = { op = "scsi_inquiry", rpc = "ScsiInquiry", lua = "scsi_inquiry" },
  ReadCapacity = { op = "scsi_read_capacity", rpc = "ScsiReadCapacity", lua = "scsi_read_capacity" },
  ReportLUNs = { op = "scsi_report_luns", rpc = "ScsiReportLuns", lua = "scsi_report_luns" },
  SendTargets = { op = "send_targets", rpc = "SendTargets", lua = "send_targets", generic = true },
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
  Subscribe = { op = "subscribe", rpc = "Subscribe", lua = nil, generic = true },
  Unsubscribe = { op = "unsubscribe", rpc = "Unsubscribe", lua = nil, generic = true },
  ExportLun = { op = "export_lun", rpc = "ExportLun", lua = nil, generic = true },
  UnexportLun = { op = "unexport_lun", rpc = "UnexportLun", lua = nil, generic = true },
  ListExports = { op = "list_exports", rpc = "ListExports", lua = nil, generic = true },
  AttachPolicy = { op = "attach_policy", rpc = "AttachPolicy", lua = nil, generic = true },
  DetachPolicy = { op = "detach_policy", rpc = "DetachPolicy", lua = nil, generic = true },
  ListPolicies = { op = "list_policies", rpc = "ListPolicies", lua = nil, generic = true },
  ScsiRead = { op = "read", rpc = "ScsiRead", lua = "read", generic = true },
  ScsiWrite = { op = "write", rpc = "ScsiWrite", lua = "write", generic = true },
  ScsiSynchronizeCache = { op = "flush", rpc = "ScsiSynchronizeCache", lua = "flush", generic = true },
  ScsiUnmap = { op = "unmap", rpc = "ScsiUnmap", lua = "unmap", generic = true },
  ScsiWriteZeroes = { op = "write_zeroes", rpc = "ScsiWriteZeroes", lua = "write_zeroes", generic = true },
  ScsiCommand = { op = "scsi_command", rpc = "ScsiCommand", lua = "scsi_command", generic = true },
  ScsiTestUnitReady = { op = "scsi_test_unit_ready", rpc = "ScsiTestUnitReady", lua = "scsi_test_unit_ready", generic = true },
  LunReset = { op = "lun_reset", rpc = "LunReset", lua = "lun_reset", generic = true },
  AbortTask = { op = "abort_task", rpc = "AbortTask", lua = "abort_task", generic = true },
}
-- Each of those operations: its doc and its JSON-RPC parameters (--help, generic commands).
local OP_HELP = {
  get_version = { doc = "The daemon's version, protocol version, initiator name and every method's name.", params = { } },
  upgrade = { doc = "Hands every session, the control socket and the NBD clients to a new mcsid started from the same path, read again from disk (as SIGUSR2; mcsid(8)): answered when the handover starts (SESSION_BUSY: one is under way, or the daemon stops), or with Wait when it ends; the connection then closes and the new mcsid answers on the same socket. No logout, no login: the sessions keep their TSIH and connections. `systemctl reload mcsid` does it (ExecReload: `mcsid --upgrade-running`). The unit's `systemctl restart` does the same through systemd's fd store (mcsid(8)).", params = {
    { rpc = "ViaFdStore", type = "bool", default = "false", doc = "true: start nothing now; the next SIGTERM within 60 s, whatever sent it, hands over through the service manager's file descriptor store instead of logging out (REQUEST_NOT_SUPPORTED without $NOTIFY_SOCKET). Not needed for `systemctl restart`: mcsid asks systemd which job runs on its unit (mcsid(8))" },
    { rpc = "Wait", type = "bool", default = "false", doc = "true: answered when the handover ends: SUCCESS with the successor's Pid once it serves (this connection then closes), else why the running mcsid goes on serving (SESSION_BUSY: given up after 20 attempts, and what kept a session busy; NON_SPECIFIC_ERROR: the successor refused, e.g. a bad configuration; SERVICE_DID_NOT_RESPOND: silent for 15 s), everything taken back, nothing retried by itself: the next Upgrade starts afresh. `mcsid --upgrade-running`, the unit's ExecReload, calls it so" } } },
  login_to_target = { doc = "Logs in to a target with one connection (through mcsid: Connections of them); add more with AddConnectionToSession.", params = {
    { rpc = "TargetName", type = "string", required = true, doc = "the target's iSCSI name" },
    { rpc = "TargetPortal", type = "portal", required = true, doc = "the portal to log in through" },
    { rpc = "IsPersistent", type = "bool", default = "false", doc = "also PersistentLoginTarget with these Connections" },
    { rpc = "Connections", type = "uint", default = "1", doc = "connections to make through the portal, and the session's wanted connections" },
    { rpc = "HeaderDigest", type = "string", set = "login", values = { "None", "CRC32C" }, default = "None", doc = "header digest" },
    { rpc = "DataDigest", type = "string", set = "login", values = { "None", "CRC32C" }, default = "None", doc = "data digest" },
    { rpc = "LoginTimeoutMs", type = "uint", set = "login", default = "login_timeout_ms (15000)", doc = "login deadline, ms" },
    { rpc = "ChapAccount", type = "string", set = "chap", doc = "a stored CHAP account (default: the Username)" },
    { rpc = "Username", type = "string", set = "chap", doc = "CHAP user name" },
    { rpc = "Secret", type = "string", set = "chap", secret = true, doc = "CHAP secret, 1..255 bytes" },
    { rpc = "SecretFile", type = "string", set = "chap", doc = "file holding the secret, read with the caller's rights" },
    { rpc = "TargetUsername", type = "string", set = "chap", doc = "mutual CHAP: the target's user name" },
    { rpc = "TargetSecret", type = "string", set = "chap", secret = true, doc = "mutual CHAP: the target's secret" },
    { rpc = "TargetSecretFile", type = "string", set = "chap", doc = "mutual CHAP: file holding the target's secret" },
    { rpc = "MaximumConnections", type = "uint", set = "session", default = "4", doc = "MaxConnections offered" } } },
  logout_from_target = { doc = "Logs the session out (every connection) and forgets it.", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" } } },
  add_connection_to_session = { doc = "Adds a connection (MC/S) to a session; its wanted connections become at least the active ones (+1 when it had them all). Refused (SESSION_BUSY) while the session is being handed to another process (Upgrade).", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "TargetPortal", type = "portal", required = true, doc = "the portal of the new connection" },
    { rpc = "Weight", type = "uint", doc = "its weight (weighted policies)" },
    { rpc = "LoginTimeoutMs", type = "uint", doc = "login deadline, ms" },
    { rpc = "ChapAccount", type = "string", set = "chap", doc = "a stored CHAP account (default: the Username)" },
    { rpc = "Username", type = "string", set = "chap", doc = "CHAP user name" },
    { rpc = "Secret", type = "string", set = "chap", secret = true, doc = "CHAP secret, 1..255 bytes" },
    { rpc = "SecretFile", type = "string", set = "chap", doc = "file holding the secret, read with the caller's rights" },
    { rpc = "TargetUsername", type = "string", set = "chap", doc = "mutual CHAP: the target's user name" },
    { rpc = "TargetSecret", type = "string", set = "chap", secret = true, doc = "mutual CHAP: the target's secret" },
    { rpc = "TargetSecretFile", type = "string", set = "chap", doc = "mutual CHAP: file holding the target's secret" } } },
  remove_connection_from_session = { doc = "Logs one connection of a session out; its tasks move to the others; its wanted connections go down by one (policies do not add it back). Refused (SESSION_BUSY) while the session is being handed to another process (Upgrade).", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "UniqueConnectionId", type = "id", required = true, doc = "the connection" } } },
  set_wanted_connections = { doc = "Sets the session's wanted number of connections: policies (failover) keep it; a persistent target stores it.", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "Connections", type = "uint", required = true, doc = "connections the session should have" } } },
  sessions = { doc = "Every session with its connections (as GetSessionInfo).", params = { } },
  session_info = { doc = "One session: its state, negotiated values, counters and connections.", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" } } },
  set_load_balance_policy = { doc = "Sets the session's load balance policy and, optionally, its paths.", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "LoadBalancePolicy", type = "policy", required = true, doc = "the policy, 1..5 or its name" },
    { rpc = "Paths", type = "array", doc = "the connections' roles" } } },
  scsi_inquiry = { doc = "INQUIRY: standard data or a VPD page.", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "Lun", type = "uint", default = "0", doc = "the LUN" },
    { rpc = "PageCode", type = "uint", doc = "a VPD page (EVPD); absent: standard INQUIRY" } } },
  scsi_read_capacity = { doc = "READ CAPACITY (16, or 10 when 16 is refused).", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "Lun", type = "uint", default = "0", doc = "the LUN" } } },
  scsi_report_luns = { doc = "REPORT LUNS: the LUNs of the session's target.", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" } } },
  send_targets = { doc = "Discovery (SendTargets=All) through a discovery session; nothing is stored.", params = {
    { rpc = "TargetPortal", type = "portal", required = true, doc = "the discovery portal" },
    { rpc = "MaximumConnections", type = "uint", doc = "accepted and unused (discovery sessions have one connection)" },
    { rpc = "HeaderDigest", type = "string", set = "login", values = { "None", "CRC32C" }, default = "None", doc = "header digest" },
    { rpc = "DataDigest", type = "string", set = "login", values = { "None", "CRC32C" }, default = "None", doc = "data digest" },
    { rpc = "LoginTimeoutMs", type = "uint", set = "login", default = "login_timeout_ms (15000)", doc = "login deadline, ms" },
    { rpc = "ChapAccount", type = "string", set = "chap", doc = "a stored CHAP account (default: the Username)" },
    { rpc = "Username", type = "string", set = "chap", doc = "CHAP user name" },
    { rpc = "Secret", type = "string", set = "chap", secret = true, doc = "CHAP secret, 1..255 bytes" },
    { rpc = "SecretFile", type = "string", set = "chap", doc = "file holding the secret, read with the caller's rights" },
    { rpc = "TargetUsername", type = "string", set = "chap", doc = "mutual CHAP: the target's user name" },
    { rpc = "TargetSecret", type = "string", set = "chap", secret = true, doc = "mutual CHAP: the target's secret" },
    { rpc = "TargetSecretFile", type = "string", set = "chap", doc = "mutual CHAP: file holding the target's secret" } } },
  add_target_portal = { doc = "Contacts the portal (SendTargets) and, when that succeeded, stores it and its targets.", params = {
    { rpc = "TargetPortal", type = "portal", required = true, doc = "the discovery portal" },
    { rpc = "MaximumConnections", type = "uint", doc = "accepted and unused (discovery sessions have one connection)" },
    { rpc = "HeaderDigest", type = "string", set = "login", values = { "None", "CRC32C" }, default = "None", doc = "header digest" },
    { rpc = "DataDigest", type = "string", set = "login", values = { "None", "CRC32C" }, default = "None", doc = "data digest" },
    { rpc = "LoginTimeoutMs", type = "uint", set = "login", default = "login_timeout_ms (15000)", doc = "login deadline, ms" },
    { rpc = "ChapAccount", type = "string", set = "chap", doc = "a stored CHAP account (default: the Username)" },
    { rpc = "Username", type = "string", set = "chap", doc = "CHAP user name" },
    { rpc = "Secret", type = "string", set = "chap", secret = true, doc = "CHAP secret, 1..255 bytes" },
    { rpc = "SecretFile", type = "string", set = "chap", doc = "file holding the secret, read with the caller's rights" },
    { rpc = "TargetUsername", type = "string", set = "chap", doc = "mutual CHAP: the target's user name" },
    { rpc = "TargetSecret", type = "string", set = "chap", secret = true, doc = "mutual CHAP: the target's secret" },
    { rpc = "TargetSecretFile", type = "string", set = "chap", doc = "mutual CHAP: file holding the target's secret" } } },
  remove_target_portal = { doc = "Removes a stored portal and the targets known only through it.", params = {
    { rpc = "TargetPortal", type = "listed_portal", required = true, doc = "a stored portal: its address and port (a ListTargetPortals object as it is; no secret needed)" } } },
  list_target_portals = { doc = "The stored discovery portals.", params = { } },
  list_targets = { doc = "The stored targets, each with the portals that listed it.", params = { } },
  persistent_login_target = { doc = "Stores a target and keeps it logged in (at start, after a crash, when the session fails); a live session of the target is adopted, and a new Connections is applied to it at once.", params = {
    { rpc = "TargetName", type = "string", required = true, doc = "the target's iSCSI name" },
    { rpc = "TargetPortal", type = "portal", doc = "its portal" },
    { rpc = "Portals", type = "portals", doc = "its portals (failover)" },
    { rpc = "Connections", type = "uint", doc = "connections to keep" },
    { rpc = "LoadBalancePolicy", type = "policy", doc = "load balance policy" },
    { rpc = "PolicyScript", type = "string", doc = "a policy to attach" },
    { rpc = "HeaderDigest", type = "string", values = { "None", "CRC32C" }, doc = "header digest" },
    { rpc = "DataDigest", type = "string", values = { "None", "CRC32C" }, doc = "data digest" },
    { rpc = "Exports", type = "array", doc = "NBD exports to restore" },
    { rpc = "RecoveryTimeoutMs", type = "uint", doc = "how long a failed session is retried, ms" },
    { rpc = "ChapAccount", type = "string", set = "chap", doc = "a stored CHAP account (default: the Username)" },
    { rpc = "Username", type = "string", set = "chap", doc = "CHAP user name" },
    { rpc = "Secret", type = "string", set = "chap", secret = true, doc = "CHAP secret, 1..255 bytes" },
    { rpc = "SecretFile", type = "string", set = "chap", doc = "file holding the secret, read with the caller's rights" },
    { rpc = "TargetUsername", type = "string", set = "chap", doc = "mutual CHAP: the target's user name" },
    { rpc = "TargetSecret", type = "string", set = "chap", secret = true, doc = "mutual CHAP: the target's secret" },
    { rpc = "TargetSecretFile", type = "string", set = "chap", doc = "mutual CHAP: file holding the target's secret" } } },
  list_persistent_targets = { doc = "The persistent targets and their state.", params = { } },
  remove_persistent_target = { doc = "Forgets a persistent target and stops the NBD exports it stored (its session stays until logged out).", params = {
    { rpc = "TargetName", type = "string", required = true, doc = "the target's iSCSI name" } } },
  subscribe = { doc = "Hear Event notifications (mcsi.on in Lua).", params = {
    { rpc = "Kinds", type = "array", doc = "event kinds (absent: all)" } } },
  unsubscribe = { doc = "Stop hearing Event notifications.", params = { } },
  export_lun = { doc = "Serves one LUN of a session to NBD clients on a Unix socket and/or TCP.", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "Lun", type = "uint", required = true, doc = "the LUN" },
    { rpc = "Socket", type = "string", doc = "a socket name" },
    { rpc = "Tcp", type = "string", doc = "\"host:port\"" },
    { rpc = "ExportName", type = "string", default = "\"\"", doc = "the NBD export name" },
    { rpc = "ReadOnly", type = "bool", default = "false", doc = "read-only export" },
    { rpc = "MaxClients", type = "uint", default = "16", doc = "clients at once" },
    { rpc = "IsPersistent", type = "bool", default = "false", doc = "restored with its persistent target" },
    { rpc = "Tls", type = "string", values = { "require", "off" }, default = "require", doc = "TLS on TCP" } } },
  unexport_lun = { doc = "Stops an export; its clients are closed.", params = {
    { rpc = "ExportId", type = "id", doc = "the export" },
    { rpc = "Socket", type = "string", doc = "or its socket name" } } },
  list_exports = { doc = "The NBD exports.", params = {
    { rpc = "UniqueSessionId", type = "id", doc = "only this session's" } } },
  attach_policy = { doc = "Runs a policy script on one session, in a sandboxed process of its own.", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "PolicyScript", type = "string", required = true, doc = "failover, drain, rebalance or NAME" },
    { rpc = "Options", type = "object", doc = "given to the policy" } } },
  detach_policy = { doc = "Stops a policy.", params = {
    { rpc = "PolicyId", type = "uint", required = true, doc = "the policy" } } },
  list_policies = { doc = "The policies running.", params = { } },
  read = { doc = "Reads blocks (the engine's block I/O: READ(16)s, split by the LUN's maximum transfer length, retried by the engine's one rule).", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "Lun", type = "uint", default = "0", doc = "the LUN" },
    { rpc = "Lba", type = "uint", required = true, doc = "the first block" },
    { rpc = "Blocks", type = "uint", doc = "blocks to read (at most io_max bytes through mcsid, 256 MiB in-process)" },
    { rpc = "Length", type = "uint", doc = "or bytes to read (whole blocks)" },
    { rpc = "ForceUnitAccess", type = "bool", default = "false", doc = "FUA: the data reaches the medium before the answer (Lua: options { fua = true })" },
    { rpc = "DisablePageOut", type = "bool", default = "false", doc = "DPO: the target's cache need not keep the data (Lua: options { dpo = true })" } } },
  write = { doc = "Writes whole blocks (the engine's block I/O: WRITE(16)s, split and retried by the engine).", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "Lun", type = "uint", default = "0", doc = "the LUN" },
    { rpc = "Lba", type = "uint", required = true, doc = "the first block" },
    { rpc = "Data", type = "string", required = true, doc = "the bytes (base64 in JSON), whole blocks" },
    { rpc = "ForceUnitAccess", type = "bool", default = "false", doc = "FUA: the data reaches the medium before the answer (Lua: options { fua = true })" },
    { rpc = "DisablePageOut", type = "bool", default = "false", doc = "DPO: the target's cache need not keep the data (Lua: options { dpo = true })" } } },
  flush = { doc = "SYNCHRONIZE CACHE(16) of a range, or of the whole LUN.", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "Lun", type = "uint", default = "0", doc = "the LUN" },
    { rpc = "Lba", type = "uint", default = "0", doc = "the first block" },
    { rpc = "Blocks", type = "uint", doc = "blocks (absent: the whole LUN)" } } },
  unmap = { doc = "UNMAP of a range, split by the LUN's UNMAP limits; not supported when the LUN offers none.", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "Lun", type = "uint", default = "0", doc = "the LUN" },
    { rpc = "Lba", type = "uint", required = true, doc = "the first block" },
    { rpc = "Blocks", type = "uint", required = true, doc = "blocks to unmap" } } },
  write_zeroes = { doc = "Zeroes a range: WRITE SAME(16), or WRITE(16)s of zeroes on a LUN that refuses it.", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "Lun", type = "uint", default = "0", doc = "the LUN" },
    { rpc = "Lba", type = "uint", required = true, doc = "the first block" },
    { rpc = "Blocks", type = "uint", required = true, doc = "blocks to zero" },
    { rpc = "ForceUnitAccess", type = "bool", default = "false", doc = "FUA: the data reaches the medium before the answer (Lua: options { fua = true })" },
    { rpc = "DisablePageOut", type = "bool", default = "false", doc = "DPO: the target's cache need not keep the data (Lua: options { dpo = true })" } } },
  scsi_command = { doc = "Any SCSI command: a CDB, a direction and its data.", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "Lun", type = "uint", default = "0", doc = "the LUN" },
    { rpc = "Cdb", type = "string", required = true, doc = "the CDB, 1..16 bytes (hex in JSON)" },
    { rpc = "Direction", type = "string", values = { "none", "read", "write" }, default = "none", doc = "data direction" },
    { rpc = "Length", type = "uint", doc = "bytes to read" },
    { rpc = "Data", type = "string", doc = "bytes to write (base64 in JSON)" } } },
  scsi_test_unit_ready = { doc = "TEST UNIT READY.", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "Lun", type = "uint", default = "0", doc = "the LUN" } } },
  lun_reset = { doc = "LOGICAL UNIT RESET (a task management function).", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "Lun", type = "uint", default = "0", doc = "the LUN" } } },
  abort_task = { doc = "ABORT TASK (a task management function).", params = {
    { rpc = "UniqueSessionId", type = "id", required = true, doc = "the session" },
    { rpc = "Tag", type = "id", required = true, doc = "the task's tag" } } },
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
    local targets, st = mcsi.send_targets{ portal = e.portal, chap = credentials[e], login_timeout_ms = login_timeout_ms() }
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

-- cids: the connection id, or a list of them (PersistentLoginTarget: those it
-- added; none when the session already had what was asked).
local function show_login(sid, cids, st)
  local list = type(cids) == "table" and cids or { cids }
  if sid and not pretty.json then
    out("Session Id is " .. hex(sid))
    for _, cid in ipairs(list) do out("Connection Id is " .. hex(cid)) end
  elseif sid then
    json_result({ session_id = sid, connection_id = list[1], connection_ids = type(cids) == "table" and cids or nil })
  end
  show_status(st)
  return sid, list[1], st
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
      return show_login(mcsi.login_to_target{ portal = t.portal, target = t.name, chap = c,
                                              login_timeout_ms = login_timeout_ms() })
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
    chap = chap(a[14], a[15], a[16], a[17]), login_timeout_ms = login_timeout_ms(),
  })
end

function commands.LogoutTarget(a)
  return show_status(mcsi.logout_from_target(sid_arg(a[1])))
end

local function show_add(cid, st)
  if cid and not pretty.json then out("Connection Id is " .. hex(cid))
  elseif cid then json_result({ connection_id = cid }) end
  show_status(st)
  return cid, st
end

function commands.AddConnection(a)
  local sid = sid_arg(a[1])
  return show_add(mcsi.add_connection_to_session(sid, {
    portal = portal(a[4], a[5]), chap = chap(a[13], a[14], a[15], a[16]) }))
end

function commands.QAddConnection(a)
  local sid = sid_arg(a[1])
  local addr, socket, user, password = a[3], a[4], a[5], a[6]
  if socket and not tonumber(socket) and socket ~= "*" then   -- no socket given
    addr, socket, user, password = a[3], nil, a[4], a[5]
  end
  if default(addr) then error("iscsicli: QAddConnection needs <TargetPortalAddress>", 2) end
  return show_add(mcsi.add_connection_to_session(sid, { portal = portal(addr, socket), chap = chap(user, password) }))
end

function commands.RemoveConnection(a)
  return show_status(mcsi.remove_connection_from_session(sid_arg(a[1]), id_arg(a[2], "ConnectionId")))
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
  local sid, lun = sid_arg(a[1]), int_arg(a[2], 0, "LUN")
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
  local cap, st = mcsi.scsi_read_capacity(sid_arg(a[1]), int_arg(a[2], 0, "LUN"))
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
  local luns, st = mcsi.scsi_report_luns(sid_arg(a[1]))
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
    local cids = {}
    for i, c in ipairs(r.UniqueConnectionIds or {}) do cids[i] = math.tointeger(c) end
    return show_login(sid, cids, st)
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
      local targets, st = mcsi.send_targets{ portal = e.portal, chap = credentials[e], login_timeout_ms = login_timeout_ms() }
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

-- Levenshtein distance, case-insensitive.
local function distance(a, b)
  a, b = a:lower(), b:lower()
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

-- Generic commands: a daemon method without a Microsoft command ------------------
-- (COMMAND_OPS generic = true). Its arguments are the method's own parameters
-- in the description's order, or Name=Value for any of them (its option sets'
-- too: Username=..., Secret=...); its outputs are listed "Key : value".

-- The parameters of a command's operation, own ones first (positional), then its option sets'.
local function op_params(command)
  local own, sets = {}, {}
  for _, p in ipairs(OP_HELP[COMMAND_OPS[command].op].params) do
    if p.set then sets[#sets + 1] = p else own[#own + 1] = p end
  end
  return own, sets
end

local function json_value(text, what)
  local ok, cjson = pcall(require, "cjson")
  local good, v = false, nil
  if ok then good, v = pcall(cjson.decode, text) end
  if not good then error("iscsicli: " .. what .. " must be JSON (" .. tostring(v) .. ")", 0) end
  return v
end

-- A word as the value of parameter p (its described type).
local function param_value(p, v)
  local what = p.rpc
  if p.type == "id" then
    if p.rpc == "UniqueSessionId" then return sid_arg(v, what) end
    return id_arg(v, what)
  elseif p.type == "uint" or p.type == "int" then
    local n = math.tointeger(tonumber(v))
    if not n then error("iscsicli: " .. what .. " must be a number", 0) end
    return n
  elseif p.type == "bool" then
    local l = v:lower()
    if l == "true" or l == "t" or l == "1" or l == "yes" then return true end
    if l == "false" or l == "f" or l == "0" or l == "no" then return false end
    error("iscsicli: " .. what .. " must be true or false", 0)
  elseif p.type == "policy" then
    return math.tointeger(tonumber(v)) or v
  elseif p.type == "portals" or p.type == "array" then
    if v:find("^%s*%[") then return json_value(v, what) end
    local list = {}
    for w in v:gmatch("[^,]+") do list[#list + 1] = math.tointeger(tonumber(w)) or w end
    return list
  elseif p.type == "object" then
    return json_value(v, what)
  end
  if p.secret then mcsi.add_secret(v) end
  return v
end

-- The method's parameters from a command line: { RpcName = value }.
local function generic_params(command, a)
  local own, sets = op_params(command)
  local by_name = {}
  for _, p in ipairs(own) do by_name[p.rpc:lower()] = p end
  for _, p in ipairs(sets) do by_name[p.rpc:lower()] = p end
  local params, pos = {}, 1
  for _, w in ipairs(a) do
    local k, v = tostring(w):match("^([%a][%w]*)=(.*)$")
    local p = k and by_name[k:lower()]
    if k and not p and k:find("^%u") and v ~= "" and not v:find("^=") then   -- Name=Value (not base64's padding)
      local best, bd
      for name, q in pairs(by_name) do
        local d = distance(k, name)
        if not bd or d < bd then best, bd = q.rpc, d end
      end
      error("iscsicli: " .. command .. " has no parameter " .. k
        .. ((bd and bd <= 2) and (": did you mean " .. best .. "?") or "") .. " (see " .. command .. " --help)", 0)
    end
    if not p then
      p, v = own[pos], tostring(w)
      if not p then error("iscsicli: " .. command .. " takes " .. #own .. " arguments (see " .. command .. " --help)", 0) end
      pos = pos + 1
    end
    if not default(v) then params[p.rpc] = param_value(p, v) end
  end
  for _, p in ipairs(own) do
    if p.required and params[p.rpc] == nil then
      error("iscsicli: " .. command .. " needs <" .. p.rpc .. "> (see " .. command .. " --help)", 0)
    end
  end
  return params
end

local function run_generic(command, a)
  local params = generic_params(command, a)
  if not remote() then return needs_daemon(command) end
  local r, st = mcsi.rpc(COMMAND_OPS[command].rpc, params)
  local shown = {}
  for k, v in pairs(type(r) == "table" and r or {}) do
    if k ~= "Status" and k ~= "StatusName" and k ~= "StatusMessage" then shown[k] = v end
  end
  if next(shown) ~= nil then json_result(shown) end
  if pretty.json then return st end
  if next(shown) ~= nil then out(pretty.listing(shown)) end
  return show_status(st)
end

-- Subscribe [Kinds]: the daemon's events as they come, one line each (one
-- JSON object each under --json, before the command's own), until --timeout
-- seconds have passed, or Ctrl-C. Unsubscribe stays generic.
function commands.Subscribe(a)
  local params = generic_params("Subscribe", a)
  if not remote() then return needs_daemon("Subscribe") end
  local kinds = {}
  for _, k in ipairs(params.Kinds or {}) do
    if not mcsi.events[k] then error("iscsicli: Subscribe: no event kind " .. tostring(k), 0) end
    kinds[k] = true
  end
  local function show(ev)
    if next(kinds) and not kinds[ev.kind] then return end
    if pretty.json then
      out(pretty.json_encode({ event = ev.kind, session_id = ev.session_id, connection_id = ev.connection_id,
                               status = ev.status, reason = ev.reason, old_state = ev.old_state, new_state = ev.new_state }))
    else
      out(string.format("%-20s session %s  connection %s  %s%s", ev.kind, hex(ev.session_id),
        ev.connection_id and hex(ev.connection_id) or "-", ev.status.name, ev.reason ~= "" and (": " .. ev.reason) or ""))
    end
    io.stdout:flush()
  end
  local h = mcsi.on(show)
  local _, st = mcsi.rpc("Subscribe", params)       -- answered: every later event reaches us
  if not st.ok then
    mcsi.off(h)
    return show_status(st)
  end
  io.stderr:write("iscsicli: listening to mcsid's events (until --timeout or Ctrl-C)\n")
  io.stderr:flush()
  local deadline = M.timeout and mcsi.now() + M.timeout * 1000
  while not deadline or mcsi.now() < deadline do
    mcsi.poll(deadline and math.max(1, math.min(200, math.floor(deadline - mcsi.now()))) or 200)
  end
  mcsi.off(h)
  return show_status(st)
end

for command, row in pairs(COMMAND_OPS) do
  if row.generic and not commands[command] then
    commands[command] = function(a) return run_generic(command, a) end
  end
end

-- Usage -------------------------------------------------------------------------

-- The Microsoft commands' arguments (their order; * = the default), in the order help lists them.
local USAGE = {
  { "AddTargetPortal", [=[<Address> <Socket> [<HBA> <Port> <SecurityFlags> <LoginFlags>
      <HeaderDigest> <DataDigest> <MaxConnections> <Time2Wait> <Time2Retain>
      <Username> <Password> <AuthType>]]=] },
  { "QAddTargetPortal", "<Address[:Socket]> [<Username> <Password>]" },
  { "RemoveTargetPortal", "<Address> <Socket>" },
  { "ListTargetPortals", "" },
  { "RefreshTargetPortal", "<Address> <Socket>" },
  { "ListTargets", "[<ForceUpdate>]" },
  { "TargetInfo", "<TargetName>" },
  { "LoginTarget", [[<TargetName> <ReportToPNP> <TargetAddress> <TargetSocket>
      <InitiatorInstance> <Port> <SecurityFlags> <LoginFlags> <HeaderDigest>
      <DataDigest> <MaxConnections> <Time2Wait> <Time2Retain> <Username>
      <Password> <AuthType> <Key> <MappingCount> ...]] },
  { "QLoginTarget", "<TargetName> [<Username> <Password>]" },
  { "LogoutTarget", "<SessionId>" },
  { "AddConnection", [[<SessionId> <InitiatorInstance> <Port> <TargetAddress>
      <TargetSocket> <SecurityFlags> <LoginFlags> <HeaderDigest> <DataDigest>
      <MaxConnections> <Time2Wait> <Time2Retain> <Username> <Password> <AuthType> <Key>]] },
  { "QAddConnection", "<SessionId> <InitiatorInstance> <TargetAddress> [<TargetSocket>] [<Username> <Password>]" },
  { "RemoveConnection", "<SessionId> <ConnectionId>" },
  { "SessionList", "[<ShowSessionInfo>]" },
  { "ReportTargetMappings", "" },
  { "ScsiInquiry", "<SessionId> <LUN> <EvpdCmddt> <PageCode>" },
  { "ReadCapacity", "<SessionId> <LUN>" },
  { "ReportLUNs", "<SessionId>" },
  { "PersistentLoginTarget", [[<TargetName> <ReportToPNP> <TargetAddress> <TargetSocket> ...
      (LoginTarget's arguments) [Connections=N] [LoadBalancePolicy=P]
      [PolicyScript=NAME] [Portals=ADDR:PORT,ADDR:PORT]        (mcsid)]] },
  { "ListPersistentTargets", "(mcsid)" },
  { "RemovePersistentTarget", "<TargetName>                         (mcsid)" },
  { "NodeName", "" },
  { "VersionInfo", "" },
}
local usage_of = {}
for _, u in ipairs(USAGE) do usage_of[u[1]] = u[2] end

-- A generic command's arguments: its own parameters, [optional] ones bracketed.
local function generic_usage(command)
  local own, sets = op_params(command)
  local w = {}
  for _, p in ipairs(own) do w[#w + 1] = p.required and ("<" .. p.rpc .. ">") or ("[<" .. p.rpc .. ">]") end
  if #sets > 0 then w[#w + 1] = "[Name=Value ...]" end
  return table.concat(w, " ")
end

local function generic_names()
  local list = {}
  for c, row in pairs(COMMAND_OPS) do if row.generic then list[#list + 1] = c end end
  table.sort(list)
  return list
end

local function build_usage()
  local lines = {
    'usage: mcsi-iscsicli [--socket PATH | --local] [--timeout SECONDS] [--json] Command args... | - (stdin)',
    '       (in mcsi: iscsicli "Command args..."); Command --help, or help Command: its own usage',
    "Commands (Microsoft's argument order; * = the default; a <SessionId> is an id or its target's name):",
  }
  for _, u in ipairs(USAGE) do lines[#lines + 1] = "  " .. u[1] .. (u[2] ~= "" and (" " .. u[2]) or "") end
  lines[#lines + 1] = "The daemon's other methods (mcsid; arguments: the method's parameters in order, or Name=Value):"
  for _, c in ipairs(generic_names()) do
    local u = generic_usage(c)
    lines[#lines + 1] = "  " .. c .. (u ~= "" and (" " .. u) or "")
  end
  lines[#lines + 1] = [[
Options, anywhere on the line (-- ends them):
  --socket PATH   mcsid's socket (default: MCSI_SOCKET, else /run/mcsi/mcsid.sock); must answer
  --local         no daemon: sessions live in this process and end with it
  --timeout S     each command waits at most S seconds for mcsid (ISDSC_SERVICE_DID_NOT_RESPOND)
  --json          every command prints one object {"command","status":{code,name,message,ok},"result"}
With mcsid running the commands go to it: sessions, portals and persistent targets
outlive the invocation; AddTargetPortal contacts the portal and stores it. Without
a daemon (no socket) a notice says so and the sessions end with the invocation; a
socket that refuses (not running, not this user's) is an error. "contacting
mcsid..." on stderr when a command waits for it more than a second.
Digests: T or crc32c for CRC32C, * F or none for none. AuthType: 0 none,
1 CHAP, 2 mutual CHAP (Key = the target's secret, Username/Password ours).
Ids print as 0x%016x and are read as decimal or 0x hex. Secrets are never shown.
As a program, MCSI_PORTALS (blank-separated) are added as target portals first (no daemon);
exit status 0 all succeeded, 1 a command failed (or mcsid unreachable), 2 bad command line.]]
  return table.concat(lines, "\n")
end

M.usage = build_usage()
M.command_ops = COMMAND_OPS       -- which command is which operation (tests walk the daemon's methods)
M.help = M.usage

local lower = {}
for k in pairs(commands) do lower[k:lower()] = k end

-- The nearest command to a mistyped one (nil when none is near).
function M.suggest(name)
  local best, bd
  for _, c in pairs(lower) do
    local d = distance(name, c)
    if not bd or d < bd or (d == bd and c < best) then best, bd = c, d end
  end
  if bd and bd <= math.max(2, #name // 3) then return best end
  return nil
end

local function unknown(name)
  local s = M.suggest(name)
  return "iscsicli: unknown command '" .. name .. "'" .. (s and (": did you mean " .. s .. "?") or "")
    .. " (iscsicli help lists them)"
end

-- The usage of one command: its arguments, its operation (the description's doc) and, for a
-- generic command, each parameter. nil, message for an unknown command.
function M.command_help(name)
  local command = lower[name:lower()]
  if not command then return nil, unknown(name) end
  local row = COMMAND_OPS[command]
  local lines = {}
  if row and row.generic then
    lines[1] = "usage: mcsi-iscsicli " .. command .. " " .. generic_usage(command)
  else
    lines[1] = "usage: mcsi-iscsicli " .. command .. " " .. (usage_of[command] or "")
  end
  if row then
    local h = OP_HELP[row.op]
    local faces = { "mcsid " .. row.rpc }
    if row.lua then faces[#faces + 1] = "mcsi." .. row.lua end
    lines[#lines + 1] = table.concat(faces, ", ") .. ": " .. h.doc
    if row.generic then
      local own, sets = op_params(command)
      local function param_line(p)
        local t = p.type .. (p.values and (" " .. table.concat(p.values, "|")) or "")
        return string.format("  %-22s %s%s%s%s", p.rpc, t, p.required and ", required" or "",
          p.default and (", default " .. p.default) or "", p.doc and (": " .. p.doc) or "")
      end
      if #own > 0 then lines[#lines + 1] = "Parameters (in this order, or Name=Value):" end
      for _, p in ipairs(own) do lines[#lines + 1] = param_line(p) end
      if #sets > 0 then lines[#lines + 1] = "Also (Name=Value only):" end
      for _, p in ipairs(sets) do lines[#lines + 1] = param_line(p) end
      if own[1] and own[1].rpc == "UniqueSessionId" then
        lines[#lines + 1] = "UniqueSessionId: decimal, 0x hex, or the target's name (its one session)."
      end
      if command == "Subscribe" then
        lines[#lines + 1] = "Prints each event as it comes (Kinds: a,b,... or all), until --timeout SECONDS or Ctrl-C."
      end
      lines[#lines + 1] = "Needs mcsid (it is a daemon method)."
    end
  end
  return table.concat(lines, "\n")
end

local function is_help(w) return w == "--help" or w == "-h" end

-- The wait of the command running for mcsid: (M.run sets it) started (mcsi.now) and
-- told (the "contacting mcsid..." line written).
local waiting

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
  if name:lower() == "help" or is_help(name) then
    if words[1] then
      local text, err = M.command_help(words[1])
      if not text then error(err, 2) end
      out(text)
    else
      out(M.usage)
    end
    return mcsi.Status.new(0)
  end
  local canonical = lower[name:lower()]
  if not canonical then error(unknown(name), 2) end
  for _, w in ipairs(words) do
    if is_help(w) then
      out((M.command_help(canonical)))
      return mcsi.Status.new(0)
    end
  end
  local f = commands[canonical]
  local saved, saved_wait = current, waiting
  current = { name = name }
  waiting = { started = mcsi.now() }
  local results = table.pack(pcall(f, words))
  local this = current
  current, waiting = saved, saved_wait
  if not results[1] then
    local e = results[2]
    if type(e) ~= "table" or not e.status then error(e, 0) end
    results = table.pack(true, show_status(e.status))
  end
  if pretty.json then
    local st = results[results.n]
    out(pretty.json_encode({ command = name, status = st, result = this.result }))
  end
  return table.unpack(results, 2, results.n)
end

-- --timeout and "contacting mcsid...": every wait for the daemon's answer
-- (mcsi.remote's blocking calls wait on mcsi._unix.wait) goes in slices;
-- past a second the line is written once per command, past the deadline the
-- command ends with ISDSC_SERVICE_DID_NOT_RESPOND.
function M.bound_daemon_waits(timeout_s, tell)
  local unix = mcsi._unix
  local wait = unix.wait
  unix.wait = function(fd, ms)
    local w = waiting
    if not w then return wait(fd, ms) end
    while true do
      local elapsed = mcsi.now() - w.started
      if tell and not w.told and elapsed >= 1000 then
        w.told = true
        io.stderr:write("contacting mcsid...\n")
        io.stderr:flush()
      end
      if timeout_s and elapsed >= timeout_s * 1000 then
        fail_with(failure("ISDSC_SERVICE_DID_NOT_RESPOND",
          string.format("mcsid did not answer within %g s (--timeout)", timeout_s)))
      end
      local slice = 100
      if ms and ms >= 0 and ms < slice then slice = ms end
      if wait(fd, slice) then return true end
      if ms and ms >= 0 then
        ms = ms - slice
        if ms <= 0 then return false end
      end
    end
  end
end

setmetatable(M, { __call = function(_, ...) return M.run(...) end })

if modname == "mcsi.iscsicli" or modname == "iscsicli" then return M end

-- As a program --------------------------------------------------------------------
-- Options anywhere on the line (-- ends them): --socket PATH must answer;
-- else MCSI_SOCKET or the default socket: a daemon there gets the commands,
-- no socket at all means this process (a notice on stderr says so), a
-- socket that refuses (not listening, not this user's) is an error.
-- --local: this process, no notice.
local args, opts = {}, {}
do
  local argv, i = { ... }, 1
  local function value(o)
    i = i + 1
    if argv[i] == nil then io.stderr:write("iscsicli: ", o, " needs a value\n") os.exit(2) end
    return argv[i]
  end
  while argv[i] ~= nil do
    local a = argv[i]
    if a == "--" then
      table.move(argv, i + 1, #argv, #args + 1, args)
      break
    elseif a == "--local" then opts.keep_local = true
    elseif a == "--json" then pretty.json = true
    elseif a == "--socket" then opts.socket = value(a)
    elseif a:find("^%-%-socket=") then opts.socket = a:sub(10)
    elseif a == "--timeout" or a:find("^%-%-timeout=") then
      local v = a == "--timeout" and value(a) or a:sub(11)
      opts.timeout = tonumber(v)
      if not opts.timeout or opts.timeout <= 0 then
        io.stderr:write("iscsicli: --timeout needs a number of seconds above 0\n")
        os.exit(2)
      end
    elseif is_help(a) then opts.help = true
    else args[#args + 1] = a end
    i = i + 1
  end
end

-- Help never contacts anything.
if opts.help or (args[1] and args[1]:lower() == "help") then
  local name = args[1]
  if name and name:lower() == "help" then name = args[2] end
  if not name then out(M.usage) os.exit(0) end
  local text, err = M.command_help(name)
  if not text then io.stderr:write(err, "\n") os.exit(2) end
  out(text)
  os.exit(0)
elseif #args == 0 then
  io.stderr:write("iscsicli: no command\n", M.usage, "\n")
  os.exit(2)
elseif args[1] ~= "-" and not lower[args[1]:lower()] then
  io.stderr:write(unknown(args[1]), "\n")
  os.exit(2)
end

local function unreachable(path, err)
  if pretty.json then
    out(pretty.json_encode({ command = args[1], status = failure("ISDSC_SERVICE_NOT_RUNNING",
      "mcsid at " .. path .. " cannot be reached: " .. tostring(err)) }))
  end
  io.stderr:write("iscsicli: mcsid at ", path, " cannot be reached: ", tostring(err),
    " (is mcsid running, and may this user use its socket? --local runs without it)\n")
  os.exit(1)
end

M.timeout = opts.timeout
M.bound_daemon_waits(opts.timeout, true)         -- also under `mcsi --connect`
if not remote() and not opts.keep_local then
  local remote_mod = require "mcsi.remote"
  local wanted = opts.socket                      -- asked for on this line: it must answer
  local path = wanted or os.getenv("MCSI_SOCKET") or remote_mod.DEFAULT_SOCKET
  waiting = { started = mcsi.now() }
  local ok, res, st = pcall(mcsi.connect, path)
  waiting = nil
  if not ok then                                  -- its GetVersion did not come back in time
    if type(res) == "table" and res.status then unreachable(path, res.status.message) end
    error(res, 0)
  end
  local why = not res and tostring(st and st.message) or ""
  if not res and not wanted and why:find("No such file or directory", 1, true) then
    io.stderr:write("iscsicli: no mcsid (no socket at ", path, "): what this invocation makes (sessions, ",
      "portals) ends with it\n")
  elseif not res then
    unreachable(path, why)
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
if #args == 1 and args[1] == "-" then
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
