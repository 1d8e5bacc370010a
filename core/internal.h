/* internal.h: structures shared by the files of core/ (never installed). */
#ifndef MCSI_INTERNAL_H
#define MCSI_INTERNAL_H
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include "mcsi.h"
#include "pdu.h"
#include "text.h"

/* ---- small intrusive doubly linked lists -------------------------------- */
typedef struct mcsi_link { struct mcsi_link *prev, *next; } mcsi_link;
static inline void mcsi_list_init(mcsi_link *l) { l->prev = l->next = l; }
static inline int mcsi_list_empty(const mcsi_link *l) { return l->next == l; }
static inline void mcsi_list_push(mcsi_link *head, mcsi_link *n)
{ n->prev = head->prev; n->next = head; head->prev->next = n; head->prev = n; }
static inline void mcsi_list_del(mcsi_link *n)
{ n->prev->next = n->next; n->next->prev = n->prev; n->prev = n->next = n; }
#define MCSI_CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* ---- loop (loop.c): epoll and a timer heap -------------------------------- */
typedef struct mcsi_timer {
  uint64_t due;                         /* monotonic ms */
  int active;
  struct mcsi_timer *child, *sibling, *prev;   /* pairing heap links (loop.c) */
  void (*fire)(struct mcsi_timer *t);
} mcsi_timer;

typedef struct mcsi_watch {
  int fd;
  uint32_t events;                      /* EPOLLIN/EPOLLOUT as registered */
  void (*ready)(struct mcsi_watch *w, uint32_t events);
} mcsi_watch;

typedef struct mcsi_loop {
  int epfd;
  mcsi_timer *timers;                   /* root of the timer heap */
} mcsi_loop;

uint64_t mcsi_now_ms(void);
int mcsi_loop_init(mcsi_loop *l);
void mcsi_loop_close(mcsi_loop *l);
void mcsi_timer_init(mcsi_timer *t, void (*fire)(mcsi_timer *));
/* Cannot fail: the heap is intrusive. */
void mcsi_timer_start(mcsi_loop *l, mcsi_timer *t, uint64_t delay_ms);
void mcsi_timer_stop(mcsi_loop *l, mcsi_timer *t);
static inline int mcsi_timer_active(const mcsi_timer *t) { return t->active; }
int mcsi_loop_next_timeout(const mcsi_loop *l);
int mcsi_loop_fire_due(mcsi_loop *l);
int mcsi_watch_add(mcsi_loop *l, mcsi_watch *w, int fd, uint32_t events);
int mcsi_watch_set(mcsi_loop *l, mcsi_watch *w, uint32_t events);
void mcsi_watch_del(mcsi_loop *l, mcsi_watch *w);
int mcsi_loop_poll(mcsi_loop *l, int timeout_ms);

/* ---- negotiated parameters (params.c) ------------------------------------- */
typedef struct mcsi_params {          /* every field a uint32_t: params.c indexes them */
  uint32_t header_digest, data_digest;
  uint32_t max_connections;
  uint32_t initial_r2t, immediate_data;
  uint32_t max_recv_dsl;                /* ours: what the target may send us */
  uint32_t max_send_dsl;                /* the target's: what we may send */
  uint32_t max_burst, first_burst;
  uint32_t time2wait, time2retain, max_outstanding_r2t;
  uint32_t data_pdu_in_order, data_seq_in_order, erl;
} mcsi_params;

void mcsi_params_rfc_defaults(mcsi_params *p);
void mcsi_params_from_opts(mcsi_params *p, const mcsi_login_opts *o);
/* Adds our offers: every key (leading), or only connection keys. */
int mcsi_params_offer(const mcsi_params *ours, int leading, int discovery, mcsi_text *out);
/* Applies one key of a Login/Text Response. offered: we sent this key.
 * Answers for keys the target offered go to answers. Returns 0, or -1 with *err. */
int mcsi_params_apply(mcsi_params *neg, const mcsi_params *ours, const char *key,
                      const char *value, int offered, mcsi_text *answers, const char **err);
int mcsi_params_is_session_key(const char *key);

/* ---- tasks ------------------------------------------------------------------ */
enum mcsi_task_kind { MCSI_TASK_SCSI, MCSI_TASK_NOP, MCSI_TASK_TMF, MCSI_TASK_TEXT, MCSI_TASK_LOGOUT };

typedef struct mcsi_session mcsi_session;
typedef struct mcsi_conn mcsi_conn;
typedef struct mcsi_task mcsi_task;

/* ---- asynchronous operations (ops.c) ------------------------------------------ */
typedef struct mcsi_op {
  mcsi_link link;                       /* the initiator's operations in flight */
  mcsi_initiator *ini;
  mcsi_result_cb cb;
  mcsi_targets_cb targets_cb;
  void *arg;
  mcsi_result r;
  char message[512];
  mcsi_timer timer;                     /* steps, deadlines, delivery */
  /* what an operation needs while it runs */
  mcsi_session *s;
  mcsi_conn *conn;                      /* add: the connection logging in */
  int step;
  unsigned pending;
  mcsi_task *task;
  uint64_t tag;
  uint8_t *text;
  size_t text_len;
  mcsi_target_list *list;
} mcsi_op;

mcsi_op *mcsi_op_new(mcsi_initiator *ini, mcsi_result_cb cb, void *arg);
/* Frees an operation that never started (its callback never runs). */
void mcsi_op_drop(mcsi_op *op);
/* Ends it now, from inside the loop: its message is ini's last one. */
void mcsi_op_finish(mcsi_op *op, mcsi_status st);
/* The same, with a message of its own. */
void mcsi_op_finish_msg(mcsi_op *op, mcsi_status st, const char *message);
/* Ends it from the loop, soon (never from inside the call that started it). */
void mcsi_op_finish_later(mcsi_op *op, mcsi_status st);
void mcsi_ops_free(mcsi_initiator *ini);

/* The one wait helper of the blocking forms. */
typedef struct mcsi_wait {
  int done;
  mcsi_status st;
  mcsi_id sid, cid;
  mcsi_target_list *list;
  char message[512];
} mcsi_wait;
void mcsi_wait_wake(mcsi_initiator *ini, const mcsi_result *r, void *arg);
void mcsi_wait_wake_targets(mcsi_initiator *ini, const mcsi_result *r, mcsi_target_list *list, void *arg);
/* Runs the loop until w is done; its message becomes mcsi_last_message. */
mcsi_status mcsi_wait_for(mcsi_initiator *ini, mcsi_wait *w);
/* A blocking form inside a callback: ISDSC_SESSION_BUSY. */
mcsi_status mcsi_blocking_refused(mcsi_initiator *ini);

struct mcsi_task {
  mcsi_link link;                       /* session pending queue, or conn's in-flight list */
  enum mcsi_task_kind kind;
  uint32_t itt, cmdsn;
  int immediate;
  mcsi_session *sess;
  mcsi_conn *conn;                      /* allegiance once sent */
  uint64_t lun;
  uint8_t cdb[16];
  uint8_t cdb_len;
  int dir;
  uint8_t *buf;                         /* caller's buffer */
  size_t len;
  uint32_t data_in;                     /* bytes of Data-In placed, in order: never above len */
  uint32_t exp_datasn;
  uint32_t tx_refs;                     /* queued tx items pointing into buf */
  uint64_t deadline;                    /* SCSI: submission + command timeout */
  uint32_t r2t_outstanding;             /* R2T sequences whose data has not left the socket */
  uint64_t r2t_requested;               /* bytes asked for by R2Ts since it was sent */
  uint32_t text_rx;                     /* Text Response bytes gathered */
  mcsi_scsi_result res;
  mcsi_scsi_cb cb;
  void *arg;
  /* control tasks (NOP, TMF, text, logout) complete through this */
  void (*done)(struct mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h,
               const uint8_t *data, uint32_t dlen);
  uint8_t tmf_function, logout_reason;
  uint32_t ref_itt, ref_cmdsn;
  uint16_t logout_cid;
  uint8_t *text;                        /* text request payload (owned) */
  uint32_t text_len;
  int sent;
  int retries;                          /* re-issues after connection failures */
  int ua_retries;                       /* re-sends after a UNIT ATTENTION 29/xx */
  uint64_t tag;                         /* mcsi_scsi_submit_tagged's name for it */
  int keep_cmdsn;                       /* re-send with its original CmdSN (plugs a hole) */
  mcsi_conn *only_conn;                 /* must go out on this connection (logout) */
};

/* ---- connections (conn.c) ------------------------------------------------- */
enum mcsi_conn_state { MCSI_CONN_CONNECTING, MCSI_CONN_LOGIN, MCSI_CONN_ACTIVE,
                       MCSI_CONN_LOGOUT, MCSI_CONN_FAILED, MCSI_CONN_CLOSED };

typedef struct mcsi_txitem {
  struct mcsi_txitem *next;
  mcsi_task *task;                      /* whose buffer data points into, or NULL */
  uint8_t hdr[MCSI_BHS_LEN + MCSI_DIGEST_LEN];
  uint8_t tail[3 + MCSI_DIGEST_LEN];    /* padding and data digest */
  uint8_t hlen, tlen;
  uint8_t r2t_end;                      /* the last Data-Out answering an R2T */
  const uint8_t *data;
  uint32_t dlen;
  uint8_t *owned;                       /* freed after sending */
  size_t sent;
} mcsi_txitem;

struct mcsi_login;

struct mcsi_conn {
  mcsi_link link;                       /* in the session's list */
  mcsi_session *sess;
  mcsi_id id;
  uint16_t cid;
  enum mcsi_conn_state state;
  int leading;
  int fd;
  mcsi_watch watch;
  char portal[80];
  struct sockaddr_storage remote;
  socklen_t remote_len;
  mcsi_params params;                   /* connection keys as negotiated */
  uint32_t exp_statsn;
  int statsn_valid;
  /* tx */
  mcsi_txitem *txhead, *txtail;
  size_t txbytes;
  size_t txmem;                         /* our own memory in the queue (items, owned data) */
  int tx_overflow;                      /* txmem passed MCSI_TX_QUEUE_MAX: fail at the next flush */
  mcsi_link dirty;                      /* in the initiator's flush list */
  /* rx */
  uint8_t *rxbuf;
  size_t rxcap, rxstart, rxend;
  int rxstate;                          /* 0 header, 1 data, 2 tail */
  uint8_t rxhdr[MCSI_BHS_LEN + MCSI_MAX_AHS_WORDS * 4 + MCSI_DIGEST_LEN];
  uint32_t rxhlen, rxgot;
  mcsi_pdu_hdr rh;
  uint8_t *rxdst;                       /* where the data segment goes */
  mcsi_task *rxtask;                    /* Data-In target task or NULL */
  int rx_discard;                       /* the PDU being read belongs to nothing: drop it */
  uint8_t *scratch;                     /* data segments of other PDUs */
  uint32_t scratch_cap;
  uint8_t rxtail[3 + MCSI_DIGEST_LEN];
  int rx_drained;                       /* a short read emptied the socket: wait for epoll */
  int rx_bulk;                          /* large data segments: read headers alone, data in place */
  /* in-flight tasks (allegiance), oldest first */
  mcsi_link tasks;
  uint32_t queue_depth;
  /* keep-alive */
  mcsi_timer nop_timer;
  int nop_interval_ms, nop_timeout_ms;
  uint64_t last_rx;
  mcsi_task *nop_task;
  struct mcsi_login *login;
  mcsi_login_opts opts;                 /* own copy: portal, CHAP, timeouts */
  mcsi_conn_stats stats;
  mcsi_status fail_status;
  int tx_oom;                           /* a PDU could not be queued: fail at the next flush */
  /* MC/S */
  uint32_t weight;
  int32_t wrr_current;                  /* smooth weighted round robin state */
  int active, primary;                  /* policy roles */
  mcsi_op *login_op;                    /* add_connection: told when the login ends */
  int removing, logout_sent;
  int buried;                           /* failed or removed: counted out of the session once */
  const char *ev_state;                 /* as the last event told (NULL: none yet) */
  mcsi_status_cb remove_cb;
  void *remove_arg;
  mcsi_timer drain_timer;
};


/* Bounds on what a target can make us hold (README, "Bounds"). */
#define MCSI_MAX_RETRIES 5                /* re-issues of one command across failures */
#define MCSI_TX_QUEUE_MAX (16u << 20)   /* our own bytes queued on one connection */
#define MCSI_TEXT_RSP_MAX (1u << 20)    /* one Text Response, over all its continuations */

mcsi_conn *mcsi_conn_new(mcsi_session *s, const mcsi_login_opts *o);
void mcsi_conn_free(mcsi_conn *c);
mcsi_status mcsi_conn_connect(mcsi_conn *c, const char *portal);
void mcsi_conn_queue(mcsi_conn *c, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen,
                     mcsi_task *task, uint8_t *owned);
int mcsi_conn_flush(mcsi_conn *c);
void mcsi_conn_detach_task(mcsi_conn *c, mcsi_task *t);
void mcsi_conn_fail(mcsi_conn *c, mcsi_status st, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
void mcsi_conn_close_socket(mcsi_conn *c);
void mcsi_conn_abort_socket(mcsi_conn *c);
void mcsi_conn_send_now(mcsi_conn *c, const uint8_t *p, size_t n);
void mcsi_conn_start_nop(mcsi_conn *c);
const char *mcsi_conn_state_name(enum mcsi_conn_state s);

/* ---- login (login.c) ------------------------------------------------------- */
mcsi_status mcsi_login_start(mcsi_conn *c, const mcsi_login_opts *o);
void mcsi_login_free(struct mcsi_login *l);
void mcsi_login_rx(mcsi_conn *c, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen);
void mcsi_login_connected(mcsi_conn *c);

/* ---- sessions (session.c) -------------------------------------------------- */
enum mcsi_session_state { MCSI_SESS_LOGGING_IN, MCSI_SESS_ACTIVE, MCSI_SESS_FAILED,
                          MCSI_SESS_LOGGING_OUT, MCSI_SESS_LOGGED_OUT, MCSI_SESS_RECOVERING };

struct mcsi_session {
  mcsi_link link;                       /* in the initiator's list */
  mcsi_initiator *ini;
  mcsi_id id;
  enum mcsi_session_state state;
  int discovery;
  char target[224];
  char target_alias[256];
  uint8_t isid[6];
  uint16_t tsih, tpgt;
  mcsi_params params;                   /* session-wide, as negotiated */
  mcsi_login_opts opts;                 /* strings below are owned copies */
  uint32_t cmdsn, exp_cmdsn, max_cmdsn;
  uint32_t next_itt;
  mcsi_task **itt_table;
  uint32_t itt_mask, ntasks;
  mcsi_link pending;                    /* tasks waiting for the CmdSN window */
  mcsi_link conns;
  uint32_t nconns;
  uint16_t next_cid;
  int command_timeout_ms;
  mcsi_timer cmd_timer;
  /* capacity cache for mcsi_read/mcsi_write */
  uint64_t cap_lun;
  uint32_t cap_block_size;
  int cap_valid;
  mcsi_op *login_op;                    /* login in progress: told when it ends */
  mcsi_op *logout_op;                   /* logout in progress */
  /* MC/S: policy, failover, recovery */
  int policy;
  uint32_t rr_next;
  mcsi_link limbo;                      /* tasks of a failed connection, awaiting the ExpCmdSN probe */
  uint32_t probes;                      /* immediate NOP-Outs out asking for ExpCmdSN */
  mcsi_timer probe_timer;               /* plug holes without all the answers after this */
  char portals[8][80];                  /* every portal a connection used, for reinstatement */
  unsigned nportals, recovery_next;
  uint64_t recovery_deadline;
  uint32_t recovery_backoff_ms;
  mcsi_timer recovery_timer;
  mcsi_status recovery_cause;
  uint32_t recoveries;
  uint64_t commands_retried;
  const char *ev_state;                 /* as the last event told (NULL: none yet) */
};

mcsi_session *mcsi_session_new(mcsi_initiator *ini, const mcsi_login_opts *o, int discovery);
void mcsi_session_free(mcsi_session *s);
mcsi_session *mcsi_session_find(mcsi_initiator *ini, mcsi_id id);
mcsi_status mcsi_session_ready(mcsi_initiator *ini, mcsi_id sid, int recovering_ok, mcsi_session **out);
void mcsi_session_update_sn(mcsi_session *s, uint32_t expcmdsn, uint32_t maxcmdsn);
void mcsi_session_reset_window(mcsi_session *s, uint32_t expcmdsn, uint32_t maxcmdsn);
void mcsi_session_renew_waiting(mcsi_session *s);
mcsi_task *mcsi_task_new(mcsi_session *s, enum mcsi_task_kind kind);
void mcsi_task_free(mcsi_task *t);
mcsi_task *mcsi_task_lookup(mcsi_session *s, uint32_t itt);
void mcsi_task_unregister(mcsi_task *t);
int mcsi_task_new_itt(mcsi_task *t);
int mcsi_task_retry(mcsi_task *t);
void mcsi_session_submit(mcsi_session *s, mcsi_task *t);
void mcsi_session_rx(mcsi_conn *c, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen);
void mcsi_session_conn_failed(mcsi_conn *c);
void mcsi_session_login_finished(mcsi_conn *c, mcsi_status st);
void mcsi_session_fail_tasks(mcsi_session *s, mcsi_link *list, mcsi_status st);
const char *mcsi_session_state_name(enum mcsi_session_state st);
void mcsi_task_complete(mcsi_task *t, mcsi_status st);
int mcsi_opts_copy(mcsi_login_opts *dst, const mcsi_login_opts *o);
void mcsi_opts_free(mcsi_login_opts *o);
void mcsi_session_send(mcsi_session *s, mcsi_conn *c, mcsi_task *t);
void mcsi_session_drain(mcsi_session *s);
void mcsi_session_bury_conn(mcsi_conn *c);
void mcsi_session_remember_portal(mcsi_session *s, const char *portal);
mcsi_task *mcsi_logout_task(mcsi_conn *c, uint8_t reason,
                            void (*done)(mcsi_task *, mcsi_status, const mcsi_pdu_hdr *, const uint8_t *, uint32_t),
                            void *arg);
mcsi_status mcsi_logout_status(mcsi_initiator *ini, uint8_t response, uint16_t cid);
/* Unlinks a session that ended (its id is unknown from here) and frees it
 * outside callbacks. */
void mcsi_session_discard(mcsi_session *s);
/* initiator.c: the leading login of a session ended. */
void mcsi_session_login_done(mcsi_session *s, mcsi_status st);

/* ---- several connections (mcs.c) --------------------------------------------- */
mcsi_conn *mcsi_mcs_pick(mcsi_session *s);
void mcsi_mcs_conn_lost(mcsi_conn *c, mcsi_link *orphans);
void mcsi_mcs_probe_answered(mcsi_session *s);
void mcsi_mcs_added(mcsi_conn *c, mcsi_status st);
void mcsi_mcs_task_done_on(mcsi_conn *c);
void mcsi_mcs_logout_closed(mcsi_conn *c);
void mcsi_mcs_reinstated(mcsi_session *s, mcsi_status st);
mcsi_conn *mcsi_mcs_find_conn(mcsi_session *s, mcsi_id cid);
int mcsi_mcs_has_path(mcsi_session *s);


/* ---- SCSI (scsi.c) ----------------------------------------------------------- */
uint64_t mcsi_lun_encode(uint64_t lun);
mcsi_task *mcsi_scsi_find_tag(mcsi_session *s, uint64_t tag);
void mcsi_scsi_send(mcsi_conn *c, mcsi_task *t);
void mcsi_scsi_rx_data_in_done(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h);
void mcsi_scsi_rx_response(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h,
                           const uint8_t *data, uint32_t dlen);
void mcsi_scsi_rx_r2t(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h);
int mcsi_scsi_unit_attention(mcsi_status st, const mcsi_scsi_result *res);
mcsi_status mcsi_scsi_check_data_in(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h,
                                    const char **err);

/* ---- initiator (initiator.c) --------------------------------------------------- */
struct mcsi_initiator {
  char name[224];
  mcsi_loop loop;
  mcsi_link sessions;
  mcsi_link dirty;                      /* connections with queued PDUs */
  struct mcsi_sub *subs;                /* event subscribers (events.c) */
  size_t nsubs, capsubs;
  int emitting;                         /* unsubscribed slots are compacted when 0 */
  uint64_t next_sub, callback_sub;      /* ids; the subscription of mcsi_set_event_callback */
  int in_callback;
  uint8_t recent_challenges[8][16];     /* CHAP challenges we sent (anti-reflection) */
  unsigned nrecent;
  char message[512];
  mcsi_link graveyard;                  /* connections to free outside callbacks */
  mcsi_link dead;                       /* sessions to free outside callbacks */
  mcsi_link ops;                        /* asynchronous operations in flight */
  mcsi_link host_timers, host_watches;  /* the host's (host.c) */
  mcsi_link dead_watches;               /* unwatched, freed outside the poll */
};

mcsi_status mcsi_fail(mcsi_initiator *ini, mcsi_status st, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
mcsi_status mcsi_failv(mcsi_initiator *ini, mcsi_status st, const char *fmt, va_list ap);
mcsi_status mcsi_ok(mcsi_initiator *ini);
mcsi_status mcsi_check_chap(mcsi_initiator *ini, const mcsi_chap *ch);
/* ---- events (events.c) ------------------------------------------------------ */
void mcsi_emit_conn(mcsi_conn *c, mcsi_event_kind kind, mcsi_status st, const char *reason);
void mcsi_emit_session(mcsi_session *s, mcsi_event_kind kind, mcsi_status st, const char *reason);
void mcsi_events_free(mcsi_initiator *ini);
void mcsi_mark_dirty(mcsi_conn *c);
void mcsi_flush_dirty(mcsi_initiator *ini);
/* Runs the loop until *flag becomes nonzero or deadline (monotonic ms, 0 = none) passes. */
int mcsi_run_until(mcsi_initiator *ini, const int *flag, uint64_t deadline);
char *mcsi_strdup0(const char *s);
/* Session and connection ids and command tags: unique in the process, never reused. */
mcsi_id mcsi_new_id(void);
void mcsi_reap(mcsi_initiator *ini);
/* host.c */
void mcsi_host_reap(mcsi_initiator *ini);
void mcsi_host_free(mcsi_initiator *ini);
/* discovery.c: SendTargets=All text (with C-bit continuations joined) to a list. */
mcsi_status mcsi_parse_send_targets(mcsi_initiator *ini, const uint8_t *data, size_t len, mcsi_target_list **out);
#endif
