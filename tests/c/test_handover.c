/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_handover.c: a live session handed from one initiator to another
 * against the real tgtd (tests/harness/with-targets): a 2-connection
 * session of initiator A writes a pattern, is exported while writes are
 * in flight (they finish first), refused by B for a blob of another
 * version, a damaged one, a cut one or too few sockets (A goes on), then
 * imported into B (in this process, and in a child process that gets the
 * sockets by SCM_RIGHTS): the pattern reads back, more writes go, the
 * target shows the same session and connections (no login, no logout). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "mcsi.h"
#include "testlib.h"
#include "testopts.h"

#define LUN 1
#define CHUNK (64 * 1024)
#define NWRITES 16

static char portal1[64], portal2[64];
static const char *iqn;

/* What tgt shows of target 1's sessions and connections (an owned copy). */
static char *target_view(void)
{
  char cmd[256];
  snprintf(cmd, sizeof cmd, "TGT_IPC_SOCKET=%s tgtadm -C 0 --lld iscsi --op show --mode conn --tid 1",
           t_env("MCSI_TGT_IPC"));
  return strdup(t_run(cmd));
}

static int count(const char *text, const char *needle)
{
  int n = 0;
  for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

static mcsi_login_opts *opts(void)
{
  return t_login_opts(portal1, iqn, MCSI_OPT_MAX_CONNECTIONS, 4, MCSI_OPT_NOP_INTERVAL_MS, 1000,
                      MCSI_OPT_NOP_TIMEOUT_MS, 2000, 0);
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
  for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
}

/* Reads len bytes at off and compares them with the pattern of seed. */
static int reads_back(mcsi_initiator *ini, mcsi_id sid, uint64_t off, size_t len, unsigned seed)
{
  uint8_t *want = malloc(len), *got = calloc(1, len);
  fill(want, len, seed);
  mcsi_status st = mcsi_pread(ini, sid, LUN, off, got, len, 0, NULL);
  int same = !st && !memcmp(want, got, len);
  free(want);
  free(got);
  return same;
}

static mcsi_status write_pattern(mcsi_initiator *ini, mcsi_id sid, uint64_t off, size_t len, unsigned seed)
{
  uint8_t *buf = malloc(len);
  fill(buf, len, seed);
  mcsi_status st = mcsi_pwrite(ini, sid, LUN, off, buf, len, 0, NULL);
  free(buf);
  return st;
}

typedef struct inflight { int done, failed; } inflight;

static void write_done(mcsi_initiator *ini, mcsi_status st, const char *msg, const void *res, void *arg)
{
  inflight *f = arg;
  (void)ini; (void)res;
  if (st) fprintf(stderr, "# write failed: %s\n", msg);
  f->done++;
  f->failed += st != 0;
}

/* A session of A with two connections (127.0.0.1 and 127.0.0.2). */
static mcsi_id two_connections(mcsi_initiator *a)
{
  mcsi_id sid = 0;
  mcsi_status st = mcsi_login_to_target(a, opts(), &sid, NULL);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "A logs in (%s)", mcsi_last_message(a));
  st = mcsi_add_connection_to_session(a, sid, t_conn_opts(portal2, 0), NULL);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "A adds a second connection (%s)", mcsi_last_message(a));
  return sid;
}

static mcsi_handover_blob *copy_blob(const mcsi_handover_blob *b)
{
  mcsi_handover_blob *c = calloc(1, sizeof *c);
  c->data = malloc(b->len);
  memcpy(c->data, b->data, b->len);
  c->len = b->len;
  return c;
}

/* Blobs that B must refuse, each leaving the sockets to their owner and A able to go on. */
static void refusals(mcsi_initiator *b, const mcsi_handover_blob *blob)
{
  mcsi_id sid = 0;
  mcsi_handover_blob *bad = copy_blob(blob);
  bad->data[11] ^= 0x02;                 /* version 1 -> 3 */
  mcsi_status st = mcsi_session_handover_import(b, opts(), bad->data, bad->len, blob->fds, blob->nfds, &sid);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_UNSUPPORTED_VERSION", "another version is refused (%s)", mcsi_last_message(b));
  T_OK(strstr(mcsi_last_message(b), "version 3") != NULL, "the message names the version (%s)", mcsi_last_message(b));
  bad->data[11] ^= 0x02;
  bad->data[bad->len / 2] ^= 0x40;
  st = mcsi_session_handover_import(b, opts(), bad->data, bad->len, blob->fds, blob->nfds, &sid);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_INVALID_PARAMETER", "a damaged blob is refused (%s)", mcsi_last_message(b));
  bad->data[bad->len / 2] ^= 0x40;
  st = mcsi_session_handover_import(b, opts(), bad->data, bad->len - 9, blob->fds, blob->nfds, &sid);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_INVALID_PARAMETER", "a cut blob is refused (%s)", mcsi_last_message(b));
  st = mcsi_session_handover_import(b, opts(), bad->data, bad->len, blob->fds, 1, &sid);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_INVALID_PARAMETER", "one socket for two connections is refused (%s)",
           mcsi_last_message(b));
  mcsi_login_opts *other = t_login_opts(portal1, "iqn.2026-11.org.mcsi.test:other", 0);
  st = mcsi_session_handover_import(b, other, bad->data, bad->len, blob->fds, blob->nfds, &sid);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_INVALID_PARAMETER", "options naming another target are refused (%s)",
           mcsi_last_message(b));
  T_EQ_INT(mcsi_session_list(b, NULL, 0), 0, "B has no session after the refusals");
  mcsi_handover_blob_free(bad);
}

/* Export while NWRITES writes are in flight: they all finish first. */
static mcsi_handover_blob *export_busy(mcsi_initiator *a, mcsi_id sid, uint8_t *bufs)
{
  inflight f = { 0 };
  for (int i = 0; i < NWRITES; i++) {
    fill(bufs + (size_t)i * CHUNK, CHUNK, 100 + (unsigned)i);
    mcsi_io_write(a, sid, LUN, (uint64_t)(1 + i) * CHUNK, bufs + (size_t)i * CHUNK, CHUNK, 0,
                  MCSI_COMPLETION(write_done, &f));
  }
  mcsi_handover_blob *blob = NULL;
  mcsi_status st = mcsi_session_handover_export(a, sid, 2000, &blob);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "A exports with writes in flight (%s)", mcsi_last_message(a));
  T_EQ_INT(f.done, NWRITES, "every write in flight finished before the export");
  T_EQ_INT(f.failed, 0, "none of them failed");
  T_OK(blob && blob->nfds == 2 && blob->len > 16, "the blob carries 2 sockets (%zu bytes)", blob ? blob->len : 0);
  mcsi_handover_blob *again = NULL;
  st = mcsi_session_handover_export(a, sid, 0, &again);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SESSION_BUSY", "a second export of it is refused (%s)", mcsi_last_message(a));
  T_OK(!again, "and gives no blob");
  return blob;
}

static void in_process(void)
{
  mcsi_initiator *a = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:handover-a");
  mcsi_initiator *b = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:handover-b");
  mcsi_id sid = two_connections(a);
  if (!sid) return;
  T_EQ_STR(mcsi_status_name(write_pattern(a, sid, 0, CHUNK, 1)), "ISDSC_SUCCESS", "A writes a pattern");
  mcsi_session_info *ia = t_info(a, sid);
  uint64_t tsih = T_SI(ia, TSIH);
  char *before = target_view();
  T_EQ_INT(count(before, "Connection:"), 2, "tgt shows 2 connections before");

  uint8_t *bufs = malloc((size_t)NWRITES * CHUNK);
  mcsi_handover_blob *blob = export_busy(a, sid, bufs);
  if (!blob) return;
  refusals(b, blob);
  T_EQ_STR(mcsi_status_name(mcsi_session_handover_abort(a, sid)), "ISDSC_SUCCESS", "A aborts the handover");
  T_OK(reads_back(a, sid, 0, CHUNK, 1), "A goes on after the abort: the pattern reads back");
  mcsi_handover_blob_free(blob);

  blob = NULL;
  mcsi_status st = mcsi_session_handover_export(a, sid, 0, &blob);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "A exports again (%s)", mcsi_last_message(a));
  if (!blob) return;
  mcsi_id bsid = 0;
  st = mcsi_session_handover_import(b, opts(), blob->data, blob->len, blob->fds, blob->nfds, &bsid);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "B imports the session (%s)", mcsi_last_message(b));
  for (size_t i = 0; !st && i < blob->nfds; i++) blob->fds[i] = -1;   /* B's now */
  mcsi_handover_blob_free(blob);
  st = mcsi_session_handover_commit(a, sid);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "A commits: the session is B's (%s)", mcsi_last_message(a));
  T_EQ_INT(mcsi_session_list(a, NULL, 0), 0, "A has no session left");

  T_OK(reads_back(b, bsid, 0, CHUNK, 1), "B reads A's pattern back");
  int all = 1;
  for (int i = 0; i < NWRITES; i++) all &= reads_back(b, bsid, (uint64_t)(1 + i) * CHUNK, CHUNK, 100 + (unsigned)i);
  T_OK(all, "B reads back the writes that were in flight at the export");
  T_EQ_STR(mcsi_status_name(write_pattern(b, bsid, 32 * CHUNK, 4 * CHUNK, 7)), "ISDSC_SUCCESS", "B writes more");
  T_OK(reads_back(b, bsid, 32 * CHUNK, 4 * CHUNK, 7), "and reads it back");
  mcsi_session_info *ib = t_info(b, bsid);
  T_EQ_U64(T_SI(ib, TSIH), tsih, "B's session has A's TSIH");
  T_EQ_INT(T_SI(ib, CONNECTION_COUNT), 2, "B's session has 2 connections");
  char *after = target_view();
  T_EQ_STR(after, before, "tgt shows the same session and connections (no login, no logout)");
  T_EQ_STR(mcsi_status_name(mcsi_logout_from_target(b, bsid)), "ISDSC_SUCCESS", "B logs out (%s)",
           mcsi_last_message(b));
  free(before);
  free(after);
  free(bufs);
  mcsi_initiator_free(a);
  mcsi_initiator_free(b);
}

/* ---- into another process: the blob and the sockets over a Unix socket (SCM_RIGHTS) ---- */

static int send_blob(int sock, const mcsi_handover_blob *b)
{
  uint32_t len = (uint32_t)b->len;
  char cbuf[CMSG_SPACE(16 * sizeof(int))];
  struct iovec iov[2] = { { &len, sizeof len }, { b->data, b->len } };
  struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = cbuf,
                      .msg_controllen = CMSG_SPACE(b->nfds * sizeof(int)) };
  struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
  if (!cm || b->nfds > 16) return -1;
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(b->nfds * sizeof(int));
  memcpy(CMSG_DATA(cm), b->fds, b->nfds * sizeof(int));
  return sendmsg(sock, &m, 0) == (ssize_t)(sizeof len + b->len) ? 0 : -1;
}

/* The blob (at most 4 KiB here) and its sockets: the count of fds, or -1. */
static int recv_blob(int sock, uint8_t *blob, size_t *len, int *fds)
{
  uint32_t n = 0;
  char cbuf[CMSG_SPACE(16 * sizeof(int))];
  struct iovec iov[2] = { { &n, sizeof n }, { blob, 4096 } };
  struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
  ssize_t r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
  if (r < (ssize_t)sizeof n || n > 4096 || (size_t)r != sizeof n + n || !cm || cm->cmsg_type != SCM_RIGHTS) return -1;
  *len = n;
  int nfds = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
  memcpy(fds, CMSG_DATA(cm), (size_t)nfds * sizeof(int));
  return nfds;
}

static char say(int sock, char c) { return write(sock, &c, 1) == 1 ? c : 0; }
static char hear(int sock) { char c = 0; return read(sock, &c, 1) == 1 ? c : 0; }

/* The child: imports, says 'I'; once told 'C' (committed) reads the parent's
 * pattern, writes its own, says 'K' (or 'F'); told 'L', logs out; exits 0. */
static int child(int sock)
{
  uint8_t blob[4096];
  size_t len = 0;
  int fds[16];
  int nfds = recv_blob(sock, blob, &len, fds);
  mcsi_initiator *b = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:handover-child");
  mcsi_id sid = 0;
  if (nfds < 0 || mcsi_session_handover_import(b, opts(), blob, len, fds, (size_t)nfds, &sid)) {
    say(sock, 'F');
    return 1;
  }
  if (say(sock, 'I') != 'I' || hear(sock) != 'C') return 1;
  int good = reads_back(b, sid, 64 * CHUNK, CHUNK, 9) && !write_pattern(b, sid, 80 * CHUNK, CHUNK, 10) &&
             reads_back(b, sid, 80 * CHUNK, CHUNK, 10);
  say(sock, good ? 'K' : 'F');
  if (hear(sock) != 'L') return 1;
  int out = mcsi_logout_from_target(b, sid) == ISDSC_SUCCESS;
  mcsi_initiator_free(b);
  return good && out ? 0 : 1;
}

static void to_child_process(void)
{
  mcsi_initiator *a = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:handover-parent");
  mcsi_id sid = two_connections(a);
  if (!sid) return;
  T_EQ_STR(mcsi_status_name(write_pattern(a, sid, 64 * CHUNK, CHUNK, 9)), "ISDSC_SUCCESS", "parent: a pattern");
  char *before = target_view();
  mcsi_handover_blob *blob = NULL;
  mcsi_status st = mcsi_session_handover_export(a, sid, 0, &blob);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "parent: exports (%s)", mcsi_last_message(a));
  int sp[2];
  if (!blob || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) return;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    close(sp[0]);
    _exit(child(sp[1]));
  }
  close(sp[1]);
  T_OK(send_blob(sp[0], blob) == 0, "parent: the blob and 2 sockets go by SCM_RIGHTS");
  mcsi_handover_blob_free(blob);            /* our duplicates: the child has its own */
  T_EQ_INT(hear(sp[0]), 'I', "the child imported the session");
  T_EQ_STR(mcsi_status_name(mcsi_session_handover_commit(a, sid)), "ISDSC_SUCCESS", "parent: commits");
  say(sp[0], 'C');
  T_EQ_INT(hear(sp[0]), 'K', "the child reads the parent's pattern back and writes its own");
  char *during = target_view();
  T_EQ_STR(during, before, "tgt shows the same session and connections while the child serves it");
  say(sp[0], 'L');
  int status = 0;
  waitpid(pid, &status, 0);
  T_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child logs out and exits 0");
  char *after = target_view();
  T_EQ_INT(count(after, "Connection:"), 0, "tgt shows no connection left");
  free(after);
  close(sp[0]);
  free(before);
  free(during);
  mcsi_initiator_free(a);
}

/* A connection reset between the export and the import (the target dropped
 * it, an RST: the socket is no longer connected) does not refuse the whole
 * session: B takes it with the other connection, the reset one fails there
 * as any connection the target drops, and the session goes on (same TSIH). */
static void one_reset_on_the_way(void)
{
  mcsi_initiator *a = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:handover-reset-a");
  mcsi_initiator *b = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:handover-reset-b");
  mcsi_id sid = two_connections(a);
  if (!sid) return;
  T_EQ_STR(mcsi_status_name(write_pattern(a, sid, 96 * CHUNK, CHUNK, 11)), "ISDSC_SUCCESS", "reset: A writes a pattern");
  uint64_t tsih = T_SI(t_info(a, sid), TSIH);
  mcsi_handover_blob *blob = NULL;
  mcsi_status st = mcsi_session_handover_export(a, sid, 0, &blob);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "reset: A exports (%s)", mcsi_last_message(a));
  if (!blob || blob->nfds != 2) return;
  struct sockaddr unspec = { .sa_family = AF_UNSPEC };
  T_OK(connect(blob->fds[1], &unspec, sizeof unspec) == 0, "reset: the second connection is reset (RST) on the way");
  mcsi_id bsid = 0;
  st = mcsi_session_handover_import(b, opts(), blob->data, blob->len, blob->fds, blob->nfds, &bsid);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "reset: B imports the session all the same (%s)", mcsi_last_message(b));
  for (size_t i = 0; !st && i < blob->nfds; i++) blob->fds[i] = -1;
  mcsi_handover_blob_free(blob);
  if (st) {
    T_EQ_STR(mcsi_status_name(mcsi_session_handover_abort(a, sid)), "ISDSC_SUCCESS", "reset: A aborts");
    mcsi_logout_from_target(a, sid);
    mcsi_initiator_free(a);
    mcsi_initiator_free(b);
    return;
  }
  T_EQ_STR(mcsi_status_name(mcsi_session_handover_commit(a, sid)), "ISDSC_SUCCESS", "reset: A commits");
  T_OK(reads_back(b, bsid, 96 * CHUNK, CHUNK, 11), "reset: B reads A's pattern back");
  T_EQ_STR(mcsi_status_name(write_pattern(b, bsid, 100 * CHUNK, CHUNK, 12)), "ISDSC_SUCCESS", "reset: B writes");
  T_OK(reads_back(b, bsid, 100 * CHUNK, CHUNK, 12), "reset: and reads it back");
  mcsi_session_info *ib = t_info(b, bsid);
  T_EQ_U64(T_SI(ib, TSIH), tsih, "reset: B's session has A's TSIH (no new login)");
  T_EQ_INT(T_SI(ib, CONNECTION_COUNT), 1, "reset: with the connection that was not reset");
  T_EQ_STR(mcsi_status_name(mcsi_logout_from_target(b, bsid)), "ISDSC_SUCCESS", "reset: B logs out (%s)",
           mcsi_last_message(b));
  mcsi_initiator_free(a);
  mcsi_initiator_free(b);
}

int main(void)
{
  t_tgt_portal(portal1, sizeof portal1, 1);
  t_tgt_portal(portal2, sizeof portal2, 2);
  iqn = t_env("MCSI_TGT_IQN_PLAIN");
  in_process();
  to_child_process();
  one_reset_on_the_way();
  return t_done();
}
