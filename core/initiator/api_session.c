/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api_session.c: the session operations of the public API: login,
 * logout, discovery, task management; each an asynchronous operation with
 * its blocking form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "initiator.h"

static mcsi_status login_async(mcsi_initiator *ini, const mcsi_login_opts *o, int discovery, mcsi_result_cb cb,
                               void *arg)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_op *op = mcsi_op_new(ini, cb, arg);
  if (!op) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  mcsi_status st = mcsi_entry_start(ini, o, discovery, op);
  if (st) {
    mcsi_op_drop(op);
    return st;
  }
  return mcsi_ok(ini);
}

mcsi_status mcsi_login_to_target_async(mcsi_initiator *ini, const mcsi_login_opts *o, mcsi_completion c)
{
  mcsi_relay *r;
  mcsi_status st = mcsi_relay_start(ini, c, &r);
  if (!st) st = login_async(ini, o, 0, mcsi_relay_ids, r);
  return st && r ? mcsi_relay_refused(r, st) : st;
}

mcsi_status mcsi_login_to_target(mcsi_initiator *ini, const mcsi_login_opts *o, mcsi_id *sid, mcsi_id *cid)
{
  mcsi_wait w = { 0 };
  if (ini && mcsi_in_callback(ini)) return mcsi_blocking_refused(ini);
  mcsi_status st = login_async(ini, o, 0, mcsi_wait_wake, &w);
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

static void logout_end(mcsi_op *op, mcsi_status st, const char *message)
{
  mcsi_entry *e = op->e;
  mcsi_session *s = mcsi_entry_session(e);
  mcsi_timer_stop(&op->ini->loop, &op->timer);
  e->logout_op = NULL;
  mcsi_session_end(s, st, mcsi_session_target(s));
  op->r.session_id = mcsi_session_id(s);
  mcsi_entry_discard(e);
  mcsi_mcs_end_operations(&e->m, "the session was logged out");   /* adds and removals under way: told first */
  mcsi_op_finish(op, st, message);
}

static void logout_answered(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *d, uint32_t n)
{
  mcsi_op *op = mcsi_task_arg(t);
  char msg[MCSI_MSG_MAX];
  (void)d; (void)n;
  op->task = NULL;
  if (!h) {
    logout_end(op, st, mcsi_task_message(t)[0] ? mcsi_task_message(t) : "the Logout ended unanswered");
    return;
  }
  st = mcsi_logout_status(h->response, mcsi_task_logout_cid(t), msg);
  logout_end(op, st, msg);
}

static void logout_send(mcsi_op *op)
{
  mcsi_session *s = mcsi_entry_session(op->e);
  mcsi_path *p = mcsi_mcs_logout_path(&op->e->m);
  mcsi_task *t = p ? mcsi_logout_task(&p->conn, MCSI_LOGOUT_SESSION, logout_answered, op) : NULL;
  if (!t) {
    logout_end(op, p ? ISDSC_OUT_OF_RESOURCES : ISDSC_NO_CONNECTION_AVAILABLE, "no connection to log out on");
    return;
  }
  op->step = LOGOUT_SENT;
  op->task = t;
  mcsi_timer_start(&op->ini->loop, &op->timer, (uint64_t)mcsi_session_opts(s)->login_timeout_ms);
  mcsi_session_submit(s, t);
}

static void other_removed(mcsi_path *p, mcsi_status st, const char *message, void *arg)
{
  mcsi_op *op = arg;
  (void)p; (void)st; (void)message;
  if (op->pending && --op->pending == 0) mcsi_timer_start(&op->ini->loop, &op->timer, 0);
}

/* Every connection but the leading one is removed, each with its own Logout. */
static void remove_others(mcsi_op *op)
{
  mcsi_mcs *m = &op->e->m;
  mcsi_path *lead = mcsi_mcs_logout_path(m);
  char msg[MCSI_MSG_MAX];
  op->step = LOGOUT_OTHERS;
  op->pending = 1;                      /* held while removals start */
  mcsi_link *conns = mcsi_session_conns(&m->s);
  for (mcsi_link *l = conns->next; l != conns;) {
    mcsi_path *p = mcsi_path_of(mcsi_conn_of_link(l));
    l = l->next;
    if (p == lead || mcsi_conn_state_of(&p->conn) != MCSI_CONN_ACTIVE) continue;
    if (mcsi_mcs_remove(m, p, other_removed, op, msg) == ISDSC_SUCCESS) op->pending++;
  }
  other_removed(NULL, ISDSC_SUCCESS, NULL, op);
}

static void logout_step(mcsi_timer *tm)
{
  mcsi_op *op = MCSI_CONTAINER(tm, mcsi_op, timer);
  mcsi_session *s = mcsi_entry_session(op->e);
  switch (op->step) {
  case LOGOUT_IDLE:                     /* the commands in flight end first, within their timeout */
    if (mcsi_session_ntasks(s) && mcsi_now_ms() < op->deadline) {
      mcsi_timer_start(&op->ini->loop, tm, LOGOUT_POLL_MS);
      return;
    }
    remove_others(op);
    return;
  case LOGOUT_OTHERS:
    logout_send(op);
    return;
  default:                              /* no Logout Response in time */
    if (op->task) mcsi_task_fail(op->task, ISDSC_SERVICE_DID_NOT_RESPOND, "no Logout Response within %d ms",
                                 mcsi_session_opts(s)->login_timeout_ms);
    return;
  }
}

static mcsi_status logout_async(mcsi_initiator *ini, mcsi_id sid, mcsi_result_cb cb, void *arg)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_entry *e = mcsi_entry_find(ini, sid);
  if (!e) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  mcsi_session *s = mcsi_entry_session(e);
  enum mcsi_session_state state = mcsi_session_state_of(s);
  if (state == MCSI_SESS_LOGGING_OUT || e->logout_op) return mcsi_fail(ini, ISDSC_SESSION_BUSY, "already logging out");
  if (state == MCSI_SESS_LOGGING_IN) return mcsi_fail(ini, ISDSC_SESSION_BUSY, "the session is still logging in");
  mcsi_op *op = mcsi_op_new(ini, cb, arg);
  if (!op) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  op->e = e;
  op->r.session_id = sid;
  if (state != MCSI_SESS_ACTIVE) {      /* failed or recovering: nothing to say a Logout on */
    static const char why[] = "session had no working connection; removed without a Logout";
    mcsi_session_end(s, ISDSC_SUCCESS, mcsi_session_target(s));
    mcsi_entry_discard(e);   /* an add or removal under way is told when it is freed, from the loop */
    op->e = NULL;
    mcsi_op_finish_later(op, ISDSC_SUCCESS, why);
    return mcsi_ok(ini);
  }
  e->logout_op = op;
  mcsi_session_begin_logout(s);         /* takes no new work */
  op->step = LOGOUT_IDLE;
  op->deadline = mcsi_now_ms() + (uint64_t)mcsi_session_command_timeout_ms(s);   /* the idle wait's */
  mcsi_timer_set_fire(&op->timer, logout_step);
  mcsi_timer_start(&ini->loop, &op->timer, 0);
  return mcsi_ok(ini);
}

mcsi_status mcsi_logout_from_target_async(mcsi_initiator *ini, mcsi_id sid, mcsi_completion c)
{
  mcsi_relay *r;
  mcsi_status st = mcsi_relay_start(ini, c, &r);
  if (!st) st = logout_async(ini, sid, mcsi_relay_ids, r);
  return st && r ? mcsi_relay_refused(r, st) : st;
}

mcsi_status mcsi_logout_from_target(mcsi_initiator *ini, mcsi_id sid)
{
  mcsi_wait w = { 0 };
  if (ini && mcsi_in_callback(ini)) return mcsi_blocking_refused(ini);
  mcsi_status st = logout_async(ini, sid, mcsi_wait_wake, &w);
  return st ? st : mcsi_wait_for(ini, &w);
}

/* ---- task management: one path for every TMF function and its response ---- */

static void tmf_timeout(mcsi_timer *tm)
{
  mcsi_op *op = MCSI_CONTAINER(tm, mcsi_op, timer);
  if (op->task)
    mcsi_task_fail(op->task, ISDSC_SERVICE_DID_NOT_RESPOND, "no answer from the target within %d ms",
                   mcsi_session_command_timeout_ms(mcsi_entry_session(op->e)));
}

/* The TMF response codes each function accepts as done (RFC 7143 11.6.1). */
static mcsi_status tmf_outcome(mcsi_op *op, uint8_t function, uint8_t response)
{
  mcsi_entry *e = op->e;
  if (function == MCSI_TMF_ABORT_TASK) {
    if (response != 0 && response != 1)          /* 0 function complete, 1 task does not exist */
      return mcsi_msg(op->message, ISDSC_TARGET_ERROR, "ABORT TASK answered 0x%02x", response);
    mcsi_scsi_task *victim = e ? mcsi_scsi_find_tag(mcsi_entry_session(e), op->tag) : NULL;
    if (victim) mcsi_scsi_aborted(victim, " by ABORT TASK");
    return mcsi_msg(op->message, ISDSC_SUCCESS, "Success");
  }
  if (response) return mcsi_msg(op->message, ISDSC_TARGET_ERROR, "LUN RESET answered 0x%02x", response);
  if (e) mcsi_lun_geo_forget(e, op->tag);
  return mcsi_msg(op->message, ISDSC_SUCCESS, "Success");
}

static void tmf_answered(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *d, uint32_t n)
{
  mcsi_op *op = mcsi_task_arg(t);
  uint8_t function = mcsi_task_tmf_function(t);
  (void)d; (void)n;
  op->task = NULL;
  mcsi_timer_stop(&op->ini->loop, &op->timer);
  if (h) st = tmf_outcome(op, function, h->response);
  else snprintf(op->message, sizeof op->message, "%s",
                mcsi_task_message(t)[0] ? mcsi_task_message(t) : "the TMF ended unanswered");
  mcsi_op_finish(op, st, op->message);
}

static mcsi_status start_tmf(mcsi_entry *e, uint8_t function, uint64_t lun, mcsi_scsi_task *victim,
                             mcsi_result_cb cb, void *arg)
{
  mcsi_initiator *ini = e->ini;
  mcsi_session *s = mcsi_entry_session(e);
  mcsi_op *op = mcsi_op_new(ini, cb, arg);
  mcsi_task *t = op ? mcsi_tmf_task(s, function, mcsi_lun_encode(lun), victim ? &victim->task : NULL, tmf_answered, op)
                    : NULL;
  if (!t) {
    if (op) mcsi_op_drop(op);
    return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  }
  op->e = e;
  op->task = t;
  op->r.session_id = mcsi_session_id(s);
  op->tag = victim ? victim->tag : lun;        /* LUN RESET: the LUN whose geometry is learned again */
  mcsi_timer_set_fire(&op->timer, tmf_timeout);
  mcsi_timer_start(&ini->loop, &op->timer, (uint64_t)mcsi_session_command_timeout_ms(s));
  mcsi_session_submit(s, t);
  return mcsi_ok(ini);
}

static mcsi_status lun_reset_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_result_cb cb, void *arg)
{
  mcsi_entry *e = NULL;
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_status st = mcsi_entry_ready(ini, sid, 0, &e);
  if (st) return st;
  if (lun > 16383) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "LUN out of range");
  return start_tmf(e, MCSI_TMF_LUN_RESET, lun, NULL, cb, arg);
}

mcsi_status mcsi_lun_reset_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_completion c)
{
  mcsi_relay *r;
  mcsi_status st = mcsi_relay_start(ini, c, &r);
  if (!st) st = lun_reset_async(ini, sid, lun, mcsi_relay_ids, r);
  return st && r ? mcsi_relay_refused(r, st) : st;
}

mcsi_status mcsi_lun_reset(mcsi_initiator *ini, mcsi_id sid, uint64_t lun)
{
  mcsi_wait w = { 0 };
  if (ini && mcsi_in_callback(ini)) return mcsi_blocking_refused(ini);
  mcsi_status st = lun_reset_async(ini, sid, lun, mcsi_wait_wake, &w);
  return st ? st : mcsi_wait_for(ini, &w);
}

/* ABORT TASK on the connection the command went out on (allegiance). */
static mcsi_status abort_task_async(mcsi_initiator *ini, mcsi_id sid, uint64_t tag, mcsi_result_cb cb, void *arg)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_entry *e = mcsi_entry_find(ini, sid);
  if (!e) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  mcsi_scsi_task *victim = mcsi_scsi_find_tag(mcsi_entry_session(e), tag);
  if (!victim) return mcsi_fail(ini, ISDSC_NOT_FOUND, "no outstanding command with tag %llu", (unsigned long long)tag);
  if (!mcsi_task_reached_target(&victim->task)) {         /* never reached the target */
    mcsi_op *op = mcsi_op_new(ini, cb, arg);
    if (!op) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
    mcsi_scsi_aborted(victim, " before it was sent");
    mcsi_ok(ini);
    mcsi_op_finish_later(op, ISDSC_SUCCESS, "Success");
    return ISDSC_SUCCESS;
  }
  return start_tmf(e, MCSI_TMF_ABORT_TASK, victim->lun, victim, cb, arg);
}

mcsi_status mcsi_abort_task_async(mcsi_initiator *ini, mcsi_id sid, uint64_t tag, mcsi_completion c)
{
  mcsi_relay *r;
  mcsi_status st = mcsi_relay_start(ini, c, &r);
  if (!st) st = abort_task_async(ini, sid, tag, mcsi_relay_ids, r);
  return st && r ? mcsi_relay_refused(r, st) : st;
}

mcsi_status mcsi_abort_task(mcsi_initiator *ini, mcsi_id sid, uint64_t tag)
{
  mcsi_wait w = { 0 };
  if (ini && mcsi_in_callback(ini)) return mcsi_blocking_refused(ini);
  mcsi_status st = abort_task_async(ini, sid, tag, mcsi_wait_wake, &w);
  return st ? st : mcsi_wait_for(ini, &w);
}

/* ---- discovery: a discovery session, SendTargets=All, logout ---- */

static void discovery_logged_out(mcsi_initiator *ini, const mcsi_result *r, void *arg)
{
  mcsi_op *op = arg;
  (void)ini; (void)r;
  mcsi_op_finish(op, op->r.status, op->message);   /* the discovery's outcome, not the logout's */
}

/* The text exchange ended (or failed): keep its outcome, log out. */
static void discovery_end(mcsi_op *op, mcsi_status st, const char *why)
{
  mcsi_initiator *ini = op->ini;
  mcsi_timer_stop(&ini->loop, &op->timer);
  if (st) snprintf(op->message, sizeof op->message, "%s", why);
  else st = mcsi_parse_send_targets(op->text, op->text_len, &op->list, op->message);
  if (!st) snprintf(op->message, sizeof op->message, "Success");
  op->r.status = st;
  op->r.message = op->message;
  mcsi_id sid = op->e ? mcsi_session_id(mcsi_entry_session(op->e)) : 0;
  op->e = NULL;
  if (logout_async(ini, sid, discovery_logged_out, op)) discovery_logged_out(ini, NULL, op);
}

static void discovery_text(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen)
{
  mcsi_op *op = mcsi_task_arg(t);
  if (!h) {
    op->task = NULL;
    discovery_end(op, st, mcsi_task_message(t)[0] ? mcsi_task_message(t) : mcsi_status_message(st));
    return;
  }
  if (dlen) {                            /* bounded by MCSI_TEXT_RSP_MAX in session.c */
    uint8_t *n = realloc(op->text, op->text_len + dlen);
    if (!n) {
      op->task = NULL;
      mcsi_task_set_done(t, NULL, NULL);
      discovery_end(op, ISDSC_OUT_OF_RESOURCES, "out of memory");
      return;
    }
    memcpy(n + op->text_len, data, dlen);
    op->text = n;
    op->text_len += dlen;
  }
  if (h->flags & MCSI_F_FINAL) {
    op->task = NULL;
    discovery_end(op, ISDSC_SUCCESS, NULL);
  }
}

static void discovery_timeout(mcsi_timer *tm)
{
  mcsi_op *op = MCSI_CONTAINER(tm, mcsi_op, timer);
  if (op->task)
    mcsi_task_fail(op->task, ISDSC_SERVICE_DID_NOT_RESPOND, "no answer from the target within %d ms",
                   mcsi_session_opts(mcsi_entry_session(op->e))->login_timeout_ms);
}

static void discovery_logged_in(mcsi_initiator *ini, const mcsi_result *r, void *arg)
{
  mcsi_op *op = arg;
  if (r->status) {
    mcsi_op_finish(op, r->status, r->message);
    return;
  }
  op->e = mcsi_entry_find(ini, r->session_id);
  mcsi_session *s = mcsi_entry_session(op->e);
  mcsi_task *t = mcsi_text_task(s, "SendTargets=All", discovery_text, op);
  if (!t) {
    discovery_end(op, ISDSC_OUT_OF_RESOURCES, "out of memory");
    return;
  }
  op->task = t;
  mcsi_timer_set_fire(&op->timer, discovery_timeout);
  mcsi_timer_start(&ini->loop, &op->timer, (uint64_t)mcsi_session_opts(s)->login_timeout_ms);
  mcsi_session_submit(s, t);
}

static mcsi_status send_targets_async(mcsi_initiator *ini, const mcsi_login_opts *o, mcsi_targets_cb cb, void *arg)
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

mcsi_status mcsi_send_targets_async(mcsi_initiator *ini, const mcsi_login_opts *o, mcsi_completion c)
{
  mcsi_relay *r;
  mcsi_status st = mcsi_relay_start(ini, c, &r);
  if (!st) st = send_targets_async(ini, o, mcsi_relay_targets, r);
  return st && r ? mcsi_relay_refused(r, st) : st;
}

mcsi_status mcsi_send_targets(mcsi_initiator *ini, const mcsi_login_opts *o, mcsi_target_list **out)
{
  mcsi_wait w = { 0 };
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!out) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no list to fill");
  *out = NULL;
  if (mcsi_in_callback(ini)) return mcsi_blocking_refused(ini);
  mcsi_status st = send_targets_async(ini, o, mcsi_wait_wake_targets, &w);
  if (st) return st;
  st = mcsi_wait_for(ini, &w);
  if (st) mcsi_target_list_free(w.list);
  else *out = w.list;
  return st;
}
