/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* resolve.c: getaddrinfo in worker threads, answers back on the loop.
 *
 * A job is what a worker and the loop share: it is QUEUED (on pending),
 * RUNNING (held by one worker, on no list) or DONE (on done, until the
 * loop delivers it). Its req is read and written on the loop's thread
 * only; NULL means cancelled, and its answer is dropped. Everything else
 * in the resolver is under mu. The resolver outlives its loop while a
 * worker still runs: refs counts the loop and each worker, and the last
 * one frees it (the eventfd too, so a late worker never writes into a
 * descriptor number the process reused). Workers exit after
 * IDLE_EXIT_MS without work. */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include "resolve.h"

#define IDLE_EXIT_MS 10000

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct mcsi_resolve_job {
  mcsi_link link;                       /* on pending or done */
  enum job_state state;
  mcsi_resolve_req *req;                /* loop thread only; NULL: cancelled */
  char host[256], port[8];
  int err;
  struct sockaddr_storage addr;
  socklen_t addr_len;
};

struct mcsi_resolver {
  pthread_mutex_t mu;
  pthread_cond_t work;                  /* a job was queued, or closing */
  mcsi_link pending, done;
  int jobs;                             /* queued, running, or done and not delivered */
  int queued, threads, idle;
  int refs;                             /* the loop, and each worker */
  int closing;                          /* the loop is gone */
  int efd;                              /* written when a job is done */
  mcsi_watch watch;                     /* efd on the loop */
};

static int gai(const char *host, const char *port, int flags, struct sockaddr_storage *addr, socklen_t *len)
{
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | flags }, *res;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc) return rc;
  if (res->ai_addrlen > sizeof *addr) rc = EAI_FAMILY;
  else {
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
  }
  freeaddrinfo(res);
  return rc;
}

int mcsi_resolve_numeric(const char *host, const char *port, struct sockaddr_storage *addr, socklen_t *len)
{
  return gai(host, port, AI_NUMERICHOST, addr, len);
}

void mcsi_resolve_init(mcsi_resolve_req *r,
                       void (*done)(mcsi_resolve_req *, int, const struct sockaddr_storage *, socklen_t))
{
  r->done = done;
  r->resolver = NULL;
  r->job = NULL;
}

static void resolver_unref_locked(struct mcsi_resolver *rs)
{
  int last = --rs->refs == 0;
  pthread_mutex_unlock(&rs->mu);
  if (!last) return;
  close(rs->efd);
  pthread_cond_destroy(&rs->work);
  pthread_mutex_destroy(&rs->mu);
  free(rs);
}

/* ---- the workers ----------------------------------------------------------- */

/* Waits for a job (mu held); NULL when closing or idle too long. */
static struct mcsi_resolve_job *next_job(struct mcsi_resolver *rs)
{
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += IDLE_EXIT_MS / 1000;
  while (!rs->closing && mcsi_list_empty(&rs->pending)) {
    rs->idle++;
    int rc = pthread_cond_timedwait(&rs->work, &rs->mu, &until);
    rs->idle--;
    if (rc == ETIMEDOUT && mcsi_list_empty(&rs->pending)) return NULL;
  }
  if (rs->closing) return NULL;
  struct mcsi_resolve_job *j = MCSI_CONTAINER(rs->pending.next, struct mcsi_resolve_job, link);
  mcsi_list_del(&j->link);
  rs->queued--;
  j->state = JOB_RUNNING;
  return j;
}

static void *worker(void *arg)
{
  struct mcsi_resolver *rs = arg;
  pthread_mutex_lock(&rs->mu);
  struct mcsi_resolve_job *j;
  while ((j = next_job(rs))) {
    pthread_mutex_unlock(&rs->mu);
    j->err = gai(j->host, j->port, 0, &j->addr, &j->addr_len);
    pthread_mutex_lock(&rs->mu);
    if (rs->closing) {                  /* nobody left to hear it */
      free(j);
      continue;
    }
    j->state = JOB_DONE;
    mcsi_list_push(&rs->done, &j->link);
    uint64_t one = 1;
    if (write(rs->efd, &one, sizeof one) < 0) {}   /* EAGAIN: the counter is already set */
  }
  rs->threads--;
  resolver_unref_locked(rs);
  return NULL;
}

/* A detached worker with every signal blocked (signals stay the host's
 * threads' business). mu held. */
static int spawn_worker(struct mcsi_resolver *rs)
{
  pthread_attr_t attr;
  sigset_t all, old;
  pthread_t t;
  if (pthread_attr_init(&attr)) return -1;
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&t, &attr, worker, rs);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (rc) return -1;
  rs->threads++;
  rs->refs++;
  return 0;
}

/* ---- the loop's side ---------------------------------------------------------- */

static void deliver(mcsi_watch *w, uint32_t events)
{
  struct mcsi_resolver *rs = MCSI_CONTAINER(w, struct mcsi_resolver, watch);
  uint64_t n;
  mcsi_link ready;
  (void)events;
  if (read(rs->efd, &n, sizeof n) < 0) {}     /* EAGAIN: nothing new */
  mcsi_list_init(&ready);
  pthread_mutex_lock(&rs->mu);
  while (!mcsi_list_empty(&rs->done)) {
    mcsi_link *l = rs->done.next;
    mcsi_list_del(l);
    mcsi_list_push(&ready, l);
    rs->jobs--;
  }
  pthread_mutex_unlock(&rs->mu);
  /* A done callback may cancel a job still on ready: its req becomes NULL. */
  while (!mcsi_list_empty(&ready)) {
    struct mcsi_resolve_job *j = MCSI_CONTAINER(ready.next, struct mcsi_resolve_job, link);
    mcsi_list_del(&j->link);
    mcsi_resolve_req *r = j->req;
    if (r) {
      r->job = NULL;
      r->done(r, j->err, &j->addr, j->addr_len);
    }
    free(j);
  }
}

static struct mcsi_resolver *resolver_of(mcsi_loop *l)
{
  if (l->resolver) return l->resolver;
  struct mcsi_resolver *rs = calloc(1, sizeof *rs);
  pthread_condattr_t ca;
  if (!rs) return NULL;
  rs->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (rs->efd < 0) { free(rs); return NULL; }
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&rs->work, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&rs->mu, NULL);
  mcsi_list_init(&rs->pending);
  mcsi_list_init(&rs->done);
  rs->refs = 1;
  rs->watch.ready = deliver;
  if (mcsi_watch_add(l, &rs->watch, rs->efd, EPOLLIN)) {
    pthread_mutex_lock(&rs->mu);
    resolver_unref_locked(rs);
    return NULL;
  }
  return l->resolver = rs;
}

/* Queues j (mu held); a worker takes it, started if none is idle. */
static int enqueue(struct mcsi_resolver *rs, struct mcsi_resolve_job *j)
{
  if (rs->jobs >= MCSI_RESOLVE_MAX) return -1;
  if (rs->queued + 1 > rs->idle && rs->threads < MCSI_RESOLVE_THREADS && spawn_worker(rs) && !rs->threads)
    return -1;                          /* no worker at all: it would never run */
  mcsi_list_push(&rs->pending, &j->link);
  rs->queued++;
  rs->jobs++;
  pthread_cond_signal(&rs->work);
  return 0;
}

int mcsi_resolve_start(mcsi_loop *l, mcsi_resolve_req *r, const char *host, const char *port)
{
  mcsi_resolve_cancel(r);
  struct mcsi_resolve_job *j = calloc(1, sizeof *j);
  if (!j) { errno = ENOMEM; return -1; }
  if (strlen(host) >= sizeof j->host || strlen(port) >= sizeof j->port) {
    free(j);
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(j->host, host);
  strcpy(j->port, port);
  j->req = r;
  j->state = JOB_QUEUED;
  struct mcsi_resolver *rs = resolver_of(l);
  if (!rs) { free(j); errno = ENOMEM; return -1; }
  pthread_mutex_lock(&rs->mu);
  int rc = enqueue(rs, j);
  pthread_mutex_unlock(&rs->mu);
  if (rc) { free(j); errno = EAGAIN; return -1; }
  r->resolver = rs;
  r->job = j;
  return 0;
}

void mcsi_resolve_cancel(mcsi_resolve_req *r)
{
  struct mcsi_resolve_job *j = r->job;
  if (!j) return;
  struct mcsi_resolver *rs = r->resolver;
  r->job = NULL;
  pthread_mutex_lock(&rs->mu);
  if (j->state == JOB_QUEUED) {         /* no worker has it: gone at once */
    mcsi_list_del(&j->link);
    rs->queued--;
    rs->jobs--;
    free(j);
  } else
    j->req = NULL;                      /* its worker or the loop frees it */
  pthread_mutex_unlock(&rs->mu);
}

static void drop_list(mcsi_link *list)
{
  while (!mcsi_list_empty(list)) {
    mcsi_link *l = list->next;
    mcsi_list_del(l);
    free(MCSI_CONTAINER(l, struct mcsi_resolve_job, link));
  }
}

void mcsi_resolver_close(mcsi_loop *l)
{
  struct mcsi_resolver *rs = l->resolver;
  if (!rs) return;
  l->resolver = NULL;
  mcsi_watch_del(l, &rs->watch);
  pthread_mutex_lock(&rs->mu);
  rs->closing = 1;
  drop_list(&rs->pending);
  drop_list(&rs->done);
  rs->queued = rs->jobs = 0;
  pthread_cond_broadcast(&rs->work);
  resolver_unref_locked(rs);
}
