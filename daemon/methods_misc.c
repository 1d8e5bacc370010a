/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* methods_misc.c: GetVersion. */
#include "methods.h"

void mcsid_run_get_version(mcsid_call *call)
{
  json_t *out = json_pack("{s:s, s:i, s:s, s:o}", "Version", MCSID_VERSION, "ProtocolVersion",
                          MCSID_PROTOCOL_VERSION, "InitiatorName", mcsi_initiator_name(call->d->ini), "Methods",
                          mcsid_method_names());
  mcsid_call_finish(call, ISDSC_SUCCESS, NULL, out);
}
