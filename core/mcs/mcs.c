/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mcs.c: several connections in one session (RFC 7143 MC/S): adding and
 * removing connections, choosing one per command by policy, failing over a
 * dead connection's commands (plugging CmdSN holes), and reinstating a
 * session that lost every connection. It implements the session's hooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mcs.h"

#define DRAIN_MS 5000                 /* removal: in-flight commands move after this */
#define BACKOFF_MAX_MS 4000
#define FLAP_MS BACKOFF_MAX_MS       /* failing again this soon after a reinstatement backs off */
#define PROBE_WAIT_MS 100             /* istgt answers nothing while it waits at a CmdSN hole */
#define PROBE_STALL_MS 1000           /* nothing heard this long after a loss: the target is stalled */

static int usable(const mcsi_conn *c) { return c->state == MCSI_CONN_ACTIVE; }

#define FOR_PATHS(m, p) \
  for (mcsi_link *l_ = (m)->s.conns.next; \
       l_ != &(m)->s.conns && ((p) = mcsi_path_of(MCSI_CONTAINER(l_, mcsi_conn, link))); l_ = l_->next)

mcsi_path *mcsi_mcs_find_path(mcsi_mcs *m, mcsi_id id)
{
  mcsi_path *p;
  FOR_PATHS(m, p) if (p->conn.id == id) return p;
  return NULL;
}

/* ---- choosing a connection ----------------------------------------------------- */

static mcsi_path *nth_usable(mcsi_mcs *m, int want_active, uint32_t n)
{
  mcsi_path *p;
  uint32_t count = 0, i = 0;
  FOR_PATHS(m, p) if (usable(&p->conn) && (!want_active || p->active)) count++;
  if (!count) return NULL;
  n %= count;
  FOR_PATHS(m, p) if (usable(&p->conn) && (!want_active || p->active) && i++ == n) return p;
  return NULL;
}

static mcsi_path *pick_primary(mcsi_mcs *m)
{
  mcsi_path *p, *first = NULL;
  FOR_PATHS(m, p) {
    if (!usable(&p->conn)) continue;
    if (p->primary) return p;
    if (!first) first = p;
  }
  if (first) {                     /* the primary is gone: the oldest survivor takes over */
    first->primary = 1;
    first->active = 1;
  }
  return first;
}

static mcsi_path *pick_least_queue(mcsi_mcs *m)
{
  mcsi_path *p, *best = NULL;
  FOR_PATHS(m, p) if (usable(&p->conn) && (!best || p->conn.queue_depth < best->conn.queue_depth)) best = p;
  return best;
}

/* Smooth weighted round robin: over time each connection gets weight/total. */
static mcsi_path *pick_weighted(mcsi_mcs *m)
{
  mcsi_path *p, *best = NULL;
  int32_t total = 0;
  FOR_PATHS(m, p) {
    if (!usable(&p->conn)) continue;
    p->wrr_current += (int32_t)p->weight;
    total += (int32_t)p->weight;
    if (!best || p->wrr_current > best->wrr_current) best = p;
  }
  if (best) best->wrr_current -= total;
  return best;
}

static mcsi_path *pick_round_robin(mcsi_mcs *m) { return nth_usable(m, 0, m->rr_next++); }

static mcsi_path *pick_subset(mcsi_mcs *m)
{
  mcsi_path *p = nth_usable(m, 1, m->rr_next++);
  return p ? p : nth_usable(m, 0, m->rr_next);   /* whole active set gone: standbys */
}

static void set_role(mcsi_path *p, int active, int primary);

/* Roles when a policy is set: one primary, everyone active, or as the paths said. */
static void roles_primary(mcsi_mcs *m, size_t npaths)
{
  mcsi_path *p;
  if (!npaths) FOR_PATHS(m, p) p->primary = 0;
  mcsi_path *prim = pick_primary(m);
  FOR_PATHS(m, p) set_role(p, p == prim, p == prim);
}

static void roles_all_active(mcsi_mcs *m, size_t npaths)
{
  mcsi_path *p;
  (void)npaths;
  FOR_PATHS(m, p) set_role(p, 1, 0);
}

static void roles_as_given(mcsi_mcs *m, size_t npaths)
{
  mcsi_path *p;
  (void)npaths;
  FOR_PATHS(m, p) set_role(p, p->active, 0);
}

/* One row per policy: its name, how it picks a connection for a command,
 * what the paths it is given carry, and the roles it gives. */
typedef struct lb_policy {
  const char *name;
  mcsi_path *(*pick)(mcsi_mcs *m);
  int primary, active, weight;      /* the paths name one primary / active or standby / weights */
  void (*roles)(mcsi_mcs *m, size_t npaths);
} lb_policy;

static const lb_policy policies[MCSI_LB_COUNT] = {
  [MCSI_LB_FAILOVER_ONLY] = { "failover-only", pick_primary, 1, 0, 0, roles_primary },
  [MCSI_LB_ROUND_ROBIN] = { "round-robin", pick_round_robin, 0, 0, 0, roles_all_active },
  [MCSI_LB_ROUND_ROBIN_SUBSET] = { "round-robin-subset", pick_subset, 0, 1, 0, roles_as_given },
  [MCSI_LB_LEAST_QUEUE_DEPTH] = { "least-queue-depth", pick_least_queue, 0, 0, 0, roles_all_active },
  [MCSI_LB_WEIGHTED_PATHS] = { "weighted-paths", pick_weighted, 0, 0, 1, roles_all_active },
};

static const lb_policy *policy_row(int p)
{
  return p > 0 && p < MCSI_LB_COUNT && policies[p].name ? &policies[p] : NULL;
}

const char *mcsi_lb_policy_name(int policy)
{
  const lb_policy *row = policy_row(policy);
  return row ? row->name : NULL;
}

/* A session's policy is always a row: it is set only from one. */
static const lb_policy *session_policy(const mcsi_mcs *m) { return &policies[m->policy]; }

static mcsi_path *pick(mcsi_mcs *m) { return session_policy(m)->pick(m); }

static mcsi_conn *hook_pick(mcsi_session *s)
{
  mcsi_path *p = pick(mcsi_mcs_of(s));
  return p ? &p->conn : NULL;
}

/* ---- failover ---------------------------------------------------------------------- */

static void start_recovery(mcsi_mcs *m, mcsi_status cause, const char *why);
static void reissue_limbo(mcsi_mcs *m, int may_keep_cmdsn);

/* Not every probe answered within PROBE_WAIT_MS. The target told its
 * ExpCmdSN (any answer) since the last loss: it is alive, only slow (tgt
 * under load, or a probe's own connection died), and a lost command it has
 * not reached keeps its CmdSN as when every probe is answered; going as new,
 * it would leave a hole tgt waits at for ever (every later command
 * unanswered). Nothing heard for PROBE_STALL_MS since the last loss: the
 * target is stalled (istgt stops answering anything when a connection dies
 * under it, then drops the session); re-sending a command with its old ITT
 * and CmdSN into a target in that state can wedge it, so everything goes
 * again as new commands. Until then the probes get more time. */
static void probe_timeout(mcsi_timer *tm)
{
  mcsi_mcs *m = MCSI_CONTAINER(tm, mcsi_mcs, probe_timer);
  uint64_t heard = m->s.sn_heard_ms;
  if (heard && heard >= m->lost_ms) reissue_limbo(m, 1);
  else if (mcsi_now_ms() - m->lost_ms < PROBE_STALL_MS) mcsi_timer_start(m->s.loop, tm, PROBE_WAIT_MS);
  else reissue_limbo(m, 0);
}

/* Asks every usable connection for the target's ExpCmdSN (an immediate
 * NOP-Out is answered with it); the answers decide how to re-issue. */
static void send_probes(mcsi_mcs *m)
{
  mcsi_session *s = &m->s;
  if (mcsi_list_empty(&s->limbo)) return;
  if (!mcsi_timer_active(&m->probe_timer)) mcsi_timer_start(s->loop, &m->probe_timer, PROBE_WAIT_MS);
  if (s->probes) return;
  mcsi_session_probe(s, usable);
}

/* Every probe answered (or PROBE_WAIT_MS passed): s->exp_cmdsn is the
 * target's, as far as it told us. A lost command whose CmdSN the target has
 * not reached goes again with that CmdSN, which plugs the hole; one it had
 * reached (its answer was lost) goes as a new command. */
static void hook_probes_answered(mcsi_session *s) { reissue_limbo(mcsi_mcs_of(s), 1); }

static void hold_over(mcsi_timer *tm)
{
  mcsi_mcs *m = MCSI_CONTAINER(tm, mcsi_mcs, hold_timer);
  reissue_limbo(m, m->hold_keep);
}

/* Milliseconds left of a target's Time2Wait, 0 when none. */
static uint64_t hold_left(const mcsi_mcs *m)
{
  uint64_t now = mcsi_now_ms();
  return m->hold_until > now ? m->hold_until - now : 0;
}

static void reissue_limbo(mcsi_mcs *m, int may_keep_cmdsn)
{
  mcsi_session *s = &m->s;
  mcsi_timer_stop(s->loop, &m->probe_timer);
  if (hold_left(m) && !mcsi_list_empty(&s->limbo)) {   /* RFC 7143 11.9.1: not before Time2Wait */
    m->hold_keep = may_keep_cmdsn;
    mcsi_timer_stop(s->loop, &m->hold_timer);
    mcsi_timer_start(s->loop, &m->hold_timer, hold_left(m));
    return;
  }
  mcsi_link *after = &s->pending;
  while (!mcsi_list_empty(&s->limbo)) {
    mcsi_task *t = MCSI_CONTAINER(s->limbo.next, mcsi_task, link);
    mcsi_task_reissue(t, may_keep_cmdsn && !t->immediate && mcsi_sn_le(s->exp_cmdsn, t->cmdsn) &&
                      mcsi_sn_lt(t->cmdsn, s->cmdsn), 1);
    mcsi_session_requeue_front(s, t, &after);
  }
  mcsi_session_drain(s);
}

/* The orphans of a lost connection that may not go again fail here (control
 * tasks; a command past its bound, which its message says). */
static void fail_control_tasks(mcsi_link *orphans, mcsi_status st, const char *why)
{
  for (mcsi_link *l = orphans->next; l != orphans;) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    l = l->next;
    if (mcsi_task_may_retry(t, st)) continue;
    if (t->kind != MCSI_TASK_SCSI) mcsi_task_fail(t, st, "%s", why);
    else if (st == ISDSC_SERVICE_DID_NOT_RESPOND)
      mcsi_task_fail(t, st, "%s (the command was re-issued %d times after connection timeouts: the limit)", why,
                     t->retries);
    else
      mcsi_task_fail(t, st, "%s (the command, ITT 0x%08x CmdSN %u, was lost with %d connections in %llu ms: the"
                     " session's recovery timeout)", why, t->itt, t->cmdsn, t->losses,
                     (unsigned long long)(mcsi_now_ms() - t->lost_since));
  }
}

static void promote_leading(mcsi_mcs *m)
{
  mcsi_path *p;
  FOR_PATHS(m, p) if (p->conn.leading) return;
  FOR_PATHS(m, p) if (usable(&p->conn) || p->conn.state == MCSI_CONN_LOGOUT) { mcsi_conn_set_leading(&p->conn, 1); return; }
}

/* Lost commands wait for a path as new commands. */
static void limbo_to_pending(mcsi_mcs *m, int new_itt)
{
  mcsi_session *s = &m->s;
  mcsi_link *after = &s->pending;
  while (!mcsi_list_empty(&s->limbo)) {
    mcsi_task *t = MCSI_CONTAINER(s->limbo.next, mcsi_task, link);
    if (new_itt) mcsi_task_reissue(t, 0, 0);
    mcsi_session_requeue_front(s, t, &after);
  }
}

/* A connection being drained still finishes (or moves) its commands; when
 * it is gone, the session looks for a path again. */
static int draining(mcsi_mcs *m)
{
  mcsi_path *p;
  FOR_PATHS(m, p) if (p->removing && p->conn.state == MCSI_CONN_LOGOUT) return 1;
  return 0;
}

static void fail_waiting(mcsi_mcs *m, mcsi_status cause, const char *why)
{
  mcsi_session_fail_tasks(&m->s, &m->s.limbo, cause, why);
  mcsi_session_fail_tasks(&m->s, &m->s.pending, cause, why);
  mcsi_session_fail_tasks(&m->s, &m->s.held, cause, why);
}

/* No usable connection: wait for one logging in or draining, reinstate, or
 * give up. A session that already gave up fails whatever still reaches it. */
static void no_path_left(mcsi_mcs *m, mcsi_status cause, const char *why)
{
  mcsi_session *s = &m->s;
  mcsi_path *p;
  if (s->state == MCSI_SESS_FAILED || s->state == MCSI_SESS_LOGGED_OUT) {
    fail_waiting(m, cause, why);
    return;
  }
  if (s->state == MCSI_SESS_RECOVERING) {
    limbo_to_pending(m, 0);
    return;
  }
  if (s->state != MCSI_SESS_ACTIVE) return;
  FOR_PATHS(m, p) if (p->conn.state == MCSI_CONN_LOGIN || p->conn.state == MCSI_CONN_CONNECTING) return;
  if (draining(m)) {
    limbo_to_pending(m, 1);
    return;
  }
  if (s->opts.recovery_timeout_ms > 0 && !s->discovery) {
    start_recovery(m, cause, why);
    return;
  }
  mcsi_session_set_state(s, MCSI_SESS_FAILED);
  snprintf(m->message, sizeof m->message, "%s", why);
  fail_waiting(m, cause, why);
  mcsi_session_emit(s, MCSI_EV_SESSION_FAILED, cause, "no connection left");
}

static void tell(mcsi_path *p, mcsi_status st, const char *message)
{
  mcsi_mcs_done_cb done = p->done;
  if (!done) return;
  p->done = NULL;
  mcsi_loop_enter_callback(p->conn.sess->loop);
  done(p, st, message, p->done_arg);
  mcsi_loop_leave_callback(p->conn.sess->loop);
}

/* A connection died (already unlinked); orphans are its unfinished tasks. */
static void hook_conn_lost(mcsi_conn *c, mcsi_link *orphans)
{
  mcsi_session *s = c->sess;
  mcsi_mcs *m = mcsi_mcs_of(s);
  mcsi_path *p = mcsi_path_of(c);
  mcsi_status cause = c->fail_status;
  mcsi_timer_stop(s->loop, &p->drain_timer);
  if (p->removing) tell(p, cause, c->message);           /* died while being removed */
  fail_control_tasks(orphans, cause, c->message);
  if (!mcsi_list_empty(orphans)) m->lost_ms = mcsi_now_ms();
  while (!mcsi_list_empty(orphans)) {
    mcsi_link *l = orphans->next;
    mcsi_list_del(l);
    mcsi_list_push(&s->limbo, l);
  }
  if (c->leading) {
    mcsi_conn_set_leading(c, 0);
    promote_leading(m);
  }
  if (s->state == MCSI_SESS_LOGGING_OUT) mcsi_session_fail_tasks(s, &s->limbo, cause, c->message);
  else if (pick(m)) send_probes(m);
  else no_path_left(m, cause, c->message);
}

/* ---- session reinstatement ------------------------------------------------------------ */

static void give_up(mcsi_mcs *m)
{
  mcsi_session *s = &m->s;
  mcsi_status cause = m->recovery_cause ? m->recovery_cause : ISDSC_CONNECTION_FAILED;
  mcsi_msg(m->message, cause, "session to %s not recovered within %d ms", s->target, s->opts.recovery_timeout_ms);
  mcsi_session_set_state(s, MCSI_SESS_FAILED);
  fail_waiting(m, cause, m->message);
  mcsi_session_emit(s, MCSI_EV_SESSION_FAILED, cause, "recovery timed out");
}

static void reinstated(mcsi_mcs *m, mcsi_status st);
static mcsi_path *new_path(mcsi_mcs *m, const mcsi_login_opts *o, int leading, char *msg, mcsi_status *st);

static void recovery_fire(mcsi_timer *tm)
{
  mcsi_mcs *m = MCSI_CONTAINER(tm, mcsi_mcs, recovery_timer);
  mcsi_session *s = &m->s;
  mcsi_path *p;
  if (s->state != MCSI_SESS_RECOVERING) return;
  if (mcsi_now_ms() >= m->recovery_deadline) { give_up(m); return; }
  if (hold_left(m)) { mcsi_timer_start(s->loop, tm, hold_left(m)); return; }   /* the target's Time2Wait */
  FOR_PATHS(m, p) if (p->conn.leading) return;      /* an attempt is under way */
  mcsi_login_opts o = s->opts;
  o.portal = m->portals[m->recovery_next++ % m->nportals];
  uint64_t left = m->recovery_deadline - mcsi_now_ms();
  if ((uint64_t)o.login_timeout_ms > left) o.login_timeout_ms = (int)left + 1;
  mcsi_status st;
  if (new_path(m, &o, 1, m->message, &st)) return;
  reinstated(m, ISDSC_CONNECTION_FAILED);
}

static void next_backoff(mcsi_mcs *m)
{
  m->recovery_backoff_ms = m->recovery_backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : m->recovery_backoff_ms * 2;
}

/* The first reinstatement attempt goes at once (after a Time2Wait), unless
 * the session failed again within FLAP_MS of its last reinstatement (a target
 * that takes logins and drops every connection at its first command): then
 * it waits the back-off, which goes on doubling, as after a failed login. */
static uint64_t first_attempt_wait(mcsi_mcs *m)
{
  uint64_t wait = hold_left(m);
  if (!m->recovered_ms || mcsi_now_ms() - m->recovered_ms >= FLAP_MS) {
    m->recovery_backoff_ms = 100;
    return wait;
  }
  if (wait < m->recovery_backoff_ms) wait = m->recovery_backoff_ms;
  next_backoff(m);
  return wait;
}

static void start_recovery(mcsi_mcs *m, mcsi_status cause, const char *why)
{
  mcsi_session *s = &m->s;
  mcsi_session_set_state(s, MCSI_SESS_RECOVERING);
  m->recovery_cause = cause;
  snprintf(m->message, sizeof m->message, "%s", why);
  uint64_t first = first_attempt_wait(m);
  m->recovery_deadline = mcsi_now_ms() + first + (uint64_t)s->opts.recovery_timeout_ms;
  mcsi_link *after = &s->pending;
  while (!mcsi_list_empty(&s->limbo)) {
    mcsi_task *t = MCSI_CONTAINER(s->limbo.next, mcsi_task, link);
    mcsi_task_reissue(t, 0, 1);
    mcsi_session_requeue_front(s, t, &after);
  }
  for (mcsi_link *l = s->pending.next; l != &s->pending; l = l->next)
    MCSI_CONTAINER(l, mcsi_task, link)->keep_cmdsn = 0;   /* a new session numbers them anew */
  mcsi_session_emit(s, MCSI_EV_SESSION_RECOVERING, cause, "every connection failed; reinstating");
  mcsi_timer_start(s->loop, &m->recovery_timer, first);
}

/* A reinstatement login ended: go on, or try again after a back-off. */
static void reinstated(mcsi_mcs *m, mcsi_status st)
{
  mcsi_session *s = &m->s;
  if (!st) {
    mcsi_session_set_state(s, MCSI_SESS_ACTIVE);
    m->recoveries++;
    m->recovered_ms = mcsi_now_ms();
    mcsi_timer_stop(s->loop, &m->recovery_timer);
    mcsi_session_emit(s, MCSI_EV_SESSION_RECOVERED, ISDSC_SUCCESS, "session reinstated");
    mcsi_session_renew_waiting(s);
    return;
  }
  uint64_t now = mcsi_now_ms();
  if (now >= m->recovery_deadline) { give_up(m); return; }
  uint64_t wait = m->recovery_backoff_ms;
  if (now + wait > m->recovery_deadline) wait = m->recovery_deadline - now;
  next_backoff(m);
  mcsi_timer_start(s->loop, &m->recovery_timer, wait);
}

/* ---- a connection's login ended --------------------------------------------------------- */

static void set_role(mcsi_path *p, int active, int primary)
{
  int was = p->active;
  p->active = active;
  p->primary = primary;
  if (was != active && usable(&p->conn))
    mcsi_conn_emit(&p->conn, active ? MCSI_EV_CONN_ACTIVE : MCSI_EV_CONN_STANDBY, ISDSC_SUCCESS,
                   active ? "active" : "standby");
}

void mcsi_mcs_remember_portal(mcsi_mcs *m, const char *portal)
{
  for (unsigned i = 0; i < m->nportals; i++)
    if (!strcmp(m->portals[i], portal)) return;
  snprintf(m->portals[m->nportals % 8], sizeof m->portals[0], "%s", portal);
  if (m->nportals < 8) m->nportals++;
}

static void added(mcsi_path *p, mcsi_status st)
{
  mcsi_mcs *m = mcsi_mcs_of(p->conn.sess);
  if (st) {
    if (!pick(m) && !mcsi_list_empty(&m->s.limbo)) no_path_left(m, st, p->conn.message);
    tell(p, st, p->conn.message);
    return;
  }
  if (session_policy(m)->primary) set_role(p, 0, 0);   /* joins as a standby */
  if (m->s.state == MCSI_SESS_RECOVERING) reinstated(m, ISDSC_SUCCESS);
  else if (!mcsi_list_empty(&m->s.limbo)) send_probes(m);
  tell(p, st, "Success");
}

static void hook_login_finished(mcsi_conn *c, mcsi_status st)
{
  mcsi_session *s = c->sess;
  mcsi_mcs *m = mcsi_mcs_of(s);
  if (!st) mcsi_mcs_remember_portal(m, mcsi_conn_portal(c));
  int leading_login = s->state == MCSI_SESS_LOGGING_IN;
  if (leading_login) {
    if (!st) {
      mcsi_session_set_state(s, MCSI_SESS_ACTIVE);
      mcsi_session_emit(s, MCSI_EV_SESSION_ACTIVE, ISDSC_SUCCESS, s->target);
    }
  } else if (c->leading && s->state == MCSI_SESS_RECOVERING) {
    reinstated(m, st);
  } else {
    added(mcsi_path_of(c), st);
  }
  if (!st) mcsi_session_drain(s);
  if (leading_login) m->hooks->session_login_done(m, st, st ? c->message : "Success");   /* last: may do anything */
}

/* ---- making a connection ----------------------------------------------------------------- */

static mcsi_path *new_path(mcsi_mcs *m, const mcsi_login_opts *o, int leading, char *msg, mcsi_status *st)
{
  mcsi_session *s = &m->s;
  mcsi_path *p = calloc(1, sizeof *p);
  if (!p || mcsi_conn_init(&p->conn, s, o)) {
    free(p);
    *st = mcsi_msg(msg, ISDSC_OUT_OF_RESOURCES, "out of memory");
    return NULL;
  }
  p->weight = 1;
  p->active = 1;
  mcsi_timer_init(&p->drain_timer, NULL);
  mcsi_conn_set_leading(&p->conn, leading);
  mcsi_session_attach(s, &p->conn);
  mcsi_conn_emit(&p->conn, MCSI_EV_CONN_LOGGING_IN, ISDSC_SUCCESS, mcsi_conn_portal(&p->conn));
  *st = mcsi_conn_login(&p->conn);
  if (*st) {
    snprintf(msg, MCSI_MSG_MAX, "%s", p->conn.message);
    mcsi_conn_bury(&p->conn);
    return NULL;
  }
  return p;
}

void mcsi_path_forget(mcsi_path *p, void *arg)
{
  if (p->done_arg == arg) p->done = NULL;
}

void mcsi_mcs_forget(mcsi_mcs *m, void *arg)
{
  mcsi_session *s = &m->s;
  mcsi_link *lists[] = { &s->conns, &s->graveyard };
  for (size_t i = 0; i < 2; i++)
    for (mcsi_link *l = lists[i]->next; l != lists[i]; l = l->next) mcsi_path_forget(mcsi_path_of(MCSI_CONTAINER(l, mcsi_conn, link)), arg);
}

static void hook_release_conn(mcsi_conn *c)
{
  mcsi_path *p = mcsi_path_of(c);
  mcsi_timer_stop(c->sess->loop, &p->drain_timer);
  mcsi_conn_destroy(c);
  free(p);
}

/* The session is full: whose limit it is, and how to raise it (tgt's
 * MaxConnections is 1 per target by default: most first MC/S setups meet this). */
static mcsi_status too_many_connections(const mcsi_session *s, char *msg)
{
  uint32_t have = s->nconns, max = s->params.max_connections, offered = mcsi_session_opts(s)->max_connections;
  if (offered && max >= offered)   /* our own offer is the limit */
    return mcsi_msg(msg, ISDSC_TOO_MANY_CONNECTIONS, "the session has %u connection%s, the MaxConnections=%u it "
                    "offered at login (log in with a higher MaxConnections)", have, have == 1 ? "" : "s", max);
  if (max <= 1)
    return mcsi_msg(msg, ISDSC_TOO_MANY_CONNECTIONS, "the target allows one connection per session (it negotiated "
                    "MaxConnections=1); on tgt raise it with `tgtadm --lld iscsi --op update --mode target --tid TID "
                    "--name MaxConnections --value N`, then log in again");
  return mcsi_msg(msg, ISDSC_TOO_MANY_CONNECTIONS, "the session has %u connections, the target allows %u per session "
                  "(it negotiated MaxConnections=%u); on tgt raise it with `tgtadm --lld iscsi --op update --mode "
                  "target --tid TID --name MaxConnections --value N`, then log in again", have, max, max);
}

mcsi_status mcsi_mcs_add(mcsi_mcs *m, const mcsi_login_opts *o, uint32_t weight, mcsi_mcs_done_cb done, void *arg,
                         mcsi_id *conn_id, char *msg)
{
  mcsi_session *s = &m->s;
  mcsi_status st;
  if (s->nconns >= s->params.max_connections) return too_many_connections(s, msg);
  mcsi_path *p = new_path(m, o, 0, msg, &st);
  if (!p) return st;
  p->weight = weight ? weight : 1;
  p->done = done;
  p->done_arg = arg;
  if (conn_id) *conn_id = p->conn.id;
  return ISDSC_SUCCESS;
}

/* ---- removing a connection -------------------------------------------------------------- */

static int has_commands(const mcsi_conn *c)
{
  for (const mcsi_link *l = c->tasks.next; l != &c->tasks; l = l->next)
    if (MCSI_CONTAINER(l, mcsi_task, link)->kind == MCSI_TASK_SCSI) return 1;
  return 0;
}

static void finish_removal(mcsi_path *p, mcsi_status st, const char *message)
{
  mcsi_mcs *m = mcsi_mcs_of(p->conn.sess);
  mcsi_timer_stop(m->s.loop, &p->drain_timer);
  mcsi_conn_close(&p->conn);
  mcsi_conn_emit(&p->conn, MCSI_EV_CONN_REMOVED, st, mcsi_conn_portal(&p->conn));
  mcsi_conn_bury(&p->conn);
  tell(p, st, message);
  if (!pick(m) && m->s.state == MCSI_SESS_ACTIVE && !draining(m))   /* the others failed meanwhile */
    no_path_left(m, ISDSC_CONNECTION_FAILED, p->target_asked ? "logged out as the target requested (AsyncEvent 1)"
                                                             : "the other connections failed during a removal");
}

static void logout_done(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *d, uint32_t n)
{
  mcsi_path *p = t->arg;
  mcsi_conn *c = &p->conn;
  char msg[MCSI_MSG_MAX];
  (void)d; (void)n;
  if (h) {
    mcsi_status lst = mcsi_logout_status(h->response, c->cid, msg);
    finish_removal(p, lst, msg);
    return;
  }
  /* The Logout ended without its answer. The connection failed (conn_lost
   * reports that), or it still runs (the Logout was rejected): abandon it. */
  if (c->state != MCSI_CONN_FAILED && c->state != MCSI_CONN_CLOSED)
    mcsi_conn_fail(c, st ? st : ISDSC_TARGET_ERROR, "%s: the Logout of CID %u ended unanswered (%s)", mcsi_conn_portal(c),
                   c->cid, t->message[0] ? t->message : mcsi_status_name(st) ? mcsi_status_name(st) : "?");
  else if (c->state == MCSI_CONN_CLOSED && !c->buried)
    finish_removal(p, st ? st : ISDSC_TARGET_ERROR, t->message[0] ? t->message : "the Logout ended unanswered");
}

static void logout_timeout(mcsi_timer *tm)
{
  mcsi_path *p = MCSI_CONTAINER(tm, mcsi_path, drain_timer);
  mcsi_conn *c = &p->conn;
  if (c->state == MCSI_CONN_CLOSED) {   /* closed already, and the removal never ended */
    char msg[MCSI_MSG_MAX];
    if (!c->buried)
      finish_removal(p, mcsi_msg(msg, ISDSC_SERVICE_DID_NOT_RESPOND, "%s: no Logout Response within %d ms",
                                 mcsi_conn_portal(c), c->opts.login_timeout_ms), msg);
    return;
  }
  mcsi_conn_fail(c, ISDSC_CONNECTION_FAILED, "%s: no Logout Response within %d ms", mcsi_conn_portal(c),
                 c->opts.login_timeout_ms);
}

/* Logout reason 1 on the connection itself, with its deadline. */
static void send_logout(mcsi_path *p)
{
  mcsi_conn *c = &p->conn;
  mcsi_task *t = mcsi_logout_task(c, p->logout_reason, logout_done, p);
  if (!t) { mcsi_conn_fail(c, ISDSC_OUT_OF_RESOURCES, "out of memory"); return; }
  mcsi_timer_set_fire(&p->drain_timer, logout_timeout);
  mcsi_timer_start(c->sess->loop, &p->drain_timer, (uint64_t)c->opts.login_timeout_ms);
  mcsi_session_send(c->sess, c, t);
}

/* The target closed a connection whose Logout went out: a removal ends. */
static void hook_conn_closed(mcsi_conn *c, mcsi_status st)
{
  mcsi_path *p = mcsi_path_of(c);
  if (p->removing && !c->buried) finish_removal(p, st, c->message);   /* its Logout was gone already */
}

static void drain_expired(mcsi_timer *tm);

/* A command on a draining connection ended: the last one lets the Logout go. */
static void hook_task_ended_on(mcsi_conn *c)
{
  mcsi_path *p = mcsi_path_of(c);
  if (!p->removing || c->state != MCSI_CONN_LOGOUT) return;
  if (mcsi_timer_fires(&p->drain_timer, drain_expired) && mcsi_timer_active(&p->drain_timer) && !has_commands(c)) {
    mcsi_timer_stop(c->sess->loop, &p->drain_timer);
    send_logout(p);
  }
}

/* Drain deadline: the commands still on the connection move to the others. */
static void drain_expired(mcsi_timer *tm)
{
  mcsi_path *p = MCSI_CONTAINER(tm, mcsi_path, drain_timer);
  mcsi_conn *c = &p->conn;
  mcsi_session *s = c->sess;
  mcsi_link *after = &s->pending;
  for (mcsi_link *l = c->tasks.next; l != &c->tasks;) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    l = l->next;
    if (t->kind != MCSI_TASK_SCSI) continue;
    mcsi_task_unsend(t);
    mcsi_task_reissue(t, 0, 1);
    mcsi_session_requeue_front(s, t, &after);
  }
  send_logout(p);
  mcsi_session_drain(s);
}

/* No new commands on it; those in flight finish within drain_ms or move to
 * the others; then a Logout with reason. */
static void start_removal(mcsi_mcs *m, mcsi_path *p, uint8_t reason, uint64_t drain_ms)
{
  mcsi_conn *c = &p->conn;
  p->removing = 1;
  p->logout_reason = reason;
  mcsi_conn_begin_logout(c);
  p->primary = 0;
  if (!has_commands(c)) {
    send_logout(p);
  } else {
    mcsi_timer_set_fire(&p->drain_timer, drain_expired);
    mcsi_timer_start(m->s.loop, &p->drain_timer, drain_ms);
  }
}

mcsi_status mcsi_mcs_remove(mcsi_mcs *m, mcsi_path *p, mcsi_mcs_done_cb done, void *arg, char *msg)
{
  mcsi_conn *c = &p->conn;
  unsigned long long id = (unsigned long long)c->id;
  if (p->removing) return mcsi_msg(msg, ISDSC_REMOVE_CONNECTION_IN_PROGRESS, "connection 0x%016llx is being removed", id);
  if (m->s.nconns == 1)
    return mcsi_msg(msg, ISDSC_CANT_REMOVE_LAST_CONNECTION, "the session's only connection: log out instead");
  if (c->leading) return mcsi_msg(msg, ISDSC_CANNOT_REMOVE_LEADING_CONNECTION, "connection 0x%016llx leads the session", id);
  if (!usable(c)) return mcsi_msg(msg, ISDSC_INVALID_CONNECTION_ID, "connection 0x%016llx is %s", id,
                                  mcsi_conn_state_name(c->state));
  p->done = done;
  p->done_arg = arg;
  start_removal(m, p, MCSI_LOGOUT_CONNECTION, DRAIN_MS);
  return ISDSC_SUCCESS;
}

/* ---- load balance policy ------------------------------------------------------------------- */

static mcsi_status check_paths(mcsi_mcs *m, const lb_policy *policy, const mcsi_lb_path *lp, size_t n, char *msg)
{
  int primaries = 0;
  for (size_t i = 0; i < n; i++) {
    if (!mcsi_mcs_find_path(m, lp[i].connection_id))
      return mcsi_msg(msg, ISDSC_INVALID_CONNECTION_ID, "connection 0x%016llx is not in the session",
                      (unsigned long long)lp[i].connection_id);
    for (size_t j = 0; j < i; j++)
      if (lp[j].connection_id == lp[i].connection_id)
        return mcsi_msg(msg, ISDSC_DUPLICATE_PATH_SPECIFIED, "connection 0x%016llx given twice",
                        (unsigned long long)lp[i].connection_id);
    if (policy->weight && (lp[i].weight == 0 || lp[i].weight > 1000000))
      return mcsi_msg(msg, ISDSC_INVALID_PARAMETER, "weights must be 1..1000000");
    primaries += lp[i].primary != 0;
  }
  if (policy->primary && primaries > 1)
    return mcsi_msg(msg, ISDSC_MULTIPLE_PRIMARY_PATHS_SPECIFIED, "%d primary paths given", primaries);
  if (policy->primary && n && !primaries)
    return mcsi_msg(msg, ISDSC_NO_PRIMARY_PATH_SPECIFIED, "fail-over-only needs one primary path");
  return ISDSC_SUCCESS;
}

mcsi_status mcsi_mcs_set_policy(mcsi_mcs *m, int policy, const mcsi_lb_path *lp, size_t n, char *msg)
{
  const lb_policy *row = policy_row(policy);
  if (!row)
    return mcsi_msg(msg, ISDSC_INVALID_LOAD_BALANCE_POLICY, "policy %d is not 1..%d", policy, MCSI_LB_COUNT - 1);
  if (n && !lp) return mcsi_msg(msg, ISDSC_INVALID_PARAMETER, "no path list");
  mcsi_status st = check_paths(m, row, lp, n, msg);
  if (st) return st;
  mcsi_path *p;
  for (size_t i = 0; i < n; i++) {
    p = mcsi_mcs_find_path(m, lp[i].connection_id);
    if (lp[i].weight) p->weight = lp[i].weight;
    p->primary = lp[i].primary != 0;
    p->active = row->active ? lp[i].active != 0 : p->active;
  }
  m->policy = policy;
  row->roles(m, n);
  FOR_PATHS(m, p) p->wrr_current = 0;
  return ISDSC_SUCCESS;
}

mcsi_path *mcsi_mcs_logout_path(mcsi_mcs *m)
{
  mcsi_path *p;
  FOR_PATHS(m, p) if (p->conn.leading && usable(&p->conn)) return p;
  FOR_PATHS(m, p) if (usable(&p->conn)) return p;
  return NULL;
}

/* ---- what the target announces (RFC 7143 11.9.1) ------------------------------------------ */

/* AsyncEvent 1: no new commands on c from now; those in flight get half of
 * Parameter3 (at most DRAIN_MS) to finish, then move to the other
 * connections, and a Logout goes out on c: "close the connection" while
 * others carry the session, "close the session" when it is the last. A
 * session logged out so is reinstated after DefaultTime2Wait when recovery is
 * on (its waiting commands go there), else it fails. */
static void target_logout(mcsi_mcs *m, mcsi_path *p, uint32_t within_ms)
{
  mcsi_session *s = &m->s;
  mcsi_conn *c = &p->conn;
  mcsi_path *o;
  int others = 0;
  if (p->removing || !usable(c) || s->state != MCSI_SESS_ACTIVE) return;   /* a logout is under way */
  FOR_PATHS(m, o) others += o != p && usable(&o->conn);
  p->target_asked = 1;
  if (c->leading && others) {                       /* another one leads from now */
    mcsi_conn_set_leading(c, 0);
    FOR_PATHS(m, o) if (o != p && usable(&o->conn)) { mcsi_conn_set_leading(&o->conn, 1); break; }
  }
  if (!others) {
    uint64_t wait = (uint64_t)(s->params.time2wait > MCSI_TIME2_MAX_S ? MCSI_TIME2_MAX_S : s->params.time2wait) * 1000u;
    if (mcsi_now_ms() + wait > m->hold_until) m->hold_until = mcsi_now_ms() + wait;
  }
  uint64_t drain = within_ms / 2 < DRAIN_MS ? within_ms / 2 : DRAIN_MS;
  start_removal(m, p, others ? MCSI_LOGOUT_CONNECTION : MCSI_LOGOUT_SESSION, drain);
}

/* AsyncEvent 4 answered: a Text Response with keys would open a negotiation
 * in full feature phase, which this initiator does not do: the connection
 * logs out instead (RFC 7143 11.9.1 allows either). */
static void renegotiated(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *d, uint32_t n)
{
  mcsi_conn *c = t->conn;
  (void)st; (void)d;
  if (!h || !c || !n) return;
  mcsi_conn_emit(c, MCSI_EV_ASYNC_MESSAGE, ISDSC_SUCCESS, "the target offered keys to renegotiate: logging out");
  target_logout(mcsi_mcs_of(c->sess), mcsi_path_of(c), DRAIN_MS * 2);
}

static void renegotiate(mcsi_conn *c)
{
  mcsi_task *t = usable(c) && c->sess->state == MCSI_SESS_ACTIVE ? mcsi_text_task_on(c, renegotiated, NULL) : NULL;
  if (t) mcsi_session_submit(c->sess, t);
}

/* AsyncEvent 2 and 3: nothing reconnects and no lost command goes again
 * before Time2Wait. (At ErrorRecoveryLevel 0 commands are re-issued, never
 * reassigned: they go at Time2Wait, within Time2Retain.) */
static void hold(mcsi_mcs *m, const mcsi_async *a)
{
  uint64_t until = mcsi_now_ms() + a->time2wait_ms;
  if (until > m->hold_until) m->hold_until = until;
}

static void hook_async_event(mcsi_conn *c, const mcsi_async *a)
{
  mcsi_mcs *m = mcsi_mcs_of(c->sess);
  mcsi_path *p;
  switch (a->event) {
  case 1: target_logout(m, mcsi_path_of(c), a->logout_within_ms); break;
  case 2:
    hold(m, a);
    mcsi_conn_fail(a->named, ISDSC_CONNECTION_FAILED, "%s", a->message);
    break;
  case 3:
    hold(m, a);
    for (mcsi_conn *victim = c; victim;) {   /* failing one may change the list: look again each time */
      mcsi_conn_fail(victim, ISDSC_CONNECTION_FAILED, "%s", a->message);
      victim = NULL;
      FOR_PATHS(m, p) if (p->conn.state != MCSI_CONN_FAILED && p->conn.state != MCSI_CONN_CLOSED) {
        victim = &p->conn;
        break;
      }
    }
    break;
  case 4: renegotiate(c); break;
  default: break;
  }
}

/* ---- the session's hooks, and the session ------------------------------------------------- */

static void hook_event(mcsi_session *s, const mcsi_event *ev)
{
  mcsi_mcs *m = mcsi_mcs_of(s);
  m->hooks->event(m, ev);
}

static const mcsi_session_hooks mcs_hooks = {
  .pick = hook_pick, .login_finished = hook_login_finished, .conn_lost = hook_conn_lost,
  .conn_closed = hook_conn_closed, .task_ended_on = hook_task_ended_on,
  .probes_answered = hook_probes_answered, .event = hook_event, .release_conn = hook_release_conn,
  .async_event = hook_async_event,
};

mcsi_status mcsi_mcs_init(mcsi_mcs *m, mcsi_loop *loop, const mcsi_mcs_hooks *hooks, mcsi_id id,
                          const char *initiator_name, mcsi_chap_memory *challenges, const mcsi_login_opts *o,
                          int discovery, char *msg)
{
  if (mcsi_session_init(&m->s, loop, &mcs_hooks, id, initiator_name, challenges, o, discovery))
    return mcsi_msg(msg, ISDSC_OUT_OF_RESOURCES, "out of memory");
  m->hooks = hooks;
  m->policy = MCSI_LB_ROUND_ROBIN;
  mcsi_timer_init(&m->probe_timer, probe_timeout);
  mcsi_timer_init(&m->recovery_timer, recovery_fire);
  mcsi_timer_init(&m->hold_timer, hold_over);
  return ISDSC_SUCCESS;
}

mcsi_status mcsi_mcs_start(mcsi_mcs *m, mcsi_loop *loop, const mcsi_mcs_hooks *hooks, mcsi_id id,
                           const char *initiator_name, mcsi_chap_memory *challenges, const mcsi_login_opts *o,
                           int discovery, char *msg)
{
  mcsi_status st = mcsi_mcs_init(m, loop, hooks, id, initiator_name, challenges, o, discovery, msg);
  if (st) return st;
  return new_path(m, &m->s.opts, 1, msg, &st) ? ISDSC_SUCCESS : st;
}

/* Ends the add or removal in progress on p, if any, because the session ended. */
static void end_operation(mcsi_path *p, const char *why)
{
  char msg[MCSI_MSG_MAX];
  if (!p->done) return;
  if (p->removing)   /* what the removal wanted: the connection is closed with its session */
    tell(p, mcsi_msg(msg, ISDSC_SUCCESS, "%s: %s; the connection closed with it", mcsi_conn_portal(&p->conn), why), msg);
  else
    tell(p, mcsi_msg(msg, ISDSC_CONNECTION_FAILED, "%s: %s before this connection logged in", mcsi_conn_portal(&p->conn), why),
         msg);
}

void mcsi_mcs_end_operations(mcsi_mcs *m, const char *why)
{
  mcsi_session *s = &m->s;
  mcsi_link *lists[] = { &s->conns, &s->graveyard };
  for (size_t i = 0; i < 2; i++)
    for (mcsi_link *l = lists[i]->next; l != lists[i];) {
      mcsi_path *p = mcsi_path_of(MCSI_CONTAINER(l, mcsi_conn, link));
      l = l->next;
      end_operation(p, why);
    }
}

void mcsi_mcs_stop_timers(mcsi_mcs *m)
{
  mcsi_timer_stop(m->s.loop, &m->probe_timer);
  mcsi_timer_stop(m->s.loop, &m->recovery_timer);
  mcsi_timer_stop(m->s.loop, &m->hold_timer);
  mcsi_session_stop_timers(&m->s);
}

void mcsi_mcs_destroy(mcsi_mcs *m)
{
  mcsi_mcs_stop_timers(m);
  mcsi_mcs_end_operations(m, "the session was closed");   /* no path is freed with a caller waiting on it */
  mcsi_session_destroy(&m->s);
}
