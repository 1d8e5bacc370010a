/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* conn.c: one connection of a session, as the session sees it: its
 * transport and login, keep-alive NOPs, failure, and the Logout that ends
 * it. The transport and the login tell it what happens through callbacks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "session.h"

const char *mcsi_conn_state_name(enum mcsi_conn_state s)
{
  static const char *const names[] = { "connecting", "logging-in", "active", "logging-out",
                                       "failed", "closed" };
  return names[s];
}

static mcsi_conn *of_transport(mcsi_transport *tp) { return MCSI_CONTAINER(tp, mcsi_conn, tp); }
static mcsi_loop *loop_of(const mcsi_conn *c) { return c->sess->loop; }

void mcsi_conn_emit(mcsi_conn *c, mcsi_event_kind kind, mcsi_status st, const char *reason)
{
  mcsi_event ev = { .kind = kind, .session_id = c->sess->id, .connection_id = c->id, .status = st, .reason = reason };
  mcsi_session_tell(c->sess, &ev, &c->ev_state);
}

void mcsi_conn_set_leading(mcsi_conn *c, int leading) { c->leading = leading; }
void mcsi_conn_begin_logout(mcsi_conn *c) { c->state = MCSI_CONN_LOGOUT; }
void mcsi_conn_format_error(mcsi_conn *c) { c->format_errors++; }

/* ---- what the transport tells ------------------------------------------------------ */

static void tp_connected(mcsi_transport *tp)
{
  mcsi_conn *c = of_transport(tp);
  c->state = MCSI_CONN_LOGIN;
  mcsi_login_connected(c->login);
}

/* A Data-In goes into its command's buffer, if the command is still ours;
 * on a draining connection, one for a command that moved away is dropped. */
static int tp_place_data(mcsi_transport *tp, const mcsi_pdu_hdr *h, uint8_t **dst, mcsi_tx_owner **owner,
                         const char **err)
{
  mcsi_conn *c = of_transport(tp);
  mcsi_task *t = mcsi_task_lookup(c->sess, h->itt);
  if (c->state == MCSI_CONN_LOGOUT && (!t || t->conn != c)) return 1;
  if (!t || t->kind != MCSI_TASK_SCSI || t->conn != c || !t->sent || !t->ops) {
    *err = "unknown ITT";
    return -1;
  }
  *owner = &t->tx;
  return t->ops->place_data(c, t, h, dst, err);
}

static void tp_pdu(mcsi_transport *tp, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen)
{
  mcsi_conn *c = of_transport(tp);
  if (c->state == MCSI_CONN_LOGIN) mcsi_login_rx(c->login, h, data, dlen);
  else mcsi_session_rx(c, h, data, dlen);
}

static void conn_failed(mcsi_conn *c, mcsi_status st);
static void logout_closed(mcsi_conn *c);

static void tp_failed(mcsi_transport *tp, mcsi_status st, int clean_eof)
{
  mcsi_conn *c = of_transport(tp);
  if (clean_eof && c->logout_sent && c->state != MCSI_CONN_LOGIN) {
    logout_closed(c);
    return;
  }
  snprintf(c->message, sizeof c->message, "%s", mcsi_transport_message(tp));
  conn_failed(c, st);
}

static const mcsi_transport_ops conn_transport_ops = {
  .connected = tp_connected, .place_data = tp_place_data, .pdu = tp_pdu, .failed = tp_failed,
};

/* ---- life --------------------------------------------------------------------------- */

int mcsi_conn_init(mcsi_conn *c, mcsi_session *s, const mcsi_login_opts *o)
{
  memset(c, 0, sizeof *c);
  mcsi_list_init(&c->link);
  mcsi_list_init(&c->tasks);
  if (mcsi_opts_copy(&c->opts, o) ||
      mcsi_transport_init(&c->tp, s->loop, &conn_transport_ops, s->params.max_recv_dsl)) {
    mcsi_opts_free(&c->opts);
    mcsi_transport_destroy(&c->tp);
    return -1;
  }
  c->sess = s;
  c->id = mcsi_new_id();
  c->cid = s->next_cid++;
  c->params = s->params;
  c->state = MCSI_CONN_CONNECTING;
  mcsi_transport_label(&c->tp, c->cid, o->portal);
  mcsi_timer_init(&c->nop_timer, NULL);
  return 0;
}

void mcsi_conn_destroy(mcsi_conn *c)
{
  mcsi_timer_stop(loop_of(c), &c->nop_timer);
  mcsi_transport_destroy(&c->tp);
  mcsi_login_free(c->login);
  c->login = NULL;
  mcsi_opts_free(&c->opts);
}

/* ---- login -------------------------------------------------------------------------- */

static void login_done(mcsi_login *l, mcsi_status st, const char *message, void *arg)
{
  mcsi_conn *c = arg;
  (void)l;
  if (st) {
    snprintf(c->message, sizeof c->message, "%s", message);
    conn_failed(c, st);
    return;
  }
  const mcsi_login_result *r = mcsi_login_result_of(c->login);
  c->params = r->neg;
  c->exp_statsn = r->exp_statsn;
  mcsi_transport_full_feature(&c->tp, (int)r->neg.header_digest, (int)r->neg.data_digest, r->neg.max_recv_dsl);
  mcsi_session_conn_up(c, r);
}

mcsi_status mcsi_conn_login(mcsi_conn *c)
{
  mcsi_session *s = c->sess;
  mcsi_login_args a = { .initiator_name = s->initiator_name, .target = s->target, .discovery = s->discovery,
                        .leading = c->leading, .isid = s->isid, .tsih = s->tsih, .cid = c->cid,
                        .itt = s->next_itt++, .cmdsn = &s->cmdsn, .opts = &c->opts, .challenges = s->challenges,
                        .tpgt = s->tpgt, .tpgt_known = s->tpgt_known && !c->leading };
  mcsi_status st = ISDSC_SUCCESS;
  c->login = mcsi_login_start(&c->tp, &a, login_done, c, &st, c->message);
  return st;
}

/* ---- failure ------------------------------------------------------------------------ */

/* Its commands go back to the session, which hands them to the layer above. */
static void take_orphans(mcsi_conn *c, mcsi_link *orphans)
{
  while (!mcsi_list_empty(&c->tasks)) {
    mcsi_task *t = MCSI_CONTAINER(c->tasks.next, mcsi_task, link);
    mcsi_task_unsend(t);
    mcsi_list_del(&t->link);
    mcsi_list_push(orphans, &t->link);
  }
  c->nop_task = NULL;
}

static void conn_failed(mcsi_conn *c, mcsi_status st)
{
  mcsi_session *s = c->sess;
  if (c->state == MCSI_CONN_FAILED || c->state == MCSI_CONN_CLOSED) return;
  int was_login = c->state == MCSI_CONN_LOGIN || c->state == MCSI_CONN_CONNECTING;
  c->state = MCSI_CONN_FAILED;
  c->fail_status = st;
  if (st == ISDSC_SERVICE_DID_NOT_RESPOND) c->timeout_errors++;
  mcsi_timer_stop(loop_of(c), &c->nop_timer);
  mcsi_login_cancel(c->login);
  mcsi_transport_abort(&c->tp);
  mcsi_conn_emit(c, MCSI_EV_CONN_FAILED, st, c->message);
  if (was_login) {
    mcsi_conn_bury(c);
    s->hooks->login_finished(c, st);
    return;
  }
  mcsi_link orphans;
  mcsi_list_init(&orphans);
  take_orphans(c, &orphans);
  mcsi_conn_bury(c);
  mcsi_conn_emit(c, MCSI_EV_CONN_REMOVED, st, "closed and removed after failing");
  s->hooks->conn_lost(c, &orphans);
}

void mcsi_conn_fail(mcsi_conn *c, mcsi_status st, const char *fmt, ...)
{
  if (c->state == MCSI_CONN_FAILED || c->state == MCSI_CONN_CLOSED) return;
  va_list ap;
  va_start(ap, fmt);
  mcsi_msgv(c->message, st, fmt, ap);
  va_end(ap);
  conn_failed(c, st);
}

void mcsi_conn_close(mcsi_conn *c)
{
  c->state = MCSI_CONN_CLOSED;
  mcsi_timer_stop(loop_of(c), &c->nop_timer);
  mcsi_transport_close(&c->tp);
}

void mcsi_session_attach(mcsi_session *s, mcsi_conn *c)
{
  mcsi_list_push(&s->conns, &c->link);
  s->nconns++;
}

void mcsi_conn_bury(mcsi_conn *c)
{
  mcsi_session *s = c->sess;
  if (c->buried) return;
  c->buried = 1;
  mcsi_timer_stop(loop_of(c), &c->nop_timer);
  mcsi_list_del(&c->link);
  mcsi_list_push(&s->graveyard, &c->link);
  s->nconns--;
  for (mcsi_link *l = s->pending.next; l != &s->pending; l = l->next) {   /* they fail at the next drain */
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    if (t->only_conn == c) {
      t->only_conn = NULL;
      t->only_conn_gone = 1;
      s->pending_may_pass = 1;
    }
  }
}

/* istgt sometimes closes a connection on a Logout without answering it: a
 * clean close after our Logout is the logout we asked for, as if the target
 * had answered "connection or session closed successfully". */
static void logout_closed(mcsi_conn *c)
{
  mcsi_pdu_hdr ok = { .opcode = MCSI_OP_LOGOUT_RSP, .flags = MCSI_F_FINAL, .response = 0 };
  snprintf(c->message, sizeof c->message, "%s closed the connection instead of answering the Logout", mcsi_conn_portal(c));
  c->nop_task = NULL;
  mcsi_conn_close(c);
  while (!mcsi_list_empty(&c->tasks)) {
    mcsi_task *t = MCSI_CONTAINER(c->tasks.next, mcsi_task, link);
    if (t->kind == MCSI_TASK_LOGOUT && t->done) {
      t->done(t, ISDSC_SUCCESS, &ok, NULL, 0);
      t->done = NULL;
      mcsi_task_complete(t, ISDSC_SUCCESS);
    } else {
      mcsi_task_fail(t, ISDSC_CONNECTION_FAILED, "%s", c->message);
    }
  }
  c->sess->hooks->conn_closed(c, ISDSC_SUCCESS);
}

/* ---- sending ------------------------------------------------------------------------ */

void mcsi_conn_queue(mcsi_conn *c, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen, mcsi_task *owner,
                     uint8_t *owned)
{
  mcsi_transport_queue(&c->tp, h, data, dlen, owner ? &owner->tx : NULL, owned);
}

mcsi_task *mcsi_logout_task(mcsi_conn *c, uint8_t reason, mcsi_task_done_cb done, void *arg)
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

mcsi_status mcsi_logout_status(uint8_t response, uint16_t cid, char *msg)
{
  static const char *const why[] = { "closed", "CID not found", "connection recovery not supported",
                                     "cleanup failed" };
  if (!response) return mcsi_msg(msg, ISDSC_SUCCESS, "Success");
  return mcsi_msg(msg, ISDSC_TARGET_ERROR, "Logout Response 0x%02x for CID %u (%s)", response, cid,
                  response < 4 ? why[response] : "unknown response");
}

/* ---- keep-alive ----------------------------------------------------------------------- */

static void nop_done(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *d, uint32_t n)
{
  (void)d; (void)n;
  mcsi_conn *c = t->conn;
  if (!c || c->nop_task != t) return;
  c->nop_task = NULL;
  int interval = c->sess->opts.nop_interval_ms;
  if (!st && h && interval > 0)   /* answered: next ping one interval on */
    mcsi_timer_start(loop_of(c), &c->nop_timer, (uint64_t)interval);
}

static void nop_fire(mcsi_timer *tm)
{
  mcsi_conn *c = MCSI_CONTAINER(tm, mcsi_conn, nop_timer);
  mcsi_session *s = c->sess;
  int interval = s->opts.nop_interval_ms, timeout = s->opts.nop_timeout_ms;
  if (c->state != MCSI_CONN_ACTIVE && c->state != MCSI_CONN_LOGOUT) return;
  if (c->nop_task) {
    mcsi_conn_fail(c, ISDSC_CONNECTION_FAILED, "%s: no NOP-In within %d ms", mcsi_conn_portal(c), timeout);
    return;
  }
  uint64_t idle = mcsi_now_ms() - mcsi_transport_last_rx(&c->tp);
  if (idle < (uint64_t)interval) {
    mcsi_timer_start(s->loop, tm, (uint64_t)interval - idle);
    return;
  }
  mcsi_task *t = mcsi_task_new(s, MCSI_TASK_NOP);
  if (!t) { mcsi_timer_start(s->loop, tm, (uint64_t)interval); return; }
  t->immediate = 1;
  t->done = nop_done;
  c->nop_task = t;
  mcsi_session_send(s, c, t);
  mcsi_timer_start(s->loop, tm, (uint64_t)timeout);
}

void mcsi_conn_start_nop(mcsi_conn *c)
{
  mcsi_timer_set_fire(&c->nop_timer, nop_fire);
  if (c->sess->opts.nop_interval_ms > 0)
    mcsi_timer_start(loop_of(c), &c->nop_timer, (uint64_t)c->sess->opts.nop_interval_ms);
}
