/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* session.c: a session: its CmdSN window and dispatch, command timeouts,
 * the receive side of full feature phase, and a connection coming up. The
 * layer above hears through s->hooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "chap.h"
#include "session.h"

#define ITT_TABLE_MIN 256

const char *mcsi_session_state_name(enum mcsi_session_state st)
{
  static const char *const names[] = { "logging-in", "active", "failed", "logging-out", "logged-out",
                                       "recovering" };
  return names[st];
}

static void cmd_timer_fire(mcsi_timer *t);

int mcsi_session_init(mcsi_session *s, mcsi_loop *loop, const mcsi_session_hooks *hooks, mcsi_id id,
                      const char *initiator_name, mcsi_chap_memory *challenges, const mcsi_login_opts *o,
                      int discovery)
{
  memset(s, 0, sizeof *s);
  mcsi_list_init(&s->limbo);
  mcsi_list_init(&s->held);
  mcsi_list_init(&s->pending);
  mcsi_list_init(&s->conns);
  mcsi_list_init(&s->graveyard);
  s->itt_mask = ITT_TABLE_MIN - 1;
  s->itt_table = calloc(ITT_TABLE_MIN, sizeof *s->itt_table);
  if (!s->itt_table || mcsi_opts_copy(&s->opts, o)) {
    mcsi_opts_free(&s->opts);
    memset(&s->opts, 0, sizeof s->opts);
    free(s->itt_table);
    s->itt_table = NULL;
    return -1;
  }
  s->loop = loop;
  s->hooks = hooks;
  s->id = id;
  s->initiator_name = initiator_name;
  s->challenges = challenges;
  s->discovery = discovery;
  s->state = MCSI_SESS_LOGGING_IN;
  snprintf(s->target, sizeof s->target, "%s", o->target ? o->target : "");
  /* ISID type 10b (random): B and C random, D a qualifier. */
  s->isid[0] = 0x80;
  mcsi_chap_random(s->isid + 1, 5);
  s->cmdsn = s->exp_cmdsn = 1;
  s->max_cmdsn = 0;                     /* closed until the Login Response opens it */
  mcsi_chap_random(&s->next_itt, sizeof s->next_itt);
  s->next_itt &= 0x7fffffff;
  mcsi_params_from_opts(&s->params, &s->opts);
  s->command_timeout_ms = s->opts.command_timeout_ms;
  mcsi_timer_init(&s->cmd_timer, cmd_timer_fire);
  return 0;
}

void mcsi_session_stop_timers(mcsi_session *s)
{
  mcsi_timer_stop(s->loop, &s->cmd_timer);
}

/* A connection closed by its Logout may still hold a control task the
 * target never answered (a probe on a slow path): it ends with it. */
void mcsi_session_reap(mcsi_session *s)
{
  while (!mcsi_list_empty(&s->graveyard)) {
    mcsi_conn *c = MCSI_CONTAINER(s->graveyard.next, mcsi_conn, link);
    mcsi_session_fail_tasks(s, &c->tasks, ISDSC_CONNECTION_FAILED, "its connection was closed");
    mcsi_list_del(&c->link);
    s->hooks->release_conn(c);
  }
}

void mcsi_session_destroy(mcsi_session *s)
{
  mcsi_session_stop_timers(s);
  while (!mcsi_list_empty(&s->conns)) {
    mcsi_conn *c = MCSI_CONTAINER(s->conns.next, mcsi_conn, link);
    mcsi_list_del(&c->link);
    mcsi_session_fail_tasks(s, &c->tasks, ISDSC_CONNECTION_FAILED, "the session was closed");
    mcsi_list_push(&s->graveyard, &c->link);
  }
  mcsi_session_fail_tasks(s, &s->pending, ISDSC_CONNECTION_FAILED, "the session was closed");
  mcsi_session_fail_tasks(s, &s->limbo, ISDSC_CONNECTION_FAILED, "the session was closed");
  mcsi_session_fail_tasks(s, &s->held, ISDSC_CONNECTION_FAILED, "the session was closed");
  mcsi_session_reap(s);
  mcsi_opts_free(&s->opts);
  free(s->itt_table);
  s->itt_table = NULL;
}

mcsi_status mcsi_session_check_ready(const mcsi_session *s, int recovering_ok, char *msg)
{
  if (s->discovery) return mcsi_msg(msg, ISDSC_REQUEST_NOT_SUPPORTED, "not on a discovery session");
  if (s->state == MCSI_SESS_LOGGING_OUT) return mcsi_msg(msg, ISDSC_SESSION_BUSY, "the session is logging out");
  if (s->state != MCSI_SESS_ACTIVE && !(recovering_ok && s->state == MCSI_SESS_RECOVERING))
    return mcsi_msg(msg, ISDSC_NO_CONNECTION_AVAILABLE, "session 0x%016llx has no working connection (%s)",
                    (unsigned long long)s->id, mcsi_session_state_name(s->state));
  return ISDSC_SUCCESS;
}

void mcsi_session_set_state(mcsi_session *s, enum mcsi_session_state st) { s->state = st; }

/* A connection that takes commands exists. */
int mcsi_session_has_path(mcsi_session *s)
{
  for (mcsi_link *l = s->conns.next; l != &s->conns; l = l->next)
    if (MCSI_CONTAINER(l, mcsi_conn, link)->state == MCSI_CONN_ACTIVE) return 1;
  return 0;
}

/* Fills in the object's state before and after (the event table's column),
 * keeps the new one in *state, and tells the layer above. */
void mcsi_session_tell(mcsi_session *s, mcsi_event *ev, const char **state)
{
  static const char *const after[MCSI_EV_COUNT] = {
#define MCSI_X_EV_STATE(e, v, name, st) [v] = st,
    MCSI_EVENT_LIST(MCSI_X_EV_STATE)
#undef MCSI_X_EV_STATE
  };
  ev->old_state = *state;
  ev->new_state = after[ev->kind] ? after[ev->kind] : *state;
  if (!ev->reason) ev->reason = "";
  *state = ev->new_state;
  s->hooks->event(s, ev);
}

void mcsi_session_emit(mcsi_session *s, mcsi_event_kind kind, mcsi_status st, const char *reason)
{
  mcsi_event ev = { .kind = kind, .session_id = s->id, .status = st, .reason = reason };
  mcsi_session_tell(s, &ev, &s->ev_state);
}

/* ---- CmdSN window and sending ------------------------------------------------------- */

static int window_open(const mcsi_session *s) { return mcsi_sn_le(s->cmdsn, s->max_cmdsn); }

/* The command timer is due at the earliest deadline of any command. */
static void arm_cmd_timer(mcsi_session *s, uint64_t deadline)
{
  if (mcsi_timer_active(&s->cmd_timer) && mcsi_timer_due(&s->cmd_timer) <= deadline) return;
  uint64_t now = mcsi_now_ms();
  mcsi_timer_stop(s->loop, &s->cmd_timer);
  mcsi_timer_start(s->loop, &s->cmd_timer, deadline > now ? deadline - now : 0);
}

static void send_control(mcsi_conn *c, mcsi_task *t)
{
  mcsi_pdu_hdr h = { .immediate = (uint8_t)t->immediate, .itt = t->itt, .cmdsn = t->cmdsn,
                     .expstatsn = c->exp_statsn, .lun = t->lun_field, .ttt = MCSI_RSVD_TAG };
  if (t->kind == MCSI_TASK_NOP) { h.opcode = MCSI_OP_NOP_OUT; h.flags = MCSI_F_FINAL; }
  else if (t->kind == MCSI_TASK_TMF) {
    h.opcode = MCSI_OP_TMF_REQ;
    h.function = t->tmf_function;
    h.ttt = t->ref_itt;
    h.refcmdsn = t->ref_cmdsn;
  } else if (t->kind == MCSI_TASK_TEXT) { h.opcode = MCSI_OP_TEXT_REQ; h.flags = MCSI_F_FINAL; }
  else { h.opcode = MCSI_OP_LOGOUT_REQ; h.reason = t->logout_reason; h.cid = t->logout_cid; }
  mcsi_conn_queue(c, &h, t->text, t->text_len, NULL, NULL);
}

/* Puts a task on the wire on c; a re-sent task keeps its CmdSN. */
void mcsi_session_send(mcsi_session *s, mcsi_conn *c, mcsi_task *t)
{
  t->conn = c;
  if (!t->keep_cmdsn) {
    t->cmdsn = s->cmdsn;
    if (!t->immediate) s->cmdsn++;
  }
  t->keep_cmdsn = 0;
  t->after_freeze = 0;
  t->sent = 1;
  t->text_rx = 0;
  mcsi_list_del(&t->link);
  mcsi_list_push(&c->tasks, &t->link);
  c->queue_depth++;
  if (t->kind == MCSI_TASK_SCSI) {
    c->commands++;
    t->sent_us = mcsi_now_us();
    t->ops->send(c, t);
  } else {
    send_control(c, t);
  }
}

/* A waiting task may go now: an immediate one whatever the window, a
 * non-immediate one only with its CmdSN inside it (RFC 7143 4.2.2.1: CmdSN
 * <= MaxCmdSN in serial arithmetic, session-wide). A task re-sent with its
 * old CmdSN goes within the window that number was given in; one whose
 * number a new session's window no longer holds goes as a new command. */
static int may_go(mcsi_session *s, mcsi_task *t)
{
  if (t->immediate) return 1;
  if (t->keep_cmdsn && !(mcsi_sn_le(s->exp_cmdsn, t->cmdsn) && mcsi_sn_le(t->cmdsn, s->max_cmdsn)))
    t->keep_cmdsn = 0;
  return t->keep_cmdsn || window_open(s);
}

/* Sends what may go, in order. Immediate tasks, and lost commands re-sent
 * with their CmdSN (which may be the hole that keeps the window closed), do
 * not wait behind new commands the window holds. A task whose own
 * connection ended fails. */
void mcsi_session_drain(mcsi_session *s)
{
  mcsi_link lost;
  mcsi_list_init(&lost);
  for (mcsi_link *l = s->pending.next; l != &s->pending;) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    l = l->next;
    if (s->frozen && t->after_freeze) continue;   /* being handed over: new work waits for the thaw (handover.c) */
    if (t->only_conn_gone) {
      mcsi_list_del(&t->link);
      mcsi_list_push(&lost, &t->link);
      continue;
    }
    if (!may_go(s, t)) {           /* the window holds every new command alike: their order stays */
      if (!s->pending_may_pass) break;
      continue;
    }
    mcsi_conn *c = t->only_conn ? t->only_conn : s->hooks->pick(s);
    if (!c) goto out;              /* not walked to the end: what may pass may still be there */
    mcsi_session_send(s, c, t);
  }
  s->pending_may_pass = 0;         /* what is left are new commands the window holds */
out:
  mcsi_session_fail_tasks(s, &lost, ISDSC_CONNECTION_FAILED, "the connection it had to go out on ended first");
}

/* Queues a task; it goes out when the window allows and a connection is up.
 * A command's timeout counts from here, whatever it waits for. */
void mcsi_session_submit(mcsi_session *s, mcsi_task *t)
{
  if (t->kind == MCSI_TASK_SCSI) {
    t->deadline = mcsi_now_ms() + (uint64_t)s->command_timeout_ms;
    arm_cmd_timer(s, t->deadline);
  }
  t->after_freeze = s->frozen;
  mcsi_list_push(&s->pending, &t->link);
  if (t->immediate) s->pending_may_pass = 1;
  if (t->immediate || mcsi_list_empty(&s->pending) || s->pending.next == &t->link) mcsi_session_drain(s);
}

void mcsi_session_requeue_front(mcsi_session *s, mcsi_task *t, mcsi_link **after)
{
  s->pending_may_pass = 1;              /* re-sent: it may keep its CmdSN */
  mcsi_list_del(&t->link);
  mcsi_list_insert_after(*after, &t->link);
  *after = &t->link;
}

/* A leading login's final answer: the (new) session's window is the one it
 * gives, smaller than the old one or not (RFC 7143 4.2.2.1). */
void mcsi_session_reset_window(mcsi_session *s, uint32_t expcmdsn, uint32_t maxcmdsn)
{
  s->cmdsn = expcmdsn;                  /* the new session's numbers are the target's */
  s->exp_cmdsn = expcmdsn;
  s->max_cmdsn = mcsi_sn_lt(maxcmdsn, expcmdsn - 1) ? expcmdsn - 1 : maxcmdsn;
}

void mcsi_session_update_sn(mcsi_session *s, uint32_t expcmdsn, uint32_t maxcmdsn)
{
  /* RFC 7143 4.2.2.1: ignore a window that is not sane */
  if (mcsi_sn_lt(maxcmdsn, expcmdsn - 1)) return;
  s->sn_heard_ms = mcsi_now_ms();
  if (mcsi_sn_lt(s->exp_cmdsn, expcmdsn)) s->exp_cmdsn = expcmdsn;
  if (mcsi_sn_lt(s->max_cmdsn, maxcmdsn)) {
    s->max_cmdsn = maxcmdsn;
    if (s->state == MCSI_SESS_ACTIVE || s->state == MCSI_SESS_LOGGING_OUT) mcsi_session_drain(s);
  }
}

/* ---- command timeouts ----------------------------------------------------------------- */

/* The earliest deadline of the SCSI commands on list, or 0; *late: one passed. */
static uint64_t earliest_deadline(mcsi_link *list, uint64_t now, int *late)
{
  uint64_t next = 0;
  for (mcsi_link *l = list->next; l != list; l = l->next) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    if (t->kind != MCSI_TASK_SCSI) continue;
    if (t->deadline <= now) *late = 1;
    else if (!next || t->deadline < next) next = t->deadline;
  }
  return next;
}

static uint64_t sooner(uint64_t a, uint64_t b) { return !a ? b : !b ? a : a < b ? a : b; }

/* Commands still waiting (for the CmdSN window, a connection, a probe) past
 * their deadline end here; collected first, as callbacks may queue more. */
static void expire_waiting(mcsi_session *s, mcsi_link *list, const char *where, uint64_t now)
{
  mcsi_link late;
  mcsi_list_init(&late);
  for (mcsi_link *l = list->next; l != list;) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    l = l->next;
    if (t->kind != MCSI_TASK_SCSI || t->deadline > now) continue;
    mcsi_list_del(&t->link);
    mcsi_list_push(&late, &t->link);
  }
  while (!mcsi_list_empty(&late)) {
    mcsi_task *t = MCSI_CONTAINER(late.next, mcsi_task, link);
    mcsi_task_fail(t, ISDSC_SERVICE_DID_NOT_RESPOND, "a command was not answered within %d ms of its submission"
                   " (it waited %s with CmdSN %u%s, the window %u..%u; lost with %d connections, re-issued %d times"
                   " after timeouts)", s->command_timeout_ms, where, t->cmdsn, t->keep_cmdsn ? " kept" : "",
                   s->exp_cmdsn, s->max_cmdsn, t->losses, t->retries);
  }
}

/* A late command on a connection gets one more attempt elsewhere (a stalled
 * path swallows commands: istgt does); its retries are bounded. */
static void renew_late(mcsi_link *list, uint64_t now, uint64_t timeout_ms)
{
  for (mcsi_link *l = list->next; l != list; l = l->next) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    if (t->kind == MCSI_TASK_SCSI && t->deadline <= now) t->deadline = now + timeout_ms;
  }
}

/* The CmdSN window stayed closed past a waiting command's deadline: the
 * target is stuck (at a CmdSN hole, say). The late commands get one more
 * command_timeout_ms each, within their retries, and the connections fail,
 * so that the session is reinstated with a new window, or fails. */
static int window_stalled(mcsi_session *s, uint64_t now)
{
  int late = 0;
  if (s->state != MCSI_SESS_ACTIVE || window_open(s)) return 0;
  earliest_deadline(&s->pending, now, &late);
  return late;
}

static void recover_stalled_window(mcsi_session *s, uint64_t now)
{
  for (mcsi_link *l = s->pending.next; l != &s->pending; l = l->next) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    if (t->kind != MCSI_TASK_SCSI || t->deadline > now || t->retries >= MCSI_MAX_RETRIES) continue;
    t->deadline = now + (uint64_t)s->command_timeout_ms;
    t->retries++;
  }
  for (mcsi_link *l = s->conns.next; l != &s->conns;) {
    mcsi_conn *c = MCSI_CONTAINER(l, mcsi_conn, link);
    l = l->next;
    if (c->state == MCSI_CONN_ACTIVE || c->state == MCSI_CONN_LOGOUT)
      mcsi_conn_fail(c, ISDSC_SERVICE_DID_NOT_RESPOND, "%s: the CmdSN window stayed closed (ExpCmdSN %u, MaxCmdSN %u)"
                     " for %d ms", mcsi_conn_portal(c), s->exp_cmdsn, s->max_cmdsn, s->command_timeout_ms);
  }
}

/* When a path comes back (a reinstatement, a connection logged in) a command
 * that waited for it gets its full command_timeout_ms from then on: the wait
 * was the login's and the recovery's to bound. */
void mcsi_session_renew_waiting(mcsi_session *s)
{
  uint64_t fresh = mcsi_now_ms() + (uint64_t)s->command_timeout_ms;
  for (mcsi_link *l = s->pending.next; l != &s->pending; l = l->next) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    if (t->kind == MCSI_TASK_SCSI && t->deadline < fresh) t->deadline = fresh;
  }
  if (!mcsi_list_empty(&s->pending)) arm_cmd_timer(s, fresh);
}

/* Each command has command_timeout_ms from its submission, whatever it waits
 * for: a command still waiting (for the CmdSN window, a probe) past its
 * deadline ends with ISDSC_SERVICE_DID_NOT_RESPOND, except while the session
 * has no path (a connection logging in, a reinstatement: their timeouts
 * govern that wait, and the command starts afresh when a path is back). A
 * connection holding a command past its deadline is not trusted any more: it
 * fails and its commands go elsewhere like those of any failed connection,
 * the late ones with a new command_timeout_ms each (at most MCSI_MAX_RETRIES
 * re-issues after such timeouts, mcsi_task_may_retry); a window that stays
 * closed fails the connections the same way. */
static void cmd_timer_fire(mcsi_timer *tm)
{
  mcsi_session *s = MCSI_CONTAINER(tm, mcsi_session, cmd_timer);
  uint64_t now = mcsi_now_ms(), next = 0;
  for (mcsi_link *l = s->conns.next; l != &s->conns;) {
    mcsi_conn *c = MCSI_CONTAINER(l, mcsi_conn, link);
    int late = 0;
    l = l->next;
    earliest_deadline(&c->tasks, now, &late);
    if (!late) continue;
    renew_late(&c->tasks, now, (uint64_t)s->command_timeout_ms);
    mcsi_conn_fail(c, ISDSC_SERVICE_DID_NOT_RESPOND, "%s: a command got no answer within %d ms",
                   mcsi_conn_portal(c), s->command_timeout_ms);
    expire_waiting(s, &c->tasks, "on a closing connection", now);   /* one already closing keeps its tasks */
  }
  if (window_stalled(s, now)) recover_stalled_window(s, now);
  if (s->state != MCSI_SESS_RECOVERING && mcsi_session_has_path(s)) {   /* waiting for a path: the login and */
    expire_waiting(s, &s->limbo, "lost, for the probes", now);         /* recovery timeouts govern that */
    expire_waiting(s, &s->pending, "to be sent", now);
  }
  int late = 0;
  next = sooner(earliest_deadline(&s->pending, now, &late), earliest_deadline(&s->limbo, now, &late));
  for (mcsi_link *l = s->conns.next; l != &s->conns; l = l->next)
    next = sooner(next, earliest_deadline(&MCSI_CONTAINER(l, mcsi_conn, link)->tasks, now, &late));
  if (next) arm_cmd_timer(s, next);
}

static void answer_target_nop(mcsi_conn *c, const mcsi_pdu_hdr *h)
{
  mcsi_pdu_hdr r = { .opcode = MCSI_OP_NOP_OUT, .immediate = 1, .flags = MCSI_F_FINAL, .lun = h->lun,
                     .itt = MCSI_RSVD_TAG, .ttt = h->ttt, .cmdsn = c->sess->cmdsn,
                     .expstatsn = c->exp_statsn };
  mcsi_conn_queue(c, &r, NULL, 0, NULL, NULL);
}

/* ---- receiving in full feature phase --------------------------------------------------- */

static int carries_statsn(const mcsi_pdu_hdr *h)
{
  switch (h->opcode) {
  case MCSI_OP_DATA_IN: return (h->flags & MCSI_F_STATUS) != 0;
  case MCSI_OP_NOP_IN: return h->itt != MCSI_RSVD_TAG;
  case MCSI_OP_R2T: return 0;
  default: return 1;
  }
}

static void rx_reject(mcsi_conn *c, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen)
{
  mcsi_pdu_hdr rej;
  memset(&rej, 0, sizeof rej);
  rej.itt = MCSI_RSVD_TAG;
  if (dlen >= MCSI_BHS_LEN) mcsi_pdu_decode(data, &rej);   /* the rejected header, best effort */
  const char *what = dlen >= MCSI_BHS_LEN && mcsi_opcode_name(rej.opcode) ? mcsi_opcode_name(rej.opcode) : "PDU";
  mcsi_task *t = rej.itt != MCSI_RSVD_TAG ? mcsi_task_lookup(c->sess, rej.itt) : NULL;
  c->format_errors++;
  if (t && t->conn == c)
    mcsi_task_fail(t, ISDSC_TARGET_ERROR, "%s rejected our %s (reason 0x%02x)", mcsi_conn_portal(c), what, h->reason);
}

mcsi_conn *mcsi_session_conn_by_cid(mcsi_session *s, uint16_t cid)
{
  for (mcsi_link *l = s->conns.next; l != &s->conns; l = l->next) {
    mcsi_conn *c = MCSI_CONTAINER(l, mcsi_conn, link);
    if (c->cid == cid && (c->state == MCSI_CONN_ACTIVE || c->state == MCSI_CONN_LOGOUT)) return c;
  }
  return NULL;
}

/* Seconds from the target, in range: RFC 7143 bounds Time2Wait and
 * Time2Retain to 0..3600; a larger value is clamped, and the note says so. */
static uint32_t time2_ms(uint16_t secs, const char *name, char *note, size_t n)
{
  if (secs <= MCSI_TIME2_MAX_S) return (uint32_t)secs * 1000u;
  size_t used = strlen(note);
  snprintf(note + used, n - used, "; %s %u s clamped to %u s", name, secs, MCSI_TIME2_MAX_S);
  return MCSI_TIME2_MAX_S * 1000u;
}

/* Checks what an Asynchronous Message asks; 0 when the layer above is to
 * act on it, -1 when it is only told (a SCSI event, vendor codes, a CID
 * that is not the session's). */
static int check_async(mcsi_conn *c, const mcsi_pdu_hdr *h, mcsi_async *a)
{
  char note[160] = "";
  const uint16_t *p = h->param;
  memset(a, 0, sizeof *a);
  a->event = h->async_event;
  switch (h->async_event) {
  case 1:
    a->logout_within_ms = (uint32_t)p[2] * 1000u;
    snprintf(a->message, sizeof a->message, "%s: async event 1: the target requests a Logout within %u s",
             mcsi_conn_portal(c), p[2]);
    return 0;
  case 2:
  case 3:
    a->time2wait_ms = time2_ms(p[1], "Time2Wait", note, sizeof note);
    a->time2retain_ms = time2_ms(p[2], "Time2Retain", note, sizeof note);
    if (h->async_event == 3) {
      snprintf(a->message, sizeof a->message, "%s: async event 3: the target drops every connection of the"
               " session (Time2Wait %u s, Time2Retain %u s%s)", mcsi_conn_portal(c), a->time2wait_ms / 1000,
               a->time2retain_ms / 1000, note);
      return 0;
    }
    a->named = mcsi_session_conn_by_cid(c->sess, p[0]);
    snprintf(a->message, sizeof a->message, "%s: async event 2: the target drops CID %u (Time2Wait %u s, "
             "Time2Retain %u s%s)%s", mcsi_conn_portal(c), p[0], a->time2wait_ms / 1000, a->time2retain_ms / 1000, note,
             a->named ? "" : ": no such connection in the session, ignored");
    if (!a->named) c->format_errors++;
    return a->named ? 0 : -1;
  case 4:
    snprintf(a->message, sizeof a->message, "%s: async event 4: the target requests parameter negotiation",
             mcsi_conn_portal(c));
    return 0;
  default:
    snprintf(a->message, sizeof a->message, "%s: async event %u (vcode %u)", mcsi_conn_portal(c), h->async_event,
             h->async_vcode);
    return -1;
  }
}

/* Told to the layers above as an event, then acted on by MC/S. */
static void rx_async(mcsi_conn *c, const mcsi_pdu_hdr *h)
{
  mcsi_async a;
  int act = check_async(c, h, &a) == 0;
  mcsi_conn_emit(c, MCSI_EV_ASYNC_MESSAGE, ISDSC_SUCCESS, a.message);
  if (act) c->sess->hooks->async_event(c, &a);
}

static mcsi_task *own_task(mcsi_conn *c, const mcsi_pdu_hdr *h, enum mcsi_task_kind kind)
{
  mcsi_task *t = mcsi_task_lookup(c->sess, h->itt);
  if (t && t->kind == kind && t->conn == c && t->sent) return t;
  if (c->state == MCSI_CONN_LOGOUT) return NULL;  /* a command moved off a draining connection */
  c->format_errors++;
  mcsi_conn_fail(c, ISDSC_TRANSPORT_ERROR, "%s sent a %s for unknown ITT 0x%08x", mcsi_conn_portal(c),
                 mcsi_opcode_name(h->opcode), h->itt);
  return NULL;
}

/* A Text Response with F clear: ask for the rest with the same ITT. */
static void continue_text(mcsi_conn *c, mcsi_task *t, const mcsi_pdu_hdr *h)
{
  mcsi_session *s = c->sess;
  if (!window_open(s)) {                /* a continuation is a command too: CmdSN <= MaxCmdSN */
    mcsi_task_fail(t, ISDSC_TARGET_ERROR, "%s: the Text Response continues but the CmdSN window is closed"
                   " (CmdSN %u, MaxCmdSN %u)", mcsi_conn_portal(c), s->cmdsn, s->max_cmdsn);
    return;
  }
  mcsi_pdu_hdr r = { .opcode = MCSI_OP_TEXT_REQ, .flags = MCSI_F_FINAL, .itt = t->itt, .ttt = h->ttt,
                     .cmdsn = s->cmdsn++, .expstatsn = c->exp_statsn };
  t->deadline = mcsi_now_ms() + (uint64_t)s->command_timeout_ms;
  mcsi_conn_queue(c, &r, NULL, 0, NULL, NULL);
}

static void rx_control_rsp(mcsi_conn *c, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen,
                           enum mcsi_task_kind kind)
{
  mcsi_task *t = own_task(c, h, kind);
  if (!t) return;
  if (kind == MCSI_TASK_TEXT && dlen > MCSI_TEXT_RSP_MAX - t->text_rx) {   /* C bit set forever */
    mcsi_task_fail(t, ISDSC_OUT_OF_RESOURCES, "%s: Text Response longer than %u bytes", mcsi_conn_portal(c),
                   MCSI_TEXT_RSP_MAX);
    return;
  }
  t->text_rx += dlen;
  if (t->done) t->done(t, ISDSC_SUCCESS, h, data, dlen);
  if (kind == MCSI_TASK_TEXT && !(h->flags & MCSI_F_FINAL)) {
    continue_text(c, t, h);
    return;
  }
  if (kind == MCSI_TASK_LOGOUT) mcsi_conn_close(c);   /* the target closes it now; that is no failure */
  t->done = NULL;
  mcsi_task_complete(t, ISDSC_SUCCESS);
}

void mcsi_session_rx(mcsi_conn *c, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen)
{
  mcsi_session *s = c->sess;
  if (carries_statsn(h) && mcsi_sn_le(c->exp_statsn, h->statsn)) c->exp_statsn = h->statsn + 1;
  mcsi_session_update_sn(s, h->expcmdsn, h->maxcmdsn);
  mcsi_task *t;
  switch (h->opcode) {
  case MCSI_OP_NOP_IN:
    if (h->itt != MCSI_RSVD_TAG) rx_control_rsp(c, h, data, dlen, MCSI_TASK_NOP);
    if (h->ttt != MCSI_RSVD_TAG && mcsi_transport_fd(&c->tp) >= 0) answer_target_nop(c, h);
    break;
  case MCSI_OP_SCSI_RSP:
    if ((t = own_task(c, h, MCSI_TASK_SCSI))) t->ops->response(c, t, h, data, dlen);
    break;
  case MCSI_OP_DATA_IN:                 /* its data went where place_data said */
    if ((t = own_task(c, h, MCSI_TASK_SCSI))) t->ops->data_in(c, t, h);
    break;
  case MCSI_OP_R2T:
    if ((t = own_task(c, h, MCSI_TASK_SCSI))) t->ops->r2t(c, t, h);
    break;
  case MCSI_OP_TMF_RSP: rx_control_rsp(c, h, data, dlen, MCSI_TASK_TMF); break;
  case MCSI_OP_TEXT_RSP: rx_control_rsp(c, h, data, dlen, MCSI_TASK_TEXT); break;
  case MCSI_OP_LOGOUT_RSP: rx_control_rsp(c, h, data, dlen, MCSI_TASK_LOGOUT); break;
  case MCSI_OP_REJECT: rx_reject(c, h, data, dlen); break;
  case MCSI_OP_ASYNC: rx_async(c, h); break;
  default:
    c->format_errors++;
    mcsi_conn_fail(c, ISDSC_TRANSPORT_ERROR, "%s sent a %s in full feature phase", mcsi_conn_portal(c),
                   mcsi_opcode_name(h->opcode));
  }
}


/* ---- a connection came up ---------------------------------------------------------------- */

/* Its login succeeded: a leading login speaks for the session (TSIH,
 * parameters, the window); the layer above hears next. */
void mcsi_session_conn_up(mcsi_conn *c, const mcsi_login_result *r)
{
  mcsi_session *s = c->sess;
  if (c->leading) {
    s->tsih = r->tsih;
    s->params = r->neg;
    s->tpgt = r->tpgt;
    s->tpgt_known = r->tpgt_known;
    if (r->target_alias[0]) snprintf(s->target_alias, sizeof s->target_alias, "%s", r->target_alias);
    mcsi_session_reset_window(s, r->exp_cmdsn, r->max_cmdsn);
  }
  c->params.max_connections = s->params.max_connections;
  int had_path = mcsi_session_has_path(s);
  c->state = MCSI_CONN_ACTIVE;
  if (!had_path) mcsi_session_renew_waiting(s);
  mcsi_conn_start_nop(c);
  mcsi_conn_emit(c, MCSI_EV_CONN_ACTIVE, ISDSC_SUCCESS, mcsi_conn_portal(c));
  s->hooks->login_finished(c, ISDSC_SUCCESS);
}

/* ---- probes: what ExpCmdSN has the target reached? ------------------------------------------ */

static void probe_done(mcsi_task *t, mcsi_status st, const mcsi_pdu_hdr *h, const uint8_t *d, uint32_t n)
{
  mcsi_session *s = t->sess;
  (void)st; (void)d; (void)n;
  if (s->probes) s->probes--;
  if (h && !s->probes) s->hooks->probes_answered(s);
}

void mcsi_session_probe(mcsi_session *s, int (*usable)(const mcsi_conn *c))
{
  for (mcsi_link *l = s->conns.next; l != &s->conns; l = l->next) {
    mcsi_conn *c = MCSI_CONTAINER(l, mcsi_conn, link);
    if (!usable(c)) continue;
    mcsi_task *t = mcsi_task_new(s, MCSI_TASK_NOP);
    if (!t) continue;
    t->immediate = 1;
    t->done = probe_done;
    s->probes++;
    mcsi_session_send(s, c, t);
  }
}

/* ---- the end of a session ------------------------------------------------------------------- */

/* Takes no new work from here: its Logout is under way. */
void mcsi_session_begin_logout(mcsi_session *s) { s->state = MCSI_SESS_LOGGING_OUT; }

/* Logged out (or given up): every connection closes, and it is told. */
void mcsi_session_end(mcsi_session *s, mcsi_status st, const char *reason)
{
  for (mcsi_link *l = s->conns.next; l != &s->conns; l = l->next) mcsi_conn_close(MCSI_CONTAINER(l, mcsi_conn, link));
  s->state = MCSI_SESS_LOGGED_OUT;
  mcsi_session_emit(s, MCSI_EV_SESSION_LOGGED_OUT, st, reason);
}

/* ---- control tasks of the layers above ------------------------------------------------------- */

mcsi_task *mcsi_tmf_task(mcsi_session *s, uint8_t function, uint64_t lun_field, const mcsi_task *victim,
                         mcsi_task_done_cb done, void *arg)
{
  mcsi_task *t = mcsi_task_new(s, MCSI_TASK_TMF);
  if (!t) return NULL;
  t->immediate = 1;
  t->tmf_function = function;
  t->lun_field = lun_field;
  t->ref_itt = victim ? victim->itt : MCSI_RSVD_TAG;   /* Referenced Task Tag and RefCmdSN: ABORT TASK only */
  t->ref_cmdsn = victim ? victim->cmdsn : 0;
  t->only_conn = victim ? victim->conn : NULL;
  t->done = done;
  t->arg = arg;
  return t;
}

/* Non-immediate (istgt needs that); the text is sent with its NUL. */
mcsi_task *mcsi_text_task(mcsi_session *s, const char *text, mcsi_task_done_cb done, void *arg)
{
  mcsi_task *t = mcsi_task_new(s, MCSI_TASK_TEXT);
  if (t) t->text = (uint8_t *)mcsi_strdup0(text);
  if (!t || !t->text) {
    if (t) mcsi_task_free(t);
    return NULL;
  }
  t->text_len = (uint32_t)strlen(text) + 1;
  t->done = done;
  t->arg = arg;
  return t;
}

mcsi_task *mcsi_text_task_on(mcsi_conn *c, mcsi_task_done_cb done, void *arg)
{
  mcsi_task *t = mcsi_text_task(c->sess, "", done, arg);
  if (!t) return NULL;
  t->text_len = 0;                      /* RFC 7143 11.9.1: "may be empty" */
  t->only_conn = c;
  return t;
}

void mcsi_task_set_done(mcsi_task *t, mcsi_task_done_cb done, void *arg)
{
  t->done = done;
  t->arg = arg;
}
