/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* upgrade_running.c: mcsid --upgrade-running, Upgrade {"Wait": true} on the
 * running mcsid, answered when the handover ends (upgrade_running.h). */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "upgrade_running.h"

#define ANSWER_MAX 65536                /* bytes of the answer line */
#define CONNECT_TIMEOUT_S 5

static const char wait_request[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"Upgrade\",\"params\":{\"Wait\":true}}\n";
static const char plain_request[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"Upgrade\"}\n";

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Peer text printed as is, but for control characters (?), at most 300 bytes. */
static void print_text(FILE *f, const char *s)
{
  for (size_t i = 0; s && s[i] && i < 300; i++) fputc((unsigned char)s[i] < 0x20 ? '?' : s[i], f);
}

static int connect_to(const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  struct timeval tv = { .tv_sec = CONNECT_TIMEOUT_S };
  if (strlen(path) >= sizeof sa.sun_path) {
    fprintf(stderr, "mcsid: --upgrade-running: socket path too long: %s\n", path);
    return -1;
  }
  memcpy(sa.sun_path, path, strlen(path));
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);   /* a full backlog: connect waits this long */
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    fprintf(stderr, "mcsid: --upgrade-running: %s: %s (is mcsid running?)\n", path, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* One answer line, parsed; NULL at the deadline, at the end of the connection or on a line that is no JSON. */
static json_t *read_answer(int fd, uint64_t deadline)
{
  static char buf[ANSWER_MAX];
  size_t len = 0;
  while (len < sizeof buf) {
    uint64_t now = now_ms();
    if (now >= deadline) {
      fprintf(stderr, "mcsid: --upgrade-running: no answer within %d s\n", MCSID_UPGRADE_RUNNING_TIMEOUT_MS / 1000);
      return NULL;
    }
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int r = poll(&p, 1, (int)(deadline - now));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t got = recv(fd, buf + len, sizeof buf - len, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      fprintf(stderr, "mcsid: --upgrade-running: the running mcsid closed the connection without an answer\n");
      return NULL;
    }
    char *nl = memchr(buf + len, '\n', (size_t)got);
    len += (size_t)got;
    if (nl) {
      json_error_t e;
      json_t *answer = json_loadb(buf, (size_t)(nl - buf), 0, &e);
      if (!answer) fprintf(stderr, "mcsid: --upgrade-running: an answer that is not JSON\n");
      return answer;
    }
  }
  fprintf(stderr, "mcsid: --upgrade-running: an answer longer than %d bytes\n", ANSWER_MAX);
  return NULL;
}

static json_t *call(const char *path, const char *request)
{
  int fd = connect_to(path);
  if (fd < 0) return NULL;
  json_t *answer = NULL;
  if (send_all(fd, request, strlen(request)) == 0) answer = read_answer(fd, now_ms() + MCSID_UPGRADE_RUNNING_TIMEOUT_MS);
  close(fd);
  return answer;
}

/* An mcsid from before Upgrade's Wait: it says "invalid params: Upgrade has no parameter Wait". */
static int knows_no_wait(const json_t *answer)
{
  const json_t *err = json_object_get(answer, "error");
  const char *m = json_string_value(json_object_get(err, "message"));
  return err && json_integer_value(json_object_get(err, "code")) == -32602 && m && strstr(m, "Wait");
}

static int answered_success(const json_t *answer)
{
  const char *name = json_string_value(json_object_get(json_object_get(answer, "result"), "StatusName"));
  return name && !strcmp(name, "ISDSC_SUCCESS");
}

static int busy(const json_t *answer)
{
  const char *name = json_string_value(json_object_get(json_object_get(answer, "result"), "StatusName"));
  return name && !strcmp(name, "ISDSC_SESSION_BUSY");
}

/* After a plain Upgrade of an older mcsid: once this binary answers (it knows Wait), Upgrade
 * {"Wait": true} again, so that the main process ends as the service manager's child (CLONE_PARENT):
 * the older one started its successor as its own. NULL when the older one goes on (or nothing answers)
 * until the deadline. */
static json_t *upgrade_again(const char *socket_path)
{
  uint64_t deadline = now_ms() + MCSID_UPGRADE_RUNNING_TIMEOUT_MS;
  while (now_ms() < deadline) {
    json_t *answer = call(socket_path, wait_request);
    if (answer && !knows_no_wait(answer) && !busy(answer)) return answer;
    json_decref(answer);
    usleep(100 * 1000);
  }
  fprintf(stderr, "mcsid: --upgrade-running: the running mcsid (older than Upgrade's Wait) did not hand over to "
                  "this binary within %d s: it goes on serving\n", MCSID_UPGRADE_RUNNING_TIMEOUT_MS / 1000);
  return NULL;
}

int mcsid_upgrade_running(const char *socket_path)
{
  json_t *answer = call(socket_path, wait_request);
  if (answer && knows_no_wait(answer)) {
    json_decref(answer);
    answer = call(socket_path, plain_request);
    if (answer && answered_success(answer)) {
      json_decref(answer);
      printf("mcsid: the running mcsid is older than Upgrade's Wait: handed over with a plain Upgrade, and "
             "again once this binary serves\n");
      answer = upgrade_again(socket_path);
      if (!answer) return 1;
    }
  }
  if (!answer) return 3;
  const json_t *result = json_object_get(answer, "result");
  const char *name = json_string_value(json_object_get(result, "StatusName"));
  const char *message = json_string_value(json_object_get(result, "StatusMessage"));
  int rc = 1;
  if (!result) {
    fprintf(stderr, "mcsid: --upgrade-running: Upgrade refused: ");
    print_text(stderr, json_string_value(json_object_get(json_object_get(answer, "error"), "message")));
    fputc('\n', stderr);
  } else if (name && !strcmp(name, "ISDSC_SUCCESS")) {
    printf("mcsid: upgraded: pid %lld serves every session now (the binary on disk; the configuration read "
           "again)\n", (long long)json_integer_value(json_object_get(result, "Pid")));
    rc = 0;
  } else {
    fprintf(stderr, "mcsid: upgrade: ");
    print_text(stderr, name ? name : "?");
    fprintf(stderr, ": ");
    print_text(stderr, message ? message : "");
    fputc('\n', stderr);
  }
  fflush(stdout);
  json_decref(answer);
  return rc;
}
