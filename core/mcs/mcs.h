/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mcs.h: several connections in one session (RFC 7143 MC/S): the paths of
 * a session, the load-balance policies, failover of a dead connection's
 * commands, reinstatement of a session that lost every connection, adding
 * and removing connections. Built on the session layer, whose hooks it
 * implements; it speaks to the initiator through mcsi_mcs_hooks and the
 * callbacks of its operations. */
#ifndef MCSI_MCS_H
#define MCSI_MCS_H
#include "session.h"

typedef struct mcsi_mcs mcsi_mcs;
typedef struct mcsi_path mcsi_path;

/* An operation of this layer ended: its Status and its own message. */
typedef void (*mcsi_mcs_done_cb)(mcsi_path *p, mcsi_status st, const char *message, void *arg);

/* A connection of a session, with what MC/S keeps of it. */
struct mcsi_path {
  mcsi_conn conn;
  uint32_t weight;
  int32_t wrr_current;                  /* smooth weighted round robin state */
  int active, primary;                  /* policy roles */
  int removing;
  int target_asked;                     /* removed because the target requested a Logout (AsyncEvent 1) */
  uint8_t logout_reason;                /* the Logout its removal ends with */
  mcsi_timer drain_timer;               /* removal: drain deadline, then the Logout's */
  mcsi_mcs_done_cb done;                /* the add or remove in progress */
  void *done_arg;
};

typedef struct mcsi_mcs_hooks {
  /* An event about the session or one of its connections. */
  void (*event)(mcsi_mcs *m, const mcsi_event *ev);
  /* The leading login of a new session ended (message: why it failed). */
  void (*session_login_done)(mcsi_mcs *m, mcsi_status st, const char *message);
} mcsi_mcs_hooks;

struct mcsi_mcs {
  mcsi_session s;
  const mcsi_mcs_hooks *hooks;
  int policy;
  uint32_t rr_next;
  mcsi_timer probe_timer;               /* plug holes without all the answers after this */
  uint64_t lost_ms;                     /* ms: a lost command last joined s.limbo */
  char portals[8][80];                  /* every portal a connection used, for reinstatement */
  unsigned nportals, recovery_next;
  uint64_t recovery_deadline;
  uint32_t recovery_backoff_ms;
  mcsi_timer recovery_timer;
  mcsi_status recovery_cause;
  uint32_t recoveries;
  uint64_t recovered_ms;                /* when the last reinstatement succeeded (0: never) */
  uint64_t hold_until;                  /* a target's Time2Wait: no reconnect nor re-issue before */
  int hold_keep;                        /* re-issue when it ends: lost commands may keep their CmdSN */
  mcsi_timer hold_timer;
  char message[MCSI_MSG_MAX];           /* why it failed */
};

static inline mcsi_path *mcsi_path_of(mcsi_conn *c) { return MCSI_CONTAINER(c, mcsi_path, conn); }
static inline mcsi_mcs *mcsi_mcs_of(mcsi_session *s) { return MCSI_CONTAINER(s, mcsi_mcs, s); }

/* Initializes m's session, without a connection (mcsi_mcs_start and
 * mcsi_mcs_import go on from here). */
mcsi_status mcsi_mcs_init(mcsi_mcs *m, mcsi_loop *loop, const mcsi_mcs_hooks *hooks, mcsi_id id,
                          const char *initiator_name, mcsi_chap_memory *challenges, const mcsi_login_opts *o,
                          int discovery, char *msg);
/* A portal a connection of m used: reinstatement tries it (8 kept). */
void mcsi_mcs_remember_portal(mcsi_mcs *m, const char *portal);
/* Initializes m's session and starts the login of its leading connection;
 * hooks->session_login_done tells the end. A failing Status has its reason
 * in msg; then m needs only mcsi_mcs_destroy. */
mcsi_status mcsi_mcs_start(mcsi_mcs *m, mcsi_loop *loop, const mcsi_mcs_hooks *hooks, mcsi_id id,
                           const char *initiator_name, mcsi_chap_memory *challenges, const mcsi_login_opts *o,
                           int discovery, char *msg);
/* The session ended (logged out, or closed): every add or removal still in
 * progress ends now, its callback told exactly once (an add fails with
 * ISDSC_CONNECTION_FAILED, a removal succeeds: its connection closed with
 * the session), so that nobody waits on, or keeps, a path about to be freed.
 * why says what ended it. mcsi_mcs_destroy does it too. */
void mcsi_mcs_end_operations(mcsi_mcs *m, const char *why);
void mcsi_mcs_destroy(mcsi_mcs *m);
void mcsi_mcs_stop_timers(mcsi_mcs *m);
mcsi_path *mcsi_mcs_find_path(mcsi_mcs *m, mcsi_id conn_id);
/* o: the session's options with this connection's portal, CHAP, timeout. */
mcsi_status mcsi_mcs_add(mcsi_mcs *m, const mcsi_login_opts *o, uint32_t weight, mcsi_mcs_done_cb done, void *arg,
                         mcsi_id *conn_id, char *msg);
/* Whoever waits for p's add or remove with arg goes away: it hears nothing. */
void mcsi_path_forget(mcsi_path *p, void *arg);
/* The same for every path of m (a logout waiting on the removals it started). */
void mcsi_mcs_forget(mcsi_mcs *m, void *arg);
mcsi_status mcsi_mcs_remove(mcsi_mcs *m, mcsi_path *p, mcsi_mcs_done_cb done, void *arg, char *msg);
mcsi_status mcsi_mcs_set_policy(mcsi_mcs *m, int policy, const mcsi_lb_path *paths, size_t n, char *msg);
/* The connection a session-wide Logout goes out on (the leading one if it works). */
mcsi_path *mcsi_mcs_logout_path(mcsi_mcs *m);

/* ---- a live session handed between processes (mcs_handover.c) ---- */
/* Every connection still logging in to join the session (an add, not the
 * leading login) fails with st and why (its add is told so; the target
 * never saw it in full feature phase): a handover does not wait for a
 * login that hangs. Returns how many. */
unsigned mcsi_mcs_abort_joins(mcsi_mcs *m, mcsi_status st, const char *why);
/* The session's state with each path's roles (session.h: mcsi_session_export). */
mcsi_status mcsi_mcs_export(mcsi_mcs *m, mcsi_handover_session *out, char *msg);
/* After mcsi_mcs_init (with hs->id): m takes the handed session over, the
 * ids of hs (the caller checked them free), hs->conns[i] on
 * fds[hs->conns[i].fd_index], and is active (no login: the target sees
 * the same connections go on). A failing Status (msg) leaves every fd the
 * caller's; then m needs only mcsi_mcs_destroy. */
mcsi_status mcsi_mcs_import(mcsi_mcs *m, const mcsi_handover_session *hs, const int *fds, char *msg);
#endif
