/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* methods_exports.c: ExportLun, UnexportLun, ListExports (the exports
 * themselves: exports.c, on nbd/mcsi_nbd.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "exportdir.h"
#include "exports.h"

/* The spec of an ExportLun call: its export parameters as an object. */
static json_t *spec_of(const mcsid_call *call)
{
  static const char *const keys[] = { "Lun", "Socket", "Tcp", "ExportName", "ReadOnly", "MaxClients", "Tls", NULL };
  json_t *spec = json_object();
  for (const char *const *k = keys; *k; k++) {
    json_t *v = mcsid_param(call, *k);
    if (v) json_object_set(spec, *k, v);
  }
  return spec;
}

void mcsid_run_export_lun(mcsid_call *call)
{
  char msg[256], target[224];
  mcsi_id sid = mcsid_param_id(call, "UniqueSessionId");
  json_t *spec = spec_of(call);
  if (mcsid_export_spec_check(spec, msg, sizeof msg) < 0 || mcsid_export_spec_socket(call->d, spec, msg, sizeof msg) < 0) {
    char full[300];
    json_decref(spec);
    snprintf(full, sizeof full, "invalid params: %s", msg);
    mcsid_call_invalid_params(call, full);
    return;
  }
  int store = mcsid_param_bool(call, "IsPersistent", 0);
  if (store && !mcsid_export_keeper_target(call->d, sid, target, sizeof target)) {
    json_decref(spec);
    snprintf(msg, sizeof msg, "session %llu is not the session of a persistent target (PersistentLoginTarget, or "
             "LoginToTarget with IsPersistent): IsPersistent needs one", (unsigned long long)sid);
    mcsid_call_finish(call, ISDSC_INVALID_PARAMETER, msg, NULL);
    return;
  }
  mcsid_export_begin_call(call, sid, spec, store);
}

void mcsid_run_unexport_lun(mcsid_call *call)
{
  uint64_t id = mcsid_param_id(call, "ExportId");
  const char *sock = mcsid_param_string(call, "Socket");
  if (!id && !sock) {
    mcsid_call_invalid_params(call, "invalid params: ExportId or Socket is required");
    return;
  }
  char name[MCSID_EXPORT_NAME_MAX + 1], msg[256];
  if (!id && mcsid_export_socket_name(call->d, sock, name, sizeof name, msg, sizeof msg) < 0) {
    char full[300];
    snprintf(full, sizeof full, "invalid params: %s", msg);
    mcsid_call_invalid_params(call, full);
    return;
  }
  mcsid_export *x = mcsid_export_find(call->d, id, id ? NULL : name);
  if (!x) {
    mcsid_call_finish(call, ISDSC_NOT_FOUND, id ? "no export of that ExportId" : "no export on that Socket", NULL);
    return;
  }
  if (mcsid_export_remove(call->d, x) < 0)
    mcsid_call_finish(call, ISDSC_COULD_NOT_REMOVE_PERSISTENT_LOGIN_DATA, "the state file could not be written: "
                      "the export stays", NULL);
  else
    mcsid_call_finish(call, ISDSC_SUCCESS, NULL, NULL);
}

void mcsid_run_list_exports(mcsid_call *call)
{
  mcsid_call_finish(call, ISDSC_SUCCESS, NULL,
                    json_pack("{s:o}", "Exports", mcsid_exports_json(call->d, mcsid_param_id(call, "UniqueSessionId"))));
}
