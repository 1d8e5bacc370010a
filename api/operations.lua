-- SPDX-License-Identifier: LGPL-2.1-or-later
--[[
api/operations.lua: THE description of every operation mcsi exposes (data only).

api/generate.lua reads it and writes every face that is generated from it
(`make generate`; api/README.md). Edit this file, never a generated one.

One naming rule maps between the faces; it is stated here once
(naming below) and applied by the generator: an operation or a parameter has
ONE canonical name, in snake_case (`add_connection_to_session`, `session_id`).
  - Lua (in-process and remote):  the canonical name            add_connection_to_session
  - C:                            "mcsi_" .. canonical          mcsi_add_connection_to_session
  - JSON-RPC method / parameter:  CamelCase of the words        AddConnectionToSession, Lun
  - the daemon's run function:    "mcsid_run_" .. canonical     mcsid_run_add_connection_to_session
  - iscsicli:                     Microsoft's command names, given per operation (iscsicli = {...})
  - mcsi.Session methods:         given per operation (session_methods = {...}); the session is the
                                  first argument (s:inquiry(lun) is mcsi.scsi_inquiry(s, lun))
Where Microsoft's MSiSCSI names differ from the rule, naming.rpc_params
(parameters) and an operation's own `rpc =` / `c =` / `lua =` fields say so,
explicitly. `lua = false` / `c = false` / `rpc = false`: not in that face.
]]

local D = {}

D.naming = {
  -- canonical parameter name -> its JSON-RPC name, where the CamelCase rule does not give Microsoft's name
  rpc_params = {
    session_id = "UniqueSessionId", connection_id = "UniqueConnectionId", target = "TargetName",
    portal = "TargetPortal", max_connections = "MaximumConnections", page = "PageCode",
    policy = "LoadBalancePolicy", persistent = "IsPersistent",
  },
}

-- Parameter types: what the daemon's schema checks (daemon/methods.h P_*), the docs' words, the Lua type.
D.types = {
  string  = { c = "P_STRING",  doc = "string",                               lua = "string" },
  id      = { c = "P_ID",      doc = "id (number, or decimal / 0x string)",  lua = "any" },   -- Lua: an id or its object
  uint    = { c = "P_UINT",    doc = "non-negative integer",                 lua = "integer" },
  bool    = { c = "P_BOOL",    doc = "boolean",                              lua = "boolean" },
  portal  = { c = "P_PORTAL",  doc = "portal (\"host:port\" or {Address, Port})", lua = "string" },
  listed_portal = { c = "P_LISTED_PORTAL", doc = "portal (\"host:port\" or {Address, Port} as a listing shows it: ChapAccount, Tpgt ignored)", lua = "string" },
  portals = { c = "P_PORTALS", doc = "non-empty array of portals",           lua = "table" },
  policy  = { c = "P_POLICY",  doc = "load balance policy (1..5 or a name)", lua = "integer" },
  array   = { c = "P_ARRAY",   doc = "array",                                lua = "table" },
  object  = { c = "P_OBJECT",  doc = "object",                               lua = "table" },
  int     = { c = false,       doc = "integer",                              lua = "integer" },   -- Lua face only
}

-- Option sets: parameter groups shared by several operations (today's
-- daemon/loginopts.c, secrets.c, bindings/lops.c and remote.lua read them).
D.option_sets = {
  chap = {
    doc = "CHAP: Username + Secret | SecretFile (mutual: TargetUsername + TargetSecret | TargetSecretFile), "
       .. "or ChapAccount (an account stored before). Secrets never appear in any output.",
    lua_table = "chap",    -- in Lua the set is one table: chap = { username =, secret = | secret_file = | secret_env = , ... }
    params = {
      { name = "chap_account",       type = "string", max = 127, doc = "a stored CHAP account (default: the Username)" },
      { name = "username",           type = "string", max = 255, doc = "CHAP user name" },
      { name = "secret",             type = "string", max = 255, secret = true, doc = "CHAP secret, 1..255 bytes" },
      { name = "secret_file",        type = "string", doc = "file holding the secret, read with the caller's rights" },
      { name = "target_username",    type = "string", max = 255, doc = "mutual CHAP: the target's user name" },
      { name = "target_secret",      type = "string", max = 255, secret = true, doc = "mutual CHAP: the target's secret" },
      { name = "target_secret_file", type = "string", doc = "mutual CHAP: file holding the target's secret" },
    },
  },
  login = {
    doc = "Login options (discovery and normal sessions): digests, the login timeout, the initiator, and CHAP.",
    params = {
      { name = "header_digest",      type = "string", values = { "None", "CRC32C" }, default = "None",
        doc = "header digest" },
      { name = "data_digest",        type = "string", values = { "None", "CRC32C" }, default = "None",
        doc = "data digest" },
      { name = "login_timeout_ms",   type = "uint", max = 3600000, default = "login_timeout_ms (15000)",
        doc = "login deadline, ms" },
      { name = "initiator",          type = "string", rpc = false,
        doc = "the initiator's iSCSI name (in-process only: mcsid has its own)" },
    },
    includes = { "chap" },
  },
  session = {
    doc = "Session options (normal sessions): the connections offered and, in-process, the negotiated "
       .. "values and timeouts the engine starts from.",
    params = {
      { name = "max_connections",    type = "uint", max = 65535, default = 4, doc = "MaxConnections offered" },
      { name = "max_recv_data_segment_length", type = "uint", max = 4294967295, rpc = false, doc = "offered" },
      { name = "max_burst_length",   type = "uint", max = 4294967295, rpc = false, doc = "offered" },
      { name = "first_burst_length", type = "uint", max = 4294967295, rpc = false, doc = "offered" },
      { name = "max_outstanding_r2t", type = "uint", max = 4294967295, rpc = false, doc = "offered" },
      { name = "default_time2wait",  type = "uint", max = 4294967295, rpc = false, doc = "offered, s" },
      { name = "default_time2retain", type = "uint", max = 4294967295, rpc = false, doc = "offered, s" },
      { name = "initial_r2t",        type = "bool", rpc = false, doc = "offered" },
      { name = "immediate_data",     type = "bool", rpc = false, doc = "offered" },
      { name = "command_timeout_ms", type = "uint", max = 2147483647, rpc = false, doc = "per command, ms" },
      { name = "nop_interval_ms",    type = "int", min = -1, max = 2147483647, rpc = false,
        doc = "keep-alive interval, ms (-1: none)" },
      { name = "nop_timeout_ms",     type = "uint", max = 2147483647, rpc = false, doc = "keep-alive answer, ms" },
      { name = "max_redirects",      type = "uint", max = 2147483647, rpc = false, doc = "target redirects followed" },
      { name = "recovery_timeout_ms", type = "int", min = -1, max = 2147483647, rpc = false,
        doc = "session reinstatement window, ms (-1: none)" },
    },
  },
}

-- The options above, and the parameters of an operation whose C function
-- takes an options handle (mcsi_login_opts: L, mcsi_conn_opts: C), are the
-- MCSI_OPT_* keys of core/mcsi.h (MCSI_OPT_LIST), with the same name, kind,
-- handle and bounds within the key's; tests/sh/test_option_keys.sh checks it.
-- These have no key, on purpose (a Lua parameter with lua = false has none either):
D.options_without_key = {
  chap_account       = "the daemon's stored CHAP accounts: it gives C their username and secret",
  secret_file        = "read with the caller's rights by the daemon or the Lua binding: C gets the secret",
  target_secret_file = "likewise: C gets the target_secret",
  initiator          = "the initiator's name is mcsi_initiator_new's argument, not a login option",
}

local S = "ISDSC_SUCCESS"
local SID = { name = "session_id", type = "id", required = true, doc = "the session" }
local LUN = { name = "lun", type = "uint", default = 0, doc = "the LUN" }
-- The block I/O flags (MCSI_IO_FUA / MCSI_IO_DPO): JSON-RPC booleans; in Lua an options table { fua =, dpo = }.
local FUA = { name = "force_unit_access", type = "bool", default = false, lua = false,
              doc = "FUA: the data reaches the medium before the answer (Lua: options { fua = true })" }
local DPO = { name = "disable_page_out", type = "bool", default = false, lua = false,
              doc = "DPO: the target's cache need not keep the data (Lua: options { dpo = true })" }
local DISC_MAXC = { name = "max_connections", type = "uint", max = 65535, lua = false,
                    doc = "accepted and unused (discovery sessions have one connection)" }
local LOGIN_ST = { S, "ISDSC_INVALID_PARAMETER", "ISDSC_CONNECTION_FAILED", "ISDSC_LOGIN_FAILED",
                   "ISDSC_AUTHENTICATION_FAILURE", "ISDSC_TARGET_NOT_FOUND", "ISDSC_INVALID_CHAP_SECRET",
                   "ISDSC_DNS_NAME_UNRESOLVED", "ISDSC_TRANSPORT_ERROR" }
local SCSI_ST = { S, "ISDSC_INVALID_SESSION_ID", "ISDSC_INVALID_PARAMETER", "ISDSC_SCSI_REQUEST_FAILED",
                  "ISDSC_TRANSPORT_ERROR" }

-- Fields of an operation:
--   name       canonical name (snake_case)        family  the daemon file holding its run function
--   rpc / lua / c: overrides of the rule, or false (not in that face)
--   c_sig      the C signature of its C function (the rule's name, or c =); generated into core/mcsi.h
--   c_doc      the one-line doc of c_sig's function, where doc does not fit C (default: doc)
--   c_forms    its other C functions, { sig =, doc = } each: the asynchronous form (one mcsi_completion),
--              the offset and tagged forms; generated into core/mcsi.h after c_sig, with their doc
--   lua_args   how Lua passes the parameters: a list of canonical names (positional) or "table" (one options table)
--   iscsicli   iscsicli commands that map to the operation
--   session_methods  its names as a method of mcsi.Session (in-process and remote)
--   lua_also   other Lua functions that are this operation in another form: { name = one-line doc }
--              (mcsi.login: login_to_target returning an mcsi.Session); the REPL's help finds them
--   policy     whether a policy script (its sandboxed runner, daemon/policy.c) may call it:
--              "any", "own_session" (with its own UniqueSessionId only); absent: refused
--   params     { name, type, required, default, min, max, values, doc, rpc = override, lua = false | override,
--                elements = { params of each object of an array } }
--              (the daemon's schema checks type, required and unknown names; the Lua binding's
--              options tables type and bounds; values and the bounds of JSON-RPC parameters are
--              checked by the run functions, which answer a Status, documented from here)
--   options    option sets taken as well (D.option_sets)
--   results    { name, doc } (JSON-RPC outputs)      statuses  the ISDSC Statuses it can answer
D.operations = {
  -- ---- misc ----
  { name = "get_version", family = "misc", lua = false, c = false,
    policy = "any",
    results = { { name = "Version" }, { name = "ProtocolVersion" }, { name = "InitiatorName" }, { name = "Methods" } },
    statuses = { S }, iscsicli = { "VersionInfo", "NodeName" },
    doc = "The daemon's version, protocol version, initiator name and every method's name." },
  { name = "upgrade", family = "misc", lua = false, c = false,
    params = { { name = "via_fd_store", type = "bool", default = false, lua = false,
                 doc = "true: start nothing now; the next SIGTERM within 60 s, whatever sent it, hands over "
                    .. "through the service manager's file descriptor store instead of logging out "
                    .. "(REQUEST_NOT_SUPPORTED without $NOTIFY_SOCKET). Not needed for `systemctl restart`: "
                    .. "mcsid asks systemd which job runs on its unit (mcsid(8))" },
               { name = "wait", type = "bool", default = false, lua = false,
                 doc = "true: answered when the handover ends: SUCCESS with the successor's Pid once it serves "
                    .. "(this connection then closes), else why the running mcsid goes on serving (SESSION_BUSY: "
                    .. "given up after 20 attempts, and what kept a session busy; NON_SPECIFIC_ERROR: the "
                    .. "successor refused, e.g. a bad configuration; SERVICE_DID_NOT_RESPOND: silent for 15 s), "
                    .. "everything taken back, nothing retried by itself: the next Upgrade starts afresh. "
                    .. "`mcsid --upgrade-running`, the unit's ExecReload, calls it so" } },
    results = { { name = "Pid" } },
    statuses = { S, "ISDSC_SESSION_BUSY", "ISDSC_REQUEST_NOT_SUPPORTED", "ISDSC_INVALID_PARAMETER",
                 "ISDSC_NON_SPECIFIC_ERROR", "ISDSC_SERVICE_DID_NOT_RESPOND", "ISDSC_OUT_OF_RESOURCES",
                 "ISDSC_TOO_MANY_SESSIONS" },
    doc = "Hands every session, the control socket and the NBD clients to a new mcsid started from the same "
       .. "path, read again from disk (as SIGUSR2; mcsid(8)): answered when the handover starts (SESSION_BUSY: "
       .. "one is under way, or the daemon stops), or with Wait when it ends; the connection then closes and "
       .. "the new mcsid answers on the same socket. No logout, no login: the sessions keep their TSIH and "
       .. "connections. `systemctl reload mcsid` does it (ExecReload: `mcsid --upgrade-running`). The "
       .. "unit's `systemctl restart` does the same through systemd's fd store (mcsid(8))." },

  -- ---- session ----
  { name = "login_to_target", family = "session",
    c_sig = "mcsi_status mcsi_login_to_target(mcsi_initiator *ini, const mcsi_login_opts *opts, mcsi_id *session_id, mcsi_id *connection_id)",
    c_forms = {
      { sig = "mcsi_status mcsi_login_to_target_async(mcsi_initiator *ini, const mcsi_login_opts *opts, mcsi_completion c)",
        doc = "Asynchronous login; result: const mcsi_session_result * (the new session and its leading connection)." },
    },
    lua_args = "table", iscsicli = { "LoginTarget", "QLoginTarget" },
    lua_also = { login = "The same login, returning an mcsi.Session (logged out when closed); also mcsi.Session.login." },
    params = { { name = "target", type = "string", required = true, max = 223, doc = "the target's iSCSI name" },
               { name = "portal", type = "portal", required = true, doc = "the portal to log in through" },
               { name = "persistent", type = "bool", default = false, lua = false,
                 doc = "also PersistentLoginTarget with these Connections" },
               { name = "connections", type = "uint", min = 1, max = 32, default = 1, lua = false,
                 doc = "connections to make through the portal, and the session's wanted connections" } },
    options = { "login", "session" },
    results = { { name = "UniqueSessionId" }, { name = "UniqueConnectionId" },
                { name = "UniqueConnectionIds", doc = "with Connections > 1: every connection made" },
                { name = "WantedConnections", doc = "with Connections > 1" } }, statuses = LOGIN_ST,
    doc = "Logs in to a target with one connection (through mcsid: Connections of them); add more with AddConnectionToSession." },
  { name = "logout_from_target", family = "session",
    policy = "own_session",
    session_methods = { "logout", "close" },
    c_sig = "mcsi_status mcsi_logout_from_target(mcsi_initiator *ini, mcsi_id session_id)",
    c_forms = {
      { sig = "mcsi_status mcsi_logout_from_target_async(mcsi_initiator *ini, mcsi_id session_id, mcsi_completion c)",
        doc = "Asynchronous logout; result: const mcsi_session_result *." },
    },
    lua_args = { "session_id" }, iscsicli = { "LogoutTarget" }, params = { SID },
    statuses = { S, "ISDSC_INVALID_SESSION_ID" },
    doc = "Logs the session out (every connection) and forgets it." },
  { name = "add_connection_to_session", family = "session",
    policy = "own_session",
    c_sig = "mcsi_status mcsi_add_connection_to_session(mcsi_initiator *ini, mcsi_id session_id, const mcsi_conn_opts *opts, mcsi_id *connection_id)",
    c_forms = {
      { sig = "mcsi_status mcsi_add_connection_async(mcsi_initiator *ini, mcsi_id session_id, const mcsi_conn_opts *opts, mcsi_completion c)",
        doc = "Asynchronous add; result: const mcsi_session_result * (connection_id: the new connection)." },
    },
    lua_args = { "session_id", "table" }, iscsicli = { "AddConnection", "QAddConnection" },
    params = { SID, { name = "portal", type = "portal", required = true, doc = "the portal of the new connection" },
               { name = "weight", type = "uint", max = 4294967295, doc = "its weight (weighted policies)" },
               { name = "login_timeout_ms", type = "uint", max = 3600000, doc = "login deadline, ms" } },
    options = { "chap" },
    results = { { name = "UniqueConnectionId" },
                { name = "WantedConnections", doc = "the session's wanted connections now (at least its active ones)" } },
    statuses = { S, "ISDSC_INVALID_SESSION_ID", "ISDSC_TOO_MANY_CONNECTIONS", "ISDSC_CONNECTION_FAILED",
                 "ISDSC_LOGIN_FAILED", "ISDSC_AUTHENTICATION_FAILURE", "ISDSC_SESSION_BUSY" },
    doc = "Adds a connection (MC/S) to a session; its wanted connections become at least the active ones (+1 when it had them all). Refused (SESSION_BUSY) while the session is being handed to another process (Upgrade).",
    c_doc = "Adds a connection (MC/S): same ISID and TSIH, a fresh CID; beyond MaxConnections: ISDSC_TOO_MANY_CONNECTIONS; while the session is being handed over (mcsi_session_handover_export to its commit or abort): ISDSC_SESSION_BUSY." },
  { name = "remove_connection_from_session", family = "session",
    policy = "own_session",
    session_methods = { "remove_connection" },
    c_sig = "mcsi_status mcsi_remove_connection_from_session(mcsi_initiator *ini, mcsi_id session_id, mcsi_id connection_id)",
    c_forms = {
      { sig = "mcsi_status mcsi_remove_connection_async(mcsi_initiator *ini, mcsi_id session_id, mcsi_id connection_id, mcsi_completion c)",
        doc = "Asynchronous removal; result: const mcsi_session_result * (connection_id: the connection)." },
    },
    lua_args = { "session_id", "connection_id" }, iscsicli = { "RemoveConnection" },
    params = { SID, { name = "connection_id", type = "id", required = true, doc = "the connection" } },
    results = { { name = "WantedConnections", doc = "the session's wanted connections now (one less, at least 1)" } },
    statuses = { S, "ISDSC_INVALID_SESSION_ID", "ISDSC_INVALID_CONNECTION_ID", "ISDSC_CANT_REMOVE_LAST_CONNECTION",
                 "ISDSC_SESSION_BUSY" },
    doc = "Logs one connection of a session out; its tasks move to the others; its wanted connections go down by one (policies do not add it back). Refused (SESSION_BUSY) while the session is being handed to another process (Upgrade).",
    c_doc = "Drains one connection (its commands finish or move), logs it out and closes it; the others keep running; while the session is being handed over: ISDSC_SESSION_BUSY." },
  { name = "set_wanted_connections", family = "session",
    policy = "own_session",
    session_methods = { "set_wanted_connections" },
    c_sig = "mcsi_status mcsi_set_wanted_connections(mcsi_initiator *ini, mcsi_id session_id, uint32_t connections)",
    c_forms = {
      { sig = "mcsi_status mcsi_set_wanted_connections_async(mcsi_initiator *ini, mcsi_id session_id, uint32_t connections, mcsi_completion c)",
        doc = "Asynchronous form; result: const mcsi_session_result * (connection_id 0)." },
    },
    lua_args = { "session_id", "connections" },
    params = { SID, { name = "connections", type = "uint", required = true, min = 1, max = 65535,
                      doc = "connections the session should have" } },
    results = { { name = "WantedConnections" } },
    statuses = { S, "ISDSC_INVALID_SESSION_ID", "ISDSC_INVALID_PARAMETER" },
    doc = "Sets the session's wanted number of connections: policies (failover) keep it; a persistent target stores it.",
    c_doc = "Sets the session's wanted number of connections (1..65535), which policies keep; the connections are not touched." },
  { name = "sessions", family = "session", rpc = "SessionList", c = "mcsi_session_list",
    c_sig = "size_t mcsi_session_list(const mcsi_initiator *ini, mcsi_id *ids, size_t max)",
    lua_args = {}, iscsicli = { "SessionList", "ReportTargetMappings" },
    results = { { name = "Sessions" } }, statuses = { S },
    doc = "Every session with its connections (as GetSessionInfo).",
    c_doc = "Fills up to max session ids; returns how many sessions exist." },
  { name = "session_info", family = "session", rpc = "GetSessionInfo", c = "mcsi_session_get_info",
    policy = "own_session",
    session_methods = { "info" },
    c_sig = "mcsi_status mcsi_session_get_info(mcsi_initiator *ini, mcsi_id sid, mcsi_session_info **out)",
    lua_args = { "session_id" }, params = { SID },
    results = { { name = "Session" } }, statuses = { S, "ISDSC_INVALID_SESSION_ID" },
    doc = "One session: its state, negotiated values, counters and connections.",
    c_doc = "*out: a snapshot of the session and its connections (the caller's: mcsi_session_info_free); NULL on failure." },
  { name = "connection_info", family = "session", rpc = false, c = false,
    session_methods = { "connection_info" },
    lua_args = { "session_id", "connection_id" },
    params = { SID, { name = "connection_id", type = "id", required = true, doc = "the connection" } },
    statuses = { S, "ISDSC_INVALID_SESSION_ID", "ISDSC_INVALID_CONNECTION_ID" },
    doc = "One connection of a session (through mcsid: from GetSessionInfo)." },
  { name = "set_load_balance_policy", family = "session",
    policy = "own_session",
    session_methods = { "set_load_balance_policy" },
    c_sig = "mcsi_status mcsi_set_load_balance_policy(mcsi_initiator *ini, mcsi_id session_id, int policy, const mcsi_lb_path *paths, size_t n)",
    lua_args = { "session_id", "policy", "paths" },
    params = { SID, { name = "policy", type = "policy", required = true, doc = "the policy, 1..5 or its name" },
               { name = "paths", type = "array", max_items = 32, doc = "the connections' roles",
                 elements = {
                   { name = "connection_id", lua = "connection", type = "id", required = true, doc = "a connection of the session" },
                   { name = "weight", type = "uint", max = 4294967295, doc = "its weight (weighted paths)" },
                   { name = "active", type = "bool", default = true, doc = "active (round robin subset)" },
                   { name = "primary", type = "bool", default = false, doc = "the primary (failover only)" } } } },
    statuses = { S, "ISDSC_INVALID_SESSION_ID", "ISDSC_INVALID_LOAD_BALANCE_POLICY", "ISDSC_INVALID_CONNECTION_ID",
                 "ISDSC_PATH_COUNT_MISMATCH", "ISDSC_NO_PRIMARY_PATH_SPECIFIED", "ISDSC_MULTIPLE_PRIMARY_PATHS_SPECIFIED" },
    doc = "Sets the session's load balance policy and, optionally, its paths.",
    c_doc = "Sets the session's load balance policy; paths may be NULL (n = 0): keep what each connection has." },

  -- ---- scsi ----
  { name = "scsi_inquiry", family = "scsi",
    policy = "own_session",
    session_methods = { "inquiry" },
    c_sig = "mcsi_status mcsi_scsi_inquiry(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, int page, mcsi_inquiry *out)",
    c_forms = {
      { sig = "mcsi_status mcsi_scsi_inquiry_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, int page, mcsi_completion c)",
        doc = "Asynchronous INQUIRY; result: const mcsi_inquiry * (NULL on failure)." },
    },
    lua_args = { "session_id", "lun", "page" }, iscsicli = { "ScsiInquiry" },
    params = { SID, LUN, { name = "page", type = "uint", max = 255, doc = "a VPD page (EVPD); absent: standard INQUIRY" } },
    results = { { name = "PeripheralDeviceType" }, { name = "VendorId" }, { name = "ProductId" },
                { name = "ProductRevision" }, { name = "Data" } }, statuses = SCSI_ST,
    doc = "INQUIRY: standard data or a VPD page." },
  { name = "scsi_read_capacity", family = "scsi",
    policy = "own_session",
    session_methods = { "read_capacity" },
    c_sig = "mcsi_status mcsi_scsi_read_capacity(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_capacity *out)",
    c_forms = {
      { sig = "mcsi_status mcsi_scsi_read_capacity_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_completion c)",
        doc = "Asynchronous READ CAPACITY(16); result: const mcsi_capacity * (NULL on failure); the block size is kept." },
    },
    lua_args = { "session_id", "lun" }, iscsicli = { "ReadCapacity" }, params = { SID, LUN },
    results = { { name = "Blocks" }, { name = "BlockSize" }, { name = "Bytes" } }, statuses = SCSI_ST,
    doc = "READ CAPACITY (16, or 10 when 16 is refused)." },
  { name = "scsi_report_luns", family = "scsi",
    policy = "own_session",
    session_methods = { "report_luns" },
    c_sig = "mcsi_status mcsi_scsi_report_luns(mcsi_initiator *ini, mcsi_id sid, uint64_t *luns, size_t max, size_t *count)",
    c_forms = {
      { sig = "mcsi_status mcsi_scsi_report_luns_async(mcsi_initiator *ini, mcsi_id sid, mcsi_completion c)",
        doc = "Asynchronous REPORT LUNS; result: const mcsi_lun_list * (NULL on failure)." },
    },
    lua_args = { "session_id" }, iscsicli = { "ReportLUNs" }, params = { SID },
    results = { { name = "Luns" } }, statuses = SCSI_ST,
    doc = "REPORT LUNS: the LUNs of the session's target." },

  -- ---- discovery ----
  { name = "send_targets", family = "discovery",
    c_sig = "mcsi_status mcsi_send_targets(mcsi_initiator *ini, const mcsi_login_opts *opts, mcsi_target_list **out)",
    c_forms = {
      { sig = "mcsi_status mcsi_send_targets_async(mcsi_initiator *ini, const mcsi_login_opts *opts, mcsi_completion c)",
        doc = "Asynchronous discovery; result: const mcsi_target_list * (NULL on failure), the library's: valid during done." },
    },
    lua_args = "table",
    params = { { name = "portal", type = "portal", required = true, doc = "the discovery portal" }, DISC_MAXC },
    options = { "login" },
    results = { { name = "Targets" } }, statuses = LOGIN_ST,
    doc = "Discovery (SendTargets=All) through a discovery session; nothing is stored." },
  { name = "add_target_portal", family = "discovery", lua = false, c = false,
    iscsicli = { "AddTargetPortal", "QAddTargetPortal", "RefreshTargetPortal" },
    params = { { name = "portal", type = "portal", required = true, doc = "the discovery portal" }, DISC_MAXC },
    options = { "login" },
    results = { { name = "Targets" } }, statuses = LOGIN_ST,
    doc = "Contacts the portal (SendTargets) and, when that succeeded, stores it and its targets." },
  { name = "remove_target_portal", family = "discovery", lua = false, c = false,
    iscsicli = { "RemoveTargetPortal" },
    params = { { name = "portal", type = "listed_portal", required = true,
                 doc = "a stored portal: its address and port (a ListTargetPortals object as it is; no secret needed)" } },
    statuses = { S, "ISDSC_PORTAL_NOT_FOUND" },
    doc = "Removes a stored portal and the targets known only through it." },
  { name = "list_target_portals", family = "discovery", lua = false, c = false,
    iscsicli = { "ListTargetPortals" },
    results = { { name = "TargetPortals" } }, statuses = { S },
    doc = "The stored discovery portals." },
  { name = "list_targets", family = "discovery", lua = false, c = false,
    iscsicli = { "ListTargets", "TargetInfo" },
    results = { { name = "Targets" } }, statuses = { S },
    doc = "The stored targets, each with the portals that listed it." },

  -- ---- persistent logins ----
  { name = "persistent_login_target", family = "persist", lua = false, c = false,
    iscsicli = { "PersistentLoginTarget" },
    params = { { name = "target", type = "string", required = true, doc = "the target's iSCSI name" },
               { name = "portal", type = "portal", doc = "its portal" },
               { name = "portals", type = "portals", doc = "its portals (failover)" },
               { name = "connections", type = "uint", doc = "connections to keep" },
               { name = "policy", type = "policy", doc = "load balance policy" },
               { name = "policy_script", type = "string", doc = "a policy to attach" },
               { name = "header_digest", type = "string", values = { "None", "CRC32C" }, doc = "header digest" },
               { name = "data_digest", type = "string", values = { "None", "CRC32C" }, doc = "data digest" },
               { name = "exports", type = "array", doc = "NBD exports to restore" },
               { name = "recovery_timeout_ms", type = "uint", doc = "how long a failed session is retried, ms" } },
    options = { "chap" },
    results = { { name = "UniqueSessionId" }, { name = "UniqueConnectionIds", doc = "the connections it added" },
                { name = "Adopted", doc = "true: the target's live session was kept, not a new one made" },
                { name = "ConnectionCount" }, { name = "WantedConnections" } },
    statuses = { S, "ISDSC_INVALID_PARAMETER", "ISDSC_COULD_NOT_SAVE_PERSISTENT_LOGIN_DATA", "ISDSC_LOGIN_FAILED" },
    doc = "Stores a target and keeps it logged in (at start, after a crash, when the session fails); a live session "
       .. "of the target is adopted, and a new Connections is applied to it at once." },
  { name = "list_persistent_targets", family = "persist", lua = false, c = false,
    iscsicli = { "ListPersistentTargets" },
    results = { { name = "PersistentTargets" } }, statuses = { S },
    doc = "The persistent targets and their state." },
  { name = "remove_persistent_target", family = "persist", lua = false, c = false,
    iscsicli = { "RemovePersistentTarget" },
    params = { { name = "target", type = "string", required = true, doc = "the target's iSCSI name" } },
    statuses = { S, "ISDSC_NOT_FOUND", "ISDSC_COULD_NOT_REMOVE_PERSISTENT_LOGIN_DATA" },
    doc = "Forgets a persistent target and stops the NBD exports it stored (its session stays until logged out)." },

  -- ---- events ----
  { name = "subscribe", family = "events", lua = false, c = false,
    policy = "any",
    params = { { name = "kinds", type = "array", doc = "event kinds (absent: all)" } },
    statuses = { S, "ISDSC_INVALID_PARAMETER" },
    doc = "Hear Event notifications (mcsi.on in Lua)." },
  { name = "unsubscribe", family = "events", lua = false, c = false, statuses = { S },
    policy = "any",
    doc = "Stop hearing Event notifications." },

  -- ---- NBD exports ----
  { name = "export_lun", family = "exports", lua = false, c = false,
    params = { SID, { name = "lun", type = "uint", required = true, doc = "the LUN" },
               { name = "socket", type = "string", doc = "a socket name" },
               { name = "tcp", type = "string", doc = "\"host:port\"" },
               { name = "export_name", type = "string", default = "", doc = "the NBD export name" },
               { name = "read_only", type = "bool", default = false, doc = "read-only export" },
               { name = "max_clients", type = "uint", min = 1, max = 1024, default = 16, doc = "clients at once" },
               { name = "persistent", type = "bool", default = false, doc = "restored with its persistent target" },
               { name = "tls", type = "string", values = { "require", "off" }, default = "require", doc = "TLS on TCP" } },
    results = { { name = "ExportId" }, { name = "Export" } },
    statuses = { S, "ISDSC_INVALID_SESSION_ID", "ISDSC_INVALID_PARAMETER", "ISDSC_SCSI_REQUEST_FAILED" },
    doc = "Serves one LUN of a session to NBD clients on a Unix socket and/or TCP." },
  { name = "unexport_lun", family = "exports", lua = false, c = false,
    params = { { name = "export_id", type = "id", doc = "the export" },
               { name = "socket", type = "string", doc = "or its socket name" } },
    statuses = { S, "ISDSC_NOT_FOUND", "ISDSC_INVALID_PARAMETER" },
    doc = "Stops an export; its clients are closed." },
  { name = "list_exports", family = "exports", lua = false, c = false,
    params = { { name = "session_id", type = "id", doc = "only this session's" } },
    results = { { name = "Exports" } }, statuses = { S },
    doc = "The NBD exports." },

  { name = "export", family = "exports", rpc = false, c = false,
    lua_args = { "session_id", "lun", "table" },
    params = { SID, { name = "lun", type = "uint", required = true, doc = "the LUN" },
               { name = "socket", type = "string", doc = "a Unix socket path" },
               { name = "tcp", type = "string", doc = "\"host:port\"" },
               { name = "name", type = "string", default = "", doc = "the NBD export name" },
               { name = "description", type = "string", doc = "the NBD export description" },
               { name = "read_only", type = "bool", default = false, doc = "read-only export" },
               { name = "max_clients", type = "uint", max = 4096, default = 16, doc = "clients at once" },
               { name = "handshake_timeout_ms", type = "uint", max = 3600000, doc = "NBD handshake deadline, ms" },
               { name = "max_request", type = "uint", max = 1073741824, doc = "bytes per NBD request" },
               { name = "max_scsi_transfer", type = "uint", max = 1073741824, doc = "bytes per SCSI command" },
               { name = "tls", type = "string", values = { "require", "off" }, default = "require", doc = "TLS on TCP" },
               { name = "tls_cert", type = "string", doc = "TLS certificate file" },
               { name = "tls_key", type = "string", doc = "TLS key file" },
               { name = "tls_ca", type = "string", doc = "TLS CA file (client certificates)" },
               { name = "tls_psk_file", type = "string", doc = "TLS PSK file" } },
    statuses = { S, "ISDSC_INVALID_SESSION_ID", "ISDSC_INVALID_PARAMETER", "ISDSC_SCSI_REQUEST_FAILED" },
    doc = "Serves one LUN of a session to NBD clients from this process (through mcsid: ExportLun)." },

  -- ---- policies ----
  { name = "attach_policy", family = "policy", lua = false, c = false,
    params = { SID, { name = "policy_script", type = "string", required = true, doc = "failover, drain, rebalance or NAME" },
               { name = "options", type = "object", doc = "given to the policy" } },
    results = { { name = "PolicyId" } },
    statuses = { S, "ISDSC_INVALID_SESSION_ID", "ISDSC_INVALID_PARAMETER" },
    doc = "Runs a policy script on one session, in a sandboxed process of its own." },
  { name = "detach_policy", family = "policy", lua = false, c = false,
    params = { { name = "policy_id", type = "uint", required = true, doc = "the policy" } },
    statuses = { S, "ISDSC_NOT_FOUND" },
    doc = "Stops a policy." },
  { name = "list_policies", family = "policy", lua = false, c = false,
    results = { { name = "Policies" } }, statuses = { S },
    doc = "The policies running." },

  -- ---- SCSI I/O ----
  { name = "read", family = "io", rpc = "ScsiRead",
    policy = "own_session",
    session_methods = { "read" },
    c_sig = "mcsi_status mcsi_read(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, void *buf, size_t len)",
    c_forms = {
      { sig = "mcsi_status mcsi_read_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, uint32_t block_size, void *buf, size_t len, mcsi_completion c)",
        doc = "Asynchronous read at lba * block_size (mcsi_io_read); result: const mcsi_scsi_result *." },
      { sig = "mcsi_status mcsi_io_read(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, void *buf, size_t len, uint32_t flags, mcsi_completion c)",
        doc = "Reads len bytes at offset into buf (valid until done); flags: MCSI_IO_FUA/DPO; result: const mcsi_io_result *." },
      { sig = "mcsi_status mcsi_pread(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, void *buf, size_t len, uint32_t flags, mcsi_io_result *res)",
        doc = "Blocking mcsi_io_read; res may be NULL (else its struct_size set, see \"Sized results\")." },
    },
    lua_args = { "session_id", "lun", "lba", "blocks" },
    params = { SID, LUN, { name = "lba", type = "uint", required = true, doc = "the first block" },
               { name = "blocks", type = "uint", doc = "blocks to read (at most io_max bytes through mcsid, 256 MiB in-process)" },
               { name = "length", type = "uint", lua = false, doc = "or bytes to read (whole blocks)" }, FUA, DPO },
    results = { { name = "Data", doc = "base64" }, { name = "Length" }, { name = "BlockSize" } }, statuses = SCSI_ST,
    doc = "Reads blocks (the engine's block I/O: READ(16)s, split by the LUN's maximum transfer length, retried by the engine's one rule)." },
  { name = "write", family = "io", rpc = "ScsiWrite",
    policy = "own_session",
    session_methods = { "write" },
    c_sig = "mcsi_status mcsi_write(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, const void *buf, size_t len)",
    c_forms = {
      { sig = "mcsi_status mcsi_write_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, uint32_t block_size, const void *buf, size_t len, mcsi_completion c)",
        doc = "Asynchronous write at lba * block_size (mcsi_io_write); result: const mcsi_scsi_result *." },
      { sig = "mcsi_status mcsi_io_write(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, const void *buf, size_t len, uint32_t flags, mcsi_completion c)",
        doc = "Writes len bytes from buf (valid until done) at offset; flags: MCSI_IO_FUA/DPO; result: const mcsi_io_result *." },
      { sig = "mcsi_status mcsi_pwrite(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, const void *buf, size_t len, uint32_t flags, mcsi_io_result *res)",
        doc = "Blocking mcsi_io_write; res may be NULL (else its struct_size set, see \"Sized results\")." },
    },
    lua_args = { "session_id", "lun", "lba", "data" },
    params = { SID, LUN, { name = "lba", type = "uint", required = true, doc = "the first block" },
               { name = "data", type = "string", required = true, doc = "the bytes (base64 in JSON), whole blocks" }, FUA, DPO },
    statuses = SCSI_ST,
    doc = "Writes whole blocks (the engine's block I/O: WRITE(16)s, split and retried by the engine)." },
  { name = "flush", family = "io", rpc = "ScsiSynchronizeCache", c = "mcsi_io_flush",
    c_sig = "mcsi_status mcsi_io_flush(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, uint64_t len, uint32_t flags, mcsi_completion c)",
    policy = "own_session",
    session_methods = { "flush" },
    lua_args = { "session_id", "lun", "lba", "blocks" },
    params = { SID, LUN, { name = "lba", type = "uint", default = 0, doc = "the first block" },
               { name = "blocks", type = "uint", doc = "blocks (absent: the whole LUN)" } },
    statuses = SCSI_ST,
    doc = "SYNCHRONIZE CACHE(16) of a range, or of the whole LUN.",
    c_doc = "SYNCHRONIZE CACHE(16) of len bytes at offset (len 0, offset 0: the whole LUN); result: const mcsi_io_result *." },
  { name = "unmap", family = "io", rpc = "ScsiUnmap", c = "mcsi_io_unmap",
    c_sig = "mcsi_status mcsi_io_unmap(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, uint64_t len, uint32_t flags, mcsi_completion c)",
    policy = "own_session",
    session_methods = { "unmap" },
    lua_args = { "session_id", "lun", "lba", "blocks" },
    params = { SID, LUN, { name = "lba", type = "uint", required = true, doc = "the first block" },
               { name = "blocks", type = "uint", required = true, doc = "blocks to unmap" } },
    statuses = { S, "ISDSC_INVALID_SESSION_ID", "ISDSC_INVALID_PARAMETER", "ISDSC_SCSI_REQUEST_FAILED",
                 "ISDSC_REQUEST_NOT_SUPPORTED" },
    doc = "UNMAP of a range, split by the LUN's UNMAP limits; not supported when the LUN offers none.",
    c_doc = "UNMAP of len bytes at offset, split by the LUN's UNMAP limits (none: ISDSC_REQUEST_NOT_SUPPORTED); result: const mcsi_io_result *." },
  { name = "write_zeroes", family = "io", rpc = "ScsiWriteZeroes", c = "mcsi_io_write_zeroes",
    c_sig = "mcsi_status mcsi_io_write_zeroes(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, uint64_t len, uint32_t flags, mcsi_completion c)",
    policy = "own_session",
    session_methods = { "write_zeroes" },
    lua_args = { "session_id", "lun", "lba", "blocks" },
    params = { SID, LUN, { name = "lba", type = "uint", required = true, doc = "the first block" },
               { name = "blocks", type = "uint", required = true, doc = "blocks to zero" }, FUA, DPO },
    statuses = SCSI_ST,
    doc = "Zeroes a range: WRITE SAME(16), or WRITE(16)s of zeroes on a LUN that refuses it.",
    c_doc = "Zeroes len bytes at offset: WRITE SAME(16), or WRITE(16)s of zeroes on a LUN that refuses it (remembered); result: const mcsi_io_result *." },
  { name = "scsi_command", family = "io",
    policy = "own_session",
    c_sig = "mcsi_status mcsi_scsi_command(mcsi_initiator *ini, mcsi_id session_id, uint64_t lun, const uint8_t *cdb, size_t cdb_len, int dir, void *buf, size_t len, mcsi_scsi_result *res)",
    lua_args = { "session_id", "lun", "cdb", "direction", "length" },
    params = { SID, LUN, { name = "cdb", type = "string", required = true, doc = "the CDB, 1..16 bytes (hex in JSON)" },
               { name = "direction", type = "string", values = { "none", "read", "write" }, default = "none", doc = "data direction" },
               { name = "length", type = "uint", doc = "bytes to read" },
               { name = "data", type = "string", doc = "bytes to write (base64 in JSON)" } },
    results = { { name = "ScsiStatus" }, { name = "SenseKey" }, { name = "Asc" }, { name = "Ascq" }, { name = "Data" } },
    statuses = SCSI_ST,
    doc = "Any SCSI command: a CDB, a direction and its data." },
  { name = "scsi_test_unit_ready", family = "io",
    policy = "own_session",
    session_methods = { "test_unit_ready" },
    c_sig = "mcsi_status mcsi_scsi_test_unit_ready(mcsi_initiator *ini, mcsi_id sid, uint64_t lun)",
    c_forms = {
      { sig = "mcsi_status mcsi_scsi_test_unit_ready_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_completion c)",
        doc = "Asynchronous TEST UNIT READY; result: NULL." },
    },
    lua_args = { "session_id", "lun" }, params = { SID, LUN }, statuses = SCSI_ST,
    doc = "TEST UNIT READY." },
  { name = "lun_reset", family = "io",
    policy = "own_session",
    session_methods = { "lun_reset" },
    c_sig = "mcsi_status mcsi_lun_reset(mcsi_initiator *ini, mcsi_id sid, uint64_t lun)",
    c_forms = {
      { sig = "mcsi_status mcsi_lun_reset_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_completion c)",
        doc = "Asynchronous LOGICAL UNIT RESET; result: const mcsi_session_result * (the session; connection_id 0)." },
    },
    lua_args = { "session_id", "lun" }, params = { SID, LUN },
    statuses = { S, "ISDSC_INVALID_SESSION_ID", "ISDSC_SCSI_REQUEST_FAILED" },
    doc = "LOGICAL UNIT RESET (a task management function)." },
  { name = "abort_task", family = "io",
    policy = "own_session",
    c_sig = "mcsi_status mcsi_abort_task(mcsi_initiator *ini, mcsi_id sid, uint64_t tag)",
    c_forms = {
      { sig = "mcsi_status mcsi_abort_task_async(mcsi_initiator *ini, mcsi_id sid, uint64_t tag, mcsi_completion c)",
        doc = "Asynchronous ABORT TASK; result: const mcsi_session_result * (the session; connection_id 0)." },
    },
    lua_args = { "session_id", "tag" },
    params = { SID, { name = "tag", type = "id", required = true, doc = "the task's tag" } },
    statuses = { S, "ISDSC_INVALID_SESSION_ID", "ISDSC_NOT_FOUND", "ISDSC_SCSI_REQUEST_FAILED" },
    doc = "ABORT TASK (a task management function).",
    c_doc = "ABORT TASK (blocking): ISDSC_SUCCESS once the target confirmed, ISDSC_NOT_FOUND when no longer outstanding." },
  { name = "io_geometry", family = "io", rpc = false, lua = false,
    c_sig = "mcsi_status mcsi_io_geometry(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_lun_geometry *out)",
    c_forms = {
      { sig = "mcsi_status mcsi_io_geometry_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_completion c)",
        doc = "Asynchronous form; result: const mcsi_lun_geometry * (NULL on failure)." },
    },
    params = { SID, LUN }, statuses = SCSI_ST,
    doc = "The LUN's geometry (block size, limits, UNMAP), learned now if not yet known; out may be NULL (else its struct_size set)." },
  { name = "io_limit_transfer", family = "io", rpc = false, lua = false,
    c_sig = "mcsi_status mcsi_io_limit_transfer(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint32_t max_bytes)",
    params = { SID, LUN, { name = "max_bytes", type = "uint", max = 4294967295,
                           doc = "bytes per command (0: MCSI_IO_MAX_PIECE), never above the LUN's own limit" } },
    statuses = { S, "ISDSC_INVALID_SESSION_ID", "ISDSC_INVALID_PARAMETER", "ISDSC_OUT_OF_RESOURCES" },
    doc = "Sets the bytes per command the engine sends for this LUN of the session (an NBD export's max_scsi_transfer)." },
  { name = "scsi_submit", family = "io", rpc = false,
    c_sig = "mcsi_status mcsi_scsi_submit(mcsi_initiator *ini, mcsi_id session_id, uint64_t lun, const uint8_t *cdb, size_t cdb_len, int dir, void *buf, size_t len, mcsi_completion c)",
    c_forms = {
      { sig = "mcsi_status mcsi_scsi_submit_tagged(mcsi_initiator *ini, mcsi_id session_id, uint64_t lun, const uint8_t *cdb, size_t cdb_len, int dir, void *buf, size_t len, mcsi_completion c, uint64_t *tag)",
        doc = "As mcsi_scsi_submit, and *tag names the command (unique in the process, kept across re-issues) for mcsi_abort_task." },
    },
    lua_args = { "session_id", "lun", "cdb", "direction", "length" },
    params = { SID, LUN, { name = "cdb", type = "string", required = true, doc = "the CDB, 1..16 bytes" },
               { name = "direction", type = "string", values = { "none", "read", "write" }, default = "none", doc = "data direction" },
               { name = "length", type = "uint", doc = "bytes to read, or the bytes to write (a string)" } },
    statuses = { S, "ISDSC_INVALID_SESSION_ID", "ISDSC_REQUEST_NOT_SUPPORTED" },
    doc = "A SCSI command whose tag is answered at once, its result later (not served by mcsid)." },
}

return D
