/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* initiator.h: the top layer: the initiator object (ids, the public API of
 * mcsi.h, events), its sessions as entries over the MC/S layer, the
 * asynchronous operations and the one wait helper of the blocking forms. */
#ifndef MCSI_INITIATOR_H
#define MCSI_INITIATOR_H
#include "chap.h"
#include "discovery.h"
#include "mcs.h"
#include "scsi.h"

typedef struct mcsi_op mcsi_op;
typedef struct mcsi_relay mcsi_relay;

/* The internal end of an operation (ops.c): its Status, its own message
 * and the ids it is about; of a discovery, also the list (which belongs to
 * the callback). The public face is mcsi_completion (completion.c). */
typedef struct mcsi_result {
  mcsi_status status;
  const char *message;                  /* valid during the callback */
  mcsi_id session_id;
  mcsi_id connection_id;
} mcsi_result;
typedef void (*mcsi_result_cb)(mcsi_initiator *ini, const mcsi_result *r, void *arg);
typedef void (*mcsi_targets_cb)(mcsi_initiator *ini, const mcsi_result *r, mcsi_target_list *list, void *arg);

/* A session of the initiator: the MC/S session and what the API keeps. */
typedef struct mcsi_entry {
  mcsi_mcs m;
  mcsi_link link;                       /* in ini->sessions, or ini->dead once it ended */
  mcsi_initiator *ini;
  mcsi_op *login_op;                    /* login in progress: told when it ends */
  mcsi_op *logout_op;                   /* logout in progress */
  mcsi_op *handover_op;                 /* export in progress (api_handover.c) */
  int handover;                         /* HANDOVER_* of api_handover.c */
  struct mcsi_handover_blob *handover_blob;   /* exported, until its callback takes it */
  mcsi_link luns;                       /* what lun_geometry.c knows of each LUN used   */
  uint32_t wanted;                      /* connections the administrator wants (api_connection.c) */
} mcsi_entry;

static inline mcsi_session *mcsi_entry_session(mcsi_entry *e) { return &e->m.s; }
/* ISDSC_SESSION_BUSY (the initiator's message says why) while e is being
 * handed to another process: its connections are what the blob says
 * until the handover ends (api_handover.c), ISDSC_SUCCESS otherwise. */
mcsi_status mcsi_entry_not_handing_over(mcsi_initiator *ini, const mcsi_entry *e, const char *what);

struct mcsi_initiator {
  char name[224];
  mcsi_loop loop;
  mcsi_link sessions;                   /* mcsi_entry */
  mcsi_link dead;                       /* sessions to free outside callbacks */
  mcsi_link ops;                        /* asynchronous operations in flight */
  mcsi_link relays;                     /* their public completions (completion.c) */
  struct mcsi_sub *subs;                /* event subscribers (events.c) */
  size_t nsubs, capsubs;
  int emitting;                         /* unsubscribed slots are compacted when 0 */
  uint64_t callback_sub;                /* the subscription of mcsi_set_event_callback */
  mcsi_chap_memory challenges;          /* CHAP challenges we sent (anti-reflection) */
  char message[MCSI_MSG_MAX];           /* mcsi_last_message: the last call's */
  mcsi_link host_timers, host_watches;  /* the host's (host.c) */
  mcsi_link dead_watches;               /* unwatched, freed outside the poll */
};

/* ---- messages of the calls on ini ---- */
mcsi_status mcsi_fail(mcsi_initiator *ini, mcsi_status st, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
mcsi_status mcsi_ok(mcsi_initiator *ini);
/* st with msg as ini's last message. */
mcsi_status mcsi_fail_msg(mcsi_initiator *ini, mcsi_status st, const char *msg);
mcsi_status mcsi_check_chap(mcsi_initiator *ini, const mcsi_chap *ch);
int mcsi_in_callback(const mcsi_initiator *ini);

/* ---- sessions ---- */
mcsi_entry *mcsi_entry_find(mcsi_initiator *ini, mcsi_id id);
/* The entry sid if it can take work now (see mcsi_session_check_ready). */
mcsi_status mcsi_entry_ready(mcsi_initiator *ini, mcsi_id sid, int recovering_ok, mcsi_entry **out);
/* Makes a session and starts its leading login; op hears the end. */
mcsi_status mcsi_entry_start(mcsi_initiator *ini, const mcsi_login_opts *o, int discovery, mcsi_op *op);
/* 1 if id is the id of a session of ini (live or ending) or of one of their connections. */
int mcsi_entry_id_taken(mcsi_initiator *ini, mcsi_id id);
/* A session taken over from another process (mcsi_mcs_import) with the ids
 * of hs (the caller made sure they are free here); a failing Status leaves
 * fds the caller's. */
mcsi_status mcsi_entry_import(mcsi_initiator *ini, const mcsi_login_opts *o, const mcsi_handover_session *hs,
                              const int *fds, mcsi_entry **out);
/* Unlinks a session that ended (its id is unknown from here); freed outside callbacks. */
void mcsi_entry_discard(mcsi_entry *e);
void mcsi_reap(mcsi_initiator *ini);
/* Runs the loop until *flag becomes nonzero or deadline (monotonic ms, 0 = none) passes. */
int mcsi_run_until(mcsi_initiator *ini, const int *flag, uint64_t deadline);

/* ---- asynchronous operations (ops.c) ---- */
struct mcsi_op {
  mcsi_link link;                       /* the initiator's operations in flight */
  mcsi_initiator *ini;
  mcsi_result_cb cb;
  mcsi_targets_cb targets_cb;
  void *arg;
  mcsi_result r;
  char message[MCSI_MSG_MAX];
  mcsi_timer timer;                     /* steps, deadlines, delivery */
  /* what an operation needs while it runs */
  mcsi_entry *e;
  mcsi_path *path;                      /* add: the connection logging in */
  int step;
  unsigned pending;
  mcsi_task *task;
  uint64_t tag;
  uint64_t deadline;
  uint8_t *text;
  size_t text_len;
  mcsi_target_list *list;
  void (*forget)(void *arg);            /* the initiator goes with it pending: arg's last word */
};

mcsi_op *mcsi_op_new(mcsi_initiator *ini, mcsi_result_cb cb, void *arg);
/* Frees an operation that never started (its callback never runs). */
void mcsi_op_drop(mcsi_op *op);
/* Ends it now, from inside the loop, with its own message. */
void mcsi_op_finish(mcsi_op *op, mcsi_status st, const char *message);
/* Ends it from the loop, soon (never from inside the call that started it). */
void mcsi_op_finish_later(mcsi_op *op, mcsi_status st, const char *message);
void mcsi_ops_free(mcsi_initiator *ini);

/* ---- public completions (completion.c) ---- */
/* Holds c for an operation about to start; a failing Status (c's free
 * already called, done never runs) without ini, done or memory. */
mcsi_status mcsi_relay_start(mcsi_initiator *ini, mcsi_completion c, mcsi_relay **out);
/* The start failed: free(arg) now; returns st. */
mcsi_status mcsi_relay_refused(mcsi_relay *r, mcsi_status st);
/* Internal callbacks (arg: the relay): done with a const mcsi_session_result *
 * or a const mcsi_target_list * (NULL on failure), then free(arg). */
void mcsi_relay_ids(mcsi_initiator *ini, const mcsi_result *res, void *arg);
void mcsi_relay_targets(mcsi_initiator *ini, const mcsi_result *res, mcsi_target_list *list, void *arg);
/* done(st, message, result), then free(arg): an operation of its own kind. */
void mcsi_relay_answer(mcsi_relay *r, mcsi_status st, const char *message, const void *result);
/* mcsi_scsi_submit_tagged with the SCSI layer's own callback (the engine's
 * helpers and block I/O; api_scsi.c). */
mcsi_status mcsi_scsi_submit_cb(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, const uint8_t *cdb, size_t cdb_len,
                                int dir, void *buf, size_t len, mcsi_scsi_done_fn cb, void *arg, uint64_t *tag);
/* The initiator goes: free(arg) of every completion still held. */
void mcsi_relays_free(mcsi_initiator *ini);

/* The one wait helper of the blocking forms. */
typedef struct mcsi_wait {
  int done;
  mcsi_status st;
  mcsi_id sid, cid;
  mcsi_target_list *list;
  char message[MCSI_MSG_MAX];
} mcsi_wait;
void mcsi_wait_wake(mcsi_initiator *ini, const mcsi_result *r, void *arg);
void mcsi_wait_wake_targets(mcsi_initiator *ini, const mcsi_result *r, mcsi_target_list *list, void *arg);
/* Runs the loop until w is done; its message becomes mcsi_last_message. */
mcsi_status mcsi_wait_for(mcsi_initiator *ini, mcsi_wait *w);
/* A blocking form inside a callback: ISDSC_SESSION_BUSY. */
mcsi_status mcsi_blocking_refused(mcsi_initiator *ini);

/* ---- the sized results of the blocking forms (sized.c; mcsi.h, "Sized results") ---- */
/* The first version's size of type: up to the end of its field last (fixed forever). */
#define MCSI_SIZED_FIRST(type, last) (offsetof(type, last) + sizeof(((type *)0)->last))
/* ISDSC_SUCCESS when p is NULL or its struct_size is at least first_size;
 * else ISDSC_INVALID_PARAMETER, with what (the type's name) in the message. */
mcsi_status mcsi_sized_check(mcsi_initiator *ini, const void *p, size_t first_size, const char *what);
/* Copies the library's src (lib_size bytes) to dst, no more than dst's
 * struct_size; dst's struct_size becomes the bytes written. */
void mcsi_sized_copy(void *dst, const void *src, size_t lib_size);

/* ---- the geometry kept per session and LUN (lun_geometry.c), for block I/O (blockio.c) ---- */
enum mcsi_geo_state { GEO_UNKNOWN, GEO_LEARNING, GEO_KNOWN };
/* A waiter hears once the geometry is known (st 0) or could not be learned. */
typedef void (*mcsi_geo_ready_fn)(mcsi_link *waiter, mcsi_status st, const char *message);

struct mcsi_lun_geo {
  mcsi_link link;                       /* in the entry's luns */
  mcsi_initiator *ini;
  mcsi_id sid;
  uint64_t lun;
  enum mcsi_geo_state state;
  int bs_known;                         /* block size known (READ CAPACITY), limits maybe not */
  int no_write_same;                    /* WRITE SAME refused: zeroes go as WRITE(16) */
  uint32_t limit;                       /* the caller's bytes per command (0: none) */
  mcsi_lun_geometry g;
  mcsi_link waiters;                    /* waiting for the geometry */
  mcsi_geo_ready_fn ready;              /* what they hear */
};

struct mcsi_lun_geo *mcsi_lun_geo_find(mcsi_entry *e, uint64_t lun);
/* Found or made (unknown) for LUN lun of e, whose id is sid; NULL out of memory. */
struct mcsi_lun_geo *mcsi_lun_geo_get(mcsi_entry *e, mcsi_id sid, uint64_t lun);
/* waiter waits (ready hears it, from the loop); learning starts unless it
 * is under way. A failing Status (mcsi_last_message) when it cannot start:
 * waiter is not kept then. */
mcsi_status mcsi_lun_geo_wait(struct mcsi_lun_geo *g, mcsi_link *waiter, mcsi_geo_ready_fn ready);
/* READ CAPACITY answered: the block size and size are known (limits maybe not). */
void mcsi_lun_geo_capacity(mcsi_entry *e, mcsi_id sid, uint64_t lun, uint64_t blocks, uint32_t block_size);
/* 0 with *bs when the block size is known, else -1. No I/O. */
int mcsi_lun_geo_block_size(mcsi_entry *e, uint64_t lun, uint32_t *bs);
/* A LUN RESET: learn it again on next use. */
void mcsi_lun_geo_forget(mcsi_entry *e, uint64_t lun);
/* The entry goes: after its commands all ended. */
void mcsi_lun_geo_free_all(mcsi_entry *e);

/* ---- events (events.c), host (host.c) ---- */
void mcsi_events_dispatch(mcsi_initiator *ini, const mcsi_event *ev);
void mcsi_events_free(mcsi_initiator *ini);
void mcsi_host_reap(mcsi_initiator *ini);
void mcsi_host_free(mcsi_initiator *ini);
#endif
