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
  int busy;                 /* an operation is in flight */
  int idle;                 /* logged out on request: nothing until woken */
  int removed;              /* its entry is gone: free it when the operation ends */
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
  log_info("persistent target %s: session %llu", target_of(k), (unsigned long long)k->sid);
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

static void start_add(mcsid_keeper *k)
{
  char portal[128], msg[256];
  mcsid_login l;
  portal_at(k, k->added, portal, sizeof portal);
  mcsi_status st = entry_login(k, portal, &l, msg, sizeof msg);
  mcsi_conn_opts *co = st ? NULL : mcsid_conn_opts(&l, 0);
  if (!st && !co) st = ISDSC_OUT_OF_RESOURCES;
  if (!st) st = mcsi_add_connection_async(k->d->ini, k->sid, co, MCSI_COMPLETION(connection_added, k));
  mcsi_conn_opts_free(co);
  mcsid_login_wipe(&l);
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
  set_policy(k);
  attach_policy(k);
  k->backoff_ms = 0;
  log_notice("persistent target %s: logged in, session %llu, %zu connections", target_of(k),
             (unsigned long long)k->sid, k->added);
  mcsid_exports_session_up(k->d, entry_of(k), k->sid);
  answer_waiter(k, k->first_status, NULL);
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
  if (old_sid) {   /* the session the old entry made is kept up by the new one */
    mcsi_session_info *info = NULL;
    if (mcsi_session_get_info(d->ini, old_sid, &info) == ISDSC_SUCCESS &&
        !strcmp(mcsi_session_info_get_string(info, MCSI_SI_STATE), "active")) {
      k->sid = old_sid;
      k->added = mcsi_session_info_connection_count(info);
    }
    mcsi_session_info_free(info);
  }
  step(k);
  return 0;
}

int mcsid_persist_remove(mcsid *d, const char *target)
{
  json_t *list = mcsid_state_persistent(&d->state);
  long i = entry_index(list, target);
  /* The keeper is found before the entry goes: target may be the entry's own name. */
  mcsid_keeper *k = find_keeper(d, target);
  if (i >= 0) {
    json_array_remove(list, (size_t)i);
    if (mcsid_state_save(&d->state) < 0) return -1;   /* not removed: the entry and its keeper stay */
  }
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
  log_info("session %llu reaped: %s", (unsigned long long)ids->session_id, message);
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
      log_warning("persistent target %s: session %llu failed: logging in again", target_of(k),
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

mcsi_id mcsid_persist_session(mcsid *d, const char *target)
{
  mcsid_keeper *k = find_keeper(d, target);
  return k ? k->sid : 0;
}
