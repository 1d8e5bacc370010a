-- mcsi.api_ops: every operation's names and parameters, generated from api/operations.lua by api/generate.lua; do not edit.
-- Read by mcsi.api (bindings/mcsi/api.lua), the runtime that maps and checks with it.
-- ops[lua or canonical name] = { name, rpc, lua, c, lua_args, lua_also, doc, params = { { name, rpc, type, required,
--   min, max, values, set, lua } } }; by_rpc[RPC method] = the same row; iscsicli[command] = the row.
local ops, by_rpc, iscsicli = {}, {}, {}
local function op(o)
  ops[o.name] = o
  if o.lua then ops[o.lua] = o end
  if o.rpc then by_rpc[o.rpc] = o end
  for _, c in ipairs(o.iscsicli or {}) do iscsicli[c] = o end
  o.param = {}
  for _, p in ipairs(o.params) do o.param[p.name] = p end
end
op{ name = "get_version", rpc = "GetVersion", iscsicli = { "VersionInfo", "NodeName" }, doc = "The daemon's version, protocol version, initiator name and every method's name.", params = { } }
op{ name = "upgrade", rpc = "Upgrade", doc = "Hands every session, the control socket and the NBD clients to a new mcsid started from the same path, read again from disk (as SIGUSR2; mcsid(8)): answered when the handover starts (SESSION_BUSY: one is under way, or the daemon stops), or with Wait when it ends; the connection then closes and the new mcsid answers on the same socket. No logout, no login: the sessions keep their TSIH and connections. `systemctl reload mcsid` does it (ExecReload: `mcsid --upgrade-running`). The unit's `systemctl restart` does the same through systemd's fd store (mcsid(8)).", params = {
    { name = "via_fd_store", rpc = "ViaFdStore", type = "bool", lua = false },
    { name = "wait", rpc = "Wait", type = "bool", lua = false } } }
op{ name = "login_to_target", rpc = "LoginToTarget", lua = "login_to_target", c = "mcsi_login_to_target", lua_args = "table", iscsicli = { "LoginTarget", "QLoginTarget" }, lua_also = { login = "The same login, returning an mcsi.Session (logged out when closed); also mcsi.Session.login." }, doc = "Logs in to a target with one connection (through mcsid: Connections of them); add more with AddConnectionToSession.", params = {
    { name = "target", rpc = "TargetName", type = "string", required = true, max = 223 },
    { name = "portal", rpc = "TargetPortal", type = "portal", required = true },
    { name = "persistent", rpc = "IsPersistent", type = "bool", lua = false },
    { name = "connections", rpc = "Connections", type = "uint", min = 1, max = 32, lua = false },
    { name = "header_digest", rpc = "HeaderDigest", type = "string", values = { "None", "CRC32C" }, set = "login" },
    { name = "data_digest", rpc = "DataDigest", type = "string", values = { "None", "CRC32C" }, set = "login" },
    { name = "login_timeout_ms", rpc = "LoginTimeoutMs", type = "uint", max = 3600000, set = "login" },
    { name = "initiator", type = "string", set = "login" },
    { name = "chap_account", rpc = "ChapAccount", type = "string", max = 127, set = "chap" },
    { name = "username", rpc = "Username", type = "string", max = 255, set = "chap" },
    { name = "secret", rpc = "Secret", type = "string", max = 255, set = "chap", secret = true },
    { name = "secret_file", rpc = "SecretFile", type = "string", set = "chap" },
    { name = "target_username", rpc = "TargetUsername", type = "string", max = 255, set = "chap" },
    { name = "target_secret", rpc = "TargetSecret", type = "string", max = 255, set = "chap", secret = true },
    { name = "target_secret_file", rpc = "TargetSecretFile", type = "string", set = "chap" },
    { name = "max_connections", rpc = "MaximumConnections", type = "uint", max = 65535, set = "session" },
    { name = "max_recv_data_segment_length", type = "uint", max = 4294967295, set = "session" },
    { name = "max_burst_length", type = "uint", max = 4294967295, set = "session" },
    { name = "first_burst_length", type = "uint", max = 4294967295, set = "session" },
    { name = "max_outstanding_r2t", type = "uint", max = 4294967295, set = "session" },
    { name = "default_time2wait", type = "uint", max = 4294967295, set = "session" },
    { name = "default_time2retain", type = "uint", max = 4294967295, set = "session" },
    { name = "initial_r2t", type = "bool", set = "session" },
    { name = "immediate_data", type = "bool", set = "session" },
    { name = "command_timeout_ms", type = "uint", max = 2147483647, set = "session" },
    { name = "nop_interval_ms", type = "int", min = -1, max = 2147483647, set = "session" },
    { name = "nop_timeout_ms", type = "uint", max = 2147483647, set = "session" },
    { name = "max_redirects", type = "uint", max = 2147483647, set = "session" },
    { name = "recovery_timeout_ms", type = "int", min = -1, max = 2147483647, set = "session" } } }
op{ name = "logout_from_target", rpc = "LogoutFromTarget", lua = "logout_from_target", c = "mcsi_logout_from_target", lua_args = { "session_id" }, iscsicli = { "LogoutTarget" }, session_methods = { "logout", "close" }, doc = "Logs the session out (every connection) and forgets it.", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true } } }
op{ name = "add_connection_to_session", rpc = "AddConnectionToSession", lua = "add_connection_to_session", c = "mcsi_add_connection_to_session", lua_args = { "session_id", "table" }, iscsicli = { "AddConnection", "QAddConnection" }, doc = "Adds a connection (MC/S) to a session; its wanted connections become at least the active ones (+1 when it had them all). Refused (SESSION_BUSY) while the session is being handed to another process (Upgrade).", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "portal", rpc = "TargetPortal", type = "portal", required = true },
    { name = "weight", rpc = "Weight", type = "uint", max = 4294967295 },
    { name = "login_timeout_ms", rpc = "LoginTimeoutMs", type = "uint", max = 3600000 },
    { name = "chap_account", rpc = "ChapAccount", type = "string", max = 127, set = "chap" },
    { name = "username", rpc = "Username", type = "string", max = 255, set = "chap" },
    { name = "secret", rpc = "Secret", type = "string", max = 255, set = "chap", secret = true },
    { name = "secret_file", rpc = "SecretFile", type = "string", set = "chap" },
    { name = "target_username", rpc = "TargetUsername", type = "string", max = 255, set = "chap" },
    { name = "target_secret", rpc = "TargetSecret", type = "string", max = 255, set = "chap", secret = true },
    { name = "target_secret_file", rpc = "TargetSecretFile", type = "string", set = "chap" } } }
op{ name = "remove_connection_from_session", rpc = "RemoveConnectionFromSession", lua = "remove_connection_from_session", c = "mcsi_remove_connection_from_session", lua_args = { "session_id", "connection_id" }, iscsicli = { "RemoveConnection" }, session_methods = { "remove_connection" }, doc = "Logs one connection of a session out; its tasks move to the others; its wanted connections go down by one (policies do not add it back). Refused (SESSION_BUSY) while the session is being handed to another process (Upgrade).", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "connection_id", rpc = "UniqueConnectionId", type = "id", required = true } } }
op{ name = "set_wanted_connections", rpc = "SetWantedConnections", lua = "set_wanted_connections", c = "mcsi_set_wanted_connections", lua_args = { "session_id", "connections" }, session_methods = { "set_wanted_connections" }, doc = "Sets the session's wanted number of connections: policies (failover) keep it; a persistent target stores it.", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "connections", rpc = "Connections", type = "uint", required = true, min = 1, max = 65535 } } }
op{ name = "sessions", rpc = "SessionList", lua = "sessions", c = "mcsi_session_list", lua_args = {  }, iscsicli = { "SessionList", "ReportTargetMappings" }, doc = "Every session with its connections (as GetSessionInfo).", params = { } }
op{ name = "session_info", rpc = "GetSessionInfo", lua = "session_info", c = "mcsi_session_get_info", lua_args = { "session_id" }, session_methods = { "info" }, doc = "One session: its state, negotiated values, counters and connections.", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true } } }
op{ name = "connection_info", lua = "connection_info", lua_args = { "session_id", "connection_id" }, session_methods = { "connection_info" }, doc = "One connection of a session (through mcsid: from GetSessionInfo).", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "connection_id", rpc = "UniqueConnectionId", type = "id", required = true } } }
op{ name = "set_load_balance_policy", rpc = "SetLoadBalancePolicy", lua = "set_load_balance_policy", c = "mcsi_set_load_balance_policy", lua_args = { "session_id", "policy", "paths" }, session_methods = { "set_load_balance_policy" }, doc = "Sets the session's load balance policy and, optionally, its paths.", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "policy", rpc = "LoadBalancePolicy", type = "policy", required = true },
    { name = "paths", rpc = "Paths", type = "array", elements = { { name = "connection_id", rpc = "UniqueConnectionId", lua = "connection", type = "id", required = true }, { name = "weight", rpc = "Weight", lua = "weight", type = "uint" }, { name = "active", rpc = "Active", lua = "active", type = "bool" }, { name = "primary", rpc = "Primary", lua = "primary", type = "bool" } } } } }
op{ name = "scsi_inquiry", rpc = "ScsiInquiry", lua = "scsi_inquiry", c = "mcsi_scsi_inquiry", lua_args = { "session_id", "lun", "page" }, iscsicli = { "ScsiInquiry" }, session_methods = { "inquiry" }, doc = "INQUIRY: standard data or a VPD page.", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "page", rpc = "PageCode", type = "uint", max = 255 } } }
op{ name = "scsi_read_capacity", rpc = "ScsiReadCapacity", lua = "scsi_read_capacity", c = "mcsi_scsi_read_capacity", lua_args = { "session_id", "lun" }, iscsicli = { "ReadCapacity" }, session_methods = { "read_capacity" }, doc = "READ CAPACITY (16, or 10 when 16 is refused).", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" } } }
op{ name = "scsi_report_luns", rpc = "ScsiReportLuns", lua = "scsi_report_luns", c = "mcsi_scsi_report_luns", lua_args = { "session_id" }, iscsicli = { "ReportLUNs" }, session_methods = { "report_luns" }, doc = "REPORT LUNS: the LUNs of the session's target.", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true } } }
op{ name = "send_targets", rpc = "SendTargets", lua = "send_targets", c = "mcsi_send_targets", lua_args = "table", doc = "Discovery (SendTargets=All) through a discovery session; nothing is stored.", params = {
    { name = "portal", rpc = "TargetPortal", type = "portal", required = true },
    { name = "max_connections", rpc = "MaximumConnections", type = "uint", max = 65535, lua = false },
    { name = "header_digest", rpc = "HeaderDigest", type = "string", values = { "None", "CRC32C" }, set = "login" },
    { name = "data_digest", rpc = "DataDigest", type = "string", values = { "None", "CRC32C" }, set = "login" },
    { name = "login_timeout_ms", rpc = "LoginTimeoutMs", type = "uint", max = 3600000, set = "login" },
    { name = "initiator", type = "string", set = "login" },
    { name = "chap_account", rpc = "ChapAccount", type = "string", max = 127, set = "chap" },
    { name = "username", rpc = "Username", type = "string", max = 255, set = "chap" },
    { name = "secret", rpc = "Secret", type = "string", max = 255, set = "chap", secret = true },
    { name = "secret_file", rpc = "SecretFile", type = "string", set = "chap" },
    { name = "target_username", rpc = "TargetUsername", type = "string", max = 255, set = "chap" },
    { name = "target_secret", rpc = "TargetSecret", type = "string", max = 255, set = "chap", secret = true },
    { name = "target_secret_file", rpc = "TargetSecretFile", type = "string", set = "chap" } } }
op{ name = "add_target_portal", rpc = "AddTargetPortal", iscsicli = { "AddTargetPortal", "QAddTargetPortal", "RefreshTargetPortal" }, doc = "Contacts the portal (SendTargets) and, when that succeeded, stores it and its targets.", params = {
    { name = "portal", rpc = "TargetPortal", type = "portal", required = true },
    { name = "max_connections", rpc = "MaximumConnections", type = "uint", max = 65535, lua = false },
    { name = "header_digest", rpc = "HeaderDigest", type = "string", values = { "None", "CRC32C" }, set = "login" },
    { name = "data_digest", rpc = "DataDigest", type = "string", values = { "None", "CRC32C" }, set = "login" },
    { name = "login_timeout_ms", rpc = "LoginTimeoutMs", type = "uint", max = 3600000, set = "login" },
    { name = "initiator", type = "string", set = "login" },
    { name = "chap_account", rpc = "ChapAccount", type = "string", max = 127, set = "chap" },
    { name = "username", rpc = "Username", type = "string", max = 255, set = "chap" },
    { name = "secret", rpc = "Secret", type = "string", max = 255, set = "chap", secret = true },
    { name = "secret_file", rpc = "SecretFile", type = "string", set = "chap" },
    { name = "target_username", rpc = "TargetUsername", type = "string", max = 255, set = "chap" },
    { name = "target_secret", rpc = "TargetSecret", type = "string", max = 255, set = "chap", secret = true },
    { name = "target_secret_file", rpc = "TargetSecretFile", type = "string", set = "chap" } } }
op{ name = "remove_target_portal", rpc = "RemoveTargetPortal", iscsicli = { "RemoveTargetPortal" }, doc = "Removes a stored portal and the targets known only through it.", params = {
    { name = "portal", rpc = "TargetPortal", type = "listed_portal", required = true } } }
op{ name = "list_target_portals", rpc = "ListTargetPortals", iscsicli = { "ListTargetPortals" }, doc = "The stored discovery portals.", params = { } }
op{ name = "list_targets", rpc = "ListTargets", iscsicli = { "ListTargets", "TargetInfo" }, doc = "The stored targets, each with the portals that listed it.", params = { } }
op{ name = "persistent_login_target", rpc = "PersistentLoginTarget", iscsicli = { "PersistentLoginTarget" }, doc = "Stores a target and keeps it logged in (at start, after a crash, when the session fails); a live session of the target is adopted, and a new Connections is applied to it at once.", params = {
    { name = "target", rpc = "TargetName", type = "string", required = true },
    { name = "portal", rpc = "TargetPortal", type = "portal" },
    { name = "portals", rpc = "Portals", type = "portals" },
    { name = "connections", rpc = "Connections", type = "uint" },
    { name = "policy", rpc = "LoadBalancePolicy", type = "policy" },
    { name = "policy_script", rpc = "PolicyScript", type = "string" },
    { name = "header_digest", rpc = "HeaderDigest", type = "string", values = { "None", "CRC32C" } },
    { name = "data_digest", rpc = "DataDigest", type = "string", values = { "None", "CRC32C" } },
    { name = "exports", rpc = "Exports", type = "array" },
    { name = "recovery_timeout_ms", rpc = "RecoveryTimeoutMs", type = "uint" },
    { name = "chap_account", rpc = "ChapAccount", type = "string", max = 127, set = "chap" },
    { name = "username", rpc = "Username", type = "string", max = 255, set = "chap" },
    { name = "secret", rpc = "Secret", type = "string", max = 255, set = "chap", secret = true },
    { name = "secret_file", rpc = "SecretFile", type = "string", set = "chap" },
    { name = "target_username", rpc = "TargetUsername", type = "string", max = 255, set = "chap" },
    { name = "target_secret", rpc = "TargetSecret", type = "string", max = 255, set = "chap", secret = true },
    { name = "target_secret_file", rpc = "TargetSecretFile", type = "string", set = "chap" } } }
op{ name = "list_persistent_targets", rpc = "ListPersistentTargets", iscsicli = { "ListPersistentTargets" }, doc = "The persistent targets and their state.", params = { } }
op{ name = "remove_persistent_target", rpc = "RemovePersistentTarget", iscsicli = { "RemovePersistentTarget" }, doc = "Forgets a persistent target and stops the NBD exports it stored (its session stays until logged out).", params = {
    { name = "target", rpc = "TargetName", type = "string", required = true } } }
op{ name = "subscribe", rpc = "Subscribe", doc = "Hear Event notifications (mcsi.on in Lua).", params = {
    { name = "kinds", rpc = "Kinds", type = "array" } } }
op{ name = "unsubscribe", rpc = "Unsubscribe", doc = "Stop hearing Event notifications.", params = { } }
op{ name = "export_lun", rpc = "ExportLun", doc = "Serves one LUN of a session to NBD clients on a Unix socket and/or TCP.", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint", required = true },
    { name = "socket", rpc = "Socket", type = "string" },
    { name = "tcp", rpc = "Tcp", type = "string" },
    { name = "export_name", rpc = "ExportName", type = "string" },
    { name = "read_only", rpc = "ReadOnly", type = "bool" },
    { name = "max_clients", rpc = "MaxClients", type = "uint", min = 1, max = 1024 },
    { name = "persistent", rpc = "IsPersistent", type = "bool" },
    { name = "tls", rpc = "Tls", type = "string", values = { "require", "off" } } } }
op{ name = "unexport_lun", rpc = "UnexportLun", doc = "Stops an export; its clients are closed.", params = {
    { name = "export_id", rpc = "ExportId", type = "id" },
    { name = "socket", rpc = "Socket", type = "string" } } }
op{ name = "list_exports", rpc = "ListExports", doc = "The NBD exports.", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id" } } }
op{ name = "export", lua = "export", lua_args = { "session_id", "lun", "table" }, doc = "Serves one LUN of a session to NBD clients from this process (through mcsid: ExportLun).", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint", required = true },
    { name = "socket", rpc = "Socket", type = "string" },
    { name = "tcp", rpc = "Tcp", type = "string" },
    { name = "name", rpc = "Name", type = "string" },
    { name = "description", rpc = "Description", type = "string" },
    { name = "read_only", rpc = "ReadOnly", type = "bool" },
    { name = "max_clients", rpc = "MaxClients", type = "uint", max = 4096 },
    { name = "handshake_timeout_ms", rpc = "HandshakeTimeoutMs", type = "uint", max = 3600000 },
    { name = "max_request", rpc = "MaxRequest", type = "uint", max = 1073741824 },
    { name = "max_scsi_transfer", rpc = "MaxScsiTransfer", type = "uint", max = 1073741824 },
    { name = "tls", rpc = "Tls", type = "string", values = { "require", "off" } },
    { name = "tls_cert", rpc = "TlsCert", type = "string" },
    { name = "tls_key", rpc = "TlsKey", type = "string" },
    { name = "tls_ca", rpc = "TlsCa", type = "string" },
    { name = "tls_psk_file", rpc = "TlsPskFile", type = "string" } } }
op{ name = "attach_policy", rpc = "AttachPolicy", doc = "Runs a policy script on one session, in a sandboxed process of its own.", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "policy_script", rpc = "PolicyScript", type = "string", required = true },
    { name = "options", rpc = "Options", type = "object" } } }
op{ name = "detach_policy", rpc = "DetachPolicy", doc = "Stops a policy.", params = {
    { name = "policy_id", rpc = "PolicyId", type = "uint", required = true } } }
op{ name = "list_policies", rpc = "ListPolicies", doc = "The policies running.", params = { } }
op{ name = "read", rpc = "ScsiRead", lua = "read", c = "mcsi_read", lua_args = { "session_id", "lun", "lba", "blocks" }, session_methods = { "read" }, doc = "Reads blocks (the engine's block I/O: READ(16)s, split by the LUN's maximum transfer length, retried by the engine's one rule).", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "lba", rpc = "Lba", type = "uint", required = true },
    { name = "blocks", rpc = "Blocks", type = "uint" },
    { name = "length", rpc = "Length", type = "uint", lua = false },
    { name = "force_unit_access", rpc = "ForceUnitAccess", type = "bool", lua = false },
    { name = "disable_page_out", rpc = "DisablePageOut", type = "bool", lua = false } } }
op{ name = "write", rpc = "ScsiWrite", lua = "write", c = "mcsi_write", lua_args = { "session_id", "lun", "lba", "data" }, session_methods = { "write" }, doc = "Writes whole blocks (the engine's block I/O: WRITE(16)s, split and retried by the engine).", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "lba", rpc = "Lba", type = "uint", required = true },
    { name = "data", rpc = "Data", type = "string", required = true },
    { name = "force_unit_access", rpc = "ForceUnitAccess", type = "bool", lua = false },
    { name = "disable_page_out", rpc = "DisablePageOut", type = "bool", lua = false } } }
op{ name = "flush", rpc = "ScsiSynchronizeCache", lua = "flush", c = "mcsi_io_flush", lua_args = { "session_id", "lun", "lba", "blocks" }, session_methods = { "flush" }, doc = "SYNCHRONIZE CACHE(16) of a range, or of the whole LUN.", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "lba", rpc = "Lba", type = "uint" },
    { name = "blocks", rpc = "Blocks", type = "uint" } } }
op{ name = "unmap", rpc = "ScsiUnmap", lua = "unmap", c = "mcsi_io_unmap", lua_args = { "session_id", "lun", "lba", "blocks" }, session_methods = { "unmap" }, doc = "UNMAP of a range, split by the LUN's UNMAP limits; not supported when the LUN offers none.", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "lba", rpc = "Lba", type = "uint", required = true },
    { name = "blocks", rpc = "Blocks", type = "uint", required = true } } }
op{ name = "write_zeroes", rpc = "ScsiWriteZeroes", lua = "write_zeroes", c = "mcsi_io_write_zeroes", lua_args = { "session_id", "lun", "lba", "blocks" }, session_methods = { "write_zeroes" }, doc = "Zeroes a range: WRITE SAME(16), or WRITE(16)s of zeroes on a LUN that refuses it.", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "lba", rpc = "Lba", type = "uint", required = true },
    { name = "blocks", rpc = "Blocks", type = "uint", required = true },
    { name = "force_unit_access", rpc = "ForceUnitAccess", type = "bool", lua = false },
    { name = "disable_page_out", rpc = "DisablePageOut", type = "bool", lua = false } } }
op{ name = "scsi_command", rpc = "ScsiCommand", lua = "scsi_command", c = "mcsi_scsi_command", lua_args = { "session_id", "lun", "cdb", "direction", "length" }, doc = "Any SCSI command: a CDB, a direction and its data.", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "cdb", rpc = "Cdb", type = "string", required = true },
    { name = "direction", rpc = "Direction", type = "string", values = { "none", "read", "write" } },
    { name = "length", rpc = "Length", type = "uint" },
    { name = "data", rpc = "Data", type = "string" } } }
op{ name = "scsi_test_unit_ready", rpc = "ScsiTestUnitReady", lua = "scsi_test_unit_ready", c = "mcsi_scsi_test_unit_ready", lua_args = { "session_id", "lun" }, session_methods = { "test_unit_ready" }, doc = "TEST UNIT READY.", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" } } }
op{ name = "lun_reset", rpc = "LunReset", lua = "lun_reset", c = "mcsi_lun_reset", lua_args = { "session_id", "lun" }, session_methods = { "lun_reset" }, doc = "LOGICAL UNIT RESET (a task management function).", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" } } }
op{ name = "abort_task", rpc = "AbortTask", lua = "abort_task", c = "mcsi_abort_task", lua_args = { "session_id", "tag" }, doc = "ABORT TASK (a task management function).", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "tag", rpc = "Tag", type = "id", required = true } } }
op{ name = "io_geometry", c = "mcsi_io_geometry", doc = "The LUN's geometry (block size, limits, UNMAP), learned now if not yet known; out may be NULL (else its struct_size set).", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" } } }
op{ name = "io_limit_transfer", c = "mcsi_io_limit_transfer", doc = "Sets the bytes per command the engine sends for this LUN of the session (an NBD export's max_scsi_transfer).", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "max_bytes", rpc = "MaxBytes", type = "uint", max = 4294967295 } } }
op{ name = "scsi_submit", lua = "scsi_submit", c = "mcsi_scsi_submit", lua_args = { "session_id", "lun", "cdb", "direction", "length" }, doc = "A SCSI command whose tag is answered at once, its result later (not served by mcsid).", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "cdb", rpc = "Cdb", type = "string", required = true },
    { name = "direction", rpc = "Direction", type = "string", values = { "none", "read", "write" } },
    { name = "length", rpc = "Length", type = "uint" } } }
return { ops = ops, by_rpc = by_rpc, iscsicli = iscsicli }
