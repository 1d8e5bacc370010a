/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz_rpc.c: mcsid's JSON-RPC dispatcher on any client input.
 *
 * What runs is the daemon itself (daemon/rpc.c, daemon/methods*.c and what
 * they call: persist.c, exports.c, policy.c with its Lua state, state.c,
 * secrets.c, json_text.c) without main.c and clients.c: this file is the
 * client (the functions of clients.h, the output a buffer of lines) and
 * feeds it the input as a client's bytes, one line (up to '\n') at a time
 * through mcsid_handle_line, as clients.c does, then runs the engine's loop
 * until every request has its answer.
 *
 * The daemon has no target: connect() fails at once (ECONNREFUSED), bind()
 * too (EACCES), and getaddrinfo() takes numeric hosts only, so methods that
 * would touch the network (LoginToTarget, SendTargets, AddTargetPortal,
 * PersistentLoginTarget, ExportLun, the SCSI and I/O methods) are reached
 * and fail fast, and nothing leaves the process (no DNS, no SYN, no socket
 * file). state.json and secrets.json live in a directory of the input's own
 * (under /dev/shm when it exists), removed after it with the persistent
 * targets (their keepers) and exports.
 *
 * Checks besides ASan/UBSan/LSan (abort() with a line on stderr):
 *   - every line the daemon sends is one JSON object: an answer
 *     {"jsonrpc":"2.0","id","result"|"error"} whose result has Status,
 *     StatusName and StatusMessage and whose error has code and message,
 *     or a notification {"jsonrpc":"2.0","method","params"} without id;
 *   - nothing sent is NULL (the real client would be dropped for it);
 *   - every request gets exactly one answer, with its id (an invalid line
 *     one error, a notification none), before the input ends: within
 *     DRAIN_MS of loop turns after the last line.
 * FUZZ_RPC_LOG=1 prints the daemon's debug log; FUZZ_RPC_TRACE=1 each line
 * sent and received.
 *
 * This file implements clients.h for the daemon's other files: when a
 * function is added there and called from outside clients.c, it gets its
 * (trivial) version here too; the link of fuzz-rpc/replay-rpc names it. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "clients.h"
#include "exports.h"
#include "log.h"
#include "methods.h"
#include "persist.h"
#include "policy.h"
#include "rpc.h"

#define DRAIN_MS 2000
#define MAX_LINES 256            /* lines handled per input */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mcsid daemon_ = { .listen_fd = -1 };
static char state_dir[256];
static int trace;

/* ---- no network: what the engine and the NBD layer would reach ------------------------------------ */

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
  (void)fd;
  (void)sa;
  (void)len;
  errno = ECONNREFUSED;
  return -1;
}

int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
  (void)fd;
  (void)sa;
  (void)len;
  errno = EACCES;
  return -1;
}

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
  static getaddrinfo_fn real;
  if (!real) real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
  if (!real) return EAI_FAIL;
  struct addrinfo h = hints ? *hints : (struct addrinfo){ 0 };
  h.ai_flags |= AI_NUMERICHOST;   /* never DNS */
  return real(node, service, &h, res);
}

/* ---- the client (clients.h) ------------------------------------------------------------------------ */

struct mcsid_client {
  int refs, open;
  long pending;
  unsigned events;
  char *out;
  size_t out_len, out_cap;
};

static mcsid_client *the_client;

static void fail(const char *what, const char *detail)
{
  fprintf(stderr, "fuzz_rpc: %s%s%.300s\n", what, detail ? ": " : "", detail ? detail : "");
  abort();
}

void mcsid_client_send(mcsid_client *c, json_t *msg)
{
  size_t len;
  if (!msg) fail("a NULL message sent (clients.c would drop the client)", NULL);
  if (!c->open) return;
  char *line = mcsid_rpc_line(msg, &len);
  if (!line) fail("a message that cannot be written", NULL);
  if (trace) fprintf(stderr, "<- %s", line);
  if (c->out_len + len + 1 > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + len + 1) cap *= 2;
    char *out = realloc(c->out, cap);
    if (!out) fail("out of memory", NULL);
    c->out = out;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, line, len + 1);
  c->out_len += len;
  free(line);
}

void mcsid_client_ref(mcsid_client *c) { c->refs++; }

void mcsid_client_unref(mcsid_client *c)
{
  if (--c->refs > 0) return;
  free(c->out);
  free(c);
}

int mcsid_client_is_open(const mcsid_client *c) { return c->open; }
uid_t mcsid_client_uid(const mcsid_client *c) { (void)c; return geteuid(); }

gid_t mcsid_client_gid(const mcsid_client *c) { (void)c; return getegid(); }

/* The harness's own credentials: a secret file is read by a child with them. */
int mcsid_client_creds(const mcsid_client *c, uid_t *uid, gid_t *gid, gid_t *groups, size_t *ngroups)
{
  int n = getgroups((int)*ngroups, groups);
  if (!c->open || n < 0) return -1;
  *uid = geteuid();
  *gid = getegid();
  *ngroups = (size_t)n;
  return 0;
}
unsigned long mcsid_client_serial(const mcsid_client *c) { (void)c; return 1; }
void mcsid_client_pending_add(mcsid_client *c, int delta) { c->pending += delta; }
long mcsid_client_pending(const mcsid_client *c) { return c->pending; }
void mcsid_client_set_events(mcsid_client *c, unsigned mask) { c->events = mask; }
unsigned mcsid_client_events(const mcsid_client *c) { return c->events; }

void mcsid_clients_broadcast(mcsid *d, int kind, json_t *msg)
{
  (void)d;
  if (the_client && the_client->open && (the_client->events & (1u << kind))) mcsid_client_send(the_client, msg);
}

/* The memory budget's (budget.c, with the client limits of issue 14): no
 * client here is ever paused. */
void mcsid_clients_resume(mcsid *d);
void mcsid_clients_resume(mcsid *d) { (void)d; }

/* A policy runner's client (policy.c): a policy needs a session, which this
 * daemon never has; were one attached, its start fails as out of memory. */
mcsid_client *mcsid_client_adopt(mcsid *d, int fd, pid_t pid, uid_t uid, gid_t gid, mcsid_screen_fn screen, void *arg)
{
  (void)d, (void)fd, (void)pid, (void)uid, (void)gid, (void)screen, (void)arg;
  return NULL;
}

void mcsid_client_screen_events(mcsid_client *c, int (*screen_event)(void *arg, json_t *msg))
{
  (void)c;
  (void)screen_event;
}

void mcsid_client_shut(mcsid_client *c, const char *why)
{
  (void)why;
  c->open = 0;
}

int mcsid_listen(mcsid *d) { (void)d; return 0; }
void mcsid_listen_refresh(mcsid *d) { (void)d; }
void mcsid_listen_close(mcsid *d) { (void)d; }
int mcsid_listen_adopt(mcsid *d, int fd) { (void)d; (void)fd; return -1; }
void mcsid_listen_pause(mcsid *d, int paused) { (void)d; (void)paused; }
void mcsid_listen_forget(mcsid *d) { (void)d; }
void mcsid_clients_close_all(mcsid *d) { (void)d; }
size_t mcsid_clients_hand(mcsid *d, mcsid_handed_client *out, size_t room)
{
  (void)d;
  (void)out;
  (void)room;
  return 0;
}
void mcsid_clients_unhand(mcsid *d) { (void)d; }
int mcsid_client_take(mcsid *d, int fd, const uint8_t *unread, size_t len, unsigned events)
{
  (void)d;
  (void)fd;
  (void)unread;
  (void)len;
  (void)events;
  return -1;
}

/* main.c's: the daemon never stops here. */
void mcsid_logout_on_shutdown(mcsid *d, mcsi_id sid)
{
  (void)d;
  (void)sid;
}

/* ---- the daemon ------------------------------------------------------------------------------------------ */

/* Each input has a state directory of its own, made before it and removed
 * after it (whatever files the state code left in it): libFuzzer's jobs
 * end without atexit handlers, so nothing is left for exit to remove. */
static void make_state_dir(void)
{
  struct stat st;
  snprintf(state_dir, sizeof state_dir, "%s/mcsi-fuzz-rpc.XXXXXX", stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp");
  if (!mkdtemp(state_dir)) fail("mkdtemp", strerror(errno));
}

/* Empties and removes a directory of plain files and sockets: 0, or -1. */
static int remove_flat_dir(const char *path)
{
  DIR *dir = opendir(path);
  struct dirent *e;
  while (dir && (e = readdir(dir)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlinkat(dirfd(dir), e->d_name, 0);
  if (dir) closedir(dir);
  return rmdir(path);
}

static void remove_state_dir(void)
{
  if (remove_flat_dir(state_dir) < 0) fail("the state directory stays", strerror(errno));
}

/* The exports' sockets go to a directory of this process, never to the
 * default /run/mcsi/exports (make check's hermetic run watches it). */
static char export_dir[96];

static void remove_export_dir(void) { remove_flat_dir(export_dir); }

static void make_export_dir(mcsid *d)
{
  struct stat st;
  snprintf(export_dir, sizeof export_dir, "%s/mcsi-fuzz-exports.XXXXXX", stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp");
  if (!mkdtemp(export_dir)) fail("mkdtemp", strerror(errno));
  snprintf(d->config.export_dir, sizeof d->config.export_dir, "%s", export_dir);
  atexit(remove_export_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  mcsid *d = &daemon_;
  trace = getenv("FUZZ_RPC_TRACE") != NULL;
  mcsid_log_set_level(getenv("FUZZ_RPC_LOG") ? MCSID_LOG_DEBUG : 0);
  mcsid_config_defaults(&d->config);
  d->config.retry_initial_ms = 10;   /* keepers' retries stay quick */
  d->config.retry_max_ms = 10;
  d->config.max_pending = 8;         /* reachable within one input */
  make_export_dir(d);
  d->ini = mcsi_initiator_new("iqn.2026-11.org.mcsi:fuzz-rpc");
  if (!d->ini) fail("daemon setup", NULL);
  mcsid_events_start(d);
  mcsid_policies_open(d);
  return 0;
}

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void loop_once(int timeout_ms)
{
  mcsi_process(daemon_.ini, timeout_ms);
  mcsid_policies_service(&daemon_);
}

/* Until every call has ended (or DRAIN_MS). */
static void drain(mcsid_client *c)
{
  double deadline = now_ms() + DRAIN_MS;
  loop_once(0);
  while (c->pending > 0 && now_ms() < deadline) loop_once(5);
}

static void open_state(void)
{
  make_state_dir();
  if (mcsid_state_open(&daemon_.state, state_dir) < 0) fail("state open", NULL);
}

/* Persistent targets (their keepers) and exports go; the state too. */
static void reset_daemon(void)
{
  mcsid *d = &daemon_;
  mcsid_exports_stop_all(d);
  json_t *list;
  while (json_array_size(list = mcsid_state_persistent(&d->state))) {
    /* a copy: the name must outlive the entry mcsid_persist_remove frees */
    char *name = strdup(json_string_value(json_object_get(json_array_get(list, 0), "TargetName")) ?: "");
    if (!name) fail("out of memory", NULL);
    if (!*name || mcsid_persist_remove(d, name) <= 0) json_array_remove(list, 0);
    free(name);
  }
  loop_once(0);
  if (d->keepers) fail("a keeper outlived its persistent target", NULL);
  if (d->exports) fail("an export outlived ExportLun's end", NULL);
  mcsid_state_close(&d->state);
  remove_state_dir();
}

/* ---- expectations ------------------------------------------------------------------------------------- */

typedef struct expect {
  char *ids[MAX_LINES];   /* compact JSON of each answer owed */
  size_t n;
} expect;

static char *id_text(const json_t *id)
{
  return json_dumps(id ? id : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
}

/* What the line is owed, as mcsid_handle_line sees it: nothing (blank, a
 * notification), or one answer with the request's id (null when unreadable). */
static void owe(expect *e, const char *line, size_t len)
{
  if (len && line[len - 1] == '\r') len--;
  size_t i = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
  if (i == len) return;
  mcsid_request req;
  json_t *error = NULL;
  if (mcsid_rpc_parse(line, len, &req, &error) < 0) {
    e->ids[e->n++] = id_text(json_object_get(error, "id"));
    json_decref(error);
    return;
  }
  if (req.id) e->ids[e->n++] = id_text(req.id);
  mcsid_request_free(&req);
}

static void check_result(const json_t *r, const char *line)
{
  if (!json_is_object(r) || !json_is_integer(json_object_get(r, "Status")) ||
      !json_is_string(json_object_get(r, "StatusName")) || !json_is_string(json_object_get(r, "StatusMessage")))
    fail("a result without Status, StatusName and StatusMessage", line);
}

static void check_error(const json_t *e, const char *line)
{
  if (!json_is_object(e) || !json_is_integer(json_object_get(e, "code")) ||
      !json_is_string(json_object_get(e, "message")) || json_object_size(e) != 2)
    fail("an error that is not {code, message}", line);
}

/* One line the daemon sent: well-formed, and an answer owed if it is one. */
static void check_line(expect *e, const char *line)
{
  json_error_t err;
  json_t *m = json_loads(line, JSON_REJECT_DUPLICATES, &err);
  if (!json_is_object(m)) fail("a line that is not a JSON object", line);
  const char *version = json_string_value(json_object_get(m, "jsonrpc"));
  if (!version || strcmp(version, "2.0")) fail("a line without \"jsonrpc\":\"2.0\"", line);
  json_t *id = json_object_get(m, "id"), *method = json_object_get(m, "method");
  if (method) {
    if (id || !json_is_string(method) || !json_is_object(json_object_get(m, "params")) || json_object_size(m) != 3)
      fail("a notification that is not {jsonrpc, method, params}", line);
    json_decref(m);
    return;
  }
  json_t *result = json_object_get(m, "result"), *error = json_object_get(m, "error");
  if (!id || !result == !error || json_object_size(m) != 3) fail("an answer that is not {jsonrpc, id, result|error}", line);
  if (result) check_result(result, line);
  else check_error(error, line);
  char *t = id_text(id);
  size_t i = 0;
  while (i < e->n && strcmp(e->ids[i], t)) i++;
  if (i == e->n) fail("an answer nobody is owed (a second one, or another id)", line);
  free(e->ids[i]);
  e->ids[i] = e->ids[--e->n];
  free(t);
  json_decref(m);
}

static void check_output(expect *e, mcsid_client *c)
{
  char *p = c->out, *end = p ? p + c->out_len : NULL;
  while (p && p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) fail("a line without its newline", p);
    *nl = 0;
    check_line(e, p);
    p = nl + 1;
  }
  if (e->n) fail("a request never answered, id", e->ids[0]);
}

/* ---- one input ------------------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  mcsid *d = &daemon_;
  expect e = { .n = 0 };
  mcsid_client *c = calloc(1, sizeof *c);
  if (!c) return 0;
  c->refs = 1;
  c->open = 1;
  the_client = c;
  open_state();
  const char *p = size ? (const char *)data : "", *end = p + size;
  for (int lines = 0; p < end && lines < MAX_LINES; lines++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) break;   /* a partial last line is never handled (clients.c drops it at EOF) */
    size_t len = (size_t)(nl - p);
    if ((long)len > d->config.request_max) break;   /* clients.c closes such a client */
    if (trace) fprintf(stderr, "-> %.*s\n", (int)len, p);
    owe(&e, p, len);
    mcsid_handle_line(d, c, p, len, NULL, NULL);
    loop_once(0);
    p = nl + 1;
  }
  drain(c);
  check_output(&e, c);
  c->open = 0;
  the_client = NULL;
  reset_daemon();
  mcsid_client_unref(c);
  return 0;
}
