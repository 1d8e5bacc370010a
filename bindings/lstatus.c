/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lstatus.c: mcsi.Status, the last result of every mcsi operation.
 *
 *   st.code     integer ISDSC value (0: success)
 *   st.name     "ISDSC_CANT_REMOVE_LAST_CONNECTION" ("ISDSC_UNKNOWN" outside the table)
 *   st.message  the table's text, then ": " and the detail (the target's
 *               answer, sense data, errno text) when there is one
 *   st.ok       true for success and the 0xAFFF.... warnings
 *   tostring(st) "NAME (0xCODE): message"
 *
 * A Status is immutable; two Statuses compare equal when their codes do.
 * mcsi.Status.new(code [, message]) makes one (for scripts that report their
 * own outcome the same way).
 */
#include <stdio.h>
#include <string.h>
#include "lmcsi.h"

typedef struct lmcsi_status {
  mcsi_status code;
} lmcsi_status;

static lmcsi_status *check_status(lua_State *L, int arg)
{
  return luaL_checkudata(L, arg, LMCSI_STATUS);
}

static const char *status_name(mcsi_status st)
{
  const char *n = mcsi_status_name(st);
  return n ? n : "ISDSC_UNKNOWN";
}

/* Pushes a Status with an explicit message (NULL: the table's message). */
void lmcsi_push_status_msg(lua_State *L, mcsi_status st, const char *message)
{
  lmcsi_status *s = lua_newuserdatauv(L, sizeof *s, 1);
  s->code = st;
  luaL_setmetatable(L, LMCSI_STATUS);
  if (message) {
    lua_pushstring(L, message);
  } else {
    const char *m = mcsi_status_message(st);
    if (m) lua_pushstring(L, m);
    else {
      char buf[40];
      snprintf(buf, sizeof buf, "Unknown status 0x%08X", (unsigned)st);
      lua_pushstring(L, buf);
    }
  }
  lua_setiuservalue(L, -2, 1);
}

void lmcsi_push_status_detail(lua_State *L, mcsi_status st, const char *detail)
{
  const char *base = mcsi_status_message(st);
  if (!base) base = "Unknown status";
  if (st != ISDSC_SUCCESS && detail && *detail && strcmp(detail, base) != 0 && strcmp(detail, "Success") != 0) {
    luaL_Buffer b;
    lmcsi_status *s = lua_newuserdatauv(L, sizeof *s, 1);
    s->code = st;
    luaL_setmetatable(L, LMCSI_STATUS);
    luaL_buffinit(L, &b);
    luaL_addstring(&b, base);
    luaL_addstring(&b, ": ");
    luaL_addstring(&b, detail);
    luaL_pushresult(&b);
    lmcsi_redact(L, lua_tostring(L, -1));     /* core's detail may quote what the caller gave */
    lua_remove(L, -2);
    lua_setiuservalue(L, -2, 1);
  } else {
    lmcsi_push_status_msg(L, st, base);
  }
}

/* Pushes the Status of the call just made on e's initiator, with its detail. */
void lmcsi_push_status(lua_State *L, lmcsi_engine *e, mcsi_status st)
{
  lmcsi_push_status_detail(L, st, (st != ISDSC_SUCCESS && e && e->ini) ? mcsi_last_message(e->ini) : NULL);
}

static int status_index(lua_State *L)
{
  lmcsi_status *s = check_status(L, 1);
  const char *k = lua_tostring(L, 2);
  if (!k) return 0;
  if (strcmp(k, "code") == 0) lua_pushinteger(L, (lua_Integer)s->code);
  else if (strcmp(k, "name") == 0) lua_pushstring(L, status_name(s->code));
  else if (strcmp(k, "message") == 0) lua_getiuservalue(L, 1, 1);
  else if (strcmp(k, "ok") == 0) lua_pushboolean(L, mcsi_status_ok(s->code));
  else if (strcmp(k, "hex") == 0) {
    char buf[16];
    snprintf(buf, sizeof buf, "0x%08X", (unsigned)s->code);
    lua_pushstring(L, buf);
  }
  else return 0;
  return 1;
}

static int status_newindex(lua_State *L)
{
  return luaL_error(L, "attempt to modify an %s (it is read-only)", LMCSI_STATUS);
}

static int status_tostring(lua_State *L)
{
  lmcsi_status *s = check_status(L, 1);
  char hex[16];
  snprintf(hex, sizeof hex, "0x%08X", (unsigned)s->code);
  lua_getiuservalue(L, 1, 1);
  lua_pushfstring(L, "%s (%s): %s", status_name(s->code), hex, lua_tostring(L, -1));
  return 1;
}

static int status_eq(lua_State *L)
{
  lmcsi_status *a = check_status(L, 1), *b = check_status(L, 2);
  lua_pushboolean(L, a->code == b->code);
  return 1;
}

/* mcsi.Status.new(code or name [, message]) */
static int status_new(lua_State *L)
{
  mcsi_status code;
  if (lua_type(L, 1) == LUA_TSTRING) {
    const char *name = lua_tostring(L, 1);
    size_t i, n = mcsi_status_count();
    for (i = 0; i < n; i++)
      if (strcmp(mcsi_status_name(mcsi_status_at(i)), name) == 0) break;
    if (i == n) return luaL_argerror(L, 1, "no status of that name (see mcsi.status)");
    code = mcsi_status_at(i);
  } else {
    lua_Integer c = luaL_checkinteger(L, 1);
    luaL_argcheck(L, c >= 0 && c <= 0xFFFFFFFF, 1, "status codes are 32-bit unsigned");
    code = (mcsi_status)c;
  }
  lmcsi_push_status_msg(L, code, luaL_optstring(L, 2, NULL));
  return 1;
}

static const luaL_Reg status_meta[] = {
  {"__index", status_index},
  {"__newindex", status_newindex},
  {"__tostring", status_tostring},
  {"__eq", status_eq},
  {NULL, NULL}
};

static const luaL_Reg status_class[] = {
  {"new", status_new},
  {NULL, NULL}
};

/* Builds the metatable; pushes the class table mcsi.Status. */
int lmcsi_open_status(lua_State *L)
{
  luaL_newmetatable(L, LMCSI_STATUS);
  luaL_setfuncs(L, status_meta, 0);
  lua_pop(L, 1);
  luaL_newlib(L, status_class);
  return 1;
}
