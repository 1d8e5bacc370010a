/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_nbd_tls: NBD over TLS (nbd/tls.c, handshake.c's NBD_OPT_STARTTLS) in
 * process, against tgt's file LUN (harness tid 1 LUN 1): the rules of the
 * NBD protocol's "TLS support" for a server, seen by raw clients of this
 * test that pump the loop while they wait. A TCP export requiring TLS
 * answers every option but STARTTLS and ABORT with NBD_REP_ERR_TLS_REQD and
 * closes on NBD_OPT_EXPORT_NAME; bytes sent after STARTTLS before its ACK,
 * a stalled or garbage TLS handshake close the client; a second STARTTLS
 * inside TLS is NBD_REP_ERR_INVALID; a client of GnuTLS (PSK, in a child
 * process) writes and reads through records of every size. Unix socket
 * clients may stay plain; an export without TLS answers STARTTLS with
 * NBD_REP_ERR_POLICY. Exports with missing or contradictory TLS options do
 * not start, and the messages name the option, never the file. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <gnutls/gnutls.h>
#include "mcsi.h"
#include "mcsi_nbd.h"
#include "wire.h"
#include "testlib.h"
#include "testopts.h"
#include "testsock.h"
#include "testnbd.h"

#define PSK_HEX "8c2b5e2d7d7f1e0b4a6c9d3e5f708192a3b4c5d6e7f8091a2b3c4d5e6f708192"

static mcsi_initiator *ini;
static char dir[64], psk_path[128], sock_path[108];

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

/* ---- a raw client (non-blocking, pumping the loop) ---- */

/* 1 when the server closes within timeout_ms having sent nothing more. */
static int closed_silently(int fd, int timeout_ms)
{
  uint8_t b[64];
  return t_sock_recv(ini, fd, b, sizeof b, timeout_ms) == 0;
}

/* ---- a GnuTLS client in a child process (blocking), PSK ---- */

enum { C_ACK = 1, C_HANDSHAKE = 2, C_SECOND_STARTTLS = 4, C_GO = 8, C_SMALL = 16, C_LARGE = 32, C_DISC = 64 };

static int tls_all(gnutls_session_t s, void *buf, size_t len, int sending)
{
  uint8_t *p = buf;
  while (len) {
    ssize_t r = sending ? gnutls_record_send(s, p, len) : gnutls_record_recv(s, p, len);
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) continue;
    if (r <= 0) return -1;
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

static uint32_t tls_reply_type(gnutls_session_t s)
{
  uint8_t h[20], d[512];
  if (tls_all(s, h, sizeof h, 0) || nbd_get64(h) != NBD_REP_MAGIC) return 0;
  uint32_t len = nbd_get32(h + 16);
  if (len > sizeof d || (len && tls_all(s, d, len, 0))) return 0;
  return nbd_get32(h + 12);
}

static int tls_option(gnutls_session_t s, uint32_t opt, const void *data, uint32_t len)
{
  uint8_t h[16];
  nbd_put64(h, NBD_IHAVEOPT);
  nbd_put32(h + 8, opt);
  nbd_put32(h + 12, len);
  return tls_all(s, h, sizeof h, 1) || (len && tls_all(s, (void *)data, len, 1)) ? -1 : 0;
}

/* A write then a read of len bytes at off through TLS: 1 when the data came back. */
static int tls_write_read(gnutls_session_t s, uint64_t off, uint32_t len, unsigned seed)
{
  uint8_t *w = malloc(len), *r = malloc(len), h[NBD_REQUEST_SIZE], rep[NBD_SIMPLE_REPLY_SIZE];
  int ok = w && r;
  for (uint32_t i = 0; ok && i < len; i++) w[i] = (uint8_t)(seed + i * 13 + (i >> 10));
  for (int type = NBD_CMD_WRITE; ok && type >= NBD_CMD_READ; type--) {
    nbd_put32(h, NBD_REQUEST_MAGIC);
    nbd_put16(h + 4, 0);
    nbd_put16(h + 6, (uint16_t)type);
    nbd_put64(h + 8, seed * 2u + (unsigned)type);
    nbd_put64(h + 16, off);
    nbd_put32(h + 24, len);
    ok = !tls_all(s, h, sizeof h, 1) && (type != NBD_CMD_WRITE || !tls_all(s, w, len, 1)) &&
         !tls_all(s, rep, sizeof rep, 0) && nbd_get32(rep + 4) == 0 && nbd_get64(rep + 8) == seed * 2u + (unsigned)type &&
         (type != NBD_CMD_READ || !tls_all(s, r, len, 0));
  }
  ok = ok && memcmp(w, r, len) == 0;
  free(w);
  free(r);
  return ok;
}

static int tls_client(uint16_t port)
{
  int res = 0, fd = t_nbd_connect_tcp(port, 0);
  uint8_t g[18], f[4], h[16];
  gnutls_session_t s;
  gnutls_psk_client_credentials_t cred;
  gnutls_datum_t key = { (unsigned char *)PSK_HEX, (unsigned)strlen(PSK_HEX) };
  if (fd < 0 || recv(fd, g, sizeof g, MSG_WAITALL) != (ssize_t)sizeof g) return 0;
  nbd_put32(f, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
  nbd_put64(h, NBD_IHAVEOPT);
  nbd_put32(h + 8, NBD_OPT_STARTTLS);
  nbd_put32(h + 12, 0);
  uint8_t rep[20];
  if (send(fd, f, 4, MSG_NOSIGNAL) != 4 || send(fd, h, 16, MSG_NOSIGNAL) != 16 ||
      recv(fd, rep, sizeof rep, MSG_WAITALL) != (ssize_t)sizeof rep || nbd_get32(rep + 12) != NBD_REP_ACK)
    return res;
  res |= C_ACK;
  gnutls_psk_allocate_client_credentials(&cred);
  gnutls_psk_set_client_credentials(cred, "alice", &key, GNUTLS_PSK_KEY_HEX);
  gnutls_init(&s, GNUTLS_CLIENT);
  gnutls_priority_set_direct(s, "NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK", NULL);
  gnutls_credentials_set(s, GNUTLS_CRD_PSK, cred);
  gnutls_transport_set_int(s, fd);
  int rc;
  do rc = gnutls_handshake(s);
  while (rc < 0 && !gnutls_error_is_fatal(rc));
  if (rc < 0) return res;
  res |= C_HANDSHAKE;
  if (!tls_option(s, NBD_OPT_STARTTLS, NULL, 0) && tls_reply_type(s) == NBD_REP_ERR_INVALID) res |= C_SECOND_STARTTLS;
  uint8_t d[6] = { 0 };
  uint32_t type = 0;
  if (!tls_option(s, NBD_OPT_GO, d, sizeof d))
    while ((type = tls_reply_type(s)) == NBD_REP_INFO) {}
  if (type != NBD_REP_ACK) return res;
  res |= C_GO;
  if (tls_write_read(s, 24u << 20, 4096, 1) && tls_write_read(s, 25u << 20, 512, 2)) res |= C_SMALL;
  if (tls_write_read(s, 26u << 20, 3u << 20, 3) && tls_write_read(s, 30u << 20, 16384 + 512, 4)) res |= C_LARGE;
  uint8_t disc[NBD_REQUEST_SIZE] = { 0 }, b[16];
  nbd_put32(disc, NBD_REQUEST_MAGIC);
  nbd_put16(disc + 6, NBD_CMD_DISC);
  if (!tls_all(s, disc, sizeof disc, 1) && gnutls_record_recv(s, b, sizeof b) == 0) res |= C_DISC;   /* close_notify */
  gnutls_deinit(s);
  gnutls_psk_free_client_credentials(cred);
  close(fd);
  return res;
}

/* Runs tls_client in a child while this process serves: its result bits. */
static int run_tls_client(uint16_t port)
{
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) _exit(tls_client(port));
  int status = 0;
  uint64_t end = now_ms() + 60000;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (now_ms() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return 0;
    }
    mcsi_process(ini, 5);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 0;
}

/* ---- the cases ---- */

static void test_forced_tls(mcsi_nbd_export *e, uint16_t port)
{
  uint8_t d[6] = { 0 };
  int fd = t_nbd_connect_tcp(port, 1);
  T_OK(fd >= 0 && t_nbd_greet(ini, fd, T_NBD_CLIENT_FLAGS), "a TCP client is greeted");
  T_EQ_INT(t_nbd_option(ini, fd, NBD_OPT_LIST, NULL, 0), NBD_REP_ERR_TLS_REQD, "LIST before TLS: TLS_REQD");
  T_EQ_INT(t_nbd_option(ini, fd, NBD_OPT_INFO, d, sizeof d), NBD_REP_ERR_TLS_REQD, "INFO before TLS: TLS_REQD");
  T_EQ_INT(t_nbd_go_reply(ini, fd), NBD_REP_ERR_TLS_REQD, "GO before TLS: TLS_REQD (no export information)");
  T_EQ_INT(t_nbd_option(ini, fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0), NBD_REP_ERR_TLS_REQD,
           "an unsupported option before TLS: TLS_REQD too");
  T_EQ_INT(t_nbd_option(ini, fd, NBD_OPT_STARTTLS, "x", 1), NBD_REP_ERR_INVALID,
           "STARTTLS with data: INVALID");
  T_OK(t_nbd_send_option(ini, fd, NBD_OPT_EXPORT_NAME, NULL, 0) == 0 && closed_silently(fd, 5000),
       "EXPORT_NAME before TLS: closed, nothing of the export sent");
  close(fd);

  fd = t_nbd_connect_tcp(port, 1);
  T_OK(fd >= 0 && t_nbd_greet(ini, fd, T_NBD_CLIENT_FLAGS) &&
       t_nbd_option(ini, fd, NBD_OPT_ABORT, NULL, 0) == NBD_REP_ACK &&
       closed_silently(fd, 5000), "ABORT before TLS: ACK, closed");
  close(fd);

  /* STARTTLS and bytes right behind it, before the ACK: never taken as if inside TLS */
  fd = t_nbd_connect_tcp(port, 1);
  uint8_t both[16 + 5];
  nbd_put64(both, NBD_IHAVEOPT);
  nbd_put32(both + 8, NBD_OPT_STARTTLS);
  nbd_put32(both + 12, 0);
  memcpy(both + 16, "\x16\x03\x01\x00\x00", 5);
  T_OK(fd >= 0 && t_nbd_greet(ini, fd, T_NBD_CLIENT_FLAGS) &&
       t_sock_send(ini, fd, both, sizeof both) == 0 && closed_silently(fd, 5000),
       "bytes sent after STARTTLS before its ACK: closed without the ACK");
  close(fd);

  mcsi_nbd_info before = info_of(e);
  fd = t_nbd_connect_tcp(port, 1);
  uint64_t t0 = now_ms();
  T_OK(fd >= 0 && t_nbd_greet(ini, fd, T_NBD_CLIENT_FLAGS) &&
       t_nbd_option(ini, fd, NBD_OPT_STARTTLS, NULL, 0) == NBD_REP_ACK,
       "STARTTLS: ACK");
  int closed = closed_silently(fd, 15000);
  T_OK(closed, "a client that never starts its TLS handshake is closed at the handshake deadline (after %llu ms)",
       (unsigned long long)(now_ms() - t0));
  close(fd);
  fd = t_nbd_connect_tcp(port, 1);
  static const char junk[] = "GET / HTTP/1.0\r\n\r\nnot a ClientHello at all";
  T_OK(fd >= 0 && t_nbd_greet(ini, fd, T_NBD_CLIENT_FLAGS) &&
       t_nbd_option(ini, fd, NBD_OPT_STARTTLS, NULL, 0) == NBD_REP_ACK &&
       t_sock_send(ini, fd, junk, sizeof junk) == 0 && t_sock_recv(ini, fd, (uint8_t[64]){ 0 }, 64, 5000) >= 0,
       "garbage instead of a ClientHello: the connection ends");
  close(fd);
  pump(50);
  mcsi_nbd_info in = info_of(e);
  T_OK(in.tls_failed > before.tls_failed, "... counted as a failed handshake (%llu)", (unsigned long long)in.tls_failed);
  T_OK(in.tls_refused >= 5, "options refused for want of TLS counted (%llu)", (unsigned long long)in.tls_refused);
  T_EQ_INT(in.clients, 0, "no client is left");
}

static void test_gnutls_client(mcsi_nbd_export *e, uint16_t port)
{
  uint64_t sessions = info_of(e).tls_sessions;
  int r = run_tls_client(port);
  T_OK(r & C_ACK, "GnuTLS client: STARTTLS acknowledged");
  T_OK(r & C_HANDSHAKE, "GnuTLS client: PSK handshake");
  T_OK(r & C_SECOND_STARTTLS, "GnuTLS client: STARTTLS inside TLS: INVALID");
  T_OK(r & C_GO, "GnuTLS client: GO inside TLS");
  T_OK(r & C_SMALL, "GnuTLS client: 4 KiB and 512 bytes written and read back");
  T_OK(r & C_LARGE, "GnuTLS client: 3 MiB and a record and a half written and read back");
  T_OK(r & C_DISC, "GnuTLS client: NBD_CMD_DISC ends with the server's close_notify");
  T_EQ_INT(info_of(e).tls_sessions, sessions + 1, "one more TLS session counted");
}

static void test_unix_clients(void)
{
  int fd = t_nbd_connect_unix(sock_path);
  T_OK(fd >= 0 && t_nbd_greet(ini, fd, T_NBD_CLIENT_FLAGS) &&
       t_nbd_go_reply(ini, fd) == NBD_REP_ACK, "a Unix socket client of a TLS export may stay plain");
  if (fd >= 0) close(fd);
  fd = t_nbd_connect_unix(sock_path);
  T_OK(fd >= 0 && t_nbd_greet(ini, fd, T_NBD_CLIENT_FLAGS) &&
       t_nbd_option(ini, fd, NBD_OPT_STARTTLS, NULL, 0) == NBD_REP_ACK,
       "... or start TLS");
  if (fd >= 0) close(fd);
}

static void test_no_tls(mcsi_id sid)
{
  char err[256] = "";
  mcsi_nbd_opts o = { .tcp = "127.0.0.1:0", .tls = MCSI_NBD_TLS_OFF };
  mcsi_nbd_export *e = mcsi_nbd_export_start(ini, sid, 1, &o, err, sizeof err);
  T_OK(e != NULL, "plain TCP, said explicitly (%s)", err);
  if (!e) return;
  int fd = t_nbd_connect_tcp(info_of(e).tcp_port, 1);
  T_OK(fd >= 0 && t_nbd_greet(ini, fd, T_NBD_CLIENT_FLAGS) &&
       t_nbd_option(ini, fd, NBD_OPT_STARTTLS, NULL, 0) == NBD_REP_ERR_POLICY,
       "an export without TLS: STARTTLS is POLICY");
  T_EQ_INT(t_nbd_go_reply(ini, fd), NBD_REP_ACK, "... and the client goes on plain");
  if (fd >= 0) close(fd);
  mcsi_nbd_export_stop(e);
}

static void refused(mcsi_id sid, mcsi_nbd_opts o, const char *want, const char *what)
{
  char err[256] = "";
  mcsi_nbd_export *e = mcsi_nbd_export_start(ini, sid, 1, &o, err, sizeof err);
  T_OK(!e && strstr(err, want) && !strstr(err, dir), "%s: refused (%s)", what, err);
  mcsi_nbd_export_stop(e);
}

static void test_refusals(mcsi_id sid)
{
  char bad[128], missing[128];
  snprintf(bad, sizeof bad, "%s/bad.psk", dir);
  snprintf(missing, sizeof missing, "%s/missing.pem", dir);
  FILE *f = fopen(bad, "w");
  if (f) fputs("alice:nothex\n# a comment\n", f), fclose(f);
  refused(sid, (mcsi_nbd_opts){ .tcp = "127.0.0.1:0" }, "needs TLS", "TCP without TLS credentials");
  refused(sid, (mcsi_nbd_opts){ .tcp = "127.0.0.1:0", .tls = MCSI_NBD_TLS_OFF, .tls_psk_file = psk_path },
          "TLS is off but", "tls off with credentials");
  refused(sid, (mcsi_nbd_opts){ .tcp = "127.0.0.1:0", .tls_cert = missing }, "go together", "a certificate without its key");
  refused(sid, (mcsi_nbd_opts){ .tcp = "127.0.0.1:0", .tls_psk_file = psk_path, .tls_ca = missing }, "tls_ca needs",
          "a CA without a certificate");
  refused(sid, (mcsi_nbd_opts){ .tcp = "127.0.0.1:0", .tls = 7, .tls_psk_file = psk_path }, "require or off",
          "an unknown tls mode");
  refused(sid, (mcsi_nbd_opts){ .tcp = "127.0.0.1:0", .tls_psk_file = bad }, "no username:hexkey", "a PSK file without a key");
  refused(sid, (mcsi_nbd_opts){ .tcp = "127.0.0.1:0", .tls_psk_file = missing }, "tls_psk_file", "a missing PSK file");
  refused(sid, (mcsi_nbd_opts){ .tcp = "127.0.0.1:0", .tls_cert = missing, .tls_key = missing }, "tls_cert",
          "a missing certificate");
  unlink(bad);
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
  snprintf(dir, sizeof dir, "%s/nbdtls.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(dir)) return t_done();
  snprintf(psk_path, sizeof psk_path, "%s/keys.psk", dir);
  snprintf(sock_path, sizeof sock_path, "%s/s", dir);
  FILE *f = fopen(psk_path, "w");
  if (f) fprintf(f, "bob:00112233445566778899aabbccddeeff\nalice:%s\n", PSK_HEX), fclose(f);
  char err[256] = "";
  mcsi_nbd_opts o = { .tcp = "127.0.0.1:0", .socket_path = sock_path, .tls_psk_file = psk_path,
                      .handshake_timeout_ms = 4000 };   /* room for a handshake under valgrind */
  mcsi_nbd_export *e = mcsi_nbd_export_start(ini, sid, 1, &o, err, sizeof err);
  T_OK(e != NULL, "a TCP + Unix export with TLS (PSK) (%s)", err);
  if (e) {
    mcsi_nbd_info in = info_of(e);
    T_OK(in.tls == MCSI_NBD_TLS_REQUIRE && in.tls_psk && !in.tls_x509, "info: TLS required, PSK");
    test_forced_tls(e, in.tcp_port);
    test_gnutls_client(e, in.tcp_port);
    test_unix_clients();
    T_EQ_INT(info_of(e).errors, 0, "no request answered with an error");
    mcsi_nbd_export_stop(e);
  }
  test_no_tls(sid);
  test_refusals(sid);
  pump(200);
  mcsi_logout_from_target(ini, sid);
  mcsi_initiator_free(ini);
  unlink(psk_path);
  rmdir(dir);
  return t_done();
}
