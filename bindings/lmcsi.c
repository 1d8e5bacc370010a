/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lmcsi.c: the Lua module "mcsi" (require "mcsi"): the engine, the flat API,
 * events, timers and the loop.
 *
 * The engine is a full userdata (LMCSI_ENGINE) made once per Lua state by
 * luaopen_mcsi, kept in the registry under that name and given to every
 * module function as upvalue 1. It owns the one mcsi_initiator of the state
 * (created on first use, or by mcsi.initiator{name=...}), the callbacks
 * (registry references in the engine's own reference table, uservalue 1,
 * which also anchors the coroutines of mcsi.spawn), the Lua timers and the
 * watched fds (no limit on either).
 *
 * Calls into Lua from core callbacks (events, async completions) run through
 * lmcsi_pcall: protected, with a traceback; an error is reported on stderr
 * and the engine keeps running. While such a callback runs, core refuses
 * blocking calls (ISDSC_SESSION_BUSY); the binding raises a clear error for
 * that instead, since it is a programming mistake. Timer and watcher
 * callbacks run outside core (from mcsi.run/poll/sleep) and may block.
 *
 * Every operation returns a mcsi.Status as its last result; the results
 * before it are nil on failure. Only programmer errors raise. The operations
 * themselves are in lops.c and lscsi.c; how their callers wait (blocking,
 * callback form, coroutines of mcsi.spawn) in lrequest.c. Lua timers are
 * timers of the initiator's loop (mcsi_timer_add), run outside core.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lmcsi.h"
#include "lualib.h"

#define LOGIN_TIMEOUT_DEFAULT_MS 15000   /* core's default (mcsi.h) */
#define U32 0xFFFFFFFF
#define EXIT_LOGOUT_MS 2000           /* at exit, how long the logouts may take */

/* ---- the engine ----------------------------------------------------------- */

lmcsi_engine *lmcsi_engine_of(lua_State *L)
{
  return lua_touserdata(L, lua_upvalueindex(1));
}

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Grows an array of n elements of size sz to hold one more; raises on OOM. */
static void *grow(lua_State *L, void *arr, size_t *cap, size_t n, size_t sz)
{
  if (n < *cap) return arr;
  size_t ncap = *cap ? *cap * 2 : 8;
  void *p = realloc(arr, ncap * sz);
  if (!p) luaL_error(L, "mcsi: out of memory");
  *cap = ncap;
  return p;
}

static void on_event(mcsi_initiator *ini, const mcsi_event *ev, void *arg);
static lmcsi_engine *registry_engine(lua_State *L);

/* Pushes s cut to 48 bytes (a user string quoted in an error message). */
const char *lmcsi_push_short(lua_State *L, const char *s)
{
  size_t n = strlen(s);
  if (n <= 48) return lua_pushstring(L, s);
  lua_pushlstring(L, s, 45);
  lua_pushliteral(L, "...");
  lua_concat(L, 2);
  return lua_tostring(L, -1);
}

static mcsi_initiator *make_initiator(lua_State *L, lmcsi_engine *e, const char *name)
{
  mcsi_initiator *ini = mcsi_initiator_new(name);
  if (!ini) {
    if (name) luaL_error(L, "mcsi: '%s' is not a valid iSCSI initiator name", lmcsi_push_short(L, name));
    luaL_error(L, "mcsi: cannot create the initiator (out of memory or file descriptors)");
  }
  mcsi_set_event_callback(ini, on_event, e);
  return ini;
}

mcsi_initiator *lmcsi_ini(lua_State *L, lmcsi_engine *e)
{
  if (e->bound) return e->bound;
  if (!e->ini) e->ini = make_initiator(L, e, NULL);
  return e->ini;
}

mcsi_initiator *lmcsi_ini_for(lua_State *L, lmcsi_engine *e, mcsi_id sid)
{
  if (e->force_ini) {
    mcsi_initiator *ini = e->force_ini;
    e->force_ini = NULL;
    return ini;
  }
  if (e->bound) return e->bound;
  if (e->hint_ini && e->hint_sid == sid) return e->hint_ini;   /* a Session object knows */
  for (size_t i = 0; i < e->nowners; i++)
    if (e->owners[i].sid == sid) return e->owners[i].ini;
  return lmcsi_ini(L, e);
}

void lmcsi_note_owner(lmcsi_engine *e, mcsi_id sid, mcsi_initiator *ini)
{
  if (!sid || ini == e->ini) return;
  for (size_t i = 0; i < e->nowners; i++)
    if (e->owners[i].sid == sid && e->owners[i].ini == ini) return;
  if (e->nowners == e->cap_owners) {
    size_t ncap = e->cap_owners ? e->cap_owners * 2 : 8;
    struct lmcsi_owner *o = realloc(e->owners, ncap * sizeof *o);
    if (!o) return;                                   /* its calls then go to the default one */
    e->owners = o;
    e->cap_owners = ncap;
  }
  e->owners[e->nowners].sid = sid;
  e->owners[e->nowners++].ini = ini;
}

static void forget_owner(lmcsi_engine *e, mcsi_id sid, mcsi_initiator *ini)
{
  for (size_t i = 0; i < e->nowners; i++)
    if (e->owners[i].sid == sid && e->owners[i].ini == ini) { e->owners[i] = e->owners[--e->nowners]; return; }
}

size_t lmcsi_inis(const lmcsi_engine *e, mcsi_initiator **out, size_t max)
{
  size_t n = 0;
  if (e->ini && n < max) out[n++] = e->ini;
  for (size_t i = 0; i < e->nextra && n < max; i++) out[n++] = e->extra[i];
  return n;
}

mcsi_initiator *lmcsi_new_initiator(lua_State *L, lmcsi_engine *e, const char *name)
{
  e->extra = grow(L, e->extra, &e->cap_extra, e->nextra, sizeof *e->extra);
  mcsi_initiator *ini = make_initiator(L, e, name);
  e->extra[e->nextra++] = ini;
  return ini;
}

/* How many sessions every initiator has. */
static size_t all_sessions(const lmcsi_engine *e)
{
  size_t n = e->ini ? mcsi_session_list(e->ini, NULL, 0) : 0;
  for (size_t i = 0; i < e->nextra; i++) n += mcsi_session_list(e->extra[i], NULL, 0);
  return n;
}

void lmcsi_enter(lmcsi_engine *e, lua_State *L, lua_State **saved)
{
  *saved = e->L;
  e->L = L;
}

void lmcsi_leave(lmcsi_engine *e, lua_State *saved)
{
  e->L = saved;
}

/* The host's Ctrl-C/SIGTERM text (lmcsi_main.c's hook; mcsi.remote knows it too). */
#define LMCSI_INTERRUPTED "interrupted!"

const char *lmcsi_stop_reason(lmcsi_engine *e)
{
  if (e->interrupt_caught) {
    e->interrupt_caught = 0;
    return LMCSI_INTERRUPTED;
  }
  return e->interrupt ? e->interrupt() : NULL;
}

/* An interrupt landing in a callback's Lua code is the user's, not the
 * callback's error: the pcall that caught it keeps it for the next wait. */
static int caught_interrupt(lmcsi_engine *e, const char *msg)
{
  if (!msg || strncmp(msg, LMCSI_INTERRUPTED, strlen(LMCSI_INTERRUPTED)) != 0) return 0;
  e->interrupt_caught = 1;
  return 1;
}

int lmcsi_raise_stop(lua_State *L, const char *why)
{
  lua_pushstring(L, why);
  return lua_error(L);
}

void lmcsi_check_blocking(lua_State *L, lmcsi_engine *e, const char *fname)
{
  if (e->in_callback)
    luaL_error(L, "mcsi.%s: blocking call from inside an mcsi event or completion callback "
                  "(schedule it with mcsi.timer(0, fn) instead)", fname);
  if (e->closed) luaL_error(L, "mcsi.%s: the mcsi engine is closed", fname);
  const char *why = lmcsi_stop_reason(e);
  if (why) lmcsi_raise_stop(L, why);
}

/* ---- protected calls into Lua ---------------------------------------------- */

/* lua.c's msghandler: a string message with a traceback. */
int lmcsi_msghandler(lua_State *L)
{
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  lmcsi_redact(L, lua_tostring(L, -1));       /* an argument quoted in a message may be a secret */
  return 1;
}

void lmcsi_report(lmcsi_engine *e, const char *what, const char *msg)
{
  if (e->before_output) e->before_output();
  fprintf(stderr, "mcsi: error in %s: %s\n", what, msg ? msg : "(no message)");
  fflush(stderr);
  if (e->after_output) e->after_output();
}

/* Calls the function below its nargs arguments, protected, no results; an
 * error is reported (with traceback) and swallowed. Returns the lua_pcall status. */
int lmcsi_pcall(lmcsi_engine *e, lua_State *L, int nargs, const char *what)
{
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, lmcsi_msghandler);
  lua_insert(L, base);
  mcsi_initiator *bound = e->bound;                /* callbacks call the flat API as such */
  e->bound = NULL;
  if (e->before_output) e->before_output();
  int st = lua_pcall(L, nargs, 0, base);
  if (e->after_output) e->after_output();
  e->bound = bound;
  if (st != LUA_OK) {
    if (!caught_interrupt(e, lua_tostring(L, -1))) lmcsi_report(e, what, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_remove(L, base);
  return st;
}

/* Pushes the function of a reference. */
void lmcsi_push_ref(lua_State *L, int ref)
{
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  lua_getiuservalue(L, -1, 1);
  lua_rawgeti(L, -1, ref);
  lua_replace(L, -3);
  lua_pop(L, 1);
}

int lmcsi_ref(lua_State *L, int idx)
{
  idx = lua_absindex(L, idx);
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  lua_getiuservalue(L, -1, 1);
  lua_pushvalue(L, idx);
  int ref = luaL_ref(L, -2);
  lua_pop(L, 2);
  return ref;
}

void lmcsi_unref(lua_State *L, int ref)
{
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  lua_getiuservalue(L, -1, 1);
  luaL_unref(L, -1, ref);
  lua_pop(L, 2);
}

/* ---- events ---------------------------------------------------------------- */

static int kind_of(lua_State *L, int arg)
{
  const char *k = luaL_checkstring(L, arg);
  if (strcmp(k, "*") == 0) return 0;
  for (int i = 1; i < MCSI_EV_COUNT; i++)
    if (strcmp(k, mcsi_event_name((mcsi_event_kind)i)) == 0) return i;
  return luaL_argerror(L, arg, lua_pushfstring(L, "unknown event kind '%s' (see mcsi.events)", lmcsi_push_short(L, k)));
}

/* Protected: builds the event table, runs the handlers. */
static int dispatch_event(lua_State *L)
{
  lmcsi_engine *e = lua_touserdata(L, 1);
  const mcsi_event *ev = lua_touserdata(L, 2);
  int kind = (int)ev->kind;

  lua_createtable(L, 0, 8);
  int evt = lua_gettop(L);
  const char *name = mcsi_event_name(ev->kind);
  lua_pushstring(L, name ? name : "unknown");
  lua_setfield(L, evt, "kind");
  lua_pushinteger(L, (lua_Integer)ev->session_id);
  lua_setfield(L, evt, "session_id");
  if (ev->connection_id) {
    lua_pushinteger(L, (lua_Integer)ev->connection_id);
    lua_setfield(L, evt, "connection_id");
  }
  lmcsi_redact(L, ev->reason ? ev->reason : "");
  lua_setfield(L, evt, "reason");
  lua_pushvalue(L, 3);
  lua_setfield(L, evt, "initiator");
  lmcsi_push_status(L, NULL, ev->status);
  lua_setfield(L, evt, "status");
  if (ev->old_state) {
    lua_pushstring(L, ev->old_state);
    lua_setfield(L, evt, "old_state");
  }
  if (ev->new_state) {
    lua_pushstring(L, ev->new_state);
    lua_setfield(L, evt, "new_state");
  }
  if (kind == MCSI_EV_SESSION_LOGGED_OUT || kind == MCSI_EV_SESSION_FAILED)
    lmcsi_session_forget(L, ev->session_id);      /* it ended: the engine lets its handle go */
  /* Handlers registered while dispatching wait for the next event. */
  long last = e->next_id;
  for (size_t i = 0; i < e->nhandlers; i++) {
    lmcsi_handler h = e->handlers[i];
    if (h.id > last || (h.kind != 0 && h.kind != kind)) continue;
    lmcsi_push_ref(L, h.ref);
    lua_pushvalue(L, evt);
    lmcsi_pcall(e, L, 1, "an mcsi event callback");
  }
  return 0;
}

static void on_event(mcsi_initiator *ini, const mcsi_event *ev, void *arg)
{
  lmcsi_engine *e = arg;
  lua_State *L = e->L ? e->L : e->home;
  if (ev->kind == MCSI_EV_SESSION_LOGGED_OUT) forget_owner(e, ev->session_id, ini);
  if (!L || e->closed || !lua_checkstack(L, 8)) return;
  e->in_callback++;
  lua_pushcfunction(L, dispatch_event);
  lua_pushlightuserdata(L, e);
  lua_pushlightuserdata(L, (void *)ev);
  lua_pushstring(L, mcsi_initiator_name(ini));
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {            /* out of memory, or an interrupt */
    if (!caught_interrupt(e, lua_tostring(L, -1))) lmcsi_report(e, "event dispatch", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  e->in_callback--;
}

/* mcsi.on(kind, fn) -> id: kind is an event name (mcsi.events) or "*". */
static int l_on(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  int kind = kind_of(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  e->handlers = grow(L, e->handlers, &e->cap_handlers, e->nhandlers, sizeof *e->handlers);
  lmcsi_handler *h = &e->handlers[e->nhandlers++];
  h->id = ++e->next_id;
  h->kind = kind;
  h->ref = lmcsi_ref(L, 2);
  lua_pushinteger(L, h->id);
  return 1;
}

/* mcsi.off(id) -> true if it was registered */
static int l_off(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lua_Integer id = luaL_checkinteger(L, 1);
  for (size_t i = 0; i < e->nhandlers; i++) {
    if (e->handlers[i].id != id) continue;
    lmcsi_unref(L, e->handlers[i].ref);
    memmove(&e->handlers[i], &e->handlers[i + 1], (e->nhandlers - i - 1) * sizeof *e->handlers);
    e->nhandlers--;
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  return 1;
}

/* ---- timers (on core's loop) and watched fds ------------------------------------------ */

/* A Lua timer is one timer of the initiator's loop (mcsi_timer_add). When it
 * is due, core's callback only queues it: its function runs after
 * mcsi_process returned, outside the engine, where it may block. */
static void on_timer(mcsi_initiator *ini, void *arg)
{
  lmcsi_timer *t = arg;
  lmcsi_engine *e = t->e;
  if (t->interval_ms > 0) {                       /* the next one, from now: the cadence holds */
    t->due_ms = now_ms() + t->interval_ms;
    t->core_id = mcsi_timer_add(ini, (uint64_t)t->interval_ms, on_timer, t);
  } else {
    t->core_id = 0;
  }
  long *due = realloc(e->due, (e->ndue + 1) * sizeof *due);
  if (!due) return;                                /* out of memory: this turn is lost */
  e->due = due;
  e->due[e->ndue++] = t->id;
}

static void arm_timer(lmcsi_engine *e, lmcsi_timer *t)
{
  /* core's clock counts whole milliseconds: one more, so that it never fires early */
  double left = t->due_ms - now_ms();
  t->core_id = mcsi_timer_add(e->ini, left > 0 ? (uint64_t)left + 2 - (left == (double)(uint64_t)left) : 0, on_timer, t);
}

static int add_timer(lua_State *L, double interval)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lua_Number ms = luaL_checknumber(L, 1);
  luaL_argcheck(L, ms >= 0 && ms <= 1e12, 1, "milliseconds must be between 0 and 1e12");
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (interval > 0) {
    interval = ms;
    luaL_argcheck(L, ms >= 1, 1, "the interval of mcsi.every must be at least 1 ms");
  }
  lmcsi_ini(L, e);
  e->timers = grow(L, e->timers, &e->cap_timers, e->ntimers, sizeof *e->timers);
  lmcsi_timer *t = calloc(1, sizeof *t);
  if (!t) return luaL_error(L, "mcsi: out of memory");
  t->e = e;
  t->id = ++e->next_id;
  t->due_ms = now_ms() + ms;
  t->interval_ms = interval;
  arm_timer(e, t);
  if (!t->core_id) { free(t); return luaL_error(L, "mcsi: out of memory"); }
  t->ref = lmcsi_ref(L, 2);
  e->timers[e->ntimers++] = t;
  lua_pushinteger(L, t->id);
  return 1;
}

/* mcsi.timer(ms, fn) -> id: fn() once, ms from now, from mcsi.run/poll/sleep. */
static int l_timer(lua_State *L) { return add_timer(L, 0); }
/* mcsi.every(ms, fn) -> id: fn() every ms until mcsi.cancel(id). */
static int l_every(lua_State *L) { return add_timer(L, 1); }

static lmcsi_timer *find_timer(lmcsi_engine *e, long id, size_t *at)
{
  for (size_t i = 0; i < e->ntimers; i++)
    if (e->timers[i]->id == id) { if (at) *at = i; return e->timers[i]; }
  return NULL;
}

/* Forgets timer i; its function stays referenced when keep_fn (pushed by the caller). */
static void drop_timer(lua_State *L, lmcsi_engine *e, size_t i)
{
  lmcsi_timer *t = e->timers[i];
  if (t->core_id && e->ini) mcsi_timer_cancel(e->ini, t->core_id);
  if (L) lmcsi_unref(L, t->ref);
  free(t);
  memmove(&e->timers[i], &e->timers[i + 1], (e->ntimers - i - 1) * sizeof *e->timers);
  e->ntimers--;
}

static int remove_timer(lua_State *L, lmcsi_engine *e, long id)
{
  size_t i;
  if (!find_timer(e, id, &i)) return 0;
  drop_timer(L, e, i);
  return 1;
}

/* mcsi.cancel(id) -> true if the timer or watcher existed */
static int l_cancel(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lua_Integer id = luaL_checkinteger(L, 1);
  int found = remove_timer(L, e, (long)id);
  for (size_t i = 0; !found && i < e->nwatchers; i++) {
    if (e->watchers[i].id != id) continue;
    lmcsi_unref(L, e->watchers[i].ref);
    memmove(&e->watchers[i], &e->watchers[i + 1], (e->nwatchers - i - 1) * sizeof *e->watchers);
    e->nwatchers--;
    found = 1;
  }
  lua_pushboolean(L, found);
  return 1;
}

/* mcsi.watch(fd, fn) -> id: fn(fd) whenever fd is readable (mcsi.cancel(id) stops it).
 * The loop stays open to other file descriptors (a control socket, a pipe). */
static int l_watch(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lua_Integer fd = luaL_checkinteger(L, 1);
  luaL_argcheck(L, fd >= 0 && fd <= INT_MAX && fcntl((int)fd, F_GETFD) >= 0, 1, "not an open file descriptor");
  luaL_checktype(L, 2, LUA_TFUNCTION);
  e->watchers = grow(L, e->watchers, &e->cap_watchers, e->nwatchers, sizeof *e->watchers);
  lmcsi_watcher *w = &e->watchers[e->nwatchers++];
  w->id = ++e->next_id;
  w->fd = (int)fd;
  w->ref = lmcsi_ref(L, 2);
  lua_pushinteger(L, w->id);
  return 1;
}

/* Runs the timers that came due (each once). Returns how many ran. */
static int fire_timers(lua_State *L, lmcsi_engine *e)
{
  int ran = 0;
  size_t n = e->ndue;
  long *due = e->due;
  e->due = NULL;
  e->ndue = 0;
  for (size_t k = 0; k < n; k++) {
    size_t i;
    lmcsi_timer *t = find_timer(e, due[k], &i);
    if (!t) continue;                              /* cancelled by an earlier one */
    lmcsi_push_ref(L, t->ref);
    if (t->interval_ms <= 0) drop_timer(L, e, i);  /* the function stays on the stack */
    e->dispatching++;
    lmcsi_pcall(e, L, 0, "an mcsi timer callback");
    e->dispatching--;
    ran++;
  }
  free(due);
  return ran;
}

static int fire_watchers(lua_State *L, lmcsi_engine *e, const struct pollfd *pf, int n)
{
  int ran = 0;
  for (int k = 0; k < n; k++) {
    if (!pf[k].revents) continue;
    for (size_t i = 0; i < e->nwatchers; i++) {
      if (e->watchers[i].fd != pf[k].fd) continue;
      if (pf[k].revents & POLLNVAL) {              /* closed behind our back */
        char msg[80];
        snprintf(msg, sizeof msg, "fd %d was closed; its mcsi.watch is cancelled", pf[k].fd);
        lmcsi_report(e, "mcsi.watch", msg);
        lmcsi_unref(L, e->watchers[i].ref);
        memmove(&e->watchers[i], &e->watchers[i + 1], (e->nwatchers - i - 1) * sizeof *e->watchers);
        e->nwatchers--;
        break;
      }
      lmcsi_push_ref(L, e->watchers[i].ref);
      lua_pushinteger(L, pf[k].fd);
      e->dispatching++;
      lmcsi_pcall(e, L, 1, "an mcsi watch callback");
      e->dispatching--;
      ran++;
      break;
    }
  }
  return ran;
}

/* ---- the loop ------------------------------------------------------------------ */

static int min_timeout(int a, int b)
{
  if (a < 0) return b;
  if (b < 0) return a;
  return a < b ? a : b;
}

/* ms until the host's deadline (-1: none); 1 ms past it, so that the host
 * sees it spent when the wait ends. */
static int deadline_timeout(const lmcsi_engine *e)
{
  if (!e->deadline_ms) return -1;
  double d = e->deadline_ms - now_ms();
  if (d <= 0) return 0;
  return d > INT_MAX - 1 ? INT_MAX : (int)d + 1;
}

/* A login timeout (0: core's default) cut to the time before the deadline. */
int lmcsi_cap_login_timeout(const lmcsi_engine *e, int ms)
{
  int left = deadline_timeout(e);
  if (left < 0) return ms;
  if (left == 0) left = 1;
  int want = ms ? ms : LOGIN_TIMEOUT_DEFAULT_MS;
  return want < left ? ms : left;
}

static void check_interrupt(lua_State *L, lmcsi_engine *e)
{
  const char *why = lmcsi_stop_reason(e);
  if (why) lmcsi_raise_stop(L, why);
}

/* After a blocking core call: past the host's deadline (the call was cut short
 * by it, or ran over), the host's message is raised. */
void lmcsi_after_blocking(lua_State *L, lmcsi_engine *e)
{
  if (e->deadline_ms && now_ms() >= e->deadline_ms) check_interrupt(L, e);
}

/* The poll set: the engine's fd, then (with_lua) the watched fds. */
/* The poll set: the initiators' fds (*ninis of them), then (with_lua) the watched fds. */
static struct pollfd *poll_set(lmcsi_engine *e, int with_lua, nfds_t *n, size_t *ninis)
{
  size_t want = 1 + e->nextra + (with_lua ? e->nwatchers : 0);
  if (want > e->cap_pfd) {
    struct pollfd *p = realloc(e->pfd, want * sizeof *p);
    if (!p) want = e->cap_pfd;                       /* out of memory: fewer this turn */
    else { e->pfd = p; e->cap_pfd = want; }
  }
  size_t k = 0;
  if (e->ini && k < want) e->pfd[k++] = (struct pollfd){ .fd = mcsi_fd(e->ini), .events = POLLIN };
  for (size_t i = 0; i < e->nextra && k < want; i++)
    e->pfd[k++] = (struct pollfd){ .fd = mcsi_fd(e->extra[i]), .events = POLLIN };
  *ninis = k;
  for (size_t i = 0; with_lua && i < e->nwatchers && k < want; i++)
    e->pfd[k++] = (struct pollfd){ .fd = e->watchers[i].fd, .events = POLLIN };
  *n = (nfds_t)k;
  return e->pfd;
}

/* The first timeout of every initiator's loop (-1: none). */
static int engine_timeout(const lmcsi_engine *e)
{
  int t = e->ini ? mcsi_next_timeout_ms(e->ini) : -1;
  for (size_t i = 0; i < e->nextra; i++) t = min_timeout(t, mcsi_next_timeout_ms(e->extra[i]));
  return t;
}

int lmcsi_turn(lua_State *L, lmcsi_engine *e, int timeout_ms, int with_lua)
{
  nfds_t n;
  size_t ninis;
  int handled = 0;
  timeout_ms = min_timeout(timeout_ms, engine_timeout(e));
  if (e->ready_head || (with_lua && e->ndue)) timeout_ms = 0;
  timeout_ms = min_timeout(timeout_ms, deadline_timeout(e));
  struct pollfd *pf = poll_set(e, with_lua, &n, &ninis);
  int r = poll(pf, n, timeout_ms);
  lua_State *saved;
  lmcsi_enter(e, L, &saved);
  if (e->ini) {
    int k = mcsi_process(e->ini, 0);
    if (k > 0) handled += k;
  }
  for (size_t i = 0; i < e->nextra; i++) {
    int k = mcsi_process(e->extra[i], 0);
    if (k > 0) handled += k;
  }
  lmcsi_leave(e, saved);
  handled += lmcsi_run_ready(L, e);
  if (!with_lua) return handled;
  if (r > 0 && n > ninis) {
    size_t nw = n - ninis;
    struct pollfd *copy = malloc(nw * sizeof *copy);   /* callbacks may add watchers */
    if (copy) {
      memcpy(copy, pf + ninis, nw * sizeof *copy);
      handled += fire_watchers(L, e, copy, (int)nw);
      free(copy);
    }
  }
  handled += fire_timers(L, e);
  return handled;
}

static int nothing_left(lmcsi_engine *e)
{
  return !e->ntimers && !e->nwatchers && !e->inflight && !e->ready_head && all_sessions(e) == 0;
}

/* mcsi.run() -> true when stopped by mcsi.stop(), false when nothing is left
 * (no session, no timer, no watcher). */
static int l_run(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lmcsi_check_blocking(L, e, "run");
  e->stop = 0;
  while (!e->stop) {
    if (nothing_left(e)) {
      lua_pushboolean(L, 0);
      return 1;
    }
    check_interrupt(L, e);
    lmcsi_turn(L, e, -1, 1);
  }
  e->stop = 0;
  lua_pushboolean(L, 1);
  return 1;
}

/* mcsi.stop(): makes mcsi.run() return after the current callback. */
static int l_stop(lua_State *L)
{
  lmcsi_engine_of(L)->stop = 1;
  return 0;
}

/* mcsi.poll([timeout_ms]) -> handled: one turn of the loop, waiting at most
 * timeout_ms (default 0, -1: until something happens). */
static int l_poll(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lua_Integer t = luaL_optinteger(L, 1, 0);
  luaL_argcheck(L, t >= -1 && t <= INT_MAX, 1, "timeout must be -1 or more milliseconds");
  lmcsi_check_blocking(L, e, "poll");
  check_interrupt(L, e);
  if (t < 0 && nothing_left(e)) t = 0;     /* nothing could ever wake it up */
  lua_pushinteger(L, lmcsi_turn(L, e, (int)t, 1));
  check_interrupt(L, e);
  lmcsi_after_blocking(L, e);
  return 1;
}

static int push_nothing(lua_State *L, lmcsi_req *r)
{
  (void)L; (void)r;
  return 0;
}

static void woken(mcsi_initiator *ini, void *arg)
{
  (void)ini;
  lmcsi_req_done(arg);
}

/* mcsi.sleep(ms): waits ms while the engine, timers and watchers keep running. */
static int l_sleep(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lua_Number ms = luaL_checknumber(L, 1);
  luaL_argcheck(L, ms >= 0 && ms <= 1e9, 1, "milliseconds must be between 0 and 1e9");
  lmcsi_req *r = lmcsi_req_new(L, e, push_nothing, 0, "sleep");
  if (r->mode == LMCSI_YIELD) {                      /* a coroutine of the engine: it yields */
    r->ini = lmcsi_ini(L, e);
    if (mcsi_timer_add(r->ini, (uint64_t)ms, woken, r)) return lmcsi_req_started(L, r, ISDSC_SUCCESS);
    lmcsi_req_free(L, r);
    return luaL_error(L, "mcsi: out of memory");
  }
  lmcsi_req_free(L, r);
  double end = now_ms() + ms;
  for (;;) {
    check_interrupt(L, e);
    double left = end - now_ms();
    if (left <= 0) break;
    lmcsi_turn(L, e, (int)left + (left > (int)left), 1);
  }
  return 0;
}

static int l_now(lua_State *L)
{
  lua_pushnumber(L, now_ms());
  return 1;
}

/* mcsi.fd() -> the engine's fd (readable when mcsi.poll(0) has work), or nil */
static int l_fd(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lua_pushinteger(L, mcsi_fd(lmcsi_ini(L, e)));
  return 1;
}

/* mcsi.next_timeout() -> ms until the engine or a Lua timer needs mcsi.poll; -1: none */
static int l_next_timeout(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lua_pushinteger(L, e->ndue || e->ready_head ? 0 : engine_timeout(e));
  return 1;
}

/* ---- host program entry points -------------------------------------------------- */

static lmcsi_engine *registry_engine(lua_State *L)
{
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  lmcsi_engine *e = luaL_testudata(L, -1, LMCSI_ENGINE);
  lua_pop(L, 1);
  return e;
}

void lmcsi_set_host(lua_State *L, const char *(*interrupt)(void),
                    void (*before_output)(void), void (*after_output)(void))
{
  lmcsi_engine *e = registry_engine(L);
  if (!e) return;
  e->interrupt = interrupt;
  e->before_output = before_output;
  e->after_output = after_output;
}

void lmcsi_set_deadline(lua_State *L, double deadline_ms)
{
  lmcsi_engine *e = registry_engine(L);
  if (e) e->deadline_ms = deadline_ms;
}

int lmcsi_wait_set(lua_State *L, const int **fds, int *timeout_ms)
{
  lmcsi_engine *e = registry_engine(L);
  *timeout_ms = -1;
  *fds = NULL;
  if (!e || e->closed) return 0;
  size_t want = 1 + e->nextra + e->nwatchers, n = 0;
  if (want > e->cap_fds) {
    int *p = realloc(e->fds, want * sizeof *p);
    if (!p) return 0;
    e->fds = p;
    e->cap_fds = want;
  }
  if (e->ini) e->fds[n++] = mcsi_fd(e->ini);
  for (size_t i = 0; i < e->nextra; i++) e->fds[n++] = mcsi_fd(e->extra[i]);
  for (size_t i = 0; i < e->nwatchers; i++) e->fds[n++] = e->watchers[i].fd;
  *timeout_ms = e->ndue || e->ready_head ? 0 : engine_timeout(e);
  *fds = e->fds;
  return (int)n;
}

static int service(lua_State *L)
{
  lmcsi_engine *e = lua_touserdata(L, 1);
  lmcsi_turn(L, e, 0, 1);
  return 0;
}

void lmcsi_service(lua_State *L)
{
  lmcsi_engine *e = registry_engine(L);
  if (!e || e->closed || e->in_callback) return;
  lua_pushcfunction(L, service);
  lua_pushlightuserdata(L, e);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    lmcsi_report(e, "the mcsi loop", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

/* ---- argument helpers ------------------------------------------------------------- */


mcsi_id lmcsi_check_sid(lua_State *L, int arg)
{
  lmcsi_engine *e = registry_engine(L);
  mcsi_id sid;
  mcsi_initiator *ini = NULL;
  if (e) e->hint_ini = NULL;
  if (lmcsi_is_session(L, arg, &sid, &ini)) {
    if (e) { e->hint_sid = sid; e->hint_ini = ini; }
    return sid;
  }
  if (lua_type(L, arg) == LUA_TNUMBER || lua_type(L, arg) == LUA_TSTRING) {
    int isnum;
    lua_Integer v = lua_tointegerx(L, arg, &isnum);
    if (isnum) return (mcsi_id)v;
  }
  luaL_typeerror(L, arg, "session id (integer) or mcsi.Session");
  return 0;
}

mcsi_id lmcsi_check_cid(lua_State *L, int arg)
{
  mcsi_id sid, cid;
  if (lmcsi_is_connection(L, arg, &sid, &cid)) return cid;
  if (lua_type(L, arg) == LUA_TNUMBER || lua_type(L, arg) == LUA_TSTRING) {
    int isnum;
    lua_Integer v = lua_tointegerx(L, arg, &isnum);
    if (isnum) return (mcsi_id)v;
  }
  luaL_typeerror(L, arg, "connection id (integer) or mcsi.Connection");
  return 0;
}

uint64_t lmcsi_check_lun(lua_State *L, int arg)
{
  lua_Integer lun = luaL_checkinteger(L, arg);
  luaL_argcheck(L, lun >= 0, arg, "LUN must not be negative");
  return (uint64_t)lun;
}

/* Rejects keys of an options table that are not in allowed[]. */
void lmcsi_check_fields(lua_State *L, int t, const char *const allowed[], const char *what)
{
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    int ok = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -1);
      for (int i = 0; allowed[i]; i++)
        if (strcmp(k, allowed[i]) == 0) { ok = 1; break; }
      if (!ok) luaL_error(L, "%s: unknown option '%s'", what, lmcsi_push_short(L, k));
    } else {
      luaL_error(L, "%s: option keys must be strings (got a %s key)", what, luaL_typename(L, -1));
    }
  }
}

static void check_opt_value(lua_State *L, const lmcsi_opt_spec *o, const char *what)
{
  int ty = lua_type(L, -1);
  if (ty == LUA_TNIL) return;
  switch (o->type) {
  case LMCSI_OPT_STRING: {
    size_t len;
    if (ty != LUA_TSTRING) luaL_error(L, "%s: option '%s' must be a string, not a %s", what, o->name, luaL_typename(L, -1));
    const char *s = lua_tolstring(L, -1, &len);
    if (strlen(s) != len) luaL_error(L, "%s: option '%s' contains a zero byte", what, o->name);
    break;
  }
  case LMCSI_OPT_INTEGER: {
    int isnum = 0;
    lua_Integer v = ty == LUA_TNUMBER ? lua_tointegerx(L, -1, &isnum) : 0;
    if (!isnum) luaL_error(L, "%s: option '%s' must be an integer, not a %s", what, o->name, luaL_typename(L, -1));
    if (v < o->lo || v > o->hi) luaL_error(L, "%s: option '%s' out of range (%I..%I)", what, o->name, o->lo, o->hi);
    break;
  }
  case LMCSI_OPT_BOOLEAN:
    if (ty != LUA_TBOOLEAN) luaL_error(L, "%s: option '%s' must be a boolean", what, o->name);
    break;
  case LMCSI_OPT_TABLE:
    if (ty != LUA_TTABLE) luaL_error(L, "%s: option '%s' must be a table", what, o->name);
    break;
  case LMCSI_OPT_ANY:
    break;
  }
}

void lmcsi_check_opts(lua_State *L, int t, const lmcsi_opt_spec *spec, const char *what)
{
  t = lua_absindex(L, t);
  lua_pushnil(L);
  while (lua_next(L, t)) {              /* the keys first: an unknown one is the first thing said */
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "%s: option keys must be strings (got a %s key)", what, luaL_typename(L, -1));
    const char *k = lua_tostring(L, -1);
    const lmcsi_opt_spec *o = spec;
    while (o->name && strcmp(o->name, k) != 0) o++;
    if (!o->name) luaL_error(L, "%s: unknown option '%s'", what, lmcsi_push_short(L, k));
  }
  for (const lmcsi_opt_spec *o = spec; o->name; o++) {   /* then the values, in the description's order */
    lmcsi_raw_field(L, t, o->name);
    check_opt_value(L, o, what);
    lua_pop(L, 1);
  }
}

int lmcsi_raw_field(lua_State *L, int t, const char *k)
{
  lua_pushstring(L, k);
  return lua_rawget(L, t);
}

/* A string field (NULL when absent); the string stays anchored in the table. */
const char *lmcsi_str_field(lua_State *L, int t, const char *k, const char *what)
{
  const char *s = NULL;
  int ty = lmcsi_raw_field(L, t, k);
  if (ty == LUA_TSTRING) {
    size_t len;
    s = lua_tolstring(L, -1, &len);
    if (strlen(s) != len) luaL_error(L, "%s: option '%s' contains a zero byte", what, k);
  } else if (ty != LUA_TNIL) {
    luaL_error(L, "%s: option '%s' must be a string, not a %s", what, k, luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return s;
}

lua_Integer lmcsi_int_field(lua_State *L, int t, const char *k, lua_Integer def, lua_Integer lo,
                             lua_Integer hi, const char *what)
{
  lua_Integer v = def;
  int ty = lmcsi_raw_field(L, t, k);
  if (ty != LUA_TNIL) {
    int isnum = 0;
    if (ty == LUA_TNUMBER) v = lua_tointegerx(L, -1, &isnum);
    if (!isnum) luaL_error(L, "%s: option '%s' must be an integer, not a %s", what, k, luaL_typename(L, -1));
    if (v < lo || v > hi) luaL_error(L, "%s: option '%s' out of range (%I..%I)", what, k, lo, hi);
  }
  lua_pop(L, 1);
  return v;
}

/* The initiator name asked for in the options: one per process (core keeps
 * one mcsi_initiator); another name is only possible while no session exists. */
mcsi_initiator *lmcsi_use_initiator_name(lua_State *L, lmcsi_engine *e, const char *name)
{
  if (e->bound) {                                 /* a method of an mcsi.Initiator */
    if (name && strcmp(mcsi_initiator_name(e->bound), name) != 0)
      luaL_error(L, "mcsi: initiator name '%s' asked for in a call of the mcsi.Initiator '%s'",
                 lmcsi_push_short(L, name), mcsi_initiator_name(e->bound));
    return e->bound;
  }
  if (!name) return lmcsi_ini(L, e);
  if (e->ini && strcmp(mcsi_initiator_name(e->ini), name) == 0) return e->ini;
  if (e->ini && mcsi_session_list(e->ini, NULL, 0) > 0)
    luaL_error(L, "mcsi: initiator name '%s' asked for, but sessions of '%s' exist "
                  "(one initiator name per process; log them out first)", lmcsi_push_short(L, name),
               mcsi_initiator_name(e->ini));
  mcsi_initiator *ini = make_initiator(L, e, name);
  if (e->ini) {
    mcsi_initiator_free(e->ini);                  /* its Lua timers move to the new one */
    e->ini = ini;
    for (size_t i = 0; i < e->ntimers; i++) arm_timer(e, e->timers[i]);
  }
  e->ini = ini;
  return ini;
}

static int policy_of(lua_State *L, int arg)
{
  if (lua_type(L, arg) == LUA_TSTRING) {
    const char *n = lua_tostring(L, arg);
    for (int i = 1; i < MCSI_LB_COUNT; i++)
      if (mcsi_lb_policy_name(i) && strcmp(n, mcsi_lb_policy_name(i)) == 0) return i;
    return luaL_argerror(L, arg, lua_pushfstring(L, "invalid option '%s' (a load-balance policy is 1..5 or one of mcsi.load_balance_policies)",
                                                 lmcsi_push_short(L, n)));
  }
  lua_Integer p = luaL_checkinteger(L, arg);   /* out of 1..5: core answers with a Status */
  return p < INT_MIN ? INT_MIN : p > INT_MAX ? INT_MAX : (int)p;
}

/* st = mcsi.set_load_balance_policy(sid, policy [, paths]) with policy 1..5
 * or its name, paths = { { connection = cid, weight =, active =, primary = }, ... } */
int lmcsi_l_set_load_balance_policy(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  int policy = policy_of(L, 2);
  size_t n = 0;
  mcsi_lb_path *paths = NULL;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    n = (size_t)luaL_len(L, 3);
    luaL_argcheck(L, n <= 4096, 3, "too many paths");
    paths = lua_newuserdatauv(L, (n ? n : 1) * sizeof *paths, 0);
    for (size_t i = 0; i < n; i++) {
      if (lua_rawgeti(L, 3, (lua_Integer)i + 1) != LUA_TTABLE)
        return luaL_argerror(L, 3, "each path must be a table { connection =, weight =, active =, primary = }");
      int t = lua_gettop(L);
      lmcsi_check_opts(L, t, lmcsi_opts_set_load_balance_policy_paths, "mcsi.set_load_balance_policy path");
      lmcsi_raw_field(L, t, "connection");
      if (lua_isnil(L, -1)) return luaL_argerror(L, 3, "a path without 'connection'");
      paths[i].connection_id = lmcsi_check_cid(L, lua_gettop(L));
      lua_pop(L, 1);
      paths[i].weight = (uint32_t)lmcsi_int_field(L, t, "weight", 0, 0, U32, "mcsi.set_load_balance_policy path");
      lmcsi_raw_field(L, t, "active");
      paths[i].active = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
      lua_pop(L, 1);
      lmcsi_raw_field(L, t, "primary");
      paths[i].primary = lua_toboolean(L, -1);
      lua_pop(L, 2);
    }
  }
  lmcsi_ini(L, e);
  lua_State *saved;
  lmcsi_enter(e, L, &saved);
  mcsi_status st = mcsi_set_load_balance_policy(lmcsi_ini_for(L, e, sid), sid, policy, paths, n);
  lmcsi_leave(e, saved);
  lmcsi_push_status(L, e, st);
  return 1;
}

/* st = mcsi.set_wanted_connections(sid, n): the connections policies keep (1..65535). */
int lmcsi_l_set_wanted_connections(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 1 && n <= 65535, 2, "wanted connections are 1..65535");
  lmcsi_ini(L, e);
  lua_State *saved;
  lmcsi_enter(e, L, &saved);
  mcsi_status st = mcsi_set_wanted_connections(lmcsi_ini_for(L, e, sid), sid, (uint32_t)n);
  lmcsi_leave(e, saved);
  lmcsi_push_status(L, e, st);
  return 1;
}

static const char *digest_name(int d) { return d == MCSI_DIGEST_CRC32C ? "crc32c" : "none"; }

static const char *policy_name(int p)
{
  const char *name = mcsi_lb_policy_name(p);
  return name ? name : p == 0 ? "none" : "unknown";
}

#define SET_INT(k, v) (lua_pushinteger(L, (lua_Integer)(v)), lua_setfield(L, -2, k))
#define SET_STR(k, v) (lua_pushstring(L, v), lua_setfield(L, -2, k))
#define SET_BOOL(k, v) (lua_pushboolean(L, v), lua_setfield(L, -2, k))

void lmcsi_push_conn_info(lua_State *L, const mcsi_conn_info *c)
{
  lua_createtable(L, 0, 24);
  SET_INT("id", mcsi_conn_info_get(c, MCSI_CI_ID));
  SET_INT("cid", mcsi_conn_info_get(c, MCSI_CI_CID));
  SET_STR("state", mcsi_conn_info_get_string(c, MCSI_CI_STATE));
  SET_STR("portal", mcsi_conn_info_get_string(c, MCSI_CI_PORTAL));
  SET_STR("local_addr", mcsi_conn_info_get_string(c, MCSI_CI_LOCAL_ADDR));
  SET_INT("local_port", mcsi_conn_info_get(c, MCSI_CI_LOCAL_PORT));
  SET_STR("remote_addr", mcsi_conn_info_get_string(c, MCSI_CI_REMOTE_ADDR));
  SET_INT("remote_port", mcsi_conn_info_get(c, MCSI_CI_REMOTE_PORT));
  SET_BOOL("leading", mcsi_conn_info_get(c, MCSI_CI_LEADING));
  SET_BOOL("primary", mcsi_conn_info_get(c, MCSI_CI_PRIMARY));
  SET_BOOL("active", mcsi_conn_info_get(c, MCSI_CI_ACTIVE));
  SET_INT("weight", mcsi_conn_info_get(c, MCSI_CI_WEIGHT));
  SET_STR("header_digest", digest_name(mcsi_conn_info_get(c, MCSI_CI_HEADER_DIGEST)));
  SET_STR("data_digest", digest_name(mcsi_conn_info_get(c, MCSI_CI_DATA_DIGEST)));
  SET_INT("max_recv_dsl", mcsi_conn_info_get(c, MCSI_CI_MAX_RECV_DSL));
  SET_INT("max_send_dsl", mcsi_conn_info_get(c, MCSI_CI_MAX_SEND_DSL));
  SET_INT("queue_depth", mcsi_conn_info_get(c, MCSI_CI_QUEUE_DEPTH));
  lua_createtable(L, 0, 8);
  SET_INT("bytes_sent", mcsi_conn_info_get(c, MCSI_CI_BYTES_SENT));
  SET_INT("bytes_received", mcsi_conn_info_get(c, MCSI_CI_BYTES_RECEIVED));
  SET_INT("pdus_sent", mcsi_conn_info_get(c, MCSI_CI_PDUS_SENT));
  SET_INT("pdus_received", mcsi_conn_info_get(c, MCSI_CI_PDUS_RECEIVED));
  SET_INT("commands", mcsi_conn_info_get(c, MCSI_CI_COMMANDS));
  SET_INT("digest_errors", mcsi_conn_info_get(c, MCSI_CI_DIGEST_ERRORS));
  SET_INT("timeout_errors", mcsi_conn_info_get(c, MCSI_CI_TIMEOUT_ERRORS));
  SET_INT("format_errors", mcsi_conn_info_get(c, MCSI_CI_FORMAT_ERRORS));
  SET_INT("latency_sum_us", mcsi_conn_info_get(c, MCSI_CI_LATENCY_SUM_US));
  lua_createtable(L, MCSI_LATENCY_BUCKETS, 0);       /* [k + 1]: commands answered in [2^k, 2^(k+1)) us */
  for (int k = 0; k < MCSI_LATENCY_BUCKETS; k++) {
    lua_pushinteger(L, (lua_Integer)mcsi_conn_info_get(c, MCSI_CI_LATENCY_BUCKET_0 + k));
    lua_rawseti(L, -2, k + 1);
  }
  lua_setfield(L, -2, "latency");
  lua_setfield(L, -2, "stats");
}

void lmcsi_push_session_info(lua_State *L, const mcsi_session_info *s)
{
  char isid[16];
  snprintf(isid, sizeof isid, "%012llx", (unsigned long long)mcsi_session_info_get(s, MCSI_SI_ISID));
  lua_createtable(L, 0, 32);
  SET_INT("id", mcsi_session_info_get(s, MCSI_SI_ID));
  SET_STR("target", mcsi_session_info_get_string(s, MCSI_SI_TARGET));
  SET_STR("target_alias", mcsi_session_info_get_string(s, MCSI_SI_TARGET_ALIAS));
  SET_STR("isid", isid);
  SET_INT("tsih", mcsi_session_info_get(s, MCSI_SI_TSIH));
  SET_INT("tpgt", mcsi_session_info_get(s, MCSI_SI_TPGT));
  SET_STR("state", mcsi_session_info_get_string(s, MCSI_SI_STATE));
  SET_BOOL("discovery", mcsi_session_info_get(s, MCSI_SI_DISCOVERY));
  SET_INT("load_balance", mcsi_session_info_get(s, MCSI_SI_LOAD_BALANCE_POLICY));
  SET_STR("load_balance_name", policy_name(mcsi_session_info_get(s, MCSI_SI_LOAD_BALANCE_POLICY)));
  /* the old names of the two (a "policy" is a script now: doc/policies.md), kept for one version */
  SET_INT("policy", mcsi_session_info_get(s, MCSI_SI_LOAD_BALANCE_POLICY));
  SET_STR("policy_name", policy_name(mcsi_session_info_get(s, MCSI_SI_LOAD_BALANCE_POLICY)));
  SET_INT("recoveries", mcsi_session_info_get(s, MCSI_SI_RECOVERIES));
  SET_INT("commands_retried", mcsi_session_info_get(s, MCSI_SI_COMMANDS_RETRIED));
  SET_INT("max_connections", mcsi_session_info_get(s, MCSI_SI_MAX_CONNECTIONS));
  SET_INT("max_burst_length", mcsi_session_info_get(s, MCSI_SI_MAX_BURST_LENGTH));
  SET_INT("first_burst_length", mcsi_session_info_get(s, MCSI_SI_FIRST_BURST_LENGTH));
  SET_INT("max_outstanding_r2t", mcsi_session_info_get(s, MCSI_SI_MAX_OUTSTANDING_R2T));
  SET_INT("default_time2wait", mcsi_session_info_get(s, MCSI_SI_DEFAULT_TIME2WAIT));
  SET_INT("default_time2retain", mcsi_session_info_get(s, MCSI_SI_DEFAULT_TIME2RETAIN));
  SET_BOOL("initial_r2t", mcsi_session_info_get(s, MCSI_SI_INITIAL_R2T));
  SET_BOOL("immediate_data", mcsi_session_info_get(s, MCSI_SI_IMMEDIATE_DATA));
  SET_BOOL("data_pdu_in_order", mcsi_session_info_get(s, MCSI_SI_DATA_PDU_IN_ORDER));
  SET_BOOL("data_sequence_in_order", mcsi_session_info_get(s, MCSI_SI_DATA_SEQUENCE_IN_ORDER));
  SET_INT("error_recovery_level", mcsi_session_info_get(s, MCSI_SI_ERROR_RECOVERY_LEVEL));
  SET_INT("cmdsn", mcsi_session_info_get(s, MCSI_SI_CMDSN));
  SET_INT("exp_cmdsn", mcsi_session_info_get(s, MCSI_SI_EXP_CMDSN));
  SET_INT("max_cmdsn", mcsi_session_info_get(s, MCSI_SI_MAX_CMDSN));
  SET_INT("connection_count", mcsi_session_info_get(s, MCSI_SI_CONNECTION_COUNT));
  SET_INT("wanted_connections", mcsi_session_info_get(s, MCSI_SI_WANTED_CONNECTIONS));
  size_t n = LMCSI_INFO_CONNS(s);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lmcsi_push_conn_info(L, mcsi_session_info_connection(s, i));
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "connections");
}

mcsi_session_info *lmcsi_session_snapshot(mcsi_initiator *ini, mcsi_id sid, mcsi_status *st)
{
  mcsi_session_info *si = NULL;
  *st = mcsi_session_get_info(ini, sid, &si);
  return si;
}

/* info, st = mcsi.session_info(sid) */
int lmcsi_l_session_info(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  mcsi_status st;
  mcsi_session_info *si = lmcsi_session_snapshot(lmcsi_ini_for(L, e, sid), sid, &st);
  if (si) lmcsi_push_session_info(L, si);
  else lua_pushnil(L);
  mcsi_session_info_free(si);
  lmcsi_push_status(L, e, st);
  return 2;
}

/* info, st = mcsi.connection_info(sid, cid) */
int lmcsi_l_connection_info(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1), cid = lmcsi_check_cid(L, 2);
  mcsi_status st;
  mcsi_session_info *si = lmcsi_session_snapshot(lmcsi_ini_for(L, e, sid), sid, &st);
  if (si) {
    const mcsi_conn_info *ci = mcsi_session_info_find_connection(si, cid);
    if (ci) lmcsi_push_conn_info(L, ci);
    mcsi_session_info_free(si);
    if (ci) {
      lmcsi_push_status(L, e, st);
      return 2;
    }
    lua_pushnil(L);
    lmcsi_push_status_msg(L, ISDSC_INVALID_CONNECTION_ID,
                          "The connection id is invalid: not a connection of that session");
    return 2;
  }
  lua_pushnil(L);
  lmcsi_push_status(L, e, st);
  return 2;
}

/* list = mcsi.sessions(): info of every session of this process */
int lmcsi_l_sessions(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_initiator *one[1], **inis = one;
  size_t ninis;
  lua_newtable(L);
  if (e->bound) {
    one[0] = e->bound;
    ninis = 1;
  } else {
    ninis = 1 + e->nextra;
    inis = lua_newuserdatauv(L, ninis * sizeof *inis, 0);
    ninis = lmcsi_inis(e, inis, ninis);
  }
  int t = lua_absindex(L, e->bound ? -1 : -2);
  lua_Integer k = 0;
  for (size_t j = 0; j < ninis; j++) {
    size_t n = mcsi_session_list(inis[j], NULL, 0);
    mcsi_id *ids = lua_newuserdatauv(L, (n ? n : 1) * sizeof *ids, 0);
    n = mcsi_session_list(inis[j], ids, n);
    for (size_t i = 0; i < n; i++) {
      mcsi_status st;
      mcsi_session_info *si = lmcsi_session_snapshot(inis[j], ids[i], &st);
      if (!si) continue;
      lmcsi_push_session_info(L, si);
      mcsi_session_info_free(si);
      lua_pushstring(L, mcsi_initiator_name(inis[j]));
      lua_setfield(L, -2, "initiator");
      lua_rawseti(L, t, ++k);
    }
    lua_pop(L, 1);
  }
  lua_settop(L, t);
  return 1;
}

/* name = mcsi.initiator([{ name = "iqn..." }]): the process's initiator name
 * (setting it is only possible while no session exists) */
static int l_initiator(lua_State *L)
{
  static const char *const keys[] = { "name", NULL };
  lmcsi_engine *e = lmcsi_engine_of(L);
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lmcsi_check_fields(L, 1, keys, "mcsi.initiator");
    lmcsi_check_blocking(L, e, "initiator");
    lmcsi_use_initiator_name(L, e, lmcsi_str_field(L, 1, "name", "mcsi.initiator"));
  }
  lua_pushstring(L, mcsi_initiator_name(lmcsi_ini(L, e)));
  return 1;
}

/* mcsi.connect([socket]) -> mcsi, st: from now on this state's mcsi talks to
 * the daemon mcsid (bindings/mcsi/remote.lua); upvalue 1 is the module. The
 * client gets the CHAP option reader (lsecret.c) as an argument: it is in no
 * table, so that nothing else (a policy in mcsid) reads files with it. */
static int l_connect(lua_State *L)
{
  lua_settop(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "mcsi.remote");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "install");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_pushcfunction(L, lmcsi_l_chap_secrets);   /* given to the client only: in no table anyone can reach */
  lua_call(L, 3, 2);
  return 2;
}

/* ---- the engine object --------------------------------------------------------------- */

/* ---- the end: every session logged out, within a bound ------------------------ */

static lmcsi_engine *live_engines;      /* for the exit handler (os.exit without closing the state) */

static void logged_out(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  (void)st; (void)message; (void)result;
  lmcsi_engine *e = arg;
  (void)ini; e->exit_left--;
}

/* Logs every session out (the flat API's too) and runs the loop until they
 * answered or EXIT_LOGOUT_MS passed. No Lua runs: the engine is closed first.
 * Not from inside a core callback (os.exit there): the sockets just close. */
static void logout_all(lmcsi_engine *e)
{
  e->closed = 1;
  if (e->borrowed) return;              /* the daemon's initiator: its sessions are the daemon's */
  lmcsi_exports_stop_all(e);            /* before the sessions they serve go */
  if (e->in_callback) return;
  size_t max = 1 + e->nextra;
  mcsi_initiator **inis = malloc(max * sizeof *inis);
  struct pollfd *pf = malloc(max * sizeof *pf);
  if (!inis || !pf) { free(inis); free(pf); return; }
  size_t ninis = lmcsi_inis(e, inis, max);
  e->exit_left = 0;
  for (size_t j = 0; j < ninis; j++) {
    mcsi_set_event_callback(inis[j], NULL, NULL);
    size_t n = mcsi_session_list(inis[j], NULL, 0);
    mcsi_id *ids = n ? malloc(n * sizeof *ids) : NULL;
    if (!ids) continue;
    n = mcsi_session_list(inis[j], ids, n);
    for (size_t i = 0; i < n; i++)
      if (mcsi_logout_from_target_async(inis[j], ids[i], MCSI_COMPLETION(logged_out, e)) == ISDSC_SUCCESS) e->exit_left++;
    free(ids);
  }
  double end = now_ms() + EXIT_LOGOUT_MS;
  while (e->exit_left > 0) {
    for (size_t j = 0; j < ninis; j++) mcsi_process(inis[j], 0);
    double left = end - now_ms();
    if (e->exit_left <= 0 || left <= 0) break;
    for (size_t j = 0; j < ninis; j++) pf[j] = (struct pollfd){ .fd = mcsi_fd(inis[j]), .events = POLLIN };
    poll(pf, ninis, min_timeout(engine_timeout(e), (int)left + 1));
  }
  free(inis);
  free(pf);
}

static void unlink_engine(lmcsi_engine *e)
{
  for (lmcsi_engine **p = &live_engines; *p; p = &(*p)->next_live)
    if (*p == e) { *p = e->next_live; break; }
}

static void at_exit(void)
{
  while (live_engines) {
    lmcsi_engine *e = live_engines;
    live_engines = e->next_live;
    if (!e->closed) logout_all(e);
  }
}

static int engine_gc(lua_State *L)
{
  lmcsi_engine *e = luaL_checkudata(L, 1, LMCSI_ENGINE);
  unlink_engine(e);
  if (e->closed && !e->ini && !e->nextra) return 0;
  logout_all(e);
  if (e->ini) {
    mcsi_set_event_callback(e->ini, NULL, NULL);
    if (!e->borrowed) mcsi_initiator_free(e->ini);   /* closes what is left, without Logout */
    e->ini = NULL;
  }
  for (size_t i = 0; i < e->nextra; i++) {
    mcsi_set_event_callback(e->extra[i], NULL, NULL);
    mcsi_initiator_free(e->extra[i]);
  }
  free(e->extra);
  free(e->owners);
  e->extra = NULL;
  e->owners = NULL;
  e->nextra = e->nowners = 0;
  lmcsi_ready_free(e);
  for (size_t i = 0; i < e->ntimers; i++) free(e->timers[i]);
  free(e->timers);
  free(e->due);
  free(e->pfd);
  free(e->fds);
  e->due = NULL;
  e->pfd = NULL;
  e->fds = NULL;
  e->ndue = e->cap_pfd = e->cap_fds = 0;
  free(e->handlers);
  free(e->watchers);
  lmcsi_forget_secrets(e);
  e->timers = NULL;
  e->handlers = NULL;
  e->watchers = NULL;
  e->ntimers = e->nhandlers = e->nwatchers = 0;
  return 0;
}

static int engine_tostring(lua_State *L)
{
  lmcsi_engine *e = luaL_checkudata(L, 1, LMCSI_ENGINE);
  if (e->closed) lua_pushliteral(L, "mcsi.Engine (closed)");
  else if (!e->ini) lua_pushliteral(L, "mcsi.Engine (no initiator yet)");
  else lua_pushfstring(L, "mcsi.Engine (%s, %d sessions)", mcsi_initiator_name(e->ini),
                       (int)mcsi_session_list(e->ini, NULL, 0));
  return 1;
}

/* The described operations are lapi_table.c's lmcsi_api_funcs (generated). */
static const luaL_Reg mcsi_funcs[] = {
  {"initiator", l_initiator},
  {"on", l_on},
  {"off", l_off},
  {"timer", l_timer},
  {"every", l_every},
  {"cancel", l_cancel},
  {"watch", l_watch},
  {"run", l_run},
  {"stop", l_stop},
  {"poll", l_poll},
  {"sleep", l_sleep},
  {"now", l_now},
  {"fd", l_fd},
  {"next_timeout", l_next_timeout},
  {"login", lmcsi_session_login},
  {"spawn", lmcsi_l_spawn},
  {"redact", lmcsi_l_redact},
  {"add_secret", lmcsi_l_add_secret},
  {"_on_coroutine_error", lmcsi_l_on_coroutine_error},
  {NULL, NULL}
};

static const luaL_Reg engine_meta[] = {
  {"__gc", engine_gc},
  {"__close", engine_gc},
  {"__tostring", engine_tostring},
  {NULL, NULL}
};

/* mcsi.status: ISDSC_<NAME> -> code and code -> name, for every row. */
static void push_status_table(lua_State *L)
{
  size_t n = mcsi_status_count();
  lua_createtable(L, (int)n, (int)n);
  for (size_t i = 0; i < n; i++) {
    mcsi_status st = mcsi_status_at(i);
    lua_pushinteger(L, (lua_Integer)st);
    lua_setfield(L, -2, mcsi_status_name(st));
    lua_pushstring(L, mcsi_status_name(st));
    lua_rawseti(L, -2, (lua_Integer)st);
  }
}

static void push_name_list(lua_State *L, const char *(*name)(int), int lo, int hi)
{
  lua_createtable(L, hi - lo + 1, hi - lo + 1);
  for (int i = lo; i <= hi; i++) {
    lua_pushstring(L, name(i));
    lua_rawseti(L, -2, i - lo + 1);
    lua_pushinteger(L, i);
    lua_setfield(L, -2, name(i));
  }
}

static const char *event_name_i(int k) { return mcsi_event_name((mcsi_event_kind)k); }

/* package.preload loader of an embedded chunk (upvalue: its index). */
static int load_chunk(lua_State *L)
{
  const lmcsi_chunk *c = &lmcsi_chunks[lua_tointeger(L, lua_upvalueindex(1))];
  if (luaL_loadbufferx(L, c->code, c->len, c->chunkname, "t") != LUA_OK) return lua_error(L);
  lua_pushstring(L, c->name);
  lua_call(L, 1, 1);
  return 1;
}

static void preload_chunks(lua_State *L)
{
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (int i = 0; lmcsi_chunks[i].name; i++) {
    lua_pushinteger(L, i);
    lua_pushcclosure(L, load_chunk, 1);
    lua_setfield(L, -2, lmcsi_chunks[i].name);
  }
  lua_pop(L, 1);
}

int lmcsi_open_with_initiator(lua_State *L, mcsi_initiator *ini)
{
  luaL_requiref(L, "mcsi", luaopen_mcsi, 0);
  lmcsi_engine *e = registry_engine(L);
  if (!e || e->ini) return luaL_error(L, "mcsi: the engine of this state already has an initiator");
  e->ini = ini;
  e->borrowed = 1;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  e->home = lua_tothread(L, -1);
  lua_pop(L, 1);
  unlink_engine(e);                       /* the exit handler leaves the host's sessions alone */
  mcsi_set_event_callback(ini, on_event, e);
  return 1;
}

int luaopen_mcsi(lua_State *L)
{
  /* One engine per Lua state, shared by every require. */
  lmcsi_engine *e = registry_engine(L);
  if (!e) {
    e = lua_newuserdatauv(L, sizeof *e, 1);
    memset(e, 0, sizeof *e);
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);         /* references to callbacks */
    if (luaL_newmetatable(L, LMCSI_ENGINE)) luaL_setfuncs(L, engine_meta, 0);
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
    static int exit_handler;
    if (!exit_handler) exit_handler = atexit(at_exit) == 0;
    e->next_live = live_engines;
    live_engines = e;
  }
  luaL_newlibtable(L, mcsi_funcs);
  int m = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  luaL_setfuncs(L, mcsi_funcs, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  luaL_setfuncs(L, lmcsi_api_funcs, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  luaL_setfuncs(L, lmcsi_ops_funcs, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  luaL_setfuncs(L, lmcsi_scsi_funcs, 1);
  luaL_setfuncs(L, lmcsi_guard_funcs, 0);
  lua_newtable(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  luaL_setfuncs(L, lmcsi_unix_funcs, 1);
  lua_setfield(L, m, "_unix");
  lua_pushvalue(L, m);
  lua_pushcclosure(L, l_connect, 1);
  lua_setfield(L, m, "connect");
  lmcsi_open_status(L);
  lua_setfield(L, m, "Status");
  lmcsi_open_session(L, m);
  lmcsi_open_connection(L, m);
  lmcsi_open_initiator(L, m);
  lmcsi_open_export(L, m);
  push_status_table(L);
  lua_setfield(L, m, "status");
  push_name_list(L, event_name_i, 1, MCSI_EV_COUNT - 1);
  lua_setfield(L, m, "events");
  push_name_list(L, policy_name, 1, MCSI_LB_COUNT - 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, m, "policies");                  /* its old name, kept for one version */
  lua_setfield(L, m, "load_balance_policies");
  lua_pushliteral(L, LMCSI_VERSION);
  lua_setfield(L, m, "version");
  lua_pushliteral(L, LMCSI_VERSION);
  lua_setfield(L, m, "_VERSION");      /* as Lua's own _VERSION ("Lua 5.4") */
  preload_chunks(L);
  return 1;
}
