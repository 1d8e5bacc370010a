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

static void added(mcsi_path *p, mcsi_status st, const char *message, void *arg)
{
  mcsi_op *op = arg;
  op->path = NULL;
  op->r.connection_id = st ? 0 : mcsi_conn_id(&p->conn);
  mcsi_op_finish(op, st, message);
}

static mcsi_status add_async(mcsi_initiator *ini, mcsi_id sid, const mcsi_conn_opts *o, mcsi_result_cb cb, void *arg)
{
  mcsi_entry *e = NULL;
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_status st = mcsi_entry_ready(ini, sid, 0, &e);
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
  mcsi_op_finish(op, st, message);
}

static mcsi_status remove_async(mcsi_initiator *ini, mcsi_id sid, mcsi_id cid, mcsi_result_cb cb, void *arg)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!cb) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no completion callback");
  mcsi_entry *e = mcsi_entry_find(ini, sid);
  if (!e) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
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
