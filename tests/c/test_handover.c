/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_handover.c: a live session handed from one initiator to another
 * against the real tgtd (tests/harness/with-targets): a 2-connection
 * session of initiator A writes a pattern, is exported while writes are
 * in flight (they finish first), refused by B for a blob of another
 * version, a damaged one, a cut one or too few sockets (A goes on), then
 * imported into B (in this process, and in a new process, started afresh
 * by exec, that gets the sockets by SCM_RIGHTS): the pattern reads back,
 * more writes go, the target shows the same session and connections (no
 * login, no logout). The session and its connections keep their ids
 * (issue 17): B's session has A's session id and connection ids; the new
 * process's next login gets an id larger than every one it imported; a
 * session imported into the initiator that still holds it (its ids in use
 * there) gets fresh ids and says so. A blob of the format mcsi 0.3.0
 * wrote (version 1, no ids) is still imported: new ids, same TSIH, no
 * login (an upgrade from 0.3.0 hands over too). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "mcsi.h"
#include "testlib.h"
#include "testopts.h"
#include "base.h"
#include "handover.h"
#include "handover_v1.h"

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

/* A session's id and its connections' ids (at most 4), the connections' sorted. */
typedef struct ids { mcsi_id sid, conn[4]; size_t n; } ids;

static ids ids_of(mcsi_initiator *ini, mcsi_id sid)
{
  ids r = { .sid = sid };
  mcsi_session_info *si = t_info(ini, sid);
  for (size_t i = 0; si && i < mcsi_session_info_connection_count(si) && r.n < 4; i++) {
    mcsi_id c = T_CI(si, i, ID), *at = r.conn + r.n++;
    while (at > r.conn && at[-1] > c) at[0] = at[-1], at--;
    *at = c;
  }
  return r;
}

static mcsi_id largest(const ids *x)
{
  mcsi_id top = x->sid;
  for (size_t i = 0; i < x->n; i++) top = x->conn[i] > top ? x->conn[i] : top;
  return top;
}

static int same_conn_ids(const ids *a, const ids *b)
{
  return a->n == b->n && !memcmp(a->conn, b->conn, a->n * sizeof a->conn[0]);
}

/* The counters of connection id in si (bytes and PDUs both ways, commands, latency sum), summed with
 * weights so that any difference shows; 0 if no such connection. */
static uint64_t counters_of(const mcsi_session_info *si, mcsi_id id)
{
  for (size_t i = 0; si && i < mcsi_session_info_connection_count(si); i++) {
    if (T_CI(si, i, ID) != id) continue;
    return T_CI(si, i, BYTES_SENT) + 3 * T_CI(si, i, BYTES_RECEIVED) + 5 * T_CI(si, i, PDUS_SENT) +
           7 * T_CI(si, i, PDUS_RECEIVED) + 11 * T_CI(si, i, COMMANDS) + 13 * T_CI(si, i, LATENCY_SUM_US) +
           17 * T_CI(si, i, LATENCY_BUCKET_0 + 6);
  }
  return 0;
}

static int any_conn_id_shared(const ids *a, const ids *b)
{
  for (size_t i = 0; i < a->n; i++)
    for (size_t j = 0; j < b->n; j++)
      if (a->conn[i] == b->conn[j] || a->conn[i] == b->sid || b->conn[j] == a->sid) return 1;
  return 0;
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
  T_EQ_INT(bad->data[11], 2, "the blob is of version 2 (the one with ids)");
  bad->data[11] = 3;
  mcsi_status st = mcsi_session_handover_import(b, opts(), bad->data, bad->len, blob->fds, blob->nfds, &sid);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_UNSUPPORTED_VERSION", "another version is refused (%s)", mcsi_last_message(b));
  T_OK(strstr(mcsi_last_message(b), "version 3") != NULL, "the message names the version (%s)", mcsi_last_message(b));
  T_OK(strstr(mcsi_last_message(b), "this library reads versions 1 to 2") != NULL,
       "and what this library reads (%s)", mcsi_last_message(b));
  bad->data[11] = 1;
  st = mcsi_session_handover_import(b, opts(), bad->data, bad->len, blob->fds, blob->nfds, &sid);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_INVALID_PARAMETER", "a version 2 blob labelled 1 is refused (%s)",
           mcsi_last_message(b));
  T_EQ_U64(mcsi_handover_blob_session_id(bad->data, bad->len), 0, "and names no session id");
  bad->data[11] = 2;
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
  ids in_a = ids_of(a, sid);
  T_EQ_INT(in_a.n, 2, "A's session has 2 connection ids");
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
  T_EQ_U64(mcsi_handover_blob_session_id(blob->data, blob->len), sid, "the blob names A's session id");
  mcsi_session_info *at_export = t_info(a, sid);   /* A is frozen: its counters stand still */
  mcsi_id bsid = 0;
  st = mcsi_session_handover_import(b, opts(), blob->data, blob->len, blob->fds, blob->nfds, &bsid);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "B imports the session (%s)", mcsi_last_message(b));
  T_EQ_STR(mcsi_last_message(b), "Success", "B's import says nothing was renumbered");
  T_EQ_U64(bsid, sid, "B's session keeps A's session id (0x%016llx)", (unsigned long long)sid);
  ids in_b = ids_of(b, bsid);
  T_OK(same_conn_ids(&in_b, &in_a), "B's connections keep A's connection ids (0x%llx, 0x%llx)",
       (unsigned long long)in_b.conn[0], (unsigned long long)in_b.conn[1]);
  mcsi_session_info *imported = t_info(b, bsid);
  T_OK(counters_of(at_export, in_a.conn[0]) > 0 &&
       counters_of(imported, in_a.conn[0]) == counters_of(at_export, in_a.conn[0]) &&
       counters_of(imported, in_a.conn[1]) == counters_of(at_export, in_a.conn[1]),
       "B's connections go on with A's counters (bytes, PDUs, commands, latency histogram)");
  T_EQ_U64(T_SI(imported, COMMANDS_RETRIED), T_SI(at_export, COMMANDS_RETRIED), "and the session with its own");
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

/* ---- into a busy initiator: the one that still holds the session (its ids in use there) ---- */

static void into_busy_initiator(void)
{
  mcsi_initiator *a = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:handover-busy");
  mcsi_id sid = two_connections(a);
  if (!sid) return;
  T_EQ_STR(mcsi_status_name(write_pattern(a, sid, 40 * CHUNK, CHUNK, 5)), "ISDSC_SUCCESS", "busy: a pattern");
  ids old = ids_of(a, sid);
  char *before = target_view();
  mcsi_handover_blob *blob = NULL;
  mcsi_status st = mcsi_session_handover_export(a, sid, 0, &blob);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "busy: A exports (%s)", mcsi_last_message(a));
  if (!blob) return;
  mcsi_id nsid = 0;
  st = mcsi_session_handover_import(a, opts(), blob->data, blob->len, blob->fds, blob->nfds, &nsid);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "busy: A imports its own exported session: it still succeeds (%s)",
           mcsi_last_message(a));
  for (size_t i = 0; !st && i < blob->nfds; i++) blob->fds[i] = -1;
  T_OK(nsid && nsid != sid, "busy: the imported session gets a fresh id (0x%016llx: the blob's 0x%016llx is in use)",
       (unsigned long long)nsid, (unsigned long long)sid);
  T_EQ_U64(mcsi_handover_blob_session_id(blob->data, blob->len), sid,
           "busy: the blob names the old id, so the caller sees the out-parameter differ");
  T_OK(strstr(mcsi_last_message(a), "in use") && strstr(mcsi_last_message(a), "3 of the handed ids"),
       "busy: the import says its session and 2 connection ids were replaced (%s)", mcsi_last_message(a));
  ids fresh = ids_of(a, nsid);
  T_OK(fresh.n == 2 && !any_conn_id_shared(&fresh, &old) && nsid > largest(&old),
       "busy: its connections get fresh ids too, all above the handed ones");
  mcsi_handover_blob_free(blob);
  T_EQ_STR(mcsi_status_name(mcsi_session_handover_commit(a, sid)), "ISDSC_SUCCESS", "busy: A commits the old one");
  mcsi_id list[4];
  T_OK(mcsi_session_list(a, list, 4) == 1 && list[0] == nsid, "busy: one session left, the new id");
  T_OK(reads_back(a, nsid, 40 * CHUNK, CHUNK, 5), "busy: the pattern reads back through the new id");
  char *after = target_view();
  T_EQ_STR(after, before, "busy: tgt shows the same session and connections");
  T_EQ_STR(mcsi_status_name(mcsi_logout_from_target(a, nsid)), "ISDSC_SUCCESS", "busy: logs out");
  free(before);
  free(after);
  mcsi_initiator_free(a);
}

/* ---- from mcsi 0.3.0: a blob of format version 1 (no ids, no counters) ---- */

static void from_0_3_0(void)
{
  static mcsi_handover_session hs;
  static v1_buf v1;
  char msg[MCSI_MSG_MAX] = "";
  mcsi_initiator *a = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:handover-030");
  mcsi_initiator *b = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:handover-new");
  mcsi_id sid = two_connections(a);
  if (!sid) return;
  T_EQ_STR(mcsi_status_name(write_pattern(a, sid, 48 * CHUNK, CHUNK, 9)), "ISDSC_SUCCESS", "0.3.0: a pattern");
  uint64_t tsih = T_SI(t_info(a, sid), TSIH);
  ids old = ids_of(a, sid);
  char *before = target_view();
  mcsi_handover_blob *blob = NULL;
  mcsi_status st = mcsi_session_handover_export(a, sid, 0, &blob);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "0.3.0: A exports (%s)", mcsi_last_message(a));
  if (!blob) return;
  st = mcsi_handover_decode(blob->data, blob->len, blob->nfds, &hs, msg);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "0.3.0: the blob decodes (%s)", msg);
  handover_encode_v1(&hs, &v1);                 /* what 0.3.0 would have handed */
  mcsi_id bsid = 0;
  st = mcsi_session_handover_import(b, opts(), v1.p, v1.len, blob->fds, blob->nfds, &bsid);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "0.3.0: B imports the version 1 blob (%s)", mcsi_last_message(b));
  T_EQ_STR(mcsi_last_message(b), "Success", "0.3.0: new ids are no renumbering: nothing to say");
  for (size_t i = 0; !st && i < blob->nfds; i++) blob->fds[i] = -1;
  mcsi_handover_blob_free(blob);
  ids got = ids_of(b, bsid);
  T_OK(bsid && bsid > largest(&old) && got.n == 2 && !any_conn_id_shared(&got, &old),
       "0.3.0: the session and its 2 connections get new ids (the blob names none)");
  T_EQ_STR(mcsi_status_name(mcsi_session_handover_commit(a, sid)), "ISDSC_SUCCESS", "0.3.0: A commits");
  T_EQ_U64(T_SI(t_info(b, bsid), TSIH), tsih, "0.3.0: B's session has A's TSIH");
  T_OK(reads_back(b, bsid, 48 * CHUNK, CHUNK, 9), "0.3.0: the pattern reads back through B");
  T_EQ_STR(mcsi_status_name(write_pattern(b, bsid, 50 * CHUNK, CHUNK, 11)), "ISDSC_SUCCESS", "0.3.0: B writes");
  T_OK(reads_back(b, bsid, 50 * CHUNK, CHUNK, 11), "0.3.0: and reads it back");
  char *after = target_view();
  T_EQ_STR(after, before, "0.3.0: tgt shows the same session and connections (no login)");
  T_EQ_STR(mcsi_status_name(mcsi_logout_from_target(b, bsid)), "ISDSC_SUCCESS", "0.3.0: B logs out");
  free(before);
  free(after);
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

static int say_id(int sock, mcsi_id id) { return write(sock, &id, sizeof id) == sizeof id ? 0 : -1; }
static mcsi_id hear_id(int sock) { mcsi_id id = 0; return read(sock, &id, sizeof id) == sizeof id ? id : 0; }

/* The child, a fresh process (exec: its id counter starts again): imports,
 * says 'I' and the ids it got (session, 2 connections); once told 'C'
 * (committed) reads the parent's pattern, writes its own, says 'K' (or
 * 'F'); told 'N', logs in a new session and says its id; told 'L', logs
 * both out; exits 0. */
static int child(int sock)
{
  uint8_t blob[4096];
  size_t len = 0;
  int fds[16];
  int nfds = recv_blob(sock, blob, &len, fds);
  mcsi_initiator *b = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:handover-child");
  mcsi_id sid = 0, nsid = 0;
  if (nfds < 0 || mcsi_session_handover_import(b, opts(), blob, len, fds, (size_t)nfds, &sid)) {
    say(sock, 'F');
    return 1;
  }
  ids got = ids_of(b, sid);
  if (say(sock, 'I') != 'I' || say_id(sock, got.sid) || say_id(sock, got.conn[0]) || say_id(sock, got.conn[1]) ||
      hear(sock) != 'C')
    return 1;
  int good = reads_back(b, sid, 64 * CHUNK, CHUNK, 9) && !write_pattern(b, sid, 80 * CHUNK, CHUNK, 10) &&
             reads_back(b, sid, 80 * CHUNK, CHUNK, 10);
  say(sock, good ? 'K' : 'F');
  if (hear(sock) != 'N') return 1;
  if (mcsi_login_to_target(b, opts(), &nsid, NULL)) nsid = 0;
  if (say_id(sock, nsid) || hear(sock) != 'L') return 1;
  int out = mcsi_logout_from_target(b, sid) == ISDSC_SUCCESS && (!nsid || mcsi_logout_from_target(b, nsid) == 0);
  mcsi_initiator_free(b);
  return good && out ? 0 : 1;
}

static char self_exe[4096];

static void to_child_process(void)
{
  mcsi_initiator *a = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:handover-parent");
  mcsi_id sid = two_connections(a);
  if (!sid) return;
  T_EQ_STR(mcsi_status_name(write_pattern(a, sid, 64 * CHUNK, CHUNK, 9)), "ISDSC_SUCCESS", "parent: a pattern");
  ids mine = ids_of(a, sid);
  char *before = target_view();
  mcsi_handover_blob *blob = NULL;
  mcsi_status st = mcsi_session_handover_export(a, sid, 0, &blob);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "parent: exports (%s)", mcsi_last_message(a));
  int sp[2];
  if (!blob || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) return;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    char fd[16];
    close(sp[0]);
    fcntl(sp[1], F_SETFD, 0);
    snprintf(fd, sizeof fd, "%d", sp[1]);
    execl(self_exe, self_exe, "--child", fd, (char *)NULL);
    _exit(127);
  }
  close(sp[1]);
  T_OK(send_blob(sp[0], blob) == 0, "parent: the blob and 2 sockets go by SCM_RIGHTS");
  mcsi_handover_blob_free(blob);            /* our duplicates: the child has its own */
  T_EQ_INT(hear(sp[0]), 'I', "the child (a fresh process) imported the session");
  ids got = { .sid = hear_id(sp[0]), .n = 2 };
  got.conn[0] = hear_id(sp[0]);
  got.conn[1] = hear_id(sp[0]);
  T_EQ_U64(got.sid, sid, "the child's session has the parent's id (0x%016llx)", (unsigned long long)sid);
  T_OK(same_conn_ids(&got, &mine), "the child's connections have the parent's connection ids");
  T_EQ_STR(mcsi_status_name(mcsi_session_handover_commit(a, sid)), "ISDSC_SUCCESS", "parent: commits");
  say(sp[0], 'C');
  T_EQ_INT(hear(sp[0]), 'K', "the child reads the parent's pattern back and writes its own");
  char *during = target_view();
  T_EQ_STR(during, before, "tgt shows the same session and connections while the child serves it");
  say(sp[0], 'N');
  mcsi_id nsid = hear_id(sp[0]);
  T_OK(nsid > largest(&mine), "the child's next login gets id 0x%016llx, above every imported id (largest 0x%016llx)",
       (unsigned long long)nsid, (unsigned long long)largest(&mine));
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

int main(int argc, char **argv)
{
  t_tgt_portal(portal1, sizeof portal1, 1);
  t_tgt_portal(portal2, sizeof portal2, 2);
  iqn = t_env("MCSI_TGT_IQN_PLAIN");
  if (argc == 3 && !strcmp(argv[1], "--child")) return child(atoi(argv[2]));
  ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
  if (n <= 0) snprintf(self_exe, sizeof self_exe, "%s", argv[0]);
  in_process();
  into_busy_initiator();
  from_0_3_0();
  to_child_process();
  one_reset_on_the_way();
  return t_done();
}
