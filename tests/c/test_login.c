/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_login.c: login, CHAP, digests, redirects, discovery and bad arguments
 * against the real tgtd and istgt that tests/harness/with-targets started. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mcsi.h"
#include "testlib.h"
#include "testopts.h"

static mcsi_initiator *ini;
static char tgt_portal[64], tgt_portal2[64], istgt_portal[64], istgt_portal2[64];

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static mcsi_login_opts *opts(const char *portal, const char *target)
{
  mcsi_login_opts *o = t_login_opts(portal, target, MCSI_OPT_LOGIN_TIMEOUT_MS, 5000, 0);
  return o;
}

/* Logs in, runs INQUIRY on lun, checks the session info, logs out. */
static void login_cycle(const char *what, const mcsi_login_opts *o, uint64_t lun)
{
  mcsi_id sid = 0, cid = 0;
  mcsi_status st = mcsi_login_to_target(ini, o, &sid, &cid);
  if (!T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "%s: login (%s)", what, mcsi_last_message(ini))) return;
  T_OK(sid && cid && sid != cid, "%s: nonzero distinct ids", what);
  mcsi_inquiry inq = { .struct_size = sizeof inq };
  st = mcsi_scsi_inquiry(ini, sid, lun, -1, &inq);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "%s: INQUIRY (%s)", what, mcsi_last_message(ini));
  T_OK(inq.len >= 36 && inq.vendor[0], "%s: INQUIRY vendor '%s' product '%s'", what, inq.vendor, inq.product);
  mcsi_session_info *si = NULL;
  st = t_get_info(ini, sid, &si);
  T_OK(st == ISDSC_SUCCESS && (unsigned)mcsi_session_info_get(si, MCSI_SI_TSIH) != 0 && (unsigned)mcsi_session_info_get(si, MCSI_SI_CONNECTION_COUNT) == 1, "%s: info: TSIH 0x%04x, %u connection",
       what, (unsigned)mcsi_session_info_get(si, MCSI_SI_TSIH), (unsigned)mcsi_session_info_get(si, MCSI_SI_CONNECTION_COUNT));
  T_EQ_STR(mcsi_session_info_get_string(si, MCSI_SI_STATE), "active", "%s: session state", what);
  T_EQ_INT((unsigned)mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_HEADER_DIGEST), (int)mcsi_login_opts_get_int(o, MCSI_OPT_HEADER_DIGEST), "%s: header digest as asked", what);
  T_EQ_INT(mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_DATA_DIGEST), (int)mcsi_login_opts_get_int(o, MCSI_OPT_DATA_DIGEST), "%s: data digest as asked", what);
  T_EQ_INT(mcsi_session_info_get(si, MCSI_SI_MAX_CONNECTIONS), 4, "%s: MaxConnections negotiated to 4", what);
  T_OK(mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_PDUS_RECEIVED) >= 3 && mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_BYTES_SENT) > 0,
       "%s: statistics count PDUs (%llu in)", what, (unsigned long long)mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_PDUS_RECEIVED));
  st = mcsi_logout_from_target(ini, sid);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "%s: logout (%s)", what, mcsi_last_message(ini));
  T_EQ_INT(t_get_info(ini, sid, &si), ISDSC_INVALID_SESSION_ID, "%s: session gone after logout", what);
}

static void expect_login_fails(const char *what, const mcsi_login_opts *o, mcsi_status want)
{
  mcsi_id sid = 0;
  mcsi_status st = mcsi_login_to_target(ini, o, &sid, NULL);
  T_EQ_STR(mcsi_status_name(st), mcsi_status_name(want), "%s (%s)", what, mcsi_last_message(ini));
  T_EQ_INT(mcsi_session_list(ini, NULL, 0), 0, "%s: no session left behind", what);
}

static void test_plain(void)
{
  mcsi_login_opts *o = opts(tgt_portal, t_env("MCSI_TGT_IQN_PLAIN"));
  login_cycle("tgt plain", o, 1);
  t_login_set_string(o, MCSI_OPT_PORTAL, tgt_portal2);
  login_cycle("tgt plain via 127.0.0.2", o, 1);
  o = opts(istgt_portal, t_env("MCSI_ISTGT_IQN"));
  login_cycle("istgt plain", o, 0);
  t_login_set_string(o, MCSI_OPT_PORTAL, istgt_portal2);
  login_cycle("istgt plain via 127.0.0.2", o, 0);
}

static void test_digests(void)
{
  mcsi_login_opts *o = opts(tgt_portal, t_env("MCSI_TGT_IQN_PLAIN"));
  t_login_set(o, MCSI_OPT_HEADER_DIGEST, MCSI_DIGEST_CRC32C);
  t_login_set(o, MCSI_OPT_DATA_DIGEST, MCSI_DIGEST_CRC32C);
  login_cycle("tgt CRC32C digests", o, 1);
  o = opts(istgt_portal, t_env("MCSI_ISTGT_IQN"));
  t_login_set(o, MCSI_OPT_HEADER_DIGEST, MCSI_DIGEST_CRC32C);
  t_login_set(o, MCSI_OPT_DATA_DIGEST, MCSI_DIGEST_CRC32C);
  login_cycle("istgt CRC32C digests", o, 0);
  t_login_set(o, MCSI_OPT_DATA_DIGEST, MCSI_DIGEST_NONE);
  login_cycle("istgt header digest only", o, 0);
}

static void test_chap(void)
{
  const char *user = t_env("MCSI_CHAP_USER"), *secret = t_env("MCSI_CHAP_SECRET");
  mcsi_login_opts *o = opts(tgt_portal, t_env("MCSI_TGT_IQN_CHAP"));
  t_login_set_string(o, MCSI_OPT_USERNAME, user);
  t_login_set_string(o, MCSI_OPT_SECRET, secret);
  login_cycle("tgt one-way CHAP", o, 1);
  t_login_set_string(o, MCSI_OPT_SECRET, "wrong-secret-0000");
  expect_login_fails("tgt CHAP with a wrong secret", o, ISDSC_AUTHENTICATION_FAILURE);
  t_login_set_string(o, MCSI_OPT_SECRET, NULL);
  t_login_set_string(o, MCSI_OPT_USERNAME, NULL);
  expect_login_fails("tgt CHAP target without a secret", o, ISDSC_AUTHENTICATION_FAILURE);

  o = opts(istgt_portal, t_env("MCSI_ISTGT_IQN_CHAP"));
  t_login_set_string(o, MCSI_OPT_USERNAME, user);
  t_login_set_string(o, MCSI_OPT_SECRET, secret);
  login_cycle("istgt one-way CHAP", o, 0);
  t_login_set_string(o, MCSI_OPT_SECRET, "wrong-secret-0000");
  expect_login_fails("istgt CHAP with a wrong secret", o, ISDSC_AUTHENTICATION_FAILURE);
}

static void test_mutual(void)
{
  const char *portals[2] = { tgt_portal, istgt_portal };
  const char *iqns[2] = { t_env("MCSI_TGT_IQN_MUTUAL"), t_env("MCSI_ISTGT_IQN_MUTUAL") };
  const char *names[2] = { "tgt", "istgt" };
  for (int i = 0; i < 2; i++) {
    char what[64];
    mcsi_login_opts *o = opts(portals[i], iqns[i]);
    t_login_set_string(o, MCSI_OPT_USERNAME, t_env("MCSI_CHAP_USER2"));
    t_login_set_string(o, MCSI_OPT_SECRET, t_env("MCSI_CHAP_SECRET2"));
    t_login_set_string(o, MCSI_OPT_TARGET_USERNAME, t_env("MCSI_CHAP_TARGET_USER"));
    t_login_set_string(o, MCSI_OPT_TARGET_SECRET, t_env("MCSI_CHAP_TARGET_SECRET"));
    snprintf(what, sizeof what, "%s mutual CHAP", names[i]);
    login_cycle(what, o, i == 0 ? 1 : 0);
    t_login_set_string(o, MCSI_OPT_TARGET_SECRET, "not-the-target-secret");
    snprintf(what, sizeof what, "%s mutual CHAP, target answers with another secret", names[i]);
    expect_login_fails(what, o, ISDSC_AUTHENTICATION_FAILURE);
    t_login_set_string(o, MCSI_OPT_TARGET_SECRET, t_env("MCSI_CHAP_TARGET_SECRET"));
    t_login_set_string(o, MCSI_OPT_TARGET_USERNAME, "someone-else");
    snprintf(what, sizeof what, "%s mutual CHAP, target has another name", names[i]);
    expect_login_fails(what, o, ISDSC_AUTHENTICATION_FAILURE);
  }
}

static void test_redirect(void)
{
  mcsi_login_opts *o = opts(tgt_portal, t_env("MCSI_TGT_IQN_REDIRECT"));
  mcsi_id sid;
  mcsi_status st = mcsi_login_to_target(ini, o, &sid, NULL);
  if (T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "temporary redirect followed (%s)", mcsi_last_message(ini))) {
    mcsi_session_info *si = NULL;
    t_get_info(ini, sid, &si);
    const char *dest = t_env("MCSI_TGT_REDIRECT_PORTAL");
    T_EQ_STR(mcsi_conn_info_get_string(mcsi_session_info_connection(si, 0), MCSI_CI_PORTAL), dest, "connection ended at the redirect destination");
    T_EQ_INT(mcsi_logout_from_target(ini, sid), ISDSC_SUCCESS, "logout after redirect");
  }
  t_login_set_string(o, MCSI_OPT_TARGET, t_env("MCSI_TGT_IQN_REDIRECT_PERM"));
  st = mcsi_login_to_target(ini, o, &sid, NULL);
  if (T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "permanent redirect followed (%s)", mcsi_last_message(ini)))
    mcsi_logout_from_target(ini, sid);
  t_login_set_string(o, MCSI_OPT_TARGET, t_env("MCSI_TGT_IQN_REDIRECT"));
  T_EQ_INT(mcsi_login_opts_set_int(o, MCSI_OPT_MAX_REDIRECTS, -1), ISDSC_INVALID_PARAMETER,
           "negative redirect limit refused (when set: the options are checked by key)");
}

static void test_failures(void)
{
  char portal[64];
  mcsi_login_opts *o = opts(tgt_portal, "iqn.2026-11.org.mcsi.test:no-such-target");
  expect_login_fails("tgt unknown target", o, ISDSC_TARGET_NOT_FOUND);
  o = opts(istgt_portal, "iqn.2026-11.org.mcsi.test:no-such-target");
  expect_login_fails("istgt unknown target", o, ISDSC_TARGET_NOT_FOUND);

  snprintf(portal, sizeof portal, "127.0.0.1:%s", t_env("MCSI_FREE_PORT"));
  o = opts(portal, t_env("MCSI_TGT_IQN_PLAIN"));
  double t0 = now_s();
  expect_login_fails("closed port", o, ISDSC_CONNECTION_FAILED);
  T_OK(now_s() - t0 < 1.0, "closed port answered at once (%.3f s)", now_s() - t0);

  o = opts(tgt_portal, t_env("MCSI_TGT_IQN_PLAIN"));
  t_login_set_string(o, MCSI_OPT_PORTAL, "127.0.0.1:0");
  expect_login_fails("port 0", o, ISDSC_INVALID_PORT_NUMBER);
  t_login_set_string(o, MCSI_OPT_PORTAL, "127.0.0.1:70000");
  expect_login_fails("port out of range", o, ISDSC_INVALID_PORT_NUMBER);
  t_login_set_string(o, MCSI_OPT_PORTAL, "no-such-host.invalid:3260");
  expect_login_fails("unresolvable host", o, ISDSC_INVALID_HOST);
  t_login_set_string(o, MCSI_OPT_PORTAL, "");
  expect_login_fails("empty portal", o, ISDSC_NO_PORTAL_SPECIFIED);
  t_login_set_string(o, MCSI_OPT_PORTAL, NULL);
  expect_login_fails("no portal", o, ISDSC_NO_PORTAL_SPECIFIED);
  o = opts(tgt_portal, "Not An IQN");
  expect_login_fails("invalid target name", o, ISDSC_INVALID_ISCSI_NAME);
  o = opts(tgt_portal, NULL);
  expect_login_fails("no target name", o, ISDSC_INVALID_ISCSI_NAME);
  o = opts(tgt_portal, t_env("MCSI_TGT_IQN_PLAIN"));
  T_EQ_INT(mcsi_login_opts_set_int(o, MCSI_OPT_HEADER_DIGEST, 7), ISDSC_INVALID_PARAMETER,
           "bad digest value refused (when set)");
  t_login_set_string(o, MCSI_OPT_TARGET_SECRET, "only-the-target-secret");
  expect_login_fails("mutual CHAP without our own secret", o, ISDSC_INVALID_PARAMETER);
  t_login_set_string(o, MCSI_OPT_TARGET_SECRET, NULL);
  t_login_set(o, MCSI_OPT_NOP_INTERVAL_MS, 5);
  expect_login_fails("NOP interval below 100 ms", o, ISDSC_INVALID_PARAMETER);
  T_EQ_INT(mcsi_login_to_target(ini, NULL, NULL, NULL), ISDSC_INVALID_PARAMETER, "NULL options");
  T_EQ_INT(mcsi_login_to_target(NULL, o, NULL, NULL), ISDSC_INVALID_PARAMETER, "NULL initiator");
  T_EQ_INT(mcsi_logout_from_target(ini, 0x7777), ISDSC_INVALID_SESSION_ID, "logout of an unknown session");
  T_OK(mcsi_initiator_new("Bad Name") == NULL, "invalid initiator name refused");
}

/* A listener whose backlog is full never completes a connect: the login
 * must end with ISDSC_CONNECTION_FAILED after login_timeout_ms. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
static void test_connect_timeout(void)
{
  int l = socket(AF_INET, SOCK_STREAM, 0), fill[8], nfill = 0;
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
  socklen_t al = sizeof a;
  if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 0) || getsockname(l, (struct sockaddr *)&a, &al)) {
    T_OK(0, "listener for the connect timeout test");
    return;
  }
  for (int i = 0; i < 8; i++) {   /* fill the accept queue: later SYNs are dropped */
    fill[nfill] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fill[nfill++], (struct sockaddr *)&a, sizeof a);
  }
  usleep(100000);
  char portal[64];
  snprintf(portal, sizeof portal, "127.0.0.1:%u", ntohs(a.sin_port));
  mcsi_login_opts *o = opts(portal, t_env("MCSI_TGT_IQN_PLAIN"));
  t_login_set(o, MCSI_OPT_LOGIN_TIMEOUT_MS, 700);
  double t0 = now_s();
  mcsi_status st = mcsi_login_to_target(ini, o, NULL, NULL);
  double dt = now_s() - t0;
  T_OK(st == ISDSC_CONNECTION_FAILED || st == ISDSC_LOGIN_FAILED, "unanswered portal fails (%s: %s)",
       mcsi_status_name(st), mcsi_last_message(ini));
  T_OK(dt >= 0.6 && dt < 1.5, "gave up after the 700 ms login timeout (%.3f s)", dt);
  for (int i = 0; i < nfill; i++) close(fill[i]);
  close(l);
}

static void test_discovery(void)
{
  mcsi_login_opts *o = opts(tgt_portal, NULL);
  mcsi_target_list *list = NULL;
  mcsi_status st = mcsi_send_targets(ini, o, &list);
  if (T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "tgt SendTargets (%s)", mcsi_last_message(ini))) {
    int found = 0;
    for (size_t i = 0; i < list->count; i++)
      if (!strcmp(list->targets[i].name, t_env("MCSI_TGT_IQN_PLAIN")) && list->targets[i].naddr) found = 1;
    T_OK(list->count >= 3 && found, "tgt lists %zu targets with addresses, the plain one among them", list->count);
  }
  mcsi_target_list_free(list);
  list = NULL;
  t_login_set_string(o, MCSI_OPT_PORTAL, istgt_portal);
  st = mcsi_send_targets(ini, o, &list);
  if (T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "istgt SendTargets (%s)", mcsi_last_message(ini))) {
    int found = 0;
    for (size_t i = 0; i < list->count; i++)
      if (!strcmp(list->targets[i].name, t_env("MCSI_ISTGT_IQN"))) found = 1;
    T_OK(found, "istgt lists disk1 among %zu targets", list->count);
  }
  mcsi_target_list_free(list);
  T_EQ_INT(mcsi_session_list(ini, NULL, 0), 0, "discovery session logged out");
}

int main(void)
{
  snprintf(tgt_portal, sizeof tgt_portal, "127.0.0.1:%s", t_env("MCSI_TGT_PORT"));
  snprintf(tgt_portal2, sizeof tgt_portal2, "127.0.0.2:%s", t_env("MCSI_TGT_PORT"));
  snprintf(istgt_portal, sizeof istgt_portal, "127.0.0.1:%s", t_env("MCSI_ISTGT_PORT"));
  snprintf(istgt_portal2, sizeof istgt_portal2, "127.0.0.2:%s", t_env("MCSI_ISTGT_PORT"));
  ini = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:initiator");
  test_plain();
  test_digests();
  test_chap();
  test_mutual();
  test_redirect();
  test_failures();
  test_connect_timeout();
  test_discovery();
  mcsi_initiator_free(ini);
  return t_done();
}
