/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ops.c: asynchronous operations (login, logout, add, discovery, task
 * management) as request objects with a completion callback, and the one
 * wait helper their blocking forms share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "initiator.h"

mcsi_op *mcsi_op_new(mcsi_initiator *ini, mcsi_result_cb cb, void *arg)
{
  mcsi_op *op = calloc(1, sizeof *op);
  if (!op) return NULL;
  op->ini = ini;
  op->cb = cb;
  op->arg = arg;
  mcsi_timer_init(&op->timer, NULL);
  mcsi_list_init(&op->link);
  mcsi_list_push(&ini->ops, &op->link);
  return op;
}

void mcsi_op_drop(mcsi_op *op)
{
  if (op->task) mcsi_task_set_done(op->task, NULL, NULL);   /* its task may still end: it tells nobody */
  if (op->e && op->e->login_op == op) op->e->login_op = NULL;
  if (op->e && op->e->logout_op == op) op->e->logout_op = NULL;
  if (op->path) mcsi_path_forget(op->path, op);
  if (op->e) mcsi_mcs_forget(&op->e->m, op);   /* a logout hears no more of the removals it started */
  mcsi_timer_stop(&op->ini->loop, &op->timer);
  mcsi_list_del(&op->link);
  mcsi_target_list_free(op->list);
  free(op->text);
  free(op);
}

static void deliver(mcsi_op *op)
{
  mcsi_initiator *ini = op->ini;
  mcsi_target_list *list = op->list;
  op->list = NULL;
  mcsi_loop_enter_callback(&ini->loop);
  if (op->targets_cb) op->targets_cb(ini, &op->r, list, op->arg);
  else if (op->cb) op->cb(ini, &op->r, op->arg);
  else mcsi_target_list_free(list);
  mcsi_loop_leave_callback(&ini->loop);
  mcsi_op_drop(op);
}

static void set_result(mcsi_op *op, mcsi_status st, const char *message)
{
  if (message != op->message) snprintf(op->message, sizeof op->message, "%s", message && *message ? message : "Success");
  op->r.status = st;
  op->r.message = op->message;
}

void mcsi_op_finish(mcsi_op *op, mcsi_status st, const char *message)
{
  set_result(op, st, message);
  deliver(op);
}

static void deliver_fire(mcsi_timer *t)
{
  deliver(MCSI_CONTAINER(t, mcsi_op, timer));
}

void mcsi_op_finish_later(mcsi_op *op, mcsi_status st, const char *message)
{
  set_result(op, st, message);
  mcsi_timer_set_fire(&op->timer, deliver_fire);
  mcsi_timer_start(&op->ini->loop, &op->timer, 0);
}

/* The initiator goes away: operations still in flight end without a word. */
void mcsi_ops_free(mcsi_initiator *ini)
{
  while (!mcsi_list_empty(&ini->ops)) {
    mcsi_op *op = MCSI_CONTAINER(ini->ops.next, mcsi_op, link);
    if (op->forget) op->forget(op->arg);
    mcsi_op_drop(op);
  }
}

/* ---- the one wait helper ------------------------------------------------------ */

void mcsi_wait_wake(mcsi_initiator *ini, const mcsi_result *r, void *arg)
{
  mcsi_wait *w = arg;
  (void)ini;
  w->st = r->status;
  w->sid = r->session_id;
  w->cid = r->connection_id;
  snprintf(w->message, sizeof w->message, "%s", r->message);
  w->done = 1;
}

void mcsi_wait_wake_targets(mcsi_initiator *ini, const mcsi_result *r, mcsi_target_list *list, void *arg)
{
  mcsi_wait *w = arg;
  w->list = list;
  mcsi_wait_wake(ini, r, arg);
}

mcsi_status mcsi_wait_for(mcsi_initiator *ini, mcsi_wait *w)
{
  mcsi_run_until(ini, &w->done, 0);
  mcsi_reap(ini);                       /* frees what the operation left behind */
  if (w->st || strcmp(w->message, "Success") != 0) mcsi_fail(ini, w->st, "%s", w->message);
  else mcsi_ok(ini);
  return w->st;
}

mcsi_status mcsi_blocking_refused(mcsi_initiator *ini)
{
  return mcsi_fail(ini, ISDSC_SESSION_BUSY, "blocking call from inside a callback");
}
