/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* persist.c: persistent logins kept up with back-off (see persist.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "exports.h"
#include "log.h"
#include "loginopts.h"
#include "persist.h"
#include "policy.h"
#include "state_check.h"

struct mcsid_keeper {
  mcsid *d;
  mcsid_keeper *next;
  char target[224];         /* its entry's TargetName: the entry is looked up in the state each time */
  mcsi_id sid;              /* the session it holds, 0: none */
  mcsi_id failed_sid;       /* its last session that failed for good: reaped once the next is up */
  size_t added;             /* connections logged in (the leading one included) */
  size_t attempt;           /* picks the portal */
  long backoff_ms;
  uint64_t timer;
  uint64_t bridge_timer;    /* a connection was lost while the policy starts: bridge() from the loop */
  mcsi_id handed_sid;       /* the session taken over in a handover, bridged until its policy runs (0: none) */
  int busy;                 /* an operation is in flight */
  int idle;                 /* logged out on request: nothing until woken */
  int removed;              /* its entry is gone: free it when the operation ends */
  size_t removed_extra;     /* connections removed because Connections went down (adopted or changed live) */
  int adopted;              /* the waiter's session was live already: adopted, not logged in */
  mcsi_status first_status; /* of the pass a caller waits for */
  mcsid_call *waiter;       /* PersistentLoginTarget, answered after the first pass */
  json_t *conn_ids;         /* the waiter's UniqueConnectionIds */
};

static void step(mcsid_keeper *k);
static void reap_later(mcsid *d, mcsi_id *sid);

static const char *target_of(const mcsid_keeper *k) { return k->target; }

/* The index of target's entry in the state's list, or -1. */
static long entry_index(json_t *list, const char *target)
{
  json_t *e;
  size_t i;
  json_array_foreach(list, i, e) {
    const char *name = json_string_value(json_object_get(e, "TargetName"));
    if (name && target && !strcmp(name, target)) return (long)i;
  }
  return -1;
}

/* The keeper's entry as the state holds it now (borrowed), NULL once removed. */
static json_t *entry_of(const mcsid_keeper *k)
{
  json_t *list = mcsid_state_persistent(&k->d->state);
  long i = entry_index(list, k->target);
  return i < 0 ? NULL : json_array_get(list, (size_t)i);
}

static size_t wanted_connections(const mcsid_keeper *k)
{
  json_int_t n = json_integer_value(json_object_get(entry_of(k), "Connections"));
  return n < 1 ? 1 : (size_t)n;
}

static void portal_at(const mcsid_keeper *k, size_t i, char *out, size_t len)
{
  json_t *portals = json_object_get(entry_of(k), "Portals");
  size_t n = json_array_size(portals);
  out[0] = 0;
  if (n) mcsid_portal_text(json_array_get(portals, i % n), out, len);
}

static void keeper_free(mcsid_keeper *k)
{
  if (k->timer) mcsi_timer_cancel(k->d->ini, k->timer);
  if (k->bridge_timer) mcsi_timer_cancel(k->d->ini, k->bridge_timer);
  json_decref(k->conn_ids);
  free(k);
}

static void unlink_keeper(mcsid_keeper *k)
{
  for (mcsid_keeper **p = &k->d->keepers; *p; p = &(*p)->next)
    if (*p == k) {
      *p = k->next;
      return;
    }
}

/* The caller of PersistentLoginTarget hears how the first pass went. */
static void answer_waiter(mcsid_keeper *k, mcsi_status st, const char *message)
{
  mcsid_call *call = k->waiter;
  if (!call) return;
  k->waiter = NULL;
  json_t *ids = k->conn_ids ? k->conn_ids : json_array();
  k->conn_ids = NULL;
  json_t *out = json_pack("{s:o, s:o}", "UniqueSessionId", mcsid_id_json(st ? 0 : k->sid), "UniqueConnectionIds", ids);
  char said[400];
  if (!st && k->sid) {   /* what the session is now, and what was done to it */
    mcsi_session_info *info = NULL;
    if (mcsi_session_get_info(k->d->ini, k->sid, &info) == ISDSC_SUCCESS) {
      json_object_set_new(out, "ConnectionCount", json_integer((json_int_t)mcsi_session_info_get(info, MCSI_SI_CONNECTION_COUNT)));
      json_object_set_new(out, "WantedConnections", json_integer((json_int_t)mcsi_session_info_get(info, MCSI_SI_WANTED_CONNECTIONS)));
    }
    mcsi_session_info_free(info);
    json_object_set_new(out, "Adopted", json_boolean(k->adopted));
    if (k->adopted && (!message || !*message)) {
      snprintf(said, sizeof said, "the live session 0x%016llx of the target is kept: %zu connection%s added, %zu removed",
               (unsigned long long)k->sid, json_array_size(ids), json_array_size(ids) == 1 ? "" : "s", k->removed_extra);
      message = said;
    }
  }
  k->adopted = 0;
  k->removed_extra = 0;
  mcsid_call_finish(call, st, message, out);
}

/* ---- back-off ------------------------------------------------------------------------------------------ */

static void retry_due(mcsi_initiator *ini, void *arg)
{
  mcsid_keeper *k = arg;
  (void)ini;
  k->timer = 0;
  step(k);
}

static void retry_later(mcsid_keeper *k, mcsi_status st, const char *message)
{
  const mcsid_config *c = &k->d->config;
  if (k->waiter) answer_waiter(k, st, message);
  if (k->d->stopping || k->removed || k->timer) return;
  k->backoff_ms = k->backoff_ms ? k->backoff_ms * 2 : c->retry_initial_ms;
  if (k->backoff_ms > c->retry_max_ms) k->backoff_ms = c->retry_max_ms;
  log_warning("persistent target %s: %s (%s); next attempt in %ld ms", target_of(k), mcsi_status_name(st),
              message ? message : "", k->backoff_ms);
  k->timer = mcsi_timer_add(k->d->ini, (uint64_t)k->backoff_ms, retry_due, k);
}

/* ---- the steps: login, connections, policy --------------------------------------------------------------- */

/* Login options from the entry and its CHAP account. */
static mcsi_status entry_login(mcsid_keeper *k, const char *portal, mcsid_login *l, char *msg, size_t len)
{
  json_t *entry = entry_of(k);
  memset(l, 0, sizeof *l);
  snprintf(l->portal, sizeof l->portal, "%s", portal);
  snprintf(l->target, sizeof l->target, "%s", target_of(k));
  const char *account = json_string_value(json_object_get(entry, "ChapAccount"));
  if (account) {
    mcsi_status st = mcsid_chap_from_account(&k->d->state, account, &l->chap, msg, len);
    if (st) return st;
  }
  l->header_digest = mcsid_digest_number(json_string_value(json_object_get(entry, "HeaderDigest")));
  l->data_digest = mcsid_digest_number(json_string_value(json_object_get(entry, "DataDigest")));
  if (l->header_digest < 0) l->header_digest = 0;
  if (l->data_digest < 0) l->data_digest = 0;
  l->login_timeout_ms = (int)k->d->config.login_timeout_ms;
  l->nop_interval_ms = (int)k->d->config.nop_interval_ms;
  l->nop_timeout_ms = (int)k->d->config.nop_timeout_ms;
  json_t *recovery = json_object_get(entry, "RecoveryTimeoutMs");
  if (json_integer_value(recovery) > 0 && json_integer_value(recovery) <= 3600000)
    l->recovery_timeout_ms = (int)json_integer_value(recovery);
  return ISDSC_SUCCESS;
}

/* An operation ended: a removed keeper is freed instead of going on. */
static int keeper_gone(mcsid_keeper *k)
{
  k->busy = 0;
  if (!k->removed) return 0;
  answer_waiter(k, ISDSC_SUCCESS, "removed while logging in");
  keeper_free(k);
  return 1;
}

static void logged_in(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  const mcsi_session_result *ids = result;
  mcsid_keeper *k = arg;
  (void)ini;
  if (keeper_gone(k)) return;
  if (st) {
    k->attempt++;
    retry_later(k, st, message);
    return;
  }
  k->sid = ids->session_id;
  k->added = 1;
  if (k->waiter) json_array_append_new(k->conn_ids, mcsid_id_json(ids->connection_id));
  if (k->d->stopping) {   /* made while shutting down: logged out with the rest */
    mcsid_logout_on_shutdown(k->d, k->sid);
    return;
  }
  log_info("persistent target %s: session 0x%016llx", target_of(k), (unsigned long long)k->sid);
  mcsid_exports_session_up(k->d, entry_of(k), k->sid);   /* the exports move from the failed one first */
  reap_later(k->d, &k->failed_sid);
  step(k);
}

static void connection_added(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  const mcsi_session_result *ids = result;
  mcsid_keeper *k = arg;
  (void)ini;
  if (keeper_gone(k)) return;
  if (st) {
    if (!k->first_status) k->first_status = st;
    retry_later(k, st, message);
    return;
  }
  k->added++;
  if (k->waiter) json_array_append_new(k->conn_ids, mcsid_id_json(ids->connection_id));
  step(k);
}

static void start_login(mcsid_keeper *k)
{
  char portal[128], msg[256];
  mcsid_login l;
  portal_at(k, k->attempt, portal, sizeof portal);
  mcsi_status st = entry_login(k, portal, &l, msg, sizeof msg);
  mcsi_login_opts *o = st ? NULL : mcsid_login_opts(&l);
  if (!st && !o) st = ISDSC_OUT_OF_RESOURCES;
  if (!st) st = mcsi_login_to_target_async(k->d->ini, o, MCSI_COMPLETION(logged_in, k));
  mcsi_login_opts_free(o);
  mcsid_login_wipe(&l);
  if (st) {
    k->attempt++;
    retry_later(k, st, mcsi_last_message(k->d->ini));
    return;
  }
  k->busy = 1;
}

/* A connection to k's session through the entry's portal number at; done when it ends. */
static mcsi_status add_connection(mcsid_keeper *k, size_t at, mcsi_done_fn done)
{
  char portal[128], msg[256];
  mcsid_login l;
  portal_at(k, at, portal, sizeof portal);
  mcsi_status st = entry_login(k, portal, &l, msg, sizeof msg);
  mcsi_conn_opts *co = st ? NULL : mcsid_conn_opts(&l, 0);
  if (!st && !co) st = ISDSC_OUT_OF_RESOURCES;
  if (!st) st = mcsi_add_connection_async(k->d->ini, k->sid, co, MCSI_COMPLETION(done, k));
  mcsi_conn_opts_free(co);
  mcsid_login_wipe(&l);
  return st;
}

static void start_add(mcsid_keeper *k)
{
  mcsi_status st = add_connection(k, k->added, connection_added);
  if (st == ISDSC_TOO_MANY_CONNECTIONS) {   /* the target allows fewer: keep what we have */
    log_warning("persistent target %s: the target allows %zu connections only", target_of(k), k->added);
    k->added = wanted_connections(k);
    step(k);
    return;
  }
  if (st) {
    retry_later(k, st, mcsi_last_message(k->d->ini));
    return;
  }
  k->busy = 1;
}

/* The active connections of sid; *spare: a non-leading one (the last), 0 if none. */
static size_t active_connections(mcsid *d, mcsi_id sid, mcsi_id *spare)
{
  mcsi_session_info *info = NULL;
  size_t n = 0;
  if (spare) *spare = 0;
  if (mcsi_session_get_info(d->ini, sid, &info) == ISDSC_SUCCESS)
    for (size_t i = 0; i < mcsi_session_info_connection_count(info); i++) {
      const mcsi_conn_info *c = mcsi_session_info_connection(info, i);
      if (strcmp(mcsi_conn_info_get_string(c, MCSI_CI_STATE), "active")) continue;
      n++;
      if (spare && !mcsi_conn_info_get(c, MCSI_CI_LEADING)) *spare = mcsi_conn_info_get(c, MCSI_CI_ID);
    }
  mcsi_session_info_free(info);
  return n;
}

static void connection_removed(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  mcsid_keeper *k = arg;
  (void)ini;
  (void)result;
  if (keeper_gone(k)) return;
  if (st) log_warning("persistent target %s: removing a connection beyond Connections: %s", target_of(k),
                      message ? message : mcsi_status_name(st));
  else k->removed_extra++;
  k->added = active_connections(k->d, k->sid, NULL);
  if (st) k->added = wanted_connections(k);   /* keep what there is rather than loop */
  step(k);
}

/* Connections went down (PersistentLoginTarget again, or adopting a session with more). */
static void start_remove(mcsid_keeper *k)
{
  mcsi_id spare = 0;
  active_connections(k->d, k->sid, &spare);
  mcsi_status st = spare ? mcsi_remove_connection_async(k->d->ini, k->sid, spare, MCSI_COMPLETION(connection_removed, k))
                         : ISDSC_CANT_REMOVE_LAST_CONNECTION;
  if (st) {
    log_warning("persistent target %s: %zu connections, %zu wanted: %s", target_of(k), k->added,
                wanted_connections(k), mcsi_status_name(st));
    k->added = wanted_connections(k);
    step(k);
    return;
  }
  k->busy = 1;
}

/* The session keeps the entry's Connections as its wanted count (policies keep it). */
static void set_wanted(mcsid_keeper *k)
{
  mcsi_status st = mcsi_set_wanted_connections(k->d->ini, k->sid, (uint32_t)wanted_connections(k));
  if (st) log_warning("persistent target %s: wanted connections: %s", target_of(k), mcsi_status_name(st));
}

static void set_policy(mcsid_keeper *k)
{
  json_t *p = json_object_get(entry_of(k), "LoadBalancePolicy");
  if (!p) return;
  mcsi_status st = mcsi_set_load_balance_policy(k->d->ini, k->sid, (int)json_integer_value(p), NULL, 0);
  if (st)
    log_warning("persistent target %s: load balance policy %d: %s", target_of(k), (int)json_integer_value(p),
                mcsi_status_name(st));
}

/* The entry's PolicyScript (or the configuration's default_policy) on the
 * session, once per session: the policy keeps the connections (failover adds
 * lost ones back); the keeper keeps the session. */
static void attach_policy(mcsid_keeper *k)
{
  const char *script = json_string_value(json_object_get(entry_of(k), "PolicyScript"));
  if (!script || !*script) script = k->d->config.default_policy;
  if (!*script || mcsid_policy_running(k->d, k->sid)) return;
  json_t *opts = json_pack("{s:I, s:[]}", "connections", (json_int_t)wanted_connections(k), "portals");
  json_t *portals = json_object_get(entry_of(k), "Portals"), *p;
  size_t i;
  json_array_foreach(portals, i, p) {
    char text[128];
    if (mcsid_portal_text(p, text, sizeof text) == 0) json_array_append_new(json_object_get(opts, "portals"), json_string(text));
  }
  char err[512];
  if (!mcsid_policy_attach(k->d, k->sid, script, opts, err, sizeof err))
    log_warning("persistent target %s: policy %s: %s", target_of(k), script, err);
  json_decref(opts);
}

static void step(mcsid_keeper *k)
{
  if (k->d->stopping || k->busy || k->idle || k->timer || k->removed || !entry_of(k)) return;
  if (!k->sid) {
    start_login(k);
    return;
  }
  if (k->added < wanted_connections(k)) {
    start_add(k);
    return;
  }
  if (k->added > wanted_connections(k)) {
    start_remove(k);
    return;
  }
  set_wanted(k);
  set_policy(k);
  attach_policy(k);
  k->backoff_ms = 0;
  log_notice("persistent target %s: logged in, session 0x%016llx, %zu connections", target_of(k),
             (unsigned long long)k->sid, k->added);
  mcsid_exports_session_up(k->d, entry_of(k), k->sid);
  answer_waiter(k, k->first_status, NULL);
}

/* ---- while the session's policy starts -------------------------------------------------------------------- */

/* The session's policy keeps its connections (failover adds lost ones
 * back), but not before its runner has started: exec, sandbox and Lua take
 * seconds on a loaded host. Until then nobody would: after a handover the
 * old process's runner is gone, and a target dropping a connection every
 * second took every one of them meanwhile, so the session was reinstated
 * (a new login). The keeper adds lost connections back itself until the
 * policy's loop answers, one at a time, through the entry's portals: only
 * for the session it was handed (a session it logged in itself starts its
 * policy with its connections all there, and the policy repairs it). */
static void bridge(mcsid_keeper *k);
static void bridge_due(mcsi_initiator *ini, void *arg);

/* A failed add is tried again after the keeper's first back-off, not at the
 * failed login's own event: a target refusing logins gets no storm. */
static void bridge_later(mcsid_keeper *k, mcsi_status st, const char *message)
{
  log_warning("persistent target %s: a lost connection was not added back while its policy starts: %s",
              target_of(k), message ? message : mcsi_status_name(st));
  if (k->bridge_timer) mcsi_timer_cancel(k->d->ini, k->bridge_timer);   /* the failed login's own event armed one */
  k->bridge_timer = mcsi_timer_add(k->d->ini, (uint64_t)k->d->config.retry_initial_ms, bridge_due, k);
}

static void bridged(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  mcsid_keeper *k = arg;
  (void)ini;
  (void)result;
  if (keeper_gone(k)) return;
  k->added = active_connections(k->d, k->sid, NULL);
  if (st) {
    bridge_later(k, st, message);
    return;
  }
  log_notice("persistent target %s: a lost connection added back while its policy starts (%zu of %zu)",
             target_of(k), k->added, wanted_connections(k));
  bridge(k);
}

static void bridge(mcsid_keeper *k)
{
  if (k->d->stopping || k->busy || k->timer || k->removed || k->idle || !k->sid || k->sid != k->handed_sid ||
      !entry_of(k))
    return;
  if (!mcsid_policy_starting(k->d, k->sid)) {
    k->handed_sid = 0;                  /* its policy runs: the bridge is over */
    return;
  }
  size_t have = active_connections(k->d, k->sid, NULL);
  if (!have || have >= wanted_connections(k)) return;   /* none left: the engine reinstates the session */
  mcsi_status st = add_connection(k, have, bridged);
  if (st) {
    bridge_later(k, st, NULL);
    return;
  }
  k->busy = 1;
}

static void bridge_due(mcsi_initiator *ini, void *arg)
{
  mcsid_keeper *k = arg;
  (void)ini;
  k->bridge_timer = 0;
  bridge(k);
}

/* ---- the keepers ------------------------------------------------------------------------------------------- */

static mcsid_keeper *find_keeper(mcsid *d, const char *target)
{
  for (mcsid_keeper *k = d->keepers; k; k = k->next)
    if (!strcmp(target_of(k), target)) return k;
  return NULL;
}

static mcsid_keeper *keeper_new(mcsid *d, const char *target)
{
  mcsid_keeper *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->d = d;
  snprintf(k->target, sizeof k->target, "%s", target);
  k->next = d->keepers;
  d->keepers = k;
  return k;
}

/* Detaches a keeper from its entry: freed now, or when its operation ends. */
static void keeper_drop(mcsid_keeper *k)
{
  unlink_keeper(k);
  reap_later(k->d, &k->failed_sid);
  if (k->timer) mcsi_timer_cancel(k->d->ini, k->timer);
  k->timer = 0;
  k->removed = 1;
  if (!k->busy) {
    answer_waiter(k, ISDSC_SUCCESS, "replaced");
    keeper_free(k);
  }
}

void mcsid_persist_start_all(mcsid *d)
{
  json_t *list = mcsid_state_persistent(&d->state), *e;
  size_t i;
  json_array_foreach(list, i, e) {
    const char *target = json_string_value(json_object_get(e, "TargetName"));
    if (!target) continue;
    mcsid_keeper *k = find_keeper(d, target);
    if (!k && !(k = keeper_new(d, target))) continue;
    if (k->sid && !k->idle) continue;   /* up, or getting there */
    k->idle = 0;
    step(k);
  }
}

mcsi_login_opts *mcsid_persist_login_opts(mcsid *d, const char *target, const char *portal)
{
  mcsid_keeper *k = find_keeper(d, target);
  mcsid_keeper tmp = { .d = d };
  char msg[256];
  mcsid_login l;
  if (!k) {
    snprintf(tmp.target, sizeof tmp.target, "%s", target);
    if (!entry_of(&tmp)) return NULL;
    k = &tmp;
  }
  if (entry_login(k, portal, &l, msg, sizeof msg)) return NULL;
  mcsi_login_opts *o = mcsid_login_opts(&l);
  mcsid_login_wipe(&l);
  return o;
}

void mcsid_persist_adopt(mcsid *d, const char *target, mcsi_id sid, size_t connections)
{
  mcsid_keeper *k = find_keeper(d, target), tmp = { .d = d };
  snprintf(tmp.target, sizeof tmp.target, "%s", target);
  if (!k && (!entry_of(&tmp) || !(k = keeper_new(d, target)))) return;   /* not persistent: nobody keeps it */
  k->sid = sid;
  k->added = connections;
  k->idle = 0;
  log_info("persistent target %s: session 0x%016llx handed over, %zu connections", target, (unsigned long long)sid,
           connections);
  k->handed_sid = sid;
  step(k);   /* its policy and its exports */
  bridge(k);   /* connections that died on the way, until that policy runs */
}

void mcsid_persist_stop_all(mcsid *d)
{
  for (mcsid_keeper *k = d->keepers; k; k = k->next) {
    if (k->timer) mcsi_timer_cancel(d->ini, k->timer);
    k->timer = 0;
    answer_waiter(k, ISDSC_SUCCESS, "the daemon is stopping");
  }
}

/* The entry replaces the stored one of its TargetName, or joins the list,
 * and is written; -1 when the state file could not be written (the state is
 * then back as it was: state.h). */
static int store_entry(mcsid *d, json_t *entry)
{
  json_t *list = mcsid_state_persistent(&d->state);
  long i = entry_index(list, json_string_value(json_object_get(entry, "TargetName")));
  if (i >= 0) json_array_set(list, (size_t)i, entry);
  else json_array_append(list, entry);
  return mcsid_state_save(&d->state);
}

/* The session of the old entry, or else the target's one live session made
 * by LoginToTarget, is kept up by k: no second session on the target. Its
 * connections are then made what the entry says (step). */
static void adopt(mcsid *d, mcsid_keeper *k, mcsi_id old_sid)
{
  char why[512];
  mcsi_id sid = old_sid;
  if (!sid && mcsid_session_by_target(d->ini, k->target, &sid, why, sizeof why)) {
    if (strstr(why, "sessions")) log_notice("persistent target %s: none adopted: %s", k->target, why);
    sid = 0;
  }
  if (!sid) return;
  mcsi_session_info *info = NULL;
  if (mcsi_session_get_info(d->ini, sid, &info) == ISDSC_SUCCESS &&
      !strcmp(mcsi_session_info_get_string(info, MCSI_SI_STATE), "active")) {
    k->sid = sid;
    k->added = active_connections(d, sid, NULL);
    k->adopted = 1;
    log_notice("persistent target %s: session 0x%016llx (%zu connections) adopted", k->target, (unsigned long long)sid,
               k->added);
  }
  mcsi_session_info_free(info);
}

int mcsid_persist_add(mcsid *d, json_t *entry, mcsid_call *call)
{
  char why[300], target[224];
  if (mcsid_check_persistent(entry, why, sizeof why) < 0) {
    json_decref(entry);
    if (call) mcsid_call_finish(call, ISDSC_INVALID_PARAMETER, why, NULL);
    return -1;
  }
  snprintf(target, sizeof target, "%s", json_string_value(json_object_get(entry, "TargetName")));
  int saved = store_entry(d, entry);
  json_decref(entry);
  if (saved < 0) {   /* nothing changed: the old entry and its keeper stay */
    if (call) mcsid_call_finish(call, ISDSC_COULD_NOT_SAVE_PERSISTENT_LOGIN_DATA,
                                "the state file could not be written: the target was not stored", NULL);
    return -1;
  }
  mcsi_id old_sid = 0;
  mcsid_keeper *old = find_keeper(d, target);
  if (old) {
    old_sid = old->sid;
    keeper_drop(old);
  }
  mcsid_keeper *k = keeper_new(d, target);
  if (!k) {
    if (call) mcsid_call_finish(call, ISDSC_OUT_OF_RESOURCES, NULL, NULL);
    return 0;   /* stored: a keeper comes at SIGHUP or the next start */
  }
  log_notice("persistent target %s stored", target);
  k->waiter = call;
  k->conn_ids = json_array();
  adopt(d, k, old_sid);
  step(k);
  return 0;
}

int mcsid_persist_remove(mcsid *d, const char *target)
{
  json_t *list = mcsid_state_persistent(&d->state);
  long i = entry_index(list, target);
  /* The keeper is found before the entry goes: target may be the entry's own name. */
  mcsid_keeper *k = find_keeper(d, target);
  json_t *entry = i >= 0 ? json_incref(json_array_get(list, (size_t)i)) : NULL;
  if (i >= 0) {
    json_array_remove(list, (size_t)i);
    if (mcsid_state_save(&d->state) < 0) {   /* not removed: the entry, its keeper and exports stay */
      json_decref(entry);
      return -1;
    }
  }
  if (entry) mcsid_exports_entry_removed(d, entry);   /* the exports it made go with it */
  json_decref(entry);
  if (k) keeper_drop(k);
  return i >= 0 || k ? 1 : 0;
}

/* ---- sessions that failed for good --------------------------------------------------------------------- */

typedef struct reap {
  mcsi_id sid;
} reap;

static void reaped(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  const mcsi_session_result *ids = result;
  (void)st;
  (void)ini;
  (void)arg;
  log_info("session 0x%016llx reaped: %s", (unsigned long long)ids->session_id, message);
}

static void reap_due(mcsi_initiator *ini, void *arg)
{
  reap *x = arg;
  mcsi_session_info *info = NULL;
  if (mcsi_session_get_info(ini, x->sid, &info) == ISDSC_SUCCESS &&
      !strcmp(mcsi_session_info_get_string(info, MCSI_SI_STATE), "failed"))
    mcsi_logout_from_target_async(ini, x->sid, MCSI_COMPLETION(reaped, NULL));   /* a failed session ends without a Logout */
  mcsi_session_info_free(info);
  free(x);
}

/* A keeper's session that failed for good is removed from the engine (and
 * SessionList) once the keeper's next session is up and the exports moved
 * to it, or when the keeper goes, or when a newer one fails: a persistent
 * target never has more than one failed session, however often it flaps.
 * From the loop, outside the event that told. *sid becomes 0. */
static void reap_later(mcsid *d, mcsi_id *sid)
{
  reap *x = *sid ? malloc(sizeof *x) : NULL;
  if (!x) return;
  *x = (reap){ *sid };
  *sid = 0;
  if (!mcsi_timer_add(d->ini, 0, reap_due, x)) free(x);
}

void mcsid_persist_event(mcsid *d, const mcsi_event *ev)
{
  if (ev->kind == MCSI_EV_CONN_FAILED) {   /* repaired here while the policy starts; from the loop, not the engine's event */
    for (mcsid_keeper *k = d->keepers; k; k = k->next)
      if (k->sid == ev->session_id && k->sid == k->handed_sid && !k->bridge_timer && mcsid_policy_starting(d, k->sid))
        k->bridge_timer = mcsi_timer_add(d->ini, 0, bridge_due, k);
    return;
  }
  if (ev->kind != MCSI_EV_SESSION_FAILED && ev->kind != MCSI_EV_SESSION_LOGGED_OUT) return;
  for (mcsid_keeper *k = d->keepers; k; k = k->next) {
    if (k->sid != ev->session_id) continue;
    k->sid = 0;
    k->added = 0;
    if (ev->kind == MCSI_EV_SESSION_FAILED) {
      reap_later(d, &k->failed_sid);   /* an older failed one: its exports moved on long ago */
      k->failed_sid = ev->session_id;
    }
    if (ev->kind == MCSI_EV_SESSION_FAILED && !d->stopping && !k->idle) {
      log_warning("persistent target %s: session 0x%016llx failed: logging in again", target_of(k),
                  (unsigned long long)ev->session_id);
      retry_later(k, ev->status, ev->reason);
    }
  }
}

void mcsid_persist_logged_out(mcsid *d, mcsi_id sid)
{
  for (mcsid_keeper *k = d->keepers; k; k = k->next)
    if (k->sid == sid) k->idle = 1;
}

void mcsid_persist_wanted_changed(mcsid *d, mcsi_id sid)
{
  mcsid_keeper *k;
  for (k = d->keepers; k && k->sid != sid; k = k->next) {}
  json_t *entry = k && sid ? entry_of(k) : NULL;
  if (!entry) return;
  mcsi_session_info *info = NULL;
  json_int_t n = mcsi_session_get_info(d->ini, sid, &info) ? 0 : (json_int_t)mcsi_session_info_get(info, MCSI_SI_WANTED_CONNECTIONS);
  mcsi_session_info_free(info);
  json_int_t was = json_integer_value(json_object_get(entry, "Connections"));
  if (n < 1 || n == was) return;
  if (n > 32) {   /* state_check.h's bound for a stored target */
    log_warning("persistent target %s: %lld wanted connections kept for this session only (at most 32 are stored)",
                target_of(k), (long long)n);
    return;
  }
  json_object_set_new(entry, "Connections", json_integer(n));
  if (mcsid_state_save(&d->state) < 0)
    log_err("persistent target %s: Connections %lld could not be saved (state.json): kept %lld", target_of(k),
            (long long)n, (long long)was);
  else
    log_notice("persistent target %s: Connections %lld (was %lld)", target_of(k), (long long)n, (long long)was);
}

mcsi_id mcsid_persist_session(mcsid *d, const char *target)
{
  mcsid_keeper *k = find_keeper(d, target);
  return k ? k->sid : 0;
}
