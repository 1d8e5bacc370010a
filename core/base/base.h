/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* base.h: what every layer of core/ uses: intrusive lists, ids, owned
 * strings, a formatted message buffer, and the bounds on what a peer can
 * make us hold. Calls nothing above it. */
#ifndef MCSI_BASE_H
#define MCSI_BASE_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "mcsi.h"

/* ---- small intrusive doubly linked lists -------------------------------- */
typedef struct mcsi_link { struct mcsi_link *prev, *next; } mcsi_link;
static inline void mcsi_list_init(mcsi_link *l) { l->prev = l->next = l; }
static inline int mcsi_list_empty(const mcsi_link *l) { return l->next == l; }
static inline void mcsi_list_push(mcsi_link *head, mcsi_link *n)
{ n->prev = head->prev; n->next = head; head->prev->next = n; head->prev = n; }
/* Inserts n right after pos. */
static inline void mcsi_list_insert_after(mcsi_link *pos, mcsi_link *n)
{ n->prev = pos; n->next = pos->next; pos->next->prev = n; pos->next = n; }
static inline void mcsi_list_del(mcsi_link *n)
{ n->prev->next = n->next; n->next->prev = n->prev; n->prev = n->next = n; }
/* The sizeof (never evaluated) checks that ptr points to such a member, and
 * shows the field check (core/LAYERS) who names the member. */
#define MCSI_CONTAINER(ptr, type, member)                                        \
  ((void)sizeof((ptr) == &((type *)0)->member),                                  \
   (type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Bounds on what a target can make us hold (README, "Bounds"). */
#define MCSI_MAX_RETRIES 5                /* re-issues of one command after connection timeouts */
#define MCSI_TX_QUEUE_MAX (16u << 20)     /* our own bytes queued on one connection */
#define MCSI_TEXT_RSP_MAX (1u << 20)      /* one Text Response, over all its continuations */

#define MCSI_MSG_MAX 512
/* Formats into buf (MCSI_MSG_MAX bytes) and returns st. */
mcsi_status mcsi_msg(char *buf, mcsi_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
mcsi_status mcsi_msgv(char *buf, mcsi_status st, const char *fmt, va_list ap);

/* Session and connection ids, command tags, timer and watch ids: never 0,
 * never made twice in a process. mcsi_id_reserve: ids up to id are taken
 * (a handover imported them, keeping its exporter's numbers): every id made
 * after it is larger (an atomic max). */
mcsi_id mcsi_new_id(void);
void mcsi_id_reserve(mcsi_id id);
char *mcsi_strdup0(const char *s);
uint64_t mcsi_now_ms(void);
#endif
