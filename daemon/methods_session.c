/* methods_session.c: sessions and connections (LoginToTarget, LogoutFromTarget,
 * AddConnectionToSession, RemoveConnectionFromSession, SessionList,
 * GetSessionInfo, SetLoadBalancePolicy). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "exports.h"
#include "json_text.h"
#include "log.h"
#include "loginopts.h"
#include "persist.h"

static const char *digest_name(int d) { return d == MCSI_DIGEST_CRC32C ? "CRC32C" : "None"; }

static json_t *stats_json(const mcsi_conn_stats *s)
{
  return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "BytesSent", (json_int_t)s->bytes_sent,
                   "BytesReceived", (json_int_t)s->bytes_received, "PDUsSent", (json_int_t)s->pdus_sent,
                   "PDUsReceived", (json_int_t)s->pdus_received, "Commands", (json_int_t)s->commands,
                   "DigestErrors", (json_int_t)s->digest_errors, "TimeoutErrors", (json_int_t)s->timeout_errors,
                   "FormatErrors", (json_int_t)s->format_errors);
}

static json_t *connection_json(const mcsi_conn_info *c)
{
  json_t *o = json_pack("{s:o, s:i, s:s, s:b, s:b, s:b, s:i, s:o, s:s, s:i, s:s, s:i}", "UniqueConnectionId",
                        mcsid_id_json(c->id), "CID", c->cid, "State", c->state, "Leading", c->leading, "Primary",
                        c->primary, "Active", c->active, "Weight", (int)c->weight, "TargetPortal",
                        mcsid_portal_object(c->portal), "InitiatorAddress", c->local_addr, "InitiatorPort",
                        c->local_port, "TargetAddress", c->remote_addr, "TargetPort", c->remote_port);
  json_object_set_new(o, "HeaderDigest", json_string(digest_name(c->header_digest)));
  json_object_set_new(o, "DataDigest", json_string(digest_name(c->data_digest)));
  json_object_set_new(o, "MaxRecvDataSegmentLength", json_integer(c->max_recv_dsl));
  json_object_set_new(o, "MaxSendDataSegmentLength", json_integer(c->max_send_dsl));
  json_object_set_new(o, "QueueDepth", json_integer(c->queue_depth));
  json_object_set_new(o, "Statistics", stats_json(&c->stats));
  return o;
}

static json_t *session_json(mcsid *d, const mcsi_session_info *s)
{
  char isid[13];
  for (int i = 0; i < 6; i++) snprintf(isid + 2 * i, 3, "%02x", s->isid[i]);
  const char *lb = mcsi_lb_policy_name(s->load_balance_policy);
  json_t *o = json_pack("{s:o, s:o, s:o, s:s, s:i, s:i, s:s, s:b, s:i, s:s}", "UniqueSessionId",
                        mcsid_id_json(s->id), "TargetName", mcsid_json_text(s->target), "TargetAlias",
                        mcsid_json_text(s->target_alias), "ISID", isid,
                        "TSIH", s->tsih, "TPGT", s->tpgt, "State", s->state, "Discovery", s->discovery,
                        "LoadBalancePolicy", s->load_balance_policy, "LoadBalancePolicyName", lb ? lb : "");
  json_object_set_new(o, "Persistent", json_boolean(s->id && mcsid_persist_session(d, s->target) == s->id));
  json_object_set_new(o, "Recoveries", json_integer(s->recoveries));
  json_object_set_new(o, "CommandsRetried", json_integer((json_int_t)s->commands_retried));
  json_t *n = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:b, s:b, s:b, s:i}", "MaxConnections",
                        (int)s->max_connections, "MaxBurstLength", (int)s->max_burst_length, "FirstBurstLength",
                        (int)s->first_burst_length, "MaxOutstandingR2T", (int)s->max_outstanding_r2t,
                        "DefaultTime2Wait", (int)s->default_time2wait, "DefaultTime2Retain",
                        (int)s->default_time2retain, "InitialR2T", s->initial_r2t, "ImmediateData",
                        s->immediate_data, "DataPDUInOrder", s->data_pdu_in_order, "DataSequenceInOrder",
                        s->data_sequence_in_order, "ErrorRecoveryLevel", s->error_recovery_level);
  json_object_set_new(o, "Negotiated", n);
  json_object_set_new(o, "CmdSN", json_integer(s->cmdsn));
  json_object_set_new(o, "ExpCmdSN", json_integer(s->exp_cmdsn));
  json_object_set_new(o, "MaxCmdSN", json_integer(s->max_cmdsn));
  json_object_set_new(o, "ConnectionCount", json_integer((json_int_t)s->connection_count));
  json_t *conns = json_array();
  size_t shown = s->connection_count < 32 ? s->connection_count : 32;
  for (size_t i = 0; i < shown; i++) json_array_append_new(conns, connection_json(&s->connections[i]));
  json_object_set_new(o, "Connections", conns);
  return o;
}

/* ---- LoginToTarget -------------------------------------------------------------------------------- */

static void login_done(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  const mcsi_session_result *ids = result;
  mcsid_call *call = arg;
  (void)ini;
  if (st)
    log_info("LoginToTarget %s: %s", mcsid_param_string(call, "TargetName"), mcsi_status_name(st));
  else
    log_info("LoginToTarget %s: session %llu", mcsid_param_string(call, "TargetName"),
             (unsigned long long)ids->session_id);
  if (!st && call->d->stopping) mcsid_logout_on_shutdown(call->d, ids->session_id);
  json_t *out = st ? NULL
                          : json_pack("{s:o, s:o}", "UniqueSessionId", mcsid_id_json(ids->session_id),
                                      "UniqueConnectionId", mcsid_id_json(ids->connection_id));
  mcsid_call_finish(call, st, message, out);
}

/* IsPersistent: the same as PersistentLoginTarget with one connection. */
static void login_persistent(mcsid_call *call)
{
  char portal[128];
  mcsid_portal_text(mcsid_param(call, "TargetPortal"), portal, sizeof portal);
  json_t *entry = json_pack("{s:s, s:[o], s:i}", "TargetName", mcsid_param_string(call, "TargetName"), "Portals",
                            mcsid_portal_object(portal), "Connections", 1);
  mcsid_persist_add_from_call(call, entry);
}

static void login_to_target_now(mcsid_call *call)
{
  char msg[256];
  mcsid_login l;
  if (mcsid_param_bool(call, "IsPersistent", 0)) {
    login_persistent(call);
    return;
  }
  mcsi_status st = mcsid_login_from_call(call, &l, msg, sizeof msg);
  if (st) {
    mcsid_call_finish(call, st, msg, NULL);
    return;
  }
  mcsi_login_opts *o = mcsid_login_opts(&l);
  st = o ? mcsi_login_to_target_async(call->d->ini, o, MCSI_COMPLETION(login_done, call)) : ISDSC_OUT_OF_RESOURCES;
  mcsi_login_opts_free(o);
  mcsid_login_wipe(&l);
  if (st) mcsid_call_fail_now(call, st);
}

void mcsid_run_login_to_target(mcsid_call *call) { mcsid_chap_files_then(call, login_to_target_now); }

/* ---- LogoutFromTarget -------------------------------------------------------------------------------- */

static void logout_done(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  (void)result;
  (void)ini;
  mcsid_call_finish(arg, st, message, NULL);
}

void mcsid_run_logout_from_target(mcsid_call *call)
{
  mcsi_id sid = mcsid_param_id(call, "UniqueSessionId");
  mcsid_exports_stop_session(call->d, sid);   /* its NBD clients closed before the session goes */
  mcsi_status st = mcsi_logout_from_target_async(call->d->ini, sid, MCSI_COMPLETION(logout_done, call));
  if (st) {
    mcsid_call_fail_now(call, st);
    return;
  }
  mcsid_persist_logged_out(call->d, sid);
}

/* ---- AddConnectionToSession / RemoveConnectionFromSession ------------------------------------------- */

static void add_done(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  const mcsi_session_result *ids = result;
  (void)ini;
  json_t *out = st ? NULL : json_pack("{s:o}", "UniqueConnectionId", mcsid_id_json(ids->connection_id));
  mcsid_call_finish(arg, st, message, out);
}

static void add_connection_now(mcsid_call *call)
{
  char msg[256];
  mcsid_login l;
  mcsi_status st = mcsid_login_from_call(call, &l, msg, sizeof msg);
  if (st) {
    mcsid_call_finish(call, st, msg, NULL);
    return;
  }
  mcsi_conn_opts *co = mcsid_conn_opts(&l, (uint32_t)mcsid_param_uint(call, "Weight", 0));
  st = co ? mcsi_add_connection_async(call->d->ini, mcsid_param_id(call, "UniqueSessionId"), co, MCSI_COMPLETION(add_done, call))
          : ISDSC_OUT_OF_RESOURCES;
  mcsi_conn_opts_free(co);
  mcsid_login_wipe(&l);
  if (st) mcsid_call_fail_now(call, st);
}

void mcsid_run_add_connection_to_session(mcsid_call *call) { mcsid_chap_files_then(call, add_connection_now); }

static void remove_done(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  (void)result;
  (void)ini;
  mcsid_call_finish(arg, st, message, NULL);
}

void mcsid_run_remove_connection_from_session(mcsid_call *call)
{
  mcsi_status st = mcsi_remove_connection_async(call->d->ini, mcsid_param_id(call, "UniqueSessionId"),
                                                mcsid_param_id(call, "UniqueConnectionId"), MCSI_COMPLETION(remove_done, call));
  if (st) mcsid_call_fail_now(call, st);
}

/* ---- SessionList / GetSessionInfo (no I/O: the engine answers at once) ------------------------------- */

void mcsid_run_sessions(mcsid_call *call)
{
  mcsi_id ids[1024];
  size_t n = mcsi_session_list(call->d->ini, ids, 1024);
  json_t *list = json_array();
  mcsi_session_info *info = malloc(sizeof *info);
  for (size_t i = 0; info && i < n && i < 1024; i++)
    if (mcsi_session_get_info(call->d->ini, ids[i], info) == ISDSC_SUCCESS && !info->discovery)
      json_array_append_new(list, session_json(call->d, info));
  free(info);
  mcsid_call_finish(call, ISDSC_SUCCESS, NULL, json_pack("{s:o}", "Sessions", list));
}

void mcsid_run_session_info(mcsid_call *call)
{
  mcsi_session_info *info = malloc(sizeof *info);
  if (!info) {
    mcsid_call_finish(call, ISDSC_OUT_OF_RESOURCES, NULL, NULL);
    return;
  }
  mcsi_status st = mcsi_session_get_info(call->d->ini, mcsid_param_id(call, "UniqueSessionId"), info);
  if (st)
    mcsid_call_fail_now(call, st);
  else
    mcsid_call_finish(call, st, NULL, json_pack("{s:o}", "Session", session_json(call->d, info)));
  free(info);
}

/* ---- SetLoadBalancePolicy (no I/O) ---------------------------------------------------------------------- */

/* Paths: [{"UniqueConnectionId", "Weight", "Active", "Primary"}]; -1 if malformed. */
static long read_paths(json_t *arr, mcsi_lb_path *paths, size_t max)
{
  size_t i;
  json_t *p;
  if (json_array_size(arr) > max) return -1;
  json_array_foreach(arr, i, p) {
    json_t *id = json_object_get(p, "UniqueConnectionId"), *w = json_object_get(p, "Weight");
    json_t *a = json_object_get(p, "Active"), *pr = json_object_get(p, "Primary");
    if (!json_is_object(p) || !json_is_integer(id) || (w && !json_is_integer(w)) || (a && !json_is_boolean(a)) ||
        (pr && !json_is_boolean(pr)))
      return -1;
    paths[i] = (mcsi_lb_path){ .connection_id = (mcsi_id)json_integer_value(id),
                               .weight = w ? (uint32_t)json_integer_value(w) : 0,
                               .active = a ? json_is_true(a) : 1, .primary = pr && json_is_true(pr) };
  }
  return (long)json_array_size(arr);
}

void mcsid_run_set_load_balance_policy(mcsid_call *call)
{
  mcsi_lb_path paths[32];
  json_t *pv = mcsid_param(call, "LoadBalancePolicy");
  int policy = json_is_integer(pv) ? (int)json_integer_value(pv) : mcsid_policy_number(pv);
  long n = 0;
  if (mcsid_param(call, "Paths") && (n = read_paths(mcsid_param(call, "Paths"), paths, 32)) < 0) {
    mcsid_call_invalid_params(call, "invalid params: Paths must be at most 32 objects {UniqueConnectionId, "
                                    "Weight, Active, Primary}");
    return;
  }
  mcsi_status st = mcsi_set_load_balance_policy(call->d->ini, mcsid_param_id(call, "UniqueSessionId"), policy,
                                                n ? paths : NULL, (size_t)n);
  if (st)
    mcsid_call_fail_now(call, st);
  else
    mcsid_call_finish(call, st, NULL, NULL);
}
