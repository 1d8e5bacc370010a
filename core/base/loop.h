/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* loop.h: the bottom layer: one epoll set, an intrusive timer heap, work
 * deferred to the next turn (flushing send queues), the depth of user
 * callbacks running (blocking calls are refused inside them), and the
 * resolver whose answers come back through it (resolve.h). */
#ifndef MCSI_LOOP_H
#define MCSI_LOOP_H
#include <stdint.h>
#include "base.h"

typedef struct mcsi_timer {
  uint64_t due;                         /* monotonic ms */
  int active;
  struct mcsi_timer *child, *sibling, *prev;   /* pairing heap links (loop.c) */
  void (*fire)(struct mcsi_timer *t);
} mcsi_timer;

typedef struct mcsi_watch {
  int fd;
  uint32_t events;                      /* EPOLLIN/EPOLLOUT as registered */
  void (*ready)(struct mcsi_watch *w, uint32_t events);
} mcsi_watch;

/* Work run before the loop waits again (mcsi_loop_run_deferred). */
typedef struct mcsi_deferred {
  mcsi_link link;
  void (*run)(struct mcsi_deferred *d);
} mcsi_deferred;

typedef struct mcsi_loop {
  int epfd;
  mcsi_timer *timers;                   /* root of the timer heap */
  mcsi_link deferred;
  int in_callback;                      /* user callbacks running now */
  struct mcsi_resolver *resolver;       /* name resolution off the loop (resolve.c), made on first use */
} mcsi_loop;

int mcsi_loop_init(mcsi_loop *l);
void mcsi_loop_close(mcsi_loop *l);
void mcsi_timer_init(mcsi_timer *t, void (*fire)(mcsi_timer *));
/* Cannot fail: the heap is intrusive. Restarts an active timer. */
void mcsi_timer_start(mcsi_loop *l, mcsi_timer *t, uint64_t delay_ms);
void mcsi_timer_stop(mcsi_loop *l, mcsi_timer *t);
static inline int mcsi_timer_active(const mcsi_timer *t) { return t->active; }
int mcsi_loop_next_timeout(const mcsi_loop *l);
int mcsi_loop_fire_due(mcsi_loop *l);
int mcsi_watch_add(mcsi_loop *l, mcsi_watch *w, int fd, uint32_t events);
int mcsi_watch_set(mcsi_loop *l, mcsi_watch *w, uint32_t events);
void mcsi_watch_del(mcsi_loop *l, mcsi_watch *w);
int mcsi_loop_poll(mcsi_loop *l, int timeout_ms);
static inline void mcsi_deferred_init(mcsi_deferred *d, void (*run)(mcsi_deferred *))
{ mcsi_list_init(&d->link); d->run = run; }
/* Idempotent; cancel with mcsi_deferred_cancel. */
void mcsi_loop_defer(mcsi_loop *l, mcsi_deferred *d);
static inline void mcsi_deferred_cancel(mcsi_deferred *d) { mcsi_list_del(&d->link); }
int mcsi_loop_has_deferred(const mcsi_loop *l);
void mcsi_loop_run_deferred(mcsi_loop *l);
/* A user callback runs between these. */
static inline void mcsi_loop_enter_callback(mcsi_loop *l) { l->in_callback++; }
static inline void mcsi_loop_leave_callback(mcsi_loop *l) { l->in_callback--; }
/* For the layers two or more levels up, which own none of these fields
 * (core/LAYERS): what they read or set of a loop, a timer, a watch. */
static inline int mcsi_loop_in_callback(const mcsi_loop *l) { return l->in_callback > 0; }
static inline void mcsi_loop_clear_callbacks(mcsi_loop *l) { l->in_callback = 0; }
static inline int mcsi_loop_fd(const mcsi_loop *l) { return l->epfd; }
static inline void mcsi_timer_set_fire(mcsi_timer *t, void (*fire)(mcsi_timer *)) { t->fire = fire; }
static inline int mcsi_timer_fires(const mcsi_timer *t, void (*fire)(mcsi_timer *)) { return t->fire == fire; }
static inline uint64_t mcsi_timer_due(const mcsi_timer *t) { return t->due; }
static inline void mcsi_watch_set_ready(mcsi_watch *w, void (*ready)(mcsi_watch *, uint32_t))
{
  w->ready = ready;
}
static inline int mcsi_watch_fd(const mcsi_watch *w) { return w->fd; }
#endif
