/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz_conn.c: libFuzzer harness for a whole initiator driven by a hostile
 * target.  The input is
 *
 *   byte 0  what to do (FZ_DO_*), in the fixed order of run_workload
 *   byte 1  login options (FZ_OPT_*)
 *   rest    the peer's script (fuzz_peer.h): one record per PDU we send
 *
 * The harness logs in through the public API (core/mcsi.h) to a fuzz_peer
 * on loopback, then does full-feature work, MC/S add and drained removal
 * with commands in flight, discovery and logout, and frees everything.
 * Waits have no deadline of their own: the peer shuts every connection
 * when its script ends (or after FP_DEADLINE_MS), so a correct initiator
 * finishes every operation within its short timeouts, and a run that
 * does not end is a hang libFuzzer's -timeout reports.
 *
 * API contract checks (abort, so the fuzzer reports them): a command's
 * callback runs exactly once, never with more data than its buffer, and
 * every one runs before mcsi_initiator_free returns. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_peer.h"
#include "mcsi.h"

enum {
  FZ_DO_SCSI_SYNC = 0x01,   /* INQUIRY, READ CAPACITY, REPORT LUNS, TEST UNIT READY */
  FZ_DO_ASYNC = 0x02,       /* a batch of mcsi_scsi_submit */
  FZ_DO_MCS_DRAIN = 0x04,   /* add a connection, submit, remove it while commands are in flight */
  FZ_DO_ABORT = 0x08,       /* ABORT TASK of a submitted READ, LUN RESET */
  FZ_DO_DISCOVERY = 0x10,   /* SendTargets through a discovery session */
  FZ_DO_RW_SYNC = 0x20,     /* mcsi_write, mcsi_read */
  FZ_DO_LOGOUT = 0x40,      /* log out at the end (else free the initiator with the session up) */
  FZ_DO_MCS_SYNC = 0x80     /* add a connection, remove it (blocking) */
};

enum {
  FZ_OPT_NOP = 0x01,        /* keep-alive every 100 ms */
  FZ_OPT_RECOVERY = 0x02,   /* session reinstatement for 200 ms */
  FZ_OPT_SMALL_BURST = 0x04,/* FirstBurstLength 512: writes need R2Ts */
  FZ_OPT_INITIAL_R2T = 0x08,
  FZ_OPT_NO_IMMEDIATE = 0x10,
  FZ_OPT_TWO_CONNS = 0x20,  /* MaxConnections 2 offered */
  FZ_OPT_CHAP = 0x40,
  FZ_OPT_MUTUAL = 0x80
};

#define FZ_CMDS 16

/* FUZZ_CONN_TRACE=1: each step's Status and each event on stderr (seeds, debugging). */
static int fz_tracing;

static mcsi_status fz_trace(const char *step, mcsi_status st)
{
  if (fz_tracing) fprintf(stderr, "fuzz_conn: %-18s %s\n", step, mcsi_status_name(st));
  return st;
}

static void fz_event(mcsi_initiator *ini, const mcsi_event *ev, void *arg)
{
  (void)ini;
  (void)arg;
  if (fz_tracing) fprintf(stderr, "fuzz_conn:   event %s %s (%s)\n", mcsi_event_name(ev->kind),
                          ev->status ? mcsi_status_name(ev->status) : "", ev->reason ? ev->reason : "");
}
#define FZ_BUF 4096

typedef struct fz_cmd {
  int submitted, calls;
  size_t len;
  uint8_t buf[FZ_BUF];
} fz_cmd;

typedef struct fz_run {
  mcsi_initiator *ini;
  mcsi_id sid;
  int done;                 /* callbacks run */
  int submitted;
  int removed, remove_calls;
  fz_cmd cmd[FZ_CMDS];
} fz_run;

static void fz_check(int ok, const char *what)
{
  if (ok) return;
  fprintf(stderr, "fuzz_conn: API contract broken: %s\n", what);
  abort();
}

static void fz_cmd_done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  fz_cmd *c = arg;
  fz_trace("command callback", st);
  fz_check(c->submitted, "callback for a command never submitted");
  fz_check(++c->calls == 1, "a command's callback ran twice");
  fz_check(!res || res->data_in <= c->len, "more Data-In bytes reported than the buffer holds");
}

static void fz_wait(fz_run *run, int *counter, int target)
{
  while (*counter < target) mcsi_process(run->ini, 50);
}

static int fz_count_done(fz_run *run)
{
  int n = 0;
  for (int i = 0; i < FZ_CMDS; i++) n += run->cmd[i].calls;
  return n;
}

/* Runs the loop until every submitted command called back. */
static void fz_drain(fz_run *run)
{
  while (fz_count_done(run) < run->submitted) mcsi_process(run->ini, 50);
}

static fz_cmd *fz_slot(fz_run *run)
{
  for (int i = 0; i < FZ_CMDS; i++)
    if (!run->cmd[i].submitted) return &run->cmd[i];
  return NULL;
}

/* Submits one CDB; returns the slot or NULL. tag may be NULL. */
static fz_cmd *fz_submit(fz_run *run, const uint8_t *cdb, size_t cdb_len, int dir, size_t len, uint64_t *tag)
{
  fz_cmd *c = fz_slot(run);
  if (!c) return NULL;
  c->len = len;
  for (size_t i = 0; i < len; i++) c->buf[i] = (uint8_t)(i * 13);
  c->submitted = 1;
  mcsi_status st = mcsi_scsi_submit_tagged(run->ini, run->sid, 0, cdb, cdb_len, dir, c->buf, len, MCSI_COMPLETION(fz_cmd_done, c), tag);
  if (st) { c->submitted = 0; return NULL; }
  run->submitted++;
  return c;
}

static void fz_submit_batch(fz_run *run)
{
  static const uint8_t read10[10] = { 0x28, 0, 0, 0, 0, 8, 0, 0, 8, 0 };
  static const uint8_t write10[10] = { 0x2a, 0, 0, 0, 0, 16, 0, 0, 8, 0 };
  static const uint8_t inquiry[6] = { 0x12, 0, 0, 0, 255, 0 };
  static const uint8_t luns[12] = { 0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
  fz_submit(run, read10, sizeof read10, 1, FZ_BUF, NULL);
  fz_submit(run, write10, sizeof write10, 2, FZ_BUF, NULL);
  fz_submit(run, inquiry, sizeof inquiry, 1, 255, NULL);
  fz_submit(run, luns, sizeof luns, 1, 256, NULL);
}

static void fz_scsi_sync(fz_run *run)
{
  mcsi_inquiry inq = { .struct_size = sizeof inq };
  mcsi_capacity cap = { .struct_size = sizeof cap };
  uint64_t luns[4];
  size_t n = 0;
  fz_trace("inquiry", mcsi_scsi_inquiry(run->ini, run->sid, 0, -1, &inq));
  fz_trace("inquiry vpd", mcsi_scsi_inquiry(run->ini, run->sid, 0, 0x80, &inq));
  fz_trace("read capacity", mcsi_scsi_read_capacity(run->ini, run->sid, 0, &cap));
  fz_trace("report luns", mcsi_scsi_report_luns(run->ini, run->sid, luns, 4, &n));
  fz_trace("test unit ready", mcsi_scsi_test_unit_ready(run->ini, run->sid, 0));
}

static void fz_rw_sync(fz_run *run)
{
  static uint8_t buf[2048];
  memset(buf, 0x5a, sizeof buf);
  fz_trace("write", mcsi_write(run->ini, run->sid, 0, 4, buf, sizeof buf));
  fz_trace("read", mcsi_read(run->ini, run->sid, 0, 4, buf, sizeof buf));
}

static void fz_remove_done(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result, void *arg)
{
  (void)message; (void)result;
  (void)ini_;
  fz_run *run = arg;
  fz_trace("remove callback", st);
  run->remove_calls++;
  run->removed = 1;
}

/* Adds a connection through portal with a 200 ms login timeout; nonzero on failure. */
static mcsi_status fz_add(fz_run *run, const char *portal, mcsi_id *cid)
{
  mcsi_conn_opts *co = mcsi_conn_opts_new();
  mcsi_status st = co ? mcsi_conn_opts_set_string(co, MCSI_OPT_PORTAL, portal) : ISDSC_OUT_OF_RESOURCES;
  if (!st) st = mcsi_conn_opts_set_int(co, MCSI_OPT_LOGIN_TIMEOUT_MS, 200);
  if (!st) st = mcsi_add_connection_to_session(run->ini, run->sid, co, cid);
  mcsi_conn_opts_free(co);
  return fz_trace("add connection", st);
}

static void fz_mcs_drain(fz_run *run, const char *portal)
{
  mcsi_id cid = 0;
  if (fz_add(run, portal, &cid)) return;
  fz_submit_batch(run);
  run->removed = 0;
  if (fz_trace("remove (async)", mcsi_remove_connection_async(run->ini, run->sid, cid, MCSI_COMPLETION(fz_remove_done, run))) == 0) {
    fz_wait(run, &run->removed, 1);
    fz_check(run->remove_calls == 1, "removal callback ran more than once");
  }
  fz_drain(run);
}

static void fz_mcs_sync(fz_run *run, const char *portal)
{
  mcsi_id cid = 0;
  if (fz_add(run, portal, &cid)) return;
  fz_trace("remove connection", mcsi_remove_connection_from_session(run->ini, run->sid, cid));
}

static void fz_abort(fz_run *run)
{
  static const uint8_t read10[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0 };
  uint64_t tag = 0;
  if (fz_submit(run, read10, sizeof read10, 1, FZ_BUF, &tag)) fz_trace("abort task", mcsi_abort_task(run->ini, run->sid, tag));
  fz_trace("lun reset", mcsi_lun_reset(run->ini, run->sid, 0));
  fz_drain(run);
}

static void fz_discovery(fz_run *run, const mcsi_login_opts *o)
{
  mcsi_login_opts *d = mcsi_login_opts_dup(o);
  mcsi_target_list *list = NULL;
  if (!d) return;
  mcsi_login_opts_set_string(d, MCSI_OPT_TARGET, NULL);
  if (fz_trace("send targets", mcsi_send_targets(run->ini, d, &list)) == 0) {
    for (size_t i = 0; i < list->count; i++) fz_check(list->targets[i].name != NULL, "a target without a name");
    mcsi_target_list_free(list);
  }
  mcsi_login_opts_free(d);
}

/* The login options a fuzz input selects; NULL out of memory. */
static mcsi_login_opts *fz_login_opts(const char *portal, uint8_t opt)
{
  const struct { int key; int64_t v; } ints[] = {
    { MCSI_OPT_LOGIN_TIMEOUT_MS, 200 }, { MCSI_OPT_COMMAND_TIMEOUT_MS, 300 },
    { MCSI_OPT_NOP_INTERVAL_MS, opt & FZ_OPT_NOP ? 100 : -1 }, { MCSI_OPT_NOP_TIMEOUT_MS, 100 },
    { MCSI_OPT_RECOVERY_TIMEOUT_MS, opt & FZ_OPT_RECOVERY ? 200 : -1 },
    { MCSI_OPT_MAX_CONNECTIONS, opt & FZ_OPT_TWO_CONNS ? 2 : 4 }, { MCSI_OPT_MAX_REDIRECTS, 2 },
    { MCSI_OPT_FIRST_BURST_LENGTH, opt & FZ_OPT_SMALL_BURST ? 512 : 0 },
    { MCSI_OPT_INITIAL_R2T, opt & FZ_OPT_INITIAL_R2T ? MCSI_YES : MCSI_NO },
    { MCSI_OPT_IMMEDIATE_DATA, opt & FZ_OPT_NO_IMMEDIATE ? MCSI_NO : MCSI_YES },
  };
  const int chap = opt & (FZ_OPT_CHAP | FZ_OPT_MUTUAL), mutual = opt & FZ_OPT_MUTUAL;
  const struct { int key; const char *v; } strs[] = {
    { MCSI_OPT_PORTAL, portal }, { MCSI_OPT_TARGET, FP_TARGET },
    { MCSI_OPT_USERNAME, chap ? "fuzzuser" : NULL }, { MCSI_OPT_SECRET, chap ? "fuzzsecret12" : NULL },
    { MCSI_OPT_TARGET_USERNAME, mutual ? "fuzztarget" : NULL }, { MCSI_OPT_TARGET_SECRET, mutual ? "targetsecret" : NULL },
  };
  mcsi_login_opts *o = mcsi_login_opts_new();
  mcsi_status st = o ? ISDSC_SUCCESS : ISDSC_OUT_OF_RESOURCES;
  for (size_t i = 0; i < sizeof ints / sizeof ints[0] && !st; i++) st = mcsi_login_opts_set_int(o, ints[i].key, ints[i].v);
  for (size_t i = 0; i < sizeof strs / sizeof strs[0] && !st; i++) st = mcsi_login_opts_set_string(o, strs[i].key, strs[i].v);
  if (!st) return o;
  mcsi_login_opts_free(o);
  return NULL;
}

static void fz_workload(fz_run *run, uint8_t what, const mcsi_login_opts *o)
{
  if (what & FZ_DO_SCSI_SYNC) fz_scsi_sync(run);
  if (what & FZ_DO_RW_SYNC) fz_rw_sync(run);
  if (what & FZ_DO_ASYNC) { fz_submit_batch(run); fz_drain(run); }
  const char *portal = mcsi_login_opts_get_string(o, MCSI_OPT_PORTAL);
  if (what & FZ_DO_MCS_DRAIN) fz_mcs_drain(run, portal);
  if (what & FZ_DO_MCS_SYNC) fz_mcs_sync(run, portal);
  if (what & FZ_DO_ABORT) fz_abort(run);
  if (what & FZ_DO_DISCOVERY) fz_discovery(run, o);
  if (what & FZ_DO_LOGOUT) fz_trace("logout", mcsi_logout_from_target(run->ini, run->sid));
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  signal(SIGPIPE, SIG_IGN);
  fz_tracing = getenv("FUZZ_CONN_TRACE") != NULL;   /* the peer's own sockets; mcsi uses MSG_NOSIGNAL */
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 2) return 0;
  fuzz_peer *peer = fuzz_peer_start(data + 2, size - 2);
  fz_run *run = calloc(1, sizeof *run);
  if (!peer || !run) { fuzz_peer_stop(peer); free(run); return 0; }
  run->ini = mcsi_initiator_new("iqn.2026-11.org.mcsi:fuzz-initiator");
  if (run->ini) {
    mcsi_login_opts *o = fz_login_opts(fuzz_peer_portal(peer), data[1]);
    mcsi_id conn = 0;
    mcsi_set_event_callback(run->ini, fz_event, NULL);
    if (o && fz_trace("login", mcsi_login_to_target(run->ini, o, &run->sid, &conn)) == 0) fz_workload(run, data[0], o);
    mcsi_login_opts_free(o);
    fz_drain(run);
    mcsi_initiator_free(run->ini);
  }
  fz_check(fz_count_done(run) == run->submitted, "a command's callback never ran");
  fuzz_peer_stop(peer);
  free(run);
  return 0;
}
