/*
 * lmcsi.c: the Lua module "mcsi" (require "mcsi"): the engine, the flat API,
 * events, timers and the loop.
 *
 * The engine is a full userdata (LMCSI_ENGINE) made once per Lua state by
 * luaopen_mcsi, kept in the registry under that name and given to every
 * module function as upvalue 1. It owns the one mcsi_initiator of the state
 * (created on first use, or by mcsi.initiator{name=...}), the callbacks
 * (registry references in the engine's own reference table, uservalue 1),
 * the Lua timers and the watched fds.
 *
 * Calls into Lua from core callbacks (events, async completions) run through
 * lmcsi_pcall: protected, with a traceback; an error is reported on stderr
 * and the engine keeps running. While such a callback runs, core refuses
 * blocking calls (ISDSC_SESSION_BUSY); the binding raises a clear error for
 * that instead, since it is a programming mistake. Timer and watcher
 * callbacks run outside core (from mcsi.run/poll/sleep) and may block.
 *
 * Every operation returns a mcsi.Status as its last result; the results
 * before it are nil on failure. Only programmer errors raise.
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

#define LMCSI_VERSION "mcsi 0.1"
#define LMCSI_MAX_IO (256u << 20)   /* bytes per mcsi.read */
#define LOGIN_TIMEOUT_DEFAULT_MS 15000   /* core's default (mcsi.h) */

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

/* Pushes s cut to 48 bytes (a user string quoted in an error message). */
static const char *push_short(lua_State *L, const char *s)
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
    if (name) luaL_error(L, "mcsi: '%s' is not a valid iSCSI initiator name", push_short(L, name));
    luaL_error(L, "mcsi: cannot create the initiator (out of memory or file descriptors)");
  }
  mcsi_set_event_callback(ini, on_event, e);
  return ini;
}

mcsi_initiator *lmcsi_ini(lua_State *L, lmcsi_engine *e)
{
  if (!e->ini) e->ini = make_initiator(L, e, NULL);
  return e->ini;
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

void lmcsi_check_blocking(lua_State *L, lmcsi_engine *e, const char *fname)
{
  if (e->in_callback)
    luaL_error(L, "mcsi.%s: blocking call from inside an mcsi event or completion callback "
                  "(schedule it with mcsi.timer(0, fn) instead)", fname);
  if (e->closed) luaL_error(L, "mcsi.%s: the mcsi engine is closed", fname);
  const char *why = e->interrupt ? e->interrupt() : NULL;
  if (why) luaL_error(L, "%s", why);
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

static void report(lmcsi_engine *e, const char *what, const char *msg)
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
  if (e->before_output) e->before_output();
  int st = lua_pcall(L, nargs, 0, base);
  if (e->after_output) e->after_output();
  if (st != LUA_OK) {
    report(e, what, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_remove(L, base);
  return st;
}

/* Pushes the function of a reference. */
static void push_ref(lua_State *L, int ref)
{
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  lua_getiuservalue(L, -1, 1);
  lua_rawgeti(L, -1, ref);
  lua_replace(L, -3);
  lua_pop(L, 1);
}

static int make_ref(lua_State *L, int idx)
{
  idx = lua_absindex(L, idx);
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  lua_getiuservalue(L, -1, 1);
  lua_pushvalue(L, idx);
  int ref = luaL_ref(L, -2);
  lua_pop(L, 2);
  return ref;
}

static void drop_ref(lua_State *L, int ref)
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
  return luaL_argerror(L, arg, lua_pushfstring(L, "unknown event kind '%s' (see mcsi.events)", push_short(L, k)));
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
  /* Handlers registered while dispatching wait for the next event. */
  long last = e->next_id;
  for (size_t i = 0; i < e->nhandlers; i++) {
    lmcsi_handler h = e->handlers[i];
    if (h.id > last || (h.kind != 0 && h.kind != kind)) continue;
    push_ref(L, h.ref);
    lua_pushvalue(L, evt);
    lmcsi_pcall(e, L, 1, "an mcsi event callback");
  }
  return 0;
}

static void on_event(mcsi_initiator *ini, const mcsi_event *ev, void *arg)
{
  lmcsi_engine *e = arg;
  lua_State *L = e->L;
  (void)ini;
  if (!L || e->closed || !lua_checkstack(L, 8)) return;
  e->in_callback++;
  lua_pushcfunction(L, dispatch_event);
  lua_pushlightuserdata(L, e);
  lua_pushlightuserdata(L, (void *)ev);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {            /* out of memory, typically */
    report(e, "event dispatch", lua_tostring(L, -1));
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
  h->ref = make_ref(L, 2);
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
    drop_ref(L, e->handlers[i].ref);
    memmove(&e->handlers[i], &e->handlers[i + 1], (e->nhandlers - i - 1) * sizeof *e->handlers);
    e->nhandlers--;
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  return 1;
}

/* ---- timers and watched fds -------------------------------------------------- */

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
  e->timers = grow(L, e->timers, &e->cap_timers, e->ntimers, sizeof *e->timers);
  lmcsi_timer *t = &e->timers[e->ntimers++];
  t->id = ++e->next_id;
  t->due_ms = now_ms() + ms;
  t->interval_ms = interval;
  t->ref = make_ref(L, 2);
  lua_pushinteger(L, t->id);
  return 1;
}

/* mcsi.timer(ms, fn) -> id: fn() once, ms from now, from mcsi.run/poll/sleep. */
static int l_timer(lua_State *L) { return add_timer(L, 0); }
/* mcsi.every(ms, fn) -> id: fn() every ms until mcsi.cancel(id). */
static int l_every(lua_State *L) { return add_timer(L, 1); }

static int remove_timer(lua_State *L, lmcsi_engine *e, long id)
{
  for (size_t i = 0; i < e->ntimers; i++) {
    if (e->timers[i].id != id) continue;
    drop_ref(L, e->timers[i].ref);
    memmove(&e->timers[i], &e->timers[i + 1], (e->ntimers - i - 1) * sizeof *e->timers);
    e->ntimers--;
    return 1;
  }
  return 0;
}

/* mcsi.cancel(id) -> true if the timer or watcher existed */
static int l_cancel(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lua_Integer id = luaL_checkinteger(L, 1);
  int found = remove_timer(L, e, (long)id);
  for (size_t i = 0; !found && i < e->nwatchers; i++) {
    if (e->watchers[i].id != id) continue;
    drop_ref(L, e->watchers[i].ref);
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
  w->ref = make_ref(L, 2);
  lua_pushinteger(L, w->id);
  return 1;
}

/* Runs the timers due now (each at most once per call). Returns how many ran. */
static int fire_timers(lua_State *L, lmcsi_engine *e)
{
  double now = now_ms();
  long due[32];
  int ndue = 0, ran = 0;
  for (size_t i = 0; i < e->ntimers && ndue < 32; i++)
    if (e->timers[i].due_ms <= now) due[ndue++] = e->timers[i].id;
  for (int k = 0; k < ndue; k++) {
    size_t i;
    for (i = 0; i < e->ntimers && e->timers[i].id != due[k]; i++) {}
    if (i == e->ntimers) continue;                 /* cancelled by an earlier one */
    lmcsi_timer *t = &e->timers[i];
    push_ref(L, t->ref);
    if (t->interval_ms > 0) {
      t->due_ms += t->interval_ms;
      if (t->due_ms < now) t->due_ms = now + t->interval_ms;
    } else {
      remove_timer(L, e, t->id);                   /* the function stays on the stack */
    }
    e->dispatching++;
    lmcsi_pcall(e, L, 0, "an mcsi timer callback");
    e->dispatching--;
    ran++;
  }
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
        report(e, "mcsi.watch", msg);
        drop_ref(L, e->watchers[i].ref);
        memmove(&e->watchers[i], &e->watchers[i + 1], (e->nwatchers - i - 1) * sizeof *e->watchers);
        e->nwatchers--;
        break;
      }
      push_ref(L, e->watchers[i].ref);
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

/* ---- deferred closes --------------------------------------------------------- */

void lmcsi_defer_close(lmcsi_engine *e, mcsi_id sid, mcsi_id cid)
{
  if (e->npending == e->cap_pending) {
    size_t ncap = e->cap_pending ? e->cap_pending * 2 : 8;
    lmcsi_pending *p = realloc(e->pending, ncap * sizeof *p);
    if (!p) return;                    /* the initiator closes it at the end anyway */
    e->pending = p;
    e->cap_pending = ncap;
  }
  e->pending[e->npending].sid = sid;
  e->pending[e->npending].cid = cid;
  e->npending++;
}

static void run_pending(lua_State *L, lmcsi_engine *e)
{
  if (e->in_callback || !e->ini) return;
  while (e->npending) {
    lmcsi_pending p = e->pending[--e->npending];
    lua_State *saved;
    lmcsi_enter(e, L, &saved);
    if (p.cid) mcsi_remove_connection_from_session(e->ini, p.sid, p.cid);
    else mcsi_logout_from_target(e->ini, p.sid);
    lmcsi_leave(e, saved);
  }
}

/* ---- the loop ------------------------------------------------------------------ */

static int timers_timeout(lmcsi_engine *e)
{
  if (!e->ntimers) return -1;
  double now = now_ms(), first = e->timers[0].due_ms;
  for (size_t i = 1; i < e->ntimers; i++)
    if (e->timers[i].due_ms < first) first = e->timers[i].due_ms;
  if (first <= now) return 0;
  double d = first - now;
  return d > INT_MAX ? INT_MAX : (int)d + 1;
}

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

/* A login timeout (0: the default def_ms) cut to the time before the deadline. */
static int cap_login_timeout(const lmcsi_engine *e, int ms, int def_ms)
{
  int left = deadline_timeout(e);
  if (left < 0) return ms;
  if (left == 0) left = 1;
  int want = ms ? ms : def_ms;
  return want < left ? ms : left;
}

static void check_interrupt(lua_State *L, lmcsi_engine *e)
{
  const char *why = e->interrupt ? e->interrupt() : NULL;
  if (why) luaL_error(L, "%s", why);
}

/* After a blocking core call: past the host's deadline (the call was cut short
 * by it, or ran over), the host's message is raised. */
static void after_blocking(lua_State *L, lmcsi_engine *e)
{
  if (e->deadline_ms && now_ms() >= e->deadline_ms) check_interrupt(L, e);
}

/* Waits at most timeout_ms (-1: until something happens) for the engine, the
 * Lua timers and the watched fds, and handles everything ready. Returns the
 * number of things handled. Raises only for an interrupt. */
static int step(lua_State *L, lmcsi_engine *e, int timeout_ms)
{
  struct pollfd pf[65];
  int n = 0, handled = 0;
  run_pending(L, e);
  if (e->ini) {
    pf[n].fd = mcsi_fd(e->ini);
    pf[n].events = POLLIN;
    pf[n++].revents = 0;
    timeout_ms = min_timeout(timeout_ms, mcsi_next_timeout_ms(e->ini));
  }
  for (size_t i = 0; i < e->nwatchers && n < 65; i++) {
    pf[n].fd = e->watchers[i].fd;
    pf[n].events = POLLIN;
    pf[n++].revents = 0;
  }
  timeout_ms = min_timeout(timeout_ms, timers_timeout(e));
  timeout_ms = min_timeout(timeout_ms, deadline_timeout(e));
  int r = poll(pf, (nfds_t)n, timeout_ms);
  if (r < 0 && errno == EINTR) check_interrupt(L, e);
  lua_State *saved;
  lmcsi_enter(e, L, &saved);
  if (e->ini) {
    int k = mcsi_process(e->ini, 0);
    if (k > 0) handled += k;
  }
  lmcsi_leave(e, saved);
  if (r > 0) handled += fire_watchers(L, e, e->ini ? pf + 1 : pf, e->ini ? n - 1 : n);
  handled += fire_timers(L, e);
  run_pending(L, e);
  return handled;
}

static int nothing_left(lmcsi_engine *e)
{
  return !e->ntimers && !e->nwatchers && (!e->ini || mcsi_session_list(e->ini, NULL, 0) == 0);
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
    step(L, e, -1);
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
  lua_pushinteger(L, step(L, e, (int)t));
  after_blocking(L, e);
  return 1;
}

/* mcsi.sleep(ms): waits ms while the engine, timers and watchers keep running. */
static int l_sleep(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lua_Number ms = luaL_checknumber(L, 1);
  luaL_argcheck(L, ms >= 0 && ms <= 1e9, 1, "milliseconds must be between 0 and 1e9");
  lmcsi_check_blocking(L, e, "sleep");
  double end = now_ms() + ms;
  for (;;) {
    check_interrupt(L, e);
    double left = end - now_ms();
    if (left <= 0) break;
    step(L, e, (int)left + (left > (int)left));
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
  lua_pushinteger(L, min_timeout(e->ini ? mcsi_next_timeout_ms(e->ini) : -1, timers_timeout(e)));
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

int lmcsi_wait_set(lua_State *L, int *fds, int max, int *timeout_ms)
{
  lmcsi_engine *e = registry_engine(L);
  int n = 0;
  *timeout_ms = -1;
  if (!e || e->closed) return 0;
  if (e->ini && n < max) {
    fds[n++] = mcsi_fd(e->ini);
    *timeout_ms = mcsi_next_timeout_ms(e->ini);
  }
  for (size_t i = 0; i < e->nwatchers && n < max; i++) fds[n++] = e->watchers[i].fd;
  *timeout_ms = min_timeout(*timeout_ms, timers_timeout(e));
  return n;
}

static int service(lua_State *L)
{
  lmcsi_engine *e = lua_touserdata(L, 1);
  step(L, e, 0);
  return 0;
}

void lmcsi_service(lua_State *L)
{
  lmcsi_engine *e = registry_engine(L);
  if (!e || e->closed || e->in_callback) return;
  lua_pushcfunction(L, service);
  lua_pushlightuserdata(L, e);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    report(e, "the mcsi loop", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

/* ---- argument helpers ------------------------------------------------------------- */


mcsi_id lmcsi_check_sid(lua_State *L, int arg)
{
  mcsi_id sid;
  if (lmcsi_is_session(L, arg, &sid)) return sid;
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

static uint64_t check_lun(lua_State *L, int arg)
{
  lua_Integer lun = luaL_checkinteger(L, arg);
  luaL_argcheck(L, lun >= 0, arg, "LUN must not be negative");
  return (uint64_t)lun;
}

/* Rejects keys of an options table that are not in allowed[]. */
static void check_fields(lua_State *L, int t, const char *const allowed[], const char *what)
{
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    int ok = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -1);
      for (int i = 0; allowed[i]; i++)
        if (strcmp(k, allowed[i]) == 0) { ok = 1; break; }
      if (!ok) luaL_error(L, "%s: unknown option '%s'", what, push_short(L, k));
    } else {
      luaL_error(L, "%s: option keys must be strings (got a %s key)", what, luaL_typename(L, -1));
    }
  }
}

static int raw_field(lua_State *L, int t, const char *k)
{
  lua_pushstring(L, k);
  return lua_rawget(L, t);
}

/* A string field (NULL when absent); the string stays anchored in the table. */
static const char *str_field(lua_State *L, int t, const char *k, const char *what)
{
  const char *s = NULL;
  int ty = raw_field(L, t, k);
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

static lua_Integer int_field(lua_State *L, int t, const char *k, lua_Integer def, lua_Integer lo,
                             lua_Integer hi, const char *what)
{
  lua_Integer v = def;
  int ty = raw_field(L, t, k);
  if (ty != LUA_TNIL) {
    int isnum = 0;
    if (ty == LUA_TNUMBER) v = lua_tointegerx(L, -1, &isnum);
    if (!isnum) luaL_error(L, "%s: option '%s' must be an integer, not a %s", what, k, luaL_typename(L, -1));
    if (v < lo || v > hi) luaL_error(L, "%s: option '%s' out of range (%I..%I)", what, k, lo, hi);
  }
  lua_pop(L, 1);
  return v;
}

static int yesno_field(lua_State *L, int t, const char *k, const char *what)
{
  int ty = raw_field(L, t, k), v = MCSI_DEFAULT;
  if (ty == LUA_TBOOLEAN) v = lua_toboolean(L, -1) ? MCSI_YES : MCSI_NO;
  else if (ty != LUA_TNIL) luaL_error(L, "%s: option '%s' must be a boolean", what, k);
  lua_pop(L, 1);
  return v;
}

static int digest_field(lua_State *L, int t, const char *k, const char *what)
{
  const char *s = str_field(L, t, k, what);
  if (!s || strcmp(s, "none") == 0) return MCSI_DIGEST_NONE;
  if (strcmp(s, "crc32c") == 0 || strcmp(s, "CRC32C") == 0) return MCSI_DIGEST_CRC32C;
  return luaL_error(L, "%s: option '%s' must be \"crc32c\" or \"none\", not \"%s\"", what, k, push_short(L, s));
}

static const char *const login_keys[] = {
  "portal", "target", "initiator", "chap", "header_digest", "data_digest", "max_connections",
  "max_recv_data_segment_length", "max_burst_length", "first_burst_length", "max_outstanding_r2t",
  "default_time2wait", "default_time2retain", "initial_r2t", "immediate_data", "login_timeout_ms",
  "command_timeout_ms", "nop_interval_ms", "nop_timeout_ms", "max_redirects", "recovery_timeout_ms",
  NULL
};

#define U32 0xFFFFFFFF

/* Fills o from the options table at t (strings stay anchored in it). */
static void login_opts(lua_State *L, int t, mcsi_login_opts *o, const char *what)
{
  memset(o, 0, sizeof *o);
  check_fields(L, t, login_keys, what);
  o->portal = str_field(L, t, "portal", what);
  o->target = str_field(L, t, "target", what);
  lmcsi_chap_opts(L, t, &o->chap, what);
  o->header_digest = digest_field(L, t, "header_digest", what);
  o->data_digest = digest_field(L, t, "data_digest", what);
  o->max_connections = (uint32_t)int_field(L, t, "max_connections", 0, 0, U32, what);
  o->max_recv_data_segment_length = (uint32_t)int_field(L, t, "max_recv_data_segment_length", 0, 0, U32, what);
  o->max_burst_length = (uint32_t)int_field(L, t, "max_burst_length", 0, 0, U32, what);
  o->first_burst_length = (uint32_t)int_field(L, t, "first_burst_length", 0, 0, U32, what);
  o->max_outstanding_r2t = (uint32_t)int_field(L, t, "max_outstanding_r2t", 0, 0, U32, what);
  o->default_time2wait = (uint32_t)int_field(L, t, "default_time2wait", 0, 0, U32, what);
  o->default_time2retain = (uint32_t)int_field(L, t, "default_time2retain", 0, 0, U32, what);
  o->initial_r2t = yesno_field(L, t, "initial_r2t", what);
  o->immediate_data = yesno_field(L, t, "immediate_data", what);
  o->login_timeout_ms = (int)int_field(L, t, "login_timeout_ms", 0, 0, INT_MAX, what);
  o->command_timeout_ms = (int)int_field(L, t, "command_timeout_ms", 0, 0, INT_MAX, what);
  o->nop_interval_ms = (int)int_field(L, t, "nop_interval_ms", 0, -1, INT_MAX, what);
  o->nop_timeout_ms = (int)int_field(L, t, "nop_timeout_ms", 0, 0, INT_MAX, what);
  o->max_redirects = (int)int_field(L, t, "max_redirects", 0, 0, INT_MAX, what);
  o->recovery_timeout_ms = (int)int_field(L, t, "recovery_timeout_ms", 0, -1, INT_MAX, what);
}

/* The initiator name asked for in the options: one per process (core keeps
 * one mcsi_initiator); another name is only possible while no session exists. */
static void use_initiator_name(lua_State *L, lmcsi_engine *e, const char *name)
{
  if (!name) { lmcsi_ini(L, e); return; }
  if (e->ini && strcmp(mcsi_initiator_name(e->ini), name) == 0) return;
  if (e->ini && mcsi_session_list(e->ini, NULL, 0) > 0)
    luaL_error(L, "mcsi: initiator name '%s' asked for, but sessions of '%s' exist "
                  "(one initiator name per process; log them out first)", push_short(L, name),
               mcsi_initiator_name(e->ini));
  mcsi_initiator *ini = make_initiator(L, e, name);
  if (e->ini) mcsi_initiator_free(e->ini);
  e->ini = ini;
}

/* ---- operations ------------------------------------------------------------------- */

/* Logs in with the options table at 1; pushes the Status and returns its code. */
int lmcsi_login(lua_State *L, mcsi_id *sid, mcsi_id *cid)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_login_opts o;
  luaL_checktype(L, 1, LUA_TTABLE);
  lmcsi_check_blocking(L, e, "login_to_target");
  login_opts(L, 1, &o, "mcsi.login_to_target");
  use_initiator_name(L, e, str_field(L, 1, "initiator", "mcsi.login_to_target"));
  o.login_timeout_ms = cap_login_timeout(e, o.login_timeout_ms, LOGIN_TIMEOUT_DEFAULT_MS);
  run_pending(L, e);
  lua_State *saved;
  lmcsi_enter(e, L, &saved);
  mcsi_status st = mcsi_login_to_target(e->ini, &o, sid, cid);
  lmcsi_leave(e, saved);
  after_blocking(L, e);
  lmcsi_push_status(L, e, st);
  return (int)st;
}

/* sid, cid, st = mcsi.login_to_target{ portal =, target =, ... } */
static int l_login_to_target(lua_State *L)
{
  mcsi_id sid = 0, cid = 0;
  if (lmcsi_login(L, &sid, &cid) == ISDSC_SUCCESS) {
    lua_pushinteger(L, (lua_Integer)sid);
    lua_pushinteger(L, (lua_Integer)cid);
  } else {
    lua_pushnil(L);
    lua_pushnil(L);
  }
  lua_rotate(L, -3, 2);
  return 3;
}

/* st = mcsi.logout_from_target(sid or session) */
static int l_logout_from_target(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  lmcsi_check_blocking(L, e, "logout_from_target");
  if (!e->ini) {
    lmcsi_push_status_msg(L, ISDSC_INVALID_SESSION_ID, "The session id is invalid: no session exists");
    return 1;
  }
  run_pending(L, e);
  lua_State *saved;
  lmcsi_enter(e, L, &saved);
  mcsi_status st = mcsi_logout_from_target(e->ini, sid);
  lmcsi_leave(e, saved);
  if (st != ISDSC_SESSION_BUSY) lmcsi_session_closed(L, 1);   /* the session ended either way */
  after_blocking(L, e);
  lmcsi_push_status(L, e, st);
  return 1;
}

static const char *const conn_keys[] = { "portal", "chap", "login_timeout_ms", "weight", NULL };

/* Adds a connection to session arg 1 with the options at arg 2 (a table or a
 * portal string); pushes the Status and returns its code. */
int lmcsi_add_connection(lua_State *L, mcsi_id *cid)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  mcsi_conn_opts o;
  memset(&o, 0, sizeof o);
  if (lua_type(L, 2) == LUA_TSTRING) {
    o.portal = lua_tostring(L, 2);
  } else {
    luaL_checktype(L, 2, LUA_TTABLE);
    check_fields(L, 2, conn_keys, "mcsi.add_connection_to_session");
    o.portal = str_field(L, 2, "portal", "mcsi.add_connection_to_session");
    lmcsi_chap_opts(L, 2, &o.chap, "mcsi.add_connection_to_session");
    o.login_timeout_ms = (int)int_field(L, 2, "login_timeout_ms", 0, 0, INT_MAX, "mcsi.add_connection_to_session");
    o.weight = (uint32_t)int_field(L, 2, "weight", 0, 0, U32, "mcsi.add_connection_to_session");
  }
  lmcsi_check_blocking(L, e, "add_connection_to_session");
  o.login_timeout_ms = cap_login_timeout(e, o.login_timeout_ms, LOGIN_TIMEOUT_DEFAULT_MS);
  lmcsi_ini(L, e);
  run_pending(L, e);
  lua_State *saved;
  lmcsi_enter(e, L, &saved);
  mcsi_status st = mcsi_add_connection_to_session(e->ini, sid, &o, cid);
  lmcsi_leave(e, saved);
  after_blocking(L, e);
  lmcsi_push_status(L, e, st);
  return (int)st;
}

/* cid, st = mcsi.add_connection_to_session(sid, { portal =, chap =, weight = } or portal) */
static int l_add_connection_to_session(lua_State *L)
{
  mcsi_id cid = 0;
  if (lmcsi_add_connection(L, &cid) == ISDSC_SUCCESS) lua_pushinteger(L, (lua_Integer)cid);
  else lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* st = mcsi.remove_connection_from_session(sid, cid) */
int lmcsi_l_remove_connection(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1), cid = lmcsi_check_cid(L, 2);
  lmcsi_check_blocking(L, e, "remove_connection_from_session");
  lmcsi_ini(L, e);
  run_pending(L, e);
  lua_State *saved;
  lmcsi_enter(e, L, &saved);
  mcsi_status st = mcsi_remove_connection_from_session(e->ini, sid, cid);
  lmcsi_leave(e, saved);
  if (st == ISDSC_SUCCESS) lmcsi_connection_closed(L, 2);
  after_blocking(L, e);
  lmcsi_push_status(L, e, st);
  return 1;
}

typedef struct async_remove {
  lmcsi_engine *e;
  int ref;
} async_remove;

static int async_done(lua_State *L)
{
  async_remove *a = lua_touserdata(L, 1);
  mcsi_status st = (mcsi_status)lua_tointeger(L, 2);
  if (a->ref == LUA_NOREF) return 0;
  push_ref(L, a->ref);
  drop_ref(L, a->ref);
  lmcsi_push_status(L, a->e, st);
  lmcsi_pcall(a->e, L, 1, "an mcsi completion callback");
  return 0;
}

static void on_removed(mcsi_status st, void *arg)
{
  async_remove *a = arg;
  lmcsi_engine *e = a->e;
  lua_State *L = e->L;
  if (L && !e->closed && lua_checkstack(L, 8)) {
    e->in_callback++;
    lua_pushcfunction(L, async_done);
    lua_pushlightuserdata(L, a);
    lua_pushinteger(L, (lua_Integer)st);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
      report(e, "a completion callback", lua_tostring(L, -1));
      lua_pop(L, 1);
    }
    e->in_callback--;
  }
  free(a);
}

/* st = mcsi.remove_connection_async(sid, cid [, fn]): starts the removal;
 * fn(st) runs with the outcome from the loop. Allowed inside callbacks. */
int lmcsi_l_remove_connection_async(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1), cid = lmcsi_check_cid(L, 2);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
  if (e->closed) return luaL_error(L, "mcsi.remove_connection_async: the mcsi engine is closed");
  lmcsi_ini(L, e);
  async_remove *a = malloc(sizeof *a);
  if (!a) return luaL_error(L, "mcsi: out of memory");
  a->e = e;
  a->ref = lua_isnoneornil(L, 3) ? LUA_NOREF : make_ref(L, 3);
  lua_State *saved;
  lmcsi_enter(e, L, &saved);
  mcsi_status st = mcsi_remove_connection_async(e->ini, sid, cid, on_removed, a);
  lmcsi_leave(e, saved);
  if (st != ISDSC_SUCCESS) {       /* not started: the callback will not run */
    if (a->ref != LUA_NOREF) drop_ref(L, a->ref);
    free(a);
  }
  lmcsi_push_status(L, e, st);
  return 1;
}

static int policy_of(lua_State *L, int arg)
{
  if (lua_type(L, arg) == LUA_TSTRING) {
    const char *n = lua_tostring(L, arg);
    for (int i = 1; i < MCSI_LB_COUNT; i++)
      if (mcsi_lb_policy_name(i) && strcmp(n, mcsi_lb_policy_name(i)) == 0) return i;
    return luaL_argerror(L, arg, lua_pushfstring(L, "invalid option '%s' (a policy is 1..5 or one of mcsi.policies)",
                                                 push_short(L, n)));
  }
  lua_Integer p = luaL_checkinteger(L, arg);   /* out of 1..5: core answers with a Status */
  return p < INT_MIN ? INT_MIN : p > INT_MAX ? INT_MAX : (int)p;
}

/* st = mcsi.set_load_balance_policy(sid, policy [, paths]) with policy 1..5
 * or its name, paths = { { connection = cid, weight =, active =, primary = }, ... } */
static int l_set_load_balance_policy(lua_State *L)
{
  static const char *const keys[] = { "connection", "weight", "active", "primary", NULL };
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
      check_fields(L, t, keys, "mcsi.set_load_balance_policy path");
      raw_field(L, t, "connection");
      if (lua_isnil(L, -1)) return luaL_argerror(L, 3, "a path without 'connection'");
      paths[i].connection_id = lmcsi_check_cid(L, lua_gettop(L));
      lua_pop(L, 1);
      paths[i].weight = (uint32_t)int_field(L, t, "weight", 0, 0, U32, "mcsi.set_load_balance_policy path");
      raw_field(L, t, "active");
      paths[i].active = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
      lua_pop(L, 1);
      raw_field(L, t, "primary");
      paths[i].primary = lua_toboolean(L, -1);
      lua_pop(L, 2);
    }
  }
  lmcsi_ini(L, e);
  lua_State *saved;
  lmcsi_enter(e, L, &saved);
  mcsi_status st = mcsi_set_load_balance_policy(e->ini, sid, policy, paths, n);
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
  SET_INT("id", c->id);
  SET_INT("cid", c->cid);
  SET_STR("state", c->state);
  SET_STR("portal", c->portal);
  SET_STR("local_addr", c->local_addr);
  SET_INT("local_port", c->local_port);
  SET_STR("remote_addr", c->remote_addr);
  SET_INT("remote_port", c->remote_port);
  SET_BOOL("leading", c->leading);
  SET_BOOL("primary", c->primary);
  SET_BOOL("active", c->active);
  SET_INT("weight", c->weight);
  SET_STR("header_digest", digest_name(c->header_digest));
  SET_STR("data_digest", digest_name(c->data_digest));
  SET_INT("max_recv_dsl", c->max_recv_dsl);
  SET_INT("max_send_dsl", c->max_send_dsl);
  SET_INT("queue_depth", c->queue_depth);
  lua_createtable(L, 0, 8);
  SET_INT("bytes_sent", c->stats.bytes_sent);
  SET_INT("bytes_received", c->stats.bytes_received);
  SET_INT("pdus_sent", c->stats.pdus_sent);
  SET_INT("pdus_received", c->stats.pdus_received);
  SET_INT("commands", c->stats.commands);
  SET_INT("digest_errors", c->stats.digest_errors);
  SET_INT("timeout_errors", c->stats.timeout_errors);
  SET_INT("format_errors", c->stats.format_errors);
  lua_setfield(L, -2, "stats");
}

void lmcsi_push_session_info(lua_State *L, const mcsi_session_info *s)
{
  char isid[16];
  snprintf(isid, sizeof isid, "%02x%02x%02x%02x%02x%02x", s->isid[0], s->isid[1], s->isid[2],
           s->isid[3], s->isid[4], s->isid[5]);
  lua_createtable(L, 0, 32);
  SET_INT("id", s->id);
  SET_STR("target", s->target);
  SET_STR("target_alias", s->target_alias);
  SET_STR("isid", isid);
  SET_INT("tsih", s->tsih);
  SET_INT("tpgt", s->tpgt);
  SET_STR("state", s->state);
  SET_BOOL("discovery", s->discovery);
  SET_INT("policy", s->load_balance_policy);
  SET_STR("policy_name", policy_name(s->load_balance_policy));
  SET_INT("recoveries", s->recoveries);
  SET_INT("commands_retried", s->commands_retried);
  SET_INT("max_connections", s->max_connections);
  SET_INT("max_burst_length", s->max_burst_length);
  SET_INT("first_burst_length", s->first_burst_length);
  SET_INT("max_outstanding_r2t", s->max_outstanding_r2t);
  SET_INT("default_time2wait", s->default_time2wait);
  SET_INT("default_time2retain", s->default_time2retain);
  SET_BOOL("initial_r2t", s->initial_r2t);
  SET_BOOL("immediate_data", s->immediate_data);
  SET_BOOL("data_pdu_in_order", s->data_pdu_in_order);
  SET_BOOL("data_sequence_in_order", s->data_sequence_in_order);
  SET_INT("error_recovery_level", s->error_recovery_level);
  SET_INT("cmdsn", s->cmdsn);
  SET_INT("exp_cmdsn", s->exp_cmdsn);
  SET_INT("max_cmdsn", s->max_cmdsn);
  SET_INT("connection_count", s->connection_count);
  size_t n = s->connection_count < 8 ? s->connection_count : 8;
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lmcsi_push_conn_info(L, &s->connections[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "connections");
}

/* info, st = mcsi.session_info(sid) */
static int l_session_info(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  mcsi_session_info *si = lua_newuserdatauv(L, sizeof *si, 0);
  mcsi_status st = mcsi_session_get_info(lmcsi_ini(L, e), sid, si);
  if (st == ISDSC_SUCCESS) lmcsi_push_session_info(L, si);
  else lua_pushnil(L);
  lmcsi_push_status(L, e, st);
  return 2;
}

/* info, st = mcsi.connection_info(sid, cid) */
int lmcsi_l_connection_info(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1), cid = lmcsi_check_cid(L, 2);
  mcsi_session_info *si = lua_newuserdatauv(L, sizeof *si, 0);
  mcsi_status st = mcsi_session_get_info(lmcsi_ini(L, e), sid, si);
  if (st == ISDSC_SUCCESS) {
    size_t n = si->connection_count < 8 ? si->connection_count : 8;
    for (size_t i = 0; i < n; i++) {
      if (si->connections[i].id != cid) continue;
      lmcsi_push_conn_info(L, &si->connections[i]);
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
static int l_sessions(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  lua_newtable(L);
  if (!e->ini) return 1;
  size_t n = mcsi_session_list(e->ini, NULL, 0);
  mcsi_id *ids = lua_newuserdatauv(L, (n ? n : 1) * sizeof *ids, 0);
  n = mcsi_session_list(e->ini, ids, n);
  mcsi_session_info *si = lua_newuserdatauv(L, sizeof *si, 0);
  lua_Integer k = 0;
  for (size_t i = 0; i < n; i++) {
    if (mcsi_session_get_info(e->ini, ids[i], si) != ISDSC_SUCCESS) continue;
    lmcsi_push_session_info(L, si);
    lua_rawseti(L, -4, ++k);
  }
  lua_pop(L, 2);
  return 1;
}

/* Runs a blocking SCSI-level core call with the engine entered. */
#define BLOCKING(e, L, name, call) do {                       \
    lmcsi_check_blocking(L, e, name);                         \
    lmcsi_ini(L, e);                                          \
    run_pending(L, e);                                        \
    lua_State *saved_;                                        \
    lmcsi_enter(e, L, &saved_);                               \
    st = (call);                                              \
    lmcsi_leave(e, saved_);                                   \
    after_blocking(L, e);                                     \
  } while (0)

/* data, st = mcsi.scsi_inquiry(sid, lun [, page]) */
static int l_scsi_inquiry(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint64_t lun = check_lun(L, 2);
  lua_Integer page = luaL_optinteger(L, 3, -1);
  luaL_argcheck(L, page >= -1 && page <= 255, 3, "VPD page must be 0..255");
  mcsi_inquiry *inq = lua_newuserdatauv(L, sizeof *inq, 0);
  mcsi_status st;
  BLOCKING(e, L, "scsi_inquiry", mcsi_scsi_inquiry(e->ini, sid, lun, (int)page, inq));
  if (st == ISDSC_SUCCESS) {
    lua_createtable(L, 0, 6);
    if (page < 0) {
      SET_INT("peripheral_type", inq->peripheral_type);
      SET_STR("vendor", inq->vendor);
      SET_STR("product", inq->product);
      SET_STR("revision", inq->revision);
    } else {
      SET_INT("page", page);
    }
    lua_pushlstring(L, (const char *)inq->data, inq->len < sizeof inq->data ? inq->len : sizeof inq->data);
    lua_setfield(L, -2, "raw");
  } else {
    lua_pushnil(L);
  }
  lmcsi_push_status(L, e, st);
  return 2;
}

static void remember_bs(lmcsi_engine *e, mcsi_id sid, uint64_t lun, uint32_t bs)
{
  for (unsigned i = 0; i < 8; i++)
    if (e->bs_cache[i].sid == sid && e->bs_cache[i].lun == lun) { e->bs_cache[i].bs = bs; return; }
  unsigned i = e->bs_next++ % 8;
  e->bs_cache[i].sid = sid;
  e->bs_cache[i].lun = lun;
  e->bs_cache[i].bs = bs;
}

/* cap, st = mcsi.scsi_read_capacity(sid, lun): cap.blocks, cap.block_size */
static int l_scsi_read_capacity(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint64_t lun = check_lun(L, 2);
  mcsi_capacity cap = { 0, 0 };
  mcsi_status st;
  BLOCKING(e, L, "scsi_read_capacity", mcsi_scsi_read_capacity(e->ini, sid, lun, &cap));
  if (st == ISDSC_SUCCESS) {
    remember_bs(e, sid, lun, cap.block_size);
    lua_createtable(L, 0, 3);
    SET_INT("blocks", cap.blocks);
    SET_INT("block_size", cap.block_size);
    SET_INT("bytes", cap.blocks * cap.block_size);
  } else {
    lua_pushnil(L);
  }
  lmcsi_push_status(L, e, st);
  return 2;
}

/* luns, st = mcsi.scsi_report_luns(sid) */
static int l_scsi_report_luns(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  size_t max = 64, count = 0;
  mcsi_status st;
  for (;;) {
    uint64_t *luns = lua_newuserdatauv(L, max * sizeof *luns, 0);
    BLOCKING(e, L, "scsi_report_luns", mcsi_scsi_report_luns(e->ini, sid, luns, max, &count));
    if (st == ISDSC_SUCCESS && count > max && max < 65536) {
      max = count;
      lua_pop(L, 1);
      continue;
    }
    if (st == ISDSC_SUCCESS) {
      size_t n = count < max ? count : max;
      lua_createtable(L, (int)n, 0);
      for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, (lua_Integer)luns[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
    } else {
      lua_pushnil(L);
    }
    break;
  }
  lmcsi_push_status(L, e, st);
  return 2;
}

/* st = mcsi.scsi_test_unit_ready(sid, lun) */
static int l_scsi_test_unit_ready(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint64_t lun = check_lun(L, 2);
  mcsi_status st;
  BLOCKING(e, L, "scsi_test_unit_ready", mcsi_scsi_test_unit_ready(e->ini, sid, lun));
  lmcsi_push_status(L, e, st);
  return 1;
}

/* st = mcsi.lun_reset(sid, lun) */
static int l_lun_reset(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint64_t lun = check_lun(L, 2);
  mcsi_status st;
  BLOCKING(e, L, "lun_reset", mcsi_lun_reset(e->ini, sid, lun));
  lmcsi_push_status(L, e, st);
  return 1;
}

/* The block size of sid/lun (READ CAPACITY once, then kept). */
static mcsi_status block_size(lua_State *L, lmcsi_engine *e, mcsi_id sid, uint64_t lun, uint32_t *bs)
{
  for (unsigned i = 0; i < 8; i++)
    if (e->bs_cache[i].sid == sid && e->bs_cache[i].lun == lun && e->bs_cache[i].bs) {
      *bs = e->bs_cache[i].bs;
      return ISDSC_SUCCESS;
    }
  mcsi_capacity cap = { 0, 0 };
  mcsi_status st;
  BLOCKING(e, L, "read", mcsi_scsi_read_capacity(e->ini, sid, lun, &cap));
  if (st == ISDSC_SUCCESS) {
    remember_bs(e, sid, lun, cap.block_size);
    *bs = cap.block_size;
  }
  return st;
}

/* data, st = mcsi.read(sid, lun, lba, blocks) */
static int l_read(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint64_t lun = check_lun(L, 2);
  lua_Integer lba = luaL_checkinteger(L, 3), blocks = luaL_checkinteger(L, 4);
  luaL_argcheck(L, lba >= 0, 3, "LBA must not be negative");
  luaL_argcheck(L, blocks >= 0 && blocks <= LMCSI_MAX_IO, 4, "block count out of range");
  lmcsi_check_blocking(L, e, "read");
  uint32_t bs = 0;
  mcsi_status st = block_size(L, e, sid, lun, &bs);
  if (st == ISDSC_SUCCESS) {
    if (bs == 0 || (uint64_t)blocks * bs > LMCSI_MAX_IO)
      return luaL_argerror(L, 4, lua_pushfstring(L, "at most %d bytes per mcsi.read", (int)LMCSI_MAX_IO));
    size_t len = (size_t)blocks * bs;
    void *buf = lua_newuserdatauv(L, len ? len : 1, 0);
    BLOCKING(e, L, "read", mcsi_read(e->ini, sid, lun, (uint64_t)lba, buf, len));
    if (st == ISDSC_SUCCESS) {
      lua_pushlstring(L, buf, len);
      lmcsi_push_status(L, e, st);
      return 2;
    }
  }
  lua_pushnil(L);
  lmcsi_push_status(L, e, st);
  return 2;
}

/* st = mcsi.write(sid, lun, lba, data): #data a whole number of blocks */
static int l_write(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  uint64_t lun = check_lun(L, 2);
  lua_Integer lba = luaL_checkinteger(L, 3);
  size_t len;
  const char *data = luaL_checklstring(L, 4, &len);
  luaL_argcheck(L, lba >= 0, 3, "LBA must not be negative");
  luaL_argcheck(L, len <= LMCSI_MAX_IO, 4, "at most 256 MiB per mcsi.write");
  mcsi_status st;
  BLOCKING(e, L, "write", mcsi_write(e->ini, sid, lun, (uint64_t)lba, data, len));
  lmcsi_push_status(L, e, st);
  return 1;
}

/* ---- any CDB: blocking, asynchronous, and ABORT TASK ------------------------------- */

typedef struct cmd_args {
  mcsi_id sid;
  uint64_t lun;
  const uint8_t *cdb;
  size_t cdb_len;
  int dir;
  const char *out;                  /* data to write */
  size_t len;
} cmd_args;

/* (sid, lun, cdb, dir, data_or_length): dir "none", "read" (the 5th
 * argument is how many bytes to read) or "write" (the 5th is the data). */
static void check_cmd(lua_State *L, cmd_args *c)
{
  c->sid = lmcsi_check_sid(L, 1);
  c->lun = check_lun(L, 2);
  c->cdb = (const uint8_t *)luaL_checklstring(L, 3, &c->cdb_len);
  luaL_argcheck(L, c->cdb_len >= 1 && c->cdb_len <= 16, 3, "a CDB is 1..16 bytes");
  const char *d = luaL_optstring(L, 4, "none");    /* not luaL_checkoption: it echoes a huge string */
  c->dir = !strcmp(d, "none") ? MCSI_DIR_NONE : !strcmp(d, "read") ? MCSI_DIR_READ : !strcmp(d, "write") ? MCSI_DIR_WRITE : -1;
  luaL_argcheck(L, c->dir >= 0, 4, "direction must be \"none\", \"read\" or \"write\"");
  c->out = NULL;
  c->len = 0;
  if (c->dir == MCSI_DIR_WRITE) {
    c->out = luaL_checklstring(L, 5, &c->len);
  } else if (c->dir == MCSI_DIR_READ) {
    lua_Integer n = luaL_checkinteger(L, 5);
    luaL_argcheck(L, n >= 0 && (uint64_t)n <= LMCSI_MAX_IO, 5, "read length must be 0..256 MiB");
    c->len = (size_t)n;
  }
}

/* { status =, response =, sense_key =, asc =, ascq =, sense =, residual_kind =, residual =, data = } */
static void push_result(lua_State *L, const mcsi_scsi_result *r, const uint8_t *in, size_t len)
{
  lua_createtable(L, 0, 9);
  SET_INT("status", r->scsi_status);
  SET_INT("response", r->response);
  SET_INT("sense_key", r->sense_key);
  SET_INT("asc", r->asc);
  SET_INT("ascq", r->ascq);
  lua_pushlstring(L, (const char *)r->sense, r->sense_len);
  lua_setfield(L, -2, "sense");
  SET_INT("residual_kind", r->residual_kind);
  SET_INT("residual", r->residual);
  if (in) {
    size_t got = r->data_in < len ? r->data_in : len;
    lua_pushlstring(L, (const char *)in, got);
    lua_setfield(L, -2, "data");
  }
}

/* result, st = mcsi.scsi_command(sid, lun, cdb, dir, data_or_length) */
static int l_scsi_command(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  cmd_args c;
  check_cmd(L, &c);
  uint8_t *buf = c.dir == MCSI_DIR_READ && c.len ? lua_newuserdatauv(L, c.len, 0) : NULL;
  mcsi_scsi_result r;
  memset(&r, 0, sizeof r);
  mcsi_status st;
  BLOCKING(e, L, "scsi_command", mcsi_scsi_command(e->ini, c.sid, c.lun, c.cdb, c.cdb_len, c.dir,
                                                   c.dir == MCSI_DIR_WRITE ? (void *)(uintptr_t)c.out : buf, c.len, &r));
  if (st == ISDSC_SUCCESS || st == ISDSC_SCSI_REQUEST_FAILED) push_result(L, &r, buf, c.len);
  else lua_pushnil(L);
  lmcsi_push_status(L, e, st);
  return 2;
}

typedef struct async_cmd {
  lmcsi_engine *e;
  int ref;
  uint8_t *buf;                     /* read into, or a copy of the data written */
  size_t len;
  int dir;
} async_cmd;

static int cmd_done(lua_State *L)
{
  async_cmd *a = lua_touserdata(L, 1);
  mcsi_status st = (mcsi_status)lua_tointeger(L, 2);
  const mcsi_scsi_result *r = lua_touserdata(L, 3);
  push_ref(L, a->ref);
  drop_ref(L, a->ref);
  push_result(L, r, a->dir == MCSI_DIR_READ ? a->buf : NULL, a->len);
  lmcsi_push_status(L, a->e, st);
  lmcsi_pcall(a->e, L, 2, "an mcsi command callback");
  return 0;
}

static void on_cmd(mcsi_status st, const mcsi_scsi_result *res, void *arg)
{
  async_cmd *a = arg;
  lmcsi_engine *e = a->e;
  lua_State *L = e->L;
  if (L && !e->closed && lua_checkstack(L, 8)) {
    e->in_callback++;
    lua_pushcfunction(L, cmd_done);
    lua_pushlightuserdata(L, a);
    lua_pushinteger(L, (lua_Integer)st);
    lua_pushlightuserdata(L, (void *)(uintptr_t)res);
    if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
      report(e, "a command callback", lua_tostring(L, -1));
      lua_pop(L, 1);
    }
    e->in_callback--;
  }
  free(a->buf);
  free(a);
}

/* tag, st = mcsi.scsi_submit(sid, lun, cdb, dir, data_or_length, fn):
 * fn(result, st) runs from the loop; the tag names it for mcsi.abort_task. */
static int l_scsi_submit(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  cmd_args c;
  check_cmd(L, &c);
  luaL_checktype(L, 6, LUA_TFUNCTION);
  if (e->closed) return luaL_error(L, "mcsi.scsi_submit: the mcsi engine is closed");
  lmcsi_ini(L, e);
  async_cmd *a = calloc(1, sizeof *a);
  if (a && c.len) a->buf = malloc(c.len);
  if (!a || (c.len && !a->buf)) {
    free(a);
    return luaL_error(L, "mcsi: out of memory");
  }
  if (c.out) memcpy(a->buf, c.out, c.len);
  a->e = e;
  a->len = c.len;
  a->dir = c.dir;
  a->ref = make_ref(L, 6);
  uint64_t tag = 0;
  lua_State *saved;
  lmcsi_enter(e, L, &saved);
  mcsi_status st = mcsi_scsi_submit_tagged(e->ini, c.sid, c.lun, c.cdb, c.cdb_len, c.dir, a->buf, c.len, on_cmd, a, &tag);
  lmcsi_leave(e, saved);
  if (st != ISDSC_SUCCESS) {        /* not queued: the callback will not run */
    drop_ref(L, a->ref);
    free(a->buf);
    free(a);
    lua_pushnil(L);
  } else {
    lua_pushinteger(L, (lua_Integer)tag);
  }
  lmcsi_push_status(L, e, st);
  return 2;
}

/* st = mcsi.abort_task(sid, tag): ABORT TASK for a command from mcsi.scsi_submit */
static int l_abort_task(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_id sid = lmcsi_check_sid(L, 1);
  lua_Integer tag = luaL_checkinteger(L, 2);
  mcsi_status st;
  BLOCKING(e, L, "abort_task", mcsi_abort_task(e->ini, sid, (uint64_t)tag));
  lmcsi_push_status(L, e, st);
  return 1;
}

static const char *const discovery_keys[] = { "portal", "chap", "login_timeout_ms", "initiator", "header_digest",
                                              "data_digest", NULL };

/* targets, st = mcsi.send_targets(portal or { portal =, chap =, ... }):
 * targets = { { name =, addresses = { "host:port,tpgt", ... } }, ... } */
static int l_send_targets(lua_State *L)
{
  lmcsi_engine *e = lmcsi_engine_of(L);
  mcsi_login_opts o;
  memset(&o, 0, sizeof o);
  const char *name = NULL;
  if (lua_type(L, 1) == LUA_TSTRING) {
    size_t len;
    o.portal = lua_tolstring(L, 1, &len);
    luaL_argcheck(L, strlen(o.portal) == len, 1, "portal contains a zero byte");
  } else {
    luaL_checktype(L, 1, LUA_TTABLE);
    check_fields(L, 1, discovery_keys, "mcsi.send_targets");
    o.portal = str_field(L, 1, "portal", "mcsi.send_targets");
    lmcsi_chap_opts(L, 1, &o.chap, "mcsi.send_targets");
    o.login_timeout_ms = (int)int_field(L, 1, "login_timeout_ms", 0, 0, INT_MAX, "mcsi.send_targets");
    o.header_digest = digest_field(L, 1, "header_digest", "mcsi.send_targets");
    o.data_digest = digest_field(L, 1, "data_digest", "mcsi.send_targets");
    name = str_field(L, 1, "initiator", "mcsi.send_targets");
  }
  lmcsi_check_blocking(L, e, "send_targets");
  use_initiator_name(L, e, name);
  o.login_timeout_ms = cap_login_timeout(e, o.login_timeout_ms, LOGIN_TIMEOUT_DEFAULT_MS);
  mcsi_target_list *list = NULL;
  mcsi_status st;
  BLOCKING(e, L, "send_targets", mcsi_send_targets(e->ini, &o, &list));
  if (st == ISDSC_SUCCESS && list) {
    /* Copy into Lua in a protected way: free the list even if it raises. */
    lua_createtable(L, (int)list->count, 0);
    for (size_t i = 0; i < list->count && lua_checkstack(L, 4); i++) {
      lua_createtable(L, 0, 2);
      SET_STR("name", list->targets[i].name);
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
  mcsi_target_list_free(list);
  lmcsi_push_status(L, e, st);
  return 2;
}

/* name = mcsi.initiator([{ name = "iqn..." }]): the process's initiator name
 * (setting it is only possible while no session exists) */
static int l_initiator(lua_State *L)
{
  static const char *const keys[] = { "name", NULL };
  lmcsi_engine *e = lmcsi_engine_of(L);
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    check_fields(L, 1, keys, "mcsi.initiator");
    lmcsi_check_blocking(L, e, "initiator");
    use_initiator_name(L, e, str_field(L, 1, "name", "mcsi.initiator"));
  }
  lua_pushstring(L, mcsi_initiator_name(lmcsi_ini(L, e)));
  return 1;
}

/* ---- the engine object --------------------------------------------------------------- */

static int engine_gc(lua_State *L)
{
  lmcsi_engine *e = luaL_checkudata(L, 1, LMCSI_ENGINE);
  if (e->closed) return 0;
  e->closed = 1;
  if (e->ini) {
    mcsi_set_event_callback(e->ini, NULL, NULL);
    mcsi_initiator_free(e->ini);          /* closes what is left, without Logout */
    e->ini = NULL;
  }
  free(e->timers);
  free(e->handlers);
  free(e->watchers);
  free(e->pending);
  lmcsi_forget_secrets(e);
  e->timers = NULL;
  e->handlers = NULL;
  e->watchers = NULL;
  e->pending = NULL;
  e->ntimers = e->nhandlers = e->nwatchers = e->npending = 0;
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

static const luaL_Reg mcsi_funcs[] = {
  {"login_to_target", l_login_to_target},
  {"logout_from_target", l_logout_from_target},
  {"add_connection_to_session", l_add_connection_to_session},
  {"remove_connection_from_session", lmcsi_l_remove_connection},
  {"remove_connection_async", lmcsi_l_remove_connection_async},
  {"set_load_balance_policy", l_set_load_balance_policy},
  {"sessions", l_sessions},
  {"session_info", l_session_info},
  {"connection_info", lmcsi_l_connection_info},
  {"scsi_inquiry", l_scsi_inquiry},
  {"scsi_read_capacity", l_scsi_read_capacity},
  {"scsi_report_luns", l_scsi_report_luns},
  {"scsi_test_unit_ready", l_scsi_test_unit_ready},
  {"lun_reset", l_lun_reset},
  {"read", l_read},
  {"write", l_write},
  {"scsi_command", l_scsi_command},
  {"scsi_submit", l_scsi_submit},
  {"abort_task", l_abort_task},
  {"send_targets", l_send_targets},
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
  {"redact", lmcsi_l_redact},
  {"add_secret", lmcsi_l_add_secret},
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
  }
  luaL_newlibtable(L, mcsi_funcs);
  int m = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LMCSI_ENGINE_KEY);
  luaL_setfuncs(L, mcsi_funcs, 1);
  lmcsi_open_status(L);
  lua_setfield(L, m, "Status");
  lmcsi_open_session(L, m);
  lmcsi_open_connection(L, m);
  push_status_table(L);
  lua_setfield(L, m, "status");
  push_name_list(L, event_name_i, 1, MCSI_EV_COUNT - 1);
  lua_setfield(L, m, "events");
  push_name_list(L, policy_name, 1, MCSI_LB_COUNT - 1);
  lua_setfield(L, m, "policies");
  lua_pushliteral(L, LMCSI_VERSION);
  lua_setfield(L, m, "version");
  preload_chunks(L);
  return 1;
}
