/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_info.c: mcsi_session_get_info tells each field as it is, checked
 * against what the test knows without it: the portal and target it logged in
 * to, the TCP connection in /proc/net/tcp, the commands it sent. The session
 * layer fills the session's and the connections' part (session_info.c), the
 * transport's through its accessors; MC/S adds the paths'. Against the real
 * tgtd that tests/harness/with-targets started. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mcsi.h"
#include "testlib.h"
#include "testopts.h"

static mcsi_initiator *ini;
static char portal[64];
static const char *iqn;

/* 1 if /proc/net/tcp holds an established connection from 127.0.0.1:lport
 * to 127.0.0.1:rport. */
static int tcp_established(unsigned lport, unsigned rport)
{
  FILE *f = fopen("/proc/net/tcp", "r");
  char line[512];
  int found = 0;
  if (!f) return 0;
  while (!found && fgets(line, sizeof line, f)) {
    unsigned sl, la, lp, ra, rp, st;
    if (sscanf(line, " %u: %x:%x %x:%x %x", &sl, &la, &lp, &ra, &rp, &st) != 6) continue;
    found = la == 0x0100007F && ra == 0x0100007F && lp == lport && rp == rport && st == 0x01;
  }
  fclose(f);
  return found;
}

static void commands(mcsi_id sid, int n)
{
  for (int i = 0; i < n; i++) {
    mcsi_inquiry inq = { .struct_size = sizeof inq };
    T_EQ_STR(mcsi_status_name(mcsi_scsi_inquiry(ini, sid, 0, -1, &inq)), "ISDSC_SUCCESS", "INQUIRY %d (%s)", i + 1,
             mcsi_last_message(ini));
  }
}

static void test_session(mcsi_id sid, const mcsi_session_info *si)
{
  T_EQ_U64(mcsi_session_info_get(si, MCSI_SI_ID), sid, "session: its id");
  T_EQ_STR(mcsi_session_info_get_string(si, MCSI_SI_TARGET), iqn, "session: the target logged in to");
  T_OK(T_SI(si, ISID) != 0 && T_SI(si, ISID) < (1ull << 48), "session: an ISID (48 bits)");
  T_OK((unsigned)mcsi_session_info_get(si, MCSI_SI_TSIH) != 0, "session: the target's TSIH (0x%04x)", (unsigned)mcsi_session_info_get(si, MCSI_SI_TSIH));
  T_EQ_STR(mcsi_session_info_get_string(si, MCSI_SI_STATE), "active", "session: state");
  T_EQ_INT((unsigned)mcsi_session_info_get(si, MCSI_SI_DISCOVERY), 0, "session: not a discovery session");
  T_EQ_INT((unsigned)mcsi_session_info_get(si, MCSI_SI_RECOVERIES), 0, "session: no reinstatement");
  T_EQ_U64(mcsi_session_info_get(si, MCSI_SI_COMMANDS_RETRIED), 0, "session: nothing retried");
  T_EQ_INT(mcsi_session_info_get(si, MCSI_SI_MAX_CONNECTIONS), 4, "session: MaxConnections as negotiated");
  T_OK(mcsi_session_info_get(si, MCSI_SI_MAX_BURST_LENGTH) > 0 && mcsi_session_info_get(si, MCSI_SI_FIRST_BURST_LENGTH) > 0 && mcsi_session_info_get(si, MCSI_SI_FIRST_BURST_LENGTH) <= mcsi_session_info_get(si, MCSI_SI_MAX_BURST_LENGTH),
       "session: FirstBurstLength %u <= MaxBurstLength %u", (unsigned)mcsi_session_info_get(si, MCSI_SI_FIRST_BURST_LENGTH), (unsigned)mcsi_session_info_get(si, MCSI_SI_MAX_BURST_LENGTH));
  T_OK((unsigned)mcsi_session_info_get(si, MCSI_SI_MAX_OUTSTANDING_R2T) >= 1, "session: MaxOutstandingR2T %u", (unsigned)mcsi_session_info_get(si, MCSI_SI_MAX_OUTSTANDING_R2T));
  T_EQ_INT((unsigned)mcsi_session_info_get(si, MCSI_SI_ERROR_RECOVERY_LEVEL), 0, "session: ErrorRecoveryLevel 0");
  T_EQ_U64((unsigned)mcsi_session_info_get(si, MCSI_SI_EXP_CMDSN), (unsigned)mcsi_session_info_get(si, MCSI_SI_CMDSN), "session: every command answered (ExpCmdSN %u = next CmdSN %u)", (unsigned)mcsi_session_info_get(si, MCSI_SI_EXP_CMDSN),
           (unsigned)mcsi_session_info_get(si, MCSI_SI_CMDSN));
  T_OK((int32_t)((unsigned)mcsi_session_info_get(si, MCSI_SI_MAX_CMDSN) - (unsigned)mcsi_session_info_get(si, MCSI_SI_EXP_CMDSN)) >= 0, "session: the window is open (MaxCmdSN %u)", (unsigned)mcsi_session_info_get(si, MCSI_SI_MAX_CMDSN));
  T_EQ_INT((unsigned)mcsi_session_info_get(si, MCSI_SI_CONNECTION_COUNT), 1, "session: one connection");
}

static void test_connection(mcsi_id cid, const mcsi_conn_info *ci)
{
  unsigned tgt_port = (unsigned)atoi(t_env("MCSI_TGT_PORT"));
  T_EQ_U64(mcsi_conn_info_get(ci, MCSI_CI_ID), cid, "connection: its id");
  T_EQ_STR(mcsi_conn_info_get_string(ci, MCSI_CI_STATE), "active", "connection: state");
  T_EQ_INT(mcsi_conn_info_get(ci, MCSI_CI_LEADING), 1, "connection: the leading one");
  T_EQ_STR(mcsi_conn_info_get_string(ci, MCSI_CI_PORTAL), portal, "connection: the portal asked for");
  T_EQ_STR(mcsi_conn_info_get_string(ci, MCSI_CI_REMOTE_ADDR), "127.0.0.1", "connection: the target's address");
  T_EQ_INT(mcsi_conn_info_get(ci, MCSI_CI_REMOTE_PORT), tgt_port, "connection: the target's port");
  T_EQ_STR(mcsi_conn_info_get_string(ci, MCSI_CI_LOCAL_ADDR), "127.0.0.1", "connection: our address");
  T_OK(tcp_established((unsigned)mcsi_conn_info_get(ci, MCSI_CI_LOCAL_PORT), (unsigned)mcsi_conn_info_get(ci, MCSI_CI_REMOTE_PORT)), "connection: /proc/net/tcp has 127.0.0.1:%u -> :%u",
       (unsigned)mcsi_conn_info_get(ci, MCSI_CI_LOCAL_PORT), (unsigned)mcsi_conn_info_get(ci, MCSI_CI_REMOTE_PORT));
  T_EQ_INT((unsigned)mcsi_conn_info_get(ci, MCSI_CI_HEADER_DIGEST), MCSI_DIGEST_NONE, "connection: no header digest");
  T_EQ_INT((unsigned)mcsi_conn_info_get(ci, MCSI_CI_DATA_DIGEST), MCSI_DIGEST_NONE, "connection: no data digest");
  T_OK((unsigned)mcsi_conn_info_get(ci, MCSI_CI_MAX_RECV_DSL) > 0 && (unsigned)mcsi_conn_info_get(ci, MCSI_CI_MAX_SEND_DSL) > 0, "connection: data segment limits (%u in, %u out)",
       (unsigned)mcsi_conn_info_get(ci, MCSI_CI_MAX_RECV_DSL), (unsigned)mcsi_conn_info_get(ci, MCSI_CI_MAX_SEND_DSL));
  T_EQ_INT((unsigned)mcsi_conn_info_get(ci, MCSI_CI_QUEUE_DEPTH), 0, "connection: nothing outstanding");
  T_EQ_U64((unsigned)mcsi_conn_info_get(ci, MCSI_CI_DIGEST_ERRORS) + (unsigned)mcsi_conn_info_get(ci, MCSI_CI_TIMEOUT_ERRORS) +
           mcsi_conn_info_get(ci, MCSI_CI_FORMAT_ERRORS), 0, "connection: no errors");
}

/* What 5 more commands change: the transport's counters and the session's. */
static void test_counters(mcsi_id sid, const mcsi_session_info *a)
{
  mcsi_session_info *b = NULL;
  commands(sid, 5);
  T_EQ_STR(mcsi_status_name(t_get_info(ini, sid, &b)), "ISDSC_SUCCESS", "info again");
  if (!T_OK(b != NULL, "a second snapshot")) return;
#define D(K) (T_CI(b, 0, K) - T_CI(a, 0, K))
  T_EQ_U64(T_SI(b, CMDSN) - T_SI(a, CMDSN), 5, "CmdSN moved by the 5 commands");
  T_EQ_U64(D(COMMANDS), 5, "the connection carried the 5 commands");
  T_OK(D(PDUS_SENT) >= 5 && D(PDUS_RECEIVED) >= 5, "the transport counted their PDUs (%llu out, %llu in)",
       (unsigned long long)D(PDUS_SENT), (unsigned long long)D(PDUS_RECEIVED));
  T_OK(D(BYTES_SENT) >= 5 * 48 && D(BYTES_RECEIVED) >= 5 * 48,
       "the transport counted their bytes (at least a header each way)");
#undef D
  T_EQ_INT(T_CI(b, 0, LOCAL_PORT), T_CI(a, 0, LOCAL_PORT), "the same TCP connection");
}

int main(void)
{
  snprintf(portal, sizeof portal, "127.0.0.1:%s", t_env("MCSI_TGT_PORT"));
  iqn = t_env("MCSI_TGT_IQN_PLAIN");
  ini = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:initiator");
  mcsi_login_opts *o = t_login_opts(portal, iqn, MCSI_OPT_LOGIN_TIMEOUT_MS, 5000, 0);
  mcsi_id sid = 0, cid = 0;
  mcsi_session_info *si = NULL;
  if (T_EQ_STR(mcsi_status_name(mcsi_login_to_target(ini, o, &sid, &cid)), "ISDSC_SUCCESS", "login (%s)",
               mcsi_last_message(ini))) {
    commands(sid, 3);
    T_EQ_STR(mcsi_status_name(t_get_info(ini, sid, &si)), "ISDSC_SUCCESS", "info (%s)", mcsi_last_message(ini));
    mcsi_id listed = 0;
    T_OK(mcsi_session_list(ini, &listed, 1) == 1 && listed == sid, "the session is listed by its id");
    test_session(sid, si);
    test_connection(cid, mcsi_session_info_connection(si, 0));
    test_counters(sid, si);
    T_EQ_STR(mcsi_status_name(mcsi_logout_from_target(ini, sid)), "ISDSC_SUCCESS", "logout");
    T_EQ_INT(t_get_info(ini, sid, &si), ISDSC_INVALID_SESSION_ID, "no info after logout");
  }
  mcsi_initiator_free(ini);
  return t_done();
}
