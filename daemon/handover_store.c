/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* handover_store.c: the service manager's fd store as the way between a
 * process and its successor (handover_store.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>
#include "handover.h"
#include "handover_store.h"
#include "log.h"

#define STORE_MAX (MCSID_HANDOVER_MAX_NBD + MCSID_HANDOVER_MAX_SESSIONS * MCSID_HANDOVER_MAX_CONNS + 2)

static uint64_t armed_until;            /* CLOCK_MONOTONIC ms; 0: not armed */
static char **taken_names;              /* the names received, to remove from the store */
static int n_taken;

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int mcsid_handover_store_arm(const char **why)
{
  if (!getenv("NOTIFY_SOCKET")) {
    *why = "no service manager ($NOTIFY_SOCKET is not set): nothing would keep the sockets";
    return -1;
  }
  armed_until = now_ms() + MCSID_HANDOVER_STORE_ARM_MS;
  log_notice("handover: the next SIGTERM within %d s hands over through the service manager's fd store",
             MCSID_HANDOVER_STORE_ARM_MS / 1000);
  return 0;
}

int mcsid_handover_store_take_arm(void)
{
  int armed = armed_until && now_ms() < armed_until;
  armed_until = 0;
  return armed;
}

static int store_one(int fd, const char *name)
{
  char msg[64];
  snprintf(msg, sizeof msg, "FDSTORE=1\nFDNAME=%s", name);
  int r = sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
  if (r <= 0) {
    log_err("handover: FDSTORE of %s: %s", name, r < 0 ? strerror(-r) : "no $NOTIFY_SOCKET");
    return -1;
  }
  return 0;
}

int mcsid_handover_store_send(int memfd, const int *fds, size_t n)
{
  char name[32];
  if (n + 1 > STORE_MAX) {
    log_err("handover: %zu sockets, the store takes at most %d", n, STORE_MAX);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    snprintf(name, sizeof name, MCSID_HANDOVER_STORE_FD "%d", fds[i]);
    if (store_one(fds[i], name) < 0) return -1;
  }
  /* the state last: a store without it is stale sockets, which the next start lets go */
  if (store_one(memfd, MCSID_HANDOVER_STORE_STATE) < 0) return -1;
  log_notice("handover: %zu sockets and the state in the service manager's fd store", n);
  return 0;
}

static void keep_name(const char *name)
{
  char **grown = realloc(taken_names, (size_t)(n_taken + 1) * sizeof *grown);
  if (!grown) return;
  taken_names = grown;
  if ((taken_names[n_taken] = strdup(name))) n_taken++;
}

/* The number a name gives a socket: mcsid-fd-N, N >= 3; else -1. */
static int number_of(const char *name)
{
  char *end;
  size_t k = strlen(MCSID_HANDOVER_STORE_FD);
  if (strncmp(name, MCSID_HANDOVER_STORE_FD, k)) return -1;
  errno = 0;
  long v = strtol(name + k, &end, 10);
  return errno || *end || end == name + k || v < 3 || v > 1 << 24 ? -1 : (int)v;
}

/* Every received fd moved above both ranges, then each socket to its number. */
static int put_back(int n, char **names, int *state)
{
  int *high = calloc((size_t)n, sizeof *high), base = SD_LISTEN_FDS_START + n, ok = high ? 0 : -1;
  for (int i = 0; i < n && high; i++) {
    int want = number_of(names[i]);
    if (want >= base) base = want + 1;
  }
  for (int i = 0; i < n && high; i++) {
    high[i] = fcntl(SD_LISTEN_FDS_START + i, F_DUPFD_CLOEXEC, base);
    close(SD_LISTEN_FDS_START + i);
    if (high[i] < 0) ok = -1;
  }
  for (int i = 0; i < n && !ok; i++) {
    int want = number_of(names[i]);
    if (want < 0) continue;
    if (fcntl(want, F_GETFD) >= 0 || dup3(high[i], want, O_CLOEXEC) < 0) {
      log_err("handover: the store's %s cannot have its number back", names[i]);
      ok = -1;
    }
  }
  for (int i = 0; i < n && high; i++) {
    if (high[i] < 0) continue;
    if (!ok && !strcmp(names[i], MCSID_HANDOVER_STORE_STATE)) *state = fcntl(high[i], F_DUPFD_CLOEXEC, 3);
    close(high[i]);
  }
  free(high);
  return ok || *state < 0 ? -1 : 0;
}

int mcsid_handover_store_receive(void)
{
  char **names = NULL;
  int state = -1, n = sd_listen_fds_with_names(1, &names), states = 0, strangers = 0;
  if (n <= 0) return -1;
  for (int i = 0; i < n; i++) {
    keep_name(names[i]);
    if (!strcmp(names[i], MCSID_HANDOVER_STORE_STATE)) states++;
    else if (number_of(names[i]) < 0) strangers++;
  }
  if (states != 1 || strangers || n > STORE_MAX || put_back(n, names, &state) < 0) {
    log_err("handover: %d fds from the service manager (%d states, %d not ours): not a handover this mcsid "
            "reads; let go", n, states, strangers);
    for (int i = 0; i < n; i++) close(SD_LISTEN_FDS_START + i);   /* EBADF when already moved */
    mcsid_handover_store_release();
    state = -1;
  }
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  return state;
}

void mcsid_handover_store_release(void)
{
  char msg[300];
  for (int i = 0; i < n_taken; i++) {
    snprintf(msg, sizeof msg, "FDSTOREREMOVE=1\nFDNAME=%s", taken_names[i]);
    sd_notify(0, msg);
    free(taken_names[i]);
  }
  free(taken_names);
  taken_names = NULL;
  n_taken = 0;
}
