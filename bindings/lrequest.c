/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lrequest.c: every mcsi operation started from Lua is a request, and one
 * rule decides how its caller waits for it:
 *
 *   callback form   the call's last argument is a function: the operation
 *                   starts, the call returns its starting Status at once, and
 *                   the function later gets the results the blocking form
 *                   returns (e.g. function(sid, cid, st)), from inside the
 *                   engine, like an event callback. Not started (bad ids,
 *                   bad arguments): the Status says so and the function
 *                   never runs. Allowed inside callbacks.
 *   coroutine       inside a coroutine of the engine (mcsi.spawn), the same
 *                   blocking-looking call yields; the engine keeps running,
 *                   and the coroutine resumes with the results once the
 *                   operation ended (at the next safe point of the loop,
 *                   outside core).
 *   blocking        anywhere else the call waits: the binding runs the loop
 *                   (the engine, and the coroutines that become ready; no Lua
 *                   timer or watcher) until the operation ended, asking the
 *                   host's interrupt check at every wake-up, so Ctrl-C stops
 *                   the wait at once. An abandoned operation finishes
 *                   unattended (a session it made is logged out).
 *
 * Core callbacks never call Lua with a coroutine's results: they only mark
 * the request done and queue the coroutine; lmcsi_run_ready resumes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lmcsi.h"

#define THREADS_KEY "threads"            /* in the engine's reference table: coroutines */
#define PENDING_KEY "pending"            /* and the function of a callback form being parsed */
#define CO_ERROR_KEY "coroutine_error"   /* mcsi._on_coroutine_error's function */

/* A function as the last argument: the callback form. It is taken off the
 * stack (kept in the engine's reference table until lmcsi_req_new) so that
 * the arguments before it parse as in the blocking form. Returns
 * LMCSI_CALLBACK or 0. */
int lmcsi_take_callback(lua_State *L)
{
  int top = lua_gettop(L);
  if (top == 0 || lua_type(L, top) != LUA_TFUNCTION) return 0;
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  lua_getiuservalue(L, -1, 1);
  lua_pushvalue(L, top);
  lua_setfield(L, -2, PENDING_KEY);
  lua_settop(L, top - 1);
  return LMCSI_CALLBACK;
}

static int engine_coroutine(lua_State *L);

/* The request of an operation whose arguments parsed; form is what
 * lmcsi_take_callback answered (or LMCSI_DETACHED). Raises for a blocking call
 * where none may run. */
lmcsi_req *lmcsi_req_new(lua_State *L, lmcsi_engine *e, lmcsi_push_fn push, int form, const char *fname)
{
  if (e->closed) luaL_error(L, "mcsi.%s: the mcsi engine is closed", fname);
  int mode = form ? form : engine_coroutine(L) ? LMCSI_YIELD : LMCSI_BLOCK;
  if (mode == LMCSI_BLOCK) lmcsi_check_blocking(L, e, fname);
  lmcsi_req *r = calloc(1, sizeof *r);
  if (!r) luaL_error(L, "mcsi: out of memory");
  r->e = e;
  r->push = push;
  r->mode = mode;
  r->fn_ref = LUA_NOREF;
  r->obj_ref = LUA_NOREF;
  r->st = ISDSC_SUCCESS;
  r->all_next = e->reqs;                              /* every request, freed if the engine closes */
  if (e->reqs) e->reqs->all_prev = r;
  e->reqs = r;
  if (mode == LMCSI_CALLBACK) {
    lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
    lua_getiuservalue(L, -1, 1);
    lua_getfield(L, -1, PENDING_KEY);
    r->fn_ref = luaL_ref(L, -2);
    lua_pushnil(L);
    lua_setfield(L, -2, PENDING_KEY);
    lua_pop(L, 2);
  }
  return r;
}

/* Frees the request (its own buffers, its references). L may be NULL when the
 * state is going away: references then die with it. */
void lmcsi_req_free(lua_State *L, lmcsi_req *r)
{
  if (!r) return;
  if (r->all_prev) r->all_prev->all_next = r->all_next;
  else if (r->e && r->e->reqs == r) r->e->reqs = r->all_next;
  if (r->all_next) r->all_next->all_prev = r->all_prev;
  if (L && r->fn_ref != LUA_NOREF) lmcsi_unref(L, r->fn_ref);
  if (L && r->obj_ref != LUA_NOREF) lmcsi_unref(L, r->obj_ref);
  mcsi_target_list_free(r->list);
  free(r->buf);
  free(r);
}

void lmcsi_req_set(lmcsi_req *r, mcsi_status st, const char *message)
{
  r->st = st;
  snprintf(r->message, sizeof r->message, "%s", message && *message ? message : "Success");
}

/* ---- which form ---------------------------------------------------------------- */

static void push_threads(lua_State *L)
{
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  lua_getiuservalue(L, -1, 1);
  if (lua_getfield(L, -1, THREADS_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, THREADS_KEY);
  }
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* 1 if L is a coroutine of the engine (mcsi.spawn) that can yield now. */
static int engine_coroutine(lua_State *L)
{
  if (!lua_isyieldable(L)) return 0;
  if (lua_pushthread(L)) {               /* the main thread */
    lua_pop(L, 1);
    return 0;
  }
  push_threads(L);
  lua_insert(L, -2);
  int mine = lua_rawget(L, -2) != LUA_TNIL;
  lua_pop(L, 2);
  return mine;
}

/* ---- completion (from core callbacks) ----------------------------------------------- */

static void enqueue(lmcsi_engine *e, lmcsi_req *r)
{
  r->next = NULL;
  if (e->ready_tail) e->ready_tail->next = r;
  else e->ready_head = r;
  e->ready_tail = r;
}

/* Protected: the callback form's function with the results. */
static int deliver_callback(lua_State *L)
{
  lmcsi_req *r = lua_touserdata(L, 1);
  lua_settop(L, 0);
  lmcsi_push_ref(L, r->fn_ref);
  int n = r->push(L, r);
  lmcsi_pcall(r->e, L, n, "an mcsi completion callback");
  return 0;
}

void lmcsi_req_done(lmcsi_req *r)
{
  lmcsi_engine *e = r->e;
  r->done = 1;
  if (r->abandoned || e->closed) {
    if (r->abandoned && r->abandon && !e->closed) r->abandon(r);
    if (r->mode != LMCSI_BLOCK) e->inflight--;
    lmcsi_req_free(e->closed ? NULL : e->L, r);
    return;
  }
  switch (r->mode) {
  case LMCSI_CALLBACK: {
    lua_State *L = e->L;
    e->inflight--;
    if (L && lua_checkstack(L, 8)) {
      e->in_callback++;
      lua_pushcfunction(L, deliver_callback);
      lua_pushlightuserdata(L, r);
      if (lua_pcall(L, 1, 0, 0) != LUA_OK) {          /* out of memory, typically */
        lmcsi_report(e, "a completion callback", lua_tostring(L, -1));
        lua_pop(L, 1);
      }
      e->in_callback--;
    }
    lmcsi_req_free(L, r);
    break;
  }
  case LMCSI_YIELD:
    e->inflight--;
    enqueue(e, r);
    break;
  case LMCSI_DETACHED:
    e->inflight--;
    lmcsi_req_free(e->L, r);
    break;
  default:                                             /* a blocking wait sees done */
    break;
  }
}

/* ---- waiting ------------------------------------------------------------------------ */

/* After the coroutine resumes: its results. */
static int k_results(lua_State *L, int status, lua_KContext ctx)
{
  lmcsi_req *r = (lmcsi_req *)ctx;
  (void)status;
  int n = r->push(L, r);
  lmcsi_req_free(L, r);
  return n;
}

static void wait_blocking(lua_State *L, lmcsi_engine *e, lmcsi_req *r)
{
  while (!r->done) {
    const char *why = lmcsi_stop_reason(e);
    if (why) {
      r->abandoned = 1;                                /* it ends unattended */
      lmcsi_raise_stop(L, why);
    }
    lmcsi_turn(L, e, e->ready_head ? 0 : -1, 0);
  }
}

/* The operation was started with status st (the binding filled r->st and
 * r->message when it did not start). Returns what the Lua function returns. */
int lmcsi_req_started(lua_State *L, lmcsi_req *r, mcsi_status st)
{
  lmcsi_engine *e = r->e;
  if (st != ISDSC_SUCCESS) {                           /* not started: the callback never runs */
    if (r->mode == LMCSI_CALLBACK || r->mode == LMCSI_DETACHED) {
      lmcsi_push_status_detail(L, st, r->message);
      lmcsi_req_free(L, r);
      return 1;
    }
    r->st = st;
    int n = r->push(L, r);
    lmcsi_req_free(L, r);
    return n;
  }
  switch (r->mode) {
  case LMCSI_CALLBACK:
  case LMCSI_DETACHED:
    e->inflight++;
    lmcsi_push_status_detail(L, ISDSC_SUCCESS, NULL);
    return 1;
  case LMCSI_YIELD:
    e->inflight++;
    r->co = L;
    e->yielded = 1;
    e->bound = NULL;                                  /* the initiator is in r; nothing else is bound */
    return lua_yieldk(L, 0, (lua_KContext)r, k_results);
  default: {
    wait_blocking(L, e, r);
    lmcsi_after_blocking(L, e);
    int n = r->push(L, r);
    lmcsi_req_free(L, r);
    return n;
  }
  }
}

/* ---- coroutines of the engine ---------------------------------------------------------- */

static int push_nothing(lua_State *L, lmcsi_req *r)
{
  (void)L; (void)r;
  return 0;
}

static void forget_thread(lua_State *L, lua_State *co)
{
  push_threads(L);
  lua_pushthread(co);
  lua_xmove(co, L, 1);
  lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

static void close_thread(lua_State *L, lua_State *co)
{
#if LUA_VERSION_RELEASE_NUM >= 50406
  lua_closethread(co, L);
#else
  (void)L;
  lua_resetthread(co);
#endif
}

/* The message (top of L) of co's error: to mcsi._on_coroutine_error's
 * function if there is one, else on stderr. */
static void report_coroutine_error(lua_State *L, lmcsi_engine *e, lua_State *co)
{
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  lua_getiuservalue(L, -1, 1);
  if (lua_getfield(L, -1, CO_ERROR_KEY) != LUA_TFUNCTION) {
    lua_pop(L, 3);
    lmcsi_report(e, "an mcsi coroutine", lua_tostring(L, -1));
    return;
  }
  lua_replace(L, -3);
  lua_pop(L, 1);
  lua_pushthread(co);
  lua_xmove(co, L, 1);
  lua_pushvalue(L, -3);
  lmcsi_pcall(e, L, 2, "mcsi._on_coroutine_error's function");
}

/* mcsi._on_coroutine_error(fn or nil) */
int lmcsi_l_on_coroutine_error(lua_State *L)
{
  if (!lua_isnil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  lua_getiuservalue(L, -1, 1);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, CO_ERROR_KEY);
  return 0;
}

/* Resumes co (nargs values on its stack) and handles how it stopped. */
static void resume(lua_State *L, lmcsi_engine *e, lua_State *co, int nargs)
{
  int nres = 0;
  e->yielded = 0;
  lua_State *saved;
  mcsi_initiator *bound = e->bound;
  e->bound = NULL;
  lmcsi_enter(e, L, &saved);
  int st = lua_resume(co, L, nargs, &nres);
  lmcsi_leave(e, saved);
  e->bound = bound;
  if (st == LUA_YIELD) {
    lua_pop(co, nres);
    if (!e->yielded) {                                 /* a bare coroutine.yield: again next turn */
      lmcsi_req *r = calloc(1, sizeof *r);
      if (r) {
        r->e = e;
        r->push = push_nothing;
        r->fn_ref = r->obj_ref = LUA_NOREF;
        r->mode = LMCSI_YIELD;
        r->co = co;
        r->done = 1;
        enqueue(e, r);
      }
    }
    e->yielded = 0;
    return;
  }
  if (st != LUA_OK) {
    const char *msg = lua_tostring(co, -1);
    luaL_traceback(L, co, msg ? msg : "(error object is not a string)", 0);
    lmcsi_redact(L, lua_tostring(L, -1));
    report_coroutine_error(L, e, co);
    lua_pop(L, 2);
    close_thread(L, co);
  } else {
    lua_pop(co, nres);
  }
  forget_thread(L, co);
}

/* Resumes the coroutines whose operation ended. Outside core callbacks only. */
int lmcsi_run_ready(lua_State *L, lmcsi_engine *e)
{
  int n = 0;
  if (e->in_callback) return 0;
  lmcsi_req *batch = e->ready_head;                   /* those queued now; later ones next turn */
  e->ready_head = e->ready_tail = NULL;
  while (batch) {
    lmcsi_req *r = batch;
    batch = r->next;
    lua_State *co = r->co;
    if (lua_status(co) != LUA_YIELD) {                /* closed behind our back */
      lmcsi_req_free(L, r);
      continue;
    }
    if (r->push == push_nothing) {
      lmcsi_req_free(L, r);
      resume(L, e, co, 0);
    } else {
      resume(L, e, co, 0);                             /* k_results pushes and frees r */
    }
    n++;
  }
  return n;
}

/* co = mcsi.spawn(fn, ...): runs fn(...) in a coroutine of the engine, at
 * once until it first waits; inside it, mcsi's blocking calls yield. */
int lmcsi_l_spawn(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (e->closed) return luaL_error(L, "mcsi.spawn: the mcsi engine is closed");
  int nargs = lua_gettop(L) - 1;
  lua_State *co = lua_newthread(L);
  push_threads(L);
  lua_pushvalue(L, -2);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  lua_insert(L, 1);                                   /* the thread, returned below */
  luaL_checkstack(co, nargs + 1, "too many arguments to mcsi.spawn");
  lua_xmove(L, co, nargs + 1);                        /* fn and its arguments */
  resume(L, e, co, nargs);
  lua_settop(L, 1);
  return 1;
}

/* Frees every request left (the engine closes: core dropped them). */
void lmcsi_ready_free(lmcsi_engine *e)
{
  while (e->ready_head) {
    lmcsi_req *r = e->ready_head;
    e->ready_head = r->next;
    lmcsi_req_free(NULL, r);
  }
  e->ready_tail = NULL;
  while (e->reqs) lmcsi_req_free(NULL, e->reqs);
}
