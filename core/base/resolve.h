/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* resolve.h: name resolution off the loop. getaddrinfo for a name runs in
 * a worker thread (at most MCSI_RESOLVE_THREADS per loop, at most
 * MCSI_RESOLVE_MAX requests waiting or running); the answer comes back on
 * the loop's thread through an eventfd the loop watches, so a slow resolver
 * stalls no other connection. Numeric addresses never need a thread. */
#ifndef MCSI_RESOLVE_H
#define MCSI_RESOLVE_H
#include <sys/socket.h>
#include "loop.h"

#define MCSI_RESOLVE_THREADS 4            /* workers per loop */
#define MCSI_RESOLVE_MAX 256              /* requests queued or running per loop */

struct mcsi_resolve_job;

/* One request, embedded in its owner; at most one resolution at a time. */
typedef struct mcsi_resolve_req {
  /* On the loop's thread: err 0 and the first address, or a getaddrinfo
   * error (gai_strerror). The request is idle again when it runs. */
  void (*done)(struct mcsi_resolve_req *r, int err, const struct sockaddr_storage *addr, socklen_t len);
  struct mcsi_resolver *resolver;
  struct mcsi_resolve_job *job;         /* the one in flight, or NULL */
} mcsi_resolve_req;

void mcsi_resolve_init(mcsi_resolve_req *r,
                       void (*done)(mcsi_resolve_req *, int, const struct sockaddr_storage *, socklen_t));
/* A numeric host ("127.0.0.1", "::1") and numeric port, at once, without
 * asking any resolver: 0, or a getaddrinfo error (EAI_NONAME for a name). */
int mcsi_resolve_numeric(const char *host, const char *port, struct sockaddr_storage *addr, socklen_t *len);
/* Resolves host (a name) and port (numeric) for a TCP connection; r->done
 * follows on the loop's thread, never from inside this call. 0, or -1 with
 * errno: EAGAIN (MCSI_RESOLVE_MAX requests in flight, or no thread could
 * start), ENOMEM, ENAMETOOLONG. */
int mcsi_resolve_start(mcsi_loop *l, mcsi_resolve_req *r, const char *host, const char *port);
/* Its answer, if one ever comes, is dropped; done is not called.
 * Idempotent; a request not started is fine. */
void mcsi_resolve_cancel(mcsi_resolve_req *r);
static inline int mcsi_resolve_busy(const mcsi_resolve_req *r) { return r->job != NULL; }
/* The loop's side (loop.c): drops every request, lets running workers
 * finish on their own (getaddrinfo cannot be interrupted) and never waits
 * for them; the last one out frees what they share. */
void mcsi_resolver_close(mcsi_loop *l);
#endif
