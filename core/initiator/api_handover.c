/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* api_handover.c: the public face of handing a live session to another
 * process (mcsi.h, "Handing a live session"): export after a quiesce with
 * a deadline, commit or abort on the old side, import on the new. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "initiator.h"

enum { HANDOVER_NONE, HANDOVER_QUIESCING, HANDOVER_EXPORTED };
#define HANDOVER_WAIT_MS 50             /* the default wait for commands in flight */
#define HANDOVER_WAIT_MAX_MS 60000
#define HANDOVER_POLL_MS 1
#define HANDOVER_AFTER_ABORT_MS 20      /* the wait left once the logins under way were aborted */

void mcsi_handover_blob_free(mcsi_handover_blob *b)
{
  if (!b) return;
  for (size_t i = 0; i < b->nfds; i++)
    if (b->fds[i] >= 0) close(b->fds[i]);
  free(b->fds);
  free(b->data);
  free(b);
}

mcsi_status mcsi_entry_not_handing_over(mcsi_initiator *ini, const mcsi_entry *e, const char *what)
{
  if (e->handover == HANDOVER_NONE) return ISDSC_SUCCESS;
  return mcsi_fail(ini, ISDSC_SESSION_BUSY, "session 0x%016llx is being handed to another process (%s): %s "
                   "refused; try again once the handover has ended", (unsigned long long)mcsi_session_id(&e->m.s),
                   e->handover == HANDOVER_QUIESCING ? "quiescing" : "exported", what);
}

/* ---- export ------------------------------------------------------------------------- */

/* The blob of a quiet session: its state, encoded, and a duplicate of each socket. */
static mcsi_status make_blob(mcsi_entry *e, mcsi_handover_blob **out, char *msg)
{
  mcsi_handover_session *hs = malloc(sizeof *hs);
  mcsi_handover_blob *b = calloc(1, sizeof *b);
  mcsi_status st = ISDSC_SUCCESS;
  if (!hs || !b) st = mcsi_msg(msg, ISDSC_OUT_OF_RESOURCES, "out of memory");
  if (!st) st = mcsi_mcs_export(&e->m, hs, msg);
  if (!st && (mcsi_handover_encode(hs, &b->data, &b->len) || !(b->fds = calloc(hs->nconns, sizeof *b->fds))))
    st = mcsi_msg(msg, ISDSC_OUT_OF_RESOURCES, "out of memory");
  for (mcsi_link *l = mcsi_session_conns(&e->m.s)->next; !st && l != mcsi_session_conns(&e->m.s); l = l->next) {
    int fd = fcntl(mcsi_conn_fd(mcsi_conn_of_link(l)), F_DUPFD_CLOEXEC, 3);
    if (fd < 0) st = mcsi_msg(msg, ISDSC_OUT_OF_RESOURCES, "dup of a connection's socket: %m");
    else b->fds[b->nfds++] = fd;
  }
  free(hs);
  if (st) {
    mcsi_handover_blob_free(b);
    return st;
  }
  *out = b;
  return ISDSC_SUCCESS;
}

static void export_end(mcsi_op *op, mcsi_status st, const char *message)
{
  mcsi_entry *e = op->e;
  mcsi_timer_stop(&op->ini->loop, &op->timer);
  if (e) {
    e->handover_op = NULL;
    e->handover = st ? HANDOVER_NONE : HANDOVER_EXPORTED;
    if (st) mcsi_session_thaw(mcsi_entry_session(e));
  }
  mcsi_op_finish(op, st, message);
}

/* The wait is over and connections are still logging in to join the
 * session: their logins end here (the blob would not have them), and the
 * export looks again a little later (their callbacks run meanwhile; the
 * session may even end in one). 1 when there were any. */
static int abort_joins(mcsi_op *op, mcsi_entry *e)
{
  if (!mcsi_mcs_abort_joins(&e->m, ISDSC_SESSION_BUSY, "the session is being handed to another process"))
    return 0;
  op->deadline = mcsi_now_ms() + HANDOVER_AFTER_ABORT_MS;
  mcsi_timer_start(&op->ini->loop, &op->timer, 0);
  return 1;
}

/* Every HANDOVER_POLL_MS: quiet yet, or past the deadline? */
static void export_poll(mcsi_timer *tm)
{
  mcsi_op *op = MCSI_CONTAINER(tm, mcsi_op, timer);
  mcsi_entry *e = op->e;
  if (!e) {
    mcsi_op_finish(op, ISDSC_INVALID_SESSION_ID, "the session ended before it was handed over");
    return;
  }
  mcsi_session *s = mcsi_entry_session(e);
  if (mcsi_session_state_of(s) != MCSI_SESS_ACTIVE) {
    mcsi_msg(op->message, ISDSC_SESSION_BUSY, "the session is %s: not handed over",
             mcsi_session_state_name(mcsi_session_state_of(s)));
    export_end(op, ISDSC_SESSION_BUSY, op->message);
    return;
  }
  if (mcsi_session_quiet(s)) {
    mcsi_status st = make_blob(e, &e->handover_blob, op->message);
    export_end(op, st, st ? op->message : "Success");
    return;
  }
  if (mcsi_now_ms() >= op->deadline) {
    if (!op->step++ && abort_joins(op, e)) return;   /* once: a login that hangs is not waited for */
    mcsi_msg(op->message, ISDSC_SESSION_BUSY, "not quiet after %llu ms (%s): not handed over",
             (unsigned long long)(op->tag), mcsi_session_busy_with(s));
    export_end(op, ISDSC_SESSION_BUSY, op->message);
    return;
  }
  mcsi_timer_start(&op->ini->loop, tm, HANDOVER_POLL_MS);
}

static mcsi_status export_start(mcsi_initiator *ini, mcsi_id sid, int wait_ms, mcsi_result_cb cb, void *arg)
{
  mcsi_entry *e;
  mcsi_status st = mcsi_entry_ready(ini, sid, 0, &e);
  if (st) return st;
  if (e->handover != HANDOVER_NONE)
    return mcsi_fail(ini, ISDSC_SESSION_BUSY, "the session is already being handed over");
  if (wait_ms < 0 || wait_ms > HANDOVER_WAIT_MAX_MS)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "wait_ms must be 0..%d", HANDOVER_WAIT_MAX_MS);
  mcsi_op *op = mcsi_op_new(ini, cb, arg);
  if (!op) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  op->e = e;
  op->r.session_id = sid;
  op->tag = (uint64_t)(wait_ms ? wait_ms : HANDOVER_WAIT_MS);
  op->deadline = mcsi_now_ms() + op->tag;
  e->handover_op = op;
  e->handover = HANDOVER_QUIESCING;
  mcsi_session_freeze(mcsi_entry_session(e));
  mcsi_timer_set_fire(&op->timer, export_poll);
  mcsi_timer_start(&ini->loop, &op->timer, 0);    /* from the loop: never inside this call */
  return mcsi_ok(ini);
}

/* The blob goes to whoever asked (theirs from here). */
static mcsi_handover_blob *take_blob(mcsi_initiator *ini, const mcsi_result *r)
{
  mcsi_entry *e = r->status ? NULL : mcsi_entry_find(ini, r->session_id);
  mcsi_handover_blob *b = e ? e->handover_blob : NULL;
  if (e) e->handover_blob = NULL;
  return b;
}

static void export_relay(mcsi_initiator *ini, const mcsi_result *r, void *arg)
{
  mcsi_handover_blob *b = take_blob(ini, r);
  mcsi_relay_answer(arg, b ? r->status : r->status ? r->status : ISDSC_OUT_OF_RESOURCES, r->message, b);
}

mcsi_status mcsi_session_handover_export_async(mcsi_initiator *ini, mcsi_id sid, int wait_ms, mcsi_completion c)
{
  mcsi_relay *r;
  mcsi_status st = mcsi_relay_start(ini, c, &r);
  if (!st) st = export_start(ini, sid, wait_ms, export_relay, r);
  return st && r ? mcsi_relay_refused(r, st) : st;
}

typedef struct export_wait { mcsi_wait w; mcsi_handover_blob *blob; } export_wait;

static void export_wake(mcsi_initiator *ini, const mcsi_result *r, void *arg)
{
  export_wait *ew = arg;
  ew->blob = take_blob(ini, r);
  mcsi_wait_wake(ini, r, &ew->w);
}

mcsi_status mcsi_session_handover_export(mcsi_initiator *ini, mcsi_id sid, int wait_ms, mcsi_handover_blob **out)
{
  export_wait ew = { 0 };
  if (!ini || !out) return ini ? mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no place for the blob") : ISDSC_INVALID_PARAMETER;
  *out = NULL;
  if (mcsi_in_callback(ini)) return mcsi_blocking_refused(ini);
  mcsi_status st = export_start(ini, sid, wait_ms, export_wake, &ew);
  if (st) return st;
  st = mcsi_wait_for(ini, &ew.w);
  if (!st) *out = ew.blob;
  else mcsi_handover_blob_free(ew.blob);
  return st;
}

/* ---- after the export ---------------------------------------------------------------- */

static mcsi_status exported(mcsi_initiator *ini, mcsi_id sid, mcsi_entry **out)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  mcsi_entry *e = mcsi_entry_find(ini, sid);
  if (!e) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  if (e->handover != HANDOVER_EXPORTED)
    return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "session 0x%016llx was not exported", (unsigned long long)sid);
  *out = e;
  return ISDSC_SUCCESS;
}

mcsi_status mcsi_session_handover_commit(mcsi_initiator *ini, mcsi_id sid)
{
  mcsi_entry *e = NULL;
  mcsi_status st = exported(ini, sid, &e);
  if (st) return st;
  mcsi_session_release_sockets(mcsi_entry_session(e), 1);
  mcsi_entry_discard(e);
  mcsi_mcs_end_operations(&e->m, "the session was handed to another process");
  mcsi_reap(ini);
  return mcsi_ok(ini);
}

mcsi_status mcsi_session_handover_abort(mcsi_initiator *ini, mcsi_id sid)
{
  mcsi_entry *e = NULL;
  mcsi_status st = exported(ini, sid, &e);
  if (st) return st;
  e->handover = HANDOVER_NONE;
  mcsi_session_thaw(mcsi_entry_session(e));
  return mcsi_ok(ini);
}

/* ---- import -------------------------------------------------------------------------- */

/* 1 if *id had to be replaced; an id of 0 (a version 1 blob names none) gets a new one quietly. */
static unsigned keep_id(mcsi_initiator *ini, mcsi_id *id)
{
  if (*id && !mcsi_entry_id_taken(ini, *id)) return 0;
  unsigned replaced = *id != 0;
  *id = mcsi_new_id();
  return replaced;
}

/* The handed session keeps its exporter's ids, each one that is not
 * already a session's or a connection's here (a busy initiator: that one
 * gets a fresh id). Every id made in this process from now on is larger
 * than all of them. Returns how many were replaced. */
static unsigned keep_ids(mcsi_initiator *ini, mcsi_handover_session *hs)
{
  mcsi_id top = hs->id;
  unsigned fresh = 0;
  for (uint32_t i = 0; i < hs->nconns; i++)
    if (hs->conns[i].id > top) top = hs->conns[i].id;
  mcsi_id_reserve(top);
  fresh += keep_id(ini, &hs->id);
  for (uint32_t i = 0; i < hs->nconns; i++) fresh += keep_id(ini, &hs->conns[i].id);
  return fresh;
}

mcsi_status mcsi_session_handover_import(mcsi_initiator *ini, const mcsi_login_opts *o, const uint8_t *blob,
                                         size_t len, const int *fds, size_t nfds, mcsi_id *sid)
{
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!blob || (nfds && !fds)) return mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "no blob or no sockets");
  mcsi_handover_session *hs = malloc(sizeof *hs);
  if (!hs) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "out of memory");
  mcsi_status st = mcsi_handover_decode(blob, len, nfds, hs, ini->message);
  if (!st && hs->nconns != nfds)
    st = mcsi_fail(ini, ISDSC_INVALID_PARAMETER, "%zu sockets given for %u connections", nfds, hs->nconns);
  mcsi_id handed = hs->id;
  unsigned fresh = st ? 0 : keep_ids(ini, hs);
  mcsi_entry *e = NULL;
  if (!st) st = mcsi_entry_import(ini, o, hs, fds, &e);
  free(hs);
  if (st) return st;
  mcsi_id id = mcsi_session_id(mcsi_entry_session(e));
  if (sid) *sid = id;
  if (!fresh) return mcsi_ok(ini);
  return mcsi_fail(ini, ISDSC_SUCCESS, "imported as session 0x%016llx: %u of the handed ids (session 0x%016llx and "
                   "its connections') were in use in this initiator and were replaced",
                   (unsigned long long)id, fresh, (unsigned long long)handed);
}

mcsi_id mcsi_handover_blob_session_id(const uint8_t *blob, size_t len)
{
  char msg[MCSI_MSG_MAX];
  mcsi_handover_session *hs = malloc(sizeof *hs);
  mcsi_id id = hs && !mcsi_handover_decode(blob, len, MCSI_HANDOVER_MAX_CONNS, hs, msg) ? hs->id : 0;
  free(hs);
  return id;
}
