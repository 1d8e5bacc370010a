/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clients.h: the control socket and its clients.
 *
 * The socket: created with its directory (0755) if missing, mode 0660 set
 * with chmod after bind (whatever the umask), group socket_group when one is
 * configured; a stale socket file is replaced, a live one (another mcsid
 * answers on it) refused. Peers: SO_PEERCRED at accept; root, the daemon's
 * own uid and members of socket_group (primary or supplementary group, via
 * SO_PEERGROUPS) are served, others closed with a log line.
 *
 * Per-client bounds (config.h): a request line of request_max bytes at most
 * (longer: an invalid-request error, then the connection is closed); at most
 * max_pending requests in flight (more: error -32000 each, the connection
 * stays); a partial line that receives nothing for partial_timeout_ms:
 * closed; more than output_max bytes queued that the client does not read
 * (responses or notifications): closed. After the client's EOF its requests
 * in flight still answer, then the connection closes.
 *
 * Slots: max_clients in all, reserved_clients of them for root and the
 * daemon's uid only, max_clients_per_uid for any other uid; beyond them a
 * new connection is closed with a log line. A client of another uid with
 * nothing in flight, nothing queued and no subscription for idle_timeout_ms
 * is closed. The output queues are counted in the memory budget (budget.h);
 * while it is full no client's next request line is handled (the client is
 * paused: its fd is not read), and paused clients resume one line each in
 * turn once memory is given back. */
#ifndef MCSID_CLIENTS_H
#define MCSID_CLIENTS_H

#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include "mcsid.h"
#include "rpc.h"

/* 0, or -1 with a log line. */
int mcsid_listen(mcsid *d);
/* Applies socket_group and mode again, and a larger memory_budget to paused
 * clients (SIGHUP). */
void mcsid_listen_refresh(mcsid *d);
/* Stops accepting and removes the socket file. */
void mcsid_listen_close(mcsid *d);
/* A handover (handover.h): listen on a socket the old process made; stop
 * (1) or go back to (0) accepting; close ours, the file stays (the
 * successor's). */
int mcsid_listen_adopt(mcsid *d, int fd);
void mcsid_listen_pause(mcsid *d, int paused);
void mcsid_listen_forget(mcsid *d);
/* Clients paused by a full memory budget (budget.h) are read again, from a
 * timer (nothing is handled inside the caller). */
void mcsid_clients_resume(mcsid *d);
/* A handover (handover.h): the clients at a request boundary (nothing in
 * flight, every answer written; not a policy runner's) are marked handed
 * (neither read nor written here any more) and listed, up to room: their
 * fd, the bytes read ahead of their next request (valid until they close),
 * their event subscription. unhand: the handover did not happen, they are
 * served here again. take: the successor's side, a client on an inherited
 * fd (its peer checked again, as at accept); 0, or -1 (fd not closed). */
typedef struct mcsid_handed_client {
  int fd;
  const char *unread;
  size_t len;
  unsigned events;
} mcsid_handed_client;
size_t mcsid_clients_hand(mcsid *d, mcsid_handed_client *out, size_t room);
void mcsid_clients_unhand(mcsid *d);
int mcsid_client_take(mcsid *d, int fd, const uint8_t *unread, size_t len, unsigned events);
/* Closes every client (at exit). */
void mcsid_clients_close_all(mcsid *d);

/* Queues one message (a JSON-RPC response or notification) for the client;
 * nothing when it is closed. The message is not stolen. */
void mcsid_client_send(mcsid_client *c, json_t *msg);
/* Holders of a client across asynchronous operations keep a reference: the
 * memory stays while referenced, the connection may close meanwhile. */
void mcsid_client_ref(mcsid_client *c);
void mcsid_client_unref(mcsid_client *c);
int mcsid_client_is_open(const mcsid_client *c);
uid_t mcsid_client_uid(const mcsid_client *c);
/* The peer's credentials as the kernel recorded them at connect (SO_PEERCRED,
 * SO_PEERGROUPS): *ngroups in, the room in groups; out, how many. 0, or -1
 * when the connection is gone or its groups cannot be had. */
int mcsid_client_creds(const mcsid_client *c, uid_t *uid, gid_t *gid, gid_t *groups, size_t *ngroups);
unsigned long mcsid_client_serial(const mcsid_client *c);
/* The request in flight count, kept by methods.c. */
void mcsid_client_pending_add(mcsid_client *c, int delta);
long mcsid_client_pending(const mcsid_client *c);
/* Event subscription: a mask of (1u << kind); 0 unsubscribes. */
void mcsid_client_set_events(mcsid_client *c, unsigned mask);
unsigned mcsid_client_events(const mcsid_client *c);
/* A client on a socket the daemon made itself (one end of a socketpair, a
 * policy runner's: policy.c), with the credentials given (not read from the
 * peer). Each request line, once parsed, goes to screen(arg, client, req)
 * first: 1 dispatches it as any client's, 0 means screen answered or took it.
 * The client holds fd (closed with it); NULL if out of memory (fd not closed).
 * Counted in nclients, not refused by max_clients (the caller bounds them). */
typedef int (*mcsid_screen_fn)(void *arg, mcsid_client *c, const mcsid_request *req);
mcsid_client *mcsid_client_adopt(mcsid *d, int fd, pid_t pid, uid_t uid, gid_t gid, mcsid_screen_fn screen,
                                 void *arg);
/* An adopted client's Events (mcsid_clients_broadcast) go through
 * screen_event(arg, msg) first: 0 keeps that one from it. */
void mcsid_client_screen_events(mcsid_client *c, int (*screen_event)(void *arg, json_t *msg));
/* Closes the connection now (the memory stays while referenced). */
void mcsid_client_shut(mcsid_client *c, const char *why);
gid_t mcsid_client_gid(const mcsid_client *c);
/* Sends msg to every open client whose event mask has bit (1u << kind). */
void mcsid_clients_broadcast(mcsid *d, int kind, json_t *msg);

#endif
