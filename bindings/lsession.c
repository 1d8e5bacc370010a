/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lsession.c: mcsi.Session, a session as an object.
 *
 *   local s, st = mcsi.login{ portal =, target =, ... }   -- owns the session
 *   local s2    = mcsi.Session.of(sid)                    -- borrows one (no logout on gc)
 *   s.id, s.closed, s.owned
 *   s:add_connection{ portal = } -> mcsi.Connection, st
 *   s:remove_connection(conn or cid) -> st      s:logout() / s:close() -> st
 *   s:info(), s:connections(), s:inquiry(lun [, page]), s:read_capacity(lun),
 *   s:report_luns(), s:test_unit_ready(lun), s:lun_reset(lun),
 *   s:read(lun, lba, blocks [, opts]), s:write(lun, lba, data [, opts]), s:flush(lun [, lba, blocks]),
 *   s:unmap(lun, lba, blocks), s:write_zeroes(lun, lba, blocks [, opts]), s:set_load_balance_policy(p, paths)
 *
 * The methods are the flat functions themselves (mcsi.logout_from_target and
 * friends accept a Session where they take a session id), so both forms
 * share one implementation. An owned Session logs out when closed: by
 * s:logout(), or by a <close> variable going out of scope (from inside an
 * mcsi callback, where nothing can wait, the logout starts unattended).
 * Garbage collection never logs out (luv's rule for live handles): the engine
 * keeps an active owned Session referenced until it ends, and a session left
 * alone is logged out when the state closes or the process exits. A closed
 * Session raises when used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lmcsi.h"

typedef struct lmcsi_sess {
  mcsi_id sid;
  mcsi_initiator *ini;                           /* the initiator it belongs to */
  int owned;
  int closed;
} lmcsi_sess;

#define LIVE_KEY "sessions"     /* in the engine's reference table: sid -> owned Session */

/* Pushes the engine's table of live owned Sessions. */
static void push_live(lua_State *L)
{
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  lua_getiuservalue(L, -1, 1);
  if (lua_getfield(L, -1, LIVE_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, LIVE_KEY);
  }
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* The session ended (logged out, failed): the engine lets its handle go. */
void lmcsi_session_forget(lua_State *L, mcsi_id sid)
{
  push_live(L);
  lua_pushnil(L);
  lua_rawseti(L, -2, (lua_Integer)sid);
  lua_pop(L, 1);
}

int lmcsi_session_new(lua_State *L, mcsi_id sid, int owned, mcsi_initiator *ini)
{
  lmcsi_sess *s = lua_newuserdatauv(L, sizeof *s, 0);
  s->sid = sid;
  s->ini = ini;
  s->owned = owned;
  s->closed = 0;
  luaL_setmetatable(L, LMCSI_SESSION);
  if (owned) {                                   /* an active session is referenced by the engine */
    push_live(L);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (lua_Integer)sid);
    lua_pop(L, 1);
  }
  return 1;
}

int lmcsi_is_session(lua_State *L, int idx, mcsi_id *sid, mcsi_initiator **ini)
{
  lmcsi_sess *s = luaL_testudata(L, idx, LMCSI_SESSION);
  if (!s) return 0;
  if (s->closed) luaL_error(L, "attempt to use a closed %s", LMCSI_SESSION);
  if (sid) *sid = s->sid;
  if (ini) *ini = s->ini;
  return 1;
}

void lmcsi_session_closed(lua_State *L, int idx)
{
  lmcsi_sess *s = luaL_testudata(L, idx, LMCSI_SESSION);
  if (s) {
    s->closed = 1;
    lmcsi_session_forget(L, s->sid);
  }
}

static lmcsi_sess *check_open(lua_State *L, int arg)
{
  lmcsi_sess *s = luaL_checkudata(L, arg, LMCSI_SESSION);
  if (s->closed) luaL_error(L, "attempt to use a closed %s", LMCSI_SESSION);
  return s;
}

/* __gc: nothing (luv's rule: collecting a handle never ends a session; an
 * active owned session is kept referenced by the engine anyway). */
static int session_gc(lua_State *L)
{
  luaL_checkudata(L, 1, LMCSI_SESSION);
  return 0;
}

/* __close (a <close> variable) and s:close(): logs an owned session out, once. */
static int session_close(lua_State *L)
{
  lmcsi_sess *s = luaL_checkudata(L, 1, LMCSI_SESSION);
  lmcsi_engine *e = lmcsi_engine_of(L);
  if (s->closed) return 0;
  if (!s->owned || e->closed) {
    s->closed = 1;
    return 0;
  }
  s->closed = 1;
  lmcsi_session_forget(L, s->sid);
  e->force_ini = s->ini;
  return lmcsi_close_session(L, s->sid);
}

static int session_tostring(lua_State *L)
{
  lmcsi_sess *s = luaL_checkudata(L, 1, LMCSI_SESSION);
  char id[24];
  snprintf(id, sizeof id, "0x%016llx", (unsigned long long)s->sid);
  if (s->closed) {
    lua_pushfstring(L, "%s %s (closed)", LMCSI_SESSION, id);
    return 1;
  }
  char text[512];
  mcsi_status st;
  mcsi_session_info *si = s->ini ? lmcsi_session_snapshot(s->ini, s->sid, &st) : NULL;
  size_t n = LMCSI_INFO_CONNS(si);
  if (si)
    snprintf(text, sizeof text, "%s %s (%s, %s, %d connection%s)", LMCSI_SESSION, id,
             mcsi_session_info_get_string(si, MCSI_SI_TARGET), mcsi_session_info_get_string(si, MCSI_SI_STATE),
             (int)n, n == 1 ? "" : "s");
  else
    snprintf(text, sizeof text, "%s %s (gone)", LMCSI_SESSION, id);
  mcsi_session_info_free(si);
  lua_pushstring(L, text);
  return 1;
}

static int session_eq(lua_State *L)
{
  lmcsi_sess *a = luaL_checkudata(L, 1, LMCSI_SESSION), *b = luaL_checkudata(L, 2, LMCSI_SESSION);
  lua_pushboolean(L, a->sid == b->sid);
  return 1;
}

/* Fields, then the methods (upvalue 2). */
static int session_index(lua_State *L)
{
  lmcsi_sess *s = luaL_checkudata(L, 1, LMCSI_SESSION);
  const char *k = lua_tostring(L, 2);
  if (k && strcmp(k, "id") == 0) lua_pushinteger(L, (lua_Integer)s->sid);
  else if (k && strcmp(k, "closed") == 0) lua_pushboolean(L, s->closed);
  else if (k && strcmp(k, "owned") == 0) lua_pushboolean(L, s->owned);
  else {
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(2));
  }
  return 1;
}

/* conn, st = s:add_connection{ portal =, chap =, weight = } (or a portal string) [, fn(conn, st)];
 * the Connection owns the new connection (removed when closed or collected). */
static int session_add_connection(lua_State *L)
{
  check_open(L, 1);
  return lmcsi_op_add_connection(L, 1);
}

/* list = s:connections(): a borrowed mcsi.Connection per connection */
static int session_connections(lua_State *L)
{
  lmcsi_sess *s = check_open(L, 1);
  lua_newtable(L);
  mcsi_status st;
  mcsi_session_info *si = s->ini ? lmcsi_session_snapshot(s->ini, s->sid, &st) : NULL;
  size_t n = LMCSI_INFO_CONNS(si);
  mcsi_id *ids = n ? malloc(n * sizeof *ids) : NULL;     /* the ids first: no Lua error while si is held */
  for (size_t i = 0; ids && i < n; i++) ids[i] = mcsi_conn_info_get(mcsi_session_info_connection(si, i), MCSI_CI_ID);
  mcsi_session_info_free(si);
  if (n && !ids) return luaL_error(L, "s:connections(): not enough memory");
  mcsi_id *box = n ? lua_newuserdatauv(L, n * sizeof *box, 0) : NULL;
  if (n) memcpy(box, ids, n * sizeof *box);
  free(ids);
  for (size_t i = 0; i < n; i++) {
    lmcsi_connection_new(L, 1, s->sid, box[i], 0);
    lua_rawseti(L, -3, (lua_Integer)i + 1);
  }
  if (n) lua_pop(L, 1);
  return 1;
}

/* s, st = mcsi.login{...} [, fn(s, st)] (also mcsi.Session.login) */
int lmcsi_session_login(lua_State *L)
{
  return lmcsi_op_login(L, 1);
}

/* s, st = mcsi.Session.of(sid): a borrowed handle on an existing session */
static int session_of(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lua_Integer sid = luaL_checkinteger(L, 1);
  mcsi_status st = ISDSC_INVALID_SESSION_ID;
  if (e->ini || e->nextra) mcsi_session_info_free(lmcsi_session_snapshot(lmcsi_ini_for(L, e, (mcsi_id)sid), (mcsi_id)sid, &st));
  if (st == ISDSC_SUCCESS) lmcsi_session_new(L, (mcsi_id)sid, 0, lmcsi_ini_for(L, e, (mcsi_id)sid));
  else lua_pushnil(L);
  if (st == ISDSC_SUCCESS || e->ini) lmcsi_push_status(L, e, st);
  else lmcsi_push_status_msg(L, st, NULL);
  return 2;
}

/* Methods that are flat functions of the module: method name, function name.
 * Those of the described operations are lapi_table.c's lmcsi_api_session_methods
 * (generated from api/operations.lua); these are the others. */
static const char *const shared_methods[][2] = {
  {"remove_connection_async", "remove_connection_async"},
  {NULL, NULL}
};

static const luaL_Reg session_methods[] = {
  {"add_connection", session_add_connection},
  {"connections", session_connections},
  {NULL, NULL}
};

static const luaL_Reg session_meta[] = {
  {"__gc", session_gc},
  {"__close", session_close},
  {"__tostring", session_tostring},
  {"__eq", session_eq},
  {NULL, NULL}
};

static const luaL_Reg session_class[] = {
  {"login", lmcsi_session_login},
  {"of", session_of},
  {NULL, NULL}
};

/* The metatable (engine as upvalue 1 of its functions) and module.Session. */
void lmcsi_open_session(lua_State *L, int m)
{
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  int eng = lua_gettop(L);
  luaL_newmetatable(L, LMCSI_SESSION);
  int mt = lua_gettop(L);
  lua_pushvalue(L, eng);
  luaL_setfuncs(L, session_meta, 1);
  lua_newtable(L);                               /* methods */
  lua_pushvalue(L, eng);
  luaL_setfuncs(L, session_methods, 1);
  for (int i = 0; lmcsi_api_session_methods[i][0]; i++) {
    lua_getfield(L, m, lmcsi_api_session_methods[i][1]);
    lua_setfield(L, -2, lmcsi_api_session_methods[i][0]);
  }
  for (int i = 0; shared_methods[i][0]; i++) {
    lua_getfield(L, m, shared_methods[i][1]);
    lua_setfield(L, -2, shared_methods[i][0]);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, mt, "methods");
  lua_pushvalue(L, eng);
  lua_insert(L, -2);
  lua_pushcclosure(L, session_index, 2);
  lua_setfield(L, mt, "__index");
  lua_newtable(L);                               /* the class table */
  lua_pushvalue(L, eng);
  luaL_setfuncs(L, session_class, 1);
  lua_setfield(L, m, "Session");
  lua_settop(L, eng - 1);
}
