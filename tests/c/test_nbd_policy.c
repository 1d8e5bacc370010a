/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_nbd_policy: NBD on the engine's block I/O (issue 15). An export of
 * the fake target's LUN in process, a raw NBD client of this test: FUA
 * reaches the target as the CDB bit, a storm below the retry limit is
 * answered after N+1 sends and one above it with EIO after the limit + 1
 * (the engine's rule, not a loop of NBD's own), a read longer than the
 * Block Limits' maximum arrives as several commands, write zeroes on a LUN
 * without WRITE SAME, flush, and TRIM refused on a LUN without UNMAP.
 * Issue 17: on a fake LUN with UNMAP, FUA on TRIM and WRITE_ZEROES (whose
 * CDBs have no FUA bit) is a SYNCHRONIZE CACHE after them, counted at the
 * target; partial blocks: a write inside one block is one READ and one
 * WRITE of that block (FUA on the WRITE), a TRIM of less than a block sends
 * nothing. */
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

static mcsi_initiator *ini;

/* ---- the checks ---- */

static void checks(fake_target *ft, int fd, int tflags)
{
  static uint8_t w[64 * 1024], r[64 * 1024], z[4096];
  T_OK(tflags >= 0 && (tflags & NBD_FLAG_SEND_FUA), "FUA offered");
  T_OK(tflags >= 0 && !(tflags & NBD_FLAG_SEND_TRIM), "no TRIM on a LUN without UNMAP");
  t_nbd_fill(w, sizeof w, 1);
  unsigned fua = fake_target_fua(ft);
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 4096, w, 4096, NULL), 0, "write with FUA");
  T_EQ_INT(fake_target_fua(ft) - fua, 1, "FUA reached the target as the CDB bit");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE, 0, 0, 4096, w, 4096, NULL), 0, "write without FUA");
  T_EQ_INT(fake_target_fua(ft) - fua, 1, "no FUA bit without the flag");

  unsigned before = fake_target_io_commands(ft);
  fake_target_storm(ft, FAKE_STORM_UA, 3);
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, 0, 4096, NULL, 0, r), 0, "read through a UNIT ATTENTION storm of 3");
  T_EQ_INT(fake_target_io_commands(ft) - before, 4, "4 sends for a storm of 3");
  T_EQ_MEM(r, w, 4096, "the data");
  before = fake_target_io_commands(ft);
  fake_target_storm(ft, FAKE_STORM_BUSY, MCSI_SCSI_RETRIES + 3);
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, 0, 4096, NULL, 0, r), NBD_EIO, "a BUSY storm beyond the limit: EIO");
  T_EQ_INT(fake_target_io_commands(ft) - before, MCSI_SCSI_RETRIES + 1, "the limit + 1 sends (one rule, no NBD loop)");
  fake_target_storm(ft, FAKE_STORM_NONE, 0);

  unsigned rw = fake_target_rw_commands(ft);
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE, 0, 8192, sizeof w, w, sizeof w, NULL), 0, "64 KiB write");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, 8192, sizeof r, NULL, 0, r), 0, "64 KiB read");
  T_EQ_INT(fake_target_rw_commands(ft) - rw, 32, "each as 16 commands of the Block Limits' 8 blocks");
  T_EQ_MEM(r, w, sizeof r, "64 KiB intact");

  before = fake_target_io_commands(ft);
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_FLUSH, 0, 0, 0, NULL, 0, NULL), 0, "flush");
  T_EQ_INT(fake_target_io_commands(ft) - before, 1, "flush: one SYNCHRONIZE CACHE");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE_ZEROES, 0, 8192, 4096, NULL, 0, NULL), 0, "write zeroes (no WRITE SAME there)");
  memset(z, 0, sizeof z);
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, 8192, 4096, NULL, 0, r), 0, "read the zeroes");
  T_EQ_MEM(r, z, 4096, "zeroed");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_TRIM, 0, 0, 4096, NULL, 0, NULL), NBD_EINVAL, "TRIM refused");
}

/* Issue 17: a fake target with UNMAP. */
static void checks_fua(fake_target *ft, int fd)
{
  static uint8_t w[8192], r[8192];
  unsigned sync = fake_target_syncs(ft), unmap = fake_target_unmaps(ft);
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_TRIM, 0, 4096, 8192, NULL, 0, NULL), 0, "TRIM without FUA");
  T_EQ_INT(fake_target_unmaps(ft) - unmap, 1, "one UNMAP");
  T_EQ_INT(fake_target_syncs(ft) - sync, 0, "no SYNCHRONIZE CACHE without FUA");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_TRIM, NBD_CMD_FLAG_FUA, 4096, 8192, NULL, 0, NULL), 0, "TRIM with FUA");
  T_EQ_INT(fake_target_unmaps(ft) - unmap, 2, "one more UNMAP");
  T_EQ_INT(fake_target_syncs(ft) - sync, 1, "and a SYNCHRONIZE CACHE after it (UNMAP has no FUA bit)");
  sync = fake_target_syncs(ft);
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE_ZEROES, 0, 16384, 4096, NULL, 0, NULL), 0, "WRITE_ZEROES without FUA");
  T_EQ_INT(fake_target_syncs(ft) - sync, 0, "no SYNCHRONIZE CACHE");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FUA, 16384, 4096, NULL, 0, NULL), 0, "WRITE_ZEROES with FUA");
  T_EQ_INT(fake_target_syncs(ft) - sync, 1, "a SYNCHRONIZE CACHE after it");
  unmap = fake_target_unmaps(ft);
  unsigned io = fake_target_io_commands(ft);
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_TRIM, NBD_CMD_FLAG_FUA, 4097, 510, NULL, 0, NULL), 0, "TRIM of less than a block: success");
  T_EQ_INT(fake_target_io_commands(ft) - io, 0, "and nothing sent (no whole block inside)");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_TRIM, 0, 4097, 1534, NULL, 0, NULL), 0, "an unaligned TRIM");
  T_EQ_INT(fake_target_unmaps(ft) - unmap, 1, "UNMAP of the whole blocks inside it");

  t_nbd_fill(w, sizeof w, 5);
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE, 0, 32768, sizeof w, w, sizeof w, NULL), 0, "8 KiB written");
  unsigned rw = fake_target_rw_commands(ft), fua = fake_target_fua(ft);
  uint8_t b[3] = { 1, 2, 3 };
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 32768 + 700, 3, b, 3, NULL), 0, "a FUA write of 3 bytes inside a block");
  T_EQ_INT(fake_target_rw_commands(ft) - rw, 2, "one READ and one WRITE of that block");
  T_EQ_INT(fake_target_fua(ft) - fua, 1, "FUA on the WRITE");
  memcpy(w + 700, b, 3);
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, 32768 + 1, sizeof w - 2, NULL, 0, r), 0, "an unaligned read around it");
  T_EQ_MEM(r, w + 1, sizeof w - 2, "the bytes around are kept, the 3 new ones in place");
  rw = fake_target_rw_commands(ft);
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE_ZEROES, 0, 32768 + 100, 1000, NULL, 0, NULL), 0, "write zeroes of 1000 bytes over three blocks");
  T_EQ_INT(fake_target_rw_commands(ft) - rw, 5, "blocks 64..66: READ and WRITE of the partial 64 and 66, 65 zeroed whole (a WRITE of zeroes here)");
  memset(w + 100, 0, 1000);
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, 32768, sizeof w, NULL, 0, r), 0, "read back");
  T_EQ_MEM(r, w, sizeof w, "zeroes exactly where asked");
}


int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  fake_target_opts to = { .max_transfer_blocks = 8 };
  fake_target *ft = fake_target_start_opts(&to);
  ini = mcsi_initiator_new(NULL);
  t_nbd_fake x;
  if (t_nbd_fake_export(ini, ft, "nbdp", "login to the fake target", "export of the fake target's LUN 0", &x)) {
    int fd = x.e ? t_nbd_open(ini, x.sock_path, 0) : -1, tflags = -1;
    if (fd >= 0) {                            /* a second client for the transmission flags */
      int probe = t_nbd_connect_unix(x.sock_path);
      if (probe >= 0 && t_nbd_greet(ini, probe, T_NBD_CLIENT_FLAGS)) tflags = t_nbd_go(ini, probe, NULL);
      if (probe >= 0) close(probe);
    }
    T_OK(tflags >= 0, "an NBD client in transmission");
    if (tflags >= 0) checks(ft, fd, tflags);
    if (fd >= 0) close(fd);
  }
  t_nbd_fake_end(ini, &x);
  fake_target_stop(ft);

  fake_target_opts to2 = { .unmap = 1 };
  ft = fake_target_start_opts(&to2);
  if (t_nbd_fake_export(ini, ft, "nbdp", "login to a fake target with UNMAP", "export of its LUN 0", &x)) {
    int fd = x.e ? t_nbd_open(ini, x.sock_path, 0) : -1;
    T_OK(fd >= 0, "an NBD client in transmission");
    if (fd >= 0) checks_fua(ft, fd);
    if (fd >= 0) close(fd);
  }
  t_nbd_fake_end(ini, &x);
  mcsi_initiator_free(ini);
  fake_target_stop(ft);
  return t_done();
}
