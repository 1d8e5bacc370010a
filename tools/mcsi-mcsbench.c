/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mcsi-mcsbench: MC/S benchmarks against the tgt that tests/harness/with-targets
 * starts (it reads MCSI_TGT_PORT, MCSI_TGT_IQN_PLAIN, MCSI_TGT_IPC):
 *   latency   idle add_connection / remove_connection, p50 and p99
 *   failover  QD 32 reads over 2 connections; one is dropped from the target
 *             side (tgtadm, spawned without blocking the loop); the longest
 *             gap between two completions, and the commands that failed. */
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include "mcsi.h"

extern char **environ;

static mcsi_initiator *ini;
static mcsi_id sid;
static char portal1[64], portal2[64];

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *env(const char *name)
{
  const char *v = getenv(name);
  if (!v) {
    fprintf(stderr, "mcsi-mcsbench: %s is not set (run under tests/harness/with-targets)\n", name);
    exit(2);
  }
  return v;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  int i = (int)(p * (n - 1) + 0.5);
  return v[i];
}

static void die(const char *what, mcsi_status st)
{
  fprintf(stderr, "mcsi-mcsbench: %s: %s: %s\n", what, mcsi_status_name(st), mcsi_last_message(ini));
  exit(1);
}

/* The options of one more connection to portal; exits when out of memory. */
static mcsi_conn_opts *conn_opts(const char *portal)
{
  mcsi_conn_opts *o = mcsi_conn_opts_new();
  mcsi_status st = o ? mcsi_conn_opts_set_string(o, MCSI_OPT_PORTAL, portal) : ISDSC_OUT_OF_RESOURCES;
  if (st) die("connection options", st);
  return o;
}

/* Adds a connection through portal; exits on failure. */
static mcsi_id add_connection(const char *portal)
{
  mcsi_conn_opts *o = conn_opts(portal);
  mcsi_id cid;
  mcsi_status st = mcsi_add_connection_to_session(ini, sid, o, &cid);
  mcsi_conn_opts_free(o);
  if (st) die("add_connection", st);
  return cid;
}

static void latency(int rounds)
{
  double add[256], rem[256];
  if (rounds > 256) rounds = 256;
  for (int i = 0; i < rounds; i++) {
    mcsi_conn_opts *o = conn_opts(i % 2 ? portal1 : portal2);
    mcsi_id cid;
    double t0 = now_ms();
    mcsi_status st = mcsi_add_connection_to_session(ini, sid, o, &cid);
    double t1 = now_ms();
    mcsi_conn_opts_free(o);
    if (st) die("add_connection", st);
    st = mcsi_remove_connection_from_session(ini, sid, cid);
    double t2 = now_ms();
    if (st) die("remove_connection", st);
    add[i] = t1 - t0;
    rem[i] = t2 - t1;
  }
  printf("add_connection    p50 %.3f ms  p99 %.3f ms  (%d rounds, idle)\n", pct(add, rounds, 0.5), pct(add, rounds, 0.99), rounds);
  printf("remove_connection p50 %.3f ms  p99 %.3f ms  (%d rounds, idle)\n", pct(rem, rounds, 0.5), pct(rem, rounds, 0.99), rounds);
}

/* ---- failover stall ----------------------------------------------------------- */

static uint8_t bufs[32][4096];
static double last_done, longest_gap;
static int failed, stop, inflight, measuring;
static long completed;

static void submit(intptr_t slot);

static void done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  (void)res;
  double t = now_ms();
  inflight--;
  completed++;
  if (st) failed++;
  if (measuring && t - last_done > longest_gap) longest_gap = t - last_done;
  last_done = t;
  if (!stop) submit((intptr_t)arg);
}

static void submit(intptr_t slot)
{
  if (mcsi_read_async(ini, sid, 2, (uint64_t)slot * 8, 512, bufs[slot], 4096, MCSI_COMPLETION(done, (void *)slot))) failed++;
  else inflight++;
}

static void pump(double ms)
{
  double end = now_ms() + ms;
  while (now_ms() < end) mcsi_process(ini, 5);
}

static pid_t drop_connection(uint16_t tsih, uint16_t cid)
{
  static char words[18][320];
  char *argv[18], *envp[3];
  snprintf(words[0], sizeof words[0], "TGT_IPC_SOCKET=%s", env("MCSI_TGT_IPC"));
  snprintf(words[1], sizeof words[1], "PATH=/usr/sbin:/usr/bin:/sbin:/bin");
  snprintf(words[2], sizeof words[2], "%u", (unsigned)(uint16_t)(tsih >> 8 | tsih << 8));
  snprintf(words[3], sizeof words[3], "%u", cid);
  const char *fixed[] = { "tgtadm", "-C", "0", "--lld", "iscsi", "--op", "delete", "--mode", "conn", "--tid", "1",
                          "--sid", NULL, "--cid", NULL };
  int n = 0;
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
    if (!fixed[i]) { argv[n++] = words[i == 12 ? 2 : 3]; continue; }
    snprintf(words[4 + i % 14], sizeof words[0], "%s", fixed[i]);
    argv[n++] = words[4 + i % 14];
  }
  argv[n] = NULL;
  envp[0] = words[0];
  envp[1] = words[1];
  envp[2] = NULL;
  pid_t pid = -1;
  posix_spawnp(&pid, "tgtadm", NULL, NULL, argv, envp);
  return pid;
}

static void failover(int rounds)
{
  double gaps[64];
  int nfail = 0;
  if (rounds > 64) rounds = 64;
  mcsi_scsi_test_unit_ready(ini, sid, 2);
  for (int r = 0; r < rounds; r++) {
    add_connection(portal2);
    stop = failed = 0;
    for (intptr_t i = 0; i < 32; i++) submit(i);
    pump(300);
    mcsi_session_info *si = NULL;
    mcsi_session_get_info(ini, sid, &si);
    uint16_t tsih = (uint16_t)mcsi_session_info_get(si, MCSI_SI_TSIH);
    uint16_t cid = (uint16_t)mcsi_conn_info_get(mcsi_session_info_connection(si, 1), MCSI_CI_CID);
    mcsi_session_info_free(si);
    longest_gap = 0;
    last_done = now_ms();
    measuring = 1;
    pid_t pid = drop_connection(tsih, cid);
    pump(700);
    measuring = 0;
    stop = 1;
    while (inflight) mcsi_process(ini, 100);
    if (pid > 0) waitpid(pid, NULL, 0);
    si = NULL;
    mcsi_session_get_info(ini, sid, &si);
    size_t left = mcsi_session_info_connection_count(si);
    mcsi_session_info_free(si);
    if (left != 1) {
      fprintf(stderr, "mcsi-mcsbench: the dropped connection is still there (%zu connections)\n", left);
      exit(1);
    }
    gaps[r] = longest_gap;
    nfail += failed;
  }
  double worst = 0;
  for (int r = 0; r < rounds; r++) worst = gaps[r] > worst ? gaps[r] : worst;
  printf("failover stall    p50 %.3f ms  max %.3f ms  failed commands %d  (%d drops of 1 of 2 connections, QD 32 4 KiB reads)\n",
         pct(gaps, rounds, 0.5), worst, nfail, rounds);
}

int main(int argc, char **argv)
{
  int rounds = argc > 1 ? atoi(argv[1]) : 50;
  signal(SIGPIPE, SIG_IGN);
  snprintf(portal1, sizeof portal1, "127.0.0.1:%s", env("MCSI_TGT_PORT"));
  snprintf(portal2, sizeof portal2, "127.0.0.2:%s", env("MCSI_TGT_PORT"));
  ini = mcsi_initiator_new(NULL);
  mcsi_login_opts *o = mcsi_login_opts_new();
  mcsi_status st = o ? mcsi_login_opts_set_string(o, MCSI_OPT_PORTAL, portal1) : ISDSC_OUT_OF_RESOURCES;
  if (!st) st = mcsi_login_opts_set_string(o, MCSI_OPT_TARGET, env("MCSI_TGT_IQN_PLAIN"));
  if (!st) st = mcsi_login_opts_set_int(o, MCSI_OPT_MAX_CONNECTIONS, 4);
  if (!st) st = mcsi_login_to_target(ini, o, &sid, NULL);
  mcsi_login_opts_free(o);
  if (st) die("login", st);
  latency(rounds);
  failover(rounds / 5 > 0 ? rounds / 5 : 1);
  mcsi_logout_from_target(ini, sid);
  mcsi_initiator_free(ini);
  return 0;
}
