/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* exports.c: the daemon's NBD exports, their records, persistence and
 * hooks (see exports.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "exportdir.h"
#include "exports.h"
#include "handover.h"
#include "export_tls.h"
#include "json_text.h"
#include "log.h"
#include "mcsi_nbd.h"
#include "peers.h"
#include "persist.h"

enum { EXP_STARTING, EXP_UP, EXP_WAITING, EXP_FAILED };
static const char *const state_names[] = { "starting", "up", "waiting", "failed" };

#define NBD_FLAG_CAN_MULTI_CONN (1u << 8)   /* of the NBD protocol (nbd/wire.h is the layer's own) */
#define MAX_CLIENTS_LIMIT 1024
#define DEFAULT_MAX_CLIENTS 16   /* the NBD layer's default */

struct mcsid_export {
  mcsid *d;
  mcsid_export *next;
  uint64_t id;
  json_t *spec;              /* owned */
  char target[224];          /* the keeper's target it follows, "" none */
  mcsi_id sid;               /* the session it serves (or is to serve) */
  mcsi_id started_sid;       /* the session its start probed */
  mcsi_nbd_export *exp;      /* running: EXP_UP */
  mcsid_export_socket sock;  /* its Unix socket under export_dir, from the start to the stop */
  int handed_tcp;            /* a listening TCP socket the old process handed (handover.h), until started */
  int state;
  int dropped;               /* unlinked while starting: freed when the start ends */
  int store;                 /* ExportLun IsPersistent: stored once up */
  char error[256];
  mcsid_call *waiter;        /* ExportLun, answered when the start ends */
};

static uint64_t next_id = 1;

/* ---- specs ------------------------------------------------------------------------------------------ */

static int key_known(const char *k)
{
  static const char *const keys[] = { "Lun", "Socket", "Tcp", "ExportName", "ReadOnly", "MaxClients", "Tls", NULL };
  for (const char *const *p = keys; *p; p++)
    if (!strcmp(*p, k)) return 1;
  return 0;
}

int mcsid_export_spec_check(const json_t *spec, char *msg, size_t len)
{
  const char *key;
  json_t *v;
  if (!json_is_object(spec)) return snprintf(msg, len, "an export must be an object"), -1;
  json_object_foreach((json_t *)spec, key, v) {
    if (!key_known(key)) return snprintf(msg, len, "an export has no key %.64s", key), -1;
  }
  json_t *lun = json_object_get(spec, "Lun"), *sock = json_object_get(spec, "Socket");
  json_t *tcp = json_object_get(spec, "Tcp"), *name = json_object_get(spec, "ExportName");
  json_t *ro = json_object_get(spec, "ReadOnly"), *mc = json_object_get(spec, "MaxClients");
  if (!json_is_integer(lun) || json_integer_value(lun) < 0) return snprintf(msg, len, "Lun must be a LUN number"), -1;
  if (!sock && !tcp) return snprintf(msg, len, "Socket or Tcp is required"), -1;
  if (sock && (!json_is_string(sock) || !*json_string_value(sock) ||
               strlen(json_string_value(sock)) >= sizeof(((struct sockaddr_un *)0)->sun_path)))
    return snprintf(msg, len, "Socket must be a name in export_dir"), -1;
  if (tcp && (!json_is_string(tcp) || !*json_string_value(tcp) || strlen(json_string_value(tcp)) >= 80 ||
              strpbrk(json_string_value(tcp), " \t/")))
    return snprintf(msg, len, "Tcp must be \"host:port\", \"[v6]:port\" or \"port\""), -1;
  if (name && (!json_is_string(name) || strlen(json_string_value(name)) > 4096))
    return snprintf(msg, len, "ExportName must be a string of at most 4096 bytes"), -1;
  if (ro && !json_is_boolean(ro)) return snprintf(msg, len, "ReadOnly must be true or false"), -1;
  if (mcsid_export_tls_check(json_object_get(spec, "Tls"), msg, len) < 0) return -1;
  if (mc && (!json_is_integer(mc) || json_integer_value(mc) < 1 || json_integer_value(mc) > MAX_CLIENTS_LIMIT))
    return snprintf(msg, len, "MaxClients must be 1..%d", MAX_CLIENTS_LIMIT), -1;
  return 0;
}

static const char *spec_string(const json_t *spec, const char *key)
{
  return json_string_value(json_object_get(spec, key));
}

int mcsid_export_spec_socket(mcsid *d, json_t *spec, char *msg, size_t len)
{
  char name[MCSID_EXPORT_NAME_MAX + 1];
  const char *given = spec_string(spec, "Socket");
  if (!given) return 0;
  if (mcsid_export_socket_name(d, given, name, sizeof name, msg, len) < 0) return -1;
  if (strcmp(name, given)) json_object_set_new(spec, "Socket", json_string(name));
  return 0;
}

/* ---- records ---------------------------------------------------------------------------------------- */

/* A new record's ExportId: a keeper's export handed over keeps the one it
 * had in the old process (unless taken here); others get the next. */
static uint64_t new_export_id(mcsid *d, const json_t *spec, const char *target)
{
  uint64_t id = target && target[0] ? mcsid_handover_export_id(target, spec) : 0;
  if (!id || mcsid_export_find(d, id, NULL)) id = next_id;
  if (next_id <= id) next_id = id + 1;
  return id;
}

void mcsid_exports_reserve_id(uint64_t id)
{
  if (id < UINT64_MAX && next_id <= id) next_id = id + 1;
}

uint64_t mcsid_export_id_of(mcsid *d, const mcsi_nbd_export *exp)
{
  for (mcsid_export *x = d->exports; x; x = x->next)
    if (x->exp == exp) return x->id;
  return 0;
}

static mcsid_export *record_new(mcsid *d, json_t *spec, mcsi_id sid, const char *target)
{
  mcsid_export *x = calloc(1, sizeof *x);
  if (!x) return NULL;
  x->d = d;
  x->id = new_export_id(d, spec, target);
  x->spec = spec;
  x->sid = sid;
  x->state = EXP_WAITING;
  x->sock.fd = -1;
  x->handed_tcp = -1;
  snprintf(x->target, sizeof x->target, "%s", target ? target : "");
  mcsid_export **p = &d->exports;   /* oldest first */
  while (*p) p = &(*p)->next;
  *p = x;
  return x;
}

static void unlink_record(mcsid_export *x)
{
  for (mcsid_export **p = &x->d->exports; *p; p = &(*p)->next)
    if (*p == x) {
      *p = x->next;
      return;
    }
}

static void record_free(mcsid_export *x)
{
  json_decref(x->spec);
  free(x);
}

/* Stops the NBD export (clients closed); the record stays. */
static void record_halt(mcsid_export *x, int state)
{
  if (x->exp) {
    mcsi_nbd_info info;
    mcsi_nbd_export_info(x->exp, &info);
    log_notice("export %llu stopped (%u clients closed)", (unsigned long long)x->id, info.clients);
    mcsi_nbd_export_stop(x->exp);
    x->exp = NULL;
    mcsid_export_socket_remove(&x->sock);
  }
  x->state = state;
}

/* Unlinks and frees (a starting one is freed when its start ends). */
static void record_drop(mcsid_export *x)
{
  int starting = x->state == EXP_STARTING;
  record_halt(x, x->state);
  unlink_record(x);
  if (starting || x->waiter) {
    x->dropped = 1;
    return;
  }
  record_free(x);
}

mcsid_export *mcsid_export_find(mcsid *d, uint64_t id, const char *socket_name)
{
  for (mcsid_export *x = d->exports; x; x = x->next) {
    if (id && x->id == id) return x;
    const char *s = spec_string(x->spec, "Socket");
    if (socket_name && s && !strcmp(s, socket_name)) return x;
  }
  return NULL;
}

/* ---- persistence ---------------------------------------------------------------------------------------- */

static json_t *entry_of(mcsid *d, const char *target)
{
  json_t *list = mcsid_state_persistent(&d->state), *e;
  size_t i;
  if (!target || !*target) return NULL;
  json_array_foreach(list, i, e)
    if (!strcmp(json_string_value(json_object_get(e, "TargetName")), target)) return e;
  return NULL;
}

/* The index of spec in the entry's Exports, or -1. */
static long stored_index(mcsid *d, const mcsid_export *x)
{
  json_t *list = json_object_get(entry_of(d, x->target), "Exports"), *s;
  size_t i;
  json_array_foreach(list, i, s)
    if (json_equal(s, x->spec)) return (long)i;
  return -1;
}

static int store_spec(mcsid *d, mcsid_export *x)
{
  json_t *entry = entry_of(d, x->target);
  if (!entry) return -1;
  json_t *list = json_object_get(entry, "Exports");
  if (!json_is_array(list)) {
    list = json_array();
    json_object_set_new(entry, "Exports", list);
  }
  json_array_append(list, x->spec);
  return mcsid_state_save(&d->state);
}

static int unstore_spec(mcsid *d, mcsid_export *x)
{
  long i = stored_index(d, x);
  if (i < 0) return 0;
  json_array_remove(json_object_get(entry_of(d, x->target), "Exports"), (size_t)i);
  return mcsid_state_save(&d->state);
}

const char *mcsid_export_keeper_target(mcsid *d, mcsi_id sid, char *buf, size_t len)
{
  mcsi_session_info *info = NULL;
  const char *found = NULL;
  if (mcsi_session_get_info(d->ini, sid, &info) == ISDSC_SUCCESS &&
      mcsid_persist_session(d, mcsi_session_info_get_string(info, MCSI_SI_TARGET)) == sid) {
    snprintf(buf, len, "%s", mcsi_session_info_get_string(info, MCSI_SI_TARGET));
    found = buf;
  }
  mcsi_session_info_free(info);
  return found;
}

int mcsid_exports_entry_from_call(mcsid_call *call, json_t *entry, char *msg, size_t len)
{
  json_t *given = mcsid_param(call, "Exports"), *s;
  size_t i;
  if (!given) {   /* PersistentLoginTarget again: the exports stored stay */
    json_t *old = json_object_get(entry_of(call->d, json_string_value(json_object_get(entry, "TargetName"))), "Exports");
    if (json_array_size(old)) json_object_set_new(entry, "Exports", json_deep_copy(old));
    return 0;
  }
  json_t *specs = json_deep_copy(given);
  json_array_foreach(specs, i, s) {
    char why[300];
    if (mcsid_export_spec_check(s, why, sizeof why) < 0 || mcsid_export_spec_socket(call->d, s, why, sizeof why) < 0) {
      snprintf(msg, len, "invalid params: Exports[%zu]: %s", i, why);
      json_decref(specs);
      return -1;
    }
  }
  json_object_set_new(entry, "Exports", specs);
  return 0;
}

/* ---- starting ------------------------------------------------------------------------------------------ */

/* 0, or -1 with msg: the socket name is another export's. */
static int socket_free(mcsid *d, const mcsid_export *x, char *msg, size_t len)
{
  const char *name = spec_string(x->spec, "Socket");
  if (!name) return 0;
  for (mcsid_export *o = d->exports; o; o = o->next) {
    const char *s = spec_string(o->spec, "Socket");
    if (o != x && s && !strcmp(s, name) && o->state != EXP_WAITING && o->state != EXP_FAILED)
      return snprintf(msg, len, "socket %s is export %llu's", name, (unsigned long long)o->id), -1;
  }
  return 0;
}

/* A client accepted on the Unix socket: the control socket's rule (peers.h). */
static int unix_peer_allowed(int fd, void *arg)
{
  mcsid_export *x = arg;
  struct ucred cr;
  if (mcsid_peer_fd_allowed(x->d, fd, &cr)) return 1;
  log_warning("export %llu: NBD client pid %ld uid %ld gid %ld refused: not root, not uid %ld, not in group '%s'",
              (unsigned long long)x->id, (long)cr.pid, (long)cr.uid, (long)cr.gid, (long)geteuid(),
              x->d->config.socket_group);
  return 0;
}

/* A stored Tcp with port 0 keeps the port it got. */
static void tcp_as_bound(mcsid_export *x)
{
  mcsi_nbd_info info;
  if (!json_object_get(x->spec, "Tcp") || !x->exp) return;
  mcsi_nbd_export_info(x->exp, &info);
  char text[96];
  snprintf(text, sizeof text, strchr(info.tcp_host, ':') ? "[%s]:%u" : "%s:%u", info.tcp_host, info.tcp_port);
  json_object_set_new(x->spec, "Tcp", json_string(text));
}

static void answer(mcsid_export *x, mcsi_status st, const char *message)
{
  mcsid_call *call = x->waiter;
  if (!call) return;
  x->waiter = NULL;
  json_t *out = st ? NULL : json_pack("{s:I, s:o}", "ExportId", (json_int_t)x->id, "Export", mcsid_export_json(x->d, x));
  mcsid_call_finish(call, st, message, out);
}

/* A start that failed: ExportLun's record goes, a persistent one stays "failed". */
static void close_handed_tcp(mcsid_export *x)
{
  if (x->handed_tcp >= 0) close(x->handed_tcp);   /* the export listens on its own duplicate */
  x->handed_tcp = -1;
}

static void start_failed(mcsid_export *x, mcsi_status st, const char *message)
{
  close_handed_tcp(x);
  snprintf(x->error, sizeof x->error, "%s: %s", mcsi_status_name(st), message ? message : "");
  x->state = EXP_FAILED;
  log_warning("export %llu (session 0x%016llx LUN %lld): %s", (unsigned long long)x->id, (unsigned long long)x->sid,
              (long long)json_integer_value(json_object_get(x->spec, "Lun")), x->error);
  int from_call = x->waiter != NULL;
  answer(x, st, message);
  if (x->dropped) record_free(x);
  else if (from_call) record_drop(x);
}

static void started(mcsi_initiator *ini, mcsi_nbd_export *exp, mcsi_status st, const char *message, void *arg)
{
  mcsid_export *x = arg;
  (void)ini;
  mcsid_export_socket_close(&x->sock);   /* the export listens on its own duplicate */
  close_handed_tcp(x);
  if (!st && (x->dropped || x->d->stopping)) {
    mcsi_nbd_export_stop(exp);
    st = ISDSC_SESSION_BUSY;
    message = x->d->stopping ? "the daemon is stopping" : "stopped while starting (its session was logged out)";
  }
  if (st) {
    mcsid_export_socket_remove(&x->sock);
    start_failed(x, st, message);
    return;
  }
  x->exp = exp;
  x->state = EXP_UP;
  x->error[0] = 0;
  if (x->sid != x->started_sid) mcsi_nbd_export_rebind(exp, x->sid, (uint64_t)json_integer_value(json_object_get(x->spec, "Lun")));
  const char *path = x->sock.name[0] ? x->sock.name : NULL;
  if (x->store) {
    x->store = 0;
    tcp_as_bound(x);
    if (store_spec(x->d, x) < 0) {
      record_halt(x, EXP_FAILED);
      start_failed(x, ISDSC_COULD_NOT_SAVE_PERSISTENT_LOGIN_DATA, "the export could not be stored");
      return;
    }
  }
  mcsid_handover_export_up(x->d, x->target, x->spec, exp);   /* clients handed over by the old process */
  log_notice("export %llu up: session 0x%016llx LUN %lld%s%s%s%s", (unsigned long long)x->id, (unsigned long long)x->sid,
             (long long)json_integer_value(json_object_get(x->spec, "Lun")), path ? " socket " : "", path ? path : "",
             json_object_get(x->spec, "Tcp") ? " tcp " : "", json_object_get(x->spec, "Tcp") ? spec_string(x->spec, "Tcp") : "");
  answer(x, ISDSC_SUCCESS, NULL);
}

/* Binds x's Unix socket under export_dir (if it has one) into o: 0, or -1 with msg. */
static int bind_socket(mcsid_export *x, mcsi_nbd_opts *o, char *path, size_t pathlen, char *msg, size_t len)
{
  const char *name = spec_string(x->spec, "Socket");
  if (!name) return 0;
  if (mcsid_handover_export_socket(x->d, x->target, x->spec, &x->sock) < 0 &&   /* the old process's, listening */
      (socket_free(x->d, x, msg, len) < 0 || mcsid_export_socket_bind(x->d, name, &x->sock, msg, len) < 0))
    return -1;
  mcsid_export_socket_path(x->d, name, path, pathlen);
  o->socket_path = path;
  o->unix_listen_fd = x->sock.fd;
  o->unix_peer_allowed = unix_peer_allowed;
  o->unix_peer_arg = x;
  return 0;
}

/* Starts x on x->sid; a failure is reported through start_failed. */
static void record_start(mcsid_export *x)
{
  char msg[256] = "", path[sizeof ((struct sockaddr_un *)0)->sun_path];
  mcsi_nbd_opts o = { .tcp = spec_string(x->spec, "Tcp"), .name = spec_string(x->spec, "ExportName"),
                      .read_only = json_is_true(json_object_get(x->spec, "ReadOnly")),
                      .max_clients = (uint32_t)json_integer_value(json_object_get(x->spec, "MaxClients")) };
  x->state = EXP_STARTING;
  x->started_sid = x->sid;
  if (mcsid_export_tls_opts(x->d, x->spec, &o, msg, sizeof msg) < 0 || bind_socket(x, &o, path, sizeof path, msg, sizeof msg) < 0) {
    start_failed(x, ISDSC_INVALID_PARAMETER, msg);
    return;
  }
  x->handed_tcp = o.tcp ? mcsid_handover_export_tcp(x->d, x->target, x->spec) : -1;   /* the old process's */
  o.tcp_listen_fd = x->handed_tcp;
  mcsi_status st = mcsi_nbd_export_start_async(x->d->ini, x->sid, (uint64_t)json_integer_value(json_object_get(x->spec, "Lun")),
                                               &o, started, x, msg, sizeof msg);
  if (st) {
    mcsid_export_socket_remove(&x->sock);
    start_failed(x, st, msg);
  }
}

void mcsid_export_begin_call(mcsid_call *call, mcsi_id sid, json_t *spec, int store)
{
  char target[224];
  const char *t = mcsid_export_keeper_target(call->d, sid, target, sizeof target);
  mcsid_export *x = record_new(call->d, spec, sid, t);
  if (!x) {
    json_decref(spec);
    mcsid_call_finish(call, ISDSC_OUT_OF_RESOURCES, NULL, NULL);
    return;
  }
  x->waiter = call;
  x->store = store;
  record_start(x);
}

/* ---- stopping ------------------------------------------------------------------------------------------ */

int mcsid_export_remove(mcsid *d, mcsid_export *x)
{
  if (unstore_spec(d, x) < 0) return -1;   /* not saved: not applied, the export stays (state.h) */
  log_notice("export %llu removed", (unsigned long long)x->id);
  record_drop(x);
  return 0;
}

/* The session is gone for x: a persistent one waits for its target's next session. */
static void session_gone(mcsid_export *x)
{
  if (stored_index(x->d, x) < 0) {
    record_drop(x);
    return;
  }
  /* a persistent one starting now ends up, on a dead session, until the next one */
  if (x->state == EXP_UP) record_halt(x, EXP_WAITING);
}

void mcsid_exports_stop_session(mcsid *d, mcsi_id sid)
{
  mcsid_export *x = d->exports, *next;
  for (; x; x = next) {
    next = x->next;
    if (x->sid == sid) session_gone(x);
  }
}

void mcsid_exports_stop_all(mcsid *d)
{
  long n = 0;
  while (d->exports) {
    record_drop(d->exports);
    n++;
  }
  if (n) log_notice("shutdown: %ld exports stopped", n);
}

void mcsid_exports_visit(mcsid *d, mcsid_export_visit fn, void *arg)
{
  for (mcsid_export *x = d->exports; x; x = x->next)
    if (x->exp) fn(x->target, x->spec, x->exp, &x->sock, arg);
}

void mcsid_exports_hand_over(mcsid *d)
{
  long n = 0;
  while (d->exports) {
    mcsid_export *x = d->exports;
    if (x->exp) mcsi_nbd_export_stop(x->exp);   /* its socket file is the successor's now */
    x->exp = NULL;
    mcsid_export_socket_close(&x->sock);
    unlink_record(x);
    if (x->state == EXP_STARTING || x->waiter) x->dropped = 1;
    else record_free(x);
    n++;
  }
  if (n) log_notice("handover: %ld exports left to the successor", n);
}

void mcsid_exports_event(mcsid *d, const mcsi_event *ev)
{
  mcsid_export *x, *next;
  if (ev->kind == MCSI_EV_SESSION_LOGGED_OUT) {
    mcsid_exports_stop_session(d, ev->session_id);
    return;
  }
  if (ev->kind != MCSI_EV_SESSION_FAILED) return;
  for (x = d->exports; x; x = next) {   /* a keeper's session: its next one takes the exports */
    next = x->next;
    if (x->sid == ev->session_id && !(x->target[0] && entry_of(d, x->target))) session_gone(x);
    else if (x->sid == ev->session_id)
      log_warning("export %llu: session 0x%016llx failed; clients wait for the persistent target's next session",
                  (unsigned long long)x->id, (unsigned long long)ev->session_id);
  }
}

/* ---- start: export_dir, stored exports named --------------------------------------------------------- */

/* A stored export whose Socket is export_dir/name gets the name; one
 * elsewhere stays stored, is logged, and never starts: 1 if spec changed. */
static int migrate_spec(mcsid *d, const char *target, size_t i, json_t *spec)
{
  char why[300];
  const char *given = spec_string(spec, "Socket");
  if (!given || given[0] != '/') return 0;
  char *was = strdup(given);
  int changed = 0;
  if (mcsid_export_spec_socket(d, spec, why, sizeof why) < 0)
    log_warning("persistent target %s: Exports[%zu]: socket %s: %s: it will not start (store it again with a name)",
                target, i, was ? was : "?", why);
  else if ((changed = 1))
    log_notice("persistent target %s: Exports[%zu]: socket %s is named %s from now on", target, i, was ? was : "?",
               spec_string(spec, "Socket"));
  free(was);
  return changed;
}

void mcsid_exports_migrate(mcsid *d)
{
  json_t *list = mcsid_state_persistent(&d->state), *e, *spec;
  size_t i, j;
  int changed = 0;
  json_array_foreach(list, i, e) {
    const char *target = json_string_value(json_object_get(e, "TargetName"));
    json_array_foreach(json_object_get(e, "Exports"), j, spec)
      if (json_is_object(spec)) changed |= migrate_spec(d, target ? target : "?", j, spec);
  }
  if (changed && mcsid_state_save(&d->state) < 0)
    log_warning("state.json: the exports' socket names could not be saved (they are used all the same)");
}

/* ---- the keeper's session ------------------------------------------------------------------------------- */

static mcsid_export *find_spec(mcsid *d, const char *target, const json_t *spec)
{
  for (mcsid_export *x = d->exports; x; x = x->next)
    if (!strcmp(x->target, target) && json_equal(x->spec, spec)) return x;
  return NULL;
}

void mcsid_exports_session_up(mcsid *d, json_t *entry, mcsi_id sid)
{
  const char *target = json_string_value(json_object_get(entry, "TargetName"));
  json_t *specs = json_object_get(entry, "Exports"), *s;
  size_t i;
  if (d->stopping || !target || !sid) return;
  for (mcsid_export *x = d->exports; x; x = x->next) {
    if (strcmp(x->target, target) || x->sid == sid) continue;
    log_notice("export %llu: session 0x%016llx -> 0x%016llx", (unsigned long long)x->id, (unsigned long long)x->sid,
               (unsigned long long)sid);
    x->sid = sid;
    if (x->exp) mcsi_nbd_export_rebind(x->exp, sid, (uint64_t)json_integer_value(json_object_get(x->spec, "Lun")));
  }
  json_array_foreach(specs, i, s) {
    char why[300];
    if (mcsid_export_spec_check(s, why, sizeof why) < 0 || mcsid_export_spec_socket(d, s, why, sizeof why) < 0) {
      log_warning("persistent target %s: Exports[%zu] ignored: %s", target, i, why);
      continue;
    }
    mcsid_export *x = find_spec(d, target, s);
    if (!x && !(x = record_new(d, json_deep_copy(s), sid, target))) continue;
    if (x->state == EXP_WAITING || x->state == EXP_FAILED) record_start(x);
  }
}

void mcsid_exports_entry_removed(mcsid *d, json_t *entry)
{
  const char *target = json_string_value(json_object_get(entry, "TargetName"));
  json_t *specs = json_object_get(entry, "Exports"), *s;
  size_t i;
  if (!target) return;
  json_array_foreach(specs, i, s) {
    mcsid_export *x = find_spec(d, target, s);
    if (!x) continue;
    log_notice("export %llu removed with persistent target %s", (unsigned long long)x->id, target);
    record_drop(x);
  }
  for (mcsid_export *x = d->exports; x; x = x->next)   /* made on its session: they stay that session's */
    if (!strcmp(x->target, target)) x->target[0] = 0;
}

/* ---- listings ------------------------------------------------------------------------------------------ */

static json_t *uris(const mcsi_nbd_info *in)
{
  char u[512];
  json_t *list = json_array();
  if (in->socket_path[0]) {
    snprintf(u, sizeof u, "nbd+unix:///%s?socket=%s", in->name, in->socket_path);
    json_array_append_new(list, json_string(u));
  }
  if (in->tcp_host[0]) {
    snprintf(u, sizeof u, strchr(in->tcp_host, ':') ? "nbd%s://[%s]:%u/%s" : "nbd%s://%s:%u/%s",
             in->tls == MCSI_NBD_TLS_OFF ? "" : "s", in->tcp_host, in->tcp_port, in->name);
    json_array_append_new(list, json_string(u));
  }
  return list;
}

/* The figures of a running export (mcsi_nbd_export_info). */
static void add_info(json_t *o, const mcsi_nbd_export *exp)
{
  mcsi_nbd_info in;
  char tcp[96] = "";
  mcsi_nbd_export_info(exp, &in);
  if (in.tcp_host[0]) snprintf(tcp, sizeof tcp, strchr(in.tcp_host, ':') ? "[%s]:%u" : "%s:%u", in.tcp_host, in.tcp_port);
  json_object_set_new(o, "Socket", json_string(in.socket_path));
  json_object_set_new(o, "Tcp", json_string(tcp));
  json_object_set_new(o, "TcpPort", json_integer(in.tcp_port));
  json_object_set_new(o, "Uris", uris(&in));
  json_object_set_new(o, "Size", json_integer((json_int_t)in.size));
  json_object_set_new(o, "BlockSize", json_integer(in.block_size));
  json_object_set_new(o, "PreferredBlockSize", json_integer(in.preferred_block));
  json_object_set_new(o, "MaxRequest", json_integer(in.max_request));
  json_object_set_new(o, "MaxScsiTransfer", json_integer(in.max_scsi_transfer));
  json_object_set_new(o, "ReadOnly", json_boolean(in.read_only));
  json_object_set_new(o, "Trim", json_boolean(in.trim));
  json_object_set_new(o, "Thin", json_boolean(in.thin));
  json_object_set_new(o, "MultiConn", json_boolean(in.transmission_flags & NBD_FLAG_CAN_MULTI_CONN));
  json_object_set_new(o, "TransmissionFlags", json_integer(in.transmission_flags));
  json_object_set_new(o, "Clients", json_integer(in.clients));
  json_object_set_new(o, "Statistics",
                      json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "ClientsTotal", (json_int_t)in.clients_total,
                                "ClientsRefused", (json_int_t)in.clients_refused, "Requests", (json_int_t)in.requests,
                                "Errors", (json_int_t)in.errors, "BytesRead", (json_int_t)in.bytes_read,
                                "BytesWritten", (json_int_t)in.bytes_written, "ScsiCommands",
                                (json_int_t)in.scsi_commands, "InFlight", (json_int_t)in.inflight));
  json_t *st = json_object_get(o, "Statistics");
  json_object_set_new(st, "ReadModifyWrites", json_integer((json_int_t)in.rmw));
  json_object_set_new(st, "OverlapWaits", json_integer((json_int_t)in.overlap_waits));
  json_object_set_new(st, "BlockStatus", json_integer((json_int_t)in.block_status));
  json_object_set_new(st, "ReplyWrites", json_integer((json_int_t)in.reply_writes));
  json_object_set_new(st, "RequestAllocations", json_integer((json_int_t)in.request_allocs));
  json_object_set_new(st, "BufferAllocations", json_integer((json_int_t)in.buffer_allocs));
  mcsid_export_tls_json(o, &in);
}

json_t *mcsid_export_json(mcsid *d, const mcsid_export *x)
{
  const char *sock = spec_string(x->spec, "Socket"), *tcp = spec_string(x->spec, "Tcp");
  const char *name = spec_string(x->spec, "ExportName");
  json_t *mc = json_object_get(x->spec, "MaxClients");
  json_t *o = json_pack("{s:I, s:o, s:o, s:I, s:s, s:b, s:s, s:s, s:s, s:b, s:I}", "ExportId", (json_int_t)x->id,
                        "UniqueSessionId", mcsid_id_json(x->sid), "TargetName", mcsid_json_text(x->target), "Lun",
                        json_integer_value(json_object_get(x->spec, "Lun")), "State", state_names[x->state],
                        "IsPersistent", stored_index(d, x) >= 0, "ExportName", name ? name : "", "Socket",
                        "", "Tcp", tcp ? tcp : "", "ReadOnly",
                        json_is_true(json_object_get(x->spec, "ReadOnly")), "MaxClients",
                        mc ? json_integer_value(mc) : (json_int_t)DEFAULT_MAX_CLIENTS);
  if (sock) {   /* the name given, and the path clients connect to */
    char path[sizeof ((struct sockaddr_un *)0)->sun_path];
    mcsid_export_socket_path(d, sock, path, sizeof path);
    json_object_set_new(o, "Socket", json_string(path));
    json_object_set_new(o, "SocketName", json_string(sock));
  }
  if (!x->target[0]) {   /* not a keeper's: the session's own target name */
    char t[224];
    mcsi_session_info *info = NULL;
    if (mcsi_session_get_info(d->ini, x->sid, &info) == ISDSC_SUCCESS) {
      snprintf(t, sizeof t, "%s", mcsi_session_info_get_string(info, MCSI_SI_TARGET));
      json_object_set_new(o, "TargetName", mcsid_json_text(t));
    }
    mcsi_session_info_free(info);
  }
  if (x->error[0] && x->state == EXP_FAILED) json_object_set_new(o, "Error", mcsid_json_text(x->error));   /* quotes the target */
  if (x->exp) add_info(o, x->exp);
  return o;
}

json_t *mcsid_exports_json(mcsid *d, mcsi_id sid)
{
  json_t *list = json_array();
  for (mcsid_export *x = d->exports; x; x = x->next)
    if (!sid || x->sid == sid) json_array_append_new(list, mcsid_export_json(d, x));
  return list;
}
