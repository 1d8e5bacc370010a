/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* handover.c: mcsid hands its sessions, its control socket and its NBD
 * clients to its successor (see handover.h). The old side: freeze the
 * exports, export every session, start the successor with the state in a
 * memfd, wait for "ready"; then let go, or take everything back (the new
 * side: handover_take.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "clients.h"
#include "exports.h"
#include "handover.h"
#include "handover_store.h"
#include "log.h"

typedef struct handed {
  mcsi_id sid;
  char target[224];
  char portal[80];
  size_t nconns;
  mcsi_handover_blob *blob;             /* exported, ours until the successor took it */
} handed;

static struct {
  mcsid *d;
  int active;
  handed *s;
  size_t n, outstanding, failed;
  char export_failure[200];             /* why the first session that failed its export did */
  pid_t child;
  int ready_fd, memfd;
  uint64_t ready_watch, timer;
  json_t *exports;                      /* the NBD clients handed: [{Target, Spec, Clients: [{Fd, Unread}]}] */
  int nbd_fds[MCSID_HANDOVER_MAX_NBD];  /* their sockets (duplicates) */
  size_t n_nbd;
  uint64_t quiet_timer, quiet_deadline, drain_end;   /* deadline: for the next NBD request to finish */
  uint64_t answered;                    /* NBD requests the exports had answered at the last look */
  int quiet;
  json_t *clients;                      /* control clients handed: [{Fd, Unread, Events}] */
  int *client_fds;                      /* their sockets (theirs: not closed here) */
  size_t n_clients;
  int via_store;                        /* SIGTERM armed by Upgrade{ViaFdStore}: no successor to start */
  void (*fallback)(mcsid *d);           /* ... and when that fails: the ordinary stop */
} ho = { .ready_fd = -1, .memfd = -1 };

static char exe_path[PATH_MAX];

#define STR_(x) #x
#define STR(x) STR_(x)

/* Those told how the handover under way ends (Upgrade {"Wait": true}). */
static struct {
  mcsid_handover_done_fn *done;
  void *arg;
} waiters[MCSID_HANDOVER_MAX_WAITERS];
static size_t n_waiters;

int mcsid_handover_wait(mcsid_handover_done_fn *done, void *arg)
{
  if (n_waiters >= MCSID_HANDOVER_MAX_WAITERS) return -1;
  waiters[n_waiters].done = done;
  waiters[n_waiters].arg = arg;
  n_waiters++;
  return 0;
}

/* The end of the handover: every waiter told once (ISDSC_SUCCESS with the successor's pid, or why not). */
static void tell_waiters(mcsi_status st, const char *message, long pid)
{
  size_t n = n_waiters;
  n_waiters = 0;
  for (size_t i = 0; i < n; i++) waiters[i].done(waiters[i].arg, st, message, pid);
}

static uint64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
static char **saved_argv;

void mcsid_handover_init(int argc, char **argv)
{
  (void)argc;
  saved_argv = argv;
  if (!realpath(argv[0], exe_path)) snprintf(exe_path, sizeof exe_path, "/proc/self/exe");
}

/* ---- the old process ------------------------------------------------------------------------------ */

static void close_nbd_fds(void)
{
  for (size_t i = 0; i < ho.n_nbd; i++) close(ho.nbd_fds[i]);
  ho.n_nbd = 0;
}

static void freeze_one(const char *target, const json_t *spec, mcsi_nbd_export *exp, const mcsid_export_socket *sock,
                       void *arg)
{
  (void)target;
  (void)spec;
  (void)sock;
  mcsi_nbd_export_freeze(exp, (int)(intptr_t)arg);
}

static void forget_all(void)
{
  close_nbd_fds();
  json_decref(ho.exports);
  ho.exports = NULL;
  json_decref(ho.clients);
  ho.clients = NULL;
  free(ho.client_fds);
  ho.client_fds = NULL;
  ho.n_clients = 0;
  if (ho.quiet_timer) mcsi_timer_cancel(ho.d->ini, ho.quiet_timer);
  ho.quiet_timer = 0;
  for (size_t i = 0; i < ho.n; i++) mcsi_handover_blob_free(ho.s[i].blob);
  free(ho.s);
  ho.s = NULL;
  ho.n = ho.outstanding = ho.failed = 0;
  if (ho.ready_watch) mcsi_fd_unwatch(ho.d->ini, ho.ready_watch);
  if (ho.timer) mcsi_timer_cancel(ho.d->ini, ho.timer);
  ho.ready_watch = ho.timer = 0;
  if (ho.ready_fd >= 0) close(ho.ready_fd);
  if (ho.memfd >= 0) close(ho.memfd);
  ho.ready_fd = ho.memfd = -1;
  ho.child = 0;
  ho.active = 0;
}

/* A handover through the store that did not happen: SIGTERM still stops. */
static void store_failed(mcsid *d)
{
  void (*fallback)(mcsid *) = ho.fallback;
  ho.via_store = 0;
  ho.fallback = NULL;
  if (fallback) fallback(d);
}

static unsigned attempts;               /* of this handover: busy sessions or clients are tried again */
static uint64_t retry_timer;

static void retry_due(mcsi_initiator *ini, void *arg)
{
  (void)ini;
  retry_timer = 0;
  mcsid_handover_start(arg);
}

/* The successor did not take over: every session goes on here. */
static void take_back(const char *why)
{
  mcsid *d = ho.d;
  for (size_t i = 0; i < ho.n; i++)
    if (ho.s[i].blob) mcsi_session_handover_abort(d->ini, ho.s[i].sid);
  forget_all();
  mcsid_clients_unhand(d);              /* control clients are served here again */
  mcsid_exports_visit(d, freeze_one, (void *)(intptr_t)0);   /* NBD clients read on */
  mcsid_listen_pause(d, 0);
  log_err("handover: %s; this process goes on serving", why);
}

/* ... for good (no attempt follows, not even automatically: an
 * administrator hears why and the old process serves as before; the next
 * Upgrade, SIGUSR2 or reload starts afresh, with all its attempts). */
static void give_back(mcsi_status st, const char *why)
{
  char msg[1024];
  take_back(why);
  attempts = 0;                         /* busy attempts of this handover are not the next one's */
  snprintf(msg, sizeof msg, "%s; the running mcsid goes on serving", why);
  tell_waiters(st, msg, 0);
}

/* Not quiet in time (commands in flight, a connection recovering): tried
 * again a little later, MCSID_HANDOVER_ATTEMPTS times in all. */
static void busy(const char *why)
{
  mcsid *d = ho.d;
  char attempt[480];
  snprintf(attempt, sizeof attempt, "attempt %u of %d: %s", attempts + 1, MCSID_HANDOVER_ATTEMPTS, why);
  take_back(attempt);
  if (++attempts >= MCSID_HANDOVER_ATTEMPTS || d->stopping) {
    char msg[512];
    log_err("handover: given up after %u attempts", attempts);
    snprintf(msg, sizeof msg, "given up after %u attempts (%s); the running mcsid goes on serving", attempts, why);
    attempts = 0;
    tell_waiters(ISDSC_SESSION_BUSY, msg, 0);
    if (ho.via_store) store_failed(d);
    return;
  }
  retry_timer = mcsi_timer_add(d->ini, MCSID_HANDOVER_RETRY_MS, retry_due, d);
}

/* The successor's end, logged and said in how[] ("" when it has not ended). */
static void reap_child(int block, char *how, size_t len)
{
  int status = 0;
  how[0] = 0;
  if (ho.child > 0 && waitpid(ho.child, &status, block ? 0 : WNOHANG) == ho.child) {
    if (WIFEXITED(status)) snprintf(how, len, "exited %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) snprintf(how, len, "died of signal %d", WTERMSIG(status));
    if (how[0]) log_warning("handover: the successor %s", how);
  }
}

/* The successor serves: let go of everything without a word to the target. */
static void let_go(void)
{
  mcsid *d = ho.d;
  pid_t child = ho.child;
  for (size_t i = 0; i < ho.n; i++) {
    if (mcsi_session_handover_commit(d->ini, ho.s[i].sid))
      log_warning("handover: session 0x%016llx: %s", (unsigned long long)ho.s[i].sid, mcsi_last_message(d->ini));
  }
  size_t n = ho.n;
  forget_all();
  mcsid_exports_hand_over(d);
  mcsid_listen_forget(d);
  if (retry_timer) mcsi_timer_cancel(d->ini, retry_timer);
  retry_timer = 0;
  attempts = 0;
  if (ho.via_store) log_notice("handover: the service manager keeps %zu sessions for the next mcsid; exiting", n);
  else log_notice("handover: pid %ld serves %zu sessions now; exiting", (long)child, n);
  tell_waiters(ISDSC_SUCCESS, NULL, (long)child);   /* answered before this process exits */
  d->handed_over = 1;
  d->done = 1;
}

/* The successor's line "refused REASON\n" (mcsid_handover_refuse): REASON, printable, into out. */
static void refusal_reason(const char *buf, ssize_t r, char *out, size_t len)
{
  out[0] = 0;
  if (r <= 8 || memcmp(buf, "refused ", 8)) return;
  size_t n = 0;
  for (ssize_t i = 8; i < r && buf[i] != '\n' && n + 1 < len; i++)
    out[n++] = (unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f ? buf[i] : '?';
  out[n] = 0;
}

static void ready_readable(mcsi_initiator *ini, int fd, int what, void *arg)
{
  char buf[512] = "";
  (void)ini;
  (void)what;
  (void)arg;
  ssize_t r = read(fd, buf, sizeof buf - 1);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (r == 6 && !memcmp(buf, "ready\n", 6)) {
    let_go();
    return;
  }
  char how[48], reason[420], why[760];
  refusal_reason(buf, r, reason, sizeof reason);
  reap_child(1, how, sizeof how);
  if (reason[0])
    snprintf(why, sizeof why, "the successor %.200s refused the handover before serving (%s): %s", exe_path,
             how[0] ? how : "ended", reason);
  else
    snprintf(why, sizeof why, "the successor %.200s %s before serving (its log says why: a state or a configuration it "
             "refused)", exe_path, how[0] ? how : "ended");
  give_back(ISDSC_NON_SPECIFIC_ERROR, why);
}

static void successor_silent(mcsi_initiator *ini, void *arg)
{
  (void)ini;
  (void)arg;
  ho.timer = 0;
  char how[48];
  kill(ho.child, SIGKILL);
  reap_child(1, how, sizeof how);
  give_back(ISDSC_SERVICE_DID_NOT_RESPOND, "the successor did not answer in time (killed)");
}

static int hex_of(const uint8_t *p, size_t n, char **out)
{
  static const char digits[] = "0123456789abcdef";
  char *h = malloc(2 * n + 1);
  if (!h) return -1;
  for (size_t i = 0; i < n; i++) {
    h[2 * i] = digits[p[i] >> 4];
    h[2 * i + 1] = digits[p[i] & 15];
  }
  h[2 * n] = 0;
  *out = h;
  return 0;
}

/* The document the successor reads. */
static json_t *state_document(void)
{
  json_t *sessions = json_array();
  for (size_t i = 0; i < ho.n; i++) {
    handed *h = &ho.s[i];
    char *hex = NULL;
    json_t *fds = json_array();
    for (size_t j = 0; j < h->blob->nfds; j++) json_array_append_new(fds, json_integer(h->blob->fds[j]));
    if (hex_of(h->blob->data, h->blob->len, &hex) < 0) {
      json_decref(fds);
      json_decref(sessions);
      return NULL;
    }
    json_array_append_new(sessions, json_pack("{s:s, s:s, s:s, s:o}", "Target", h->target, "Portal", h->portal,
                                              "Blob", hex, "Fds", fds));
    free(hex);
  }
  return json_pack("{s:s, s:i, s:i, s:o, s:O, s:O}", "Format", MCSID_HANDOVER_FORMAT, "Version",
                   MCSID_HANDOVER_VERSION, "ListenFd", ho.d->listen_fd, "Sessions", sessions, "Exports", ho.exports,
                   "Clients", ho.clients ? ho.clients : json_array());
}

static int write_state(void)
{
  json_t *doc = state_document();
  char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  if (!text) return -1;
  ho.memfd = memfd_create("mcsid-handover", MFD_CLOEXEC);
  size_t len = strlen(text), off = 0;
  while (ho.memfd >= 0 && off < len) {
    ssize_t w = write(ho.memfd, text + off, len - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
  free(text);
  return ho.memfd >= 0 && off == len && lseek(ho.memfd, 0, SEEK_SET) == 0 ? 0 : -1;
}

static void keep_open(int fd) { if (fd >= 0) fcntl(fd, F_SETFD, 0); }

/* The successor's environment: ours, MCSID_HANDOVER=state=FD,ready=FD instead of any we had
 * (made before the fork: the child only calls what is async-signal-safe). */
static char **successor_env(int ready_w)
{
  static char var[80];
  size_t n = 0, k = 0, len = strlen(MCSID_HANDOVER_ENV);
  for (char **e = environ; *e; e++) n++;
  char **env = calloc(n + 2, sizeof *env);
  if (!env) return NULL;
  for (char **e = environ; *e; e++)
    if (strncmp(*e, MCSID_HANDOVER_ENV, len) || (*e)[len] != '=') env[k++] = *e;
  snprintf(var, sizeof var, "%s=state=%d,ready=%d", MCSID_HANDOVER_ENV, ho.memfd, ready_w);
  env[k++] = var;
  env[k] = NULL;
  return env;
}

/* In the child: the fds the successor inherits, the binary. */
static void exec_successor(int ready_w, char **env)
{
  keep_open(ho.memfd);
  keep_open(ready_w);
  keep_open(ho.d->listen_fd);
  for (size_t i = 0; i < ho.n; i++)
    for (size_t j = 0; j < ho.s[i].blob->nfds; j++) keep_open(ho.s[i].blob->fds[j]);
  for (size_t i = 0; i < ho.n_nbd; i++) keep_open(ho.nbd_fds[i]);
  for (size_t i = 0; i < ho.n_clients; i++) keep_open(ho.client_fds[i]);
  execve(exe_path, saved_argv, env);
  _exit(127);
}

/* The successor's process. Under a service manager ($NOTIFY_SOCKET) it is
 * started as the manager's child, not ours (clone with CLONE_PARENT): once
 * it says MAINPID=, systemd supervises it as a process it started (it waits
 * for it at a stop, SIGTERM then the logouts, and sees its end); a main
 * process that is not its child it only signals (a stop would SIGKILL the
 * unit at once, without a logout, and a restart through the fd store would
 * find nothing stored). We then cannot wait for it: the ready pipe tells. */
static pid_t start_process(void)
{
  if (!getenv("NOTIFY_SOCKET")) return fork();
  pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), NULL, NULL, NULL, 0UL);
  return pid < 0 && errno == EINVAL ? fork() : pid;   /* EINVAL: we are a PID namespace's init (no parent) */
}

/* The sockets the successor takes (their numbers are in the document). */
static size_t handed_fds(int *out, size_t room)
{
  size_t n = 0;
  if (ho.d->listen_fd >= 0 && n < room) out[n++] = ho.d->listen_fd;
  for (size_t i = 0; i < ho.n; i++)
    for (size_t j = 0; j < ho.s[i].blob->nfds && n < room; j++) out[n++] = ho.s[i].blob->fds[j];
  for (size_t i = 0; i < ho.n_nbd && n < room; i++) out[n++] = ho.nbd_fds[i];
  for (size_t i = 0; i < ho.n_clients && n < room; i++) out[n++] = ho.client_fds[i];
  return n;
}

/* Everything to the service manager's fd store, then exit as after a handover. */
static void launch_via_store(void)
{
  size_t room = 1 + ho.n * MCSID_HANDOVER_MAX_CONNS + ho.n_nbd + ho.n_clients;
  int *fds = calloc(room, sizeof *fds);
  int ok = fds && mcsid_handover_store_send(ho.memfd, fds, handed_fds(fds, room)) == 0;
  free(fds);
  close_nbd_fds();
  if (!ok) {
    mcsid *d = ho.d;
    give_back(ISDSC_OUT_OF_RESOURCES, "the service manager's fd store did not take the sockets");
    store_failed(d);
    return;
  }
  let_go();
  ho.via_store = 0;
}

static void launch(void)
{
  int p[2];
  if (write_state() < 0) {
    mcsid *d = ho.d;
    give_back(ISDSC_OUT_OF_RESOURCES, "the state could not be written");
    if (ho.via_store) store_failed(d);
    return;
  }
  if (ho.via_store) {
    launch_via_store();
    return;
  }
  if (pipe2(p, O_CLOEXEC) < 0) {
    give_back(ISDSC_OUT_OF_RESOURCES, "no pipe");
    return;
  }
  char **env = successor_env(p[1]);
  pid_t pid = env ? start_process() : -1;
  if (pid == 0) exec_successor(p[1], env);
  free(env);
  close(p[1]);
  close_nbd_fds();                      /* the successor has its own; ours are the exports' */
  if (pid < 0) {
    close(p[0]);
    give_back(ISDSC_OUT_OF_RESOURCES, "fork failed");
    return;
  }
  ho.child = pid;
  ho.ready_fd = p[0];
  ho.ready_watch = mcsi_fd_watch(ho.d->ini, p[0], MCSI_FD_READABLE, ready_readable, NULL);
  ho.timer = mcsi_timer_add(ho.d->ini, MCSID_HANDOVER_TIMEOUT_MS, successor_silent, NULL);
  log_notice("handover: %zu sessions exported, successor %s started as pid %ld", ho.n, exe_path, (long)pid);
}

/* One export ended (or the loop that started them): the last one decides. */
static void one_done(void)
{
  if (--ho.outstanding) return;
  if (ho.failed) {
    char why[360];
    snprintf(why, sizeof why, "a session could not be exported (%s)", ho.export_failure);
    busy(why);
  }
  else launch();
}

/* A session's export failed: counted; the first one's why is kept for the answer. */
static void export_failed(mcsi_id sid, const char *why)
{
  if (!ho.failed++)
    snprintf(ho.export_failure, sizeof ho.export_failure, "0x%016llx: %s", (unsigned long long)sid, why);
}

static void exported(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  handed *h = &ho.s[(size_t)(uintptr_t)arg];
  (void)ini;
  if (st) {
    export_failed(h->sid, message ? message : mcsi_status_name(st));
    log_warning("handover: session 0x%016llx (%s): %s: %s", (unsigned long long)h->sid, h->target, mcsi_status_name(st),
                message);
  } else {
    h->blob = (mcsi_handover_blob *)result;
    h->nconns = h->blob->nfds;
  }
  one_done();
}

/* Every session's export, once the NBD clients are quiet. */
static void export_sessions(void)
{
  mcsid *d = ho.d;
  log_notice("handover: %zu NBD clients quiet; exporting %zu sessions", ho.n_nbd, ho.n);
  ho.outstanding = ho.n + 1;            /* one for this loop: nothing ends before it is done */
  for (size_t i = 0; i < ho.n; i++) {
    if (mcsi_session_handover_export_async(d->ini, ho.s[i].sid, MCSID_HANDOVER_WAIT_MS,
                                           MCSI_COMPLETION(exported, (void *)(uintptr_t)i))) {
      export_failed(ho.s[i].sid, mcsi_last_message(d->ini));
      ho.outstanding--;
      log_warning("handover: session 0x%016llx: %s", (unsigned long long)ho.s[i].sid, mcsi_last_message(d->ini));
    }
  }
  one_done();
}

static void quiet_one(const char *target, const json_t *spec, mcsi_nbd_export *exp, const mcsid_export_socket *sock,
                      void *arg)
{
  mcsi_nbd_info info;
  (void)target;
  (void)spec;
  (void)sock;
  ho.quiet &= mcsi_nbd_export_quiet(exp);
  mcsi_nbd_export_info(exp, &info);
  *(uint64_t *)arg += info.requests;
}

/* An export's handable clients into ho.exports (their sockets into ho.nbd_fds). */
static void list_clients(const char *target, const json_t *spec, mcsi_nbd_export *exp, const mcsid_export_socket *sock,
                         void *arg)
{
  mcsi_nbd_client_state st[64];
  (void)arg;
  if (ho.n_nbd >= MCSID_HANDOVER_MAX_NBD) return;
  int lfd = mcsi_nbd_export_unix_socket(exp);
  if (lfd >= 0) ho.nbd_fds[ho.n_nbd++] = lfd;
  int tfd = ho.n_nbd < MCSID_HANDOVER_MAX_NBD ? mcsi_nbd_export_tcp_socket(exp) : -1;
  if (tfd >= 0) ho.nbd_fds[ho.n_nbd++] = tfd;
  size_t room = MCSID_HANDOVER_MAX_NBD - ho.n_nbd, n = mcsi_nbd_export_clients(exp, st, room < 64 ? room : 64);
  json_t *clients = json_array();
  for (size_t i = 0; i < n; i++) {
    char *hex = NULL;
    ho.nbd_fds[ho.n_nbd++] = st[i].fd;
    if (hex_of(st[i].unread, st[i].unread_len, &hex) == 0)
      json_array_append_new(clients, json_pack("{s:i, s:s, s:i}", "Fd", st[i].fd, "Unread", hex, "Negotiated",
                                               (int)st[i].negotiated));
    free(hex);
    free(st[i].unread);
  }
  json_t *x = json_pack("{s:s, s:O, s:o, s:I}", "Target", target, "Spec", spec, "Clients", clients, "ExportId",
                        (json_int_t)mcsid_export_id_of(ho.d, exp));
  if (lfd >= 0 && sock->name[0])        /* its socket file, by the inode the old process bound */
    json_object_update_new(x, json_pack("{s:i, s:s, s:I, s:I, s:b}", "ListenFd", lfd, "Name", sock->name, "Dev",
                                        (json_int_t)sock->dev, "Ino", (json_int_t)sock->ino, "Created", sock->created));
  if (tfd >= 0) json_object_set_new(x, "TcpListenFd", json_integer(tfd));
  json_array_append_new(ho.exports, x);
}

/* The control clients at a request boundary: handed with what they sent of their next request. */
static void list_control_clients(void)
{
  size_t room = (size_t)(ho.d->nclients > 0 ? ho.d->nclients : 0);
  mcsid_handed_client *hc = calloc(room + 1, sizeof *hc);
  ho.client_fds = calloc(room + 1, sizeof *ho.client_fds);
  ho.clients = json_array();
  size_t n = hc && ho.client_fds ? mcsid_clients_hand(ho.d, hc, room) : 0;
  for (size_t i = 0; i < n; i++) {
    char *hex = NULL;
    if (hex_of((const uint8_t *)hc[i].unread, hc[i].len, &hex) == 0)
      json_array_append_new(ho.clients, json_pack("{s:i, s:s, s:I}", "Fd", hc[i].fd, "Unread", hex, "Events",
                                                  (json_int_t)hc[i].events));
    free(hex);
    ho.client_fds[ho.n_clients++] = hc[i].fd;
  }
  free(hc);
}

/* Every millisecond until the NBD clients are quiet, or the deadline. */
static void nbd_poll(mcsi_initiator *ini, void *arg)
{
  (void)arg;
  uint64_t answered = 0, now = mono_ms();
  ho.quiet_timer = 0;
  ho.quiet = 1;
  mcsid_exports_visit(ho.d, quiet_one, &answered);
  if (answered != ho.answered) {        /* requests finish: the rest will, however slow the host */
    ho.answered = answered;
    ho.quiet_deadline = now + MCSID_HANDOVER_WAIT_MS < ho.drain_end ? now + MCSID_HANDOVER_WAIT_MS : ho.drain_end;
  }
  if (ho.quiet) {
    mcsid_exports_visit(ho.d, list_clients, NULL);
    list_control_clients();
    export_sessions();
    return;
  }
  if (now >= ho.quiet_deadline) {
    busy(now >= ho.drain_end ? "NBD requests still in flight after " STR(MCSID_HANDOVER_DRAIN_MAX_MS) " ms"
                             : "NBD requests in flight, none finished for " STR(MCSID_HANDOVER_WAIT_MS) " ms");
    return;
  }
  ho.quiet_timer = mcsi_timer_add(ini, 1, nbd_poll, NULL);
}

/* Target and leading portal of a session, for the successor's options. */
static void describe(mcsid *d, handed *h)
{
  mcsi_session_info *si = NULL;
  if (mcsi_session_get_info(d->ini, h->sid, &si) || !si) return;
  snprintf(h->target, sizeof h->target, "%s", mcsi_session_info_get_string(si, MCSI_SI_TARGET));
  if (mcsi_session_info_connection_count(si))
    snprintf(h->portal, sizeof h->portal, "%s",
             mcsi_conn_info_get_string(mcsi_session_info_connection(si, 0), MCSI_CI_PORTAL));
  mcsi_session_info_free(si);
}

int mcsid_handover_active(void) { return ho.active || retry_timer || !saved_argv; }   /* no argv: not a program (a harness) */

void mcsid_handover_start_store(mcsid *d, void (*fallback)(mcsid *d))
{
  if (ho.active || retry_timer || !saved_argv) {
    fallback(d);
    return;
  }
  ho.via_store = 1;
  ho.fallback = fallback;
  mcsid_handover_start(d);
  if (!ho.active) store_failed(d);
}

void mcsid_handover_start(mcsid *d)
{
  if (ho.active) {                      /* its waiters hear how it ends */
    log_warning("handover: one is under way already");
    return;
  }
  if (d->stopping || !saved_argv) {
    log_warning("handover: %s", d->stopping ? "the daemon is stopping" : "not a program");
    tell_waiters(ISDSC_SESSION_BUSY, d->stopping ? "the daemon is stopping" : "not a program", 0);
    return;
  }
  if (retry_timer) mcsi_timer_cancel(d->ini, retry_timer);   /* a signal during the wait: now */
  retry_timer = 0;
  mcsi_id ids[MCSID_HANDOVER_MAX_SESSIONS];
  size_t n = mcsi_session_list(d->ini, ids, MCSID_HANDOVER_MAX_SESSIONS);
  if (n > MCSID_HANDOVER_MAX_SESSIONS) {
    log_err("handover: %zu sessions, at most %d are handed over: not started", n, MCSID_HANDOVER_MAX_SESSIONS);
    tell_waiters(ISDSC_TOO_MANY_SESSIONS, "more sessions than a handover carries: not started", 0);
    return;
  }
  ho.d = d;
  ho.active = 1;
  ho.s = calloc(n ? n : 1, sizeof *ho.s);
  if (!ho.s) {
    ho.active = 0;
    log_err("handover: out of memory");
    tell_waiters(ISDSC_OUT_OF_RESOURCES, "out of memory: not started", 0);
    return;
  }
  mcsid_listen_pause(d, 1);             /* no new control client meanwhile */
  ho.n = n;
  for (size_t i = 0; i < n; i++) {
    ho.s[i].sid = ids[i];
    describe(d, &ho.s[i]);
  }
  ho.exports = json_array();
  mcsid_exports_visit(d, freeze_one, (void *)(intptr_t)1);   /* NBD clients first: their requests need the sessions */
  ho.quiet_deadline = mono_ms() + MCSID_HANDOVER_WAIT_MS;
  ho.drain_end = mono_ms() + MCSID_HANDOVER_DRAIN_MAX_MS;
  ho.answered = 0;
  mcsid_exports_visit(d, quiet_one, &ho.answered);   /* the count to compare with */
  ho.quiet_timer = mcsi_timer_add(d->ini, 0, nbd_poll, NULL);
}
