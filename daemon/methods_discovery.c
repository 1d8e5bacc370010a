/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* methods_discovery.c: SendTargets, and the discovered portals and targets
 * kept in state.json (AddTargetPortal, RemoveTargetPortal, ListTargetPortals,
 * ListTargets). AddTargetPortal really contacts the portal (SendTargets) and
 * stores it only when that succeeded; its CHAP (if any) is stored as an
 * account in secrets.json and the portal names the account only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json_text.h"
#include "log.h"
#include "loginopts.h"

typedef struct discovery {
  mcsid_call *call;
  int store;                /* AddTargetPortal */
  char portal[128];
  mcsid_chap chap;          /* kept only to be stored, wiped at the end */
} discovery;

/* "host:port,tpgt" -> {"Address","Port","Tpgt"} */
static json_t *address_json(const char *text)
{
  json_t *o = mcsid_portal_object(text);
  const char *comma = strrchr(text, ',');
  json_object_set_new(o, "Tpgt", json_integer(comma ? atoi(comma + 1) : 1));
  return o;
}

static json_t *targets_json(const mcsi_target_list *list)
{
  json_t *arr = json_array();
  for (size_t i = 0; list && i < list->count; i++) {
    json_t *portals = json_array();
    for (size_t j = 0; j < list->targets[i].naddr; j++)
      json_array_append_new(portals, address_json(list->targets[i].addresses[j]));
    json_array_append_new(arr, json_pack("{s:o, s:o}", "TargetName", mcsid_json_text(list->targets[i].name),
                                         "Portals", portals));
  }
  return arr;
}

/* ---- the stored lists -------------------------------------------------------------------------------- */

static int same_portal(json_t *entry, const char *portal)
{
  char text[128];
  return mcsid_portal_text(entry, text, sizeof text) == 0 && !strcmp(text, portal);
}

static void remove_through(mcsid_state *s, const char *portal)
{
  json_t *targets = mcsid_state_targets(s);
  for (size_t i = json_array_size(targets); i-- > 0;) {
    json_t *through = json_object_get(json_array_get(targets, i), "DiscoveredThrough");
    for (size_t j = json_array_size(through); j-- > 0;)
      if (!strcmp(json_string_value(json_array_get(through, j)), portal)) json_array_remove(through, j);
    if (!json_array_size(through)) json_array_remove(targets, i);
  }
}

static void merge_targets(mcsid_state *s, json_t *found, const char *portal)
{
  json_t *targets = mcsid_state_targets(s), *t;
  size_t i;
  remove_through(s, portal);
  json_array_foreach(found, i, t) {
    const char *name = json_string_value(json_object_get(t, "TargetName"));
    json_t *known = NULL, *k;
    size_t j;
    json_array_foreach(targets, j, k)
      if (!strcmp(json_string_value(json_object_get(k, "TargetName")), name)) known = k;
    if (!known) {
      known = json_pack("{s:s, s:[], s:[]}", "TargetName", name, "Portals", "DiscoveredThrough");
      json_array_append_new(targets, known);
    }
    json_object_set(known, "Portals", json_object_get(t, "Portals"));
    json_array_append_new(json_object_get(known, "DiscoveredThrough"), json_string(portal));
  }
}

static mcsi_status store_portal(mcsid *d, discovery *x, json_t *found)
{
  char msg[256];
  mcsi_status st = x->chap.from_request ? mcsid_chap_store(&d->state, &x->chap, msg, sizeof msg) : ISDSC_SUCCESS;
  if (st) return st;   /* the account first: nothing else changed yet */
  json_t *portals = mcsid_state_portals(&d->state), *p;
  size_t i;
  json_array_foreach(portals, i, p)
    if (same_portal(p, x->portal)) {
      json_array_remove(portals, i);
      break;
    }
  json_t *entry = mcsid_portal_object(x->portal);
  if (x->chap.set) json_object_set_new(entry, "ChapAccount", json_string(x->chap.account));
  json_array_append_new(portals, entry);
  merge_targets(&d->state, found, x->portal);
  return mcsid_state_save(&d->state) < 0 ? ISDSC_COULD_NOT_SAVE_PERSISTENT_LOGIN_DATA : ISDSC_SUCCESS;
}

/* ---- SendTargets / AddTargetPortal ---------------------------------------------------------------------- */

/* result: the library's const mcsi_target_list * (NULL on failure). */
static void discovered(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  discovery *x = arg;
  mcsid_call *call = x->call;
  (void)ini;
  json_t *found = st ? NULL : targets_json(result);
  if (!st && x->store) {
    st = store_portal(call->d, x, found);
    if (st) message = st == ISDSC_INVALID_PARAMETER ? "ChapAccount: the caller cannot store an account of that name"
                                                    : "the state file could not be written";
    else log_notice("target portal %s added: %zu targets", x->portal, json_array_size(found));
  }
  json_t *out = found ? json_pack("{s:o}", "Targets", found) : NULL;
  mcsid_chap_wipe(&x->chap);
  free(x);
  mcsid_call_finish(call, st, message, out);
}

static void discover(mcsid_call *call, int store)
{
  char msg[256];
  mcsid_login l;
  discovery *x = calloc(1, sizeof *x);
  if (!x) {
    mcsid_call_finish(call, ISDSC_OUT_OF_RESOURCES, NULL, NULL);
    return;
  }
  mcsi_status st = mcsid_login_from_call(call, &l, msg, sizeof msg);
  if (st) {
    free(x);
    mcsid_call_finish(call, st, msg, NULL);
    return;
  }
  x->call = call;
  x->store = store;
  snprintf(x->portal, sizeof x->portal, "%s", l.portal);
  x->chap = l.chap;
  mcsi_login_opts *o = mcsid_login_opts(&l);
  st = o ? mcsi_send_targets_async(call->d->ini, o, MCSI_COMPLETION(discovered, x)) : ISDSC_OUT_OF_RESOURCES;
  mcsi_login_opts_free(o);
  mcsid_login_wipe(&l);
  if (st) {
    mcsid_chap_wipe(&x->chap);
    free(x);
    mcsid_call_fail_now(call, st);
  }
}

static void send_targets_now(mcsid_call *call) { discover(call, 0); }
static void add_target_portal_now(mcsid_call *call) { discover(call, 1); }
void mcsid_run_send_targets(mcsid_call *call) { mcsid_chap_files_then(call, send_targets_now); }
void mcsid_run_add_target_portal(mcsid_call *call) { mcsid_chap_files_then(call, add_target_portal_now); }

/* ---- RemoveTargetPortal / ListTargetPortals / ListTargets ------------------------------------------------ */

void mcsid_run_remove_target_portal(mcsid_call *call)
{
  char portal[128];
  mcsid_state *s = &call->d->state;
  json_t *portals = mcsid_state_portals(s), *p;
  size_t i;
  mcsid_portal_text(mcsid_param(call, "TargetPortal"), portal, sizeof portal);
  json_array_foreach(portals, i, p) {
    if (!same_portal(p, portal)) continue;
    json_array_remove(portals, i);
    remove_through(s, portal);
    mcsi_status st = mcsid_state_save(s) < 0 ? ISDSC_COULD_NOT_REMOVE_PERSISTENT_LOGIN_DATA : ISDSC_SUCCESS;
    mcsid_call_finish(call, st, NULL, NULL);
    return;
  }
  mcsid_call_finish(call, ISDSC_PORTAL_NOT_FOUND, NULL, NULL);
}

void mcsid_run_list_target_portals(mcsid_call *call)
{
  mcsid_call_finish(call, ISDSC_SUCCESS, NULL,
                    json_pack("{s:O}", "TargetPortals", mcsid_state_portals(&call->d->state)));
}

void mcsid_run_list_targets(mcsid_call *call)
{
  mcsid_call_finish(call, ISDSC_SUCCESS, NULL, json_pack("{s:O}", "Targets", mcsid_state_targets(&call->d->state)));
}
