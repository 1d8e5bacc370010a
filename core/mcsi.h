/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mcsi.h: the public C API of mcsi, an iSCSI initiator (RFC 7143) whose
 * sessions may carry several TCP connections.
 *
 * Model: one mcsi_initiator owns one event loop (epoll, single thread) and
 * every session and connection made through it.  Every operation answers
 * with an mcsi_status drawn from Microsoft's ISCSI_STATUS_QUALIFIERS table
 * (ISDSC_*); the detail of the last failure (the target's own login status,
 * a sense string, an errno text) is kept in mcsi_last_message().
 *
 * Blocking calls (mcsi_login_to_target, mcsi_read, ...) run the loop until
 * their operation ends.  Asynchronous calls (mcsi_scsi_submit) return at
 * once and call back from inside mcsi_process().  A host program that has
 * its own loop waits on mcsi_fd() for readability, with the timeout that
 * mcsi_next_timeout_ms() gives, and then calls mcsi_process(ini, 0).
 * A portal's host name is resolved (getaddrinfo) by up to 4 helper threads
 * of the initiator, never on the loop; their answers come back through
 * mcsi_fd(), and no callback ever runs on them.  Numeric addresses need
 * none.
 *
 * Ids: sessions and connections are named by 64-bit ids, unique within the
 * process and never reused.  A connection also has its iSCSI CID (16 bits).
 */
#ifndef MCSI_H
#define MCSI_H

#include <stddef.h>
#include <stdint.h>
#include "status_list.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version and features ----------------------------------------------------
 * The library's version (the Makefile reads it from here: one place). The
 * ABI can grow: options are opaque handles set by key, information and
 * results come through library-allocated handles and accessors, so a key,
 * an accessor or a function added later keeps the SONAME (libmcsi.so.1);
 * only a function that changes or goes away bumps it. A program tests
 * what it uses with the MCSI_HAS_* macros (each 1 when present, never
 * removed once given) and MCSI_VERSION_NUMBER. */
#define MCSI_VERSION_MAJOR 0
#define MCSI_VERSION_MINOR 3
#define MCSI_VERSION_PATCH 0
#define MCSI_VERSION_NUMBER (MCSI_VERSION_MAJOR * 10000 + MCSI_VERSION_MINOR * 100 + MCSI_VERSION_PATCH)
#define MCSI_VERSION_STR_(n) #n
#define MCSI_VERSION_XSTR_(n) MCSI_VERSION_STR_(n)
/* "0.3.0": what every program's --version, mcsi.pc and the Lua module print. */
#define MCSI_VERSION_STRING \
  MCSI_VERSION_XSTR_(MCSI_VERSION_MAJOR) "." MCSI_VERSION_XSTR_(MCSI_VERSION_MINOR) "." MCSI_VERSION_XSTR_(MCSI_VERSION_PATCH)
#define MCSI_HAS_OPTS_BY_KEY 1     /* mcsi_login_opts / mcsi_conn_opts: opaque, set by MCSI_OPT_* key */
#define MCSI_HAS_BLOCK_IO 1        /* mcsi_io_read/_write/_flush/_unmap/_write_zeroes, mcsi_pread/mcsi_pwrite */
#define MCSI_HAS_COMPLETION 1      /* mcsi_completion { done, free, arg } (the block I/O calls) */
#define MCSI_HAS_TIMERS 1          /* mcsi_timer_add / mcsi_timer_cancel */
#define MCSI_HAS_FD_WATCH 1        /* mcsi_fd_watch / _set / mcsi_fd_unwatch */
#define MCSI_HAS_SUBSCRIBE 1       /* mcsi_subscribe / mcsi_unsubscribe (any number of event subscribers) */
#define MCSI_HAS_ABORT_TASK 1      /* mcsi_scsi_submit_tagged, mcsi_abort_task, mcsi_lun_reset */
#define MCSI_HAS_INFO_BY_KEY 1     /* mcsi_session_get_info's snapshot, read by MCSI_SI_* / MCSI_CI_* key */
#define MCSI_HAS_SIZED_RESULTS 1   /* the result structs a caller fills start with struct_size (below) */
#define MCSI_HAS_WANTED_CONNECTIONS 1 /* 0.3: mcsi_set_wanted_connections[_async], MCSI_SI_WANTED_CONNECTIONS */
#define MCSI_HAS_LATENCY_HISTOGRAM 1  /* 0.3: MCSI_CI_LATENCY_SUM_US, MCSI_CI_LATENCY_BUCKET_0..23 */
#define MCSI_HAS_HANDOVER 1           /* 0.3: mcsi_session_handover_export/_import/_commit/_abort */
#define MCSI_HAS_HANDOVER_IDS 1       /* 0.3: a handed session keeps its ids; mcsi_handover_blob_session_id */

/* ---- Status ------------------------------------------------------------ */

typedef uint32_t mcsi_status;

enum mcsi_status_code {
#define MCSI_X_ENUM(name, value, msg) name = value,
  MCSI_STATUS_LIST(MCSI_X_ENUM)
#undef MCSI_X_ENUM
};

/* Name ("ISDSC_LOGIN_FAILED") and message of a status; NULL if unknown. */
const char *mcsi_status_name(mcsi_status st);
const char *mcsi_status_message(mcsi_status st);
/* Nonzero for ISDSC_SUCCESS and for the 0xAFFF.... warnings. */
int mcsi_status_ok(mcsi_status st);
/* The table itself, in the order of the ISDSC list. */
size_t mcsi_status_count(void);
mcsi_status mcsi_status_at(size_t i);

typedef uint64_t mcsi_id;

/* ---- Initiator and event loop -------------------------------------------- */

typedef struct mcsi_initiator mcsi_initiator;

/* iqn may be NULL: "iqn.2026-11.org.mcsi:<hostname>" is used. NULL on OOM or
 * an invalid iSCSI name. */
mcsi_initiator *mcsi_initiator_new(const char *iqn);
/* Closes every connection at once (no logout) and frees everything. */
void mcsi_initiator_free(mcsi_initiator *ini);
const char *mcsi_initiator_name(const mcsi_initiator *ini);
/* Detail text of the last status returned by a call on ini. */
const char *mcsi_last_message(const mcsi_initiator *ini);

/* Host-driven loop: an fd that becomes readable when work is pending. */
int mcsi_fd(const mcsi_initiator *ini);
/* Milliseconds until the next timer is due; -1 when no timer is armed. */
int mcsi_next_timeout_ms(const mcsi_initiator *ini);
/* Waits at most timeout_ms (0: do not wait, -1: until something happens),
 * handles ready sockets and due timers, flushes queued PDUs. Returns the
 * number of events handled, or -1 on a loop failure (errno set). */
int mcsi_process(mcsi_initiator *ini, int timeout_ms);

/* Timers of a host program on the initiator's loop (one timer implementation
 * for the host and the engine): cb(ini, arg) runs once, delay_ms from now,
 * from inside mcsi_process() (a callback: blocking calls are refused there).
 * Returns the timer's id (never 0), or 0 when out of memory. */
typedef void (*mcsi_timer_cb)(mcsi_initiator *ini, void *arg);
uint64_t mcsi_timer_add(mcsi_initiator *ini, uint64_t delay_ms, mcsi_timer_cb cb, void *arg);
/* 1 if the timer was pending (it will not run), else 0. Safe inside callbacks. */
int mcsi_timer_cancel(mcsi_initiator *ini, uint64_t id);

/* File descriptors of a host program on the same loop (an NBD server, a
 * control socket): cb(ini, fd, what, arg) runs from inside mcsi_process()
 * while fd is ready for what was asked (level-triggered; MCSI_FD_READABLE
 * also reports hang-up and errors). The fd stays the caller's: unwatch it
 * before closing it. Returns the watch's id (never 0), or 0 on failure. */
enum { MCSI_FD_READABLE = 1, MCSI_FD_WRITABLE = 2 };
typedef void (*mcsi_fd_cb)(mcsi_initiator *ini, int fd, int what, void *arg);
uint64_t mcsi_fd_watch(mcsi_initiator *ini, int fd, int events, mcsi_fd_cb cb, void *arg);
/* Changes what is watched (0: nothing for now). 0, or -1 for an unknown id. */
int mcsi_fd_watch_set(mcsi_initiator *ini, uint64_t id, int events);
/* 1 if it was watched; its callback never runs again. Safe inside callbacks. */
int mcsi_fd_unwatch(mcsi_initiator *ini, uint64_t id);

/* ---- Events (state changes of sessions and connections) ----------------- */

/* One row per kind: enum name, value, name, and the state the object is in
 * after it (NULL: unchanged). Adding a kind touches this table only. */
#define MCSI_EVENT_LIST(X) \
  X(MCSI_EV_CONN_LOGGING_IN, 1, "conn-logging-in", "logging-in") \
  X(MCSI_EV_CONN_ACTIVE, 2, "conn-active", "active") \
  X(MCSI_EV_CONN_STANDBY, 3, "conn-standby", "standby") \
  X(MCSI_EV_CONN_FAILED, 4, "conn-failed", "failed") \
  X(MCSI_EV_CONN_REMOVED, 5, "conn-removed", "removed") \
  X(MCSI_EV_SESSION_ACTIVE, 6, "session-active", "active") \
  X(MCSI_EV_SESSION_RECOVERING, 7, "session-recovering", "recovering") \
  X(MCSI_EV_SESSION_RECOVERED, 8, "session-recovered", "active") \
  X(MCSI_EV_SESSION_FAILED, 9, "session-failed", "failed") \
  X(MCSI_EV_SESSION_LOGGED_OUT, 10, "session-logged-out", "logged-out") \
  X(MCSI_EV_ASYNC_MESSAGE, 11, "async-message", NULL)

typedef enum mcsi_event_kind {
#define MCSI_X_EV_ENUM(e, v, name, state) e = v,
  MCSI_EVENT_LIST(MCSI_X_EV_ENUM)
#undef MCSI_X_EV_ENUM
  MCSI_EV_COUNT                    /* one past the last kind; kinds are 1..MCSI_EV_COUNT-1 */
} mcsi_event_kind;

typedef struct mcsi_event {
  mcsi_event_kind kind;
  mcsi_id session_id;
  mcsi_id connection_id;   /* 0 for session events */
  mcsi_status status;      /* why, when it is a failure */
  const char *reason;      /* human-readable, valid during the callback */
  const char *old_state;   /* the object's state before: NULL for a new object */
  const char *new_state;   /* and after (the same for async-message) */
} mcsi_event;

typedef void (*mcsi_event_cb)(mcsi_initiator *ini, const mcsi_event *ev, void *arg);
/* Any number of subscribers, called in the order they subscribed. Returns
 * the subscription's id (never 0), or 0 when out of memory. */
uint64_t mcsi_subscribe(mcsi_initiator *ini, mcsi_event_cb cb, void *arg);
/* Idempotent, and safe inside a callback: the subscriber hears nothing more. */
void mcsi_unsubscribe(mcsi_initiator *ini, uint64_t id);
/* One subscriber, replaced by the next call (NULL removes it). */
void mcsi_set_event_callback(mcsi_initiator *ini, mcsi_event_cb cb, void *arg);
/* "conn-failed"; NULL outside 1..MCSI_EV_COUNT-1. */
const char *mcsi_event_name(mcsi_event_kind kind);

/* ---- Asynchronous operations ------------------------------------------------
 * Every operation has an asynchronous form. It returns ISDSC_SUCCESS when the
 * operation started, and its callback then runs exactly once, later, from
 * inside mcsi_process(), with the operation's own Status and message; or it
 * returns a failing Status at once (bad arguments, unknown ids) and the
 * callback never runs. Any number may be in flight at once, started from
 * anywhere, callbacks included. The blocking forms wait for the same
 * operation (and are refused inside callbacks). An operation whose session
 * ends first ends with it: an add still logging in answers
 * ISDSC_CONNECTION_FAILED, a removal ISDSC_SUCCESS (its connection closed
 * with the session), before the logout's own callback. Only
 * mcsi_initiator_free ends operations without calling them. */

/* One completion shape for every asynchronous operation: st and message
 * (valid during the call) are the operation's own; result points to the
 * operation's result, allocated by the library and valid during the call
 * (so it may grow at its end; never NULL on success unless noted):
 *   login, logout, add / remove connection,
 *   abort_task, lun_reset                     const mcsi_session_result *
 *   the SCSI helpers (inquiry, ...)           their answer (see each), NULL on failure
 *   mcsi_scsi_submit(_tagged), mcsi_read_async, mcsi_write_async
 *                                             const mcsi_scsi_result *
 *   send_targets                              const mcsi_target_list * (NULL on failure)
 *   mcsi_io_* calls                           const mcsi_io_result *
 *   mcsi_io_geometry_async                    const mcsi_lun_geometry * (NULL on failure)
 * free (may be NULL) is called with arg exactly once when the engine no
 * longer needs it: after done ran, when the call itself fails (done never
 * runs then, free runs before the call returns), or when the initiator is
 * freed with the operation pending. A call without done fails
 * (ISDSC_INVALID_PARAMETER). */
typedef void (*mcsi_done_fn)(mcsi_initiator *ini, mcsi_status st, const char *message,
                             const void *result, void *arg);
typedef struct mcsi_completion {
  mcsi_done_fn done;
  void (*free)(void *arg);
  void *arg;
} mcsi_completion;
/* (mcsi_completion){ done, NULL, arg } */
#define MCSI_COMPLETION(done, arg) ((mcsi_completion){ (done), NULL, (arg) })

/* The ids a session operation is about. */
typedef struct mcsi_session_result {
  mcsi_id session_id;                /* login: the new session (0 when it failed); else the session */
  mcsi_id connection_id;             /* login: its leading connection; add: the new one (0 when it
                                        failed); remove: the one removed; logout: 0 */
} mcsi_session_result;


/* ---- Login --------------------------------------------------------------- */

enum { MCSI_DIGEST_NONE = 0, MCSI_DIGEST_CRC32C = 1 };
enum { MCSI_DEFAULT = 0, MCSI_YES = 1, MCSI_NO = 2 };

/* Login and connection options are opaque handles set by key: a key added
 * later changes no caller's code nor its binary. One row per key: enum
 * name, value (never reused), canonical name (api/operations.lua's option
 * sets), kind (MCSI_OPT_STRING, MCSI_OPT_INT), range, and where it applies
 * (L: mcsi_login_opts, C: mcsi_conn_opts). Unset keys keep their default. */
#define MCSI_OPT_LIST(X) \
  X(MCSI_OPT_PORTAL, 1, "portal", STRING, 0, 0, LC)            /* "host", "host:port", "[v6]:port" */ \
  X(MCSI_OPT_TARGET, 2, "target", STRING, 0, 0, L)             /* target IQN (none: discovery) */ \
  X(MCSI_OPT_USERNAME, 3, "username", STRING, 0, 0, LC)        /* CHAP: our name */ \
  X(MCSI_OPT_SECRET, 4, "secret", STRING, 0, 0, LC)            /* CHAP: our secret (wiped when freed) */ \
  X(MCSI_OPT_TARGET_USERNAME, 5, "target_username", STRING, 0, 0, LC) /* mutual CHAP: the target's name */ \
  X(MCSI_OPT_TARGET_SECRET, 6, "target_secret", STRING, 0, 0, LC)     /* and secret */ \
  X(MCSI_OPT_HEADER_DIGEST, 7, "header_digest", INT, 0, 1, L)  /* MCSI_DIGEST_*; default NONE */ \
  X(MCSI_OPT_DATA_DIGEST, 8, "data_digest", INT, 0, 1, L) \
  X(MCSI_OPT_MAX_CONNECTIONS, 9, "max_connections", INT, 0, 65535, L) /* offered; default 4 */ \
  X(MCSI_OPT_MAX_RECV_DATA_SEGMENT_LENGTH, 10, "max_recv_data_segment_length", INT, 0, 4294967295, L) /* 262144 */ \
  X(MCSI_OPT_MAX_BURST_LENGTH, 11, "max_burst_length", INT, 0, 4294967295, L)       /* 16776192 */ \
  X(MCSI_OPT_FIRST_BURST_LENGTH, 12, "first_burst_length", INT, 0, 4294967295, L)   /* 262144 */ \
  X(MCSI_OPT_MAX_OUTSTANDING_R2T, 13, "max_outstanding_r2t", INT, 0, 4294967295, L) /* 1 */ \
  X(MCSI_OPT_DEFAULT_TIME2WAIT, 14, "default_time2wait", INT, 0, 4294967295, L)     /* 2 s */ \
  X(MCSI_OPT_DEFAULT_TIME2RETAIN, 15, "default_time2retain", INT, 0, 4294967295, L) /* 20 s */ \
  X(MCSI_OPT_INITIAL_R2T, 16, "initial_r2t", INT, 0, 2, L)            /* MCSI_YES/NO; default NO */ \
  X(MCSI_OPT_IMMEDIATE_DATA, 17, "immediate_data", INT, 0, 2, L)      /* MCSI_YES/NO; default YES */ \
  X(MCSI_OPT_LOGIN_TIMEOUT_MS, 18, "login_timeout_ms", INT, 0, 2147483647, LC) /* 15000; conn: the session's */ \
  X(MCSI_OPT_COMMAND_TIMEOUT_MS, 19, "command_timeout_ms", INT, 0, 2147483647, L) /* 30000 */ \
  X(MCSI_OPT_NOP_INTERVAL_MS, 20, "nop_interval_ms", INT, -1, 2147483647, L) /* 1000 (>= 100); -1: none */ \
  X(MCSI_OPT_NOP_TIMEOUT_MS, 21, "nop_timeout_ms", INT, 0, 2147483647, L)    /* 1000 (>= 100) */ \
  X(MCSI_OPT_MAX_REDIRECTS, 22, "max_redirects", INT, 0, 2147483647, L)      /* 4 */ \
  X(MCSI_OPT_RECOVERY_TIMEOUT_MS, 23, "recovery_timeout_ms", INT, -1, 2147483647, L) /* reinstatement window after \
                                                                  the last connection failed; 30000, -1: none */ \
  X(MCSI_OPT_WEIGHT, 24, "weight", INT, 0, 4294967295, C)             /* MCSI_LB_WEIGHTED_PATHS; default 1 */

enum mcsi_opt_key {
#define MCSI_X_OPT_ENUM(e, v, name, kind, min, max, where) e = v,
  MCSI_OPT_LIST(MCSI_X_OPT_ENUM)
#undef MCSI_X_OPT_ENUM
  MCSI_OPT_COUNT                     /* one past the last key */
};
enum { MCSI_OPT_STRING = 1, MCSI_OPT_INT = 2 };
/* "max_connections"; NULL for a number that is no key. */
const char *mcsi_opt_name(int key);
/* The key of a canonical name; 0 when there is none. */
int mcsi_opt_key(const char *name);
/* MCSI_OPT_STRING or MCSI_OPT_INT; 0 for no key. */
int mcsi_opt_kind(int key);

typedef struct mcsi_login_opts mcsi_login_opts;
/* Every key at its default; NULL out of memory. */
mcsi_login_opts *mcsi_login_opts_new(void);
/* An independent copy (strings too); NULL out of memory. */
mcsi_login_opts *mcsi_login_opts_dup(const mcsi_login_opts *o);
/* Wipes the secrets; NULL is fine. */
void mcsi_login_opts_free(mcsi_login_opts *o);
/* ISDSC_SUCCESS, or ISDSC_INVALID_PARAMETER (no such key here, another
 * kind, out of range: o unchanged) or ISDSC_OUT_OF_RESOURCES. Strings are
 * copied; NULL unsets. 0 for an int key is its default. */
mcsi_status mcsi_login_opts_set_int(mcsi_login_opts *o, int key, int64_t value);
mcsi_status mcsi_login_opts_set_string(mcsi_login_opts *o, int key, const char *value);
/* The value set (0 / NULL when unset or no such key); the string is o's. */
int64_t mcsi_login_opts_get_int(const mcsi_login_opts *o, int key);
const char *mcsi_login_opts_get_string(const mcsi_login_opts *o, int key);

/* mcsi_login_to_target(_async), mcsi_logout_from_target(_async): in the
 * generated block of operations, at the end of this file. */


/* Discovery: SendTargets=All through a discovery session. */
typedef struct mcsi_target_entry {
  char *name;
  size_t naddr;
  char **addresses;                  /* "host:port,tpgt" as the target sent */
} mcsi_target_entry;
typedef struct mcsi_target_list {
  size_t count;
  mcsi_target_entry *targets;
} mcsi_target_list;
/* mcsi_send_targets(_async) (generated, below) fill one; the caller frees its own. */
void mcsi_target_list_free(mcsi_target_list *list);
/* A copy the caller owns (a list given to a completion is the library's); NULL out of memory. */
mcsi_target_list *mcsi_target_list_dup(const mcsi_target_list *list);

/* ---- Sized results ----------------------------------------------------------
 * The structs a blocking call fills in the caller's memory (mcsi_scsi_result,
 * mcsi_inquiry, mcsi_capacity, mcsi_io_result, mcsi_lun_geometry) start with
 * struct_size, so a later version can add fields at their end without
 * breaking a program built against this header:
 *  - the caller sets struct_size to its sizeof before the call:
 *      mcsi_io_result res = { .struct_size = sizeof res };
 *  - the library writes only the first struct_size bytes (no more than it
 *    knows) and sets struct_size to the bytes it wrote; a field past it was
 *    not written (check with MCSI_SIZED_HAS before reading a newer field);
 *  - a struct_size below the first version's size (0: not set) is refused
 *    with ISDSC_INVALID_PARAMETER and nothing is written.
 * The same structs given to a completion (the library's) carry the
 * library's own sizeof. Fields are only ever added at the end. */
#define MCSI_SIZED_HAS(p, field) \
  ((p)->struct_size >= offsetof(__typeof__(*(p)), field) + sizeof((p)->field))

/* ---- SCSI ---------------------------------------------------------------- */

enum { MCSI_DIR_NONE = 0, MCSI_DIR_READ = 1, MCSI_DIR_WRITE = 2 };

typedef struct mcsi_scsi_result {
  size_t struct_size;                /* see "Sized results" */
  uint8_t scsi_status;               /* SAM status: 0 GOOD, 2 CHECK CONDITION */
  uint8_t response;                  /* iSCSI response code */
  uint8_t sense_key, asc, ascq;
  uint16_t sense_len;
  uint8_t sense[252];
  int residual_kind;                 /* 0 none, 1 underflow, 2 overflow */
  uint32_t residual;
  size_t data_in;                    /* bytes of Data-In received */
  const char *message;               /* this command's own detail ("Success", the decoded
                                        sense, why it failed); valid during the callback */
  uint32_t retries;                  /* re-sends by the retry rule (see MCSI_SCSI_RETRIES) */
} mcsi_scsi_result;

/* mcsi_scsi_submit queues one command; c.done runs exactly once (also on
 * failure, unless the submit itself fails) with result const
 * mcsi_scsi_result * (the library's, valid during the call), then c.free;
 * buf must stay valid until done runs. mcsi_scsi_command is its blocking
 * form: res may be NULL (else its struct_size set); a CHECK CONDITION
 * answers ISDSC_SCSI_REQUEST_FAILED with the decoded sense in
 * mcsi_last_message. Both (and mcsi_scsi_submit_tagged): generated, below. */
/* A command answered CHECK CONDITION with a UNIT ATTENTION (a new or
 * reinstated session, a reset). The engine already sent it again (the retry
 * rule below, MCSI_SCSI_RETRIES): a caller seeing one has seen the last try. */
int mcsi_scsi_unit_attention(mcsi_status st, const mcsi_scsi_result *res);

/* The SCSI helpers (generated, below): mcsi_scsi_inquiry (page < 0:
 * standard INQUIRY, else that VPD page, raw data only), mcsi_scsi_read_capacity
 * (the block size is kept for mcsi_read/mcsi_write), mcsi_scsi_report_luns
 * (fills up to max LUN numbers, *count gets how many the target reported),
 * mcsi_scsi_test_unit_ready. Their asynchronous forms take an
 * mcsi_completion: done gets the Status, the command's own message and the
 * parsed answer (the library's, valid during the call; NULL on failure): the
 * types below, NULL for TEST UNIT READY; a UNIT ATTENTION is retried, as the
 * blocking forms do. */
typedef struct mcsi_inquiry {
  size_t struct_size;                /* see "Sized results" */
  int peripheral_type;
  char vendor[9], product[17], revision[5];
  uint8_t data[255];
  size_t len;
} mcsi_inquiry;

typedef struct mcsi_capacity {
  size_t struct_size;                /* see "Sized results" */
  uint64_t blocks;
  uint32_t block_size;
} mcsi_capacity;
/* The block size READ CAPACITY last gave for this LUN of the session (the
 * cache mcsi_read/mcsi_write use); ISDSC_NOT_FOUND when not known. No I/O. */
mcsi_status mcsi_scsi_block_size(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint32_t *bs);
/* REPORT LUNS' answer: the LUN numbers the target reported. */
typedef struct mcsi_lun_list {
  size_t count;
  const uint64_t *luns;
} mcsi_lun_list;

/* mcsi_read / mcsi_write (generated, below): READ(16)/WRITE(16) of len bytes
 * at lba; len must be a multiple of the LUN's block size (learned on first
 * use and kept per session and LUN). Thin forms of mcsi_pread/mcsi_pwrite
 * (offset lba * block size, no flags). Their asynchronous forms are thin
 * wrappers of mcsi_io_read/mcsi_io_write at offset lba * block_size (which
 * must fit the LUN's own block size); their result carries the status, the
 * first failure's sense key/ASC/ASCQ, retries and data_in (bytes), not the
 * raw sense. */

/* ---- Block I/O: byte offsets, flags, the engine's I/O policy --------------
 * The engine owns I/O policy, in one place for every face (C, Lua, the
 * daemon, NBD):
 *  - Retries: a command answered UNIT ATTENTION, BUSY, TASK SET FULL or
 *    ABORTED COMMAND did not run; the engine sends it again, at most
 *    MCSI_SCSI_RETRIES more times (so at most MCSI_SCSI_RETRIES + 1 sends),
 *    after a short back-off on BUSY / TASK SET FULL (MCSI_SCSI_BACKOFF_MS,
 *    doubling, on a loop timer). This holds for every command sent through
 *    the engine: mcsi_scsi_submit(_tagged), mcsi_scsi_command, the SCSI
 *    helpers and the mcsi_io_* calls. A command that still fails answers
 *    ISDSC_SCSI_REQUEST_FAILED with the last sense in its message. No caller
 *    needs a retry loop of its own.
 *  - Geometry: the first mcsi_io_* call on a LUN learns its block size
 *    (READ CAPACITY(16)) and limits (Block Limits VPD page 0xB0; absent:
 *    no transfer limit beyond MCSI_IO_MAX_PIECE, no UNMAP), kept per
 *    session AND LUN until a LUN RESET or the session ends. A request that
 *    comes while the geometry is learned waits for it; a misaligned one is
 *    refused at once when the geometry is known, else through done.
 *  - Splitting: a request longer than the LUN's maximum transfer length (or
 *    MCSI_IO_MAX_PIECE) goes as several commands, at most MCSI_IO_WINDOW of
 *    them in flight at once, in any order; the request is answered once,
 *    with the first failure's Status and message.
 * offset and len are bytes, multiples of the LUN's block size (else
 * ISDSC_INVALID_PARAMETER, the block size in the message). */
#define MCSI_SCSI_RETRIES 4                /* re-sends of one command by the retry rule */
#define MCSI_SCSI_BACKOFF_MS 10            /* first back-off on BUSY / TASK SET FULL: 10, 20, 40, 80 ms */
#define MCSI_IO_MAX_PIECE (1u << 20)       /* bytes per command (the LUN's limit when lower; see mcsi_io_limit_transfer) */
#define MCSI_IO_WINDOW 32                  /* commands of one request in flight at once */
#define MCSI_HAVE_IO MCSI_HAS_BLOCK_IO    /* its first name (kept) */

enum { MCSI_IO_FUA = 1u << 0,              /* READ/WRITE(16) byte 1 bit 3: force unit access */
       MCSI_IO_DPO = 1u << 1 };            /* byte 1 bit 4: disable page out */


typedef struct mcsi_io_result {
  size_t struct_size;                      /* see "Sized results" */
  uint64_t bytes;                          /* transferred (read/write), or covered (flush/unmap/zeroes;
                                              0 for a flush of the whole LUN) */
  uint32_t retries;                        /* re-sends by the retry rule, over all the request's commands */
  uint32_t commands;                       /* SCSI commands the request became */
  uint8_t scsi_status, sense_key, asc, ascq;   /* of the first failure (0: none) */
} mcsi_io_result;

/* What the engine knows of a LUN (learned on first use, kept per session and LUN). */
typedef struct mcsi_lun_geometry {
  size_t struct_size;                      /* see "Sized results" */
  uint64_t blocks;
  uint32_t block_size;
  uint32_t max_transfer_blocks;            /* Block Limits; 0: not stated */
  uint32_t opt_transfer_blocks;
  uint32_t max_unmap_blocks;               /* 0: UNMAP not offered */
  uint32_t max_unmap_descriptors;
  int unmap;                               /* Logical Block Provisioning LBPU (VPD 0xB2) */
} mcsi_lun_geometry;

/* The block I/O calls (generated, below), each with an mcsi_completion
 * (result: const mcsi_io_result *); buffers stay valid until done; flags:
 * MCSI_IO_FUA / MCSI_IO_DPO.
 *  - mcsi_io_read / mcsi_io_write: len bytes at offset.
 *  - mcsi_io_flush: SYNCHRONIZE CACHE(16) of the range; len 0 (with offset
 *    0): the whole LUN.
 *  - mcsi_io_unmap: UNMAP of the range, split by the LUN's UNMAP limits;
 *    ISDSC_REQUEST_NOT_SUPPORTED when the LUN offers no UNMAP (Block Limits
 *    and provisioning pages).
 *  - mcsi_io_write_zeroes: WRITE SAME(16) of one zero block over the range;
 *    a LUN that refuses WRITE SAME (ILLEGAL REQUEST, invalid opcode or
 *    field) gets WRITE(16)s of zeroes instead, and the engine remembers it
 *    for that LUN.
 *  - mcsi_io_geometry(_async): the LUN's geometry, learned now if not yet
 *    known (result: const mcsi_lun_geometry *).
 *  - mcsi_io_limit_transfer: the bytes per command the engine sends for
 *    this LUN of the session instead of MCSI_IO_MAX_PIECE (0: back to it);
 *    never above the LUN's own maximum transfer length. An NBD export's
 *    max_scsi_transfer.
 * Blocking forms (mcsi_io_geometry, mcsi_pread, mcsi_pwrite) are refused
 * inside callbacks; res / out may be NULL (else their struct_size set, see
 * "Sized results").
 *
 * mcsi_scsi_submit_tagged: as mcsi_scsi_submit, and *tag names the command
 * (unique in the process, kept across re-issues) for mcsi_abort_task. */

/* Task management (blocking). ABORT TASK: the command's callback runs with
 * ISDSC_SCSI_REQUEST_FAILED ("aborted") unless it finished first; answers
 * ISDSC_SUCCESS once the target confirmed (function complete, or no such
 * task there), ISDSC_NOT_FOUND when the command is no longer outstanding. */
/* (mcsi_abort_task, mcsi_lun_reset and their _async forms: generated, below.) */

/* ---- Several connections in one session (MC/S) --------------------------- */

/* Options of one more connection: the keys marked C in MCSI_OPT_LIST
 * (portal required; CHAP unset: the session's). As mcsi_login_opts_*. */
typedef struct mcsi_conn_opts mcsi_conn_opts;
mcsi_conn_opts *mcsi_conn_opts_new(void);
mcsi_conn_opts *mcsi_conn_opts_dup(const mcsi_conn_opts *o);
void mcsi_conn_opts_free(mcsi_conn_opts *o);
mcsi_status mcsi_conn_opts_set_int(mcsi_conn_opts *o, int key, int64_t value);
mcsi_status mcsi_conn_opts_set_string(mcsi_conn_opts *o, int key, const char *value);
int64_t mcsi_conn_opts_get_int(const mcsi_conn_opts *o, int key);
const char *mcsi_conn_opts_get_string(const mcsi_conn_opts *o, int key);

/* mcsi_add_connection_to_session logs in one more connection (same ISID
 * and TSIH, a fresh CID): ISDSC_TOO_MANY_CONNECTIONS beyond the negotiated
 * MaxConnections without asking the target, ISDSC_INVALID_SESSION_ID for an
 * unknown session. mcsi_remove_connection_from_session drains the
 * connection (its commands finish or move), logs it out and closes it; the
 * others keep running. Both, and their _async forms: generated, below.
 *
 * Each session has a wanted number of connections (MCSI_SI_WANTED_CONNECTIONS),
 * the administrator's intent that policies keep (failover re-adds only up to
 * it): 1 at login; an add makes it at least the active connections the
 * session then has (+1 when the session had its wanted count; an add that
 * repairs a lost connection leaves it); a removal lowers it by one (never
 * below 1); mcsi_set_wanted_connections sets it (1..65535). The add's and
 * the removal's own message say what it is now. A connection that fails
 * does not change it. */

/* Load balance policies, numbered as Microsoft's MSiSCSI does. Their names,
 * selection and roles are one table in core/mcs.c. */
enum mcsi_lb_policy {
  MCSI_LB_FAILOVER_ONLY = 1,         /* one active connection (the primary) */
  MCSI_LB_ROUND_ROBIN = 2,
  MCSI_LB_ROUND_ROBIN_SUBSET = 3,    /* round robin over the active set */
  MCSI_LB_LEAST_QUEUE_DEPTH = 4,
  MCSI_LB_WEIGHTED_PATHS = 5,
  MCSI_LB_COUNT                      /* one past the last policy */
};
/* "round-robin"; NULL for a number that is no policy. */
const char *mcsi_lb_policy_name(int policy);
typedef struct mcsi_lb_path {
  mcsi_id connection_id;
  uint32_t weight;                   /* WEIGHTED_PATHS */
  int active;                        /* ROUND_ROBIN_SUBSET: 1 active, 0 standby */
  int primary;                       /* FAILOVER_ONLY: the one to use */
} mcsi_lb_path;
/* mcsi_set_load_balance_policy (generated, below): paths may be NULL
 * (n = 0): keep what each connection has. */

/* ---- Handing a live session to another process ---------------------------
 * A process that is about to be replaced (an upgrade, a restart) hands
 * each session to its successor: the TCP connections themselves go on, the
 * target sees no logout nor login (the same TSIH, the same connections).
 *  1. mcsi_session_handover_export(_async): no new command goes out of the
 *     session from here (they wait), those in flight finish (re-sent if
 *     they must be: the retry rule, a lost connection, with the CmdSN the
 *     target waits for), each connection's reading stops at a PDU boundary;
 *     within wait_ms (0: 50), or ISDSC_SESSION_BUSY (the message says what
 *     was not quiet: a command submitted meanwhile, a connection logging
 *     out) and the session goes on as before. A connection still logging in
 *     to join the session when wait_ms is over is aborted (its add answers
 *     ISDSC_SESSION_BUSY; its TCP connection is closed) and the export goes
 *     on without it. From the start of the export to its commit or abort,
 *     adding or removing a connection of the session is refused,
 *     ISDSC_SESSION_BUSY (the blob names its connections). The result
 *     is a blob (versioned, checksummed; no secret in it) and a duplicate
 *     of each connection's socket, both the caller's
 *     (mcsi_handover_blob_free). Pass the sockets by SCM_RIGHTS or
 *     inheritance, in their order.
 *  2. The successor: mcsi_session_handover_import with the login options
 *     it would log in with (CHAP for later logins, timeouts: the same
 *     target), the blob and the sockets: a session, active at once, whose
 *     numbers go on. It keeps its ids: *session_id is the id the session
 *     had in the exporter (mcsi_handover_blob_session_id), and each
 *     connection keeps its connection id; every id this process makes later
 *     is larger. Its counters (MCSI_SI_COMMANDS_RETRIED, _RECOVERIES, each
 *     connection's statistics and latency histogram) go on from the
 *     exporter's values. An id already used by a session or connection of this
 *     initiator (importing into a busy one) is replaced by a fresh one: the
 *     import still succeeds, *session_id then differs from the blob's and
 *     mcsi_last_message says what was replaced. On success the sockets are
 *     the library's; a failing Status (ISDSC_UNSUPPORTED_VERSION for a
 *     blob of a format this library does not read; ISDSC_INVALID_PARAMETER
 *     for a damaged one, an id 0 or above 2^53 - 1, two ids alike) leaves
 *     them the caller's. A blob of mcsi 0.3.0 (format version 1, no ids and
 *     no counters) is read too: the session and its connections get new
 *     ids here and their counters start at 0.
 *     A connection reset on the way (no longer connected) is taken too and
 *     fails at once, as one the target drops: the session goes on with the
 *     others.
 *  3. The exporter then: mcsi_session_handover_commit (the successor took
 *     it: the session is forgotten here without a word to the target, its
 *     sockets closed here only; commands that waited since the export fail),
 *     or mcsi_session_handover_abort (the successor refused: the session
 *     goes on where it stood). */
typedef struct mcsi_handover_blob {
  uint8_t *data;                     /* the state */
  size_t len;
  int *fds;                          /* the connections' sockets (the blob names them by index) */
  size_t nfds;
} mcsi_handover_blob;
/* Frees data and closes every socket still in fds (set one to -1 to keep it). */
void mcsi_handover_blob_free(mcsi_handover_blob *b);
/* Blocking: *out gets the blob (NULL on failure). */
mcsi_status mcsi_session_handover_export(mcsi_initiator *ini, mcsi_id session_id, int wait_ms,
                                         mcsi_handover_blob **out);
/* Asynchronous; result: mcsi_handover_blob * (NULL on failure), the
 * callback's: it frees it (mcsi_handover_blob_free). */
mcsi_status mcsi_session_handover_export_async(mcsi_initiator *ini, mcsi_id session_id, int wait_ms,
                                               mcsi_completion c);
mcsi_status mcsi_session_handover_commit(mcsi_initiator *ini, mcsi_id session_id);
mcsi_status mcsi_session_handover_abort(mcsi_initiator *ini, mcsi_id session_id);
mcsi_status mcsi_session_handover_import(mcsi_initiator *ini, const mcsi_login_opts *o, const uint8_t *blob,
                                         size_t len, const int *fds, size_t nfds, mcsi_id *session_id);
/* The session id a blob carries (the exporter's), 0 if it is no blob this library reads or
 * one of format version 1 (mcsi 0.3.0), which names none. */
mcsi_id mcsi_handover_blob_session_id(const uint8_t *blob, size_t len);

/* ---- Information and statistics ------------------------------------------ */

/* What a session and its connections are now: a snapshot the library
 * allocates (no cap on connections), read by key, freed by the caller. A
 * key added later changes no caller. One row per key: enum name, value
 * (never reused), canonical name (the Lua binding's field), kind
 * (MCSI_INFO_UINT: mcsi_*_info_get; MCSI_INFO_STRING: _get_string). */
#define MCSI_SESSION_INFO_LIST(X) \
  X(MCSI_SI_ID, 1, "id", UINT) \
  X(MCSI_SI_TARGET, 2, "target", STRING) \
  X(MCSI_SI_TARGET_ALIAS, 3, "target_alias", STRING) \
  X(MCSI_SI_ISID, 4, "isid", UINT)                          /* 48 bits, the first byte highest */ \
  X(MCSI_SI_TSIH, 5, "tsih", UINT) \
  X(MCSI_SI_TPGT, 6, "tpgt", UINT) \
  X(MCSI_SI_STATE, 7, "state", STRING)                      /* "logging-in", "active", "recovering", "failed", "logged-out" */ \
  X(MCSI_SI_DISCOVERY, 8, "discovery", UINT) \
  X(MCSI_SI_LOAD_BALANCE_POLICY, 9, "load_balance", UINT)   /* enum mcsi_lb_policy (Lua: also "policy", old name) */ \
  X(MCSI_SI_RECOVERIES, 10, "recoveries", UINT)             /* reinstatements after losing every connection */ \
  X(MCSI_SI_COMMANDS_RETRIED, 11, "commands_retried", UINT) /* re-issued after a connection failed */ \
  X(MCSI_SI_MAX_CONNECTIONS, 12, "max_connections", UINT)   /* negotiated, as the next ones */ \
  X(MCSI_SI_MAX_BURST_LENGTH, 13, "max_burst_length", UINT) \
  X(MCSI_SI_FIRST_BURST_LENGTH, 14, "first_burst_length", UINT) \
  X(MCSI_SI_MAX_OUTSTANDING_R2T, 15, "max_outstanding_r2t", UINT) \
  X(MCSI_SI_DEFAULT_TIME2WAIT, 16, "default_time2wait", UINT) \
  X(MCSI_SI_DEFAULT_TIME2RETAIN, 17, "default_time2retain", UINT) \
  X(MCSI_SI_INITIAL_R2T, 18, "initial_r2t", UINT) \
  X(MCSI_SI_IMMEDIATE_DATA, 19, "immediate_data", UINT) \
  X(MCSI_SI_DATA_PDU_IN_ORDER, 20, "data_pdu_in_order", UINT) \
  X(MCSI_SI_DATA_SEQUENCE_IN_ORDER, 21, "data_sequence_in_order", UINT) \
  X(MCSI_SI_ERROR_RECOVERY_LEVEL, 22, "error_recovery_level", UINT) \
  X(MCSI_SI_CMDSN, 23, "cmdsn", UINT) \
  X(MCSI_SI_EXP_CMDSN, 24, "exp_cmdsn", UINT) \
  X(MCSI_SI_MAX_CMDSN, 25, "max_cmdsn", UINT) \
  X(MCSI_SI_CONNECTION_COUNT, 26, "connection_count", UINT) \
  X(MCSI_SI_WANTED_CONNECTIONS, 27, "wanted_connections", UINT) /* the administrator's: policies keep it */

/* Each connection's command latency (sent on it to answered, re-sends
 * counted from their own send) in MCSI_LATENCY_BUCKETS log2 buckets of
 * microseconds: MCSI_CI_LATENCY_BUCKET_0 + k counts [2^k, 2^(k+1)) us, the
 * first also 0 us, the last everything above; the counts only grow, so two
 * snapshots give an interval's percentiles (mcsi top). */
#define MCSI_LATENCY_BUCKETS 24
#define MCSI_CONN_INFO_LIST(X) \
  X(MCSI_CI_ID, 1, "id", UINT) \
  X(MCSI_CI_CID, 2, "cid", UINT) \
  X(MCSI_CI_STATE, 3, "state", STRING)                      /* "logging-in", "active", "logging-out", "failed", "closed" */ \
  X(MCSI_CI_LEADING, 4, "leading", UINT) \
  X(MCSI_CI_PRIMARY, 5, "primary", UINT)                    /* FAILOVER_ONLY: carries the I/O */ \
  X(MCSI_CI_ACTIVE, 6, "active", UINT)                      /* 0: standby under FAILOVER_ONLY / RR_SUBSET */ \
  X(MCSI_CI_WEIGHT, 7, "weight", UINT) \
  X(MCSI_CI_PORTAL, 8, "portal", STRING)                    /* as asked for */ \
  X(MCSI_CI_LOCAL_ADDR, 9, "local_addr", STRING) \
  X(MCSI_CI_REMOTE_ADDR, 10, "remote_addr", STRING) \
  X(MCSI_CI_LOCAL_PORT, 11, "local_port", UINT) \
  X(MCSI_CI_REMOTE_PORT, 12, "remote_port", UINT) \
  X(MCSI_CI_HEADER_DIGEST, 13, "header_digest", UINT)       /* MCSI_DIGEST_* */ \
  X(MCSI_CI_DATA_DIGEST, 14, "data_digest", UINT) \
  X(MCSI_CI_MAX_RECV_DSL, 15, "max_recv_dsl", UINT)         /* ours */ \
  X(MCSI_CI_MAX_SEND_DSL, 16, "max_send_dsl", UINT)         /* the target's */ \
  X(MCSI_CI_QUEUE_DEPTH, 17, "queue_depth", UINT)           /* commands outstanding on it */ \
  X(MCSI_CI_BYTES_SENT, 18, "bytes_sent", UINT)             /* statistics */ \
  X(MCSI_CI_BYTES_RECEIVED, 19, "bytes_received", UINT) \
  X(MCSI_CI_PDUS_SENT, 20, "pdus_sent", UINT) \
  X(MCSI_CI_PDUS_RECEIVED, 21, "pdus_received", UINT) \
  X(MCSI_CI_COMMANDS, 22, "commands", UINT)                 /* SCSI commands carried */ \
  X(MCSI_CI_DIGEST_ERRORS, 23, "digest_errors", UINT) \
  X(MCSI_CI_TIMEOUT_ERRORS, 24, "timeout_errors", UINT) \
  X(MCSI_CI_FORMAT_ERRORS, 25, "format_errors", UINT) \
  X(MCSI_CI_LATENCY_SUM_US, 26, "latency_sum_us", UINT)     /* microseconds, over every answered command */ \
  X(MCSI_CI_LATENCY_BUCKET_0, 27, "latency_bucket_0", UINT) /* commands answered in [2^k, 2^(k+1)) us (0: also 0 us; 23: and up) */ \
  X(MCSI_CI_LATENCY_BUCKET_1, 28, "latency_bucket_1", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_2, 29, "latency_bucket_2", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_3, 30, "latency_bucket_3", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_4, 31, "latency_bucket_4", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_5, 32, "latency_bucket_5", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_6, 33, "latency_bucket_6", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_7, 34, "latency_bucket_7", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_8, 35, "latency_bucket_8", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_9, 36, "latency_bucket_9", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_10, 37, "latency_bucket_10", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_11, 38, "latency_bucket_11", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_12, 39, "latency_bucket_12", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_13, 40, "latency_bucket_13", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_14, 41, "latency_bucket_14", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_15, 42, "latency_bucket_15", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_16, 43, "latency_bucket_16", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_17, 44, "latency_bucket_17", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_18, 45, "latency_bucket_18", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_19, 46, "latency_bucket_19", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_20, 47, "latency_bucket_20", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_21, 48, "latency_bucket_21", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_22, 49, "latency_bucket_22", UINT) \
  X(MCSI_CI_LATENCY_BUCKET_23, 50, "latency_bucket_23", UINT)

enum { MCSI_INFO_UINT = 1, MCSI_INFO_STRING = 2 };
enum mcsi_session_info_key {
#define MCSI_X_INFO_ENUM(e, v, name, kind) e = v,
  MCSI_SESSION_INFO_LIST(MCSI_X_INFO_ENUM)
  MCSI_SI_COUNT                      /* one past the last key */
};
enum mcsi_conn_info_key {
  MCSI_CONN_INFO_LIST(MCSI_X_INFO_ENUM)
#undef MCSI_X_INFO_ENUM
  MCSI_CI_COUNT
};

typedef struct mcsi_session_info mcsi_session_info;
typedef struct mcsi_conn_info mcsi_conn_info;

/* mcsi_session_get_info (generated, below): *out gets a snapshot of the
 * session and its connections (the caller's: mcsi_session_info_free); NULL
 * when the call fails. mcsi_session_list fills up to max session ids and
 * returns how many sessions exist. */
void mcsi_session_info_free(mcsi_session_info *info);
/* A key's value (0 / NULL for no such key or the other kind); strings are
 * info's. A NULL info (or connection) reads as empty: 0 and "". */
uint64_t mcsi_session_info_get(const mcsi_session_info *info, int key);
const char *mcsi_session_info_get_string(const mcsi_session_info *info, int key);
/* The connections, 0..count-1 (NULL beyond), or by id (NULL if not there);
 * each valid while info is. */
size_t mcsi_session_info_connection_count(const mcsi_session_info *info);
const mcsi_conn_info *mcsi_session_info_connection(const mcsi_session_info *info, size_t i);
const mcsi_conn_info *mcsi_session_info_find_connection(const mcsi_session_info *info, mcsi_id cid);
uint64_t mcsi_conn_info_get(const mcsi_conn_info *ci, int key);
const char *mcsi_conn_info_get_string(const mcsi_conn_info *ci, int key);
/* Keys by name and back ("tsih"), and their kind (MCSI_INFO_*; 0: no key). */
const char *mcsi_session_info_key_name(int key);
int mcsi_session_info_key(const char *name);
int mcsi_session_info_key_kind(int key);
const char *mcsi_conn_info_key_name(int key);
int mcsi_conn_info_key(const char *name);
int mcsi_conn_info_key_kind(int key);

/* BEGIN generated from api/operations.lua by api/generate.lua; do not edit */
/* ---- Operations ------------------------------------------------------------
 * The C function of every operation of api/operations.lua, each with its
 * other forms (asynchronous: one mcsi_completion, see above; offset and
 * flags: the mcsi_io_* calls), in the description's order; the types they
 * take are declared above. */

/* -- session -- */
/* Logs in to a target with one connection (through mcsid: Connections of them); add more with AddConnectionToSession. */
mcsi_status mcsi_login_to_target(mcsi_initiator *ini, const mcsi_login_opts *opts, mcsi_id *session_id,
                                 mcsi_id *connection_id);
/* Asynchronous login; result: const mcsi_session_result * (the new session and its leading connection). */
mcsi_status mcsi_login_to_target_async(mcsi_initiator *ini, const mcsi_login_opts *opts, mcsi_completion c);
/* Logs the session out (every connection) and forgets it. */
mcsi_status mcsi_logout_from_target(mcsi_initiator *ini, mcsi_id session_id);
/* Asynchronous logout; result: const mcsi_session_result *. */
mcsi_status mcsi_logout_from_target_async(mcsi_initiator *ini, mcsi_id session_id, mcsi_completion c);
/* Adds a connection (MC/S): same ISID and TSIH, a fresh CID; beyond MaxConnections: ISDSC_TOO_MANY_CONNECTIONS; while the session is being handed over (mcsi_session_handover_export to its commit or abort): ISDSC_SESSION_BUSY. */
mcsi_status mcsi_add_connection_to_session(mcsi_initiator *ini, mcsi_id session_id,
                                           const mcsi_conn_opts *opts, mcsi_id *connection_id);
/* Asynchronous add; result: const mcsi_session_result * (connection_id: the new connection). */
mcsi_status mcsi_add_connection_async(mcsi_initiator *ini, mcsi_id session_id, const mcsi_conn_opts *opts,
                                      mcsi_completion c);
/* Drains one connection (its commands finish or move), logs it out and closes it; the others keep running; while the session is being handed over: ISDSC_SESSION_BUSY. */
mcsi_status mcsi_remove_connection_from_session(mcsi_initiator *ini, mcsi_id session_id,
                                                mcsi_id connection_id);
/* Asynchronous removal; result: const mcsi_session_result * (connection_id: the connection). */
mcsi_status mcsi_remove_connection_async(mcsi_initiator *ini, mcsi_id session_id, mcsi_id connection_id,
                                         mcsi_completion c);
/* Sets the session's wanted number of connections (1..65535), which policies keep; the connections are not touched. */
mcsi_status mcsi_set_wanted_connections(mcsi_initiator *ini, mcsi_id session_id, uint32_t connections);
/* Asynchronous form; result: const mcsi_session_result * (connection_id 0). */
mcsi_status mcsi_set_wanted_connections_async(mcsi_initiator *ini, mcsi_id session_id, uint32_t connections,
                                              mcsi_completion c);
/* Fills up to max session ids; returns how many sessions exist. */
size_t mcsi_session_list(const mcsi_initiator *ini, mcsi_id *ids, size_t max);
/* *out: a snapshot of the session and its connections (the caller's: mcsi_session_info_free); NULL on failure. */
mcsi_status mcsi_session_get_info(mcsi_initiator *ini, mcsi_id sid, mcsi_session_info **out);
/* Sets the session's load balance policy; paths may be NULL (n = 0): keep what each connection has. */
mcsi_status mcsi_set_load_balance_policy(mcsi_initiator *ini, mcsi_id session_id, int policy,
                                         const mcsi_lb_path *paths, size_t n);

/* -- scsi -- */
/* INQUIRY: standard data or a VPD page. */
mcsi_status mcsi_scsi_inquiry(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, int page, mcsi_inquiry *out);
/* Asynchronous INQUIRY; result: const mcsi_inquiry * (NULL on failure). */
mcsi_status mcsi_scsi_inquiry_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, int page,
                                    mcsi_completion c);
/* READ CAPACITY (16, or 10 when 16 is refused). */
mcsi_status mcsi_scsi_read_capacity(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_capacity *out);
/* Asynchronous READ CAPACITY(16); result: const mcsi_capacity * (NULL on failure); the block size is kept. */
mcsi_status mcsi_scsi_read_capacity_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_completion c);
/* REPORT LUNS: the LUNs of the session's target. */
mcsi_status mcsi_scsi_report_luns(mcsi_initiator *ini, mcsi_id sid, uint64_t *luns, size_t max,
                                  size_t *count);
/* Asynchronous REPORT LUNS; result: const mcsi_lun_list * (NULL on failure). */
mcsi_status mcsi_scsi_report_luns_async(mcsi_initiator *ini, mcsi_id sid, mcsi_completion c);

/* -- discovery -- */
/* Discovery (SendTargets=All) through a discovery session; nothing is stored. */
mcsi_status mcsi_send_targets(mcsi_initiator *ini, const mcsi_login_opts *opts, mcsi_target_list **out);
/* Asynchronous discovery; result: const mcsi_target_list * (NULL on failure), the library's: valid during done. */
mcsi_status mcsi_send_targets_async(mcsi_initiator *ini, const mcsi_login_opts *opts, mcsi_completion c);

/* -- io -- */
/* Reads blocks (the engine's block I/O: READ(16)s, split by the LUN's maximum transfer length, retried by the engine's one rule). */
mcsi_status mcsi_read(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, void *buf, size_t len);
/* Asynchronous read at lba * block_size (mcsi_io_read); result: const mcsi_scsi_result *. */
mcsi_status mcsi_read_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, uint32_t block_size,
                            void *buf, size_t len, mcsi_completion c);
/* Reads len bytes at offset into buf (valid until done); flags: MCSI_IO_FUA/DPO; result: const mcsi_io_result *. */
mcsi_status mcsi_io_read(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, void *buf,
                         size_t len, uint32_t flags, mcsi_completion c);
/* Blocking mcsi_io_read; res may be NULL (else its struct_size set, see "Sized results"). */
mcsi_status mcsi_pread(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, void *buf, size_t len,
                       uint32_t flags, mcsi_io_result *res);
/* Writes whole blocks (the engine's block I/O: WRITE(16)s, split and retried by the engine). */
mcsi_status mcsi_write(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba, const void *buf,
                       size_t len);
/* Asynchronous write at lba * block_size (mcsi_io_write); result: const mcsi_scsi_result *. */
mcsi_status mcsi_write_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t lba,
                             uint32_t block_size, const void *buf, size_t len, mcsi_completion c);
/* Writes len bytes from buf (valid until done) at offset; flags: MCSI_IO_FUA/DPO; result: const mcsi_io_result *. */
mcsi_status mcsi_io_write(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, const void *buf,
                          size_t len, uint32_t flags, mcsi_completion c);
/* Blocking mcsi_io_write; res may be NULL (else its struct_size set, see "Sized results"). */
mcsi_status mcsi_pwrite(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, const void *buf,
                        size_t len, uint32_t flags, mcsi_io_result *res);
/* SYNCHRONIZE CACHE(16) of len bytes at offset (len 0, offset 0: the whole LUN); result: const mcsi_io_result *. */
mcsi_status mcsi_io_flush(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, uint64_t len,
                          uint32_t flags, mcsi_completion c);
/* UNMAP of len bytes at offset, split by the LUN's UNMAP limits (none: ISDSC_REQUEST_NOT_SUPPORTED); result: const mcsi_io_result *. */
mcsi_status mcsi_io_unmap(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, uint64_t len,
                          uint32_t flags, mcsi_completion c);
/* Zeroes len bytes at offset: WRITE SAME(16), or WRITE(16)s of zeroes on a LUN that refuses it (remembered); result: const mcsi_io_result *. */
mcsi_status mcsi_io_write_zeroes(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset,
                                 uint64_t len, uint32_t flags, mcsi_completion c);
/* Any SCSI command: a CDB, a direction and its data. */
mcsi_status mcsi_scsi_command(mcsi_initiator *ini, mcsi_id session_id, uint64_t lun, const uint8_t *cdb,
                              size_t cdb_len, int dir, void *buf, size_t len, mcsi_scsi_result *res);
/* TEST UNIT READY. */
mcsi_status mcsi_scsi_test_unit_ready(mcsi_initiator *ini, mcsi_id sid, uint64_t lun);
/* Asynchronous TEST UNIT READY; result: NULL. */
mcsi_status mcsi_scsi_test_unit_ready_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun,
                                            mcsi_completion c);
/* LOGICAL UNIT RESET (a task management function). */
mcsi_status mcsi_lun_reset(mcsi_initiator *ini, mcsi_id sid, uint64_t lun);
/* Asynchronous LOGICAL UNIT RESET; result: const mcsi_session_result * (the session; connection_id 0). */
mcsi_status mcsi_lun_reset_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_completion c);
/* ABORT TASK (blocking): ISDSC_SUCCESS once the target confirmed, ISDSC_NOT_FOUND when no longer outstanding. */
mcsi_status mcsi_abort_task(mcsi_initiator *ini, mcsi_id sid, uint64_t tag);
/* Asynchronous ABORT TASK; result: const mcsi_session_result * (the session; connection_id 0). */
mcsi_status mcsi_abort_task_async(mcsi_initiator *ini, mcsi_id sid, uint64_t tag, mcsi_completion c);
/* The LUN's geometry (block size, limits, UNMAP), learned now if not yet known; out may be NULL (else its struct_size set). */
mcsi_status mcsi_io_geometry(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_lun_geometry *out);
/* Asynchronous form; result: const mcsi_lun_geometry * (NULL on failure). */
mcsi_status mcsi_io_geometry_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_completion c);
/* Sets the bytes per command the engine sends for this LUN of the session (an NBD export's max_scsi_transfer). */
mcsi_status mcsi_io_limit_transfer(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint32_t max_bytes);
/* A SCSI command whose tag is answered at once, its result later (not served by mcsid). */
mcsi_status mcsi_scsi_submit(mcsi_initiator *ini, mcsi_id session_id, uint64_t lun, const uint8_t *cdb,
                             size_t cdb_len, int dir, void *buf, size_t len, mcsi_completion c);
/* As mcsi_scsi_submit, and *tag names the command (unique in the process, kept across re-issues) for mcsi_abort_task. */
mcsi_status mcsi_scsi_submit_tagged(mcsi_initiator *ini, mcsi_id session_id, uint64_t lun, const uint8_t *cdb,
                                    size_t cdb_len, int dir, void *buf, size_t len, mcsi_completion c,
                                    uint64_t *tag);
/* END generated */

#ifdef __cplusplus
}
#endif
#endif
