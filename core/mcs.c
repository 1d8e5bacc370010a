/* mcs.c: several connections in one session (RFC 7143 MC/S): adding and
 * removing connections, choosing one per command by policy, failing over a
 * dead connection's commands (plugging CmdSN holes), and reinstating a
 * session that lost every connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define DRAIN_MS 5000                 /* removal: in-flight commands move after this */
#define BACKOFF_MAX_MS 4000

static int usable(const mcsi_conn *c) { return c->state == MCSI_CONN_ACTIVE; }

#define FOR_CONNS(s, c) \
  for (mcsi_link *l_ = (s)->conns.next; l_ != &(s)->conns && ((c) = MCSI_CONTAINER(l_, mcsi_conn, link)); l_ = l_->next)

/* A usable connection exists (no side effect, unlike mcsi_mcs_pick). */
int mcsi_mcs_has_path(mcsi_session *s)
{
  mcsi_conn *c;
  FOR_CONNS(s, c) if (usable(c)) return 1;
  return 0;
}

mcsi_conn *mcsi_mcs_find_conn(mcsi_session *s, mcsi_id id)
{
  mcsi_conn *c;
  FOR_CONNS(s, c) if (c->id == id) return c;
  return NULL;
}

/* ---- choosing a connection ----------------------------------------------------- */

static mcsi_conn *nth_usable(mcsi_session *s, int want_active, uint32_t n)
{
  mcsi_conn *c;
  uint32_t count = 0, i = 0;
  FOR_CONNS(s, c) if (usable(c) && (!want_active || c->active)) count++;
  if (!count) return NULL;
  n %= count;
  FOR_CONNS(s, c) if (usable(c) && (!want_active || c->active) && i++ == n) return c;
  return NULL;
}

static mcsi_conn *pick_primary(mcsi_session *s)
{
  mcsi_conn *c, *first = NULL;
  FOR_CONNS(s, c) {
    if (!usable(c)) continue;
    if (c->primary) return c;
    if (!first) first = c;
  }
  if (first) {                     /* the primary is gone: the oldest survivor takes over */
    first->primary = 1;
    first->active = 1;
  }
  return first;
}

static mcsi_conn *pick_least_queue(mcsi_session *s)
{
  mcsi_conn *c, *best = NULL;
  FOR_CONNS(s, c) if (usable(c) && (!best || c->queue_depth < best->queue_depth)) best = c;
  return best;
}

/* Smooth weighted round robin: over time each connection gets weight/total. */
static mcsi_conn *pick_weighted(mcsi_session *s)
{
  mcsi_conn *c, *best = NULL;
  int32_t total = 0;
  FOR_CONNS(s, c) {
    if (!usable(c)) continue;
    c->wrr_current += (int32_t)c->weight;
    total += (int32_t)c->weight;
    if (!best || c->wrr_current > best->wrr_current) best = c;
  }
  if (best) best->wrr_current -= total;
  return best;
}

static mcsi_conn *pick_round_robin(mcsi_session *s) { return nth_usable(s, 0, s->rr_next++); }

static mcsi_conn *pick_subset(mcsi_session *s)
{
  mcsi_conn *c = nth_usable(s, 1, s->rr_next++);
  return c ? c : nth_usable(s, 0, s->rr_next);   /* whole active set gone: standbys */
}

static void set_role(mcsi_conn *c, int active, int primary);

/* Roles when a policy is set: one primary, everyone active, or as the paths said. */
static void roles_primary(mcsi_session *s, size_t npaths)
{
  mcsi_conn *c;
  if (!npaths) FOR_CONNS(s, c) c->primary = 0;
  mcsi_conn *p = pick_primary(s);
  FOR_CONNS(s, c) set_role(c, c == p, c == p);
}

static void roles_all_active(mcsi_session *s, size_t npaths)
{
  mcsi_conn *c;
  (void)npaths;
  FOR_CONNS(s, c) set_role(c, 1, 0);
}

static void roles_as_given(mcsi_session *s, size_t npaths)
{
  mcsi_conn *c;
  (void)npaths;
  FOR_CONNS(s, c) set_role(c, c->active, 0);
}

/* One row per policy: its name, how it picks a connection for a command,
 * what the paths it is given carry, and the roles it gives. */
typedef struct lb_policy {
  const char *name;
  mcsi_conn *(*pick)(mcsi_session *s);
  int primary, active, weight;      /* the paths name one primary / active or standby / weights */
  void (*roles)(mcsi_session *s, size_t npaths);
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
static const lb_policy *session_policy(const mcsi_session *s) { return &policies[s->policy]; }

mcsi_conn *mcsi_mcs_pick(mcsi_session *s)
{
  return session_policy(s)->pick(s);
}

/* ---- failover ---------------------------------------------------------------------- */

static void start_recovery(mcsi_session *s, mcsi_status cause);

static void fresh_itt(mcsi_task *t)
{
  if (mcsi_task_new_itt(t)) t->itt = MCSI_RSVD_TAG;   /* out of memory: fails when sent */
}

static void requeue_front(mcsi_session *s, mcsi_task *t, mcsi_link **after)
{
  mcsi_list_del(&t->link);
  t->link.prev = *after;
  t->link.next = (*after)->next;
  (*after)->next->prev = &t->link;
  (*after)->next = &t->link;
  *after = &t->link;
  (void)s;
}

static void probe_done(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *d, uint32_t n);

/* Asks every usable connection for the target's ExpCmdSN (an immediate
 * NOP-Out is answered with it); the answers decide how to re-issue. */
#define PROBE_WAIT_MS 100   /* istgt answers nothing while it waits at a CmdSN hole */

static void reissue_limbo(mcsi_session *s, int may_keep_cmdsn);

/* No answer within PROBE_WAIT_MS: the target is stalled (istgt stops
 * answering anything when a connection dies under it, then drops the
 * session). Re-sending a command with its old ITT and CmdSN into a target
 * in that state can wedge it, so everything goes again as new commands. */
static void probe_timeout(mcsi_timer *tm)
{
  reissue_limbo(MCSI_CONTAINER(tm, mcsi_session, probe_timer), 0);
}

static void send_probes(mcsi_session *s)
{
  mcsi_conn *c;
  if (mcsi_list_empty(&s->limbo)) return;
  if (!mcsi_timer_active(&s->probe_timer)) {
    s->probe_timer.fire = probe_timeout;
    mcsi_timer_start(&s->ini->loop, &s->probe_timer, PROBE_WAIT_MS);
  }
  if (s->probes) return;
  FOR_CONNS(s, c) {
    if (!usable(c)) continue;
    mcsi_task *t = mcsi_task_new(s, MCSI_TASK_NOP);
    if (!t) continue;
    t->immediate = 1;
    t->done = probe_done;
    s->probes++;
    mcsi_session_send(s, c, t);
  }
}

static void probe_done(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *d, uint32_t n)
{
  mcsi_session *s = t->sess;
  (void)st; (void)d; (void)n;
  if (s->probes) s->probes--;
  if (h && !s->probes) mcsi_mcs_probe_answered(s);
}

/* Every probe answered (or PROBE_WAIT_MS passed): s->exp_cmdsn is the
 * target's, as far as it told us. A lost command whose CmdSN the target has
 * not reached goes again with that CmdSN, which plugs the hole; one it had
 * reached (its answer was lost) goes as a new command. */
void mcsi_mcs_probe_answered(mcsi_session *s)
{
  reissue_limbo(s, 1);
}

static void reissue_limbo(mcsi_session *s, int may_keep_cmdsn)
{
  mcsi_timer_stop(&s->ini->loop, &s->probe_timer);
  mcsi_link *after = &s->pending;
  while (!mcsi_list_empty(&s->limbo)) {
    mcsi_task *t = MCSI_CONTAINER(s->limbo.next, mcsi_task, link);
    t->keep_cmdsn = may_keep_cmdsn && !t->immediate && mcsi_sn_le(s->exp_cmdsn, t->cmdsn) &&
                    mcsi_sn_lt(t->cmdsn, s->cmdsn);
    if (!t->keep_cmdsn) fresh_itt(t);
    s->commands_retried++;
    requeue_front(s, t, &after);
  }
  mcsi_session_drain(s);
}

static void fail_control_tasks(mcsi_link *orphans, mcsi_status st)
{
  for (mcsi_link *l = orphans->next; l != orphans;) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    l = l->next;
    if (t->kind != MCSI_TASK_SCSI || t->retries >= MCSI_MAX_RETRIES) mcsi_task_complete(t, st);
    else t->retries++;
  }
}

static void promote_leading(mcsi_session *s)
{
  mcsi_conn *c;
  FOR_CONNS(s, c) if (c->leading) return;
  FOR_CONNS(s, c) if (usable(c) || c->state == MCSI_CONN_LOGOUT) { c->leading = 1; return; }
}

/* Lost commands wait for a path as new commands. */
static void limbo_to_pending(mcsi_session *s, int new_itt)
{
  mcsi_link *after = &s->pending;
  while (!mcsi_list_empty(&s->limbo)) {
    mcsi_task *t = MCSI_CONTAINER(s->limbo.next, mcsi_task, link);
    if (new_itt) fresh_itt(t);
    requeue_front(s, t, &after);
  }
}

/* A connection being drained still finishes (or moves) its commands; when
 * it is gone, the session looks for a path again. */
static int draining(mcsi_session *s)
{
  mcsi_conn *c;
  FOR_CONNS(s, c) if (c->removing && c->state == MCSI_CONN_LOGOUT) return 1;
  return 0;
}

/* No usable connection: wait for one logging in or draining, reinstate, or
 * give up. A session that already gave up fails whatever still reaches it. */
static void no_path_left(mcsi_session *s, mcsi_status cause)
{
  mcsi_conn *c;
  if (s->state == MCSI_SESS_FAILED || s->state == MCSI_SESS_LOGGED_OUT) {
    mcsi_session_fail_tasks(s, &s->limbo, cause);
    mcsi_session_fail_tasks(s, &s->pending, cause);
    return;
  }
  if (s->state == MCSI_SESS_RECOVERING) {
    limbo_to_pending(s, 0);
    return;
  }
  if (s->state != MCSI_SESS_ACTIVE) return;
  FOR_CONNS(s, c) if (c->state == MCSI_CONN_LOGIN || c->state == MCSI_CONN_CONNECTING) return;
  if (draining(s)) {
    limbo_to_pending(s, 1);
    return;
  }
  if (s->opts.recovery_timeout_ms > 0 && !s->discovery) {
    start_recovery(s, cause);
    return;
  }
  s->state = MCSI_SESS_FAILED;
  mcsi_session_fail_tasks(s, &s->limbo, cause);
  mcsi_session_fail_tasks(s, &s->pending, cause);
  mcsi_emit_session(s, MCSI_EV_SESSION_FAILED, cause, "no connection left");
}

/* A connection died (already unlinked); orphans are its unfinished tasks. */
void mcsi_mcs_conn_lost(mcsi_conn *c, mcsi_link *orphans)
{
  mcsi_session *s = c->sess;
  mcsi_status cause = c->fail_status;
  if (c->removing && c->remove_cb) {           /* died while being removed */
    mcsi_status_cb cb = c->remove_cb;
    c->remove_cb = NULL;
    s->ini->in_callback++;
    cb(cause, c->remove_arg);
    s->ini->in_callback--;
  }
  fail_control_tasks(orphans, cause);
  while (!mcsi_list_empty(orphans)) {
    mcsi_link *l = orphans->next;
    mcsi_list_del(l);
    mcsi_list_push(&s->limbo, l);
  }
  if (c->leading) {
    c->leading = 0;
    promote_leading(s);
  }
  if (s->state == MCSI_SESS_LOGGING_OUT) mcsi_session_fail_tasks(s, &s->limbo, cause);
  else if (mcsi_mcs_pick(s)) send_probes(s);
  else no_path_left(s, cause);
}

/* ---- session reinstatement ------------------------------------------------------------ */

static void give_up(mcsi_session *s)
{
  mcsi_status cause = s->recovery_cause ? s->recovery_cause : ISDSC_CONNECTION_FAILED;
  mcsi_fail(s->ini, cause, "session to %s not recovered within %d ms", s->target, s->opts.recovery_timeout_ms);
  s->state = MCSI_SESS_FAILED;
  mcsi_session_fail_tasks(s, &s->limbo, cause);
  mcsi_session_fail_tasks(s, &s->pending, cause);
  mcsi_emit_session(s, MCSI_EV_SESSION_FAILED, cause, "recovery timed out");
}

static void recovery_fire(mcsi_timer *tm)
{
  mcsi_session *s = MCSI_CONTAINER(tm, mcsi_session, recovery_timer);
  mcsi_conn *c;
  if (s->state != MCSI_SESS_RECOVERING) return;
  if (mcsi_now_ms() >= s->recovery_deadline) { give_up(s); return; }
  FOR_CONNS(s, c) if (c->leading) return;      /* an attempt is under way */
  mcsi_login_opts o = s->opts;
  o.portal = s->portals[s->recovery_next++ % s->nportals];
  uint64_t left = s->recovery_deadline - mcsi_now_ms();
  if ((uint64_t)o.login_timeout_ms > left) o.login_timeout_ms = (int)left + 1;
  c = mcsi_conn_new(s, &o);
  if (c) {
    c->leading = 1;
    mcsi_list_push(&s->conns, &c->link);
    s->nconns++;
    mcsi_emit_conn(c, MCSI_EV_CONN_LOGGING_IN, ISDSC_SUCCESS, c->portal);
    if (mcsi_login_start(c, &c->opts) == ISDSC_SUCCESS) return;
    mcsi_session_bury_conn(c);
  }
  mcsi_mcs_reinstated(s, ISDSC_CONNECTION_FAILED);
}

static void start_recovery(mcsi_session *s, mcsi_status cause)
{
  s->state = MCSI_SESS_RECOVERING;
  s->recovery_cause = cause;
  s->recovery_deadline = mcsi_now_ms() + (uint64_t)s->opts.recovery_timeout_ms;
  s->recovery_backoff_ms = 100;
  mcsi_link *after = &s->pending;
  while (!mcsi_list_empty(&s->limbo)) {
    mcsi_task *t = MCSI_CONTAINER(s->limbo.next, mcsi_task, link);
    fresh_itt(t);
    s->commands_retried++;
    requeue_front(s, t, &after);
  }
  mcsi_emit_session(s, MCSI_EV_SESSION_RECOVERING, cause, "every connection failed; reinstating");
  s->recovery_timer.fire = recovery_fire;
  mcsi_timer_start(&s->ini->loop, &s->recovery_timer, 0);
}

/* A reinstatement login ended: go on, or try again after a back-off. */
void mcsi_mcs_reinstated(mcsi_session *s, mcsi_status st)
{
  if (!st) {
    s->state = MCSI_SESS_ACTIVE;
    s->recoveries++;
    mcsi_timer_stop(&s->ini->loop, &s->recovery_timer);
    mcsi_emit_session(s, MCSI_EV_SESSION_RECOVERED, ISDSC_SUCCESS, "session reinstated");
    mcsi_session_renew_waiting(s);
    return;
  }
  uint64_t now = mcsi_now_ms();
  if (now >= s->recovery_deadline) { give_up(s); return; }
  uint64_t wait = s->recovery_backoff_ms;
  if (now + wait > s->recovery_deadline) wait = s->recovery_deadline - now;
  s->recovery_backoff_ms = s->recovery_backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->recovery_backoff_ms * 2;
  mcsi_timer_start(&s->ini->loop, &s->recovery_timer, wait);
}

/* ---- adding a connection --------------------------------------------------------------- */

static void set_role(mcsi_conn *c, int active, int primary)
{
  int was = c->active;
  c->active = active;
  c->primary = primary;
  if (was != active && usable(c))
    mcsi_emit_conn(c, active ? MCSI_EV_CONN_ACTIVE : MCSI_EV_CONN_STANDBY, ISDSC_SUCCESS,
                   active ? "active" : "standby");
}

static void tell_added(mcsi_conn *c, mcsi_status st)
{
  mcsi_op *op = c->login_op;
  if (!op) return;
  c->login_op = NULL;
  op->r.connection_id = st ? 0 : c->id;
  mcsi_op_finish(op, st);
}

void mcsi_mcs_added(mcsi_conn *c, mcsi_status st)
{
  mcsi_session *s = c->sess;
  if (st) {
    if (!mcsi_mcs_pick(s) && !mcsi_list_empty(&s->limbo)) no_path_left(s, st);
    tell_added(c, st);
    return;
  }
  if (session_policy(s)->primary) set_role(c, 0, 0);   /* joins as a standby */
  if (s->state == MCSI_SESS_RECOVERING) mcsi_mcs_reinstated(s, ISDSC_SUCCESS);
  else if (!mcsi_list_empty(&s->limbo)) send_probes(s);
  tell_added(c, st);
}

static mcsi_status check_conn_opts(mcsi_initiator *ini, const mcsi_conn_opts *o)
{
  if (!o || !o->portal || !*o->portal) return mcsi_fail(ini, ISDSC_NO_PORTAL_SPECIFIED, "no portal given");
  if (strlen(o->portal) >= 80) return mcsi_fail(ini, ISDSC_INVALID_HOST, "portal name too long");
  if (o->login_timeout_ms < 0) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "negative login timeout");
  return mcsi_check_chap(ini, &o->chap);
}

mcsi_status mcsi_add_connection_async(mcsi_initiator *ini, mcsi_id sid, const mcsi_conn_opts *o, mcsi_result_cb cb,
                                      void *arg)
{
  mcsi_session *s = NULL;
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_status st = mcsi_session_ready(ini, sid, 0, &s);
  if (!st) st = check_conn_opts(ini, o);
  if (st) return st;
  if (s->nconns >= s->params.max_connections)
    return mcsi_fail(ini, ISDSC_TOO_MANY_CONNECTIONS, "the session has %u connections, MaxConnections=%u was negotiated",
                     s->nconns, s->params.max_connections);
  mcsi_login_opts m = s->opts;
  m.portal = o->portal;
  if (o->chap.secret) m.chap = o->chap;
  if (o->login_timeout_ms) m.login_timeout_ms = o->login_timeout_ms;
  mcsi_op *op = mcsi_op_new(ini, cb, arg);
  mcsi_conn *c = op ? mcsi_conn_new(s, &m) : NULL;
  if (!c) {
    if (op) mcsi_op_drop(op);
    return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  }
  c->weight = o->weight ? o->weight : 1;
  mcsi_list_push(&s->conns, &c->link);
  s->nconns++;
  op->s = s;
  op->conn = c;
  op->r.session_id = s->id;
  c->login_op = op;
  mcsi_emit_conn(c, MCSI_EV_CONN_LOGGING_IN, ISDSC_SUCCESS, c->portal);
  st = mcsi_login_start(c, &c->opts);
  if (st) {
    c->login_op = NULL;
    mcsi_session_bury_conn(c);
    mcsi_op_drop(op);
    return st;
  }
  return mcsi_ok(ini);
}

mcsi_status mcsi_add_connection_to_session(mcsi_initiator *ini, mcsi_id sid, const mcsi_conn_opts *o, mcsi_id *cid)
{
  mcsi_wait w = { 0 };
  if (ini && ini->in_callback) return mcsi_blocking_refused(ini);
  mcsi_status st = mcsi_add_connection_async(ini, sid, o, mcsi_wait_wake, &w);
  if (st) return st;
  st = mcsi_wait_for(ini, &w);
  if (!st && cid) *cid = w.cid;
  return st;
}

/* ---- removing a connection -------------------------------------------------------------- */

static int has_commands(const mcsi_conn *c)
{
  for (const mcsi_link *l = c->tasks.next; l != &c->tasks; l = l->next)
    if (MCSI_CONTAINER(l, mcsi_task, link)->kind == MCSI_TASK_SCSI) return 1;
  return 0;
}

static void finish_removal(mcsi_conn *c, mcsi_status st)
{
  mcsi_session *s = c->sess;
  mcsi_status_cb cb = c->remove_cb;
  c->remove_cb = NULL;
  c->state = MCSI_CONN_CLOSED;
  mcsi_conn_close_socket(c);
  mcsi_emit_conn(c, MCSI_EV_CONN_REMOVED, st, c->portal);
  mcsi_session_bury_conn(c);
  if (cb) {
    s->ini->in_callback++;
    cb(st, c->remove_arg);
    s->ini->in_callback--;
  }
  if (!mcsi_mcs_pick(s) && s->state == MCSI_SESS_ACTIVE && !draining(s))   /* the others failed meanwhile */
    no_path_left(s, ISDSC_CONNECTION_FAILED);
}

static void logout_done(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *d, uint32_t n)
{
  mcsi_conn *c = t->arg;
  (void)d; (void)n;
  if (h) {
    finish_removal(c, mcsi_logout_status(c->sess->ini, h->response, c->cid));
    return;
  }
  /* The Logout ended without its answer. The connection failed (conn_lost
   * reports that), or it still runs (the Logout was rejected): abandon it. */
  if (c->state != MCSI_CONN_FAILED && c->state != MCSI_CONN_CLOSED)
    mcsi_conn_fail(c, st ? st : ISDSC_TARGET_ERROR, "%s: the Logout of CID %u ended unanswered (%s)", c->portal,
                   c->cid, mcsi_status_name(st) ? mcsi_status_name(st) : "?");
  else if (c->state == MCSI_CONN_CLOSED && !c->buried)
    finish_removal(c, st ? st : ISDSC_TARGET_ERROR);
}

static void logout_timeout(mcsi_timer *tm)
{
  mcsi_conn *c = MCSI_CONTAINER(tm, mcsi_conn, drain_timer);
  if (c->state == MCSI_CONN_CLOSED) {   /* closed already, and the removal never ended */
    if (!c->buried)
      finish_removal(c, mcsi_fail(c->sess->ini, ISDSC_SERVICE_DID_NOT_RESPOND, "%s: no Logout Response within %d ms",
                                  c->portal, c->opts.login_timeout_ms));
    return;
  }
  mcsi_conn_fail(c, ISDSC_CONNECTION_FAILED, "%s: no Logout Response within %d ms", c->portal, c->opts.login_timeout_ms);
}

/* Logout reason 1 on the connection itself, with its deadline. */
static void send_logout(mcsi_conn *c)
{
  mcsi_session *s = c->sess;
  mcsi_task *t = mcsi_logout_task(c, MCSI_LOGOUT_CONNECTION, logout_done, c);
  if (!t) { mcsi_conn_fail(c, ISDSC_OUT_OF_RESOURCES, "out of memory"); return; }
  c->drain_timer.fire = logout_timeout;
  mcsi_timer_start(&s->ini->loop, &c->drain_timer, (uint64_t)c->opts.login_timeout_ms);
  mcsi_session_send(s, c, t);
}

static void drain_expired(mcsi_timer *tm);

/* istgt sometimes closes a connection on a Logout without answering it: a
 * clean close after our Logout is the logout we asked for, as if the target
 * had answered "connection or session closed successfully". */
void mcsi_mcs_logout_closed(mcsi_conn *c)
{
  mcsi_pdu_hdr ok = { .opcode = MCSI_OP_LOGOUT_RSP, .flags = MCSI_F_FINAL, .response = 0 };
  mcsi_fail(c->sess->ini, ISDSC_SUCCESS, "%s closed the connection instead of answering the Logout", c->portal);
  c->nop_task = NULL;
  c->state = MCSI_CONN_CLOSED;
  mcsi_conn_close_socket(c);
  while (!mcsi_list_empty(&c->tasks)) {
    mcsi_task *t = MCSI_CONTAINER(c->tasks.next, mcsi_task, link);
    if (t->kind == MCSI_TASK_LOGOUT && t->done) {
      t->done(t, ISDSC_SUCCESS, &ok, NULL, 0);
      t->done = NULL;
      mcsi_task_complete(t, ISDSC_SUCCESS);
    } else {
      mcsi_task_complete(t, ISDSC_CONNECTION_FAILED);
    }
  }
  if (c->removing && !c->buried) finish_removal(c, ISDSC_SUCCESS);   /* its Logout was gone already */
}

/* A command on a draining connection ended: the last one lets the Logout go. */
void mcsi_mcs_task_done_on(mcsi_conn *c)
{
  if (c->drain_timer.fire == drain_expired && mcsi_timer_active(&c->drain_timer) && !has_commands(c)) {
    mcsi_timer_stop(&c->sess->ini->loop, &c->drain_timer);
    send_logout(c);
  }
}

/* Drain deadline: the commands still on the connection move to the others. */
static void drain_expired(mcsi_timer *tm)
{
  mcsi_conn *c = MCSI_CONTAINER(tm, mcsi_conn, drain_timer);
  mcsi_session *s = c->sess;
  mcsi_link *after = &s->pending;
  for (mcsi_link *l = c->tasks.next; l != &c->tasks;) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    l = l->next;
    if (t->kind != MCSI_TASK_SCSI) continue;
    mcsi_conn_detach_task(c, t);
    if (c->queue_depth) c->queue_depth--;
    t->sent = 0;
    t->conn = NULL;
    fresh_itt(t);
    s->commands_retried++;
    requeue_front(s, t, &after);
  }
  send_logout(c);
  mcsi_session_drain(s);
}

mcsi_status mcsi_remove_connection_async(mcsi_initiator *ini, mcsi_id sid, mcsi_id cid, mcsi_status_cb cb, void *arg)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  mcsi_session *s = mcsi_session_find(ini, sid);
  if (!s) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  mcsi_conn *c = mcsi_mcs_find_conn(s, cid);
  if (!c) return mcsi_fail(ini, ISDSC_INVALID_CONNECTION_ID, "connection 0x%016llx is not in session 0x%016llx",
                           (unsigned long long)cid, (unsigned long long)sid);
  if (c->removing) return mcsi_fail(ini, ISDSC_REMOVE_CONNECTION_IN_PROGRESS, "connection 0x%016llx is being removed",
                                    (unsigned long long)cid);
  if (s->nconns == 1) return mcsi_fail(ini, ISDSC_CANT_REMOVE_LAST_CONNECTION, "the session's only connection: log out instead");
  if (c->leading) return mcsi_fail(ini, ISDSC_CANNOT_REMOVE_LEADING_CONNECTION, "connection 0x%016llx leads the session",
                                   (unsigned long long)cid);
  if (!usable(c)) return mcsi_fail(ini, ISDSC_INVALID_CONNECTION_ID, "connection 0x%016llx is %s", (unsigned long long)cid,
                                   mcsi_conn_state_name(c->state));
  c->removing = 1;
  c->remove_cb = cb;
  c->remove_arg = arg;
  c->state = MCSI_CONN_LOGOUT;            /* takes no new commands from here on */
  if (c->primary) c->primary = 0;
  if (!has_commands(c)) {
    send_logout(c);
  } else {
    c->drain_timer.fire = drain_expired;
    mcsi_timer_start(&s->ini->loop, &c->drain_timer, DRAIN_MS);
  }
  return mcsi_ok(ini);
}

typedef struct remove_wait { mcsi_wait w; mcsi_initiator *ini; } remove_wait;

static void removed(mcsi_status st, void *arg)
{
  remove_wait *rw = arg;
  mcsi_result r = { .status = st, .message = st ? mcsi_last_message(rw->ini) : "Success" };
  mcsi_wait_wake(rw->ini, &r, &rw->w);
}

mcsi_status mcsi_remove_connection_from_session(mcsi_initiator *ini, mcsi_id sid, mcsi_id cid)
{
  remove_wait rw = { .ini = ini };
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (ini->in_callback) return mcsi_blocking_refused(ini);
  mcsi_status st = mcsi_remove_connection_async(ini, sid, cid, removed, &rw);
  return st ? st : mcsi_wait_for(ini, &rw.w);
}

/* ---- load balance policy ------------------------------------------------------------------- */

static mcsi_status check_paths(mcsi_session *s, const lb_policy *policy, const mcsi_lb_path *p, size_t n)
{
  mcsi_initiator *ini = s->ini;
  int primaries = 0;
  for (size_t i = 0; i < n; i++) {
    if (!mcsi_mcs_find_conn(s, p[i].connection_id))
      return mcsi_fail(ini, ISDSC_INVALID_CONNECTION_ID, "connection 0x%016llx is not in the session",
                       (unsigned long long)p[i].connection_id);
    for (size_t j = 0; j < i; j++)
      if (p[j].connection_id == p[i].connection_id)
        return mcsi_fail(ini, ISDSC_DUPLICATE_PATH_SPECIFIED, "connection 0x%016llx given twice",
                         (unsigned long long)p[i].connection_id);
    if (policy->weight && (p[i].weight == 0 || p[i].weight > 1000000))
      return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "weights must be 1..1000000");
    primaries += p[i].primary != 0;
  }
  if (policy->primary && primaries > 1)
    return mcsi_fail(ini, ISDSC_MULTIPLE_PRIMARY_PATHS_SPECIFIED, "%d primary paths given", primaries);
  if (policy->primary && n && !primaries)
    return mcsi_fail(ini, ISDSC_NO_PRIMARY_PATH_SPECIFIED, "fail-over-only needs one primary path");
  return ISDSC_SUCCESS;
}

mcsi_status mcsi_set_load_balance_policy(mcsi_initiator *ini, mcsi_id sid, int policy, const mcsi_lb_path *paths, size_t n)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  mcsi_session *s = mcsi_session_find(ini, sid);
  if (!s) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  const lb_policy *row = policy_row(policy);
  if (!row)
    return mcsi_fail(ini, ISDSC_INVALID_LOAD_BALANCE_POLICY, "policy %d is not 1..%d", policy, MCSI_LB_COUNT - 1);
  if (n && !paths) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no path list");
  mcsi_status st = check_paths(s, row, paths, n);
  if (st) return st;
  mcsi_conn *c;
  for (size_t i = 0; i < n; i++) {
    c = mcsi_mcs_find_conn(s, paths[i].connection_id);
    if (paths[i].weight) c->weight = paths[i].weight;
    c->primary = paths[i].primary != 0;
    c->active = row->active ? paths[i].active != 0 : c->active;
  }
  s->policy = policy;
  row->roles(s, n);
  FOR_CONNS(s, c) c->wrr_current = 0;
  return mcsi_ok(ini);
}
