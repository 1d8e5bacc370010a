/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * overlap.c: the export's overlap wait list, which orders a read-modify-write
 * against the requests that touch the same LUN blocks.
 *
 * The rule: two requests CONFLICT when the LUN blocks they touch overlap and
 * at least one of them is an RMW (a write or write-zeroes that covers part of
 * a block: it reads the block, merges, writes it back). Conflicting requests
 * never run at the same time; they run in the order they arrived, whatever
 * client sent them. A request is admitted at once when it conflicts with
 * nothing running and nothing waiting (so it never overtakes an earlier
 * conflicting one), else it waits at the tail of the export's list. When a
 * request finishes its blocks are released and, from a zero timer, the
 * waiters are admitted in arrival order, each one that now conflicts with
 * nothing running and no earlier waiter. Requests that do not conflict (two
 * whole-block writes of the same blocks, as NBD allows) keep running
 * concurrently, in any order, as before.
 *
 * Bounded: a waiting request is one of its client's requests in flight, so
 * the list holds at most max_clients * max_inflight_requests entries. Every
 * wait ends: a running request ends when the engine answers (its own
 * deadlines and retries), and then the waiters behind it move.
 */
#include <stdlib.h>
#include "nbd_internal.h"

static int conflict(const nbd_req *a, const nbd_req *b)
{
  return (a->rmw || b->rmw) && a->first_blk < b->end_blk && b->first_blk < a->end_blk;
}

static int conflicts_running(const nbd_overlap *ov, const nbd_req *r)
{
  for (const nbd_req *x = ov->active_head; x; x = x->ov_next)
    if (conflict(x, r)) return 1;
  return 0;
}

/* Conflicts with a waiter ahead of it (stop: r itself, or the end). */
static int conflicts_waiting(const nbd_overlap *ov, const nbd_req *r, const nbd_req *stop)
{
  for (const nbd_req *x = ov->wait_head; x && x != stop; x = x->ov_next)
    if (conflict(x, r)) return 1;
  return 0;
}

static void push_active(nbd_overlap *ov, nbd_req *r)
{
  r->ov_prev = NULL;
  r->ov_next = ov->active_head;
  if (ov->active_head) ov->active_head->ov_prev = r;
  ov->active_head = r;
  r->ov_state = 2;
}

static void unlink_req(nbd_overlap *ov, nbd_req *r)
{
  if (r->ov_state == 1) {
    if (r->ov_prev) r->ov_prev->ov_next = r->ov_next;
    else ov->wait_head = r->ov_next;
    if (r->ov_next) r->ov_next->ov_prev = r->ov_prev;
    else ov->wait_tail = r->ov_prev;
    ov->waiting--;
  } else if (r->ov_state == 2) {
    if (r->ov_prev) r->ov_prev->ov_next = r->ov_next;
    else ov->active_head = r->ov_next;
    if (r->ov_next) r->ov_next->ov_prev = r->ov_prev;
  }
  if (r->ov_state && r->rmw) ov->rmw--;
  r->ov_prev = r->ov_next = NULL;
  r->ov_state = 0;
}

int nbd_overlap_enter(mcsi_nbd_export *e, nbd_req *r)
{
  nbd_overlap *ov = &e->ov;
  r->exp = e;
  int must_check = r->rmw || ov->rmw;
  if (r->rmw) ov->rmw++;
  if (!must_check || (!conflicts_running(ov, r) && !conflicts_waiting(ov, r, NULL))) {
    push_active(ov, r);
    return 1;
  }
  r->ov_state = 1;
  r->ov_next = NULL;
  r->ov_prev = ov->wait_tail;
  if (ov->wait_tail) ov->wait_tail->ov_next = r;
  else ov->wait_head = r;
  ov->wait_tail = r;
  ov->waiting++;
  e->stats.overlap_waits++;
  return 0;
}

/* The first waiter that may run now, or NULL. */
static nbd_req *next_admissible(nbd_overlap *ov)
{
  for (nbd_req *w = ov->wait_head; w; w = w->ov_next)
    if (!conflicts_running(ov, w) && !conflicts_waiting(ov, w, w)) return w;
  return NULL;
}

/* Admits one at a time and looks again from the head: starting a request
 * may finish it, close its client and free others of the list. */
static void on_kick(mcsi_initiator *ini, void *arg)
{
  mcsi_nbd_export *e = arg;
  nbd_overlap *ov = &e->ov;
  nbd_req *w;
  (void)ini;
  ov->kick = 0;
  while ((w = next_admissible(ov))) {
    int rmw = w->rmw;
    unlink_req(ov, w);
    if (rmw) ov->rmw++;
    push_active(ov, w);
    nbd_request_start(w);
  }
}

void nbd_overlap_release(nbd_req *r)
{
  mcsi_nbd_export *e = r->exp;
  if (!e || !r->ov_state) return;
  unlink_req(&e->ov, r);
  if (e->ov.wait_head && !e->ov.kick) e->ov.kick = mcsi_timer_add(e->ini, 0, on_kick, e);
}

void nbd_overlap_drop(nbd_req *r)
{
  if (r->exp && r->ov_state) unlink_req(&r->exp->ov, r);
}

void nbd_overlap_detach_all(mcsi_nbd_export *e)
{
  nbd_overlap *ov = &e->ov;
  while (ov->active_head) {
    nbd_req *r = ov->active_head;
    unlink_req(ov, r);
    r->exp = NULL;
  }
  while (ov->wait_head) {
    nbd_req *r = ov->wait_head;
    unlink_req(ov, r);
    r->exp = NULL;
  }
  if (ov->kick) mcsi_timer_cancel(e->ini, ov->kick);
  ov->kick = 0;
}
