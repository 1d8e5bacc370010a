/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api_info.c: what the public API tells of sessions and connections. */
#include <stdlib.h>
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

mcsi_status mcsi_session_get_info(mcsi_initiator *ini, mcsi_id sid, mcsi_session_info **out)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!out) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no info to fill");
  *out = NULL;
  mcsi_entry *e = mcsi_entry_find(ini, sid);
  if (!e) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  mcsi_session *s = mcsi_entry_session(e);
  const mcsi_link *conns = mcsi_session_conns(s);
  size_t n = 0;
  for (const mcsi_link *l = conns->next; l != conns; l = l->next) n++;
  mcsi_session_info *si = malloc(sizeof *si);
  mcsi_conn_info *ci = calloc(n ? n : 1, sizeof *ci);
  if (!si || !ci) {
    free(si);
    free(ci);
    return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  }
  mcsi_session_fill_info(s, si);
  si->load_balance_policy = e->m.policy;
  si->recoveries = e->m.recoveries;
  si->connections = ci;
  for (mcsi_link *l = conns->next; l != conns && si->connection_count < n; l = l->next)
    conn_info(mcsi_path_of(mcsi_conn_of_link(l)), &ci[si->connection_count++]);
  *out = si;
  return mcsi_ok(ini);
}
