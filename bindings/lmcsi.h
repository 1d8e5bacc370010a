/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lmcsi.h: internals shared by the files of the Lua binding of mcsi, and the
 * few entry points the `mcsi` program (lmcsi_main.c) uses to drive the engine
 * from its own loop.
 *
 * Files, one Lua type each (the liolib.c order: functions, then the luaL_Reg
 * tables, then the metatable builder):
 *   lmcsi.c       the module: the engine (a default mcsi_initiator and those
 *                 of mcsi.Initiator.new, one loop),
 *                 events, timers, the loop, information; luaopen_mcsi
 *   lrequest.c    operations as requests: the callback form, coroutines
 *                 (mcsi.spawn) and the blocking wait
 *   lops.c        session operations: login, logout, add and remove
 *                 connections, discovery, task management
 *   lscsi.c       SCSI: INQUIRY, READ CAPACITY, REPORT LUNS, TEST UNIT READY,
 *                 read, write, any CDB
 *   linitiator.c  mcsi.Initiator (several initiators in one state)
 *   lstatus.c     mcsi.Status
 *   lsession.c    mcsi.Session
 *   lconnection.c mcsi.Connection
 *   lexport.c     mcsi.Export (NBD exports of a LUN, nbd/)
 *
 * Every module function gets the engine as upvalue 1. Nothing here is
 * visible to core/, and no Lua error ever unwinds through core/: every call
 * from a core callback into Lua goes through lmcsi_pcall.
 */
#ifndef LMCSI_H
#define LMCSI_H

#include <stddef.h>
#include <poll.h>
#include "lua.h"
#include "lauxlib.h"
#include "mcsi.h"

#define LMCSI_VERSION    "mcsi " MCSI_VERSION_STRING   /* mcsi.version, mcsi._VERSION, mcsi --version */
#define LMCSI_ENGINE     "mcsi.Engine"     /* the engine's metatable */
#define LMCSI_ENGINE_KEY "mcsi.engine"     /* registry key of the engine itself */
#define LMCSI_STATUS     "mcsi.Status"
#define LMCSI_SESSION    "mcsi.Session"
#define LMCSI_CONNECTION "mcsi.Connection"

typedef struct lmcsi_timer {
  struct lmcsi_engine *e;
  long id;
  uint64_t core_id;                 /* its timer on the initiator's loop (0: none) */
  double due_ms;
  double interval_ms;               /* 0: one-shot */
  int ref;                          /* the function, in the engine's ref table */
} lmcsi_timer;

typedef struct lmcsi_handler {
  long id;
  int kind;                         /* mcsi_event_kind, 0: every kind */
  int ref;
} lmcsi_handler;

typedef struct lmcsi_watcher {
  long id;
  int fd;
  int ref;
} lmcsi_watcher;

/* How the caller of an operation waits (lrequest.c). */
enum { LMCSI_BLOCK = 0, LMCSI_CALLBACK, LMCSI_YIELD, LMCSI_DETACHED };

typedef struct lmcsi_req lmcsi_req;
struct lmcsi_engine;
/* Pushes the results the blocking form returns (the Status last); returns how many. */
typedef int (*lmcsi_push_fn)(lua_State *L, lmcsi_req *r);

struct lmcsi_req {
  struct lmcsi_engine *e;
  mcsi_initiator *ini;              /* the initiator it runs on */
  lmcsi_push_fn push;
  void (*abandon)(lmcsi_req *r);    /* it ended after its waiter gave up (Ctrl-C) */
  int mode;
  int done, abandoned;
  int fn_ref;                       /* callback form: the function */
  int obj_ref;                      /* an object the results refer to (a Session) */
  lua_State *co;                    /* coroutine form: the coroutine */
  mcsi_status st;
  char message[512];                /* this operation's own detail */
  mcsi_id sid, cid;
  mcsi_target_list *list;
  /* SCSI */
  int what;                         /* lscsi.c: which helper */
  uint64_t lun, lba;
  int page;
  uint64_t blocks;                  /* lscsi.c's block I/O: the count of blocks */
  uint32_t io_flags;                /* MCSI_IO_FUA / MCSI_IO_DPO */
  int answered;                     /* the engine's completion ran done (not only free) */
  uint8_t cdb[16];
  size_t cdb_len;
  int dir;
  uint8_t *buf;                     /* data read, or a copy of the data written */
  size_t len;
  uint32_t block_size;
  const void *data;                 /* data written, borrowed from a waiting stack */
  uint64_t tag;                     /* mcsi.scsi_submit */
  void *obj;                        /* what the operation made (lexport.c: the export) */
  mcsi_scsi_result res;
  lmcsi_req *next;                  /* in the engine's ready queue */
  lmcsi_req *all_prev, *all_next;   /* in the engine's list of every request */
};


typedef struct lmcsi_engine {
  /* see lmcsi.c */
  mcsi_initiator *ini;              /* NULL until first needed */
  lua_State *L;                     /* the thread that is running the engine now */
  int in_callback;                  /* > 0 inside a core callback (event, async) */
  int dispatching;                  /* > 0 while timers / watchers run */
  int stop;                         /* mcsi.stop() was called */
  long next_id;
  lmcsi_timer **timers; size_t ntimers, cap_timers;
  long *due; size_t ndue;           /* ids of Lua timers that came due, to run outside core */
  struct pollfd *pfd; size_t cap_pfd;   /* the poll set of a turn */
  int *fds; size_t cap_fds;         /* lmcsi_wait_set's answer */
  lmcsi_handler *handlers; size_t nhandlers, cap_handlers;
  lmcsi_watcher *watchers; size_t nwatchers, cap_watchers;
  /* Set by a host program (lmcsi_set_host): */
  const char *(*interrupt)(void);   /* non-NULL message: abandon waiting, raise it */
  int interrupt_caught;              /* a callback's Lua code was interrupted: the wait raises it next */
  void (*before_output)(void);      /* around Lua code run from the engine */
  void (*after_output)(void);
  double deadline_ms;               /* lmcsi_set_deadline: no wait goes past it (0: none) */
  char **secrets; size_t nsecrets, cap_secrets;   /* every CHAP secret given (masked in output) */
  int closed;
  lmcsi_req *ready_head, *ready_tail; /* coroutines whose operation ended */
  int inflight;                     /* operations a callback or a coroutine waits for */
  int yielded;                      /* set by an operation that yields its coroutine */
  lmcsi_req *reqs;                  /* every request not yet freed */
  mcsi_initiator **extra; size_t nextra, cap_extra;   /* mcsi.Initiator.new's initiators */
  mcsi_initiator *bound;            /* set while a method of an mcsi.Initiator runs */
  struct lmcsi_owner { mcsi_id sid; mcsi_initiator *ini; } *owners;   /* sessions of the extra ones */
  size_t nowners, cap_owners;
  mcsi_id hint_sid;                 /* the Session object lmcsi_check_sid last saw, */
  mcsi_initiator *hint_ini;         /* and its initiator (session ids may repeat across initiators) */
  mcsi_initiator *force_ini;        /* the next lmcsi_ini_for answers this (closing a handle) */
  int borrowed;                     /* ini is a host's (mcsid): never freed nor logged out here */
  lua_State *home;                  /* then: the main thread, for events from the host's own loop */
  int exit_left;                    /* logouts at the end not answered yet */
  struct lmcsi_engine *next_live;   /* engines not closed yet (the exit handler's list) */
  struct lmcsi_export *exports;     /* running mcsi.Export objects (lexport.c) */
} lmcsi_engine;

/* How many connections an mcsi_session_info snapshot describes (all of them). */
#define LMCSI_INFO_CONNS(si) mcsi_session_info_connection_count(si)
/* A session's snapshot (mcsi_session_info_free it), or NULL with *st. */
mcsi_session_info *lmcsi_session_snapshot(mcsi_initiator *ini, mcsi_id sid, mcsi_status *st);

/* lmcsi.c */
lmcsi_engine *lmcsi_engine_of(lua_State *L);          /* upvalue 1 */
/* The initiator a call runs on: a bound mcsi.Initiator's, else the default
 * one (created lazily); _for: the one that owns session sid. */
mcsi_initiator *lmcsi_ini(lua_State *L, lmcsi_engine *e);
mcsi_initiator *lmcsi_ini_for(lua_State *L, lmcsi_engine *e, mcsi_id sid);
void lmcsi_note_owner(lmcsi_engine *e, mcsi_id sid, mcsi_initiator *ini);
/* every initiator of the engine: the default one (if made), then the others */
size_t lmcsi_inis(const lmcsi_engine *e, mcsi_initiator **out, size_t max);
mcsi_initiator *lmcsi_new_initiator(lua_State *L, lmcsi_engine *e, const char *name);
int lmcsi_pcall(lmcsi_engine *e, lua_State *L, int nargs, const char *what);
void lmcsi_check_blocking(lua_State *L, lmcsi_engine *e, const char *fname);
/* Raises the host's interrupt message (Ctrl-C, a budget) as it is: no
 * position, since where the signal landed (often inside mcsi.remote) says
 * nothing to the user. */
int lmcsi_raise_stop(lua_State *L, const char *why);
/* Why waiting must stop: an interrupt a callback caught (lmcsi_pcall), else
 * the host's interrupt() (Ctrl-C, SIGTERM, a budget), else NULL. */
const char *lmcsi_stop_reason(lmcsi_engine *e);
void lmcsi_enter(lmcsi_engine *e, lua_State *L, lua_State **saved);
void lmcsi_leave(lmcsi_engine *e, lua_State *saved);
mcsi_id lmcsi_check_sid(lua_State *L, int arg);
mcsi_id lmcsi_check_cid(lua_State *L, int arg);
int lmcsi_op_login(lua_State *L, int as_object);              /* lops.c */
int lmcsi_op_add_connection(lua_State *L, int session_obj);
mcsi_initiator *lmcsi_use_initiator_name(lua_State *L, lmcsi_engine *e, const char *name);
void lmcsi_push_session_info(lua_State *L, const mcsi_session_info *si);
void lmcsi_push_conn_info(lua_State *L, const mcsi_conn_info *ci);
/* flat functions the object methods share: (sid, cid [, fn]) */
int lmcsi_l_remove_connection_async(lua_State *L);
/* (the described operations' functions lmcsi_l_<operation>: lapi_table.h) */
/* Closing an owned handle: the blocking (or yielding) form, or from inside a
 * callback an unattended asynchronous one. */
int lmcsi_close_session(lua_State *L, mcsi_id sid);          /* the Session at 1 */
int lmcsi_close_connection(lua_State *L, mcsi_id sid, mcsi_id cid);   /* the Connection at 1 */

void lmcsi_report(lmcsi_engine *e, const char *what, const char *msg);
int lmcsi_ref(lua_State *L, int idx);
void lmcsi_unref(lua_State *L, int ref);
void lmcsi_push_ref(lua_State *L, int ref);
void lmcsi_after_blocking(lua_State *L, lmcsi_engine *e);
/* One turn of the loop: waits at most timeout_ms for the engine (and, when
 * with_lua, the watched fds and Lua timers), handles what is ready, resumes
 * ready coroutines. Returns how many things were handled. */
int lmcsi_turn(lua_State *L, lmcsi_engine *e, int timeout_ms, int with_lua);
int lmcsi_cap_login_timeout(const lmcsi_engine *e, int ms);
const char *lmcsi_push_short(lua_State *L, const char *s);
/* options tables */
void lmcsi_check_fields(lua_State *L, int t, const char *const allowed[], const char *what);
/* One key of an operation's options table, as the description gives it
 * (api/operations.lua; the rows: lapi_table.c). lo..hi bound an integer. */
typedef enum { LMCSI_OPT_STRING = 1, LMCSI_OPT_INTEGER, LMCSI_OPT_BOOLEAN, LMCSI_OPT_TABLE,
               LMCSI_OPT_ANY /* its reader checks it (an id or its object) */ } lmcsi_opt_type;
typedef struct lmcsi_opt_spec {
  const char *name;
  lmcsi_opt_type type;
  lua_Integer lo, hi;
} lmcsi_opt_spec;
/* The options table at t against spec (ends at a row without a name): every
 * key a string spec names, every value of its type and bounds; raises
 * "WHAT: unknown option 'k'", "WHAT: option 'k' must be ...", "... out of
 * range (lo..hi)". */
void lmcsi_check_opts(lua_State *L, int t, const lmcsi_opt_spec *spec, const char *what);
const char *lmcsi_str_field(lua_State *L, int t, const char *k, const char *what);
lua_Integer lmcsi_int_field(lua_State *L, int t, const char *k, lua_Integer def, lua_Integer lo,
                            lua_Integer hi, const char *what);
int lmcsi_raw_field(lua_State *L, int t, const char *k);
uint64_t lmcsi_check_lun(lua_State *L, int arg);

/* lrequest.c */
int lmcsi_take_callback(lua_State *L);
lmcsi_req *lmcsi_req_new(lua_State *L, lmcsi_engine *e, lmcsi_push_fn push, int form, const char *fname);
void lmcsi_req_free(lua_State *L, lmcsi_req *r);
void lmcsi_req_set(lmcsi_req *r, mcsi_status st, const char *message);
/* The operation started with st (or not): returns, yields or waits. */
int lmcsi_req_started(lua_State *L, lmcsi_req *r, mcsi_status st);
/* Called by the core callback once r's results are in r. */
void lmcsi_req_done(lmcsi_req *r);
int lmcsi_run_ready(lua_State *L, lmcsi_engine *e);
void lmcsi_ready_free(lmcsi_engine *e);
int lmcsi_l_spawn(lua_State *L);
/* mcsi._on_coroutine_error(fn): fn(co, message) hears a coroutine of mcsi.spawn
 * that raised (instead of the report on stderr); nil: back to the report. */
int lmcsi_l_on_coroutine_error(lua_State *L);

/* lops.c and lscsi.c: module functions */
extern const luaL_Reg lmcsi_ops_funcs[];
extern const luaL_Reg lmcsi_scsi_funcs[];
/* lguard.c: mcsi._guard, budgets of coroutines (mcsid's policies) */
extern const luaL_Reg lmcsi_guard_funcs[];
/* lunix.c: mcsi._unix, the daemon client's socket (bindings/mcsi/remote.lua) */
extern const luaL_Reg lmcsi_unix_funcs[];

/* The pure-Lua modules preloaded by luaopen_mcsi (generated by embed.lua). */
typedef struct lmcsi_chunk {
  const char *name, *chunkname, *code;
  size_t len;
} lmcsi_chunk;
extern const lmcsi_chunk lmcsi_chunks[];

/* lsecret.c: the chap options (secret, secret_file, secret_env, ...) and the
 * secrets remembered for masking */
/* Option values read from a Lua table, by key (MCSI_OPT_*), before the
 * engine's opaque options are made from them (lops.c): no Lua error comes
 * between making and freeing those. */
typedef struct lmcsi_opt_values {
  const char *s[MCSI_OPT_COUNT];       /* anchored in the table or on the stack; NULL: unset */
  int64_t i[MCSI_OPT_COUNT];           /* 0: the default */
} lmcsi_opt_values;
/* The chap = { ... } table of the options at t: MCSI_OPT_USERNAME, _SECRET,
 * _TARGET_USERNAME, _TARGET_SECRET of v. */
void lmcsi_chap_opts(lua_State *L, int t, lmcsi_opt_values *v, const char *what);
void lmcsi_remember_secret(lmcsi_engine *e, const char *s);
void lmcsi_forget_secrets(lmcsi_engine *e);
const char *lmcsi_redact(lua_State *L, const char *text);   /* pushes text, secrets masked */
int lmcsi_l_redact(lua_State *L);
int lmcsi_l_add_secret(lua_State *L);
int lmcsi_l_chap_secrets(lua_State *L);

/* linitiator.c: mcsi.Initiator */
void lmcsi_open_initiator(lua_State *L, int module_idx);

/* lstatus.c */
void lmcsi_push_status(lua_State *L, lmcsi_engine *e, mcsi_status st);
void lmcsi_push_status_msg(lua_State *L, mcsi_status st, const char *message);
/* The table's message, then ": " and detail (masked) unless it is empty or "Success". */
void lmcsi_push_status_detail(lua_State *L, mcsi_status st, const char *detail);
int lmcsi_open_status(lua_State *L);

/* lsession.c: upvalue 1 of the functions is the engine */
int lmcsi_session_new(lua_State *L, mcsi_id sid, int owned, mcsi_initiator *ini);   /* pushes it */
/* 1 and *sid (and *ini, its initiator) if idx is a Session (raises if it is
 * closed), 0 otherwise */
int lmcsi_is_session(lua_State *L, int idx, mcsi_id *sid, mcsi_initiator **ini);
void lmcsi_session_closed(lua_State *L, int idx);   /* marks it, if idx is one */
void lmcsi_session_forget(lua_State *L, mcsi_id sid);   /* the engine drops its reference */
void lmcsi_open_session(lua_State *L, int module_idx);   /* sets module.Session */
int lmcsi_session_login(lua_State *L);

/* lconnection.c */
int lmcsi_connection_new(lua_State *L, int session_idx, mcsi_id sid, mcsi_id cid, int owned);
int lmcsi_is_connection(lua_State *L, int idx, mcsi_id *sid, mcsi_id *cid);
void lmcsi_connection_closed(lua_State *L, int idx);
void lmcsi_open_connection(lua_State *L, int module_idx);

/* lexport.c */
void lmcsi_open_export(lua_State *L, int module_idx);   /* mcsi.export */
void lmcsi_exports_stop_all(lmcsi_engine *e);           /* the engine closes */

/* ---- for host programs (the `mcsi` program) ---- */

/* The module's entry point (also for package.preload). */
int luaopen_mcsi(lua_State *L);
/* After require "mcsi": interrupt() is asked while mcsi.run/sleep/poll wait
 * (and a non-NULL answer is raised as an error there); before_output and
 * after_output bracket every call into Lua made by the engine (callbacks),
 * so a line editor can hide and redraw its prompt. */
void lmcsi_set_host(lua_State *L, const char *(*interrupt)(void),
                    void (*before_output)(void), void (*after_output)(void));
/* A budget's end (CLOCK_MONOTONIC, ms; 0: none): mcsi.run/sleep/poll wake up
 * by then (and ask interrupt()), and login timeouts are cut to the time left. */
void lmcsi_set_deadline(lua_State *L, double deadline_ms);
/* 1 if text contains a CHAP secret given to this state (see lsecret.c). */
int lmcsi_has_secret(lua_State *L, const char *text);
/* The fds to wait on for the engine (mcsi_fd and every mcsi.watch fd), in
 * *fds (owned by the engine, valid until the next call); returns how many.
 * *timeout_ms gets the time until the next engine or Lua timer (-1: none). */
int lmcsi_wait_set(lua_State *L, const int **fds, int *timeout_ms);
/* Handles whatever is ready without waiting: engine events, due timers,
 * ready watched fds, deferred closes. Lua errors in callbacks are reported,
 * never raised. */
void lmcsi_service(lua_State *L);

/* For a host that owns its initiator (mcsid's policies): opens the module
 * (package.loaded.mcsi, left on the stack) with ini as the engine's default
 * initiator. The engine hears ini's events (mcsi_set_event_callback: the
 * host keeps its mcsi_subscribe subscribers), never frees ini and never logs
 * its sessions out; the host runs the loop (mcsi_process) and calls
 * lmcsi_service after each turn for the timers and coroutines. */
int lmcsi_open_with_initiator(lua_State *L, mcsi_initiator *ini);

/* lua.c's message handler: the error with a traceback (one for the module and the program). */
int lmcsi_msghandler(lua_State *L);

#include "lapi_table.h"   /* the described operations (generated from api/operations.lua) */

#endif
