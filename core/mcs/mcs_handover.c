/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mcs_handover.c: what MC/S adds to a handed session (session/handover.c):
 * the policy and each path's roles go out with it, and come back as paths
 * that never logged in here. */
#include <stdio.h>
#include <stdlib.h>
#include "mcs.h"

mcsi_status mcsi_mcs_export(mcsi_mcs *m, mcsi_handover_session *out, char *msg)
{
  mcsi_status st = mcsi_session_export(&m->s, out, msg);
  if (st) return st;
  out->policy = (uint32_t)m->policy;
  out->recoveries = m->recoveries;
  uint32_t i = 0;
  for (mcsi_link *l = m->s.conns.next; l != &m->s.conns && i < out->nconns; l = l->next, i++) {
    mcsi_path *p = mcsi_path_of(MCSI_CONTAINER(l, mcsi_conn, link));
    out->conns[i].weight = p->weight;
    out->conns[i].active = (uint8_t)(p->active != 0);
    out->conns[i].primary = (uint8_t)(p->primary != 0);
  }
  return ISDSC_SUCCESS;
}

static mcsi_conn *first_joining(mcsi_mcs *m)
{
  for (mcsi_link *l = m->s.conns.next; l != &m->s.conns; l = l->next) {
    mcsi_conn *c = MCSI_CONTAINER(l, mcsi_conn, link);
    if (!c->leading && (c->state == MCSI_CONN_CONNECTING || c->state == MCSI_CONN_LOGIN)) return c;
  }
  return NULL;
}

unsigned mcsi_mcs_abort_joins(mcsi_mcs *m, mcsi_status st, const char *why)
{
  unsigned n = 0;
  mcsi_conn *c;
  while ((c = first_joining(m))) {      /* from the start each time: the add's callback may do anything */
    mcsi_conn_fail(c, st, "the login to %s was aborted: %s", mcsi_conn_portal(c), why);
    n++;
  }
  return n;
}

/* A path for hc, attached to m's session, its socket taken over. */
static mcsi_status import_path(mcsi_mcs *m, const mcsi_handover_conn *hc, int fd, char *msg)
{
  mcsi_session *s = &m->s;
  mcsi_path *p = calloc(1, sizeof *p);
  if (!p || mcsi_conn_init(&p->conn, s, &s->opts)) {
    free(p);
    return mcsi_msg(msg, ISDSC_OUT_OF_RESOURCES, "out of memory");
  }
  p->weight = hc->weight ? hc->weight : 1;
  p->active = hc->active;
  p->primary = hc->primary;
  mcsi_timer_init(&p->drain_timer, NULL);
  mcsi_session_attach(s, &p->conn);
  mcsi_status st = mcsi_conn_adopt(&p->conn, hc, fd);
  if (st) {
    snprintf(msg, MCSI_MSG_MAX, "%s", p->conn.message);
    mcsi_conn_bury(&p->conn);           /* its transport never took fd: fd stays the caller's */
    return st;
  }
  mcsi_mcs_remember_portal(m, hc->portal);
  return ISDSC_SUCCESS;
}

mcsi_status mcsi_mcs_import(mcsi_mcs *m, const mcsi_handover_session *hs, const int *fds, char *msg)
{
  mcsi_session *s = &m->s;
  mcsi_session_adopt(s, hs);
  m->policy = (int)hs->policy;
  m->recoveries = hs->recoveries;
  for (uint32_t i = 0; i < hs->nconns; i++) {
    mcsi_status st = import_path(m, &hs->conns[i], fds[hs->conns[i].fd_index], msg);
    if (st) {
      mcsi_session_release_sockets(s, 0);   /* the ones taken are forgotten: the caller keeps fds */
      return st;
    }
  }
  s->next_cid = hs->next_cid;                /* a connection added later gets a CID of its own */
  for (uint32_t i = 0; i < hs->nconns; i++)
    if (s->next_cid <= hs->conns[i].cid) s->next_cid = (uint16_t)(hs->conns[i].cid + 1);
  mcsi_session_set_state(s, MCSI_SESS_ACTIVE);
  mcsi_session_emit(s, MCSI_EV_SESSION_ACTIVE, ISDSC_SUCCESS, s->target);
  mcsi_session_adopted(s);
  return ISDSC_SUCCESS;
}
