/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* session.h: a session (RFC 7143 4) and its connections as the session
 * sees them: tasks and their ITTs, the session-wide CmdSN window, dispatch
 * of full-feature PDUs, keep-alive, command timeouts, Logout. Built on the
 * login and transport layers; it hears from them through callbacks, and
 * speaks to the layer above (MC/S) through mcsi_session_hooks only. */
#ifndef MCSI_SESSION_H
#define MCSI_SESSION_H
#include "latency.h"
#include "handover.h"
#include "login.h"
#include "params.h"
#include "transport.h"

typedef struct mcsi_session mcsi_session;
typedef struct mcsi_conn mcsi_conn;
typedef struct mcsi_task mcsi_task;

/* ---- tasks ------------------------------------------------------------------ */
enum mcsi_task_kind { MCSI_TASK_SCSI, MCSI_TASK_NOP, MCSI_TASK_TMF, MCSI_TASK_TEXT, MCSI_TASK_LOGOUT };

/* A task ends here, once: h and data are the answer (NULL when it ended
 * without one: a failure, a timeout, the session going away). For a Text
 * Response with C set it is called for each part (st 0, t not ended). */
typedef void (*mcsi_task_done_cb)(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *data,
                                  uint32_t dlen);

/* What a kind of task does with the wire, from the layer that makes such
 * tasks (scsi.c for commands); control tasks need none. */
typedef struct mcsi_task_ops {
  void (*send)(mcsi_conn *c, mcsi_task *t);
  /* A Data-In header for t on c: 0 with where its data goes, or -1 with an error. */
  int (*place_data)(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h, uint8_t **dst, const char **err);
  void (*data_in)(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h);
  void (*response)(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen);
  void (*r2t)(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h);
  /* Frees the larger struct t is part of. */
  void (*release)(mcsi_task *t);
} mcsi_task_ops;

struct mcsi_task {
  mcsi_link link;                       /* session pending queue, limbo, or conn's in-flight list */
  enum mcsi_task_kind kind;
  const mcsi_task_ops *ops;             /* NULL for control tasks */
  uint32_t itt, cmdsn;
  int immediate;
  mcsi_session *sess;
  mcsi_conn *conn;                      /* allegiance once sent */
  mcsi_tx_owner tx;                     /* queued PDUs pointing into its buffer */
  uint64_t lun_field;                   /* control tasks: the LUN field as sent */
  uint64_t deadline;                    /* commands: submission + command timeout */
  int sent;
  uint64_t sent_us;                     /* when it last went out (mcsi_now_us): its latency */
  int retries;                          /* re-issues after a connection timed out (MCSI_MAX_RETRIES) */
  uint64_t lost_since;                  /* ms: its first connection loss (0: none); bounds the re-issues
                                           after losses (mcsi_task_may_retry) */
  int losses;                           /* connections lost under it (not timed out) */
  int resends;                          /* re-sends by the SCSI retry rule (core/scsi/retry.c) */
  mcsi_timer hold;                      /* a re-send's back-off (in the session's held list meanwhile) */
  int keep_cmdsn;                       /* re-send with its original CmdSN (plugs a hole) */
  int after_freeze;                     /* submitted while the session was frozen: held until the thaw
                                           (a re-send of an older command is not: it goes, handover.c) */
  mcsi_conn *only_conn;                 /* must go out on this connection (logout, ABORT TASK) */
  int only_conn_gone;                   /* that connection ended before it went out */
  mcsi_task_done_cb done;
  void *arg;
  char message[MCSI_MSG_MAX];           /* why it failed, when it did */
  /* control tasks */
  uint8_t tmf_function, logout_reason;
  uint32_t ref_itt, ref_cmdsn;
  uint16_t logout_cid;
  uint8_t *text;                        /* text request payload (owned) */
  uint32_t text_len;
  uint32_t text_rx;                     /* Text Response bytes gathered */
};

/* ---- connections of a session ------------------------------------------------ */
enum mcsi_conn_state { MCSI_CONN_CONNECTING, MCSI_CONN_LOGIN, MCSI_CONN_ACTIVE,
                       MCSI_CONN_LOGOUT, MCSI_CONN_FAILED, MCSI_CONN_CLOSED };

struct mcsi_conn {
  mcsi_link link;                       /* in the session's list, or its graveyard */
  mcsi_session *sess;
  mcsi_transport tp;
  mcsi_id id;
  uint16_t cid;
  enum mcsi_conn_state state;
  int leading;
  mcsi_params params;                   /* connection keys as negotiated */
  uint32_t exp_statsn;
  mcsi_login *login;
  mcsi_login_opts opts;                 /* own copy: portal, CHAP, timeouts */
  mcsi_link tasks;                      /* in flight here (allegiance), oldest first */
  uint32_t queue_depth;
  /* keep-alive */
  mcsi_timer nop_timer;
  mcsi_task *nop_task;
  int logout_sent;                      /* a clean close after it is its answer */
  int buried;                           /* failed or removed: counted out of the session once */
  mcsi_status fail_status;
  uint64_t commands, format_errors, timeout_errors;
  mcsi_latency latency;                 /* its SCSI commands, sent to ended */
  const char *ev_state;                 /* as the last event told (NULL: none yet) */
  char message[MCSI_MSG_MAX];           /* why it failed */
};
/* Its portal ("host:port"), for messages. */
static inline const char *mcsi_conn_portal(const mcsi_conn *c) { return mcsi_transport_portal(&c->tp); }

/* ---- an Asynchronous Message (RFC 7143 11.9.1) ------------------------------------ */
#define MCSI_TIME2_MAX_S 3600u          /* DefaultTime2Wait/Time2Retain range (RFC 7143 13.15, 13.16) */

/* What the target asked, its parameters checked: AsyncEvent 2 names a
 * connection of the session (named), times are in range (clamped, and the
 * message says so). */
typedef struct mcsi_async {
  uint8_t event;                        /* 1..4 */
  mcsi_conn *named;                     /* 2: the connection to be dropped */
  uint32_t time2wait_ms, time2retain_ms;   /* 2, 3: Parameter2, Parameter3 */
  uint32_t logout_within_ms;            /* 1: Parameter3 */
  char message[MCSI_MSG_MAX];           /* what it asked, as told in the event */
} mcsi_async;

/* ---- the session --------------------------------------------------------------- */
enum mcsi_session_state { MCSI_SESS_LOGGING_IN, MCSI_SESS_ACTIVE, MCSI_SESS_FAILED,
                          MCSI_SESS_LOGGING_OUT, MCSI_SESS_LOGGED_OUT, MCSI_SESS_RECOVERING };

/* How the session speaks to the layer above (MC/S): every call up. */
typedef struct mcsi_session_hooks {
  /* The connection the next command goes out on, NULL: none usable now. */
  mcsi_conn *(*pick)(mcsi_session *s);
  /* A connection's login ended (c->message says why it failed). */
  void (*login_finished)(mcsi_conn *c, mcsi_status st);
  /* A connection in full feature phase failed: orphans are its unfinished tasks. */
  void (*conn_lost)(mcsi_conn *c, mcsi_link *orphans);
  /* A connection whose Logout went out was closed (answered, or closed by the target). */
  void (*conn_closed)(mcsi_conn *c, mcsi_status st);
  /* A task on a connection ended. */
  void (*task_ended_on)(mcsi_conn *c);
  /* Every immediate NOP-Out asking for ExpCmdSN (mcsi_session_probe) was answered. */
  void (*probes_answered)(mcsi_session *s);
  /* An event about s (c NULL) or c, states filled in. */
  void (*event)(mcsi_session *s, const mcsi_event *ev);
  /* Frees a connection the session is done with (mcsi_conn_destroy first). */
  void (*release_conn)(mcsi_conn *c);
  /* The target sent an Asynchronous Message with AsyncEvent 1..4 on c. */
  void (*async_event)(mcsi_conn *c, const mcsi_async *a);
} mcsi_session_hooks;

struct mcsi_session {
  mcsi_loop *loop;
  const mcsi_session_hooks *hooks;
  mcsi_id id;
  const char *initiator_name;
  mcsi_chap_memory *challenges;
  enum mcsi_session_state state;
  int discovery;
  char target[224];
  char target_alias[256];
  uint8_t isid[6];
  uint16_t tsih, tpgt;
  int tpgt_known;                       /* the leading login's target declared it */
  mcsi_params params;                   /* session-wide, as negotiated */
  mcsi_login_opts opts;                 /* strings below are owned copies */
  uint32_t cmdsn, exp_cmdsn, max_cmdsn;
  uint32_t next_itt;
  mcsi_task **itt_table;
  uint32_t itt_mask, ntasks;
  mcsi_link pending;                    /* tasks waiting for the CmdSN window or a connection */
  int pending_may_pass;                 /* 1: pending may hold a task that passes a closed window
                                           (immediate, re-sent with its CmdSN, its connection gone);
                                           0: all are new commands, held alike (drain stops early) */
  mcsi_link limbo;                      /* tasks of a failed connection, awaiting the ExpCmdSN probe */
  mcsi_link held;                       /* tasks waiting for a re-send's back-off (mcsi_task_retry) */
  uint32_t probes;                      /* immediate NOP-Outs out asking for ExpCmdSN */
  uint64_t sn_heard_ms;                 /* ms: the target last told its ExpCmdSN (exp_cmdsn that recent) */
  mcsi_link conns;
  mcsi_link graveyard;                  /* connections to free outside callbacks */
  uint32_t nconns;
  uint16_t next_cid;
  int command_timeout_ms;
  mcsi_timer cmd_timer;
  uint64_t commands_retried;
  int frozen;                           /* being handed over: no command goes out (handover.c) */
  const char *ev_state;                 /* as the last event told (NULL: none yet) */
  char message[MCSI_MSG_MAX];           /* why its last command or login failed */
};

/* 0, or -1 out of memory. id is the caller's name for it. */
int mcsi_session_init(mcsi_session *s, mcsi_loop *loop, const mcsi_session_hooks *hooks, mcsi_id id,
                      const char *initiator_name, mcsi_chap_memory *challenges, const mcsi_login_opts *o,
                      int discovery);
/* Fails every task, releases every connection. */
void mcsi_session_destroy(mcsi_session *s);
void mcsi_session_stop_timers(mcsi_session *s);
/* Frees the connections that ended (outside callbacks). */
void mcsi_session_reap(mcsi_session *s);
const char *mcsi_session_state_name(enum mcsi_session_state st);
/* Can it take work now: not discovery, not logging out, active (or
 * reinstating itself with recovering_ok)? A failing Status has its reason in msg. */
mcsi_status mcsi_session_check_ready(const mcsi_session *s, int recovering_ok, char *msg);
int mcsi_session_has_path(mcsi_session *s);
void mcsi_session_emit(mcsi_session *s, mcsi_event_kind kind, mcsi_status st, const char *reason);
/* An event about s or one of its connections, whose state *state keeps. */
void mcsi_session_tell(mcsi_session *s, mcsi_event *ev, const char **state);
/* The layer above (MC/S) moves the session between active, recovering and failed. */
void mcsi_session_set_state(mcsi_session *s, enum mcsi_session_state st);

/* tasks */
mcsi_task *mcsi_task_new(mcsi_session *s, enum mcsi_task_kind kind);
/* For a task embedded in a larger one (a SCSI command), freed by its
 * ops->release: 0, or -1 out of memory. */
int mcsi_task_init(mcsi_session *s, mcsi_task *t, enum mcsi_task_kind kind);
void mcsi_task_free(mcsi_task *t);
mcsi_task *mcsi_task_lookup(mcsi_session *s, uint32_t itt);
/* A command re-issued as new gets a new ITT (the old one may live on at the target). */
int mcsi_task_new_itt(mcsi_task *t);
/* Sends a finished-but-unlucky command again as a new one (the SCSI retry
 * rule decides when), delay_ms from now (0: at once; meanwhile it waits in
 * s->held), counting it in t->resends. 0 when queued. */
int mcsi_task_retry(mcsi_task *t, uint32_t delay_ms);
/* Ends a task: nothing refers to it afterwards, then its done callback, then it is freed. */
void mcsi_task_complete(mcsi_task *t, mcsi_status st);
void mcsi_task_fail(mcsi_task *t, mcsi_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A lost task goes again: with its CmdSN (plugging a hole) or as a new
 * command with a new ITT; counted: it counts in commands_retried. */
void mcsi_task_reissue(mcsi_task *t, int keep_cmdsn, int counted);
/* A command may be re-issued once more after its connection failed with
 * cause: 1, or 0 (it fails). A connection that timed out
 * (ISDSC_SERVICE_DID_NOT_RESPOND: a command or the CmdSN window got no
 * answer) may have been the command's fault: such re-issues are counted in
 * t->retries, at most MCSI_MAX_RETRIES. A connection lost otherwise (closed,
 * reset, no NOP-In) is MC/S recovery, not the command's fault, and is not
 * counted: the command goes again for as long as the session lives, within
 * the session's recovery timeout (RecoveryTimeoutMs, or command_timeout_ms
 * when recovery is off) from its first loss. Control tasks never go again. */
int mcsi_task_may_retry(mcsi_task *t, mcsi_status cause);
/* Takes a task off the connection it went out on (no longer in flight there). */
void mcsi_task_unsend(mcsi_task *t);
void mcsi_session_fail_tasks(mcsi_session *s, mcsi_link *list, mcsi_status st, const char *why);
/* The first task for which match says yes: waiting, in limbo or in flight. */
mcsi_task *mcsi_session_find_task(mcsi_session *s, int (*match)(const mcsi_task *t, const void *arg),
                                  const void *arg);

/* dispatch */
void mcsi_session_submit(mcsi_session *s, mcsi_task *t);
void mcsi_session_send(mcsi_session *s, mcsi_conn *c, mcsi_task *t);
void mcsi_session_drain(mcsi_session *s);
/* Puts t back at the front of the waiting tasks, after *after (start with &s->pending). */
void mcsi_session_requeue_front(mcsi_session *s, mcsi_task *t, mcsi_link **after);
void mcsi_session_update_sn(mcsi_session *s, uint32_t expcmdsn, uint32_t maxcmdsn);
void mcsi_session_reset_window(mcsi_session *s, uint32_t expcmdsn, uint32_t maxcmdsn);
/* A path came back: commands that waited get a full command timeout from now. */
void mcsi_session_renew_waiting(mcsi_session *s);
/* An immediate NOP-Out on every usable connection (counted in s->probes). */
void mcsi_session_probe(mcsi_session *s, int (*usable)(const mcsi_conn *c));

/* connections (conn.c) */
/* c joins s's connections (counted in nconns) until mcsi_conn_bury. */
void mcsi_session_attach(mcsi_session *s, mcsi_conn *c);
int mcsi_conn_init(mcsi_conn *c, mcsi_session *s, const mcsi_login_opts *o);
void mcsi_conn_destroy(mcsi_conn *c);
/* Starts its login; a failing Status has its reason in c->message. */
mcsi_status mcsi_conn_login(mcsi_conn *c);
const char *mcsi_conn_state_name(enum mcsi_conn_state s);
/* The layer above decides these; the connection keeps them. */
void mcsi_conn_set_leading(mcsi_conn *c, int leading);
/* It takes no new commands from here on (a removal drains it). */
void mcsi_conn_begin_logout(mcsi_conn *c);
/* A malformed answer that fails a command, not the connection. */
void mcsi_conn_format_error(mcsi_conn *c);
/* Fails it: the reason goes to c->message, the socket closes with a RST,
 * and the layer above hears (login_finished or conn_lost). Idempotent. */
void mcsi_conn_fail(mcsi_conn *c, mcsi_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Closes it without failing it (a Logout done): FIN, state closed. */
void mcsi_conn_close(mcsi_conn *c);
/* Counts it out of the session (once) and frees it outside callbacks. */
void mcsi_conn_bury(mcsi_conn *c);
void mcsi_conn_start_nop(mcsi_conn *c);
void mcsi_conn_emit(mcsi_conn *c, mcsi_event_kind kind, mcsi_status st, const char *reason);
void mcsi_conn_queue(mcsi_conn *c, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen, mcsi_task *owner,
                     uint8_t *owned);
/* An immediate Logout on c (tgt and istgt close the connection a Logout
 * arrives on, whatever its CID says): reason 0 ends the session, 1 this
 * connection. A clean close after it counts as its answer. */
mcsi_task *mcsi_logout_task(mcsi_conn *c, uint8_t reason, mcsi_task_done_cb done, void *arg);
/* A Logout Response's code as a Status, its reason in msg. */
mcsi_status mcsi_logout_status(uint8_t response, uint16_t cid, char *msg);
/* The end of a session: mcsi_session_begin_logout takes no new work;
 * mcsi_session_end closes every connection and tells (LOGGED_OUT). */
void mcsi_session_begin_logout(mcsi_session *s);
void mcsi_session_end(mcsi_session *s, mcsi_status st, const char *reason);
/* Control tasks for the layers above: a TMF (victim: ABORT TASK's command,
 * else NULL), a Text Request, and who hears of a task's end. */
mcsi_task *mcsi_tmf_task(mcsi_session *s, uint8_t function, uint64_t lun_field, const mcsi_task *victim,
                         mcsi_task_done_cb done, void *arg);
mcsi_task *mcsi_text_task(mcsi_session *s, const char *text, mcsi_task_done_cb done, void *arg);
/* An empty Text Request on c (renegotiation the target asked for). */
mcsi_task *mcsi_text_task_on(mcsi_conn *c, mcsi_task_done_cb done, void *arg);
/* The connection with this CID taking part in full feature phase, or NULL. */
mcsi_conn *mcsi_session_conn_by_cid(mcsi_session *s, uint16_t cid);
void mcsi_task_set_done(mcsi_task *t, mcsi_task_done_cb done, void *arg);
/* session.c's receive side, called by conn.c */
void mcsi_session_rx(mcsi_conn *c, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen);
void mcsi_session_conn_up(mcsi_conn *c, const mcsi_login_result *r);

/* ---- handing a live session to another process (handover.c) ---- */
/* No new command goes out from here (one submitted now waits in pending
 * until the thaw), keep-alive stops; commands in flight go on to their end,
 * re-sent if they must be (the SCSI retry rule, a lost connection): a
 * re-sent command is still in flight, and its CmdSN may be the one the
 * target waits for. */
void mcsi_session_freeze(mcsi_session *s);
/* Nothing in flight (commands, NOP-Outs, probes, re-sends), nothing
 * waiting in pending (a command held by the freeze, or re-queued), every
 * connection active with nothing queued and reading at a PDU boundary. */
int mcsi_session_quiet(const mcsi_session *s);
/* What keeps it from being quiet, for a message ("" when quiet). */
const char *mcsi_session_busy_with(const mcsi_session *s);
/* A quiet, frozen session's state (fd_index: its place in the list of
 * connections); its connections stop reading. A failing Status (msg) when
 * it is not in a state to hand over. */
mcsi_status mcsi_session_export(mcsi_session *s, mcsi_handover_session *out, char *msg);
/* Goes on where it stood: reading, keep-alive, the waiting commands. */
void mcsi_session_thaw(mcsi_session *s);
/* The successor took it: every socket closed here without a word (or,
 * close_them 0, an import that failed: forgotten, still the giver's). */
void mcsi_session_release_sockets(mcsi_session *s, int close_them);
/* A new session (initialized, no connection yet) takes a handed one's
 * numbers and names. */
void mcsi_session_adopt(mcsi_session *s, const mcsi_handover_session *hs);
/* A new connection of it (mcsi_conn_init, attached) takes over fd as hc
 * says, hc->id its id; it starts reading at mcsi_conn_adopted. A failing Status (c->message)
 * leaves fd the caller's. */
mcsi_status mcsi_conn_adopt(mcsi_conn *c, const mcsi_handover_conn *hc, int fd);
/* Every connection adopted: they read, keep alive and are told active. */
void mcsi_session_adopted(mcsi_session *s);

/* ---- for the layers two levels up (the initiator): they own none of the
 * fields above (core/LAYERS), they read them here ---- */
/* What the public API tells of a session and of one of its connections
 * (session_info.c); the MC/S fields (policy, paths) are the caller's. */
void mcsi_session_fill_info(const mcsi_session *s, mcsi_session_info *out);
void mcsi_conn_fill_info(const mcsi_conn *c, mcsi_conn_info *ci);
static inline mcsi_id mcsi_session_id(const mcsi_session *s) { return s->id; }
static inline const char *mcsi_session_target(const mcsi_session *s) { return s->target; }
static inline enum mcsi_session_state mcsi_session_state_of(const mcsi_session *s) { return s->state; }
static inline const mcsi_login_opts *mcsi_session_opts(const mcsi_session *s) { return &s->opts; }
static inline int mcsi_session_command_timeout_ms(const mcsi_session *s) { return s->command_timeout_ms; }
static inline uint32_t mcsi_session_ntasks(const mcsi_session *s) { return s->ntasks; }
/* The list of its connections (mcsi_conn.link), to walk. */
static inline mcsi_link *mcsi_session_conns(mcsi_session *s) { return &s->conns; }
static inline mcsi_conn *mcsi_conn_of_link(mcsi_link *l) { return MCSI_CONTAINER(l, mcsi_conn, link); }
static inline mcsi_id mcsi_conn_id(const mcsi_conn *c) { return c->id; }
static inline enum mcsi_conn_state mcsi_conn_state_of(const mcsi_conn *c) { return c->state; }
static inline int mcsi_conn_fd(const mcsi_conn *c) { return mcsi_transport_fd(&c->tp); }
static inline void *mcsi_task_arg(const mcsi_task *t) { return t->arg; }
/* Why it failed ("" when it did not say). */
static inline const char *mcsi_task_message(const mcsi_task *t) { return t->message; }
static inline uint16_t mcsi_task_logout_cid(const mcsi_task *t) { return t->logout_cid; }
static inline uint8_t mcsi_task_tmf_function(const mcsi_task *t) { return t->tmf_function; }
/* It went out on a connection it still has (its allegiance). */
static inline int mcsi_task_reached_target(const mcsi_task *t) { return t->sent && t->conn; }
#endif
