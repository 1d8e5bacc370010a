-- mcsi.api_ops: every operation's names and parameters, generated from api/operations.lua by api/generate.lua; do not edit.
-- Read by mcsi.api (bindings/mcsi/api.lua), the runtime that maps and checks with it.
-- ops[lua or canonical name] = { name, rpc, lua, c, lua_args, params = { { name, rpc, type, required,
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
op{ name = "get_version", rpc = "GetVersion", iscsicli = { "VersionInfo", "NodeName" }, params = { } }
op{ name = "upgrade", rpc = "Upgrade", params = { } }
op{ name = "login_to_target", rpc = "LoginToTarget", lua = "login_to_target", c = "mcsi_login_to_target", lua_args = "table", iscsicli = { "LoginTarget", "QLoginTarget" }, params = {
    { name = "target", rpc = "TargetName", type = "string", required = true, max = 223 },
    { name = "portal", rpc = "TargetPortal", type = "portal", required = true },
    { name = "persistent", rpc = "IsPersistent", type = "bool", lua = false },
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
op{ name = "logout_from_target", rpc = "LogoutFromTarget", lua = "logout_from_target", c = "mcsi_logout_from_target", lua_args = { "session_id" }, iscsicli = { "LogoutTarget" }, session_methods = { "logout", "close" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true } } }
op{ name = "add_connection_to_session", rpc = "AddConnectionToSession", lua = "add_connection_to_session", c = "mcsi_add_connection_to_session", lua_args = { "session_id", "table" }, iscsicli = { "AddConnection", "QAddConnection" }, params = {
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
op{ name = "remove_connection_from_session", rpc = "RemoveConnectionFromSession", lua = "remove_connection_from_session", c = "mcsi_remove_connection_from_session", lua_args = { "session_id", "connection_id" }, iscsicli = { "RemoveConnection" }, session_methods = { "remove_connection" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "connection_id", rpc = "UniqueConnectionId", type = "id", required = true } } }
op{ name = "sessions", rpc = "SessionList", lua = "sessions", c = "mcsi_session_list", lua_args = {  }, iscsicli = { "SessionList", "ReportTargetMappings" }, params = { } }
op{ name = "session_info", rpc = "GetSessionInfo", lua = "session_info", c = "mcsi_session_get_info", lua_args = { "session_id" }, session_methods = { "info" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true } } }
op{ name = "connection_info", lua = "connection_info", lua_args = { "session_id", "connection_id" }, session_methods = { "connection_info" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "connection_id", rpc = "UniqueConnectionId", type = "id", required = true } } }
op{ name = "set_load_balance_policy", rpc = "SetLoadBalancePolicy", lua = "set_load_balance_policy", c = "mcsi_set_load_balance_policy", lua_args = { "session_id", "policy", "paths" }, session_methods = { "set_load_balance_policy" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "policy", rpc = "LoadBalancePolicy", type = "policy", required = true },
    { name = "paths", rpc = "Paths", type = "array", elements = { { name = "connection_id", rpc = "UniqueConnectionId", lua = "connection", type = "id", required = true }, { name = "weight", rpc = "Weight", lua = "weight", type = "uint" }, { name = "active", rpc = "Active", lua = "active", type = "bool" }, { name = "primary", rpc = "Primary", lua = "primary", type = "bool" } } } } }
op{ name = "scsi_inquiry", rpc = "ScsiInquiry", lua = "scsi_inquiry", c = "mcsi_scsi_inquiry", lua_args = { "session_id", "lun", "page" }, iscsicli = { "ScsiInquiry" }, session_methods = { "inquiry" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "page", rpc = "PageCode", type = "uint", max = 255 } } }
op{ name = "scsi_read_capacity", rpc = "ScsiReadCapacity", lua = "scsi_read_capacity", c = "mcsi_scsi_read_capacity", lua_args = { "session_id", "lun" }, iscsicli = { "ReadCapacity" }, session_methods = { "read_capacity" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" } } }
op{ name = "scsi_report_luns", rpc = "ScsiReportLuns", lua = "scsi_report_luns", c = "mcsi_scsi_report_luns", lua_args = { "session_id" }, iscsicli = { "ReportLUNs" }, session_methods = { "report_luns" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true } } }
op{ name = "send_targets", rpc = "SendTargets", lua = "send_targets", c = "mcsi_send_targets", lua_args = "table", params = {
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
op{ name = "add_target_portal", rpc = "AddTargetPortal", iscsicli = { "AddTargetPortal", "QAddTargetPortal", "RefreshTargetPortal" }, params = {
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
op{ name = "remove_target_portal", rpc = "RemoveTargetPortal", iscsicli = { "RemoveTargetPortal" }, params = {
    { name = "portal", rpc = "TargetPortal", type = "portal", required = true } } }
op{ name = "list_target_portals", rpc = "ListTargetPortals", iscsicli = { "ListTargetPortals" }, params = { } }
op{ name = "list_targets", rpc = "ListTargets", iscsicli = { "ListTargets", "TargetInfo" }, params = { } }
op{ name = "persistent_login_target", rpc = "PersistentLoginTarget", iscsicli = { "PersistentLoginTarget" }, params = {
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
op{ name = "list_persistent_targets", rpc = "ListPersistentTargets", iscsicli = { "ListPersistentTargets" }, params = { } }
op{ name = "remove_persistent_target", rpc = "RemovePersistentTarget", iscsicli = { "RemovePersistentTarget" }, params = {
    { name = "target", rpc = "TargetName", type = "string", required = true } } }
op{ name = "subscribe", rpc = "Subscribe", params = {
    { name = "kinds", rpc = "Kinds", type = "array" } } }
op{ name = "unsubscribe", rpc = "Unsubscribe", params = { } }
op{ name = "export_lun", rpc = "ExportLun", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint", required = true },
    { name = "socket", rpc = "Socket", type = "string" },
    { name = "tcp", rpc = "Tcp", type = "string" },
    { name = "export_name", rpc = "ExportName", type = "string" },
    { name = "read_only", rpc = "ReadOnly", type = "bool" },
    { name = "max_clients", rpc = "MaxClients", type = "uint", min = 1, max = 1024 },
    { name = "persistent", rpc = "IsPersistent", type = "bool" },
    { name = "tls", rpc = "Tls", type = "string", values = { "require", "off" } } } }
op{ name = "unexport_lun", rpc = "UnexportLun", params = {
    { name = "export_id", rpc = "ExportId", type = "id" },
    { name = "socket", rpc = "Socket", type = "string" } } }
op{ name = "list_exports", rpc = "ListExports", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id" } } }
op{ name = "export", lua = "export", lua_args = { "session_id", "lun", "table" }, params = {
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
op{ name = "attach_policy", rpc = "AttachPolicy", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "policy_script", rpc = "PolicyScript", type = "string", required = true },
    { name = "options", rpc = "Options", type = "object" } } }
op{ name = "detach_policy", rpc = "DetachPolicy", params = {
    { name = "policy_id", rpc = "PolicyId", type = "uint", required = true } } }
op{ name = "list_policies", rpc = "ListPolicies", params = { } }
op{ name = "read", rpc = "ScsiRead", lua = "read", c = "mcsi_read", lua_args = { "session_id", "lun", "lba", "blocks" }, session_methods = { "read" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "lba", rpc = "Lba", type = "uint", required = true },
    { name = "blocks", rpc = "Blocks", type = "uint" },
    { name = "length", rpc = "Length", type = "uint", lua = false },
    { name = "force_unit_access", rpc = "ForceUnitAccess", type = "bool", lua = false },
    { name = "disable_page_out", rpc = "DisablePageOut", type = "bool", lua = false } } }
op{ name = "write", rpc = "ScsiWrite", lua = "write", c = "mcsi_write", lua_args = { "session_id", "lun", "lba", "data" }, session_methods = { "write" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "lba", rpc = "Lba", type = "uint", required = true },
    { name = "data", rpc = "Data", type = "string", required = true },
    { name = "force_unit_access", rpc = "ForceUnitAccess", type = "bool", lua = false },
    { name = "disable_page_out", rpc = "DisablePageOut", type = "bool", lua = false } } }
op{ name = "flush", rpc = "ScsiSynchronizeCache", lua = "flush", c = "mcsi_io_flush", lua_args = { "session_id", "lun", "lba", "blocks" }, session_methods = { "flush" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "lba", rpc = "Lba", type = "uint" },
    { name = "blocks", rpc = "Blocks", type = "uint" } } }
op{ name = "unmap", rpc = "ScsiUnmap", lua = "unmap", c = "mcsi_io_unmap", lua_args = { "session_id", "lun", "lba", "blocks" }, session_methods = { "unmap" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "lba", rpc = "Lba", type = "uint", required = true },
    { name = "blocks", rpc = "Blocks", type = "uint", required = true } } }
op{ name = "write_zeroes", rpc = "ScsiWriteZeroes", lua = "write_zeroes", c = "mcsi_io_write_zeroes", lua_args = { "session_id", "lun", "lba", "blocks" }, session_methods = { "write_zeroes" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "lba", rpc = "Lba", type = "uint", required = true },
    { name = "blocks", rpc = "Blocks", type = "uint", required = true },
    { name = "force_unit_access", rpc = "ForceUnitAccess", type = "bool", lua = false },
    { name = "disable_page_out", rpc = "DisablePageOut", type = "bool", lua = false } } }
op{ name = "scsi_command", rpc = "ScsiCommand", lua = "scsi_command", c = "mcsi_scsi_command", lua_args = { "session_id", "lun", "cdb", "direction", "length" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "cdb", rpc = "Cdb", type = "string", required = true },
    { name = "direction", rpc = "Direction", type = "string", values = { "none", "read", "write" } },
    { name = "length", rpc = "Length", type = "uint" },
    { name = "data", rpc = "Data", type = "string" } } }
op{ name = "scsi_test_unit_ready", rpc = "ScsiTestUnitReady", lua = "scsi_test_unit_ready", c = "mcsi_scsi_test_unit_ready", lua_args = { "session_id", "lun" }, session_methods = { "test_unit_ready" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" } } }
op{ name = "lun_reset", rpc = "LunReset", lua = "lun_reset", c = "mcsi_lun_reset", lua_args = { "session_id", "lun" }, session_methods = { "lun_reset" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" } } }
op{ name = "abort_task", rpc = "AbortTask", lua = "abort_task", c = "mcsi_abort_task", lua_args = { "session_id", "tag" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "tag", rpc = "Tag", type = "id", required = true } } }
op{ name = "io_geometry", c = "mcsi_io_geometry", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" } } }
op{ name = "io_limit_transfer", c = "mcsi_io_limit_transfer", params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "max_bytes", rpc = "MaxBytes", type = "uint", max = 4294967295 } } }
op{ name = "scsi_submit", lua = "scsi_submit", c = "mcsi_scsi_submit", lua_args = { "session_id", "lun", "cdb", "direction", "length" }, params = {
    { name = "session_id", rpc = "UniqueSessionId", type = "id", required = true },
    { name = "lun", rpc = "Lun", type = "uint" },
    { name = "cdb", rpc = "Cdb", type = "string", required = true },
    { name = "direction", rpc = "Direction", type = "string", values = { "none", "read", "write" } },
    { name = "length", rpc = "Length", type = "uint" } } }
return { ops = ops, by_rpc = by_rpc, iscsicli = iscsicli }
