/* test_nbd_policy: NBD on the engine's block I/O (issue 15). An export of
 * the fake target's LUN in process, a raw NBD client of this test: FUA
 * reaches the target as the CDB bit, a storm below the retry limit is
 * answered after N+1 sends and one above it with EIO after the limit + 1
 * (the engine's rule, not a loop of NBD's own), a read longer than the
 * Block Limits' maximum arrives as several commands, write zeroes on a LUN
 * without WRITE SAME, flush, and TRIM refused on a LUN without UNMAP. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "fake_target.h"
#include "mcsi.h"
#include "mcsi_nbd.h"
#include "wire.h"
#include "testlib.h"
#include "testopts.h"
#include "testsock.h"

static mcsi_initiator *ini;
static char sock_path[108];
static char dir[64];

/* ---- a raw client (as test_nbd_hostile's) ---- */

static int cli_connect(const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

static int send_option(int fd, uint32_t opt, const void *data, uint32_t len)
{
  uint8_t h[16];
  nbd_put64(h, NBD_IHAVEOPT);
  nbd_put32(h + 8, opt);
  nbd_put32(h + 12, len);
  return t_sock_send(ini, fd, h, sizeof h) || (len && t_sock_send(ini, fd, data, len)) ? -1 : 0;
}

/* One option reply: its type, data (up to cap bytes kept) in d, length in *len; 0 on failure. */
static uint32_t read_option_reply(int fd, uint8_t *d, size_t cap, uint32_t *len)
{
  uint8_t h[20];
  if (t_sock_recv(ini, fd, h, sizeof h, 10000) != (ssize_t)sizeof h || nbd_get64(h) != NBD_REP_MAGIC) return 0;
  *len = nbd_get32(h + 16);
  if (*len > cap) return 0;
  if (*len && t_sock_recv(ini, fd, d, *len, 10000) != (ssize_t)*len) return 0;
  return nbd_get32(h + 12);
}

/* Greeting and client flags; 1 if the greeting was right. */
static int greet(int fd, uint32_t flags)
{
  uint8_t g[18], f[4];
  if (t_sock_recv(ini, fd, g, sizeof g, 10000) != (ssize_t)sizeof g) return 0;
  nbd_put32(f, flags);
  if (t_sock_send(ini, fd, f, sizeof f)) return 0;
  return nbd_get64(g) == NBD_MAGIC && nbd_get64(g + 8) == NBD_IHAVEOPT &&
         (nbd_get16(g + 16) & NBD_FLAG_FIXED_NEWSTYLE);
}

/* NBD_OPT_GO on the default export; the transmission flags, or -1. */
static int go(int fd, uint64_t *size)
{
  uint8_t d[6] = { 0 }, r[64];
  uint32_t len, type;
  int flags = -1;
  if (send_option(fd, NBD_OPT_GO, d, sizeof d)) return -1;
  while ((type = read_option_reply(fd, r, sizeof r, &len)) == NBD_REP_INFO)
    if (len >= 12 && nbd_get16(r) == NBD_INFO_EXPORT) {
      if (size) *size = nbd_get64(r + 2);
      flags = nbd_get16(r + 10);
    }
  return type == NBD_REP_ACK ? flags : -1;
}

static int open_client(void)
{
  int fd = cli_connect(sock_path);
  if (fd < 0 || !greet(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES) || go(fd, NULL) < 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

static int send_request(int fd, uint16_t type, uint16_t flags, uint64_t cookie, uint64_t off, uint32_t len,
                        const void *payload, size_t plen)
{
  uint8_t h[NBD_REQUEST_SIZE];
  nbd_put32(h, NBD_REQUEST_MAGIC);
  nbd_put16(h + 4, flags);
  nbd_put16(h + 6, type);
  nbd_put64(h + 8, cookie);
  nbd_put64(h + 16, off);
  nbd_put32(h + 24, len);
  return t_sock_send(ini, fd, h, sizeof h) || (plen && t_sock_send(ini, fd, payload, plen)) ? -1 : 0;
}

/* A simple reply: its error, or -1 when none came; *cookie set. */
static long read_reply(int fd, uint64_t *cookie)
{
  uint8_t r[NBD_SIMPLE_REPLY_SIZE];
  if (t_sock_recv(ini, fd, r, sizeof r, 30000) != (ssize_t)sizeof r || nbd_get32(r) != NBD_SIMPLE_REPLY_MAGIC) return -1;
  if (cookie) *cookie = nbd_get64(r + 8);
  return (long)nbd_get32(r + 4);
}

/* A request and its reply (no data expected unless rbuf); the error or -1. */
static long roundtrip(int fd, uint16_t type, uint16_t flags, uint64_t off, uint32_t len, const void *payload,
                      size_t plen, void *rbuf)
{
  static uint64_t next_cookie = 0x1000;
  uint64_t cookie = ++next_cookie, got = 0;
  if (send_request(fd, type, flags, cookie, off, len, payload, plen)) return -1;
  long err = read_reply(fd, &got);
  if (err < 0 || got != cookie) return -1;
  if (!err && rbuf && t_sock_recv(ini, fd, rbuf, len, 30000) != (ssize_t)len) return -1;
  return err;
}

/* ---- the checks ---- */

static void fill(uint8_t *b, size_t n, unsigned seed)
{
  for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static void checks(fake_target *ft, int fd, int tflags)
{
  static uint8_t w[64 * 1024], r[64 * 1024], z[4096];
  T_OK(tflags >= 0 && (tflags & NBD_FLAG_SEND_FUA), "FUA offered");
  T_OK(tflags >= 0 && !(tflags & NBD_FLAG_SEND_TRIM), "no TRIM on a LUN without UNMAP");
  fill(w, sizeof w, 1);
  unsigned fua = fake_target_fua(ft);
  T_EQ_INT(roundtrip(fd, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 4096, w, 4096, NULL), 0, "write with FUA");
  T_EQ_INT(fake_target_fua(ft) - fua, 1, "FUA reached the target as the CDB bit");
  T_EQ_INT(roundtrip(fd, NBD_CMD_WRITE, 0, 0, 4096, w, 4096, NULL), 0, "write without FUA");
  T_EQ_INT(fake_target_fua(ft) - fua, 1, "no FUA bit without the flag");

  unsigned before = fake_target_io_commands(ft);
  fake_target_storm(ft, FAKE_STORM_UA, 3);
  T_EQ_INT(roundtrip(fd, NBD_CMD_READ, 0, 0, 4096, NULL, 0, r), 0, "read through a UNIT ATTENTION storm of 3");
  T_EQ_INT(fake_target_io_commands(ft) - before, 4, "4 sends for a storm of 3");
  T_EQ_MEM(r, w, 4096, "the data");
  before = fake_target_io_commands(ft);
  fake_target_storm(ft, FAKE_STORM_BUSY, MCSI_SCSI_RETRIES + 3);
  T_EQ_INT(roundtrip(fd, NBD_CMD_READ, 0, 0, 4096, NULL, 0, r), NBD_EIO, "a BUSY storm beyond the limit: EIO");
  T_EQ_INT(fake_target_io_commands(ft) - before, MCSI_SCSI_RETRIES + 1, "the limit + 1 sends (one rule, no NBD loop)");
  fake_target_storm(ft, FAKE_STORM_NONE, 0);

  unsigned rw = fake_target_rw_commands(ft);
  T_EQ_INT(roundtrip(fd, NBD_CMD_WRITE, 0, 8192, sizeof w, w, sizeof w, NULL), 0, "64 KiB write");
  T_EQ_INT(roundtrip(fd, NBD_CMD_READ, 0, 8192, sizeof r, NULL, 0, r), 0, "64 KiB read");
  T_EQ_INT(fake_target_rw_commands(ft) - rw, 32, "each as 16 commands of the Block Limits' 8 blocks");
  T_EQ_MEM(r, w, sizeof r, "64 KiB intact");

  before = fake_target_io_commands(ft);
  T_EQ_INT(roundtrip(fd, NBD_CMD_FLUSH, 0, 0, 0, NULL, 0, NULL), 0, "flush");
  T_EQ_INT(fake_target_io_commands(ft) - before, 1, "flush: one SYNCHRONIZE CACHE");
  T_EQ_INT(roundtrip(fd, NBD_CMD_WRITE_ZEROES, 0, 8192, 4096, NULL, 0, NULL), 0, "write zeroes (no WRITE SAME there)");
  memset(z, 0, sizeof z);
  T_EQ_INT(roundtrip(fd, NBD_CMD_READ, 0, 8192, 4096, NULL, 0, r), 0, "read the zeroes");
  T_EQ_MEM(r, z, 4096, "zeroed");
  T_EQ_INT(roundtrip(fd, NBD_CMD_TRIM, 0, 0, 4096, NULL, 0, NULL), NBD_EINVAL, "TRIM refused");
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
    int fd = e ? open_client() : -1, tflags = -1;
    if (fd >= 0) {                            /* a second client for the transmission flags */
      int probe = cli_connect(sock_path);
      if (probe >= 0 && greet(probe, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) tflags = go(probe, NULL);
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
