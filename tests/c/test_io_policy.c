/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_io_policy.c: the engine owns I/O policy (issue 15), against the fake
 * target in-process:
 *  - one retry rule: a storm of UNIT ATTENTION, BUSY, TASK SET FULL or
 *    ABORTED COMMAND shorter than MCSI_SCSI_RETRIES succeeds after exactly
 *    N+1 sends, a longer one fails after exactly MCSI_SCSI_RETRIES+1 with the
 *    sense in the message, through every engine call (block I/O, the SCSI
 *    helpers, mcsi_scsi_command, mcsi_scsi_submit, mcsi_read);
 *  - BUSY / TASK SET FULL back off (a loop timer, doubling);
 *  - geometry per session AND LUN (a 512- and a 4096-byte LUN on one session);
 *  - splitting by the Block Limits page's MAXIMUM TRANSFER LENGTH (and by
 *    MCSI_IO_MAX_PIECE without it), data intact;
 *  - FUA/DPO reach the target; unaligned offsets and unknown flags are
 *    refused without a command; write zeroes without WRITE SAME; unmap on a
 *    LUN without it; flush;
 *  - the completion's free hook runs exactly once (done, a refused call, the
 *    initiator freed with the operation pending). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_fixture.h"
#include "testlib.h"

static const char *const storm_names[] = { "none", "UNIT ATTENTION", "BUSY", "TASK SET FULL", "ABORTED COMMAND" };

/* ---- the completion's bookkeeping ---- */

typedef struct io_wait {
  int done, freed;
  mcsi_status st;
  char message[512];
  mcsi_io_result res;
} io_wait;

static void io_done(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  io_wait *w = arg;
  (void)ini;
  w->done++;
  w->st = st;
  snprintf(w->message, sizeof w->message, "%s", message ? message : "(null)");
  if (result) w->res = *(const mcsi_io_result *)result;
}

static void io_free(void *arg) { ((io_wait *)arg)->freed++; }

static mcsi_completion completion(io_wait *w)
{
  memset(w, 0, sizeof *w);
  return (mcsi_completion){ .done = io_done, .free = io_free, .arg = w };
}

static mcsi_status wait_io(fx *f, io_wait *w, mcsi_status started)
{
  int64_t end = now_ms() + 10000;
  if (started) return started;
  while (!w->done && now_ms() < end) mcsi_process(f->ini, 50);
  return w->done ? w->st : ISDSC_SERVICE_DID_NOT_RESPOND;
}

/* ---- storms ---- */

static unsigned io_sent(const fx *f) { return fake_target_io_commands(f->ft); }

/* A blocking read through the block I/O calls under a storm of n. */
static void storm_pread(fx *f, int storm, unsigned n)
{
  uint8_t buf[BLOCK];
  mcsi_io_result res = { .struct_size = sizeof res };
  const char *name = storm_names[storm];
  unsigned before = io_sent(f);
  int64_t t0 = now_ms();
  fake_target_storm(f->ft, storm, n);
  mcsi_status st = mcsi_pread(f->ini, f->sid, 0, 8 * BLOCK, buf, sizeof buf, 0, &res);
  int64_t took = now_ms() - t0;
  unsigned sent = io_sent(f) - before;
  fake_target_storm(f->ft, FAKE_STORM_NONE, 0);
  if (n <= MCSI_SCSI_RETRIES) {
    t_status(st, ISDSC_SUCCESS, "pread through a storm", f);
    T_EQ_INT(sent, n + 1, "%s x%u: pread sent %u times (N+1)", name, n, sent);
    T_EQ_INT(res.retries, n, "%s x%u: the result counts %u retries", name, n, res.retries);
  } else {
    t_status(st, ISDSC_SCSI_REQUEST_FAILED, "pread through a storm too long", f);
    T_EQ_INT(sent, MCSI_SCSI_RETRIES + 1, "%s x%u: pread sent %u times (the limit + 1)", name, n, sent);
    T_OK(strstr(mcsi_last_message(f->ini), name) != NULL, "%s x%u: the condition in the message: %s", name, n,
         mcsi_last_message(f->ini));
    T_OK(strstr(mcsi_last_message(f->ini), "retry limit") != NULL, "%s x%u: the limit in the message", name, n);
  }
  if (storm == FAKE_STORM_BUSY || storm == FAKE_STORM_TSF) {
    int64_t want = 0;
    for (unsigned i = 0; i < n && i < MCSI_SCSI_RETRIES; i++) want += (int64_t)MCSI_SCSI_BACKOFF_MS << i;
    T_OK(took >= want, "%s x%u: backed off (%lld ms >= %lld ms)", name, n, (long long)took, (long long)want);
  } else {
    T_OK(took < 1000, "%s x%u: no back-off (%lld ms)", name, n, (long long)took);
  }
}

/* The same rule below every other engine call. */
static void storm_other_calls(fx *f)
{
  unsigned before;
  uint8_t buf[BLOCK];
  uint8_t tur[6] = { 0 };
  mcsi_scsi_result res = { .struct_size = sizeof res };

  before = io_sent(f);
  fake_target_storm(f->ft, FAKE_STORM_UA, 3);
  t_status(mcsi_scsi_test_unit_ready(f->ini, f->sid, 0), ISDSC_SUCCESS, "TUR helper through a UA storm of 3", f);
  T_EQ_INT(io_sent(f) - before, 4, "TUR helper: 4 sends for a storm of 3");

  before = io_sent(f);
  fake_target_storm(f->ft, FAKE_STORM_UA, 100);
  t_status(mcsi_scsi_command(f->ini, f->sid, 0, tur, 6, MCSI_DIR_NONE, NULL, 0, &res), ISDSC_SCSI_REQUEST_FAILED,
           "mcsi_scsi_command through an endless UA 29/00 storm", f);
  T_EQ_INT(io_sent(f) - before, MCSI_SCSI_RETRIES + 1, "mcsi_scsi_command: a 29/xx sent %d times, not 5 x 4",
           MCSI_SCSI_RETRIES + 1);
  T_EQ_INT(res.retries, MCSI_SCSI_RETRIES, "mcsi_scsi_command: res.retries");
  T_EQ_INT(res.sense_key, 6, "mcsi_scsi_command: the last sense kept");

  before = io_sent(f);
  fake_target_storm(f->ft, FAKE_STORM_TSF, 2);
  async_done d = { 0 };
  t_status(mcsi_scsi_submit(f->ini, f->sid, 0, tur, 6, MCSI_DIR_NONE, NULL, 0, MCSI_COMPLETION(on_done, &d)), ISDSC_SUCCESS,
           "mcsi_scsi_submit", f);
  for (int64_t end = now_ms() + 5000; !d.done && now_ms() < end;) mcsi_process(f->ini, 50);
  t_status(d.st, ISDSC_SUCCESS, "mcsi_scsi_submit through a TASK SET FULL storm of 2", f);
  T_EQ_INT(io_sent(f) - before, 3, "mcsi_scsi_submit: 3 sends for a storm of 2");

  before = io_sent(f);
  fake_target_storm(f->ft, FAKE_STORM_ABORTED, 1);
  t_status(mcsi_read(f->ini, f->sid, 0, 0, buf, sizeof buf), ISDSC_SUCCESS, "mcsi_read through ABORTED COMMAND x1", f);
  T_EQ_INT(io_sent(f) - before, 2, "mcsi_read: 2 sends for a storm of 1");
  fake_target_storm(f->ft, FAKE_STORM_NONE, 0);
}

static void storms(void)
{
  fx f;
  if (!fx_start(&f, &(fake_target_opts){ 0 })) return;
  uint8_t buf[BLOCK];
  t_status(mcsi_pread(f.ini, f.sid, 0, 0, buf, sizeof buf, 0, NULL), ISDSC_SUCCESS, "first read (learns)", &f);
  for (int s = FAKE_STORM_UA; s <= FAKE_STORM_ABORTED; s++) {
    storm_pread(&f, s, 3);
    storm_pread(&f, s, MCSI_SCSI_RETRIES);
    storm_pread(&f, s, MCSI_SCSI_RETRIES + 2);
  }
  storm_other_calls(&f);
  fx_logout_ok(&f, "storms");
  fx_end(&f);
}

/* ---- geometry per session and LUN ---- */

static void per_lun_geometry(void)
{
  fx f;
  if (!fx_start(&f, &(fake_target_opts){ .lun1_4k = 1 })) return;
  mcsi_lun_geometry g0 = { .struct_size = sizeof g0 }, g1 = { .struct_size = sizeof g1 };
  uint32_t bs = 0;
  uint8_t w[4096], r[4096];
  t_status(mcsi_io_geometry(f.ini, f.sid, 0, &g0), ISDSC_SUCCESS, "geometry of LUN 0", &f);
  t_status(mcsi_io_geometry(f.ini, f.sid, 1, &g1), ISDSC_SUCCESS, "geometry of LUN 1", &f);
  T_EQ_INT(g0.block_size, 512, "LUN 0: 512-byte blocks");
  T_EQ_INT(g1.block_size, 4096, "LUN 1: 4096-byte blocks");
  T_EQ_U64(g1.blocks * 4096, g0.blocks * 512, "same disk, both sizes");
  t_status(mcsi_scsi_block_size(f.ini, f.sid, 0, &bs), ISDSC_SUCCESS, "LUN 0's block size still kept", &f);
  T_EQ_INT(bs, 512, "LUN 0 kept 512 after LUN 1 was learned");
  t_status(mcsi_scsi_block_size(f.ini, f.sid, 1, &bs), ISDSC_SUCCESS, "LUN 1's block size kept", &f);
  T_EQ_INT(bs, 4096, "LUN 1 kept 4096");
  /* the old one-LUN cache: mcsi_read on LUN 0 then LUN 1 then LUN 0 again, each with its own size */
  pattern(w, sizeof w, 7);
  t_status(mcsi_write(f.ini, f.sid, 1, 2, w, sizeof w), ISDSC_SUCCESS, "mcsi_write LBA 2 of LUN 1", &f);
  t_status(mcsi_read(f.ini, f.sid, 0, 16, r, sizeof r), ISDSC_SUCCESS, "mcsi_read LBA 16 of LUN 0", &f);
  T_EQ_MEM(r, w, sizeof r, "LBA 2 of 4096 is LBA 16 of 512");
  t_status(mcsi_read(f.ini, f.sid, 0, 16, r, 512), ISDSC_SUCCESS, "a 512-byte read on LUN 0", &f);
  t_status(mcsi_read(f.ini, f.sid, 1, 0, r, 512), ISDSC_INVALID_PARAMETER, "a 512-byte read on LUN 1", &f);
  unsigned before = io_sent(&f);
  io_wait iw;
  t_status(mcsi_io_read(f.ini, f.sid, 1, 512, r, 4096, 0, completion(&iw)), ISDSC_INVALID_PARAMETER,
           "offset 512 on the 4096-byte LUN", &f);
  T_OK(strstr(mcsi_last_message(f.ini), "4096") != NULL, "the block size in the message: %s", mcsi_last_message(f.ini));
  T_EQ_INT(iw.done, 0, "refused: done never runs");
  T_EQ_INT(iw.freed, 1, "refused: free ran once");
  t_status(mcsi_io_read(f.ini, f.sid, 0, 100, r, 512, 0, completion(&iw)), ISDSC_INVALID_PARAMETER,
           "unaligned offset on LUN 0", &f);
  t_status(mcsi_io_read(f.ini, f.sid, 0, 0, r, 512, 1u << 7, completion(&iw)), ISDSC_INVALID_PARAMETER,
           "unknown flags", &f);
  T_EQ_INT(io_sent(&f) - before, 0, "nothing sent for refused requests");
  fx_logout_ok(&f, "per-LUN geometry");
  fx_end(&f);
}

/* ---- splitting ---- */

static void splitting(void)
{
  fx f;
  if (!fx_start(&f, &(fake_target_opts){ .max_transfer_blocks = 8, .disk_bytes = 4u << 20 })) return;
  size_t len = 64 * 1024;
  uint8_t *w = malloc(len), *r = malloc(len);
  mcsi_io_result res = { .struct_size = sizeof res };
  pattern(w, len, 3);
  t_status(mcsi_pwrite(f.ini, f.sid, 0, 4096, w, len, 0, &res), ISDSC_SUCCESS, "64 KiB write", &f);
  T_EQ_INT(res.commands, 16, "64 KiB write: 16 commands of 8 blocks");
  T_EQ_U64(res.bytes, len, "64 KiB write: every byte");
  unsigned before = fake_target_rw_commands(f.ft);
  memset(r, 0, len);
  t_status(mcsi_pread(f.ini, f.sid, 0, 4096, r, len, 0, &res), ISDSC_SUCCESS, "64 KiB read", &f);
  T_EQ_INT(fake_target_rw_commands(f.ft) - before, 16, "the target got 16 READs");
  T_EQ_INT(fake_target_max_rw_blocks(f.ft), 8, "none longer than the Block Limits' 8 blocks");
  T_EQ_MEM(r, w, len, "data intact across the pieces");
  free(w);
  free(r);
  fx_logout_ok(&f, "splitting");
  fx_end(&f);

  /* no Block Limits page: MCSI_IO_MAX_PIECE bytes per command */
  if (!fx_start(&f, &(fake_target_opts){ .disk_bytes = 4u << 20 })) return;
  len = 3u << 20;
  w = malloc(len);
  r = malloc(len);
  pattern(w, len, 5);
  t_status(mcsi_pwrite(f.ini, f.sid, 0, 0, w, len, 0, &res), ISDSC_SUCCESS, "3 MiB write", &f);
  T_EQ_INT(res.commands, (int)(len / MCSI_IO_MAX_PIECE), "3 MiB write: MCSI_IO_MAX_PIECE per command");
  t_status(mcsi_pread(f.ini, f.sid, 0, 0, r, len, 0, &res), ISDSC_SUCCESS, "3 MiB read", &f);
  T_EQ_INT(fake_target_max_rw_blocks(f.ft), MCSI_IO_MAX_PIECE / BLOCK, "no page: pieces of MCSI_IO_MAX_PIECE");
  T_EQ_MEM(r, w, len, "3 MiB intact");
  free(w);
  free(r);
  fx_logout_ok(&f, "splitting without a page");
  fx_end(&f);
}

/* ---- flags and the other operations ---- */

static void flags_and_ops(void)
{
  fx f;
  if (!fx_start(&f, &(fake_target_opts){ 0 })) return;
  uint8_t buf[4096], z[4096];
  io_wait w;
  mcsi_io_result res = { .struct_size = sizeof res };
  memset(z, 0, sizeof z);
  pattern(buf, sizeof buf, 9);
  t_status(mcsi_pwrite(f.ini, f.sid, 0, 0, buf, sizeof buf, 0, NULL), ISDSC_SUCCESS, "plain write", &f);
  T_EQ_INT(fake_target_fua(f.ft), 0, "no FUA without the flag");
  t_status(mcsi_pwrite(f.ini, f.sid, 0, 0, buf, sizeof buf, MCSI_IO_FUA, NULL), ISDSC_SUCCESS, "FUA write", &f);
  T_EQ_INT(fake_target_fua(f.ft), 1, "FUA reached the target");
  t_status(mcsi_pread(f.ini, f.sid, 0, 0, buf, sizeof buf, MCSI_IO_DPO, NULL), ISDSC_SUCCESS, "DPO read", &f);
  T_EQ_INT(fake_target_dpo(f.ft), 1, "DPO reached the target");

  unsigned before = io_sent(&f);
  t_status(wait_io(&f, &w, mcsi_io_flush(f.ini, f.sid, 0, 0, 0, 0, completion(&w))), ISDSC_SUCCESS, "flush", &f);
  T_EQ_INT(io_sent(&f) - before, 1, "flush: one SYNCHRONIZE CACHE");
  T_EQ_INT(w.done, 1, "flush: done once");
  T_EQ_INT(w.freed, 1, "flush: free once");

  /* the fake target has no WRITE SAME: WRITE(16)s of zeroes instead, remembered */
  before = io_sent(&f);
  t_status(wait_io(&f, &w, mcsi_io_write_zeroes(f.ini, f.sid, 0, 0, sizeof buf, 0, completion(&w))), ISDSC_SUCCESS,
           "write zeroes without WRITE SAME", &f);
  T_EQ_INT(io_sent(&f) - before, 2, "WRITE SAME refused, then one WRITE(16)");
  T_EQ_U64(w.res.bytes, sizeof buf, "zeroes: bytes covered");
  t_status(mcsi_pread(f.ini, f.sid, 0, 0, buf, sizeof buf, 0, &res), ISDSC_SUCCESS, "read the zeroes", &f);
  T_EQ_MEM(buf, z, sizeof buf, "zeroed");
  before = io_sent(&f);
  t_status(wait_io(&f, &w, mcsi_io_write_zeroes(f.ini, f.sid, 0, 0, sizeof buf, 0, completion(&w))), ISDSC_SUCCESS,
           "write zeroes again", &f);
  T_EQ_INT(io_sent(&f) - before, 1, "the LUN's lack of WRITE SAME remembered");

  before = io_sent(&f);
  t_status(mcsi_io_unmap(f.ini, f.sid, 0, 0, sizeof buf, 0, completion(&w)), ISDSC_REQUEST_NOT_SUPPORTED,
           "unmap on a LUN without it", &f);
  T_EQ_INT(io_sent(&f) - before, 0, "unmap refused without a command");
  T_EQ_INT(w.freed, 1, "refused unmap: free once");

  /* the initiator goes with a request pending: free runs once */
  before = io_sent(&f);
  mcsi_status st = mcsi_io_read(f.ini, f.sid, 0, 0, buf, sizeof buf, 0, completion(&w));
  t_status(st, ISDSC_SUCCESS, "a read left pending", &f);
  mcsi_initiator_free(f.ini);
  f.ini = NULL;
  T_EQ_INT(w.freed, 1, "initiator freed: free ran once");
  T_OK(w.done <= 1, "initiator freed: done at most once (%d)", w.done);
  fx_end(&f);
}

/* ---- learning the geometry once, for every request that waits for it ---- */

static void learning(void)
{
  fx f;
  if (!fx_start(&f, &(fake_target_opts){ 0 })) return;
  io_wait w[3], bad;
  uint8_t buf[3][BLOCK];
  unsigned probes = fake_target_commands(f.ft) - fake_target_io_commands(f.ft);
  /* misaligned while the geometry is not known yet: accepted, then refused through done */
  t_status(mcsi_io_read(f.ini, f.sid, 0, 100, buf[0], BLOCK, 0, completion(&bad)), ISDSC_SUCCESS,
           "a misaligned read before the geometry is known: taken", &f);
  for (int i = 0; i < 3; i++)
    t_status(mcsi_io_read(f.ini, f.sid, 0, (uint64_t)i * BLOCK, buf[i], BLOCK, 0, completion(&w[i])), ISDSC_SUCCESS,
             "a read before the geometry is known", &f);
  t_status(wait_io(&f, &bad, ISDSC_SUCCESS), ISDSC_INVALID_PARAMETER, "the misaligned one refused through done", &f);
  T_OK(strstr(bad.message, "512-byte blocks") != NULL, "the block size in its message: %s", bad.message);
  T_EQ_INT(bad.freed, 1, "freed once");
  for (int i = 0; i < 3; i++) t_status(wait_io(&f, &w[i], ISDSC_SUCCESS), ISDSC_SUCCESS, "it waited and ran", &f);
  T_EQ_INT(fake_target_io_commands(f.ft), 3, "three READs: none for the misaligned one");
  T_EQ_INT(w[0].done + w[1].done + w[2].done, 3, "each answered once");
  T_EQ_INT(w[0].freed + w[1].freed + w[2].freed, 3, "each freed once");
  T_EQ_INT(fake_target_commands(f.ft) - fake_target_io_commands(f.ft) - probes, 3,
           "learned once for the four: READ CAPACITY and two VPD pages");
  t_status(wait_io(&f, &bad, mcsi_io_read(f.ini, f.sid, 5, 0, buf[0], BLOCK, 0, completion(&bad))),
           ISDSC_SCSI_REQUEST_FAILED, "a read on a LUN that is not there", &f);
  T_OK(strstr(bad.message, "learning the geometry of LUN 5") != NULL, "why, in the message: %s", bad.message);
  T_EQ_INT(bad.freed, 1, "freed once");

  /* a LUN RESET: the geometry is learned again on next use */
  probes = fake_target_commands(f.ft) - fake_target_io_commands(f.ft);
  t_status(mcsi_lun_reset(f.ini, f.sid, 0), ISDSC_SUCCESS, "LUN RESET", &f);
  t_status(mcsi_pread(f.ini, f.sid, 0, 0, buf[0], BLOCK, 0, NULL), ISDSC_SUCCESS, "a read after it", &f);
  T_EQ_INT(fake_target_commands(f.ft) - fake_target_io_commands(f.ft) - probes, 3, "learned again after the reset");

  /* a known geometry is answered from the loop, never inside the call; freeing the initiator first frees it */
  io_wait g;
  t_status(mcsi_io_geometry_async(f.ini, f.sid, 0, completion(&g)), ISDSC_SUCCESS, "geometry, known", &f);
  T_EQ_INT(g.done, 0, "not answered inside the call");
  mcsi_initiator_free(f.ini);
  f.ini = NULL;
  T_EQ_INT(g.done, 0, "initiator freed first: done never runs");
  T_EQ_INT(g.freed, 1, "initiator freed first: free ran once");
  fx_end(&f);
}

int main(void)
{
  learning();
  storms();
  per_lun_geometry();
  splitting();
  flags_and_ops();
  return t_done();
}
