/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lconnection.c: mcsi.Connection, one connection of a session as an object.
 *
 *   local c, st = s:add_connection{ portal = "127.0.0.2:3260" }  -- owns it
 *   s:connections()                                               -- borrowed handles
 *   c.id, c.session_id, c.session (the mcsi.Session it came from), c.closed, c.owned
 *   c:remove() / c:close() -> st,  c:remove_async(fn) -> st,  c:info() -> info, st
 *
 * The methods call the flat functions (mcsi.remove_connection_from_session,
 * ...) with the connection's session id in front. An owned Connection is
 * removed from its session when closed (c:remove(), a <close> variable);
 * garbage collection never removes it. A Connection keeps its Session
 * object alive.
 */
#include <stdio.h>
#include <string.h>
#include "lmcsi.h"

typedef struct lmcsi_conn {
  mcsi_id sid, cid;
  int owned;
  int closed;
} lmcsi_conn;

int lmcsi_connection_new(lua_State *L, int session_idx, mcsi_id sid, mcsi_id cid, int owned)
{
  session_idx = session_idx ? lua_absindex(L, session_idx) : 0;
  lmcsi_conn *c = lua_newuserdatauv(L, sizeof *c, 1);
  c->sid = sid;
  c->cid = cid;
  c->owned = owned;
  c->closed = 0;
  luaL_setmetatable(L, LMCSI_CONNECTION);
  if (session_idx) {
    lua_pushvalue(L, session_idx);
    lua_setiuservalue(L, -2, 1);
  }
  return 1;
}

int lmcsi_is_connection(lua_State *L, int idx, mcsi_id *sid, mcsi_id *cid)
{
  lmcsi_conn *c = luaL_testudata(L, idx, LMCSI_CONNECTION);
  if (!c) return 0;
  if (c->closed) luaL_error(L, "attempt to use a closed %s", LMCSI_CONNECTION);
  if (sid) *sid = c->sid;
  if (cid) *cid = c->cid;
  return 1;
}

void lmcsi_connection_closed(lua_State *L, int idx)
{
  lmcsi_conn *c = luaL_testudata(L, idx, LMCSI_CONNECTION);
  if (c) c->closed = 1;
}

static lmcsi_conn *check_open(lua_State *L, int arg)
{
  lmcsi_conn *c = luaL_checkudata(L, arg, LMCSI_CONNECTION);
  if (c->closed) luaL_error(L, "attempt to use a closed %s", LMCSI_CONNECTION);
  return c;
}

/* __gc: nothing (collecting a handle never removes a connection). */
static int connection_gc(lua_State *L)
{
  luaL_checkudata(L, 1, LMCSI_CONNECTION);
  return 0;
}

/* __close (a <close> variable): removes an owned connection, once. A refusal
 * (the last or the leading connection) leaves it to the session's logout. */
static int connection_close(lua_State *L)
{
  lmcsi_conn *c = luaL_checkudata(L, 1, LMCSI_CONNECTION);
  lmcsi_engine *e = lmcsi_engine_of(L);
  if (c->closed) return 0;
  if (!c->owned || e->closed) {
    c->closed = 1;
    return 0;
  }
  c->closed = 1;
  if (lua_getiuservalue(L, 1, 1) == LUA_TUSERDATA) {      /* its Session knows the initiator */
    lmcsi_check_sid(L, -1);
    e->force_ini = lmcsi_ini_for(L, e, c->sid);
  }
  lua_pop(L, 1);
  return lmcsi_close_connection(L, c->sid, c->cid);
}

static int connection_tostring(lua_State *L)
{
  lmcsi_conn *c = luaL_checkudata(L, 1, LMCSI_CONNECTION);
  lmcsi_engine *e = lmcsi_engine_of(L);
  char id[64];
  snprintf(id, sizeof id, "0x%016llx of session 0x%016llx", (unsigned long long)c->cid,
           (unsigned long long)c->sid);
  if (c->closed) {
    lua_pushfstring(L, "%s %s (closed)", LMCSI_CONNECTION, id);
    return 1;
  }
  int has_session = lua_getiuservalue(L, 1, 1) == LUA_TUSERDATA;
  if (has_session) lmcsi_check_sid(L, -1);                /* its initiator */
  lua_pop(L, 1);
  mcsi_status st;
  mcsi_session_info *si = e->ini || e->nextra ? lmcsi_session_snapshot(lmcsi_ini_for(L, e, c->sid), c->sid, &st) : NULL;
  const mcsi_conn_info *ci = mcsi_session_info_find_connection(si, c->cid);
  char text[256];
  if (ci)
    snprintf(text, sizeof text, "%s %s (cid %d, %s, %s%s)", LMCSI_CONNECTION, id, (int)mcsi_conn_info_get(ci, MCSI_CI_CID),
             mcsi_conn_info_get_string(ci, MCSI_CI_PORTAL), mcsi_conn_info_get_string(ci, MCSI_CI_STATE),
             mcsi_conn_info_get(ci, MCSI_CI_LEADING) ? ", leading" : "");
  else
    snprintf(text, sizeof text, "%s %s (gone)", LMCSI_CONNECTION, id);
  mcsi_session_info_free(si);
  lua_pushstring(L, text);
  return 1;
}

static int connection_eq(lua_State *L)
{
  lmcsi_conn *a = luaL_checkudata(L, 1, LMCSI_CONNECTION), *b = luaL_checkudata(L, 2, LMCSI_CONNECTION);
  lua_pushboolean(L, a->cid == b->cid && a->sid == b->sid);
  return 1;
}

static int connection_index(lua_State *L)
{
  lmcsi_conn *c = luaL_checkudata(L, 1, LMCSI_CONNECTION);
  const char *k = lua_tostring(L, 2);
  if (k && strcmp(k, "id") == 0) lua_pushinteger(L, (lua_Integer)c->cid);
  else if (k && strcmp(k, "session_id") == 0) lua_pushinteger(L, (lua_Integer)c->sid);
  else if (k && strcmp(k, "session") == 0) lua_getiuservalue(L, 1, 1);
  else if (k && strcmp(k, "closed") == 0) lua_pushboolean(L, c->closed);
  else if (k && strcmp(k, "owned") == 0) lua_pushboolean(L, c->owned);
  else {
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(2));
  }
  return 1;
}

/* Calls the flat function f as f(sid, conn, args after the connection...). */
static int with_sid(lua_State *L, lua_CFunction f)
{
  lmcsi_conn *c = check_open(L, 1);
  if (lua_getiuservalue(L, 1, 1) != LUA_TUSERDATA) {    /* its Session knows the initiator */
    lua_pop(L, 1);
    lua_pushinteger(L, (lua_Integer)c->sid);
  }
  lua_insert(L, 1);
  return f(L);
}

/* st = c:remove() */
static int connection_remove(lua_State *L) { return with_sid(L, lmcsi_l_remove_connection_from_session); }
/* st = c:remove_async([fn]) */
static int connection_remove_async(lua_State *L) { return with_sid(L, lmcsi_l_remove_connection_async); }
/* info, st = c:info() */
static int connection_info(lua_State *L) { return with_sid(L, lmcsi_l_connection_info); }

static const luaL_Reg connection_methods[] = {
  {"remove", connection_remove},
  {"close", connection_remove},
  {"remove_async", connection_remove_async},
  {"info", connection_info},
  {NULL, NULL}
};

static const luaL_Reg connection_meta[] = {
  {"__gc", connection_gc},
  {"__close", connection_close},
  {"__tostring", connection_tostring},
  {"__eq", connection_eq},
  {NULL, NULL}
};

void lmcsi_open_connection(lua_State *L, int m)
{
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  int eng = lua_gettop(L);
  luaL_newmetatable(L, LMCSI_CONNECTION);
  int mt = lua_gettop(L);
  lua_pushvalue(L, eng);
  luaL_setfuncs(L, connection_meta, 1);
  lua_newtable(L);                               /* methods */
  lua_pushvalue(L, eng);
  luaL_setfuncs(L, connection_methods, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, mt, "methods");
  lua_pushvalue(L, eng);
  lua_insert(L, -2);
  lua_pushcclosure(L, connection_index, 2);
  lua_setfield(L, mt, "__index");
  lua_newtable(L);                               /* the class table: mcsi.Connection */
  lua_setfield(L, m, "Connection");
  lua_settop(L, eng - 1);
}
