/* lapi_table.c: the Lua binding's operations and option tables, generated from api/operations.lua by api/generate.lua; do not edit. */
#include "lmcsi.h"

const luaL_Reg lmcsi_api_funcs[] = {
  {"login_to_target", lmcsi_l_login_to_target},
  {"logout_from_target", lmcsi_l_logout_from_target},
  {"add_connection_to_session", lmcsi_l_add_connection_to_session},
  {"remove_connection_from_session", lmcsi_l_remove_connection_from_session},
  {"set_wanted_connections", lmcsi_l_set_wanted_connections},
  {"sessions", lmcsi_l_sessions},
  {"session_info", lmcsi_l_session_info},
  {"connection_info", lmcsi_l_connection_info},
  {"set_load_balance_policy", lmcsi_l_set_load_balance_policy},
  {"scsi_inquiry", lmcsi_l_scsi_inquiry},
  {"scsi_read_capacity", lmcsi_l_scsi_read_capacity},
  {"scsi_report_luns", lmcsi_l_scsi_report_luns},
  {"send_targets", lmcsi_l_send_targets},
  {"export", lmcsi_l_export},
  {"read", lmcsi_l_read},
  {"write", lmcsi_l_write},
  {"flush", lmcsi_l_flush},
  {"unmap", lmcsi_l_unmap},
  {"write_zeroes", lmcsi_l_write_zeroes},
  {"scsi_command", lmcsi_l_scsi_command},
  {"scsi_test_unit_ready", lmcsi_l_scsi_test_unit_ready},
  {"lun_reset", lmcsi_l_lun_reset},
  {"abort_task", lmcsi_l_abort_task},
  {"scsi_submit", lmcsi_l_scsi_submit},
  {NULL, NULL}
};

const char *const lmcsi_api_session_methods[][2] = {
  {"logout", "logout_from_target"},
  {"close", "logout_from_target"},
  {"remove_connection", "remove_connection_from_session"},
  {"set_wanted_connections", "set_wanted_connections"},
  {"info", "session_info"},
  {"connection_info", "connection_info"},
  {"set_load_balance_policy", "set_load_balance_policy"},
  {"inquiry", "scsi_inquiry"},
  {"read_capacity", "scsi_read_capacity"},
  {"report_luns", "scsi_report_luns"},
  {"read", "read"},
  {"write", "write"},
  {"flush", "flush"},
  {"unmap", "unmap"},
  {"write_zeroes", "write_zeroes"},
  {"test_unit_ready", "scsi_test_unit_ready"},
  {"lun_reset", "lun_reset"},
  {NULL, NULL}
};

const lmcsi_opt_spec lmcsi_opts_login_to_target[] = {
  { "target", LMCSI_OPT_STRING, 0, 0 },
  { "portal", LMCSI_OPT_STRING, 0, 0 },
  { "header_digest", LMCSI_OPT_STRING, 0, 0 },
  { "data_digest", LMCSI_OPT_STRING, 0, 0 },
  { "login_timeout_ms", LMCSI_OPT_INTEGER, 0, 3600000 },
  { "initiator", LMCSI_OPT_STRING, 0, 0 },
  { "chap", LMCSI_OPT_TABLE, 0, 0 },
  { "max_connections", LMCSI_OPT_INTEGER, 0, 65535 },
  { "max_recv_data_segment_length", LMCSI_OPT_INTEGER, 0, 4294967295 },
  { "max_burst_length", LMCSI_OPT_INTEGER, 0, 4294967295 },
  { "first_burst_length", LMCSI_OPT_INTEGER, 0, 4294967295 },
  { "max_outstanding_r2t", LMCSI_OPT_INTEGER, 0, 4294967295 },
  { "default_time2wait", LMCSI_OPT_INTEGER, 0, 4294967295 },
  { "default_time2retain", LMCSI_OPT_INTEGER, 0, 4294967295 },
  { "initial_r2t", LMCSI_OPT_BOOLEAN, 0, 0 },
  { "immediate_data", LMCSI_OPT_BOOLEAN, 0, 0 },
  { "command_timeout_ms", LMCSI_OPT_INTEGER, 0, 2147483647 },
  { "nop_interval_ms", LMCSI_OPT_INTEGER, -1, 2147483647 },
  { "nop_timeout_ms", LMCSI_OPT_INTEGER, 0, 2147483647 },
  { "max_redirects", LMCSI_OPT_INTEGER, 0, 2147483647 },
  { "recovery_timeout_ms", LMCSI_OPT_INTEGER, -1, 2147483647 },
  { NULL, 0, 0, 0 },
};

const lmcsi_opt_spec lmcsi_opts_add_connection_to_session[] = {
  { "portal", LMCSI_OPT_STRING, 0, 0 },
  { "weight", LMCSI_OPT_INTEGER, 0, 4294967295 },
  { "login_timeout_ms", LMCSI_OPT_INTEGER, 0, 3600000 },
  { "chap", LMCSI_OPT_TABLE, 0, 0 },
  { NULL, 0, 0, 0 },
};

const lmcsi_opt_spec lmcsi_opts_set_load_balance_policy_paths[] = {
  { "connection", LMCSI_OPT_ANY, 0, 0 },
  { "weight", LMCSI_OPT_INTEGER, 0, 4294967295 },
  { "active", LMCSI_OPT_BOOLEAN, 0, 0 },
  { "primary", LMCSI_OPT_BOOLEAN, 0, 0 },
  { NULL, 0, 0, 0 },
};

const lmcsi_opt_spec lmcsi_opts_send_targets[] = {
  { "portal", LMCSI_OPT_STRING, 0, 0 },
  { "header_digest", LMCSI_OPT_STRING, 0, 0 },
  { "data_digest", LMCSI_OPT_STRING, 0, 0 },
  { "login_timeout_ms", LMCSI_OPT_INTEGER, 0, 3600000 },
  { "initiator", LMCSI_OPT_STRING, 0, 0 },
  { "chap", LMCSI_OPT_TABLE, 0, 0 },
  { NULL, 0, 0, 0 },
};

const lmcsi_opt_spec lmcsi_opts_export[] = {
  { "socket", LMCSI_OPT_STRING, 0, 0 },
  { "tcp", LMCSI_OPT_STRING, 0, 0 },
  { "name", LMCSI_OPT_STRING, 0, 0 },
  { "description", LMCSI_OPT_STRING, 0, 0 },
  { "read_only", LMCSI_OPT_BOOLEAN, 0, 0 },
  { "max_clients", LMCSI_OPT_INTEGER, 0, 4096 },
  { "handshake_timeout_ms", LMCSI_OPT_INTEGER, 0, 3600000 },
  { "max_request", LMCSI_OPT_INTEGER, 0, 1073741824 },
  { "max_scsi_transfer", LMCSI_OPT_INTEGER, 0, 1073741824 },
  { "tls", LMCSI_OPT_STRING, 0, 0 },
  { "tls_cert", LMCSI_OPT_STRING, 0, 0 },
  { "tls_key", LMCSI_OPT_STRING, 0, 0 },
  { "tls_ca", LMCSI_OPT_STRING, 0, 0 },
  { "tls_psk_file", LMCSI_OPT_STRING, 0, 0 },
  { NULL, 0, 0, 0 },
};
