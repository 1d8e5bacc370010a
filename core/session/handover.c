/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* handover.c: a live session handed from one process to another (RFC
 * 7143 says nothing of it: the target sees the same TCP connections go on).
 * The old side freezes the session (no command goes out; those in flight
 * end), exports its numbers once it is quiet, and either lets its sockets
 * go (the successor took them) or thaws and goes on. The new side adopts
 * the numbers and the sockets as if each connection had just logged in. */
#include <stdio.h>
#include <string.h>
#include "session.h"

/* Safe against the body moving c off the list (a failure buries it). */
#define FOR_CONNS(s, c) \
  for (mcsi_link *l_ = (s)->conns.next, *n_ = l_->next; \
       l_ != &(s)->conns && ((c) = MCSI_CONTAINER(l_, mcsi_conn, link)); l_ = n_, n_ = l_->next)

void mcsi_session_freeze(mcsi_session *s) { s->frozen = 1; }

const char *mcsi_session_busy_with(const mcsi_session *s)
{
  if (!mcsi_list_empty(&s->limbo) || s->probes) return "a lost connection's commands wait to be re-issued";
  if (!mcsi_list_empty(&s->held)) return "commands wait for a re-send's back-off";
  if (!mcsi_list_empty(&s->pending)) return "commands wait to go out (re-sent, or submitted during the handover)";
  mcsi_conn *c;
  FOR_CONNS(s, c) {
    if (c->state != MCSI_CONN_ACTIVE) return "a connection is logging in or out";
    if (!mcsi_list_empty(&c->tasks) || c->nop_task) return "commands in flight";
    if (!mcsi_transport_quiet(&c->tp)) return "a PDU half sent or half read";
  }
  return "";
}

int mcsi_session_quiet(const mcsi_session *s) { return !*mcsi_session_busy_with(s); }

static void export_conn(mcsi_conn *c, mcsi_handover_conn *hc, uint32_t index)
{
  const uint8_t *rx;
  hc->id = c->id;
  hc->cid = c->cid;
  hc->leading = (uint8_t)(c->leading != 0);
  hc->exp_statsn = c->exp_statsn;
  hc->fd_index = index;
  hc->params = c->params;
  snprintf(hc->portal, sizeof hc->portal, "%s", mcsi_conn_portal(c));
  hc->stats = *mcsi_transport_stats(&c->tp);
  hc->commands = c->commands;
  hc->format_errors = c->format_errors;
  hc->timeout_errors = c->timeout_errors;
  hc->latency = c->latency;
  hc->rx_len = (uint32_t)mcsi_transport_unread(&c->tp, &rx);
  memcpy(hc->rx, rx, hc->rx_len);
}

mcsi_status mcsi_session_export(mcsi_session *s, mcsi_handover_session *out, char *msg)
{
  if (s->discovery || s->state != MCSI_SESS_ACTIVE)
    return mcsi_msg(msg, ISDSC_SESSION_BUSY, "the session is %s, not active: it cannot be handed over",
                    mcsi_session_state_name(s->state));
  if (!s->frozen || !mcsi_session_quiet(s))
    return mcsi_msg(msg, ISDSC_SESSION_BUSY, "the session still has work in flight");
  if (!s->nconns || s->nconns > MCSI_HANDOVER_MAX_CONNS)
    return mcsi_msg(msg, ISDSC_TOO_MANY_CONNECTIONS, "%u connections (a handover carries 1..%u)", s->nconns,
                    MCSI_HANDOVER_MAX_CONNS);
  memset(out, 0, offsetof(mcsi_handover_session, conns));
  out->id = s->id;
  memcpy(out->isid, s->isid, sizeof out->isid);
  out->tsih = s->tsih;
  out->tpgt = s->tpgt;
  out->tpgt_known = (uint8_t)(s->tpgt_known != 0);
  snprintf(out->target, sizeof out->target, "%s", s->target);
  snprintf(out->target_alias, sizeof out->target_alias, "%s", s->target_alias);
  out->params = s->params;
  out->cmdsn = s->cmdsn;
  out->exp_cmdsn = s->exp_cmdsn;
  out->max_cmdsn = s->max_cmdsn;
  out->next_itt = s->next_itt;
  out->next_cid = s->next_cid;
  out->commands_retried = s->commands_retried;
  mcsi_conn *c;
  uint32_t n = 0;
  FOR_CONNS(s, c) export_conn(c, &out->conns[n], n), n++;
  out->nconns = n;
  FOR_CONNS(s, c) mcsi_transport_pause(&c->tp, 1);
  return ISDSC_SUCCESS;
}

void mcsi_session_thaw(mcsi_session *s)
{
  mcsi_conn *c;
  s->frozen = 0;
  for (mcsi_link *l = s->pending.next; l != &s->pending; l = l->next)   /* held by this freeze, not the next */
    MCSI_CONTAINER(l, mcsi_task, link)->after_freeze = 0;
  FOR_CONNS(s, c) {
    if (c->state == MCSI_CONN_ACTIVE && mcsi_transport_pause(&c->tp, 0))
      mcsi_conn_fail(c, ISDSC_OUT_OF_RESOURCES, "%s", mcsi_transport_message(&c->tp));
  }
  mcsi_session_drain(s);
}

void mcsi_session_release_sockets(mcsi_session *s, int close_them)
{
  mcsi_conn *c;
  FOR_CONNS(s, c) {
    mcsi_timer_stop(s->loop, &c->nop_timer);
    if (close_them) mcsi_transport_release(&c->tp);
    else mcsi_transport_disown(&c->tp);
    c->state = MCSI_CONN_CLOSED;
  }
}

void mcsi_session_adopt(mcsi_session *s, const mcsi_handover_session *hs)
{
  memcpy(s->isid, hs->isid, sizeof s->isid);
  s->tsih = hs->tsih;
  s->tpgt = hs->tpgt;
  s->tpgt_known = hs->tpgt_known;
  snprintf(s->target, sizeof s->target, "%s", hs->target);
  snprintf(s->target_alias, sizeof s->target_alias, "%s", hs->target_alias);
  s->params = hs->params;
  s->cmdsn = hs->cmdsn;
  s->exp_cmdsn = hs->exp_cmdsn;
  s->max_cmdsn = hs->max_cmdsn;
  s->next_itt = hs->next_itt;
  s->next_cid = hs->next_cid;
  s->commands_retried = hs->commands_retried;
}

mcsi_status mcsi_conn_adopt(mcsi_conn *c, const mcsi_handover_conn *hc, int fd)
{
  c->id = hc->id;                       /* the exporter's (the initiator made sure it is free here) */
  c->cid = hc->cid;
  c->leading = hc->leading;
  c->params = hc->params;
  c->exp_statsn = hc->exp_statsn;
  mcsi_transport_label(&c->tp, c->cid, hc->portal);
  mcsi_status st = mcsi_transport_adopt(&c->tp, fd, (int)hc->params.header_digest, (int)hc->params.data_digest,
                                        hc->params.max_recv_dsl, hc->rx, hc->rx_len, c->message);
  if (st) return st;
  mcsi_transport_restore_stats(&c->tp, &hc->stats);   /* its counters go on growing */
  c->commands = hc->commands;
  c->format_errors = hc->format_errors;
  c->timeout_errors = hc->timeout_errors;
  c->latency = hc->latency;
  c->state = MCSI_CONN_ACTIVE;
  return ISDSC_SUCCESS;
}

void mcsi_session_adopted(mcsi_session *s)
{
  mcsi_conn *c;
  FOR_CONNS(s, c) {
    mcsi_conn_start_nop(c);
    mcsi_conn_emit(c, MCSI_EV_CONN_ACTIVE, ISDSC_SUCCESS, mcsi_conn_portal(c));
  }
  FOR_CONNS(s, c) {
    if (mcsi_transport_pause(&c->tp, 0))
      mcsi_conn_fail(c, ISDSC_OUT_OF_RESOURCES, "%s", mcsi_transport_message(&c->tp));
  }
}
