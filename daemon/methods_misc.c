/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* methods_misc.c: GetVersion, Upgrade. */
#include "handover.h"
#include "handover_store.h"
#include "methods.h"

void mcsid_run_get_version(mcsid_call *call)
{
  json_t *out = json_pack("{s:s, s:i, s:s, s:o}", "Version", MCSID_VERSION, "ProtocolVersion",
                          MCSID_PROTOCOL_VERSION, "InitiatorName", mcsi_initiator_name(call->d->ini), "Methods",
                          mcsid_method_names());
  mcsid_call_finish(call, ISDSC_SUCCESS, NULL, out);
}

/* Upgrade {"Wait": true}: the handover's end, from handover.c. */
static void upgrade_ended(void *arg, mcsi_status st, const char *message, long pid)
{
  mcsid_call_finish(arg, st, message, st ? NULL : json_pack("{s:I}", "Pid", (json_int_t)pid));
}

void mcsid_run_upgrade(mcsid_call *call)
{
  mcsid *d = call->d;
  if (d->stopping || mcsid_handover_active()) {
    mcsid_call_finish(call, ISDSC_SESSION_BUSY, d->stopping ? "the daemon is stopping" : "a handover is under way",
                      NULL);
    return;
  }
  if (mcsid_param_bool(call, "ViaFdStore", 0) && mcsid_param_bool(call, "Wait", 0)) {
    mcsid_call_finish(call, ISDSC_INVALID_PARAMETER, "Wait: not with ViaFdStore (nothing starts before SIGTERM)",
                      NULL);
    return;
  }
  if (mcsid_param_bool(call, "ViaFdStore", 0)) {   /* the next SIGTERM (systemctl restart) hands over */
    const char *why = NULL;
    if (mcsid_handover_store_arm(&why) < 0) {
      mcsid_call_finish(call, ISDSC_REQUEST_NOT_SUPPORTED, why, NULL);
      return;
    }
    mcsid_call_finish(call, ISDSC_SUCCESS, NULL, NULL);
    return;
  }
  if (mcsid_param_bool(call, "Wait", 0)) {   /* answered when it ends (mcsid --upgrade-running) */
    if (mcsid_handover_wait(upgrade_ended, call) < 0) {
      mcsid_call_finish(call, ISDSC_SESSION_BUSY, "too many Upgrade calls wait already", NULL);
      return;
    }
    mcsid_handover_start(d);
    return;
  }
  mcsid_call_finish(call, ISDSC_SUCCESS, NULL, NULL);
  mcsid_handover_start(d);
}
