/* initiator.c: the initiator object, its loop, events, messages, and the
 * blocking session operations (login, logout, discovery, task management,
 * information) built on the asynchronous machinery. */
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

/* ---- messages ------------------------------------------------------------------ */

mcsi_status mcsi_failv(mcsi_initiator *ini, mcsi_status st, const char *fmt, va_list ap)
{
  if (ini) vsnprintf(ini->message, sizeof ini->message, fmt, ap);
  return st;
}

mcsi_status mcsi_fail(mcsi_initiator *ini, mcsi_status st, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  mcsi_failv(ini, st, fmt, ap);
  va_end(ap);
  return st;
}

mcsi_status mcsi_ok(mcsi_initiator *ini)
{
  ini->message[0] = 0;
  return ISDSC_SUCCESS;
}

const char *mcsi_last_message(const mcsi_initiator *ini)
{
  if (!ini) return "no initiator";
  return ini->message[0] ? ini->message : "Success";
}

mcsi_id mcsi_new_id(void)
{
  static _Atomic mcsi_id last;          /* shared by every initiator of the process */
  return ++last;
}

char *mcsi_strdup0(const char *s)
{
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* ---- iSCSI names (RFC 7143 4.2.7) --------------------------------------------------- */

static int valid_iscsi_name(const char *n)
{
  size_t len = n ? strlen(n) : 0;
  if (len < 5 || len > 223) return 0;
  if (strncmp(n, "iqn.", 4) && strncmp(n, "eui.", 4) && strncmp(n, "naa.", 4)) return 0;
  for (const char *p = n; *p; p++)
    if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || strchr(".-:", *p))) return 0;
  return 1;
}

/* ---- the initiator ------------------------------------------------------------------ */

mcsi_initiator *mcsi_initiator_new(const char *iqn)
{
  char host[64] = "localhost";
  mcsi_initiator *ini = calloc(1, sizeof *ini);
  if (!ini) return NULL;
  if (iqn) {
    if (!valid_iscsi_name(iqn)) { free(ini); return NULL; }
    snprintf(ini->name, sizeof ini->name, "%s", iqn);
  } else {
    gethostname(host, sizeof host - 1);
    for (char *p = host; *p; p++) *p = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '-';
    snprintf(ini->name, sizeof ini->name, "iqn.2026-11.org.mcsi:%s", host);
  }
  if (mcsi_loop_init(&ini->loop)) { free(ini); return NULL; }
  mcsi_list_init(&ini->sessions);
  mcsi_list_init(&ini->dirty);
  mcsi_list_init(&ini->graveyard);
  mcsi_list_init(&ini->dead);
  mcsi_list_init(&ini->ops);
  mcsi_list_init(&ini->host_timers);
  mcsi_list_init(&ini->host_watches);
  mcsi_list_init(&ini->dead_watches);
  return ini;
}

static void free_graveyard(mcsi_initiator *ini)
{
  while (!mcsi_list_empty(&ini->graveyard)) {
    mcsi_conn *c = MCSI_CONTAINER(ini->graveyard.next, mcsi_conn, link);
    mcsi_list_del(&c->link);
    mcsi_conn_free(c);
  }
}

/* Frees the connections and sessions that ended, outside callbacks. */
void mcsi_reap(mcsi_initiator *ini)
{
  if (ini->in_callback) return;
  free_graveyard(ini);
  while (!mcsi_list_empty(&ini->dead)) {
    free_graveyard(ini);
    mcsi_session_free(MCSI_CONTAINER(ini->dead.next, mcsi_session, link));
  }
  free_graveyard(ini);
}

void mcsi_initiator_free(mcsi_initiator *ini)
{
  if (!ini) return;
  mcsi_events_free(ini);
  mcsi_ops_free(ini);
  free_graveyard(ini);
  while (!mcsi_list_empty(&ini->sessions)) mcsi_session_discard(MCSI_CONTAINER(ini->sessions.next, mcsi_session, link));
  ini->in_callback = 0;
  mcsi_reap(ini);
  mcsi_ops_free(ini);
  mcsi_host_free(ini);
  mcsi_loop_close(&ini->loop);
  free(ini);
}

const char *mcsi_initiator_name(const mcsi_initiator *ini) { return ini ? ini->name : NULL; }

/* ---- the loop ----------------------------------------------------------------------------- */

void mcsi_mark_dirty(mcsi_conn *c)
{
  if (mcsi_list_empty(&c->dirty)) mcsi_list_push(&c->sess->ini->dirty, &c->dirty);
}

void mcsi_flush_dirty(mcsi_initiator *ini)
{
  while (!mcsi_list_empty(&ini->dirty)) mcsi_conn_flush(MCSI_CONTAINER(ini->dirty.next, mcsi_conn, dirty));
}

int mcsi_fd(const mcsi_initiator *ini) { return ini ? ini->loop.epfd : -1; }

int mcsi_next_timeout_ms(const mcsi_initiator *ini)
{
  if (!ini) return -1;
  return mcsi_list_empty(&ini->dirty) ? mcsi_loop_next_timeout(&ini->loop) : 0;
}

int mcsi_process(mcsi_initiator *ini, int timeout_ms)
{
  if (!ini) return -1;
  mcsi_flush_dirty(ini);
  int n = mcsi_loop_poll(&ini->loop, timeout_ms);
  mcsi_host_reap(ini);
  mcsi_flush_dirty(ini);
  mcsi_reap(ini);
  return n;
}

int mcsi_run_until(mcsi_initiator *ini, const int *flag, uint64_t deadline)
{
  while (!*flag) {
    int timeout = -1;
    if (deadline) {
      uint64_t now = mcsi_now_ms();
      if (now >= deadline) return -1;
      timeout = (int)(deadline - now);
    }
    if (mcsi_process(ini, timeout) < 0) return -1;
  }
  return 0;
}

/* ---- login ------------------------------------------------------------------------------- */

/* CHAP settings of a login or an added connection. */
mcsi_status mcsi_check_chap(mcsi_initiator *ini, const mcsi_chap *ch)
{
  if ((ch->target_secret || ch->target_username) && !ch->secret)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "mutual CHAP needs our own CHAP secret too");
  if ((ch->secret && !*ch->secret) || (ch->target_secret && !*ch->target_secret))
    return mcsi_fail(ini, ISDSC_INVALID_CHAP_SECRET, "empty CHAP secret");
  if ((ch->secret && strlen(ch->secret) > 255) || (ch->target_secret && strlen(ch->target_secret) > 255))
    return mcsi_fail(ini, ISDSC_INVALID_CHAP_SECRET, "CHAP secret longer than 255 bytes");
  if ((ch->username && strlen(ch->username) > 255) || (ch->target_username && strlen(ch->target_username) > 255))
    return mcsi_fail(ini, ISDSC_INVALID_CHAP_USER_NAME, "CHAP name longer than 255 bytes");
  return ISDSC_SUCCESS;
}

static mcsi_status check_opts(mcsi_initiator *ini, const mcsi_login_opts *o, int discovery)
{
  if (!o) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no login options");
  if (!o->portal || !*o->portal) return mcsi_fail(ini, ISDSC_NO_PORTAL_SPECIFIED, "no portal given");
  if (strlen(o->portal) >= 80) return mcsi_fail(ini, ISDSC_INVALID_HOST, "portal name too long");
  if (!discovery && !valid_iscsi_name(o->target))
    return mcsi_fail(ini, ISDSC_INVALID_ISCSI_NAME, "'%.64s' is not a valid iSCSI target name",
                     o->target ? o->target : "(none)");
  mcsi_status st = mcsi_check_chap(ini, &o->chap);
  if (st) return st;
  if ((unsigned)o->header_digest > 1 || (unsigned)o->data_digest > 1)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "digest must be MCSI_DIGEST_NONE or MCSI_DIGEST_CRC32C");
  if (o->login_timeout_ms < 0 || o->command_timeout_ms < 0 || o->nop_timeout_ms < 0 || o->max_redirects < 0)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "negative timeout or redirect limit");
  if ((o->nop_interval_ms > 0 && o->nop_interval_ms < 100) || (o->nop_timeout_ms > 0 && o->nop_timeout_ms < 100))
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "NOP interval and timeout must be at least 100 ms");
  if ((unsigned)o->initial_r2t > 2 || (unsigned)o->immediate_data > 2)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "initial_r2t/immediate_data must be MCSI_DEFAULT, MCSI_YES or MCSI_NO");
  if (o->max_recv_data_segment_length && (o->max_recv_data_segment_length < 512 || o->max_recv_data_segment_length > 16777215))
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "MaxRecvDataSegmentLength must be 512..16777215");
  if ((o->max_burst_length && o->max_burst_length < 512) || o->max_burst_length > 16777215 ||
      (o->first_burst_length && o->first_burst_length < 512) || o->first_burst_length > 16777215)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "burst lengths must be 512..16777215");
  if (o->max_connections > 65535 || o->max_outstanding_r2t > 65535 || o->default_time2wait > 3600 ||
      o->default_time2retain > 3600)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "a numeric login key is out of its range");
  return ISDSC_SUCCESS;
}

/* ---- login ----------------------------------------------------------------------------------- */

/* Makes a session and starts the login of its leading connection; op hears
 * the outcome (mcsi_session_login_done). */
static mcsi_status start_login(mcsi_initiator *ini, const mcsi_login_opts *o, int discovery, mcsi_op *op)
{
  mcsi_status st = check_opts(ini, o, discovery);
  if (st) return st;
  mcsi_session *s = mcsi_session_new(ini, o, discovery);
  mcsi_conn *c = s ? mcsi_conn_new(s, &s->opts) : NULL;
  if (!c) {
    if (s) mcsi_session_free(s);
    return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  }
  c->leading = 1;
  mcsi_list_push(&s->conns, &c->link);
  s->nconns++;
  s->login_op = op;
  op->s = s;
  mcsi_emit_conn(c, MCSI_EV_CONN_LOGGING_IN, ISDSC_SUCCESS, c->portal);
  st = mcsi_login_start(c, &c->opts);
  if (st) {
    s->login_op = NULL;
    op->s = NULL;
    mcsi_session_free(s);
  }
  return st;
}

/* The leading login ended: a session that did not come up is gone. */
void mcsi_session_login_done(mcsi_session *s, mcsi_status st)
{
  mcsi_op *op = s->login_op;
  if (!op) return;
  s->login_op = NULL;
  if (st) {
    mcsi_session_discard(s);
  } else {
    op->r.session_id = s->id;
    op->r.connection_id = MCSI_CONTAINER(s->conns.next, mcsi_conn, link)->id;
  }
  mcsi_op_finish(op, st);
}

static mcsi_status login_async(mcsi_initiator *ini, const mcsi_login_opts *o, int discovery, mcsi_result_cb cb,
                               void *arg)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_op *op = mcsi_op_new(ini, cb, arg);
  if (!op) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  mcsi_status st = start_login(ini, o, discovery, op);
  if (st) {
    mcsi_op_drop(op);
    return st;
  }
  return mcsi_ok(ini);
}

mcsi_status mcsi_login_to_target_async(mcsi_initiator *ini, const mcsi_login_opts *o, mcsi_result_cb cb, void *arg)
{
  return login_async(ini, o, 0, cb, arg);
}

mcsi_status mcsi_login_to_target(mcsi_initiator *ini, const mcsi_login_opts *o, mcsi_id *sid, mcsi_id *cid)
{
  mcsi_wait w = { 0 };
  if (ini && ini->in_callback) return mcsi_blocking_refused(ini);
  mcsi_status st = mcsi_login_to_target_async(ini, o, mcsi_wait_wake, &w);
  if (st) return st;
  st = mcsi_wait_for(ini, &w);
  if (!st && sid) *sid = w.sid;
  if (!st && cid) *cid = w.cid;
  return st;
}

/* ---- logout: commands finish, the other connections are removed, then a
 * Logout (reason 0) on the leading one; the session ends either way. ---- */

enum { LOGOUT_IDLE, LOGOUT_OTHERS, LOGOUT_SENT };
#define LOGOUT_POLL_MS 20

static void close_all(mcsi_session *s)
{
  for (mcsi_link *l = s->conns.next; l != &s->conns; l = l->next) {
    mcsi_conn *c = MCSI_CONTAINER(l, mcsi_conn, link);
    c->state = MCSI_CONN_CLOSED;
    mcsi_conn_close_socket(c);
  }
}

static mcsi_conn *leading_conn(mcsi_session *s)
{
  for (mcsi_link *l = s->conns.next; l != &s->conns; l = l->next) {
    mcsi_conn *c = MCSI_CONTAINER(l, mcsi_conn, link);
    if (c->leading && c->state == MCSI_CONN_ACTIVE) return c;
  }
  for (mcsi_link *l = s->conns.next; l != &s->conns; l = l->next) {
    mcsi_conn *c = MCSI_CONTAINER(l, mcsi_conn, link);
    if (c->state == MCSI_CONN_ACTIVE) return c;
  }
  return NULL;
}

static void logout_end(mcsi_op *op, mcsi_status st)
{
  mcsi_session *s = op->s;
  mcsi_timer_stop(&s->ini->loop, &op->timer);
  s->logout_op = NULL;
  close_all(s);
  s->state = MCSI_SESS_LOGGED_OUT;
  mcsi_emit_session(s, MCSI_EV_SESSION_LOGGED_OUT, st, s->target);
  op->r.session_id = s->id;
  mcsi_session_discard(s);
  mcsi_op_finish(op, st);
}

static void logout_answered(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *d, uint32_t n)
{
  mcsi_op *op = t->arg;
  mcsi_initiator *ini = op->ini;
  (void)d; (void)n;
  op->task = NULL;
  if (!h) {
    logout_end(op, st);
    return;
  }
  logout_end(op, mcsi_logout_status(ini, h->response, t->logout_cid));
}

static void logout_step(mcsi_timer *tm);

static void logout_send(mcsi_op *op)
{
  mcsi_session *s = op->s;
  mcsi_initiator *ini = s->ini;
  mcsi_conn *c = leading_conn(s);
  mcsi_task *t = c ? mcsi_logout_task(c, MCSI_LOGOUT_SESSION, logout_answered, op) : NULL;
  if (!t) {
    logout_end(op, mcsi_fail(ini, c ? ISDSC_OUT_OF_RESOURCES : ISDSC_NO_CONNECTION_AVAILABLE,
                             "no connection to log out on"));
    return;
  }
  op->step = LOGOUT_SENT;
  op->task = t;
  mcsi_timer_start(&ini->loop, &op->timer, (uint64_t)s->opts.login_timeout_ms);
  mcsi_session_submit(s, t);
}

static void other_removed(mcsi_status st, void *arg)
{
  mcsi_op *op = arg;
  (void)st;
  if (op->pending && --op->pending == 0) mcsi_timer_start(&op->ini->loop, &op->timer, 0);
}

/* Every connection but the leading one is removed, each with its own Logout. */
static void remove_others(mcsi_op *op)
{
  mcsi_session *s = op->s;
  mcsi_conn *lead = leading_conn(s);
  op->step = LOGOUT_OTHERS;
  op->pending = 1;                      /* held while removals start */
  for (mcsi_link *l = s->conns.next; l != &s->conns;) {
    mcsi_conn *c = MCSI_CONTAINER(l, mcsi_conn, link);
    l = l->next;
    if (c == lead || c->state != MCSI_CONN_ACTIVE) continue;
    if (mcsi_remove_connection_async(s->ini, s->id, c->id, other_removed, op) == ISDSC_SUCCESS) op->pending++;
  }
  other_removed(ISDSC_SUCCESS, op);
}

static void logout_step(mcsi_timer *tm)
{
  mcsi_op *op = MCSI_CONTAINER(tm, mcsi_op, timer);
  mcsi_session *s = op->s;
  switch (op->step) {
  case LOGOUT_IDLE:                     /* the commands in flight end first, within their timeout */
    if (s->ntasks && mcsi_now_ms() < op->tag) {
      mcsi_timer_start(&s->ini->loop, tm, LOGOUT_POLL_MS);
      return;
    }
    remove_others(op);
    return;
  case LOGOUT_OTHERS:
    logout_send(op);
    return;
  default:                              /* no Logout Response in time */
    if (op->task) mcsi_task_complete(op->task, mcsi_fail(s->ini, ISDSC_SERVICE_DID_NOT_RESPOND,
                                                          "no Logout Response within %d ms", s->opts.login_timeout_ms));
    return;
  }
}

mcsi_status mcsi_logout_from_target_async(mcsi_initiator *ini, mcsi_id sid, mcsi_result_cb cb, void *arg)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_session *s = mcsi_session_find(ini, sid);
  if (!s) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  if (s->state == MCSI_SESS_LOGGING_OUT || s->logout_op) return mcsi_fail(ini, ISDSC_SESSION_BUSY, "already logging out");
  if (s->state == MCSI_SESS_LOGGING_IN) return mcsi_fail(ini, ISDSC_SESSION_BUSY, "the session is still logging in");
  mcsi_op *op = mcsi_op_new(ini, cb, arg);
  if (!op) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  op->s = s;
  op->r.session_id = sid;
  s->logout_op = op;
  if (s->state != MCSI_SESS_ACTIVE) {   /* failed or recovering: nothing to say a Logout on */
    close_all(s);
    s->state = MCSI_SESS_LOGGED_OUT;
    mcsi_fail(ini, ISDSC_SUCCESS, "session had no working connection; removed without a Logout");
    mcsi_emit_session(s, MCSI_EV_SESSION_LOGGED_OUT, ISDSC_SUCCESS, s->target);
    s->logout_op = NULL;
    mcsi_session_discard(s);
    mcsi_op_finish_later(op, ISDSC_SUCCESS);
    return mcsi_ok(ini);
  }
  s->state = MCSI_SESS_LOGGING_OUT;     /* takes no new work */
  op->step = LOGOUT_IDLE;
  op->tag = mcsi_now_ms() + (uint64_t)s->command_timeout_ms;   /* the idle wait's deadline */
  op->timer.fire = logout_step;
  mcsi_timer_start(&ini->loop, &op->timer, 0);
  return mcsi_ok(ini);
}

mcsi_status mcsi_logout_from_target(mcsi_initiator *ini, mcsi_id sid)
{
  mcsi_wait w = { 0 };
  if (ini && ini->in_callback) return mcsi_blocking_refused(ini);
  mcsi_status st = mcsi_logout_from_target_async(ini, sid, mcsi_wait_wake, &w);
  return st ? st : mcsi_wait_for(ini, &w);
}

/* ---- task management: one path for every TMF function and its response ---- */

static void tmf_timeout(mcsi_timer *tm)
{
  mcsi_op *op = MCSI_CONTAINER(tm, mcsi_op, timer);
  if (op->task)
    mcsi_task_complete(op->task, mcsi_fail(op->ini, ISDSC_SERVICE_DID_NOT_RESPOND, "no answer from the target within %d ms",
                                           op->s->command_timeout_ms));
}

static void abort_done(mcsi_task *t, const char *why)
{
  mcsi_fail(t->sess->ini, ISDSC_SCSI_REQUEST_FAILED, "command aborted%s", why);
  mcsi_task_complete(t, ISDSC_SCSI_REQUEST_FAILED);
}

/* The TMF response codes each function accepts as done (RFC 7143 11.6.1). */
static mcsi_status tmf_outcome(mcsi_op *op, uint8_t function, uint8_t response)
{
  mcsi_session *s = op->s;
  if (function == MCSI_TMF_ABORT_TASK) {
    if (response != 0 && response != 1)          /* 0 function complete, 1 task does not exist */
      return mcsi_fail(op->ini, ISDSC_TARGET_ERROR, "ABORT TASK answered 0x%02x", response);
    mcsi_task *victim = mcsi_scsi_find_tag(s, op->tag);
    if (victim) abort_done(victim, " by ABORT TASK");
    return mcsi_ok(op->ini);
  }
  if (response) return mcsi_fail(op->ini, ISDSC_TARGET_ERROR, "LUN RESET answered 0x%02x", response);
  s->cap_valid = 0;
  return mcsi_ok(op->ini);
}

static void tmf_answered(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *d, uint32_t n)
{
  mcsi_op *op = t->arg;
  uint8_t function = t->tmf_function;
  (void)d; (void)n;
  op->task = NULL;
  mcsi_timer_stop(&op->ini->loop, &op->timer);
  if (h) st = tmf_outcome(op, function, h->response);
  mcsi_op_finish(op, st);
}

static mcsi_status start_tmf(mcsi_session *s, uint8_t function, uint64_t lun, mcsi_task *victim, mcsi_result_cb cb,
                             void *arg)
{
  mcsi_initiator *ini = s->ini;
  mcsi_op *op = mcsi_op_new(ini, cb, arg);
  mcsi_task *t = op ? mcsi_task_new(s, MCSI_TASK_TMF) : NULL;
  if (!t) {
    if (op) mcsi_op_drop(op);
    return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  }
  op->s = s;
  op->task = t;
  op->r.session_id = s->id;
  t->immediate = 1;
  t->tmf_function = function;
  t->lun = mcsi_lun_encode(lun);
  t->ref_itt = victim ? victim->itt : MCSI_RSVD_TAG;   /* Referenced Task Tag and RefCmdSN: ABORT TASK only */
  t->ref_cmdsn = victim ? victim->cmdsn : 0;
  t->only_conn = victim ? victim->conn : NULL;
  if (victim) op->tag = victim->tag;
  t->done = tmf_answered;
  t->arg = op;
  op->timer.fire = tmf_timeout;
  mcsi_timer_start(&ini->loop, &op->timer, (uint64_t)s->command_timeout_ms);
  mcsi_session_submit(s, t);
  return mcsi_ok(ini);
}

mcsi_status mcsi_lun_reset_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_result_cb cb, void *arg)
{
  mcsi_session *s = NULL;
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_status st = mcsi_session_ready(ini, sid, 0, &s);
  if (st) return st;
  if (lun > 16383) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "LUN out of range");
  return start_tmf(s, MCSI_TMF_LUN_RESET, lun, NULL, cb, arg);
}

mcsi_status mcsi_lun_reset(mcsi_initiator *ini, mcsi_id sid, uint64_t lun)
{
  mcsi_wait w = { 0 };
  if (ini && ini->in_callback) return mcsi_blocking_refused(ini);
  mcsi_status st = mcsi_lun_reset_async(ini, sid, lun, mcsi_wait_wake, &w);
  return st ? st : mcsi_wait_for(ini, &w);
}

/* ABORT TASK on the connection the command went out on (allegiance). */
mcsi_status mcsi_abort_task_async(mcsi_initiator *ini, mcsi_id sid, uint64_t tag, mcsi_result_cb cb, void *arg)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_session *s = mcsi_session_find(ini, sid);
  if (!s) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  mcsi_task *victim = mcsi_scsi_find_tag(s, tag);
  if (!victim) return mcsi_fail(ini, ISDSC_NOT_FOUND, "no outstanding command with tag %llu", (unsigned long long)tag);
  if (!victim->sent || !victim->conn) {            /* never reached the target */
    mcsi_op *op = mcsi_op_new(ini, cb, arg);
    if (!op) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
    abort_done(victim, " before it was sent");
    mcsi_ok(ini);
    mcsi_op_finish_later(op, ISDSC_SUCCESS);
    return ISDSC_SUCCESS;
  }
  return start_tmf(s, MCSI_TMF_ABORT_TASK, victim->lun, victim, cb, arg);
}

mcsi_status mcsi_abort_task(mcsi_initiator *ini, mcsi_id sid, uint64_t tag)
{
  mcsi_wait w = { 0 };
  if (ini && ini->in_callback) return mcsi_blocking_refused(ini);
  mcsi_status st = mcsi_abort_task_async(ini, sid, tag, mcsi_wait_wake, &w);
  return st ? st : mcsi_wait_for(ini, &w);
}

/* ---- discovery: a discovery session, SendTargets=All, logout ---- */

static void discovery_logged_out(mcsi_initiator *ini, const mcsi_result *r, void *arg)
{
  mcsi_op *op = arg;
  (void)ini; (void)r;
  mcsi_op_finish_msg(op, op->r.status, op->message);   /* the discovery's outcome, not the logout's */
}

/* The text exchange ended (or failed): keep its outcome, log out. */
static void discovery_end(mcsi_op *op, mcsi_status st)
{
  mcsi_initiator *ini = op->ini;
  mcsi_timer_stop(&ini->loop, &op->timer);
  if (!st) st = mcsi_parse_send_targets(ini, op->text, op->text_len, &op->list);
  snprintf(op->message, sizeof op->message, "%s", st || ini->message[0] ? ini->message : "Success");
  op->r.status = st;
  op->r.message = op->message;
  if (mcsi_logout_from_target_async(ini, op->s->id, discovery_logged_out, op)) discovery_logged_out(ini, NULL, op);
}

static void discovery_text(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen)
{
  mcsi_op *op = t->arg;
  if (!h) {
    op->task = NULL;
    discovery_end(op, st);
    return;
  }
  if (dlen) {                            /* bounded by MCSI_TEXT_RSP_MAX in session.c */
    uint8_t *n = realloc(op->text, op->text_len + dlen);
    if (!n) {
      op->task = NULL;
      discovery_end(op, mcsi_fail(op->ini, ISDSC_OUT_OF_RESOURCES, "out of memory"));
      return;
    }
    memcpy(n + op->text_len, data, dlen);
    op->text = n;
    op->text_len += dlen;
  }
  if (h->flags & MCSI_F_FINAL) {
    op->task = NULL;
    discovery_end(op, ISDSC_SUCCESS);
  }
}

static void discovery_timeout(mcsi_timer *tm)
{
  mcsi_op *op = MCSI_CONTAINER(tm, mcsi_op, timer);
  if (op->task)
    mcsi_task_complete(op->task, mcsi_fail(op->ini, ISDSC_SERVICE_DID_NOT_RESPOND, "no answer from the target within %d ms",
                                           op->s->opts.login_timeout_ms));
}

static void discovery_logged_in(mcsi_initiator *ini, const mcsi_result *r, void *arg)
{
  static const char req[] = "SendTargets=All";
  mcsi_op *op = arg;
  if (r->status) {
    mcsi_op_finish_msg(op, r->status, r->message);
    return;
  }
  op->s = mcsi_session_find(ini, r->session_id);
  mcsi_task *t = mcsi_task_new(op->s, MCSI_TASK_TEXT);
  if (t) t->text = (uint8_t *)mcsi_strdup0(req);
  if (!t || !t->text) {
    if (t) mcsi_task_free(t);
    discovery_end(op, mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory"));
    return;
  }
  t->text_len = sizeof req;              /* with its NUL; non-immediate: istgt needs that */
  t->done = discovery_text;
  t->arg = op;
  op->task = t;
  op->timer.fire = discovery_timeout;
  mcsi_timer_start(&ini->loop, &op->timer, (uint64_t)op->s->opts.login_timeout_ms);
  mcsi_session_submit(op->s, t);
}

mcsi_status mcsi_send_targets_async(mcsi_initiator *ini, const mcsi_login_opts *o, mcsi_targets_cb cb, void *arg)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_op *op = mcsi_op_new(ini, NULL, arg);
  if (!op) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  op->targets_cb = cb;
  mcsi_status st = login_async(ini, o, 1, discovery_logged_in, op);
  if (st) mcsi_op_drop(op);
  return st;
}

mcsi_status mcsi_send_targets(mcsi_initiator *ini, const mcsi_login_opts *o, mcsi_target_list **out)
{
  mcsi_wait w = { 0 };
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!out) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no list to fill");
  *out = NULL;
  if (ini->in_callback) return mcsi_blocking_refused(ini);
  mcsi_status st = mcsi_send_targets_async(ini, o, mcsi_wait_wake_targets, &w);
  if (st) return st;
  st = mcsi_wait_for(ini, &w);
  if (st) mcsi_target_list_free(w.list);
  else *out = w.list;
  return st;
}

/* ---- information -------------------------------------------------------------------------------- */

size_t mcsi_session_list(const mcsi_initiator *ini, mcsi_id *ids, size_t max)
{
  size_t n = 0;
  if (!ini) return 0;
  for (const mcsi_link *l = ini->sessions.next; l != &ini->sessions; l = l->next, n++)
    if (n < max && ids) ids[n] = MCSI_CONTAINER(l, mcsi_session, link)->id;
  return n;
}

static void addr_string(const struct sockaddr_storage *ss, char *buf, size_t len, uint16_t *port)
{
  char host[64] = "", serv[8] = "0";
  getnameinfo((const struct sockaddr *)ss, sizeof *ss, host, sizeof host, serv, sizeof serv,
              NI_NUMERICHOST | NI_NUMERICSERV);
  snprintf(buf, len, "%s", host);
  *port = (uint16_t)atoi(serv);
}

static void conn_info(const mcsi_conn *c, mcsi_conn_info *ci)
{
  memset(ci, 0, sizeof *ci);
  ci->id = c->id;
  ci->cid = c->cid;
  snprintf(ci->state, sizeof ci->state, "%s", mcsi_conn_state_name(c->state));
  ci->leading = c->leading;
  ci->primary = c->primary;
  ci->active = c->active;
  ci->weight = c->weight;
  snprintf(ci->portal, sizeof ci->portal, "%s", c->portal);
  if (c->fd >= 0) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(c->fd, (struct sockaddr *)&ss, &sl) == 0) addr_string(&ss, ci->local_addr, sizeof ci->local_addr, &ci->local_port);
    addr_string(&c->remote, ci->remote_addr, sizeof ci->remote_addr, &ci->remote_port);
  }
  ci->header_digest = (int)c->params.header_digest;
  ci->data_digest = (int)c->params.data_digest;
  ci->max_recv_dsl = c->params.max_recv_dsl;
  ci->max_send_dsl = c->params.max_send_dsl;
  ci->queue_depth = c->queue_depth;
  ci->stats = c->stats;
}

mcsi_status mcsi_session_get_info(mcsi_initiator *ini, mcsi_id sid, mcsi_session_info *out)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!out) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no info to fill");
  mcsi_session *s = mcsi_session_find(ini, sid);
  if (!s) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  memset(out, 0, sizeof *out);
  out->id = s->id;
  snprintf(out->target, sizeof out->target, "%s", s->target);
  snprintf(out->target_alias, sizeof out->target_alias, "%s", s->target_alias);
  memcpy(out->isid, s->isid, 6);
  out->tsih = s->tsih;
  out->tpgt = s->tpgt;
  snprintf(out->state, sizeof out->state, "%s", mcsi_session_state_name(s->state));
  out->discovery = s->discovery;
  out->load_balance_policy = s->policy;
  out->recoveries = s->recoveries;
  out->commands_retried = s->commands_retried;
  const mcsi_params *p = &s->params;
  out->max_connections = p->max_connections;
  out->max_burst_length = p->max_burst;
  out->first_burst_length = p->first_burst;
  out->max_outstanding_r2t = p->max_outstanding_r2t;
  out->default_time2wait = p->time2wait;
  out->default_time2retain = p->time2retain;
  out->initial_r2t = (int)p->initial_r2t;
  out->immediate_data = (int)p->immediate_data;
  out->data_pdu_in_order = (int)p->data_pdu_in_order;
  out->data_sequence_in_order = (int)p->data_seq_in_order;
  out->error_recovery_level = (int)p->erl;
  out->cmdsn = s->cmdsn;
  out->exp_cmdsn = s->exp_cmdsn;
  out->max_cmdsn = s->max_cmdsn;
  for (mcsi_link *l = s->conns.next; l != &s->conns; l = l->next) {
    if (out->connection_count < sizeof out->connections / sizeof out->connections[0]) conn_info(MCSI_CONTAINER(l, mcsi_conn, link), &out->connections[out->connection_count]);
    out->connection_count++;
  }
  return mcsi_ok(ini);
}
