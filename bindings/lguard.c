/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lguard.c: budgets for coroutines of the engine, for hosts that run
 * untrusted long-lived scripts (mcsid's policies, bindings/mcsi/policy.lua).
 *
 *   mcsi._guard(co, max_instructions, max_ms)   a budget for coroutine co
 *   mcsi._guard(co, 0, 0, message)              stop co: it raises message at
 *                                               its next instruction
 *
 * A count hook on the coroutine counts its VM instructions (every
 * GUARD_STEP) and the wall time since it first ran. Once over, the hook
 * raises at EVERY instruction, so a pcall inside the script can catch the
 * error but the script cannot go on: the coroutine ends with the error
 * (which mcsi._on_coroutine_error hears). The budget of a coroutine lives in
 * a weak table of the registry; a coroutine without one loses its hook.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "lmcsi.h"

#define GUARDS_KEY "mcsi.guards"
#define GUARD_STEP 1000

typedef struct guard {
  long long used, max;
  double t0, max_ms;
  int hit;
  char msg[160];
} guard;

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void push_guards(lua_State *L)
{
  if (lua_getfield(L, LUA_REGISTRYINDEX, GUARDS_KEY) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, GUARDS_KEY);
}

static guard *guard_of(lua_State *L)
{
  push_guards(L);
  lua_pushthread(L);
  lua_rawget(L, -2);
  guard *g = lua_touserdata(L, -1);
  lua_pop(L, 2);
  return g;
}

static void guard_hook(lua_State *L, lua_Debug *ar)
{
  (void)ar;
  guard *g = guard_of(L);
  if (!g) {
    lua_sethook(L, NULL, 0, 0);
    return;
  }
  if (!g->hit) {
    double now = now_ms();
    g->used += GUARD_STEP;
    if (g->t0 == 0) g->t0 = now;
    if (g->max && g->used >= g->max)
      snprintf(g->msg, sizeof g->msg, "instruction budget of %lld exceeded", g->max);
    else if (g->max_ms > 0 && now - g->t0 >= g->max_ms)
      snprintf(g->msg, sizeof g->msg, "time budget of %.0f ms exceeded", g->max_ms);
    else
      return;
    g->hit = 1;
    lua_sethook(L, guard_hook, LUA_MASKCOUNT, 1);
  }
  luaL_error(L, "%s", g->msg);
}

/* mcsi._guard(co, max_instructions, max_ms [, stop_message]) */
static int l_guard(lua_State *L)
{
  lua_State *co = lua_tothread(L, 1);
  luaL_argcheck(L, co != NULL && co != L, 1, "a coroutine (not the running one)");
  lua_Integer max = luaL_checkinteger(L, 2);
  lua_Number max_ms = luaL_checknumber(L, 3);
  const char *stop = luaL_optstring(L, 4, NULL);
  push_guards(L);
  lua_pushvalue(L, 1);
  lua_rawget(L, -2);
  guard *g = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!g) {
    g = lua_newuserdatauv(L, sizeof *g, 0);
    memset(g, 0, sizeof *g);
    lua_pushvalue(L, 1);
    lua_insert(L, -2);
    lua_rawset(L, -3);
  }
  lua_pop(L, 1);
  g->max = max;
  g->max_ms = max_ms;
  if (stop) {
    g->hit = 1;
    snprintf(g->msg, sizeof g->msg, "%s", stop);
    lua_sethook(co, guard_hook, LUA_MASKCOUNT, 1);
  } else {
    lua_sethook(co, guard_hook, LUA_MASKCOUNT, GUARD_STEP);
  }
  return 0;
}

const luaL_Reg lmcsi_guard_funcs[] = {
  {"_guard", l_guard},
  {NULL, NULL}
};
