/* loop.c: the event loop: one epoll set and a binary heap of timers. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"

#define NO_SLOT ((size_t)-1)

uint64_t mcsi_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int mcsi_loop_init(mcsi_loop *l)
{
  l->heap = NULL;
  l->nheap = l->capheap = 0;
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  return l->epfd < 0 ? -1 : 0;
}

void mcsi_loop_close(mcsi_loop *l)
{
  if (l->epfd >= 0) close(l->epfd);
  l->epfd = -1;
  free(l->heap);
  l->heap = NULL;
  l->nheap = l->capheap = 0;
}

void mcsi_timer_init(mcsi_timer *t, void (*fire)(mcsi_timer *))
{
  t->due = 0;
  t->slot = NO_SLOT;
  t->fire = fire;
}

static void heap_set(mcsi_loop *l, size_t i, mcsi_timer *t)
{
  l->heap[i] = t;
  t->slot = i;
}

static void sift_up(mcsi_loop *l, size_t i)
{
  mcsi_timer *t = l->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (l->heap[p]->due <= t->due) break;
    heap_set(l, i, l->heap[p]);
    i = p;
  }
  heap_set(l, i, t);
}

static void sift_down(mcsi_loop *l, size_t i)
{
  mcsi_timer *t = l->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= l->nheap) break;
    if (c + 1 < l->nheap && l->heap[c + 1]->due < l->heap[c]->due) c++;
    if (t->due <= l->heap[c]->due) break;
    heap_set(l, i, l->heap[c]);
    i = c;
  }
  heap_set(l, i, t);
}

void mcsi_timer_stop(mcsi_loop *l, mcsi_timer *t)
{
  size_t i = t->slot;
  if (i == NO_SLOT) return;
  t->slot = NO_SLOT;
  mcsi_timer *last = l->heap[--l->nheap];
  if (last == t) return;
  heap_set(l, i, last);
  sift_up(l, i);
  sift_down(l, last->slot);
}

int mcsi_timer_start(mcsi_loop *l, mcsi_timer *t, uint64_t delay_ms)
{
  mcsi_timer_stop(l, t);
  if (l->nheap == l->capheap) {
    size_t cap = l->capheap ? l->capheap * 2 : 16;
    mcsi_timer **h = realloc(l->heap, cap * sizeof *h);
    if (!h) return -1;
    l->heap = h;
    l->capheap = cap;
  }
  t->due = mcsi_now_ms() + delay_ms;
  heap_set(l, l->nheap++, t);
  sift_up(l, t->slot);
  return 0;
}

int mcsi_loop_next_timeout(const mcsi_loop *l)
{
  if (!l->nheap) return -1;
  uint64_t now = mcsi_now_ms(), due = l->heap[0]->due;
  if (due <= now) return 0;
  return due - now > 86400000u ? 86400000 : (int)(due - now);
}

/* Fires every timer that is due; a timer may re-arm itself or others. */
int mcsi_loop_fire_due(mcsi_loop *l)
{
  uint64_t now = mcsi_now_ms();
  int n = 0;
  while (l->nheap && l->heap[0]->due <= now) {
    mcsi_timer *t = l->heap[0];
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
