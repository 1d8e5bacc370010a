/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_nbd_policy: NBD on the engine's block I/O (issue 15). An export of
 * the fake target's LUN in process, a raw NBD client of this test: FUA
 * reaches the target as the CDB bit, a storm below the retry limit is
 * answered after N+1 sends and one above it with EIO after the limit + 1
 * (the engine's rule, not a loop of NBD's own), a read longer than the
 * Block Limits' maximum arrives as several commands, write zeroes on a LUN
 * without WRITE SAME, flush, and TRIM refused on a LUN without UNMAP. */
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
#include "testnbd.h"
#include "testopts.h"
#include "testsock.h"

static mcsi_initiator *ini;
static char sock_path[108];
static char dir[64];

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

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  fake_target_opts to = { .max_transfer_blocks = 8 };
  fake_target *ft = fake_target_start_opts(&to);
  ini = mcsi_initiator_new(NULL);
  mcsi_login_opts *lo = t_login_opts(ft ? fake_target_portal(ft) : "", ft ? fake_target_iqn(ft) : "", MCSI_OPT_LOGIN_TIMEOUT_MS, 5000, MCSI_OPT_RECOVERY_TIMEOUT_MS, -1, 0);
  mcsi_id sid = 0;
  mcsi_status st = ft ? mcsi_login_to_target(ini, lo, &sid, NULL) : ISDSC_CONNECTION_FAILED;
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "login to the fake target (%s)", mcsi_last_message(ini));
  snprintf(dir, sizeof dir, "%s/nbdp.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!st && mkdtemp(dir)) {
    snprintf(sock_path, sizeof sock_path, "%s/s", dir);
    char err[256] = "";
    mcsi_nbd_opts o = { .socket_path = sock_path, .name = "lun0" };
    mcsi_nbd_export *e = mcsi_nbd_export_start(ini, sid, 0, &o, err, sizeof err);
    T_OK(e != NULL, "export of the fake target's LUN 0 (%s)", err);
    int fd = e ? t_nbd_open(ini, sock_path, 0) : -1, tflags = -1;
    if (fd >= 0) {                            /* a second client for the transmission flags */
      int probe = t_nbd_connect_unix(sock_path);
      if (probe >= 0 && t_nbd_greet(ini, probe, T_NBD_CLIENT_FLAGS)) tflags = t_nbd_go(ini, probe, NULL);
      if (probe >= 0) close(probe);
    }
    T_OK(tflags >= 0, "an NBD client in transmission");
    if (tflags >= 0) checks(ft, fd, tflags);
    if (fd >= 0) close(fd);
    if (e) mcsi_nbd_export_stop(e);
    rmdir(dir);
    mcsi_logout_from_target(ini, sid);
  }
  mcsi_initiator_free(ini);
  fake_target_stop(ft);
  return t_done();
}
