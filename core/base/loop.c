/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* loop.c: the event loop: one epoll set and a pairing heap of timers. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>
#include "loop.h"
#include "resolve.h"

int mcsi_loop_init(mcsi_loop *l)
{
  l->timers = NULL;
  mcsi_list_init(&l->deferred);
  l->in_callback = 0;
  l->resolver = NULL;
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  return l->epfd < 0 ? -1 : 0;
}

void mcsi_loop_close(mcsi_loop *l)
{
  mcsi_resolver_close(l);
  if (l->epfd >= 0) close(l->epfd);
  l->epfd = -1;
  l->timers = NULL;
}

void mcsi_timer_init(mcsi_timer *t, void (*fire)(mcsi_timer *))
{
  t->due = 0;
  t->active = 0;
  t->child = t->sibling = t->prev = NULL;
  t->fire = fire;
}

/* ---- timers: an intrusive pairing heap, so starting a timer allocates
 * nothing and cannot fail. prev is the parent for a first child, else the
 * left sibling. */

static mcsi_timer *meld(mcsi_timer *a, mcsi_timer *b)
{
  if (!a) return b;
  if (!b) return a;
  if (b->due < a->due) {
    mcsi_timer *x = a;
    a = b;
    b = x;
  }
  b->prev = a;
  b->sibling = a->child;
  if (a->child) a->child->prev = b;
  a->child = b;
  a->sibling = a->prev = NULL;
  return a;
}

/* Two-pass pairing of a sibling list, without recursion. */
static mcsi_timer *merge_pairs(mcsi_timer *first)
{
  mcsi_timer *paired = NULL;        /* melded pairs, chained through sibling in reverse */
  while (first) {
    mcsi_timer *a = first, *b = a->sibling;
    first = b ? b->sibling : NULL;
    a->sibling = a->prev = NULL;
    if (b) b->sibling = b->prev = NULL;
    mcsi_timer *m = meld(a, b);
    m->sibling = paired;
    paired = m;
  }
  mcsi_timer *root = NULL;
  while (paired) {
    mcsi_timer *next = paired->sibling;
    paired->sibling = NULL;
    root = meld(root, paired);
    paired = next;
  }
  return root;
}

void mcsi_timer_stop(mcsi_loop *l, mcsi_timer *t)
{
  if (!t->active) return;
  t->active = 0;
  mcsi_timer *sub = merge_pairs(t->child);
  if (t == l->timers) {
    l->timers = sub;
  } else {
    if (t->prev->child == t) t->prev->child = t->sibling;
    else t->prev->sibling = t->sibling;
    if (t->sibling) t->sibling->prev = t->prev;
    l->timers = meld(l->timers, sub);
  }
  t->child = t->sibling = t->prev = NULL;
}

void mcsi_timer_start(mcsi_loop *l, mcsi_timer *t, uint64_t delay_ms)
{
  mcsi_timer_stop(l, t);
  t->due = mcsi_now_ms() + delay_ms;
  t->active = 1;
  l->timers = meld(l->timers, t);
}

int mcsi_loop_next_timeout(const mcsi_loop *l)
{
  if (!l->timers) return -1;
  uint64_t now = mcsi_now_ms(), due = l->timers->due;
  if (due <= now) return 0;
  return due - now > 86400000u ? 86400000 : (int)(due - now);
}

/* Fires every timer that is due; a timer may re-arm itself or others. */
int mcsi_loop_fire_due(mcsi_loop *l)
{
  uint64_t now = mcsi_now_ms();
  int n = 0;
  while (l->timers && l->timers->due <= now) {
    mcsi_timer *t = l->timers;
    mcsi_timer_stop(l, t);
    t->fire(t);
    n++;
  }
  return n;
}

int mcsi_watch_add(mcsi_loop *l, mcsi_watch *w, int fd, uint32_t events)
{
  struct epoll_event ev = { .events = events, .data.ptr = w };
  w->fd = fd;
  w->events = events;
  return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int mcsi_watch_set(mcsi_loop *l, mcsi_watch *w, uint32_t events)
{
  if (w->events == events) return 0;
  struct epoll_event ev = { .events = events, .data.ptr = w };
  w->events = events;
  return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void mcsi_watch_del(mcsi_loop *l, mcsi_watch *w)
{
  if (w->fd >= 0) epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
  w->fd = -1;
}

/* Waits for sockets (bounded by the next timer), dispatches them, then fires
 * due timers. Returns the number of events handled, -1 on epoll failure. */
int mcsi_loop_poll(mcsi_loop *l, int timeout_ms)
{
  struct epoll_event evs[64];
  int next = mcsi_loop_next_timeout(l);
  if (next >= 0 && (timeout_ms < 0 || next < timeout_ms)) timeout_ms = next;
  int n = epoll_wait(l->epfd, evs, 64, timeout_ms);
  if (n < 0) {
    if (errno != EINTR) return -1;
    n = 0;
  }
  for (int i = 0; i < n; i++) {
    mcsi_watch *w = evs[i].data.ptr;
    if (w->fd >= 0) w->ready(w, evs[i].events);
  }
  return n + mcsi_loop_fire_due(l);
}

void mcsi_loop_defer(mcsi_loop *l, mcsi_deferred *d)
{
  if (mcsi_list_empty(&d->link)) mcsi_list_push(&l->deferred, &d->link);
}

int mcsi_loop_has_deferred(const mcsi_loop *l) { return !mcsi_list_empty(&l->deferred); }

/* Each entry leaves the list before it runs; it may defer itself again. */
void mcsi_loop_run_deferred(mcsi_loop *l)
{
  while (!mcsi_list_empty(&l->deferred)) {
    mcsi_deferred *d = MCSI_CONTAINER(l->deferred.next, mcsi_deferred, link);
    mcsi_list_del(&d->link);
    d->run(d);
  }
}
