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
    mcsi_inquiry inq;
    T_EQ_STR(mcsi_status_name(mcsi_scsi_inquiry(ini, sid, 0, -1, &inq)), "ISDSC_SUCCESS", "INQUIRY %d (%s)", i + 1,
             mcsi_last_message(ini));
  }
}

static void test_session(mcsi_id sid, const mcsi_session_info *si)
{
  T_EQ_U64(si->id, sid, "session: its id");
  T_EQ_STR(si->target, iqn, "session: the target logged in to");
  static const uint8_t zero[6];
  T_OK(memcmp(si->isid, zero, 6) != 0, "session: an ISID");
  T_OK(si->tsih != 0, "session: the target's TSIH (0x%04x)", si->tsih);
  T_EQ_STR(si->state, "active", "session: state");
  T_EQ_INT(si->discovery, 0, "session: not a discovery session");
  T_EQ_INT(si->recoveries, 0, "session: no reinstatement");
  T_EQ_U64(si->commands_retried, 0, "session: nothing retried");
  T_EQ_INT(si->max_connections, 4, "session: MaxConnections as negotiated");
  T_OK(si->max_burst_length > 0 && si->first_burst_length > 0 && si->first_burst_length <= si->max_burst_length,
       "session: FirstBurstLength %u <= MaxBurstLength %u", si->first_burst_length, si->max_burst_length);
  T_OK(si->max_outstanding_r2t >= 1, "session: MaxOutstandingR2T %u", si->max_outstanding_r2t);
  T_EQ_INT(si->error_recovery_level, 0, "session: ErrorRecoveryLevel 0");
  T_EQ_U64(si->exp_cmdsn, si->cmdsn, "session: every command answered (ExpCmdSN %u = next CmdSN %u)", si->exp_cmdsn,
           si->cmdsn);
  T_OK((int32_t)(si->max_cmdsn - si->exp_cmdsn) >= 0, "session: the window is open (MaxCmdSN %u)", si->max_cmdsn);
  T_EQ_INT(si->connection_count, 1, "session: one connection");
}

static void test_connection(mcsi_id cid, const mcsi_conn_info *ci)
{
  unsigned tgt_port = (unsigned)atoi(t_env("MCSI_TGT_PORT"));
  T_EQ_U64(ci->id, cid, "connection: its id");
  T_EQ_STR(ci->state, "active", "connection: state");
  T_EQ_INT(ci->leading, 1, "connection: the leading one");
  T_EQ_STR(ci->portal, portal, "connection: the portal asked for");
  T_EQ_STR(ci->remote_addr, "127.0.0.1", "connection: the target's address");
  T_EQ_INT(ci->remote_port, tgt_port, "connection: the target's port");
  T_EQ_STR(ci->local_addr, "127.0.0.1", "connection: our address");
  T_OK(tcp_established(ci->local_port, ci->remote_port), "connection: /proc/net/tcp has 127.0.0.1:%u -> :%u",
       ci->local_port, ci->remote_port);
  T_EQ_INT(ci->header_digest, MCSI_DIGEST_NONE, "connection: no header digest");
  T_EQ_INT(ci->data_digest, MCSI_DIGEST_NONE, "connection: no data digest");
  T_OK(ci->max_recv_dsl > 0 && ci->max_send_dsl > 0, "connection: data segment limits (%u in, %u out)",
       ci->max_recv_dsl, ci->max_send_dsl);
  T_EQ_INT(ci->queue_depth, 0, "connection: nothing outstanding");
  T_EQ_U64(ci->stats.digest_errors + ci->stats.timeout_errors + ci->stats.format_errors, 0, "connection: no errors");
}

/* What 5 more commands change: the transport's counters and the session's. */
static void test_counters(mcsi_id sid, const mcsi_session_info *a)
{
  mcsi_session_info *b = calloc(1, sizeof *b);
  if (!T_OK(b != NULL, "memory")) return;
  commands(sid, 5);
  T_EQ_STR(mcsi_status_name(mcsi_session_get_info(ini, sid, b)), "ISDSC_SUCCESS", "info again");
  const mcsi_conn_stats *x = &a->connections[0].stats, *y = &b->connections[0].stats;
  T_EQ_U64(b->cmdsn - a->cmdsn, 5, "CmdSN moved by the 5 commands");
  T_EQ_U64(y->commands - x->commands, 5, "the connection carried the 5 commands");
  T_OK(y->pdus_sent - x->pdus_sent >= 5 && y->pdus_received - x->pdus_received >= 5,
       "the transport counted their PDUs (%llu out, %llu in)", (unsigned long long)(y->pdus_sent - x->pdus_sent),
       (unsigned long long)(y->pdus_received - x->pdus_received));
  T_OK(y->bytes_sent - x->bytes_sent >= 5 * 48 && y->bytes_received - x->bytes_received >= 5 * 48,
       "the transport counted their bytes (at least a header each way)");
  T_EQ_INT(b->connections[0].local_port, a->connections[0].local_port, "the same TCP connection");
  free(b);
}

int main(void)
{
  snprintf(portal, sizeof portal, "127.0.0.1:%s", t_env("MCSI_TGT_PORT"));
  iqn = t_env("MCSI_TGT_IQN_PLAIN");
  ini = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:initiator");
  mcsi_login_opts *o = t_login_opts(portal, iqn, MCSI_OPT_LOGIN_TIMEOUT_MS, 5000, 0);
  mcsi_id sid = 0, cid = 0;
  mcsi_session_info *si = calloc(1, sizeof *si);
  if (T_EQ_STR(mcsi_status_name(mcsi_login_to_target(ini, o, &sid, &cid)), "ISDSC_SUCCESS", "login (%s)",
               mcsi_last_message(ini)) && si) {
    commands(sid, 3);
    T_EQ_STR(mcsi_status_name(mcsi_session_get_info(ini, sid, si)), "ISDSC_SUCCESS", "info (%s)", mcsi_last_message(ini));
    mcsi_id listed = 0;
    T_OK(mcsi_session_list(ini, &listed, 1) == 1 && listed == sid, "the session is listed by its id");
    test_session(sid, si);
    test_connection(cid, &si->connections[0]);
    test_counters(sid, si);
    T_EQ_STR(mcsi_status_name(mcsi_logout_from_target(ini, sid)), "ISDSC_SUCCESS", "logout");
    T_EQ_INT(mcsi_session_get_info(ini, sid, si), ISDSC_INVALID_SESSION_ID, "no info after logout");
  }
  free(si);
  mcsi_initiator_free(ini);
  return t_done();
}
