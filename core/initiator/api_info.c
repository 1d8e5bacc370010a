/* api_info.c: what the public API tells of sessions and connections. */
#include "initiator.h"

size_t mcsi_session_list(const mcsi_initiator *ini, mcsi_id *ids, size_t max)
{
  size_t n = 0;
  if (!ini) return 0;
  for (const mcsi_link *l = ini->sessions.next; l != &ini->sessions; l = l->next, n++)
    if (n < max && ids) ids[n] = mcsi_session_id(&MCSI_CONTAINER(l, mcsi_entry, link)->m.s);
  return n;
}

/* The session layer fills what it owns; the paths' part is MC/S's. */
static void conn_info(const mcsi_path *p, mcsi_conn_info *ci)
{
  mcsi_conn_fill_info(&p->conn, ci);
  ci->primary = p->primary;
  ci->active = p->active;
  ci->weight = p->weight;
}

mcsi_status mcsi_session_get_info(mcsi_initiator *ini, mcsi_id sid, mcsi_session_info *out)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!out) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no info to fill");
  mcsi_entry *e = mcsi_entry_find(ini, sid);
  if (!e) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  mcsi_session *s = mcsi_entry_session(e);
  mcsi_session_fill_info(s, out);
  out->load_balance_policy = e->m.policy;
  out->recoveries = e->m.recoveries;
  const mcsi_link *conns = mcsi_session_conns(s);
  for (mcsi_link *l = conns->next; l != conns; l = l->next) {
    if (out->connection_count < sizeof out->connections / sizeof out->connections[0])
      conn_info(mcsi_path_of(mcsi_conn_of_link(l)), &out->connections[out->connection_count]);
    out->connection_count++;
  }
  return mcsi_ok(ini);
}
