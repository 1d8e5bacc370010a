/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * linitiator.c: mcsi.Initiator, several initiators in one Lua state.
 *
 *   local a = mcsi.Initiator.new{ name = "iqn.2026-11.org.example:a" }
 *   a.name
 *   a:login_to_target{ ... }, a:login{ ... }, a:send_targets(portal),
 *   a:sessions(), a:logout_from_target(sid), a:read(sid, lun, lba, n), ...
 *
 * Its methods are the flat functions of the module, run on this initiator
 * (every form: blocking, callback, inside mcsi.spawn). The flat API keeps
 * using the default initiator (mcsi.initiator()); a session made by any
 * initiator can be used through the flat functions and its Session object,
 * which find the initiator that owns it. All initiators share the engine's
 * loop (mcsi.run, mcsi.poll, events: ev.initiator names the one). An
 * Initiator lives as long as the engine (collecting the object ends nothing);
 * its sessions are logged out at exit like the others.
 */
#include <string.h>
#include "lmcsi.h"

#define LMCSI_INITIATOR "mcsi.Initiator"
#define KEEP_KEY "initiators"          /* in the engine's reference table: keeps them alive */

typedef struct lmcsi_ini_ud {
  mcsi_initiator *ini;
} lmcsi_ini_ud;

/* After the flat function returned (or raised): nothing is bound any more. */
static int bound_k(lua_State *L, int status, lua_KContext base)
{
  lmcsi_engine_of(L)->bound = NULL;
  if (status != LUA_OK && status != LUA_YIELD) return lua_error(L);
  return lua_gettop(L) - (int)base;
}

/* A method: upvalue 1 the engine, 2 the flat function. Runs it with the
 * initiator of self bound (lmcsi_ini answers it). */
static int bound_method(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lmcsi_ini_ud *u = luaL_checkudata(L, 1, LMCSI_INITIATOR);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_replace(L, 1);                               /* the function where self was */
  e->bound = u->ini;
  int st = lua_pcallk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, 0, bound_k);
  return bound_k(L, st, 0);
}

static int initiator_index(lua_State *L)
{
  lmcsi_ini_ud *u = luaL_checkudata(L, 1, LMCSI_INITIATOR);
  const char *k = lua_tostring(L, 2);
  if (k && strcmp(k, "name") == 0) {
    lua_pushstring(L, mcsi_initiator_name(u->ini));
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(2));              /* the methods */
  return 1;
}

static int initiator_tostring(lua_State *L)
{
  lmcsi_ini_ud *u = luaL_checkudata(L, 1, LMCSI_INITIATOR);
  size_t n = mcsi_session_list(u->ini, NULL, 0);
  lua_pushfstring(L, "%s %s (%d session%s)", LMCSI_INITIATOR, mcsi_initiator_name(u->ini), (int)n, n == 1 ? "" : "s");
  return 1;
}

/* a = mcsi.Initiator.new{ name = "iqn..." } (name optional: the default name) */
static int initiator_new(lua_State *L)
{
  static const char *const keys[] = { "name", NULL };
  lmcsi_engine *e = lmcsi_engine_of(L);
  const char *name = NULL;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lmcsi_check_fields(L, 1, keys, "mcsi.Initiator.new");
    name = lmcsi_str_field(L, 1, "name", "mcsi.Initiator.new");
  }
  if (e->closed) return luaL_error(L, "mcsi.Initiator.new: the mcsi engine is closed");
  lmcsi_ini_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->ini = lmcsi_new_initiator(L, e, name);
  luaL_setmetatable(L, LMCSI_INITIATOR);
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);   /* anchored for the engine's life */
  lua_getiuservalue(L, -1, 1);
  if (lua_getfield(L, -1, KEEP_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, KEEP_KEY);
  }
  lua_pushvalue(L, -4);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 3);
  return 1;
}

/* The flat functions an Initiator has as methods. */
static const char *const methods[] = {
  "login_to_target", "login", "logout_from_target", "add_connection_to_session",
  "remove_connection_from_session", "remove_connection_async", "send_targets", "sessions",
  "session_info", "connection_info", "set_load_balance_policy", "scsi_inquiry", "scsi_read_capacity",
  "scsi_report_luns", "scsi_test_unit_ready", "lun_reset", "read", "write", "flush", "unmap", "write_zeroes",
  "scsi_command",
  "scsi_submit", "abort_task", NULL
};

static const luaL_Reg initiator_meta[] = {
  {"__tostring", initiator_tostring},
  {NULL, NULL}
};

static const luaL_Reg initiator_class[] = {
  {"new", initiator_new},
  {NULL, NULL}
};

/* The metatable (methods bound from module m's functions) and module.Initiator. */
void lmcsi_open_initiator(lua_State *L, int m)
{
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  int eng = lua_gettop(L);
  luaL_newmetatable(L, LMCSI_INITIATOR);
  int mt = lua_gettop(L);
  lua_pushvalue(L, eng);
  luaL_setfuncs(L, initiator_meta, 1);
  lua_newtable(L);                                 /* methods */
  for (int i = 0; methods[i]; i++) {
    lua_pushvalue(L, eng);
    lua_getfield(L, m, methods[i]);
    lua_pushcclosure(L, bound_method, 2);
    lua_setfield(L, -2, methods[i]);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, mt, "methods");
  lua_pushvalue(L, eng);
  lua_insert(L, -2);
  lua_pushcclosure(L, initiator_index, 2);
  lua_setfield(L, mt, "__index");
  lua_newtable(L);                                 /* the class table */
  lua_pushvalue(L, eng);
  luaL_setfuncs(L, initiator_class, 1);
  lua_setfield(L, m, "Initiator");
  lua_settop(L, eng - 1);
}
