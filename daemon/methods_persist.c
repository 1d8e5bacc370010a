/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* methods_persist.c: PersistentLoginTarget, ListPersistentTargets,
 * RemovePersistentTarget (the keeping itself: persist.c). */
#include <stdio.h>
#include <string.h>
#include "exports.h"
#include "log.h"
#include "loginopts.h"
#include "persist.h"
#include "state_check.h"

/* The portals of the call (TargetPortal, or Portals) as stored objects. */
static json_t *portals_of(const mcsid_call *call)
{
  json_t *list = json_array(), *one = mcsid_param(call, "TargetPortal"), *many = mcsid_param(call, "Portals"), *p;
  char text[128];
  size_t i;
  if (one && mcsid_portal_text(one, text, sizeof text) == 0) json_array_append_new(list, mcsid_portal_object(text));
  json_array_foreach(many, i, p)
    if (mcsid_portal_text(p, text, sizeof text) == 0) json_array_append_new(list, mcsid_portal_object(text));
  return list;
}

/* Adds the options and CHAP account to entry; a failing Status with msg. */
static mcsi_status complete_entry(mcsid_call *call, json_t *entry, char *msg, size_t len)
{
  json_t *pv = mcsid_param(call, "LoadBalancePolicy");
  if (pv) {
    int policy = mcsid_policy_number(pv);
    if (!policy) {
      snprintf(msg, len, "LoadBalancePolicy is not 1..%d", MCSI_LB_COUNT - 1);
      return ISDSC_INVALID_LOAD_BALANCE_POLICY;
    }
    json_object_set_new(entry, "LoadBalancePolicy", json_integer(policy));
  }
  const char *script = mcsid_param_string(call, "PolicyScript");
  if (script) json_object_set_new(entry, "PolicyScript", json_string(script));
  const char *digests[] = { "HeaderDigest", "DataDigest" };
  for (int i = 0; i < 2; i++) {
    const char *v = mcsid_param_string(call, digests[i]);
    if (v && mcsid_digest_number(v) < 0) {
      snprintf(msg, len, "%s is \"None\" or \"CRC32C\"", digests[i]);
      return ISDSC_INVALID_PARAMETER;
    }
    if (v) json_object_set_new(entry, digests[i], json_string(v));
  }
  mcsid_chap chap;
  mcsi_status st = mcsid_chap_from_call(call, &chap, msg, len);
  if (st) return st;
  if (chap.set) json_object_set_new(entry, "ChapAccount", json_string(chap.account));
  if (mcsid_check_persistent(entry, msg, len) < 0) {   /* what is stored loads again: state_check.h */
    mcsid_chap_wipe(&chap);
    return ISDSC_INVALID_PARAMETER;
  }
  if (chap.from_request) st = mcsid_chap_store(&call->d->state, &chap, msg, len);
  mcsid_chap_wipe(&chap);
  return st;
}

void mcsid_persist_add_from_call(mcsid_call *call, json_t *entry)
{
  char msg[256] = "";
  mcsid_state *state = &call->d->state;
  json_t *secrets_before = mcsid_secrets_snapshot(state);
  mcsi_status st = complete_entry(call, entry, msg, sizeof msg);
  if (st) {
    json_decref(entry);
    mcsid_call_finish(call, st, msg, NULL);
  } else if (mcsid_persist_add(call->d, entry, call) < 0 && mcsid_secrets_restore(state, secrets_before) < 0) {
    log_err("a CHAP account stored for a persistent target that was not stored could not be taken back");
  }
  json_decref(secrets_before);
}

static void persistent_login_target_now(mcsid_call *call)
{
  json_t *portals = portals_of(call);
  long long n = mcsid_param_uint(call, "Connections", 1);
  if (!json_array_size(portals) || n < 1 || n > 32) {
    json_decref(portals);
    mcsid_call_invalid_params(call, "invalid params: TargetPortal or Portals is required, Connections is 1..32");
    return;
  }
  json_t *entry = json_pack("{s:s, s:o, s:I}", "TargetName", mcsid_param_string(call, "TargetName"), "Portals",
                            portals, "Connections", (json_int_t)n);
  char msg[300];
  json_t *recovery = mcsid_param(call, "RecoveryTimeoutMs");   /* how long NBD clients wait, too */
  if (recovery) json_object_set(entry, "RecoveryTimeoutMs", recovery);
  if (mcsid_exports_entry_from_call(call, entry, msg, sizeof msg) < 0) {
    json_decref(entry);
    mcsid_call_invalid_params(call, msg);
    return;
  }
  mcsid_persist_add_from_call(call, entry);
}

void mcsid_run_persistent_login_target(mcsid_call *call)
{
  mcsid_chap_files_then(call, persistent_login_target_now);
}

void mcsid_run_list_persistent_targets(mcsid_call *call)
{
  json_t *list = json_deep_copy(mcsid_state_persistent(&call->d->state)), *e;
  size_t i;
  json_array_foreach(list, i, e) {
    mcsi_id sid = mcsid_persist_session(call->d, json_string_value(json_object_get(e, "TargetName")));
    json_object_set_new(e, "UniqueSessionId", mcsid_id_json(sid));
  }
  mcsid_call_finish(call, ISDSC_SUCCESS, NULL, json_pack("{s:o}", "PersistentTargets", list));
}

void mcsid_run_remove_persistent_target(mcsid_call *call)
{
  int rc = mcsid_persist_remove(call->d, mcsid_param_string(call, "TargetName"));
  mcsid_call_finish(call,
                    rc < 0    ? ISDSC_COULD_NOT_REMOVE_PERSISTENT_LOGIN_DATA
                    : rc == 0 ? ISDSC_TARGET_NOT_FOUND
                              : ISDSC_SUCCESS,
                    NULL, NULL);
}
