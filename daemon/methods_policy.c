/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* methods_policy.c: AttachPolicy, DetachPolicy, ListPolicies (policy.h). */
#include <string.h>
#include <stdlib.h>
#include "clients.h"
#include "methods.h"
#include "policy.h"

/* UniqueSessionId, PolicyScript (a name: failover, drain, rebalance or a
 * file of policy_dir), Options (an object given to the policy). The policy's
 * connection has the rights of the client that attached it. */
void mcsid_run_attach_policy(mcsid_call *call)
{
  mcsid *d = call->d;
  mcsi_id sid = mcsid_param_id(call, "UniqueSessionId");
  mcsi_session_info *info = NULL;
  mcsi_status st = mcsi_session_get_info(d->ini, sid, &info);
  mcsi_session_info_free(info);
  if (st) {
    mcsid_call_fail_now(call, st);
    return;
  }
  char err[512];
  long id = mcsid_policy_attach_as(d, sid, mcsid_param_string(call, "PolicyScript"), mcsid_param(call, "Options"),
                                   mcsid_client_uid(call->client), mcsid_client_gid(call->client), err, sizeof err);
  if (!id) {
    mcsid_call_finish(call, ISDSC_INVALID_PARAMETER, err, NULL);
    return;
  }
  mcsid_call_finish(call, ISDSC_SUCCESS, NULL, json_pack("{s:I}", "PolicyId", (json_int_t)id));
}

void mcsid_run_detach_policy(mcsid_call *call)
{
  long id = (long)mcsid_param_uint(call, "PolicyId", 0);
  if (!mcsid_policy_detach(call->d, id)) {
    mcsid_call_finish(call, ISDSC_NOT_FOUND, "no policy of that PolicyId", NULL);
    return;
  }
  mcsid_call_finish(call, ISDSC_SUCCESS, NULL, NULL);
}

void mcsid_run_list_policies(mcsid_call *call)
{
  mcsid_call_finish(call, ISDSC_SUCCESS, NULL, json_pack("{s:o}", "Policies", mcsid_policy_list(call->d)));
}
