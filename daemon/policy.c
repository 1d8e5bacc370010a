/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* policy.c: policies of mcsid, each in its own process (see policy.h): the
 * start of a runner, the screen of its requests, its CPU over time, its end
 * as a log line and an Event. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "clients.h"
#include "log.h"
#include "methods.h"
#include "policy.h"

#define TICK_MS 100                    /* how often CPU, exits and sessions are looked at */
#define SESSION_CHECK_TICKS 10         /* the session: every second */
#define STOP_GRACE_MS 2000             /* a runner told to stop has this long before SIGKILL */
#define PING_TICKS 5                   /* a PolicyPing every 500 ms; its loop answers PolicyPong */
#define STARTUP_MS 10000               /* the stall clock starts this late, or at the first PolicyPong */
#define STALL_MIN_MS 3000              /* the least a runner's loop may stand still (policy_ms + 1 s else) */
#define KEEP_ENDED 64                  /* policies no longer running that ListPolicies still shows */
#define LOG_LINES_PER_S 50             /* a policy's log lines per second, the rest counted and dropped */
#define RUNNER_FD 3

typedef struct policy {
  struct policy *next;
  long id;
  mcsi_id sid;
  char script[80];
  char state[16];                      /* running, failed, stopped, ended */
  char reason[512];
  int listed;                          /* ListPolicies shows it (DetachPolicy: no longer) */
  pid_t pid;                           /* -1: exited, its connection not yet read out; 0: over */
  int exit_status, exit_ticks, closed_ticks;
  mcsid_client *client;                /* the runner's connection (referenced), NULL once closed */
  double started_ms, kill_at_ms;       /* kill_at: SIGKILL then unless it exited (0: none) */
  double pong_ms;                      /* its loop last answered a PolicyPing (or it started) */
  unsigned pongs;                      /* PolicyPongs: the first says it started, the next that its loop turns */
  long long *cpu;                      /* CPU used (ms) at each tick of the last window, a ring */
  size_t ncpu, at;
  long ticks;
  double log_second;                   /* log lines: the current second and its count */
  int log_count;
  long log_dropped;
} policy;

static struct {
  mcsid *d;
  policy *list;                        /* newest first */
  long next_id;
  uint64_t tick;
  char exe[1024];                      /* this program: the runner is its --policy-runner mode */
} P;

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long clock_ticks(void)
{
  static long hz;
  if (!hz) hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
  return hz;
}

/* ---- the end of a policy ------------------------------------------------------------------------------ */

static const char *state_kind(const char *state)
{
  if (!strcmp(state, "failed")) return "policy-failed";
  if (!strcmp(state, "ended")) return "policy-ended";
  return "policy-stopped";
}

static void announce_end(const policy *p)
{
  if (!strcmp(p->state, "failed"))
    log_warning("policy %ld (%s) on session 0x%016llx failed and is stopped: %s", p->id, p->script,
                (unsigned long long)p->sid, p->reason);
  else
    log_notice("policy %ld (%s) on session 0x%016llx %s: %s", p->id, p->script, (unsigned long long)p->sid, p->state,
               p->reason);
  mcsi_status st = strcmp(p->state, "failed") ? ISDSC_SUCCESS : ISDSC_NON_SPECIFIC_ERROR;
  json_t *params = json_pack("{s:s, s:o, s:i, s:I, s:s, s:s, s:I, s:s, s:s}", "Kind", state_kind(p->state),
                             "UniqueSessionId", mcsid_id_json(p->sid), "UniqueConnectionId", 0, "PolicyId",
                             (json_int_t)p->id, "PolicyScript", p->script, "NewState", p->state, "Status",
                             (json_int_t)st, "StatusName", mcsi_status_name(st), "Reason", p->reason);
  if (params) {
    json_t *msg = mcsid_rpc_notification("Event", params);
    mcsid_clients_broadcast(P.d, MCSID_POLICY_EVENT_BIT, msg);
    json_decref(msg);
  }
}

static void kill_runner(policy *p)
{
  if (p->pid > 0) kill(p->pid, SIGKILL);
  p->kill_at_ms = 0;
}

/* Tells the runner to end (its object's stop runs), SIGKILL after the grace. */
static void ask_to_stop(policy *p, const char *state)
{
  if (p->pid <= 0) return;
  if (p->client && mcsid_client_is_open(p->client)) {
    json_t *msg = mcsid_rpc_notification("PolicyStop", json_pack("{s:s, s:s}", "State", state, "Reason", p->reason));
    if (msg) mcsid_client_send(p->client, msg);
    json_decref(msg);
  }
  if (!p->kill_at_ms) p->kill_at_ms = now_ms() + STOP_GRACE_MS;
}

/* snprintf, but a text cut short is cut at a UTF-8 character's start (it
 * goes into JSON). */
static void copy_text(char *out, size_t len, const char *text)
{
  size_t n = strlen(text);
  if (n < len) {
    memcpy(out, text, n + 1);
    return;
  }
  n = len - 1;
  while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) n--;
  memcpy(out, text, n);
  out[n] = 0;
}

/* The policy is over (once): state and reason, log line and Event. A
 * failed runner is killed at once; one that stopped or ended gets a grace. */
static void finish(policy *p, const char *state, const char *reason)
{
  if (strcmp(p->state, "running")) return;
  snprintf(p->state, sizeof p->state, "%s", state);
  copy_text(p->reason, sizeof p->reason, reason);
  announce_end(p);
  if (!strcmp(state, "failed")) kill_runner(p);
  else ask_to_stop(p, state);
}

/* ---- the runner's connection: what it may ask --------------------------------------------------------------- */

/* The methods a policy may call are those the description allows it
 * (api/operations.lua: policy = "any" | "own_session"; the row's policy
 * field): own_session only with its own UniqueSessionId. The other methods
 * (logins, persistent targets, discovery, exports, policies) and any
 * parameter that names a file or a socket are refused. */

static int names_a_path(const char *param)
{
  static const char *const words[] = { "File", "Path", "Socket", "Secret", "Dir", "Username", NULL };
  for (int i = 0; words[i]; i++)
    if (strstr(param, words[i])) return 1;
  return 0;
}

/* NULL when the policy p may make the request, else why not. */
static const char *refusal(const policy *p, const mcsid_request *req, char *msg, size_t len)
{
  const mcsid_method *m = mcsid_find_method(req->method);
  if (!m || m->policy == MCSID_POLICY_REFUSED) {
    snprintf(msg, len, "a policy may not call %.64s", req->method);
    return msg;
  }
  const char *key;
  json_t *v;
  json_object_foreach(req->params, key, v)
    if (names_a_path(key)) {
      snprintf(msg, len, "a policy names no file, socket or secret (parameter %.64s)", key);
      return msg;
    }
  if (m->policy == MCSID_POLICY_OWN_SESSION) {
    json_t *s = json_object_get(req->params, "UniqueSessionId");
    uint64_t sid = 0;
    if (json_is_integer(s)) sid = (uint64_t)json_integer_value(s);
    else if (json_is_string(s)) sid = strtoull(json_string_value(s), NULL, 0);
    if (sid != p->sid) {
      snprintf(msg, len, "a policy acts on its own session only (0x%016llx)", (unsigned long long)p->sid);
      return msg;
    }
  }
  return NULL;
}

/* 1 if p may log one more line this second (its lines and its refusals). */
static int may_log(policy *p)
{
  double second = (double)(long long)(now_ms() / 1000.0);
  if (second != p->log_second) {
    if (p->log_dropped) log_warning("policy %ld (%s): %ld log lines dropped", p->id, p->script, p->log_dropped);
    p->log_second = second;
    p->log_count = 0;
    p->log_dropped = 0;
  }
  if (++p->log_count > LOG_LINES_PER_S) {
    p->log_dropped++;
    return 0;
  }
  return 1;
}

static void policy_log(policy *p, json_t *params)
{
  const char *line = json_string_value(json_object_get(params, "Line"));
  if (line && may_log(p)) log_info("policy %ld (%s): %.1000s", p->id, p->script, line);
}

/* PolicyEnd { State, Reason } from the runner: how it ended (its own word,
 * only while it runs; the daemon's kill or a session check may come first). */
static void policy_end(policy *p, json_t *params)
{
  const char *state = json_string_value(json_object_get(params, "State"));
  const char *reason = json_string_value(json_object_get(params, "Reason"));
  if (!state || (strcmp(state, "failed") && strcmp(state, "ended") && strcmp(state, "stopped"))) state = "failed";
  finish(p, state, reason ? reason : "");
  if (!p->kill_at_ms && p->pid > 0) p->kill_at_ms = now_ms() + STOP_GRACE_MS;
}

static int screen(void *arg, mcsid_client *c, const mcsid_request *req)
{
  policy *p = arg;
  char msg[160];
  if (!strcmp(req->method, "PolicyLog")) {
    policy_log(p, req->params);
    return 0;
  }
  if (!strcmp(req->method, "PolicyPong")) {
    p->pong_ms = now_ms();
    if (p->pongs < 2) p->pongs++;
    return 0;
  }
  if (!strcmp(req->method, "PolicyEnd")) {
    policy_end(p, req->params);
    return 0;
  }
  if (!refusal(p, req, msg, sizeof msg)) return 1;
  if (may_log(p)) log_info("policy %ld (%s): refused: %s", p->id, p->script, msg);
  if (req->id) {
    json_t *answer = mcsid_rpc_result(req->id, mcsid_status_object(ISDSC_AUTHORIZATION_FAILURE, msg));
    mcsid_client_send(c, answer);
    json_decref(answer);
  }
  return 0;
}

/* The Events a runner hears: its own session's only. */
static int screen_event(void *arg, json_t *msg)
{
  policy *p = arg;
  json_t *sid = json_object_get(json_object_get(msg, "params"), "UniqueSessionId");
  return json_is_integer(sid) && (mcsi_id)json_integer_value(sid) == p->sid;
}

/* ---- CPU over time -------------------------------------------------------------------------------------- */

/* utime + stime of pid in ms, -1 if unknown. */
static long long cpu_ms(pid_t pid)
{
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *s = strrchr(buf, ')');
  unsigned long long ut, st;
  /* after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
  if (!s || sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
  return (long long)((ut + st) * 1000ULL / (unsigned long long)clock_ticks());
}

/* 1 if p used more than policy_cpu_ms in the last policy_cpu_window_ms. */
static int over_cpu(policy *p)
{
  long long used = cpu_ms(p->pid);
  if (used < 0) return 0;
  long long before = p->cpu[(p->at + 1) % p->ncpu];      /* the oldest sample: one window ago */
  p->at = (p->at + 1) % p->ncpu;
  p->cpu[p->at] = used;
  if (used - before <= P.d->config.policy_cpu_ms) return 0;
  snprintf(p->reason, sizeof p->reason, "CPU budget of %ld ms per %ld ms exceeded (%lld ms used): killed",
           P.d->config.policy_cpu_ms, P.d->config.policy_cpu_window_ms, used - before);
  return 1;
}

/* The wall time of an activation, from outside: the runner's loop answers a
 * PolicyPing only between activations, so one that never returns (a long C
 * call, a finalizer, a message handler, a coroutine without a hook) shows
 * as a loop that stands still. 1 if it stood still too long. */
static int stalled(policy *p, double now)
{
  long limit = P.d->config.policy_ms + 1000 > STALL_MIN_MS ? P.d->config.policy_ms + 1000 : STALL_MIN_MS;
  if (p->ticks % PING_TICKS == 0 && p->client && mcsid_client_is_open(p->client)) {
    json_t *msg = mcsid_rpc_notification("PolicyPing", json_object());
    if (msg) mcsid_client_send(p->client, msg);
    json_decref(msg);
  }
  if (now - p->pong_ms <= limit) return 0;
  snprintf(p->reason, sizeof p->reason,
           "its loop stood still for %.0f ms (more than %ld: a C function, a finalizer or a message handler "
           "that does not return): killed", now - p->pong_ms, limit);
  return 1;
}

static void describe_exit(int status, char *out, size_t len)
{
  if (WIFSIGNALED(status))
    snprintf(out, len, "the policy's process was killed by signal %d (%s)", WTERMSIG(status),
             WTERMSIG(status) == SIGXCPU ? "CPU limit" : strsignal(WTERMSIG(status)));
  else
    snprintf(out, len, "the policy's process exited with status %d", WEXITSTATUS(status));
}

static void session_gone_check(policy *p)
{
  mcsi_session_info *info = NULL;
  mcsi_status st = mcsi_session_get_info(P.d->ini, p->sid, &info);
  const char *state = mcsi_session_info_get_string(info, MCSI_SI_STATE);
  int gone = st != ISDSC_SUCCESS || !strcmp(state, "failed") || !strcmp(state, "logged-out");
  mcsi_session_info_free(info);
  if (gone) finish(p, "ended", st ? "session gone" : "session failed");
}

static void forget(policy *p)
{
  policy **pp = &P.list;
  while (*pp != p) pp = &(*pp)->next;
  *pp = p->next;
  if (p->client) {
    mcsid_client_shut(p->client, "policy over");
    mcsid_client_unref(p->client);
  }
  free(p->cpu);
  free(p);
}

/* One runner: exited? over its budget? its session gone? */
static void check_one(policy *p, double now)
{
  if (p->pid > 0 && waitpid(p->pid, &p->exit_status, WNOHANG) == p->pid) {
    p->pid = -1;                       /* exited: its last lines may still wait in the socket */
    p->exit_ticks = 0;
  }
  if (p->pid < 0) {
    if (p->client && mcsid_client_is_open(p->client) && ++p->exit_ticks < 5) return;
    char why[160];
    describe_exit(p->exit_status, why, sizeof why);
    p->pid = 0;
    finish(p, "failed", why);
    if (p->client) {
      mcsid_client_shut(p->client, "policy runner exited");
      mcsid_client_unref(p->client);
      p->client = NULL;
    }
    return;
  }
  if (p->pid == 0) return;
  p->ticks++;
  if (!strcmp(p->state, "running") && (over_cpu(p) || stalled(p, now))) {
    char reason[sizeof p->reason];
    memcpy(reason, p->reason, sizeof reason);
    finish(p, "failed", reason);
    return;
  }
  /* (a runner that exits closes it too: its exit, seen above, tells why) */
  if (!strcmp(p->state, "running") && p->client && !mcsid_client_is_open(p->client) && ++p->closed_ticks > 5) {
    finish(p, "failed", "the daemon closed its connection (it did not read its answers and events)");
    return;
  }
  if (p->kill_at_ms && now >= p->kill_at_ms) kill_runner(p);
  if (!strcmp(p->state, "running") && p->ticks % SESSION_CHECK_TICKS == 0) session_gone_check(p);
}

static void schedule_tick(void);

static void tick(mcsi_initiator *ini, void *arg)
{
  (void)ini;
  (void)arg;
  P.tick = 0;
  double now = now_ms();
  policy *next;
  for (policy *p = P.list; p; p = next) {
    next = p->next;
    check_one(p, now);
    if (!p->listed && p->pid == 0) forget(p);
  }
  schedule_tick();
}

static void schedule_tick(void)
{
  int any = 0;
  for (policy *p = P.list; p && !any; p = p->next) any = p->pid != 0;
  if (any && !P.tick) P.tick = mcsi_timer_add(P.d->ini, TICK_MS, tick, NULL);
}

/* ---- starting a runner -------------------------------------------------------------------------------- */

static int good_name(const char *s)
{
  if (!*s || strlen(s) > 64) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
      return 0;
  return 1;
}

static int builtin(const char *name) { return !strcmp(name, "failover") || !strcmp(name, "drain") || !strcmp(name, "rebalance"); }

/* The script's file (path set) or a built-in (path ""); -1 with err set. */
static int find_script(mcsid *d, const char *name, char *path, size_t len, char *err, size_t errlen)
{
  path[0] = 0;
  if (d->config.policy_dir[0]) {
    snprintf(path, len, "%s/%s.lua", d->config.policy_dir, name);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
      if (st.st_size > (1 << 20)) {
        snprintf(err, errlen, "policy script %s is larger than %d bytes", path, 1 << 20);
        return -1;
      }
      return 0;
    }
    if (errno != ENOENT && errno != 0) {
      snprintf(err, errlen, "policy script %s: %s", path, strerror(errno));
      return -1;
    }
    path[0] = 0;
  }
  if (builtin(name)) return 0;
  snprintf(err, errlen, "no policy script '%s' (built-in: failover, drain, rebalance%s%s)", name,
           d->config.policy_dir[0] ? "; or a .lua file of " : "", d->config.policy_dir);
  return -1;
}

static int runner_identity(mcsid *d, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
  const char *user = d->config.policy_user[0] ? d->config.policy_user : "nobody";
  struct passwd *pw = getpwnam(user);
  if (!pw) {
    char *end;
    long n = strtol(user, &end, 10);
    if (*end || n < 0) {
      snprintf(err, errlen, "policy_user '%s': no such user", user);
      return -1;
    }
    *uid = (uid_t)n;
    *gid = (gid_t)n;
    return 0;
  }
  *uid = pw->pw_uid;
  *gid = pw->pw_gid;
  return 0;
}

/* In the child: fd becomes RUNNER_FD, every other fd but 0-2 closed, the
 * signals as new, this program again in its runner mode. Never returns. */
static void exec_runner(int fd)
{
  if (dup2(fd, RUNNER_FD) < 0) _exit(127);
  int null = open("/dev/null", O_RDONLY);
  if (null >= 0) {
    dup2(null, 0);
    if (null > RUNNER_FD) close(null);
  }
  close_range(RUNNER_FD + 1, ~0U, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  static const char *const keep[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", NULL };
  char *envp[8];
  int n = 0;
  for (int i = 0; keep[i]; i++) {
    static char buf[3][1024];
    const char *v = getenv(keep[i]);
    size_t kl = strlen(keep[i]), vl = v ? strlen(v) : 0;
    if (v && kl + vl + 2 <= sizeof buf[i]) {
      memcpy(buf[i], keep[i], kl);
      buf[i][kl] = '=';
      memcpy(buf[i] + kl + 1, v, vl + 1);
      envp[n++] = buf[i];
    }
  }
  envp[n] = NULL;
  char *argv[] = { (char *)"mcsid", (char *)MCSID_POLICY_RUNNER_ARG, NULL };
  execve(P.exe, argv, envp);
  _exit(127);
}

/* The PolicyStart message for p's runner. */
static json_t *start_message(mcsid *d, const policy *p, const char *path, json_t *options, uid_t uid, gid_t gid)
{
  json_t *params = json_pack("{s:I, s:I, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "PolicyId", (json_int_t)p->id,
                             "UniqueSessionId", (json_int_t)p->sid, "PolicyScript", p->script, "Options",
                             options ? json_incref(options) : json_object(), "Instructions", (json_int_t)d->config.policy_instructions,
                             "Ms", (json_int_t)d->config.policy_ms, "MemoryBytes",
                             (json_int_t)d->config.policy_memory_mb << 20, "Uid", (json_int_t)uid, "Gid",
                             (json_int_t)gid, "Parent", (json_int_t)getpid(), "CpuLimitSeconds",
                             (json_int_t)(d->config.policy_cpu_ms / 1000 + 3));
  if (params && path[0]) json_object_set_new(params, "ScriptPath", json_string(path));
  return params ? mcsid_rpc_notification("PolicyStart", params) : NULL;
}

/* Forks the runner of p; its connection becomes a client of the daemon with
 * the rights of owner. 0, or -1 with err set. */
static int spawn(mcsid *d, policy *p, const char *path, json_t *options, uid_t owner, gid_t owner_gid, char *err,
                 size_t errlen)
{
  uid_t uid;
  gid_t gid;
  if (runner_identity(d, &uid, &gid, err, errlen) < 0) return -1;
  json_t *start = start_message(d, p, path, options, uid, gid);
  int sv[2];
  if (!start || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    json_decref(start);
    snprintf(err, errlen, "cannot start the policy: %s", strerror(errno ? errno : ENOMEM));
    return -1;
  }
  pid_t pid = fork();
  if (pid == 0) exec_runner(sv[1]);
  close(sv[1]);
  if (pid < 0) {
    snprintf(err, errlen, "cannot start the policy: fork: %s", strerror(errno));
    close(sv[0]);
    json_decref(start);
    return -1;
  }
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  p->pid = pid;
  p->client = mcsid_client_adopt(d, sv[0], pid, owner, owner_gid, screen, p);
  if (!p->client) {
    close(sv[0]);
    kill_runner(p);
    waitpid(pid, NULL, 0);
    p->pid = 0;
    json_decref(start);
    snprintf(err, errlen, "cannot start the policy: out of memory");
    return -1;
  }
  mcsid_client_ref(p->client);
  mcsid_client_screen_events(p->client, screen_event);
  mcsid_client_send(p->client, start);
  json_decref(start);
  return 0;
}

static void forget_old(void)
{
  int ended = 0;
  for (policy *p = P.list; p; p = p->next) {
    if (p->listed && strcmp(p->state, "running") && ++ended > KEEP_ENDED) p->listed = 0;
  }
}

static int running_count(void)
{
  int n = 0;
  for (policy *p = P.list; p; p = p->next) n += p->pid != 0;
  return n;
}

long mcsid_policy_attach(mcsid *d, mcsi_id sid, const char *script, json_t *options, char *err, size_t errlen)
{
  return mcsid_policy_attach_as(d, sid, script, options, 0, 0, err, errlen);
}

long mcsid_policy_attach_as(mcsid *d, mcsi_id sid, const char *script, json_t *options, uid_t owner, gid_t owner_gid,
                            char *err, size_t errlen)
{
  char name[80], path[1200];
  if (!P.d) {
    snprintf(err, errlen, "policies are not available in this daemon (see its log)");
    return 0;
  }
  snprintf(name, sizeof name, "%s", script);
  size_t n = strlen(name);
  if (n > 4 && !strcmp(name + n - 4, ".lua")) name[n - 4] = 0;
  if (!good_name(name)) {
    snprintf(err, errlen, "a policy script is a name of letters, digits, '-' and '_' (with or without .lua)");
    return 0;
  }
  if (find_script(d, name, path, sizeof path, err, errlen) < 0) return 0;
  if (running_count() >= d->config.max_policies) {
    snprintf(err, errlen, "%ld policies run already (max_policies)", d->config.max_policies);
    return 0;
  }
  policy *p = calloc(1, sizeof *p);
  size_t ncpu = (size_t)(d->config.policy_cpu_window_ms / TICK_MS) + 1;
  if (p) p->cpu = calloc(ncpu, sizeof *p->cpu);
  if (!p || !p->cpu) {
    free(p);
    snprintf(err, errlen, "out of memory");
    return 0;
  }
  p->ncpu = ncpu;
  p->id = ++P.next_id;
  p->sid = sid;
  p->listed = 1;
  p->started_ms = now_ms();
  p->pong_ms = p->started_ms + STARTUP_MS;     /* exec and Lua's start are not an activation */
  snprintf(p->script, sizeof p->script, "%s", name);
  snprintf(p->state, sizeof p->state, "running");
  p->next = P.list;
  P.list = p;
  if (spawn(d, p, path, options, owner, owner_gid, err, errlen) < 0) {
    p->listed = 0;
    P.next_id--;
    forget(p);
    return 0;
  }
  forget_old();
  schedule_tick();
  log_notice("policy %ld (%s) attached to session 0x%016llx: process %ld", p->id, name, (unsigned long long)sid,
             (long)p->pid);
  return p->id;
}

/* ---- the rest of policy.h ----------------------------------------------------------------------------------- */

int mcsid_policies_open(mcsid *d)
{
  ssize_t n = readlink("/proc/self/exe", P.exe, sizeof P.exe - 1);
  if (n <= 0) {
    log_err("policies: /proc/self/exe: %s: no policies", strerror(errno));
    return -1;
  }
  P.exe[n] = 0;
  P.d = d;
  return 0;
}

void mcsid_policies_close(mcsid *d)
{
  (void)d;
  if (P.tick) mcsi_timer_cancel(P.d->ini, P.tick);
  P.tick = 0;
  for (policy *p = P.list; p; p = p->next)
    if (p->pid != 0) {
      if (p->pid > 0) kill(p->pid, SIGKILL);
      if (p->pid > 0) waitpid(p->pid, NULL, 0);
      p->pid = 0;
    }
  while (P.list) forget(P.list);
}

int mcsid_policies_timeout(mcsid *d)
{
  (void)d;
  return -1;
}

void mcsid_policies_service(mcsid *d) { (void)d; }

int mcsid_policy_detach(mcsid *d, long id)
{
  (void)d;
  for (policy *p = P.list; p; p = p->next)
    if (p->id == id && p->listed) {
      finish(p, "stopped", "detached");
      p->listed = 0;
      schedule_tick();
      return 1;
    }
  return 0;
}

json_t *mcsid_policy_list(mcsid *d)
{
  (void)d;
  json_t *list = json_array();
  if (!list) return list;
  policy *sorted[KEEP_ENDED + 1024];
  size_t n = 0;
  for (policy *p = P.list; p && n < sizeof sorted / sizeof sorted[0]; p = p->next)
    if (p->listed) sorted[n++] = p;
  while (n--) {                        /* oldest first */
    policy *p = sorted[n];
    json_t *o = json_pack("{s:I, s:o, s:s, s:s}", "PolicyId", (json_int_t)p->id, "UniqueSessionId",
                          mcsid_id_json(p->sid), "PolicyScript", p->script, "State", p->state);
    if (o && strcmp(p->state, "running")) json_object_set_new(o, "Reason", json_string(p->reason));
    if (o) json_array_append_new(list, o);
  }
  return list;
}

int mcsid_policy_running(mcsid *d, mcsi_id sid)
{
  (void)d;
  for (policy *p = P.list; p; p = p->next)
    if (p->sid == sid && !strcmp(p->state, "running")) return 1;
  return 0;
}

int mcsid_policy_starting(mcsid *d, mcsi_id sid)
{
  (void)d;
  for (policy *p = P.list; p; p = p->next)
    if (p->sid == sid && !strcmp(p->state, "running") && p->pongs < 2) return 1;
  return 0;
}
