/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api_connection.c: the MC/S operations of the public API: adding and
 * removing a connection of a session, and its load-balance policy. */
#include <stdio.h>
#include <string.h>
#include "initiator.h"

static mcsi_status check_conn_opts(mcsi_initiator *ini, const mcsi_conn_opts *o)
{
  if (!o || !o->portal || !*o->portal) return mcsi_fail(ini, ISDSC_NO_PORTAL_SPECIFIED, "no portal given");
  if (strlen(o->portal) >= 80) return mcsi_fail(ini, ISDSC_INVALID_HOST, "portal name too long");
  if (o->login_timeout_ms < 0) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "negative login timeout");
  return mcsi_check_chap(ini, &o->chap);
}

/* ---- the wanted number of connections (mcsi.h) ------------------------------------------------ */

static uint32_t active_connections(mcsi_entry *e)
{
  uint32_t n = 0;
  mcsi_link *conns = mcsi_session_conns(mcsi_entry_session(e));
  for (mcsi_link *l = conns->next; l != conns; l = l->next)
    if (mcsi_conn_state_of(mcsi_conn_of_link(l)) == MCSI_CONN_ACTIVE) n++;
  return n;
}

/* After a successful add: at least the active connections; the message says so. */
static void wanted_after_add(mcsi_entry *e, mcsi_id cid, char *msg, size_t len)
{
  uint32_t was = e->wanted, now = active_connections(e);
  if (now > e->wanted) e->wanted = now;
  if (e->wanted != was)
    snprintf(msg, len, "connection 0x%016llx added; the session's wanted connections: %u (was %u)",
             (unsigned long long)cid, e->wanted, was);
  else
    snprintf(msg, len, "connection 0x%016llx added; the session's wanted connections stay %u (it had fewer)",
             (unsigned long long)cid, e->wanted);
}

static void wanted_after_remove(mcsi_entry *e, mcsi_id cid, char *msg, size_t len)
{
  uint32_t was = e->wanted;
  if (e->wanted > 1) e->wanted--;
  snprintf(msg, len, "connection 0x%016llx removed; the session's wanted connections: %u (was %u)",
           (unsigned long long)cid, e->wanted, was);
}

static mcsi_status set_wanted(mcsi_initiator *ini, mcsi_id sid, uint32_t n, char *msg)
{
  mcsi_entry *e = mcsi_entry_find(ini, sid);
  if (!e) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  if (n < 1 || n > 65535) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "wanted connections %u: not 1..65535", n);
  uint32_t was = e->wanted;
  e->wanted = n;
  return mcsi_msg(msg, ISDSC_SUCCESS, "the session's wanted connections: %u (was %u)", n, was);
}

static mcsi_status set_wanted_async(mcsi_initiator *ini, mcsi_id sid, uint32_t n, mcsi_result_cb cb, void *arg)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_op *op = mcsi_op_new(ini, cb, arg);
  if (!op) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  mcsi_status st = set_wanted(ini, sid, n, op->message);
  if (st) {
    mcsi_op_drop(op);
    return st;
  }
  op->r.session_id = sid;
  mcsi_op_finish_later(op, st, op->message);   /* the callback never runs inside the call */
  return mcsi_ok(ini);
}

mcsi_status mcsi_set_wanted_connections_async(mcsi_initiator *ini, mcsi_id sid, uint32_t n, mcsi_completion c)
{
  mcsi_relay *r;
  mcsi_status st = mcsi_relay_start(ini, c, &r);
  if (!st) st = set_wanted_async(ini, sid, n, mcsi_relay_ids, r);
  return st && r ? mcsi_relay_refused(r, st) : st;
}

mcsi_status mcsi_set_wanted_connections(mcsi_initiator *ini, mcsi_id sid, uint32_t n)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  mcsi_status st = set_wanted(ini, sid, n, ini->message);
  return st;
}

/* ---- adding ------------------------------------------------------------------------------------ */

static void added(mcsi_path *p, mcsi_status st, const char *message, void *arg)
{
  mcsi_op *op = arg;
  op->path = NULL;
  op->r.connection_id = st ? 0 : mcsi_conn_id(&p->conn);
  mcsi_entry *e = st ? NULL : mcsi_entry_find(op->ini, op->r.session_id);
  if (e) {
    wanted_after_add(e, op->r.connection_id, op->message, sizeof op->message);
    message = op->message;
  }
  mcsi_op_finish(op, st, message);
}

static mcsi_status add_async(mcsi_initiator *ini, mcsi_id sid, const mcsi_conn_opts *o, mcsi_result_cb cb, void *arg)
{
  mcsi_entry *e = NULL;
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_status st = mcsi_entry_ready(ini, sid, 0, &e);
  if (!st) st = mcsi_entry_not_handing_over(ini, e, "a new connection is");   /* the blob would not have it */
  if (!st) st = check_conn_opts(ini, o);
  if (st) return st;
  mcsi_session *s = mcsi_entry_session(e);
  mcsi_login_opts m = *mcsi_session_opts(s);
  m.portal = o->portal;
  if (o->chap.secret) m.chap = o->chap;
  if (o->login_timeout_ms) m.login_timeout_ms = o->login_timeout_ms;
  mcsi_op *op = mcsi_op_new(ini, cb, arg);
  if (!op) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  mcsi_id cid = 0;
  op->r.session_id = mcsi_session_id(s);
  st = mcsi_mcs_add(&e->m, &m, o->weight, added, op, &cid, ini->message);
  if (st) {
    mcsi_op_drop(op);
    return st;
  }
  op->path = mcsi_mcs_find_path(&e->m, cid);
  return mcsi_ok(ini);
}

mcsi_status mcsi_add_connection_async(mcsi_initiator *ini, mcsi_id sid, const mcsi_conn_opts *o, mcsi_completion c)
{
  mcsi_relay *r;
  mcsi_status st = mcsi_relay_start(ini, c, &r);
  if (!st) st = add_async(ini, sid, o, mcsi_relay_ids, r);
  return st && r ? mcsi_relay_refused(r, st) : st;
}

mcsi_status mcsi_add_connection_to_session(mcsi_initiator *ini, mcsi_id sid, const mcsi_conn_opts *o, mcsi_id *cid)
{
  mcsi_wait w = { 0 };
  if (ini && mcsi_in_callback(ini)) return mcsi_blocking_refused(ini);
  mcsi_status st = add_async(ini, sid, o, mcsi_wait_wake, &w);
  if (st) return st;
  st = mcsi_wait_for(ini, &w);
  if (!st && cid) *cid = w.cid;
  return st;
}

static void removed(mcsi_path *p, mcsi_status st, const char *message, void *arg)
{
  mcsi_op *op = arg;
  op->path = NULL;
  op->r.connection_id = mcsi_conn_id(&p->conn);
  mcsi_entry *e = st ? NULL : mcsi_entry_find(op->ini, op->r.session_id);
  if (e) {
    wanted_after_remove(e, op->r.connection_id, op->message, sizeof op->message);
    message = op->message;
  }
  mcsi_op_finish(op, st, message);
}

static mcsi_status remove_async(mcsi_initiator *ini, mcsi_id sid, mcsi_id cid, mcsi_result_cb cb, void *arg)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_entry *e = mcsi_entry_find(ini, sid);
  if (!e) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  mcsi_status busy = mcsi_entry_not_handing_over(ini, e, "removing a connection is");   /* its Logout is held */
  if (busy) return busy;
  mcsi_path *p = mcsi_mcs_find_path(&e->m, cid);
  if (!p) return mcsi_fail(ini, ISDSC_INVALID_CONNECTION_ID, "connection 0x%016llx is not in session 0x%016llx",
                           (unsigned long long)cid, (unsigned long long)sid);
  mcsi_op *op = mcsi_op_new(ini, cb, arg);
  if (!op) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  op->r.session_id = sid;
  mcsi_status st = mcsi_mcs_remove(&e->m, p, removed, op, ini->message);
  if (st) {
    mcsi_op_drop(op);
    return st;
  }
  op->path = p;
  return mcsi_ok(ini);
}

mcsi_status mcsi_remove_connection_async(mcsi_initiator *ini, mcsi_id sid, mcsi_id cid, mcsi_completion c)
{
  mcsi_relay *r;
  mcsi_status st = mcsi_relay_start(ini, c, &r);
  if (!st) st = remove_async(ini, sid, cid, mcsi_relay_ids, r);
  return st && r ? mcsi_relay_refused(r, st) : st;
}

mcsi_status mcsi_remove_connection_from_session(mcsi_initiator *ini, mcsi_id sid, mcsi_id cid)
{
  mcsi_wait w = { 0 };
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (mcsi_in_callback(ini)) return mcsi_blocking_refused(ini);
  mcsi_status st = remove_async(ini, sid, cid, mcsi_wait_wake, &w);
  return st ? st : mcsi_wait_for(ini, &w);
}

mcsi_status mcsi_set_load_balance_policy(mcsi_initiator *ini, mcsi_id sid, int policy, const mcsi_lb_path *paths,
                                         size_t n)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  mcsi_entry *e = mcsi_entry_find(ini, sid);
  if (!e) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  mcsi_status st = mcsi_mcs_set_policy(&e->m, policy, paths, n, ini->message);
  return st ? st : mcsi_ok(ini);
}
