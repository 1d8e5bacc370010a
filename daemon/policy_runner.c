/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* policy_runner.c: `mcsid --policy-runner`, the process of one policy
 * (policy.h says how mcsid starts and watches it).
 *
 * fd 3 is one end of a socketpair whose other end is a client of mcsid. The
 * first line on it is the daemon's PolicyStart notification (what to run,
 * as whom, within what); then, still as root and before any policy code:
 * the script is read, Lua (the mcsi module, mcsi.remote, mcsi.policy) is
 * loaded, and the process locks itself in:
 *   - its Lua heap is capped (MemoryBytes: an allocation past it fails, the
 *     script gets "not enough memory"); RLIMIT_AS caps the process
 *     (MemoryBytes + RUNNER_AS_SLACK; not under AddressSanitizer, whose
 *     shadow memory is terabytes of address space);
 *   - RLIMIT_NOFILE 16, RLIMIT_FSIZE 0, RLIMIT_CORE 0, RLIMIT_NPROC 0, and
 *     RLIMIT_CPU as a backstop behind the daemon's CPU budget (see
 *     l_cpu_backstop);
 *   - setgroups/setgid/setuid to Uid/Gid (policy_user, default nobody),
 *     checked (setuid(0) must fail); then no_new_privs, not dumpable (no
 *     other process of that user may ptrace it), SIGKILL when mcsid dies;
 *   - a seccomp filter (libseccomp): no execve, fork, clone of a process,
 *     socket, connect, bind, ptrace, kill of another process, open for
 *     writing or creating, nor any call that changes the file system, mounts,
 *     namespaces, keys, BPF. Everything else is allowed (the default), so
 *     the C library and the sanitizers keep working.
 * Then mcsi.policy runs the script over fd 3 with the mcsi API of
 * mcsi.connect. The process ends with _exit (no finalizer runs at the end):
 * 0 when the policy stopped or ended, 1 when it failed. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "lauxlib.h"
#include "lmcsi.h"
#include "lua.h"
#include "lualib.h"
#include "policy.h"

#define RUNNER_FD 3
#define START_MAX (64 * 1024)          /* the PolicyStart line: options and names */
#define START_WAIT_MS 10000
#define SCRIPT_MAX (1 << 20)
#define RUNNER_AS_SLACK (256L << 20)   /* address space beyond the Lua heap: code, libraries, stacks */

#if defined(__SANITIZE_ADDRESS__)
#define RUNNER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RUNNER_ASAN 1
#endif
#endif

static int in_runner;

#ifdef RUNNER_ASAN
/* LeakSanitizer stops the world with clone and ptrace at exit, which the
 * filter refuses; the runner ends with _exit and its Lua state on purpose. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) { return in_runner; }
#endif

/* what, then detail: the line on stderr (the daemon's log), exit 2. */
static void die(const char *what, const char *detail)
{
  fprintf(stderr, "mcsid policy runner %ld: %s%s\n", (long)getpid(), what, detail);
  _exit(2);
}

/* ---- the start message ------------------------------------------------------------------------------ */

/* The first line on fd; the bytes read after it go to *rest. */
static json_t *read_start(int fd, char **rest, size_t *rest_len)
{
  static char buf[START_MAX];
  size_t len = 0;
  char *nl = NULL;
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!nl) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    long left = START_WAIT_MS - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (left <= 0 || len == sizeof buf) die("no start message", "");
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = read(fd, buf + len, sizeof buf - len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) die("the daemon closed the connection before the start message", "");
    nl = memchr(buf + len, '\n', (size_t)n);
    len += (size_t)n;
  }
  json_error_t err;
  json_t *msg = json_loadb(buf, (size_t)(nl - buf), 0, &err);
  json_t *params = json_object_get(msg, "params");
  const char *method = json_string_value(json_object_get(msg, "method"));
  if (!json_is_object(params) || !method || strcmp(method, "PolicyStart")) die("a bad start message", "");
  *rest_len = len - (size_t)(nl + 1 - buf);
  *rest = nl + 1;
  json_incref(params);
  json_decref(msg);
  return params;
}

static long long int_param(json_t *params, const char *name)
{
  json_t *v = json_object_get(params, name);
  if (!json_is_integer(v)) die("start message missing: ", name);
  return (long long)json_integer_value(v);
}

static const char *string_param(json_t *params, const char *name)
{
  const char *s = json_string_value(json_object_get(params, name));
  if (!s) die("start message missing: ", name);
  return s;
}

/* ---- JSON -> Lua ------------------------------------------------------------------------------------- */

static void push_json(lua_State *L, json_t *v, int depth)
{
  luaL_checkstack(L, 4, "policy options");
  if (depth > 32) { lua_pushnil(L); return; }
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    const char *k;
    json_t *x;
    lua_createtable(L, 0, (int)json_object_size(v));
    json_object_foreach(v, k, x) {
      push_json(L, x, depth + 1);
      lua_setfield(L, -2, k);
    }
    break;
  }
  case JSON_ARRAY: {
    size_t i;
    json_t *x;
    lua_createtable(L, (int)json_array_size(v), 0);
    json_array_foreach(v, i, x) {
      push_json(L, x, depth + 1);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    break;
  }
  case JSON_STRING: lua_pushlstring(L, json_string_value(v), json_string_length(v)); break;
  case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(v)); break;
  case JSON_REAL: lua_pushnumber(L, json_real_value(v)); break;
  case JSON_TRUE: lua_pushboolean(L, 1); break;
  case JSON_FALSE: lua_pushboolean(L, 0); break;
  default: lua_pushnil(L); break;
  }
}

/* ---- the script ------------------------------------------------------------------------------------- */

/* Pushes the source and returns the chunk name: the file ScriptPath, or
 * the built-in mcsi.NAME. */
static const char *push_source(lua_State *L, const char *name, const char *path)
{
  if (path) {
    FILE *f = fopen(path, "rbe");
    if (!f) die("cannot read the policy script: ", strerror(errno));
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char buf[4096];
    size_t n, total = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0 && (total += n) <= SCRIPT_MAX) luaL_addlstring(&b, buf, n);
    fclose(f);
    if (total > SCRIPT_MAX) die("the policy script is too large", "");
    luaL_pushresult(&b);
    return lua_pushfstring(L, "@%s", path);
  }
  char module[80];
  snprintf(module, sizeof module, "mcsi.%s", name);
  for (int i = 0; lmcsi_chunks[i].name; i++)
    if (!strcmp(lmcsi_chunks[i].name, module)) {
      lua_pushlstring(L, lmcsi_chunks[i].code, lmcsi_chunks[i].len);
      return lua_pushstring(L, lmcsi_chunks[i].chunkname);
    }
  die("no built-in policy ", name);
  return NULL;
}

/* ---- the Lua heap, capped ------------------------------------------------------------------------------ */

typedef struct heap {
  size_t used, cap;
} heap;

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
  heap *h = ud;
  if (!ptr) osize = 0;
  if (nsize == 0) {
    free(ptr);
    h->used -= osize;
    return NULL;
  }
  if (nsize > osize && h->used + (nsize - osize) > h->cap) return NULL;
  void *n = realloc(ptr, nsize);
  if (!n) return NULL;
  h->used = h->used - osize + nsize;
  return n;
}

static int at_panic(lua_State *L)
{
  const char *msg = lua_tostring(L, -1);
  die("Lua panic: ", msg ? msg : "?");
  return 0;
}

/* ---- locking the process in ------------------------------------------------------------------------- */

static void limit(int resource, rlim_t n, const char *name)
{
  struct rlimit r = { n, n };
  if (setrlimit(resource, &r) < 0) die("setrlimit failed: ", name);
}

static void drop_privileges(uid_t uid, gid_t gid)
{
  if (getuid() != 0 && geteuid() != 0) return;   /* a daemon not run as root: nothing to drop */
  if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
    die("cannot drop privileges: ", strerror(errno));
  if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) die("privileges came back after setuid", "");
}

static void deny(scmp_filter_ctx f, int nr, unsigned argc, const struct scmp_arg_cmp *cmp)
{
  if (nr < 0) return;                            /* not on this architecture */
  int rc = argc ? seccomp_rule_add_array(f, SCMP_ACT_ERRNO(EPERM), nr, argc, cmp)
                : seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), nr, 0);
  if (rc < 0) die("seccomp rule: ", strerror(-rc));
}

static void deny_plain(scmp_filter_ctx f, const char *name) { deny(f, seccomp_syscall_resolve_name(name), 0, NULL); }

/* open/openat with a writing or creating flag (arg: the flags' index). */
static void deny_open_for_write(scmp_filter_ctx f, const char *name, unsigned arg)
{
  int nr = seccomp_syscall_resolve_name(name);
  struct scmp_arg_cmp w = SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, O_ACCMODE, O_WRONLY);
  struct scmp_arg_cmp rw = SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, O_ACCMODE, O_RDWR);
  struct scmp_arg_cmp cr = SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, O_CREAT, O_CREAT);
  struct scmp_arg_cmp tr = SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, O_TRUNC, O_TRUNC);
  deny(f, nr, 1, &w);
  deny(f, nr, 1, &rw);
  deny(f, nr, 1, &cr);
  deny(f, nr, 1, &tr);
}

static void load_filter(void)
{
  static const char *const denied[] = {
    "execve", "execveat", "fork", "vfork", "clone3", "socket", "socketpair", "connect", "bind", "listen",
    "accept", "accept4", "ptrace", "process_vm_readv", "process_vm_writev", "tkill", "openat2", "creat",
    "open_by_handle_at", "name_to_handle_at", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "mkdir", "mkdirat", "rmdir", "link", "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat",
    "chown", "fchown", "fchownat", "lchown", "truncate", "ftruncate", "mknod", "mknodat", "utime", "utimes",
    "utimensat", "futimesat", "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "keyctl",
    "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "personality",
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
    "kexec_load", "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct",
    "quotactl", "fanotify_init", "inotify_init", "inotify_init1", "pidfd_open", "pidfd_getfd",
    "pidfd_send_signal", "sendmsg", "sendmmsg", "msgget", "semget", "shmget", "mq_open",
    NULL,
  };
  scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
  if (!f) die("seccomp_init failed", "");
  for (int i = 0; denied[i]; i++) deny_plain(f, denied[i]);
  /* clone of a process (threads only: CLONE_THREAD set) */
  struct scmp_arg_cmp proc = SCMP_CMP(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0);
  deny(f, seccomp_syscall_resolve_name("clone"), 1, &proc);
  /* signals to itself only */
  struct scmp_arg_cmp other = SCMP_CMP(0, SCMP_CMP_NE, (scmp_datum_t)getpid());
  deny(f, seccomp_syscall_resolve_name("kill"), 1, &other);
  deny(f, seccomp_syscall_resolve_name("tgkill"), 1, &other);
  deny_open_for_write(f, "open", 1);
  deny_open_for_write(f, "openat", 2);
  int rc = seccomp_load(f);
  seccomp_release(f);
  if (rc < 0) die("seccomp_load: ", strerror(-rc));
}

/* RLIMIT_CPU, the kernel's backstop behind the daemon's CPU budget: its
 * soft limit (SIGXCPU) stays cpu_backstop_s seconds ahead of the CPU used,
 * moved by the runner's own loop every second (mcsi.policy: o.cpu_backstop).
 * A runner whose loop no longer turns (a C call, a finalizer, a message
 * handler that never ends) stops moving it, and the kernel ends it. (The
 * daemon cannot move it: raising another user's limits needs
 * CAP_SYS_RESOURCE, which a container may not give it.) */
static long long cpu_backstop_s;

static int l_cpu_backstop(lua_State *L)
{
  struct rusage ru;
  struct rlimit r;
  if (getrusage(RUSAGE_SELF, &ru) == 0 && getrlimit(RLIMIT_CPU, &r) == 0) {
    rlim_t want = (rlim_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + cpu_backstop_s);
    if (r.rlim_max == RLIM_INFINITY || want <= r.rlim_max) {
      r.rlim_cur = want;
      setrlimit(RLIMIT_CPU, &r);
    }
  }
  (void)L;
  return 0;
}

static void lock_in(json_t *params)
{
  long long mem = int_param(params, "MemoryBytes");
  uid_t uid = (uid_t)int_param(params, "Uid");
  gid_t gid = (gid_t)int_param(params, "Gid");
  pid_t parent = (pid_t)int_param(params, "Parent");
  long long cpu_s = int_param(params, "CpuLimitSeconds");
#ifndef RUNNER_ASAN
  limit(RLIMIT_AS, (rlim_t)mem + (rlim_t)RUNNER_AS_SLACK, "RLIMIT_AS");
#else
  (void)mem;
#endif
  limit(RLIMIT_NOFILE, 16, "RLIMIT_NOFILE");
  limit(RLIMIT_FSIZE, 0, "RLIMIT_FSIZE");
  limit(RLIMIT_CORE, 0, "RLIMIT_CORE");
  cpu_backstop_s = cpu_s;
  if (cpu_s > 0) {
    struct rlimit r;
    getrlimit(RLIMIT_CPU, &r);
    r.rlim_cur = (rlim_t)cpu_s;
    if (setrlimit(RLIMIT_CPU, &r) < 0) die("setrlimit failed: ", "RLIMIT_CPU");
  }
  drop_privileges(uid, gid);
  limit(RLIMIT_NPROC, 0, "RLIMIT_NPROC");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("PR_SET_NO_NEW_PRIVS failed", "");
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent) die("mcsid is gone", "");
  load_filter();
}

/* ---- the run ------------------------------------------------------------------------------------------- */

/* Stack: nothing. Loads the modules (as root, before the lock-in) and
 * pushes mcsi.policy's run function. */
static int load_modules(lua_State *L)
{
  luaL_openlibs(L);
  luaL_requiref(L, "mcsi", luaopen_mcsi, 1);
  lua_pop(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "mcsi.remote");
  lua_call(L, 1, 0);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "mcsi.policy");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "run");
  return 1;
}

int mcsid_policy_runner_main(int argc, char **argv)
{
  (void)argc;
  (void)argv;
  in_runner = 1;
  signal(SIGPIPE, SIG_IGN);
  char *rest;
  size_t rest_len;
  json_t *params = read_start(RUNNER_FD, &rest, &rest_len);
  static heap h;
  h.cap = (size_t)int_param(params, "MemoryBytes");
  lua_State *L = lua_newstate(capped_alloc, &h);
  if (!L) die("cannot create the Lua state", "");
  lua_atpanic(L, at_panic);
  lua_pushcfunction(L, load_modules);
  if (lua_pcall(L, 0, 1, 0) != LUA_OK) die("cannot load the policy modules: ", lua_tostring(L, -1));
  const char *script = string_param(params, "PolicyScript");
  json_t *path = json_object_get(params, "ScriptPath");
  lua_createtable(L, 0, 12);
  push_source(L, script, json_string_value(path));
  lua_setfield(L, -3, "chunkname");
  lua_setfield(L, -2, "source");
  lock_in(params);
  lua_pushinteger(L, RUNNER_FD);
  lua_setfield(L, -2, "fd");
  lua_pushlstring(L, rest, rest_len);
  lua_setfield(L, -2, "buf");
  lua_pushstring(L, script);
  lua_setfield(L, -2, "script");
  lua_pushinteger(L, (lua_Integer)int_param(params, "PolicyId"));
  lua_setfield(L, -2, "id");
  lua_pushinteger(L, (lua_Integer)int_param(params, "UniqueSessionId"));
  lua_setfield(L, -2, "session");
  lua_pushinteger(L, (lua_Integer)int_param(params, "Instructions"));
  lua_setfield(L, -2, "instructions");
  lua_pushinteger(L, (lua_Integer)int_param(params, "Ms"));
  lua_setfield(L, -2, "ms");
  push_json(L, json_object_get(params, "Options"), 0);
  lua_setfield(L, -2, "options");
  if (cpu_backstop_s > 0) {
    lua_pushcfunction(L, l_cpu_backstop);
    lua_setfield(L, -2, "cpu_backstop");
  }
  json_decref(params);
  int code = 1;
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
    const char *state = lua_tostring(L, -1);
    code = state && (!strcmp(state, "stopped") || !strcmp(state, "ended")) ? 0 : 1;
  } else {                             /* outside the guarded coroutines (out of memory): the daemon hears it */
    json_t *end = json_pack("{s:s, s:s, s:{s:s, s:s}}", "jsonrpc", "2.0", "method", "PolicyEnd", "params", "State",
                            "failed", "Reason", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
    char *line = end ? json_dumps(end, JSON_COMPACT) : NULL;
    if (line) {
      size_t n = strlen(line);
      line[n] = '\n';
      ssize_t w = send(RUNNER_FD, line, n + 1, MSG_NOSIGNAL);
      (void)w;
      line[n] = 0;
    }
    free(line);
    json_decref(end);
  }
  fflush(stderr);
  _exit(code);
}
