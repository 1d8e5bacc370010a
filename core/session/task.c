/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* task.c: the tasks of a session: ITTs in a collision-free table, the
 * lifetime of a task, and how it ends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "session.h"

static int itt_grow(mcsi_session *s)
{
  uint32_t n = (s->itt_mask + 1) * 2;
  mcsi_task **tab = calloc(n, sizeof *tab);
  if (!tab) return -1;
  for (uint32_t i = 0; i <= s->itt_mask; i++) {
    mcsi_task *t = s->itt_table[i];
    if (t) tab[t->itt & (n - 1)] = t;
  }
  free(s->itt_table);
  s->itt_table = tab;
  s->itt_mask = n - 1;
  return 0;
}

/* Picks an ITT whose slot is free: the table stays collision-free. */
static int itt_register(mcsi_session *s, mcsi_task *t)
{
  if (s->ntasks * 2 >= s->itt_mask + 1 && itt_grow(s)) return -1;
  for (;;) {
    uint32_t itt = s->next_itt++;
    if (itt == MCSI_RSVD_TAG) continue;
    if (s->itt_table[itt & s->itt_mask]) continue;
    t->itt = itt;
    s->itt_table[itt & s->itt_mask] = t;
    s->ntasks++;
    return 0;
  }
}

static void itt_unregister(mcsi_task *t)
{
  mcsi_session *s = t->sess;
  if (t->itt != MCSI_RSVD_TAG && s->itt_table[t->itt & s->itt_mask] == t) {
    s->itt_table[t->itt & s->itt_mask] = NULL;
    s->ntasks--;
  }
  t->itt = MCSI_RSVD_TAG;
}

int mcsi_task_new_itt(mcsi_task *t)
{
  itt_unregister(t);
  return itt_register(t->sess, t);
}

mcsi_task *mcsi_task_lookup(mcsi_session *s, uint32_t itt)
{
  mcsi_task *t = s->itt_table[itt & s->itt_mask];
  return t && t->itt == itt ? t : NULL;
}

/* A SCSI task is larger (scsi.c embeds mcsi_task): it is allocated there and
 * given here through mcsi_task_init. */
int mcsi_task_init(mcsi_session *s, mcsi_task *t, enum mcsi_task_kind kind)
{
  t->kind = kind;
  t->sess = s;
  t->itt = MCSI_RSVD_TAG;
  mcsi_list_init(&t->link);
  return itt_register(s, t);
}

mcsi_task *mcsi_task_new(mcsi_session *s, enum mcsi_task_kind kind)
{
  mcsi_task *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  if (mcsi_task_init(s, t, kind)) {
    free(t);
    return NULL;
  }
  return t;
}

/* A task of a kind with ops is freed by its kind (it is part of a larger struct). */
static void release(mcsi_task *t)
{
  free(t->text);
  if (t->ops) t->ops->release(t);
  else free(t);
}

void mcsi_task_free(mcsi_task *t)
{
  if (mcsi_timer_active(&t->hold)) mcsi_timer_stop(t->sess->loop, &t->hold);
  itt_unregister(t);
  mcsi_list_del(&t->link);
  release(t);
}

void mcsi_task_reissue(mcsi_task *t, int keep_cmdsn, int counted)
{
  t->keep_cmdsn = keep_cmdsn;
  if (!keep_cmdsn && mcsi_task_new_itt(t)) t->itt = MCSI_RSVD_TAG;   /* out of memory: fails when sent */
  if (counted) t->sess->commands_retried++;
}

/* How long a command may keep going again after connection losses. */
static uint64_t loss_budget_ms(const mcsi_session *s)
{
  return (uint64_t)(s->opts.recovery_timeout_ms > 0 ? s->opts.recovery_timeout_ms : s->command_timeout_ms);
}

int mcsi_task_may_retry(mcsi_task *t, mcsi_status cause)
{
  if (t->kind != MCSI_TASK_SCSI) return 0;
  if (cause != ISDSC_SERVICE_DID_NOT_RESPOND) {
    uint64_t now = mcsi_now_ms();
    if (!t->lost_since) t->lost_since = now;
    t->losses++;
    return now - t->lost_since < loss_budget_ms(t->sess);
  }
  if (t->retries >= MCSI_MAX_RETRIES) return 0;
  t->retries++;
  return 1;
}

/* It leaves the connection it went out on: nothing there refers to it. */
void mcsi_task_unsend(mcsi_task *t)
{
  mcsi_conn *c = t->conn;
  if (!c) return;
  mcsi_transport_detach(&c->tp, &t->tx);
  if (t->sent && c->queue_depth) c->queue_depth--;
  t->sent = 0;
  t->conn = NULL;
}

static void queue_again(mcsi_task *t)
{
  mcsi_session *s = t->sess;
  mcsi_list_del(&t->link);
  mcsi_list_push(&s->pending, &t->link);
  s->pending_may_pass |= t->immediate || t->keep_cmdsn;
  mcsi_session_drain(s);
}

static void hold_over(mcsi_timer *tm) { queue_again(MCSI_CONTAINER(tm, mcsi_task, hold)); }

int mcsi_task_retry(mcsi_task *t, uint32_t delay_ms)
{
  mcsi_session *s = t->sess;
  if (t->kind != MCSI_TASK_SCSI) return -1;
  mcsi_task_unsend(t);
  if (mcsi_task_new_itt(t)) return -1;
  t->resends++;                         /* not commands_retried: no connection failed */
  if (!delay_ms) {
    queue_again(t);
    return 0;
  }
  mcsi_list_del(&t->link);
  mcsi_list_push(&s->held, &t->link);
  mcsi_timer_init(&t->hold, hold_over);
  mcsi_timer_start(s->loop, &t->hold, delay_ms);
  return 0;
}

void mcsi_task_complete(mcsi_task *t, mcsi_status st)
{
  mcsi_loop *loop = t->sess->loop;
  mcsi_conn *c = t->conn;
  if (mcsi_timer_active(&t->hold)) mcsi_timer_stop(loop, &t->hold);
  if (c) {
    mcsi_transport_detach(&c->tp, &t->tx);
    if (t->sent && c->queue_depth) c->queue_depth--;
    if (t->sent && t->kind == MCSI_TASK_SCSI) mcsi_latency_record(&c->latency, mcsi_now_us() - t->sent_us);
  }
  itt_unregister(t);
  mcsi_list_del(&t->link);
  mcsi_loop_enter_callback(loop);
  if (t->done) t->done(t, st, NULL, NULL, 0);
  mcsi_loop_leave_callback(loop);
  release(t);
  if (c) c->sess->hooks->task_ended_on(c);
}

void mcsi_task_fail(mcsi_task *t, mcsi_status st, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  mcsi_msgv(t->message, st, fmt, ap);
  va_end(ap);
  mcsi_task_complete(t, st);
}

void mcsi_session_fail_tasks(mcsi_session *s, mcsi_link *list, mcsi_status st, const char *why)
{
  (void)s;
  while (!mcsi_list_empty(list))
    mcsi_task_fail(MCSI_CONTAINER(list->next, mcsi_task, link), st, "%s", why);
}

static mcsi_task *find_in(mcsi_link *list, int (*match)(const mcsi_task *, const void *), const void *arg)
{
  for (mcsi_link *l = list->next; l != list; l = l->next) {
    mcsi_task *t = MCSI_CONTAINER(l, mcsi_task, link);
    if (match(t, arg)) return t;
  }
  return NULL;
}

mcsi_task *mcsi_session_find_task(mcsi_session *s, int (*match)(const mcsi_task *t, const void *arg),
                                  const void *arg)
{
  mcsi_task *t;
  if ((t = find_in(&s->pending, match, arg)) || (t = find_in(&s->limbo, match, arg)) ||
      (t = find_in(&s->held, match, arg)))
    return t;
  for (mcsi_link *l = s->conns.next; l != &s->conns; l = l->next)
    if ((t = find_in(&MCSI_CONTAINER(l, mcsi_conn, link)->tasks, match, arg))) return t;
  return NULL;
}
