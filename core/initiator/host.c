/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* host.c: a host program's timers and file descriptors on the initiator's
 * loop, so a program built on mcsi (a daemon, an NBD server, the Lua
 * binding) has one loop and one timer implementation, the engine's. */
#include <stdlib.h>
#include <sys/epoll.h>
#include "initiator.h"

typedef struct host_timer {
  mcsi_timer timer;
  mcsi_link link;                       /* in ini->host_timers */
  mcsi_initiator *ini;
  uint64_t id;
  mcsi_timer_cb cb;
  void *arg;
} host_timer;

typedef struct host_watch {
  mcsi_watch watch;
  mcsi_link link;                       /* in ini->host_watches, or ini->dead_watches */
  mcsi_initiator *ini;
  uint64_t id;
  mcsi_fd_cb cb;
  void *arg;
} host_watch;

static void host_timer_fire(mcsi_timer *t)
{
  host_timer *h = MCSI_CONTAINER(t, host_timer, timer);
  mcsi_initiator *ini = h->ini;
  mcsi_timer_cb cb = h->cb;
  void *arg = h->arg;
  mcsi_list_del(&h->link);
  free(h);
  mcsi_loop_enter_callback(&ini->loop);
  cb(ini, arg);
  mcsi_loop_leave_callback(&ini->loop);
}

uint64_t mcsi_timer_add(mcsi_initiator *ini, uint64_t delay_ms, mcsi_timer_cb cb, void *arg)
{
  if (!ini || !cb) return 0;
  host_timer *h = calloc(1, sizeof *h);
  if (!h) return 0;
  mcsi_timer_init(&h->timer, host_timer_fire);
  h->ini = ini;
  h->id = mcsi_new_id();
  h->cb = cb;
  h->arg = arg;
  mcsi_list_push(&ini->host_timers, &h->link);
  mcsi_timer_start(&ini->loop, &h->timer, delay_ms);
  return h->id;
}

int mcsi_timer_cancel(mcsi_initiator *ini, uint64_t id)
{
  if (!ini) return 0;
  for (mcsi_link *p = ini->host_timers.next; p != &ini->host_timers; p = p->next) {
    host_timer *h = MCSI_CONTAINER(p, host_timer, link);
    if (h->id != id) continue;
    mcsi_timer_stop(&ini->loop, &h->timer);
    mcsi_list_del(&h->link);
    free(h);
    return 1;
  }
  return 0;
}

/* ---- file descriptors ---------------------------------------------------- */

static uint32_t epoll_events(int events)
{
  return (events & MCSI_FD_READABLE ? EPOLLIN : 0u) | (events & MCSI_FD_WRITABLE ? EPOLLOUT : 0u);
}

static void host_watch_ready(mcsi_watch *w, uint32_t events)
{
  host_watch *h = MCSI_CONTAINER(w, host_watch, watch);
  int what = (events & (EPOLLIN | EPOLLHUP | EPOLLERR) ? MCSI_FD_READABLE : 0) |
             (events & (EPOLLOUT | EPOLLERR) ? MCSI_FD_WRITABLE : 0);
  mcsi_loop_enter_callback(&h->ini->loop);
  h->cb(h->ini, mcsi_watch_fd(w), what, h->arg);
  mcsi_loop_leave_callback(&h->ini->loop);
}

static host_watch *host_watch_find(mcsi_initiator *ini, uint64_t id)
{
  for (mcsi_link *p = ini->host_watches.next; p != &ini->host_watches; p = p->next) {
    host_watch *h = MCSI_CONTAINER(p, host_watch, link);
    if (h->id == id) return h;
  }
  return NULL;
}

uint64_t mcsi_fd_watch(mcsi_initiator *ini, int fd, int events, mcsi_fd_cb cb, void *arg)
{
  if (!ini || !cb || fd < 0) return 0;
  host_watch *h = calloc(1, sizeof *h);
  if (!h) return 0;
  mcsi_watch_set_ready(&h->watch, host_watch_ready);
  h->ini = ini;
  h->id = mcsi_new_id();
  h->cb = cb;
  h->arg = arg;
  if (mcsi_watch_add(&ini->loop, &h->watch, fd, epoll_events(events))) {
    free(h);
    return 0;
  }
  mcsi_list_push(&ini->host_watches, &h->link);
  return h->id;
}

int mcsi_fd_watch_set(mcsi_initiator *ini, uint64_t id, int events)
{
  host_watch *h = ini ? host_watch_find(ini, id) : NULL;
  if (!h) return -1;
  return mcsi_watch_set(&ini->loop, &h->watch, epoll_events(events));
}

/* The loop may still hold this watch among the events of the current poll:
 * it is unhooked now (fd -1: never dispatched again) and freed by the reaper. */
int mcsi_fd_unwatch(mcsi_initiator *ini, uint64_t id)
{
  host_watch *h = ini ? host_watch_find(ini, id) : NULL;
  if (!h) return 0;
  mcsi_watch_del(&ini->loop, &h->watch);
  mcsi_list_del(&h->link);
  mcsi_list_push(&ini->dead_watches, &h->link);
  return 1;
}

void mcsi_host_reap(mcsi_initiator *ini)
{
  while (!mcsi_list_empty(&ini->dead_watches)) {
    host_watch *h = MCSI_CONTAINER(ini->dead_watches.next, host_watch, link);
    mcsi_list_del(&h->link);
    free(h);
  }
}

void mcsi_host_free(mcsi_initiator *ini)
{
  while (!mcsi_list_empty(&ini->host_timers)) {
    host_timer *h = MCSI_CONTAINER(ini->host_timers.next, host_timer, link);
    mcsi_timer_stop(&ini->loop, &h->timer);
    mcsi_list_del(&h->link);
    free(h);
  }
  while (!mcsi_list_empty(&ini->host_watches)) mcsi_fd_unwatch(ini, MCSI_CONTAINER(ini->host_watches.next, host_watch, link)->id);
  mcsi_host_reap(ini);
}
