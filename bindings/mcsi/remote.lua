-- SPDX-License-Identifier: LGPL-2.1-or-later
--[[
mcsi.remote: the mcsi Lua API served by the daemon mcsid instead of this
process's own engine. `mcsi.connect([socket])` (or `mcsi --connect [SOCKET]`)
installs it in the module table itself, so a script that did
`local mcsi = require "mcsi"` runs unchanged: the same function names, the
same ids (the daemon's), mcsi.Status objects, mcsi.Session / mcsi.Connection
style objects, the callback form (a function as last argument), the coroutine
form (inside mcsi.spawn the blocking-looking calls yield) and events
(mcsi.on: the daemon's Event notifications, delivered from mcsi.run / poll /
sleep as in-process ones are).

Each call is one JSON-RPC 2.0 request (doc/protocol.md) on the socket, one
JSON text per line (JSON: lua-cjson; the socket: mcsi._unix, lunix.c).
Which method a function calls and what its parameters are named there come
from the one description of every operation (api/operations.lua, generated
into mcsi.api_ops): the functions below name parameters canonically
(session_id, lun, portal) and Client:op maps them; an operation described
with a Lua and a JSON-RPC face but no function here is served by a generic
one (its positional arguments, the method's outputs as they come). The
socket is watched with mcsi.watch only while something waits for it (a
callback-form call, a coroutine, an event handler), so mcsi.run() still
returns when nothing is left. Timers, mcsi.now, mcsi.Status and the tables
(mcsi.status, mcsi.events, mcsi.policies) stay local.

CHAP secrets travel inline (Username / Secret, TargetUsername / TargetSecret)
on the private socket, never to any file: secret_file and secret_env are read
here, with this process's rights, as in-process (mcsid logs no request text,
and never opens a file on a client's behalf that the client cannot read).

SCSI I/O goes through the daemon too: mcsi.read / mcsi.write (ScsiRead /
ScsiWrite, data as base64), mcsi.scsi_command (ScsiCommand),
mcsi.scsi_test_unit_ready, mcsi.lun_reset, mcsi.abort_task, with the same
results and Status objects as in-process. A read of more than 2 MiB or a
write of more than 512 KiB (one request line is at most 1 MiB, an answer
the client does not read at once at most output_max, 4 MiB) goes as several
requests, in order, after a READ CAPACITY; a failure stops it with that
piece's Status. mcsi.scsi_command moves at most 512 KiB out and what the
daemon allows in (3 MiB by default). mcsi.scsi_submit (a tag at once, the
result later) is not served: ISDSC_REQUEST_NOT_SUPPORTED.
]]
local cjson = require "cjson"
local api = require "mcsi.api_ops"    -- generated from api/operations.lua: names and parameters of every operation

local M = {}

M.DEFAULT_SOCKET = "/run/mcsi/mcsid.sock"
local TOKEN = {}                       -- what a waiting coroutine yields

local function tointeger(v) return v and (math.tointeger(v) or v) end

-- ---- the client ---------------------------------------------------------------

local Client = {}
Client.__index = Client

-- As in-process (lstatus.c, lmcsi_push_status_detail): a failing Status's
-- message is its own text, then ": " and the operation's detail when it has one.
local function status_of(mcsi, res)
  local code = tointeger(res.Status) or 0
  local msg = res.StatusMessage
  if code == 0 then return mcsi.Status.new(0) end
  local base = mcsi.Status.new(code).message
  if type(msg) ~= "string" or msg == "" or msg == base or msg == "Success" then return mcsi.Status.new(code) end
  return mcsi.Status.new(code, mcsi.redact(base .. ": " .. msg))
end

local function report(what, err)
  io.stderr:write("mcsi: error in ", what, ": ", tostring(err), "\n")
  io.stderr:flush()
end

function Client:need_watch()
  local want = self.keep_watch or self.waiting > 0 or next(self.handlers) ~= nil
  if want and not self.watch then
    self.watch = self.local_api.watch(self.fd, function() self:pump() end)
  elseif not want and self.watch then
    self.local_api.cancel(self.watch)
    self.watch = nil
  end
end

-- The daemon is gone: every call waiting gets ISDSC_SERVICE_DID_NOT_RESPOND.
function Client:lost(why)
  if self.closed then return end
  self.closed = true
  if self.watch then self.local_api.cancel(self.watch) self.watch = nil end
  self.local_api._unix.close(self.fd)
  local pending = self.pending
  self.pending = {}
  for _, on in pairs(pending) do
    on({ error = { code = -1, message = "mcsid: " .. tostring(why) } })
  end
  if self.on_lost then self.on_lost(why) end
end

function Client:dispatch(msg)
  if msg.id ~= nil and msg.id ~= cjson.null then
    local on = self.pending[msg.id]
    self.pending[msg.id] = nil
    if on then on(msg) end
  elseif msg.method == "Event" and type(msg.params) == "table" then
    self:event(msg.params)
  elseif self.on_notification and type(msg.method) == "string" then
    self.on_notification(msg.method, type(msg.params) == "table" and msg.params or {})
  end
end

-- A notification (no answer): a policy runner's log lines and its end.
function Client:notify(method, params)
  if self.closed then return false end
  local req = { jsonrpc = "2.0", method = method }
  if params and next(params) ~= nil then req.params = params end
  local ok, err = self.local_api._unix.send(self.fd, cjson.encode(req) .. "\n")
  if not ok then self:lost(err) end
  return ok
end

-- A coroutine of mcsi.spawn raised: the runner's hook hears it, else a report.
function Client:coroutine_failed(co, err)
  if self.on_coroutine_error then return self.on_coroutine_error(co, err) end
  report("an mcsi coroutine", self.local_api.redact(debug.traceback(co, tostring(err))))
end

-- JSON numbers come as floats from lua-cjson: whole ones become integers
-- (ids, counts, Status codes), as the in-process API gives them.
local function integers(v)
  if type(v) == "table" then
    for k, x in pairs(v) do v[k] = integers(x) end
    return v
  end
  if math.type(v) == "float" then return math.tointeger(v) or v end
  return v
end

-- Reads what the socket has and handles every whole line.
function Client:pump()
  if self.closed then return end
  local s, err = self.local_api._unix.recv(self.fd)
  if not s then return self:lost(err) end
  self.buf = self.buf .. s
  while not self.closed do
    local nl = self.buf:find("\n", 1, true)
    if not nl then break end
    local line = self.buf:sub(1, nl - 1)
    self.buf = self.buf:sub(nl + 1)
    local ok, msg = pcall(cjson.decode, line)
    if ok and type(msg) == "table" then self:dispatch(integers(msg)) end
  end
end

function Client:send(method, params, on)
  if self.closed then
    on({ error = { code = -1, message = "mcsid: not connected" } })
    return
  end
  self.next_id = self.next_id + 1
  local id = self.next_id
  self.pending[id] = on
  local req = { jsonrpc = "2.0", id = id, method = method }
  if params and next(params) ~= nil then req.params = params end
  local ok, err = self.local_api._unix.send(self.fd, cjson.encode(req) .. "\n")
  if not ok then self:lost(err) end
end

-- The Status of an answer (a protocol error is ISDSC_INVALID_PARAMETER or,
-- when the daemon is gone, ISDSC_SERVICE_DID_NOT_RESPOND).
function Client:answer_status(msg)
  local mcsi = self.local_api
  if msg.error then
    local name = msg.error.code == -1 and "ISDSC_SERVICE_DID_NOT_RESPOND" or "ISDSC_INVALID_PARAMETER"
    return mcsi.Status.new(name, tostring(msg.error.message))
  end
  return status_of(mcsi, msg.result or {})
end

-- The JSON-RPC parameters of an operation from its values named as the
-- description names them (api/operations.lua: session_id -> UniqueSessionId,
-- lun -> Lun, ...). A name the operation does not have is a bug here: raise.
local function rpc_params(op, values)
  local p = {}
  for k, v in pairs(values or {}) do
    local spec = op.param[k]
    if not spec or not spec.rpc then error("mcsi.remote: " .. op.name .. " has no parameter " .. tostring(k), 2) end
    p[spec.rpc] = v
  end
  return p
end

-- One described operation (mcsi.api_ops): its method and parameters from the
-- description, then as Client:call.
function Client:op(fname, values, conv, fn, after)
  local op = assert(api.ops[fname], fname)
  return self:call(op.lua or fname, op.rpc, rpc_params(op, values), conv, fn, after)
end

-- One operation: method + params; conv(result, st) -> the values before the
-- Status. fn: the callback form. Returns what the blocking form returns.
function Client:call(fname, method, params, conv, fn, after)
  local mcsi = self.local_api
  local function results(msg)
    local st = self:answer_status(msg)
    if after then after() end
    if st.ok then return st, conv(msg.result or {}, st, msg.result) end
    return st, conv(nil, st, msg.result)
  end
  local function pack(st, ...) return table.pack(...), st end
  if fn then
    self.waiting = self.waiting + 1
    self:send(method, params, function(msg)
      self.waiting = self.waiting - 1
      self:need_watch()
      local vals, st = pack(results(msg))
      vals[vals.n + 1] = st
      local ok, err = xpcall(fn, debug.traceback, table.unpack(vals, 1, vals.n + 1))
      if not ok then report("an mcsi completion callback", mcsi.redact(tostring(err))) end
    end)
    self:need_watch()
    return mcsi.Status.new(0)
  end
  local co = coroutine.running()
  if self.threads[co] then
    local vals, st
    self.waiting = self.waiting + 1
    self:send(method, params, function(msg)
      self.waiting = self.waiting - 1
      self:need_watch()
      vals, st = pack(results(msg))
      self:resume(co)
    end)
    self:need_watch()
    while not st do coroutine.yield(TOKEN) end
    return table.unpack(self:with_status(vals, st), 1, vals.n + 1)
  end
  if self.in_callback > 0 then
    error("mcsi." .. fname .. ": blocking call from inside an mcsi event or completion callback "
      .. "(schedule it with mcsi.timer(0, fn) instead)", 3)
  end
  local vals, st
  self:send(method, params, function(msg) vals, st = pack(results(msg)) end)
  while not st do
    if self.closed then break end
    mcsi._unix.wait(self.fd, -1)
    self:pump()
  end
  return table.unpack(self:with_status(vals, st), 1, vals.n + 1)
end

function Client:with_status(vals, st)
  vals[vals.n + 1] = st
  return vals
end

function Client:resume(co)
  local ok, err = coroutine.resume(co)
  if not ok then self:coroutine_failed(co, err) end
  if coroutine.status(co) == "dead" then
    self.threads[co] = nil
  elseif ok and err ~= TOKEN then             -- a bare coroutine.yield: again next turn
    self.local_api.timer(0, function() self:resume(co) end)
  end
end

-- ---- values: the daemon's JSON as the in-process Lua tables ---------------------

local function portal_text(p)
  if type(p) ~= "table" then return p end
  local a = p.Address or ""
  if a:find(":", 1, true) then a = "[" .. a .. "]" end
  return a .. ":" .. tostring(tointeger(p.Port))
end

local function digest(d) return d == "CRC32C" and "crc32c" or "none" end

local function conn_info(c)
  local s = c.Statistics or {}
  return {
    id = tointeger(c.UniqueConnectionId), cid = tointeger(c.CID), state = c.State,
    portal = portal_text(c.TargetPortal), local_addr = c.InitiatorAddress,
    local_port = tointeger(c.InitiatorPort), remote_addr = c.TargetAddress,
    remote_port = tointeger(c.TargetPort), leading = c.Leading, primary = c.Primary, active = c.Active,
    weight = tointeger(c.Weight), header_digest = digest(c.HeaderDigest), data_digest = digest(c.DataDigest),
    max_recv_dsl = tointeger(c.MaxRecvDataSegmentLength), max_send_dsl = tointeger(c.MaxSendDataSegmentLength),
    queue_depth = tointeger(c.QueueDepth),
    stats = {
      bytes_sent = tointeger(s.BytesSent), bytes_received = tointeger(s.BytesReceived),
      pdus_sent = tointeger(s.PDUsSent), pdus_received = tointeger(s.PDUsReceived),
      commands = tointeger(s.Commands), digest_errors = tointeger(s.DigestErrors),
      timeout_errors = tointeger(s.TimeoutErrors), format_errors = tointeger(s.FormatErrors),
    },
  }
end

local function session_info(s)
  local n = s.Negotiated or {}
  local info = {
    id = tointeger(s.UniqueSessionId), target = s.TargetName, target_alias = s.TargetAlias, isid = s.ISID,
    tsih = tointeger(s.TSIH), tpgt = tointeger(s.TPGT), state = s.State, discovery = s.Discovery,
    policy = tointeger(s.LoadBalancePolicy), policy_name = s.LoadBalancePolicyName,
    recoveries = tointeger(s.Recoveries), commands_retried = tointeger(s.CommandsRetried),
    max_connections = tointeger(n.MaxConnections), max_burst_length = tointeger(n.MaxBurstLength),
    first_burst_length = tointeger(n.FirstBurstLength), max_outstanding_r2t = tointeger(n.MaxOutstandingR2T),
    default_time2wait = tointeger(n.DefaultTime2Wait), default_time2retain = tointeger(n.DefaultTime2Retain),
    initial_r2t = n.InitialR2T, immediate_data = n.ImmediateData, data_pdu_in_order = n.DataPDUInOrder,
    data_sequence_in_order = n.DataSequenceInOrder, error_recovery_level = tointeger(n.ErrorRecoveryLevel),
    cmdsn = tointeger(s.CmdSN), exp_cmdsn = tointeger(s.ExpCmdSN), max_cmdsn = tointeger(s.MaxCmdSN),
    connection_count = tointeger(s.ConnectionCount), persistent = s.Persistent, connections = {},
  }
  for i, c in ipairs(s.Connections or {}) do info.connections[i] = conn_info(c) end
  return info
end

local function hex_bytes(h)
  return (h or ""):gsub("%x%x", function(b) return string.char(tonumber(b, 16)) end)
end

local function bytes_hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- base64 (RFC 4648, padded), as the daemon's Data members are. Bytes go
-- through string.byte / string.char a block at a time (no string per group).
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local ENC, DEC = {}, {}
for i = 0, 63 do ENC[i] = B64:byte(i + 1) DEC[B64:byte(i + 1)] = i end
local BLOCK = 3 * 1024                 -- bytes per string.char call
local byte, char, unpack = string.byte, string.char, table.unpack

local function base64_encode(s)
  local out, n, pad = {}, #s, 0
  local rem = n % 3
  if rem > 0 then pad = 3 - rem s = s .. string.rep("\0", pad) n = n + pad end
  for at = 1, n, BLOCK do
    local b, o, k = { byte(s, at, math.min(at + BLOCK - 1, n)) }, {}, 0
    for j = 1, #b, 3 do
      local v = b[j] << 16 | b[j + 1] << 8 | b[j + 2]
      o[k + 1], o[k + 2], o[k + 3], o[k + 4] = ENC[v >> 18], ENC[v >> 12 & 63], ENC[v >> 6 & 63], ENC[v & 63]
      k = k + 4
    end
    out[#out + 1] = char(unpack(o, 1, k))
  end
  local text = table.concat(out)
  if pad > 0 then text = text:sub(1, #text - pad) .. string.rep("=", pad) end
  return text
end

local function base64_decode(s)
  s = s or ""
  local pad = s:sub(-2) == "==" and 2 or s:sub(-1) == "=" and 1 or 0
  if pad > 0 then s = s:sub(1, #s - pad) .. string.rep("A", pad) end
  local out, n = {}, #s
  for at = 1, n, 4 * 1024 do
    local b, o, k = { byte(s, at, math.min(at + 4 * 1024 - 1, n)) }, {}, 0
    for j = 1, #b - 3, 4 do
      local v = DEC[b[j]] << 18 | DEC[b[j + 1]] << 12 | DEC[b[j + 2]] << 6 | DEC[b[j + 3]]
      o[k + 1], o[k + 2], o[k + 3] = v >> 16, v >> 8 & 255, v & 255
      k = k + 3
    end
    out[#out + 1] = char(unpack(o, 1, k))
  end
  local bytes = table.concat(out)
  return pad > 0 and bytes:sub(1, #bytes - pad) or bytes
end

-- ---- arguments: the in-process options as the daemon's parameters ------------------

-- CHAP options -> Username / Secret (...), the secrets inline in the request:
-- the socket is private and mcsid logs no request text. secret_file and
-- secret_env are read here, with this process's rights, exactly as the
-- in-process calls read them (read_chap: lsecret.c's reader, which
-- mcsi.connect gives install): mcsid never opens a file for us.
local function chap_params(p, chap, read_chap)
  if chap == nil then return end
  if type(chap) ~= "table" then error("chap must be a table { username =, secret = | secret_file = | secret_env = }", 4) end
  if not read_chap then
    -- A policy runner's client: it reads no file and holds no secret. The
    -- request still says it wants CHAP (the user name alone), so that mcsid
    -- answers it with a Status (a policy may name no CHAP account).
    p.username = tostring(chap.username or "")
    return
  end
  local ok, user, secret, tuser, tsecret = pcall(read_chap, chap)
  if not ok then error((tostring(user):gsub("^[^\n]-:%d+: ", "", 1)), 4) end   -- raised where the caller called
  p.username, p.secret, p.target_username, p.target_secret = user, secret, tuser, tsecret
end

local function login_params(o, read_chap)
  local p = { target = o.target, portal = o.portal, max_connections = o.max_connections,
              login_timeout_ms = o.login_timeout_ms }
  if o.header_digest then p.header_digest = o.header_digest:lower() == "crc32c" and "CRC32C" or "None" end
  if o.data_digest then p.data_digest = o.data_digest:lower() == "crc32c" and "CRC32C" or "None" end
  chap_params(p, o.chap, read_chap)
  return p
end

-- ---- the API --------------------------------------------------------------------

-- Splits the callback form: (args..., fn) -> fn, n (args before it).
local function split_fn(...)
  local n = select("#", ...)
  local last = n > 0 and select(n, ...) or nil
  if type(last) == "function" then return last, n - 1 end
  return nil, n
end

local function build(client, mcsi, orig, read_chap)
  local R = {}
  local SessionM, ConnM = {}, {}

  local function sid_of(v)
    if type(v) == "table" and getmetatable(v) == SessionM then
      if v.closed then error("attempt to use a closed mcsi.Session", 3) end
      return v.id
    end
    return tointeger(v)
  end
  local function cid_of(v)
    if type(v) == "table" and getmetatable(v) == ConnM then return v.id end
    return tointeger(v)
  end

  local function new_session(sid, owned)
    return setmetatable({ id = sid, owned = owned, closed = false }, SessionM)
  end
  local function new_connection(s, cid, owned)
    return setmetatable({ id = cid, session_id = s.id, session = s, owned = owned, closed = false }, ConnM)
  end

  function R.login_to_target(opts, ...)
    local fn = split_fn(...)
    if type(opts) ~= "table" then error("bad argument #1 to 'login_to_target' (table expected)", 2) end
    local p = login_params(opts, read_chap)
    return client:op("login_to_target", p, function(r)
      if not r then return nil, nil end
      return tointeger(r.UniqueSessionId), tointeger(r.UniqueConnectionId)
    end, fn)
  end

  function R.login(opts, ...)
    local fn = split_fn(...)
    local p = login_params(opts, read_chap)
    return client:call("login", api.ops.login_to_target.rpc, rpc_params(api.ops.login_to_target, p), function(r)
      if not r then return nil end
      return new_session(tointeger(r.UniqueSessionId), true)
    end, fn)
  end

  function R.logout_from_target(s, ...)
    local fn = split_fn(...)
    local obj = type(s) == "table" and getmetatable(s) == SessionM and s or nil
    return client:op("logout_from_target", { session_id = sid_of(s) },
      function(_, st) if obj and st.ok then obj.closed = true end end, fn)
  end

  local function add_params(s, o)
    if type(o) == "string" then o = { portal = o } end
    local p = { session_id = sid_of(s), portal = o.portal, weight = o.weight,
                login_timeout_ms = o.login_timeout_ms }
    chap_params(p, o.chap, read_chap)
    return p
  end

  function R.add_connection_to_session(s, o, ...)
    local fn = split_fn(...)
    local p = add_params(s, o)
    return client:op("add_connection_to_session", p, function(r)
      return r and tointeger(r.UniqueConnectionId) or nil
    end, fn)
  end

  function R.remove_connection_from_session(s, c, ...)
    local fn = split_fn(...)
    local conn = type(c) == "table" and getmetatable(c) == ConnM and c or nil
    return client:op("remove_connection_from_session", { session_id = sid_of(s), connection_id = cid_of(c) },
      function(_, st) if conn and st.ok then conn.closed = true end end, fn)
  end

  function R.remove_connection_async(s, c, fn)
    return R.remove_connection_from_session(s, c, fn or function() end)
  end

  function R.send_targets(o, ...)
    local fn = split_fn(...)
    if type(o) == "string" then o = { portal = o } end
    local p = login_params(o, read_chap)
    p.target, p.max_connections = nil, nil
    return client:op("send_targets", p, function(r)
      if not r then return nil end
      local list = {}
      for i, t in ipairs(r.Targets or {}) do
        local addrs = {}
        for j, a in ipairs(t.Portals or {}) do
          addrs[j] = portal_text(a) .. "," .. tostring(tointeger(a.Tpgt))
        end
        list[i] = { name = t.TargetName, addresses = addrs }
      end
      return list
    end, fn)
  end

  function R.scsi_inquiry(s, lun, ...)
    local fn, n = split_fn(...)
    local page = n >= 1 and select(1, ...) or nil
    return client:op("scsi_inquiry", { session_id = sid_of(s), lun = lun, page = page },
      function(r)
        if not r then return nil end
        local raw = hex_bytes(r.Data)
        if page then return { page = page, raw = raw } end
        local function trim(v) return (v or ""):gsub("%z.*$", "") end
        return { peripheral_type = tointeger(r.PeripheralDeviceType), vendor = trim(r.VendorId),
                 product = trim(r.ProductId), revision = trim(r.ProductRevision), raw = raw }
      end, fn)
  end

  function R.scsi_read_capacity(s, lun, ...)
    local fn = split_fn(...)
    return client:op("scsi_read_capacity", { session_id = sid_of(s), lun = lun },
      function(r)
        if not r then return nil end
        return { blocks = tointeger(r.Blocks), block_size = tointeger(r.BlockSize), bytes = tointeger(r.Bytes) }
      end, fn)
  end

  function R.scsi_report_luns(s, ...)
    local fn = split_fn(...)
    return client:op("scsi_report_luns", { session_id = sid_of(s) }, function(r)
      if not r then return nil end
      local luns = {}
      for i, l in ipairs(r.Luns or {}) do luns[i] = tointeger(l) end
      return luns
    end, fn)
  end

  function R.set_load_balance_policy(s, policy, paths, ...)
    local fn = split_fn(paths, ...)
    if type(paths) ~= "table" then paths = nil end
    local p = { session_id = sid_of(s), policy = policy }
    if paths then                      -- each path's members as the description names them in each face
      p.paths = {}
      local members = api.ops.set_load_balance_policy.param.paths.elements
      for i, x in ipairs(paths) do
        local e = {}
        for _, m in ipairs(members) do
          local v = x[m.lua]
          if m.type == "id" then v = cid_of(v) end
          e[m.rpc] = v
        end
        p.paths[i] = e
      end
    end
    return client:op("set_load_balance_policy", p, function() end, fn)
  end

  function R.session_info(s)
    return client:op("session_info", { session_id = sid_of(s) }, function(r)
      return r and session_info(r.Session) or nil
    end)
  end

  function R.connection_info(s, c)
    local cid = cid_of(c)
    local info, st = R.session_info(s)
    if not info then return nil, st end
    for _, ci in ipairs(info.connections) do
      if ci.id == cid then return ci, st end
    end
    return nil, mcsi.Status.new("ISDSC_INVALID_CONNECTION_ID",
                                "The connection id is invalid: not a connection of that session")
  end

  function R.sessions()
    local list = client:op("sessions", nil, function(r)
      local out = {}
      for i, s in ipairs(r and r.Sessions or {}) do
        out[i] = session_info(s)
        out[i].initiator = client.initiator_name
      end
      return out
    end)
    return list or {}
  end

  function R.initiator(opts)
    if opts ~= nil then error("mcsi.initiator: the daemon's name is set in its configuration", 2) end
    return client.initiator_name
  end

  -- Events: one Subscribe (every kind) while a handler exists.
  function R.on(kind, fn)
    if type(kind) == "function" then kind, fn = nil, kind end
    if kind ~= nil and not mcsi.events[kind] then error("bad argument #1 to 'on' (no event kind '" .. tostring(kind) .. "')", 2) end
    assert(type(fn) == "function", "bad argument #2 to 'on' (function expected)")
    client.next_handler = client.next_handler + 1
    local id = -client.next_handler
    client.handlers[id] = { kind = kind, fn = fn }
    if not client.subscribed then
      client.subscribed = true
      client:send(api.ops.subscribe.rpc, nil, function() end)
    end
    client:need_watch()
    return id
  end

  function R.off(id)
    local had = client.handlers[id] ~= nil
    client.handlers[id] = nil
    client:need_watch()
    return had
  end

  function R.spawn(fn, ...)
    local co = coroutine.create(fn)
    client.threads[co] = true
    local args = table.pack(...)
    local ok, err = coroutine.resume(co, table.unpack(args, 1, args.n))
    if not ok then client:coroutine_failed(co, err) end
    if coroutine.status(co) == "dead" then client.threads[co] = nil
    elseif ok and err ~= TOKEN then orig.timer(0, function() client:resume(co) end) end
    return co
  end

  function R.sleep(ms)
    local co = coroutine.running()
    if client.threads[co] then
      local woke = false
      client.waiting = client.waiting + 1
      orig.timer(ms, function()
        woke = true
        client.waiting = client.waiting - 1
        client:resume(co)
      end)
      while not woke do coroutine.yield(TOKEN) end
      return
    end
    return orig.sleep(ms)
  end

  -- ---- SCSI I/O (ScsiRead, ScsiWrite, ScsiCommand, ...) ----

  local WRITE_MAX = 512 * 1024         -- base64 of it and the JSON around fit a 1 MiB request line

  local function check_int(v, i, fname, what, min)
    if math.type(v) ~= "integer" and not (math.type(v) == "float" and math.tointeger(v)) then
      error(string.format("bad argument #%d to '%s' (number has no integer representation)", i, fname), 3)
    end
    v = math.tointeger(v)
    if v < min then error(string.format("bad argument #%d to '%s' (%s)", i, fname, what), 3) end
    return v
  end

  -- A Status answered without asking the daemon, in the form asked for.
  local function local_status(fn, st, with_value)
    if fn then orig.timer(0, function() if with_value then fn(nil, st) else fn(st) end end) return mcsi.Status.new(0) end
    if with_value then return nil, st end
    return st
  end

  local IO_MAX = 256 * 1024 * 1024     -- bytes per mcsi.read / mcsi.write, as in-process (lscsi.c)
  local READ_CHUNK = 2 * 1024 * 1024   -- bytes per ScsiRead: its base64 fits the daemon's default output_max

  -- body() in the form asked for: blocking or coroutine as it is, the
  -- callback form in a coroutine of its own whose results go to fn.
  local function chained(fn, body)
    if not fn then return body() end
    R.spawn(function() fn(body()) end)
    return mcsi.Status.new(0)
  end

  local function block_size(sid, lun)
    local cap, st = R.scsi_read_capacity(sid, lun)
    return cap and cap.block_size, st
  end

  -- The options table { fua =, dpo = } (argument i of fname) into the
  -- request's force_unit_access / disable_page_out (ForceUnitAccess /
  -- DisablePageOut); any other key raises.
  local function io_opts(p, opts, i, fname)
    if opts == nil then return p end
    if type(opts) ~= "table" then
      error(string.format("bad argument #%d to '%s' (table expected, got %s)", i, fname, type(opts)), 3)
    end
    for k, v in pairs(opts) do
      if k == "fua" then p.force_unit_access = v and true or nil
      elseif k == "dpo" then p.disable_page_out = v and true or nil
      else error(string.format("bad argument #%d to '%s' (unknown option (fua, dpo))", i, fname), 3) end
    end
    return p
  end

  -- data, st = mcsi.read(sid, lun, lba, blocks [, opts] [, fn(data, st)]):
  -- larger reads go as several ScsiRead of at most READ_CHUNK bytes each
  -- (the protocol's line bound; the engine retries and splits by the LUN).
  function R.read(s, lun, lba, blocks, ...)
    local fn, n = split_fn(...)
    lba = check_int(lba, 3, "read", "LBA must not be negative", 0)
    blocks = check_int(blocks, 4, "read", "block count out of range", 0)
    if blocks > IO_MAX then error("bad argument #4 to 'read' (block count out of range)", 2) end
    local opts = n > 0 and (...) or nil
    local flags = io_opts({}, opts, 5, "read")
    local sid = sid_of(s)
    local function one(at, k, f)
      local p = { session_id = sid, lun = lun, lba = at, blocks = k }
      for key, v in pairs(flags) do p[key] = v end
      return client:op("read", p, function(r) return r and base64_decode(r.Data) or nil end, f)
    end
    if blocks <= READ_CHUNK // 4096 then return one(lba, blocks, fn) end
    return chained(fn, function()
      local bs, st = block_size(sid, lun)
      if not bs then return nil, st end
      if blocks * bs > IO_MAX then
        return nil, mcsi.Status.new("ISDSC_INVALID_PARAMETER", "at most 268435456 bytes per mcsi.read")
      end
      local per, parts, done = math.max(1, READ_CHUNK // bs), {}, 0
      while done < blocks do
        local k = math.min(per, blocks - done)
        local d, rst = one(lba + done, k)
        if not d then return nil, rst end
        parts[#parts + 1] = d
        done = done + k
        st = rst
      end
      return table.concat(parts), st
    end)
  end

  -- st = mcsi.write(sid, lun, lba, data [, opts] [, fn(st)]): larger writes
  -- go as several ScsiWrite of at most WRITE_MAX bytes each (the line bound).
  function R.write(s, lun, lba, data, ...)
    local fn, n = split_fn(...)
    lba = check_int(lba, 3, "write", "LBA must not be negative", 0)
    if type(data) ~= "string" then error("bad argument #4 to 'write' (string expected, got " .. type(data) .. ")", 2) end
    if #data > IO_MAX then error("bad argument #4 to 'write' (at most 256 MiB per mcsi.write)", 2) end
    local opts = n > 0 and (...) or nil
    local flags = io_opts({}, opts, 5, "write")
    local sid = sid_of(s)
    local function one(at, bytes, f)
      local p = { session_id = sid, lun = lun, lba = at, data = base64_encode(bytes) }
      for key, v in pairs(flags) do p[key] = v end
      return client:op("write", p, function() end, f)
    end
    if #data <= WRITE_MAX then return one(lba, data, fn) end
    return chained(fn, function()
      local bs, st = block_size(sid, lun)
      if not bs then return st end
      local per = math.max(bs, WRITE_MAX - WRITE_MAX % bs)
      local last = (#data - 1) // per * per
      -- not whole blocks: the last piece goes alone, the engine refuses it and nothing is written
      if #data % bs ~= 0 then return one(lba + last // bs, data:sub(last + 1)) end
      for off = 0, last, per do
        st = one(lba + off // bs, data:sub(off + 1, off + per))
        if not st.ok then return st end
      end
      return st
    end)
  end

  -- st = mcsi.flush(sid, lun [, lba, blocks] [, fn(st)]): the whole LUN without a range
  function R.flush(s, lun, ...)
    local fn, n = split_fn(...)
    local lba, blocks = ...
    if n < 1 then lba = nil end
    if n < 2 then blocks = nil end
    local p = { session_id = sid_of(s), lun = lun }
    if lba ~= nil then p.lba = check_int(lba, 3, "flush", "LBA must not be negative", 0) end
    if blocks ~= nil then p.blocks = check_int(blocks, 4, "flush", "block count must not be negative", 0) end
    return client:op("flush", p, function() end, fn)
  end

  -- st = mcsi.unmap(sid, lun, lba, blocks [, fn(st)])
  function R.unmap(s, lun, lba, blocks, ...)
    local fn = split_fn(...)
    local p = { session_id = sid_of(s), lun = lun, lba = check_int(lba, 3, "unmap", "LBA must not be negative", 0),
                blocks = check_int(blocks, 4, "unmap", "block count must not be negative", 0) }
    return client:op("unmap", p, function() end, fn)
  end

  -- st = mcsi.write_zeroes(sid, lun, lba, blocks [, opts] [, fn(st)])
  function R.write_zeroes(s, lun, lba, blocks, ...)
    local fn, n = split_fn(...)
    local p = { session_id = sid_of(s), lun = lun,
                lba = check_int(lba, 3, "write_zeroes", "LBA must not be negative", 0),
                blocks = check_int(blocks, 4, "write_zeroes", "block count must not be negative", 0) }
    io_opts(p, n > 0 and (...) or nil, 5, "write_zeroes")
    return client:op("write_zeroes", p, function() end, fn)
  end

  -- The result table of mcsi.scsi_command from ScsiCommand's outputs.
  local function command_result(r)
    if not r or r.ScsiStatus == nil then return nil end
    return { status = tointeger(r.ScsiStatus), response = tointeger(r.Response), sense_key = tointeger(r.SenseKey),
             asc = tointeger(r.Asc), ascq = tointeger(r.Ascq), sense = hex_bytes(r.Sense),
             residual_kind = tointeger(r.ResidualKind), residual = tointeger(r.Residual),
             data = r.Data and base64_decode(r.Data) or nil }
  end

  -- result, st = mcsi.scsi_command(sid, lun, cdb, dir, data_or_length [, fn(result, st)])
  function R.scsi_command(s, lun, cdb, ...)
    local rest = table.pack(...)
    local n = rest.n
    while n > 0 and rest[n] == nil do n = n - 1 end
    local fn = type(rest[n]) == "function" and rest[n] or nil
    if fn then rest[n] = nil end
    local dir, arg = rest[1], rest[2]
    if type(cdb) ~= "string" or #cdb < 1 or #cdb > 16 then
      error("bad argument #3 to 'scsi_command' (a CDB is 1..16 bytes)", 2)
    end
    dir = dir or "none"
    if dir ~= "none" and dir ~= "read" and dir ~= "write" then
      error('bad argument #4 to \'scsi_command\' (direction must be "none", "read" or "write")', 2)
    end
    local p = { session_id = sid_of(s), lun = lun, cdb = bytes_hex(cdb), direction = dir }
    if dir == "read" then
      p.length = check_int(arg, 5, "scsi_command", "read length must be 0..256 MiB", 0)
    elseif dir == "write" then
      if type(arg) ~= "string" then error("bad argument #5 to 'scsi_command' (string expected)", 2) end
      if #arg > WRITE_MAX then
        return local_status(fn, mcsi.Status.new("ISDSC_INVALID_PARAMETER",
          "at most " .. WRITE_MAX .. " bytes per mcsi.scsi_command through mcsid"), true)
      end
      p.data = base64_encode(arg)
    end
    return client:op("scsi_command", p, function(r, _, raw)
      return command_result(r or raw)
    end, fn)
  end

  -- st = mcsi.scsi_test_unit_ready(sid, lun [, fn(st)])
  function R.scsi_test_unit_ready(s, lun, ...)
    local fn = split_fn(...)
    return client:op("scsi_test_unit_ready", { session_id = sid_of(s), lun = lun },
      function() end, fn)
  end

  -- st = mcsi.lun_reset(sid, lun [, fn(st)])
  function R.lun_reset(s, lun, ...)
    local fn = split_fn(...)
    return client:op("lun_reset", { session_id = sid_of(s), lun = lun }, function() end, fn)
  end

  -- st = mcsi.abort_task(sid, tag [, fn(st)]): tags name the daemon's commands
  function R.abort_task(s, tag, ...)
    local fn = split_fn(...)
    tag = check_int(tag, 2, "abort_task", "tag must not be negative", 0)
    return client:op("abort_task", { session_id = sid_of(s), tag = tag }, function() end, fn)
  end

  function R.scsi_submit(...)
    local fn = split_fn(...)
    local st = mcsi.Status.new("ISDSC_REQUEST_NOT_SUPPORTED", "mcsi.scsi_submit is not served by mcsid")
    return local_status(fn, st, true)
  end

  -- Every described operation with a Lua and a JSON-RPC face that has no
  -- function above (api/operations.lua): its positional arguments (lua_args)
  -- are its parameters, its result the method's outputs as they come.
  for name, op in pairs(api.ops) do
    if name == op.lua and op.rpc and R[name] == nil and type(op.lua_args) == "table" then
      R[name] = function(...)
        local fn, n = split_fn(...)
        local args, values = table.pack(...), {}
        for i, pname in ipairs(op.lua_args) do
          local v = i <= n and args[i] or nil
          if pname == "session_id" then v = sid_of(v) elseif pname == "connection_id" then v = cid_of(v) end
          values[pname] = v
        end
        return client:op(name, values, function(_, _, raw) return raw end, fn)
      end
    end
  end

  -- mcsi.Session and mcsi.Connection objects over the daemon.
  -- The methods that are operations come from the description (session_methods).
  local smethods = { remove_connection_async = R.remove_connection_async }
  for name, op in pairs(api.ops) do
    if name == op.lua then
      for _, m in ipairs(op.session_methods or {}) do smethods[m] = R[op.lua] end
    end
  end
  function smethods.add_connection(s, o, ...)
    local fn = split_fn(...)
    local wrap = function(cid) return cid and new_connection(s, cid, true) or nil end
    if fn then
      return R.add_connection_to_session(s, o, function(cid, st) fn(wrap(cid), st) end)
    end
    local cid, st = R.add_connection_to_session(s, o)
    return wrap(cid), st
  end
  function smethods.connections(s)
    local info = R.session_info(s)
    local out = {}
    for i, c in ipairs(info and info.connections or {}) do out[i] = new_connection(s, c.id, false) end
    return out
  end
  SessionM.__name = "mcsi.Session"
  SessionM.__index = smethods
  SessionM.__tostring = function(s)
    return string.format("mcsi.Session (0x%016x%s, mcsid)", s.id, s.closed and ", closed" or "")
  end
  SessionM.__eq = function(a, b) return a.id == b.id end
  SessionM.__close = function(s)
    if s.owned and not s.closed then R.logout_from_target(s) end
  end

  local cmethods = {}
  function cmethods.remove(c, ...) return R.remove_connection_from_session(c.session_id, c, ...) end
  cmethods.close = cmethods.remove
  function cmethods.remove_async(c, fn) return R.remove_connection_async(c.session_id, c, fn) end
  function cmethods.info(c) return R.connection_info(c.session_id, c.id) end
  ConnM.__name = "mcsi.Connection"
  ConnM.__index = cmethods
  ConnM.__tostring = function(c)
    return string.format("mcsi.Connection (0x%016x of 0x%016x%s, mcsid)", c.id, c.session_id,
                         c.closed and ", closed" or "")
  end
  ConnM.__eq = function(a, b) return a.id == b.id and a.session_id == b.session_id end
  ConnM.__close = function(c)
    if c.owned and not c.closed then cmethods.remove(c) end
  end

  local Session = { login = R.login }
  function Session.of(sid)
    local info, st = R.session_info(sid)
    if not info then return nil, st end
    return new_session(info.id, false), st
  end
  R.Session = Session

  -- result, st = mcsi.rpc(method [, params] [, fn(result, st)]): any method of
  -- doc/protocol.md; result is its _OUT object (nil when the Status fails,
  -- except listings). params.chap (the Lua chap table) becomes Username /
  -- Secret (...), inline.
  function R.rpc(method, params, ...)
    local fn = split_fn(params, ...)
    if type(params) ~= "table" then params = nil end
    local p = nil
    if params then
      p = {}
      for k, v in pairs(params) do if k ~= "chap" then p[k] = v end end
      local c = {}
      chap_params(c, params.chap, read_chap)
      for k, v in pairs(rpc_params(api.ops.login_to_target, c)) do p[k] = v end
    end
    return client:call("rpc", method, p, function(_, _, raw) return raw end, fn)
  end

  return R
end

function Client:event(p)
  local mcsi = self.local_api
  local ev = {
    kind = p.Kind, session_id = tointeger(p.UniqueSessionId),
    connection_id = (tointeger(p.UniqueConnectionId) or 0) ~= 0 and tointeger(p.UniqueConnectionId) or nil,
    reason = mcsi.redact(p.Reason or ""), initiator = self.initiator_name,
    status = mcsi.Status.new(tointeger(p.Status) or 0),
    old_state = p.OldState ~= cjson.null and p.OldState or nil,
    new_state = p.NewState ~= cjson.null and p.NewState or nil,
  }
  local ids = {}
  for id in pairs(self.handlers) do ids[#ids + 1] = id end
  table.sort(ids, function(a, b) return a > b end)      -- in registration order
  for _, id in ipairs(ids) do
    local h = self.handlers[id]
    if h and (h.kind == nil or h.kind == ev.kind) then
      self.in_callback = self.in_callback + 1
      local ok, err = xpcall(h.fn, debug.traceback, ev)
      self.in_callback = self.in_callback - 1
      if not ok then report("an mcsi event callback", mcsi.redact(tostring(err))) end
    end
  end
end

-- The module table over a connected fd (o: buf, bytes already read from it;
-- keep_watch, on_notification, on_coroutine_error: a policy runner's).
-- read_chap: the CHAP option reader (lsecret.c) that mcsi.connect passes;
-- nil for a policy runner, whose calls name no CHAP.
local function install_fd(mcsi, fd, path, o, read_chap)
  local orig = {}
  for k, v in pairs(mcsi) do orig[k] = v end
  local client = setmetatable({ fd = fd, path = path, buf = o.buf or "", next_id = 0, pending = {}, handlers = {},
                                next_handler = 0, waiting = 0, in_callback = 0,
                                threads = setmetatable({}, { __mode = "k" }), local_api = orig,
                                keep_watch = o.keep_watch, on_notification = o.on_notification,
                                on_coroutine_error = o.on_coroutine_error, on_lost = o.on_lost }, Client)
  local R = build(client, mcsi, orig, read_chap)
  local ver, st = client:call("connect", api.ops.get_version.rpc, nil, function(r) return r end)
  if not ver then
    client:lost("closed")
    return nil, st
  end
  client.initiator_name = ver.InitiatorName
  client.version = ver.Version
  R.daemon = { path = path, version = ver.Version, protocol_version = tointeger(ver.ProtocolVersion),
               initiator = ver.InitiatorName, methods = ver.Methods }
  for k, v in pairs(R) do mcsi[k] = v end
  mcsi._remote = client
  client:need_watch()
  return mcsi, st
end

-- mcsi.connect([socket]) -> mcsi, st: the module table now talks to mcsid.
function M.install(mcsi, path, read_chap)
  path = path or os.getenv("MCSI_SOCKET") or M.DEFAULT_SOCKET
  if rawget(mcsi, "_remote") then
    return mcsi, mcsi.Status.new(0, "already connected to " .. mcsi._remote.path)
  end
  local fd, err = mcsi._unix.connect(path)
  if not fd then
    return nil, mcsi.Status.new("ISDSC_SERVICE_NOT_RUNNING", "mcsid: " .. tostring(err))
  end
  return install_fd(mcsi, fd, path, {}, read_chap)
end

-- A policy runner (daemon/policy_runner.c): the module table over the
-- socket mcsid gave it (fd), with what was already read from it (o.buf),
-- watched for as long as the runner lives; o.on_notification(method,
-- params) hears the daemon's other notifications, o.on_coroutine_error(co,
-- err) the coroutines of mcsi.spawn that raise, o.on_lost(why) the end of
-- the connection.
function M.attach_fd(mcsi, fd, o)
  o.keep_watch = true
  return install_fd(mcsi, fd, "policy runner socket", o)
end

return M
