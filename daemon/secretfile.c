/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* secretfile.c: secret files read by a child with the client's credentials
 * (see secretfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include "log.h"
#include "secretfile.h"

#define READ_MAX (MCSID_SECRET_MAX + 3)    /* 255 bytes, "\r\n", and one more to see a longer file */
#define RECORD_MAX (2 + MCSID_SECRET_MAX)  /* result, length or errno, the secret */
#define REAP_STEP_MS 10

/* What the child says about one file. */
enum { RESULT_OK, RESULT_OPEN, RESULT_NOT_REGULAR, RESULT_OWNER, RESULT_SIZE };

typedef struct reader {
  mcsid *d;
  struct reader *next;              /* the children alive (until reaped) */
  uid_t uid;
  pid_t pid;
  int fd;
  uint64_t watch, timer;
  int nfiles;
  int dropped;                      /* the child ran as the client, not as the daemon */
  int answered;                     /* the callback ran; the child only waits to be reaped */
  const char *params[2];
  unsigned char buf[2 * RECORD_MAX + 1];
  size_t len;
  mcsid_secret_files_cb cb;
  void *arg;
} reader;

static reader *live;   /* one daemon per process: the readers whose child is not reaped yet */

/* 0, or -1 with msg when as many children as allowed are at work (for uid, or in all). */
static int room_for(uid_t uid, const char *param, char *msg, size_t len)
{
  size_t all = 0, mine = 0;
  for (reader *r = live; r; r = r->next) {
    all += !r->answered;
    mine += !r->answered && r->uid == uid;
  }
  if (mine < MCSID_SECRET_FILES_PER_UID && all < MCSID_SECRET_FILES_MAX) return 0;
  snprintf(msg, len, "%s: too many secret files being read (at most %d at once per user, %d in all): try again",
           param, MCSID_SECRET_FILES_PER_UID, MCSID_SECRET_FILES_MAX);
  return -1;
}

static void forget(reader *r)
{
  for (reader **p = &live; *p; p = &(*p)->next)
    if (*p == r) {
      *p = r->next;
      return;
    }
}

/* ---- the child (only async-signal-safe calls: it is a fork of the daemon) -------------------------------- */

static size_t read_one(const char *path, int owner_rule, uid_t uid, unsigned char *rec)
{
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    rec[0] = RESULT_OPEN;
    rec[1] = errno < 256 ? (unsigned char)errno : 0;
    return 2;
  }
  struct statfs fs;
  rec[0] = RESULT_OK;
  /* /proc/self is the child, a copy of the daemon: its maps, status, ... are not the client's to read */
  if (!S_ISREG(st.st_mode) || fstatfs(fd, &fs) < 0 || fs.f_type == PROC_SUPER_MAGIC) rec[0] = RESULT_NOT_REGULAR;
  else if (owner_rule && st.st_uid != uid && st.st_uid != 0) rec[0] = RESULT_OWNER;
  if (rec[0] != RESULT_OK) {
    close(fd);
    return 2;
  }
  char buf[READ_MAX];
  ssize_t n = 0, r;
  while (n < READ_MAX && ((r = read(fd, buf + n, (size_t)(READ_MAX - n))) > 0 || (r < 0 && errno == EINTR)))
    if (r > 0) n += r;
  close(fd);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
  if (n <= 0 || n > MCSID_SECRET_MAX || memchr(buf, 0, (size_t)n)) {
    explicit_bzero(buf, sizeof buf);
    rec[0] = RESULT_SIZE;
    return 2;
  }
  rec[1] = (unsigned char)n;
  memcpy(rec + 2, buf, (size_t)n);
  explicit_bzero(buf, sizeof buf);
  return 2 + (size_t)n;
}

static int drop_to(const mcsid_creds *cr)
{
  return setgroups(cr->ngroups, cr->groups) == 0 && setresgid(cr->gid, cr->gid, cr->gid) == 0 &&
                 setresuid(cr->uid, cr->uid, cr->uid) == 0 && geteuid() == cr->uid && getegid() == cr->gid
             ? 0
             : -1;
}

static void child_main(int wfd, const mcsid_creds *cr, int drop, const char *const paths[2], pid_t parent)
{
  if (dup2(wfd, 3) < 0) _exit(110);
  close_range(4, ~0U, 0);                       /* nothing of the daemon's: no socket, no state file */
  prctl(PR_SET_DUMPABLE, 0);
  if (drop && drop_to(cr) < 0) _exit(111);
  prctl(PR_SET_DUMPABLE, 0);                    /* not ptrace-able, no core, by the client either */
  prctl(PR_SET_PDEATHSIG, SIGKILL);             /* after the drop: changing credentials clears it */
  if (getppid() != parent) _exit(112);
  unsigned char out[2 * RECORD_MAX];
  size_t len = 0;
  for (int i = 0; i < 2 && paths[i]; i++) len += read_one(paths[i], !drop, cr->uid, out + len);
  ssize_t w = write(3, out, len);               /* at most 514 bytes into an empty pipe: whole, at once */
  explicit_bzero(out, sizeof out);
  _exit(w == (ssize_t)len ? 0 : 113);
}

/* ---- the daemon's side -------------------------------------------------------------------------------------- */

static void reap_step(mcsi_initiator *ini, void *arg);

/* The child is waited for without blocking; the reader goes with it. */
static void reap(reader *r)
{
  int status;
  pid_t got = waitpid(r->pid, &status, WNOHANG);
  if (got == r->pid || (got < 0 && errno != EINTR)) {
    forget(r);
    explicit_bzero(r->buf, sizeof r->buf);
    free(r);
    return;
  }
  r->timer = mcsi_timer_add(r->d->ini, REAP_STEP_MS, reap_step, r);
  if (!r->timer) log_warning("secret file reader %ld: cannot wait for it (out of memory)", (long)r->pid);
}

static void reap_step(mcsi_initiator *ini, void *arg)
{
  reader *r = arg;
  (void)ini;
  r->timer = 0;
  reap(r);
}

/* Ends the reading: the callback once, the pipe closed, the child reaped. */
static void finish(reader *r, mcsi_status st, const char *msg, char secrets[2][256])
{
  if (r->watch) mcsi_fd_unwatch(r->d->ini, r->watch);
  if (r->timer) mcsi_timer_cancel(r->d->ini, r->timer);
  r->watch = r->timer = 0;
  close(r->fd);
  r->fd = -1;
  r->answered = 1;
  kill(r->pid, SIGKILL);   /* it has nothing left to do (a stopped one would stay); not reaped: still ours */
  r->cb(r->arg, st, msg, secrets);
  reap(r);
}

__attribute__((format(printf, 3, 4))) static void fail(reader *r, mcsi_status st, const char *fmt, ...)
{
  char msg[256], secrets[2][256] = { "", "" };
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  finish(r, st, msg, secrets);
}

/* One record's failure as the client may hear it. */
static void fail_record(reader *r, const char *param, int result, int err)
{
  if (result == RESULT_SIZE)
    fail(r, ISDSC_INVALID_CHAP_SECRET, "%s: the secret must be 1..255 bytes (a trailing newline excluded)", param);
  else if (r->dropped)   /* the same text whatever the reason: nothing about files the client cannot see */
    fail(r, ISDSC_INVALID_PARAMETER,
         "%s: no regular file of that name that the caller can read (symbolic links are not followed)", param);
  else if (result == RESULT_OPEN)
    fail(r, ISDSC_INVALID_PARAMETER, "%s: cannot be opened: %s", param, err ? strerror(err) : "unknown error");
  else
    fail(r, ISDSC_INVALID_PARAMETER, "%s: not a regular file owned by the caller or root", param);
}

static void parse(reader *r)
{
  char secrets[2][256] = { "", "" };
  size_t at = 0;
  for (int i = 0; i < r->nfiles; i++) {
    if (at + 2 > r->len) {
      log_warning("secret file reader %ld ended without an answer", (long)r->pid);
      fail(r, ISDSC_INVALID_PARAMETER, "%s: could not be read", r->params[i]);
      return;
    }
    int result = r->buf[at], n = r->buf[at + 1];
    if (result != RESULT_OK) {
      fail_record(r, r->params[i], result, n);
      return;
    }
    if (n < 1 || at + 2 + (size_t)n > r->len) {
      fail(r, ISDSC_INVALID_PARAMETER, "%s: could not be read", r->params[i]);
      return;
    }
    memcpy(secrets[i], r->buf + at + 2, (size_t)n);
    secrets[i][n] = 0;
    at += 2 + (size_t)n;
  }
  finish(r, ISDSC_SUCCESS, NULL, secrets);
  explicit_bzero(secrets, sizeof secrets);
}

static void readable(mcsi_initiator *ini, int fd, int what, void *arg)
{
  reader *r = arg;
  (void)ini;
  (void)what;
  if (r->len == sizeof r->buf) {   /* more than any child of ours writes */
    fail(r, ISDSC_INVALID_PARAMETER, "%s: could not be read", r->params[0]);
    return;
  }
  ssize_t n = read(fd, r->buf + r->len, sizeof r->buf - r->len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n > 0) {
    r->len += (size_t)n;
    return;
  }
  parse(r);   /* EOF (or an error): the child has said all it will */
}

static void too_late(mcsi_initiator *ini, void *arg)
{
  reader *r = arg;
  (void)ini;
  r->timer = 0;
  kill(r->pid, SIGKILL);
  log_warning("secret file reader %ld: no answer in %d ms: killed", (long)r->pid, MCSID_SECRET_FILE_TIMEOUT_MS);
  fail(r, ISDSC_INVALID_PARAMETER, "%s: could not be read within %d ms", r->params[0], MCSID_SECRET_FILE_TIMEOUT_MS);
}

int mcsid_secret_files_read(mcsid *d, const mcsid_creds *cr, const char *const paths[2], const char *const params[2],
                            mcsid_secret_files_cb cb, void *arg, char *msg, size_t len)
{
  int p[2];
  if (room_for(cr->uid, params[0], msg, len) < 0) return -1;
  reader *r = calloc(1, sizeof *r);
  if (!r || pipe2(p, O_CLOEXEC) < 0) {
    snprintf(msg, len, "%s: could not be read (%s)", params[0], r ? strerror(errno) : "out of memory");
    free(r);
    return -1;
  }
  *r = (reader){ .d = d, .uid = cr->uid, .fd = p[0], .nfiles = paths[1] ? 2 : 1, .dropped = cr->uid != geteuid(),
                 .params = { params[0], params[1] }, .cb = cb, .arg = arg };
  pid_t parent = getpid();
  r->pid = fork();
  if (r->pid == 0) child_main(p[1], cr, r->dropped, paths, parent);
  int err = errno;
  close(p[1]);
  if (r->pid > 0) {
    r->next = live;
    live = r;
  }
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  if (r->pid > 0) r->watch = mcsi_fd_watch(d->ini, p[0], MCSI_FD_READABLE, readable, r);
  if (r->pid > 0 && r->watch)
    r->timer = mcsi_timer_add(d->ini, MCSID_SECRET_FILE_TIMEOUT_MS, too_late, r);
  if (r->pid > 0 && r->watch && r->timer) return 0;
  snprintf(msg, len, "%s: could not be read (%s)", params[0], r->pid < 0 ? strerror(err) : "out of memory");
  if (r->watch) mcsi_fd_unwatch(d->ini, r->watch);
  close(p[0]);
  if (r->pid > 0) {
    kill(r->pid, SIGKILL);
    r->fd = -1;
    r->watch = 0;
    r->answered = 1;
    reap(r);
  } else {
    free(r);
  }
  return -1;
}
