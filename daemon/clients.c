/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clients.c: the control socket, its peers and their bounds (see clients.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "budget.h"
#include "clients.h"
#include "log.h"
#include "methods.h"
#include "peers.h"
#include "rpc.h"

#define READ_CHUNK 65536

struct mcsid_client {
  mcsid *d;
  mcsid_client *next, *prev;
  int fd;
  uint64_t watch;
  uint64_t idle_timer;          /* armed while a partial line waits */
  uint64_t quiet_timer;         /* idle_timeout_ms, for clients other than root and the daemon's uid */
  uint64_t last_active_ms;      /* the last byte read or sent, request begun or ended, subscription change */
  unsigned long serial;
  pid_t pid;
  uid_t uid;
  gid_t gid;
  char *in;
  size_t in_len, in_cap;
  char *out;
  size_t out_off, out_len, out_cap;
  size_t charged;               /* out_cap, as counted in the memory budget */
  long pending;
  int refs;
  int open;
  int closing;                  /* close once the output is flushed */
  int eof;                      /* the peer sent EOF: no more reading */
  int paused;                   /* not read while the memory budget is full */
  int handed;                   /* in a handover's state: neither read nor written here (handover.c) */
  unsigned long pause_serial;   /* its turn among the paused clients (lowest first) */
  unsigned events;
  mcsid_screen_fn screen;       /* an adopted client's (mcsid_client_adopt): sees each request first */
  int (*screen_event)(void *arg, json_t *msg);   /* and each Event before it is sent (NULL: all go) */
  void *screen_arg;
};

/* ---- life ---------------------------------------------------------------------------------- */

void mcsid_client_ref(mcsid_client *c) { c->refs++; }

/* The output queue's size in the memory budget follows out_cap. */
static void charge_output(mcsid_client *c)
{
  if (c->out_cap > c->charged) mcsid_budget_take(c->d, c->out_cap - c->charged);
  else if (c->out_cap < c->charged) mcsid_budget_give(c->d, c->charged - c->out_cap);
  c->charged = c->out_cap;
}

static void free_output(mcsid_client *c)
{
  mcsid_buf_free(c->out, c->out_cap);
  c->out = NULL;
  c->out_off = c->out_len = c->out_cap = 0;
  charge_output(c);
}

void mcsid_client_unref(mcsid_client *c)
{
  if (--c->refs > 0) return;
  free(c->in);
  free_output(c);
  free(c);
}

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void set_paused(mcsid_client *c, int paused)
{
  if (c->paused == paused) return;
  c->paused = paused;
  c->d->nclients_paused += paused ? 1 : -1;
  if (paused) c->pause_serial = ++c->d->pause_serial;
}

static void client_close(mcsid_client *c, const char *why)
{
  if (!c->open) return;
  mcsid *d = c->d;
  c->open = 0;
  log_debug("client %lu: closed (%s)", c->serial, why);
  mcsi_fd_unwatch(d->ini, c->watch);
  if (c->idle_timer) mcsi_timer_cancel(d->ini, c->idle_timer);
  c->idle_timer = 0;
  if (c->quiet_timer) mcsi_timer_cancel(d->ini, c->quiet_timer);
  c->quiet_timer = 0;
  set_paused(c, 0);
  if (c->closing) {   /* unread input would turn our last answer into a reset for the peer */
    char sink[65536];
    for (int i = 0; i < 64 && read(c->fd, sink, sizeof sink) > 0; i++) continue;
  }
  close(c->fd);
  c->fd = -1;
  if (c->prev) c->prev->next = c->next;
  else d->clients = c->next;
  if (c->next) c->next->prev = c->prev;
  d->nclients--;
  free_output(c);   /* nothing is sent any more: the budget gets it back now */
  mcsid_client_unref(c);
}

int mcsid_client_is_open(const mcsid_client *c) { return c->open; }
uid_t mcsid_client_uid(const mcsid_client *c) { return c->uid; }

int mcsid_client_creds(const mcsid_client *c, uid_t *uid, gid_t *gid, gid_t *groups, size_t *ngroups)
{
  socklen_t len = (socklen_t)(*ngroups * sizeof *groups);
  if (!c->open || getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) return -1;
  *uid = c->uid;
  *gid = c->gid;
  *ngroups = len / sizeof *groups;
  return 0;
}
unsigned long mcsid_client_serial(const mcsid_client *c) { return c->serial; }
long mcsid_client_pending(const mcsid_client *c) { return c->pending; }
void mcsid_client_set_events(mcsid_client *c, unsigned mask)
{
  c->events = mask;
  c->last_active_ms = now_ms();
}
unsigned mcsid_client_events(const mcsid_client *c) { return c->events; }

/* After the peer's EOF, the connection lives until its last answer is out. */
static void close_if_finished(mcsid_client *c)
{
  if (c->open && c->out_len == c->out_off && (c->closing || (c->eof && c->pending == 0)))
    client_close(c, c->closing ? "closing" : "end of input");
}

void mcsid_client_pending_add(mcsid_client *c, int delta)
{
  c->pending += delta;
  c->last_active_ms = now_ms();
  close_if_finished(c);
}

/* ---- output --------------------------------------------------------------------------------- */

static void update_watch(mcsid_client *c)
{
  int ev = (c->eof || c->closing || c->paused || c->handed) ? 0 : MCSI_FD_READABLE;
  if (c->out_len > c->out_off) ev |= MCSI_FD_WRITABLE;
  mcsi_fd_watch_set(c->d->ini, c->watch, ev);
}

static void flush_output(mcsid_client *c)
{
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) {
      client_close(c, "write failed");
      return;
    }
    c->out_off += (size_t)n;
    c->last_active_ms = now_ms();
  }
  if (c->out_off == c->out_len) {
    c->out_off = c->out_len = 0;
    if (c->out_cap > 4 * READ_CHUNK) free_output(c);   /* nor a large answer's */
  }
  update_watch(c);
  close_if_finished(c);
}

static int queue_bytes(mcsid_client *c, const char *p, size_t n)
{
  if (c->out_off && c->out_off == c->out_len) c->out_off = c->out_len = 0;
  if (c->out_len + n > c->out_cap) {
    if (c->out_off) {
      memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
      c->out_len -= c->out_off;
      c->out_off = 0;
    }
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + n) cap *= 2;
    if (cap > 4 * READ_CHUNK)   /* a large queue: what it holds, not the double (it is in the budget) */
      cap = (c->out_len + n + READ_CHUNK - 1) / READ_CHUNK * READ_CHUNK;
    char *out = mcsid_buf_realloc(c->out, c->out_cap, cap);
    if (!out) return -1;
    c->out = out;
    c->out_cap = cap;
    charge_output(c);
  }
  memcpy(c->out + c->out_len, p, n);
  c->out_len += n;
  return 0;
}

void mcsid_client_send(mcsid_client *c, json_t *msg)
{
  size_t len;
  if (!c->open || c->handed) return;   /* handed: the successor speaks to it now */
  char *line = mcsid_rpc_line(msg, &len);
  if (!line || queue_bytes(c, line, len) < 0) {
    free(line);
    client_close(c, "out of memory");
    return;
  }
  free(line);
  if ((long)(c->out_len - c->out_off) > c->d->config.output_max) {
    log_warning("client %lu (pid %ld): more than %ld bytes it does not read: dropped", c->serial, (long)c->pid,
                c->d->config.output_max);
    client_close(c, "output bound");
    return;
  }
  flush_output(c);
}

void mcsid_clients_broadcast(mcsid *d, int kind, json_t *msg)
{
  size_t n = 0, i = 0;
  for (mcsid_client *c = d->clients; c; c = c->next) n++;
  mcsid_client **list = calloc(n ? n : 1, sizeof *list);
  if (!list) return;
  for (mcsid_client *c = d->clients; c; c = c->next)
    if ((c->events & (1u << kind)) && (!c->screen_event || c->screen_event(c->screen_arg, msg))) {
      mcsid_client_ref(c);
      list[i++] = c;
    }
  for (size_t j = 0; j < i; j++) {
    mcsid_client_send(list[j], msg);
    mcsid_client_unref(list[j]);
  }
  free(list);
}

static int peer_gone(int fd)
{
  struct pollfd p = { .fd = fd, .events = POLLRDHUP };
  return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/* ---- input ---------------------------------------------------------------------------------- */

static void idle_expired(mcsi_initiator *ini, void *arg)
{
  mcsid_client *c = arg;
  (void)ini;
  c->idle_timer = 0;
  log_warning("client %lu (pid %ld): partial request idle for %ld ms: closed", c->serial, (long)c->pid,
              c->d->config.partial_timeout_ms);
  client_close(c, "idle partial request");
}

/* A partial line restarts the idle clock whenever bytes arrive. */
static void rearm_idle(mcsid_client *c)
{
  if (c->idle_timer) mcsi_timer_cancel(c->d->ini, c->idle_timer);
  c->idle_timer = 0;
  if (c->in_len && c->open && !c->closing && !c->paused)
    c->idle_timer = mcsi_timer_add(c->d->ini, (uint64_t)c->d->config.partial_timeout_ms, idle_expired, c);
}

/* Parsed, screened (an adopted client's), dispatched: methods.c. */
static void handle_line(mcsid_client *c, char *line, size_t len)
{
  mcsid_handle_line(c->d, c, line, len, c->screen, c->screen_arg);
}

/* A client that once sent a long line does not keep its buffer. */
static void shrink_input(mcsid_client *c)
{
  if (c->in_cap <= 4 * READ_CHUNK || c->in_len > READ_CHUNK) return;
  char *in = realloc(c->in, 2 * READ_CHUNK);
  if (!in) return;
  c->in = in;
  c->in_cap = 2 * READ_CHUNK;
}

/* Handles at most max complete lines; with the memory budget full, none:
 * the client is paused (its lines wait, its fd is not read). */
static void handle_lines(mcsid_client *c, size_t max)
{
  size_t start = 0;
  char *nl;
  while (max && c->open && !c->closing && (nl = memchr(c->in + start, '\n', c->in_len - start))) {
    size_t len = (size_t)(nl - (c->in + start));
    if ((long)len > c->d->config.request_max) break;
    if (mcsid_budget_full(c->d)) {
      set_paused(c, 1);
      break;
    }
    handle_line(c, c->in + start, len);
    start += len + 1;
    max--;
  }
  if (!c->open) return;
  memmove(c->in, c->in + start, c->in_len - start);
  c->in_len -= start;
  shrink_input(c);
  nl = memchr(c->in, '\n', c->in_len);
  size_t pending_line = nl ? (size_t)(nl - c->in) : c->in_len;
  if (!c->closing && (long)pending_line > c->d->config.request_max) {
    char msg[128];
    snprintf(msg, sizeof msg, "invalid request: line longer than %ld bytes", c->d->config.request_max);
    log_warning("client %lu (pid %ld): request line longer than %ld bytes: closed", c->serial, (long)c->pid,
                c->d->config.request_max);
    json_t *err = mcsid_rpc_error(NULL, RPC_INVALID_REQUEST, msg);
    mcsid_client_send(c, err);
    json_decref(err);
    c->closing = 1;
    c->in_len = 0;
    if (c->open) flush_output(c);
  }
}

static int grow_input(mcsid_client *c)
{
  if (c->in_cap - c->in_len >= READ_CHUNK) return 0;
  size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK * 2;
  char *in = realloc(c->in, cap);
  if (!in) return -1;
  c->in = in;
  c->in_cap = cap;
  return 0;
}

static void read_input(mcsid_client *c)
{
  if (grow_input(c) < 0) {
    client_close(c, "out of memory");
    return;
  }
  ssize_t n = read(c->fd, c->in + c->in_len, READ_CHUNK);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n < 0) {
    client_close(c, "read failed");
    return;
  }
  if (n == 0) {
    c->eof = 1;
    c->in_len = 0;   /* a partial last line is dropped */
    rearm_idle(c);
    update_watch(c);
    close_if_finished(c);
    return;
  }
  c->in_len += (size_t)n;
  c->last_active_ms = now_ms();
  handle_lines(c, (size_t)-1);
  if (!c->open) return;
  rearm_idle(c);
  update_watch(c);
  close_if_finished(c);
}

static void client_ready(mcsi_initiator *ini, int fd, int what, void *arg)
{
  mcsid_client *c = arg;
  (void)ini;
  (void)fd;
  mcsid_client_ref(c);
  /* After EOF nothing is asked for but output: being called with nothing to
   * write is a hang-up (EPOLLHUP/EPOLLERR come unasked), and would come again
   * at once, for ever. */
  if (c->open && c->eof && c->out_len == c->out_off) client_close(c, "hang-up");
  /* Paused, input is not asked for either: readable means hang-up or error. */
  if (c->open && c->paused && (what & MCSI_FD_READABLE) && peer_gone(c->fd)) client_close(c, "hang-up");
  if (c->open && (what & MCSI_FD_WRITABLE)) flush_output(c);
  if (c->open && (what & MCSI_FD_READABLE) && !c->eof && !c->closing && !c->paused) read_input(c);
  mcsid_client_unref(c);
}

/* ---- the memory budget: paused clients resume --------------------------------------------------- */

static int has_line(const mcsid_client *c) { return c->in_len && memchr(c->in, '\n', c->in_len); }

static void unpause(mcsid_client *c)
{
  set_paused(c, 0);
  rearm_idle(c);
  update_watch(c);
  close_if_finished(c);
}

static int by_pause_serial(const void *a, const void *b)
{
  unsigned long x = (*(mcsid_client *const *)a)->pause_serial, y = (*(mcsid_client *const *)b)->pause_serial;
  return x < y ? -1 : x > y;
}

/* One line per paused client in turn, the longest waiting first, while the
 * budget has room; a client whose waiting lines are all handled reads
 * again, one that still has some goes to the back of the queue. */
static void resume_due(mcsi_initiator *ini, void *arg)
{
  mcsid *d = arg;
  (void)ini;
  d->resume_timer = 0;
  size_t n = 0, progress = 1;
  mcsid_client **list = calloc((size_t)d->nclients_paused + 1, sizeof *list);
  if (!list) return;
  for (mcsid_client *c = d->clients; c && n < (size_t)d->nclients_paused; c = c->next)
    if (c->paused) {
      mcsid_client_ref(c);
      list[n++] = c;
    }
  qsort(list, n, sizeof *list, by_pause_serial);
  while (progress && !mcsid_budget_full(d)) {
    progress = 0;
    for (size_t i = 0; i < n && !mcsid_budget_full(d); i++) {
      mcsid_client *c = list[i];
      if (!c->open || !c->paused) continue;
      if (has_line(c)) {
        handle_lines(c, 1);
        progress = 1;
      }
      if (c->open && !has_line(c)) unpause(c);
      else if (c->open && c->paused) c->pause_serial = ++d->pause_serial;
    }
  }
  for (size_t i = 0; i < n; i++) mcsid_client_unref(list[i]);
  free(list);
}

void mcsid_clients_resume(mcsid *d)
{
  if (d->nclients_paused && !d->resume_timer) d->resume_timer = mcsi_timer_add(d->ini, 0, resume_due, d);
}

/* ---- idle clients ------------------------------------------------------------------------------- */

static int privileged(uid_t uid) { return uid == 0 || uid == geteuid(); }

/* Not idle: subscribed, a request in flight, lines waiting. Output queued
 * is not enough: a client that takes none of it is idle (last_active_ms
 * moves with every byte it takes). */
static int client_busy(const mcsid_client *c)
{
  return c->events || c->pending || c->paused || c->in_len;
}

static void quiet_expired(mcsi_initiator *ini, void *arg);

static void arm_quiet(mcsid_client *c, uint64_t ms)
{
  c->quiet_timer = mcsi_timer_add(c->d->ini, ms, quiet_expired, c);
}

static void quiet_expired(mcsi_initiator *ini, void *arg)
{
  mcsid_client *c = arg;
  (void)ini;
  c->quiet_timer = 0;
  uint64_t now = now_ms(), limit = (uint64_t)c->d->config.idle_timeout_ms;
  if (client_busy(c)) c->last_active_ms = now;
  if (now - c->last_active_ms < limit) {
    arm_quiet(c, limit - (now - c->last_active_ms));
    return;
  }
  log_warning("client %lu (pid %ld uid %ld): idle for %ld ms, nothing in flight and no subscription: closed%s",
              c->serial, (long)c->pid, (long)c->uid, c->d->config.idle_timeout_ms,
              c->out_len > c->out_off ? " (it takes none of its answers)" : "");
  client_close(c, "idle");
}

/* ---- accept ----------------------------------------------------------------------------------- */

static long clients_of_uid(const mcsid *d, uid_t uid)
{
  long n = 0;
  for (const mcsid_client *c = d->clients; c; c = c->next) n += c->uid == uid;
  return n;
}

/* A refusal for a limit is logged at most once a second (a client
 * connecting in a loop does not flood the log); the next line counts those
 * not logged. */
static void log_refused(mcsid *d, const struct ucred *cr, const char *why)
{
  uint64_t now = now_ms();
  if (d->refused_log_ms && now - d->refused_log_ms < 1000) {
    d->refused_unlogged++;
    return;
  }
  if (d->refused_unlogged)
    log_warning("client pid %ld uid %ld refused: %s (and %lu more refused since the last such line, not logged)",
                (long)cr->pid, (long)cr->uid, why, d->refused_unlogged);
  else
    log_warning("client pid %ld uid %ld refused: %s", (long)cr->pid, (long)cr->uid, why);
  d->refused_log_ms = now;
  d->refused_unlogged = 0;
}

/* The slots: reserved_clients of max_clients for root and the daemon's uid
 * only, max_clients_per_uid for any other uid. 1, or 0 with a log line. */
static int admit(mcsid *d, const struct ucred *cr)
{
  const mcsid_config *cf = &d->config;
  char why[160];
  int root = privileged(cr->uid);
  long slots = root ? cf->max_clients : cf->max_clients - cf->reserved_clients;
  if (d->nclients >= slots) {
    snprintf(why, sizeof why, "%ld clients already (max_clients %ld, %ld of them reserved for root)", d->nclients,
             cf->max_clients, cf->reserved_clients);
    log_refused(d, cr, why);
    return 0;
  }
  long mine = root ? 0 : clients_of_uid(d, cr->uid);
  if (mine >= cf->max_clients_per_uid) {
    snprintf(why, sizeof why, "%ld clients of uid %ld already (max_clients_per_uid)", mine, (long)cr->uid);
    log_refused(d, cr, why);
    return 0;
  }
  return 1;
}

/* A new client (accepted, or taken over in a handover) joins the list: its
 * idle clock starts, an unprivileged one gets its quiet timeout. */
static void client_link(mcsid *d, mcsid_client *c)
{
  c->last_active_ms = now_ms();
  if (!privileged(c->uid)) arm_quiet(c, (uint64_t)d->config.idle_timeout_ms);
  c->next = d->clients;
  if (d->clients) d->clients->prev = c;
  d->clients = c;
  d->nclients++;
}

static void accept_one(mcsid *d, int fd)
{
  struct ucred cr;
  socklen_t len = sizeof cr;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
    log_warning("client: SO_PEERCRED: %s: closed", strerror(errno));
    close(fd);
    return;
  }
  if (!mcsid_peer_allowed(d, fd, &cr)) {
    log_warning("client pid %ld uid %ld gid %ld refused: not root, not uid %ld, not in group '%s'", (long)cr.pid,
                (long)cr.uid, (long)cr.gid, (long)geteuid(), d->config.socket_group);
    close(fd);
    return;
  }
  if (!admit(d, &cr)) {
    close(fd);
    return;
  }
  mcsid_client *c = calloc(1, sizeof *c);
  if (!c) {
    close(fd);
    return;
  }
  *c = (mcsid_client){ .d = d, .fd = fd, .serial = ++d->client_serial, .pid = cr.pid, .uid = cr.uid,
                       .gid = cr.gid, .refs = 1, .open = 1 };
  c->watch = mcsi_fd_watch(d->ini, fd, MCSI_FD_READABLE, client_ready, c);
  if (!c->watch) {
    close(fd);
    free(c);
    return;
  }
  client_link(d, c);
  log_debug("client %lu: pid %ld uid %ld connected", c->serial, (long)cr.pid, (long)cr.uid);
}

static void listener_ready(mcsi_initiator *ini, int fd, int what, void *arg)
{
  mcsid *d = arg;
  (void)ini;
  (void)what;
  for (int i = 0; i < 16; i++) {
    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
        log_warning("accept: %s", strerror(errno));
      return;
    }
    accept_one(d, cfd);
  }
}

/* ---- the socket -------------------------------------------------------------------------------- */

static int make_parent(const char *path)
{
  char dir[sizeof ((struct sockaddr_un *)0)->sun_path];
  snprintf(dir, sizeof dir, "%s", path);
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return 0;
}

/* A socket file nobody answers on is stale. */
static int socket_in_use(const struct sockaddr_un *sa)
{
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  int used = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0;
  close(fd);
  return used;
}

void mcsid_listen_refresh(mcsid *d)
{
  int found;
  gid_t gid = mcsid_config_group(&d->config, &found);
  if (d->config.socket_group[0] && !found)
    log_warning("socket_group '%s': no such group", d->config.socket_group);
  if (chmod(d->socket_path, 0660) < 0) log_warning("chmod %s: %s", d->socket_path, strerror(errno));
  if (found && chown(d->socket_path, (uid_t)-1, gid) < 0)
    log_warning("chown %s: %s", d->socket_path, strerror(errno));
  mcsid_clients_resume(d);   /* memory_budget may have grown */
}

int mcsid_listen(mcsid *d)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(d->socket_path) >= sizeof sa.sun_path) {
    log_err("socket path %s: too long", d->socket_path);
    return -1;
  }
  strcpy(sa.sun_path, d->socket_path);
  if (make_parent(d->socket_path) < 0) {
    log_err("socket directory of %s: %s", d->socket_path, strerror(errno));
    return -1;
  }
  if (socket_in_use(&sa)) {
    log_err("socket %s: another mcsid answers on it", d->socket_path);
    return -1;
  }
  unlink(d->socket_path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 128) < 0) {
    log_err("socket %s: %s", d->socket_path, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  d->listen_fd = fd;
  mcsid_listen_refresh(d);
  d->listen_watch = mcsi_fd_watch(d->ini, fd, MCSI_FD_READABLE, listener_ready, d);
  if (!d->listen_watch) {
    log_err("socket %s: cannot watch it", d->socket_path);
    close(fd);
    return -1;
  }
  return 0;
}

int mcsid_listen_adopt(mcsid *d, int fd)
{
  d->listen_fd = fd;
  mcsid_listen_refresh(d);
  d->listen_watch = mcsi_fd_watch(d->ini, fd, MCSI_FD_READABLE, listener_ready, d);
  if (!d->listen_watch) {
    log_err("socket %s: cannot watch it", d->socket_path);
    d->listen_fd = -1;
    return -1;
  }
  return 0;
}

void mcsid_listen_pause(mcsid *d, int paused)
{
  if (d->listen_fd < 0) return;
  if (paused && d->listen_watch) {
    mcsi_fd_unwatch(d->ini, d->listen_watch);
    d->listen_watch = 0;
  } else if (!paused && !d->listen_watch) {
    d->listen_watch = mcsi_fd_watch(d->ini, d->listen_fd, MCSI_FD_READABLE, listener_ready, d);
  }
}

void mcsid_listen_forget(mcsid *d)
{
  if (d->listen_fd < 0) return;
  if (d->listen_watch) mcsi_fd_unwatch(d->ini, d->listen_watch);
  d->listen_watch = 0;
  close(d->listen_fd);                  /* the successor listens on it: the file stays */
  d->listen_fd = -1;
}

void mcsid_listen_close(mcsid *d)
{
  if (d->listen_fd < 0) return;
  mcsi_fd_unwatch(d->ini, d->listen_watch);
  close(d->listen_fd);
  d->listen_fd = -1;
  unlink(d->socket_path);
}

/* ---- clients the daemon makes itself (policy runners) ------------------------------------------- */

mcsid_client *mcsid_client_adopt(mcsid *d, int fd, pid_t pid, uid_t uid, gid_t gid, mcsid_screen_fn screen,
                                 void *arg)
{
  mcsid_client *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  *c = (mcsid_client){ .d = d, .fd = fd, .serial = ++d->client_serial, .pid = pid, .uid = uid, .gid = gid,
                       .refs = 1, .open = 1, .screen = screen, .screen_arg = arg };
  c->watch = mcsi_fd_watch(d->ini, fd, MCSI_FD_READABLE, client_ready, c);
  if (!c->watch) {
    free(c);
    return NULL;
  }
  c->next = d->clients;
  if (d->clients) d->clients->prev = c;
  d->clients = c;
  d->nclients++;
  log_debug("client %lu: pid %ld uid %ld adopted", c->serial, (long)pid, (long)uid);
  return c;
}

void mcsid_client_shut(mcsid_client *c, const char *why) { client_close(c, why); }

void mcsid_client_screen_events(mcsid_client *c, int (*screen_event)(void *arg, json_t *msg))
{
  c->screen_event = screen_event;
}

gid_t mcsid_client_gid(const mcsid_client *c) { return c->gid; }

/* ---- a handover (handover.h) ------------------------------------------------------------------- */

size_t mcsid_clients_hand(mcsid *d, mcsid_handed_client *out, size_t room)
{
  size_t n = 0;
  for (mcsid_client *c = d->clients; c && n < room; c = c->next) {
    if (!c->open || c->screen || c->closing || c->eof || c->pending || c->handed) continue;
    flush_output(c);                    /* a client with answers it has not read yet stays (closed at exit) */
    if (!c->open || c->out_len > c->out_off) continue;
    c->handed = 1;
    update_watch(c);
    out[n++] = (mcsid_handed_client){ .fd = c->fd, .unread = c->in, .len = c->in_len, .events = c->events };
  }
  return n;
}

void mcsid_clients_unhand(mcsid *d)
{
  for (mcsid_client *c = d->clients; c; c = c->next) {
    if (!c->handed) continue;
    c->handed = 0;
    update_watch(c);
    if (has_line(c)) {                  /* lines read ahead: handled in turn, from a timer */
      set_paused(c, 1);
      mcsid_clients_resume(d);
    }
  }
}

int mcsid_client_take(mcsid *d, int fd, const uint8_t *unread, size_t len, unsigned events)
{
  struct ucred cr;
  socklen_t cl = sizeof cr;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || !mcsid_peer_allowed(d, fd, &cr)) return -1;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  mcsid_client *c = calloc(1, sizeof *c);
  if (!c) return -1;
  *c = (mcsid_client){ .d = d, .fd = fd, .serial = ++d->client_serial, .pid = cr.pid, .uid = cr.uid,
                       .gid = cr.gid, .refs = 1, .open = 1, .events = events };
  c->in_cap = len + 2 * READ_CHUNK;
  if (!(c->in = malloc(c->in_cap)) || !(c->watch = mcsi_fd_watch(d->ini, fd, MCSI_FD_READABLE, client_ready, c))) {
    free(c->in);
    free(c);
    return -1;
  }
  memcpy(c->in, unread, len);
  c->in_len = len;
  client_link(d, c);
  if (has_line(c)) {
    set_paused(c, 1);
    update_watch(c);
    mcsid_clients_resume(d);
  }
  log_debug("client %lu: pid %ld uid %ld taken over (%zu bytes read ahead)", c->serial, (long)cr.pid, (long)cr.uid,
            len);
  return 0;
}

void mcsid_clients_close_all(mcsid *d)
{
  if (d->resume_timer) mcsi_timer_cancel(d->ini, d->resume_timer);
  d->resume_timer = 0;
  while (d->clients) {
    mcsid_client *c = d->clients;
    mcsid_client_ref(c);
    flush_output(c);
    client_close(c, "exit");
    mcsid_client_unref(c);
  }
}
