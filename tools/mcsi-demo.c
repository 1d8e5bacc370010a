/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mcsi-demo: the main job on the local targets that tests/harness/with-targets
 * starts (`make demo`): log in to tgt, list the LUNs with their capacity, grow
 * the session to 4 connections over 127.0.0.1 and 127.0.0.2, read at QD 32,
 * drop a connection from the target side in the middle of it and watch the
 * session carry on, then log out. Every step prints its Status. */
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include "mcsi.h"

static mcsi_initiator *ini;
static mcsi_id sid;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *env(const char *name)
{
  const char *v = getenv(name);
  if (!v) {
    fprintf(stderr, "mcsi-demo: %s is not set: run it with `make demo`\n", name);
    exit(2);
  }
  return v;
}

static int show(const char *what, mcsi_status st)
{
  printf("%-44s %s (0x%08X)%s%s\n", what, mcsi_status_name(st), st, st ? ": " : "", st ? mcsi_last_message(ini) : "");
  return st == ISDSC_SUCCESS;
}

static void on_event(mcsi_initiator *i, const mcsi_event *ev, void *arg)
{
  (void)i; (void)arg;
  if (ev->kind == MCSI_EV_CONN_LOGGING_IN || ev->kind == MCSI_EV_CONN_ACTIVE) return;
  printf("  event %-18s connection %-4llu %s: %s\n", mcsi_event_name(ev->kind), (unsigned long long)ev->connection_id,
         mcsi_status_name(ev->status), ev->reason);
}

static void list_luns(void)
{
  uint64_t luns[16];
  size_t n = 0;
  if (!show("REPORT LUNS", mcsi_scsi_report_luns(ini, sid, luns, 16, &n))) return;
  for (size_t i = 0; i < n && i < 16; i++) {
    mcsi_inquiry inq = { .struct_size = sizeof inq };
    mcsi_capacity cap = { .struct_size = sizeof cap };
    mcsi_status st = mcsi_scsi_inquiry(ini, sid, luns[i], -1, &inq);
    if (!st && inq.peripheral_type == 0) st = mcsi_scsi_read_capacity(ini, sid, luns[i], &cap);
    printf("  LUN %-3llu %-8s %-16s type %2d  %12llu blocks x %4u = %8.1f GiB  %s\n", (unsigned long long)luns[i],
           st ? "?" : inq.vendor, st ? "?" : inq.product, st ? -1 : inq.peripheral_type, (unsigned long long)cap.blocks,
           cap.block_size, (double)cap.blocks * cap.block_size / 1073741824.0, mcsi_status_name(st));
  }
}

#define SI(K) mcsi_session_info_get(si, MCSI_SI_##K)
#define CI(K) mcsi_conn_info_get(c, MCSI_CI_##K)
#define CIS(K) mcsi_conn_info_get_string(c, MCSI_CI_##K)

static void show_connections(void)
{
  mcsi_session_info *si = NULL;
  if (mcsi_session_get_info(ini, sid, &si)) return;
  printf("  session %llu  ISID %012llx  TSIH 0x%04x  %s  MaxConnections %u  policy %d\n",
         (unsigned long long)SI(ID), (unsigned long long)SI(ISID), (unsigned)SI(TSIH),
         mcsi_session_info_get_string(si, MCSI_SI_STATE), (unsigned)SI(MAX_CONNECTIONS), (int)SI(LOAD_BALANCE_POLICY));
  for (size_t i = 0; i < mcsi_session_info_connection_count(si) && i < 8; i++) {
    const mcsi_conn_info *c = mcsi_session_info_connection(si, i);
    printf("    connection %-4llu CID %-2u %-10s %-16s local port %-5u %s commands %llu\n", (unsigned long long)CI(ID),
           (unsigned)CI(CID), CIS(STATE), CIS(PORTAL), (unsigned)CI(LOCAL_PORT), CI(LEADING) ? "leading" : "       ",
           (unsigned long long)CI(COMMANDS));
  }
  mcsi_session_info_free(si);
}

/* ---- reads at QD 32 ----------------------------------------------------------- */

static uint8_t bufs[32][4096];
static long done_ios, failed_ios;
static int stop, inflight;

static void submit(intptr_t slot);
static void io_done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  (void)res;
  inflight--;
  done_ios++;
  failed_ios += st != ISDSC_SUCCESS;
  if (!stop) submit((intptr_t)arg);
}

static void submit(intptr_t slot)
{
  if (mcsi_read_async(ini, sid, 2, (uint64_t)(rand() % 100000) * 8, 512, bufs[slot], 4096, MCSI_COMPLETION(io_done, (void *)slot)) == 0)
    inflight++;
}

static pid_t drop_one(void)
{
  mcsi_session_info *si = NULL;
  if (mcsi_session_get_info(ini, sid, &si)) return -1;
  size_t n = mcsi_session_info_connection_count(si);
  const mcsi_conn_info *c = n >= 2 ? mcsi_session_info_connection(si, n - 1) : NULL;
  uint16_t tsih = (uint16_t)SI(TSIH), cid = c ? (uint16_t)CI(CID) : 0;
  unsigned long long id = c ? (unsigned long long)CI(ID) : 0;
  mcsi_session_info_free(si);
  if (n < 2) return -1;
  static char sock[300], sidbuf[16], cidbuf[16];
  snprintf(sock, sizeof sock, "TGT_IPC_SOCKET=%s", env("MCSI_TGT_IPC"));
  snprintf(sidbuf, sizeof sidbuf, "%u", (unsigned)(uint16_t)(tsih >> 8 | tsih << 8));
  snprintf(cidbuf, sizeof cidbuf, "%u", cid);
  static char a[][16] = { "tgtadm", "-C", "0", "--lld", "iscsi", "--op", "delete", "--mode", "conn", "--tid", "1", "--sid", "--cid" };
  char *argv[] = { a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], sidbuf, a[12], cidbuf, NULL };
  static char path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  char *envp[] = { sock, path, NULL };
  printf("  >>> the target drops connection %llu (CID %u) under I/O\n", id, cid);
  pid_t pid = -1;
  posix_spawnp(&pid, "tgtadm", NULL, NULL, argv, envp);
  return pid;
}

static void run_reads(double seconds, int drop_at)
{
  stop = 0;
  done_ios = failed_ios = 0;
  for (intptr_t i = 0; i < 32; i++) submit(i);
  double t0 = now_s(), tick = t0 + 1;
  long last = 0;
  pid_t pid = -1;
  int second = 0;
  while (now_s() - t0 < seconds) {
    mcsi_process(ini, 10);
    if (now_s() >= tick) {
      printf("  second %d: %6ld IOPS  %6.1f MB/s  failed %ld\n", ++second, done_ios - last, (done_ios - last) * 4096 / 1e6, failed_ios);
      last = done_ios;
      tick += 1;
      if (second == drop_at) pid = drop_one();
    }
  }
  stop = 1;
  while (inflight) mcsi_process(ini, 100);
  if (pid > 0) waitpid(pid, NULL, 0);
  printf("  %ld reads of 4 KiB in %.0f s, %ld failed\n", done_ios, seconds, failed_ios);
}

int main(void)
{
  char p1[64], p2[64];
  signal(SIGPIPE, SIG_IGN);
  snprintf(p1, sizeof p1, "127.0.0.1:%s", env("MCSI_TGT_PORT"));
  snprintf(p2, sizeof p2, "127.0.0.2:%s", env("MCSI_TGT_PORT"));
  ini = mcsi_initiator_new(NULL);
  mcsi_set_event_callback(ini, on_event, NULL);
  printf("mcsi demo: initiator %s, target %s at %s\n\n", mcsi_initiator_name(ini), env("MCSI_TGT_IQN_PLAIN"), p1);
  mcsi_login_opts *o = mcsi_login_opts_new();
  mcsi_status st = o ? mcsi_login_opts_set_string(o, MCSI_OPT_PORTAL, p1) : ISDSC_OUT_OF_RESOURCES;
  if (!st) st = mcsi_login_opts_set_string(o, MCSI_OPT_TARGET, env("MCSI_TGT_IQN_PLAIN"));
  if (!st) st = mcsi_login_opts_set_int(o, MCSI_OPT_MAX_CONNECTIONS, 4);
  if (!st) st = mcsi_login_to_target(ini, o, &sid, NULL);
  mcsi_login_opts_free(o);
  if (!show("LoginToTarget", st)) return 1;
  list_luns();
  for (int i = 0; i < 3; i++) {
    const char *portal = i % 2 ? p1 : p2;
    mcsi_conn_opts *co = mcsi_conn_opts_new();
    mcsi_id cid;
    char what[128];
    snprintf(what, sizeof what, "AddConnectionToSession via %s", portal);
    st = co ? mcsi_conn_opts_set_string(co, MCSI_OPT_PORTAL, portal) : ISDSC_OUT_OF_RESOURCES;
    show(what, st ? st : mcsi_add_connection_to_session(ini, sid, co, &cid));
    mcsi_conn_opts_free(co);
  }
  show_connections();
  printf("\nQD 32 random 4 KiB reads on the null LUN, round robin over the connections:\n");
  run_reads(4, 2);
  show_connections();
  mcsi_session_info *si = NULL;
  mcsi_session_get_info(ini, sid, &si);
  mcsi_id first = mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_ID);
  mcsi_id second = mcsi_conn_info_get(mcsi_session_info_connection(si, 1), MCSI_CI_ID);
  mcsi_session_info_free(si);
  show("RemoveConnectionFromSession (leading)", mcsi_remove_connection_from_session(ini, sid, first));
  show("RemoveConnectionFromSession (another)", mcsi_remove_connection_from_session(ini, sid, second));
  show_connections();
  show("LogoutFromTarget", mcsi_logout_from_target(ini, sid));
  mcsi_initiator_free(ini);
  return 0;
}
