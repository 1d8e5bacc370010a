/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_nbd_hostile: an NBD export (nbd/) against hostile and careless clients,
 * in process: the export runs on the initiator's loop, the clients are raw
 * sockets of this test that pump that loop while they wait. Against tgt's
 * file LUN (harness tid 1 LUN 1, 2 GiB). Every hostile client ends in an NBD
 * error or a closed connection; the export keeps serving well-behaved
 * clients (this test's and qemu-io) afterwards; memory in flight stays
 * bounded per client. Waits are generous bounds, never pass/fail timings. */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "mcsi.h"
#include "mcsi_nbd.h"
#include "testlib.h"
#include "testopts.h"
#include "testsock.h"
#include "testnbd.h"

extern char **environ;

static mcsi_initiator *ini;
static mcsi_nbd_export *exp_rw;
static char sock_path[108];
static char dir[64];

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pump(int ms)
{
  uint64_t end = now_ms() + (uint64_t)ms;
  do mcsi_process(ini, 5);
  while (now_ms() < end);
}

static mcsi_nbd_info info_of(mcsi_nbd_export *e)
{
  mcsi_nbd_info in;
  mcsi_nbd_export_info(e, &in);
  return in;
}

/* ---- a raw client ---- */

/* 1 when the server closed the connection within timeout_ms (data before it is skipped). */
static int cli_closed(int fd, int timeout_ms)
{
  uint8_t b[4096];
  uint64_t end = now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno == ECONNRESET)) return 1;
    if (r > 0) continue;
    if (now_ms() > end) return 0;
    mcsi_process(ini, 5);
  }
}

/* A well-behaved client writes and reads back 64 KiB at off. */
static int well_behaved(uint64_t off, unsigned seed)
{
  static uint8_t w[65536], r[65536];
  int fd = t_nbd_open(ini, sock_path, 0);
  if (fd < 0) return 0;
  t_nbd_fill(w, sizeof w, seed);
  int ok = t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, off, sizeof w, w, sizeof w, NULL) == 0 &&
           t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, off, sizeof r, NULL, 0, r) == 0 && memcmp(w, r, sizeof w) == 0;
  uint8_t disc[NBD_REQUEST_SIZE] = { 0 };
  nbd_put32(disc, NBD_REQUEST_MAGIC);
  nbd_put16(disc + 6, NBD_CMD_DISC);
  t_sock_send(ini, fd, disc, sizeof disc);
  ok = ok && cli_closed(fd, 10000);
  close(fd);
  return ok;
}

/* ---- the cases ---- */

static void test_bad_handshakes(void)
{
  int fd = t_nbd_connect_unix(sock_path);
  t_nbd_greet(ini, fd, NBD_FLAG_C_FIXED_NEWSTYLE);
  uint8_t junk[16];
  memset(junk, 'x', sizeof junk);
  t_sock_send(ini, fd, junk, sizeof junk);
  T_OK(cli_closed(fd, 10000), "an option with a bad magic: the client is closed");
  close(fd);

  fd = t_nbd_connect_unix(sock_path);
  t_nbd_greet(ini, fd, 0x80 | NBD_FLAG_C_FIXED_NEWSTYLE);
  T_OK(cli_closed(fd, 10000), "unknown client flags: the client is closed");
  close(fd);

  fd = t_nbd_connect_unix(sock_path);
  t_nbd_greet(ini, fd, NBD_FLAG_C_FIXED_NEWSTYLE);
  uint8_t h[16];
  nbd_put64(h, NBD_IHAVEOPT);
  nbd_put32(h + 8, NBD_OPT_GO);
  nbd_put32(h + 12, 1u << 30);
  t_sock_send(ini, fd, h, sizeof h);
  T_OK(cli_closed(fd, 10000), "an option of 1 GiB: the client is closed before its data");
  close(fd);

  fd = t_nbd_connect_unix(sock_path);
  uint8_t d[64];
  uint32_t len;
  t_nbd_greet(ini, fd, T_NBD_CLIENT_FLAGS);
  t_nbd_send_option(ini, fd, 99, "abc", 3);
  T_EQ_U64(t_nbd_option_reply(ini, fd, d, sizeof d, &len), NBD_REP_ERR_UNSUP, "an unknown option: NBD_REP_ERR_UNSUP");
  t_nbd_send_option(ini, fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
  T_EQ_U64(t_nbd_option_reply(ini, fd, d, sizeof d, &len), NBD_REP_ERR_UNSUP, "structured replies: not offered (simple replies only)");
  uint8_t bad[10] = { 0, 0, 0, 200, 0, 0 };   /* name length 200 in a 10-byte option */
  t_nbd_send_option(ini, fd, NBD_OPT_GO, bad, sizeof bad);
  T_EQ_U64(t_nbd_option_reply(ini, fd, d, sizeof d, &len), NBD_REP_ERR_INVALID, "NBD_OPT_GO with a name longer than the option: NBD_REP_ERR_INVALID");
  uint8_t named[4 + 4 + 2] = { 0, 0, 0, 4, 'n', 'o', 'p', 'e', 0, 0 };
  t_nbd_send_option(ini, fd, NBD_OPT_INFO, named, sizeof named);
  T_EQ_U64(t_nbd_option_reply(ini, fd, d, sizeof d, &len), NBD_REP_ERR_UNKNOWN, "NBD_OPT_INFO on an unknown export: NBD_REP_ERR_UNKNOWN");
  t_nbd_send_option(ini, fd, NBD_OPT_LIST, "x", 1);
  T_EQ_U64(t_nbd_option_reply(ini, fd, d, sizeof d, &len), NBD_REP_ERR_INVALID, "NBD_OPT_LIST with data: NBD_REP_ERR_INVALID");
  t_nbd_send_option(ini, fd, NBD_OPT_LIST, NULL, 0);
  uint32_t t1 = t_nbd_option_reply(ini, fd, d, sizeof d, &len);
  T_OK(t1 == NBD_REP_SERVER && len == 4 + 4 && memcmp(d + 4, "lun1", 4) == 0, "NBD_OPT_LIST names the export");
  T_EQ_U64(t_nbd_option_reply(ini, fd, d, sizeof d, &len), NBD_REP_ACK, "NBD_OPT_LIST ends with an ACK");
  uint64_t size = 0;
  int flags = t_nbd_go(ini, fd, &size);
  T_OK(flags >= 0 && size == (2ull << 30), "after all that, NBD_OPT_GO on the same connection works (size %llu)",
       (unsigned long long)size);
  T_OK(flags >= 0 && (flags & NBD_FLAG_CAN_MULTI_CONN) && (flags & NBD_FLAG_SEND_FUA) && !(flags & NBD_FLAG_READ_ONLY),
       "transmission flags: multi-conn, FUA, writable (0x%x)", (unsigned)flags);
  close(fd);

  fd = t_nbd_connect_unix(sock_path);
  t_nbd_greet(ini, fd, NBD_FLAG_C_FIXED_NEWSTYLE);
  t_nbd_send_option(ini, fd, NBD_OPT_ABORT, NULL, 0);
  T_EQ_U64(t_nbd_option_reply(ini, fd, d, sizeof d, &len), NBD_REP_ACK, "NBD_OPT_ABORT is acknowledged");
  T_OK(cli_closed(fd, 10000), "and the client is closed");
  close(fd);

  fd = t_nbd_connect_unix(sock_path);                 /* the oldest way in: NBD_OPT_EXPORT_NAME, with the 124 zeroes */
  t_nbd_greet(ini, fd, NBD_FLAG_C_FIXED_NEWSTYLE);
  t_nbd_send_option(ini, fd, NBD_OPT_EXPORT_NAME, "lun1", 4);
  uint8_t ex[134];
  T_OK(t_sock_recv(ini, fd, ex, sizeof ex, 10000) == (ssize_t)sizeof ex && nbd_get64(ex) == (2ull << 30),
       "NBD_OPT_EXPORT_NAME: size, flags and 124 zero bytes");
  static uint8_t r[4096];
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, 0, sizeof r, NULL, 0, r), 0, "and a read works");
  close(fd);

  fd = t_nbd_connect_unix(sock_path);
  t_nbd_greet(ini, fd, NBD_FLAG_C_FIXED_NEWSTYLE);
  t_nbd_send_option(ini, fd, NBD_OPT_EXPORT_NAME, "other", 5);
  T_OK(cli_closed(fd, 10000), "NBD_OPT_EXPORT_NAME of an unknown export: closed");
  close(fd);
}

static void test_stalled_handshake(void)
{
  uint64_t before = info_of(exp_rw).clients;
  int fd = t_nbd_connect_unix(sock_path), fd2 = t_nbd_connect_unix(sock_path);
  t_sock_send(ini, fd2, "\0\0", 2);                    /* half of the client flags, then nothing */
  T_OK(cli_closed(fd, 20000), "a client that never answers the greeting is closed (handshake deadline)");
  T_OK(cli_closed(fd2, 20000), "a client that stops inside its flags is closed too");
  close(fd);
  close(fd2);
  pump(50);
  T_EQ_U64(info_of(exp_rw).clients, before, "the export forgot both");
}

static void test_bad_requests(void)
{
  static uint8_t buf[1 << 16];
  int fd = t_nbd_open(ini, sock_path, 0);
  T_OK(fd >= 0, "a client reaches transmission");
  uint64_t size = 2ull << 30;
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, size, 512, NULL, 0, NULL), NBD_EINVAL, "read past the end: EINVAL");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, size - 512, 1024, NULL, 0, NULL), NBD_EINVAL, "read across the end: EINVAL");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, UINT64_MAX - 100, 512, NULL, 0, NULL), NBD_EINVAL, "read at an offset that wraps: EINVAL");
  t_nbd_fill(buf, 512, 3);
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE, 0, size, 512, buf, 512, NULL), NBD_ENOSPC, "write past the end: ENOSPC (payload consumed)");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE_ZEROES, 0, size - 512, 4096, NULL, 0, NULL), NBD_ENOSPC, "write zeroes across the end: ENOSPC");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, 1, 512, NULL, 0, NULL), NBD_EINVAL, "read not aligned to the block: EINVAL");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE, 0, 0, 100, buf, 100, NULL), NBD_EINVAL, "write of 100 bytes: EINVAL (payload consumed)");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, 0, 64u << 20, NULL, 0, NULL), NBD_EINVAL, "read of 64 MiB (max 32 MiB): EINVAL");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, 42, 0, 0, 512, NULL, 0, NULL), NBD_EINVAL, "unknown command: EINVAL");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0x80, 0, 512, NULL, 0, NULL), NBD_EINVAL, "unknown command flag: EINVAL");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_TRIM, 0, 0, 512, NULL, 0, NULL), NBD_EINVAL, "TRIM on a LUN without UNMAP: EINVAL");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, 0, 0, NULL, 0, NULL), 0, "read of 0 bytes: success");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_FLUSH, 0, 0, 0, NULL, 0, NULL), 0, "flush: success");
  t_nbd_fill(buf, sizeof buf, 9);
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, size - sizeof buf, sizeof buf, buf, sizeof buf, NULL), 0,
           "after the errors, a FUA write of the last 64 KiB works");
  static uint8_t back[1 << 16];
  T_OK(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, size - sizeof back, sizeof back, NULL, 0, back) == 0 &&
       memcmp(buf, back, sizeof buf) == 0, "and reads back the same");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE_ZEROES, 0, size - sizeof buf, sizeof buf, NULL, 0, NULL), 0, "write zeroes");
  static const uint8_t zero[1 << 16];
  T_OK(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, size - sizeof back, sizeof back, NULL, 0, back) == 0 &&
       memcmp(zero, back, sizeof back) == 0, "and they read back as zeroes");
  /* a write whose payload is too large to take: the client goes */
  T_OK(t_nbd_send_request(ini, fd, NBD_CMD_WRITE, 0, 77, 0, 64u << 20, NULL, 0) == 0 && cli_closed(fd, 10000),
       "write of 64 MiB: the client is closed before its payload");
  close(fd);

  fd = t_nbd_open(ini, sock_path, 0);
  uint8_t junk[NBD_REQUEST_SIZE];
  memset(junk, 0x55, sizeof junk);
  t_sock_send(ini, fd, junk, sizeof junk);
  T_OK(cli_closed(fd, 10000), "a request with a bad magic: the client is closed");
  close(fd);

  fd = t_nbd_open(ini, sock_path, 0);                /* a read then NBD_CMD_DISC: the read is answered, then close */
  t_nbd_send_request(ini, fd, NBD_CMD_READ, 0, 5, 0, 4096, NULL, 0);
  t_nbd_send_request(ini, fd, NBD_CMD_DISC, 0, 6, 0, 0, NULL, 0);
  uint64_t cookie = 0;
  T_OK(t_nbd_read_reply(ini, fd, &cookie) == 0 && cookie == 5 && t_sock_recv(ini, fd, buf, 4096, 10000) == 4096,
       "NBD_CMD_DISC after a read: the read is answered first");
  T_OK(cli_closed(fd, 10000), "then the client is closed");
  close(fd);
  T_OK(well_behaved(1 << 20, 1), "a well-behaved client is served after the bad requests");
}

/* Requests in flight when the client vanishes finish into their own buffers. */
static void test_disconnect_in_flight(void)
{
  static uint8_t w[1 << 20];
  for (int round = 0; round < 3; round++) {
    int fd = t_nbd_open(ini, sock_path, 0);
    for (int i = 0; i < 8; i++) t_nbd_send_request(ini, fd, NBD_CMD_READ, 0, (uint64_t)i, (uint64_t)i << 22, 4u << 20, NULL, 0);
    for (int i = 0; i < 4; i++) t_nbd_send_request(ini, fd, NBD_CMD_WRITE, 0, 100u + (unsigned)i, (64ull << 20) + ((uint64_t)i << 20), sizeof w, w, sizeof w);
    t_nbd_send_request(ini, fd, NBD_CMD_FLUSH, 0, 200, 0, 0, NULL, 0);
    pump(round * 3);                           /* vanish at different moments */
    close(fd);
  }
  uint64_t end = now_ms() + 30000;
  while ((info_of(exp_rw).inflight || info_of(exp_rw).clients) && now_ms() < end) pump(10);
  mcsi_nbd_info in = info_of(exp_rw);
  T_EQ_U64(in.inflight, 0, "clients gone with requests in flight: their requests all ended");
  T_EQ_U64(in.clients, 0, "and the clients are forgotten");
  T_OK(well_behaved(2 << 20, 2), "a well-behaved client is served afterwards");
}

/* A client that sends and never reads: its requests in flight stay bounded,
 * and another client is served meanwhile. */
static void test_greedy_client(void)
{
  int fd = t_nbd_open(ini, sock_path, 0);
  int sent = 0;
  for (int i = 0; i < 400; i++) {
    uint8_t h[NBD_REQUEST_SIZE];
    nbd_put32(h, NBD_REQUEST_MAGIC);
    nbd_put16(h + 4, 0);
    nbd_put16(h + 6, NBD_CMD_READ);
    nbd_put64(h + 8, (uint64_t)i);
    nbd_put64(h + 16, (uint64_t)(i % 64) << 22);
    nbd_put32(h + 24, 4u << 20);
    if (send(fd, h, sizeof h, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof h) break;
    sent++;
  }
  uint64_t peak = 0;
  for (int i = 0; i < 100; i++) {
    pump(20);
    uint64_t n = info_of(exp_rw).inflight;
    if (n > peak) peak = n;
  }
  T_OK(sent >= 100, "a client queued %d reads of 4 MiB and reads no reply", sent);
  T_OK(peak > 0 && peak <= 17, "its requests in flight stay bounded by 64 MiB per client (peak %llu of 4 MiB)",
       (unsigned long long)peak);
  T_OK(well_behaved(3 << 20, 3), "another client is served meanwhile");
  close(fd);
  uint64_t end = now_ms() + 30000;
  while ((info_of(exp_rw).inflight || info_of(exp_rw).clients) && now_ms() < end) pump(10);
  T_EQ_U64(info_of(exp_rw).inflight, 0, "once it goes, nothing of it is left");
}

static void test_read_only(mcsi_id sid)
{
  char err[256] = "";
  mcsi_nbd_opts o = { .tcp = "127.0.0.1:0", .read_only = 1, .tls = MCSI_NBD_TLS_OFF };   /* plain, said explicitly */
  mcsi_nbd_export *ro = mcsi_nbd_export_start(ini, sid, 1, &o, err, sizeof err);
  T_OK(ro != NULL, "a read-only export on TCP 127.0.0.1, any port (%s)", err);
  if (!ro) return;
  mcsi_nbd_info in = info_of(ro);
  T_OK(in.tcp_port > 0 && strcmp(in.tcp_host, "127.0.0.1") == 0, "it listens on 127.0.0.1:%u", in.tcp_port);
  int fd = t_nbd_connect_tcp(in.tcp_port, 1);
  uint64_t size = 0;
  int flags = t_nbd_greet(ini, fd, T_NBD_CLIENT_FLAGS) ? t_nbd_go(ini, fd, &size) : -1;
  T_OK(flags >= 0 && (flags & NBD_FLAG_READ_ONLY) && !(flags & NBD_FLAG_SEND_WRITE_ZEROES), "flags say read-only (0x%x)",
       (unsigned)flags);
  static uint8_t b[4096];
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE, 0, 0, sizeof b, b, sizeof b, NULL), NBD_EPERM, "write: EPERM");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_WRITE_ZEROES, 0, 0, 4096, NULL, 0, NULL), NBD_EPERM, "write zeroes: EPERM");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_TRIM, 0, 0, 4096, NULL, 0, NULL), NBD_EPERM, "trim: EPERM");
  T_EQ_INT(t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, 0, sizeof b, NULL, 0, b), 0, "read: fine");
  /* stopping the export with this client's reads in flight */
  for (int i = 0; i < 8; i++) t_nbd_send_request(ini, fd, NBD_CMD_READ, 0, (uint64_t)i, (uint64_t)i << 22, 4u << 20, NULL, 0);
  pump(2);
  mcsi_nbd_export_stop(ro);
  T_OK(cli_closed(fd, 10000), "stopping the export closes its client, reads in flight or not");
  close(fd);
  pump(300);                                   /* the orphaned reads finish into their own buffers */
  T_OK(well_behaved(4 << 20, 4), "the other export still serves");
}

static int tgt_state(const char *state)
{
  char cmd[512];
  snprintf(cmd, sizeof cmd, "TGT_IPC_SOCKET='%s' tgtadm -C 0 --lld iscsi --op update --mode target --tid 1 "
           "--name state --value %s >/dev/null 2>&1", t_env("MCSI_TGT_IPC"), state);
  return system(cmd);
}

/* A client that hangs up while its reading is paused (64 requests stuck in
 * SCSI: the target is offline) with requests still unread in its socket: it
 * is closed at once (not polled for until its requests end), and its
 * requests end later into their own buffers. */
static void test_hangup_while_paused(void)
{
  char portal[64], err[256] = "", path[128];
  snprintf(portal, sizeof portal, "127.0.0.1:%s", t_env("MCSI_TGT_PORT"));
  mcsi_login_opts *lo = t_login_opts(portal, t_env("MCSI_TGT_IQN_PLAIN"), MCSI_OPT_LOGIN_TIMEOUT_MS, 5000, MCSI_OPT_COMMAND_TIMEOUT_MS, 3000, 0);
  mcsi_id sid = 0;
  if (mcsi_login_to_target(ini, lo, &sid, NULL)) {
    T_OK(0, "second login (%s)", mcsi_last_message(ini));
    return;
  }
  snprintf(path, sizeof path, "%s/p", dir);
  mcsi_nbd_opts o = { .socket_path = path };
  mcsi_nbd_export *e = mcsi_nbd_export_start(ini, sid, 1, &o, err, sizeof err);
  T_OK(e != NULL, "an export on a session with a 3 s command timeout (%s)", err);
  if (!e) return;
  int fd = t_nbd_open(ini, path, 0);
  T_OK(tgt_state("offline") == 0, "tgt's target set offline (commands go unanswered)");
  static uint8_t hdrs[4000 * NBD_REQUEST_SIZE];
  for (int i = 0; i < 4000; i++) {
    uint8_t *h = hdrs + (size_t)i * NBD_REQUEST_SIZE;
    nbd_put32(h, NBD_REQUEST_MAGIC);
    nbd_put16(h + 4, 0);
    nbd_put16(h + 6, NBD_CMD_READ);
    nbd_put64(h + 8, (uint64_t)i);
    nbd_put64(h + 16, (uint64_t)i * 4096);
    nbd_put32(h + 24, 4096);
  }
  size_t sent = 0;
  uint64_t end = now_ms() + 5000;
  while (sent < sizeof hdrs && now_ms() < end) {
    ssize_t w = send(fd, hdrs + sent, sizeof hdrs - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0) sent += (size_t)w;
    else mcsi_process(ini, 5);
    if (info_of(e).inflight >= 64 && w <= 0) break;
  }
  pump(200);
  T_EQ_U64(info_of(e).inflight, 64, "64 requests in flight, the rest unread (%zu bytes sent)", sent);
  close(fd);
  end = now_ms() + 2000;                       /* well inside the 3 s its commands wait for */
  while (info_of(e).clients && now_ms() < end) pump(10);
  T_EQ_U64(info_of(e).clients, 0, "the client that hung up is closed at once, its requests still in SCSI");
  T_EQ_U64(info_of(e).inflight, 0, "its requests are orphans now (they end into their own buffers)");
  T_OK(tgt_state("ready") == 0, "tgt's target back online");
  fd = t_nbd_open(ini, path, 0);
  static uint8_t r[4096];
  T_EQ_INT(fd >= 0 ? t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, 0, sizeof r, NULL, 0, r) : -1, 0,
           "once the orphans have timed out, a new client reads from the export");
  if (fd >= 0) close(fd);
  mcsi_nbd_export_stop(e);
  pump(100);
  mcsi_logout_from_target(ini, sid);
}

/* qemu-io, a client nobody here wrote, after all of the above. */
static void test_qemu_io(void)
{
  char uri[200];
  snprintf(uri, sizeof uri, "nbd+unix:///lun1?socket=%s", sock_path);
  char a0[] = "qemu-io", a1[] = "-f", a2[] = "raw", a4[] = "-c", a5[] = "write -P 0x5c 8M 1M", a7[] = "read -P 0x5c 8M 1M";
  char *argv[] = { a0, a1, a2, uri, a4, a5, a4, a7, NULL };
  pid_t pid;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
  if (posix_spawnp(&pid, "qemu-io", &fa, NULL, argv, environ)) {
    posix_spawn_file_actions_destroy(&fa);
    t_skip("qemu-io not installed (bash tools/deps.sh)");
    return;
  }
  posix_spawn_file_actions_destroy(&fa);
  int ws = 0;
  uint64_t end = now_ms() + 60000;
  while (waitpid(pid, &ws, WNOHANG) == 0) {
    if (now_ms() > end) { kill(pid, SIGKILL); waitpid(pid, &ws, 0); break; }
    pump(10);
  }
  T_OK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "qemu-io writes and verifies 1 MiB through the export afterwards");
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  ini = mcsi_initiator_new(NULL);
  char portal[64];
  snprintf(portal, sizeof portal, "127.0.0.1:%s", t_env("MCSI_TGT_PORT"));
  mcsi_login_opts *lo = t_login_opts(portal, t_env("MCSI_TGT_IQN_PLAIN"), MCSI_OPT_LOGIN_TIMEOUT_MS, 5000, 0);
  mcsi_id sid = 0;
  mcsi_status st = mcsi_login_to_target(ini, lo, &sid, NULL);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "login (%s)", mcsi_last_message(ini));
  if (st) return t_done();
  snprintf(dir, sizeof dir, "%s/nbdh.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(dir)) return t_done();
  snprintf(sock_path, sizeof sock_path, "%s/s", dir);
  char err[256] = "";
  mcsi_nbd_opts o = { .socket_path = sock_path, .name = "lun1", .handshake_timeout_ms = 300 };
  exp_rw = mcsi_nbd_export_start(ini, sid, 1, &o, err, sizeof err);
  T_OK(exp_rw != NULL, "export of LUN 1 on a Unix socket (%s)", err);
  if (exp_rw) {
    mcsi_nbd_info in = info_of(exp_rw);
    T_OK(in.size == (2ull << 30) && in.block_size == 512 && in.max_request == (32u << 20),
         "size 2 GiB, block 512, max request 32 MiB");
    mcsi_nbd_opts none = { 0 };
    T_OK(mcsi_nbd_export_start(ini, sid, 1, &none, err, sizeof err) == NULL, "no socket and no TCP: refused (%s)", err);
    test_bad_handshakes();
    test_stalled_handshake();
    test_bad_requests();
    test_disconnect_in_flight();
    test_greedy_client();
    test_read_only(sid);
    test_hangup_while_paused();
    test_qemu_io();
    /* a daemon's persistent login comes back as a new session: the export follows it */
    mcsi_id sid2 = 0;
    int fd = t_nbd_open(ini, sock_path, 0);
    T_EQ_STR(mcsi_status_name(mcsi_login_to_target(ini, lo, &sid2, NULL)), "ISDSC_SUCCESS", "a second session");
    mcsi_nbd_export_rebind(exp_rw, sid2, 1);
    T_EQ_STR(mcsi_status_name(mcsi_logout_from_target(ini, sid)), "ISDSC_SUCCESS", "the first one logs out");
    static uint8_t r[4096];
    T_EQ_INT(fd >= 0 ? t_nbd_roundtrip(ini, fd, NBD_CMD_READ, 0, 8 << 20, sizeof r, NULL, 0, r) : -1, 0,
             "rebound to the second session: a client connected before reads on");
    T_OK(r[0] == 0x5c && r[4095] == 0x5c, "the data qemu-io wrote");
    if (fd >= 0) close(fd);
    T_EQ_U64(info_of(exp_rw).session_id, sid2, "info names the new session");
    T_OK(well_behaved(5 << 20, 5), "and new clients are served");
    sid = sid2;
    mcsi_nbd_info end = info_of(exp_rw);
    T_OK(end.errors > 0 && end.requests > end.errors, "counters: %llu requests, %llu errors, %llu clients",
         (unsigned long long)end.requests, (unsigned long long)end.errors, (unsigned long long)end.clients_total);
    mcsi_nbd_export_stop(exp_rw);
    T_OK(access(sock_path, F_OK) != 0, "stop removes the socket");
  }
  pump(200);
  mcsi_logout_from_target(ini, sid);
  mcsi_initiator_free(ini);
  rmdir(dir);
  return t_done();
}
