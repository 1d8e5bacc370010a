/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* methods_events.c: Subscribe / Unsubscribe, and the daemon's one engine
 * subscriber that sends each event to subscribed clients as a notification
 * {"jsonrpc":"2.0","method":"Event","params":{"Kind", "UniqueSessionId",
 * "UniqueConnectionId", "OldState", "NewState", "Status", "StatusName",
 * "Reason"}} and tells the persistent logins. */
#include <string.h>
#include "clients.h"
#include "exports.h"
#include "json_text.h"
#include "log.h"
#include "methods.h"
#include "persist.h"
#include "policy.h"

#define ALL_KINDS ((((1u << MCSI_EV_COUNT) - 1) & ~1u) | (1u << MCSID_POLICY_EVENT_BIT))
/* The policies' events share one bit (policy.h). */
static const char *const policy_kinds[] = { "policy-failed", "policy-ended", "policy-stopped", NULL };

static json_t *event_json(const mcsi_event *ev)
{
  const char *name = mcsi_status_name(ev->status);
  return json_pack("{s:s, s:o, s:o, s:s?, s:s?, s:I, s:s, s:o}", "Kind", mcsi_event_name(ev->kind),
                   "UniqueSessionId", mcsid_id_json(ev->session_id), "UniqueConnectionId",
                   mcsid_id_json(ev->connection_id), "OldState", ev->old_state, "NewState", ev->new_state, "Status",
                   (json_int_t)ev->status, "StatusName", name ? name : "ISDSC_UNKNOWN", "Reason",
                   mcsid_json_text(ev->reason));   /* may quote the target */
}

static void on_event(mcsi_initiator *ini, const mcsi_event *ev, void *arg)
{
  mcsid *d = arg;
  (void)ini;
  log_debug("event %s session 0x%016llx connection 0x%016llx: %s (%s)", mcsi_event_name(ev->kind),
            (unsigned long long)ev->session_id, (unsigned long long)ev->connection_id,
            mcsi_status_name(ev->status) ? mcsi_status_name(ev->status) : "?", ev->reason ? ev->reason : "");
  json_t *msg = mcsid_rpc_notification("Event", event_json(ev));
  if (msg) mcsid_clients_broadcast(d, (int)ev->kind, msg);   /* NULL: out of memory, nobody is dropped for it */
  else log_warning("event %s: out of memory: not sent", mcsi_event_name(ev->kind));
  json_decref(msg);
  mcsid_exports_event(d, ev);
  mcsid_persist_event(d, ev);
}

void mcsid_events_start(mcsid *d) { mcsi_subscribe(d->ini, on_event, d); }

/* Kinds: optional array of kind names ("conn-failed", ...); absent: all. */
void mcsid_run_subscribe(mcsid_call *call)
{
  json_t *kinds = mcsid_param(call, "Kinds"), *k;
  unsigned mask = kinds ? 0 : ALL_KINDS;
  size_t i;
  json_array_foreach(kinds, i, k) {
    int found = 0;
    for (int kind = 1; kind < MCSI_EV_COUNT; kind++)
      if (json_is_string(k) && !strcmp(json_string_value(k), mcsi_event_name((mcsi_event_kind)kind))) {
        mask |= 1u << kind;
        found = 1;
      }
    for (int p = 0; policy_kinds[p]; p++)
      if (json_is_string(k) && !strcmp(json_string_value(k), policy_kinds[p])) {
        mask |= 1u << MCSID_POLICY_EVENT_BIT;
        found = 1;
      }
    if (!found) {
      mcsid_call_invalid_params(call, "invalid params: Kinds must be event kind names (\"conn-failed\", ...)");
      return;
    }
  }
  mcsid_client_set_events(call->client, mask);
  mcsid_call_finish(call, ISDSC_SUCCESS, NULL, NULL);
}

void mcsid_run_unsubscribe(mcsid_call *call)
{
  mcsid_client_set_events(call->client, 0);
  mcsid_call_finish(call, ISDSC_SUCCESS, NULL, NULL);
}
