/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* handover_take.c: the successor's side of a handover (handover.h): the
 * state document checked field by field, the sessions imported, the
 * control socket adopted, the NBD clients and export sockets kept until
 * their export is up here; "ready" to the old process. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "clients.h"
#include "exports.h"
#include "handover.h"
#include "handover_store.h"
#include "log.h"
#include "loginopts.h"
#include "persist.h"

#define STATE_MAX (64u << 20)

typedef struct taken { char target[224]; mcsi_id sid; size_t nconns; } taken;

/* An NBD client waiting for its export to come up here. */
typedef struct waiting {
  char target[224];
  json_t *spec;
  int fd;
  uint8_t *unread;
  size_t len;
  unsigned negotiated;                  /* MCSI_NBD_NEGOTIATED_* */
} waiting;

/* An export's listening socket, for the export of that target and spec here. */
typedef struct listener {
  char target[224];
  json_t *spec;
  mcsid_export_socket sock;             /* the Unix one (fd -1: none) */
  int tcp_fd;                           /* the TCP one, or -1 */
} listener;

/* An export's ExportId in the old process, for the export of that target and spec here. */
typedef struct handed_id {
  char target[224];
  json_t *spec;
  uint64_t id;
} handed_id;

static struct {
  int state_fd, ready_fd;
  taken *t;
  size_t n;
  waiting w[MCSID_HANDOVER_MAX_NBD];
  size_t nw;
  listener l[MCSID_HANDOVER_MAX_NBD];
  size_t nl;
  handed_id ids[MCSID_HANDOVER_MAX_NBD];
  size_t nids;
  uint64_t adopt_timer;
  char refusal[320];                    /* why the state was refused (for the old process) */
} in = { .state_fd = -1, .ready_fd = -1 };

static int from_store;                  /* the state came from the service manager's fd store */

void mcsid_handover_receive_store(void)
{
  int fd = mcsid_handover_store_receive();
  if (fd < 0) return;
  in.state_fd = fd;
  from_store = 1;
}

int mcsid_handover_pending(void)
{
  const char *env = getenv(MCSID_HANDOVER_ENV);
  int state_fd = -1, ready_fd = -1, end = 0;
  if (!env) return from_store;
  if (sscanf(env, "state=%d,ready=%d%n", &state_fd, &ready_fd, &end) != 2 || env[end] || state_fd < 3 ||
      ready_fd < 3 || state_fd == ready_fd) {
    log_err("handover: %s=%s: not state=FD,ready=FD", MCSID_HANDOVER_ENV, env);
    unsetenv(MCSID_HANDOVER_ENV);
    return 0;
  }
  unsetenv(MCSID_HANDOVER_ENV);         /* our own successor gets its own */
  in.state_fd = state_fd;
  in.ready_fd = ready_fd;
  fcntl(state_fd, F_SETFD, FD_CLOEXEC);
  fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
  return 1;
}

static json_t *read_state(void)
{
  struct stat st;
  if (fstat(in.state_fd, &st) < 0 || st.st_size <= 0 || (uint64_t)st.st_size > STATE_MAX) {
    log_err("handover: the state fd %d is no state (size %lld)", in.state_fd, (long long)st.st_size);
    return NULL;
  }
  char *buf = malloc((size_t)st.st_size);
  size_t off = 0;
  while (buf && off < (size_t)st.st_size) {
    ssize_t r = pread(in.state_fd, buf + off, (size_t)st.st_size - off, (off_t)off);
    if (r <= 0) break;
    off += (size_t)r;
  }
  json_error_t err;
  json_t *doc = buf && off == (size_t)st.st_size ? json_loadb(buf, off, 0, &err) : NULL;
  if (!doc) log_err("handover: the state is not JSON");
  free(buf);
  close(in.state_fd);
  in.state_fd = -1;
  return doc;
}

/* An inherited fd that must be a socket; listening or connected as asked. */
static int socket_fd(json_t *v, int listening)
{
  if (!json_is_integer(v) || json_integer_value(v) < 3 || json_integer_value(v) > INT_MAX) return -1;
  int fd = (int)json_integer_value(v), acc = 0, type = 0;
  socklen_t l1 = sizeof acc, l2 = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l1) < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l2) < 0 ||
      type != SOCK_STREAM || !acc != !listening)
    return -1;
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

static int unhex(const char *h, uint8_t **out, size_t *len)
{
  size_t n = strlen(h);
  if (n % 2 || n / 2 > (64u << 20)) return -1;
  uint8_t *p = malloc(n / 2 + 1);
  if (!p) return -1;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(h + 2 * i, "%2x", &v) != 1) {
      free(p);
      return -1;
    }
    p[i] = (uint8_t)v;
  }
  *out = p;
  *len = n / 2;
  return 0;
}

/* The options the session goes on with: its persistent entry's (CHAP), or the configuration's defaults. */
static mcsi_login_opts *options_for(mcsid *d, const char *target, const char *portal)
{
  mcsi_login_opts *o = mcsid_persist_login_opts(d, target, portal);
  if (o) return o;
  mcsid_login l = { 0 };
  snprintf(l.portal, sizeof l.portal, "%s", portal);
  snprintf(l.target, sizeof l.target, "%s", target);
  l.login_timeout_ms = (int)d->config.login_timeout_ms;
  l.nop_interval_ms = (int)d->config.nop_interval_ms;
  l.nop_timeout_ms = (int)d->config.nop_timeout_ms;
  return mcsid_login_opts(&l);
}

static int take_session(mcsid *d, json_t *s, size_t i)
{
  const char *target = json_string_value(json_object_get(s, "Target"));
  const char *portal = json_string_value(json_object_get(s, "Portal"));
  const char *hex = json_string_value(json_object_get(s, "Blob"));
  json_t *fdl = json_object_get(s, "Fds"), *v;
  int fds[MCSID_HANDOVER_MAX_CONNS];
  size_t j, nfds = json_array_size(fdl);
  uint8_t *blob = NULL;
  size_t len = 0;
  if (!target || !portal || !hex || !json_is_array(fdl) || !nfds || nfds > MCSID_HANDOVER_MAX_CONNS ||
      strlen(target) >= sizeof in.t[0].target || unhex(hex, &blob, &len) < 0) {
    log_err("handover: Sessions[%zu] is malformed", i);
    return -1;
  }
  json_array_foreach(fdl, j, v) {
    if ((fds[j] = socket_fd(v, 0)) < 0) {
      log_err("handover: Sessions[%zu].Fds[%zu] is not a connected socket", i, j);
      free(blob);
      return -1;
    }
  }
  mcsi_login_opts *o = options_for(d, target, portal);
  mcsi_id sid = 0, handed = mcsi_handover_blob_session_id(blob, len);
  mcsi_status st = o ? mcsi_session_handover_import(d->ini, o, blob, len, fds, nfds, &sid) : ISDSC_OUT_OF_RESOURCES;
  mcsi_login_opts_free(o);
  free(blob);
  if (st) {
    log_err("handover: session with %s refused: %s: %s", target, mcsi_status_name(st), mcsi_last_message(d->ini));
    return -1;
  }
  snprintf(in.t[i].target, sizeof in.t[i].target, "%s", target);
  in.t[i].sid = sid;
  in.t[i].nconns = nfds;
  if (handed && sid != handed)          /* a document naming one id twice (0: an mcsi 0.3.0 blob names none) */
    log_warning("handover: session with %s: %s", target, mcsi_last_message(d->ini));
  log_info("handover: session 0x%016llx with %s taken over (%zu connections)", (unsigned long long)sid, target, nfds);
  return 0;
}

/* An export's listening socket, its file's name and inode. */
static int take_listener(json_t *x, const char *target, json_t *spec)
{
  const char *name = json_string_value(json_object_get(x, "Name"));
  listener *l = &in.l[in.nl];
  if (in.nl >= MCSID_HANDOVER_MAX_NBD) return -1;
  l->sock.fd = l->tcp_fd = -1;
  if (json_object_get(x, "TcpListenFd") && (l->tcp_fd = socket_fd(json_object_get(x, "TcpListenFd"), 1)) < 0)
    return -1;
  if (json_object_get(x, "ListenFd") &&
      (!name || strlen(name) >= sizeof l->sock.name || !json_is_integer(json_object_get(x, "Dev")) ||
       !json_is_integer(json_object_get(x, "Ino")) || (l->sock.fd = socket_fd(json_object_get(x, "ListenFd"), 1)) < 0)) {
    if (l->tcp_fd >= 0) close(l->tcp_fd);
    return -1;
  }
  snprintf(l->target, sizeof l->target, "%s", target);
  snprintf(l->sock.name, sizeof l->sock.name, "%s", name ? name : "");
  l->sock.dev = (dev_t)json_integer_value(json_object_get(x, "Dev"));
  l->sock.ino = (ino_t)json_integer_value(json_object_get(x, "Ino"));
  l->sock.created = json_is_true(json_object_get(x, "Created"));
  l->spec = json_incref(spec);
  in.nl++;
  return 0;
}

static listener *find_listener(const char *target, const json_t *spec)
{
  for (size_t i = 0; i < in.nl; i++)
    if (!strcmp(in.l[i].target, target) && json_equal(in.l[i].spec, spec)) return &in.l[i];
  return NULL;
}

int mcsid_handover_export_socket(mcsid *d, const char *target, const json_t *spec, mcsid_export_socket *sock)
{
  listener *l = find_listener(target, spec);
  (void)d;
  if (!l || l->sock.fd < 0) return -1;
  *sock = l->sock;
  l->sock.fd = -1;
  return 0;
}

int mcsid_handover_export_tcp(mcsid *d, const char *target, const json_t *spec)
{
  listener *l = find_listener(target, spec);
  (void)d;
  int fd = l ? l->tcp_fd : -1;
  if (l) l->tcp_fd = -1;
  return fd;
}

/* Exports[].ExportId (optional: absent from an older mcsid's document). */
static int take_export_id(json_t *v, const char *target, json_t *spec)
{
  if (!v) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < 0 || in.nids >= MCSID_HANDOVER_MAX_NBD) return -1;
  if (!json_integer_value(v)) return 0;   /* the old process did not know it */
  handed_id *h = &in.ids[in.nids++];
  snprintf(h->target, sizeof h->target, "%s", target);
  h->spec = json_incref(spec);
  h->id = (uint64_t)json_integer_value(v);
  mcsid_exports_reserve_id(h->id);
  return 0;
}

uint64_t mcsid_handover_export_id(const char *target, const json_t *spec)
{
  for (size_t i = 0; i < in.nids; i++) {
    handed_id *h = &in.ids[i];
    if (!h->id || strcmp(h->target, target) || !json_equal(h->spec, spec)) continue;
    uint64_t id = h->id;
    h->id = 0;
    return id;
  }
  return 0;
}

/* Exports[] of the document: the NBD clients, each checked, to wait for their export. */
static int take_exports(json_t *exports)
{
  json_t *x, *cl;
  size_t i, j;
  if (exports && (!json_is_array(exports) || json_array_size(exports) > MCSID_HANDOVER_MAX_NBD)) return -1;
  json_array_foreach(exports, i, x) {
    const char *target = json_string_value(json_object_get(x, "Target"));
    json_t *spec = json_object_get(x, "Spec"), *clients = json_object_get(x, "Clients");
    if (!target || strlen(target) >= sizeof in.w[0].target || !json_is_object(spec) || !json_is_array(clients))
      return -1;
    if ((json_object_get(x, "ListenFd") || json_object_get(x, "TcpListenFd")) && take_listener(x, target, spec) < 0)
      return -1;
    if (take_export_id(json_object_get(x, "ExportId"), target, spec) < 0) return -1;
    json_array_foreach(clients, j, cl) {
      const char *hex = json_string_value(json_object_get(cl, "Unread"));
      waiting *w = &in.w[in.nw];
      json_t *neg = json_object_get(cl, "Negotiated");
      if (in.nw >= MCSID_HANDOVER_MAX_NBD || !hex || !json_is_integer(neg) || json_integer_value(neg) < 0 ||
          json_integer_value(neg) > 3 || (w->fd = socket_fd(json_object_get(cl, "Fd"), 0)) < 0 ||
          unhex(hex, &w->unread, &w->len) < 0 || w->len > 65536)
        return -1;
      w->negotiated = (unsigned)json_integer_value(neg);
      snprintf(w->target, sizeof w->target, "%s", target);
      w->spec = json_incref(spec);
      in.nw++;
    }
  }
  return 0;
}

static void drop_waiting(waiting *w)
{
  if (w->fd >= 0) close(w->fd);
  w->fd = -1;
  free(w->unread);
  w->unread = NULL;
  json_decref(w->spec);
  w->spec = NULL;
}

/* The handed NBD clients whose export never came up here go. */
static void adopt_over(mcsi_initiator *ini, void *arg)
{
  size_t n = 0;
  (void)ini;
  (void)arg;
  in.adopt_timer = 0;
  for (size_t i = 0; i < in.nw; i++) n += in.w[i].fd >= 0, drop_waiting(&in.w[i]);
  if (n) log_warning("handover: %zu NBD clients closed: their export did not come up", n);
  in.nw = 0;
  for (size_t i = 0; i < in.nl; i++) {
    if (in.l[i].sock.fd >= 0) close(in.l[i].sock.fd);
    if (in.l[i].tcp_fd >= 0) close(in.l[i].tcp_fd);
    json_decref(in.l[i].spec);
  }
  in.nl = 0;
  for (size_t i = 0; i < in.nids; i++) json_decref(in.ids[i].spec);
  in.nids = 0;
}

void mcsid_handover_export_up(mcsid *d, const char *target, const json_t *spec, mcsi_nbd_export *exp)
{
  size_t n = 0;
  (void)d;
  for (size_t i = 0; i < in.nw; i++) {
    waiting *w = &in.w[i];
    if (w->fd < 0 || strcmp(w->target, target) || !json_equal(w->spec, spec)) continue;
    if (mcsi_nbd_export_adopt_client(exp, w->fd, w->unread, w->len, w->negotiated) == 0) {
      w->fd = -1;
      n++;
    }
    drop_waiting(w);
  }
  if (n) log_notice("handover: %zu NBD clients go on with their export (%s)", n, target);
}

/* Clients[] of the document: control clients at a request boundary (optional: absent from an older mcsid's). */
static int take_clients(mcsid *d, json_t *clients)
{
  json_t *cl;
  size_t i, kept = 0;
  if (!clients) return 0;
  if (!json_is_array(clients) || json_array_size(clients) > MCSID_HANDOVER_MAX_CLIENTS) return -1;
  json_array_foreach(clients, i, cl) {
    const char *hex = json_string_value(json_object_get(cl, "Unread"));
    json_t *events = json_object_get(cl, "Events");
    uint8_t *unread = NULL;
    size_t len = 0;
    int fd = socket_fd(json_object_get(cl, "Fd"), 0);
    if (fd < 0 || !hex || !json_is_integer(events) || json_integer_value(events) < 0 ||
        json_integer_value(events) > UINT32_MAX || strlen(hex) > 2u * MCSID_HANDOVER_MAX_UNREAD ||
        unhex(hex, &unread, &len) < 0)
      return -1;
    if (mcsid_client_take(d, fd, unread, len, (unsigned)json_integer_value(events)) == 0) kept++;
    else close(fd);
    free(unread);
  }
  if (i) log_info("handover: %zu of %zu control clients go on", kept, i);
  return 0;
}

int mcsid_handover_take(mcsid *d)
{
  json_t *doc = read_state(), *sessions, *s;
  const char *format = json_string_value(json_object_get(doc, "Format"));
  json_t *version = json_object_get(doc, "Version");
  size_t i;
  int rc = -1, listen_fd;
  if (!doc) return -1;
  sessions = json_object_get(doc, "Sessions");
  if (!format || strcmp(format, MCSID_HANDOVER_FORMAT) || !json_is_integer(version)) {
    log_err("handover: not a state this mcsid knows: refused");
  } else if (json_integer_value(version) != MCSID_HANDOVER_VERSION) {
    log_err("handover: state version %lld, this mcsid reads version %d: refused",
            (long long)json_integer_value(version), MCSID_HANDOVER_VERSION);
  } else if (!json_is_array(sessions) || json_array_size(sessions) > MCSID_HANDOVER_MAX_SESSIONS) {
    log_err("handover: Sessions is not a list of at most %d: refused", MCSID_HANDOVER_MAX_SESSIONS);
  } else if ((listen_fd = socket_fd(json_object_get(doc, "ListenFd"), 1)) < 0) {
    log_err("handover: ListenFd is not a listening socket: refused");
  } else if (!(in.t = calloc(json_array_size(sessions) + 1, sizeof *in.t))) {
    log_err("handover: out of memory");
  } else {
    rc = 0;
    json_array_foreach(sessions, i, s) {
      if (take_session(d, s, i) < 0) {
        rc = -1;
        break;
      }
      in.n++;
    }
    if (!rc && take_exports(json_object_get(doc, "Exports")) < 0) {
      log_err("handover: Exports is malformed: refused");
      rc = -1;
    }
    if (!rc) rc = mcsid_listen_adopt(d, listen_fd);
    if (!rc && take_clients(d, json_object_get(doc, "Clients")) < 0) {
      log_err("handover: Clients is malformed: refused");
      rc = -1;
    }
  }
  json_decref(doc);
  if (rc) snprintf(in.refusal, sizeof in.refusal, "%s", mcsid_log_last_error());   /* the reason, not the summary */
  if (rc && from_store) {
    mcsid_handover_store_release();   /* the next start begins afresh */
    log_err("handover from the fd store refused: exiting; the next start logs in again");
  } else if (rc) {
    log_err("handover refused: exiting; the old process goes on serving");
  }
  return rc;
}

void mcsid_notify_service_manager(const char *what)
{
  const char *path = getenv("NOTIFY_SOCKET");
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof sa.sun_path) return;
  memcpy(sa.sun_path, path, strlen(path));
  if (path[0] == '@') sa.sun_path[0] = 0;   /* abstract */
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  char msg[128];
  int n = snprintf(msg, sizeof msg, "%s", what);
  if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sa,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path))) < 0)
    log_warning("NOTIFY_SOCKET %s: %s", path, strerror(errno));
  close(fd);
}

void mcsid_handover_refuse(void)
{
  if (in.ready_fd < 0) return;
  char line[400];                       /* the reason is at most 319 bytes: the line always fits */
  const char *why = in.refusal[0] ? in.refusal : mcsid_log_last_error();
  int n = snprintf(line, sizeof line, "refused %.380s\n", *why ? why : "(no reason)");
  if (write(in.ready_fd, line, (size_t)n) != n) {}   /* one write under PIPE_BUF: whole or nothing; best effort */
  close(in.ready_fd);
  in.ready_fd = -1;
}

void mcsid_handover_ready(mcsid *d)
{
  char main_pid[64];
  snprintf(main_pid, sizeof main_pid, "MAINPID=%ld\nREADY=1", (long)getpid());
  mcsid_notify_service_manager(main_pid);   /* before the old one exits: the service manager follows us */
  for (size_t i = 0; i < in.n; i++) mcsid_persist_adopt(d, in.t[i].target, in.t[i].sid, in.t[i].nconns);
  if (from_store) mcsid_handover_store_release();   /* taken: the store keeps nothing stale */
  if (in.ready_fd >= 0 && write(in.ready_fd, "ready\n", 6) != 6)
    log_warning("handover: could not tell the old process: %s", strerror(errno));
  if (in.ready_fd >= 0) close(in.ready_fd);
  in.ready_fd = -1;
  free(in.t);
  in.t = NULL;
  if (in.nw || in.nl || in.nids) in.adopt_timer = mcsi_timer_add(d->ini, MCSID_HANDOVER_ADOPT_MS, adopt_over, NULL);
  log_notice("handover: serving %zu sessions taken over, %zu NBD clients wait for their exports", in.n, in.nw);
}
