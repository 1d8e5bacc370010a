/* SPDX-License-Identifier: LGPL-2.1-or-later */
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

static json_t *stats_json(const mcsi_conn_info *c)
{
  static const struct { const char *name; int key; } rows[] = {
    { "BytesSent", MCSI_CI_BYTES_SENT }, { "BytesReceived", MCSI_CI_BYTES_RECEIVED },
    { "PDUsSent", MCSI_CI_PDUS_SENT }, { "PDUsReceived", MCSI_CI_PDUS_RECEIVED }, { "Commands", MCSI_CI_COMMANDS },
    { "DigestErrors", MCSI_CI_DIGEST_ERRORS }, { "TimeoutErrors", MCSI_CI_TIMEOUT_ERRORS },
    { "FormatErrors", MCSI_CI_FORMAT_ERRORS },
  };
  json_t *o = json_object();
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    json_object_set_new(o, rows[i].name, json_integer((json_int_t)mcsi_conn_info_get(c, rows[i].key)));
  return o;
}

static json_t *connection_json(const mcsi_conn_info *c)
{
  json_t *o = json_pack("{s:o, s:i, s:s, s:b, s:b, s:b, s:i, s:o, s:s, s:i, s:s, s:i}", "UniqueConnectionId",
                        mcsid_id_json(mcsi_conn_info_get(c, MCSI_CI_ID)), "CID", (int)mcsi_conn_info_get(c, MCSI_CI_CID), "State", mcsi_conn_info_get_string(c, MCSI_CI_STATE), "Leading", (int)mcsi_conn_info_get(c, MCSI_CI_LEADING), "Primary",
                        (int)mcsi_conn_info_get(c, MCSI_CI_PRIMARY), "Active", (int)mcsi_conn_info_get(c, MCSI_CI_ACTIVE), "Weight", (int)mcsi_conn_info_get(c, MCSI_CI_WEIGHT), "TargetPortal",
                        mcsid_portal_object(mcsi_conn_info_get_string(c, MCSI_CI_PORTAL)), "InitiatorAddress", mcsi_conn_info_get_string(c, MCSI_CI_LOCAL_ADDR), "InitiatorPort",
                        (int)mcsi_conn_info_get(c, MCSI_CI_LOCAL_PORT), "TargetAddress", mcsi_conn_info_get_string(c, MCSI_CI_REMOTE_ADDR), "TargetPort", (int)mcsi_conn_info_get(c, MCSI_CI_REMOTE_PORT));
  json_object_set_new(o, "HeaderDigest", json_string(digest_name(mcsi_conn_info_get(c, MCSI_CI_HEADER_DIGEST))));
  json_object_set_new(o, "DataDigest", json_string(digest_name(mcsi_conn_info_get(c, MCSI_CI_DATA_DIGEST))));
  json_object_set_new(o, "MaxRecvDataSegmentLength", json_integer(mcsi_conn_info_get(c, MCSI_CI_MAX_RECV_DSL)));
  json_object_set_new(o, "MaxSendDataSegmentLength", json_integer(mcsi_conn_info_get(c, MCSI_CI_MAX_SEND_DSL)));
  json_object_set_new(o, "QueueDepth", json_integer(mcsi_conn_info_get(c, MCSI_CI_QUEUE_DEPTH)));
  json_object_set_new(o, "Statistics", stats_json(c));
  return o;
}

static json_t *session_json(mcsid *d, const mcsi_session_info *s)
{
  char isid[13];
  snprintf(isid, sizeof isid, "%012llx", (unsigned long long)mcsi_session_info_get(s, MCSI_SI_ISID));
  const char *lb = mcsi_lb_policy_name(mcsi_session_info_get(s, MCSI_SI_LOAD_BALANCE_POLICY));
  json_t *o = json_pack("{s:o, s:o, s:o, s:s, s:i, s:i, s:s, s:b, s:i, s:s}", "UniqueSessionId",
                        mcsid_id_json(mcsi_session_info_get(s, MCSI_SI_ID)), "TargetName", mcsid_json_text(mcsi_session_info_get_string(s, MCSI_SI_TARGET)), "TargetAlias",
                        mcsid_json_text(mcsi_session_info_get_string(s, MCSI_SI_TARGET_ALIAS)), "ISID", isid,
                        "TSIH", (int)mcsi_session_info_get(s, MCSI_SI_TSIH), "TPGT", (int)mcsi_session_info_get(s, MCSI_SI_TPGT), "State", mcsi_session_info_get_string(s, MCSI_SI_STATE), "Discovery", (int)mcsi_session_info_get(s, MCSI_SI_DISCOVERY),
                        "LoadBalancePolicy", (int)mcsi_session_info_get(s, MCSI_SI_LOAD_BALANCE_POLICY), "LoadBalancePolicyName", lb ? lb : "");
  json_object_set_new(o, "Persistent", json_boolean(mcsi_session_info_get(s, MCSI_SI_ID) && mcsid_persist_session(d, mcsi_session_info_get_string(s, MCSI_SI_TARGET)) == mcsi_session_info_get(s, MCSI_SI_ID)));
  json_object_set_new(o, "Recoveries", json_integer(mcsi_session_info_get(s, MCSI_SI_RECOVERIES)));
  json_object_set_new(o, "CommandsRetried", json_integer((json_int_t)mcsi_session_info_get(s, MCSI_SI_COMMANDS_RETRIED)));
  json_t *n = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:b, s:b, s:b, s:i}", "MaxConnections",
                        (int)mcsi_session_info_get(s, MCSI_SI_MAX_CONNECTIONS), "MaxBurstLength", (int)mcsi_session_info_get(s, MCSI_SI_MAX_BURST_LENGTH), "FirstBurstLength",
                        (int)mcsi_session_info_get(s, MCSI_SI_FIRST_BURST_LENGTH), "MaxOutstandingR2T", (int)mcsi_session_info_get(s, MCSI_SI_MAX_OUTSTANDING_R2T),
                        "DefaultTime2Wait", (int)mcsi_session_info_get(s, MCSI_SI_DEFAULT_TIME2WAIT), "DefaultTime2Retain",
                        (int)mcsi_session_info_get(s, MCSI_SI_DEFAULT_TIME2RETAIN), "InitialR2T", (int)mcsi_session_info_get(s, MCSI_SI_INITIAL_R2T), "ImmediateData",
                        (int)mcsi_session_info_get(s, MCSI_SI_IMMEDIATE_DATA), "DataPDUInOrder", (int)mcsi_session_info_get(s, MCSI_SI_DATA_PDU_IN_ORDER), "DataSequenceInOrder",
                        (int)mcsi_session_info_get(s, MCSI_SI_DATA_SEQUENCE_IN_ORDER), "ErrorRecoveryLevel", (int)mcsi_session_info_get(s, MCSI_SI_ERROR_RECOVERY_LEVEL));
  json_object_set_new(o, "Negotiated", n);
  json_object_set_new(o, "CmdSN", json_integer(mcsi_session_info_get(s, MCSI_SI_CMDSN)));
  json_object_set_new(o, "ExpCmdSN", json_integer(mcsi_session_info_get(s, MCSI_SI_EXP_CMDSN)));
  json_object_set_new(o, "MaxCmdSN", json_integer(mcsi_session_info_get(s, MCSI_SI_MAX_CMDSN)));
  json_object_set_new(o, "ConnectionCount", json_integer((json_int_t)mcsi_session_info_get(s, MCSI_SI_CONNECTION_COUNT)));
  json_t *conns = json_array();
  for (size_t i = 0; i < mcsi_session_info_connection_count(s); i++)
    json_array_append_new(conns, connection_json(mcsi_session_info_connection(s, i)));
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
  for (size_t i = 0; i < n && i < 1024; i++) {
    mcsi_session_info *info = NULL;
    if (mcsi_session_get_info(call->d->ini, ids[i], &info) == ISDSC_SUCCESS && !mcsi_session_info_get(info, MCSI_SI_DISCOVERY))
      json_array_append_new(list, session_json(call->d, info));
    mcsi_session_info_free(info);
  }
  mcsid_call_finish(call, ISDSC_SUCCESS, NULL, json_pack("{s:o}", "Sessions", list));
}

void mcsid_run_session_info(mcsid_call *call)
{
  mcsi_session_info *info = NULL;
  mcsi_status st = mcsi_session_get_info(call->d->ini, mcsid_param_id(call, "UniqueSessionId"), &info);
  if (st)
    mcsid_call_fail_now(call, st);
  else
    mcsid_call_finish(call, st, NULL, json_pack("{s:o}", "Session", session_json(call->d, info)));
  mcsi_session_info_free(info);
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
