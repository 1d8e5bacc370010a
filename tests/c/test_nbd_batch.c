/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_nbd_batch: the NBD hop's per-request costs (issue 17, "the hop nearly
 * free"). An export of the fake target's LUN in process, a raw client of this
 * test that sends many requests in one write:
 *  - the replies of requests answered in one loop turn leave in one write to
 *    the socket (mcsi_nbd_info.reply_writes), not one each;
 *  - finished requests are reused: a second batch allocates no request
 *    (mcsi_nbd_info.request_allocs);
 *  - reused requests and their kept buffers carry no old data: interleaved
 *    writes and reads of distinct patterns read back exactly, twice over,
 *    with replies matched by cookie in whatever order they come;
 *  - large requests keep their buffers too (nbdcopy's 256 KiB): a second
 *    batch of 256 KiB writes and reads allocates no data buffer
 *    (mcsi_nbd_info.buffer_allocs), and reads back exactly. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fake_target.h"
#include "mcsi.h"
#include "mcsi_nbd.h"
#include "testlib.h"
#include "nbd_fake_export.h"
#include "testnbd.h"
#include "testopts.h"
#include "testsock.h"

#define BATCH 32
#define BS 4096

static mcsi_initiator *ini;

static void put_request(uint8_t *h, uint16_t type, uint64_t cookie, uint64_t off, uint32_t len)
{
  nbd_put32(h, NBD_REQUEST_MAGIC);
  nbd_put16(h + 4, 0);
  nbd_put16(h + 6, type);
  nbd_put64(h + 8, cookie);
  nbd_put64(h + 16, off);
  nbd_put32(h + 24, len);
}

static mcsi_nbd_info info_of(mcsi_nbd_export *e)
{
  mcsi_nbd_info in;
  memset(&in, 0, sizeof in);
  mcsi_nbd_export_info(e, &in);
  return in;
}

/* BATCH zero-length reads in one write: all answered at once, no SCSI. n
 * replies read back with their cookies; returns how many came right. */
static int zero_reads(int fd, uint64_t base)
{
  uint8_t req[BATCH * NBD_REQUEST_SIZE];
  for (int i = 0; i < BATCH; i++) put_request(req + i * NBD_REQUEST_SIZE, NBD_CMD_READ, base + (uint64_t)i, 0, 0);
  if (t_sock_send(ini, fd, req, sizeof req)) return -1;
  int ok = 0;
  for (int i = 0; i < BATCH; i++) {
    uint64_t cookie = 0;
    long err = t_nbd_read_reply(ini, fd, &cookie);
    if (err == 0 && cookie == base + (uint64_t)i) ok++;
  }
  return ok;
}

/* BATCH writes of distinct patterns (one write for all), then BATCH reads of
 * them (one write), replies matched by cookie: how many read back right. */
static int patterns(int fd, unsigned seed)
{
  static uint8_t out[BATCH * (NBD_REQUEST_SIZE + BS)], want[BATCH][BS], got[BS];
  uint8_t *p = out;
  for (int i = 0; i < BATCH; i++) {
    t_nbd_fill(want[i], BS, seed + (unsigned)i);
    put_request(p, NBD_CMD_WRITE, 100 + (uint64_t)i, (uint64_t)i * BS, BS);
    memcpy(p + NBD_REQUEST_SIZE, want[i], BS);
    p += NBD_REQUEST_SIZE + BS;
  }
  if (t_sock_send(ini, fd, out, (size_t)(p - out))) return -1;
  for (int i = 0; i < BATCH; i++) {
    uint64_t cookie = 0;
    if (t_nbd_read_reply(ini, fd, &cookie) != 0) return -1;
  }
  p = out;
  for (int i = 0; i < BATCH; i++, p += NBD_REQUEST_SIZE) put_request(p, NBD_CMD_READ, 200 + (uint64_t)i, (uint64_t)i * BS, BS);
  if (t_sock_send(ini, fd, out, (size_t)(p - out))) return -1;
  int ok = 0;
  for (int i = 0; i < BATCH; i++) {
    uint64_t cookie = 0;
    if (t_nbd_read_reply(ini, fd, &cookie) != 0 || t_sock_recv(ini, fd, got, BS, 30000) != BS) return -1;
    if (cookie >= 200 && cookie < 200 + BATCH && !memcmp(got, want[cookie - 200], BS)) ok++;
  }
  return ok;
}

#define BIG (256u << 10)
#define NBIG 4                          /* 1 MiB: the fake target's whole disk */

/* NBIG writes of BIG bytes of distinct patterns (one after the other), then
 * NBIG reads of them in one write: how many read back right. */
static int big_patterns(int fd, unsigned seed)
{
  static uint8_t want[NBIG][BIG], got[BIG];
  uint8_t h[NBD_REQUEST_SIZE * NBIG];
  for (int i = 0; i < NBIG; i++) {
    t_nbd_fill(want[i], BIG, seed + (unsigned)i);
    put_request(h, NBD_CMD_WRITE, 300 + (uint64_t)i, (uint64_t)i * BIG, BIG);
    if (t_sock_send(ini, fd, h, NBD_REQUEST_SIZE) || t_sock_send(ini, fd, want[i], BIG)) return -1;
  }
  for (int i = 0; i < NBIG; i++) {
    uint64_t cookie = 0;
    if (t_nbd_read_reply(ini, fd, &cookie) != 0) return -1;
  }
  for (int i = 0; i < NBIG; i++) put_request(h + i * NBD_REQUEST_SIZE, NBD_CMD_READ, 400 + (uint64_t)i, (uint64_t)i * BIG, BIG);
  if (t_sock_send(ini, fd, h, sizeof h)) return -1;
  int ok = 0;
  for (int i = 0; i < NBIG; i++) {
    uint64_t cookie = 0;
    if (t_nbd_read_reply(ini, fd, &cookie) != 0 || t_sock_recv(ini, fd, got, BIG, 30000) != (ssize_t)BIG) return -1;
    if (cookie >= 400 && cookie < 400 + NBIG && !memcmp(got, want[cookie - 400], BIG)) ok++;
  }
  return ok;
}

static void big_checks(mcsi_nbd_export *e, int fd)
{
  T_EQ_INT(big_patterns(fd, 1000), NBIG, "%d writes then %d reads of distinct 256 KiB patterns: all read back", NBIG, NBIG);
  mcsi_nbd_info a = info_of(e);
  T_EQ_INT(big_patterns(fd, 2000), NBIG, "again with other patterns over the kept 256 KiB buffers");
  mcsi_nbd_info b = info_of(e);
  T_EQ_U64(b.buffer_allocs - a.buffer_allocs, 0, "no data buffer allocated the second time (%llu before)",
           (unsigned long long)a.buffer_allocs);
  T_EQ_U64(b.errors, 0, "no request failed");
}

static void checks(mcsi_nbd_export *e, int fd)
{
  T_EQ_INT(zero_reads(fd, 1000), BATCH, "%d zero-length reads in one write: all answered", BATCH);
  mcsi_nbd_info a = info_of(e);
  T_EQ_INT(zero_reads(fd, 2000), BATCH, "%d more", BATCH);
  mcsi_nbd_info b = info_of(e);
  T_EQ_U64(b.reply_writes - a.reply_writes, 1, "their %d replies left in one write to the socket", BATCH);
  T_EQ_U64(b.request_allocs - a.request_allocs, 0, "and no request was allocated for them (reused)");
  T_EQ_INT(patterns(fd, 7), BATCH, "%d writes then %d reads of distinct 4 KiB patterns, batched: all read back", BATCH,
           BATCH);
  mcsi_nbd_info c = info_of(e);
  T_EQ_INT(patterns(fd, 77), BATCH, "again with other patterns over the reused requests and buffers");
  mcsi_nbd_info d = info_of(e);
  T_EQ_U64(d.request_allocs - c.request_allocs, 0, "no request allocated the second time");
  T_OK(d.reply_writes - c.reply_writes < 2 * BATCH, "%d replies in %llu writes", 2 * BATCH,
       (unsigned long long)(d.reply_writes - c.reply_writes));
  T_EQ_U64(d.errors, 0, "no request failed");
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  fake_target *ft = fake_target_start_opts(&(fake_target_opts){ .max_transfer_blocks = 64 });
  ini = mcsi_initiator_new(NULL);
  t_nbd_fake x;
  if (t_nbd_fake_export(ini, ft, "nbdb", "login to the fake target", "export of the fake target's LUN 0", &x)) {
    int fd = x.e ? t_nbd_open(ini, x.sock_path, 0) : -1;
    T_OK(fd >= 0, "an NBD client in transmission");
    if (fd >= 0) checks(x.e, fd);
    if (fd >= 0) big_checks(x.e, fd);
    if (fd >= 0) close(fd);
  }
  t_nbd_fake_end(ini, &x);
  mcsi_initiator_free(ini);
  fake_target_stop(ft);
  return t_done();
}
