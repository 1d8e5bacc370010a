/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_keepalive.c: NOP-Out keep-alive, target NOP-Ins answered, a target
 * that goes silent detected within interval + timeout, and events. Against
 * the real tgtd (tgtadm changes the target's behaviour under the session). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "mcsi.h"
#include "testlib.h"
#include "testopts.h"

static mcsi_initiator *ini;
static int events[16];
static mcsi_status last_fail;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_event(mcsi_initiator *i, const mcsi_event *ev, void *arg)
{
  (void)i; (void)arg;
  if (ev->kind < 16) events[ev->kind]++;
  if (ev->kind == MCSI_EV_CONN_FAILED) last_fail = ev->status;
}

static void idle(double seconds)
{
  double end = now_s() + seconds;
  while (now_s() < end) mcsi_process(ini, 50);
}

static int tgtadm(const char *args)
{
  char cmd[512];
  snprintf(cmd, sizeof cmd, "TGT_IPC_SOCKET=%s tgtadm -C 0 --lld iscsi %s >/dev/null 2>&1", t_env("MCSI_TGT_IPC"), args);
  return system(cmd);
}

static mcsi_id login(int interval, int timeout)
{
  char portal[64];
  snprintf(portal, sizeof portal, "127.0.0.1:%s", t_env("MCSI_TGT_PORT"));
  mcsi_login_opts *o = t_login_opts(portal, t_env("MCSI_TGT_IQN_PLAIN"), MCSI_OPT_NOP_INTERVAL_MS, interval, MCSI_OPT_NOP_TIMEOUT_MS, timeout, MCSI_OPT_RECOVERY_TIMEOUT_MS, -1, 0);
  mcsi_id sid = 0;
  mcsi_status st = mcsi_login_to_target(ini, o, &sid, NULL);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "login (%s)", mcsi_last_message(ini));
  return sid;
}

static void nops_keep_an_idle_session(void)
{
  mcsi_id sid = login(100, 500);
  mcsi_session_info *a = NULL, *b = NULL;
  t_get_info(ini, sid, &a);
  idle(1.0);
  t_get_info(ini, sid, &b);
  uint64_t sent = mcsi_conn_info_get(mcsi_session_info_connection(b, 0), MCSI_CI_PDUS_SENT) - mcsi_conn_info_get(mcsi_session_info_connection(a, 0), MCSI_CI_PDUS_SENT);
  uint64_t got = mcsi_conn_info_get(mcsi_session_info_connection(b, 0), MCSI_CI_PDUS_RECEIVED) - mcsi_conn_info_get(mcsi_session_info_connection(a, 0), MCSI_CI_PDUS_RECEIVED);
  T_OK(sent >= 5 && sent <= 12, "idle 1 s with a 100 ms NOP interval: %llu NOP-Outs sent", (unsigned long long)sent);
  T_OK(got + 1 >= sent && got <= sent, "every NOP-Out answered by a NOP-In (%llu of %llu; one may be in flight)",
       (unsigned long long)got, (unsigned long long)sent);
  T_EQ_STR(mcsi_session_info_get_string(b, MCSI_SI_STATE), "active", "session still active");
  T_EQ_INT(mcsi_logout_from_target(ini, sid), ISDSC_SUCCESS, "logout");
}

static void target_nops_answered(void)
{
  T_EQ_INT(tgtadm("--op update --mode target --tid 1 --name nop_interval --value 1"), 0, "tgt sends NOP-Ins every second");
  tgtadm("--op update --mode target --tid 1 --name nop_count --value 2");
  mcsi_id sid = login(-1, 0);    /* our own keep-alive off: only the target pings */
  idle(3.5);
  mcsi_session_info *si = NULL;
  t_get_info(ini, sid, &si);
  T_OK(mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_PDUS_RECEIVED) >= 3, "received the target's NOP-Ins (%llu PDUs)",
       (unsigned long long)mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_PDUS_RECEIVED));
  T_EQ_STR(mcsi_session_info_get_string(si, MCSI_SI_STATE), "active", "answered them: tgt kept the session past nop_count intervals");
  uint8_t b[512];
  T_EQ_INT(mcsi_read(ini, sid, 1, 0, b, sizeof b), ISDSC_SUCCESS, "I/O still works");
  mcsi_logout_from_target(ini, sid);
  tgtadm("--op update --mode target --tid 1 --name nop_interval --value 0");
}

static int nft(const char *rules)
{
  char cmd[512];
  snprintf(cmd, sizeof cmd, "nft -f - >/dev/null 2>&1 <<'EOF'\n%s\nEOF", rules);
  return system(cmd);
}

/* Silent path loss: nftables drops every packet of the session's TCP
 * connection; only the NOP timeout can notice. */
static void silent_path_detected(void)
{
  memset(events, 0, sizeof events);
  mcsi_id sid = login(200, 300);
  uint8_t b[512];
  T_EQ_INT(mcsi_read(ini, sid, 1, 0, b, sizeof b), ISDSC_SUCCESS, "I/O before the path goes silent");
  mcsi_session_info *si = NULL;
  t_get_info(ini, sid, &si);
  char rules[400];
  snprintf(rules, sizeof rules, "table inet mcsi_test_%d {\n chain in { type filter hook input priority -10;"
           " tcp sport %u drop; tcp dport %u drop; }\n}", (int)getpid(), (unsigned)mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_LOCAL_PORT),
           (unsigned)mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_LOCAL_PORT));
  T_EQ_INT(nft(rules), 0, "nftables drops the connection's packets (local port %u)", (unsigned)mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_LOCAL_PORT));
  double t0 = now_s();
  do {
    mcsi_process(ini, 20);
    t_get_info(ini, sid, &si);
  } while (strcmp(mcsi_session_info_get_string(si, MCSI_SI_STATE), "failed") && now_s() - t0 < 5);
  double dt = now_s() - t0;
  snprintf(rules, sizeof rules, "delete table inet mcsi_test_%d", (int)getpid());
  T_EQ_INT(nft(rules), 0, "nftables rules removed");
  T_EQ_STR(mcsi_session_info_get_string(si, MCSI_SI_STATE), "failed", "silent path: session failed");
  T_OK(dt <= 0.2 + 0.3 + 0.3, "detected within interval + timeout, plus scheduling slack (%.3f s <= 0.8 s)", dt);
  T_EQ_STR(mcsi_status_name(last_fail), "ISDSC_CONNECTION_FAILED", "connection-failed event carries the status");
  T_OK(events[MCSI_EV_CONN_FAILED] == 1 && events[MCSI_EV_SESSION_FAILED] == 1, "one conn-failed and one session-failed event");
  mcsi_logout_from_target(ini, sid);
}

/* A target that takes commands and never answers them (tgt offline):
 * the command ends with ISDSC_SERVICE_DID_NOT_RESPOND after its timeout. */
static void command_timeout(void)
{
  char portal[64];
  snprintf(portal, sizeof portal, "127.0.0.1:%s", t_env("MCSI_TGT_PORT"));
  mcsi_login_opts *o = t_login_opts(portal, t_env("MCSI_TGT_IQN_PLAIN"), MCSI_OPT_COMMAND_TIMEOUT_MS, 800, MCSI_OPT_RECOVERY_TIMEOUT_MS, -1, 0);
  mcsi_id sid = 0;
  T_EQ_INT(mcsi_login_to_target(ini, o, &sid, NULL), ISDSC_SUCCESS, "login");
  uint8_t b[512];
  T_EQ_INT(mcsi_read(ini, sid, 1, 0, b, sizeof b), ISDSC_SUCCESS, "I/O before the target goes offline");
  T_EQ_INT(tgtadm("--op update --mode target --tid 1 --name state --value offline"), 0, "target set offline");
  double t0 = now_s();
  mcsi_status st = mcsi_read(ini, sid, 1, 0, b, sizeof b);
  double dt = now_s() - t0;
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SERVICE_DID_NOT_RESPOND", "unanswered command (%s)", mcsi_last_message(ini));
  T_OK(dt >= 0.75 && dt < 1.5, "after the 800 ms command timeout (%.3f s)", dt);
  mcsi_logout_from_target(ini, sid);
  tgtadm("--op update --mode target --tid 1 --name state --value ready");
}

/* ABORT TASK against tgt: offline, it takes commands and never answers them,
 * but it answers task management. */
static int ab_calls;
static mcsi_status ab_st;
static void ab_cb(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  (void)res; (void)arg;
  ab_calls++;
  ab_st = st;
}

static void abort_task(void)
{
  mcsi_id sid = login(1000, 1000);
  if (!sid) return;
  T_EQ_INT(mcsi_scsi_test_unit_ready(ini, sid, 1), ISDSC_SUCCESS, "abort: ready");
  T_EQ_INT(tgtadm("--op update --mode target --tid 1 --name state --value offline"), 0, "abort: target set offline");
  static uint8_t buf[4096];
  uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0 };
  uint64_t tag = 0;
  T_EQ_INT(mcsi_scsi_submit_tagged(ini, sid, 1, cdb, sizeof cdb, MCSI_DIR_READ, buf, sizeof buf, MCSI_COMPLETION(ab_cb, NULL), &tag),
           ISDSC_SUCCESS, "abort: READ submitted");
  idle(0.1);
  T_EQ_INT(ab_calls, 0, "abort: unanswered so far");
  mcsi_status st = mcsi_abort_task(ini, sid, tag);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "abort: tgt confirmed ABORT TASK (%s)", mcsi_last_message(ini));
  T_OK(ab_calls == 1 && ab_st == ISDSC_SCSI_REQUEST_FAILED, "abort: the READ ended once, aborted");
  tgtadm("--op update --mode target --tid 1 --name state --value ready");
  mcsi_session_info *si = NULL;
  t_get_info(ini, sid, &si);
  T_EQ_STR(mcsi_session_info_get_string(si, MCSI_SI_STATE), "active", "abort: the session goes on");
  mcsi_logout_from_target(ini, sid);
}

int main(void)
{
  ini = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:keepalive");
  mcsi_set_event_callback(ini, on_event, NULL);
  nops_keep_an_idle_session();
  T_OK(events[MCSI_EV_SESSION_ACTIVE] == 1 && events[MCSI_EV_CONN_ACTIVE] == 1 && events[MCSI_EV_SESSION_LOGGED_OUT] == 1,
       "events: session-active, conn-active, session-logged-out");
  target_nops_answered();
  silent_path_detected();
  command_timeout();
  abort_task();
  mcsi_initiator_free(ini);
  return t_done();
}
