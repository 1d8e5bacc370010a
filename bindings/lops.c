/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lops.c: the session operations of the module: login, logout, adding and
 * removing connections, discovery (SendTargets), LUN RESET and ABORT TASK.
 * Each is one core asynchronous operation run as a request (lrequest.c): the
 * same function is the blocking form, the callback form (a function as last
 * argument) and, inside mcsi.spawn, the yielding form.
 */
#include <limits.h>
#include <string.h>
#include "lmcsi.h"

#define U32 0xFFFFFFFF
#define LOGIN 1                 /* r->what of a login: its session's initiator is noted */

/* ---- options ---------------------------------------------------------------------- */

static int yesno_field(lua_State *L, int t, const char *k, const char *what)
{
  int ty = lmcsi_raw_field(L, t, k), v = MCSI_DEFAULT;
  if (ty == LUA_TBOOLEAN) v = lua_toboolean(L, -1) ? MCSI_YES : MCSI_NO;
  else if (ty != LUA_TNIL) luaL_error(L, "%s: option '%s' must be a boolean", what, k);
  lua_pop(L, 1);
  return v;
}

static int digest_field(lua_State *L, int t, const char *k, const char *what)
{
  const char *s = lmcsi_str_field(L, t, k, what);
  if (!s || strcmp(s, "none") == 0) return MCSI_DIGEST_NONE;
  if (strcmp(s, "crc32c") == 0 || strcmp(s, "CRC32C") == 0) return MCSI_DIGEST_CRC32C;
  return luaL_error(L, "%s: option '%s' must be \"crc32c\" or \"none\", not \"%s\"", what, k, lmcsi_push_short(L, s));
}

/* Reads v from the options table at t (strings stay anchored in it), once
 * the description's checker (lmcsi_opts_login_to_target) has accepted it. */
static void login_opts(lua_State *L, int t, lmcsi_opt_values *v, const char *what)
{
  static const struct { int key; const char *name; int64_t min, max; } ints[] = {
    { MCSI_OPT_MAX_CONNECTIONS, "max_connections", 0, U32 },
    { MCSI_OPT_MAX_RECV_DATA_SEGMENT_LENGTH, "max_recv_data_segment_length", 0, U32 },
    { MCSI_OPT_MAX_BURST_LENGTH, "max_burst_length", 0, U32 },
    { MCSI_OPT_FIRST_BURST_LENGTH, "first_burst_length", 0, U32 },
    { MCSI_OPT_MAX_OUTSTANDING_R2T, "max_outstanding_r2t", 0, U32 },
    { MCSI_OPT_DEFAULT_TIME2WAIT, "default_time2wait", 0, U32 },
    { MCSI_OPT_DEFAULT_TIME2RETAIN, "default_time2retain", 0, U32 },
    { MCSI_OPT_LOGIN_TIMEOUT_MS, "login_timeout_ms", 0, INT_MAX },
    { MCSI_OPT_COMMAND_TIMEOUT_MS, "command_timeout_ms", 0, INT_MAX },
    { MCSI_OPT_NOP_INTERVAL_MS, "nop_interval_ms", -1, INT_MAX },
    { MCSI_OPT_NOP_TIMEOUT_MS, "nop_timeout_ms", 0, INT_MAX },
    { MCSI_OPT_MAX_REDIRECTS, "max_redirects", 0, INT_MAX },
    { MCSI_OPT_RECOVERY_TIMEOUT_MS, "recovery_timeout_ms", -1, INT_MAX },
  };
  memset(v, 0, sizeof *v);
  lmcsi_check_opts(L, t, lmcsi_opts_login_to_target, what);
  v->s[MCSI_OPT_PORTAL] = lmcsi_str_field(L, t, "portal", what);
  v->s[MCSI_OPT_TARGET] = lmcsi_str_field(L, t, "target", what);
  lmcsi_chap_opts(L, t, v, what);
  v->i[MCSI_OPT_HEADER_DIGEST] = digest_field(L, t, "header_digest", what);
  v->i[MCSI_OPT_DATA_DIGEST] = digest_field(L, t, "data_digest", what);
  for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++)
    v->i[ints[k].key] = lmcsi_int_field(L, t, ints[k].name, 0, ints[k].min, ints[k].max, what);
  v->i[MCSI_OPT_INITIAL_R2T] = yesno_field(L, t, "initial_r2t", what);
  v->i[MCSI_OPT_IMMEDIATE_DATA] = yesno_field(L, t, "immediate_data", what);
}

/* The engine's opaque options from v (the keys set in v); a key the engine
 * refuses raises, once the handle is freed (nothing between raises). */
#define MAKE_OPTS(L, type, v, what) ({                                              \
    type *o_ = type##_new();                                                        \
    int bad_ = o_ ? 0 : -1;                                                         \
    for (int k_ = 1; o_ && k_ < MCSI_OPT_COUNT && !bad_; k_++) {                    \
      if (mcsi_opt_kind(k_) == MCSI_OPT_STRING && (v)->s[k_])                       \
        bad_ = type##_set_string(o_, k_, (v)->s[k_]) ? k_ : 0;                      \
      else if (mcsi_opt_kind(k_) == MCSI_OPT_INT && (v)->i[k_])                     \
        bad_ = type##_set_int(o_, k_, (v)->i[k_]) ? k_ : 0;                         \
    }                                                                               \
    if (bad_) {                                                                     \
      type##_free(o_);                                                              \
      if (bad_ < 0) luaL_error(L, "%s: not enough memory", what);                  \
      luaL_error(L, "%s: option '%s' is out of range", what, mcsi_opt_name(bad_));  \
    }                                                                               \
    o_; })

/* ---- starting a core operation ------------------------------------------------------- */

/* The end of a session operation (result: const mcsi_session_result *). */
static void on_done(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  const mcsi_session_result *ids = result;
  lmcsi_req *r = arg;
  (void)ini;
  r->sid = ids->session_id;
  r->cid = ids->connection_id;
  if (r->what == LOGIN && st == ISDSC_SUCCESS) lmcsi_note_owner(r->e, r->sid, r->ini);
  lmcsi_req_set(r, st, message);
  lmcsi_req_done(r);
}

static void ignore_done(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  (void)ini; (void)st; (void)message; (void)result; (void)arg;
}

/* Runs a core start call with the engine entered; a refusal's detail goes to r. */
#define START(L, e, r, call) do {                                   \
    lua_State *saved_;                                              \
    lmcsi_enter(e, L, &saved_);                                     \
    st = (call);                                                    \
    lmcsi_leave(e, saved_);                                         \
    if (st != ISDSC_SUCCESS) lmcsi_req_set(r, st, mcsi_last_message(r->ini)); \
  } while (0)

/* ---- login ------------------------------------------------------------------------------- */

static int push_login_ids(lua_State *L, lmcsi_req *r)
{
  if (r->st == ISDSC_SUCCESS) {
    lua_pushinteger(L, (lua_Integer)r->sid);
    lua_pushinteger(L, (lua_Integer)r->cid);
  } else {
    lua_pushnil(L);
    lua_pushnil(L);
  }
  lmcsi_push_status_detail(L, r->st, r->message);
  return 3;
}

static int push_login_session(lua_State *L, lmcsi_req *r)
{
  if (r->st == ISDSC_SUCCESS) lmcsi_session_new(L, r->sid, 1, r->ini);
  else lua_pushnil(L);
  lmcsi_push_status_detail(L, r->st, r->message);
  return 2;
}

/* Nobody waits any more (Ctrl-C): a session it made is logged out. */
static void abandon_login(lmcsi_req *r)
{
  if (r->st == ISDSC_SUCCESS) mcsi_logout_from_target_async(r->ini, r->sid, MCSI_COMPLETION(ignore_done, NULL));
}

/* The options table at 1 (and a function at 2): sid, cid, st or Session, st. */
int lmcsi_op_login(lua_State *L, int as_object)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  int cb = lmcsi_take_callback(L);
  lmcsi_opt_values v;
  luaL_checktype(L, 1, LUA_TTABLE);
  login_opts(L, 1, &v, "mcsi.login_to_target");
  mcsi_initiator *ini = lmcsi_use_initiator_name(L, e, lmcsi_str_field(L, 1, "initiator", "mcsi.login_to_target"));
  v.i[MCSI_OPT_LOGIN_TIMEOUT_MS] = lmcsi_cap_login_timeout(e, (int)v.i[MCSI_OPT_LOGIN_TIMEOUT_MS]);
  lmcsi_req *r = lmcsi_req_new(L, e, as_object ? push_login_session : push_login_ids, cb, "login_to_target");
  r->ini = ini;
  r->what = LOGIN;
  r->abandon = abandon_login;
  mcsi_status st;
  mcsi_login_opts *o = MAKE_OPTS(L, mcsi_login_opts, &v, "mcsi.login_to_target");
  START(L, e, r, mcsi_login_to_target_async(r->ini, o, MCSI_COMPLETION(on_done, r)));
  mcsi_login_opts_free(o);
  return lmcsi_req_started(L, r, st);
}

/* sid, cid, st = mcsi.login_to_target{ portal =, target =, ... } [, fn(sid, cid, st)] */
int lmcsi_l_login_to_target(lua_State *L) { return lmcsi_op_login(L, 0); }

/* ---- logout ------------------------------------------------------------------------------ */

static int push_status_only(lua_State *L, lmcsi_req *r)
{
  lmcsi_push_status_detail(L, r->st, r->message);
  return 1;
}

/* st = mcsi.logout_from_target(sid or session [, fn(st)]) */
int lmcsi_l_logout_from_target(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  int cb = lmcsi_take_callback(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  lmcsi_req *r = lmcsi_req_new(L, e, push_status_only, cb, "logout_from_target");
  r->ini = lmcsi_ini_for(L, e, sid);
  mcsi_status st;
  START(L, e, r, mcsi_logout_from_target_async(r->ini, sid, MCSI_COMPLETION(on_done, r)));
  if (st != ISDSC_SESSION_BUSY) lmcsi_session_closed(L, 1);   /* the session ends either way */
  return lmcsi_req_started(L, r, st);
}

/* ---- add and remove connections ------------------------------------------------------------ */

static int push_cid(lua_State *L, lmcsi_req *r)
{
  if (r->st == ISDSC_SUCCESS) lua_pushinteger(L, (lua_Integer)r->cid);
  else lua_pushnil(L);
  lmcsi_push_status_detail(L, r->st, r->message);
  return 2;
}

static int push_connection(lua_State *L, lmcsi_req *r)
{
  if (r->st == ISDSC_SUCCESS) {
    lmcsi_push_ref(L, r->obj_ref);                  /* the Session */
    lmcsi_connection_new(L, -1, r->sid, r->cid, 1);
    lua_remove(L, -2);
  } else {
    lua_pushnil(L);
  }
  lmcsi_push_status_detail(L, r->st, r->message);
  return 2;
}

/* Session arg 1, options arg 2 (a table or a portal string) [, fn]:
 * cid, st, or Connection, st when session_obj (the Session at 1). */
int lmcsi_op_add_connection(lua_State *L, int session_obj)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  int cb = lmcsi_take_callback(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  const char *what = "mcsi.add_connection_to_session";
  lmcsi_opt_values v;
  memset(&v, 0, sizeof v);
  if (lua_type(L, 2) == LUA_TSTRING) {
    v.s[MCSI_OPT_PORTAL] = lua_tostring(L, 2);
  } else {
    luaL_checktype(L, 2, LUA_TTABLE);
    lmcsi_check_opts(L, 2, lmcsi_opts_add_connection_to_session, what);
    v.s[MCSI_OPT_PORTAL] = lmcsi_str_field(L, 2, "portal", what);
    lmcsi_chap_opts(L, 2, &v, what);
    v.i[MCSI_OPT_LOGIN_TIMEOUT_MS] = lmcsi_int_field(L, 2, "login_timeout_ms", 0, 0, INT_MAX, what);
    v.i[MCSI_OPT_WEIGHT] = lmcsi_int_field(L, 2, "weight", 0, 0, U32, what);
  }
  lmcsi_req *r = lmcsi_req_new(L, e, session_obj ? push_connection : push_cid, cb, "add_connection_to_session");
  v.i[MCSI_OPT_LOGIN_TIMEOUT_MS] = lmcsi_cap_login_timeout(e, (int)v.i[MCSI_OPT_LOGIN_TIMEOUT_MS]);
  r->ini = lmcsi_ini_for(L, e, sid);
  r->sid = sid;
  if (session_obj) r->obj_ref = lmcsi_ref(L, 1);
  mcsi_status st;
  mcsi_conn_opts *o = MAKE_OPTS(L, mcsi_conn_opts, &v, what);
  START(L, e, r, mcsi_add_connection_async(r->ini, sid, o, MCSI_COMPLETION(on_done, r)));
  mcsi_conn_opts_free(o);
  r->sid = sid;
  return lmcsi_req_started(L, r, st);
}

/* cid, st = mcsi.add_connection_to_session(sid, { portal =, chap =, weight = } or portal [, fn(cid, st)]) */
int lmcsi_l_add_connection_to_session(lua_State *L) { return lmcsi_op_add_connection(L, 0); }

/* Marks the Connection given (if one) closed once it is removed. */
static int push_removed(lua_State *L, lmcsi_req *r)
{
  if (r->st == ISDSC_SUCCESS && r->obj_ref != LUA_NOREF) {
    lmcsi_push_ref(L, r->obj_ref);
    lmcsi_connection_closed(L, -1);
    lua_pop(L, 1);
  }
  return push_status_only(L, r);
}

static int remove_connection(lua_State *L, int detached_ok)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  int cb = lmcsi_take_callback(L);
  mcsi_id sid = lmcsi_check_sid(L, 1), cid = lmcsi_check_cid(L, 2);
  if (detached_ok && !cb) {                 /* no function: the removal runs unattended */
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
    cb = LMCSI_DETACHED;
  }
  lmcsi_req *r = lmcsi_req_new(L, e, push_removed, cb, detached_ok ? "remove_connection_async" : "remove_connection_from_session");
  r->ini = lmcsi_ini_for(L, e, sid);
  if (lmcsi_is_connection(L, 2, NULL, NULL)) r->obj_ref = lmcsi_ref(L, 2);
  mcsi_status st;
  START(L, e, r, mcsi_remove_connection_async(r->ini, sid, cid, MCSI_COMPLETION(on_done, r)));
  return lmcsi_req_started(L, r, st);
}

/* st = mcsi.remove_connection_from_session(sid, cid [, fn(st)]) */
int lmcsi_l_remove_connection_from_session(lua_State *L) { return remove_connection(L, 0); }

/* st = mcsi.remove_connection_async(sid, cid [, fn(st)]): the callback form
 * under its old name; without fn the removal runs unattended. */
int lmcsi_l_remove_connection_async(lua_State *L) { return remove_connection(L, 1); }

/* ---- discovery ------------------------------------------------------------------------------ */

/* result: the library's const mcsi_target_list * (NULL on failure), kept as a copy. */
static void on_targets(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  lmcsi_req *r = arg;
  (void)ini;
  if (!st && !(r->list = mcsi_target_list_dup(result))) {
    st = ISDSC_OUT_OF_RESOURCES;
    message = "out of memory";
  }
  lmcsi_req_set(r, st, message);
  lmcsi_req_done(r);
}

/* { { name =, addresses = { "host:port,tpgt", ... } }, ... }, st */
static int push_targets(lua_State *L, lmcsi_req *r)
{
  mcsi_target_list *list = r->list;
  if (r->st == ISDSC_SUCCESS && list) {
    lua_createtable(L, (int)list->count, 0);
    for (size_t i = 0; i < list->count; i++) {
      luaL_checkstack(L, 4, "target list");
      lua_createtable(L, 0, 2);
      lua_pushstring(L, list->targets[i].name);
      lua_setfield(L, -2, "name");
      lua_createtable(L, (int)list->targets[i].naddr, 0);
      for (size_t j = 0; j < list->targets[i].naddr; j++) {
        lua_pushstring(L, list->targets[i].addresses[j]);
        lua_rawseti(L, -2, (lua_Integer)j + 1);
      }
      lua_setfield(L, -2, "addresses");
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
  } else {
    lua_pushnil(L);
  }
  lmcsi_push_status_detail(L, r->st, r->message);
  return 2;
}


/* targets, st = mcsi.send_targets(portal or { portal =, chap =, ... } [, fn(targets, st)]) */
int lmcsi_l_send_targets(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  int cb = lmcsi_take_callback(L);
  const char *what = "mcsi.send_targets", *name = NULL;
  lmcsi_opt_values v;
  memset(&v, 0, sizeof v);
  if (lua_type(L, 1) == LUA_TSTRING) {
    size_t len;
    v.s[MCSI_OPT_PORTAL] = lua_tolstring(L, 1, &len);
    luaL_argcheck(L, strlen(v.s[MCSI_OPT_PORTAL]) == len, 1, "portal contains a zero byte");
  } else {
    luaL_checktype(L, 1, LUA_TTABLE);
    lmcsi_check_opts(L, 1, lmcsi_opts_send_targets, what);
    v.s[MCSI_OPT_PORTAL] = lmcsi_str_field(L, 1, "portal", what);
    lmcsi_chap_opts(L, 1, &v, what);
    v.i[MCSI_OPT_LOGIN_TIMEOUT_MS] = lmcsi_int_field(L, 1, "login_timeout_ms", 0, 0, INT_MAX, what);
    v.i[MCSI_OPT_HEADER_DIGEST] = digest_field(L, 1, "header_digest", what);
    v.i[MCSI_OPT_DATA_DIGEST] = digest_field(L, 1, "data_digest", what);
    name = lmcsi_str_field(L, 1, "initiator", what);
  }
  mcsi_initiator *ini = lmcsi_use_initiator_name(L, e, name);
  v.i[MCSI_OPT_LOGIN_TIMEOUT_MS] = lmcsi_cap_login_timeout(e, (int)v.i[MCSI_OPT_LOGIN_TIMEOUT_MS]);
  lmcsi_req *r = lmcsi_req_new(L, e, push_targets, cb, "send_targets");
  r->ini = ini;
  mcsi_status st;
  mcsi_login_opts *o = MAKE_OPTS(L, mcsi_login_opts, &v, what);
  START(L, e, r, mcsi_send_targets_async(r->ini, o, MCSI_COMPLETION(on_targets, r)));
  mcsi_login_opts_free(o);
  return lmcsi_req_started(L, r, st);
}

/* ---- task management ----------------------------------------------------------------------- */

/* st = mcsi.lun_reset(sid, lun [, fn(st)]) */
int lmcsi_l_lun_reset(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  int cb = lmcsi_take_callback(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint64_t lun = lmcsi_check_lun(L, 2);
  lmcsi_req *r = lmcsi_req_new(L, e, push_status_only, cb, "lun_reset");
  r->ini = lmcsi_ini_for(L, e, sid);
  mcsi_status st;
  START(L, e, r, mcsi_lun_reset_async(r->ini, sid, lun, MCSI_COMPLETION(on_done, r)));
  return lmcsi_req_started(L, r, st);
}

/* st = mcsi.abort_task(sid, tag [, fn(st)]): ABORT TASK for a command from mcsi.scsi_submit */
int lmcsi_l_abort_task(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  int cb = lmcsi_take_callback(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  lua_Integer tag = luaL_checkinteger(L, 2);
  lmcsi_req *r = lmcsi_req_new(L, e, push_status_only, cb, "abort_task");
  r->ini = lmcsi_ini_for(L, e, sid);
  mcsi_status st;
  START(L, e, r, mcsi_abort_task_async(r->ini, sid, (uint64_t)tag, MCSI_COMPLETION(on_done, r)));
  return lmcsi_req_started(L, r, st);
}

/* ---- closing owned handles (<close>, s:close()) ------------------------------------ */

/* The handle at 1 is marked closed by the caller; it is replaced by its ids. */
int lmcsi_close_session(lua_State *L, mcsi_id sid)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lua_settop(L, 0);
  if (e->in_callback) {                           /* core cannot be waited for here */
    mcsi_logout_from_target_async(lmcsi_ini_for(L, e, sid), sid, MCSI_COMPLETION(ignore_done, NULL));
    return 0;
  }
  lua_pushinteger(L, (lua_Integer)sid);
  return lmcsi_l_logout_from_target(L);
}

int lmcsi_close_connection(lua_State *L, mcsi_id sid, mcsi_id cid)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lua_settop(L, 0);
  if (e->in_callback) {
    mcsi_remove_connection_async(lmcsi_ini_for(L, e, sid), sid, cid, MCSI_COMPLETION(ignore_done, NULL));
    return 0;
  }
  lua_pushinteger(L, (lua_Integer)sid);
  lua_pushinteger(L, (lua_Integer)cid);
  return lmcsi_l_remove_connection_from_session(L);
}

/* The described operations above are registered by lapi_table.c (generated). */
const luaL_Reg lmcsi_ops_funcs[] = {
  {"remove_connection_async", lmcsi_l_remove_connection_async},
  {NULL, NULL}
};
