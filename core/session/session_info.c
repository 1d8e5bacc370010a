/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* session_info.c: what the public API tells of a session and of its
 * connections (mcsi_session_info, mcsi_conn_info), filled by the layer that
 * owns the fields; the transport's part through its accessors. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "session.h"

static void addr_string(const struct sockaddr_storage *ss, char *buf, size_t len, uint16_t *port)
{
  char host[64] = "", serv[8] = "0";
  getnameinfo((const struct sockaddr *)ss, sizeof *ss, host, sizeof host, serv, sizeof serv,
              NI_NUMERICHOST | NI_NUMERICSERV);
  snprintf(buf, len, "%s", host);
  *port = (uint16_t)atoi(serv);
}

void mcsi_conn_fill_info(const mcsi_conn *c, mcsi_conn_info *ci)
{
  const mcsi_transport *tp = &c->tp;
  memset(ci, 0, sizeof *ci);
  ci->id = c->id;
  ci->cid = c->cid;
  snprintf(ci->state, sizeof ci->state, "%s", mcsi_conn_state_name(c->state));
  ci->leading = c->leading;
  snprintf(ci->portal, sizeof ci->portal, "%s", mcsi_transport_portal(tp));
  if (mcsi_transport_fd(tp) >= 0) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(mcsi_transport_fd(tp), (struct sockaddr *)&ss, &sl) == 0)
      addr_string(&ss, ci->local_addr, sizeof ci->local_addr, &ci->local_port);
    addr_string(mcsi_transport_remote(tp), ci->remote_addr, sizeof ci->remote_addr, &ci->remote_port);
  }
  ci->header_digest = (int)c->params.header_digest;
  ci->data_digest = (int)c->params.data_digest;
  ci->max_recv_dsl = c->params.max_recv_dsl;
  ci->max_send_dsl = c->params.max_send_dsl;
  ci->queue_depth = c->queue_depth;
  ci->stats = *mcsi_transport_stats(tp);
  ci->stats.commands = c->commands;
  ci->stats.format_errors += c->format_errors;
  ci->stats.timeout_errors += c->timeout_errors;
}

static void session_params(const mcsi_params *p, mcsi_session_info *out)
{
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
}

void mcsi_session_fill_info(const mcsi_session *s, mcsi_session_info *out)
{
  memset(out, 0, sizeof *out);
  out->id = s->id;
  snprintf(out->target, sizeof out->target, "%s", s->target);
  snprintf(out->target_alias, sizeof out->target_alias, "%s", s->target_alias);
  memcpy(out->isid, s->isid, 6);
  out->tsih = s->tsih;
  out->tpgt = s->tpgt;
  snprintf(out->state, sizeof out->state, "%s", mcsi_session_state_name(s->state));
  out->discovery = s->discovery;
  out->commands_retried = s->commands_retried;
  session_params(&s->params, out);
  out->cmdsn = s->cmdsn;
  out->exp_cmdsn = s->exp_cmdsn;
  out->max_cmdsn = s->max_cmdsn;
}
