/* session.c: a session and its tasks: ITTs, the session-wide CmdSN window,
 * dispatch of full-feature PDUs, keep-alive NOPs, command timeouts, logout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "chap.h"
#include "internal.h"

#define ITT_TABLE_MIN 256

const char *mcsi_session_state_name(enum mcsi_session_state st)
{
  static const char *const names[] = { "logging-in", "active", "failed", "logging-out", "logged-out",
                                       "recovering" };
  return names[st];
}

static void cmd_timer_fire(mcsi_timer *t);

int mcsi_opts_copy(mcsi_login_opts *dst, const mcsi_login_opts *o)
{
  *dst = *o;
  const char **strs[] = { &dst->portal, &dst->target, &dst->chap.username, &dst->chap.secret,
                          &dst->chap.target_username, &dst->chap.target_secret };
  int bad = 0;
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    if (!*strs[i]) continue;
    *strs[i] = mcsi_strdup0(*strs[i]);
    bad |= !*strs[i];
  }
  if (!dst->login_timeout_ms) dst->login_timeout_ms = 15000;
  if (!dst->command_timeout_ms) dst->command_timeout_ms = 30000;
  if (!dst->nop_interval_ms) dst->nop_interval_ms = 1000;
  if (!dst->nop_timeout_ms) dst->nop_timeout_ms = 1000;
  if (!dst->max_redirects) dst->max_redirects = 4;
  if (!dst->recovery_timeout_ms) dst->recovery_timeout_ms = 30000;
  return bad ? -1 : 0;
}

/* Secrets do not outlive the session in freed memory. */
static void wipe_free(const char *secret)
{
  if (!secret) return;
  OPENSSL_cleanse((void *)(uintptr_t)secret, strlen(secret));
  free((void *)(uintptr_t)secret);
}

void mcsi_opts_free(mcsi_login_opts *o)
{
  free((char *)(uintptr_t)o->portal);
  free((char *)(uintptr_t)o->target);
  free((char *)(uintptr_t)o->chap.username);
  wipe_free(o->chap.secret);
  free((char *)(uintptr_t)o->chap.target_username);
  wipe_free(o->chap.target_secret);
}

mcsi_session *mcsi_session_new(mcsi_initiator *ini, const mcsi_login_opts *o, int discovery)
{
  mcsi_session *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->itt_mask = ITT_TABLE_MIN - 1;
  s->itt_table = calloc(ITT_TABLE_MIN, sizeof *s->itt_table);
  if (!s->itt_table || mcsi_opts_copy(&s->opts, o)) {
    mcsi_opts_free(&s->opts);
    free(s->itt_table);
    free(s);
    return NULL;
  }
  s->ini = ini;
  s->id = mcsi_new_id();
  s->discovery = discovery;
  s->state = MCSI_SESS_LOGGING_IN;
  snprintf(s->target, sizeof s->target, "%s", o->target ? o->target : "");
  /* ISID type 10b (random): B and C random, D a qualifier. */
  s->isid[0] = 0x80;
  mcsi_chap_random(s->isid + 1, 5);
  s->cmdsn = s->exp_cmdsn = 1;
  s->max_cmdsn = 0;                     /* closed until the Login Response opens it */
  mcsi_chap_random(&s->next_itt, sizeof s->next_itt);
  s->next_itt &= 0x7fffffff;
  mcsi_params_from_opts(&s->params, &s->opts);
  s->command_timeout_ms = s->opts.command_timeout_ms;
  mcsi_timer_init(&s->cmd_timer, cmd_timer_fire);
  mcsi_timer_init(&s->recovery_timer, NULL);
  mcsi_timer_init(&s->probe_timer, NULL);
  s->policy = MCSI_LB_ROUND_ROBIN;
  mcsi_list_init(&s->limbo);
  mcsi_list_init(&s->pending);
  mcsi_list_init(&s->conns);
  mcsi_list_init(&s->link);
  mcsi_list_push(&ini->sessions, &s->link);
  return s;
}

void mcsi_session_free(mcsi_session *s)
{
  mcsi_initiator *ini = s->ini;
  if (s->login_op) s->login_op->s = NULL;      /* operations outliving it forget it */
  if (s->logout_op) s->logout_op->s = NULL;
  mcsi_timer_stop(&ini->loop, &s->cmd_timer);
  mcsi_timer_stop(&ini->loop, &s->recovery_timer);
  mcsi_timer_stop(&ini->loop, &s->probe_timer);
  while (!mcsi_list_empty(&s->conns)) {
    mcsi_conn *c = MCSI_CONTAINER(s->conns.next, mcsi_conn, link);
    mcsi_list_del(&c->link);
    mcsi_session_fail_tasks(s, &c->tasks, ISDSC_CONNECTION_FAILED);
    mcsi_conn_free(c);
  }
  mcsi_session_fail_tasks(s, &s->pending, ISDSC_CONNECTION_FAILED);
  mcsi_session_fail_tasks(s, &s->limbo, ISDSC_CONNECTION_FAILED);
  mcsi_list_del(&s->link);
  mcsi_opts_free(&s->opts);
  free(s->itt_table);
  free(s);
}

void mcsi_session_discard(mcsi_session *s)
{
  mcsi_initiator *ini = s->ini;
  mcsi_timer_stop(&ini->loop, &s->cmd_timer);
  mcsi_timer_stop(&ini->loop, &s->recovery_timer);
  mcsi_timer_stop(&ini->loop, &s->probe_timer);
  mcsi_list_del(&s->link);
  mcsi_list_push(&ini->dead, &s->link);
}

mcsi_session *mcsi_session_find(mcsi_initiator *ini, mcsi_id id)
{
  for (mcsi_link *l = ini->sessions.next; l != &ini->sessions; l = l->next) {
    mcsi_session *s = MCSI_CONTAINER(l, mcsi_session, link);
    if (s->id == id) return s;
  }
  return NULL;
}

/* The session sid, if it can take work now: not discovery, not logging out,
 * active (or, with recovering_ok, reinstating itself: work waits for it). */
mcsi_status mcsi_session_ready(mcsi_initiator *ini, mcsi_id sid, int recovering_ok, mcsi_session **out)
{
  mcsi_session *s = mcsi_session_find(ini, sid);
  if (!s) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  if (s->discovery) return mcsi_fail(ini, ISDSC_REQUEST_NOT_SUPPORTED, "not on a discovery session");
  if (s->state == MCSI_SESS_LOGGING_OUT) return mcsi_fail(ini, ISDSC_SESSION_BUSY, "the session is logging out");
  if (s->state != MCSI_SESS_ACTIVE && !(recovering_ok && s->state == MCSI_SESS_RECOVERING))
    return mcsi_fail(ini, ISDSC_NO_CONNECTION_AVAILABLE, "session 0x%016llx has no working connection (%s)",
                     (unsigned long long)sid, mcsi_session_state_name(s->state));
  *out = s;
  return ISDSC_SUCCESS;
}

/* ---- ITTs --------------------------------------------------------------------- */

static int itt_grow(mcsi_session *s)
{
  uint32_t n = (s->itt_mask + 1) * 2;
  mcsi_task **tab = calloc(n, sizeof *tab);
  if (!tab) return -1;
  for (uint32_t i = 0; i <= s->itt_mask; i++) {
    mcsi_task *t = s->itt_table[i];
    if (t) tab[t->itt & (n - 1)] = t;
  }
  free(s->itt_table);
  s->itt_table = tab;
  s->itt_mask = n - 1;
  return 0;
}

/* Picks an ITT whose slot is free: the table stays collision-free. */
static int itt_register(mcsi_session *s, mcsi_task *t)
{
  if (s->ntasks * 2 >= s->itt_mask + 1 && itt_grow(s)) return -1;
  for (;;) {
    uint32_t itt = s->next_itt++;
    if (itt == MCSI_RSVD_TAG) continue;
    if (s->itt_table[itt & s->itt_mask]) continue;
    t->itt = itt;
    s->itt_table[itt & s->itt_mask] = t;
    s->ntasks++;
    return 0;
  }
}

void mcsi_task_unregister(mcsi_task *t)
{
  mcsi_session *s = t->sess;
  if (t->itt != MCSI_RSVD_TAG && s->itt_table[t->itt & s->itt_mask] == t) {
    s->itt_table[t->itt & s->itt_mask] = NULL;
    s->ntasks--;
  }
  t->itt = MCSI_RSVD_TAG;
}

/* A command re-issued as new gets a new ITT: the old one may live on at the target. */
int mcsi_task_new_itt(mcsi_task *t)
{
  mcsi_task_unregister(t);
  return itt_register(t->sess, t);
}

mcsi_task *mcsi_task_lookup(mcsi_session *s, uint32_t itt)
{
  mcsi_task *t = s->itt_table[itt & s->itt_mask];
  return t && t->itt == itt ? t : NULL;
}

mcsi_task *mcsi_task_new(mcsi_session *s, enum mcsi_task_kind kind)
{
  mcsi_task *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->kind = kind;
  t->sess = s;
  t->itt = MCSI_RSVD_TAG;
  mcsi_list_init(&t->link);
  if (itt_register(s, t)) {
    free(t);
    return NULL;
  }
  return t;
}

void mcsi_task_free(mcsi_task *t)
{
  mcsi_task_unregister(t);
  mcsi_list_del(&t->link);
  free(t->text);
  free(t);
}

/* Sends a finished-but-unlucky command again as a new command (a UNIT
 * ATTENTION from a reset or a new I_T nexus after failover). 0 when queued. */
int mcsi_task_retry(mcsi_task *t)
{
  mcsi_session *s = t->sess;
  mcsi_conn *c = t->conn;
  if (t->ua_retries >= MCSI_MAX_RETRIES || t->kind != MCSI_TASK_SCSI) return -1;
  if (c) {
    mcsi_conn_detach_task(c, t);
    if (t->sent && c->queue_depth) c->queue_depth--;
  }
  if (mcsi_task_new_itt(t)) return -1;
  t->ua_retries++;
  t->sent = 0;
  t->conn = NULL;
  s->commands_retried++;
  mcsi_list_del(&t->link);
  mcsi_list_push(&s->pending, &t->link);
  mcsi_session_drain(s);
  return 0;
}

/* Ends a task: nothing refers to it afterwards, then its owner hears of it. */
void mcsi_task_complete(mcsi_task *t, mcsi_status st)
{
  mcsi_initiator *ini = t->sess->ini;
  mcsi_conn *c = t->conn;
  if (c) {
    mcsi_conn_detach_task(c, t);
    if (t->sent && c->queue_depth) c->queue_depth--;
  }
  mcsi_task_unregister(t);
  mcsi_list_del(&t->link);
  ini->in_callback++;
  if (t->cb) t->cb(st, &t->res, t->arg);
  else if (t->done) t->done(t, st, NULL, NULL, 0);
  ini->in_callback--;
  free(t->text);
  free(t);
  if (c && c->removing && c->state == MCSI_CONN_LOGOUT) mcsi_mcs_task_done_on(c);
}

void mcsi_session_fail_tasks(mcsi_session *s, mcsi_link *list, mcsi_status st)
{
  (void)s;
  while (!mcsi_list_empty(list)) mcsi_task_complete(MCSI_CONTAINER(list->next, mcsi_task, link), st);
}

/* ---- Logout: one path for every reason and every response ---------------------------- */

/* An immediate Logout on connection c (tgt and istgt close the connection a
 * Logout arrives on, whatever its CID says): reason 0 ends the session, 1
 * this connection. A clean close after it counts as its answer. */
mcsi_task *mcsi_logout_task(mcsi_conn *c, uint8_t reason,
                            void (*done)(mcsi_task *, mcsi_status, const mcsi_pdu_hdr *, const uint8_t *, uint32_t),
                            void *arg)
{
  mcsi_task *t = mcsi_task_new(c->sess, MCSI_TASK_LOGOUT);
  if (!t) return NULL;
  t->immediate = 1;
  t->logout_reason = reason;
  t->logout_cid = c->cid;
  t->only_conn = c;
  t->done = done;
  t->arg = arg;
  c->logout_sent = 1;
  return t;
}

/* A Logout Response's code as a Status (RFC 7143 11.15.1). */
mcsi_status mcsi_logout_status(mcsi_initiator *ini, uint8_t response, uint16_t cid)
{
  static const char *const why[] = { "closed", "CID not found", "connection recovery not supported",
                                     "cleanup failed" };
  if (!response) return mcsi_ok(ini);
  return mcsi_fail(ini, ISDSC_TARGET_ERROR, "Logout Response 0x%02x for CID %u (%s)", response, cid,
                   response < 4 ? why[response] : "unknown response");
}

/* ---- CmdSN window and sending ------------------------------------------------------- */

static int window_open(const mcsi_session *s) { return mcsi_sn_le(s->cmdsn, s->max_cmdsn); }

/* The command timer is due at the earliest deadline of any command. */
static void arm_cmd_timer(mcsi_session *s, uint64_t deadline)
{
  mcsi_loop *loop = &s->ini->loop;
  if (mcsi_timer_active(&s->cmd_timer) && s->cmd_timer.due <= deadline) return;
  uint64_t now = mcsi_now_ms();
  mcsi_timer_stop(loop, &s->cmd_timer);
  mcsi_timer_start(loop, &s->cmd_timer, deadline > now ? deadline - now : 0);
}

/* Puts a task on the wire on c; a re-sent task keeps its CmdSN. */
void mcsi_session_send(mcsi_session *s, mcsi_conn *c, mcsi_task *t)
{
  t->conn = c;
  if (!t->keep_cmdsn) {
    t->cmdsn = s->cmdsn;
    if (!t->immediate) s->cmdsn++;
  }
  t->keep_cmdsn = 0;
  t->sent = 1;
  t->data_in = 0;
  t->exp_datasn = 0;
  t->r2t_outstanding = 0;
  t->r2t_requested = 0;
  t->text_rx = 0;
  memset(&t->res, 0, sizeof t->res);
  mcsi_list_del(&t->link);
  mcsi_list_push(&c->tasks, &t->link);
  c->queue_depth++;
  switch (t->kind) {
  case MCSI_TASK_SCSI:
    c->stats.commands++;
    mcsi_scsi_send(c, t);
    break;
  default: {
    mcsi_pdu_hdr h = { .immediate = (uint8_t)t->immediate, .itt = t->itt, .cmdsn = t->cmdsn,
                       .expstatsn = c->exp_statsn, .lun = t->lun, .ttt = MCSI_RSVD_TAG };
    if (t->kind == MCSI_TASK_NOP) { h.opcode = MCSI_OP_NOP_OUT; h.flags = MCSI_F_FINAL; }
    else if (t->kind == MCSI_TASK_TMF) {
      h.opcode = MCSI_OP_TMF_REQ;
      h.function = t->tmf_function;
      h.ttt = t->ref_itt;
      h.refcmdsn = t->ref_cmdsn;
    } else if (t->kind == MCSI_TASK_TEXT) { h.opcode = MCSI_OP_TEXT_REQ; h.flags = MCSI_F_FINAL; }
    else { h.opcode = MCSI_OP_LOGOUT_REQ; h.reason = t->logout_reason; h.cid = t->logout_cid; }
    mcsi_conn_queue(c, &h, t->text, t->text_len, NULL, NULL);
    break;
  }
  }
}

void mcsi_session_drain(mcsi_session *s)
{
  while (!mcsi_list_empty(&s->pending)) {
    mcsi_task *t = MCSI_CONTAINER(s->pending.next, mcsi_task, link);
    if (!t->immediate && !window_open(s)) return;
    mcsi_conn *c = t->only_conn ? t->only_conn : mcsi_mcs_pick(s);
    if (!c) return;
    mcsi_session_send(s, c, t);
  }
}

/* Queues a task; it goes out when the window allows and a connection is up.
 * A command's timeout counts from here, whatever it waits for. */
void mcsi_session_submit(mcsi_session *s, mcsi_task *t)
{
  if (t->kind == MCSI_TASK_SCSI) {
    t->deadline = mcsi_now_ms() + (uint64_t)s->command_timeout_ms;
    arm_cmd_timer(s, t->deadline);
  }
  mcsi_list_push(&s->pending, &t->link);
  if (t->immediate || mcsi_list_empty(&s->pending) || s->pending.next == &t->link) mcsi_session_drain(s);
}

/* A leading login's final answer: the (new) session's window is the one it
 * gives, smaller than the old one or not (RFC 7143 4.2.2.1). */
void mcsi_session_reset_window(mcsi_session *s, uint32_t expcmdsn, uint32_t maxcmdsn)
{
  s->exp_cmdsn = expcmdsn;
  s->max_cmdsn = mcsi_sn_lt(maxcmdsn, expcmdsn - 1) ? expcmdsn - 1 : maxcmdsn;
}

void mcsi_session_update_sn(mcsi_session *s, uint32_t expcmdsn, uint32_t maxcmdsn)
{
  /* RFC 7143 4.2.2.1: ignore a window that is not sane */
  if (mcsi_sn_lt(maxcmdsn, expcmdsn - 1)) return;
  if (mcsi_sn_lt(s->exp_cmdsn, expcmdsn)) s->exp_cmdsn = expcmdsn;
  if (mcsi_sn_lt(s->max_cmdsn, maxcmdsn)) {
    s->max_cmdsn = maxcmdsn;
    if (s->state == MCSI_SESS_ACTIVE || s->state == MCSI_SESS_LOGGING_OUT) mcsi_session_drain(s);
  }
}

/* ---- command timeouts ----------------------------------------------------------------- */

/* The earliest deadline of the SCSI commands on list, or 0; *late: one passed. */
static uint64_t earliest_deadline(mcsi_link *list, uint64_t now, int *late)
{
  uint64_t next = 0;
  for (mcsi_link *l = list->next; l != list; l = l->next) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    if (t->kind != MCSI_TASK_SCSI) continue;
    if (t->deadline <= now) *late = 1;
    else if (!next || t->deadline < next) next = t->deadline;
  }
  return next;
}

static uint64_t sooner(uint64_t a, uint64_t b) { return !a ? b : !b ? a : a < b ? a : b; }

/* Commands still waiting (for the CmdSN window, a connection, a probe) past
 * their deadline end here; collected first, as callbacks may queue more. */
static void expire_waiting(mcsi_session *s, mcsi_link *list, uint64_t now)
{
  mcsi_link late;
  mcsi_list_init(&late);
  for (mcsi_link *l = list->next; l != list;) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    l = l->next;
    if (t->kind != MCSI_TASK_SCSI || t->deadline > now) continue;
    mcsi_list_del(&t->link);
    mcsi_list_push(&late, &t->link);
  }
  if (mcsi_list_empty(&late)) return;
  mcsi_fail(s->ini, ISDSC_SERVICE_DID_NOT_RESPOND, "a command was not answered within %d ms of its submission",
            s->command_timeout_ms);
  mcsi_session_fail_tasks(s, &late, ISDSC_SERVICE_DID_NOT_RESPOND);
}

/* A late command on a connection gets one more attempt elsewhere (a stalled
 * path swallows commands: istgt does); its retries are bounded. */
static void renew_late(mcsi_link *list, uint64_t now, uint64_t timeout_ms)
{
  for (mcsi_link *l = list->next; l != list; l = l->next) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    if (t->kind == MCSI_TASK_SCSI && t->deadline <= now) t->deadline = now + timeout_ms;
  }
}

/* The CmdSN window stayed closed past a waiting command's deadline: the
 * target is stuck (at a CmdSN hole, say). The late commands get one more
 * command_timeout_ms each, within their retries, and the connections fail,
 * so that the session is reinstated with a new window, or fails. */
static int window_stalled(mcsi_session *s, uint64_t now)
{
  int late = 0;
  if (s->state != MCSI_SESS_ACTIVE || window_open(s)) return 0;
  earliest_deadline(&s->pending, now, &late);
  return late;
}

static void recover_stalled_window(mcsi_session *s, uint64_t now)
{
  for (mcsi_link *l = s->pending.next; l != &s->pending; l = l->next) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    if (t->kind != MCSI_TASK_SCSI || t->deadline > now || t->retries >= MCSI_MAX_RETRIES) continue;
    t->deadline = now + (uint64_t)s->command_timeout_ms;
    t->retries++;
  }
  for (mcsi_link *l = s->conns.next; l != &s->conns;) {
    mcsi_conn *c = MCSI_CONTAINER(l, mcsi_conn, link);
    l = l->next;
    if (c->state == MCSI_CONN_ACTIVE || c->state == MCSI_CONN_LOGOUT)
      mcsi_conn_fail(c, ISDSC_SERVICE_DID_NOT_RESPOND, "%s: the CmdSN window stayed closed (ExpCmdSN %u, MaxCmdSN %u)"
                     " for %d ms", c->portal, s->exp_cmdsn, s->max_cmdsn, s->command_timeout_ms);
  }
}

/* When a path comes back (a reinstatement, a connection logged in) a command
 * that waited for it gets its full command_timeout_ms from then on: the wait
 * was the login's and the recovery's to bound. */
void mcsi_session_renew_waiting(mcsi_session *s)
{
  uint64_t fresh = mcsi_now_ms() + (uint64_t)s->command_timeout_ms;
  for (mcsi_link *l = s->pending.next; l != &s->pending; l = l->next) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    if (t->kind == MCSI_TASK_SCSI && t->deadline < fresh) t->deadline = fresh;
  }
  if (!mcsi_list_empty(&s->pending)) arm_cmd_timer(s, fresh);
}

/* Each command has command_timeout_ms from its submission, whatever it waits
 * for: a command still waiting (for the CmdSN window, a probe) past its
 * deadline ends with ISDSC_SERVICE_DID_NOT_RESPOND, except while the session
 * has no path (a connection logging in, a reinstatement: their timeouts
 * govern that wait, and the command starts afresh when a path is back). A
 * connection holding a command past its deadline is not trusted any more: it
 * fails and its commands go elsewhere like those of any failed connection,
 * the late ones with a new command_timeout_ms each (at most 5 re-issues); a
 * window that stays closed fails the connections the same way. */
static void cmd_timer_fire(mcsi_timer *tm)
{
  mcsi_session *s = MCSI_CONTAINER(tm, mcsi_session, cmd_timer);
  uint64_t now = mcsi_now_ms(), next = 0;
  for (mcsi_link *l = s->conns.next; l != &s->conns;) {
    mcsi_conn *c = MCSI_CONTAINER(l, mcsi_conn, link);
    int late = 0;
    l = l->next;
    earliest_deadline(&c->tasks, now, &late);
    if (!late) continue;
    renew_late(&c->tasks, now, (uint64_t)s->command_timeout_ms);
    mcsi_conn_fail(c, ISDSC_SERVICE_DID_NOT_RESPOND, "%s: a command got no answer within %d ms",
                   c->portal, s->command_timeout_ms);
    expire_waiting(s, &c->tasks, now);  /* a connection already closing keeps its tasks */
  }
  if (window_stalled(s, now)) recover_stalled_window(s, now);
  if (s->state != MCSI_SESS_RECOVERING && mcsi_mcs_has_path(s)) {   /* waiting for a path: the login and */
    expire_waiting(s, &s->limbo, now);                                /* recovery timeouts govern that */
    expire_waiting(s, &s->pending, now);
  }
  int late = 0;
  next = sooner(earliest_deadline(&s->pending, now, &late), earliest_deadline(&s->limbo, now, &late));
  for (mcsi_link *l = s->conns.next; l != &s->conns; l = l->next)
    next = sooner(next, earliest_deadline(&MCSI_CONTAINER(l, mcsi_conn, link)->tasks, now, &late));
  if (next) arm_cmd_timer(s, next);
}

/* ---- keep-alive ------------------------------------------------------------------------- */

static void nop_done(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *d, uint32_t n)
{
  (void)d; (void)n;
  mcsi_conn *c = t->conn;
  if (!c || c->nop_task != t) return;
  c->nop_task = NULL;
  if (!st && h && c->nop_interval_ms > 0)   /* answered: next ping one interval on */
    mcsi_timer_start(&c->sess->ini->loop, &c->nop_timer, (uint64_t)c->nop_interval_ms);
}

static void nop_fire(mcsi_timer *tm)
{
  mcsi_conn *c = MCSI_CONTAINER(tm, mcsi_conn, nop_timer);
  mcsi_session *s = c->sess;
  if (c->state != MCSI_CONN_ACTIVE && c->state != MCSI_CONN_LOGOUT) return;
  if (c->nop_task) {
    mcsi_conn_fail(c, ISDSC_CONNECTION_FAILED, "%s: no NOP-In within %d ms", c->portal, c->nop_timeout_ms);
    return;
  }
  uint64_t idle = mcsi_now_ms() - c->last_rx;
  if (idle < (uint64_t)c->nop_interval_ms) {
    mcsi_timer_start(&s->ini->loop, tm, (uint64_t)c->nop_interval_ms - idle);
    return;
  }
  mcsi_task *t = mcsi_task_new(s, MCSI_TASK_NOP);
  if (!t) { mcsi_timer_start(&s->ini->loop, tm, (uint64_t)c->nop_interval_ms); return; }
  t->immediate = 1;
  t->done = nop_done;
  c->nop_task = t;
  mcsi_session_send(s, c, t);
  mcsi_timer_start(&s->ini->loop, tm, (uint64_t)c->nop_timeout_ms);
}

void mcsi_conn_start_nop(mcsi_conn *c)
{
  mcsi_login_opts *o = &c->sess->opts;
  c->nop_interval_ms = o->nop_interval_ms;
  c->nop_timeout_ms = o->nop_timeout_ms;
  c->last_rx = mcsi_now_ms();
  c->nop_timer.fire = nop_fire;
  if (c->nop_interval_ms > 0) mcsi_timer_start(&c->sess->ini->loop, &c->nop_timer, (uint64_t)c->nop_interval_ms);
}

static void answer_target_nop(mcsi_conn *c, const mcsi_pdu_hdr *h)
{
  mcsi_pdu_hdr r = { .opcode = MCSI_OP_NOP_OUT, .immediate = 1, .flags = MCSI_F_FINAL, .lun = h->lun,
                     .itt = MCSI_RSVD_TAG, .ttt = h->ttt, .cmdsn = c->sess->cmdsn,
                     .expstatsn = c->exp_statsn };
  mcsi_conn_queue(c, &r, NULL, 0, NULL, NULL);
}

/* ---- receiving in full feature phase --------------------------------------------------- */

static int carries_statsn(const mcsi_pdu_hdr *h)
{
  switch (h->opcode) {
  case MCSI_OP_DATA_IN: return (h->flags & MCSI_F_STATUS) != 0;
  case MCSI_OP_NOP_IN: return h->itt != MCSI_RSVD_TAG;
  case MCSI_OP_R2T: return 0;
  default: return 1;
  }
}

static void rx_reject(mcsi_conn *c, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen)
{
  mcsi_pdu_hdr rej;
  memset(&rej, 0, sizeof rej);
  rej.itt = MCSI_RSVD_TAG;
  if (dlen >= MCSI_BHS_LEN) mcsi_pdu_decode(data, &rej);   /* the rejected header, best effort */
  const char *what = dlen >= MCSI_BHS_LEN && mcsi_opcode_name(rej.opcode) ? mcsi_opcode_name(rej.opcode) : "PDU";
  mcsi_task *t = rej.itt != MCSI_RSVD_TAG ? mcsi_task_lookup(c->sess, rej.itt) : NULL;
  c->stats.format_errors++;
  mcsi_fail(c->sess->ini, ISDSC_TARGET_ERROR, "%s rejected our %s (reason 0x%02x)", c->portal, what, h->reason);
  if (t && t->conn == c) mcsi_task_complete(t, ISDSC_TARGET_ERROR);
}

static void rx_async(mcsi_conn *c, const mcsi_pdu_hdr *h)
{
  char why[96];
  snprintf(why, sizeof why, "async event %u (vcode %u)", h->async_event, h->async_vcode);
  mcsi_emit_conn(c, MCSI_EV_ASYNC_MESSAGE, ISDSC_SUCCESS, why);
  if (h->async_event == 2 || h->async_event == 3)
    mcsi_conn_fail(c, ISDSC_CONNECTION_FAILED, "%s: target dropped the connection (%s)", c->portal, why);
}

static mcsi_task *own_task(mcsi_conn *c, const mcsi_pdu_hdr *h, enum mcsi_task_kind kind)
{
  mcsi_task *t = mcsi_task_lookup(c->sess, h->itt);
  if (t && t->kind == kind && t->conn == c && t->sent) return t;
  if (c->state == MCSI_CONN_LOGOUT) return NULL;  /* a command moved off a draining connection */
  c->stats.format_errors++;
  mcsi_conn_fail(c, ISDSC_TRANSPORT_ERROR, "%s sent a %s for unknown ITT 0x%08x", c->portal,
                 mcsi_opcode_name(h->opcode), h->itt);
  return NULL;
}

/* A Text Response with F clear: ask for the rest with the same ITT. */
static void continue_text(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h)
{
  mcsi_session *s = c->sess;
  mcsi_pdu_hdr r = { .opcode = MCSI_OP_TEXT_REQ, .flags = MCSI_F_FINAL, .itt = t->itt, .ttt = h->ttt,
                     .cmdsn = s->cmdsn++, .expstatsn = c->exp_statsn };
  t->deadline = mcsi_now_ms() + (uint64_t)s->command_timeout_ms;
  mcsi_conn_queue(c, &r, NULL, 0, NULL, NULL);
}

static void rx_control_rsp(mcsi_conn *c, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen,
                           enum mcsi_task_kind kind)
{
  mcsi_task *t = own_task(c, h, kind);
  if (!t) return;
  if (kind == MCSI_TASK_TEXT && dlen > MCSI_TEXT_RSP_MAX - t->text_rx) {   /* C bit set forever */
    mcsi_fail(c->sess->ini, ISDSC_OUT_OF_RESOURCES, "%s: Text Response longer than %u bytes", c->portal,
              MCSI_TEXT_RSP_MAX);
    mcsi_task_complete(t, ISDSC_OUT_OF_RESOURCES);
    return;
  }
  t->text_rx += dlen;
  if (t->done) t->done(t, ISDSC_SUCCESS, h, data, dlen);
  if (kind == MCSI_TASK_TEXT && !(h->flags & MCSI_F_FINAL)) {
    continue_text(c, t, h);
    return;
  }
  if (kind == MCSI_TASK_LOGOUT) {      /* the target closes it now; that is no failure */
    c->state = MCSI_CONN_CLOSED;
    mcsi_conn_close_socket(c);
  }
  t->done = NULL;
  t->cb = NULL;
  mcsi_task_complete(t, ISDSC_SUCCESS);
}

void mcsi_session_rx(mcsi_conn *c, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen)
{
  mcsi_session *s = c->sess;
  if (carries_statsn(h) && mcsi_sn_le(c->exp_statsn, h->statsn)) c->exp_statsn = h->statsn + 1;
  mcsi_session_update_sn(s, h->expcmdsn, h->maxcmdsn);
  mcsi_task *t;
  switch (h->opcode) {
  case MCSI_OP_NOP_IN:
    if (h->itt != MCSI_RSVD_TAG) rx_control_rsp(c, h, data, dlen, MCSI_TASK_NOP);
    if (h->ttt != MCSI_RSVD_TAG && c->fd >= 0) answer_target_nop(c, h);
    break;
  case MCSI_OP_SCSI_RSP:
    if ((t = own_task(c, h, MCSI_TASK_SCSI))) mcsi_scsi_rx_response(c, t, h, data, dlen);
    break;
  case MCSI_OP_DATA_IN:
    mcsi_scsi_rx_data_in_done(c, c->rxtask, h);
    break;
  case MCSI_OP_R2T:
    if ((t = own_task(c, h, MCSI_TASK_SCSI))) mcsi_scsi_rx_r2t(c, t, h);
    break;
  case MCSI_OP_TMF_RSP: rx_control_rsp(c, h, data, dlen, MCSI_TASK_TMF); break;
  case MCSI_OP_TEXT_RSP: rx_control_rsp(c, h, data, dlen, MCSI_TASK_TEXT); break;
  case MCSI_OP_LOGOUT_RSP: rx_control_rsp(c, h, data, dlen, MCSI_TASK_LOGOUT); break;
  case MCSI_OP_REJECT: rx_reject(c, h, data, dlen); break;
  case MCSI_OP_ASYNC: rx_async(c, h); break;
  default:
    c->stats.format_errors++;
    mcsi_conn_fail(c, ISDSC_TRANSPORT_ERROR, "%s sent a %s in full feature phase", c->portal,
                   mcsi_opcode_name(h->opcode));
  }
}

/* ---- connection and login outcomes --------------------------------------------------------- */

/* Counts a connection out of its session: once, whatever reports its end. */
void mcsi_session_bury_conn(mcsi_conn *c)
{
  if (c->buried) return;
  c->buried = 1;
  mcsi_timer_stop(&c->sess->ini->loop, &c->drain_timer);
  mcsi_list_del(&c->link);
  mcsi_list_push(&c->sess->ini->graveyard, &c->link);
  c->sess->nconns--;
}

void mcsi_session_remember_portal(mcsi_session *s, const char *portal)
{
  for (unsigned i = 0; i < s->nportals; i++)
    if (!strcmp(s->portals[i], portal)) return;
  snprintf(s->portals[s->nportals % 8], sizeof s->portals[0], "%s", portal);
  if (s->nportals < 8) s->nportals++;
}

/* A connection in full feature phase failed: its commands go elsewhere. */
void mcsi_session_conn_failed(mcsi_conn *c)
{
  mcsi_session *s = c->sess;
  mcsi_link orphans;
  mcsi_list_init(&orphans);
  while (!mcsi_list_empty(&c->tasks)) {
    mcsi_link *l = c->tasks.next;
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    if (t->sent && c->queue_depth) c->queue_depth--;
    t->sent = 0;
    t->conn = NULL;
    mcsi_list_del(l);
    mcsi_list_push(&orphans, l);
  }
  c->nop_task = NULL;
  mcsi_emit_conn(c, MCSI_EV_CONN_FAILED, c->fail_status, mcsi_last_message(s->ini));
  mcsi_session_bury_conn(c);
  mcsi_emit_conn(c, MCSI_EV_CONN_REMOVED, c->fail_status, "closed and removed after failing");
  mcsi_mcs_conn_lost(c, &orphans);
}

void mcsi_session_login_finished(mcsi_conn *c, mcsi_status st)
{
  mcsi_session *s = c->sess;
  if (st) {
    mcsi_emit_conn(c, MCSI_EV_CONN_FAILED, st, mcsi_last_message(s->ini));
    mcsi_session_bury_conn(c);
  } else {
    int had_path = mcsi_mcs_has_path(s);
    c->state = MCSI_CONN_ACTIVE;
    if (!had_path) mcsi_session_renew_waiting(s);
    mcsi_session_remember_portal(s, c->portal);
    mcsi_conn_start_nop(c);
    mcsi_emit_conn(c, MCSI_EV_CONN_ACTIVE, ISDSC_SUCCESS, c->portal);
  }
  int leading_login = s->state == MCSI_SESS_LOGGING_IN;
  if (leading_login) {
    if (!st) {
      s->state = MCSI_SESS_ACTIVE;
      mcsi_emit_session(s, MCSI_EV_SESSION_ACTIVE, ISDSC_SUCCESS, s->target);
    }
  } else if (c->leading && s->state == MCSI_SESS_RECOVERING) {
    mcsi_mcs_reinstated(s, st);
  } else {
    mcsi_mcs_added(c, st);
  }
  if (!st) mcsi_session_drain(s);
  if (leading_login) mcsi_session_login_done(s, st);   /* last: its callback may do anything */
}
