/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_io.c: SCSI I/O against the real tgtd and istgt: INQUIRY, capacity,
 * REPORT LUNS, writes read back byte for byte (immediate data, unsolicited
 * data, R2T), digests, a 1 GiB sequential write+verify, LUN reset, bad
 * arguments, and a connection dropped by the target in the middle of I/O. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <poll.h>
#include "mcsi.h"
#include "testlib.h"
#include "testopts.h"

static mcsi_initiator *ini;

static int recovery_ms;   /* 0: the default (30 s), -1: a failed session stays failed */

static mcsi_id login(const char *port_var, const char *iqn_var, int digests, int initial_r2t)
{
  char portal[64];
  snprintf(portal, sizeof portal, "127.0.0.1:%s", t_env(port_var));
  mcsi_login_opts *o = t_login_opts(portal, t_env(iqn_var), MCSI_OPT_LOGIN_TIMEOUT_MS, 5000, MCSI_OPT_HEADER_DIGEST, digests, MCSI_OPT_DATA_DIGEST, digests, MCSI_OPT_INITIAL_R2T, initial_r2t, MCSI_OPT_RECOVERY_TIMEOUT_MS, recovery_ms, 0);
  mcsi_id sid = 0;
  mcsi_status st = mcsi_login_to_target(ini, o, &sid, NULL);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "login to %s (%s)", mcsi_login_opts_get_string(o, MCSI_OPT_TARGET), mcsi_last_message(ini));
  return st ? 0 : sid;
}

static void fill(uint8_t *buf, size_t len, uint32_t seed)
{
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    buf[i] = (uint8_t)x;
  }
}

/* Writes and reads back sizes that cross every burst boundary. */
static void write_read_back(const char *what, mcsi_id sid, uint64_t lun)
{
  static const size_t sizes[] = { 512, 4096, 65536, 65536 + 512, 262144, 262144 + 4096, 1048576 + 512, 4 << 20 };
  uint8_t *w = malloc(4 << 20 | 512), *r = malloc(4 << 20 | 512);
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    uint64_t lba = 2048 + i * 16384;
    fill(w, n, (uint32_t)(i + 1));
    memset(r, 0, n);
    mcsi_status st = mcsi_write(ini, sid, lun, lba, w, n);
    T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "%s: write %zu bytes (%s)", what, n, mcsi_last_message(ini));
    st = mcsi_read(ini, sid, lun, lba, r, n);
    T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "%s: read %zu bytes (%s)", what, n, mcsi_last_message(ini));
    T_OK(memcmp(w, r, n) == 0, "%s: %zu bytes read back identical", what, n);
  }
  free(w);
  free(r);
}

static void scsi_basics(const char *what, mcsi_id sid, uint64_t lun, uint64_t want_blocks)
{
  mcsi_capacity cap = { .struct_size = sizeof cap };
  mcsi_status st = mcsi_scsi_read_capacity(ini, sid, lun, &cap);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "%s: READ CAPACITY (%s)", what, mcsi_last_message(ini));
  T_EQ_U64(cap.blocks * cap.block_size, want_blocks, "%s: capacity in bytes", what);
  uint64_t luns[8];
  size_t n = 0;
  st = mcsi_scsi_report_luns(ini, sid, luns, 8, &n);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "%s: REPORT LUNS (%s)", what, mcsi_last_message(ini));
  int found = 0;
  for (size_t i = 0; i < n && i < 8; i++) found |= luns[i] == lun;
  T_OK(found, "%s: LUN %llu among the %zu reported", what, (unsigned long long)lun, n);
  mcsi_inquiry inq = { .struct_size = sizeof inq };
  st = mcsi_scsi_inquiry(ini, sid, lun, 0x80, &inq);
  T_OK(st == ISDSC_SUCCESS && inq.len >= 4 && inq.data[1] == 0x80, "%s: VPD page 0x80 (%s)", what, mcsi_last_message(ini));
  T_EQ_STR(mcsi_status_name(mcsi_scsi_test_unit_ready(ini, sid, lun)), "ISDSC_SUCCESS", "%s: TEST UNIT READY", what);
}

static void bad_arguments(mcsi_id sid)
{
  uint8_t buf[4096];
  mcsi_capacity cap = { .struct_size = sizeof cap };
  T_EQ_INT(mcsi_read(ini, sid, 1, 0, buf, 100), ISDSC_INVALID_PARAMETER, "read of a partial block refused");
  T_EQ_INT(mcsi_read(ini, sid, 1, 0, NULL, 512), ISDSC_INVALID_PARAMETER, "read into NULL refused");
  T_EQ_INT(mcsi_read(ini, 0xdead, 1, 0, buf, 512), ISDSC_INVALID_SESSION_ID, "read on an unknown session");
  T_EQ_INT(mcsi_scsi_read_capacity(ini, sid, 99999, &cap), ISDSC_INVALID_PARAMETER, "LUN out of range");
  mcsi_status st = mcsi_read(ini, sid, 1, (uint64_t)1 << 40, buf, 512);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SCSI_REQUEST_FAILED", "read beyond the end (%s)", mcsi_last_message(ini));
  T_OK(strstr(mcsi_last_message(ini), "ILLEGAL") != NULL, "sense decoded in the message: %s", mcsi_last_message(ini));
  st = mcsi_scsi_read_capacity(ini, sid, 7, &cap);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SCSI_REQUEST_FAILED", "READ CAPACITY on a missing LUN (%s)", mcsi_last_message(ini));
  uint8_t cdb[6] = { 0 };
  T_EQ_INT(mcsi_scsi_command(ini, sid, 1, cdb, 0, MCSI_DIR_NONE, NULL, 0, NULL), ISDSC_INVALID_PARAMETER, "empty CDB");
  T_EQ_INT(mcsi_scsi_command(ini, sid, 1, cdb, 6, 9, NULL, 0, NULL), ISDSC_INVALID_PARAMETER, "bad direction");
  T_EQ_INT(mcsi_scsi_command(ini, sid, 1, cdb, 6, MCSI_DIR_NONE, NULL, 0, NULL), ISDSC_SUCCESS, "TEST UNIT READY by CDB");
}

/* ---- 1 GiB sequential write, then read and verify, 16 commands in flight ---- */

typedef struct stream {
  mcsi_id sid;
  uint64_t lun, next, end;
  uint32_t bs;
  size_t chunk;
  int write, inflight, errors, mismatches;
  uint8_t *bufs[16];
  uint64_t lba_of[16];
  mcsi_status first_error;
} stream;

static void stream_submit(stream *s, int slot);

typedef struct slot_ref { stream *s; int slot; } slot_ref;
static slot_ref refs[16];

static void slot_done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  slot_ref *r = arg;
  stream *s = r->s;
  (void)res;
  s->inflight--;
  if (st) {
    if (!s->errors++) s->first_error = st;
    return;
  }
  if (!s->write) {
    uint8_t *expect = malloc(s->chunk);
    fill(expect, s->chunk, (uint32_t)s->lba_of[r->slot]);
    if (memcmp(expect, s->bufs[r->slot], s->chunk)) s->mismatches++;
    free(expect);
  }
  stream_submit(s, r->slot);
}

static void stream_submit(stream *s, int slot)
{
  if (s->next >= s->end) return;
  uint64_t lba = s->next;
  s->next += s->chunk / s->bs;
  s->lba_of[slot] = lba;
  if (s->write) fill(s->bufs[slot], s->chunk, (uint32_t)lba);
  mcsi_status st = s->write ? mcsi_write_async(ini, s->sid, s->lun, lba, s->bs, s->bufs[slot], s->chunk, MCSI_COMPLETION(slot_done, &refs[slot]))
                            : mcsi_read_async(ini, s->sid, s->lun, lba, s->bs, s->bufs[slot], s->chunk, MCSI_COMPLETION(slot_done, &refs[slot]));
  if (st) { if (!s->errors++) s->first_error = st; return; }
  s->inflight++;
}

static void stream_run(stream *s)
{
  s->next = 0;
  for (int i = 0; i < 16; i++) {
    refs[i].s = s;
    refs[i].slot = i;
    stream_submit(s, i);
  }
  while (s->inflight) mcsi_process(ini, 1000);
}

static void big_write_verify(mcsi_id sid)
{
  const char *quick = getenv("MCSI_TEST_QUICK");
  uint64_t bytes = quick ? 64ull << 20 : 1ull << 30;
  stream s = { .sid = sid, .lun = 1, .bs = 512, .chunk = 256 * 1024, .write = 1 };
  s.end = bytes / s.bs;
  for (int i = 0; i < 16; i++) s.bufs[i] = malloc(s.chunk);
  stream_run(&s);
  T_EQ_INT(s.errors, 0, "%llu MiB sequential write, QD 16: no errors (first: %s)", (unsigned long long)(bytes >> 20),
           mcsi_status_name(s.first_error));
  s.write = 0;
  stream_run(&s);
  T_EQ_INT(s.errors, 0, "%llu MiB read back, QD 16: no errors", (unsigned long long)(bytes >> 20));
  T_EQ_INT(s.mismatches, 0, "%llu MiB read back: every 256 KiB chunk identical", (unsigned long long)(bytes >> 20));
  for (int i = 0; i < 16; i++) free(s.bufs[i]);
}

/* ---- the target drops the connection while commands are in flight ------------ */

static int drops_seen, other_errors, completions, submitted;
static mcsi_status other_status, refused;
static int other_sense;
static mcsi_id drop_sid;
static uint8_t drop_buf[32][65536];

static void drop_done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg);

/* Keeps its slot busy: every completion submits the next read at once. */
static void drop_submit(intptr_t slot)
{
  mcsi_status st = mcsi_read_async(ini, drop_sid, 1, (uint64_t)slot * 128, 512, drop_buf[slot],
                                   sizeof drop_buf[slot], MCSI_COMPLETION(drop_done, (void *)slot));
  if (st) refused = st;
  else submitted++;
}

static void drop_done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  completions++;
  if (st == ISDSC_CONNECTION_FAILED) drops_seen++;
  else if (st) { other_errors++; other_status = st; other_sense = res->sense_key; }
  else if (!refused) drop_submit((intptr_t)arg);
}

static void drop_mid_io(void)
{
  recovery_ms = -1;                /* without recovery: the failure reaches the caller */
  drop_sid = login("MCSI_TGT_PORT", "MCSI_TGT_IQN_PLAIN", 0, 0);
  if (!drop_sid) return;
  /* the new session's UNIT ATTENTION is consumed (and retried) here */
  T_EQ_INT(mcsi_scsi_test_unit_ready(ini, drop_sid, 1), ISDSC_SUCCESS, "TEST UNIT READY before the async reads");
  for (intptr_t i = 0; i < 32; i++) drop_submit(i);
  T_EQ_INT(system("bash tests/harness/tgt-drop-conn 1 >/dev/null 2>&1 &"), 0, "target-side connection drop started");
  time_t until = time(NULL) + 15;
  while (completions < submitted && time(NULL) < until) mcsi_process(ini, 100);
  T_OK(drops_seen > 0, "commands in flight when the target dropped the connection: %d failed with ISDSC_CONNECTION_FAILED",
       drops_seen);
  T_EQ_INT(other_errors, 0, "no command failed any other way (%s, sense key %d)", mcsi_status_name(other_status), other_sense);
  T_EQ_INT(completions, submitted, "every submitted command completed exactly once (%d)", submitted);
  uint8_t b[512];
  mcsi_status st = mcsi_read(ini, drop_sid, 1, 0, b, sizeof b);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_NO_CONNECTION_AVAILABLE", "later commands refused cleanly (%s)", mcsi_last_message(ini));
  mcsi_session_info *si = NULL;
  t_get_info(ini, drop_sid, &si);
  T_EQ_STR(mcsi_session_info_get_string(si, MCSI_SI_STATE), "failed", "session marked failed");
  T_EQ_INT(mcsi_logout_from_target(ini, drop_sid), ISDSC_SUCCESS, "a failed session can still be logged out (removed)");
}

/* A host program with its own loop: poll() on mcsi_fd() with
 * mcsi_next_timeout_ms(), then mcsi_process(ini, 0). */
static int host_done;
static mcsi_status host_st;
static void host_cb(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  (void)res; (void)arg;
  host_done++;
  host_st = st;
}

static void host_driven_loop(mcsi_id sid)
{
  static uint8_t buf[16][4096];
  int queued = 0, polls = 0;
  for (int i = 0; i < 16; i++)
    queued += mcsi_read_async(ini, sid, 1, (uint64_t)i * 8, 512, buf[i], sizeof buf[i], MCSI_COMPLETION(host_cb, NULL)) == ISDSC_SUCCESS;
  T_EQ_INT(queued, 16, "16 reads queued for a host-driven loop");
  time_t until = time(NULL) + 10;
  while (host_done < queued && time(NULL) < until) {
    struct pollfd p = { .fd = mcsi_fd(ini), .events = POLLIN };
    poll(&p, 1, mcsi_next_timeout_ms(ini));
    mcsi_process(ini, 0);
    polls++;
  }
  T_EQ_INT(host_done, 16, "all completed through poll() + mcsi_process(0) (%d polls)", polls);
  T_EQ_INT(host_st, ISDSC_SUCCESS, "with success");
}

int main(void)
{
  ini = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:io");
  mcsi_id sid = login("MCSI_TGT_PORT", "MCSI_TGT_IQN_PLAIN", 0, 0);
  if (sid) {
    scsi_basics("tgt file LUN", sid, 1, 2ull << 30);
    write_read_back("tgt (ImmediateData, InitialR2T=No)", sid, 1);
    bad_arguments(sid);
    T_EQ_STR(mcsi_status_name(mcsi_lun_reset(ini, sid, 1)), "ISDSC_SUCCESS", "LUN RESET (%s)", mcsi_last_message(ini));
    uint8_t b[512];
    T_EQ_INT(mcsi_read(ini, sid, 1, 0, b, 512), ISDSC_SUCCESS, "I/O after LUN RESET (unit attention retried)");
    mcsi_session_info *si = NULL;
    T_EQ_INT(t_get_info(ini, sid, &si), ISDSC_SUCCESS, "session info after the reset");
    T_EQ_INT(mcsi_session_info_get(si, MCSI_SI_COMMANDS_RETRIED), 0, "a UNIT ATTENTION re-send is no re-issue after a connection failure (%llu)",
             (unsigned long long)mcsi_session_info_get(si, MCSI_SI_COMMANDS_RETRIED));
    host_driven_loop(sid);
    big_write_verify(sid);
    T_EQ_INT(mcsi_logout_from_target(ini, sid), ISDSC_SUCCESS, "logout");
  }
  if ((sid = login("MCSI_TGT_PORT", "MCSI_TGT_IQN_PLAIN", 1, MCSI_YES))) {
    write_read_back("tgt (digests, InitialR2T=Yes: R2T for all data)", sid, 1);
    mcsi_logout_from_target(ini, sid);
  }
  if ((sid = login("MCSI_ISTGT_PORT", "MCSI_ISTGT_IQN", 0, 0))) {
    scsi_basics("istgt", sid, 0, 128ull << 20);
    write_read_back("istgt", sid, 0);
    mcsi_logout_from_target(ini, sid);
  }
  if ((sid = login("MCSI_ISTGT_PORT", "MCSI_ISTGT_IQN", 1, 0))) {
    write_read_back("istgt with digests", sid, 0);
    mcsi_logout_from_target(ini, sid);
  }
  drop_mid_io();
  mcsi_initiator_free(ini);
  return t_done();
}
