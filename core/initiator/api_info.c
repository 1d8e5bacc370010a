/* api_info.c: what the public API tells of sessions and connections. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "initiator.h"

size_t mcsi_session_list(const mcsi_initiator *ini, mcsi_id *ids, size_t max)
{
  size_t n = 0;
  if (!ini) return 0;
  for (const mcsi_link *l = ini->sessions.next; l != &ini->sessions; l = l->next, n++)
    if (n < max && ids) ids[n] = MCSI_CONTAINER(l, mcsi_entry, link)->m.s.id;
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

static void conn_info(const mcsi_path *p, mcsi_conn_info *ci)
{
  const mcsi_conn *c = &p->conn;
  memset(ci, 0, sizeof *ci);
  ci->id = c->id;
  ci->cid = c->cid;
  snprintf(ci->state, sizeof ci->state, "%s", mcsi_conn_state_name(c->state));
  ci->leading = c->leading;
  ci->primary = p->primary;
  ci->active = p->active;
  ci->weight = p->weight;
  snprintf(ci->portal, sizeof ci->portal, "%s", c->tp.portal);
  if (c->tp.fd >= 0) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(c->tp.fd, (struct sockaddr *)&ss, &sl) == 0)
      addr_string(&ss, ci->local_addr, sizeof ci->local_addr, &ci->local_port);
    addr_string(&c->tp.remote, ci->remote_addr, sizeof ci->remote_addr, &ci->remote_port);
  }
  ci->header_digest = (int)c->params.header_digest;
  ci->data_digest = (int)c->params.data_digest;
  ci->max_recv_dsl = c->params.max_recv_dsl;
  ci->max_send_dsl = c->params.max_send_dsl;
  ci->queue_depth = c->queue_depth;
  ci->stats = c->tp.stats;
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

mcsi_status mcsi_session_get_info(mcsi_initiator *ini, mcsi_id sid, mcsi_session_info *out)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!out) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no info to fill");
  mcsi_entry *e = mcsi_entry_find(ini, sid);
  if (!e) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  const mcsi_session *s = mcsi_entry_session(e);
  memset(out, 0, sizeof *out);
  out->id = s->id;
  snprintf(out->target, sizeof out->target, "%s", s->target);
  snprintf(out->target_alias, sizeof out->target_alias, "%s", s->target_alias);
  memcpy(out->isid, s->isid, 6);
  out->tsih = s->tsih;
  out->tpgt = s->tpgt;
  snprintf(out->state, sizeof out->state, "%s", mcsi_session_state_name(s->state));
  out->discovery = s->discovery;
  out->load_balance_policy = e->m.policy;
  out->recoveries = e->m.recoveries;
  out->commands_retried = s->commands_retried;
  session_params(&s->params, out);
  out->cmdsn = s->cmdsn;
  out->exp_cmdsn = s->exp_cmdsn;
  out->max_cmdsn = s->max_cmdsn;
  for (const mcsi_link *l = s->conns.next; l != &s->conns; l = l->next) {
    if (out->connection_count < sizeof out->connections / sizeof out->connections[0])
      conn_info(mcsi_path_of(MCSI_CONTAINER(l, mcsi_conn, link)), &out->connections[out->connection_count]);
    out->connection_count++;
  }
  return mcsi_ok(ini);
}
