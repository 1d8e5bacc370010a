/* lapi_table.h: the Lua binding's operations, generated from api/operations.lua by api/generate.lua; do not edit.
 * Each lmcsi_l_<operation> is written by hand (bindings/l*.c); lmcsi_api_funcs registers them
 * as mcsi.<operation>; lmcsi_opts_<operation> are the keys of its options table, checked by
 * lmcsi_check_opts (lmcsi.c). */
#ifndef LMCSI_API_TABLE_H
#define LMCSI_API_TABLE_H

int lmcsi_l_login_to_target(lua_State *L);
int lmcsi_l_logout_from_target(lua_State *L);
int lmcsi_l_add_connection_to_session(lua_State *L);
int lmcsi_l_remove_connection_from_session(lua_State *L);
int lmcsi_l_set_wanted_connections(lua_State *L);
int lmcsi_l_sessions(lua_State *L);
int lmcsi_l_session_info(lua_State *L);
int lmcsi_l_connection_info(lua_State *L);
int lmcsi_l_set_load_balance_policy(lua_State *L);
int lmcsi_l_scsi_inquiry(lua_State *L);
int lmcsi_l_scsi_read_capacity(lua_State *L);
int lmcsi_l_scsi_report_luns(lua_State *L);
int lmcsi_l_send_targets(lua_State *L);
int lmcsi_l_export(lua_State *L);
int lmcsi_l_read(lua_State *L);
int lmcsi_l_write(lua_State *L);
int lmcsi_l_flush(lua_State *L);
int lmcsi_l_unmap(lua_State *L);
int lmcsi_l_write_zeroes(lua_State *L);
int lmcsi_l_scsi_command(lua_State *L);
int lmcsi_l_scsi_test_unit_ready(lua_State *L);
int lmcsi_l_lun_reset(lua_State *L);
int lmcsi_l_abort_task(lua_State *L);
int lmcsi_l_scsi_submit(lua_State *L);

extern const luaL_Reg lmcsi_api_funcs[];
/* mcsi.Session methods that are operations: { method, function of the module } */
extern const char *const lmcsi_api_session_methods[][2];
extern const lmcsi_opt_spec lmcsi_opts_login_to_target[];
extern const lmcsi_opt_spec lmcsi_opts_add_connection_to_session[];
extern const lmcsi_opt_spec lmcsi_opts_set_load_balance_policy_paths[];   /* each table of paths */
extern const lmcsi_opt_spec lmcsi_opts_send_targets[];
extern const lmcsi_opt_spec lmcsi_opts_export[];

#endif
